/* Split virtqueues (virtio 1.x spec, 2.7 "Split Virtqueues") seen from the
 * device side: take descriptor chains the guest made available, give back
 * used buffers, decide whether the guest wants an interrupt (EVENT_IDX).
 *
 * Every byte of the rings is guest-controlled. Chains are walked with hard
 * bounds: at most `size` descriptors per chain (indirect ones included),
 * every index checked, every buffer translated through a range-checked
 * guest-physical lookup, lengths summed without overflow, readable buffers
 * strictly before writable ones, one level of indirection with a validated
 * table. A chain that breaks a rule makes vq_pop() return -EIO; the caller
 * then marks its device broken (DEVICE_NEEDS_RESET) and stops using the
 * queue. Descriptors are read once into local copies, so a guest racing
 * with us cannot change what was checked.
 *
 * Not thread-safe: the owner serialises calls (virtio-pci holds the
 * device lock). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* Largest queue any of our devices offers; bounds chains and iovecs. */
#define VQ_MAX_SIZE 256

/* virtio 1.x 2.7.5 descriptor flags */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* 2.7.6 / 2.7.8 ring flags */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Guest-physical → host translation: a host pointer for all of
 * [gpa, gpa+len), or NULL when the range is not entirely guest RAM. */
struct vq_mem {
        void *(*translate)(void *opaque, uint64_t gpa, uint64_t len);
        void *opaque;
};

struct virtq {
        /* Set by the transport from the driver's writes. */
        uint16_t size;          /* entries; power of two <= VQ_MAX_SIZE */
        uint64_t desc_gpa, avail_gpa, used_gpa;
        bool event_idx;         /* VIRTIO_RING_F_EVENT_IDX negotiated */
        bool indirect;          /* VIRTIO_RING_F_INDIRECT_DESC negotiated */

        /* Filled by vq_start(). */
        bool started;
        volatile uint8_t *desc; /* host pointers into guest RAM */
        volatile uint8_t *avail;
        volatile uint8_t *used;
        uint16_t last_avail;    /* next avail ring entry to take */
        uint16_t used_idx;      /* our copy of used->idx */
        uint16_t signalled_used; /* used_idx at the last interrupt */
        bool signalled_valid;
        struct vq_mem mem;
};

/* One chain: its head and its buffers, readable ones (driver → device)
 * first, then writable ones (device → driver). */
struct vq_elem {
        uint16_t head;
        unsigned n_out, n_in;
        uint64_t out_len, in_len; /* total bytes of each kind */
        struct iovec iov[VQ_MAX_SIZE];
};

/* Check the ring addresses against guest RAM and start using the queue
 * (indices at 0). 0, or -EINVAL for a bad size or -EFAULT for rings
 * outside RAM or misaligned. */
int vq_start(struct virtq *vq, const struct vq_mem *mem);

/* Forget everything (device reset). */
void vq_reset(struct virtq *vq);

/* Take the next available chain into *e. Returns 1 when one was taken,
 * 0 when none is available, -EIO when the guest broke the ring rules
 * (the queue must not be used again until reset). */
int vq_pop(struct virtq *vq, struct vq_elem *e);

/* Return chain head with len bytes written into its writable buffers. */
void vq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* Return n chains at once: the driver sees all of them or none (used->idx
 * moves once, after every entry is written). virtio-net needs this for a
 * packet spread over several mergeable receive buffers (5.1.6.4). */
void vq_push_batch(struct virtq *vq, const uint16_t *heads, const uint32_t *lens, unsigned n);

/* After pushes: does the guest want an interrupt now? (2.7.7/2.7.10,
 * used_event with EVENT_IDX, else the NO_INTERRUPT flag.) Updates the
 * bookkeeping, so call it once per batch and signal when true. */
bool vq_should_notify(struct virtq *vq);

/* Before sleeping: ask the guest to notify us when it adds buffers
 * (avail_event with EVENT_IDX, else clear NO_NOTIFY), then report whether
 * buffers arrived meanwhile (true: poll again instead of sleeping). */
bool vq_enable_notify(struct virtq *vq);

/* Copy between a flat buffer and iovecs [iov, iov+n) starting skip bytes
 * in. Return the bytes copied (short when the iovecs end first). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);
