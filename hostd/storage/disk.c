/* Format-independent disk API: dispatch through struct disk_ops, locking,
 * error helpers. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "disk.h"

const struct disk_ops *disk_ops_for(enum disk_format format)
{
        switch (format) {
        case DISK_FORMAT_QCOW2:
                return &disk_qcow2_ops;
        case DISK_FORMAT_RAW:
        default:
                return &disk_raw_ops;
        }
}

int disk_format_from_string(const char *s, enum disk_format *out)
{
        if (!s)
                return -EINVAL;
        if (strcmp(s, "raw") == 0) {
                *out = DISK_FORMAT_RAW;
                return 0;
        }
        if (strcmp(s, "qcow2") == 0) {
                *out = DISK_FORMAT_QCOW2;
                return 0;
        }
        return -EINVAL;
}

const char *disk_format_to_string(enum disk_format format)
{
        return format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw";
}

int disk_parse_size(const char *s, uint64_t *out)
{
        uint64_t v = 0, mul = 1;
        const char *p = s;

        if (!s || !isdigit((unsigned char)*p))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                if (__builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
                        return -ERANGE;
        }
        switch (toupper((unsigned char)*p)) {
        case 'K': mul = 1ULL << 10; break;
        case 'M': mul = 1ULL << 20; break;
        case 'G': mul = 1ULL << 30; break;
        case 'T': mul = 1ULL << 40; break;
        case 'P': mul = 1ULL << 50; break;
        case 'B': case '\0': break;
        default: return -EINVAL;
        }
        if (*p) {
                p++;
                if (mul > 1 && (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0 || strcmp(p, "b") == 0))
                        p += strlen(p);
                if (*p)
                        return -EINVAL;
        }
        if (__builtin_mul_overflow(v, mul, &v))
                return -ERANGE;
        *out = v;
        return 0;
}

int disk_errorf(char **err, int code, const char *fmt, ...)
{
        va_list ap;
        char *m = NULL;

        if (err) {
                va_start(ap, fmt);
                if (vasprintf(&m, fmt, ap) < 0)
                        m = NULL;
                va_end(ap);
                free(*err);
                *err = m;
        }
        return code;
}

void disk_set_error(struct disk *d, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->error, sizeof(d->error), fmt, ap);
        va_end(ap);
}

int disk_init(struct disk *d, const struct disk_ops *ops, const char *path, bool readonly)
{
        d->ops = ops;
        d->readonly = readonly;
        d->error[0] = '\0';
        d->path = strdup(path);
        if (!d->path)
                return -ENOMEM;
        pthread_mutex_init(&d->lock, NULL);
        return 0;
}

void disk_fini(struct disk *d)
{
        pthread_mutex_destroy(&d->lock);
        free(d->path);
        d->path = NULL;
}

int pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
        size_t done = 0;
        while (done < len) {
                ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        if (got)
                *got = done;
        else if (done < len)
                memset((char *)buf + done, 0, len - done); /* past EOF reads as zeros */
        return 0;
}

int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
        size_t done = 0;
        while (done < len) {
                ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                done += (size_t)n;
        }
        return 0;
}

int disk_create(const char *path, const struct disk_create_opts *opts, char **err)
{
        return disk_ops_for(opts->format)->create(path, opts, err);
}

int disk_open_depth(const char *path, enum disk_format format, unsigned flags, unsigned depth,
                    struct disk **out, char **err)
{
        if (depth > DISK_MAX_CHAIN)
                return disk_errorf(err, -ELOOP,
                                   "%s: backing chain deeper than %d images (loop?)", path,
                                   DISK_MAX_CHAIN);
        return disk_ops_for(format)->open(path, flags, depth, out, err);
}

int disk_open(const char *path, enum disk_format format, unsigned flags, struct disk **out,
              char **err)
{
        return disk_open_depth(path, format, flags, 0, out, err);
}

#define LOCKED(d, call)                                                                \
        ({                                                                             \
                int _r;                                                                \
                if ((d)->ops->serialize)                                               \
                        pthread_mutex_lock(&(d)->lock);                                \
                _r = (call);                                                           \
                if ((d)->ops->serialize)                                               \
                        pthread_mutex_unlock(&(d)->lock);                              \
                _r;                                                                    \
        })

static bool in_range(const struct disk *d, uint64_t off, uint64_t len)
{
        return range_ok(off, len, d->ops->get_length((struct disk *)d));
}

int disk_read(struct disk *d, void *buf, size_t len, uint64_t offset)
{
        if (!in_range(d, offset, len))
                return -EINVAL;
        if (len == 0)
                return 0;
        return LOCKED(d, d->ops->read(d, buf, len, offset));
}

int disk_write(struct disk *d, const void *buf, size_t len, uint64_t offset)
{
        if (d->readonly)
                return -EROFS;
        if (!in_range(d, offset, len))
                return -EINVAL;
        if (len == 0)
                return 0;
        return LOCKED(d, d->ops->write(d, buf, len, offset));
}

int disk_flush(struct disk *d)
{
        if (d->readonly)
                return 0;
        return LOCKED(d, d->ops->flush(d));
}

int disk_discard(struct disk *d, uint64_t offset, uint64_t len)
{
        if (d->readonly)
                return -EROFS;
        if (!in_range(d, offset, len))
                return -EINVAL;
        if (!d->ops->discard || len == 0)
                return 0;
        return LOCKED(d, d->ops->discard(d, offset, len));
}

uint64_t disk_get_length(const struct disk *d)
{
        return d->ops->get_length((struct disk *)d);
}

int disk_get_info(struct disk *d, struct disk_info *out)
{
        return LOCKED(d, d->ops->get_info(d, out));
}

int disk_block_status(struct disk *d, uint64_t offset, uint64_t len, uint64_t *pnum, bool *data)
{
        enum disk_extent kind = DISK_EXTENT_DATA;
        uint64_t n = len, blen;
        int r;

        if (len == 0 || !in_range(d, offset, len))
                return -EINVAL;
        if (d->ops->block_status) {
                r = LOCKED(d, d->ops->block_status(d, offset, len, &n, &kind));
                if (r < 0)
                        return r;
                if (n == 0 || n > len)
                        return -EIO;
        }
        if (kind != DISK_EXTENT_BACKING) {
                *pnum = n;
                *data = kind == DISK_EXTENT_DATA;
                return 0;
        }
        blen = d->backing ? disk_get_length(d->backing) : 0;
        if (offset >= blen) {
                *pnum = n;
                *data = false;
                return 0;
        }
        if (n > blen - offset)
                n = blen - offset;
        return disk_block_status(d->backing, offset, n, pnum, data);
}

int disk_check(struct disk *d, struct disk_check_result *res, FILE *report, char **err)
{
        if (!d->ops->check) {
                memset(res, 0, sizeof(*res));
                return 0;
        }
        return LOCKED(d, d->ops->check(d, res, report, err));
}

void disk_last_error(struct disk *d, char *buf, size_t size)
{
        pthread_mutex_lock(&d->lock);
        snprintf(buf, size, "%s", d->error);
        pthread_mutex_unlock(&d->lock);
}

int disk_rename(struct disk *d, const char *newpath)
{
        char *p = strdup(newpath);

        if (!p)
                return -ENOMEM;
        if (rename(d->path, newpath) < 0) {
                int r = -errno;
                free(p);
                return r;
        }
        free(d->path);
        d->path = p;
        return 0;
}

void disk_close(struct disk *d)
{
        if (d)
                d->ops->close(d);
}
