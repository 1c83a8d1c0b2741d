/* qcow2 image creation: version 3, 16-bit refcounts, optional backing file
 * recorded with the backing-format header extension. Layout:
 *   cluster 0: header, extensions, backing file name
 *   refcount table, refcount block(s), L1 table (zeros) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "macro.h"
#include "qcow2.h"

static char *resolve_relative(const char *image, const char *name)
{
        _cleanup_free_ char *copy = NULL;
        char *out;

        if (name[0] == '/' || !strchr(image, '/'))
                return strdup(name);
        copy = strdup(image);
        if (!copy || asprintf(&out, "%s/%s", dirname(copy), name) < 0)
                return NULL;
        return out;
}

int qcow2_create(const char *path, const struct disk_create_opts *o, char **err)
{
        uint64_t cs = o->cluster_size ? o->cluster_size : 65536, size = o->size;
        uint64_t cb, l1_entries, l1c, rtc = 1, rbc = 1, n, rbe, per_l1, meta_bytes;
        const char *fmt = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -1;
        size_t name_len = 0, hdr_end;
        int r;

        if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)))
                return disk_errorf(err, -EINVAL,
                                   "%s: cluster size %llu must be a power of two between 512 and 2M",
                                   path, (unsigned long long)cs);
        cb = (uint64_t)__builtin_ctzll(cs);

        if (o->backing_file) {
                _cleanup_free_ char *bpath = NULL, *suberr = NULL;
                struct disk *b = NULL;

                name_len = strlen(o->backing_file);
                if (name_len == 0 || name_len > QCOW2_MAX_BACKING_NAME)
                        return disk_errorf(err, -EINVAL, "%s: backing file name must be 1..%d bytes",
                                           path, QCOW2_MAX_BACKING_NAME);
                fmt = disk_format_to_string(o->backing_format);
                bpath = resolve_relative(path, o->backing_file);
                if (!bpath)
                        return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
                /* Like qemu-img: the backing file must open in its format. */
                r = disk_open_depth(bpath, o->backing_format, DISK_OPEN_READONLY, 1, &b, &suberr);
                if (r < 0)
                        return disk_errorf(err, r, "%s: cannot open backing file: %s", path,
                                           suberr ? suberr : strerror(-r));
                if (size == 0)
                        size = (disk_get_length(b) + 511) & ~511ULL;
                disk_close(b);
        }
        if (size % 512)
                return disk_errorf(err, -EINVAL, "%s: size %llu is not a multiple of 512 bytes",
                                   path, (unsigned long long)size);
        if (size > QCOW2_MAX_SIZE)
                return disk_errorf(err, -EFBIG, "%s: size %llu is too large (maximum %llu)", path,
                                   (unsigned long long)size, (unsigned long long)QCOW2_MAX_SIZE);

        per_l1 = cs * (cs / 8);
        l1_entries = size / per_l1 + (size % per_l1 != 0);
        if (l1_entries * 8 > QCOW2_MAX_L1_BYTES)
                return disk_errorf(err, -EFBIG,
                                   "%s: size %llu needs an L1 table over 32 MiB; use a larger cluster size",
                                   path, (unsigned long long)size);
        l1c = (l1_entries * 8 + cs - 1) / cs;
        if (l1c == 0)
                l1c = 1;
        rbe = cs / 2; /* 16-bit refcounts */
        for (;;) {
                uint64_t nrbc, nrtc;
                n = 1 + rtc + rbc + l1c;
                nrbc = (n + rbe - 1) / rbe;
                nrtc = (nrbc * 8 + cs - 1) / cs;
                if (nrbc == rbc && nrtc == rtc)
                        break;
                rbc = nrbc;
                rtc = nrtc;
        }

        /* Header cluster: fields, backing-format extension, end marker, name. */
        hdr_end = 112 + (fmt ? 8 + ((strlen(fmt) + 7) & ~7UL) : 0) + 8;
        if (hdr_end + name_len > cs)
                return disk_errorf(err, -EINVAL,
                                   "%s: backing file name does not fit in a %llu-byte cluster", path,
                                   (unsigned long long)cs);
        meta_bytes = (1 + rtc + rbc) * cs; /* header + refcount table + blocks */
        buf = calloc(1, meta_bytes);
        if (!buf)
                return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
        put_be32(buf + 0, QCOW2_MAGIC);
        put_be32(buf + 4, 3);
        put_be64(buf + 8, name_len ? hdr_end : 0);
        put_be32(buf + 16, (uint32_t)name_len);
        put_be32(buf + 20, (uint32_t)cb);
        put_be64(buf + 24, size);
        put_be32(buf + 32, 0);                          /* no encryption */
        put_be32(buf + 36, (uint32_t)l1_entries);
        put_be64(buf + 40, (1 + rtc + rbc) * cs);       /* L1 */
        put_be64(buf + 48, cs);                         /* refcount table */
        put_be32(buf + 56, (uint32_t)rtc);
        put_be32(buf + 60, 0);                          /* no snapshots */
        put_be64(buf + 64, 0);
        put_be64(buf + 72, 0);                          /* incompatible: none, never dirty */
        put_be64(buf + 80, 0);                          /* compatible: lazy refcounts off */
        put_be64(buf + 88, 0);                          /* autoclear */
        put_be32(buf + 96, 4);                          /* refcount_order: 16-bit */
        put_be32(buf + 100, 112);                       /* header_length */
        buf[104] = 0;                                   /* compression type zlib */
        if (fmt) {
                put_be32(buf + 112, QCOW2_EXT_BACKING_FORMAT);
                put_be32(buf + 116, (uint32_t)strlen(fmt));
                memcpy(buf + 120, fmt, strlen(fmt));
        }
        /* end-of-extensions marker: already zero at hdr_end - 8 */
        if (name_len)
                memcpy(buf + hdr_end, o->backing_file, name_len);

        for (uint64_t i = 0; i < rbc; i++)
                put_be64(buf + cs + 8 * i, (1 + rtc + i) * cs);
        for (uint64_t c = 0; c < n; c++)
                put_be16(buf + (1 + rtc) * cs + 2 * c, 1);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return disk_errorf(err, -errno, "%s: cannot create: %s", path, strerror(errno));
        r = pwrite_full(fd, buf, meta_bytes, 0);
        if (r == 0 && ftruncate(fd, (off_t)(n * cs)) < 0)
                r = -errno;
        if (r == 0 && !o->no_sync && fdatasync(fd) < 0)
                r = -errno;
        if (r < 0) {
                unlink(path);
                return disk_errorf(err, r, "%s: cannot write: %s", path, strerror(-r));
        }
        return 0;
}
