/* Small file helpers for the state directory: atomic JSON files, image
 * copies, recursive removal. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "macro.h"

int hostd_write_json(const char *path, json_t *v, char **error)
{
        g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
        g_autofree char *text = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
        _cleanup_close_ int fd = -1;
        size_t len;

        if (!text) {
                *error = g_strdup_printf("%s: out of memory", path);
                return -ENOMEM;
        }
        len = strlen(text);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                goto fail;
        /* Write, flush, rename: a crash leaves the old or the new file. */
        if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0)
                goto fail;
        if (rename(tmp, path) < 0)
                goto fail;
        return 0;
fail:;
        int r = -errno;
        *error = g_strdup_printf("%s: %s", path, strerror(errno));
        unlink(tmp);
        return r;
}

json_t *hostd_read_json(const char *path, char **error)
{
        json_error_t jerr;
        json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

        if (!v) {
                *error = g_strdup_printf("%s: %s", path, jerr.text);
                return NULL;
        }
        if (!json_is_object(v)) {
                json_decref(v);
                *error = g_strdup_printf("%s: not a JSON object", path);
                return NULL;
        }
        return v;
}

int hostd_copy_file(const char *src, const char *dst, char **error)
{
        _cleanup_close_ int in = -1, out = -1;
        struct stat st;
        int r;

        in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0 || fstat(in, &st) < 0)
                goto fail_src;
        if (!S_ISREG(st.st_mode)) {
                *error = g_strdup_printf("%s: not a regular file", src);
                return -EINVAL;
        }
        out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0)
                goto fail_dst;
        /* A reflink costs nothing on btrfs/XFS; else copy in the kernel. */
        if (ioctl(out, FICLONE, in) < 0) {
                off_t left = st.st_size;
                while (left > 0) {
                        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
                        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
                                /* Fall back to read/write. */
                                char buf[1 << 16];
                                n = read(in, buf, sizeof(buf));
                                if (n > 0 && write(out, buf, (size_t)n) != n)
                                        goto fail_dst;
                        }
                        if (n < 0)
                                goto fail_dst;
                        if (n == 0)
                                break;
                        left -= n;
                }
        }
        if (fsync(out) < 0 || fchmod(out, 0444) < 0)
                goto fail_dst;
        return 0;
fail_src:
        r = -errno;
        *error = g_strdup_printf("%s: %s", src, strerror(errno));
        return r;
fail_dst:
        r = -errno;
        *error = g_strdup_printf("cannot copy %s to %s: %s", src, dst, strerror(errno));
        return r;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        if (flag == FTW_DP)
                return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
        return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int hostd_open_dir(const char *dir, GDir **out, char **error)
{
        g_autoptr(GError) gerr = NULL;
        GDir *d;

        if (g_mkdir_with_parents(dir, 0700) < 0) {
                int r = -errno;
                *error = g_strdup_printf("%s: %s", dir, g_strerror(errno));
                return r;
        }
        d = g_dir_open(dir, 0, &gerr);
        if (!d) {
                *error = g_strdup_printf("%s: %s", dir, gerr->message);
                return -EIO;
        }
        *out = d;
        return 0;
}

int hostd_rm_rf(const char *path)
{
        if (access(path, F_OK) < 0)
                return errno == ENOENT ? 0 : -errno;
        return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}
