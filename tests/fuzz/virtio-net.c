/* libFuzzer target: virtio-net request parsing (hostd/vmm/virtio/virtio-net-proto.c)
 * on hostile split virtqueues. The input is the queue registers, a frame
 * length and flags, then the guest's RAM. Every chain the ring yields goes
 * through the transmit parser (every byte of the frame it finds is read,
 * so ASan sees any iovec outside RAM) and through the receive placer (a
 * frame written into the chain, over several chains with mergeable
 * buffers), and the offload headers through vnet_tx_hdr/vnet_rx_hdr with
 * fuzzed features. Rule breaking must end in -EIO, never a crash or a
 * hang. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fuzz-ram.h"
#include "hostd/vmm/virtio/virtio-net-proto.h"
#include "hostd/vmm/virtio/virtqueue.h"

#define RAM_SIZE 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct vq_elem e;
        static struct vnet_rx rx;
        static struct iovec iov[VQ_MAX_SIZE];
        static uint8_t frame[VNET_MAX_FRAME];
        struct fuzz_ram ram;
        struct virtq vq;
        struct vq_mem mem = { fuzz_translate, &ram };
        uint8_t flags;
        size_t frame_len;
        uint64_t features;
        uint8_t rx_hdr_in[VNET_HDR_LEN];
        int rounds = 0;
        bool mrg, rx_open = false;

        vq_reset(&vq);
        flags = (uint8_t)fuzz_get(&data, &size, 1);
        vq.size = (uint16_t)(1u << (fuzz_get(&data, &size, 1) % 9));
        vq.desc_gpa = fuzz_get(&data, &size, 2);
        vq.avail_gpa = fuzz_get(&data, &size, 2);
        vq.used_gpa = fuzz_get(&data, &size, 2);
        frame_len = (size_t)fuzz_get(&data, &size, 3) % (VNET_MAX_FRAME + 1);
        features = fuzz_get(&data, &size, 2);
        for (unsigned i = 0; i < VNET_HDR_LEN; i++)
                rx_hdr_in[i] = (uint8_t)fuzz_get(&data, &size, 1);
        vq.event_idx = flags & 1;
        vq.indirect = flags & 2;
        mrg = flags & 4;
        for (size_t i = 0; i < frame_len; i++)
                frame[i] = (uint8_t)i;

        ram.size = RAM_SIZE;
        ram.p = calloc(1, RAM_SIZE);
        if (!ram.p)
                return 0;
        memcpy(ram.p, data, size < RAM_SIZE ? size : RAM_SIZE);

        if (vq_start(&vq, &mem) == 0) {
                vnet_rx_begin(&rx);
                for (;;) {
                        size_t len = 0;
                        int r = vq_pop(&vq, &e), n;
                        uint64_t sum = 0;

                        if (r <= 0)
                                break;
                        n = vnet_tx_frame(&e, iov, &len);
                        if (n >= 0) {
                                uint8_t hdr[VNET_HDR_LEN];
                                iov_to_buf(e.iov, e.n_out, 0, hdr, sizeof(hdr));
                                if (vnet_tx_hdr(hdr, features) == 0 && hdr[1] != 0 && !(hdr[0] & 1))
                                        abort(); /* GSO always with NEEDS_CSUM */
                                if (hdr[10] || hdr[11])
                                        abort();
                        }
                        if (n > 0) {
                                size_t seen = 0;
                                for (int i = 0; i < n; i++) {
                                        for (size_t j = 0; j < iov[i].iov_len; j++)
                                                sum += ((volatile uint8_t *)iov[i].iov_base)[j];
                                        seen += iov[i].iov_len;
                                }
                                if (seen != len || len < VNET_ETH_HLEN || len > VNET_MAX_FRAME)
                                        abort();
                        }
                        if (frame_len >= VNET_ETH_HLEN) {
                                uint8_t hdr[VNET_HDR_LEN];
                                memcpy(hdr, rx_hdr_in, sizeof(hdr));
                                if (vnet_rx_hdr(hdr, features) < 0)
                                        memset(hdr, 0, sizeof(hdr));
                                r = vnet_rx_place(&rx, &e, hdr, frame, frame_len, mrg, vq.size);
                                rx_open = r == 0;
                                if (r == 1) {
                                        if (rx.n == 0 || rx.n > vq.size)
                                                abort();
                                        vq_push_batch(&vq, rx.heads, rx.lens, rx.n);
                                }
                                if (r != 0)
                                        vnet_rx_begin(&rx);
                        } else {
                                vq_push(&vq, e.head, 0);
                        }
                        (void)vq_should_notify(&vq);
                        (void)sum;
                        if (++rounds > 4 * VQ_MAX_SIZE)
                                break;
                }
                (void)rx_open;
                (void)vq_enable_notify(&vq);
        }
        free(ram.p);
        return 0;
}
