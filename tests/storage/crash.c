/* Crash test: a writer child does random writes with a flush every EPOCH
 * writes and reports each completed flush through a pipe; it is SIGKILLed
 * at a random moment, many times over the same overlay. After each kill the
 * image must pass `qemu-img check` (leaks allowed, no corruption) and every
 * write acknowledged by a completed flush must read back. Bytes written in
 * the epoch after the last reported flush may hold either the old or the
 * new value (never anything else).
 *
 * SIGKILL tests what reached the file at any instruction boundary; the page
 * cache survives, so this checks the order of our pwrites, not of the
 * fdatasyncs (qcow2.h documents why the fsync order is safe). */
#include "config.h"

#include <signal.h>
#include <time.h>

#include "check-main.h"
#include "storage-test.h"

#define EPOCH 8

struct wr {
        uint64_t off, len, id;
};

static uint8_t pattern(uint64_t id, uint64_t b)
{
        return (uint8_t)(id * 31 + b * 7 + (b >> 8) + 1);
}

/* Write j of epoch e (1-based) of writer run `seed`: deterministic. */
static struct wr gen(uint64_t seed, uint64_t e, uint64_t j, uint64_t size, uint64_t cs)
{
        uint64_t s = seed * 1000003 + e * EPOCH + j, r = rng_next(&s);
        struct wr w;
        w.len = 1 + rng_next(&s) % (r % 3 == 0 ? 3 * cs : cs / 2 + 1);
        w.off = rng_next(&s) % (size - w.len + 1);
        w.id = seed * 100000 + e * EPOCH + j;
        return w;
}

static void writer(const char *path, uint64_t seed, uint64_t size, uint64_t cs, int fd)
{
        struct disk *d = NULL;
        uint8_t *buf = malloc(3 * cs);
        char *err = NULL;

        if (disk_open(path, DISK_FORMAT_QCOW2, 0, &d, &err) < 0) {
                fprintf(stderr, "writer: %s\n", err);
                _exit(1);
        }
        for (uint64_t e = 1;; e++) {
                for (uint64_t j = 0; j < EPOCH; j++) {
                        struct wr w = gen(seed, e, j, size, cs);
                        for (uint64_t k = 0; k < w.len; k++)
                                buf[k] = pattern(w.id, w.off + k);
                        if (disk_write(d, buf, w.len, w.off) < 0)
                                _exit(2);
                }
                if (disk_flush(d) < 0)
                        _exit(3);
                if (write(fd, &e, sizeof(e)) != sizeof(e))
                        _exit(4);
        }
}

static void run_crashes(uint32_t cs, uint64_t size, int iterations, uint64_t seed0)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = size, .cluster_size = cs,
                                      .no_sync = true };
        const char *ov = tpath("ov.qcow2");
        uint8_t *model = malloc(size), *img = malloc(size), *base = malloc(size);
        uint64_t rs = seed0, leaks_seen = 0, flushes_seen = 0;
        struct disk *d;

        fprintf(stderr, "# crash test: cluster %u size %llu iterations %d seed %#llx\n", cs,
                (unsigned long long)size, iterations, (unsigned long long)seed0);
        create_or_fail(tpath("base.qcow2"), &o);
        d = open_or_fail(tpath("base.qcow2"), DISK_FORMAT_QCOW2, 0);
        for (uint64_t i = 0; i < size; i++)
                base[i] = (uint8_t)(i % 253);
        ck_assert_int_eq(disk_write(d, base, size / 2, 0), 0);
        disk_close(d);
        memset(base + size / 2, 0, size - size / 2);
        memcpy(model, base, size);
        o.backing_file = "base.qcow2";
        o.backing_format = DISK_FORMAT_QCOW2;
        create_or_fail(ov, &o);

        for (int it = 1; it <= iterations; it++) {
                uint64_t seed = seed0 + (uint64_t)it, last = 0, e;
                struct timespec ts;
                char out[16384];
                int p[2], st, status;
                pid_t pid;

                ck_assert_int_eq(pipe(p), 0);
                pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        close(p[0]);
                        writer(ov, seed, size, cs, p[1]);
                        _exit(0);
                }
                close(p[1]);
                ts.tv_sec = 0;
                ts.tv_nsec = (long)(5 + rng_next(&rs) % 150) * 1000000L;
                nanosleep(&ts, NULL);
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                ck_assert_msg(WIFSIGNALED(status), "writer exited early (status %d)", status);
                while (read(p[0], &e, sizeof(e)) == sizeof(e))
                        last = e;
                close(p[0]);
                flushes_seen += last;

                st = qemu_check(ov, out, sizeof(out));
                ck_assert_msg(st == 0 || st == 3, "iteration %d: qemu-img check exited %d:\n%s", it,
                              st, out);
                leaks_seen += st == 3;

                /* model after the last acknowledged flush */
                for (e = 1; e <= last; e++)
                        for (uint64_t j = 0; j < EPOCH; j++) {
                                struct wr w = gen(seed, e, j, size, cs);
                                for (uint64_t k = 0; k < w.len; k++)
                                        model[w.off + k] = pattern(w.id, w.off + k);
                        }
                d = open_or_fail(ov, DISK_FORMAT_QCOW2, DISK_OPEN_READONLY);
                ck_assert_int_eq(disk_read(d, img, size, 0), 0);
                disk_close(d);
                for (uint64_t b = 0; b < size; b++) {
                        bool ok;
                        /* fast path: whole 4 KiB blocks that match */
                        if (b % 4096 == 0 && size - b >= 4096 && memcmp(img + b, model + b, 4096) == 0) {
                                b += 4095;
                                continue;
                        }
                        ok = img[b] == model[b];
                        for (uint64_t j = 0; !ok && j < EPOCH; j++) {
                                struct wr w = gen(seed, last + 1, j, size, cs);
                                ok = b >= w.off && b < w.off + w.len && img[b] == pattern(w.id, b);
                        }
                        if (!ok)
                                ck_abort_msg("iteration %d (flushes %llu): byte %llu is %#x, expected %#x",
                                      it, (unsigned long long)last, (unsigned long long)b, img[b],
                                      model[b]);
                }
                memcpy(model, img, size); /* unflushed writes that landed are now the base line */
        }
        fprintf(stderr, "# %llu acknowledged flushes verified, %llu kills left leaks\n",
                (unsigned long long)flushes_seen, (unsigned long long)leaks_seen);
        ck_assert_uint_gt(flushes_seen, 0);
        free(model);
        free(img);
        free(base);
}

START_TEST(test_crash_64k)
{
        if (!have_qemu())
                return;
        run_crashes(65536, 16 << 20, 20, 0xc0ffee);
}
END_TEST

/* Small clusters: many new L2 tables, refcount blocks and refcount table
 * relocations per flush. */
START_TEST(test_crash_512)
{
        if (!have_qemu())
                return;
        run_crashes(512, 8 << 20, 15, 0xbadcafe);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("storage-crash");
        TCase *tc = tcase_create("crash");
        tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_crash_64k);
        tcase_add_test(tc, test_crash_512);
        suite_add_tcase(s, tc);
        return s;
}
