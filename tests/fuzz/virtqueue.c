/* libFuzzer target: hostile split virtqueues. The input is a guest's RAM
 * (a small fake buffer) preceded by the queue registers the driver would
 * have written; the device side pops every chain, touches every byte of
 * every buffer it was given (so ASan sees any out-of-range iovec), pushes
 * it back and asks whether to notify. A broken ring must end in -EIO, never
 * a crash or a hang. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fuzz-ram.h"
#include "hostd/vmm/virtio/virtqueue.h"

#define RAM_SIZE 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct vq_elem e;
        struct fuzz_ram ram;
        struct virtq vq;
        struct vq_mem mem = { fuzz_translate, &ram };
        uint8_t flags;
        int rounds = 0;

        vq_reset(&vq);
        flags = (uint8_t)fuzz_get(&data, &size, 1);
        vq.size = (uint16_t)(1u << (fuzz_get(&data, &size, 1) % 10)); /* 1..512: > VQ_MAX_SIZE refused */
        /* Small addresses most of the time so the rings land in RAM. */
        vq.desc_gpa = flags & 0x80 ? fuzz_get(&data, &size, 8) : fuzz_get(&data, &size, 2);
        vq.avail_gpa = flags & 0x80 ? fuzz_get(&data, &size, 8) : fuzz_get(&data, &size, 2);
        vq.used_gpa = flags & 0x80 ? fuzz_get(&data, &size, 8) : fuzz_get(&data, &size, 2);
        vq.event_idx = flags & 1;
        vq.indirect = flags & 2;

        ram.size = RAM_SIZE;
        ram.p = calloc(1, RAM_SIZE);
        if (!ram.p)
                return 0;
        memcpy(ram.p, data, size < RAM_SIZE ? size : RAM_SIZE);

        if (vq_start(&vq, &mem) == 0) {
                for (;;) {
                        int r = vq_pop(&vq, &e);
                        uint64_t sum = 0;

                        if (r <= 0)
                                break; /* 0: empty; -EIO: the device would mark itself broken */
                        for (unsigned i = 0; i < e.n_out; i++)
                                for (size_t j = 0; j < e.iov[i].iov_len; j++)
                                        sum += ((volatile uint8_t *)e.iov[i].iov_base)[j];
                        for (unsigned i = e.n_out; i < e.n_out + e.n_in; i++)
                                memset(e.iov[i].iov_base, 0xa5, e.iov[i].iov_len);
                        if (e.n_out + e.n_in > VQ_MAX_SIZE || e.head >= vq.size)
                                abort();
                        vq_push(&vq, e.head, (uint32_t)e.in_len);
                        (void)vq_should_notify(&vq);
                        (void)sum;
                        /* A guest can keep the ring full forever: the device
                         * bounds its own work per kick, so does this. */
                        if (++rounds > 4 * VQ_MAX_SIZE)
                                break;
                }
                (void)vq_enable_notify(&vq);
        }
        free(ram.p);
        return 0;
}
