/* libFuzzer target: virtio-gpu command handling (hostd/vmm/virtio/virtio-gpu-proto.c)
 * on hostile command streams. The input's first byte chooses the mode:
 *
 * - records (even): a sequence of commands, each [kind][len][split][rlen]
 *   [body]. kind picks the command type (low bits) and whether ids,
 *   sizes and addresses are folded into small ranges so that commands
 *   meet each other's resources (bit 7 clear) or left raw (set). The
 *   body goes in as iovecs of split-sized pieces, the response buffer is
 *   rlen bytes. Guest RAM holds the input itself, so backing entries
 *   point at fuzzed bytes, some of them outside RAM.
 * - ring (odd): a split virtqueue in fuzzed RAM, as in virtqueue.c; every
 *   chain goes to the control or cursor handler.
 *
 * After every command the outputs are checked: each scanout view's rows
 * are read at both ends (ASan sees any pointer outside the resource), a
 * view kept from before the command is read after it (the resource may
 * be gone: the reference must keep it alive), damage lies inside the
 * scanout, the host memory stays under its cap. Nothing may crash, leak
 * or hang. */
#include "config.h"

#include <linux/virtio_gpu.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fuzz-ram.h"
#include "hostd/vmm/virtio/virtio-gpu-proto.h"
#include "hostd/vmm/virtio/virtqueue.h"

#define RAM_SIZE (1u << 20)
#define HOSTMEM (4u << 20) /* keeps transfers fast; the caps are what is tested */

static const uint32_t cmds[] = {
        VIRTIO_GPU_CMD_GET_DISPLAY_INFO,   VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
        VIRTIO_GPU_CMD_RESOURCE_UNREF,     VIRTIO_GPU_CMD_SET_SCANOUT,
        VIRTIO_GPU_CMD_RESOURCE_FLUSH,     VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
        VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
        VIRTIO_GPU_CMD_GET_EDID,           VIRTIO_GPU_CMD_UPDATE_CURSOR,
        VIRTIO_GPU_CMD_MOVE_CURSOR,        VIRTIO_GPU_CMD_CTX_CREATE,
        0,                                 0xffffffffu,
        VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, VIRTIO_GPU_CMD_GET_CAPSET,
};

static uint32_t rd32(const uint8_t *b, size_t at)
{
        uint32_t v;
        memcpy(&v, b + at, 4);
        return v;
}

static void wr32(uint8_t *b, size_t at, uint32_t v)
{
        memcpy(b + at, &v, 4);
}

/* Fold fields into ranges where commands meet: resource ids 0..4,
 * scanouts 0..5, sizes up to 300, rectangles near them, backing inside
 * or just outside RAM. Offsets follow linux/virtio_gpu.h. */
static void fold(uint32_t type, uint8_t *b, size_t len)
{
        const size_t H = sizeof(struct virtio_gpu_ctrl_hdr);

#define F(off, mod)                                         \
        do {                                                \
                if ((off) + 4 <= len)                       \
                        wr32(b, off, rd32(b, off) % (mod)); \
        } while (0)
        switch (type) {
        case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
                F(H, 5);
                if (H + 8 <= len)
                        wr32(b, H + 4, (rd32(b, H + 4) & 1) ? VGPU_FORMAT_B8G8R8X8 : VGPU_FORMAT_B8G8R8A8);
                F(H + 8, 300);
                F(H + 12, 300);
                break;
        case VIRTIO_GPU_CMD_RESOURCE_UNREF:
        case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
                F(H, 5);
                break;
        case VIRTIO_GPU_CMD_SET_SCANOUT:
                for (size_t i = 0; i < 4; i++)
                        F(H + 4 * i, 310);
                F(H + 16, 6);
                F(H + 20, 5);
                break;
        case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
                for (size_t i = 0; i < 4; i++)
                        F(H + 4 * i, 310);
                F(H + 16, 5);
                break;
        case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
                for (size_t i = 0; i < 4; i++)
                        F(H + 4 * i, 310);
                F(H + 16, 400000); /* offset, low half */
                if (H + 24 <= len)
                        wr32(b, H + 20, 0);
                F(H + 24, 5);
                break;
        case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
                F(H, 5);
                F(H + 4, 64);
                for (size_t at = H + 8; at + 16 <= len; at += 16) {
                        wr32(b, at, rd32(b, at) % (RAM_SIZE + 8192));
                        wr32(b, at + 4, 0);
                        wr32(b, at + 8, rd32(b, at + 8) % 400000);
                }
                break;
        case VIRTIO_GPU_CMD_UPDATE_CURSOR:
        case VIRTIO_GPU_CMD_MOVE_CURSOR:
                F(H, 6);
                F(H + 16, 5);
                break;
        case VIRTIO_GPU_CMD_GET_EDID:
                F(H, 6);
                break;
        }
#undef F
}

static void check_outputs(struct vgpu *g, unsigned nscan)
{
        struct display_rect rects[8];
        struct vgpu_cursor cur;
        struct vgpu_stats st;
        volatile uint8_t sink = 0;

        for (unsigned s = 0; s < nscan; s++) {
                struct vgpu_view v;
                int n;

                if (vgpu_scanout_view(g, s, &v) == 0) {
                        if (!v.width || !v.height || v.stride < v.width * 4u)
                                abort();
                        for (uint32_t y = 0; y < v.height; y++)
                                sink ^= v.pixels[(size_t)y * v.stride] ^
                                        v.pixels[(size_t)y * v.stride + v.width * 4 - 1];
                        n = vgpu_collect_damage(g, s, rects, 1 + s * 3);
                        if (n < 0 || n > (int)(1 + s * 3))
                                abort();
                        for (int i = 0; i < n; i++)
                                if (!rects[i].w || !rects[i].h || rects[i].x + rects[i].w > v.width ||
                                    rects[i].y + rects[i].h > v.height)
                                        abort();
                        vgpu_view_release(&v);
                } else {
                        (void)vgpu_collect_damage(g, s, rects, 8);
                }
        }
        vgpu_get_cursor(g, &cur);
        if (cur.width > VGPU_CURSOR_DIM || cur.height > VGPU_CURSOR_DIM || cur.hot_x >= VGPU_CURSOR_DIM ||
            cur.hot_y >= VGPU_CURSOR_DIM)
                abort();
        vgpu_get_stats(g, &st);
        if (st.hostmem > HOSTMEM || st.resources > VGPU_MAX_RESOURCES)
                abort();
        (void)sink;
}

static void run_records(struct vgpu *g, unsigned nscan, const uint8_t *data, size_t size)
{
        static uint8_t body[8192], resp[2048];
        static struct vq_elem e;
        struct vgpu_view kept = { 0 };
        bool have_kept = false;
        unsigned rounds = 0;

        while (size >= 4 && rounds++ < 256) {
                uint8_t kind = (uint8_t)fuzz_get(&data, &size, 1);
                size_t len = (size_t)fuzz_get(&data, &size, 2) % sizeof(body);
                size_t split = 1 + (size_t)fuzz_get(&data, &size, 1) % 64;
                size_t rlen = (size_t)fuzz_get(&data, &size, 1) * 8;
                uint32_t type = cmds[kind % (sizeof(cmds) / sizeof(cmds[0]))];
                bool cursorq = kind & 0x40;

                if (kind == 0xff) { /* a layout request from the host side */
                        struct vgpu_head h[VGPU_MAX_SCANOUTS + 1];
                        for (unsigned i = 0; i <= VGPU_MAX_SCANOUTS; i++) {
                                h[i].enabled = fuzz_get(&data, &size, 1) & 1;
                                h[i].x = (int32_t)fuzz_get(&data, &size, 2);
                                h[i].y = 0;
                                h[i].width = (uint32_t)fuzz_get(&data, &size, 2);
                                h[i].height = (uint32_t)fuzz_get(&data, &size, 2);
                        }
                        (void)vgpu_set_layout(g, h, (unsigned)fuzz_get(&data, &size, 1) % (VGPU_MAX_SCANOUTS + 2));
                        continue;
                }
                if (len > size)
                        len = size;
                memcpy(body, data, len);
                data += len;
                size -= len;
                if (len >= 4)
                        wr32(body, 0, type);
                if (!(kind & 0x80))
                        fold(type, body, len);
                if (rlen > sizeof(resp))
                        rlen = sizeof(resp);

                memset(&e, 0, sizeof(e));
                for (size_t off = 0; off < len && e.n_out < VQ_MAX_SIZE - 1; off += split) {
                        size_t n = len - off < split ? len - off : split;
                        e.iov[e.n_out++] = (struct iovec){ body + off, n };
                        e.out_len += n;
                }
                e.iov[e.n_out] = (struct iovec){ resp, rlen };
                e.n_in = 1;
                e.in_len = rlen;
                if ((cursorq ? vgpu_cursor_cmd(g, &e) : vgpu_ctrl(g, &e)) > rlen)
                        abort();

                /* A view taken before the command is still readable. */
                if (have_kept) {
                        volatile uint8_t x = kept.pixels[(size_t)(kept.height - 1) * kept.stride +
                                                         kept.width * 4 - 1];
                        (void)x;
                        vgpu_view_release(&kept);
                        have_kept = false;
                }
                check_outputs(g, nscan);
                have_kept = vgpu_scanout_view(g, kind % nscan, &kept) == 0;
                if (kind & 0x20) {
                        uint8_t cfg[16];
                        vgpu_cfg_read(g, kind % 16, cfg, 1 + kind % 4 <= 16 - kind % 16 ? 1 + kind % 4 : 1);
                        vgpu_cfg_write(g, kind % 16, body, len < 4 ? (unsigned)len : 4);
                }
                if ((kind & 0x1f) == 0x1f)
                        vgpu_reset(g);
        }
        if (have_kept)
                vgpu_view_release(&kept);
}

static void run_ring(struct vgpu *g, unsigned nscan, struct fuzz_ram *ram, const uint8_t *data, size_t size)
{
        static struct vq_elem e;
        struct vq_mem mem = { fuzz_translate, ram };
        struct virtq vq;
        uint8_t flags = (uint8_t)fuzz_get(&data, &size, 1);
        int rounds = 0;

        vq_reset(&vq);
        vq.size = (uint16_t)(1u << (fuzz_get(&data, &size, 1) % 9));
        vq.desc_gpa = fuzz_get(&data, &size, 2);
        vq.avail_gpa = fuzz_get(&data, &size, 2);
        vq.used_gpa = fuzz_get(&data, &size, 2);
        vq.event_idx = flags & 1;
        vq.indirect = flags & 2;
        memcpy(ram->p, data, size < ram->size ? size : ram->size);
        if (vq_start(&vq, &mem) < 0)
                return;
        while (rounds++ < 4 * VQ_MAX_SIZE && vq_pop(&vq, &e) == 1) {
                uint32_t n = (flags & 4) && (rounds & 1) ? vgpu_cursor_cmd(g, &e) : vgpu_ctrl(g, &e);
                if (n > e.in_len)
                        abort();
                vq_push(&vq, e.head, n);
                (void)vq_should_notify(&vq);
                check_outputs(g, nscan);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static uint8_t *ram_p; /* allocated once: ASan's redzones still bound it */
        struct fuzz_ram ram = { .size = RAM_SIZE };
        struct vq_mem mem = { fuzz_translate, &ram };
        struct vgpu *g;
        uint8_t mode = (uint8_t)fuzz_get(&data, &size, 1);
        unsigned nscan = 1 + (mode >> 1) % VGPU_MAX_SCANOUTS;

        if (!ram_p)
                ram_p = malloc(RAM_SIZE);
        if (!ram_p)
                return 0;
        ram.p = ram_p;
        if (vgpu_new(nscan, 640, 480, HOSTMEM, &mem, &g) < 0) {
                return 0;
        }
        if (mode & 1) {
                memset(ram.p, 0, RAM_SIZE);
                run_ring(g, nscan, &ram, data, size);
        } else {
                /* Guest RAM: the input repeated (by doubling), so backing
                 * reads fuzzed bytes. */
                size_t have = size < RAM_SIZE ? size : RAM_SIZE;
                if (!have)
                        memset(ram.p, 0, RAM_SIZE);
                else
                        memcpy(ram.p, data, have);
                for (; have && have < RAM_SIZE; have *= 2)
                        memcpy(ram.p + have, ram.p, RAM_SIZE - have < have ? RAM_SIZE - have : have);
                run_records(g, nscan, data, size);
        }
        vgpu_free(g);
        return 0;
}
