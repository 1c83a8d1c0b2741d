/* libFuzzer target: qcow2 header/table parsing, the read path, the check
 * and (on a private copy) one allocating write. The input is the image. */
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
