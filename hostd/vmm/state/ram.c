#include "config.h"

#include "ram.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "state.h"

static bool page_zero(const uint8_t *p)
{
        const uint64_t *w = (const uint64_t *)p;

        for (size_t i = 0; i < RAM_PAGE / 8; i++)
                if (w[i])
                        return false;
        return true;
}

static uint32_t page_crc(uint32_t crc, uint64_t index, const uint8_t *p)
{
        uint8_t le[8];

        for (int i = 0; i < 8; i++)
                le[i] = (uint8_t)(index >> (8 * i));
        crc = state_crc(crc, le, sizeof(le));
        return state_crc(crc, p, RAM_PAGE);
}

static int write_all(int fd, const uint8_t *p, size_t n, off_t off)
{
        while (n) {
                ssize_t w = pwrite(fd, p, n, off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return w < 0 ? -errno : -EIO;
                p += w;
                n -= (size_t)w;
                off += w;
        }
        return 0;
}

int ram_save(const uint8_t *host, uint64_t size, int dirfd, const char *name, struct ram_sum *sum,
             struct vm_err *err)
{
        _cleanup_close_ int fd = -1;
        struct ram_sum s = { .size = size };
        uint64_t npages = size / RAM_PAGE, run = 0;
        int r;

        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return vm_err_set(err, -errno, "cannot create the RAM file %s: %m", name);
        if (ftruncate(fd, (off_t)size) < 0)
                return vm_err_set(err, -errno, "cannot size the RAM file to %llu MiB: %m",
                                  (unsigned long long)(size >> 20));
        /* Runs of non-zero pages go out in one write each. */
        for (uint64_t i = 0; i <= npages; i++) {
                bool data = i < npages && !page_zero(host + i * RAM_PAGE);
                if (data) {
                        s.crc = page_crc(s.crc, i, host + i * RAM_PAGE);
                        s.pages++;
                        run++;
                        continue;
                }
                if (run) {
                        uint64_t first = i - run;
                        r = write_all(fd, host + first * RAM_PAGE, run * RAM_PAGE, (off_t)(first * RAM_PAGE));
                        if (r < 0)
                                return vm_err_set(err, r, "cannot write the RAM file: %s", strerror(-r));
                        run = 0;
                }
        }
        if (fsync(fd) < 0)
                return vm_err_set(err, -errno, "cannot write the RAM file: fsync: %m");
        *sum = s;
        return 0;
}

int ram_map(int dirfd, const char *name, const struct ram_sum *want, uint8_t **host, int *fdp, struct vm_err *err)
{
        _cleanup_close_ int fd = -1;
        struct ram_sum got = { .size = want->size };
        struct stat st;
        uint8_t *p;
        off_t pos = 0;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return vm_err_set(err, -errno, "snapshot RAM file %s: %m", name);
        if (fstat(fd, &st) < 0)
                return vm_err_set(err, -errno, "snapshot RAM file %s: %m", name);
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != want->size)
                return vm_err_set(err, -EINVAL, "snapshot RAM file %s is %lld bytes, the snapshot says %llu",
                                  name, (long long)st.st_size, (unsigned long long)want->size);
        if (want->size == 0 || want->size % RAM_PAGE || want->size > (uint64_t)SIZE_MAX)
                return vm_err_set(err, -EINVAL, "snapshot RAM size %llu is invalid",
                                  (unsigned long long)want->size);
        p = mmap(NULL, want->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
        if (p == MAP_FAILED)
                return vm_err_set(err, -errno, "cannot map the snapshot RAM file %s: %m", name);
        /* Only the file's data extents can hold non-zero pages: holes are
         * skipped (a file system without SEEK_DATA reports it all as data). */
        while (want->pages != RAM_UNSUMMED && (uint64_t)pos < want->size) {
                off_t data = lseek(fd, pos, SEEK_DATA), hole;
                if (data < 0)
                        break; /* ENXIO: no data after pos */
                hole = lseek(fd, data, SEEK_HOLE);
                if (hole < 0 || (uint64_t)hole > want->size)
                        hole = (off_t)want->size;
                for (uint64_t i = (uint64_t)data / RAM_PAGE; i < ((uint64_t)hole + RAM_PAGE - 1) / RAM_PAGE; i++) {
                        if (page_zero(p + i * RAM_PAGE))
                                continue;
                        got.crc = page_crc(got.crc, i, p + i * RAM_PAGE);
                        got.pages++;
                }
                pos = hole;
        }
        if (want->pages != RAM_UNSUMMED && (got.pages != want->pages || got.crc != want->crc)) {
                munmap(p, want->size);
                return vm_err_set(err, -EBADMSG,
                                  "snapshot RAM file %s is corrupt: %llu non-zero pages with checksum %08x, the snapshot recorded %llu with %08x",
                                  name, (unsigned long long)got.pages, got.crc, (unsigned long long)want->pages,
                                  want->crc);
        }
        *host = p;
        *fdp = TAKE_FD(fd);
        return 0;
}
