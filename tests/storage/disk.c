/* Unit tests of the disk API: qcow2 and raw basics, COW over a backing
 * file, zero clusters, discard, persistence, sizes, threads. */
#include "config.h"

#include <pthread.h>

#include "check-main.h"
#include "storage-test.h"

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

START_TEST(test_parse_size)
{
        uint64_t v;
        ck_assert_int_eq(disk_parse_size("10G", &v), 0);
        ck_assert_uint_eq(v, 10ULL << 30);
        ck_assert_int_eq(disk_parse_size("512M", &v), 0);
        ck_assert_uint_eq(v, 512ULL << 20);
        ck_assert_int_eq(disk_parse_size("4096", &v), 0);
        ck_assert_uint_eq(v, 4096);
        ck_assert_int_eq(disk_parse_size("64KiB", &v), 0);
        ck_assert_uint_eq(v, 65536);
        ck_assert_int_eq(disk_parse_size("1X", &v), -EINVAL);
        ck_assert_int_eq(disk_parse_size("", &v), -EINVAL);
        ck_assert_int_eq(disk_parse_size("-1", &v), -EINVAL);
        ck_assert_int_eq(disk_parse_size("99999999999999999999", &v), -ERANGE);
        ck_assert_int_eq(disk_parse_size("99999999P", &v), -ERANGE);
}
END_TEST

static void roundtrip(enum disk_format f)
{
        struct disk_create_opts o = { .format = f, .size = 8 << 20, .no_sync = true };
        const char *p = tpath("img");
        static uint8_t w[300000], r[300000];
        struct disk *d;

        create_or_fail(p, &o);
        d = open_or_fail(p, f, 0);
        ck_assert_uint_eq(disk_get_length(d), 8 << 20);
        /* fresh image reads as zeros */
        memset(r, 0xff, sizeof(r));
        ck_assert_int_eq(disk_read(d, r, sizeof(r), 12345), 0);
        for (size_t i = 0; i < sizeof(r); i++)
                ck_assert_uint_eq(r[i], 0);
        fill(w, sizeof(w), 1);
        /* unaligned, straddling several clusters */
        ck_assert_int_eq(disk_write(d, w, sizeof(w), 65536 - 333), 0);
        ck_assert_int_eq(disk_write(d, w, 1, (8 << 20) - 1), 0);
        ck_assert_int_eq(disk_read(d, r, sizeof(r), 65536 - 333), 0);
        ck_assert_mem_eq(r, w, sizeof(w));
        ck_assert_int_eq(disk_read(d, r, 2, (8 << 20) - 2), 0);
        ck_assert_uint_eq(r[0], 0);
        ck_assert_uint_eq(r[1], w[0]);
        /* out of range */
        ck_assert_int_eq(disk_read(d, r, 2, (8 << 20) - 1), -EINVAL);
        ck_assert_int_eq(disk_write(d, w, 1, 8 << 20), -EINVAL);
        ck_assert_int_eq(disk_read(d, r, 1, UINT64_MAX), -EINVAL);
        ck_assert_int_eq(disk_flush(d), 0);
        disk_close(d);

        d = open_or_fail(p, f, DISK_OPEN_READONLY);
        memset(r, 0, sizeof(r));
        ck_assert_int_eq(disk_read(d, r, sizeof(r), 65536 - 333), 0);
        ck_assert_mem_eq(r, w, sizeof(w));
        ck_assert_int_eq(disk_write(d, w, 1, 0), -EROFS);
        disk_close(d);
}

/* disk_rename: the open disk follows its file; a failed rename changes
 * nothing. */
START_TEST(test_rename)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 1 << 20, .no_sync = true };
        char from[4096], to[4096];
        uint8_t b = 0x5a, r = 0;
        struct disk *d;

        snprintf(from, sizeof(from), "%s", tpath("from"));
        snprintf(to, sizeof(to), "%s", tpath("to"));
        create_or_fail(from, &o);
        d = open_or_fail(from, DISK_FORMAT_QCOW2, 0);
        ck_assert_int_eq(disk_rename(d, to), 0);
        ck_assert_str_eq(d->path, to);
        ck_assert_int_eq(access(from, F_OK), -1);
        ck_assert_int_eq(disk_write(d, &b, 1, 4096), 0);
        ck_assert_int_eq(disk_rename(d, "/nonexistent-dir/x"), -ENOENT);
        ck_assert_str_eq(d->path, to);
        disk_close(d);
        d = open_or_fail(to, DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
        ck_assert_int_eq(disk_read(d, &r, 1, 4096), 0);
        ck_assert_uint_eq(r, 0x5a);
        disk_close(d);
}
END_TEST

START_TEST(test_qcow2_roundtrip)
{
        roundtrip(DISK_FORMAT_QCOW2);
}
END_TEST

START_TEST(test_raw_roundtrip)
{
        roundtrip(DISK_FORMAT_RAW);
}
END_TEST

START_TEST(test_overlay_cow)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 4 << 20, .no_sync = true };
        static uint8_t base[4 << 20], r[4 << 20], w[5000];
        struct disk *d;

        create_or_fail(tpath("base.qcow2"), &o);
        d = open_or_fail(tpath("base.qcow2"), DISK_FORMAT_QCOW2, 0);
        fill(base, sizeof(base), 9);
        ck_assert_int_eq(disk_write(d, base, sizeof(base), 0), 0);
        disk_close(d);

        /* relative backing name, resolved next to the overlay */
        o.backing_file = "base.qcow2";
        o.backing_format = DISK_FORMAT_QCOW2;
        o.size = 0;
        create_or_fail(tpath("ov.qcow2"), &o);
        d = open_or_fail(tpath("ov.qcow2"), DISK_FORMAT_QCOW2, 0);
        ck_assert_uint_eq(disk_get_length(d), 4 << 20);
        ck_assert_int_eq(disk_read(d, r, sizeof(r), 0), 0);
        ck_assert_mem_eq(r, base, sizeof(r));
        fill(w, sizeof(w), 77);
        ck_assert_int_eq(disk_write(d, w, sizeof(w), 100000), 0);
        memcpy(base + 100000, w, sizeof(w));
        ck_assert_int_eq(disk_read(d, r, sizeof(r), 0), 0);
        ck_assert_mem_eq(r, base, sizeof(r));
        disk_close(d);

        /* the base is untouched, the overlay persists */
        d = open_or_fail(tpath("base.qcow2"), DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
        ck_assert_int_eq(disk_read(d, r, sizeof(w), 100000), 0);
        ck_assert_mem_ne(r, w, sizeof(w));
        disk_close(d);
        d = open_or_fail(tpath("ov.qcow2"), DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
        ck_assert_int_eq(disk_read(d, r, sizeof(r), 0), 0);
        ck_assert_mem_eq(r, base, sizeof(r));
        disk_close(d);
}
END_TEST

START_TEST(test_discard_reads_zero)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 1 << 20, .no_sync = true };
        static uint8_t w[1 << 20], r[1 << 20], z[1 << 20];
        struct disk_check_result res;
        char *err = NULL;
        struct disk *d;

        create_or_fail(tpath("b"), &o);
        d = open_or_fail(tpath("b"), DISK_FORMAT_QCOW2, 0);
        fill(w, sizeof(w), 3);
        ck_assert_int_eq(disk_write(d, w, sizeof(w), 0), 0);
        disk_close(d);
        o.backing_file = "b";
        o.backing_format = DISK_FORMAT_QCOW2;
        create_or_fail(tpath("o"), &o);
        d = open_or_fail(tpath("o"), DISK_FORMAT_QCOW2, 0);
        ck_assert_int_eq(disk_write(d, w, 65536, 65536), 0);
        /* [60000, 200000): clusters 1 and 2 wholly inside → zero; 0 and 3 partial → kept */
        ck_assert_int_eq(disk_discard(d, 60000, 140000), 0);
        ck_assert_int_eq(disk_read(d, r, sizeof(r), 0), 0);
        ck_assert_mem_eq(r, w, 65536);
        ck_assert_mem_eq(r + 65536, z, 2 * 65536);
        ck_assert_mem_eq(r + 3 * 65536, w + 3 * 65536, sizeof(r) - 3 * 65536);
        ck_assert_int_eq(disk_flush(d), 0);
        ck_assert_int_eq(disk_check(d, &res, NULL, &err), 0);
        ck_assert_uint_eq(res.corruptions, 0);
        disk_close(d);
        /* after close the freed cluster is accounted for: no leak */
        d = open_or_fail(tpath("o"), DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
        ck_assert_int_eq(disk_check(d, &res, NULL, &err), 0);
        ck_assert_uint_eq(res.corruptions, 0);
        ck_assert_uint_eq(res.leaks, 0);
        ck_assert_int_eq(disk_read(d, r, sizeof(r), 0), 0);
        ck_assert_mem_eq(r + 65536, z, 2 * 65536);
        disk_close(d);
}
END_TEST

struct worker {
        struct disk *d;
        int id;
};

static void *worker_run(void *arg)
{
        struct worker *w = arg;
        uint8_t buf[3000], back[3000];
        uint64_t s = (uint64_t)w->id;
        for (int i = 0; i < 300; i++) {
                /* each thread owns interleaved 64 KiB stripes */
                uint64_t stripe = (rng_next(&s) % 16) * 4 + (uint64_t)w->id;
                uint64_t off = stripe * 65536 + rng_next(&s) % 60000;
                memset(buf, w->id * 16 + (i & 15), sizeof(buf));
                if (disk_write(w->d, buf, sizeof(buf), off) != 0 ||
                    disk_read(w->d, back, sizeof(back), off) != 0 ||
                    memcmp(buf, back, sizeof(buf)) != 0)
                        return (void *)1;
        }
        return NULL;
}

START_TEST(test_threads)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 8 << 20, .no_sync = true };
        struct disk_check_result res;
        struct worker w[4];
        pthread_t t[4];
        char *err = NULL;
        struct disk *d;
        void *rv;

        create_or_fail(tpath("t"), &o);
        d = open_or_fail(tpath("t"), DISK_FORMAT_QCOW2, 0);
        for (int i = 0; i < 4; i++) {
                w[i] = (struct worker){ .d = d, .id = i };
                pthread_create(&t[i], NULL, worker_run, &w[i]);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], &rv);
                ck_assert_ptr_null(rv);
        }
        ck_assert_int_eq(disk_check(d, &res, NULL, &err), 0);
        ck_assert_uint_eq(res.corruptions + res.leaks, 0);
        disk_close(d);
}
END_TEST

START_TEST(test_create_errors)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 1000, .no_sync = true };
        char *err = NULL;
        char want[600];

        ck_assert_int_eq(disk_create(tpath("x"), &o, &err), -EINVAL);
        snprintf(want, sizeof(want), "%s: size 1000 is not a multiple of 512 bytes", tpath("x"));
        ck_assert_str_eq(err, want);
        o.size = 1 << 20;
        o.cluster_size = 3000;
        ck_assert_int_eq(disk_create(tpath("x"), &o, &err), -EINVAL);
        o.cluster_size = 0;
        o.backing_file = "missing.qcow2";
        o.backing_format = DISK_FORMAT_QCOW2;
        ck_assert_int_eq(disk_create(tpath("x"), &o, &err), -ENOENT);
        snprintf(want, sizeof(want),
                 "%s: cannot open backing file: %s: cannot open: No such file or directory",
                 tpath("x"), tpath("missing.qcow2"));
        ck_assert_str_eq(err, want);
        free(err);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("storage-disk");
        TCase *tc = tcase_create("disk");
        tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
        tcase_add_test(tc, test_parse_size);
        tcase_add_test(tc, test_rename);
        tcase_add_test(tc, test_qcow2_roundtrip);
        tcase_add_test(tc, test_raw_roundtrip);
        tcase_add_test(tc, test_overlay_cow);
        tcase_add_test(tc, test_discard_reads_zero);
        tcase_add_test(tc, test_threads);
        tcase_add_test(tc, test_create_errors);
        suite_add_tcase(s, tc);
        return s;
}
