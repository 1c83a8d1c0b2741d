/* virtio-gpu without KVM: the command handling (virtio-gpu-proto.c) driven
 * with hand-made chains over a fake guest RAM, hostile commands included,
 * and the PCI device driven over its BAR like tests/vmm/virtio.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_gpu.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "check-main.h"
#include "state.h"
#include "virtio-devices.h"
#include "vm-devices.h"

#define RAM_SIZE (4u << 20)

static uint8_t *ram;
static struct vgpu *g;
static struct vq_elem e;

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
        (void)opaque;
        return range_ok(gpa, len, RAM_SIZE) ? ram + gpa : NULL;
}

static const struct vq_mem mem = { translate, NULL };

static void setup_n(unsigned n, uint64_t hostmem)
{
        ram = calloc(1, RAM_SIZE);
        ck_assert_ptr_nonnull(ram);
        ck_assert_int_eq(vgpu_new(n, 1024, 768, hostmem, &mem, &g), 0);
}

static void setup(void)
{
        setup_n(VGPU_MAX_SCANOUTS, 0);
}

static void teardown(void)
{
        vgpu_free(g);
        g = NULL;
        free(ram);
}

static uint8_t resp[2048];

/* Send req (len bytes, split into pieces of at most piece bytes) with a
 * response buffer of rlen bytes; returns the response type and sets *wrote. */
static uint32_t send_split(const void *req, size_t len, size_t piece, size_t rlen, uint32_t *wrote)
{
        const uint8_t *p = req;
        uint32_t type, n;

        memset(&e, 0, sizeof(e));
        memset(resp, 0xee, sizeof(resp));
        for (size_t off = 0; off < len; off += piece)
                e.iov[e.n_out++] = (struct iovec){ (void *)(p + off), len - off < piece ? len - off : piece };
        e.out_len = len;
        e.iov[e.n_out] = (struct iovec){ resp, rlen };
        e.n_in = 1;
        e.in_len = rlen;
        n = vgpu_ctrl(g, &e);
        if (wrote)
                *wrote = n;
        if (n < 4)
                return 0;
        memcpy(&type, resp, 4);
        return type;
}

static uint32_t send(const void *req, size_t len)
{
        return send_split(req, len, len ? len : 1, sizeof(resp), NULL);
}

#define HDR(t) { .type = (t) }

static uint32_t create(uint32_t id, uint32_t w, uint32_t h, uint32_t fmt)
{
        struct virtio_gpu_resource_create_2d c = { HDR(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), id, fmt, w, h };
        return send(&c, sizeof(c));
}

/* Attach n entries {addr, len} to id. */
static uint32_t attach(uint32_t id, unsigned n, const uint64_t *addr, const uint32_t *len)
{
        struct {
                struct virtio_gpu_resource_attach_backing a;
                struct virtio_gpu_mem_entry ent[8];
        } req = { { HDR(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING), id, n } };

        for (unsigned i = 0; i < n; i++)
                req.ent[i] = (struct virtio_gpu_mem_entry){ addr[i], len[i], 0 };
        return send(&req, sizeof(req.a) + n * sizeof(req.ent[0]));
}

static uint32_t transfer(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint64_t off)
{
        struct virtio_gpu_transfer_to_host_2d c = { HDR(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), { x, y, w, h }, off, id,
                                                    0 };
        return send(&c, sizeof(c));
}

static uint32_t set_scanout(uint32_t s, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
        struct virtio_gpu_set_scanout c = { HDR(VIRTIO_GPU_CMD_SET_SCANOUT), { x, y, w, h }, s, id };
        return send(&c, sizeof(c));
}

static uint32_t flush(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
        struct virtio_gpu_resource_flush c = { HDR(VIRTIO_GPU_CMD_RESOURCE_FLUSH), { x, y, w, h }, id, 0 };
        return send(&c, sizeof(c));
}

static uint32_t simple(uint32_t type, uint32_t id)
{
        struct virtio_gpu_resource_unref c = { HDR(type), id, 0 };
        return send(&c, sizeof(c));
}

static uint32_t pixel_at(uint64_t gpa_base, uint32_t stride, uint32_t x, uint32_t y)
{
        uint32_t v;
        memcpy(&v, ram + gpa_base + (uint64_t)y * stride + x * 4, 4);
        return v;
}

static uint32_t view_px(const struct vgpu_view *v, uint32_t x, uint32_t y)
{
        uint32_t p;
        memcpy(&p, v->pixels + (uint64_t)y * v->stride + x * 4, 4);
        return p;
}

#define OK VIRTIO_GPU_RESP_OK_NODATA

/* ---- layout, display info, EDID, config ---- */

START_TEST(test_display_info_and_layout)
{
        struct virtio_gpu_ctrl_hdr h = HDR(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
        struct virtio_gpu_resp_display_info *di = (void *)resp;
        struct vgpu_head heads[2] = { { true, 0, 0, 1280, 800 }, { true, 1280, 0, 1920, 1080 } };
        uint32_t v, wrote;
        uint8_t clr[4];

        ck_assert_uint_eq(send_split(&h, sizeof(h), sizeof(h), sizeof(resp), &wrote), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
        ck_assert_uint_eq(wrote, sizeof(*di));
        ck_assert_uint_eq(di->pmodes[0].enabled, 1);
        ck_assert_uint_eq(di->pmodes[0].r.width, 1024);
        ck_assert_uint_eq(di->pmodes[0].r.height, 768);
        ck_assert_uint_eq(di->pmodes[1].enabled, 0);

        vgpu_cfg_read(g, 8, (uint8_t *)&v, 4);
        ck_assert_uint_eq(v, VGPU_MAX_SCANOUTS);
        vgpu_cfg_read(g, 0, (uint8_t *)&v, 4);
        ck_assert_uint_eq(v, 0);

        ck_assert_int_eq(vgpu_set_layout(g, heads, 2), 1);
        vgpu_cfg_read(g, 0, (uint8_t *)&v, 4);
        ck_assert_uint_eq(v, VIRTIO_GPU_EVENT_DISPLAY);
        ck_assert_int_eq(vgpu_set_layout(g, heads, 2), 0); /* unchanged: no event */
        send(&h, sizeof(h));
        ck_assert_uint_eq(di->pmodes[1].enabled, 1);
        ck_assert_uint_eq(di->pmodes[1].r.x, 1280);
        ck_assert_uint_eq(di->pmodes[1].r.width, 1920);
        ck_assert_uint_eq(di->pmodes[1].r.height, 1080);
        memcpy(clr, &(uint32_t){ VIRTIO_GPU_EVENT_DISPLAY }, 4);
        vgpu_cfg_write(g, 4, clr, 4);
        vgpu_cfg_read(g, 0, (uint8_t *)&v, 4);
        ck_assert_uint_eq(v, 0);
        vgpu_cfg_write(g, 0, clr, 4); /* events_read is read-only */

        /* Bad layouts change nothing. */
        heads[0].width = VGPU_MAX_DIM + 1;
        ck_assert_int_eq(vgpu_set_layout(g, heads, 2), -EINVAL);
        heads[0].width = 0;
        ck_assert_int_eq(vgpu_set_layout(g, heads, 2), -EINVAL);
        heads[0].enabled = heads[1].enabled = false;
        ck_assert_int_eq(vgpu_set_layout(g, heads, 2), -EINVAL);
        ck_assert_int_eq(vgpu_set_layout(g, heads, VGPU_MAX_SCANOUTS + 1), -EINVAL);
        vgpu_cfg_read(g, 0, (uint8_t *)&v, 4);
        ck_assert_uint_eq(v, 0);
}
END_TEST

static void check_edid(const uint8_t *ed, uint32_t w, uint32_t h)
{
        static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
        const uint8_t *d = ed + 54;
        uint8_t sum = 0;

        for (int i = 0; i < 128; i++)
                sum = (uint8_t)(sum + ed[i]);
        ck_assert_uint_eq(sum, 0);
        ck_assert_mem_eq(ed, header, 8);
        ck_assert_uint_eq(ed[18], 1);
        ck_assert_uint_eq(ed[19], 4);
        ck_assert_uint_ne(d[0] | d[1] << 8, 0); /* a detailed timing, not a descriptor */
        ck_assert_uint_eq(d[2] | (d[4] >> 4) << 8, w);
        ck_assert_uint_eq(d[5] | (d[7] >> 4) << 8, h);
        ck_assert_uint_eq(ed[75], 0xfd);
        ck_assert_uint_eq(ed[93], 0xfc);
        ck_assert_mem_eq(ed + 95, "VDI Virtual\n", 12);
}

START_TEST(test_edid)
{
        struct virtio_gpu_cmd_get_edid c = { HDR(VIRTIO_GPU_CMD_GET_EDID), 0, 0 };
        struct virtio_gpu_resp_edid *r = (void *)resp;
        struct vgpu_head heads[2] = { { true, 0, 0, 1920, 1080 }, { true, 1920, 0, 5120, 2880 } };
        uint8_t ed[128];
        uint32_t clock;

        ck_assert_uint_eq(send(&c, sizeof(c)), VIRTIO_GPU_RESP_OK_EDID);
        ck_assert_uint_eq(r->size, 128);
        ck_assert_uint_eq(r->padding, 0); /* no stale host bytes */
        ck_assert_uint_eq(r->edid[128], 0);
        check_edid(r->edid, 1024, 768);
        ck_assert_int_eq(vgpu_set_layout(g, heads, 2), 1);
        send(&c, sizeof(c));
        check_edid(r->edid, 1920, 1080);
        /* 1920x1080 reduced blanking at 60 Hz: (1920+160) * (1080+31) * 60 */
        clock = r->edid[54] | r->edid[55] << 8;
        ck_assert_uint_eq(clock, 2080u * 1111 * 60 / 10000);
        c.scanout = 1;
        send(&c, sizeof(c));
        check_edid(r->edid, 4095, 2880); /* clamped to what EDID can say */
        c.scanout = VGPU_MAX_SCANOUTS;
        ck_assert_uint_eq(send(&c, sizeof(c)), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
        vgpu_make_edid(&(struct vgpu_head){ true, 0, 0, 4095, 4095 }, 3, ed);
        check_edid(ed, 4095, 4095);
        vgpu_make_edid(&(struct vgpu_head){ true, 0, 0, 1, 1 }, 3, ed);
        check_edid(ed, 1, 1);
}
END_TEST

/* ---- the 2D path ---- */

/* Scattered backing (the usual case): a 64x32 resource over three
 * non-adjacent pieces, read into a shadow on TRANSFER. */
START_TEST(test_shadow_transfer_flush)
{
        const uint32_t W = 64, H = 32, stride = W * 4;
        /* 8 KiB total in pieces of 3000 + 3000 + 2192 bytes, apart in RAM */
        uint64_t addr[3] = { 0x10000, 0x20000, 0x30000 };
        uint32_t len[3] = { 3000, 3000, 2192 };
        uint8_t linear[64 * 32 * 4];
        struct display_rect d[8];
        struct vgpu_view v, v2;
        struct vgpu_stats st;

        for (unsigned i = 0; i < sizeof(linear); i++)
                linear[i] = (uint8_t)(i * 13 + 1);
        memcpy(ram + addr[0], linear, 3000);
        memcpy(ram + addr[1], linear + 3000, 3000);
        memcpy(ram + addr[2], linear + 6000, 2192);

        ck_assert_uint_eq(create(1, W, H, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(attach(1, 3, addr, len), OK);
        ck_assert_int_eq(vgpu_scanout_view(g, 0, &v), -ENODEV);
        ck_assert_uint_eq(set_scanout(0, 1, 0, 0, W, H), OK);
        ck_assert_int_eq(vgpu_scanout_view(g, 0, &v), 0);
        ck_assert(!v.in_place);
        ck_assert_uint_eq(v.width, W);
        ck_assert_uint_eq(v.stride, stride);
        ck_assert_uint_eq(v.format, VGPU_FORMAT_B8G8R8X8);
        ck_assert_uint_eq(view_px(&v, 5, 5), 0); /* nothing transferred yet */
        /* SET_SCANOUT damages the whole scanout. */
        ck_assert_int_eq(vgpu_collect_damage(g, 0, d, 8), 1);
        ck_assert_uint_eq(d[0].w, W);
        ck_assert_uint_eq(d[0].h, H);
        ck_assert_int_eq(vgpu_collect_damage(g, 0, d, 8), 0);

        /* A rectangle in the middle, rows crossing piece boundaries. */
        ck_assert_uint_eq(transfer(1, 3, 4, 20, 10, 4 * stride + 3 * 4), OK);
        for (uint32_t y = 0; y < H; y++)
                for (uint32_t x = 0; x < W; x++) {
                        uint32_t want = 0;
                        if (x >= 3 && x < 23 && y >= 4 && y < 14)
                                memcpy(&want, linear + y * stride + x * 4, 4);
                        ck_assert_uint_eq(view_px(&v, x, y), want);
                }
        /* No damage until the guest flushes; then exactly its rectangle. */
        ck_assert_int_eq(vgpu_collect_damage(g, 0, d, 8), 0);
        ck_assert_uint_eq(flush(1, 3, 4, 20, 10), OK);
        ck_assert_int_eq(vgpu_collect_damage(g, 0, d, 8), 1);
        ck_assert_uint_eq(d[0].x, 3);
        ck_assert_uint_eq(d[0].y, 4);
        ck_assert_uint_eq(d[0].w, 20);
        ck_assert_uint_eq(d[0].h, 10);

        /* Whole transfer; the view shows the backing exactly. */
        ck_assert_uint_eq(transfer(1, 0, 0, W, H, 0), OK);
        ck_assert_mem_eq(v.pixels, linear, sizeof(linear));

        /* A transfer from elsewhere in the backing lands at the rectangle. */
        ck_assert_uint_eq(transfer(1, 0, 0, 2, 1, 100 * 4), OK);
        ck_assert_uint_eq(view_px(&v, 0, 0), pixel_at(addr[0], 0, 100, 0));

        /* A second scanout on a sub-rectangle: flushes are clipped and
         * moved into its coordinates. */
        ck_assert_uint_eq(set_scanout(1, 1, 10, 8, 30, 20), OK);
        ck_assert_int_eq(vgpu_scanout_view(g, 1, &v2), 0);
        ck_assert_ptr_eq(v2.pixels, v.pixels + 8 * stride + 10 * 4);
        ck_assert_uint_eq(v2.width, 30);
        vgpu_collect_damage(g, 1, d, 8);
        ck_assert_uint_eq(flush(1, 0, 0, 12, 9), OK);
        ck_assert_int_eq(vgpu_collect_damage(g, 1, d, 8), 1);
        ck_assert_uint_eq(d[0].x, 0);
        ck_assert_uint_eq(d[0].y, 0);
        ck_assert_uint_eq(d[0].w, 2);
        ck_assert_uint_eq(d[0].h, 1);
        ck_assert_int_eq(vgpu_collect_damage(g, 0, d, 8), 1);
        ck_assert_uint_eq(d[0].w, 12);
        ck_assert_uint_eq(flush(1, 50, 0, 14, 5), OK); /* outside scanout 1 */
        ck_assert_int_eq(vgpu_collect_damage(g, 1, d, 8), 0);

        /* Unref while shown: scanouts off, held views stay readable. */
        ck_assert_uint_eq(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 1), OK);
        ck_assert_int_eq(vgpu_scanout_view(g, 0, &(struct vgpu_view){ 0 }), -ENODEV);
        ck_assert_uint_eq(view_px(&v, 10, 10), view_px(&v2, 0, 2));
        vgpu_view_release(&v);
        vgpu_view_release(&v2);
        vgpu_get_stats(g, &st);
        ck_assert_uint_eq(st.resources, 0);
        ck_assert_uint_eq(st.hostmem, 0);
        ck_assert_uint_eq(st.errors, 0);
}
END_TEST

/* One contiguous backing (two adjacent entries, merged): shown in place. */
START_TEST(test_in_place)
{
        const uint32_t W = 32, H = 16, stride = W * 4;
        uint64_t addr[2] = { 0x40000, 0x40000 + 1024 };
        uint32_t len[2] = { 1024, W * H * 4 - 1024 };
        struct vgpu_view v;
        uint64_t gen;

        ck_assert_uint_eq(create(7, W, H, VGPU_FORMAT_B8G8R8A8), OK);
        ck_assert_uint_eq(attach(7, 2, addr, len), OK);
        ck_assert_uint_eq(set_scanout(2, 7, 0, 0, W, H), OK);
        ck_assert_int_eq(vgpu_scanout_view(g, 2, &v), 0);
        ck_assert(v.in_place);
        ck_assert_ptr_eq(v.pixels, ram + addr[0]);
        ck_assert_ptr_null(v.ref);
        gen = v.generation;
        /* The guest's writes are the content; TRANSFER of the rectangle's
         * own place copies nothing. */
        memset(ram + addr[0] + 3 * stride, 0x5a, stride);
        ck_assert_uint_eq(transfer(7, 0, 3, W, 1, 3 * stride), OK);
        ck_assert_uint_eq(view_px(&v, 4, 3), 0x5a5a5a5a);
        /* Detach: the content moves into a shadow and stays. */
        ck_assert_uint_eq(simple(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 7), OK);
        memset(ram + addr[0] + 3 * stride, 0, stride);
        vgpu_view_release(&v);
        ck_assert_int_eq(vgpu_scanout_view(g, 2, &v), 0);
        ck_assert(!v.in_place);
        ck_assert_uint_ne(v.generation, gen);
        ck_assert_uint_eq(view_px(&v, 4, 3), 0x5a5a5a5a);
        ck_assert_uint_eq(transfer(7, 0, 0, 1, 1, 0), VIRTIO_GPU_RESP_ERR_UNSPEC); /* no backing */
        ck_assert_uint_eq(simple(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 7), VIRTIO_GPU_RESP_ERR_UNSPEC);
        vgpu_view_release(&v);

        /* A transfer from another place turns an in-place resource into a
         * shadow one (the view's generation says so). */
        ck_assert_uint_eq(create(8, W, H, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(attach(8, 2, addr, len), OK);
        ck_assert_uint_eq(set_scanout(0, 8, 0, 0, W, H), OK);
        ck_assert_int_eq(vgpu_scanout_view(g, 0, &v), 0);
        ck_assert(v.in_place);
        gen = v.generation;
        vgpu_view_release(&v);
        memset(ram + addr[0], 0x11, stride);
        ck_assert_uint_eq(transfer(8, 0, 1, W, 1, 0), OK); /* row 0 of the backing to row 1 */
        ck_assert_int_eq(vgpu_scanout_view(g, 0, &v), 0);
        ck_assert(!v.in_place);
        ck_assert_uint_ne(v.generation, gen);
        ck_assert_uint_eq(view_px(&v, 0, 1), 0x11111111);
        vgpu_view_release(&v);
}
END_TEST

static void cursor_cmd(const struct virtio_gpu_update_cursor *c, size_t len)
{
        memset(&e, 0, sizeof(e));
        e.iov[0] = (struct iovec){ (void *)c, len };
        e.n_out = 1;
        e.out_len = len;
        vgpu_cursor_cmd(g, &e);
}

START_TEST(test_cursor)
{
        uint64_t addr = 0x50000;
        uint32_t len = 64 * 64 * 4;
        struct virtio_gpu_update_cursor c = { HDR(VIRTIO_GPU_CMD_UPDATE_CURSOR), { 1, 100, 200, 0 }, 9, 3, 70, 0 };
        struct vgpu_cursor cur;
        uint64_t shape;

        for (unsigned i = 0; i < len / 4; i++)
                memcpy(ram + addr + 4 * i, &(uint32_t){ 0xff000000u | i }, 4);
        ck_assert_uint_eq(create(9, 64, 64, VGPU_FORMAT_B8G8R8A8), OK);
        ck_assert_uint_eq(attach(9, 1, &addr, &len), OK);
        ck_assert_uint_eq(transfer(9, 0, 0, 64, 64, 0), OK);

        cursor_cmd(&c, sizeof(c));
        vgpu_get_cursor(g, &cur);
        ck_assert(cur.visible);
        ck_assert_uint_eq(cur.width, 64);
        ck_assert_uint_eq(cur.pixels[65], 0xff000041u);
        ck_assert_uint_eq(cur.hot_x, 3);
        ck_assert_uint_eq(cur.hot_y, 63); /* clamped into the shape */
        ck_assert_uint_eq(cur.scanout, 1);
        ck_assert_int_eq(cur.x, 100);
        ck_assert_int_eq(cur.y, 200);
        shape = cur.shape_serial;

        c.hdr.type = VIRTIO_GPU_CMD_MOVE_CURSOR;
        c.pos.x = (uint32_t)-5;
        c.resource_id = 0; /* ignored by MOVE */
        cursor_cmd(&c, sizeof(c));
        vgpu_get_cursor(g, &cur);
        ck_assert(cur.visible);
        ck_assert_int_eq(cur.x, -5);
        ck_assert_uint_eq(cur.shape_serial, shape);

        /* Hostile: bad scanout, unknown or too big resource, short. */
        c.hdr.type = VIRTIO_GPU_CMD_UPDATE_CURSOR;
        c.pos.scanout_id = 99;
        cursor_cmd(&c, sizeof(c));
        c.pos.scanout_id = 0;
        c.resource_id = 1234;
        cursor_cmd(&c, sizeof(c));
        ck_assert_uint_eq(create(10, 65, 8, VGPU_FORMAT_B8G8R8A8), OK);
        c.resource_id = 10;
        cursor_cmd(&c, sizeof(c));
        cursor_cmd(&c, 10);
        vgpu_get_cursor(g, &cur);
        ck_assert(cur.visible);
        ck_assert_uint_eq(cur.shape_serial, shape);
        ck_assert_int_eq(cur.x, -5);

        /* Resource 0 hides it. */
        c.resource_id = 0;
        cursor_cmd(&c, sizeof(c));
        vgpu_get_cursor(g, &cur);
        ck_assert(!cur.visible);
}
END_TEST

START_TEST(test_damage_coalesced)
{
        uint64_t addr = 0x60000;
        uint32_t len = 256 * 64 * 4;
        struct display_rect d[8];
        uint64_t covered = 0, area = 0;
        int n;

        ck_assert_uint_eq(create(3, 256, 64, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(attach(3, 1, &addr, &len), OK);
        ck_assert_uint_eq(set_scanout(0, 3, 0, 0, 256, 64), OK);
        vgpu_collect_damage(g, 0, d, 8);
        for (unsigned i = 0; i < 200; i++)
                ck_assert_uint_eq(flush(3, (i * 37) % 250, (i * 11) % 60, 3, 2), OK);
        n = vgpu_collect_damage(g, 0, d, 8);
        ck_assert_int_ge(n, 1);
        ck_assert_int_le(n, 8);
        /* Every flushed pixel is inside some rectangle. */
        for (unsigned i = 0; i < 200; i++) {
                uint32_t x = (i * 37) % 250, y = (i * 11) % 60;
                bool in = false;
                for (int k = 0; k < n; k++)
                        in |= x >= d[k].x && y >= d[k].y && x + 3 <= d[k].x + d[k].w && y + 2 <= d[k].y + d[k].h;
                ck_assert(in);
        }
        for (int k = 0; k < n; k++) {
                ck_assert_uint_le(d[k].x + d[k].w, 256);
                ck_assert_uint_le(d[k].y + d[k].h, 64);
                area += (uint64_t)d[k].w * d[k].h;
        }
        (void)covered;
        ck_assert_uint_gt(area, 0);
        ck_assert_int_eq(vgpu_collect_damage(g, 0, d, 8), 0);
        ck_assert_int_eq(vgpu_collect_damage(g, 9, d, 8), -EINVAL);
}
END_TEST

/* ---- hostile commands: errors, nothing changed, nothing touched ---- */

START_TEST(test_bad_resources)
{
        struct vgpu_stats st;

        ck_assert_uint_eq(create(0, 4, 4, VGPU_FORMAT_B8G8R8X8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        ck_assert_uint_eq(create(1, 4, 4, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(create(1, 4, 4, VGPU_FORMAT_B8G8R8X8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        ck_assert_uint_eq(create(2, 0, 4, VGPU_FORMAT_B8G8R8X8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(create(2, 4, 0, VGPU_FORMAT_B8G8R8X8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(create(2, VGPU_MAX_DIM + 1, 4, VGPU_FORMAT_B8G8R8X8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(create(2, 0xffffffffu, 0xffffffffu, VGPU_FORMAT_B8G8R8X8),
                          VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(create(2, 4, 4, 999), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 0), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        ck_assert_uint_eq(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 77), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        ck_assert_uint_eq(simple(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 77), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        ck_assert_uint_eq(transfer(77, 0, 0, 1, 1, 0), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        ck_assert_uint_eq(flush(77, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        ck_assert_uint_eq(set_scanout(0, 77, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        ck_assert_uint_eq(set_scanout(VGPU_MAX_SCANOUTS, 1, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
        ck_assert_uint_eq(set_scanout(0xffffffffu, 0, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
        /* Rectangles beyond the resource, or overflowing 32 bits. */
        ck_assert_uint_eq(set_scanout(0, 1, 0, 0, 5, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(set_scanout(0, 1, 0xffffffffu, 0, 2, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(set_scanout(0, 1, 0, 0, 0, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(flush(1, 0, 0xfffffffeu, 1, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        vgpu_get_stats(g, &st);
        ck_assert_uint_eq(st.resources, 1);
        ck_assert_uint_eq(st.hostmem, 4 * 4 * 4);
        ck_assert_uint_eq(st.errors, 19);
}
END_TEST

START_TEST(test_bad_backing)
{
        uint64_t addr[3] = { 0x1000, RAM_SIZE - 100, 0x2000 };
        uint32_t len[3] = { 4096, 200, 4096 };
        uint64_t a;
        uint32_t l;
        struct {
                struct virtio_gpu_resource_attach_backing a;
                struct virtio_gpu_mem_entry ent[1];
        } req = { { HDR(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING), 1, 1000 }, { { 0x1000, 64, 0 } } };

        ck_assert_uint_eq(create(1, 16, 16, VGPU_FORMAT_B8G8R8X8), OK);
        /* One entry sticking out of RAM spoils the whole list. */
        ck_assert_uint_eq(attach(1, 3, addr, len), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        a = UINT64_MAX - 10;
        l = 100;
        ck_assert_uint_eq(attach(1, 1, &a, &l), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        a = 0x1000;
        l = 0;
        ck_assert_uint_eq(attach(1, 1, &a, &l), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(attach(1, 0, &a, &l), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(attach(9, 1, addr, len), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
        /* More entries announced than the request holds, or than allowed. */
        ck_assert_uint_eq(send(&req, sizeof(req)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        req.a.nr_entries = VGPU_MAX_BACKING_ENTRIES + 1;
        ck_assert_uint_eq(send(&req, sizeof(req)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        req.a.nr_entries = 0xffffffffu;
        ck_assert_uint_eq(send(&req, sizeof(req)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);

        /* A backing smaller than the resource: transfers are checked
         * against what exists. */
        a = 0x1000;
        l = 16 * 4 * 4; /* 4 rows */
        ck_assert_uint_eq(attach(1, 1, &a, &l), OK);
        ck_assert_uint_eq(attach(1, 1, &a, &l), VIRTIO_GPU_RESP_ERR_UNSPEC); /* already */
        ck_assert_uint_eq(transfer(1, 0, 0, 16, 4, 0), OK);
        ck_assert_uint_eq(transfer(1, 0, 0, 16, 5, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(transfer(1, 0, 0, 16, 1, 4 * 64 - 63), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(transfer(1, 0, 0, 1, 1, UINT64_MAX - 2), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(transfer(1, 0xffffffffu, 0, 2, 1, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(transfer(1, 0, 1, 16, 0xffffffffu, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
        ck_assert_uint_eq(transfer(1, 0, 0, 0, 0, 0), OK); /* empty */
}
END_TEST

START_TEST(test_limits)
{
        struct vgpu_stats st;
        uint32_t id = 1;

        /* Total host memory: 1 MiB allows one 512x512 resource. */
        teardown();
        setup_n(1, 1 << 20);
        ck_assert_uint_eq(create(id++, 512, 512, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(create(id++, 1, 1, VGPU_FORMAT_B8G8R8X8), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
        ck_assert_uint_eq(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 1), OK);
        /* Resource count. */
        for (unsigned i = 0; i < VGPU_MAX_RESOURCES; i++)
                ck_assert_uint_eq(create(id++, 1, 1, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(create(id++, 1, 1, VGPU_FORMAT_B8G8R8X8), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
        /* Only scanout 0 exists on this device. */
        ck_assert_uint_eq(set_scanout(1, 2, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
        vgpu_reset(g);
        vgpu_get_stats(g, &st);
        ck_assert_uint_eq(st.resources, 0);
        ck_assert_uint_eq(st.hostmem, 0);
        /* The largest resource is fine on a device allowed that much. */
        teardown();
        setup_n(1, 0);
        ck_assert_uint_eq(create(1, VGPU_MAX_DIM, VGPU_MAX_DIM, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(create(2, VGPU_MAX_DIM, VGPU_MAX_DIM, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(create(3, VGPU_MAX_DIM, VGPU_MAX_DIM, VGPU_FORMAT_B8G8R8X8),
                          VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY); /* 512 MiB cap */
}
END_TEST

START_TEST(test_malformed)
{
        struct virtio_gpu_ctrl_hdr h = { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, .flags = VIRTIO_GPU_FLAG_FENCE,
                                         .fence_id = 0x1122334455667788ull, .ctx_id = 5 };
        struct virtio_gpu_resource_create_2d c = { { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
                                                     .flags = VIRTIO_GPU_FLAG_FENCE, .fence_id = 42 },
                                                   1, VGPU_FORMAT_B8G8R8X8, 8, 8 };
        struct virtio_gpu_ctrl_hdr *r = (void *)resp;
        uint32_t wrote;

        /* A header alone for a command with a body; a short header. */
        ck_assert_uint_eq(send(&h, sizeof(h)), VIRTIO_GPU_RESP_ERR_UNSPEC);
        ck_assert_uint_eq(r->flags, VIRTIO_GPU_FLAG_FENCE);
        ck_assert_uint_eq(r->fence_id, 0x1122334455667788ull);
        ck_assert_uint_eq(send(&h, 10), VIRTIO_GPU_RESP_ERR_UNSPEC);
        /* Unknown and 3D commands. */
        h.type = 0xdead;
        ck_assert_uint_eq(send(&h, sizeof(h)), VIRTIO_GPU_RESP_ERR_UNSPEC);
        h.type = VIRTIO_GPU_CMD_CTX_CREATE;
        ck_assert_uint_eq(send(&h, sizeof(h)), VIRTIO_GPU_RESP_ERR_UNSPEC);
        h.type = VIRTIO_GPU_CMD_UPDATE_CURSOR; /* cursor command on the control queue */
        ck_assert_uint_eq(send(&h, sizeof(h)), VIRTIO_GPU_RESP_ERR_UNSPEC);
        /* A request in 1-byte pieces works; the fence comes back. */
        ck_assert_uint_eq(send_split(&c, sizeof(c), 1, sizeof(resp), &wrote), OK);
        ck_assert_uint_eq(wrote, sizeof(*r));
        ck_assert_uint_eq(r->fence_id, 42);
        /* A response buffer too small gets what fits, nothing beyond. */
        h.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
        send_split(&h, sizeof(h), sizeof(h), 30, &wrote);
        ck_assert_uint_eq(wrote, 30);
        ck_assert_uint_eq(resp[30], 0xee);
        send_split(&h, sizeof(h), sizeof(h), 0, &wrote);
        ck_assert_uint_eq(wrote, 0);
}
END_TEST

/* ---- the PCI device ---- */

#define QSZ 8
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define REQ 0x8000
#define RESP 0x9000

static void wr(struct virtio_dev *vd, uint64_t off, uint64_t v, unsigned size)
{
        uint8_t d[8];
        for (unsigned i = 0; i < size; i++)
                d[i] = (uint8_t)(v >> (8 * i));
        virtio_pci_bar_write(vd, off, d, size);
}

static uint64_t rd(struct virtio_dev *vd, uint64_t off, unsigned size)
{
        uint8_t d[8];
        uint64_t v = 0;
        virtio_pci_bar_read(vd, off, d, size);
        for (unsigned i = 0; i < size; i++)
                v |= (uint64_t)d[i] << (8 * i);
        return v;
}

START_TEST(test_pci_device)
{
        struct virtio_gpu *gpu;
        struct virtio_dev *vd;
        struct virtio_gpu_ctrl_hdr h = HDR(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
        struct vgpu_head heads[1] = { { true, 0, 0, 1600, 900 } };
        struct virtio_gpu_resp_display_info di;
        uint64_t features = 1ull << 32 | 1ull << 1; /* VERSION_1, EDID */
        uint16_t idx, head = 0, flags;
        uint32_t len;
        uint8_t gen;
        int i;

        ram = calloc(1, RAM_SIZE);
        ck_assert_int_eq(virtio_gpu_create(2, 1280, 800, 0, 10, &mem, &gpu), 0);
        vd = virtio_gpu_dev(gpu);
        ck_assert_uint_eq(vd->pci.cfg[2] | vd->pci.cfg[3] << 8, 0x1050);
        ck_assert_uint_eq(vd->pci.cfg[0x0b], 0x03); /* display controller */
        ck_assert_uint_eq(rd(vd, VIRTIO_DEVCFG_OFF + 8, 4), 2);
        wr(vd, 0x00, 0, 4);
        ck_assert_uint_eq(rd(vd, 0x04, 4) & 2, 2); /* VIRTIO_GPU_F_EDID offered */

        wr(vd, 0x14, 0, 1);
        wr(vd, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
        wr(vd, 0x08, 0, 4);
        wr(vd, 0x0c, (uint32_t)features, 4);
        wr(vd, 0x08, 1, 4);
        wr(vd, 0x0c, features >> 32, 4);
        wr(vd, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
        wr(vd, 0x16, 0, 2);
        wr(vd, 0x18, QSZ, 2);
        wr(vd, 0x20, DESC, 8);
        wr(vd, 0x28, AVAIL, 8);
        wr(vd, 0x30, USED, 8);
        wr(vd, 0x1c, 1, 2);
        wr(vd, 0x14, 0xf & ~0u, 1); /* ACK | DRIVER | DRIVER_OK | FEATURES_OK */
        ck_assert_uint_eq(rd(vd, 0x14, 1) & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);

        /* GET_DISPLAY_INFO through the control queue. */
        memcpy(ram + REQ, &h, sizeof(h));
        len = sizeof(h);
        flags = VIRTQ_DESC_F_NEXT;
        memcpy(ram + DESC, &(uint64_t){ REQ }, 8);
        memcpy(ram + DESC + 8, &len, 4);
        memcpy(ram + DESC + 12, &flags, 2);
        memcpy(ram + DESC + 14, &(uint16_t){ 1 }, 2);
        len = sizeof(di);
        flags = VIRTQ_DESC_F_WRITE;
        memcpy(ram + DESC + 16, &(uint64_t){ RESP }, 8);
        memcpy(ram + DESC + 24, &len, 4);
        memcpy(ram + DESC + 28, &flags, 2);
        memcpy(ram + AVAIL + 4, &head, 2);
        __atomic_store_n((uint16_t *)(ram + AVAIL + 2), 1, __ATOMIC_RELEASE);
        wr(vd, VIRTIO_NOTIFY_OFF, 0, 2);
        for (i = 0; i < 2000; i++) {
                idx = __atomic_load_n((uint16_t *)(ram + USED + 2), __ATOMIC_ACQUIRE);
                if (idx == 1)
                        break;
                usleep(1000);
        }
        ck_assert_uint_eq(idx, 1);
        memcpy(&len, ram + USED + 8, 4);
        ck_assert_uint_eq(len, sizeof(di));
        memcpy(&di, ram + RESP, sizeof(di));
        ck_assert_uint_eq(di.hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
        ck_assert_uint_eq(di.pmodes[0].r.width, 1280);
        ck_assert_uint_eq(di.pmodes[0].r.height, 800);

        /* A new wanted layout: events_read, a new config generation. */
        gen = (uint8_t)rd(vd, 0x15, 1);
        ck_assert_int_eq(virtio_gpu_set_layout(gpu, heads, 1), 0);
        ck_assert_uint_eq(rd(vd, VIRTIO_DEVCFG_OFF, 4), VIRTIO_GPU_EVENT_DISPLAY);
        ck_assert_uint_ne(rd(vd, 0x15, 1), gen);
        ck_assert_uint_eq(rd(vd, VIRTIO_ISR_OFF, 1) & 2, 2); /* configuration interrupt (INTx path) */
        wr(vd, VIRTIO_DEVCFG_OFF + 4, VIRTIO_GPU_EVENT_DISPLAY, 4);
        ck_assert_uint_eq(rd(vd, VIRTIO_DEVCFG_OFF, 4), 0);
        ck_assert_int_eq(virtio_gpu_set_layout(gpu, heads, 3), -EINVAL);
        ck_assert_int_eq(virtio_gpu_scanout(gpu, 0, &(struct vgpu_view){ 0 }), -ENODEV);

        virtio_gpu_free(gpu);
        free(ram);
}
END_TEST

/* ---- the VM's display_source on virtio-gpu scanout 0 ---- */

static uint16_t avail_idx;

/* The driver's side for queue 0 at DESC/AVAIL/USED in ram: one command
 * (at REQ) and its response (at RESP); returns the response type. */
static uint32_t queue_cmd(struct virtio_dev *vd, const void *req, uint32_t len)
{
        uint16_t flags = VIRTQ_DESC_F_NEXT, slot = avail_idx % QSZ, head = 0;
        uint32_t rlen = 64, type;

        memcpy(ram + REQ, req, len);
        memcpy(ram + DESC, &(uint64_t){ REQ }, 8);
        memcpy(ram + DESC + 8, &len, 4);
        memcpy(ram + DESC + 12, &flags, 2);
        memcpy(ram + DESC + 14, &(uint16_t){ 1 }, 2);
        flags = VIRTQ_DESC_F_WRITE;
        memcpy(ram + DESC + 16, &(uint64_t){ RESP }, 8);
        memcpy(ram + DESC + 24, &rlen, 4);
        memcpy(ram + DESC + 28, &flags, 2);
        memcpy(ram + AVAIL + 4 + 2 * slot, &head, 2);
        avail_idx++;
        __atomic_store_n((uint16_t *)(ram + AVAIL + 2), avail_idx, __ATOMIC_RELEASE);
        wr(vd, VIRTIO_NOTIFY_OFF, 0, 2);
        for (int i = 0; i < 2000 && __atomic_load_n((uint16_t *)(ram + USED + 2), __ATOMIC_ACQUIRE) != avail_idx; i++)
                usleep(1000);
        ck_assert_uint_eq(__atomic_load_n((uint16_t *)(ram + USED + 2), __ATOMIC_ACQUIRE), avail_idx);
        memcpy(&type, ram + RESP, 4);
        return type;
}

START_TEST(test_vm_display_source)
{
        struct vm_dev_config cfg = { .fb_width = 640, .fb_height = 480, .display = VM_DISPLAY_VIRTIO_GPU,
                                     .no_input = true };
        struct guest_mem gm;
        struct pci_bus bus;
        struct vm_devices d;
        struct vm_err err = { "" };
        struct display_source ds;
        struct display_surface surf;
        struct display_rect rects[4];
        struct virtio_dev *vd;
        const uint32_t W = 64, H = 48;
        uint8_t ppm[32];
        int fd;

        ck_assert_int_eq(guest_mem_create(&gm, 16u << 20, &err), 0);
        pci_bus_init(&bus);
        ck_assert_int_eq(vm_devices_create(&d, &cfg, &gm, &bus, &err), 0);
        ck_assert_ptr_nonnull(d.gpu);
        ck_assert(!d.has_fb);
        ds = vm_devices_display(&d);
        ck_assert_int_eq(ds.ops->get_surface(ds.opaque, &surf), -ENODEV); /* no driver yet */
        fd = memfd_create("gpu-shot", MFD_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(vm_devices_screenshot(&d, fd), -ENODEV);

        /* Play the guest driver: one 64x48 resource over scattered pages. */
        ram = gm.host;
        avail_idx = 0;
        vd = virtio_gpu_dev(d.gpu);
        wr(vd, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
        wr(vd, 0x08, 1, 4);
        wr(vd, 0x0c, 1, 4);
        wr(vd, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
        wr(vd, 0x16, 0, 2);
        wr(vd, 0x18, QSZ, 2);
        wr(vd, 0x20, DESC, 8);
        wr(vd, 0x28, AVAIL, 8);
        wr(vd, 0x30, USED, 8);
        wr(vd, 0x1c, 1, 2);
        wr(vd, 0x14, 0xf, 1);
        {
                struct virtio_gpu_resource_create_2d c = { HDR(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), 5,
                                                           VGPU_FORMAT_B8G8R8X8, W, H };
                struct {
                        struct virtio_gpu_resource_attach_backing a;
                        struct virtio_gpu_mem_entry ent[3];
                } ab = { { HDR(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING), 5, 3 },
                         { { 0x100000, 4096, 0 }, { 0x200000, 4096, 0 }, { 0x300000, 4096, 0 } } };
                struct virtio_gpu_transfer_to_host_2d t = { HDR(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), { 0, 0, W, H },
                                                            0, 5, 0 };
                struct virtio_gpu_set_scanout so = { HDR(VIRTIO_GPU_CMD_SET_SCANOUT), { 0, 0, W, H }, 0, 5 };
                struct virtio_gpu_resource_flush f = { HDR(VIRTIO_GPU_CMD_RESOURCE_FLUSH), { 8, 4, 10, 2 }, 5, 0 };

                memset(ram + 0x100000, 0x40, 4096);
                memset(ram + 0x200000, 0x80, 4096);
                memset(ram + 0x300000, 0xc0, 4096);
                ck_assert_uint_eq(queue_cmd(vd, &c, sizeof(c)), OK);
                ck_assert_uint_eq(queue_cmd(vd, &ab, sizeof(ab)), OK);
                ck_assert_uint_eq(queue_cmd(vd, &t, sizeof(t)), OK);
                ck_assert_uint_eq(queue_cmd(vd, &so, sizeof(so)), OK);
                ck_assert_int_eq(ds.ops->get_surface(ds.opaque, &surf), 0);
                ck_assert_uint_eq(surf.width, W);
                ck_assert_uint_eq(surf.height, H);
                ck_assert_uint_eq(surf.stride, W * 4);
                ck_assert_uint_eq(surf.format, DISPLAY_FORMAT_XRGB8888);
                ck_assert_uint_eq(surf.pixels[0], 0x40);
                ck_assert_uint_eq(surf.pixels[4096 + 5], 0x80);
                ck_assert_uint_eq(surf.pixels[W * H * 4 - 1], 0xc0);
                ck_assert_int_eq(ds.ops->collect_damage(ds.opaque, rects, 4), 1); /* SET_SCANOUT: all */
                ck_assert_uint_eq(queue_cmd(vd, &f, sizeof(f)), OK);
                ck_assert_int_eq(ds.ops->collect_damage(ds.opaque, rects, 4), 1);
                ck_assert_uint_eq(rects[0].x, 8);
                ck_assert_uint_eq(rects[0].y, 4);
                ck_assert_uint_eq(rects[0].w, 10);
                ck_assert_uint_eq(rects[0].h, 2);
                ck_assert_int_eq(ds.ops->collect_damage(ds.opaque, rects, 4), 0);
        }
        ck_assert_int_eq(vm_devices_screenshot(&d, fd), 0);
        ck_assert_int_eq(pread(fd, ppm, sizeof(ppm), 0), sizeof(ppm));
        close(fd);
        ck_assert_mem_eq(ppm, "P6\n64 48\n255\n", 13);
        ck_assert_uint_eq(ppm[13], 0x40);

        vm_devices_destroy(&d);
        pci_bus_destroy(&bus);
        guest_mem_destroy(&gm);
        ram = NULL;
}
END_TEST

/* ---- snapshots (virtio-gpu-state.c) ---- */

/* g's state section payload (malloc'd, *len bytes). */
static uint8_t *save_payload(struct vgpu *from, size_t *len)
{
        struct state_writer w;
        struct state_file f;
        struct vm_err err;
        uint8_t *buf, *out;
        size_t n;

        state_writer_init(&w);
        state_begin(&w, "dev.4.virtio-gpu");
        vgpu_state_save(from, &w);
        state_end(&w);
        ck_assert_int_eq(state_writer_finish(&w, &buf, &n), 0);
        ck_assert_int_eq(state_file_parse(buf, n, &f, &err), 0);
        ck_assert_uint_eq(f.nsec, 1);
        *len = (size_t)f.sec[0].len;
        out = malloc(*len + 1);
        ck_assert_ptr_nonnull(out);
        memcpy(out, f.sec[0].data, *len);
        state_file_free(&f);
        free(buf);
        return out;
}

/* Load len bytes of payload into to; the reader's complaint in why. */
static bool load_payload(struct vgpu *to, const uint8_t *p, size_t len, char why[160])
{
        struct state_section s = { .name = "dev.4.virtio-gpu", .data = p, .len = len };
        struct state_reader r;
        bool ok;

        state_reader_init(&r, &s);
        ok = vgpu_state_load(to, &r);
        memcpy(why, r.why, sizeof(r.why));
        return ok;
}

static void fill_ram(uint64_t gpa, size_t len, uint32_t seed)
{
        for (size_t i = 0; i + 4 <= len; i += 4) {
                uint32_t v = seed ^ (uint32_t)(i * 2654435761u);
                memcpy(ram + gpa + i, &v, 4);
        }
}

static void assert_same_view(struct vgpu *a, struct vgpu *b, unsigned s)
{
        struct vgpu_view va, vb;

        ck_assert_int_eq(vgpu_scanout_view(a, s, &va), 0);
        ck_assert_int_eq(vgpu_scanout_view(b, s, &vb), 0);
        ck_assert_uint_eq(va.width, vb.width);
        ck_assert_uint_eq(va.height, vb.height);
        ck_assert_uint_eq(va.stride, vb.stride);
        ck_assert_uint_eq(va.format, vb.format);
        ck_assert_uint_eq(va.resource_id, vb.resource_id);
        ck_assert_int_eq(va.in_place, vb.in_place);
        for (uint32_t y = 0; y < va.height; y++)
                ck_assert_mem_eq(va.pixels + (uint64_t)y * va.stride, vb.pixels + (uint64_t)y * vb.stride,
                                 va.width * 4);
        vgpu_view_release(&va);
        vgpu_view_release(&vb);
}

START_TEST(test_state_round_trip)
{
        const uint64_t a1[2] = { 0x10000, 0x20000 }, a2[1] = { 0x40000 }, a3[1] = { 0x50000 };
        const uint32_t l1[2] = { 64 * 4 * 24, 64 * 4 * 24 }, l2[1] = { 32 * 32 * 4 }, l3[1] = { 16 * 16 * 4 };
        const struct vgpu_head heads[2] = { { true, 0, 0, 1280, 720 }, { true, 1280, 0, 800, 600 } };
        struct virtio_gpu_update_cursor cur = { .hdr = HDR(VIRTIO_GPU_CMD_UPDATE_CURSOR), .pos = { 0, 100, 200, 0 },
                                                .resource_id = 3, .hot_x = 3, .hot_y = 5 };
        struct vgpu_head wa[VGPU_MAX_SCANOUTS], wb[VGPU_MAX_SCANOUTS];
        struct vgpu_cursor *ca = malloc(sizeof(*ca)), *cb = malloc(sizeof(*cb));
        struct vgpu_stats sa, sb;
        struct display_rect d[4];
        struct vgpu_view v;
        struct vgpu *src, *dst;
        uint8_t *p1, *p2, ev_a[4], ev_b[4];
        size_t n1, n2;
        char why[160];

        /* 1: scattered backing, so a shadow; 2: in place; 3: the cursor;
         * 4: never backed. */
        fill_ram(0x10000, l1[0], 1);
        fill_ram(0x20000, l1[1], 2);
        fill_ram(0x40000, l2[0], 3);
        fill_ram(0x50000, l3[0], 4);
        ck_assert_uint_eq(create(1, 64, 48, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(attach(1, 2, a1, l1), OK);
        ck_assert_uint_eq(transfer(1, 0, 0, 64, 48, 0), OK);
        ck_assert_uint_eq(set_scanout(0, 1, 8, 4, 48, 40), OK);
        ck_assert_uint_eq(create(2, 32, 32, VGPU_FORMAT_B8G8R8A8), OK);
        ck_assert_uint_eq(attach(2, 1, a2, l2), OK);
        ck_assert_uint_eq(set_scanout(1, 2, 0, 0, 32, 32), OK);
        ck_assert_uint_eq(create(3, 16, 16, VGPU_FORMAT_B8G8R8A8), OK);
        ck_assert_uint_eq(attach(3, 1, a3, l3), OK);
        ck_assert_uint_eq(transfer(3, 0, 0, 16, 16, 0), OK);
        cursor_cmd(&cur, sizeof(cur));
        ck_assert_uint_eq(create(4, 100, 10, VGPU_FORMAT_R8G8B8X8), OK);
        ck_assert_int_eq(vgpu_set_layout(g, heads, 2), 1); /* a display event pending */
        for (unsigned s = 0; s < VGPU_MAX_SCANOUTS; s++)
                (void)vgpu_collect_damage(g, s, d, 4);
        p1 = save_payload(g, &n1);

        src = g;
        ck_assert_int_eq(vgpu_new(VGPU_MAX_SCANOUTS, 640, 480, 0, &mem, &dst), 0);
        ck_assert_msg(load_payload(dst, p1, n1, why), "%s", why);
        /* The pictures, the layout, the event, the cursor, the counters. */
        assert_same_view(src, dst, 0);
        assert_same_view(src, dst, 1);
        ck_assert_int_eq(vgpu_scanout_view(dst, 1, &v), 0);
        ck_assert_ptr_eq(v.pixels, ram + 0x40000); /* in place: guest RAM itself */
        vgpu_view_release(&v);
        ck_assert_int_eq(vgpu_scanout_view(dst, 2, &v), -ENODEV);
        ck_assert_int_eq(vgpu_scanout_view(dst, 3, &v), -ENODEV);
        ck_assert_uint_eq(vgpu_get_layout(src, wa), vgpu_get_layout(dst, wb));
        for (unsigned s = 0; s < VGPU_MAX_SCANOUTS; s++) {
                ck_assert_int_eq(wa[s].enabled, wb[s].enabled);
                ck_assert_int_eq(wa[s].x, wb[s].x);
                ck_assert_int_eq(wa[s].y, wb[s].y);
                ck_assert_uint_eq(wa[s].width, wb[s].width);
                ck_assert_uint_eq(wa[s].height, wb[s].height);
        }
        ck_assert_uint_eq(wb[1].width, 800);
        vgpu_cfg_read(src, 0, ev_a, 4);
        vgpu_cfg_read(dst, 0, ev_b, 4);
        ck_assert_mem_eq(ev_a, ev_b, 4);
        ck_assert_uint_eq(ev_b[0], VIRTIO_GPU_EVENT_DISPLAY);
        vgpu_get_cursor(src, ca);
        vgpu_get_cursor(dst, cb);
        ck_assert(cb->visible);
        ck_assert_uint_eq(cb->x, 100);
        ck_assert_uint_eq(cb->y, 200);
        ck_assert_uint_eq(cb->hot_x, 3);
        ck_assert_uint_eq(cb->hot_y, 5);
        ck_assert_uint_eq(cb->width, 16);
        ck_assert_mem_eq(ca->pixels, cb->pixels, sizeof(ca->pixels));
        ck_assert_uint_gt(cb->shape_serial, 0);
        vgpu_get_stats(src, &sa);
        vgpu_get_stats(dst, &sb);
        ck_assert_uint_eq(sb.resources, 4);
        ck_assert_uint_eq(sa.hostmem, sb.hostmem);
        ck_assert_uint_eq(sa.commands, sb.commands);
        ck_assert_uint_eq(sa.errors, sb.errors);
        /* Shown at once: each enabled scanout wholly damaged. */
        ck_assert_int_eq(vgpu_collect_damage(dst, 0, d, 4), 1);
        ck_assert_uint_eq(d[0].w, 48);
        ck_assert_uint_eq(d[0].h, 40);
        ck_assert_int_eq(vgpu_collect_damage(dst, 2, d, 4), 0);
        /* Saving the restored device gives the same bytes. */
        p2 = save_payload(dst, &n2);
        ck_assert_uint_eq(n1, n2);
        ck_assert_mem_eq(p1, p2, n1);
        free(p2);

        /* The restored device goes on: its backing is the same guest RAM. */
        g = dst;
        fill_ram(0x20000, l1[1], 7);
        ck_assert_uint_eq(transfer(1, 0, 24, 64, 24, 64 * 4 * 24), OK);
        ck_assert_int_eq(vgpu_scanout_view(dst, 0, &v), 0);
        ck_assert_uint_eq(view_px(&v, 0, 20), pixel_at(0x20000, 64 * 4, 8, 0));
        vgpu_view_release(&v);
        ck_assert_uint_eq(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 4), OK);
        ck_assert_uint_eq(create(4, 8, 8, VGPU_FORMAT_B8G8R8X8), OK);
        g = src;
        vgpu_free(dst);
        free(p1);
        free(ca);
        free(cb);
}
END_TEST

/* The payload of a one-head device with one 4x4 resource (two backing
 * entries, a shadow) shown on its scanout: field offsets below. */
enum {
        O_VERSION = 0, O_HEADS = 1, O_EVENTS = 5, O_WANT_EN = 9, O_WANT_W = 18, O_NRES = 26, O_ID = 30, O_FMT = 34,
        O_W = 38, O_N = 46, O_GPA0 = 50, O_LEN0 = 58, O_GPA1 = 66, O_SHADOW = 82, O_PIXELS = 83,
        O_SO_ID = O_PIXELS + 64, O_SO_X = O_SO_ID + 4, O_SO_W = O_SO_ID + 12, O_CUR_VIS = O_SO_ID + 20,
        O_CUR_SCANOUT = O_CUR_VIS + 1, O_CUR_HOT_X = O_CUR_VIS + 13, O_CUR_W = O_CUR_VIS + 21,
        O_END = O_CUR_VIS + 29 + 4 * VGPU_CURSOR_DIM * VGPU_CURSOR_DIM + 16,
};

struct bad_case {
        unsigned off, size;     /* size 0: cut the shadow pixels and set the flag to value */
        uint64_t value;
        const char *why;        /* part of the message; NULL: any */
};

static const struct bad_case bad_cases[] = {
        { O_VERSION, 1, 2, "state version 2" },
        { O_HEADS, 4, 2, "2 heads in the snapshot, 1 here" },
        { O_EVENTS, 4, 2, "pending events 0x2" },
        { O_WANT_EN, 1, 2, "wanted head 0: enabled flag 2" },
        { O_WANT_EN, 1, 0, "wanted head 0: disabled with a size" },
        { O_WANT_W, 4, 0, "wanted head 0: size 0x" },
        { O_WANT_W, 4, VGPU_MAX_DIM + 1, "wanted head 0: size 8193x" },
        { O_NRES, 4, VGPU_MAX_RESOURCES + 1, "1025 resources" },
        { O_NRES, 4, 2, NULL }, /* the next "resource" is the scanout and cursor */
        { O_ID, 4, 0, "resource 0: id 0" },
        { O_FMT, 4, 5, "format 5 is not a 2D format" },
        { O_W, 4, 0, "size 0x4" },
        { O_W, 4, VGPU_MAX_DIM + 1, "size 8193x4" },
        { O_W, 4, 4096, "host memory" }, /* 64 KiB of pixels on a 32 KiB device */
        { O_N, 4, VGPU_MAX_BACKING_ENTRIES + 1, "65537 backing entries" },
        { O_N, 4, 60000, "backing entries past the section's end" },
        { O_GPA0, 8, RAM_SIZE - 16, "backing entry 0 (32 bytes at 0x3ffff0) is not guest RAM" },
        { O_LEN0, 8, 0, "backing entry 0 (0 bytes" },
        { O_GPA1, 8, UINT64_MAX - 8, "backing entry 1" },
        { O_SHADOW, 1, 2, "shadow flag 2" },
        { O_SHADOW, 0, 0, "scanout 0: resource 5 has no pixels" },
        { O_SO_ID, 4, 9, "scanout 0: resource 9 does not exist" },
        { O_SO_ID, 4, 0, "scanout 0: disabled with a rectangle" },
        { O_SO_X, 4, 3, "rectangle 2x2+3+1 is not inside resource 5 (4x4)" },
        { O_SO_W, 4, 0xffffffffu, "is not inside resource 5" },
        { O_SO_W, 4, 0, "is not inside resource 5" },
        { O_CUR_VIS, 1, 2, "cursor: visible flag 2" },
        { O_CUR_SCANOUT, 4, 1, "cursor: scanout 1 (this device has 1)" },
        { O_CUR_HOT_X, 4, VGPU_CURSOR_DIM, "cursor: hotspot 64," },
        { O_CUR_W, 4, VGPU_CURSOR_DIM + 1, "cursor: size 65x" },
        { O_CUR_VIS, 1, 1, "cursor: size 0x0" }, /* visible without a shape */
        { O_END, 1, 0, "1 bytes after the device state" },
        { O_END - 1, 0xff, 0, NULL }, /* truncated: the last byte missing */
};

START_TEST(test_state_refused)
{
        const uint64_t a[2] = { 0x1000, 0x3000 };
        const uint32_t l[2] = { 32, 32 };
        struct vgpu *src, *dst;
        uint8_t *p, *before, *after, *bad;
        size_t n, nb, na;
        char why[160];

        teardown();
        setup_n(1, 32 << 10);
        fill_ram(0x1000, 32, 1);
        fill_ram(0x3000, 32, 2);
        ck_assert_uint_eq(create(5, 4, 4, VGPU_FORMAT_B8G8R8X8), OK);
        ck_assert_uint_eq(attach(5, 2, a, l), OK);
        ck_assert_uint_eq(transfer(5, 0, 0, 4, 4, 0), OK);
        ck_assert_uint_eq(set_scanout(0, 5, 1, 1, 2, 2), OK);
        p = save_payload(g, &n);
        src = g;
        ck_assert_uint_eq(n, O_END);
        ck_assert_uint_eq(p[O_ID], 5);
        ck_assert_uint_eq(p[O_SO_ID], 5);

        /* The device that refuses has a picture of its own, which stays. */
        ck_assert_int_eq(vgpu_new(1, 640, 480, 32 << 10, &mem, &dst), 0);
        ck_assert_msg(load_payload(dst, p, n, why), "%s", why);
        g = dst;
        ck_assert_uint_eq(create(6, 2, 2, VGPU_FORMAT_B8G8R8X8), OK);
        g = src;
        before = save_payload(dst, &nb);
        bad = malloc(n + 1);
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                const struct bad_case *c = &bad_cases[i];
                size_t len = n;

                memcpy(bad, p, n);
                if (c->size == 0) {
                        memmove(bad + O_PIXELS, bad + O_PIXELS + 64, n - O_PIXELS - 64);
                        bad[O_SHADOW] = (uint8_t)c->value;
                        len = n - 64;
                } else if (c->size == 0xff) {
                        len = n - 1;
                } else if (c->off == O_END) {
                        bad[n] = 0;
                        len = n + 1;
                } else {
                        for (unsigned k = 0; k < c->size; k++)
                                bad[c->off + k] = (uint8_t)(c->value >> (8 * k));
                }
                why[0] = '\0';
                ck_assert_msg(!load_payload(dst, bad, len, why), "case %zu loaded", i);
                ck_assert_msg(why[0] && (!c->why || strstr(why, c->why)), "case %zu: \"%s\", expected \"%s\"", i, why,
                              c->why ? c->why : "(any)");
                after = save_payload(dst, &na);
                ck_assert_msg(na == nb && memcmp(before, after, nb) == 0, "case %zu changed the device", i);
                free(after);
        }
        free(bad);
        free(before);
        free(p);
        vgpu_free(dst);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("virtio-gpu");
        TCase *tc = tcase_create("commands");
        TCase *dev = tcase_create("device");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_display_info_and_layout);
        tcase_add_test(tc, test_edid);
        tcase_add_test(tc, test_shadow_transfer_flush);
        tcase_add_test(tc, test_in_place);
        tcase_add_test(tc, test_cursor);
        tcase_add_test(tc, test_damage_coalesced);
        tcase_add_test(tc, test_bad_resources);
        tcase_add_test(tc, test_bad_backing);
        tcase_add_test(tc, test_limits);
        tcase_add_test(tc, test_malformed);
        tcase_add_test(tc, test_state_round_trip);
        tcase_add_test(tc, test_state_refused);
        suite_add_tcase(s, tc);
        tcase_set_timeout(dev, 30);
        tcase_add_test(dev, test_pci_device);
        tcase_add_test(dev, test_vm_display_source);
        suite_add_tcase(s, dev);
        return s;
}
