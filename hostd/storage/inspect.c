/* Guest disk inspection; see inspect.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>

#include "initrd.h"
#include "inspect.h"
#include "macro.h"

#define MAX_TEXT (4u << 20) /* grub.cfg, fstab, modules.builtin */

/* ---- libext2fs I/O manager on top of struct disk ----
 * The manager's open() only gets a name, so the name carries the address
 * of our context: "vdi-disk:<pointer>". */

struct fsio {
        struct disk *d;
        uint64_t offset, size;
};

static struct struct_io_manager disk_io_manager;

static errcode_t dio_open(const char *name, int flags, io_channel *channel)
{
        struct fsio *ctx = NULL;
        io_channel ch;

        if (sscanf(name, "vdi-disk:%p", (void **)&ctx) != 1 || !ctx)
                return EXT2_ET_BAD_DEVICE_NAME;
        if (flags & IO_FLAG_RW)
                return EXT2_ET_RO_FILSYS;
        ch = calloc(1, sizeof(*ch));
        if (!ch)
                return EXT2_ET_NO_MEMORY;
        ch->name = strdup(name);
        if (!ch->name) {
                free(ch);
                return EXT2_ET_NO_MEMORY;
        }
        ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
        ch->manager = &disk_io_manager;
        ch->block_size = 1024;
        ch->refcount = 1;
        ch->private_data = ctx;
        *channel = ch;
        return 0;
}

static errcode_t dio_close(io_channel ch)
{
        if (--ch->refcount > 0)
                return 0;
        free(ch->name);
        free(ch);
        return 0;
}

static errcode_t dio_set_blksize(io_channel ch, int blksize)
{
        ch->block_size = blksize;
        return 0;
}

static errcode_t dio_read_blk64(io_channel ch, unsigned long long block, int count, void *data)
{
        struct fsio *ctx = ch->private_data;
        uint64_t len = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)ch->block_size;
        uint64_t off;

        if (__builtin_mul_overflow((uint64_t)block, (uint64_t)ch->block_size, &off) ||
            off > ctx->size || len > ctx->size - off)
                return EXT2_ET_LLSEEK_FAILED; /* outside the partition */
        if (disk_read(ctx->d, data, (size_t)len, ctx->offset + off) < 0)
                return EXT2_ET_SHORT_READ;
        return 0;
}

static errcode_t dio_read_blk(io_channel ch, unsigned long block, int count, void *data)
{
        return dio_read_blk64(ch, block, count, data);
}

static errcode_t dio_write_blk(io_channel ch, unsigned long block, int count, const void *data)
{
        return EXT2_ET_RO_FILSYS;
}

static errcode_t dio_write_blk64(io_channel ch, unsigned long long block, int count,
                                 const void *data)
{
        return EXT2_ET_RO_FILSYS;
}

static errcode_t dio_flush(io_channel ch)
{
        return 0;
}

static errcode_t dio_set_option(io_channel ch, const char *option, const char *arg)
{
        return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager disk_io_manager = {
        .magic = EXT2_ET_MAGIC_IO_MANAGER,
        .name = "vdi disk I/O manager",
        .open = dio_open,
        .close = dio_close,
        .set_blksize = dio_set_blksize,
        .read_blk = dio_read_blk,
        .write_blk = dio_write_blk,
        .flush = dio_flush,
        .set_option = dio_set_option,
        .read_blk64 = dio_read_blk64,
        .write_blk64 = dio_write_blk64,
};

/* ---- small helpers ---- */

static int errf(char **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char **err, int code, const char *fmt, ...)
{
        va_list ap;
        char *m = NULL;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(*err);
        *err = m;
        return code;
}

static void note(struct inspect *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct inspect *in, const char *fmt, ...)
{
        va_list ap;
        char *line = NULL, *all = NULL;
        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                line = NULL;
        va_end(ap);
        if (!line)
                return;
        if (asprintf(&all, "%s%s\n", in->notes ? in->notes : "", line) >= 0) {
                free(in->notes);
                in->notes = all;
        }
        free(line);
}

static ext2_filsys FS(struct inspect *in, int i)
{
        return i >= 0 ? in->fs[i].fs : NULL;
}

static int disk_reader(void *ctx, void *buf, uint64_t len, uint64_t off)
{
        return disk_read(ctx, buf, (size_t)len, off);
}

/* ---- file systems ---- */

static void uuid_str(const uint8_t *u, char *out, size_t n)
{
        snprintf(out, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                 u[13], u[14], u[15]);
}

/* What a partition holds, by its magic numbers. */
static int probe(struct inspect *in, struct inspect_fs *f)
{
        uint8_t b[4096];
        uint8_t sb[1024];
        int r;

        f->type = NULL;
        if (f->size < 4096)
                return 0;
        r = disk_read(in->disk, b, sizeof(b), f->offset);
        if (r < 0)
                return r;
        /* Signatures at the start first: they win over a stale ext
         * superblock left behind at 1 KiB. */
        if (memcmp(b, "XFSB", 4) == 0)
                f->type = "xfs";
        else if (memcmp(b, "LUKS\xba\xbe", 6) == 0)
                f->type = "LUKS";
        else if (memcmp(b + 512, "LABELONE", 8) == 0 && memcmp(b + 512 + 24, "LVM2 001", 8) == 0)
                f->type = "LVM2 PV";
        else if (memcmp(b + 4086, "SWAPSPACE2", 10) == 0 || memcmp(b + 4086, "SWAP-SPACE", 10) == 0)
                f->type = "swap";
        else if (b[510] == 0x55 && b[511] == 0xaa && (memcmp(b + 54, "FAT", 3) == 0 || memcmp(b + 82, "FAT", 3) == 0))
                f->type = "vfat";
        if (f->type)
                return 0;
        memcpy(sb, b + 1024, sizeof(sb));
        if (sb[56] == 0x53 && sb[57] == 0xef) {
                uint32_t compat = (uint32_t)sb[92] | sb[93] << 8 | sb[94] << 16 | (uint32_t)sb[95] << 24;
                uint32_t incompat = (uint32_t)sb[96] | sb[97] << 8 | sb[98] << 16 | (uint32_t)sb[99] << 24;
                f->type = (incompat & 0x2c0) ? "ext4" : (compat & 0x4) ? "ext3" : "ext2"; /* extents|64bit|flex_bg; journal */
                uuid_str(sb + 104, f->uuid, sizeof(f->uuid));
                memcpy(f->label, sb + 120, 16);
                f->label[16] = '\0';
                return 0;
        }
        if (f->size >= 0x10000 + 4096) {
                r = disk_read(in->disk, b, 4096, f->offset + 0x10000);
                if (r < 0)
                        return r;
                if (memcmp(b + 0x40, "_BHRfS_M", 8) == 0)
                        f->type = "btrfs";
        }
        return 0;
}

static int open_ext(struct inspect *in, struct inspect_fs *f, char **err)
{
        struct fsio *io;
        ext2_filsys fs = NULL;
        char name[64];
        errcode_t e;

        if (f->fs)
                return 0;
        io = calloc(1, sizeof(*io));
        if (!io)
                return errf(err, -ENOMEM, "out of memory");
        *io = (struct fsio){ .d = in->disk, .offset = f->offset, .size = f->size };
        snprintf(name, sizeof(name), "vdi-disk:%p", (void *)io);
        e = ext2fs_open2(name, NULL, EXT2_FLAG_64BITS, 0, 0, &disk_io_manager, &fs);
        if (e) {
                free(io);
                if (f->part)
                        return errf(err, -EIO, "partition %u: cannot read its %s file system: %s", f->part,
                                    f->type, error_message(e));
                return errf(err, -EIO, "cannot read the disk's %s file system: %s", f->type,
                            error_message(e));
        }
        f->fs = fs;
        f->io = io;
        return 0;
}

static int lookup(ext2_filsys fs, const char *path, ext2_ino_t *ino)
{
        if (!fs)
                return -ENOENT;
        return ext2fs_namei_follow(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino) ? -ENOENT : 0;
}

static bool exists(ext2_filsys fs, const char *path)
{
        ext2_ino_t ino;
        return lookup(fs, path, &ino) == 0;
}

/* Whole file (at most max bytes) into a NUL-terminated buffer. */
static int read_file(ext2_filsys fs, const char *path, uint64_t max, char **out,
                     uint64_t *size_out)
{
        ext2_file_t file;
        ext2_ino_t ino;
        __u64 size;
        unsigned got;
        char *buf;
        errcode_t e;

        if (lookup(fs, path, &ino) < 0)
                return -ENOENT;
        if (ext2fs_file_open(fs, ino, 0, &file))
                return -EIO;
        if (ext2fs_file_get_lsize(file, &size)) {
                ext2fs_file_close(file);
                return -EIO;
        }
        if (size > max || size > UINT32_MAX - 1) {
                ext2fs_file_close(file);
                return -EFBIG;
        }
        buf = malloc(size + 1);
        if (!buf) {
                ext2fs_file_close(file);
                return -ENOMEM;
        }
        e = ext2fs_file_read(file, buf, (unsigned)size, &got);
        ext2fs_file_close(file);
        if (e || got != size) {
                free(buf);
                return -EIO;
        }
        buf[size] = '\0';
        *out = buf;
        if (size_out)
                *size_out = size;
        return 0;
}

static int read_text(ext2_filsys fs, const char *path, char **out, uint64_t *size_out)
{
        return read_file(fs, path, MAX_TEXT, out, size_out);
}

static int file_size(ext2_filsys fs, const char *path, uint64_t *size)
{
        struct ext2_inode_large inode;
        ext2_ino_t ino;
        if (lookup(fs, path, &ino) < 0)
                return -ENOENT;
        if (ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&inode, sizeof(inode)))
                return -EIO;
        if (!LINUX_S_ISREG(inode.i_mode))
                return -EISDIR;
        *size = EXT2_I_SIZE(&inode);
        return 0;
}

/* ---- fstab ---- */

/* The device field of fstab's line for mount point mp, or NULL. */
static char *fstab_device(const char *fstab, const char *mp)
{
        const char *line = fstab;
        while (line && *line) {
                const char *nl = strchr(line, '\n');
                size_t n = nl ? (size_t)(nl - line) : strlen(line);
                char buf[1024], dev[512], dir[512];
                if (n < sizeof(buf)) {
                        memcpy(buf, line, n);
                        buf[n] = '\0';
                        if (sscanf(buf, " %511s %511s", dev, dir) == 2 && dev[0] != '#' &&
                            strcmp(dir, mp) == 0)
                                return strdup(dev);
                }
                line = nl ? nl + 1 : NULL;
        }
        return NULL;
}

/* The file system an fstab device spec names: UUID=, LABEL=, /dev/disk/by-uuid/,
 * or a /dev/[sv]daN-style name (by partition number). -1 if none. */
static int resolve_spec(struct inspect *in, const char *spec)
{
        const char *uuid = NULL, *label = NULL;
        size_t n = strlen(spec);

        if (strncmp(spec, "UUID=", 5) == 0)
                uuid = spec + 5;
        else if (strncmp(spec, "/dev/disk/by-uuid/", 18) == 0)
                uuid = spec + 18;
        else if (strncmp(spec, "LABEL=", 6) == 0)
                label = spec + 6;
        for (unsigned i = 0; i < in->nfs; i++) {
                struct inspect_fs *f = &in->fs[i];
                if (uuid && strcasecmp(f->uuid, uuid) == 0)
                        return (int)i;
                if (label && f->label[0] && strcmp(f->label, label) == 0)
                        return (int)i;
        }
        if (!uuid && !label && strncmp(spec, "/dev/", 5) == 0 && n > 0 && spec[n - 1] >= '0' &&
            spec[n - 1] <= '9') {
                size_t d = n;
                while (d > 0 && spec[d - 1] >= '0' && spec[d - 1] <= '9')
                        d--;
                for (unsigned i = 0; i < in->nfs; i++)
                        if (in->fs[i].part == (unsigned)atoi(spec + d))
                                return (int)i;
        }
        return -1;
}

/* ---- grub.cfg ---- */

struct entry {
        int top, sub;       /* "top" or "top>sub" */
        char title[256], id[256];
        char linux_line[2048], initrd_line[2048];
};

struct grub {
        struct entry *e;
        unsigned n, cap;
        char deflt[256];
};

/* First quoted ('...' or "...") or bare word after p, into out. */
static const char *word(const char *p, char *out, size_t n)
{
        size_t k = 0;
        char q = 0;
        while (*p == ' ' || *p == '\t')
                p++;
        if (*p == '\'' || *p == '"')
                q = *p++;
        while (*p && (q ? *p != q : (*p != ' ' && *p != '\t' && *p != '{'))) {
                if (k + 1 < n)
                        out[k++] = *p;
                p++;
        }
        if (q && *p == q)
                p++;
        out[k] = '\0';
        return p;
}

static void grub_parse(const char *cfg, struct grub *g)
{
        int depth = 0, top = -1, sub = -1, entry_depth = -1, submenu_depth = -1;
        struct entry *cur = NULL;
        const char *line = cfg;

        while (line && *line) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                char buf[2048];
                const char *p;

                if (len >= sizeof(buf))
                        len = sizeof(buf) - 1;
                memcpy(buf, line, len);
                buf[len] = '\0';
                line = nl ? nl + 1 : NULL;
                p = buf;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p == '#' || !*p)
                        continue;
                if (depth == 0 && strncmp(p, "set default=", 12) == 0) {
                        word(p + 12, g->deflt, sizeof(g->deflt));
                } else if (strncmp(p, "submenu ", 8) == 0 && submenu_depth < 0 && !cur) {
                        top++;
                        sub = -1;
                        submenu_depth = depth;
                } else if (strncmp(p, "menuentry ", 10) == 0 && !cur) {
                        const char *idp;
                        if (g->n == g->cap) {
                                unsigned cap = g->cap ? g->cap * 2 : 16;
                                struct entry *ne;
                                if (cap > 4096)
                                        break;
                                ne = realloc(g->e, cap * sizeof(*ne));
                                if (!ne)
                                        break;
                                g->e = ne;
                                g->cap = cap;
                        }
                        cur = &g->e[g->n++];
                        memset(cur, 0, sizeof(*cur));
                        if (submenu_depth >= 0) {
                                cur->top = top;
                                cur->sub = ++sub;
                        } else {
                                cur->top = ++top;
                                cur->sub = -1;
                        }
                        word(p + 10, cur->title, sizeof(cur->title));
                        idp = strstr(p, "$menuentry_id_option");
                        if (idp)
                                word(idp + 20, cur->id, sizeof(cur->id));
                        entry_depth = depth;
                } else if (cur && (strncmp(p, "linux", 5) == 0) &&
                           (p[5] == ' ' || p[5] == '\t' || strncmp(p + 5, "16 ", 3) == 0 ||
                            strncmp(p + 5, "efi ", 4) == 0) && !cur->linux_line[0]) {
                        snprintf(cur->linux_line, sizeof(cur->linux_line), "%s", strpbrk(p, " \t"));
                } else if (cur && strncmp(p, "initrd", 6) == 0 && !cur->initrd_line[0] &&
                           (p[6] == ' ' || p[6] == '\t' || strncmp(p + 6, "16 ", 3) == 0 ||
                            strncmp(p + 6, "efi ", 4) == 0)) {
                        snprintf(cur->initrd_line, sizeof(cur->initrd_line), "%s", strpbrk(p, " \t"));
                }
                /* braces: good enough for what grub-mkconfig writes */
                for (const char *c = p; *c; c++) {
                        if (*c == '\'' || *c == '"') {
                                const char *e = strchr(c + 1, *c);
                                if (!e)
                                        break;
                                c = e;
                        } else if (*c == '{') {
                                depth++;
                        } else if (*c == '}') {
                                depth--;
                                if (cur && depth == entry_depth)
                                        cur = NULL;
                                else if (!cur && submenu_depth >= 0 && depth == submenu_depth)
                                        submenu_depth = -1;
                        }
                }
        }
}

static struct entry *grub_default(struct grub *g, const char *saved)
{
        const char *d = g->deflt;
        char *end;
        long a, b = -1;

        if (!*d || strcmp(d, "saved") == 0 || strstr(d, "saved_entry"))
                d = saved && *saved ? saved : "0";
        a = strtol(d, &end, 10);
        if (end != d && (*end == '\0' || *end == '>')) {
                if (*end == '>')
                        b = strtol(end + 1, NULL, 10);
                for (unsigned i = 0; i < g->n; i++)
                        if (g->e[i].top == a && g->e[i].sub == b)
                                return &g->e[i];
                return NULL;
        }
        for (unsigned i = 0; i < g->n; i++)
                if (strcmp(g->e[i].title, d) == 0 || (g->e[i].id[0] && strcmp(g->e[i].id, d) == 0))
                        return &g->e[i];
        return g->n ? &g->e[0] : NULL;
}

/* GRUB path → path inside a file system: drop a "(hd0,gpt2)" or "($root)" device. */
static const char *grub_path(const char *p)
{
        if (*p == '(') {
                const char *e = strchr(p, ')');
                if (e)
                        return e + 1;
        }
        return p;
}

/* Find a kernel or initrd path as GRUB names it: on /boot's file system
 * (as given, or without "/boot"), then on the root's. */
static int locate(struct inspect *in, const char *path, char **found, int *fsi)
{
        const struct { int fs; const char *path; } tries[3] = {
                { in->boot, path },
                { in->root, path },
                { in->boot, strncmp(path, "/boot/", 6) == 0 ? path + 5 : NULL },
        };
        for (unsigned i = 0; i < 3; i++) {
                int f = tries[i].fs;
                uint64_t size;
                if (!tries[i].path || f < 0)
                        continue;
                if (file_size(FS(in, f), tries[i].path, &size) == 0) {
                        *found = strdup(tries[i].path);
                        *fsi = f;
                        return *found ? 0 : -ENOMEM;
                }
        }
        return -ENOENT;
}

static char *join_args(const char *rest, struct inspect *in)
{
        size_t cap = strlen(rest) + 1;
        char *out = calloc(1, cap), tok[1024];
        const char *p = rest;

        if (!out)
                return NULL;
        while (*p) {
                const char *next = word(p, tok, sizeof(tok));
                if (next == p)
                        break;
                p = next;
                if (!tok[0])
                        continue;
                if (strchr(tok, '$')) {
                        note(in, "cmdline: left out '%s' (a GRUB variable vdi-img does not expand)", tok);
                        continue;
                }
                if (out[0])
                        strcat(out, " ");
                strcat(out, tok);
        }
        return out;
}

static int from_grub(struct inspect *in, char **err)
{
        static const char *cfgs[][2] = { { "B", "/grub/grub.cfg" }, { "R", "/boot/grub/grub.cfg" },
                                         { "B", "/grub2/grub.cfg" }, { "R", "/boot/grub2/grub.cfg" } };
        _cleanup_free_ char *cfg = NULL, *env = NULL;
        struct grub g = { 0 };
        struct entry *e;
        char path[1024], saved[256] = "";
        const char *rest;
        int r = -ENOENT;

        for (unsigned i = 0; i < ARRAY_SIZE(cfgs) && !cfg; i++) {
                ext2_filsys fs = FS(in, cfgs[i][0][0] == 'B' ? in->boot : in->root);
                if (fs && read_text(fs, cfgs[i][1], &cfg, NULL) == 0) {
                        char envp[64];
                        snprintf(envp, sizeof(envp), "%.*s/grubenv",
                                 (int)(strrchr(cfgs[i][1], '/') - cfgs[i][1]), cfgs[i][1]);
                        if (read_text(fs, envp, &env, NULL) == 0) {
                                const char *s = strstr(env, "saved_entry=");
                                if (s)
                                        sscanf(s + 12, "%255[^\n]", saved);
                        }
                }
        }
        if (!cfg)
                return -ENOENT;
        grub_parse(cfg, &g);
        e = grub_default(&g, saved);
        if (!e || !e->linux_line[0]) {
                free(g.e);
                return -ENOENT;
        }
        rest = word(e->linux_line, path, sizeof(path));
        r = locate(in, grub_path(path), &in->kernel, &in->kernel_fs);
        if (r < 0) {
                r = errf(err, -ENOENT, "grub.cfg's default entry \"%s\" boots %s, which is not in the image",
                         e->title, path);
                free(g.e);
                return r;
        }
        in->cmdline = join_args(rest, in);
        if (e->initrd_line[0]) {
                /* "initrd /intel-ucode.img /initrd.img-X": the last is the initramfs */
                const char *p = e->initrd_line;
                char tok[1024];
                path[0] = '\0';
                while (*p) {
                        const char *n = word(p, tok, sizeof(tok));
                        if (n == p)
                                break;
                        p = n;
                        if (tok[0])
                                snprintf(path, sizeof(path), "%s", tok);
                }
                if (path[0] && locate(in, grub_path(path), &in->initrd, &in->initrd_fs) < 0) {
                        r = errf(err, -ENOENT, "grub.cfg's default entry \"%s\" loads initrd %s, which is not in the image",
                                 e->title, path);
                        free(g.e);
                        return r;
                }
        }
        if (asprintf(&in->source, "grub.cfg default entry \"%s\"", e->title) < 0)
                in->source = NULL;
        free(g.e);
        return 0;
}

/* ---- newest /boot/vmlinuz-* ---- */

struct newest {
        char best[256];
};

static int newest_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
                     int blocksize, char *buf, void *priv)
{
        struct newest *nw = priv;
        char name[256];
        int n = ext2fs_dirent_name_len(de);
        memcpy(name, de->name, (size_t)n);
        name[n] = '\0';
        if (strncmp(name, "vmlinuz-", 8) == 0 && (!nw->best[0] || strverscmp(name, nw->best) > 0))
                snprintf(nw->best, sizeof(nw->best), "%s", name);
        return 0;
}

static int from_newest_kernel(struct inspect *in, const char *root_spec, char **err)
{
        int fsi = in->boot != in->root ? in->boot : in->root;
        const char *dir = in->boot != in->root ? "/" : "/boot";
        struct newest nw = { "" };
        char path[512];
        ext2_ino_t ino;

        if (lookup(FS(in, fsi), dir, &ino) < 0 ||
            ext2fs_dir_iterate2(FS(in, fsi), ino, 0, NULL, newest_cb, &nw) || !nw.best[0])
                return errf(err, -ENOENT,
                            "no kernel found: no grub.cfg with a Linux entry and no /boot/vmlinuz-* in the image");
        snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", nw.best);
        in->kernel = strdup(path);
        in->kernel_fs = fsi;
        snprintf(path, sizeof(path), "%s%sinitrd.img-%s", dir, strcmp(dir, "/") ? "/" : "", nw.best + 8);
        if (exists(FS(in, fsi), path)) {
                in->initrd = strdup(path);
                in->initrd_fs = fsi;
        }
        if (!root_spec)
                return errf(err, -ENOENT, "no grub.cfg and no root (/) line in /etc/fstab: cannot tell the kernel command line");
        if (asprintf(&in->cmdline, "root=%s ro", root_spec) < 0)
                in->cmdline = NULL;
        if (asprintf(&in->source, "newest /boot/%s, root from /etc/fstab", nw.best) < 0)
                in->source = NULL;
        return 0;
}

/* ---- drivers ---- */

struct modsearch {
        ext2_filsys fs;
        const char *const *names;
        bool *found;
        unsigned n, depth;
};

static bool ko_name(const char *file, const char *mod)
{
        size_t m = strlen(mod);
        const char *ext;
        if (strncmp(file, mod, m) != 0 || strncmp(file + m, ".ko", 3) != 0)
                return false;
        ext = file + m + 3;
        return !*ext || !strcmp(ext, ".xz") || !strcmp(ext, ".zst") || !strcmp(ext, ".gz");
}

static int mod_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset, int blocksize,
                  char *buf, void *priv)
{
        struct modsearch *ms = priv;
        char name[256];
        int n = ext2fs_dirent_name_len(de);

        if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
                return 0;
        memcpy(name, de->name, (size_t)n);
        name[n] = '\0';
        if (ext2fs_dirent_file_type(de) == EXT2_FT_DIR && ms->depth < 8) {
                ms->depth++;
                ext2fs_dir_iterate2(ms->fs, de->inode, 0, NULL, mod_cb, ms);
                ms->depth--;
                return 0;
        }
        for (unsigned i = 0; i < ms->n; i++)
                if (ko_name(name, ms->names[i]))
                        ms->found[i] = true;
        return 0;
}

/* Modules the root disk needs must be in the initramfs: the kernel loads
 * them from there before the root file system is mounted. */
static int check_initrd(struct inspect *in, const char *const *mods, const bool *builtin,
                        char **err)
{
        _cleanup_free_ char *data = NULL;
        bool found[2] = { false, false };
        const char *what = NULL;
        char missing[64] = "";
        uint64_t len;
        int r;

        if (!in->initrd)
                return 0; /* refused later, with its own message */
        r = read_file(FS(in, in->initrd_fs), in->initrd, 512u << 20, &data, &len);
        if (r < 0)
                return errf(err, r, "cannot read the initrd %s: %s", in->initrd, strerror(-r));
        r = initrd_find_modules((const uint8_t *)data, len, mods, 2, found, &what);
        if (r == -ENOTSUP) {
                note(in, "initrd: compressed with %s, which vdi-img cannot read: not checked for virtio_pci and virtio_blk",
                     what);
                return 0;
        }
        if (r == -EFBIG)
                return errf(err, r, "initrd %s unpacks to more than %u MiB", in->initrd,
                            INITRD_MAX_UNPACKED >> 20);
        if (r < 0)
                return errf(err, r, "initrd %s is not an initramfs (no cpio archive, plain, gzip or zstd)",
                            in->initrd);
        for (unsigned i = 0; i < 2; i++) {
                if (builtin[i] || found[i])
                        continue;
                size_t l = strlen(missing);
                snprintf(missing + l, sizeof(missing) - l, "%s%s", l ? " and " : "", mods[i]);
        }
        if (missing[0])
                return errf(err, -ENOTSUP,
                            "initrd %s lacks the virtio drivers our VMs need: %s (modules of kernel %s, but not in its initramfs, so the root disk would not be found); add them to /etc/initramfs-tools/modules and run update-initramfs -u in the guest",
                            in->initrd, missing, in->kversion);
        note(in, "initrd: has virtio_pci and virtio_blk");
        return 0;
}

static int check_drivers(struct inspect *in, char **err)
{
        static const char *const mods[] = { "virtio_pci", "virtio_blk", "virtio_gpu" };
        const unsigned required = 2; /* virtio_gpu only for --display virtio-gpu */
        bool module[3] = { false }, builtin[3] = { false };
        ext2_filsys fs = FS(in, in->root);
        _cleanup_free_ char *bi = NULL;
        char dir[512], path[600], missing[256] = "";
        const char *base = strrchr(in->kernel, '/');
        ext2_ino_t ino;

        base = base ? base + 1 : in->kernel;
        if (strncmp(base, "vmlinuz-", 8) != 0 && strncmp(base, "vmlinux-", 8) != 0)
                return errf(err, -ENOENT,
                            "cannot tell the kernel version from its file name %s (expected vmlinuz-VERSION), so its modules cannot be checked",
                            in->kernel);
        in->kversion = strdup(base + 8);
        if (!in->kversion)
                return errf(err, -ENOMEM, "out of memory");
        snprintf(dir, sizeof(dir), "/lib/modules/%s", in->kversion);
        if (lookup(fs, dir, &ino) < 0) {
                snprintf(dir, sizeof(dir), "/usr/lib/modules/%s", in->kversion);
                if (lookup(fs, dir, &ino) < 0)
                        return errf(err, -ENOENT,
                                    "kernel %s has no /lib/modules/%s in the image: cannot check for virtio_pci and virtio_blk (install the kernel's modules)",
                                    in->kversion, in->kversion);
        }
        snprintf(path, sizeof(path), "%s/modules.builtin", dir);
        if (read_text(fs, path, &bi, NULL) == 0) {
                for (unsigned i = 0; i < 3; i++) {
                        const char *p = bi;
                        while ((p = strstr(p, mods[i]))) {
                                bool start = p == bi || p[-1] == '/' || p[-1] == '\n';
                                if (start && strncmp(p + strlen(mods[i]), ".ko", 3) == 0)
                                        builtin[i] = true;
                                p += strlen(mods[i]);
                        }
                }
        }
        {
                struct modsearch ms = { .fs = fs, .names = mods, .found = module, .n = 3 };
                ext2fs_dir_iterate2(fs, ino, 0, NULL, mod_cb, &ms);
        }
        for (unsigned i = 0; i < 3; i++) {
                const char *how = builtin[i] ? "built in" : module[i] ? "module" : "missing";
                note(in, "driver %s: %s%s", mods[i], how,
                     i >= required && !builtin[i] && !module[i] ? " (needed only for vdi-vm --display virtio-gpu)" : "");
                if (i < required && !builtin[i] && !module[i]) {
                        size_t l = strlen(missing);
                        snprintf(missing + l, sizeof(missing) - l, "%s%s", l ? " and " : "", mods[i]);
                }
        }
        if (missing[0])
                return errf(err, -ENOTSUP,
                            "kernel %s lacks the virtio drivers our VMs need: %s (neither a module under %s nor in its modules.builtin); install a kernel that has them, such as Debian's linux-image-amd64",
                            in->kversion, missing, dir);
        if (builtin[0] && builtin[1])
                return 0;
        return check_initrd(in, mods, builtin, err);
}

/* ---- the whole inspection ---- */

static int find_root(struct inspect *in, char **err)
{
        char unsupported[512] = "";
        bool any_ext = false;

        in->root = -1;
        for (unsigned i = 0; i < in->nfs; i++) {
                struct inspect_fs *f = &in->fs[i];
                if (!f->type)
                        continue;
                if (strncmp(f->type, "ext", 3) == 0) {
                        int r = open_ext(in, f, err);
                        if (r < 0)
                                return r;
                        any_ext = true;
                        if (in->root < 0 && exists(f->fs, "/etc/fstab") &&
                            (exists(f->fs, "/sbin/init") || exists(f->fs, "/usr/lib/os-release") ||
                             exists(f->fs, "/etc/os-release") || exists(f->fs, "/lib/modules")))
                                in->root = (int)i;
                } else if (strcmp(f->type, "swap") && strcmp(f->type, "vfat")) {
                        size_t l = strlen(unsupported);
                        if (f->part)
                                snprintf(unsupported + l, sizeof(unsupported) - l, "%spartition %u holds %s",
                                         l ? ", " : "", f->part, f->type);
                        else
                                snprintf(unsupported + l, sizeof(unsupported) - l, "%sthe whole disk holds %s",
                                         l ? ", " : "", f->type);
                }
        }
        if (in->root >= 0)
                return 0;
        if (unsupported[0])
                return errf(err, -ENOTSUP,
                            "no ext2/3/4 root file system found; %s, which vdi-img cannot read (XFS, btrfs, LVM and encrypted roots are not supported: the root must be ext2/3/4 on a plain partition)",
                            unsupported);
        if (any_ext)
                return errf(err, -ENOENT,
                            "no root file system found: no ext2/3/4 file system in the image has /etc/fstab and /sbin/init");
        return errf(err, -ENOENT, "no file system found on the disk (no partition holds ext2/3/4)");
}

int inspect_disk(struct disk *d, struct inspect *in, char **err)
{
        _cleanup_free_ char *fstab = NULL, *root_spec = NULL, *boot_spec = NULL;
        uint64_t size = disk_get_length(d);
        char *perr = NULL;
        int r;

        memset(in, 0, sizeof(*in));
        in->disk = d;
        in->root = in->boot = in->kernel_fs = in->initrd_fs = -1;
        r = part_read_table(disk_reader, d, size, &in->table, &perr);
        if (r < 0) {
                char msg[256];
                disk_last_error(d, msg, sizeof(msg));
                r = errf(err, r, "partition table: %s%s%s", perr ? perr : strerror(-r),
                         msg[0] ? ": " : "", msg);
                free(perr);
                return r;
        }
        if (in->table.scheme == PART_NONE) {
                in->fs[0] = (struct inspect_fs){ .part = 0, .offset = 0, .size = size };
                in->nfs = 1;
        }
        for (unsigned i = 0; i < in->table.n; i++) {
                const struct part *p = &in->table.parts[i];
                in->fs[in->nfs++] = (struct inspect_fs){ .part = p->number, .offset = p->offset, .size = p->size };
        }
        for (unsigned i = 0; i < in->nfs; i++) {
                r = probe(in, &in->fs[i]);
                if (r < 0) {
                        char msg[256];
                        disk_last_error(d, msg, sizeof(msg));
                        return errf(err, r, "cannot read partition %u: %s", in->fs[i].part,
                                    msg[0] ? msg : strerror(-r));
                }
        }
        r = find_root(in, err);
        if (r < 0)
                return r;
        in->boot = in->root;
        if (read_text(FS(in, in->root), "/etc/fstab", &fstab, NULL) == 0) {
                root_spec = fstab_device(fstab, "/");
                boot_spec = fstab_device(fstab, "/boot");
        }
        if (boot_spec) {
                int b = resolve_spec(in, boot_spec);
                if (b < 0)
                        return errf(err, -ENOENT, "/etc/fstab mounts /boot from %s, which is not on this disk",
                                    boot_spec);
                if (!in->fs[b].type || strncmp(in->fs[b].type, "ext", 3) != 0)
                        return errf(err, -ENOTSUP, "/boot (%s) is %s, which vdi-img cannot read (only ext2/3/4)",
                                    boot_spec, in->fs[b].type ? in->fs[b].type : "no known file system");
                in->boot = b;
        }
        r = from_grub(in, err);
        if (r == -ENOENT && !*err)
                r = from_newest_kernel(in, root_spec, err);
        if (r < 0)
                return r;
        if (!in->kernel || !in->cmdline || !in->source)
                return errf(err, -ENOMEM, "out of memory");
        if (!in->initrd)
                return errf(err, -ENOENT, "kernel %s has no initrd in the image (vdi-vm boots distribution kernels with their initramfs)",
                            in->kernel);
        if (!strstr(in->cmdline, "root="))
                return errf(err, -EINVAL, "the kernel command line \"%s\" has no root=", in->cmdline);
        if (!strstr(in->cmdline, "console=")) {
                char *c = NULL;
                if (asprintf(&c, "%s console=tty0 console=ttyS0", in->cmdline) < 0)
                        return errf(err, -ENOMEM, "out of memory");
                free(in->cmdline);
                in->cmdline = c;
                note(in, "cmdline: added console=tty0 console=ttyS0 (vdi-vm's serial console)");
        }
        r = check_drivers(in, err);
        if (r < 0)
                return r;
        if (file_size(FS(in, in->kernel_fs), in->kernel, &in->kernel_size) < 0 ||
            file_size(FS(in, in->initrd_fs), in->initrd, &in->initrd_size) < 0)
                return errf(err, -EIO, "cannot read the sizes of %s and %s", in->kernel, in->initrd);
        return 0;
}

int inspect_copy_file(struct inspect *in, int fsi, const char *path, const char *dest, char **err)
{
        ext2_filsys fs = FS(in, fsi);
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        ext2_file_t file;
        ext2_ino_t ino;
        uint64_t at = 0;
        int r = 0;

        if (lookup(fs, path, &ino) < 0 || ext2fs_file_open(fs, ino, 0, &file))
                return errf(err, -ENOENT, "%s: cannot open it in the image", path);
        buf = malloc(1 << 20);
        fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (!buf || fd < 0) {
                ext2fs_file_close(file);
                return errf(err, buf ? -errno : -ENOMEM, "%s: cannot create: %s", dest,
                            buf ? strerror(errno) : "out of memory");
        }
        for (;;) {
                unsigned got = 0;
                errcode_t e = ext2fs_file_read(file, buf, 1 << 20, &got);
                if (e) {
                        char msg[256];
                        disk_last_error(in->disk, msg, sizeof(msg));
                        r = errf(err, -EIO, "%s: read failed in the image: %s%s%s", path,
                                 error_message(e), msg[0] ? ": " : "", msg);
                        break;
                }
                if (!got)
                        break;
                r = pwrite_full(fd, buf, got, at);
                at += got;
                if (r < 0) {
                        r = errf(err, r, "%s: write failed: %s", dest, strerror(-r));
                        break;
                }
        }
        ext2fs_file_close(file);
        if (r == 0 && fsync(fd) < 0)
                r = errf(err, -errno, "%s: fsync: %s", dest, strerror(errno));
        return r;
}

void inspect_free(struct inspect *in)
{
        for (unsigned i = 0; i < in->nfs; i++) {
                if (in->fs[i].fs)
                        ext2fs_close_free((ext2_filsys *)&in->fs[i].fs);
                free(in->fs[i].io);
        }
        free(in->kernel);
        free(in->initrd);
        free(in->kversion);
        free(in->cmdline);
        free(in->source);
        free(in->notes);
        memset(in, 0, sizeof(*in));
}
