/* Screen thumbnails for the admin console (issue 24): vdi-vm's control
 * socket writes a screenshot as binary PPM (netpbm P6, maxval 255); hostd
 * reads it, scales it down to fit a box and encodes it as PNG for the
 * broker. The PPM comes from vdi-vm, which runs next to an untrusted
 * guest: every header field is checked and the size arithmetic is
 * overflow-checked. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* Largest picture accepted, per side (vdi-vm's framebuffer is smaller). */
#define THUMB_MAX_SIDE 16384

struct thumb_ppm {
        unsigned width, height;
        const uint8_t *pixels; /* width * height RGB triples, inside the buffer */
};

/* Parse a P6 header and check that the pixels are all there (bytes after
 * them are ignored). 0 and *out (pointing into buf), or -EINVAL with a
 * malloc'd *error saying what is wrong. */
int thumb_ppm_parse(const uint8_t *buf, size_t len, struct thumb_ppm *out, char **error);

/* Scale ppm down (box filter, aspect kept; never up) to fit max_w x
 * max_h and append it to out as an 8-bit RGB PNG. 0 with the size in
 * *w, *h, or -EINVAL (a zero box), -ENOMEM, -EIO (libpng failed) with
 * *error. */
int thumb_png(const struct thumb_ppm *ppm, unsigned max_w, unsigned max_h, GByteArray *out,
              unsigned *w, unsigned *h, char **error);
