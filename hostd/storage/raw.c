/* raw backend: the file (or block device) is the disk, byte for byte.
 * pread/pwrite are thread-safe, so requests are not serialised. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "macro.h"

struct raw {
        struct disk disk;
        int fd;
        uint64_t size;
};

static struct raw *to_raw(struct disk *d)
{
        return (struct raw *)d;
}

static int raw_create(const char *path, const struct disk_create_opts *o, char **err)
{
        _cleanup_close_ int fd = -1;

        if (o->backing_file)
                return disk_errorf(err, -EINVAL, "%s: raw images cannot have a backing file",
                                   path);
        if (o->size > (uint64_t)INT64_MAX)
                return disk_errorf(err, -EFBIG, "%s: size %llu is too large", path,
                                   (unsigned long long)o->size);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return disk_errorf(err, -errno, "%s: cannot create: %s", path, strerror(errno));
        if (ftruncate(fd, (off_t)o->size) < 0)
                return disk_errorf(err, -errno, "%s: cannot set size: %s", path,
                                   strerror(errno));
        if (!o->no_sync && fsync(fd) < 0)
                return disk_errorf(err, -errno, "%s: fsync: %s", path, strerror(errno));
        return 0;
}

static int raw_open(const char *path, unsigned flags, unsigned depth, struct disk **out,
                    char **err)
{
        bool ro = flags & DISK_OPEN_READONLY;
        _cleanup_close_ int fd = -1;
        struct raw *r;
        struct stat st;
        off_t end;
        int ret;

        /* O_NONBLOCK: a FIFO named as a backing file must not hang us. */
        fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return disk_errorf(err, -errno, "%s: cannot open: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return disk_errorf(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return disk_errorf(err, -EINVAL, "%s: not a regular file or block device", path);
        end = lseek(fd, 0, SEEK_END); /* works for block devices too */
        if (end < 0)
                return disk_errorf(err, -errno, "%s: cannot get size: %s", path,
                                   strerror(errno));
        r = calloc(1, sizeof(*r));
        if (!r)
                return disk_errorf(err, -ENOMEM, "%s: out of memory", path);
        ret = disk_init(&r->disk, &disk_raw_ops, path, ro);
        if (ret < 0) {
                free(r);
                return disk_errorf(err, ret, "%s: out of memory", path);
        }
        r->fd = TAKE_FD(fd);
        r->size = (uint64_t)end;
        *out = &r->disk;
        return 0;
}

static int raw_read(struct disk *d, void *buf, size_t len, uint64_t off)
{
        return pread_full(to_raw(d)->fd, buf, len, off, NULL);
}

static int raw_write(struct disk *d, const void *buf, size_t len, uint64_t off)
{
        return pwrite_full(to_raw(d)->fd, buf, len, off);
}

static int raw_flush(struct disk *d)
{
        return fdatasync(to_raw(d)->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct disk *d, uint64_t off, uint64_t len)
{
        /* Best effort: a file system without hole punching keeps the data. */
        if (fallocate(to_raw(d)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                      (off_t)len) < 0 &&
            errno != EOPNOTSUPP)
                return -errno;
        return 0;
}

static uint64_t raw_get_length(struct disk *d)
{
        return to_raw(d)->size;
}

/* Holes of the file are zeros; SEEK_DATA/SEEK_HOLE find them without
 * reading. File systems (and block devices) without them: all data. */
static int raw_block_status(struct disk *d, uint64_t off, uint64_t len, uint64_t *pnum,
                            enum disk_extent *out)
{
        int fd = to_raw(d)->fd;
        off_t data = lseek(fd, (off_t)off, SEEK_DATA), hole;

        if (data < 0 && errno == ENXIO) {
                *pnum = len; /* only holes up to the end of the file */
                *out = DISK_EXTENT_ZERO;
                return 0;
        }
        if (data < 0) {
                *pnum = len;
                *out = DISK_EXTENT_DATA;
                return 0;
        }
        if ((uint64_t)data > off) {
                *pnum = (uint64_t)data - off < len ? (uint64_t)data - off : len;
                *out = DISK_EXTENT_ZERO;
                return 0;
        }
        hole = lseek(fd, (off_t)off, SEEK_HOLE);
        if (hole < 0 || (uint64_t)hole <= off || (uint64_t)hole - off > len)
                *pnum = len;
        else
                *pnum = (uint64_t)hole - off;
        *out = DISK_EXTENT_DATA;
        return 0;
}

static int raw_get_info(struct disk *d, struct disk_info *out)
{
        struct raw *r = to_raw(d);
        struct stat st;

        memset(out, 0, sizeof(*out));
        out->format = DISK_FORMAT_RAW;
        out->virtual_size = r->size;
        out->allocated = r->size;
        if (fstat(r->fd, &st) == 0)
                out->disk_size = (uint64_t)st.st_blocks * 512;
        return 0;
}

static void raw_close(struct disk *d)
{
        struct raw *r = to_raw(d);
        if (!d->readonly)
                (void)fdatasync(r->fd);
        close(r->fd);
        disk_fini(d);
        free(r);
}

const struct disk_ops disk_raw_ops = {
        .name = "raw",
        .format = DISK_FORMAT_RAW,
        .serialize = false,
        .create = raw_create,
        .open = raw_open,
        .read = raw_read,
        .write = raw_write,
        .flush = raw_flush,
        .discard = raw_discard,
        .get_length = raw_get_length,
        .block_status = raw_block_status,
        .get_info = raw_get_info,
        .check = NULL,
        .close = raw_close,
};
