#include "config.h"

#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"
#include "layout.h"

void guest_mem_layout(uint64_t size, uint64_t *low, uint64_t *high)
{
        if (size > LAYOUT_PCI_HOLE) {
                *low = LAYOUT_PCI_HOLE;
                *high = size - LAYOUT_PCI_HOLE;
        } else {
                *low = size;
                *high = 0;
        }
}

int guest_mem_create(struct guest_mem *m, uint64_t size, struct vm_err *err)
{
        _cleanup_close_ int fd = -1;
        void *p;

        if (size == 0 || size % 4096 || size > (uint64_t)SIZE_MAX)
                return vm_err_set(err, -EINVAL, "invalid guest memory size %llu", (unsigned long long)size);
        fd = memfd_create("vdi-vm-ram", MFD_CLOEXEC);
        if (fd < 0)
                return vm_err_set(err, -errno, "cannot create guest memory: memfd_create: %m");
        if (ftruncate(fd, (off_t)size) < 0)
                return vm_err_set(err, -errno, "cannot size guest memory to %llu MiB: %m",
                                  (unsigned long long)(size >> 20));
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
        if (p == MAP_FAILED)
                return vm_err_set(err, -errno, "cannot map %llu MiB of guest memory: %m",
                                  (unsigned long long)(size >> 20));
        m->fd = TAKE_FD(fd);
        m->host = p;
        m->size = size;
        m->dirty_map = NULL;
        atomic_init(&m->dirty, NULL);
        guest_mem_layout(size, &m->low_size, &m->high_size);
        return 0;
}

void guest_mem_adopt(struct guest_mem *m, int fd, uint8_t *host, uint64_t size)
{
        m->fd = fd;
        m->host = host;
        m->size = size;
        m->from_snapshot = true;
        m->dirty_map = NULL;
        atomic_init(&m->dirty, NULL);
        guest_mem_layout(size, &m->low_size, &m->high_size);
}

static int register_slots(const struct guest_mem *m, int vm_fd, uint32_t flags, struct vm_err *err)
{
        struct kvm_userspace_memory_region r = {
                .slot = 0,
                .flags = flags,
                .guest_phys_addr = 0,
                .memory_size = m->low_size,
                .userspace_addr = (uintptr_t)m->host,
        };

        if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                return vm_err_set(err, -errno, "KVM_SET_USER_MEMORY_REGION (low RAM): %m");
        if (m->high_size) {
                r.slot = 1;
                r.guest_phys_addr = LAYOUT_4G;
                r.memory_size = m->high_size;
                r.userspace_addr = (uintptr_t)(m->host + m->low_size);
                if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                        return vm_err_set(err, -errno, "KVM_SET_USER_MEMORY_REGION (high RAM): %m");
        }
        return 0;
}

int guest_mem_register(const struct guest_mem *m, int vm_fd, struct vm_err *err)
{
        return register_slots(m, vm_fd, 0, err);
}

int guest_mem_dirty_log(struct guest_mem *m, int vm_fd, bool on, struct vm_err *err)
{
        int r;

        if (on && !m->dirty_map) {
                m->dirty_map = calloc((m->size / GUEST_PAGE + 63) / 64, sizeof(uint64_t));
                if (!m->dirty_map)
                        return vm_err_set(err, -ENOMEM, "out of memory");
        } else if (on && !atomic_load(&m->dirty)) {
                memset(m->dirty_map, 0, (m->size / GUEST_PAGE + 63) / 64 * sizeof(uint64_t));
        }
        r = register_slots(m, vm_fd, on ? KVM_MEM_LOG_DIRTY_PAGES : 0, err);
        if (r == 0)
                atomic_store(&m->dirty, on ? m->dirty_map : NULL);
        return r;
}

/* OR KVM's log of one slot (read and cleared by KVM) into bitmap at page
 * first. */
static int slot_dirty(int vm_fd, uint32_t slot, uint64_t pages, uint64_t first, uint64_t *bitmap,
                      struct vm_err *err)
{
        _cleanup_free_ uint64_t *log = calloc((pages + 63) / 64, sizeof(uint64_t));
        struct kvm_dirty_log d = { .slot = slot };

        if (!log)
                return vm_err_set(err, -ENOMEM, "out of memory");
        d.dirty_bitmap = log;
        if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &d) < 0)
                return vm_err_set(err, -errno, "KVM_GET_DIRTY_LOG (slot %u): %m", slot);
        for (uint64_t w = 0; w < (pages + 63) / 64; w++)
                for (uint64_t bits = log[w]; bits; bits &= bits - 1) {
                        uint64_t pg = first + w * 64 + (uint64_t)__builtin_ctzll(bits);
                        bitmap[pg / 64] |= 1ull << (pg % 64);
                }
        return 0;
}

int guest_mem_dirty_get(struct guest_mem *m, int vm_fd, uint64_t *bitmap, struct vm_err *err)
{
        uint64_t *user = atomic_load(&m->dirty);
        uint64_t low = m->low_size / GUEST_PAGE;
        int r;

        if (!user)
                return vm_err_set(err, -EINVAL, "dirty logging is off");
        /* The devices' marks are never cleared while logging is on: a
         * device looks a buffer up, then writes it, maybe after a round
         * sent it; every round (and the last, with the devices frozen)
         * sends such pages again. */
        for (uint64_t w = 0; w < (m->size / GUEST_PAGE + 63) / 64; w++)
                bitmap[w] |= atomic_load((_Atomic uint64_t *)&user[w]);
        r = slot_dirty(vm_fd, 0, low, 0, bitmap, err);
        if (r == 0 && m->high_size)
                r = slot_dirty(vm_fd, 1, m->high_size / GUEST_PAGE, low, bitmap, err);
        return r;
}

int guest_mem_clear(struct guest_mem *m)
{
        if (m->from_snapshot)
                return -ENOTSUP;
        if (fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)m->size) == 0)
                return 0;
        /* Fallback for filesystems without hole punching. */
        memset(m->host, 0, m->size);
        return 0;
}

/* While dirty logging is on, pages the VMM's own devices may write (any
 * range they look up) are logged too: KVM only sees the vCPUs' writes. */
static uint8_t *mark(const struct guest_mem *m, uint64_t off, uint64_t len)
{
        uint64_t *bm = atomic_load(&((struct guest_mem *)m)->dirty);

        if (bm && len)
                for (uint64_t pg = off / GUEST_PAGE; pg <= (off + len - 1) / GUEST_PAGE; pg++)
                        atomic_fetch_or((_Atomic uint64_t *)&bm[pg / 64], 1ull << (pg % 64));
        return m->host + off;
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
        if (!m->host)
                return NULL;
        if (gpa < m->low_size)
                return range_ok(gpa, len, m->low_size) ? mark(m, gpa, len) : NULL;
        if (gpa >= LAYOUT_4G && m->high_size) {
                uint64_t off = gpa - LAYOUT_4G;
                if (range_ok(off, len, m->high_size))
                        return mark(m, m->low_size + off, len);
        }
        return NULL;
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
        void *p = guest_mem_ptr(m, gpa, len);

        if (!p)
                return -EFAULT;
        memcpy(p, src, len);
        return 0;
}

int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
        const void *p = guest_mem_ptr(m, gpa, len);

        if (!p)
                return -EFAULT;
        memcpy(dst, p, len);
        return 0;
}

void guest_mem_destroy(struct guest_mem *m)
{
        if (m->host)
                munmap(m->host, m->size);
        if (m->fd >= 0)
                close(m->fd);
        atomic_store(&m->dirty, NULL);
        free(m->dirty_map);
        m->dirty_map = NULL;
        m->host = NULL;
        m->fd = -1;
        m->size = m->low_size = m->high_size = 0;
}
