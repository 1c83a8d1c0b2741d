/* virtio-net (virtio 1.x 5.1) packet framing, separate from the device so
 * that it can be unit-tested and fuzzed on its own: where the frame is in
 * a transmit chain, and how a received frame is spread over one or more
 * receive chains. Every chain comes from the guest: lengths are checked,
 * nothing is trusted.
 *
 * With VIRTIO_F_VERSION_1 the header is always struct virtio_net_hdr_v1,
 * 12 bytes, num_buffers included (5.1.6); it is also the tap's vnet header
 * (IFF_VNET_HDR with TUNSETVNETHDRSZ 12), so checksum and segmentation
 * offloads pass through: the driver's header goes to the tap once checked
 * against the negotiated features (vnet_tx_hdr), and the tap's header to
 * the driver (vnet_rx_hdr). The kernel validates what it is given. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtqueue.h"

#define VNET_HDR_LEN 12
#define VNET_ETH_HLEN 14
/* Largest frame either way: a 64 KiB IP packet plus an Ethernet header
 * and a VLAN tag (the tap's MTU may be raised up to that). */
#define VNET_MAX_FRAME (65535 + 18)

/* 5.1.3 feature bits of the offloads */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12

/* 5.1.6 header fields */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80

/* Check a transmit header against the negotiated features (bits above)
 * and make it what the tap gets: flags other than NEEDS_CSUM cleared (and
 * that one too without CSUM), num_buffers zeroed. 0, or -EPROTO when the
 * frame must be dropped: a segmentation type that was not negotiated (or
 * ECN, never offered), or GSO without NEEDS_CSUM. */
int vnet_tx_hdr(uint8_t hdr[VNET_HDR_LEN], uint64_t features);

/* The receive header for the driver from the tap's: 0, or -EPROTO when the
 * driver did not negotiate what the frame needs (GSO of that type, or a
 * partial checksum without GUEST_CSUM); DATA_VALID is kept only with
 * GUEST_CSUM; num_buffers is filled in by vnet_rx_place. */
int vnet_rx_hdr(uint8_t hdr[VNET_HDR_LEN], uint64_t features);

/* The frame of transmit chain e without its header, as iovecs pointing
 * into e's buffers (at most VQ_MAX_SIZE). Returns the number of iovecs
 * with *len the frame's length; 0 when the frame is to be dropped
 * (shorter than an Ethernet header or longer than VNET_MAX_FRAME);
 * -EIO when the chain breaks the rules (no room for the header, or
 * device-writable buffers on the transmit queue). */
int vnet_tx_frame(const struct vq_elem *e, struct iovec *out, size_t *len);

/* A received frame being placed into receive chains. */
struct vnet_rx {
        uint16_t heads[VQ_MAX_SIZE];
        uint32_t lens[VQ_MAX_SIZE];
        unsigned n;             /* chains taken for the current frame */
        size_t done;            /* frame bytes placed so far */
        struct iovec first[VQ_MAX_SIZE]; /* first chain's buffers: num_buffers */
        unsigned first_n;
};

/* Start placing a new frame. */
void vnet_rx_begin(struct vnet_rx *rx);

/* Place the next part of frame [0, len) into chain e, with hdr (from
 * vnet_rx_hdr; num_buffers is set here) at the start of the first. mrg: the driver
 * negotiated VIRTIO_NET_F_MRG_RXBUF, so a frame may take several chains
 * (up to max_chains); otherwise it must fit in one and a frame that does
 * not is dropped (the chain goes back with length 0, which Linux counts as
 * a length error). Returns 1 when the frame is complete (heads/lens[0..n)
 * are to be pushed together), 0 when another chain is needed, -EIO when
 * the chain breaks the rules (readable buffers, no room for the header in
 * the first chain, no writable byte, or more than max_chains needed). */
int vnet_rx_place(struct vnet_rx *rx, const struct vq_elem *e, const uint8_t hdr[VNET_HDR_LEN],
                  const uint8_t *frame, size_t len, bool mrg, unsigned max_chains);
