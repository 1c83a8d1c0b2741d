/* virtio-console (virtio 1.x 5.3) with VIRTIO_CONSOLE_F_MULTIPORT: named
 * ports (spice-vdagent's com.redhat.spice.0, our own agent's) between
 * guest programs and host-side readers and writers.
 *
 * Queues: port 0's receiveq and transmitq (0, 1), the control receiveq and
 * transmitq (2, 3), then port i's at 2 + 2i and 3 + 2i. The control
 * protocol lives in virtio-console-proto.c; this file moves bytes.
 *
 * Data from the guest waits in the port's from_guest FIFO until the host
 * side reads it; a transmit chain that does not fit is held (partly
 * copied) and returned once readers made room, so a slow reader slows the
 * guest down instead of losing bytes. Data for the guest waits in
 * to_guest until the guest posts receive buffers; writes beyond its room
 * are refused (short writes). Only while a guest program holds the port
 * open: Linux drops data for closed ports, and what was queued for an
 * earlier opener is dropped when the port opens again.
 *
 * A reset of the device shows up as a new generation on the next chain
 * taken: the handshake starts again and open ports count as closed. */
#include "config.h"

#include <errno.h>
#include <linux/virtio_console.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "virtio-console-proto.h"
#include "virtio-devices.h"

#define CON_QUEUE_SIZE 64
#define CTRL_RX 2
#define CTRL_TX 3
#define NO_GEN (~0u)

struct con_port_io {
        struct vcon_fifo to_guest, from_guest;
        struct vq_elem rx;      /* a receive buffer taken, not yet filled */
        bool rx_held;
        unsigned rx_gen;
        struct vq_elem tx;      /* a transmit chain not yet fully copied */
        bool tx_held;
        unsigned tx_gen;
        uint64_t tx_off;
};

/* Callbacks owed, collected under the lock and made after it. */
struct con_events {
        uint8_t changed, open, readable, writable; /* bit per port */
};

struct virtio_console {
        struct virtio_dev vd;
        pthread_mutex_t ops_lock; /* ops, opaque; held while calling them */
        const struct virtio_console_ops *ops;
        void *opaque;

        pthread_mutex_t lock;   /* everything below; taken before vd.lock */
        struct vcon_proto proto;
        struct con_port_io io[VCON_MAX_PORTS];
        struct vq_elem elem;
        struct vq_elem ctrl_rx; /* a control buffer taken, not yet filled */
        bool ctrl_rx_held;
        unsigned ctrl_rx_gen;
        unsigned gen;           /* generation of the chains we last took */
        struct virtio_console_stats stats;
};

static unsigned rx_queue(unsigned port)
{
        return port == 0 ? 0 : 2 + 2 * port;
}

static unsigned tx_queue(unsigned port)
{
        return rx_queue(port) + 1;
}

static void con_cfg_read(struct virtio_dev *vd, unsigned off, uint8_t *data, unsigned size)
{
        struct virtio_console *c = vd->opaque;
        struct virtio_console_config cfg = { .max_nr_ports = htole32(c->proto.nports) };

        if (off < sizeof(cfg) && size <= sizeof(cfg) - off)
                memcpy(data, (uint8_t *)&cfg + off, size);
}

/* The device was reset since we last took a chain: start over. */
static void forget_guest(struct virtio_console *c, struct con_events *ev)
{
        for (unsigned i = 0; i < c->proto.nports; i++) {
                struct con_port_io *io = &c->io[i];
                if (c->proto.port[i].guest_open)
                        ev->changed |= 1u << i;
                vcon_fifo_clear(&io->to_guest);
                io->tx_held = io->rx_held = false;
        }
        c->ctrl_rx_held = false;
        vcon_proto_reset(&c->proto);
}

/* virtio_pop that notices resets. c->lock held. */
static int con_pop(struct virtio_console *c, unsigned q, struct vq_elem *e, unsigned *gen,
                   struct con_events *ev)
{
        int r = virtio_pop(&c->vd, q, e, gen);

        if (r == 1 && *gen != c->gen) {
                if (c->gen != NO_GEN)
                        forget_guest(c, ev);
                c->gen = *gen;
        }
        return r;
}

/* Copy len bytes of f into the iovecs. */
static void fifo_to_iov(struct vcon_fifo *f, const struct iovec *iov, unsigned n, size_t len)
{
        uint8_t chunk[4096];

        for (size_t off = 0; off < len;) {
                size_t k = vcon_fifo_get(f, chunk, len - off < sizeof(chunk) ? len - off : sizeof(chunk));
                iov_from_buf(iov, n, off, chunk, k);
                off += k;
        }
}

/* Owed control messages into the control receiveq. A buffer is taken
 * first and filled only if a message is still owed then (taking it may
 * reveal a reset, after which nothing is): a buffer is never returned
 * empty, which Linux would read as a message. */
static void flush_ctrl(struct virtio_console *c, struct con_events *ev)
{
        uint8_t msg[VCON_MSG_MAX];

        while (vcon_ctrl_pending(&c->proto)) {
                size_t n;

                if (!c->ctrl_rx_held) {
                        if (con_pop(c, CTRL_RX, &c->ctrl_rx, &c->ctrl_rx_gen, ev) != 1)
                                return;
                        c->ctrl_rx_held = true;
                        continue;
                }
                n = vcon_ctrl_next(&c->proto, msg);
                c->ctrl_rx_held = false;
                if (c->ctrl_rx.in_len < n) {
                        virtio_set_broken(&c->vd, "virtio-console: control buffer too small");
                        return;
                }
                iov_from_buf(c->ctrl_rx.iov + c->ctrl_rx.n_out, c->ctrl_rx.n_in, 0, msg, n);
                virtio_push(&c->vd, CTRL_RX, c->ctrl_rx.head, (uint32_t)n, c->ctrl_rx_gen);
        }
}

/* Queued host bytes into port p's receive buffers (taken first, filled
 * only while still wanted, as for the control queue). */
static void flush_rx(struct virtio_console *c, unsigned p, struct con_events *ev)
{
        struct con_port_io *io = &c->io[p];

        while (io->to_guest.len && c->proto.port[p].guest_open) {
                size_t n;
                bool was_full;

                if (!io->rx_held) {
                        if (con_pop(c, rx_queue(p), &io->rx, &io->rx_gen, ev) != 1)
                                return;
                        io->rx_held = true;
                        continue;
                }
                io->rx_held = false;
                if (io->rx.in_len == 0) {
                        virtio_set_broken(&c->vd, "virtio-console: receive buffer without room");
                        return;
                }
                n = io->to_guest.len < io->rx.in_len ? io->to_guest.len : (size_t)io->rx.in_len;
                was_full = vcon_fifo_room(&io->to_guest) == 0;
                fifo_to_iov(&io->to_guest, io->rx.iov + io->rx.n_out, io->rx.n_in, n);
                virtio_push(&c->vd, rx_queue(p), io->rx.head, (uint32_t)n, io->rx_gen);
                c->stats.to_guest += n;
                if (was_full)
                        ev->writable |= 1u << p;
        }
}

/* Copy as much of the held transmit chain as fits; true when it is done. */
static bool copy_tx(struct virtio_console *c, unsigned p, struct con_events *ev)
{
        struct con_port_io *io = &c->io[p];
        uint8_t chunk[4096];

        while (io->tx_off < io->tx.out_len && vcon_fifo_room(&io->from_guest)) {
                size_t want = io->tx.out_len - io->tx_off;
                size_t room = vcon_fifo_room(&io->from_guest);
                size_t k;

                if (want > room)
                        want = room;
                if (want > sizeof(chunk))
                        want = sizeof(chunk);
                k = iov_to_buf(io->tx.iov, io->tx.n_out, io->tx_off, chunk, want);
                vcon_fifo_put(&io->from_guest, chunk, k);
                io->tx_off += k;
                c->stats.from_guest += k;
                if (k)
                        ev->readable |= 1u << p;
                if (k < want) /* cannot happen: out_len is the iovecs' sum */
                        break;
        }
        return io->tx_off >= io->tx.out_len;
}

/* Guest bytes from port p's transmitq into from_guest. */
static void drain_tx(struct virtio_console *c, unsigned p, struct con_events *ev)
{
        struct con_port_io *io = &c->io[p];

        for (;;) {
                if (!io->tx_held) {
                        if (con_pop(c, tx_queue(p), &io->tx, &io->tx_gen, ev) != 1)
                                return;
                        io->tx_held = true;
                        io->tx_off = 0;
                }
                if (!copy_tx(c, p, ev))
                        return; /* readers make room, then kick us */
                io->tx_held = false;
                virtio_push(&c->vd, tx_queue(p), io->tx.head, 0, io->tx_gen);
        }
}

static void port_changed(struct virtio_console *c, const struct vcon_change *ch, struct con_events *ev)
{
        ev->changed |= 1u << ch->port;
        if (ch->open)
                vcon_fifo_clear(&c->io[ch->port].to_guest); /* meant for an earlier opener */
}

/* Guest control messages. */
static void drain_ctrl(struct virtio_console *c, struct con_events *ev)
{
        uint8_t msg[VCON_MSG_MAX];
        struct vcon_change ch;
        unsigned gen;

        while (con_pop(c, CTRL_TX, &c->elem, &gen, ev) == 1) {
                size_t n = iov_to_buf(c->elem.iov, c->elem.n_out, 0, msg, sizeof(msg));
                /* Longer than any message: pass a length that fails the check. */
                if (vcon_ctrl_in(&c->proto, msg, c->elem.out_len > sizeof(msg) ? sizeof(msg) : n, &ch) < 0)
                        c->stats.ctrl_refused++;
                else if (ch.changed)
                        port_changed(c, &ch, ev);
                virtio_push(&c->vd, CTRL_TX, c->elem.head, 0, gen);
        }
}

static void con_work(struct virtio_console *c, struct con_events *ev)
{
        drain_ctrl(c, ev);
        flush_ctrl(c, ev);
        for (unsigned p = 0; p < c->proto.nports; p++) {
                drain_tx(c, p, ev);
                flush_rx(c, p, ev);
        }
}

static void con_deliver(struct virtio_console *c, const struct con_events *ev)
{
        if (!ev->changed && !ev->readable && !ev->writable)
                return;
        pthread_mutex_lock(&c->ops_lock);
        for (unsigned p = 0; p < c->proto.nports; p++) {
                if ((ev->changed >> p) & 1 && c->ops->opened)
                        c->ops->opened(c->opaque, p, virtio_console_guest_open(c, p));
                if ((ev->readable >> p) & 1 && c->ops->readable)
                        c->ops->readable(c->opaque, p);
                if ((ev->writable >> p) & 1 && c->ops->writable)
                        c->ops->writable(c->opaque, p);
        }
        pthread_mutex_unlock(&c->ops_lock);
}

void virtio_console_set_ops(struct virtio_console *c, const struct virtio_console_ops *ops, void *opaque)
{
        static const struct virtio_console_ops none;

        pthread_mutex_lock(&c->ops_lock);
        c->ops = ops ? ops : &none;
        c->opaque = opaque;
        pthread_mutex_unlock(&c->ops_lock);
}

/* Buffers on q mean work for us now: a transmitq we are not stalled on.
 * (Receive buffers wait for data; re-polling them would spin.) */
static bool drains(struct virtio_console *c, unsigned q)
{
        if (q == CTRL_TX)
                return true;
        for (unsigned p = 0; p < c->proto.nports; p++)
                if (q == tx_queue(p))
                        return !c->io[p].tx_held;
        return false;
}

static void con_queue_notify(struct virtio_dev *vd, unsigned q)
{
        struct virtio_console *c = vd->opaque;
        struct con_events ev = { 0 };

        pthread_mutex_lock(&c->lock);
        /* Every queue's work is cheap and bounded: do it all, so that an
         * open seen on the control queue lets held data flow at once. */
        do
                con_work(c, &ev);
        while (virtio_enable_notify(vd, q) && drains(c, q));
        pthread_mutex_unlock(&c->lock);
        con_deliver(c, &ev);
}

/* Snapshot (vd->lock held; the VM is paused, so c->lock is not needed):
 * the handshake's state per port. Queued bytes are not kept; a chain held
 * half-copied is taken again after a restore (virtio_state_ops rewinds). */
static void con_state_save(struct virtio_dev *vd, struct state_writer *w)
{
        struct virtio_console *c = vd->opaque;

        state_put_u32(w, c->proto.nports);
        state_put_u8(w, c->proto.device_ready);
        for (unsigned i = 0; i < c->proto.nports; i++) {
                const struct vcon_port *pt = &c->proto.port[i];
                state_put_u8(w, (uint8_t)(pt->add_sent | pt->ready << 1 | pt->name_sent << 2 | pt->open_sent << 3 |
                                          pt->failed << 4 | pt->guest_open << 5));
        }
}

static bool con_state_load(struct virtio_dev *vd, struct state_reader *r)
{
        struct virtio_console *c = vd->opaque;
        uint32_t n = state_get_u32(r);
        uint8_t ready = state_get_u8(r), f[VCON_MAX_PORTS] = { 0 };

        if (state_reader_ok(r) && (n != c->proto.nports || ready > 1))
                return state_reader_fail(r, "virtio-console: %u ports saved, this device has %u", n, c->proto.nports);
        for (unsigned i = 0; i < n; i++)
                if ((f[i] = state_get_u8(r)) > 0x3f)
                        return state_reader_fail(r, "virtio-console: bad port flags %#x", f[i]);
        if (!state_reader_ok(r))
                return false;
        c->proto.device_ready = ready;
        for (unsigned i = 0; i < n; i++) {
                struct vcon_port *pt = &c->proto.port[i];
                pt->add_sent = f[i] & 1, pt->ready = f[i] >> 1 & 1, pt->name_sent = f[i] >> 2 & 1;
                pt->open_sent = f[i] >> 3 & 1, pt->failed = f[i] >> 4 & 1, pt->guest_open = f[i] >> 5 & 1;
                vcon_fifo_clear(&c->io[i].to_guest);
                vcon_fifo_clear(&c->io[i].from_guest);
                c->io[i].tx_held = c->io[i].rx_held = false;
        }
        c->ctrl_rx_held = false;
        c->gen = vd->generation;
        return true;
}

static const struct virtio_dev_ops con_ops = {
        .cfg_read = con_cfg_read,
        .queue_notify = con_queue_notify,
        .state_save = con_state_save,
        .state_load = con_state_load,
};

size_t virtio_console_write(struct virtio_console *c, unsigned port, const void *data, size_t len)
{
        size_t n = 0;

        pthread_mutex_lock(&c->lock);
        if (port < c->proto.nports && c->proto.port[port].guest_open)
                n = vcon_fifo_put(&c->io[port].to_guest, data, len);
        pthread_mutex_unlock(&c->lock);
        if (n)
                virtio_kick(&c->vd, rx_queue(port));
        return n;
}

size_t virtio_console_read(struct virtio_console *c, unsigned port, void *data, size_t len)
{
        size_t n = 0;
        bool held = false;

        pthread_mutex_lock(&c->lock);
        if (port < c->proto.nports) {
                n = vcon_fifo_get(&c->io[port].from_guest, data, len);
                held = c->io[port].tx_held;
        }
        pthread_mutex_unlock(&c->lock);
        if (n && held)
                virtio_kick(&c->vd, tx_queue(port));
        return n;
}

bool virtio_console_guest_open(struct virtio_console *c, unsigned port)
{
        bool open;

        pthread_mutex_lock(&c->lock);
        open = port < c->proto.nports && c->proto.port[port].guest_open;
        pthread_mutex_unlock(&c->lock);
        return open;
}

void virtio_console_stats(struct virtio_console *c, struct virtio_console_stats *out)
{
        pthread_mutex_lock(&c->lock);
        *out = c->stats;
        pthread_mutex_unlock(&c->lock);
}

static void con_free_fifos(struct virtio_console *c)
{
        for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
                vcon_fifo_free(&c->io[i].to_guest);
                vcon_fifo_free(&c->io[i].from_guest);
        }
}

int virtio_console_create(const char *const *names, unsigned nports, const struct virtio_console_ops *ops,
                          void *opaque, unsigned intx_gsi, const struct vq_mem *mem, struct virtio_console **out)
{
        struct virtio_console *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        r = vcon_proto_init(&c->proto, names, nports);
        for (unsigned i = 0; r == 0 && i < nports; i++)
                if (vcon_fifo_init(&c->io[i].to_guest, VIRTIO_CONSOLE_FIFO) < 0 ||
                    vcon_fifo_init(&c->io[i].from_guest, VIRTIO_CONSOLE_FIFO) < 0)
                        r = -ENOMEM;
        if (r < 0)
                goto fail;
        c->gen = NO_GEN;
        pthread_mutex_init(&c->lock, NULL);
        pthread_mutex_init(&c->ops_lock, NULL);
        virtio_console_set_ops(c, ops, opaque);
        r = virtio_pci_init(&c->vd, "virtio-console", VIRTIO_ID_CONSOLE, 0x078000,
                            1ull << VIRTIO_CONSOLE_F_MULTIPORT, 2 + 2 * nports, CON_QUEUE_SIZE, intx_gsi, &con_ops,
                            c, mem);
        if (r < 0) {
                pthread_mutex_destroy(&c->lock);
                pthread_mutex_destroy(&c->ops_lock);
                goto fail;
        }
        *out = c;
        return 0;
fail:
        con_free_fifos(c);
        free(c);
        return r;
}

struct virtio_dev *virtio_console_dev(struct virtio_console *c)
{
        return &c->vd;
}

void virtio_console_free(struct virtio_console *c)
{
        if (!c)
                return;
        virtio_pci_destroy(&c->vd);
        pthread_mutex_destroy(&c->lock);
        pthread_mutex_destroy(&c->ops_lock);
        con_free_fifos(c);
        free(c);
}
