/* vdi-img: create, inspect, check and convert disk images (qemu-img-like).
 * The library never guesses formats; this admin tool does, when -f is not
 * given: a file starting with the qcow2 magic is qcow2, anything else raw. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk.h"
#include "macro.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: vdi-img COMMAND [OPTIONS]\n"
                "\n"
                "Commands:\n"
                "  create -f qcow2|raw [-o cluster_size=SIZE] FILE SIZE\n"
                "      Create a new image of SIZE bytes (suffixes K, M, G, T: 10G, 512M).\n"
                "  create -f qcow2 -b BACKING -F qcow2|raw FILE [SIZE]\n"
                "      Create a linked clone: a qcow2 overlay over BACKING. A relative\n"
                "      BACKING is relative to FILE's directory. SIZE defaults to BACKING's.\n"
                "  info [-f FMT] FILE\n"
                "      Show format, virtual size, disk size, cluster size, allocation and the\n"
                "      backing chain.\n"
                "  check [-f FMT] FILE\n"
                "      Recompute refcounts and report leaks and corruptions.\n"
                "      Exit status: 0 clean, 2 corruptions, 3 leaks only, 1 error.\n"
                "  convert [-f FMT] -O qcow2|raw [-o cluster_size=SIZE] SRC DST\n"
                "      Copy SRC with its whole backing chain into a standalone image.\n"
                "\n"
                "Without -f the format of an existing FILE is qcow2 if it starts with the\n"
                "qcow2 magic, else raw.\n");
}

static void human(uint64_t v, char *buf, size_t n)
{
        static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double d = (double)v;
        unsigned u = 0;
        while (d >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                d /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, n, "%" PRIu64 " B", v);
        else
                snprintf(buf, n, "%.3g %s", d, units[u]);
}

static int guess_format(const char *path, const char *given, enum disk_format *out)
{
        unsigned char m[4] = { 0 };
        int fd;

        if (given) {
                if (disk_format_from_string(given, out) < 0) {
                        fprintf(stderr, "vdi-img: unknown format '%s' (use qcow2 or raw)\n", given);
                        return -EINVAL;
                }
                return 0;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "vdi-img: %s: cannot open: %s\n", path, strerror(errno));
                return -errno;
        }
        if (read(fd, m, 4) == 4 && m[0] == 'Q' && m[1] == 'F' && m[2] == 'I' && m[3] == 0xfb)
                *out = DISK_FORMAT_QCOW2;
        else
                *out = DISK_FORMAT_RAW;
        close(fd);
        return 0;
}

static int open_image(const char *path, const char *fmt, unsigned flags, struct disk **d)
{
        _cleanup_free_ char *err = NULL;
        enum disk_format f;
        int r = guess_format(path, fmt, &f);
        if (r < 0)
                return r;
        r = disk_open(path, f, flags, d, &err);
        if (r < 0)
                fprintf(stderr, "vdi-img: %s\n", err ? err : strerror(-r));
        return r;
}

static int parse_size_arg(const char *s, uint64_t *out)
{
        if (disk_parse_size(s, out) < 0) {
                fprintf(stderr, "vdi-img: invalid size '%s' (examples: 10G, 512M, 1048576)\n", s);
                return -EINVAL;
        }
        return 0;
}

static int parse_o(const char *arg, uint32_t *cluster_size)
{
        uint64_t cs;
        if (strncmp(arg, "cluster_size=", 13) != 0 || disk_parse_size(arg + 13, &cs) < 0 ||
            cs > UINT32_MAX) {
                fprintf(stderr, "vdi-img: unsupported option '%s' (only cluster_size=SIZE)\n", arg);
                return -EINVAL;
        }
        *cluster_size = (uint32_t)cs;
        return 0;
}

static int cmd_create(int argc, char **argv)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2 };
        const char *fmt = NULL, *bfmt = NULL;
        _cleanup_free_ char *err = NULL;
        int c, r;

        while ((c = getopt(argc, argv, "f:b:F:o:uh")) != -1) {
                switch (c) {
                case 'f': fmt = optarg; break;
                case 'b': o.backing_file = optarg; break;
                case 'F': bfmt = optarg; break;
                case 'o':
                        if (parse_o(optarg, &o.cluster_size) < 0)
                                return 1;
                        break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 1;
                }
        }
        if (!fmt) {
                fprintf(stderr, "vdi-img: create needs -f qcow2|raw\n");
                return 1;
        }
        if (disk_format_from_string(fmt, &o.format) < 0) {
                fprintf(stderr, "vdi-img: unknown format '%s' (use qcow2 or raw)\n", fmt);
                return 1;
        }
        if (o.backing_file) {
                if (!bfmt) {
                        fprintf(stderr, "vdi-img: -b needs the backing format too: -F qcow2|raw\n");
                        return 1;
                }
                if (disk_format_from_string(bfmt, &o.backing_format) < 0) {
                        fprintf(stderr, "vdi-img: unknown backing format '%s' (use qcow2 or raw)\n", bfmt);
                        return 1;
                }
        }
        if (optind >= argc) {
                fprintf(stderr, "vdi-img: create needs FILE\n");
                return 1;
        }
        if (optind + 1 < argc) {
                if (parse_size_arg(argv[optind + 1], &o.size) < 0)
                        return 1;
        } else if (!o.backing_file) {
                fprintf(stderr, "vdi-img: create needs SIZE (e.g. 10G)\n");
                return 1;
        }
        if (optind + 2 < argc) {
                fprintf(stderr, "vdi-img: unexpected argument '%s'\n", argv[optind + 2]);
                return 1;
        }
        r = disk_create(argv[optind], &o, &err);
        if (r < 0) {
                fprintf(stderr, "vdi-img: %s\n", err ? err : strerror(-r));
                return 1;
        }
        return 0;
}

static int print_info(struct disk *d)
{
        struct disk_info i;
        char a[32], b[32];
        int r = disk_get_info(d, &i);
        if (r < 0) {
                char msg[256];
                disk_last_error(d, msg, sizeof(msg));
                fprintf(stderr, "vdi-img: %s\n", msg[0] ? msg : strerror(-r));
                return r;
        }
        human(i.virtual_size, a, sizeof(a));
        printf("image: %s\n", d->path);
        printf("file format: %s\n", disk_format_to_string(i.format));
        printf("virtual size: %s (%" PRIu64 " bytes)\n", a, i.virtual_size);
        human(i.disk_size, a, sizeof(a));
        printf("disk size: %s\n", a);
        if (i.format == DISK_FORMAT_QCOW2) {
                printf("cluster_size: %u\n", i.cluster_size);
                human(i.allocated, a, sizeof(a));
                human(i.virtual_size, b, sizeof(b));
                printf("allocated in this layer: %s of %s (%.2f%%)\n", a, b,
                       i.virtual_size ? 100.0 * (double)i.allocated / (double)i.virtual_size : 0.0);
                if (i.backing_file) {
                        printf("backing file: %s", i.backing_file);
                        if (strcmp(i.backing_file, i.backing_path) != 0)
                                printf(" (actual path: %s)", i.backing_path);
                        printf("\nbacking file format: %s\n", disk_format_to_string(i.backing_format));
                }
                printf("Format specific information:\n");
                printf("    compat: %s\n", i.version >= 3 ? "1.1" : "0.10");
                printf("    refcount bits: %u\n", i.refcount_bits);
                printf("    dirty: %s\n", i.dirty ? "true" : "false");
                printf("    corrupt: %s\n", i.corrupt ? "true" : "false");
        }
        return 0;
}

static int cmd_info(int argc, char **argv)
{
        _cleanup_disk_ struct disk *d = NULL;
        const char *fmt = NULL;
        struct disk *cur;
        int c, level = 0;

        while ((c = getopt(argc, argv, "f:h")) != -1) {
                switch (c) {
                case 'f': fmt = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 1;
                }
        }
        if (optind + 1 != argc) {
                fprintf(stderr, "vdi-img: info needs exactly one FILE\n");
                return 1;
        }
        if (open_image(argv[optind], fmt, DISK_OPEN_READONLY, &d) < 0)
                return 1;
        if (print_info(d) < 0)
                return 1;
        printf("backing chain:\n");
        for (cur = d; cur; level++) {
                struct disk_info i;
                char sz[32];
                if (disk_get_info(cur, &i) < 0)
                        return 1;
                human(i.virtual_size, sz, sizeof(sz));
                printf("  %d: %s (%s, %s)\n", level, cur->path, disk_format_to_string(i.format), sz);
                cur = i.backing;
        }
        return 0;
}

static int cmd_check(int argc, char **argv)
{
        _cleanup_disk_ struct disk *d = NULL;
        _cleanup_free_ char *err = NULL;
        struct disk_check_result res;
        const char *fmt = NULL;
        int c, r;

        while ((c = getopt(argc, argv, "f:h")) != -1) {
                switch (c) {
                case 'f': fmt = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 1;
                }
        }
        if (optind + 1 != argc) {
                fprintf(stderr, "vdi-img: check needs exactly one FILE\n");
                return 1;
        }
        if (open_image(argv[optind], fmt, DISK_OPEN_READONLY, &d) < 0)
                return 1;
        if (d->ops->format != DISK_FORMAT_QCOW2) {
                fprintf(stderr, "vdi-img: %s: raw images have no metadata to check\n", d->path);
                return 0;
        }
        r = disk_check(d, &res, stdout, &err);
        if (r < 0) {
                fprintf(stderr, "vdi-img: %s\n", err ? err : strerror(-r));
                return 1;
        }
        return res.corruptions ? 2 : res.leaks ? 3 : 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

struct copy {
        struct disk *src, *dst;
        uint8_t *buf;
        size_t chunk;  /* bytes read at once */
        size_t grain;  /* zero detection: pieces of this size (aligned) are not written */
};

static int read_error(struct disk *d, uint64_t off, int r)
{
        char msg[256];
        disk_last_error(d, msg, sizeof(msg));
        fprintf(stderr, "vdi-img: %s: read at %" PRIu64 " failed: %s\n", d->path, off,
                msg[0] ? msg : strerror(-r));
        return r;
}

/* Copy [off, off+len), a range that may hold data. The destination is new
 * and reads as zeros, so all-zero grains are left out (holes in a raw
 * file, unallocated clusters in qcow2) and the others go out in runs. */
static int copy_range(struct copy *c, uint64_t off, uint64_t len)
{
        while (len) {
                size_t n = len < c->chunk ? (size_t)len : c->chunk, p = 0;
                int r = disk_read(c->src, c->buf, n, off);
                if (r < 0)
                        return read_error(c->src, off, r);
                while (p < n) {
                        size_t start, m;
                        /* grains aligned to the destination's, not to off */
                        m = c->grain - (size_t)((off + p) % c->grain);
                        if (m > n - p)
                                m = n - p;
                        if (all_zero(c->buf + p, m)) {
                                p += m;
                                continue;
                        }
                        start = p;
                        p += m;
                        while (p < n) {
                                m = n - p < c->grain ? n - p : c->grain;
                                if (all_zero(c->buf + p, m))
                                        break;
                                p += m;
                        }
                        r = disk_write(c->dst, c->buf + start, p - start, off + start);
                        if (r < 0) {
                                fprintf(stderr, "vdi-img: %s: write at %" PRIu64 " failed: %s\n",
                                        c->dst->path, off + start, strerror(-r));
                                return r;
                        }
                }
                off += n;
                len -= n;
        }
        return 0;
}

static int cmd_convert(int argc, char **argv)
{
        _cleanup_disk_ struct disk *src = NULL;
        _cleanup_disk_ struct disk *dst = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        struct disk_create_opts o = { 0 };
        const char *fmt = NULL, *ofmt = NULL;
        struct copy cp;
        uint64_t size, off;
        int c, r;

        while ((c = getopt(argc, argv, "f:O:o:h")) != -1) {
                switch (c) {
                case 'f': fmt = optarg; break;
                case 'O': ofmt = optarg; break;
                case 'o':
                        if (parse_o(optarg, &o.cluster_size) < 0)
                                return 1;
                        break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 1;
                }
        }
        if (!ofmt || disk_format_from_string(ofmt, &o.format) < 0) {
                fprintf(stderr, "vdi-img: convert needs -O qcow2|raw\n");
                return 1;
        }
        if (optind + 2 != argc) {
                fprintf(stderr, "vdi-img: convert needs SRC and DST\n");
                return 1;
        }
        if (open_image(argv[optind], fmt, DISK_OPEN_READONLY, &src) < 0)
                return 1;
        size = disk_get_length(src);
        o.size = o.format == DISK_FORMAT_QCOW2 ? (size + 511) & ~511ULL : size;
        r = disk_create(argv[optind + 1], &o, &err);
        if (r == 0)
                r = disk_open(argv[optind + 1], o.format, 0, &dst, &err);
        if (r < 0) {
                fprintf(stderr, "vdi-img: %s\n", err ? err : strerror(-r));
                return 1;
        }
        cp = (struct copy){ .src = src, .dst = dst, .chunk = 2u << 20 };
        /* qcow2: a cluster is the unit of allocation; raw: a file system
         * block, as qemu-img convert's default -S 4k. */
        cp.grain = o.format == DISK_FORMAT_QCOW2 ? (o.cluster_size ? o.cluster_size : 65536) : 4096;
        buf = malloc(cp.chunk);
        if (!buf) {
                fprintf(stderr, "vdi-img: out of memory\n");
                return 1;
        }
        cp.buf = buf;
        /* Walk the allocation of the whole chain, not the virtual size:
         * ranges that read as zeros in every layer are skipped unread. */
        for (off = 0; off < size;) {
                uint64_t want = size - off < (1ULL << 30) ? size - off : 1ULL << 30, n;
                bool data;
                r = disk_block_status(src, off, want, &n, &data);
                if (r < 0)
                        return read_error(src, off, r), 1;
                if (data && copy_range(&cp, off, n) < 0)
                        return 1;
                off += n;
        }
        r = disk_flush(dst);
        if (r < 0) {
                fprintf(stderr, "vdi-img: %s: flush failed: %s\n", dst->path, strerror(-r));
                return 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        const char *cmd;

        if (argc < 2) {
                usage(stderr);
                return 1;
        }
        cmd = argv[1];
        if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
                usage(stdout);
                return 0;
        }
        argc--;
        argv++;
        if (strcmp(cmd, "create") == 0)
                return cmd_create(argc, argv);
        if (strcmp(cmd, "info") == 0)
                return cmd_info(argc, argv);
        if (strcmp(cmd, "check") == 0)
                return cmd_check(argc, argv);
        if (strcmp(cmd, "convert") == 0)
                return cmd_convert(argc, argv);
        fprintf(stderr, "vdi-img: unknown command '%s' (see vdi-img --help)\n", cmd);
        return 1;
}
