/* Framebuffer damage tracking (hostd/vmm/hw/fb.c) without KVM: the dirty
 * bitmap is made by hand, the pixels drawn directly. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check-main.h"
#include "fb.h"

static struct fb fb;
static uint64_t *all;

static void make(uint32_t w, uint32_t h)
{
        struct vm_err err;

        ck_assert_int_eq(fb_create(&fb, w, h, &err), 0);
        all = malloc(fb.bitmap_bytes);
        memset(all, 0xff, fb.bitmap_bytes);
}

static void done(void)
{
        fb_destroy(&fb);
        free(all);
}

static void fill(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t color)
{
        for (uint32_t j = y; j < y + h; j++)
                for (uint32_t i = x; i < x + w; i++)
                        memcpy(fb.pixels + (size_t)j * fb.stride + 4 * i, &color, 4);
}

/* The bitmap a real dirty log would show for that fill. */
static void mark(uint64_t *bm, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
        for (uint32_t j = y; j < y + h; j++) {
                uint64_t a = (uint64_t)j * fb.stride + 4 * x, b = a + 4 * w - 1;
                for (uint64_t p = a / 4096; p <= b / 4096; p++)
                        bm[p / 64] |= 1ull << (p % 64);
        }
}

#define RECT_EQ(r, X, Y, W, H)                                                                              \
        do {                                                                                                \
                ck_assert_uint_eq((r).x, X);                                                                \
                ck_assert_uint_eq((r).y, Y);                                                                \
                ck_assert_uint_eq((r).w, W);                                                                \
                ck_assert_uint_eq((r).h, H);                                                                \
        } while (0)

START_TEST(test_parse_size)
{
        uint32_t w, h;

        ck_assert_int_eq(fb_parse_size("1024x768", &w, &h), 0);
        ck_assert_uint_eq(w, 1024);
        ck_assert_uint_eq(h, 768);
        ck_assert_int_eq(fb_parse_size("1920x1080", &w, &h), 0);
        ck_assert_int_eq(fb_parse_size("1920", &w, &h), -EINVAL);
        ck_assert_int_eq(fb_parse_size("x1080", &w, &h), -EINVAL);
        ck_assert_int_eq(fb_parse_size("1920x", &w, &h), -EINVAL);
        ck_assert_int_eq(fb_parse_size("10x10", &w, &h), -EINVAL);
        ck_assert_int_eq(fb_parse_size("99999x99999", &w, &h), -EINVAL);
        ck_assert_int_eq(fb_parse_size("-1x768", &w, &h), -EINVAL);
        ck_assert_int_eq(fb_parse_size("1024x768junk", &w, &h), -EINVAL);
}
END_TEST

START_TEST(test_nothing_changed)
{
        struct display_rect r[16];

        make(1024, 768);
        ck_assert_int_eq(fb_damage_from_bitmap(&fb, all, r, 16), 0);
        fill(10, 10, 50, 50, 0); /* same (black) pixels rewritten */
        ck_assert_int_eq(fb_damage_from_bitmap(&fb, all, r, 16), 0);
        done();
}
END_TEST

START_TEST(test_one_rect_exact)
{
        struct display_rect r[16];
        uint32_t sizes[][2] = { { 1024, 768 }, { 1920, 1080 } };

        for (size_t i = 0; i < 2; i++) {
                uint64_t *bm;

                make(sizes[i][0], sizes[i][1]);
                bm = calloc(1, fb.bitmap_bytes);
                fill(100, 100, 200, 50, 0x00ff0000);
                mark(bm, 100, 100, 200, 50);
                ck_assert_int_eq(fb_damage_from_bitmap(&fb, bm, r, 16), 1);
                RECT_EQ(r[0], 100, 100, 200, 50);
                /* reported once */
                ck_assert_int_eq(fb_damage_from_bitmap(&fb, all, r, 16), 0);
                /* the right edge, crossing page boundaries mid-row */
                memset(bm, 0, fb.bitmap_bytes);
                fill(fb.width - 20, 300, 20, 7, 0x0000ff00);
                mark(bm, fb.width - 20, 300, 20, 7);
                ck_assert_int_eq(fb_damage_from_bitmap(&fb, bm, r, 16), 1);
                RECT_EQ(r[0], fb.width - 20, 300, 20, 7);
                free(bm);
                done();
        }
}
END_TEST

START_TEST(test_several_and_merge)
{
        struct display_rect r[16];

        make(1024, 768);
        fill(0, 0, 10, 10, 1);
        fill(500, 300, 20, 20, 2);
        fill(50, 600, 30, 5, 3);
        ck_assert_int_eq(fb_damage_from_bitmap(&fb, all, r, 16), 3);
        RECT_EQ(r[0], 0, 0, 10, 10);
        RECT_EQ(r[1], 500, 300, 20, 20);
        RECT_EQ(r[2], 50, 600, 30, 5);

        /* Overlapping spans on consecutive rows join one rectangle. */
        fill(100, 100, 10, 10, 4);
        fill(105, 110, 10, 10, 4);
        ck_assert_int_eq(fb_damage_from_bitmap(&fb, all, r, 16), 1);
        RECT_EQ(r[0], 100, 100, 15, 20);

        /* At most max: the cheapest neighbours merge. */
        fill(0, 0, 10, 10, 5);
        fill(0, 20, 10, 10, 5);
        fill(900, 700, 10, 10, 5);
        ck_assert_int_eq(fb_damage_from_bitmap(&fb, all, r, 2), 2);
        RECT_EQ(r[0], 0, 0, 10, 30);
        RECT_EQ(r[1], 900, 700, 10, 10);
        fill(0, 0, 10, 10, 6);
        fill(900, 700, 10, 10, 6);
        ck_assert_int_eq(fb_damage_from_bitmap(&fb, all, r, 1), 1);
        RECT_EQ(r[0], 0, 0, 910, 710);

        /* A single changed pixel. */
        fill(1023, 767, 1, 1, 7);
        ck_assert_int_eq(fb_damage_from_bitmap(&fb, all, r, 16), 1);
        RECT_EQ(r[0], 1023, 767, 1, 1);
        done();
}
END_TEST

START_TEST(test_screen_info)
{
        uint8_t zp[4096];
        uint32_t base;
        uint16_t v;

        make(1920, 1080);
        memset(zp, 0xaa, sizeof(zp));
        fb_fill_screen_info(&fb, zp);
        ck_assert_uint_eq(zp[0x0f], 0x23);
        memcpy(&v, zp + 0x12, 2);
        ck_assert_uint_eq(v, 1920);
        memcpy(&v, zp + 0x14, 2);
        ck_assert_uint_eq(v, 1080);
        memcpy(&v, zp + 0x16, 2);
        ck_assert_uint_eq(v, 32);
        memcpy(&base, zp + 0x18, 4);
        ck_assert_uint_eq(base, FB_GPA);
        memcpy(&base, zp + 0x1c, 4);
        ck_assert_uint_eq(base, (1920 * 1080 * 4 + 65535) / 65536);
        memcpy(&v, zp + 0x24, 2);
        ck_assert_uint_eq(v, 1920 * 4);
        ck_assert_uint_eq(zp[0x26], 8);
        ck_assert_uint_eq(zp[0x27], 16);
        ck_assert_uint_eq(zp[0x29], 8);
        ck_assert_uint_eq(zp[0x2b], 0);
        ck_assert_uint_eq(zp[0x2d], 24);
        ck_assert_uint_eq(zp[0x40], 0xaa); /* nothing beyond screen_info */
        done();
}
END_TEST

START_TEST(test_screenshot)
{
        struct display_surface surf;
        unsigned char buf[64];
        int fd = memfd_create("fbtest", MFD_CLOEXEC), ro = open("/dev/null", O_RDONLY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_ge(ro, 0);
        make(320, 200);
        fill(1, 0, 1, 1, 0x00123456);
        ck_assert_int_eq(fb_get_surface(&fb, &surf), 0);
        ck_assert_int_eq(fb_surface_write_ppm(&surf, fd), 0);
        ck_assert_int_eq(lseek(fd, 0, SEEK_END), 15 + 320 * 200 * 3);
        ck_assert_int_eq(pread(fd, buf, 21, 0), 21);
        ck_assert_mem_eq(buf, "P6\n320 200\n255\n", 15);
        ck_assert_uint_eq(buf[15 + 3], 0x12);
        ck_assert_uint_eq(buf[15 + 4], 0x34);
        ck_assert_uint_eq(buf[15 + 5], 0x56);
        ck_assert_int_eq(fb_surface_write_ppm(&surf, ro), -EBADF);
        close(fd);
        close(ro);
        done();
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("fb");
        TCase *tc = tcase_create("damage");

        tcase_add_test(tc, test_parse_size);
        tcase_add_test(tc, test_nothing_changed);
        tcase_add_test(tc, test_one_rect_exact);
        tcase_add_test(tc, test_several_and_merge);
        tcase_add_test(tc, test_screen_info);
        tcase_add_test(tc, test_screenshot);
        suite_add_tcase(s, tc);
        return s;
}
