#include "config.h"

#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bzimage.h"
#include "check-main.h"

/* A crafted bzImage: setup_sects sectors of setup + payload bytes. */
struct img {
        uint8_t *p;
        size_t len;
};

static void w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint32_t v) { w16(p, (uint16_t)v); w16(p + 2, (uint16_t)(v >> 16)); }

static struct img make(unsigned setup_sects, size_t payload)
{
        struct img im;
        unsigned ss = setup_sects ? setup_sects : 4;

        im.len = (ss + 1) * 512 + payload;
        im.p = calloc(1, im.len);
        ck_assert_ptr_nonnull(im.p);
        im.p[BZ_SETUP_SECTS] = (uint8_t)setup_sects;
        w32(im.p + BZ_SYSSIZE, (uint32_t)((payload + 15) / 16));
        w16(im.p + BZ_BOOT_FLAG, 0xaa55);
        im.p[BZ_JUMP] = 0xeb;
        im.p[BZ_JUMP + 1] = 0x6a; /* header ends at 0x26c */
        memcpy(im.p + BZ_HEADER, "HdrS", 4);
        w16(im.p + BZ_VERSION, 0x020f);
        im.p[BZ_LOADFLAGS] = BZ_LOADED_HIGH;
        w32(im.p + BZ_INITRD_ADDR_MAX, 0x7fffffff);
        w32(im.p + BZ_KERNEL_ALIGNMENT, 0x200000);
        im.p[BZ_RELOCATABLE] = 1;
        w16(im.p + BZ_XLOADFLAGS, BZ_XLF_KERNEL_64);
        w32(im.p + BZ_CMDLINE_SIZE, 2047);
        w32(im.p + BZ_PREF_ADDRESS, 0x1000000);
        w32(im.p + BZ_INIT_SIZE, 0x1000000);
        return im;
}

static int parse(struct img *im, struct bzimage *bz, struct vm_err *e)
{
        return bzimage_parse(im->p, im->len, bz, e);
}

START_TEST(test_valid)
{
        struct img im = make(27, 100000);
        struct bzimage bz;
        struct vm_err e;

        ck_assert_int_eq(parse(&im, &bz, &e), 0);
        ck_assert_uint_eq(bz.setup_size, 28 * 512);
        ck_assert_uint_eq(bz.payload_offset, 28 * 512);
        ck_assert_uint_eq(bz.payload_size, 100000);
        ck_assert_uint_eq(bz.version, 0x020f);
        ck_assert_uint_eq(bz.header_end, 0x26c);
        ck_assert(bz.relocatable);
        ck_assert_uint_eq(bz.cmdline_size, 2047);
        ck_assert_uint_eq(bz.init_size, 0x1000000);
        ck_assert_uint_eq(bz.pref_address, 0x1000000);
        free(im.p);
}
END_TEST

START_TEST(test_setup_sects_zero_means_four)
{
        struct img im = make(0, 4096);
        struct bzimage bz;
        struct vm_err e;

        ck_assert_int_eq(parse(&im, &bz, &e), 0);
        ck_assert_uint_eq(bz.setup_sects, 4);
        ck_assert_uint_eq(bz.setup_size, 5 * 512);
        free(im.p);
}
END_TEST

START_TEST(test_rejects)
{
        struct bzimage bz, untouched;
        struct vm_err e;
        struct img im;

        memset(&bz, 0x5a, sizeof(bz));
        untouched = bz;

        /* Too small to hold a header. */
        im = make(4, 4096);
        ck_assert_int_eq(bzimage_parse(im.p, 0x100, &bz, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "too small"));
        ck_assert_mem_eq(&bz, &untouched, sizeof(bz)); /* out untouched */

        /* Not a bzImage: bad magic, bad boot flag. */
        memcpy(im.p + BZ_HEADER, "HdrX", 4);
        ck_assert_int_eq(parse(&im, &bz, &e), -ENOEXEC);
        ck_assert_ptr_nonnull(strstr(e.msg, "not a Linux bzImage"));
        free(im.p);
        im = make(4, 4096);
        w16(im.p + BZ_BOOT_FLAG, 0);
        ck_assert_int_eq(parse(&im, &bz, &e), -ENOEXEC);
        free(im.p);

        /* Protocol 2.11: no 64-bit entry. */
        im = make(4, 4096);
        w16(im.p + BZ_VERSION, 0x020b);
        ck_assert_int_eq(parse(&im, &bz, &e), -ENOEXEC);
        ck_assert_str_eq(e.msg, "boot protocol 2.11 is too old: 2.12 or later is needed for the 64-bit entry point");
        free(im.p);

        /* zImage (not loaded high). */
        im = make(4, 4096);
        im.p[BZ_LOADFLAGS] = 0;
        ck_assert_int_eq(parse(&im, &bz, &e), -ENOEXEC);
        ck_assert_ptr_nonnull(strstr(e.msg, "zImage"));
        free(im.p);

        /* 32-bit only kernel. */
        im = make(4, 4096);
        w16(im.p + BZ_XLOADFLAGS, 0);
        ck_assert_int_eq(parse(&im, &bz, &e), -ENOEXEC);
        ck_assert_ptr_nonnull(strstr(e.msg, "64-bit"));
        free(im.p);

        /* Truncated payload: syssize says more than the file has. */
        im = make(4, 4096);
        w32(im.p + BZ_SYSSIZE, 4096 / 16 + 1);
        ck_assert_int_eq(parse(&im, &bz, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "truncated"));
        free(im.p);

        /* Truncated in the setup code. */
        im = make(60, 0);
        ck_assert_int_eq(bzimage_parse(im.p, 20 * 512, &bz, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "truncated"));
        free(im.p);

        /* Setup header claiming to end beyond the setup code. */
        im = make(4, 4096);
        im.p[BZ_JUMP + 1] = 0x10;
        ck_assert_int_eq(parse(&im, &bz, &e), -EINVAL);
        free(im.p);

        /* init_size smaller than the kernel itself. */
        im = make(4, 4096);
        w32(im.p + BZ_INIT_SIZE, 16);
        ck_assert_int_eq(parse(&im, &bz, &e), -EINVAL);
        free(im.p);

        /* Non-relocatable with a nonsense preferred address. */
        im = make(4, 4096);
        im.p[BZ_RELOCATABLE] = 0;
        w32(im.p + BZ_PREF_ADDRESS, 0x1000);
        ck_assert_int_eq(parse(&im, &bz, &e), -ENOEXEC);
        free(im.p);
        ck_assert_mem_eq(&bz, &untouched, sizeof(bz));
}
END_TEST

/* Every truncation of a valid image is refused cleanly, never accepted. */
START_TEST(test_every_truncation)
{
        struct img im = make(4, 4096);
        struct bzimage bz;
        struct vm_err e;

        for (size_t len = 0; len < im.len; len += 7)
                ck_assert_int_lt(bzimage_parse(im.p, len, &bz, &e), 0);
        free(im.p);
}
END_TEST

/* The host's Debian kernel, when there is one. */
START_TEST(test_host_kernel)
{
        glob_t g;
        FILE *f;
        uint8_t *buf;
        long n;
        struct bzimage bz;
        struct vm_err e;

        if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0)
                return;
        f = fopen(g.gl_pathv[0], "rb");
        if (!f) {
                globfree(&g);
                return; /* not readable here */
        }
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = malloc((size_t)n);
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        ck_assert_msg(bzimage_parse(buf, (size_t)n, &bz, &e) == 0, "%s: %s", g.gl_pathv[0], e.msg);
        ck_assert(bz.xloadflags & BZ_XLF_KERNEL_64);
        ck_assert_uint_ge(bz.version, BZ_MIN_VERSION);
        free(buf);
        globfree(&g);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-bzimage");
        TCase *tc = tcase_create("bzimage");

        tcase_add_test(tc, test_valid);
        tcase_add_test(tc, test_setup_sects_zero_means_four);
        tcase_add_test(tc, test_rejects);
        tcase_add_test(tc, test_every_truncation);
        tcase_add_test(tc, test_host_kernel);
        suite_add_tcase(s, tc);
        return s;
}
