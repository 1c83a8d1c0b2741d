/* Screen thumbnails: PPM in, scaled PNG out (hostd/thumb.h). */
#include "config.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hostd/thumb.h"

static bool is_space(uint8_t c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* netpbm: whitespace and "#" comments (to the end of the line) may come
 * between the header's fields. */
static size_t skip_space(const uint8_t *buf, size_t len, size_t i)
{
        while (i < len && (is_space(buf[i]) || buf[i] == '#')) {
                if (buf[i] == '#')
                        while (i < len && buf[i] != '\n' && buf[i] != '\r')
                                i++;
                else
                        i++;
        }
        return i;
}

/* A decimal field of 1..max; *i moves past it. false when absent or out
 * of range. */
static bool read_number(const uint8_t *buf, size_t len, size_t *i, unsigned max, unsigned *out)
{
        size_t p = skip_space(buf, len, *i);
        unsigned long v = 0;
        size_t start = p;

        while (p < len && buf[p] >= '0' && buf[p] <= '9') {
                v = v * 10 + (unsigned long)(buf[p] - '0');
                if (v > max)
                        return false;
                p++;
        }
        if (p == start || v == 0)
                return false;
        *i = p;
        *out = (unsigned)v;
        return true;
}

int thumb_ppm_parse(const uint8_t *buf, size_t len, struct thumb_ppm *out, char **error)
{
        unsigned w, h, maxval;
        size_t i = 2, need;

        if (len < 2 || buf[0] != 'P' || buf[1] != '6') {
                *error = g_strdup("screenshot is not a binary PPM (no \"P6\" magic)");
                return -EINVAL;
        }
        if (!read_number(buf, len, &i, THUMB_MAX_SIDE, &w) ||
            !read_number(buf, len, &i, THUMB_MAX_SIDE, &h)) {
                *error = g_strdup_printf("screenshot's width or height is missing or not "
                                         "1-%d", THUMB_MAX_SIDE);
                return -EINVAL;
        }
        if (!read_number(buf, len, &i, 65535, &maxval) || maxval != 255) {
                *error = g_strdup("screenshot's maxval is not 255 (8 bits per sample)");
                return -EINVAL;
        }
        /* Exactly one whitespace byte ends the header. */
        if (i >= len || !is_space(buf[i])) {
                *error = g_strdup("screenshot's header does not end in whitespace");
                return -EINVAL;
        }
        i++;
        if (__builtin_mul_overflow((size_t)w, (size_t)h, &need) ||
            __builtin_mul_overflow(need, (size_t)3, &need) || len - i < need) {
                *error = g_strdup_printf("screenshot is cut short: %ux%u needs %zu bytes of "
                                         "pixels, %zu there", w, h, need, len - i);
                return -EINVAL;
        }
        *out = (struct thumb_ppm){ .width = w, .height = h, .pixels = buf + i };
        return 0;
}

/* The output size: fits the box, keeps the aspect (the binding side
 * decides), at least 1x1, never larger than the source. */
static void fit(const struct thumb_ppm *p, unsigned max_w, unsigned max_h, unsigned *w,
                unsigned *h)
{
        unsigned long long sw = p->width, sh = p->height;

        *w = p->width;
        *h = p->height;
        if (sw <= max_w && sh <= max_h)
                return;
        if (sw * max_h >= sh * max_w) {
                *w = max_w;
                *h = (unsigned)MAX(1ULL, sh * max_w / sw);
        } else {
                *h = max_h;
                *w = (unsigned)MAX(1ULL, sw * max_h / sh);
        }
}

/* One output row: each pixel the mean of its box of source pixels. */
static void scale_row(const struct thumb_ppm *p, unsigned w, unsigned h, unsigned y,
                      uint8_t *row)
{
        size_t y0 = (size_t)y * p->height / h, y1 = (size_t)(y + 1) * p->height / h;

        if (y1 <= y0)
                y1 = y0 + 1;
        for (unsigned x = 0; x < w; x++) {
                size_t x0 = (size_t)x * p->width / w, x1 = (size_t)(x + 1) * p->width / w;
                uint64_t sum[3] = { 0 }, n = 0;

                if (x1 <= x0)
                        x1 = x0 + 1;
                for (size_t sy = y0; sy < y1; sy++) {
                        const uint8_t *s = p->pixels + (sy * p->width + x0) * 3;
                        for (size_t sx = x0; sx < x1; sx++, s += 3, n++) {
                                sum[0] += s[0];
                                sum[1] += s[1];
                                sum[2] += s[2];
                        }
                }
                for (int c = 0; c < 3; c++)
                        row[3 * x + (unsigned)c] = (uint8_t)((sum[c] + n / 2) / n);
        }
}

static void append_bytes(png_structp png, png_bytep data, size_t len)
{
        g_byte_array_append(png_get_io_ptr(png), data, (guint)len);
}

static void no_flush(png_structp png)
{
        (void)png;
}

/* libpng's error path longjmps: nothing with a destructor lives in here. */
static int encode(const struct thumb_ppm *p, unsigned w, unsigned h, uint8_t *row,
                  GByteArray *out)
{
        png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
        png_infop info = png ? png_create_info_struct(png) : NULL;

        if (!info) {
                png_destroy_write_struct(&png, NULL);
                return -ENOMEM;
        }
        if (setjmp(png_jmpbuf(png))) {
                png_destroy_write_struct(&png, &info);
                return -EIO;
        }
        png_set_write_fn(png, out, append_bytes, no_flush);
        png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (unsigned y = 0; y < h; y++) {
                scale_row(p, w, h, y, row);
                png_write_row(png, row);
        }
        png_write_end(png, NULL);
        png_destroy_write_struct(&png, &info);
        return 0;
}

int thumb_png(const struct thumb_ppm *ppm, unsigned max_w, unsigned max_h, GByteArray *out,
              unsigned *w, unsigned *h, char **error)
{
        unsigned ow, oh;
        guint start = out->len;

        if (!max_w || !max_h || !ppm->width || !ppm->height) {
                *error = g_strdup("thumbnail size must be at least 1x1");
                return -EINVAL;
        }
        fit(ppm, max_w, max_h, &ow, &oh);
        g_autofree uint8_t *row = g_try_malloc((size_t)ow * 3);
        if (!row) {
                *error = g_strdup("out of memory for the thumbnail");
                return -ENOMEM;
        }
        int r = encode(ppm, ow, oh, row, out);
        if (r < 0) {
                g_byte_array_set_size(out, start);
                *error = g_strdup(r == -ENOMEM ? "out of memory for the thumbnail"
                                               : "libpng could not encode the thumbnail");
                return r;
        }
        *w = ow;
        *h = oh;
        return 0;
}
