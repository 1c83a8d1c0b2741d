/* The picture the test guest's gputest action shows on a head of w x h
 * (tests/guest/agent-gpu.c) and the lab test's client expects
 * (tests/vmm/gpu-client.c): XRGB8888, red rising left to right, green top
 * to bottom, blue naming the head. A stretched, cropped or shifted
 * picture of another size differs from it. */
#pragma once

#include <stdint.h>

static inline uint32_t gpu_pattern(uint32_t x, uint32_t y, uint32_t w, uint32_t h, unsigned head)
{
        uint32_t r = w > 1 ? x * 255 / (w - 1) : 0;
        uint32_t g = h > 1 ? y * 255 / (h - 1) : 0;

        return r << 16 | g << 8 | (0x30u + 0x40u * (head & 3));
}
