/* Interoperability with the real qemu-img/qemu-io: images we write pass
 * `qemu-img check` and compare identical to a model; images QEMU writes
 * read back byte-identical through our code. */
#include "config.h"

#include "check-main.h"
#include "storage-test.h"

#define SKIP_WITHOUT_QEMU()                                                           \
        do {                                                                          \
                if (!have_qemu()) {                                                   \
                        fprintf(stderr, "# qemu-img/qemu-io not found; skipped\n"); \
                        return;                                                       \
                }                                                                     \
        } while (0)

static void assert_qemu_clean(const char *path)
{
        char out[8192];
        int st = qemu_check(path, out, sizeof(out));
        ck_assert_msg(st == 0, "qemu-img check %s exited %d:\n%s", path, st, out);
}

static void write_file(const char *path, const void *buf, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pwrite_full(fd, buf, len, 0), 0);
        close(fd);
}

/* Our reads of img (format f) equal QEMU's own raw conversion of it. */
static void assert_reads_like_qemu(const char *img, enum disk_format f)
{
        char out[4096];
        const char *raw = tpath("qemu-view.raw");
        struct disk *d;
        uint8_t *a, *b;
        uint64_t size;
        int fd, st;

        st = sh_out(out, sizeof(out), "%s convert -O raw '%s' '%s' 2>&1", QEMU_IMG, img, raw);
        ck_assert_msg(st == 0, "qemu-img convert: %s", out);
        d = open_or_fail(img, f, DISK_OPEN_READONLY);
        size = disk_get_length(d);
        a = malloc(size);
        b = calloc(1, size);
        fd = open(raw, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread_full(fd, b, size, 0, NULL), 0);
        close(fd);
        /* odd-sized chunks so requests straddle clusters */
        for (uint64_t off = 0; off < size; off += 77777) {
                size_t n = size - off < 77777 ? (size_t)(size - off) : 77777;
                ck_assert_int_eq(disk_read(d, a + off, n, off), 0);
        }
        for (uint64_t i = 0; i < size; i++)
                if (a[i] != b[i])
                        ck_abort_msg("%s: byte %llu differs: ours %#x, qemu %#x", img,
                                     (unsigned long long)i, a[i], b[i]);
        free(a);
        free(b);
        disk_close(d);
}

static const char *qemu_writes =
        "-c 'write -P 0xab 0 64k' -c 'write -P 0x11 100k 3k' -c 'write -P 0x22 1020k 9k' "
        "-c 'write -z 2M 128k' -c 'write -P 0x33 5M 1M' -c 'write -P 0x44 15M 1M'";

START_TEST(test_qemu_v3_reads)
{
        const char *img = tpath("q3.qcow2");
        SKIP_WITHOUT_QEMU();
        ck_assert_int_eq(sh("%s create -q -f qcow2 '%s' 16M", QEMU_IMG, img), 0);
        ck_assert_int_eq(sh("%s -f qcow2 %s '%s'", qemu_io(), qemu_writes, img), 0);
        assert_reads_like_qemu(img, DISK_FORMAT_QCOW2);
}
END_TEST

START_TEST(test_qemu_v2_reads)
{
        const char *img = tpath("q2.qcow2");
        char *err = NULL;
        struct disk *d = NULL;
        SKIP_WITHOUT_QEMU();
        ck_assert_int_eq(sh("%s create -q -f qcow2 -o compat=0.10,cluster_size=4096 '%s' 16M",
                            QEMU_IMG, img), 0);
        ck_assert_int_eq(sh("%s -f qcow2 %s '%s'", qemu_io(), qemu_writes, img), 0);
        assert_reads_like_qemu(img, DISK_FORMAT_QCOW2);
        /* v2 is read-only here, with a clear reason */
        ck_assert_int_eq(disk_open(img, DISK_FORMAT_QCOW2, 0, &d, &err), -EROFS);
        ck_assert_ptr_nonnull(strstr(err, "qcow2 version 2 images are read-only here"));
        free(err);
}
END_TEST

START_TEST(test_qemu_chain_reads)
{
        SKIP_WITHOUT_QEMU();
        ck_assert_int_eq(sh("%s create -q -f raw '%s' 8M", QEMU_IMG, tpath("base.raw")), 0);
        ck_assert_int_eq(sh("%s -f raw -c 'write -P 0x5a 0 8M' '%s'", qemu_io(), tpath("base.raw")), 0);
        ck_assert_int_eq(sh("%s create -q -f qcow2 -b base.raw -F raw '%s' 16M", QEMU_IMG,
                            tpath("mid.qcow2")), 0);
        ck_assert_int_eq(sh("%s -f qcow2 -c 'write -P 0x61 1M 100k' -c 'write -z 3M 64k' '%s'",
                            qemu_io(), tpath("mid.qcow2")), 0);
        ck_assert_int_eq(sh("%s create -q -f qcow2 -o cluster_size=16k -b mid.qcow2 -F qcow2 '%s'",
                            QEMU_IMG, tpath("top.qcow2")), 0);
        ck_assert_int_eq(sh("%s -f qcow2 %s '%s'", qemu_io(), qemu_writes, tpath("top.qcow2")), 0);
        assert_reads_like_qemu(tpath("top.qcow2"), DISK_FORMAT_QCOW2);
}
END_TEST

START_TEST(test_qemu_compressed_reads)
{
        SKIP_WITHOUT_QEMU();
        ck_assert_int_eq(sh("%s create -q -f qcow2 '%s' 16M", QEMU_IMG, tpath("src.qcow2")), 0);
        ck_assert_int_eq(sh("%s -f qcow2 %s '%s'", qemu_io(), qemu_writes, tpath("src.qcow2")), 0);
        ck_assert_int_eq(sh("%s convert -c -O qcow2 '%s' '%s'", QEMU_IMG, tpath("src.qcow2"),
                            tpath("z.qcow2")), 0);
        assert_reads_like_qemu(tpath("z.qcow2"), DISK_FORMAT_QCOW2);
}
END_TEST

/* Writing into images QEMU made (v3, compressed clusters overwritten). */
START_TEST(test_write_into_qemu_images)
{
        static uint8_t w[200000];
        struct disk *d;
        SKIP_WITHOUT_QEMU();
        ck_assert_int_eq(sh("%s create -q -f qcow2 '%s' 16M", QEMU_IMG, tpath("src.qcow2")), 0);
        ck_assert_int_eq(sh("%s -f qcow2 %s '%s'", qemu_io(), qemu_writes, tpath("src.qcow2")), 0);
        ck_assert_int_eq(sh("%s convert -c -O qcow2 '%s' '%s'", QEMU_IMG, tpath("src.qcow2"),
                            tpath("z.qcow2")), 0);
        memset(w, 0xee, sizeof(w));
        for (int i = 0; i < 2; i++) {
                const char *img = tpath(i ? "z.qcow2" : "src.qcow2");
                d = open_or_fail(img, DISK_FORMAT_QCOW2, 0);
                ck_assert_int_eq(disk_write(d, w, sizeof(w), 5 * 1048576 - 1000), 0);
                ck_assert_int_eq(disk_write(d, w, 10, 2 * 1048576 + 5), 0); /* over zero cluster */
                ck_assert_int_eq(disk_write(d, w, 10, 100 * 1024 + 7), 0);
                disk_close(d);
                assert_qemu_clean(img);
                assert_reads_like_qemu(img, DISK_FORMAT_QCOW2);
        }
        /* both had the same writes: qemu agrees they are identical */
        ck_assert_int_eq(sh("%s compare -q '%s' '%s'", QEMU_IMG, tpath("src.qcow2"), tpath("z.qcow2")), 0);
}
END_TEST

/* Random writes on an overlay over a base, checked against a model, then
 * qemu-img check and qemu-img compare against the model as raw. */
static void random_workload(uint32_t cluster_size, uint64_t size, int ops)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = size,
                                      .cluster_size = cluster_size, .no_sync = true };
        const char *seed_env = getenv("STORAGE_SEED");
        uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed0006ULL, s;
        uint8_t *model = malloc(size), *buf = malloc(300000), *back = malloc(300000);
        struct disk_check_result res;
        char *err = NULL, out[8192];
        struct disk *d;
        int st;

        fprintf(stderr, "# random workload: cluster %u size %llu ops %d seed %#llx (STORAGE_SEED=)\n",
                cluster_size, (unsigned long long)size, ops, (unsigned long long)seed);
        s = seed;
        create_or_fail(tpath("base.qcow2"), &o);
        d = open_or_fail(tpath("base.qcow2"), DISK_FORMAT_QCOW2, 0);
        for (uint64_t i = 0; i < size; i++)
                model[i] = (uint8_t)(i * 131 + (i >> 12));
        /* base: every other 1 MiB region has data, the rest reads as zeros */
        for (uint64_t off = 0; off < size; off += 2 << 20)
                ck_assert_int_eq(disk_write(d, model + off, 1 << 20, off), 0);
        for (uint64_t off = 1 << 20; off < size; off += 2 << 20)
                memset(model + off, 0, 1 << 20);
        disk_close(d);

        o.backing_file = "base.qcow2";
        o.backing_format = DISK_FORMAT_QCOW2;
        create_or_fail(tpath("ov.qcow2"), &o);
        d = open_or_fail(tpath("ov.qcow2"), DISK_FORMAT_QCOW2, 0);
        for (int i = 0; i < ops; i++) {
                uint64_t r = rng_next(&s), off, len;
                switch (r % 8) {
                case 0: len = 1 + rng_next(&s) % 512; break;            /* tiny */
                case 1: len = cluster_size; break;                      /* one cluster */
                case 2: len = 1 + rng_next(&s) % (3 * cluster_size);    /* straddling */
                        break;
                default: len = 1 + rng_next(&s) % 65536; break;
                }
                if (len > 300000)
                        len = 300000;
                off = rng_next(&s) % (size - len + 1);
                if (r % 5 == 0)
                        off &= ~(uint64_t)(cluster_size - 1); /* aligned starts too */
                if (off + len > size)
                        off = size - len;
                for (uint64_t k = 0; k < len; k++)
                        buf[k] = (uint8_t)rng_next(&s);
                ck_assert_int_eq(disk_write(d, buf, len, off), 0);
                memcpy(model + off, buf, len);
                if (r % 97 == 0)
                        ck_assert_int_eq(disk_flush(d), 0);
                if (r % 13 == 0) {
                        uint64_t roff = rng_next(&s) % (size - 300000);
                        ck_assert_int_eq(disk_read(d, back, 300000, roff), 0);
                        ck_assert_msg(memcmp(back, model + roff, 300000) == 0,
                                      "op %d: read at %llu differs from the model", i,
                                      (unsigned long long)roff);
                }
                if (r % 211 == 0) {
                        uint64_t doff = rng_next(&s) % (size - 4 * cluster_size), dlen = 3 * cluster_size;
                        uint64_t first = (doff + cluster_size - 1) / cluster_size * cluster_size;
                        uint64_t end = (doff + dlen) / cluster_size * cluster_size;
                        ck_assert_int_eq(disk_discard(d, doff, dlen), 0);
                        if (end > first)
                                memset(model + first, 0, end - first);
                }
        }
        ck_assert_int_eq(disk_check(d, &res, NULL, &err), 0);
        ck_assert_uint_eq(res.corruptions, 0);
        disk_close(d);

        d = open_or_fail(tpath("ov.qcow2"), DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
        for (uint64_t off = 0; off < size; off += 300000) {
                uint64_t n = size - off < 300000 ? size - off : 300000;
                ck_assert_int_eq(disk_read(d, back, n, off), 0);
                ck_assert_msg(memcmp(back, model + off, n) == 0, "reopened image differs near %llu",
                              (unsigned long long)off);
        }
        ck_assert_int_eq(disk_check(d, &res, NULL, &err), 0);
        ck_assert_uint_eq(res.corruptions, 0);
        ck_assert_uint_eq(res.leaks, 0);
        disk_close(d);

        assert_qemu_clean(tpath("ov.qcow2"));
        write_file(tpath("model.raw"), model, size);
        st = sh_out(out, sizeof(out), "%s compare -f qcow2 -F raw '%s' '%s' 2>&1", QEMU_IMG,
                    tpath("ov.qcow2"), tpath("model.raw"));
        ck_assert_msg(st == 0, "qemu-img compare: %s", out);
        free(model);
        free(buf);
        free(back);
}

START_TEST(test_random_workload_64k)
{
        SKIP_WITHOUT_QEMU();
        random_workload(65536, 64 << 20, 3000);
}
END_TEST

/* 512-byte clusters: many L2 tables, refcount blocks and a refcount table
 * that must grow (one 512-byte table cluster covers 8 MiB). */
START_TEST(test_random_workload_512)
{
        SKIP_WITHOUT_QEMU();
        random_workload(512, 24 << 20, 1500);
}
END_TEST

START_TEST(test_our_images_pass_qemu_check)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 10ULL << 30 };
        char out[4096];
        SKIP_WITHOUT_QEMU();
        create_or_fail(tpath("big.qcow2"), &o);
        assert_qemu_clean(tpath("big.qcow2"));
        o.cluster_size = 512;
        o.size = 1ULL << 30;
        create_or_fail(tpath("small.qcow2"), &o);
        assert_qemu_clean(tpath("small.qcow2"));
        o.cluster_size = 2 << 20;
        o.size = 0;
        o.backing_file = "big.qcow2";
        o.backing_format = DISK_FORMAT_QCOW2;
        create_or_fail(tpath("ov.qcow2"), &o);
        assert_qemu_clean(tpath("ov.qcow2"));
        /* qemu sees the backing file and its format */
        ck_assert_int_eq(sh_out(out, sizeof(out), "%s info '%s'", QEMU_IMG, tpath("ov.qcow2")), 0);
        ck_assert_ptr_nonnull(strstr(out, "backing file: big.qcow2"));
        ck_assert_ptr_nonnull(strstr(out, "backing file format: qcow2"));
        ck_assert_ptr_nonnull(strstr(out, "virtual size: 10 GiB"));
        ck_assert_ptr_nonnull(strstr(out, "cluster_size: 2097152"));
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("storage-interop");
        TCase *tc = tcase_create("interop");
        tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_our_images_pass_qemu_check);
        tcase_add_test(tc, test_qemu_v3_reads);
        tcase_add_test(tc, test_qemu_v2_reads);
        tcase_add_test(tc, test_qemu_chain_reads);
        tcase_add_test(tc, test_qemu_compressed_reads);
        tcase_add_test(tc, test_write_into_qemu_images);
        tcase_add_test(tc, test_random_workload_64k);
        tcase_add_test(tc, test_random_workload_512);
        suite_add_tcase(s, tc);
        return s;
}
