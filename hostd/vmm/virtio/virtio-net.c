/* virtio-net (virtio 1.x 5.1) on a Linux tap device: one receive and one
 * transmit queue, no control queue. The datapath is in user space on the
 * device's own thread, which polls the two queues' kick eventfds and the
 * tap: transmit chains are written to the tap straight from guest RAM
 * (writev, no copy); received frames are read into a bounce buffer and
 * copied into the guest's buffers, over several of them with
 * VIRTIO_NET_F_MRG_RXBUF.
 *
 * Features: MAC, STATUS (link always up), MRG_RXBUF and, when the tap has
 * a vnet header (IFF_VNET_HDR, header size 12: always for taps we open,
 * and for passed fds opened that way), the checksum and TCP segmentation
 * offloads both ways: CSUM, HOST_TSO4/6 (the guest's checked header goes
 * to the tap with the frame, the kernel segments and checksums) and
 * GUEST_CSUM, GUEST_TSO4/6 (TUNSETOFFLOAD follows what the driver
 * negotiated, so the tap only hands us frames the driver accepts). No
 * UFO, no ECN, no control queue. */
#include "config.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include "virtio-devices.h"
#include "virtio-net-proto.h"

#define NET_QUEUE_SIZE 256
#define RXQ 0
#define TXQ 1
/* Frames per wake-up before the thread looks at its other fds again. */
#define NET_BUDGET 128

/* 5.1.3 feature bits */
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define CONFIG_SIZE 8 /* 5.1.4: mac[6], status */

struct virtio_net {
        struct virtio_dev vd;
        int tap_fd;
        bool vnet_hdr;          /* the tap has a 12-byte vnet header: offloads */
        uint8_t config[CONFIG_SIZE];
        /* virtio_net_link_change: the link is down until the driver has
         * read that (then the device thread brings it up again). Under
         * vd.lock. */
        enum { LINK_UP, LINK_DOWN_SENT, LINK_DOWN_SEEN } link;

        /* device thread only */
        struct vq_elem txe, rxe;
        struct vnet_rx rx;
        uint16_t rxb_heads[VQ_MAX_SIZE]; /* received frames not yet published */
        uint32_t rxb_lens[VQ_MAX_SIZE];
        unsigned rxb_n, rxb_gen;
        uint8_t rx_hdr[VNET_HDR_LEN]; /* of the pending frame */
        unsigned tap_offload;   /* TUNSETOFFLOAD flags in force */
        unsigned rx_gen;
        uint8_t *frame;         /* VNET_MAX_FRAME (+ header) bounce buffer */
        size_t frame_len;
        bool frame_pending;     /* read from the tap, not yet in the guest */

        atomic_ulong rx_packets, tx_packets, rx_dropped, tx_dropped;
};

static void net_cfg_read(struct virtio_dev *vd, unsigned off, uint8_t *data, unsigned size)
{
        struct virtio_net *nt = vd->opaque;

        if (off < CONFIG_SIZE && size <= CONFIG_SIZE - off) {
                memcpy(data, nt->config + off, size);
                /* 5.1.4: status is at offset 6. */
                if (nt->link == LINK_DOWN_SENT && off <= 6 && off + size > 6) {
                        nt->link = LINK_DOWN_SEEN;
                        virtio_kick(vd, RXQ);
                }
        }
}

/* Device thread: the driver saw the link down, bring it up. */
static void net_link_up(struct virtio_net *nt)
{
        bool up = false;

        pthread_mutex_lock(&nt->vd.lock);
        if (nt->link == LINK_DOWN_SEEN) {
                nt->config[6] = VIRTIO_NET_S_LINK_UP;
                nt->link = LINK_UP;
                up = true;
        }
        pthread_mutex_unlock(&nt->vd.lock);
        if (up)
                virtio_config_changed(&nt->vd);
}

void virtio_net_link_change(struct virtio_net *nt)
{
        if (!virtio_running(&nt->vd))
                return;
        pthread_mutex_lock(&nt->vd.lock);
        nt->config[6] = 0;
        nt->link = LINK_DOWN_SENT;
        pthread_mutex_unlock(&nt->vd.lock);
        virtio_config_changed(&nt->vd);
}

/* The negotiated features, and the receive queue's size (the most chains
 * one frame may take). */
static uint64_t net_features(struct virtio_net *nt, unsigned *qsize)
{
        uint64_t f;

        pthread_mutex_lock(&nt->vd.lock);
        f = nt->vd.guest_features;
        if (qsize)
                *qsize = nt->vd.q[RXQ].vq.size;
        pthread_mutex_unlock(&nt->vd.lock);
        return f;
}

/* Let the tap give us only the offloaded frames the driver takes. */
static void net_apply_offloads(struct virtio_net *nt, uint64_t f)
{
        unsigned want = 0;

        if (!nt->vnet_hdr)
                return;
        if (f & (1ull << VIRTIO_NET_F_GUEST_CSUM)) {
                want |= TUN_F_CSUM;
                if (f & (1ull << VIRTIO_NET_F_GUEST_TSO4))
                        want |= TUN_F_TSO4;
                if (f & (1ull << VIRTIO_NET_F_GUEST_TSO6))
                        want |= TUN_F_TSO6;
        }
        if (want != nt->tap_offload && ioctl(nt->tap_fd, TUNSETOFFLOAD, (unsigned long)want) == 0)
                nt->tap_offload = want;
}

static void net_tx(struct virtio_net *nt)
{
        struct virtio_dev *vd = &nt->vd;
        struct iovec iov[VQ_MAX_SIZE + 1];
        uint8_t hdr[VNET_HDR_LEN];
        uint64_t feats = net_features(nt, NULL);
        uint16_t heads[NET_BUDGET];
        uint32_t lens[NET_BUDGET] = { 0 };
        unsigned gen, bgen = 0, nb = 0, done = 0;
        int r;

        /* Completions go back in batches, with one interrupt decision each
         * (EVENT_IDX): an interrupt per frame is what a VMM cannot afford. */
#define TX_FLUSH()                                                                  \
        do {                                                                        \
                if (nb)                                                             \
                        virtio_push_batch(vd, TXQ, heads, lens, nb, bgen);          \
                nb = 0;                                                             \
        } while (0)
        for (;;) {
                while ((r = virtio_pop(vd, TXQ, &nt->txe, &gen)) == 1) {
                        size_t len;
                        int n = vnet_tx_frame(&nt->txe, iov + 1, &len);

                        if (n < 0) {
                                TX_FLUSH();
                                virtio_set_broken(vd, "virtio-net: transmit chain without a header or with writable buffers");
                                return;
                        }
                        if (n > 0 && nt->vnet_hdr) {
                                /* The guest's header, checked, goes with the frame. */
                                iov_to_buf(nt->txe.iov, nt->txe.n_out, 0, hdr, sizeof(hdr));
                                if (vnet_tx_hdr(hdr, feats) < 0)
                                        n = 0;
                        }
                        if (n == 0) {
                                atomic_fetch_add(&nt->tx_dropped, 1);
                        } else {
                                struct iovec *v = iov + 1;
                                ssize_t w;
                                if (nt->vnet_hdr) {
                                        iov[0].iov_base = hdr;
                                        iov[0].iov_len = sizeof(hdr);
                                        v = iov;
                                        n++;
                                }
                                do
                                        w = writev(nt->tap_fd, v, n);
                                while (w < 0 && errno == EINTR);
                                /* A full or downed tap drops the frame, like a wire. */
                                atomic_fetch_add(w < 0 ? &nt->tx_dropped : &nt->tx_packets, 1);
                        }
                        if (nb && gen != bgen)
                                TX_FLUSH(); /* reset meanwhile: the old ones are dropped */
                        bgen = gen;
                        heads[nb++] = nt->txe.head;
                        if (++done >= NET_BUDGET) {
                                TX_FLUSH();
                                virtio_kick(vd, TXQ); /* come back after the others */
                                return;
                        }
                }
                TX_FLUSH();
                if (r < 0 || !virtio_enable_notify(vd, TXQ))
                        return;
        }
#undef TX_FLUSH
}

/* Read one frame from the tap into the bounce buffer. 1, 0 (none), <0. */
static int net_read_frame(struct virtio_net *nt)
{
        size_t hdr = nt->vnet_hdr ? VNET_HDR_LEN : 0;
        ssize_t n;

        do
                n = read(nt->tap_fd, nt->frame, hdr + VNET_MAX_FRAME);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
        if ((size_t)n < hdr + VNET_ETH_HLEN) {
                atomic_fetch_add(&nt->rx_dropped, 1);
                return 1; /* nothing to deliver; try the next one */
        }
        memset(nt->rx_hdr, 0, sizeof(nt->rx_hdr));
        if (hdr) {
                memcpy(nt->rx_hdr, nt->frame, VNET_HDR_LEN);
                memmove(nt->frame, nt->frame + hdr, (size_t)n - hdr);
        }
        nt->frame_len = (size_t)n - hdr;
        nt->frame_pending = true;
        vnet_rx_begin(&nt->rx);
        return 1;
}

/* Publish the received frames batched so far (one interrupt decision). */
static void net_rx_flush(struct virtio_net *nt)
{
        if (nt->rxb_n)
                virtio_push_batch(&nt->vd, RXQ, nt->rxb_heads, nt->rxb_lens, nt->rxb_n, nt->rxb_gen);
        nt->rxb_n = 0;
}

/* A frame's chains (all of them, in order) join the batch. */
static void net_rx_complete(struct virtio_net *nt, unsigned gen)
{
        if (nt->rxb_n + nt->rx.n > VQ_MAX_SIZE || (nt->rxb_n && gen != nt->rxb_gen))
                net_rx_flush(nt);
        memcpy(nt->rxb_heads + nt->rxb_n, nt->rx.heads, sizeof(uint16_t) * nt->rx.n);
        memcpy(nt->rxb_lens + nt->rxb_n, nt->rx.lens, sizeof(uint32_t) * nt->rx.n);
        nt->rxb_n += nt->rx.n;
        nt->rxb_gen = gen;
}

static void net_rx_work(struct virtio_net *nt)
{
        struct virtio_dev *vd = &nt->vd;
        unsigned gen, done = 0, qsize;
        uint64_t feats = net_features(nt, &qsize);
        bool mrg = feats & (1ull << VIRTIO_NET_F_MRG_RXBUF);
        int r;

        net_apply_offloads(nt, feats);
        while (done < NET_BUDGET) {
                if (!nt->frame_pending) {
                        r = net_read_frame(nt);
                        if (r <= 0) {
                                /* Empty (or a dead tap): wait for the tap. */
                                vd->ext_events = r == 0 ? POLLIN : 0;
                                return;
                        }
                        if (!nt->frame_pending)
                                continue;
                }
                /* Before its first buffer (again, for a frame that waited
                 * over a reset): offloads the driver did not take, drop. */
                if (nt->rx.n == 0 && vnet_rx_hdr(nt->rx_hdr, feats) < 0) {
                        atomic_fetch_add(&nt->rx_dropped, 1);
                        nt->frame_pending = false;
                        continue;
                }
                r = virtio_pop(vd, RXQ, &nt->rxe, &gen);
                if (r == 0) {
                        /* No buffer: stop polling the tap until the driver
                         * adds some (its kick brings us back). */
                        if (virtio_enable_notify(vd, RXQ))
                                continue;
                        vd->ext_events = 0;
                        return;
                }
                if (r < 0) {
                        vd->ext_events = 0;
                        return;
                }
                if (nt->rx.n && gen != nt->rx_gen)
                        vnet_rx_begin(&nt->rx); /* the device was reset meanwhile */
                nt->rx_gen = gen;
                r = vnet_rx_place(&nt->rx, &nt->rxe, nt->rx_hdr, nt->frame, nt->frame_len, mrg, qsize);
                if (r < 0) {
                        virtio_set_broken(vd, "virtio-net: receive chain with readable or too small buffers");
                        nt->frame_pending = false;
                        vd->ext_events = 0;
                        return;
                }
                if (r == 1) {
                        net_rx_complete(nt, gen);
                        atomic_fetch_add(nt->rx.lens[0] ? &nt->rx_packets : &nt->rx_dropped, 1);
                        nt->frame_pending = false;
                        done++;
                }
        }
        /* Budget used: let the other queue run, then continue. */
        vd->ext_events = POLLIN;
}

static void net_rx(struct virtio_net *nt)
{
        net_rx_work(nt);
        net_rx_flush(nt);
}

static void net_queue_notify(struct virtio_dev *vd, unsigned q)
{
        struct virtio_net *nt = vd->opaque;

        net_link_up(nt);
        if (q == TXQ)
                net_tx(nt);
        else
                net_rx(nt);
}

static void net_ext_ready(struct virtio_dev *vd, short revents)
{
        struct virtio_net *nt = vd->opaque;

        if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
                vd->ext_events = 0; /* the tap went away: nothing more to read */
                return;
        }
        net_rx(nt);
}

static const struct virtio_dev_ops net_ops = {
        .cfg_read = net_cfg_read,
        .queue_notify = net_queue_notify,
        .ext_ready = net_ext_ready,
};

int virtio_net_create(int tap_fd, bool vnet_hdr, const uint8_t mac[6], unsigned intx_gsi, const struct vq_mem *mem,
                      struct virtio_net **out)
{
        uint64_t features = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS | 1ull << VIRTIO_NET_F_MRG_RXBUF;
        if (vnet_hdr)
                features |= 1ull << VIRTIO_NET_F_CSUM | 1ull << VIRTIO_NET_F_GUEST_CSUM |
                            1ull << VIRTIO_NET_F_GUEST_TSO4 | 1ull << VIRTIO_NET_F_GUEST_TSO6 |
                            1ull << VIRTIO_NET_F_HOST_TSO4 | 1ull << VIRTIO_NET_F_HOST_TSO6;
        struct virtio_net *nt;
        int r;

        nt = calloc(1, sizeof(*nt));
        if (!nt)
                return -ENOMEM;
        nt->frame = malloc(VNET_HDR_LEN + VNET_MAX_FRAME);
        if (!nt->frame) {
                free(nt);
                return -ENOMEM;
        }
        nt->tap_fd = tap_fd;
        nt->vnet_hdr = vnet_hdr;
        memcpy(nt->config, mac, 6);
        nt->config[6] = VIRTIO_NET_S_LINK_UP;
        r = virtio_pci_init(&nt->vd, "virtio-net", VIRTIO_ID_NET, 0x020000, features, 2, NET_QUEUE_SIZE, intx_gsi,
                            &net_ops, nt, mem);
        if (r < 0) {
                free(nt->frame);
                free(nt);
                return r;
        }
        virtio_pci_set_ext_fd(&nt->vd, tap_fd);
        *out = nt;
        return 0;
}

struct virtio_dev *virtio_net_dev(struct virtio_net *nt)
{
        return &nt->vd;
}

void virtio_net_stats(struct virtio_net *nt, struct virtio_net_stats *st)
{
        st->rx_packets = atomic_load(&nt->rx_packets);
        st->tx_packets = atomic_load(&nt->tx_packets);
        st->rx_dropped = atomic_load(&nt->rx_dropped);
        st->tx_dropped = atomic_load(&nt->tx_dropped);
}

void virtio_net_free(struct virtio_net *nt)
{
        if (!nt)
                return;
        virtio_pci_destroy(&nt->vd);
        free(nt->frame);
        free(nt);
}
