/* A synthetic display source for protocol tests and benchmarks: a
 * framebuffer in ordinary memory that tests draw into, exact damage
 * tracking, and a log of the input events the protocol delivered. It
 * implements protocols/display.h exactly as the engine does. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "protocols/display.h"

struct testsrc;

enum testsrc_event_type { TESTSRC_KEY, TESTSRC_POINTER, TESTSRC_WHEEL };

struct testsrc_event {
        enum testsrc_event_type type;
        uint16_t code;    /* KEY: evdev code */
        bool pressed;     /* KEY */
        uint32_t x, y;    /* POINTER: 0..DISPLAY_POINTER_MAX */
        uint32_t buttons; /* POINTER */
        int32_t delta;    /* WHEEL */
};

struct testsrc *testsrc_new(uint32_t width, uint32_t height);
void testsrc_free(struct testsrc *t);

/* The display_source to hand to a protocol server. */
struct display_source testsrc_source(struct testsrc *t);
/* The same source with a sound card: audio_read returns what
 * testsrc_audio_push queued (a format change drops the queue). */
struct display_source testsrc_audio_source(struct testsrc *t);
void testsrc_audio_push(struct testsrc *t, const struct display_audio_format *fmt, const uint8_t *pcm, size_t len);

/* Drawing; each records its rectangle as damage. Colors are XRGB8888. */
void testsrc_fill(struct testsrc *t, struct display_rect r, uint32_t color);
/* A deterministic, non-repeating pattern (seeded) over r: hard to compress,
 * good for pixel-exact comparisons. */
void testsrc_pattern(struct testsrc *t, struct display_rect r, uint32_t seed);
/* A mode change, as a guest makes one: a new, black framebuffer of
 * width x height (a new surface generation), all of it damaged. Pixel
 * pointers of earlier modes stay valid until testsrc_free. */
void testsrc_resize(struct testsrc *t, uint32_t width, uint32_t height);
void testsrc_size(struct testsrc *t, uint32_t *width, uint32_t *height);
/* Layout requests from clients: follow (resize to the first head, as a
 * guest does) or refuse with -ENOTSUP (as VESA does; the default). The
 * number of requests so far, and the last one. */
void testsrc_follow_layout(struct testsrc *t, bool follow);
unsigned testsrc_last_layout(struct testsrc *t, struct display_head *heads, unsigned *n);
/* A hardware cursor from now on (copied; the caller bumps c->serial when
 * the shape or visibility changes). Without one, get_cursor is -ENODEV. */
void testsrc_set_cursor(struct testsrc *t, const struct display_cursor *c);
/* Read one pixel (for comparisons). */
uint32_t testsrc_pixel(struct testsrc *t, uint32_t x, uint32_t y);
/* Pointer to the pixels (width*height, stride width*4) for bulk compares. */
const uint32_t *testsrc_pixels(struct testsrc *t);

/* Input events delivered so far: copies up to max into out and removes
 * them; returns how many. */
size_t testsrc_take_events(struct testsrc *t, struct testsrc_event *out, size_t max);
