/* The display/input interface between a VM and the protocol servers
 * (DESIGN.md §5). The engine (hostd/vmm) implements it for a real guest; the
 * tests implement it with a synthetic framebuffer (tests/display/testsrc.h).
 * Protocol code sees a VM only through this header.
 *
 * Threading: get_surface/collect_damage are called from the protocol's
 * main loop; input calls may come from any protocol thread and must be
 * safe to call concurrently with the guest running. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Little-endian 32-bit pixels: byte 0 blue, 1 green, 2 red, 3 unused. */
#define DISPLAY_FORMAT_XRGB8888 1u

/* Absolute pointer coordinates run 0..DISPLAY_POINTER_MAX on both axes. */
#define DISPLAY_POINTER_MAX 32767u

/* Pointer buttons, a bitmask. */
enum {
        DISPLAY_BUTTON_LEFT = 1u << 0,
        DISPLAY_BUTTON_MIDDLE = 1u << 1,
        DISPLAY_BUTTON_RIGHT = 1u << 2,
};

struct display_rect {
        uint32_t x, y, w, h;
};

/* One head (monitor) of a layout a client asks for, on the client's
 * virtual desktop; the first is the primary. */
struct display_head {
        int32_t x, y;
        uint32_t width, height;
};

/* Layout requests: 1..DISPLAY_MAX_HEADS heads, each DISPLAY_HEAD_MIN..
 * DISPLAY_HEAD_MAX pixels on a side (MS-RDPEDISP's bounds), width even. */
#define DISPLAY_MAX_HEADS 4u
#define DISPLAY_HEAD_MIN 200u
#define DISPLAY_HEAD_MAX 8192u

/* 0 when heads[0..n) is a layout a source may be asked for, else -EINVAL
 * with the reason in err (for the protocol's log). */
int display_layout_check(const struct display_head *heads, unsigned n, char *err, size_t errlen);

struct display_source;
/* A client's layout request to src: checked with display_layout_check
 * (-EINVAL with the reason in err), then asked of the source; -ENOTSUP
 * when the source cannot change its layout, else the source's answer.
 * err is left empty unless the check refused the layout. */
int display_request_layout(const struct display_source *src, const struct display_head *heads,
                           unsigned n, char *err, size_t errlen);
/* Whether src can follow layout requests at all (its request_layout
 * answers the probe with 0), asking nothing of the guest. */
bool display_follows_layout(const struct display_source *src);

/* The framebuffer, read in place (no copy). pixels stays valid until the
 * surface changes geometry, which bumps generation. */
struct display_surface {
        const uint8_t *pixels;
        uint32_t width, height;
        uint32_t stride; /* bytes per line */
        uint32_t format; /* DISPLAY_FORMAT_* */
        uint64_t generation;
};

/* Sound: interleaved signed 16-bit little-endian PCM at rate Hz. */
struct display_audio_format {
        uint32_t rate;
        uint32_t channels;      /* 1 or 2 */
};

/* The hardware cursor (virtio-gpu's cursor queue): a shape of up to
 * DISPLAY_CURSOR_MAX pixels a side, ARGB8888 (byte 0 blue, 1 green, 2 red,
 * 3 alpha; rows of DISPLAY_CURSOR_MAX pixels, width x height meaningful)
 * with its hotspot, and where the hotspot is on the surface. serial
 * changes whenever the shape or visibility does (not on moves). */
#define DISPLAY_CURSOR_MAX 64u
struct display_cursor {
        bool visible;
        int32_t x, y;
        uint32_t hot_x, hot_y; /* < width, height */
        uint32_t width, height;
        uint64_t serial;
        uint32_t pixels[DISPLAY_CURSOR_MAX * DISPLAY_CURSOR_MAX];
};

struct display_source_ops {
        /* Describe the current framebuffer. 0 or -errno (-ENODEV: no display). */
        int (*get_surface)(void *opaque, struct display_surface *out);
        /* Rectangles changed since the previous call, merged, at most max of
         * them (when more changed, they are coalesced to fit). Returns the
         * number stored, 0 when nothing changed, or -errno. */
        int (*collect_damage)(void *opaque, struct display_rect *rects, size_t max);
        /* Keyboard: a Linux evdev key code (KEY_*), pressed or released. */
        void (*input_key)(void *opaque, uint16_t evdev_code, bool pressed);
        /* Absolute pointer 0..DISPLAY_POINTER_MAX and the buttons held. */
        void (*input_pointer)(void *opaque, uint32_t x, uint32_t y, uint32_t buttons);
        /* Wheel: positive = away from the user (scroll up), in notches. */
        void (*input_wheel)(void *opaque, int32_t delta);
        /* A client asks for a new layout (its window was resized, or it
         * has several monitors); heads passed display_layout_check. The
         * guest applies it when it can, and the surface then changes
         * geometry (a new generation). 0, -ENOTSUP when this display
         * cannot follow (VESA), or -errno. NULL: never follows. Any
         * thread, like the input calls. heads NULL and n 0 is a probe:
         * 0 when this display can follow, -ENOTSUP when not; nothing is
         * asked of the guest. */
        int (*request_layout)(void *opaque, const struct display_head *heads, unsigned n);
        /* Sound the guest played since the previous call: up to max bytes
         * (whole frames) into buf and their format. Returns the bytes, 0
         * when nothing new. NULL: no sound card (servers then offer no
         * audio channel). From the protocol's main loop. */
        size_t (*audio_read)(void *opaque, struct display_audio_format *fmt, uint8_t *buf, size_t max);
        /* The hardware cursor of the first head, copied into out. 0, or
         * -ENODEV when this display has none (VESA: the guest draws its
         * cursor into the picture). NULL: never has one. */
        int (*get_cursor)(void *opaque, struct display_cursor *out);
};

struct display_source {
        const struct display_source_ops *ops;
        void *opaque;
};
