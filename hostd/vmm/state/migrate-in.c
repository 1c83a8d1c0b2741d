/* Live migration, the target's side: a stream into a snapshot directory
 * (MIGRATION.md). */
#include "config.h"

#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"
#include "migio.h"
#include "ram.h"
#include "state.h"

/* A snapshot directory's files (snapshot.c). */
#define STATE_FILE "state"
#define RAM_FILE "ram"

struct mig_dst {
        int dirfd;
        uint8_t *ram;
        uint64_t ram_bytes;
        uint8_t *state;
        size_t state_len;
};

/* dir/ram: a sparse file as large as the RAM, mapped shared. */
static int open_ram(struct mig_dst *d, struct vm_err *err)
{
        _cleanup_close_ int fd = openat(d->dirfd, RAM_FILE, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        void *p;

        if (fd < 0)
                return vm_err_set(err, -errno, "cannot create the incoming RAM file: %m");
        if (ftruncate(fd, (off_t)d->ram_bytes) < 0)
                return vm_err_set(err, -errno, "cannot size the incoming RAM file: %m");
        p = mmap(NULL, d->ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return vm_err_set(err, -errno, "cannot map the incoming RAM file: %m");
        d->ram = p;
        return 0;
}

/* The state as received, its "ram" section marked RAM_UNSUMMED: every
 * page came in a CRC-checked frame, and summing RAM here and again in the
 * restore would only lengthen the downtime. */
static int write_state(struct mig_dst *d, struct vm_err *err)
{
        struct state_file f;
        struct state_writer w;
        struct ram_sum sum = { .size = d->ram_bytes, .pages = RAM_UNSUMMED };
        _cleanup_free_ uint8_t *out = NULL;
        size_t len;
        int r = state_file_parse(d->state, d->state_len, &f, err);

        if (r < 0)
                return r;
        state_writer_init(&w);
        for (unsigned i = 0; i < f.nsec; i++) {
                state_begin(&w, f.sec[i].name);
                if (strcmp(f.sec[i].name, "ram") == 0) {
                        state_put_u64(&w, sum.size);
                        state_put_u64(&w, sum.pages);
                        state_put_u32(&w, sum.crc);
                } else {
                        state_put_bytes(&w, f.sec[i].data, f.sec[i].len);
                }
                state_end(&w);
        }
        state_file_free(&f);
        r = state_writer_finish(&w, &out, &len);
        state_writer_free(&w);
        if (r < 0)
                return vm_err_set(err, r, "cannot build the incoming state: %s", strerror(-r));
        _cleanup_close_ int fd = openat(d->dirfd, STATE_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, out, len) != (ssize_t)len)
                return vm_err_set(err, -EIO, "cannot write the incoming state file: %m");
        return 0;
}

/* Frames until END. */
static int receive_frames(struct mig_dst *d, int fd, unsigned timeout_s, struct vm_err *err)
{
        for (;;) {
                struct mig_frame f;
                _cleanup_free_ uint8_t *p = NULL;
                int r = mig_recv_frame(fd, timeout_s, &f, &p, err);

                if (r < 0)
                        return r;
                if (f.type == MIG_PAGES && !d->state) {
                        r = mig_pages_apply(p, f.len, d->ram, d->ram_bytes, err);
                } else if (f.type == MIG_STATE && !d->state && f.len) {
                        d->state = TAKE_PTR(p);
                        d->state_len = f.len;
                } else if (f.type == MIG_END && d->state) {
                        return 0;
                } else {
                        r = vm_err_set(err, -EPROTO, "unexpected migration frame of type %u%s", f.type,
                                       d->state ? " after the state" : "");
                }
                if (r < 0)
                        return r;
        }
}

int vm_migrate_receive(int fd, const char *dir, unsigned timeout_s, struct vm_err *err)
{
        struct mig_dst d = { .dirfd = -1 };
        uint8_t h[MIG_HEADER_SIZE];
        int r = mig_recv_all(fd, h, sizeof(h), timeout_s);

        if (r < 0) {
                vm_err_set(err, r, "no migration stream: %s", mig_io_strerror(r));
                goto out;
        }
        r = mig_header_parse(h, &d.ram_bytes, err);
        if (r < 0)
                goto out;
        d.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d.dirfd < 0) {
                r = vm_err_set(err, -errno, "%s: %m", dir);
                goto out;
        }
        r = open_ram(&d, err);
        if (r == 0)
                r = receive_frames(&d, fd, timeout_s, err);
        if (r == 0)
                r = write_state(&d, err);
out:
        if (d.ram)
                munmap(d.ram, d.ram_bytes);
        free(d.state);
        if (d.dirfd >= 0)
                close(d.dirfd);
        if (r < 0)
                vm_migrate_cleanup(dir);
        return r;
}

int vm_migrate_reply(int fd, const char *msg)
{
        size_t len = msg ? strnlen(msg, MIG_MAX_REPLY) : 0;
        int r = mig_send_frame(fd, msg ? MIG_ERROR : MIG_READY, msg, len, NULL, 0);

        if (r == 0 && msg)
                mig_linger(fd, 2);
        return r;
}

void vm_migrate_cleanup(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd >= 0) {
                unlinkat(fd, STATE_FILE, 0);
                unlinkat(fd, RAM_FILE, 0);
                close(fd);
        }
        rmdir(dir);
}
