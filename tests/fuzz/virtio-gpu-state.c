/* libFuzzer target: virtio-gpu's snapshot section loader
 * (hostd/vmm/virtio/virtio-gpu-state.c) as vdi-vm --restore runs it on a
 * section whose checksums passed. The input's first byte chooses:
 *
 * - even: the rest is the section's payload, as is;
 * - odd: the payload of a real device state (two heads, a shadowed and an
 *   in-place resource on them, a cursor, a pending layout event; made
 *   once through the command handler) with the rest of the input applied
 *   as edits: each [offset lo][offset hi][byte] sets one byte (offsets
 *   below 0x8000 fall in the first 512 bytes, where every field but the
 *   shadow and cursor pixels lies), and an offset of 0xffff cuts the
 *   payload at the next edit's offset.
 *
 * Anything may be refused. What loads must hold together: every scanout
 * view is read at both ends of every row (ASan sees a pointer outside
 * the resource or guest RAM), damage lies inside its scanout, the cursor
 * and host memory stay within their limits, and the loaded state saves
 * to bytes that load again into the same state. A refused load must
 * leave the device as it was. Nothing may crash, leak or hang. */
#include "config.h"

#include <linux/virtio_gpu.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-ram.h"
#include "hostd/vmm/state/state.h"
#include "hostd/vmm/virtio/virtio-gpu-proto.h"

#define RAM_SIZE (1u << 20)
#define HOSTMEM (4u << 20)
#define HEADS 2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_ram ram;
static struct vq_mem mem = { fuzz_translate, &ram };
static uint8_t *baseline;
static size_t baseline_len;

static void cmd(struct vgpu *g, bool cursor, const void *req, size_t len)
{
        static struct vq_elem e;
        static uint8_t resp[512];

        memset(&e, 0, sizeof(e));
        e.iov[0] = (struct iovec){ (void *)req, len };
        e.iov[1] = (struct iovec){ resp, sizeof(resp) };
        e.n_out = e.n_in = 1;
        e.out_len = len;
        e.in_len = sizeof(resp);
        if (cursor)
                vgpu_cursor_cmd(g, &e);
        else
                vgpu_ctrl(g, &e);
}

/* The payload of g's state (malloc'd), or NULL. */
static uint8_t *save(struct vgpu *g, size_t *len)
{
        struct state_writer w;
        struct state_file f;
        struct vm_err err;
        uint8_t *buf, *out = NULL;
        size_t n;

        state_writer_init(&w);
        state_begin(&w, "dev.4.virtio-gpu");
        vgpu_state_save(g, &w);
        state_end(&w);
        if (state_writer_finish(&w, &buf, &n) < 0)
                abort();
        if (state_file_parse(buf, n, &f, &err) < 0 || f.nsec != 1)
                abort();
        *len = (size_t)f.sec[0].len;
        out = malloc(*len ? *len : 1);
        if (!out)
                abort();
        memcpy(out, f.sec[0].data, *len);
        state_file_free(&f);
        free(buf);
        return out;
}

static bool load(struct vgpu *g, const uint8_t *p, size_t len)
{
        struct state_section s = { .name = "dev.4.virtio-gpu", .data = p, .len = len };
        struct state_reader r;
        bool ok;

        state_reader_init(&r, &s);
        ok = vgpu_state_load(g, &r);
        if (ok != state_reader_ok(&r))
                abort(); /* a refusal always says why */
        return ok;
}

static void make_baseline(void)
{
        struct vgpu *g;
        const struct vgpu_head heads[HEADS] = { { true, 0, 0, 800, 600 }, { true, 800, 0, 640, 480 } };
        struct {
                struct virtio_gpu_resource_attach_backing a;
                struct virtio_gpu_mem_entry ent[2];
        } att1 = { { { .type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING }, 1, 2 },
                   { { 0x1000, 128, 0 }, { 0x3000, 128, 0 } } },
          att2 = { { { .type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING }, 2, 1 }, { { 0x8000, 64, 0 } } };
        struct virtio_gpu_resource_create_2d c1 = { { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D }, 1,
                                                     VGPU_FORMAT_B8G8R8X8, 8, 8 },
                                             c2 = { { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D }, 2,
                                                     VGPU_FORMAT_B8G8R8A8, 4, 4 };
        struct virtio_gpu_transfer_to_host_2d t = { { .type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D }, { 0, 0, 8, 8 },
                                                    0, 1, 0 };
        struct virtio_gpu_set_scanout s0 = { { .type = VIRTIO_GPU_CMD_SET_SCANOUT }, { 1, 2, 6, 5 }, 0, 1 },
                                      s1 = { { .type = VIRTIO_GPU_CMD_SET_SCANOUT }, { 0, 0, 4, 4 }, 1, 2 };
        struct virtio_gpu_update_cursor u = { .hdr = { .type = VIRTIO_GPU_CMD_UPDATE_CURSOR },
                                              .pos = { 1, 30, 40, 0 }, .resource_id = 2, .hot_x = 1, .hot_y = 2 };

        for (unsigned i = 0; i < RAM_SIZE; i++)
                ram.p[i] = (uint8_t)(i * 7 + (i >> 8));
        if (vgpu_new(HEADS, 800, 600, HOSTMEM, &mem, &g) < 0)
                abort();
        cmd(g, false, &c1, sizeof(c1));
        cmd(g, false, &att1, sizeof(att1));
        cmd(g, false, &t, sizeof(t));
        cmd(g, false, &s0, sizeof(s0));
        cmd(g, false, &c2, sizeof(c2));
        cmd(g, false, &att2, sizeof(att2.a) + sizeof(att2.ent[0]));
        cmd(g, false, &s1, sizeof(s1));
        cmd(g, true, &u, sizeof(u));
        if (vgpu_set_layout(g, heads, HEADS) != 1)
                abort();
        baseline = save(g, &baseline_len);
        vgpu_free(g);
}

static void check_loaded(struct vgpu *g)
{
        struct display_rect d[VGPU_DAMAGE_MAX];
        struct vgpu_cursor *c = malloc(sizeof(*c));
        struct vgpu_stats st;
        volatile uint8_t sum = 0;

        for (unsigned s = 0; s < HEADS; s++) {
                struct vgpu_view v;
                int n;

                if (vgpu_scanout_view(g, s, &v) == 0) {
                        for (uint32_t y = 0; y < v.height; y++)
                                sum ^= v.pixels[(uint64_t)y * v.stride] ^
                                       v.pixels[(uint64_t)y * v.stride + (uint64_t)v.width * 4 - 1];
                        vgpu_view_release(&v);
                        n = vgpu_collect_damage(g, s, d, VGPU_DAMAGE_MAX);
                        if (n != 1 || d[0].x || d[0].y || d[0].w != v.width || d[0].h != v.height)
                                abort(); /* shown whole at once */
                }
        }
        if (!c)
                abort();
        vgpu_get_cursor(g, c);
        if (c->scanout >= HEADS || c->width > VGPU_CURSOR_DIM || c->height > VGPU_CURSOR_DIM ||
            c->hot_x >= VGPU_CURSOR_DIM || c->hot_y >= VGPU_CURSOR_DIM)
                abort();
        free(c);
        vgpu_get_stats(g, &st);
        if (st.hostmem > HOSTMEM || st.resources > VGPU_MAX_RESOURCES)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vgpu *g, *h;
        uint8_t *p, *again, *before, *after;
        size_t len, n_again, n_before, n_after;

        if (!ram.p) {
                ram.p = malloc(RAM_SIZE);
                ram.size = RAM_SIZE;
                if (!ram.p)
                        abort();
                make_baseline();
        }
        if (size == 0)
                return 0;
        if (data[0] & 1) {
                p = malloc(baseline_len);
                if (!p)
                        abort();
                memcpy(p, baseline, baseline_len);
                len = baseline_len;
                for (size_t i = 1; i + 3 <= size; i += 3) {
                        size_t off = (size_t)data[i] | (size_t)data[i + 1] << 8;
                        if (off == 0xffff && i + 6 <= size) {
                                size_t cut = (size_t)data[i + 3] | (size_t)data[i + 4] << 8;
                                if (cut < len)
                                        len = cut;
                                i += 3;
                        } else if (len) {
                                p[(off < 0x8000 ? off % 512 : off) % len] = data[i + 2];
                        }
                }
        } else {
                len = size - 1;
                p = malloc(len ? len : 1);
                if (!p)
                        abort();
                memcpy(p, data + 1, len);
        }
        if (vgpu_new(HEADS, 640, 480, HOSTMEM, &mem, &g) < 0)
                abort();
        /* The device has a state of its own, which a refusal must keep. */
        if (!load(g, baseline, baseline_len))
                abort();
        before = save(g, &n_before);
        if (load(g, p, len)) {
                check_loaded(g);
                again = save(g, &n_again);
                if (vgpu_new(HEADS, 640, 480, HOSTMEM, &mem, &h) < 0 || !load(h, again, n_again))
                        abort();
                after = save(h, &n_after);
                if (n_after != n_again || memcmp(after, again, n_after) != 0)
                        abort();
                free(after);
                free(again);
                vgpu_free(h);
        } else {
                after = save(g, &n_after);
                if (n_after != n_before || memcmp(after, before, n_after) != 0)
                        abort();
                free(after);
        }
        free(before);
        free(p);
        vgpu_free(g);
        return 0;
}
