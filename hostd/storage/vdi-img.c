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
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>

#include "disk.h"
#include "inspect.h"
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
                "  inspect [-f FMT] FILE\n"
                "      Show the partitions and file systems of a guest disk, its root and\n"
                "      /boot, and the kernel, initrd and command line it boots (GRUB's default\n"
                "      entry, else the newest /boot/vmlinuz-*). Exit 1 with the reason when\n"
                "      the disk cannot be imported.\n"
                "  import [-f FMT] FILE --out DIR [--version N]\n"
                "      Inspect FILE and write the bundle vdi-hostd imports into the new\n"
                "      directory DIR: the disk (unchanged), kernel, initrd, cmdline,\n"
                "      version and manifest.json.\n"
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
                printf("    compression type: %s\n", i.compression);
                printf("    extended l2: %s\n", i.extended_l2 ? "true" : "false");
                printf("    internal snapshots: %u\n", i.snapshots);
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

/* rm -r of the flat directory import builds. */
static void remove_tree(const char *dir)
{
        DIR *dd = opendir(dir);
        struct dirent *e;
        if (dd) {
                while ((e = readdir(dd))) {
                        char *p = NULL;
                        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                                continue;
                        if (asprintf(&p, "%s/%s", dir, e->d_name) >= 0) {
                                unlink(p);
                                free(p);
                        }
                }
                closedir(dd);
        }
        rmdir(dir);
}

static const char *fs_desc(const struct inspect_fs *f, char *buf, size_t n)
{
        snprintf(buf, n, "%s%s%s%s%s%s", f->type ? f->type : "no known file system",
                 f->uuid[0] ? " UUID=" : "", f->uuid, f->label[0] ? " LABEL=" : "", f->label, "");
        return buf;
}

static const char *where(const struct inspect *in, int fsi, char *buf, size_t n)
{
        if (in->fs[fsi].part)
                snprintf(buf, n, "partition %u", in->fs[fsi].part);
        else
                snprintf(buf, n, "whole disk");
        return buf;
}

/* Open and inspect; on refusal print "vdi-img: FILE: reason". */
static int inspect_file(const char *path, const char *fmt, struct disk **d, struct inspect *in)
{
        _cleanup_free_ char *err = NULL;
        int r;

        if (open_image(path, fmt, DISK_OPEN_READONLY, d) < 0)
                return -1;
        r = inspect_disk(*d, in, &err);
        if (r < 0) {
                fprintf(stderr, "vdi-img: %s: %s\n", path, err ? err : strerror(-r));
                inspect_free(in);
                return r;
        }
        return 0;
}

static void print_inspect(const char *path, struct inspect *in)
{
        static const char *schemes[] = { "none (file system on the whole disk)", "mbr", "gpt" };
        char a[32], b[32], c[160];

        human(disk_get_length(in->disk), a, sizeof(a));
        printf("image: %s (%s, %s)\n", path, in->disk->ops->name, a);
        printf("partition table: %s\n", schemes[in->table.scheme]);
        for (unsigned i = 0; i < in->nfs; i++) {
                const struct inspect_fs *f = &in->fs[i];
                const char *tn = NULL;
                if (!f->part)
                        continue;
                for (unsigned k = 0; k < in->table.n; k++)
                        if (in->table.parts[k].number == f->part)
                                tn = part_type_name(&in->table.parts[k]);
                human(f->size, a, sizeof(a));
                human(f->offset, b, sizeof(b));
                printf("  partition %u: %s at %s, %s: %s\n", f->part, a, b, tn ? tn : "unknown type",
                       fs_desc(f, c, sizeof(c)));
        }
        printf("root: %s (%s)\n", where(in, in->root, a, sizeof(a)), fs_desc(&in->fs[in->root], c, sizeof(c)));
        if (in->boot != in->root)
                printf("boot: %s (%s), mounted on /boot\n", where(in, in->boot, a, sizeof(a)),
                       fs_desc(&in->fs[in->boot], c, sizeof(c)));
        else
                printf("boot: /boot on the root file system\n");
        human(in->kernel_size, a, sizeof(a));
        printf("kernel: %s on %s (%s), version %s\n", in->kernel, where(in, in->kernel_fs, c, sizeof(c)),
               a, in->kversion);
        human(in->initrd_size, a, sizeof(a));
        printf("initrd: %s on %s (%s)\n", in->initrd, where(in, in->initrd_fs, c, sizeof(c)), a);
        printf("cmdline: %s\n", in->cmdline);
        printf("from: %s\n", in->source);
        if (in->notes)
                fputs(in->notes, stdout);
}

static int cmd_inspect(int argc, char **argv)
{
        _cleanup_disk_ struct disk *d = NULL;
        struct inspect in;
        const char *fmt = NULL;
        int c;

        while ((c = getopt(argc, argv, "f:h")) != -1) {
                switch (c) {
                case 'f': fmt = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 1;
                }
        }
        if (optind + 1 != argc) {
                fprintf(stderr, "vdi-img: inspect needs exactly one FILE\n");
                return 1;
        }
        if (inspect_file(argv[optind], fmt, &d, &in) < 0)
                return 1;
        print_inspect(argv[optind], &in);
        inspect_free(&in);
        return 0;
}

/* Copy the image file as it is, holes kept (SEEK_DATA/SEEK_HOLE). */
static int copy_sparse(const char *from, const char *to, char **err)
{
        _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int out = -1;
        _cleanup_free_ uint8_t *buf = malloc(1 << 20);
        off_t end, pos = 0;

        if (in < 0 || !buf)
                return disk_errorf(err, -errno, "%s: cannot open: %s", from, strerror(errno));
        out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0)
                return disk_errorf(err, -errno, "%s: cannot create: %s", to, strerror(errno));
        end = lseek(in, 0, SEEK_END);
        if (end < 0 || ftruncate(out, end) < 0)
                return disk_errorf(err, -errno, "%s: cannot size: %s", to, strerror(errno));
        while (pos < end) {
                off_t data = lseek(in, pos, SEEK_DATA), hole;
                if (data < 0)
                        break; /* only holes left */
                hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0)
                        hole = end;
                for (pos = data; pos < hole;) {
                        size_t n = hole - pos < (1 << 20) ? (size_t)(hole - pos) : 1u << 20, got;
                        int r = pread_full(in, buf, n, (uint64_t)pos, &got);
                        if (r == 0 && got != n)
                                r = -EIO;
                        if (r == 0)
                                r = pwrite_full(out, buf, n, (uint64_t)pos);
                        if (r < 0)
                                return disk_errorf(err, r, "copying %s to %s: %s", from, to, strerror(-r));
                        pos += (off_t)n;
                }
        }
        if (fsync(out) < 0)
                return disk_errorf(err, -errno, "%s: fsync: %s", to, strerror(errno));
        return 0;
}

static void json_str(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                if (ch == '"' || ch == '\\')
                        fprintf(f, "\\%c", ch);
                else if (ch < 0x20)
                        fprintf(f, "\\u%04x", ch);
                else
                        fputc(ch, f);
        }
        fputc('"', f);
}

static int write_text(const char *dir, const char *name, const char *text, char **err)
{
        _cleanup_free_ char *p = NULL;
        FILE *f;
        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return disk_errorf(err, -ENOMEM, "out of memory");
        f = fopen(p, "wx");
        if (!f)
                return disk_errorf(err, -errno, "%s: cannot create: %s", p, strerror(errno));
        fputs(text, f);
        if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
                fclose(f);
                return disk_errorf(err, -EIO, "%s: write failed", p);
        }
        fclose(f);
        return 0;
}

static int cmd_import(int argc, char **argv)
{
        static const struct option opts[] = {
                { "out", required_argument, NULL, 'o' },
                { "version", required_argument, NULL, 'V' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_disk_ struct disk *d = NULL;
        _cleanup_free_ char *err = NULL, *tmp = NULL, *abs_out = NULL, *p = NULL, *man = NULL;
        const char *fmt = NULL, *out = NULL, *src;
        unsigned long long version = 0;
        char vbuf[32], diskname[16], *end;
        struct disk_info info;
        struct inspect in;
        FILE *mf;
        int c, r;

        while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
                switch (c) {
                case 'f': fmt = optarg; break;
                case 'o': out = optarg; break;
                case 'V':
                        version = strtoull(optarg, &end, 10);
                        if (*end || version == 0) {
                                fprintf(stderr, "vdi-img: --version needs a positive integer, not '%s'\n", optarg);
                                return 1;
                        }
                        break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 1;
                }
        }
        if (optind + 1 != argc || !out) {
                fprintf(stderr, "vdi-img: import needs FILE and --out DIR\n");
                return 1;
        }
        src = argv[optind];
        if (access(out, F_OK) == 0) {
                fprintf(stderr, "vdi-img: %s already exists (import writes a new directory)\n", out);
                return 1;
        }
        if (inspect_file(src, fmt, &d, &in) < 0)
                return 1;
        if (disk_get_info(d, &info) == 0 && info.backing) {
                fprintf(stderr, "vdi-img: %s: has a backing file (%s); import takes a standalone image (flatten it with vdi-img convert -O qcow2)\n",
                        src, info.backing_file);
                inspect_free(&in);
                return 1;
        }
        if (!version) {
                time_t now = time(NULL);
                struct tm tm;
                gmtime_r(&now, &tm);
                version = (unsigned long long)(tm.tm_year + 1900) * 1000000 + (unsigned)(tm.tm_mon + 1) * 10000 +
                          (unsigned)tm.tm_mday * 100 + (unsigned)tm.tm_hour;
        }
        snprintf(diskname, sizeof(diskname), "disk.%s", d->ops->name);
        /* Built in DIR.tmp-PID and renamed: a failed import leaves nothing. */
        if (asprintf(&tmp, "%s.tmp-%d", out, (int)getpid()) < 0 || mkdir(tmp, 0755) < 0) {
                fprintf(stderr, "vdi-img: %s: cannot create: %s\n", tmp ? tmp : out, strerror(errno));
                inspect_free(&in);
                return 1;
        }
        abs_out = realpath(tmp, NULL);
        r = abs_out ? 0 : -errno;
        if (r == 0) {
                /* the final path, for the manifest */
                char *slash = strrchr(abs_out, '/');
                const char *ob = strrchr(out, '/');
                *slash = '\0';
                if (asprintf(&p, "%s/%s", abs_out, ob ? ob + 1 : out) < 0)
                        r = -ENOMEM;
        }
#define STEP(call) do { if (r == 0) r = (call); } while (0)
        {
                _cleanup_free_ char *dk = NULL, *kp = NULL, *ip = NULL;
                if (asprintf(&dk, "%s/%s", tmp, diskname) < 0 || asprintf(&kp, "%s/kernel", tmp) < 0 ||
                    asprintf(&ip, "%s/initrd", tmp) < 0)
                        r = -ENOMEM;
                STEP(copy_sparse(src, dk, &err));
                STEP(inspect_copy_file(&in, in.kernel_fs, in.kernel, kp, &err));
                STEP(inspect_copy_file(&in, in.initrd_fs, in.initrd, ip, &err));
        }
        snprintf(vbuf, sizeof(vbuf), "%llu\n", version);
        STEP(write_text(tmp, "version", vbuf, &err));
        if (r == 0) {
                _cleanup_free_ char *cl = NULL;
                if (asprintf(&cl, "%s\n", in.cmdline) < 0)
                        r = -ENOMEM;
                STEP(write_text(tmp, "cmdline", cl, &err));
        }
        if (r == 0) {
                size_t mlen = 0;
                mf = open_memstream(&man, &mlen);
                if (!mf) {
                        r = -ENOMEM;
                } else {
                        _cleanup_free_ char *kp = NULL, *ip = NULL, *dp = NULL;
                        if (asprintf(&kp, "%s/kernel", p) < 0 || asprintf(&ip, "%s/initrd", p) < 0 ||
                            asprintf(&dp, "%s/%s", p, diskname) < 0)
                                r = -ENOMEM;
                        fprintf(mf, "{\"version\": %llu, \"kernel\": ", version);
                        json_str(mf, kp ? kp : "");
                        fputs(", \"initrd\": ", mf);
                        json_str(mf, ip ? ip : "");
                        fputs(",\n \"disk\": ", mf);
                        json_str(mf, dp ? dp : "");
                        fprintf(mf, ", \"format\": \"%s\",\n \"cmdline\": ", d->ops->name);
                        json_str(mf, in.cmdline);
                        fputs("}\n", mf);
                        fclose(mf);
                        STEP(write_text(tmp, "manifest.json", man, &err));
                }
        }
        if (r == 0 && rename(tmp, out) < 0)
                r = disk_errorf(&err, -errno, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
#undef STEP
        if (r < 0) {
                fprintf(stderr, "vdi-img: %s: import failed: %s\n", src, err ? err : strerror(-r));
                remove_tree(tmp); /* leave nothing behind */
                inspect_free(&in);
                return 1;
        }
        print_inspect(src, &in);
        printf("bundle: %s\n", p);
        inspect_free(&in);
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
        if (strcmp(cmd, "inspect") == 0)
                return cmd_inspect(argc, argv);
        if (strcmp(cmd, "import") == 0)
                return cmd_import(argc, argv);
        fprintf(stderr, "vdi-img: unknown command '%s' (see vdi-img --help)\n", cmd);
        return 1;
}
