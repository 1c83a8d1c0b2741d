#include "config.h"

#include "virtio-pci.h"
#include "jail.h"

#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* PCI ids (virtio 1.x 4.1.2) */
#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

/* Capability layout in config space (4.1.4) */
#define CAP_COMMON 0x40
#define CAP_NOTIFY 0x50
#define CAP_ISR 0x64
#define CAP_DEVICE 0x74
#define CAP_MSIX 0x84
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
#define PCI_STATUS_CAP_LIST 0x10
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 1

/* Common configuration structure offsets (4.1.4.3) */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX 0x10
#define CC_NUMQ 0x12
#define CC_STATUS 0x14
#define CC_CFGGEN 0x15
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_AVAIL 0x28
#define CC_Q_USED 0x30

/* ISR bits (4.1.4.5) */
#define ISR_QUEUE 1
#define ISR_CONFIG 2

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
        for (unsigned i = 0; i < size; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned size)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < size; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

static void put_cap(struct pci_device *d, unsigned at, unsigned next, unsigned len, uint8_t type, uint32_t off,
                    uint32_t length)
{
        d->cfg[at] = PCI_CAP_ID_VNDR;
        d->cfg[at + 1] = (uint8_t)next;
        d->cfg[at + 2] = (uint8_t)len;
        d->cfg[at + 3] = type;
        d->cfg[at + 4] = 0; /* BAR 0 */
        put_le(d->cfg + at + 8, off, 4);
        put_le(d->cfg + at + 12, length, 4);
}

/* ---- interrupts ---- */

static void msix_fire(struct virtio_dev *vd, unsigned v)
{
        struct kvm_msi msi = {
                .address_lo = vd->msix[v].addr_lo,
                .address_hi = vd->msix[v].addr_hi,
                .data = vd->msix[v].data,
        };

        if (vd->vm_fd >= 0)
                ioctl(vd->vm_fd, KVM_SIGNAL_MSI, &msi);
}

static void set_intx(struct virtio_dev *vd, bool level)
{
        struct kvm_irq_level irq = { .irq = vd->intx_gsi, .level = level };

        if (vd->intx_level == level || vd->vm_fd < 0)
                return;
        vd->intx_level = level;
        ioctl(vd->vm_fd, KVM_IRQ_LINE, &irq);
}

/* Interrupt for vector (MSI-X) or through INTx with isr_bit. Lock held. */
static void raise_irq(struct virtio_dev *vd, uint16_t vector, uint8_t isr_bit)
{
        vd->isr |= isr_bit;
        if (vd->msix_enabled) {
                if (vector >= VIRTIO_MSIX_VECTORS)
                        return;
                if (vd->msix_masked || (vd->msix[vector].ctrl & MSIX_ENTRY_MASKED))
                        vd->msix_pending |= 1u << vector;
                else
                        msix_fire(vd, vector);
                return;
        }
        if (!(get_le(vd->pci.cfg + PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE))
                set_intx(vd, true);
}

/* Deliver pending vectors that are no longer masked. Lock held. */
static void msix_flush_pending(struct virtio_dev *vd)
{
        if (!vd->msix_enabled || vd->msix_masked)
                return;
        for (unsigned v = 0; v < VIRTIO_MSIX_VECTORS; v++) {
                if ((vd->msix_pending & (1u << v)) && !(vd->msix[v].ctrl & MSIX_ENTRY_MASKED)) {
                        vd->msix_pending &= ~(1u << v);
                        msix_fire(vd, v);
                }
        }
}

/* ---- notifications ---- */

static void ioeventfd_set(struct virtio_dev *vd, unsigned q, uint64_t addr)
{
        struct virtio_queue *vq = &vd->q[q];
        struct kvm_ioeventfd io = { .len = 2, .fd = vq->kick_fd };

        if (vq->ioeventfd_addr == addr)
                return;
        if (vq->ioeventfd_addr && vd->vm_fd >= 0) {
                io.addr = vq->ioeventfd_addr;
                io.flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
                ioctl(vd->vm_fd, KVM_IOEVENTFD, &io);
        }
        vq->ioeventfd_addr = 0;
        if (addr && vd->vm_fd >= 0) {
                io.addr = addr;
                io.flags = 0;
                /* On failure notifications still arrive as MMIO exits. */
                if (ioctl(vd->vm_fd, KVM_IOEVENTFD, &io) == 0)
                        vq->ioeventfd_addr = addr;
        }
}

/* Follow the BAR and memory decoding: bind each queue's eventfd to its
 * notify address. Lock held. */
static void update_ioeventfds(struct virtio_dev *vd)
{
        uint64_t base = pci_device_bar_addr(&vd->pci, 0);
        bool on = get_le(vd->pci.cfg + PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;

        for (unsigned q = 0; q < vd->nqueues; q++)
                ioeventfd_set(vd, q, on && base ? base + VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * q : 0);
}

void virtio_kick(struct virtio_dev *vd, unsigned q)
{
        uint64_t one = 1;

        if (q < vd->nqueues && write(vd->q[q].kick_fd, &one, sizeof(one)) < 0) {
                /* counter saturated: the thread will wake anyway */
        }
}

/* ---- reset and status ---- */

static void device_reset(struct virtio_dev *vd)
{
        vd->guest_features = 0;
        vd->dfselect = vd->gfselect = 0;
        vd->status = 0;
        vd->isr = 0;
        vd->msix_config = VIRTIO_NO_VECTOR;
        vd->queue_sel = 0;
        vd->broken = false;
        vd->broken_why[0] = '\0';
        vd->generation++;
        for (unsigned q = 0; q < vd->nqueues; q++) {
                struct virtio_queue *vq = &vd->q[q];
                vq_reset(&vq->vq);
                vq->vq.size = vq->max_size;
                vq->msix_vector = VIRTIO_NO_VECTOR;
                vq->enabled = false;
        }
        vd->msix_pending = 0;
        set_intx(vd, false);
        if (vd->ops->reset)
                vd->ops->reset(vd);
}

static void mark_broken(struct virtio_dev *vd, const char *why)
{
        if (vd->broken)
                return;
        vd->broken = true;
        snprintf(vd->broken_why, sizeof(vd->broken_why), "%s", why);
        /* 2.1.2: set DEVICE_NEEDS_RESET and send a configuration change
         * notification if DRIVER_OK was set. */
        vd->status |= VIRTIO_STATUS_NEEDS_RESET;
        if (vd->status & VIRTIO_STATUS_DRIVER_OK)
                raise_irq(vd, vd->msix_config, ISR_CONFIG);
}

void virtio_set_broken(struct virtio_dev *vd, const char *why)
{
        pthread_mutex_lock(&vd->lock);
        mark_broken(vd, why);
        pthread_mutex_unlock(&vd->lock);
}

static void write_status(struct virtio_dev *vd, uint8_t v)
{
        if (v == 0) {
                device_reset(vd);
                return;
        }
        if ((v & VIRTIO_STATUS_FEATURES_OK) && !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
                /* 2.2.2: accept only offered features, and we are modern only. */
                if ((vd->guest_features & ~vd->host_features) ||
                    !(vd->guest_features & (1ull << VIRTIO_F_VERSION_1)))
                        v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        }
        v |= vd->status & VIRTIO_STATUS_NEEDS_RESET;
        vd->status = v;
        if (v & VIRTIO_STATUS_DRIVER_OK)
                for (unsigned q = 0; q < vd->nqueues; q++)
                        if (vd->q[q].enabled)
                                virtio_kick(vd, q);
}

static void enable_queue(struct virtio_dev *vd, struct virtio_queue *vq)
{
        char why[96];
        int r;

        if (vq->enabled)
                return;
        vq->vq.event_idx = vd->guest_features & (1ull << VIRTIO_RING_F_EVENT_IDX);
        vq->vq.indirect = vd->guest_features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
        if (vq->vq.size > vq->max_size)
                r = -EINVAL;
        else
                r = vq_start(&vq->vq, &vd->mem);
        if (r < 0) {
                snprintf(why, sizeof(why), "queue %u: %s", (unsigned)(vq - vd->q),
                         r == -EINVAL ? "invalid size" : "rings outside guest RAM");
                mark_broken(vd, why);
                return;
        }
        vq->enabled = true;
}

/* ---- common configuration ---- */

static struct virtio_queue *selected(struct virtio_dev *vd)
{
        return vd->queue_sel < vd->nqueues ? &vd->q[vd->queue_sel] : NULL;
}

static void common_image(struct virtio_dev *vd, uint8_t *img)
{
        struct virtio_queue *vq = selected(vd);

        memset(img, 0, VIRTIO_COMMON_LEN);
        put_le(img + CC_DFSELECT, vd->dfselect, 4);
        put_le(img + CC_DF, vd->dfselect < 2 ? vd->host_features >> (32 * vd->dfselect) : 0, 4);
        put_le(img + CC_GFSELECT, vd->gfselect, 4);
        put_le(img + CC_GF, vd->gfselect < 2 ? vd->guest_features >> (32 * vd->gfselect) : 0, 4);
        put_le(img + CC_MSIX, vd->msix_config, 2);
        put_le(img + CC_NUMQ, vd->nqueues, 2);
        img[CC_STATUS] = vd->status;
        img[CC_CFGGEN] = vd->config_gen;
        put_le(img + CC_Q_SELECT, vd->queue_sel, 2);
        if (vq) {
                put_le(img + CC_Q_SIZE, vq->vq.size, 2);
                put_le(img + CC_Q_MSIX, vq->msix_vector, 2);
                put_le(img + CC_Q_ENABLE, vq->enabled, 2);
                put_le(img + CC_Q_NOFF, (uint64_t)(vq - vd->q), 2);
                put_le(img + CC_Q_DESC, vq->vq.desc_gpa, 8);
                put_le(img + CC_Q_AVAIL, vq->vq.avail_gpa, 8);
                put_le(img + CC_Q_USED, vq->vq.used_gpa, 8);
        }
}

static bool touches(unsigned off, unsigned size, unsigned reg, unsigned len)
{
        return off < reg + len && reg < off + size;
}

/* Writes are applied to an image of the registers, then every register
 * the write touched is taken from it: partial and split accesses (two
 * 32-bit halves of a 64-bit address) work the same way. */
static void common_write(struct virtio_dev *vd, unsigned off, const uint8_t *data, unsigned size)
{
        struct virtio_queue *vq = selected(vd);
        uint8_t img[VIRTIO_COMMON_LEN];

        if (off >= VIRTIO_COMMON_LEN || size > VIRTIO_COMMON_LEN - off)
                return;
        common_image(vd, img);
        memcpy(img + off, data, size);

        if (touches(off, size, CC_DFSELECT, 4))
                vd->dfselect = (uint32_t)get_le(img + CC_DFSELECT, 4);
        if (touches(off, size, CC_GFSELECT, 4))
                vd->gfselect = (uint32_t)get_le(img + CC_GFSELECT, 4);
        if (touches(off, size, CC_GF, 4) && vd->gfselect < 2 && !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
                unsigned sh = 32 * vd->gfselect;
                vd->guest_features = (vd->guest_features & ~(0xffffffffull << sh)) | get_le(img + CC_GF, 4) << sh;
        }
        if (touches(off, size, CC_MSIX, 2)) {
                uint16_t v = (uint16_t)get_le(img + CC_MSIX, 2);
                vd->msix_config = v < VIRTIO_MSIX_VECTORS ? v : VIRTIO_NO_VECTOR;
        }
        if (touches(off, size, CC_Q_SELECT, 2)) {
                vd->queue_sel = (uint16_t)get_le(img + CC_Q_SELECT, 2);
                vq = selected(vd);
        }
        if (vq && !vq->enabled) {
                /* 4.1.4.3.2: queue registers are written before enabling. */
                if (touches(off, size, CC_Q_SIZE, 2))
                        vq->vq.size = (uint16_t)get_le(img + CC_Q_SIZE, 2);
                if (touches(off, size, CC_Q_DESC, 8))
                        vq->vq.desc_gpa = get_le(img + CC_Q_DESC, 8);
                if (touches(off, size, CC_Q_AVAIL, 8))
                        vq->vq.avail_gpa = get_le(img + CC_Q_AVAIL, 8);
                if (touches(off, size, CC_Q_USED, 8))
                        vq->vq.used_gpa = get_le(img + CC_Q_USED, 8);
        }
        if (vq && touches(off, size, CC_Q_MSIX, 2)) {
                uint16_t v = (uint16_t)get_le(img + CC_Q_MSIX, 2);
                vq->msix_vector = v < VIRTIO_MSIX_VECTORS ? v : VIRTIO_NO_VECTOR;
        }
        if (vq && touches(off, size, CC_Q_ENABLE, 2) && get_le(img + CC_Q_ENABLE, 2) == 1)
                enable_queue(vd, vq);
        if (touches(off, size, CC_STATUS, 1))
                write_status(vd, img[CC_STATUS]);
}

/* ---- BAR 0 ---- */

void virtio_pci_bar_read(struct virtio_dev *vd, uint64_t off, uint8_t *data, unsigned size)
{
        memset(data, 0, size);
        pthread_mutex_lock(&vd->lock);
        if (off < VIRTIO_COMMON_LEN && size <= VIRTIO_COMMON_LEN - off) {
                uint8_t img[VIRTIO_COMMON_LEN];
                common_image(vd, img);
                memcpy(data, img + off, size);
        } else if (off == VIRTIO_ISR_OFF) {
                /* 4.1.4.5.1: reading clears the ISR and lowers INTx. */
                data[0] = vd->isr;
                vd->isr = 0;
                set_intx(vd, false);
        } else if (off >= VIRTIO_DEVCFG_OFF && off - VIRTIO_DEVCFG_OFF + size <= VIRTIO_DEVCFG_LEN) {
                if (vd->ops->cfg_read)
                        vd->ops->cfg_read(vd, (unsigned)(off - VIRTIO_DEVCFG_OFF), data, size);
        } else if (off >= VIRTIO_MSIX_TABLE_OFF && off - VIRTIO_MSIX_TABLE_OFF + size <= 16 * VIRTIO_MSIX_VECTORS) {
                unsigned o = (unsigned)(off - VIRTIO_MSIX_TABLE_OFF);
                uint8_t e[16];
                struct virtio_msix_entry *m = &vd->msix[o / 16];
                put_le(e, m->addr_lo, 4);
                put_le(e + 4, m->addr_hi, 4);
                put_le(e + 8, m->data, 4);
                put_le(e + 12, m->ctrl, 4);
                if (o % 16 + size <= 16)
                        memcpy(data, e + o % 16, size);
        } else if (off >= VIRTIO_MSIX_PBA_OFF && off - VIRTIO_MSIX_PBA_OFF + size <= 8) {
                uint8_t pba[8];
                put_le(pba, vd->msix_pending, 8);
                memcpy(data, pba + (off - VIRTIO_MSIX_PBA_OFF), size);
        }
        pthread_mutex_unlock(&vd->lock);
}

void virtio_pci_bar_write(struct virtio_dev *vd, uint64_t off, const uint8_t *data, unsigned size)
{
        if (off >= VIRTIO_NOTIFY_OFF && off < VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * vd->nqueues) {
                /* A notification that did not go through the ioeventfd. */
                virtio_kick(vd, (unsigned)(off - VIRTIO_NOTIFY_OFF) / VIRTIO_NOTIFY_MULT);
                return;
        }
        pthread_mutex_lock(&vd->lock);
        if (off < VIRTIO_COMMON_LEN) {
                common_write(vd, (unsigned)off, data, size);
        } else if (off >= VIRTIO_DEVCFG_OFF && off - VIRTIO_DEVCFG_OFF + size <= VIRTIO_DEVCFG_LEN) {
                if (vd->ops->cfg_write)
                        vd->ops->cfg_write(vd, (unsigned)(off - VIRTIO_DEVCFG_OFF), data, size);
        } else if (off >= VIRTIO_MSIX_TABLE_OFF && off - VIRTIO_MSIX_TABLE_OFF + size <= 16 * VIRTIO_MSIX_VECTORS) {
                unsigned o = (unsigned)(off - VIRTIO_MSIX_TABLE_OFF);
                struct virtio_msix_entry *m = &vd->msix[o / 16];
                uint8_t e[16];
                put_le(e, m->addr_lo, 4);
                put_le(e + 4, m->addr_hi, 4);
                put_le(e + 8, m->data, 4);
                put_le(e + 12, m->ctrl, 4);
                if (o % 16 + size <= 16) {
                        memcpy(e + o % 16, data, size);
                        m->addr_lo = (uint32_t)get_le(e, 4);
                        m->addr_hi = (uint32_t)get_le(e + 4, 4);
                        m->data = (uint32_t)get_le(e + 8, 4);
                        m->ctrl = (uint32_t)get_le(e + 12, 4) & MSIX_ENTRY_MASKED;
                        msix_flush_pending(vd);
                }
        }
        pthread_mutex_unlock(&vd->lock);
}

static void pci_bar_read(struct pci_device *d, int bar, uint64_t off, uint8_t *data, unsigned size)
{
        virtio_pci_bar_read((struct virtio_dev *)d, off, data, size);
}

static void pci_bar_write(struct pci_device *d, int bar, uint64_t off, const uint8_t *data, unsigned size)
{
        virtio_pci_bar_write((struct virtio_dev *)d, off, data, size);
}

/* Called with the PCI bus lock held (lock order: bus, then device). */
static void pci_config_written(struct pci_device *d, unsigned off, unsigned size)
{
        struct virtio_dev *vd = (struct virtio_dev *)d;
        uint16_t ctrl = (uint16_t)get_le(d->cfg + CAP_MSIX + 2, 2);

        pthread_mutex_lock(&vd->lock);
        vd->msix_enabled = ctrl & MSIX_CTRL_ENABLE;
        vd->msix_masked = ctrl & MSIX_CTRL_MASKALL;
        if (vd->msix_enabled)
                set_intx(vd, false);
        msix_flush_pending(vd);
        update_ioeventfds(vd);
        pthread_mutex_unlock(&vd->lock);
}

static const struct pci_device_ops virtio_pci_ops = {
        .bar_read = pci_bar_read,
        .bar_write = pci_bar_write,
        .config_written = pci_config_written,
};

/* ---- device thread ---- */

/* Start fn with every signal blocked: process-directed signals (SIGTERM,
 * SIGINT) must go to the thread the program chose for them, never here. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
        sigset_t all, old;
        int r;

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(t, NULL, fn, arg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -r;
}

static void *device_thread(void *arg)
{
        struct virtio_dev *vd = arg;
        struct pollfd pfd[VIRTIO_MAX_QUEUES + 2];

        jail_thread(JAIL_DEVICE);
        for (;;) {
                unsigned n = 0, stop, ext = 0;

                for (unsigned q = 0; q < vd->nqueues; q++)
                        pfd[n++] = (struct pollfd){ .fd = vd->q[q].kick_fd, .events = POLLIN };
                stop = n;
                pfd[n++] = (struct pollfd){ .fd = vd->stop_fd, .events = POLLIN };
                int efd = __atomic_load_n(&vd->ext_fd, __ATOMIC_ACQUIRE);
                if (efd >= 0 && vd->ext_events) {
                        ext = n;
                        pfd[n++] = (struct pollfd){ .fd = efd, .events = vd->ext_events };
                }
                if (poll(pfd, n, -1) < 0)
                        continue;
                if (pfd[stop].revents)
                        return NULL;
                if (ext && pfd[ext].revents && vd->ops->ext_ready)
                        vd->ops->ext_ready(vd, pfd[ext].revents);
                for (unsigned q = 0; q < vd->nqueues; q++) {
                        uint64_t cnt;
                        if (!(pfd[q].revents & POLLIN))
                                continue;
                        if (read(vd->q[q].kick_fd, &cnt, sizeof(cnt)) < 0)
                                continue;
                        vd->ops->queue_notify(vd, q);
                }
        }
}

/* ---- device side API ---- */

int virtio_pop(struct virtio_dev *vd, unsigned q, struct vq_elem *e, unsigned *gen)
{
        int r = 0;

        pthread_mutex_lock(&vd->lock);
        if (q < vd->nqueues && vd->q[q].enabled && !vd->broken && (vd->status & VIRTIO_STATUS_DRIVER_OK)) {
                r = vq_pop(&vd->q[q].vq, e);
                if (r < 0) {
                        char why[64];
                        snprintf(why, sizeof(why), "queue %u: malformed descriptor chain", q);
                        mark_broken(vd, why);
                }
                *gen = vd->generation;
        }
        pthread_mutex_unlock(&vd->lock);
        return r;
}

void virtio_push(struct virtio_dev *vd, unsigned q, uint16_t head, uint32_t len, unsigned gen)
{
        pthread_mutex_lock(&vd->lock);
        if (q < vd->nqueues && gen == vd->generation && vd->q[q].enabled && !vd->broken) {
                struct virtio_queue *vq = &vd->q[q];
                vq_push(&vq->vq, head, len);
                if (vq_should_notify(&vq->vq))
                        raise_irq(vd, vq->msix_vector, ISR_QUEUE);
        }
        pthread_mutex_unlock(&vd->lock);
}

void virtio_push_batch(struct virtio_dev *vd, unsigned q, const uint16_t *heads, const uint32_t *lens, unsigned n,
                       unsigned gen)
{
        pthread_mutex_lock(&vd->lock);
        if (n && q < vd->nqueues && gen == vd->generation && vd->q[q].enabled && !vd->broken) {
                struct virtio_queue *vq = &vd->q[q];
                vq_push_batch(&vq->vq, heads, lens, n);
                if (vq_should_notify(&vq->vq))
                        raise_irq(vd, vq->msix_vector, ISR_QUEUE);
        }
        pthread_mutex_unlock(&vd->lock);
}

bool virtio_enable_notify(struct virtio_dev *vd, unsigned q)
{
        bool more = false;

        pthread_mutex_lock(&vd->lock);
        if (q < vd->nqueues && vd->q[q].enabled && !vd->broken)
                more = vq_enable_notify(&vd->q[q].vq);
        pthread_mutex_unlock(&vd->lock);
        return more;
}

void virtio_config_changed(struct virtio_dev *vd)
{
        pthread_mutex_lock(&vd->lock);
        /* 4.1.4.3: a new generation, so that multi-field reads retry. */
        vd->config_gen++;
        if ((vd->status & VIRTIO_STATUS_DRIVER_OK) && !vd->broken)
                raise_irq(vd, vd->msix_config, ISR_CONFIG);
        pthread_mutex_unlock(&vd->lock);
}

bool virtio_running(struct virtio_dev *vd)
{
        bool r;

        pthread_mutex_lock(&vd->lock);
        r = (vd->status & VIRTIO_STATUS_DRIVER_OK) && !vd->broken;
        pthread_mutex_unlock(&vd->lock);
        return r;
}

/* ---- life cycle ---- */

static void reset_pci_regs(struct virtio_dev *vd)
{
        struct pci_device *d = &vd->pci;

        put_le(d->cfg + PCI_COMMAND, 0, 2);
        for (int b = 0; b < PCI_NUM_BARS; b++)
                if (d->bar_size[b] && !(d->cfg[PCI_BAR0 + 4 * b] & PCI_BAR_IO))
                        put_le(d->cfg + PCI_BAR0 + 4 * b, d->cfg[PCI_BAR0 + 4 * b] & 0xf, 4);
        put_le(d->cfg + CAP_MSIX + 2, VIRTIO_MSIX_VECTORS - 1, 2);
        memset(vd->msix, 0, sizeof(vd->msix));
        for (unsigned v = 0; v < VIRTIO_MSIX_VECTORS; v++)
                vd->msix[v].ctrl = MSIX_ENTRY_MASKED;
        vd->msix_enabled = vd->msix_masked = false;
}

int virtio_pci_init(struct virtio_dev *vd, const char *name, uint16_t device_id, uint32_t class_code,
                    uint64_t features, unsigned nqueues, uint16_t qsize, unsigned intx_gsi,
                    const struct virtio_dev_ops *ops, void *opaque, const struct vq_mem *mem)
{
        struct pci_device *d = &vd->pci;
        int r;

        if (nqueues == 0 || nqueues > VIRTIO_MAX_QUEUES || qsize == 0 || qsize > VQ_MAX_SIZE ||
            (qsize & (qsize - 1)))
                return -EINVAL;
        memset(vd, 0, sizeof(*vd));
        pci_device_init(d, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + device_id), class_code,
                        &virtio_pci_ops, vd);
        d->cfg[PCI_REVISION] = 1; /* 4.1.2.1: modern devices have revision >= 1 */
        put_le(d->cfg + PCI_SUBSYS_VENDOR, VIRTIO_PCI_VENDOR, 2);
        put_le(d->cfg + PCI_SUBSYS_ID, 0x40, 2);
        put_le(d->cfg + PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
        d->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
        d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)intx_gsi;
        r = pci_device_add_bar(d, 0, VIRTIO_BAR_SIZE, 0);
        if (r < 0)
                return r;
        d->cfg[PCI_CAP_PTR] = CAP_COMMON;
        put_cap(d, CAP_COMMON, CAP_NOTIFY, 16, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_COMMON_OFF, VIRTIO_COMMON_LEN);
        put_cap(d, CAP_NOTIFY, CAP_ISR, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_NOTIFY_OFF,
                VIRTIO_NOTIFY_MULT * nqueues);
        put_le(d->cfg + CAP_NOTIFY + 16, VIRTIO_NOTIFY_MULT, 4);
        put_cap(d, CAP_ISR, CAP_DEVICE, 16, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_ISR_OFF, 1);
        put_cap(d, CAP_DEVICE, CAP_MSIX, 16, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_DEVCFG_OFF, VIRTIO_DEVCFG_LEN);
        /* MSI-X (PCI 3.0 6.8.2): table and PBA in BAR 0. */
        d->cfg[CAP_MSIX] = PCI_CAP_ID_MSIX;
        d->cfg[CAP_MSIX + 1] = 0;
        put_le(d->cfg + CAP_MSIX + 4, VIRTIO_MSIX_TABLE_OFF, 4);
        put_le(d->cfg + CAP_MSIX + 8, VIRTIO_MSIX_PBA_OFF, 4);
        d->wmask[CAP_MSIX + 3] = 0xc0; /* enable, function mask */

        vd->ops = ops;
        vd->opaque = opaque;
        vd->name = name;
        vd->mem = *mem;
        vd->host_features = features | 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_EVENT_IDX |
                            1ull << VIRTIO_RING_F_INDIRECT_DESC;
        vd->nqueues = nqueues;
        vd->intx_gsi = intx_gsi;
        vd->vm_fd = -1;
        vd->stop_fd = -1;
        vd->ext_fd = -1;
        for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
                vd->q[q].kick_fd = -1;
        for (unsigned q = 0; q < nqueues; q++) {
                vd->q[q].max_size = qsize;
                vd->q[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (vd->q[q].kick_fd < 0) {
                        r = -errno;
                        goto fail;
                }
        }
        vd->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vd->stop_fd < 0) {
                r = -errno;
                goto fail;
        }
        pthread_mutex_init(&vd->lock, NULL);
        reset_pci_regs(vd);
        device_reset(vd);
        r = start_thread(&vd->thread, device_thread, vd);
        if (r < 0) {
                pthread_mutex_destroy(&vd->lock);
                goto fail;
        }
        vd->thread_started = true;
        return 0;
fail:
        for (unsigned q = 0; q < nqueues; q++)
                if (vd->q[q].kick_fd >= 0)
                        close(vd->q[q].kick_fd);
        if (vd->stop_fd >= 0)
                close(vd->stop_fd);
        vd->stop_fd = -1;
        return r;
}

void virtio_pci_set_ext_fd(struct virtio_dev *vd, int fd)
{
        __atomic_store_n(&vd->ext_fd, fd, __ATOMIC_RELEASE);
        virtio_kick(vd, 0);
}

void virtio_pci_destroy(struct virtio_dev *vd)
{
        uint64_t one = 1;

        if (!vd->thread_started)
                return;
        if (write(vd->stop_fd, &one, sizeof(one)) < 0) {
                /* cannot fail on a fresh eventfd */
        }
        pthread_join(vd->thread, NULL);
        vd->thread_started = false;
        for (unsigned q = 0; q < vd->nqueues; q++)
                close(vd->q[q].kick_fd);
        close(vd->stop_fd);
        pthread_mutex_destroy(&vd->lock);
}

void virtio_pci_attach(struct virtio_dev *vd, int vm_fd)
{
        pthread_mutex_lock(&vd->lock);
        /* The old VM's ioeventfds died with it. */
        for (unsigned q = 0; q < vd->nqueues; q++)
                vd->q[q].ioeventfd_addr = 0;
        vd->vm_fd = vm_fd;
        vd->intx_level = false;
        reset_pci_regs(vd);
        device_reset(vd);
        pthread_mutex_unlock(&vd->lock);
}

void virtio_pci_detach(struct virtio_dev *vd)
{
        pthread_mutex_lock(&vd->lock);
        for (unsigned q = 0; q < vd->nqueues; q++)
                ioeventfd_set(vd, q, 0);
        device_reset(vd);
        vd->vm_fd = -1;
        pthread_mutex_unlock(&vd->lock);
}

/* ---- snapshots ---- */

void virtio_pci_freeze(struct virtio_dev *vd)
{
        pthread_mutex_lock(&vd->lock);
}

void virtio_pci_thaw(struct virtio_dev *vd)
{
        pthread_mutex_unlock(&vd->lock);
}

static int virtio_save(void *dev, struct state_writer *w)
{
        struct virtio_dev *vd = dev;

        state_put_u64(w, vd->host_features);
        state_put_u64(w, vd->guest_features);
        state_put_u32(w, vd->dfselect);
        state_put_u32(w, vd->gfselect);
        state_put_u8(w, vd->status);
        state_put_u8(w, vd->config_gen);
        state_put_u8(w, vd->isr);
        state_put_u16(w, vd->msix_config);
        state_put_u16(w, vd->queue_sel);
        state_put_u8(w, vd->broken);
        state_put_bytes(w, vd->broken_why, sizeof(vd->broken_why));
        state_put_u32(w, vd->nqueues);
        for (unsigned q = 0; q < vd->nqueues; q++) {
                const struct virtio_queue *vq = &vd->q[q];
                state_put_u16(w, vq->vq.size);
                state_put_u64(w, vq->vq.desc_gpa);
                state_put_u64(w, vq->vq.avail_gpa);
                state_put_u64(w, vq->vq.used_gpa);
                state_put_u16(w, vq->msix_vector);
                state_put_u8(w, vq->enabled);
                state_put_u16(w, vq->vq.used_idx);
        }
        for (unsigned i = 0; i < VIRTIO_MSIX_VECTORS; i++) {
                state_put_u32(w, vd->msix[i].addr_lo);
                state_put_u32(w, vd->msix[i].addr_hi);
                state_put_u32(w, vd->msix[i].data);
                state_put_u32(w, vd->msix[i].ctrl);
        }
        state_put_u32(w, vd->msix_pending);
        state_put_u8(w, vd->intx_level);
        if (vd->ops->state_save)
                vd->ops->state_save(vd, w);
        return 0;
}

static bool vector_ok(uint16_t v)
{
        return v == VIRTIO_NO_VECTOR || v < VIRTIO_MSIX_VECTORS;
}

static int virtio_load(void *dev, struct state_reader *r, struct vm_err *err)
{
        struct virtio_dev *vd = dev, n;
        uint16_t used_idx[VIRTIO_MAX_QUEUES] = { 0 };
        uint64_t host;
        uint32_t nq;
        uint8_t b;
        int ret;

        pthread_mutex_lock(&vd->lock);
        n = *vd;
        host = state_get_u64(r);
        n.guest_features = state_get_u64(r);
        n.dfselect = state_get_u32(r);
        n.gfselect = state_get_u32(r);
        n.status = state_get_u8(r);
        n.config_gen = state_get_u8(r);
        n.isr = state_get_u8(r);
        n.msix_config = state_get_u16(r);
        n.queue_sel = state_get_u16(r);
        b = state_get_u8(r);
        n.broken = b;
        state_get_bytes(r, n.broken_why, sizeof(n.broken_why));
        n.broken_why[sizeof(n.broken_why) - 1] = '\0';
        nq = state_get_u32(r);
        if (state_reader_ok(r) && host != vd->host_features)
                state_reader_fail(r, "%s: features 0x%llx in the snapshot, 0x%llx here (another device version)",
                                  vd->name, (unsigned long long)host, (unsigned long long)vd->host_features);
        if (state_reader_ok(r) && (nq != vd->nqueues || b > 1 || !vector_ok(n.msix_config) ||
                                   (n.guest_features & ~vd->host_features)))
                state_reader_fail(r, "%s: invalid transport state", vd->name);
        for (unsigned q = 0; q < vd->nqueues && state_reader_ok(r); q++) {
                struct virtio_queue *vq = &n.q[q];
                vq->vq.size = state_get_u16(r);
                vq->vq.desc_gpa = state_get_u64(r);
                vq->vq.avail_gpa = state_get_u64(r);
                vq->vq.used_gpa = state_get_u64(r);
                vq->msix_vector = state_get_u16(r);
                b = state_get_u8(r);
                used_idx[q] = state_get_u16(r);
                vq->enabled = b;
                if (state_reader_ok(r) && (b > 1 || !vector_ok(vq->msix_vector) || vq->vq.size > vq->max_size))
                        state_reader_fail(r, "%s: queue %u: invalid state", vd->name, q);
                vq->vq.event_idx = n.guest_features & (1ull << VIRTIO_RING_F_EVENT_IDX);
                vq->vq.indirect = n.guest_features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
                /* The rings must lie in this guest's RAM, as when enabled. */
                if (state_reader_ok(r) && vq->enabled && vq_start(&vq->vq, &vd->mem) < 0)
                        state_reader_fail(r, "%s: queue %u: rings outside guest RAM", vd->name, q);
                if (vq->enabled) {
                        vq->vq.used_idx = used_idx[q];
                        vq->vq.last_avail = used_idx[q];
                }
        }
        for (unsigned i = 0; i < VIRTIO_MSIX_VECTORS; i++) {
                n.msix[i].addr_lo = state_get_u32(r);
                n.msix[i].addr_hi = state_get_u32(r);
                n.msix[i].data = state_get_u32(r);
                n.msix[i].ctrl = state_get_u32(r);
        }
        n.msix_pending = state_get_u32(r);
        b = state_get_u8(r);
        n.intx_level = b;
        if (state_reader_ok(r) && b > 1)
                state_reader_fail(r, "%s: invalid INTx level", vd->name);
        if (state_reader_ok(r) && vd->ops->state_load)
                vd->ops->state_load(vd, r);
        ret = state_reader_done(r, err);
        if (ret == 0) {
                vd->guest_features = n.guest_features;
                vd->dfselect = n.dfselect;
                vd->gfselect = n.gfselect;
                vd->status = n.status;
                vd->config_gen = n.config_gen;
                vd->isr = n.isr;
                vd->msix_config = n.msix_config;
                vd->queue_sel = n.queue_sel;
                vd->broken = n.broken;
                memcpy(vd->broken_why, n.broken_why, sizeof(vd->broken_why));
                for (unsigned q = 0; q < vd->nqueues; q++) {
                        vd->q[q].vq = n.q[q].vq;
                        vd->q[q].msix_vector = n.q[q].msix_vector;
                        vd->q[q].enabled = n.q[q].enabled;
                }
                memcpy(vd->msix, n.msix, sizeof(vd->msix));
                vd->msix_pending = n.msix_pending;
                vd->intx_level = n.intx_level; /* the irqchip's line state is restored with it */
                /* Chains the source had not taken yet, or had in flight. */
                if ((vd->status & VIRTIO_STATUS_DRIVER_OK) && !vd->broken)
                        for (unsigned q = 0; q < vd->nqueues; q++)
                                if (vd->q[q].enabled)
                                        virtio_kick(vd, q);
        }
        pthread_mutex_unlock(&vd->lock);
        return ret;
}

const struct state_ops virtio_state_ops = { .save = virtio_save, .load = virtio_load };

uint64_t virtio_pci_bar_get(struct virtio_dev *vd, uint64_t off, unsigned size)
{
        uint8_t d[8] = { 0 };

        virtio_pci_bar_read(vd, off, d, size);
        return get_le(d, size);
}

void virtio_pci_bar_set(struct virtio_dev *vd, uint64_t off, uint64_t v, unsigned size)
{
        uint8_t d[8];

        put_le(d, v, size);
        virtio_pci_bar_write(vd, off, d, size);
}
