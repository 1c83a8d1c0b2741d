/* bench/clone: linked-clone creation. 1000 qcow2 overlays over one 10 GiB
 * base, made three ways in the same run:
 *   - ours, in-process: disk_create() in a loop (what vdi-hostd does);
 *   - ours, one `vdi-img create` process per clone (bench/clone-vdi-img,
 *     the same code as hostd/vdi-img built without sanitizers);
 *   - theirs: one `qemu-img create -f qcow2 -b BASE -F qcow2` per clone.
 * All three fdatasync each new image (qemu-img does: 5 syncs per create).
 * The RESULT line is the fair process-vs-process comparison (median time
 * per clone); the in-process figure is printed above it.
 * Env: BENCH_CLONES (default 1000), BENCH_DIR (default /tmp). */
#include "config.h"

#include <errno.h>
#include <ftw.h>

#include "clone-common.h"
#include "disk.h"

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st; (void)flag; (void)ftw;
        return remove(p);
}

int main(void)
{
        const char *env = getenv("BENCH_CLONES");
        int n = env ? atoi(env) : 1000;
        char dir[512], base[600], path[700], helper[600], self[512];
        double *lat = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
        double t0, total_lib, total_ours, total_qemu, med_lib, med_ours, med_qemu;
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = 10ULL << 30 };
        char *err = NULL;

        if (n <= 0 || !lat)
                return 1;
        snprintf(dir, sizeof(dir), "%s/bench-clone-XXXXXX", getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp");
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        self_dir(self, sizeof(self));
        snprintf(helper, sizeof(helper), "%s/clone-vdi-img", self);
        snprintf(base, sizeof(base), "%s/base.qcow2", dir);
        if (disk_create(base, &o, &err) < 0) {
                fprintf(stderr, "clone: %s\n", err);
                return 1;
        }
        printf("bench/clone: %d linked clones of a 10 GiB qcow2 base in %s\n", n, dir);

        /* ours, in-process */
        o.size = 0;
        o.backing_file = base;
        o.backing_format = DISK_FORMAT_QCOW2;
        t0 = now_s();
        for (int i = 0; i < n; i++) {
                double s = now_s();
                snprintf(path, sizeof(path), "%s/lib-%d.qcow2", dir, i);
                if (disk_create(path, &o, &err) < 0) {
                        fprintf(stderr, "clone: %s\n", err);
                        return 1;
                }
                lat[i] = now_s() - s;
        }
        total_lib = now_s() - t0;
        med_lib = median(lat, (size_t)n);

        /* ours, one process per clone */
        t0 = now_s();
        for (int i = 0; i < n; i++) {
                double s = now_s();
                snprintf(path, sizeof(path), "%s/vdi-%d.qcow2", dir, i);
                char *argv[] = { helper, "create", "-f", "qcow2", "-b", base, "-F", "qcow2", path, NULL };
                if (run_argv(argv, NULL, 0) < 0) {
                        fprintf(stderr, "clone: %s create failed (is bench/clone-vdi-img built?)\n", helper);
                        return 1;
                }
                lat[i] = now_s() - s;
        }
        total_ours = now_s() - t0;
        med_ours = median(lat, (size_t)n);

        /* qemu-img, one process per clone */
        t0 = now_s();
        for (int i = 0; i < n; i++) {
                double s = now_s();
                snprintf(path, sizeof(path), "%s/qemu-%d.qcow2", dir, i);
                char *argv[] = { QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", path, NULL };
                if (run_argv(argv, NULL, 0) < 0) {
                        fprintf(stderr, "clone: %s create failed\n", QEMU_IMG);
                        return 1;
                }
                lat[i] = now_s() - s;
        }
        total_qemu = now_s() - t0;
        med_qemu = median(lat, (size_t)n);

        printf("ours in-process (disk_create): total %.3f s, median %.3f ms/clone\n", total_lib, med_lib * 1e3);
        printf("ours vdi-img create process:   total %.3f s, median %.3f ms/clone\n", total_ours, med_ours * 1e3);
        printf("qemu-img create process:       total %.3f s, median %.3f ms/clone\n", total_qemu, med_qemu * 1e3);
        printf("in-process vs qemu-img: ratio %.4f\n", med_lib / med_qemu);
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        printf("RESULT clone ours=%.3fms theirs=%.3fms ratio=%.4f better=lower\n", med_ours * 1e3,
               med_qemu * 1e3, med_ours / med_qemu);
        free(lat);
        return 0;
}
