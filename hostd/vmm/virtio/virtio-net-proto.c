#include "config.h"

#include "virtio-net-proto.h"

#include <errno.h>
#include <string.h>

int vnet_tx_frame(const struct vq_elem *e, struct iovec *out, size_t *len)
{
        size_t skip = VNET_HDR_LEN;
        unsigned n = 0;

        /* 5.1.6.2: the driver puts the header and the frame in readable
         * buffers; a writable one has no meaning on the transmit queue. */
        if (e->n_in || e->in_len || e->out_len < VNET_HDR_LEN)
                return -EIO;
        if (e->out_len - VNET_HDR_LEN < VNET_ETH_HLEN || e->out_len - VNET_HDR_LEN > VNET_MAX_FRAME)
                return 0;
        for (unsigned i = 0; i < e->n_out && i < VQ_MAX_SIZE; i++) {
                size_t l = e->iov[i].iov_len;
                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                out[n].iov_base = (uint8_t *)e->iov[i].iov_base + skip;
                out[n].iov_len = l - skip;
                skip = 0;
                n++;
        }
        *len = (size_t)(e->out_len - VNET_HDR_LEN);
        return (int)n;
}

static bool has(uint64_t features, unsigned bit)
{
        return features & (1ull << bit);
}

int vnet_tx_hdr(uint8_t hdr[VNET_HDR_LEN], uint64_t features)
{
        uint8_t flags = hdr[0], gso = hdr[1];

        hdr[10] = hdr[11] = 0; /* num_buffers: receive only */
        flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
        if (!has(features, VIRTIO_NET_F_CSUM))
                flags = 0;
        hdr[0] = flags;
        switch (gso) {
        case VIRTIO_NET_HDR_GSO_NONE:
                memset(hdr + 1, 0, 5); /* gso_type, hdr_len, gso_size */
                return 0;
        case VIRTIO_NET_HDR_GSO_TCPV4:
                if (!has(features, VIRTIO_NET_F_HOST_TSO4))
                        return -EPROTO;
                break;
        case VIRTIO_NET_HDR_GSO_TCPV6:
                if (!has(features, VIRTIO_NET_F_HOST_TSO6))
                        return -EPROTO;
                break;
        default: /* UDP, ECN: never offered */
                return -EPROTO;
        }
        /* 5.1.6.2: segmentation needs the checksum offload too. */
        return flags & VIRTIO_NET_HDR_F_NEEDS_CSUM ? 0 : -EPROTO;
}

int vnet_rx_hdr(uint8_t hdr[VNET_HDR_LEN], uint64_t features)
{
        uint8_t flags = hdr[0], gso = hdr[1];
        bool csum = has(features, VIRTIO_NET_F_GUEST_CSUM);

        hdr[10] = hdr[11] = 0;
        if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !csum)
                return -EPROTO;
        hdr[0] = csum ? flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID) : 0;
        switch (gso) {
        case VIRTIO_NET_HDR_GSO_NONE:
                memset(hdr + 1, 0, 5);
                return 0;
        case VIRTIO_NET_HDR_GSO_TCPV4:
                return has(features, VIRTIO_NET_F_GUEST_TSO4) ? 0 : -EPROTO;
        case VIRTIO_NET_HDR_GSO_TCPV6:
                return has(features, VIRTIO_NET_F_GUEST_TSO6) ? 0 : -EPROTO;
        default:
                return -EPROTO;
        }
}

void vnet_rx_begin(struct vnet_rx *rx)
{
        rx->n = 0;
        rx->done = 0;
        rx->first_n = 0;
}

int vnet_rx_place(struct vnet_rx *rx, const struct vq_elem *e, const uint8_t hdr_in[VNET_HDR_LEN],
                  const uint8_t *frame, size_t len, bool mrg, unsigned max_chains)
{
        const struct iovec *in = e->iov + e->n_out;
        uint8_t hdr[VNET_HDR_LEN];
        size_t room, skip = 0, c;
        uint16_t nb;

        /* 5.1.6.3: receive buffers are device-writable only. */
        if (e->n_out || e->out_len || e->in_len == 0 || e->in_len > UINT32_MAX)
                return -EIO;
        if (max_chains > VQ_MAX_SIZE)
                max_chains = VQ_MAX_SIZE;
        if (rx->n >= max_chains)
                return -EIO;
        if (rx->n == 0) {
                if (e->in_len < VNET_HDR_LEN)
                        return -EIO;
                if (!mrg && e->in_len - VNET_HDR_LEN < len) {
                        /* Does not fit and cannot continue elsewhere: drop. */
                        rx->heads[0] = e->head;
                        rx->lens[0] = 0;
                        rx->n = 1;
                        return 1;
                }
                memcpy(rx->first, in, sizeof(*in) * e->n_in);
                rx->first_n = e->n_in;
                skip = VNET_HDR_LEN;
        }
        room = (size_t)e->in_len - skip;
        c = len - rx->done < room ? len - rx->done : room;
        iov_from_buf(in, e->n_in, skip, frame + rx->done, c);
        rx->done += c;
        rx->heads[rx->n] = e->head;
        rx->lens[rx->n] = (uint32_t)(skip + c);
        rx->n++;
        if (rx->done < len) {
                if (rx->n >= max_chains)
                        return -EIO; /* buffers too small to ever hold it */
                return 0;
        }
        /* 5.1.6.4: num_buffers in the first chain's header. */
        memcpy(hdr, hdr_in, VNET_HDR_LEN);
        nb = (uint16_t)rx->n;
        memcpy(hdr + 10, &nb, 2);
        iov_from_buf(rx->first, rx->first_n, 0, hdr, sizeof(hdr));
        return 1;
}
