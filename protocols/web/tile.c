/* Lossless PNG tiles of the framebuffer for browsers without H.264 in
 * WebCodecs (PNG spec: 8-bit RGB, no alpha; the XRGB8888 padding byte is
 * dropped by libpng's filler transform on write). */
#include "config.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>

#include "tile.h"

static void write_bytes(png_structp png, png_bytep data, size_t len)
{
        g_byte_array_append(png_get_io_ptr(png), data, (guint)len);
}

static void flush_nothing(png_structp png)
{
        (void)png;
}

int web_tile_png(const struct display_surface *s, struct display_rect r, GByteArray *out)
{
        png_structp png;
        png_infop info;
        guint start = out->len;

        if (!r.w || !r.h || r.x > s->width || r.y > s->height || r.w > s->width - r.x ||
            r.h > s->height - r.y)
                return -EINVAL;
        png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
        if (!png)
                return -ENOMEM;
        info = png_create_info_struct(png);
        if (!info) {
                png_destroy_write_struct(&png, NULL);
                return -ENOMEM;
        }
        if (setjmp(png_jmpbuf(png))) {
                png_destroy_write_struct(&png, &info);
                g_byte_array_set_size(out, start);
                return -EIO;
        }
        png_set_write_fn(png, out, write_bytes, flush_nothing);
        /* Speed over size: tiles go out at frame rate. */
        png_set_compression_level(png, 1);
        png_set_filter(png, 0, PNG_FILTER_SUB);
        png_set_IHDR(png, info, r.w, r.h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        /* Memory order B, G, R, X: swap to RGB and drop the fourth byte. */
        png_set_bgr(png);
        png_set_filler(png, 0, PNG_FILLER_AFTER);
        for (uint32_t y = 0; y < r.h; y++)
                png_write_row(png, s->pixels + (size_t)(r.y + y) * s->stride + (size_t)r.x * 4);
        png_write_end(png, NULL);
        png_destroy_write_struct(&png, &info);
        return 0;
}
