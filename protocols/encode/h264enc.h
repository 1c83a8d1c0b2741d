/* H.264 encoding of XRGB8888 frames through a GStreamer pipeline:
 *   appsrc (BGRx) → videoconvert → encoder (I420/NV12) → appsink (byte-stream, AU)
 * The encoder element is chosen at run time by availability: a hardware
 * encoder (VA-API, NVENC) when its element exists and reaches PLAYING,
 * else x264enc tuned for zero latency. Encoding is synchronous: one frame
 * in, one access unit out (no B-frames, no lookahead), so the caller can
 * throttle on client acknowledgements.
 *
 * Not thread-safe: one encoder per RDP peer, used from that peer's thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct h264enc;

struct h264enc_config {
        uint32_t width, height; /* the picture; coded size is padded to 16 */
        unsigned qp;            /* constant quality 0..51 (x264 CRF); 0 → 22 */
        unsigned key_int_max;   /* frames between IDR pictures; 0 → 300 */
        const char *element;    /* force one factory (e.g. "x264enc"); NULL → auto */
};

/* One encoded access unit (Annex B byte stream). data stays valid until the
 * next h264enc_encode or h264enc_free. */
struct h264enc_frame {
        const uint8_t *data;
        size_t size;
        bool keyframe;
};

/* Build and start the pipeline. 0 or -errno (-ENOENT: no usable encoder
 * element; *error (malloc'd, may be NULL) says which were tried). */
int h264enc_new(const struct h264enc_config *cfg, struct h264enc **out, char **error);
void h264enc_free(struct h264enc *e);

/* Encode one picture of cfg->width x cfg->height XRGB8888 pixels (stride
 * in bytes). force_key asks for an IDR picture. 0 or -errno (-ETIMEDOUT when
 * the encoder produced nothing, -EIO on a pipeline error). */
int h264enc_encode(struct h264enc *e, const uint8_t *pixels, uint32_t stride, bool force_key,
                   struct h264enc_frame *out);

/* The GStreamer factory in use ("x264enc", "vah264enc", ...). */
const char *h264enc_element(const struct h264enc *e);
/* Coded (padded) size. */
uint32_t h264enc_coded_width(const struct h264enc *e);
uint32_t h264enc_coded_height(const struct h264enc *e);
