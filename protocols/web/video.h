/* H.264 for one web session on a thread of its own: x264 takes
 * milliseconds per frame, and vdi-vm's display thread also runs SPICE and
 * RDP. Frames are submitted from the server's context and come back to it,
 * encoded and framed as VIDEO messages, through done(). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "protocols/display.h"

struct web_video;

/* Called on ctx with the VIDEO message for frame (header and access unit),
 * or msg NULL and err < 0 (-ENOENT: no usable encoder; the session then
 * falls back to tiles). Never called after web_video_free. */
typedef void (*web_video_done)(void *opaque, uint32_t frame, GBytes *msg, size_t picture_bytes, int err);

/* element: force one GStreamer encoder (NULL: auto). */
struct web_video *web_video_new(GMainContext *ctx, const char *element, web_video_done done, void *opaque);

/* Encode surf (read in place on the encoder thread, as the RDP peers do) as
 * frame. One frame at a time: false when the previous one is not done. */
bool web_video_submit(struct web_video *v, const struct display_surface *surf, uint32_t frame,
                      bool keyframe);

/* Stop the thread (waits for a frame being encoded) and free. NULL is fine. */
void web_video_free(struct web_video *v);
