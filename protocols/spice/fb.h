/* The SPICE display: a QXL interface fed from a display_source. A frame
 * timer on the main loop polls the source's damage and turns each rectangle
 * into a COPY drawable of a bitmap copied out of the framebuffer; spice's
 * worker thread pulls them through get_command. Also a cursor channel with
 * one arrow pointer. The client's monitors config becomes a layout request
 * for the source (layout.h): one SPICE display, its first monitor. */
#pragma once

#include <glib.h>
#include <spice.h>
#include <stdint.h>

#include "protocols/display.h"

struct spice_fb;

struct spice_fb_stats {
        uint64_t ticks;       /* frame timer runs */
        uint64_t drawables;   /* COPY drawables queued */
        uint64_t bytes;       /* bitmap bytes copied out of the framebuffer */
        uint64_t coalesced;   /* ticks whose damage waited for a slow consumer */
        uint64_t surfaces;    /* primary surfaces created */
};

/* Register the QXL interface with server s (which must be initialised) and
 * start polling source at fps on ctx. NULL with -errno in *err on failure. */
struct spice_fb *spice_fb_new(SpiceServer *s, struct display_source source, GMainContext *ctx,
                              unsigned fps, int *err);

/* Stop the frame timer (call before spice_server_destroy). */
void spice_fb_stop(struct spice_fb *q);

/* Free what is left after spice_server_destroy. Accepts NULL. */
void spice_fb_free(struct spice_fb *q);

void spice_fb_get_stats(struct spice_fb *q, struct spice_fb_stats *out);
