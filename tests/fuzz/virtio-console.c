/* libFuzzer target: virtio-console's control protocol
 * (hostd/vmm/virtio/virtio-console-proto.c). The input is a stream of
 * guest control messages (a length byte, then that many bytes) mixed with
 * requests for the device's own messages and resets; the port FIFOs get
 * puts and gets of fuzzed sizes. Invariants checked after every step: a
 * port is open only when ready, owed messages are well formed and the
 * FIFOs never hold more than their capacity. */
#include "config.h"

#include <assert.h>
#include <linux/virtio_console.h>
#include <stdint.h>
#include <string.h>

#include "hostd/vmm/virtio/virtio-console-proto.h"

static const char *const names[] = { "com.redhat.spice.0", "org.vdi.agent.0", "x" };

static void check(const struct vcon_proto *p)
{
        for (unsigned i = 0; i < p->nports; i++) {
                const struct vcon_port *pt = &p->port[i];
                assert(!pt->guest_open || pt->ready);
                assert(!pt->ready || pt->add_sent);
                assert(!(pt->ready && pt->failed));
        }
}

static void take_owed(struct vcon_proto *p)
{
        uint8_t buf[VCON_MSG_MAX];
        size_t n;

        while ((n = vcon_ctrl_next(p, buf))) {
                uint32_t id;
                assert(n >= VCON_CTRL_LEN && n <= VCON_MSG_MAX);
                memcpy(&id, buf, 4);
                assert(id < p->nports);
        }
        assert(!vcon_ctrl_pending(p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static uint8_t scratch[1024];
        struct vcon_proto p;
        struct vcon_fifo f;
        struct vcon_change ch;

        if (size < 1 || vcon_proto_init(&p, names, 1 + data[0] % 3) < 0)
                return 0;
        if (vcon_fifo_init(&f, 97) < 0)
                return 0;
        data++, size--;
        while (size) {
                uint8_t op = *data++;
                size_t n = --size < (size_t)(op & 0x1f) ? size : (size_t)(op & 0x1f);

                switch (op >> 5) {
                case 0:
                case 1:
                case 2:
                        if (vcon_ctrl_in(&p, data, n, &ch) == 0 && ch.changed)
                                assert(ch.port < p.nports && p.port[ch.port].guest_open == ch.open);
                        break;
                case 3:
                        take_owed(&p);
                        break;
                case 4:
                        vcon_proto_reset(&p);
                        break;
                case 5:
                        vcon_fifo_put(&f, data, n);
                        break;
                default:
                        vcon_fifo_get(&f, scratch, (size_t)op * 3 % sizeof(scratch));
                        break;
                }
                data += n, size -= n;
                check(&p);
                assert(f.len <= f.cap && f.head < f.cap);
        }
        vcon_fifo_free(&f);
        return 0;
}
