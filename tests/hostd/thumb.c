/* Screen thumbnails (hostd/thumb.c): vdi-vm's PPM screenshots, good and
 * hostile, and the PNG made from them, read back with libpng. */
#include "config.h"

#include <png.h>
#include <string.h>

#include "check-main.h"
#include "hostd/thumb.h"

/* A P6 file of w x h whose pixel (x, y) is (x, y, 200) mod 256. */
static GByteArray *ppm_new(unsigned w, unsigned h, const char *header)
{
        GByteArray *b = g_byte_array_new();
        g_autofree char *head = header ? g_strdup(header) : g_strdup_printf("P6\n%u %u\n255\n", w, h);
        g_byte_array_append(b, (const guint8 *)head, (guint)strlen(head));
        for (unsigned y = 0; y < h; y++)
                for (unsigned x = 0; x < w; x++) {
                        guint8 px[3] = { (guint8)x, (guint8)y, 200 };
                        g_byte_array_append(b, px, 3);
                }
        return b;
}

static int parse(GByteArray *b, struct thumb_ppm *p, char **err)
{
        return thumb_ppm_parse(b->data, b->len, p, err);
}

/* Decode png with libpng into RGB rows (caller frees). */
static guint8 *png_decode(GByteArray *png, unsigned *w, unsigned *h)
{
        png_image img = { .version = PNG_IMAGE_VERSION };
        ck_assert(png_image_begin_read_from_memory(&img, png->data, png->len));
        img.format = PNG_FORMAT_RGB;
        guint8 *px = g_malloc(PNG_IMAGE_SIZE(img));
        ck_assert(png_image_finish_read(&img, NULL, px, 0, NULL));
        *w = img.width;
        *h = img.height;
        return px;
}

START_TEST(test_scaled_png)
{
        g_autoptr(GByteArray) b = ppm_new(640, 480, NULL), png = g_byte_array_new();
        g_autofree char *err = NULL;
        struct thumb_ppm p;
        unsigned w, h, dw, dh;

        ck_assert_int_eq(parse(b, &p, &err), 0);
        ck_assert_uint_eq(p.width, 640);
        ck_assert_uint_eq(p.height, 480);
        ck_assert_int_eq(thumb_png(&p, 320, 320, png, &w, &h, &err), 0);
        ck_assert_uint_eq(w, 320);
        ck_assert_uint_eq(h, 240);
        g_autofree guint8 *px = png_decode(png, &dw, &dh);
        ck_assert_uint_eq(dw, 320);
        ck_assert_uint_eq(dh, 240);
        /* Output (10, 20) averages source x 20..21, y 40..41: (20.5 -> 21,
         * 40.5 -> 41, 200). */
        const guint8 *o = px + (20 * 320 + 10) * 3;
        ck_assert_uint_eq(o[0], 21);
        ck_assert_uint_eq(o[1], 41);
        ck_assert_uint_eq(o[2], 200);
}
END_TEST

START_TEST(test_fit_and_never_up)
{
        g_autoptr(GByteArray) tall = ppm_new(100, 400, NULL), small = ppm_new(40, 30, NULL);
        g_autoptr(GByteArray) png = g_byte_array_new();
        g_autofree char *err = NULL;
        struct thumb_ppm p;
        unsigned w, h;

        ck_assert_int_eq(parse(tall, &p, &err), 0);
        ck_assert_int_eq(thumb_png(&p, 320, 240, png, &w, &h, &err), 0);
        ck_assert_uint_eq(w, 60);
        ck_assert_uint_eq(h, 240);
        ck_assert_int_eq(parse(small, &p, &err), 0);
        ck_assert_int_eq(thumb_png(&p, 320, 240, png, &w, &h, &err), 0);
        ck_assert_uint_eq(w, 40);
        ck_assert_uint_eq(h, 30);
        /* A line 1 pixel high stays 1 pixel high. */
        g_autoptr(GByteArray) line = ppm_new(4000, 1, NULL);
        ck_assert_int_eq(parse(line, &p, &err), 0);
        ck_assert_int_eq(thumb_png(&p, 320, 240, png, &w, &h, &err), 0);
        ck_assert_uint_eq(w, 320);
        ck_assert_uint_eq(h, 1);
        ck_assert_int_eq(thumb_png(&p, 0, 240, png, &w, &h, &err), -EINVAL);
}
END_TEST

START_TEST(test_comments_and_trailing_bytes)
{
        g_autoptr(GByteArray) b = ppm_new(2, 2, "P6 # made by vdi-vm\n2\t2 # size\n255\n");
        g_autofree char *err = NULL;
        struct thumb_ppm p;

        g_byte_array_append(b, (const guint8 *)"extra", 5);
        ck_assert_int_eq(parse(b, &p, &err), 0);
        ck_assert_uint_eq(p.width, 2);
        ck_assert_uint_eq(p.pixels[3], 1); /* pixel (1, 0) */
}
END_TEST

/* Hostile and broken files: each refused with its reason, none read out
 * of bounds (ASan). */
START_TEST(test_bad_input)
{
        static const struct {
                const char *header;
                unsigned w, h;
                const char *why;
        } bad[] = {
                { "P5\n2 2\n255\n", 2, 2, "no \"P6\" magic" },
                { "", 0, 0, "no \"P6\" magic" },
                { "P6\n0 2\n255\n", 0, 2, "width or height" },
                { "P6\n2\n", 0, 0, "width or height" },
                { "P6\n99999 2\n255\n", 0, 0, "width or height" },
                { "P6\n16385 1\n255\n", 0, 0, "width or height" },
                { "P6\n-2 2\n255\n", 0, 0, "width or height" },
                { "P6\n2 2\n65535\n", 2, 2, "maxval is not 255" },
                { "P6\n2 2\n99999999999\n", 2, 2, "maxval is not 255" },
                { "P6\n2 2\n255", 0, 0, "does not end in whitespace" },
                { "P6\n2 2\n255x", 2, 2, "does not end in whitespace" },
                { "P6\n2 2\n255\n", 2, 1, "cut short" },
                { "P6\n16384 16384\n255\n", 1, 1, "cut short" },
                { "P6 # no end to this comment", 0, 0, "width or height" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GByteArray) b = ppm_new(bad[i].w, bad[i].h, bad[i].header);
                g_autofree char *err = NULL;
                struct thumb_ppm p = { 0 };
                ck_assert_int_eq(parse(b, &p, &err), -EINVAL);
                ck_assert_msg(err && strstr(err, bad[i].why), "case %zu: %s", i, err);
                ck_assert_uint_eq(p.width, 0);
        }
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("hostd-thumb");
        TCase *tc = tcase_create("thumb");
        tcase_add_test(tc, test_scaled_png);
        tcase_add_test(tc, test_fit_and_never_up);
        tcase_add_test(tc, test_comments_and_trailing_bytes);
        tcase_add_test(tc, test_bad_input);
        suite_add_tcase(s, tc);
        return s;
}
