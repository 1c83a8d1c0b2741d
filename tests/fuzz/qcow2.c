/* libFuzzer target: qcow2 header/table parsing (zlib and zstd compressed
 * clusters, extended L2 entries, internal snapshots for the check), the
 * read path, the block-status walk convert uses, the check and (on a
 * private copy) one allocating write. The input is the image. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const char *path, unsigned flags)
{
        struct disk_check_result res;
        struct disk *d = NULL;
        char *err = NULL;
        static uint8_t buf[3 * 65536 + 17];
        uint64_t len;

        if (disk_open(path, DISK_FORMAT_QCOW2, flags, &d, &err) < 0) {
                free(err);
                return;
        }
        len = disk_get_length(d);
        for (int i = 0; i < 4 && len; i++) {
                uint64_t off = i == 0 ? 0 : i == 1 ? len / 2 : i == 2 ? len - 1 : len / 3 + 511;
                size_t n = sizeof(buf);
                if (off >= len)
                        continue;
                if (len - off < n)
                        n = (size_t)(len - off);
                (void)disk_read(d, buf, n, off);
        }
        /* The allocation walk of vdi-img convert; each step must advance. */
        for (uint64_t off = 0, steps = 0; off < len && steps < 256; steps++) {
                uint64_t pnum = 0;
                bool data;
                if (disk_block_status(d, off, len - off, &pnum, &data) < 0)
                        break;
                if (pnum == 0 || pnum > len - off)
                        abort();
                if (data) {
                        size_t n = pnum < sizeof(buf) ? (size_t)pnum : sizeof(buf);
                        (void)disk_read(d, buf, n, off);
                }
                off += pnum;
        }
        if (!(flags & DISK_OPEN_READONLY) && len) {
                (void)disk_write(d, buf, len < 70000 ? (size_t)len : 70000, len / 4);
                (void)disk_discard(d, 0, len);
                (void)disk_flush(d);
        }
        if (disk_check(d, &res, NULL, &err) < 0)
                free(err);
        disk_close(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char path[64];
        int fd = memfd_create("qcow2-fuzz", MFD_CLOEXEC);

        if (fd < 0)
                return 0;
        if (write(fd, data, size) != (ssize_t)size) {
                close(fd);
                return 0;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        exercise(path, DISK_OPEN_READONLY);
        exercise(path, 0);
        close(fd);
        return 0;
}
