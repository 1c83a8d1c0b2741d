#include "config.h"

#include "virtqueue.h"

#include <errno.h>
#include <string.h>

/* virtio 1.x 2.7: sizes and alignments of the three parts of a split queue */
#define DESC_SIZE 16
#define DESC_ALIGN 16
#define AVAIL_ALIGN 2
#define USED_ALIGN 4

struct desc {
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
};

static size_t desc_bytes(uint16_t size)
{
        return (size_t)DESC_SIZE * size;
}

static size_t avail_bytes(uint16_t size)
{
        return 6 + 2 * (size_t)size; /* flags, idx, ring[size], used_event */
}

static size_t used_bytes(uint16_t size)
{
        return 6 + 8 * (size_t)size; /* flags, idx, ring[size]{id,len}, avail_event */
}

static uint16_t ld16(const volatile uint8_t *p)
{
        return __atomic_load_n((const volatile uint16_t *)p, __ATOMIC_ACQUIRE);
}

static void st16(volatile uint8_t *p, uint16_t v)
{
        __atomic_store_n((volatile uint16_t *)p, v, __ATOMIC_RELEASE);
}

static void st32(volatile uint8_t *p, uint32_t v)
{
        __atomic_store_n((volatile uint32_t *)p, v, __ATOMIC_RELAXED);
}

/* One descriptor, copied once (the guest may change it under us). */
static void read_desc(const volatile uint8_t *table, unsigned i, struct desc *d)
{
        uint8_t raw[DESC_SIZE];

        memcpy(raw, (const uint8_t *)table + (size_t)i * DESC_SIZE, DESC_SIZE);
        memcpy(&d->addr, raw, 8);
        memcpy(&d->len, raw + 8, 4);
        memcpy(&d->flags, raw + 12, 2);
        memcpy(&d->next, raw + 14, 2);
}

int vq_start(struct virtq *vq, const struct vq_mem *mem)
{
        void *d, *a, *u;

        vq->started = false;
        if (vq->size == 0 || vq->size > VQ_MAX_SIZE || (vq->size & (vq->size - 1)))
                return -EINVAL;
        if (vq->desc_gpa % DESC_ALIGN || vq->avail_gpa % AVAIL_ALIGN || vq->used_gpa % USED_ALIGN)
                return -EFAULT;
        d = mem->translate(mem->opaque, vq->desc_gpa, desc_bytes(vq->size));
        a = mem->translate(mem->opaque, vq->avail_gpa, avail_bytes(vq->size));
        u = mem->translate(mem->opaque, vq->used_gpa, used_bytes(vq->size));
        if (!d || !a || !u)
                return -EFAULT;
        vq->desc = d;
        vq->avail = a;
        vq->used = u;
        vq->mem = *mem;
        vq->last_avail = 0;
        vq->used_idx = 0;
        vq->signalled_used = 0;
        vq->signalled_valid = false;
        vq->started = true;
        return 0;
}

void vq_reset(struct virtq *vq)
{
        memset(vq, 0, sizeof(*vq));
}

int vq_pop(struct virtq *vq, struct vq_elem *e)
{
        const volatile uint8_t *table;
        unsigned table_size, count = 0, n = 0;
        uint16_t avail_idx, idx;
        bool indirect = false;

        if (!vq->started)
                return 0;
        avail_idx = ld16(vq->avail + 2);
        if (avail_idx == vq->last_avail)
                return 0;
        /* 2.7.6: the driver cannot be more than a ring ahead of us. */
        if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
                return -EIO;
        /* Read the ring entry only after seeing idx (ld16 is an acquire). */
        idx = ld16(vq->avail + 4 + 2 * (size_t)(vq->last_avail & (vq->size - 1)));
        e->head = idx;
        e->n_out = e->n_in = 0;
        e->out_len = e->in_len = 0;
        table = vq->desc;
        table_size = vq->size;

        for (;;) {
                struct desc d;

                if (idx >= table_size)
                        return -EIO;
                /* 2.7.5.3.1: a chain (indirect descriptors included) is at
                 * most Queue Size long; this also ends any loop. */
                if (++count > vq->size)
                        return -EIO;
                read_desc(table, idx, &d);
                if (d.flags & VIRTQ_DESC_F_INDIRECT) {
                        /* 2.7.5.3: only when negotiated, never nested,
                         * never combined with NEXT; a whole number of
                         * descriptors. */
                        if (!vq->indirect || indirect || (d.flags & VIRTQ_DESC_F_NEXT) || d.len == 0 ||
                            d.len % DESC_SIZE || d.len / DESC_SIZE > vq->size)
                                return -EIO;
                        table = vq->mem.translate(vq->mem.opaque, d.addr, d.len);
                        if (!table)
                                return -EIO;
                        table_size = d.len / DESC_SIZE;
                        indirect = true;
                        count--; /* the table's entries are what count */
                        idx = 0;
                        continue;
                }
                if (d.flags & VIRTQ_DESC_F_WRITE) {
                        e->n_in++;
                        e->in_len += d.len;
                } else {
                        /* 2.7.4.2: readable buffers come first. */
                        if (e->n_in)
                                return -EIO;
                        e->n_out++;
                        e->out_len += d.len;
                }
                if (d.len) {
                        void *p = vq->mem.translate(vq->mem.opaque, d.addr, d.len);
                        if (!p)
                                return -EIO;
                        e->iov[n].iov_base = p;
                        e->iov[n].iov_len = d.len;
                        n++;
                } else if (d.flags & VIRTQ_DESC_F_WRITE) {
                        e->n_in--; /* empty buffers take no iovec */
                } else {
                        e->n_out--;
                }
                if (!(d.flags & VIRTQ_DESC_F_NEXT))
                        break;
                idx = d.next;
        }
        vq->last_avail++;
        return 1;
}

void vq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
        volatile uint8_t *slot;

        if (!vq->started)
                return;
        slot = vq->used + 4 + 8 * (size_t)(vq->used_idx & (vq->size - 1));
        st32(slot, head);
        st32(slot + 4, len);
        vq->used_idx++;
        /* The entry must be visible before the index (release store). */
        st16(vq->used + 2, vq->used_idx);
}

void vq_push_batch(struct virtq *vq, const uint16_t *heads, const uint32_t *lens, unsigned n)
{
        if (!vq->started)
                return;
        for (unsigned i = 0; i < n; i++) {
                volatile uint8_t *slot = vq->used + 4 + 8 * (size_t)((uint16_t)(vq->used_idx + i) & (vq->size - 1));
                st32(slot, heads[i]);
                st32(slot + 4, lens[i]);
        }
        vq->used_idx = (uint16_t)(vq->used_idx + n);
        st16(vq->used + 2, vq->used_idx);
}

/* 2.7.10.1: true when event lies in (old, new]. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
        return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool vq_should_notify(struct virtq *vq)
{
        uint16_t old, used_event;
        bool valid;

        if (!vq->started)
                return false;
        /* Our used->idx store must be visible before we read the guest's
         * suppression fields (the guest does the mirror-image ordering). */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!vq->event_idx)
                return !(ld16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
        old = vq->signalled_used;
        valid = vq->signalled_valid;
        vq->signalled_used = vq->used_idx;
        vq->signalled_valid = true;
        used_event = ld16(vq->avail + 4 + 2 * (size_t)vq->size);
        return !valid || need_event(used_event, vq->used_idx, old);
}

bool vq_enable_notify(struct virtq *vq)
{
        if (!vq->started)
                return false;
        if (vq->event_idx)
                st16(vq->used + 4 + 8 * (size_t)vq->size, vq->last_avail);
        else
                st16(vq->used, 0);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return ld16(vq->avail + 2) != vq->last_avail;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
        size_t done = 0;

        for (unsigned i = 0; i < n && done < len; i++) {
                size_t l = iov[i].iov_len, c;
                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                c = l - skip < len - done ? l - skip : len - done;
                memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + skip, c);
                done += c;
                skip = 0;
        }
        return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
        size_t done = 0;

        for (unsigned i = 0; i < n && done < len; i++) {
                size_t l = iov[i].iov_len, c;
                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                c = l - skip < len - done ? l - skip : len - done;
                memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, c);
                done += c;
                skip = 0;
        }
        return done;
}
