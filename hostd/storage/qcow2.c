/* qcow2 backend: open (header validation, backing chain), read, write,
 * discard, flush, info, close. Metadata handling is in qcow2-meta.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "alloc.h"
#include "macro.h"
#include "qcow2.h"

static void qcow2_free(struct qcow2 *q)
{
        if (!q)
                return;
        if (q->backing)
                disk_close(q->backing);
        if (q->fd >= 0)
                close(q->fd);
        qcow2_cache_free(&q->l2);
        qcow2_cache_free(&q->rb);
        free(q->l1);
        free(q->l1_dirty);
        free(q->rt);
        free(q->rt_dirty);
        free(q->backing_file);
        free(q->backing_path);
        free(q->pending_free);
        free(q->cbuf);
        free(q->zbuf);
        free(q->zin);
        ZSTD_freeDCtx(q->zstd);
        if (q->disk.path)
                disk_fini(&q->disk);
        free(q);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct qcow2 *, qcow2_free);

static char *resolve_backing(const char *image, const char *name)
{
        _cleanup_free_ char *copy = NULL;
        char *dir, *out;

        if (name[0] == '/' || !strchr(image, '/'))
                return strdup(name);
        copy = strdup(image);
        if (!copy)
                return NULL;
        dir = dirname(copy);
        if (asprintf(&out, "%s/%s", dir, name) < 0)
                return NULL;
        return out;
}

/* Header extensions (qcow2 spec "Header extensions"): between the header
 * and the end of the first cluster. */
static int parse_extensions(struct qcow2 *q, const uint8_t *hdr, uint64_t avail, char **err,
                            char *fmt, size_t fmtlen, bool *has_fmt)
{
        const char *path = q->disk.path;
        uint64_t off = q->version >= 3 ? q->header_length : QCOW2_V2_HEADER_LEN;

        while (off + 8 <= avail) {
                uint32_t type = get_be32(hdr + off), len = get_be32(hdr + off + 4);
                if (type == QCOW2_EXT_END)
                        return 0;
                if (!range_ok(off + 8, len, avail))
                        return disk_errorf(err, -EINVAL,
                                           "%s: header extension %#x overflows the first cluster (image corrupt)",
                                           path, type);
                switch (type) {
                case QCOW2_EXT_BACKING_FORMAT:
                        if (len == 0 || len >= fmtlen)
                                return disk_errorf(err, -EINVAL,
                                                   "%s: backing format name has bad length %u (image corrupt)",
                                                   path, len);
                        memcpy(fmt, hdr + off + 8, len);
                        fmt[len] = '\0';
                        *has_fmt = true;
                        break;
                case QCOW2_EXT_CRYPTO:
                        return disk_errorf(err, -ENOTSUP,
                                           "%s: image is encrypted, which is not supported (decrypt it with qemu-img convert)",
                                           path);
                default:
                        break; /* feature names, bitmaps: informative / autoclear */
                }
                off += 8 + (((uint64_t)len + 7) & ~7ULL);
        }
        return 0;
}

static int qcow2_open(const char *path, unsigned flags, unsigned depth, struct disk **out,
                      char **err)
{
        _cleanup_(qcow2_freep) struct qcow2 *q = NULL;
        _cleanup_free_ uint8_t *hdr = NULL;
        bool ro = flags & DISK_OPEN_READONLY, has_fmt = false;
        char fmt[32] = "";
        uint8_t small[QCOW2_V3_HEADER_LEN + 8];
        uint64_t backing_off, l1_needed, per_l1, avail;
        uint32_t backing_len;
        struct stat st;
        size_t got;
        off_t end;
        int r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
        q->fd = -1;
        if (disk_init(&q->disk, &disk_qcow2_ops, path, ro) < 0)
                return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
        q->depth = depth;
        /* O_NONBLOCK: a FIFO named as a backing file must not hang us. */
        q->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
        if (q->fd < 0)
                return disk_errorf(err, -errno, "%s: cannot open: %s", path, strerror(errno));
        if (fstat(q->fd, &st) < 0 || (end = lseek(q->fd, 0, SEEK_END)) < 0)
                return disk_errorf(err, -errno, "%s: cannot get size: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return disk_errorf(err, -EINVAL, "%s: not a regular file or block device", path);
        q->file_end = (uint64_t)end;

        r = pread_full(q->fd, small, sizeof(small), 0, &got);
        if (r < 0)
                return disk_errorf(err, r, "%s: cannot read header: %s", path, strerror(-r));
        if (got < 4 || get_be32(small) != QCOW2_MAGIC)
                return disk_errorf(err, -EINVAL, "%s: not a qcow2 image (bad magic)", path);
        if (got < QCOW2_V2_HEADER_LEN)
                return disk_errorf(err, -EINVAL, "%s: truncated qcow2 header (%zu bytes)", path, got);
        q->version = get_be32(small + 4);
        if (q->version != 2 && q->version != 3)
                return disk_errorf(err, -ENOTSUP, "%s: unsupported qcow2 version %u (need 2 or 3)",
                                   path, q->version);
        if (q->version == 3 && got < QCOW2_V3_HEADER_LEN)
                return disk_errorf(err, -EINVAL, "%s: truncated qcow2 header (%zu bytes)", path, got);
        backing_off = get_be64(small + 8);
        backing_len = get_be32(small + 16);
        q->cluster_bits = get_be32(small + 20);
        if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
                return disk_errorf(err, -EINVAL,
                                   "%s: cluster_bits %u out of range (%d..%d; image corrupt)", path,
                                   q->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
        q->cluster_size = 1ULL << q->cluster_bits;
        q->size = get_be64(small + 24);
        q->crypt_method = get_be32(small + 32);
        q->l1_size = get_be32(small + 36);
        q->l1_offset = get_be64(small + 40);
        q->rt_offset = get_be64(small + 48);
        q->rt_clusters = get_be32(small + 56);
        q->nb_snapshots = get_be32(small + 60);
        q->snapshots_offset = get_be64(small + 64);
        q->refcount_order = 4;
        q->header_length = QCOW2_V2_HEADER_LEN;
        if (q->version >= 3) {
                q->incompat = get_be64(small + 72);
                q->compat = get_be64(small + 80);
                q->autoclear = get_be64(small + 88);
                q->refcount_order = get_be32(small + 96);
                q->header_length = get_be32(small + 100);
                if (q->header_length < QCOW2_V3_HEADER_LEN || q->header_length % 8 ||
                    q->header_length > q->cluster_size)
                        return disk_errorf(err, -EINVAL, "%s: bad header length %u (image corrupt)",
                                           path, q->header_length);
                if (q->refcount_order > 6)
                        return disk_errorf(err, -EINVAL, "%s: refcount_order %u out of range (image corrupt)",
                                           path, q->refcount_order);
        }

        /* Whole first cluster: extensions and the backing file name. */
        avail = q->file_end < q->cluster_size ? q->file_end : q->cluster_size;
        hdr = calloc(1, q->cluster_size);
        if (!hdr)
                return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
        r = pread_full(q->fd, hdr, avail, 0, &got);
        if (r < 0)
                return disk_errorf(err, r, "%s: cannot read header: %s", path, strerror(-r));
        avail = got;

        if (q->incompat & ~QCOW2_INCOMPAT_KNOWN)
                return disk_errorf(err, -ENOTSUP,
                                   "%s: unknown incompatible feature bits %#llx (made by a newer QEMU?)",
                                   path, (unsigned long long)(q->incompat & ~QCOW2_INCOMPAT_KNOWN));
        if (q->incompat & QCOW2_INCOMPAT_DATA_FILE)
                return disk_errorf(err, -ENOTSUP, "%s: uses an external data file, which is not supported",
                                   path);
        if (q->incompat & QCOW2_INCOMPAT_COMPRESSION) {
                if (q->header_length <= 104)
                        return disk_errorf(err, -EINVAL,
                                           "%s: compression type bit set but the header has no compression_type field (image corrupt)",
                                           path);
                q->compression_type = hdr[104];
                if (q->compression_type != QCOW2_COMPRESSION_ZLIB &&
                    q->compression_type != QCOW2_COMPRESSION_ZSTD)
                        return disk_errorf(err, -ENOTSUP,
                                           "%s: unknown compression type %u (only zlib and zstd)", path,
                                           q->compression_type);
        }
        q->sc_bits = q->cluster_bits;
        if (q->incompat & QCOW2_INCOMPAT_EXTL2) {
                /* qcow2 spec: subclusters of at least 512 bytes */
                if (q->cluster_bits < 14)
                        return disk_errorf(err, -EINVAL,
                                           "%s: extended L2 entries need clusters of 16 KiB or more (image corrupt)",
                                           path);
                q->extl2 = true;
                q->l2_shift = 1;
                q->sc_bits = q->cluster_bits - 5;
                if (!ro)
                        return disk_errorf(err, -EROFS,
                                           "%s: uses extended L2 entries (subclusters), which are read-only here (open it read-only, or make a plain copy with vdi-img convert -O qcow2)",
                                           path);
        }
        if (q->crypt_method)
                return disk_errorf(err, -ENOTSUP,
                                   "%s: image is encrypted, which is not supported (decrypt it with qemu-img convert)",
                                   path);
        if (!ro) {
                if (q->version < 3)
                        return disk_errorf(err, -EROFS,
                                           "%s: qcow2 version 2 images are read-only here (convert to version 3 with vdi-img convert -O qcow2)",
                                           path);
                if (q->incompat & QCOW2_INCOMPAT_DIRTY)
                        return disk_errorf(err, -EROFS,
                                           "%s: dirty bit set (lazy refcounts after a crash); repair it with 'qemu-img check -r all' first",
                                           path);
                if (q->incompat & QCOW2_INCOMPAT_CORRUPT)
                        return disk_errorf(err, -EROFS,
                                           "%s: marked corrupt; repair it with 'qemu-img check -r all' first",
                                           path);
                if (q->refcount_order != 4)
                        return disk_errorf(err, -EROFS,
                                           "%s: uses %u-bit refcounts; writing needs 16-bit refcounts (refcount_order 4)",
                                           path, 1u << q->refcount_order);
                if (q->nb_snapshots)
                        return disk_errorf(err, -EROFS,
                                           "%s: has %u internal snapshots; writing such images is not supported",
                                           path, q->nb_snapshots);
        }

        /* Sizes and tables. */
        if (q->size > QCOW2_MAX_SIZE)
                return disk_errorf(err, -EFBIG, "%s: virtual size %llu is absurd (image corrupt)", path,
                                   (unsigned long long)q->size);
        q->l2_entries = q->cluster_size / 8 >> q->l2_shift;
        q->rb_entries = q->cluster_size * 8 >> q->refcount_order;
        per_l1 = q->cluster_size * q->l2_entries;
        l1_needed = q->size / per_l1 + (q->size % per_l1 != 0);
        if (q->l1_size < l1_needed)
                return disk_errorf(err, -EINVAL,
                                   "%s: L1 table has %llu entries, %llu needed for the virtual size (image corrupt)",
                                   path, (unsigned long long)q->l1_size,
                                   (unsigned long long)l1_needed);
        if (q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
                return disk_errorf(err, -EFBIG, "%s: L1 table of %llu entries is too large (image corrupt)",
                                   path, (unsigned long long)q->l1_size);
        if (q->rt_clusters == 0 || q->rt_clusters * q->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
                return disk_errorf(err, -EINVAL,
                                   "%s: refcount table of %llu clusters is out of range (image corrupt)",
                                   path, (unsigned long long)q->rt_clusters);
        if (q->l1_size && ((q->l1_offset & (q->cluster_size - 1)) || q->l1_offset < q->cluster_size))
                return disk_errorf(err, -EINVAL,
                                   "%s: L1 table offset %#llx is unaligned or inside the header (image corrupt)",
                                   path, (unsigned long long)q->l1_offset);
        if (q->l1_size && !range_ok(q->l1_offset, q->l1_size * 8, q->file_end))
                return disk_errorf(err, -EINVAL, "%s: L1 table at %#llx is past the end of the file (image corrupt or truncated)",
                                   path, (unsigned long long)q->l1_offset);
        if ((q->rt_offset & (q->cluster_size - 1)) || q->rt_offset < q->cluster_size)
                return disk_errorf(err, -EINVAL,
                                   "%s: refcount table offset %#llx is unaligned or inside the header (image corrupt)",
                                   path, (unsigned long long)q->rt_offset);
        if (!range_ok(q->rt_offset, q->rt_clusters * q->cluster_size, q->file_end))
                return disk_errorf(err, -EINVAL,
                                   "%s: refcount table at %#llx is past the end of the file (image corrupt or truncated)",
                                   path, (unsigned long long)q->rt_offset);
        if (q->l1_size && q->l1_offset < q->rt_offset + q->rt_clusters * q->cluster_size &&
            q->rt_offset < q->l1_offset + q->l1_size * 8)
                return disk_errorf(err, -EINVAL, "%s: L1 table and refcount table overlap (image corrupt)",
                                   path);

        q->l1 = calloc(q->l1_size ? q->l1_size : 1, sizeof(uint64_t));
        q->l1_dirty = calloc((q->l1_size * 8 + q->cluster_size - 1) / q->cluster_size + 1, sizeof(bool));
        q->rt_size = q->rt_clusters * q->cluster_size / 8;
        q->rt = calloc(q->rt_size, sizeof(uint64_t));
        q->rt_dirty = calloc(q->rt_clusters, sizeof(bool));
        q->cbuf = aligned_alloc(4096, q->cluster_size < 4096 ? 4096 : q->cluster_size);
        if (!q->l1 || !q->l1_dirty || !q->rt || !q->rt_dirty || !q->cbuf)
                return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
        r = pread_full(q->fd, q->l1, q->l1_size * 8, q->l1_offset, NULL);
        if (r == 0)
                r = pread_full(q->fd, q->rt, q->rt_size * 8, q->rt_offset, NULL);
        if (r < 0)
                return disk_errorf(err, r, "%s: cannot read tables: %s", path, strerror(-r));
        for (uint64_t i = 0; i < q->l1_size; i++)
                q->l1[i] = __builtin_bswap64(q->l1[i]);
        for (uint64_t i = 0; i < q->rt_size; i++)
                q->rt[i] = __builtin_bswap64(q->rt[i]) & QCOW2_REFT_OFFSET_MASK;

        r = parse_extensions(q, hdr, avail, err, fmt, sizeof(fmt), &has_fmt);
        if (r < 0)
                return r;

        /* Caches: by default the L2 cache covers the whole disk (64 GiB with
         * 64 KiB clusters = 128 tables = 8 MiB), capped at 32 MiB; slots
         * are allocated on first use. */
        {
                uint64_t l2_limit = l1_needed ? l1_needed : 1;
                uint64_t cap = QCOW2_L2_CACHE_MAX / q->cluster_size;
                uint64_t rb_limit;
                if (l2_limit > cap)
                        l2_limit = cap;
                rb_limit = l2_limit / 4 < 4 ? 4 : (l2_limit / 4 > 256 ? 256 : l2_limit / 4);
                if (qcow2_cache_init(&q->l2, (uint32_t)l2_limit, q->l1_size) < 0 ||
                    qcow2_cache_init(&q->rb, (uint32_t)rb_limit, q->rt_size) < 0)
                        return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
        }
        q->next_alloc = (q->file_end + q->cluster_size - 1) & ~(q->cluster_size - 1);

        if (backing_off) {
                _cleanup_free_ char *suberr = NULL;
                if (backing_len == 0 || backing_len > QCOW2_MAX_BACKING_NAME ||
                    !range_ok(backing_off, backing_len, avail) || backing_off < QCOW2_V2_HEADER_LEN)
                        return disk_errorf(err, -EINVAL,
                                           "%s: backing file name (offset %llu, length %u) is outside the first cluster (image corrupt)",
                                           path, (unsigned long long)backing_off, backing_len);
                q->backing_file = strndup((const char *)hdr + backing_off, backing_len);
                if (!q->backing_file)
                        return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
                if (strlen(q->backing_file) != backing_len)
                        return disk_errorf(err, -EINVAL, "%s: backing file name contains a NUL byte (image corrupt)",
                                           path);
                if (!has_fmt)
                        return disk_errorf(err, -EINVAL,
                                           "%s: backing file '%s' has no recorded format (fix with: qemu-img rebase -u -b '%s' -F <fmt> %s)",
                                           path, q->backing_file, q->backing_file, path);
                if (disk_format_from_string(fmt, &q->backing_format) < 0)
                        return disk_errorf(err, -ENOTSUP,
                                           "%s: backing file format '%s' is not supported (only qcow2 and raw)",
                                           path, fmt);
                if (strncmp(q->backing_file, "json:", 5) == 0)
                        return disk_errorf(err, -ENOTSUP,
                                           "%s: backing file '%s' uses a json: pseudo-protocol, which is not supported",
                                           path, q->backing_file);
                q->backing_path = resolve_backing(path, q->backing_file);
                if (!q->backing_path)
                        return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
                r = disk_open_depth(q->backing_path, q->backing_format, DISK_OPEN_READONLY,
                                    depth + 1, &q->backing, &suberr);
                if (r < 0)
                        return disk_errorf(err, r, "%s: cannot open backing file: %s", path,
                                           suberr ? suberr : strerror(-r));
                q->disk.backing = q->backing;
        }

        if (!ro && q->autoclear) {
                /* We do not maintain bitmaps: clearing autoclear bits tells
                 * QEMU they are stale (qcow2 spec "autoclear_features"). */
                uint8_t z[8] = { 0 };
                q->autoclear = 0;
                r = pwrite_full(q->fd, z, 8, 88);
                if (r == 0 && fdatasync(q->fd) < 0)
                        r = -errno;
                if (r < 0)
                        return disk_errorf(err, r, "%s: cannot update header: %s", path, strerror(-r));
        }
        *out = &TAKE_PTR(q)->disk;
        return 0;
}

/* ---- read ---- */

enum run_kind { RUN_NONE, RUN_HOST, RUN_BACKING };

struct run {
        enum run_kind kind;
        uint64_t start; /* host offset or guest offset */
        uint8_t *buf;
        size_t len;
};

static int read_backing(struct qcow2 *q, uint8_t *buf, size_t len, uint64_t goff)
{
        uint64_t blen = q->backing ? disk_get_length(q->backing) : 0;
        size_t n = 0;
        int r;

        if (goff < blen)
                n = blen - goff < len ? (size_t)(blen - goff) : len;
        if (n) {
                r = disk_read(q->backing, buf, n, goff);
                if (r < 0) {
                        if (r == -EIO)
                                disk_last_error(q->backing, q->disk.error, sizeof(q->disk.error));
                        return r;
                }
        }
        memset(buf + n, 0, len - n);
        return 0;
}

static int run_flush(struct qcow2 *q, struct run *run)
{
        int r = 0;
        if (run->kind == RUN_HOST)
                r = pread_full(q->fd, run->buf, run->len, run->start, NULL);
        else if (run->kind == RUN_BACKING)
                r = read_backing(q, run->buf, run->len, run->start);
        run->kind = RUN_NONE;
        return r;
}

static int run_add(struct qcow2 *q, struct run *run, enum run_kind kind, uint64_t start,
                   uint8_t *buf, size_t len)
{
        int r;
        if (run->kind == kind && run->start + run->len == start && run->buf + run->len == buf) {
                run->len += len;
                return 0;
        }
        r = run_flush(q, run);
        if (r < 0)
                return r;
        *run = (struct run){ .kind = kind, .start = start, .buf = buf, .len = len };
        return 0;
}

static int l2_entry(struct qcow2 *q, uint64_t gi, bool alloc, int32_t *slot, uint64_t *e)
{
        uint64_t l1i = gi / q->l2_entries;
        int r = qcow2_get_l2(q, l1i, alloc, slot);
        if (r < 0)
                return r;
        *e = *slot < 0 ? 0 : qcow2_l2e(q, q->l2.slots[*slot].data, gi % q->l2_entries);
        return 0;
}

static int bad_entry(struct qcow2 *q, uint64_t gi, uint64_t e)
{
        disk_set_error(&q->disk, "%s: L2 entry %#llx for guest offset %#llx is invalid (image corrupt)",
                       q->disk.path, (unsigned long long)e,
                       (unsigned long long)(gi << q->cluster_bits));
        return -EIO;
}

/* A data cluster that starts at or past the end of the file: the image was
 * truncated (reading it as zeros would hide that). */
static bool past_end(struct qcow2 *q, uint64_t host)
{
        return host >= (q->file_end > q->next_alloc ? q->file_end : q->next_alloc);
}

static int truncated(struct qcow2 *q, uint64_t gi, uint64_t host)
{
        disk_set_error(&q->disk, "%s: data cluster for guest offset %#llx at %#llx is past the end of the file (image corrupt or truncated)",
                       q->disk.path, (unsigned long long)(gi << q->cluster_bits),
                       (unsigned long long)host);
        return -EIO;
}

enum piece { PIECE_HOST, PIECE_COMPRESSED, PIECE_ZERO, PIECE_BACKING };

/* What guest bytes from off on hold, and how many of them (*span, up to the
 * end of their cluster, or of their L1 range when it has no L2 table) hold
 * the same: host bytes at *host, a compressed cluster (L2 entry *e), zeros
 * or the backing file's bytes. */
static int classify(struct qcow2 *q, uint64_t off, enum piece *kind, uint64_t *host,
                    uint64_t *e, uint64_t *span)
{
        uint64_t gi = off >> q->cluster_bits, in = off & (q->cluster_size - 1), l1i, h, bm;
        enum piece unalloc = q->backing ? PIECE_BACKING : PIECE_ZERO;
        int32_t s;
        int r;

        l1i = gi / q->l2_entries;
        if (l1i < q->l1_size && !(q->l1[l1i] & QCOW2_OFFSET_MASK)) {
                *kind = unalloc;
                *e = 0;
                *span = ((l1i + 1) * q->l2_entries << q->cluster_bits) - off;
                return 0;
        }
        r = qcow2_get_l2(q, l1i, false, &s);
        if (r < 0)
                return r;
        *e = s < 0 ? 0 : qcow2_l2e(q, q->l2.slots[s].data, gi % q->l2_entries);
        bm = s < 0 ? 0 : qcow2_l2bm(q, q->l2.slots[s].data, gi % q->l2_entries);
        *span = q->cluster_size - in;
        h = *e & QCOW2_OFFSET_MASK;
        if (*e & QCOW2_OFLAG_COMPRESSED) {
                *kind = PIECE_COMPRESSED;
                return 0;
        }
        if (!q->extl2) {
                if (q->version >= 3 && (*e & QCOW2_OFLAG_ZERO)) {
                        *kind = PIECE_ZERO;
                } else if (h) {
                        if ((*e & QCOW2_L2_RESERVED) || (h & (q->cluster_size - 1)))
                                return bad_entry(q, gi, *e);
                        if (past_end(q, h))
                                return truncated(q, gi, h);
                        *kind = PIECE_HOST;
                        *host = h + in;
                } else {
                        *kind = unalloc;
                }
                return 0;
        }
        /* qcow2 spec "Extended L2 Entries": per subcluster, allocated (data
         * at the same offset inside the host cluster), zero, or neither. */
        if ((bm & (bm >> 32) & 0xffffffffULL) || (!h && (bm & 0xffffffffULL)) ||
            (*e & QCOW2_L2_RESERVED) || (h & (q->cluster_size - 1)))
                return bad_entry(q, gi, *e);
        if (h && (bm & 0xffffffffULL) && past_end(q, h))
                return truncated(q, gi, h);
        {
                unsigned sc = (unsigned)(in >> q->sc_bits), last = sc;
                uint64_t sc_size = 1ULL << q->sc_bits;
                enum piece k = (bm >> sc) & 1 ? PIECE_HOST : (bm >> (32 + sc)) & 1 ? PIECE_ZERO : unalloc;
                while (last + 1 < QCOW2_SUBCLUSTERS) {
                        unsigned n = last + 1;
                        enum piece kn = (bm >> n) & 1 ? PIECE_HOST
                                        : (bm >> (32 + n)) & 1 ? PIECE_ZERO : unalloc;
                        if (kn != k)
                                break;
                        last = n;
                }
                *kind = k;
                *host = h + in;
                *span = (last + 1) * sc_size - in;
        }
        return 0;
}

static int qcow2_read(struct disk *d, void *buf, size_t len, uint64_t off)
{
        struct qcow2 *q = to_qcow2(d);
        struct run run = { .kind = RUN_NONE };
        uint8_t *out = buf;
        int r;

        while (len) {
                uint64_t host = 0, e, span;
                enum piece kind;
                size_t n;

                r = classify(q, off, &kind, &host, &e, &span);
                if (r < 0)
                        return r;
                n = span < len ? (size_t)span : len;
                switch (kind) {
                case PIECE_COMPRESSED:
                        r = run_flush(q, &run);
                        if (r == 0)
                                r = qcow2_read_compressed(q, e);
                        if (r < 0)
                                return r;
                        memcpy(out, q->zbuf + (off & (q->cluster_size - 1)), n);
                        break;
                case PIECE_ZERO:
                        memset(out, 0, n);
                        break;
                case PIECE_HOST:
                        r = run_add(q, &run, RUN_HOST, host, out, n);
                        break;
                case PIECE_BACKING:
                        r = run_add(q, &run, RUN_BACKING, off, out, n);
                        break;
                }
                if (r < 0)
                        return r;
                out += n;
                off += n;
                len -= n;
        }
        return run_flush(q, &run);
}

static int qcow2_block_status(struct disk *d, uint64_t off, uint64_t len, uint64_t *pnum,
                              enum disk_extent *out)
{
        static const enum disk_extent ext[] = {
                [PIECE_HOST] = DISK_EXTENT_DATA,
                [PIECE_COMPRESSED] = DISK_EXTENT_DATA,
                [PIECE_ZERO] = DISK_EXTENT_ZERO,
                [PIECE_BACKING] = DISK_EXTENT_BACKING,
        };
        struct qcow2 *q = to_qcow2(d);
        enum disk_extent first = DISK_EXTENT_DATA;
        uint64_t done = 0;

        while (done < len) {
                uint64_t host, e, span;
                enum piece kind;
                int r = classify(q, off + done, &kind, &host, &e, &span);
                if (r < 0) {
                        if (done)
                                break; /* report what is known; the error comes next call */
                        return r;
                }
                if (done == 0)
                        first = ext[kind];
                else if (ext[kind] != first)
                        break;
                done += span < len - done ? span : len - done;
        }
        *pnum = done;
        *out = first;
        return 0;
}

/* ---- write ---- */

/* Current content of guest cluster gi (entry e) into q->cbuf. */
static int old_cluster(struct qcow2 *q, uint64_t gi, uint64_t e)
{
        uint64_t host = e & QCOW2_OFFSET_MASK, goff = gi << q->cluster_bits;
        size_t n = q->cluster_size;

        if (e & QCOW2_OFLAG_COMPRESSED) {
                int r = qcow2_read_compressed(q, e);
                if (r < 0)
                        return r;
                memcpy(q->cbuf, q->zbuf, q->cluster_size);
                return 0;
        }
        if (e & QCOW2_OFLAG_ZERO) {
                memset(q->cbuf, 0, n);
                return 0;
        }
        if (host)
                return pread_full(q->fd, q->cbuf, n, host, NULL);
        if (q->size - goff < n)
                n = (size_t)(q->size - goff);
        memset(q->cbuf + n, 0, q->cluster_size - n);
        return read_backing(q, q->cbuf, n, goff);
}

static bool in_place_ok(struct qcow2 *q, uint64_t host)
{
        return host >= q->cluster_size &&
               !(host < q->l1_offset + q->l1_size * 8 && q->l1_offset < host + q->cluster_size) &&
               !(host < q->rt_offset + q->rt_clusters * q->cluster_size &&
                 q->rt_offset < host + q->cluster_size);
}

static int maybe_writeback(struct qcow2 *q)
{
        if (q->l2.n > q->l2.limit || q->rb.n > q->rb.limit || q->n_pending > 65536)
                return qcow2_sync(q, false);
        return 0;
}

/* Consecutive clusters of one request that are contiguous on the host go
 * out in one pwrite; L2 entries for newly allocated clusters are set only
 * after their data is written (a failed write leaks, never links). A run
 * stays inside one L2 table, so its cache slot cannot be evicted. */
#define WRUN_MAX 64

struct wrun {
        uint64_t host;
        const uint8_t *buf;
        size_t len;
        uint64_t l1i;
        unsigned n;
        struct { int32_t slot; uint64_t idx, e, old; } upd[WRUN_MAX];
};

static int wrun_flush(struct qcow2 *q, struct wrun *w)
{
        int r;
        if (!w->len)
                return 0;
        r = pwrite_full(q->fd, w->buf, w->len, w->host);
        if (r < 0)
                return r; /* new clusters leak; nothing points to them */
        if (w->host + w->len > q->file_end)
                q->file_end = w->host + w->len;
        for (unsigned i = 0; i < w->n; i++) {
                struct qcow2_slot *sl = &q->l2.slots[w->upd[i].slot];
                put_be64(&sl->data[w->upd[i].idx], w->upd[i].e);
                sl->dirty = true;
                if (w->upd[i].old & (QCOW2_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED)) {
                        r = qcow2_free_entry_later(q, w->upd[i].old);
                        if (r < 0)
                                return r;
                }
                if (q->zbuf_entry == w->upd[i].old)
                        q->zbuf_entry = 0;
        }
        w->len = 0;
        w->n = 0;
        return 0;
}

static int wrun_add(struct qcow2 *q, struct wrun *w, uint64_t host, const uint8_t *buf, size_t len,
                    uint64_t l1i)
{
        int r;
        if (w->len && (w->host + w->len != host || w->buf + w->len != buf || w->l1i != l1i ||
                       w->n == WRUN_MAX)) {
                r = wrun_flush(q, w);
                if (r < 0)
                        return r;
        }
        if (!w->len) {
                w->host = host;
                w->buf = buf;
                w->l1i = l1i;
        }
        w->len += len;
        return 0;
}

static int qcow2_write(struct disk *d, const void *buf, size_t len, uint64_t off)
{
        struct qcow2 *q = to_qcow2(d);
        const uint8_t *in_buf = buf;
        struct wrun w = { .len = 0 };
        int r;

        while (len) {
                uint64_t gi = off >> q->cluster_bits, in = off & (q->cluster_size - 1), e, host, h;
                uint64_t l1i = gi / q->l2_entries;
                size_t n = q->cluster_size - in < len ? (size_t)(q->cluster_size - in) : len;
                int32_t s;

                if (w.len && w.l1i != l1i && (r = wrun_flush(q, &w)) < 0)
                        return r;
                r = l2_entry(q, gi, true, &s, &e);
                if (r < 0)
                        return r;
                host = e & QCOW2_OFFSET_MASK;
                if (!(e & (QCOW2_OFLAG_COMPRESSED | QCOW2_OFLAG_ZERO)) && host &&
                    (e & QCOW2_OFLAG_COPIED)) {
                        /* qcow2 spec: COPIED = refcount 1, may be overwritten in place */
                        if ((e & QCOW2_L2_RESERVED) || (host & (q->cluster_size - 1)) ||
                            !in_place_ok(q, host))
                                return bad_entry(q, gi, e);
                        r = wrun_add(q, &w, host + in, in_buf, n, l1i);
                        if (r < 0)
                                return r;
                } else {
                        bool zero_old = (e & QCOW2_OFLAG_ZERO && !(e & QCOW2_OFLAG_COMPRESSED)) ||
                                        (!host && !(e & QCOW2_OFLAG_COMPRESSED) && !q->backing);
                        uint64_t end;
                        if (!(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_L2_RESERVED))
                                return bad_entry(q, gi, e);
                        r = qcow2_alloc_clusters(q, 1, &h);
                        if (r < 0)
                                return r;
                        if (n == q->cluster_size) {
                                r = wrun_add(q, &w, h, in_buf, n, l1i);
                                if (r < 0)
                                        return r;
                                w.upd[w.n].slot = s;
                                w.upd[w.n].idx = gi % q->l2_entries;
                                w.upd[w.n].e = h | QCOW2_OFLAG_COPIED;
                                w.upd[w.n].old = e;
                                w.n++;
                                goto next;
                        }
                        r = wrun_flush(q, &w);
                        if (r < 0)
                                return r;
                        if (zero_old && h >= q->file_end) {
                                /* Past the end of the file the new cluster
                                 * already reads as zeros (stage 1 extends it). */
                                r = pwrite_full(q->fd, in_buf, n, h + in);
                                end = h + in + n;
                        } else {
                                r = old_cluster(q, gi, e);
                                if (r < 0)
                                        return r;
                                memcpy(q->cbuf + in, in_buf, n);
                                r = pwrite_full(q->fd, q->cbuf, q->cluster_size, h);
                                end = h + q->cluster_size;
                        }
                        if (r < 0)
                                return r; /* the new cluster leaks; nothing points to it */
                        if (end > q->file_end)
                                q->file_end = end;
                        put_be64(&q->l2.slots[s].data[gi % q->l2_entries], h | QCOW2_OFLAG_COPIED);
                        q->l2.slots[s].dirty = true;
                        if (e & (QCOW2_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED)) {
                                r = qcow2_free_entry_later(q, e);
                                if (r < 0)
                                        return r;
                        }
                        if (q->zbuf_entry == e)
                                q->zbuf_entry = 0;
                }
next:
                q->data_dirty = true;
                in_buf += n;
                off += n;
                len -= n;
        }
        r = wrun_flush(q, &w);
        if (r < 0)
                return r;
        return maybe_writeback(q);
}

/* ---- discard, flush, info, close ---- */

static int qcow2_discard(struct disk *d, uint64_t off, uint64_t len)
{
        struct qcow2 *q = to_qcow2(d);
        uint64_t first = (off + q->cluster_size - 1) >> q->cluster_bits;
        uint64_t end = off + len == q->size ? (q->size + q->cluster_size - 1) >> q->cluster_bits
                                            : (off + len) >> q->cluster_bits;
        int r;

        for (uint64_t gi = first; gi < end; gi++) {
                uint64_t e;
                int32_t s;
                r = l2_entry(q, gi, false, &s, &e);
                if (r < 0)
                        return r;
                if (s < 0 && !q->backing)
                        continue; /* already reads as zeros */
                if (e == QCOW2_OFLAG_ZERO || (e & ~QCOW2_OFLAG_COPIED) == QCOW2_OFLAG_ZERO)
                        continue;
                r = l2_entry(q, gi, true, &s, &e);
                if (r < 0)
                        return r;
                /* v3 zero cluster: reads as zeros, hides the backing file */
                put_be64(&q->l2.slots[s].data[gi % q->l2_entries], QCOW2_OFLAG_ZERO);
                q->l2.slots[s].dirty = true;
                if (e & (QCOW2_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED)) {
                        r = qcow2_free_entry_later(q, e);
                        if (r < 0)
                                return r;
                }
                if (q->zbuf_entry == e)
                        q->zbuf_entry = 0;
        }
        return maybe_writeback(q);
}

static int qcow2_flush(struct disk *d)
{
        return qcow2_sync(to_qcow2(d), false);
}

static uint64_t qcow2_get_length(struct disk *d)
{
        return to_qcow2(d)->size;
}

static int qcow2_get_info(struct disk *d, struct disk_info *out)
{
        struct qcow2 *q = to_qcow2(d);
        uint64_t clusters = (q->size + q->cluster_size - 1) >> q->cluster_bits, allocated = 0;
        struct disk_info info = {
                .format = DISK_FORMAT_QCOW2,
                .virtual_size = q->size,
                .cluster_size = (uint32_t)q->cluster_size,
                .version = q->version,
                .backing_file = q->backing_file,
                .backing_path = q->backing_path,
                .backing_format = q->backing_format,
                .backing = q->backing,
                .dirty = q->incompat & QCOW2_INCOMPAT_DIRTY,
                .corrupt = q->incompat & QCOW2_INCOMPAT_CORRUPT,
                .refcount_bits = 1u << q->refcount_order,
                .compression = q->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib",
                .extended_l2 = q->extl2,
                .snapshots = q->nb_snapshots,
        };
        struct stat st;

        for (uint64_t gi = 0; gi < clusters; gi++) {
                uint64_t e;
                int32_t s;
                int r;
                if (gi % q->l2_entries == 0 && (q->l1[gi / q->l2_entries] & QCOW2_OFFSET_MASK) == 0) {
                        gi += q->l2_entries - 1;
                        continue;
                }
                r = l2_entry(q, gi, false, &s, &e);
                if (r < 0)
                        return r;
                if ((e & QCOW2_OFLAG_COMPRESSED) ||
                    ((e & QCOW2_OFFSET_MASK) && !(q->version >= 3 && (e & QCOW2_OFLAG_ZERO))))
                        allocated++;
        }
        info.allocated = allocated << q->cluster_bits;
        if (info.allocated > q->size)
                info.allocated = q->size;
        if (fstat(q->fd, &st) == 0)
                info.disk_size = (uint64_t)st.st_blocks * 512;
        *out = info;
        return 0;
}

static void qcow2_close(struct disk *d)
{
        struct qcow2 *q = to_qcow2(d);
        if (!d->readonly)
                (void)qcow2_sync(q, true);
        qcow2_free(q);
}

const struct disk_ops disk_qcow2_ops = {
        .name = "qcow2",
        .format = DISK_FORMAT_QCOW2,
        .serialize = true,
        .create = qcow2_create,
        .open = qcow2_open,
        .read = qcow2_read,
        .write = qcow2_write,
        .flush = qcow2_flush,
        .discard = qcow2_discard,
        .get_length = qcow2_get_length,
        .block_status = qcow2_block_status,
        .get_info = qcow2_get_info,
        .check = qcow2_check,
        .close = qcow2_close,
};
