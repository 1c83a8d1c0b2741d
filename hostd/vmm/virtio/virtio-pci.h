/* virtio over PCI, modern interface only (virtio 1.x spec, 4.1): one
 * 32-bit memory BAR holding the common, ISR, device-specific and notify
 * structures plus the MSI-X table, announced by vendor capabilities.
 *
 * Interrupts: MSI-X (preferred by Linux's virtio_pci) delivered with
 * KVM_SIGNAL_MSI from the device's own thread; INTx (pin A, level, through
 * KVM_IRQ_LINE) when the driver does not enable MSI-X. Notifications: an
 * eventfd per queue bound to the queue's notify address with KVM_IOEVENTFD
 * once the guest has placed the BAR, so a kick costs no exit to user space
 * (MMIO writes that still reach us signal the same eventfd).
 *
 * Each device has one thread that waits on its queues' eventfds and calls
 * ops->queue_notify; devices take chains with virtio_pop() and return them
 * with virtio_push(), which serialise with the vCPU threads' register
 * accesses through vd->lock. A malformed chain makes the device "broken":
 * DEVICE_NEEDS_RESET in the status, a configuration interrupt, and no more
 * queue processing until the driver resets it (4.1.4.3 / 2.1.2).
 *
 * Per guest boot the owner calls virtio_pci_attach(vm_fd) before the vCPUs
 * start (this also resets the device and its PCI config registers) and
 * virtio_pci_detach() after they stopped. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci.h"
#include "state.h"
#include "virtqueue.h"

#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_MSIX_VECTORS 8
#define VIRTIO_NO_VECTOR 0xffff

/* 2.1 device status */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* 6 reserved feature bits */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Device ids (5) */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_GPU 16
#define VIRTIO_ID_INPUT 18

struct virtio_dev;

struct virtio_dev_ops {
        /* Device-specific configuration (4.1.4.6), off relative to it;
         * called with vd->lock held. cfg_write may be NULL (read-only). */
        void (*cfg_read)(struct virtio_dev *vd, unsigned off, uint8_t *data, unsigned size);
        void (*cfg_write)(struct virtio_dev *vd, unsigned off, const uint8_t *data, unsigned size);
        /* Queue q may have new buffers; on the device thread, no lock held. */
        void (*queue_notify)(struct virtio_dev *vd, unsigned q);
        /* The driver reset the device; vd->lock held. May be NULL. */
        void (*reset)(struct virtio_dev *vd);
        /* vd->ext_fd polled ready with revents; on the device thread, no
         * lock held. May be NULL when the device has no ext_fd. */
        void (*ext_ready)(struct virtio_dev *vd, short revents);
        /* Snapshots: the device's own fields after the transport's, with
         * vd->lock held (virtio_state_ops). load validates before it
         * changes anything and returns false (state_reader_fail) when it
         * refuses. NULL: the device has no state of its own. */
        void (*state_save)(struct virtio_dev *vd, struct state_writer *w);
        bool (*state_load)(struct virtio_dev *vd, struct state_reader *r);
};

struct virtio_queue {
        struct virtq vq;
        uint16_t max_size;
        uint16_t msix_vector;
        bool enabled;
        int kick_fd;             /* eventfd: guest notifications */
        uint64_t ioeventfd_addr; /* 0: not registered */
};

struct virtio_msix_entry {
        uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_dev {
        struct pci_device pci;  /* first: the PCI callbacks cast back */
        const struct virtio_dev_ops *ops;
        void *opaque;           /* the device model's state */
        const char *name;       /* "virtio-blk", for logs */
        struct vq_mem mem;      /* guest RAM */

        pthread_mutex_t lock;   /* everything below */
        uint64_t host_features, guest_features;
        uint32_t dfselect, gfselect;
        uint8_t status, config_gen, isr;
        uint16_t msix_config, queue_sel;
        unsigned nqueues;
        struct virtio_queue q[VIRTIO_MAX_QUEUES];
        unsigned generation;    /* bumped by every reset */
        bool broken;
        char broken_why[96];

        struct virtio_msix_entry msix[VIRTIO_MSIX_VECTORS];
        uint32_t msix_pending;
        bool msix_enabled, msix_masked;
        unsigned intx_gsi;
        bool intx_level;

        int vm_fd;              /* -1 while no guest runs */
        int stop_fd;
        /* An extra fd the device thread polls for the device model (e.g.
         * virtio-net's tap) with ext_events; -1 for none. ext_fd is set
         * with virtio_pci_set_ext_fd, ext_events on the device thread only. */
        int ext_fd;
        short ext_events;
        pthread_t thread;
        bool thread_started;
};

/* Set up vd (not yet on a bus): PCI ids from device_id, BAR 0, the
 * capabilities, nqueues queues of up to qsize entries, host features
 * (VERSION_1, EVENT_IDX and INDIRECT_DESC are added), the INTx GSI (an
 * ISA IRQ, 5..15). Starts the device thread. 0 or negative errno. */
int virtio_pci_init(struct virtio_dev *vd, const char *name, uint16_t device_id, uint32_t class_code,
                    uint64_t features, unsigned nqueues, uint16_t qsize, unsigned intx_gsi,
                    const struct virtio_dev_ops *ops, void *opaque, const struct vq_mem *mem);

/* Have the device thread also poll fd (with vd->ext_events) and call
 * ops->ext_ready; wakes the thread through queue 0. */
void virtio_pci_set_ext_fd(struct virtio_dev *vd, int fd);

/* Stop the thread and free the eventfds. */
void virtio_pci_destroy(struct virtio_dev *vd);

/* A new guest boot on vm_fd: reset device and PCI registers. */
void virtio_pci_attach(struct virtio_dev *vd, int vm_fd);
void virtio_pci_detach(struct virtio_dev *vd);

/* Take the next chain of queue q. 1, 0 (none, or the device is not
 * running), or -EIO (the chain was malformed: the device is now broken).
 * *gen identifies the device incarnation for virtio_push. */
int virtio_pop(struct virtio_dev *vd, unsigned q, struct vq_elem *e, unsigned *gen);

/* Return a chain taken under generation gen (dropped when the device was
 * reset since) and interrupt the guest if it asked for it. */
void virtio_push(struct virtio_dev *vd, unsigned q, uint16_t head, uint32_t len, unsigned gen);

/* virtio_push for n chains published together (vq_push_batch). */
void virtio_push_batch(struct virtio_dev *vd, unsigned q, const uint16_t *heads, const uint32_t *lens, unsigned n,
                       unsigned gen);

/* Re-arm guest notifications for q; true when buffers arrived meanwhile. */
bool virtio_enable_notify(struct virtio_dev *vd, unsigned q);

/* The device configuration changed (device side, e.g. virtio-gpu's
 * events_read): bump config_generation and send the configuration
 * interrupt when the driver is up. vd->lock must NOT be held. */
void virtio_config_changed(struct virtio_dev *vd);

/* Is the driver up (DRIVER_OK, not broken)? */
bool virtio_running(struct virtio_dev *vd);

/* Wake the device thread for queue q (e.g. host-side events to deliver). */
void virtio_kick(struct virtio_dev *vd, unsigned q);

/* Mark the device broken (also used by device models for protocol
 * violations inside a well-formed chain). vd->lock must NOT be held. */
void virtio_set_broken(struct virtio_dev *vd, const char *why);

/* Snapshots (SNAPSHOT.md "dev.SLOT.NAME"): the transport (features,
 * status, MSI-X table, queues) then the device's own fields. Save runs
 * between virtio_pci_freeze and virtio_pci_thaw, which hold vd->lock so
 * that no chain is taken or returned while guest RAM is copied; a chain
 * taken and not yet returned is taken again after a restore (the queue's
 * next available index is rewound to its used index: our devices return
 * chains in order). Load runs before the vCPUs and before the PCI config
 * is restored (whose config write then sets MSI-X and the ioeventfds). */
extern const struct state_ops virtio_state_ops;
void virtio_pci_freeze(struct virtio_dev *vd);
void virtio_pci_thaw(struct virtio_dev *vd);

/* Register-level access for tests (what the vCPU threads do). */
void virtio_pci_bar_read(struct virtio_dev *vd, uint64_t off, uint8_t *data, unsigned size);
void virtio_pci_bar_write(struct virtio_dev *vd, uint64_t off, const uint8_t *data, unsigned size);
/* The same for a little-endian value of size (1..8) bytes. */
uint64_t virtio_pci_bar_get(struct virtio_dev *vd, uint64_t off, unsigned size);
void virtio_pci_bar_set(struct virtio_dev *vd, uint64_t off, uint64_t v, unsigned size);

/* BAR 0 layout */
#define VIRTIO_BAR_SIZE 0x4000
#define VIRTIO_COMMON_OFF 0x0000
#define VIRTIO_COMMON_LEN 0x38
#define VIRTIO_ISR_OFF 0x0800
#define VIRTIO_DEVCFG_OFF 0x1000
#define VIRTIO_DEVCFG_LEN 0x0800
#define VIRTIO_NOTIFY_OFF 0x2000
#define VIRTIO_NOTIFY_MULT 4
#define VIRTIO_MSIX_TABLE_OFF 0x3000
#define VIRTIO_MSIX_PBA_OFF 0x3800
