/* bench/qcow2-io: qcow2 I/O through our library vs `qemu-img bench` with
 * the same parameters: 256 MiB image, 64 KiB clusters, page cache
 * (qemu-img bench -t writeback), one request in flight (-d 1), same request
 * size, step and count. qemu-img bench has no random mode, so "stride"
 * runs use a step of 68 KiB: every request lands in a different cluster at
 * a different in-cluster offset (for writes on a fresh image, every request
 * allocates a cluster). Both sides time only the requests (qemu's "Run
 * completed in"), not open/close. Each case runs BENCH_RUNS times (default
 * 3), alternating ours and theirs; medians are compared.
 * RESULT: geometric mean of the per-case throughputs (MB/s).
 * Env: BENCH_DIR (default /tmp), BENCH_RUNS. */
#include "config.h"

#include <math.h>

#include "clone-common.h"
#include "disk.h"

#define IMG_SIZE (256ULL << 20)

struct bcase {
        const char *name;
        bool write;
        size_t size;
        uint64_t step;
        unsigned count;
};

static const struct bcase cases[] = {
        { "write-4k-seq", true, 4096, 4096, 16384 },
        { "write-4k-stride", true, 4096, 69632, 3000 },
        { "write-1m-seq", true, 1 << 20, 1 << 20, 255 },
        { "read-4k-seq", false, 4096, 4096, 16384 },
        { "read-4k-stride", false, 4096, 69632, 3000 },
        { "read-1m-seq", false, 1 << 20, 1 << 20, 255 },
};

static char dir[512];

static int make_image(const char *path)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = IMG_SIZE };
        char *err = NULL;
        if (disk_create(path, &o, &err) < 0) {
                fprintf(stderr, "qcow2-io: %s\n", err);
                return -1;
        }
        return 0;
}

/* Seconds for the requests of one case, through our library. */
static double run_ours(const struct bcase *c, const char *path)
{
        struct disk *d = NULL;
        char *err = NULL;
        uint8_t *buf = aligned_alloc(4096, c->size);
        uint64_t off = 0;
        double t0, t;

        memset(buf, 0xa5, c->size);
        if (disk_open(path, DISK_FORMAT_QCOW2, c->write ? 0 : DISK_OPEN_READONLY, &d, &err) < 0) {
                fprintf(stderr, "qcow2-io: %s\n", err);
                exit(1);
        }
        t0 = now_s();
        for (unsigned i = 0; i < c->count; i++) {
                int r = c->write ? disk_write(d, buf, c->size, off) : disk_read(d, buf, c->size, off);
                if (r < 0) {
                        fprintf(stderr, "qcow2-io: %s at %llu: %s\n", c->name, (unsigned long long)off,
                                strerror(-r));
                        exit(1);
                }
                off += c->step;
        }
        t = now_s() - t0;
        disk_close(d);
        free(buf);
        return t;
}

static double run_theirs(const struct bcase *c, const char *path)
{
        char count[32], size[32], step[32], out[4096];
        char *argv[20];
        const char *p;
        int n = 0;

        snprintf(count, sizeof(count), "%u", c->count);
        snprintf(size, sizeof(size), "%zu", c->size);
        snprintf(step, sizeof(step), "%llu", (unsigned long long)c->step);
        argv[n++] = QEMU_IMG;
        argv[n++] = "bench";
        argv[n++] = "-f";
        argv[n++] = "qcow2";
        argv[n++] = "-t";
        argv[n++] = "writeback";
        argv[n++] = "-d";
        argv[n++] = "1";
        argv[n++] = "-c";
        argv[n++] = count;
        argv[n++] = "-s";
        argv[n++] = size;
        argv[n++] = "-S";
        argv[n++] = step;
        if (c->write)
                argv[n++] = "-w";
        argv[n++] = (char *)path;
        argv[n] = NULL;
        if (run_argv(argv, out, sizeof(out)) < 0 || !(p = strstr(out, "Run completed in "))) {
                fprintf(stderr, "qcow2-io: qemu-img bench failed: %s\n", out);
                exit(1);
        }
        return atof(p + strlen("Run completed in "));
}

int main(void)
{
        const char *re = getenv("BENCH_RUNS");
        int runs = re && atoi(re) > 0 ? atoi(re) : 3;
        char img[600], full[600];
        double geo_ours = 0, geo_theirs = 0;
        struct disk *d = NULL;
        char *err = NULL;
        uint8_t *buf;

        snprintf(dir, sizeof(dir), "%s/bench-qcow2-io-XXXXXX", getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp");
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        snprintf(img, sizeof(img), "%s/w.qcow2", dir);
        snprintf(full, sizeof(full), "%s/full.qcow2", dir);
        /* Reads go to one fully allocated image, written once. */
        if (make_image(full) < 0 || disk_open(full, DISK_FORMAT_QCOW2, 0, &d, &err) < 0)
                return 1;
        buf = malloc(1 << 20);
        for (uint64_t off = 0; off < IMG_SIZE; off += 1 << 20) {
                memset(buf, (int)(off >> 20), 1 << 20);
                if (disk_write(d, buf, 1 << 20, off) < 0)
                        return 1;
        }
        disk_close(d);
        free(buf);

        printf("bench/qcow2-io: 256 MiB qcow2, 64 KiB clusters, page cache (-t writeback), depth 1, %d runs, medians\n",
               runs);
        printf("%-16s %12s %12s %8s\n", "case", "ours MB/s", "qemu MB/s", "ratio");
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                const struct bcase *c = &cases[k];
                double to[16], tt[16], mo, mt, bytes = (double)c->size * c->count;
                for (int r = 0; r < runs && r < 16; r++) {
                        const char *path = c->write ? img : full;
                        if (c->write && make_image(img) < 0)
                                return 1;
                        to[r] = run_ours(c, path);
                        if (c->write && make_image(img) < 0)
                                return 1;
                        tt[r] = run_theirs(c, path);
                }
                mo = bytes / median(to, (size_t)runs) / 1e6;
                mt = bytes / median(tt, (size_t)runs) / 1e6;
                printf("%-16s %12.1f %12.1f %8.2f   (%u x %zu B, step %llu; %.0f vs %.0f IOPS)\n", c->name, mo, mt,
                       mo / mt, c->count, c->size, (unsigned long long)c->step, mo * 1e6 / (double)c->size,
                       mt * 1e6 / (double)c->size);
                geo_ours += log(mo);
                geo_theirs += log(mt);
        }
        geo_ours = exp(geo_ours / (double)(sizeof(cases) / sizeof(cases[0])));
        geo_theirs = exp(geo_theirs / (double)(sizeof(cases) / sizeof(cases[0])));
        unlink(img);
        unlink(full);
        rmdir(dir);
        printf("geometric mean over the cases: ours %.1f MB/s, qemu-img bench %.1f MB/s\n", geo_ours, geo_theirs);
        printf("RESULT qcow2-io ours=%.1fMB/s theirs=%.1fMB/s ratio=%.3f better=higher\n", geo_ours, geo_theirs,
               geo_ours / geo_theirs);
        return 0;
}
