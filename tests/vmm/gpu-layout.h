/* A step of the lab's display clients (tests/vmm/gpu-client.c,
 * gpu-spice.c): "WxH" is one head, "WxH+WxH" two (up to four) side by
 * side, left to right, tops aligned, the first the primary. The picture
 * the client then expects is the test guest's gpu_pattern() of each head
 * in its place on the desktop (head i's pattern names head i), black
 * where no head is. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/guest/gpu-pattern.h"

#define GPU_LAYOUT_MAX 4

struct gpu_layout {
        unsigned n;
        uint32_t x[GPU_LAYOUT_MAX], w[GPU_LAYOUT_MAX], h[GPU_LAYOUT_MAX];
        uint32_t width, height; /* the desktop */
};

/* false for a malformed step (sides 1..8192). */
static inline bool gpu_layout_parse(const char *s, struct gpu_layout *out)
{
        struct gpu_layout l = { 0 };
        int used = 0;

        while (l.n < GPU_LAYOUT_MAX && sscanf(s, "%ux%u%n", &l.w[l.n], &l.h[l.n], &used) == 2) {
                if (l.w[l.n] == 0 || l.h[l.n] == 0 || l.w[l.n] > 8192 || l.h[l.n] > 8192)
                        return false;
                l.x[l.n] = l.width;
                l.width += l.w[l.n];
                l.height = l.h[l.n] > l.height ? l.h[l.n] : l.height;
                l.n++;
                s += used;
                if (*s != '+')
                        break;
                s++;
        }
        if (l.n == 0 || *s || l.width > 8192)
                return false;
        *out = l;
        return true;
}

/* The expected XRGB pixel at x, y of the desktop. */
static inline uint32_t gpu_layout_pixel(const struct gpu_layout *l, uint32_t x, uint32_t y)
{
        for (unsigned i = 0; i < l->n; i++)
                if (x >= l->x[i] && x < l->x[i] + l->w[i] && y < l->h[i])
                        return gpu_pattern(x - l->x[i], y, l->w[i], l->h[i], i);
        return 0;
}
