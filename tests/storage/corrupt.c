/* Corrupt and hostile images: every one gets a clear error naming the file
 * and the reason, never a crash. */
#include "config.h"

#include "check-main.h"
#include "storage-test.h"

/* Our layout for a fresh 64 KiB-cluster image: header 0, refcount table
 * 64K, refcount block 128K, L1 192K; the first write (guest clusters 0
 * and 1) allocates the L2 table at 256K and data at 320K and 384K. */
#define CS 65536ULL
#define L1_OFF (3 * CS)
#define L2_OFF (4 * CS)
#define DATA_OFF (5 * CS)

static void patch(const char *path, uint64_t off, const void *buf, size_t len)
{
        int fd = open(path, O_WRONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pwrite_full(fd, buf, len, off), 0);
        close(fd);
}

static void patch_be64(const char *path, uint64_t off, uint64_t v)
{
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t)(v >> (56 - 8 * i));
        patch(path, off, b, 8);
}

static void patch_be32(const char *path, uint64_t off, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
        patch(path, off, b, 4);
}

/* A 4 MiB image with data in guest clusters 0 and 1. */
static const char *good_image(void)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 4 << 20, .no_sync = true };
        const char *p = tpath("c.qcow2");
        static uint8_t buf[2 * 65536];
        struct disk *d;
        memset(buf, 0x42, sizeof(buf));
        create_or_fail(p, &o);
        d = open_or_fail(p, DISK_FORMAT_QCOW2, 0);
        ck_assert_int_eq(disk_write(d, buf, sizeof(buf), 0), 0);
        disk_close(d);
        return p;
}

/* Open must fail with exactly "PATH: reason". */
static void expect_open_error(const char *p, unsigned flags, int code, const char *reason)
{
        struct disk *d = NULL;
        char *err = NULL, want[1024];
        int r = disk_open(p, DISK_FORMAT_QCOW2, flags, &d, &err);
        ck_assert_ptr_null(d);
        ck_assert_msg(r == code, "open returned %d (%s), expected %d", r, err, code);
        snprintf(want, sizeof(want), "%s: %s", p, reason);
        ck_assert_str_eq(err, want);
        free(err);
}

/* Open must fail with an error containing fragment. */
static void expect_open_error_has(const char *p, unsigned flags, const char *fragment)
{
        struct disk *d = NULL;
        char *err = NULL;
        int r = disk_open(p, DISK_FORMAT_QCOW2, flags, &d, &err);
        ck_assert_ptr_null(d);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(strstr(err, fragment) && strstr(err, p), "error '%s' lacks '%s'", err, fragment);
        free(err);
}

START_TEST(test_truncated_header)
{
        const char *p = good_image();
        ck_assert_int_eq(truncate(p, 40), 0);
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL, "truncated qcow2 header (40 bytes)");
        ck_assert_int_eq(truncate(p, 0), 0);
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL, "not a qcow2 image (bad magic)");
}
END_TEST

START_TEST(test_bad_magic_version_cluster_bits)
{
        const char *p = good_image();
        patch_be32(p, 4, 4);
        expect_open_error(p, DISK_OPEN_READONLY, -ENOTSUP, "unsupported qcow2 version 4 (need 2 or 3)");
        patch_be32(p, 4, 3);
        patch_be32(p, 20, 30);
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL,
                          "cluster_bits 30 out of range (9..21; image corrupt)");
        patch_be32(p, 20, 16);
        patch_be32(p, 0, 0x514649fa);
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL, "not a qcow2 image (bad magic)");
}
END_TEST

START_TEST(test_tables_past_eof_or_in_header)
{
        const char *p = good_image();
        patch_be64(p, 40, 1ULL << 40); /* L1 far past EOF */
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL,
                          "L1 table at 0x10000000000 is past the end of the file (image corrupt or truncated)");
        patch_be64(p, 40, 0); /* L1 inside the header */
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL,
                          "L1 table offset 0 is unaligned or inside the header (image corrupt)");
        patch_be64(p, 40, L1_OFF);
        patch_be64(p, 48, CS + 512); /* refcount table unaligned */
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL,
                          "refcount table offset 0x10200 is unaligned or inside the header (image corrupt)");
        patch_be64(p, 48, L1_OFF); /* overlapping the L1 table */
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL,
                          "L1 table and refcount table overlap (image corrupt)");
}
END_TEST

START_TEST(test_l2_table_past_eof)
{
        const char *p = good_image();
        uint8_t buf[16];
        char msg[512], want[512];
        struct disk *d;

        patch_be64(p, L1_OFF, (1ULL << 40) | (1ULL << 63));
        d = open_or_fail(p, DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
        ck_assert_int_eq(disk_read(d, buf, sizeof(buf), 0), -EIO);
        disk_last_error(d, msg, sizeof(msg));
        snprintf(want, sizeof(want),
                 "%s: L2 table at offset 0x10000000000 is past the end of the file (image corrupt or truncated)",
                 p);
        ck_assert_str_eq(msg, want);
        disk_close(d);
        /* an L2 table on top of the L1 table */
        patch_be64(p, L1_OFF, L1_OFF | (1ULL << 63));
        d = open_or_fail(p, DISK_FORMAT_QCOW2, 0);
        ck_assert_int_eq(disk_write(d, buf, sizeof(buf), 0), -EIO);
        disk_last_error(d, msg, sizeof(msg));
        ck_assert_ptr_nonnull(strstr(msg, "overlaps the L1 or refcount table"));
        disk_close(d);
}
END_TEST

START_TEST(test_bad_l2_entry)
{
        const char *p = good_image();
        uint8_t buf[16];
        char msg[512], want[512];
        struct disk *d;

        patch_be64(p, L2_OFF, (DATA_OFF + 4096) | (1ULL << 63)); /* unaligned data cluster */
        d = open_or_fail(p, DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
        ck_assert_int_eq(disk_read(d, buf, sizeof(buf), 0), -EIO);
        disk_last_error(d, msg, sizeof(msg));
        snprintf(want, sizeof(want),
                 "%s: L2 entry 0x8000000000051000 for guest offset 0 is invalid (image corrupt)", p);
        ck_assert_str_eq(msg, want);
        disk_close(d);
        /* in-place write into the header must be refused */
        patch_be64(p, L2_OFF, 0 | (1ULL << 63) | (1ULL << 9));
        d = open_or_fail(p, DISK_FORMAT_QCOW2, 0);
        ck_assert_int_eq(disk_write(d, buf, sizeof(buf), 0), -EIO);
        disk_close(d);
}
END_TEST

static int vdi_img_check(const char *p, char *out, size_t size)
{
        return sh_out(out, size, "%s/hostd/vdi-img check '%s' 2>&1",
                      getenv("abs_top_builddir") ? getenv("abs_top_builddir") : ".", p);
}

START_TEST(test_shared_and_looping_clusters)
{
        const char *p = good_image();
        struct disk_check_result res;
        char *err = NULL, out[8192];
        uint8_t buf[65536];
        struct disk *d;

        /* guest cluster 1 points at cluster 0's data: shared */
        patch_be64(p, L2_OFF + 8, DATA_OFF | (1ULL << 63));
        /* guest cluster 2 points at the L2 table itself: loop */
        patch_be64(p, L2_OFF + 16, L2_OFF | (1ULL << 63));
        d = open_or_fail(p, DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
        ck_assert_int_eq(disk_read(d, buf, sizeof(buf), 2 * 65536), 0); /* reads, no crash */
        ck_assert_int_eq(disk_check(d, &res, NULL, &err), 0);
        ck_assert_uint_ge(res.corruptions, 2);
        disk_close(d);
        ck_assert_int_eq(vdi_img_check(p, out, sizeof(out)), 2);
        ck_assert_ptr_nonnull(strstr(out, "ERROR cluster 4 refcount=1 reference=2"));
        ck_assert_ptr_nonnull(strstr(out, "ERROR cluster 5 refcount=1 reference=2"));
        ck_assert_ptr_nonnull(strstr(out, "errors were found on the image."));
        if (have_qemu())
                ck_assert_int_eq(qemu_check(p, out, sizeof(out)), 2);
}
END_TEST

START_TEST(test_leak_detected_like_qemu)
{
        const char *p = good_image();
        char out[8192];
        uint8_t rc[2] = { 0, 1 };
        /* grow the file by one cluster (7) and mark it in use */
        ck_assert_int_eq(truncate(p, 8 * CS), 0);
        patch(p, 2 * CS + 2 * 7, rc, 2);
        ck_assert_int_eq(vdi_img_check(p, out, sizeof(out)), 3);
        ck_assert_ptr_nonnull(strstr(out, "Leaked cluster 7 refcount=1 reference=0"));
        ck_assert_ptr_nonnull(strstr(out, "1 leaked clusters were found on the image."));
        if (have_qemu())
                ck_assert_int_eq(qemu_check(p, out, sizeof(out)), 3);
        /* a clean image: 0 for both */
        rc[1] = 0;
        patch(p, 2 * CS + 2 * 7, rc, 2);
        ck_assert_int_eq(vdi_img_check(p, out, sizeof(out)), 0);
        ck_assert_ptr_nonnull(strstr(out, "No errors were found on the image."));
        /* refcount 0 for a cluster in use: corruption */
        patch(p, 2 * CS + 2 * 5, rc, 2);
        ck_assert_int_eq(vdi_img_check(p, out, sizeof(out)), 2);
        ck_assert_ptr_nonnull(strstr(out, "ERROR cluster 5 refcount=0 reference=1"));
}
END_TEST

START_TEST(test_absurd_sizes)
{
        const char *p = good_image();
        patch_be64(p, 24, 1ULL << 62);
        expect_open_error(p, DISK_OPEN_READONLY, -EFBIG,
                          "virtual size 4611686018427387904 is absurd (image corrupt)");
        patch_be64(p, 24, 1ULL << 40); /* 1 TiB needs 2048 L1 entries, header says 1 */
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL,
                          "L1 table has 1 entries, 2048 needed for the virtual size (image corrupt)");
        patch_be32(p, 36, 0xffffffffu);
        expect_open_error(p, DISK_OPEN_READONLY, -EFBIG,
                          "L1 table of 4294967295 entries is too large (image corrupt)");
        patch_be64(p, 24, 4 << 20);
        patch_be32(p, 36, 1);
        patch_be32(p, 56, 0x10000000u);
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL,
                          "refcount table of 268435456 clusters is out of range (image corrupt)");
}
END_TEST

START_TEST(test_features_refused)
{
        const char *p = good_image();
        patch_be64(p, 72, 1ULL << 5);
        expect_open_error(p, DISK_OPEN_READONLY, -ENOTSUP,
                          "unknown incompatible feature bits 0x20 (made by a newer QEMU?)");
        patch_be64(p, 72, 1ULL << 2);
        expect_open_error(p, DISK_OPEN_READONLY, -ENOTSUP,
                          "uses an external data file, which is not supported");
        patch_be64(p, 72, 1ULL << 4); /* extended L2: readable, not writable */
        expect_open_error(p, 0, -EROFS,
                          "uses extended L2 entries (subclusters), which are read-only here (open it read-only, or make a plain copy with vdi-img convert -O qcow2)");
        disk_close(open_or_fail(p, DISK_FORMAT_QCOW2, DISK_OPEN_READONLY));
        patch_be64(p, 72, 1ULL << 3); /* compression type: zlib 0, zstd 1, nothing else */
        patch_be32(p, 104, 0x02000000u); /* byte 104 = 2, then padding */
        expect_open_error(p, DISK_OPEN_READONLY, -ENOTSUP,
                          "unknown compression type 2 (only zlib and zstd)");
        patch_be32(p, 104, 0);
        patch_be64(p, 72, 1ULL << 0); /* dirty: readable, not writable */
        expect_open_error(p, 0, -EROFS,
                          "dirty bit set (lazy refcounts after a crash); repair it with 'qemu-img check -r all' first");
        disk_close(open_or_fail(p, DISK_FORMAT_QCOW2, DISK_OPEN_READONLY));
        patch_be64(p, 72, 0);
        patch_be32(p, 32, 1);
        expect_open_error(p, DISK_OPEN_READONLY, -ENOTSUP,
                          "image is encrypted, which is not supported (decrypt it with qemu-img convert)");
        patch_be32(p, 32, 0);
        patch_be32(p, 96, 5); /* 32-bit refcounts: read-only */
        expect_open_error(p, 0, -EROFS,
                          "uses 32-bit refcounts; writing needs 16-bit refcounts (refcount_order 4)");
        disk_close(open_or_fail(p, DISK_FORMAT_QCOW2, DISK_OPEN_READONLY));
        patch_be32(p, 96, 4);
        patch_be32(p, 112, 0x12345678); /* extension running off the cluster */
        patch_be32(p, 116, 0x00100000);
        expect_open_error(p, DISK_OPEN_READONLY, -EINVAL,
                          "header extension 0x12345678 overflows the first cluster (image corrupt)");
}
END_TEST

START_TEST(test_bad_backing)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 1 << 20, .no_sync = true };
        char want[1024], ov[512];

        snprintf(ov, sizeof(ov), "%s", tpath("ov.qcow2"));

        create_or_fail(tpath("base.qcow2"), &o);
        o.backing_file = "base.qcow2";
        o.backing_format = DISK_FORMAT_QCOW2;
        create_or_fail(ov, &o);
        disk_close(open_or_fail(ov, DISK_FORMAT_QCOW2, 0));

        /* missing */
        ck_assert_int_eq(rename(tpath("base.qcow2"), tpath("gone.qcow2")), 0);
        snprintf(want, sizeof(want), "cannot open backing file: %s: cannot open: No such file or directory",
                 tpath("base.qcow2"));
        expect_open_error(ov, DISK_OPEN_READONLY, -ENOENT, want);

        /* not the declared format */
        ck_assert_int_eq(sh("head -c 1048576 /dev/zero > '%s'", tpath("base.qcow2")), 0);
        snprintf(want, sizeof(want), "cannot open backing file: %s: not a qcow2 image (bad magic)",
                 tpath("base.qcow2"));
        expect_open_error(ov, DISK_OPEN_READONLY, -EINVAL, want);

        /* no backing-format extension: never probe */
        ck_assert_int_eq(rename(tpath("gone.qcow2"), tpath("base.qcow2")), 0);
        patch_be32(ov, 112, 0x11111111);
        snprintf(want, sizeof(want),
                 "backing file 'base.qcow2' has no recorded format (fix with: qemu-img rebase -u -b 'base.qcow2' -F <fmt> %s)",
                 ov);
        expect_open_error(ov, DISK_OPEN_READONLY, -EINVAL, want);
        patch_be32(ov, 112, 0xe2792aca);

        /* name outside the first cluster */
        patch_be64(ov, 8, CS - 4);
        expect_open_error(ov, DISK_OPEN_READONLY, -EINVAL,
                          "backing file name (offset 65532, length 10) is outside the first cluster (image corrupt)");
}
END_TEST

START_TEST(test_backing_loop_and_depth)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 1 << 20, .no_sync = true };
        char name[64], prev[64];
        /* a → b → a */
        create_or_fail(tpath("a.qcow2"), &o);
        o.backing_file = "a.qcow2";
        o.backing_format = DISK_FORMAT_QCOW2;
        create_or_fail(tpath("b.qcow2"), &o);
        o.backing_file = "b.qcow2";
        create_or_fail(tpath("a2.qcow2"), &o);
        ck_assert_int_eq(rename(tpath("a2.qcow2"), tpath("a.qcow2")), 0);
        expect_open_error_has(tpath("a.qcow2"), DISK_OPEN_READONLY, "backing chain deeper than 16 images");

        /* a legitimate chain of 16 overlays opens; 17 does not */
        o.backing_file = NULL;
        create_or_fail(tpath("l0"), &o);
        for (int i = 1; i <= 16; i++) {
                snprintf(prev, sizeof(prev), "l%d", i - 1);
                snprintf(name, sizeof(name), "l%d", i);
                o.backing_file = prev;
                create_or_fail(tpath(name), &o);
        }
        disk_close(open_or_fail(tpath("l16"), DISK_FORMAT_QCOW2, DISK_OPEN_READONLY));
        o.backing_file = "l16";
        {
                char *err = NULL;
                ck_assert_int_eq(disk_create(tpath("l17"), &o, &err), -ELOOP);
                ck_assert_ptr_nonnull(strstr(err, "backing chain deeper than 16 images"));
                free(err);
        }
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("storage-corrupt");
        TCase *tc = tcase_create("corrupt");
        tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
        tcase_add_test(tc, test_truncated_header);
        tcase_add_test(tc, test_bad_magic_version_cluster_bits);
        tcase_add_test(tc, test_tables_past_eof_or_in_header);
        tcase_add_test(tc, test_l2_table_past_eof);
        tcase_add_test(tc, test_bad_l2_entry);
        tcase_add_test(tc, test_shared_and_looping_clusters);
        tcase_add_test(tc, test_leak_detected_like_qemu);
        tcase_add_test(tc, test_absurd_sizes);
        tcase_add_test(tc, test_features_refused);
        tcase_add_test(tc, test_bad_backing);
        tcase_add_test(tc, test_backing_loop_and_depth);
        suite_add_tcase(s, tc);
        return s;
}
