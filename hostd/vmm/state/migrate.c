/* Live migration, the source's side: pre-copy rounds and stop-and-copy
 * (MIGRATION.md). */
#include "config.h"

#include "migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include "alloc.h"
#include "machine.h"
#include "migio.h"
#include "ram.h"
#include "snapshot.h"
#include "state.h"

static double now_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- source ---- */

struct mig_src {
        struct vm *vm;
        int fd;
        uint64_t npages, words;
        uint64_t *dirty;        /* pages to send next */
        uint8_t *buf;           /* one run, copied before its CRC */
        struct vm_migrate_info info;
};

static bool page_is_zero(const uint8_t *p)
{
        static const uint8_t zero[MIG_PAGE];

        return memcmp(p, zero, MIG_PAGE) == 0;
}

static bool want(const struct mig_src *s, uint64_t pg)
{
        return !s->dirty || (s->dirty[pg / 64] >> (pg % 64)) & 1;
}

/* Send one run of n pages from first, all zero or all data. The pages
 * are copied first: a running guest may change them while they are sent. */
static int send_run(struct mig_src *s, uint64_t first, uint32_t n, bool zero)
{
        uint8_t head[16];

        mig_pages_head(head, first, n, zero);
        if (zero) {
                s->info.zero_pages += n;
                s->info.bytes += MIG_FRAME_HEADER_SIZE + sizeof(head);
                return mig_send_frame(s->fd, MIG_PAGES, head, sizeof(head), NULL, 0);
        }
        memcpy(s->buf, s->vm->mem.host + first * MIG_PAGE, (size_t)n * MIG_PAGE);
        s->info.pages += n;
        s->info.bytes += MIG_FRAME_HEADER_SIZE + sizeof(head) + (uint64_t)n * MIG_PAGE;
        return mig_send_frame(s->fd, MIG_PAGES, head, sizeof(head), s->buf, (size_t)n * MIG_PAGE);
}

/* Send the wanted pages (all with dirty NULL) in runs. The first round
 * skips zero pages: the target's RAM starts zeroed. */
static int send_pages(struct mig_src *s, bool send_zero, uint64_t *sent)
{
        uint64_t first = 0, n = 0;
        bool zero = false;
        int r = 0;

        *sent = 0;
        for (uint64_t pg = 0; pg <= s->npages && r == 0; pg++) {
                bool w = pg < s->npages && want(s, pg);
                bool z = w && page_is_zero(s->vm->mem.host + pg * MIG_PAGE);
                if (w && z && !send_zero)
                        w = false;
                if (n && (!w || z != zero || pg != first + n || n == MIG_MAX_RUN)) {
                        r = send_run(s, first, (uint32_t)n, zero);
                        *sent += n;
                        n = 0;
                }
                if (w) {
                        if (!n) {
                                first = pg;
                                zero = z;
                        }
                        n++;
                }
        }
        return r;
}

static uint64_t count_bits(const uint64_t *b, uint64_t words)
{
        uint64_t n = 0;

        for (uint64_t i = 0; i < words; i++)
                n += (uint64_t)__builtin_popcountll(b[i]);
        return n;
}

/* Rounds while the guest runs, until what is dirty fits the budget at the
 * last round's rate; s->dirty holds what is left. */
static int precopy(struct mig_src *s, const struct vm_migrate_opts *o, struct vm_err *err)
{
        double budget = o && o->downtime_ms > 0 ? o->downtime_ms : 300;
        unsigned max = o && o->max_rounds ? o->max_rounds : 30;
        double t0 = now_ms(), rate; /* bytes per ms */
        uint64_t sent, bytes0 = s->info.bytes, *all = s->dirty;
        int r;

        s->dirty = NULL; /* first round: every page */
        r = send_pages(s, false, &sent);
        s->dirty = all;
        for (s->info.rounds = 1;; s->info.rounds++) {
                if (r < 0)
                        return vm_err_set(err, r, "cannot send to the migration target: %s", mig_io_strerror(r));
                rate = (double)(s->info.bytes - bytes0) / (now_ms() - t0 + 0.001);
                s->info.rate_mib_s = rate * 1e3 / (1 << 20);
                memset(s->dirty, 0, s->words * 8);
                r = guest_mem_dirty_get(&s->vm->mem, s->vm->vm_fd, s->dirty, err);
                if (r < 0)
                        return r;
                if ((double)count_bits(s->dirty, s->words) * MIG_PAGE <= budget * rate || s->info.rounds >= max)
                        return 0;
                t0 = now_ms();
                bytes0 = s->info.bytes;
                r = send_pages(s, true, &sent);
        }
}

/* The target's answer: 0 for READY, else -errno with err. */
static int await_ready(struct mig_src *s, unsigned timeout_s, struct vm_err *err)
{
        struct mig_frame f;
        _cleanup_free_ uint8_t *p = NULL;
        struct vm_err e2;
        int r = mig_recv_frame(s->fd, timeout_s, &f, &p, &e2);

        if (r < 0)
                return vm_err_set(err, r, "no answer from the migration target: %s", e2.msg);
        if (f.type == MIG_READY)
                return 0;
        if (f.type == MIG_ERROR)
                return vm_err_set(err, -EREMOTEIO, "the migration target refused the VM: %.*s", (int)f.len,
                                  (const char *)p);
        return vm_err_set(err, -EPROTO, "the migration target answered with frame type %u", f.type);
}

/* With the vCPUs paused and the devices frozen: the last pages, the
 * state, END; then the target's answer. */
static int stop_and_copy(struct mig_src *s, unsigned timeout_s, struct vm_err *err)
{
        struct ram_sum ram = { .size = s->vm->mem.size }; /* the target sums what it got */
        _cleanup_free_ uint8_t *state = NULL;
        size_t len;
        int r = guest_mem_dirty_get(&s->vm->mem, s->vm->vm_fd, s->dirty, err);

        if (r < 0)
                return r;
        r = send_pages(s, true, &s->info.final_pages);
        if (r == 0) {
                r = snapshot_state_build(s->vm, &ram, &state, &len, err);
                if (r < 0)
                        return r;
                s->info.bytes += 2 * MIG_FRAME_HEADER_SIZE + len;
                r = mig_send_frame(s->fd, MIG_STATE, state, len, NULL, 0);
        }
        if (r == 0)
                r = mig_send_frame(s->fd, MIG_END, NULL, 0, NULL, 0);
        if (r < 0)
                return vm_err_set(err, r, "cannot send to the migration target: %s", mig_io_strerror(r));
        return await_ready(s, timeout_s, err);
}

static int migrate_locked(struct mig_src *s, const struct vm_migrate_opts *o, struct vm_err *err)
{
        struct vm *vm = s->vm;
        uint8_t h[MIG_HEADER_SIZE];
        struct iovec iov = { h, sizeof(h) };
        double t0;
        int r;

        mig_header_build(h, vm->mem.size);
        r = mig_send_iov(s->fd, &iov, 1);
        if (r < 0)
                return vm_err_set(err, r, "cannot send to the migration target: %s", mig_io_strerror(r));
        r = guest_mem_dirty_log(&vm->mem, vm->vm_fd, true, err);
        if (r < 0)
                return r;
        /* Chains the devices took before the log began are written
         * through lookups it did not see: let them finish first. */
        s->info.unsettled = !snapshot_settle_devices(vm, 2000);
        r = precopy(s, o, err);
        if (r == 0 && (r = vcpu_pause_all(vm)) < 0)
                vm_err_set(err, r, "the VM stopped while being paused for the migration");
        if (r < 0) {
                guest_mem_dirty_log(&vm->mem, vm->vm_fd, false, NULL);
                return r;
        }
        t0 = now_ms();
        snapshot_freeze_devices(vm, true);
        r = stop_and_copy(s, o && o->reply_timeout_s ? o->reply_timeout_s : 120, err);
        s->info.paused_ms = now_ms() - t0;
        if (r == 0)
                vm_request_stop(vm); /* the vCPUs leave without running again */
        else
                guest_mem_dirty_log(&vm->mem, vm->vm_fd, false, NULL);
        snapshot_freeze_devices(vm, false);
        vcpu_resume_all(vm);
        return r;
}

int vm_migrate_send(struct vm *vm, int fd, const struct vm_migrate_opts *o, struct vm_migrate_info *info,
                    struct vm_err *err)
{
        struct mig_src s = { .vm = vm, .fd = fd };
        struct timeval send_timeout = { .tv_sec = 30 };
        double t0 = now_ms();
        int r;

        /* A link that goes silent must not hold the guest (paused, at
         * the end) for ever: a send that waits this long fails. */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout)) < 0)
                return vm_err_set(err, -errno, "migration socket: SO_SNDTIMEO: %m");
        s.npages = vm->mem.size / MIG_PAGE;
        s.words = (s.npages + 63) / 64;
        s.dirty = calloc(s.words, sizeof(uint64_t));
        s.buf = malloc((size_t)MIG_MAX_RUN * MIG_PAGE);
        if (!s.dirty || !s.buf) {
                r = vm_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        pthread_mutex_lock(&vm->machine_lock);
        if (vm->vm_fd < 0 || !vm->machine_running)
                r = vm_err_set(err, -ESRCH, "the VM is not running");
        else
                r = migrate_locked(&s, o, err);
        pthread_mutex_unlock(&vm->machine_lock);
        s.info.total_ms = now_ms() - t0;
        if (r == 0 && info)
                *info = s.info;
out:
        free(s.dirty);
        free(s.buf);
        return r;
}
