/* The picture the test guest's gputest action shows on a head of w x h
 * (tests/guest/agent-gpu.c) and the lab tests' clients expect
 * (tests/vmm/gpu-client.c, tests/web/gateway.c): XRGB8888, red rising left
 * to right, green top to bottom, blue naming the head. A stretched,
 * cropped or shifted picture of another size differs from it.
 *
 * Input draws on head 0: the n-th key pressed (counted from the last mode
 * change) fills GPU_CELL_W - 4 x GPU_CELL_H at (GPU_CELL_X + n *
 * GPU_CELL_W + 2, GPU_CELL_Y) in gpu_key_color(its evdev code); a left
 * click fills a white GPU_MARK x GPU_MARK square centred on the pointer. */
#pragma once

#include <stdint.h>

static inline uint32_t gpu_pattern(uint32_t x, uint32_t y, uint32_t w, uint32_t h, unsigned head)
{
        uint32_t r = w > 1 ? x * 255 / (w - 1) : 0;
        uint32_t g = h > 1 ? y * 255 / (h - 1) : 0;

        return r << 16 | g << 8 | (0x30u + 0x40u * (head & 3));
}

#define GPU_CELL_X 16
#define GPU_CELL_Y 48
#define GPU_CELL_W 24
#define GPU_CELL_H 32
#define GPU_MARK 8
#define GPU_MARK_COLOR 0x00ffffffu

static inline uint32_t gpu_key_color(unsigned code)
{
        static const uint32_t palette[7] = { 0x00ff2020, 0x0020e020, 0x002040ff, 0x00ffff20,
                                             0x00ff20ff, 0x0020ffff, 0x00ff9000 };

        return palette[code % 7];
}
