/* virtio-gpu 2D command handling; see virtio-gpu-proto.h for the model,
 * the limits and what a view, damage and the cursor are. */
#include "config.h"

#include "virtio-gpu-proto.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_gpu.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "virtio-gpu-model.h"

/* ---- pixel buffers shared with views ---- */

struct vgpu_pixbuf *vgpu_pixbuf_new(uint64_t size)
{
        struct vgpu_pixbuf *p;

        if (size > SIZE_MAX - sizeof(*p))
                return NULL;
        p = calloc(1, sizeof(*p) + (size_t)size); /* large: mmap'd, zero pages until written */
        if (p)
                atomic_init(&p->ref, 1);
        return p;
}

void vgpu_pixbuf_put(struct vgpu_pixbuf *p)
{
        if (p && atomic_fetch_sub(&p->ref, 1) == 1)
                free(p);
}

/* ---- resources ---- */

bool vgpu_format_ok(uint32_t f)
{
        switch (f) {
        case VGPU_FORMAT_B8G8R8A8:
        case VGPU_FORMAT_B8G8R8X8:
        case VGPU_FORMAT_A8R8G8B8:
        case VGPU_FORMAT_X8R8G8B8:
        case VGPU_FORMAT_R8G8B8A8:
        case VGPU_FORMAT_X8B8G8R8:
        case VGPU_FORMAT_A8B8G8R8:
        case VGPU_FORMAT_R8G8B8X8:
                return true;
        default:
                return false;
        }
}

static struct res *res_find(struct vgpu *g, uint32_t id)
{
        if (id == 0)
                return NULL;
        for (unsigned i = 0; i < g->nres; i++)
                if (g->res[i]->id == id)
                        return g->res[i];
        return NULL;
}

const uint8_t *vgpu_res_pixels(const struct res *r)
{
        if (r->in_place)
                return r->iov[0].iov_base;
        return r->shadow ? r->shadow->data : NULL;
}

static void bump_scanouts_of(struct vgpu *g, const struct res *r)
{
        for (unsigned s = 0; s < g->num_scanouts; s++)
                if (g->so[s].res == r)
                        g->so[s].generation = ++g->gen_counter;
}

/* Give r a host copy (its memory was charged at CREATE), filled from
 * the in-place backing when there is one. 0 or -ENOMEM. */
static int res_ensure_shadow(struct vgpu *g, struct res *r)
{
        if (r->shadow)
                return 0;
        r->shadow = vgpu_pixbuf_new(r->size);
        if (!r->shadow)
                return -ENOMEM;
        if (r->in_place) {
                memcpy(r->shadow->data, r->iov[0].iov_base, r->size);
                r->in_place = false;
        }
        bump_scanouts_of(g, r);
        return 0;
}

static void scanout_disable(struct vgpu *g, struct scanout *so)
{
        so->res = NULL;
        so->ndamage = 0;
        so->generation = ++g->gen_counter;
}

static void res_detach(struct res *r, struct vgpu *g)
{
        free(r->iov);
        free(r->gpa);
        r->iov = NULL;
        r->gpa = NULL;
        g->hostmem -= r->table;
        r->accounted -= r->table;
        r->table = 0;
        r->niov = 0;
        r->backing_len = 0;
        r->backed = false;
        r->in_place = false;
}

static void res_destroy(struct vgpu *g, unsigned idx)
{
        struct res *r = g->res[idx];

        for (unsigned s = 0; s < g->num_scanouts; s++)
                if (g->so[s].res == r)
                        scanout_disable(g, &g->so[s]);
        res_detach(r, g);
        vgpu_pixbuf_put(r->shadow);
        g->hostmem -= r->accounted;
        g->res[idx] = g->res[--g->nres];
        free(r);
}

/* ---- rectangles ---- */

/* r inside a w x h area, without overflow (fields are guest-chosen). */
static bool rect_inside(const struct virtio_gpu_rect *r, uint32_t w, uint32_t h)
{
        return (uint64_t)r->x + r->width <= w && (uint64_t)r->y + r->height <= h;
}

static uint64_t area(const struct display_rect *r)
{
        return (uint64_t)r->w * r->h;
}

static struct display_rect rect_union(const struct display_rect *a, const struct display_rect *b)
{
        uint32_t x0 = a->x < b->x ? a->x : b->x, y0 = a->y < b->y ? a->y : b->y;
        uint32_t x1 = a->x + a->w > b->x + b->w ? a->x + a->w : b->x + b->w;
        uint32_t y1 = a->y + a->h > b->y + b->h ? a->y + a->h : b->y + b->h;

        return (struct display_rect){ x0, y0, x1 - x0, y1 - y0 };
}

static bool rect_contains(const struct display_rect *a, const struct display_rect *b)
{
        return b->x >= a->x && b->y >= a->y && b->x + b->w <= a->x + a->w && b->y + b->h <= a->y + a->h;
}

/* Add d to list[0..*n) of at most max entries: dropped when already
 * covered; beyond max, merged with the entry whose union grows least. */
static void damage_add(struct display_rect *list, unsigned *n, unsigned max, struct display_rect d)
{
        unsigned best = 0;
        uint64_t best_cost = UINT64_MAX;

        if (!d.w || !d.h)
                return;
        for (unsigned i = 0; i < *n; i++)
                if (rect_contains(&list[i], &d))
                        return;
        if (*n < max) {
                list[(*n)++] = d;
                return;
        }
        for (unsigned i = 0; i < *n; i++) {
                struct display_rect u = rect_union(&list[i], &d);
                uint64_t cost = area(&u) - area(&list[i]);
                if (cost < best_cost) {
                        best_cost = cost;
                        best = i;
                }
        }
        list[best] = rect_union(&list[best], &d);
}

/* ---- iovec walking ---- */

struct iov_pos {
        unsigned i;             /* current iovec */
        size_t off;             /* offset in it */
        uint64_t abs;           /* absolute offset */
};

/* Copy len bytes at absolute offset at (>= pos->abs) into dst. The caller
 * has checked that [at, at+len) lies inside the iovecs. */
static void iov_read_at(const struct iovec *iov, unsigned n, struct iov_pos *pos, uint64_t at, uint8_t *dst,
                        size_t len)
{
        uint64_t skip = at - pos->abs;

        while (pos->i < n && skip) {
                size_t left = iov[pos->i].iov_len - pos->off;
                if (skip < left) {
                        pos->off += (size_t)skip;
                        break;
                }
                skip -= left;
                pos->i++;
                pos->off = 0;
        }
        pos->abs = at;
        while (pos->i < n && len) {
                size_t left = iov[pos->i].iov_len - pos->off, c = len < left ? len : left;
                memcpy(dst, (const uint8_t *)iov[pos->i].iov_base + pos->off, c);
                dst += c;
                len -= c;
                pos->abs += c;
                pos->off += c;
                if (pos->off == iov[pos->i].iov_len) {
                        pos->i++;
                        pos->off = 0;
                }
        }
}

/* ---- commands ---- */

struct req {
        const struct vq_elem *e;
        struct virtio_gpu_ctrl_hdr hdr;
};

/* Read the command body (with its header) into buf; false when short. */
static bool req_read(const struct req *q, void *buf, size_t len)
{
        return iov_to_buf(q->e->iov, q->e->n_out, 0, buf, len) == len;
}

static uint32_t cmd_get_display_info(struct vgpu *g, struct virtio_gpu_resp_display_info *resp)
{
        memset(resp->pmodes, 0, sizeof(resp->pmodes));
        for (unsigned s = 0; s < g->num_scanouts; s++) {
                const struct vgpu_head *h = &g->want[s];
                if (!h->enabled)
                        continue;
                resp->pmodes[s].r.x = htole32((uint32_t)h->x);
                resp->pmodes[s].r.y = htole32((uint32_t)h->y);
                resp->pmodes[s].r.width = htole32(h->width);
                resp->pmodes[s].r.height = htole32(h->height);
                resp->pmodes[s].enabled = htole32(1);
        }
        return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

static uint32_t cmd_get_edid(struct vgpu *g, const struct req *q, struct virtio_gpu_resp_edid *resp)
{
        struct virtio_gpu_cmd_get_edid c;
        uint32_t s;

        if (!req_read(q, &c, sizeof(c)))
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        s = le32toh(c.scanout);
        if (s >= g->num_scanouts)
                return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
        memset(resp->edid, 0, sizeof(resp->edid));
        vgpu_make_edid(&g->want[s], s, resp->edid);
        resp->size = htole32(128);
        return VIRTIO_GPU_RESP_OK_EDID;
}

static uint32_t cmd_create_2d(struct vgpu *g, const struct req *q)
{
        struct virtio_gpu_resource_create_2d c;
        struct res *r;
        uint32_t id, w, h, f;
        uint64_t size;

        if (!req_read(q, &c, sizeof(c)))
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        id = le32toh(c.resource_id);
        f = le32toh(c.format);
        w = le32toh(c.width);
        h = le32toh(c.height);
        if (id == 0 || res_find(g, id))
                return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
        if (!vgpu_format_ok(f) || w == 0 || h == 0 || w > VGPU_MAX_DIM || h > VGPU_MAX_DIM)
                return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        size = (uint64_t)w * h * BPP; /* <= 256 MiB by the checks above */
        if (g->nres >= VGPU_MAX_RESOURCES || size > g->hostmem_max - g->hostmem)
                return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
        r = calloc(1, sizeof(*r));
        if (!r)
                return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
        r->id = id;
        r->format = f;
        r->width = w;
        r->height = h;
        r->stride = w * BPP;
        r->size = size;
        r->accounted = size;
        g->hostmem += size;
        g->res[g->nres++] = r;
        return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_unref(struct vgpu *g, const struct req *q)
{
        struct virtio_gpu_resource_unref c;
        uint32_t id;

        if (!req_read(q, &c, sizeof(c)))
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        id = le32toh(c.resource_id);
        for (unsigned i = 0; id && i < g->nres; i++) {
                if (g->res[i]->id == id) {
                        res_destroy(g, i);
                        return VIRTIO_GPU_RESP_OK_NODATA;
                }
        }
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
}

static uint32_t cmd_attach_backing(struct vgpu *g, const struct req *q)
{
        struct virtio_gpu_resource_attach_backing c;
        struct virtio_gpu_mem_entry ent[256];
        const size_t hdr = sizeof(c);
        struct iovec *iov;
        uint64_t *gpa;
        struct res *r;
        uint32_t nr;
        uint64_t table, total = 0;
        unsigned niov = 0;

        if (!req_read(q, &c, sizeof(c)))
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        r = res_find(g, le32toh(c.resource_id));
        if (!r)
                return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
        if (r->backed)
                return VIRTIO_GPU_RESP_ERR_UNSPEC; /* detach first */
        nr = le32toh(c.nr_entries);
        if (nr == 0 || nr > VGPU_MAX_BACKING_ENTRIES || q->e->out_len < hdr + (uint64_t)nr * sizeof(ent[0]))
                return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        table = (uint64_t)nr * VGPU_BACKING_ENTRY_COST;
        if (table > g->hostmem_max - g->hostmem)
                return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
        iov = calloc(nr, sizeof(*iov));
        gpa = calloc(nr, sizeof(*gpa));
        if (!iov || !gpa) {
                free(iov);
                free(gpa);
                return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
        }
        for (uint32_t done = 0; done < nr;) {
                uint32_t chunk = nr - done < 256 ? nr - done : 256;
                size_t bytes = chunk * sizeof(ent[0]);

                if (iov_to_buf(q->e->iov, q->e->n_out, hdr + (size_t)done * sizeof(ent[0]), ent, bytes) != bytes)
                        goto bad;
                for (uint32_t i = 0; i < chunk; i++) {
                        uint64_t addr = le64toh(ent[i].addr);
                        uint32_t len = le32toh(ent[i].length);
                        uint8_t *p = len ? g->mem.translate(g->mem.opaque, addr, len) : NULL;

                        if (!p)
                                goto bad; /* empty, or not entirely guest RAM */
                        total += len;     /* <= 65536 * 4 GiB: no overflow */
                        /* Merged only when adjacent both in the host and in
                         * the guest, so that each entry keeps one
                         * guest-physical start (what a snapshot saves). */
                        if (niov && (uint8_t *)iov[niov - 1].iov_base + iov[niov - 1].iov_len == p &&
                            gpa[niov - 1] + iov[niov - 1].iov_len == addr) {
                                iov[niov - 1].iov_len += len;
                        } else {
                                gpa[niov] = addr;
                                iov[niov++] = (struct iovec){ p, len };
                        }
                }
                done += chunk;
        }
        r->iov = iov;
        r->gpa = gpa;
        r->niov = niov;
        r->table = table; /* charged as allocated (nr entries) */
        r->backing_len = total;
        r->backed = true;
        g->hostmem += table;
        r->accounted += table;
        if (!r->shadow && niov == 1 && iov[0].iov_len >= r->size) {
                r->in_place = true;
                bump_scanouts_of(g, r);
        }
        return VIRTIO_GPU_RESP_OK_NODATA;
bad:
        free(iov);
        free(gpa);
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
}

static uint32_t cmd_detach_backing(struct vgpu *g, const struct req *q)
{
        struct virtio_gpu_resource_detach_backing c;
        struct res *r;

        if (!req_read(q, &c, sizeof(c)))
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        r = res_find(g, le32toh(c.resource_id));
        if (!r)
                return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
        if (!r->backed)
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        /* The content outlives the backing (it is the host resource's). */
        if (r->in_place && res_ensure_shadow(g, r) < 0)
                return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
        res_detach(r, g);
        return VIRTIO_GPU_RESP_OK_NODATA;
}

static void rect_from_le(struct virtio_gpu_rect *r)
{
        r->x = le32toh(r->x);
        r->y = le32toh(r->y);
        r->width = le32toh(r->width);
        r->height = le32toh(r->height);
}

static uint32_t cmd_set_scanout(struct vgpu *g, const struct req *q)
{
        struct virtio_gpu_set_scanout c;
        struct scanout *so;
        struct res *r;
        uint32_t s, id;

        if (!req_read(q, &c, sizeof(c)))
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        rect_from_le(&c.r);
        s = le32toh(c.scanout_id);
        id = le32toh(c.resource_id);
        if (s >= g->num_scanouts)
                return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
        so = &g->so[s];
        if (id == 0) {
                scanout_disable(g, so);
                return VIRTIO_GPU_RESP_OK_NODATA;
        }
        r = res_find(g, id);
        if (!r)
                return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
        if (!c.r.width || !c.r.height || !rect_inside(&c.r, r->width, r->height))
                return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        if (!vgpu_res_pixels(r) && res_ensure_shadow(g, r) < 0) /* nothing transferred yet: black */
                return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
        so->res = r;
        so->x = c.r.x;
        so->y = c.r.y;
        so->w = c.r.width;
        so->h = c.r.height;
        so->generation = ++g->gen_counter;
        so->ndamage = 1;
        so->damage[0] = (struct display_rect){ 0, 0, so->w, so->h };
        return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_transfer_2d(struct vgpu *g, const struct req *q)
{
        struct virtio_gpu_transfer_to_host_2d c;
        struct iov_pos pos = { 0 };
        struct res *r;
        uint64_t off, row, span;

        if (!req_read(q, &c, sizeof(c)))
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        rect_from_le(&c.r);
        off = le64toh(c.offset);
        r = res_find(g, le32toh(c.resource_id));
        if (!r)
                return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
        if (!rect_inside(&c.r, r->width, r->height))
                return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        if (!r->backed)
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        if (!c.r.width || !c.r.height)
                return VIRTIO_GPU_RESP_OK_NODATA;
        /* Rows are read at off + i * stride: all must be in the backing. */
        row = (uint64_t)c.r.width * BPP;
        span = (uint64_t)(c.r.height - 1) * r->stride + row;
        if (!range_ok(off, span, r->backing_len))
                return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        if (r->in_place && off == (uint64_t)c.r.y * r->stride + (uint64_t)c.r.x * BPP)
                return VIRTIO_GPU_RESP_OK_NODATA; /* already where it is shown */
        if (res_ensure_shadow(g, r) < 0)
                return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
        for (uint32_t i = 0; i < c.r.height; i++) {
                uint8_t *dst = r->shadow->data + (uint64_t)(c.r.y + i) * r->stride + (uint64_t)c.r.x * BPP;
                iov_read_at(r->iov, r->niov, &pos, off + (uint64_t)i * r->stride, dst, (size_t)row);
        }
        return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_flush(struct vgpu *g, const struct req *q)
{
        struct virtio_gpu_resource_flush c;
        struct res *r;

        if (!req_read(q, &c, sizeof(c)))
                return VIRTIO_GPU_RESP_ERR_UNSPEC;
        rect_from_le(&c.r);
        r = res_find(g, le32toh(c.resource_id));
        if (!r)
                return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
        if (!rect_inside(&c.r, r->width, r->height))
                return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        for (unsigned s = 0; s < g->num_scanouts; s++) {
                struct scanout *so = &g->so[s];
                uint32_t x0, y0, x1, y1;

                if (so->res != r)
                        continue;
                /* Clip to the scanout's rectangle (all within the resource). */
                x0 = c.r.x > so->x ? c.r.x : so->x;
                y0 = c.r.y > so->y ? c.r.y : so->y;
                x1 = c.r.x + c.r.width < so->x + so->w ? c.r.x + c.r.width : so->x + so->w;
                y1 = c.r.y + c.r.height < so->y + so->h ? c.r.y + c.r.height : so->y + so->h;
                if (x0 >= x1 || y0 >= y1)
                        continue;
                damage_add(so->damage, &so->ndamage, VGPU_DAMAGE_MAX,
                           (struct display_rect){ x0 - so->x, y0 - so->y, x1 - x0, y1 - y0 });
        }
        return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t write_resp(const struct vq_elem *e, const struct virtio_gpu_ctrl_hdr *in, uint32_t type,
                           void *resp, size_t len)
{
        struct virtio_gpu_ctrl_hdr *h = resp;
        uint32_t flags = le32toh(in->flags) & (VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);

        if (type >= VIRTIO_GPU_RESP_ERR_UNSPEC)
                len = sizeof(*h);
        h->type = htole32(type);
        /* 5.7.6.7: fenced commands complete with the same fence (we are
         * synchronous: done by the time the response is written). */
        h->flags = htole32(flags);
        h->fence_id = flags & VIRTIO_GPU_FLAG_FENCE ? in->fence_id : 0;
        h->ctx_id = in->ctx_id;
        h->ring_idx = flags & VIRTIO_GPU_FLAG_INFO_RING_IDX ? in->ring_idx : 0;
        memset(h->padding, 0, sizeof(h->padding));
        return (uint32_t)iov_from_buf(e->iov + e->n_out, e->n_in, 0, resp, len);
}

uint32_t vgpu_ctrl(struct vgpu *g, const struct vq_elem *e)
{
        union {
                struct virtio_gpu_ctrl_hdr hdr;
                struct virtio_gpu_resp_display_info info;
                struct virtio_gpu_resp_edid edid;
        } resp;
        struct req q = { .e = e };
        size_t len = sizeof(resp.hdr);
        uint32_t type;

        g->commands++;
        memset(&resp, 0, sizeof(resp)); /* padding included: no host bytes reach the guest */
        if (iov_to_buf(e->iov, e->n_out, 0, &q.hdr, sizeof(q.hdr)) != sizeof(q.hdr)) {
                memset(&q.hdr, 0, sizeof(q.hdr));
                type = VIRTIO_GPU_RESP_ERR_UNSPEC;
                goto out;
        }
        switch (le32toh(q.hdr.type)) {
        case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
                type = cmd_get_display_info(g, &resp.info);
                len = sizeof(resp.info);
                break;
        case VIRTIO_GPU_CMD_GET_EDID:
                type = cmd_get_edid(g, &q, &resp.edid);
                len = sizeof(resp.edid);
                break;
        case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
                type = cmd_create_2d(g, &q);
                break;
        case VIRTIO_GPU_CMD_RESOURCE_UNREF:
                type = cmd_unref(g, &q);
                break;
        case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
                type = cmd_attach_backing(g, &q);
                break;
        case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
                type = cmd_detach_backing(g, &q);
                break;
        case VIRTIO_GPU_CMD_SET_SCANOUT:
                type = cmd_set_scanout(g, &q);
                break;
        case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
                type = cmd_transfer_2d(g, &q);
                break;
        case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
                type = cmd_flush(g, &q);
                break;
        default: /* 3D, blobs, capsets, cursor commands on the wrong queue */
                type = VIRTIO_GPU_RESP_ERR_UNSPEC;
                break;
        }
out:
        if (type >= VIRTIO_GPU_RESP_ERR_UNSPEC)
                g->errors++;
        return write_resp(e, &q.hdr, type, &resp, len);
}

uint32_t vgpu_cursor_cmd(struct vgpu *g, const struct vq_elem *e)
{
        struct virtio_gpu_update_cursor c;
        struct virtio_gpu_ctrl_hdr resp = { 0 };
        struct vgpu_cursor *cur = &g->cursor;
        uint32_t type = VIRTIO_GPU_RESP_OK_NODATA, s, cmd;

        g->commands++;
        if (iov_to_buf(e->iov, e->n_out, 0, &c, sizeof(c)) != sizeof(c)) {
                memset(&c, 0, sizeof(c));
                type = VIRTIO_GPU_RESP_ERR_UNSPEC;
                goto out;
        }
        cmd = le32toh(c.hdr.type);
        s = le32toh(c.pos.scanout_id);
        if (cmd != VIRTIO_GPU_CMD_UPDATE_CURSOR && cmd != VIRTIO_GPU_CMD_MOVE_CURSOR) {
                type = VIRTIO_GPU_RESP_ERR_UNSPEC;
                goto out;
        }
        if (s >= g->num_scanouts) {
                type = VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
                goto out;
        }
        if (cmd == VIRTIO_GPU_CMD_UPDATE_CURSOR) {
                uint32_t id = le32toh(c.resource_id);
                struct res *r = res_find(g, id);
                const uint8_t *px;

                if (id && !r) {
                        type = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
                        goto out;
                }
                if (r && (r->width > VGPU_CURSOR_DIM || r->height > VGPU_CURSOR_DIM)) {
                        type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
                        goto out;
                }
                memset(cur->pixels, 0, sizeof(cur->pixels));
                cur->visible = r != NULL;
                cur->width = r ? r->width : 0;
                cur->height = r ? r->height : 0;
                px = r ? vgpu_res_pixels(r) : NULL;
                for (uint32_t y = 0; px && y < cur->height; y++)
                        memcpy(cur->pixels + y * VGPU_CURSOR_DIM, px + (uint64_t)y * r->stride, r->stride);
                cur->hot_x = le32toh(c.hot_x);
                cur->hot_y = le32toh(c.hot_y);
                if (cur->hot_x >= VGPU_CURSOR_DIM)
                        cur->hot_x = VGPU_CURSOR_DIM - 1;
                if (cur->hot_y >= VGPU_CURSOR_DIM)
                        cur->hot_y = VGPU_CURSOR_DIM - 1;
                cur->shape_serial++;
        }
        cur->scanout = s;
        cur->x = (int32_t)le32toh(c.pos.x);
        cur->y = (int32_t)le32toh(c.pos.y);
        cur->pos_serial++;
out:
        if (type != VIRTIO_GPU_RESP_OK_NODATA)
                g->errors++;
        return write_resp(e, &c.hdr, type, &resp, sizeof(resp));
}

/* ---- configuration and layout ---- */

void vgpu_cfg_read(struct vgpu *g, unsigned off, uint8_t *data, unsigned size)
{
        struct virtio_gpu_config cfg = {
                .events_read = htole32(g->events_read),
                .num_scanouts = htole32(g->num_scanouts),
        };

        if (off < sizeof(cfg) && size <= sizeof(cfg) - off)
                memcpy(data, (uint8_t *)&cfg + off, size);
}

void vgpu_cfg_write(struct vgpu *g, unsigned off, const uint8_t *data, unsigned size)
{
        const unsigned at = offsetof(struct virtio_gpu_config, events_clear);

        /* events_clear: each byte written clears those bits of events_read. */
        for (unsigned i = 0; i < size; i++)
                if (off + i >= at && off + i < at + 4)
                        g->events_read &= ~((uint32_t)data[i] << (8 * (off + i - at)));
}

int vgpu_set_layout(struct vgpu *g, const struct vgpu_head *heads, unsigned n)
{
        struct vgpu_head want[VGPU_MAX_SCANOUTS] = { 0 };
        bool any = false;

        if (n > g->num_scanouts)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++) {
                if (!heads[i].enabled)
                        continue;
                if (heads[i].width == 0 || heads[i].height == 0 || heads[i].width > VGPU_MAX_DIM ||
                    heads[i].height > VGPU_MAX_DIM)
                        return -EINVAL;
                want[i] = heads[i];
                any = true;
        }
        if (!any)
                return -EINVAL;
        if (memcmp(want, g->want, sizeof(want)) == 0)
                return 0;
        memcpy(g->want, want, sizeof(want));
        g->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
        return 1;
}

unsigned vgpu_get_layout(struct vgpu *g, struct vgpu_head *heads)
{
        memcpy(heads, g->want, sizeof(g->want[0]) * g->num_scanouts);
        return g->num_scanouts;
}

/* ---- what the rest of vdi-vm reads ---- */

int vgpu_scanout_view(struct vgpu *g, unsigned s, struct vgpu_view *out)
{
        const struct scanout *so;
        const struct res *r;

        if (s >= g->num_scanouts)
                return -EINVAL;
        so = &g->so[s];
        r = so->res;
        if (!r || !vgpu_res_pixels(r))
                return -ENODEV;
        *out = (struct vgpu_view){
                .pixels = vgpu_res_pixels(r) + (uint64_t)so->y * r->stride + (uint64_t)so->x * BPP,
                .width = so->w,
                .height = so->h,
                .stride = r->stride,
                .format = r->format,
                .resource_id = r->id,
                .in_place = r->in_place,
                .generation = so->generation,
                .ref = r->in_place ? NULL : r->shadow,
        };
        if (out->ref)
                atomic_fetch_add(&out->ref->ref, 1);
        return 0;
}

void vgpu_view_release(struct vgpu_view *v)
{
        vgpu_pixbuf_put(v->ref);
        v->ref = NULL;
        v->pixels = NULL;
}

int vgpu_collect_damage(struct vgpu *g, unsigned s, struct display_rect *rects, size_t max)
{
        struct scanout *so;
        unsigned n = 0;

        if (s >= g->num_scanouts)
                return -EINVAL;
        so = &g->so[s];
        if (!max)
                return 0;
        for (unsigned i = 0; i < so->ndamage; i++)
                damage_add(rects, &n, max > VGPU_DAMAGE_MAX ? VGPU_DAMAGE_MAX : (unsigned)max, so->damage[i]);
        so->ndamage = 0;
        return (int)n;
}

void vgpu_get_cursor(struct vgpu *g, struct vgpu_cursor *out)
{
        *out = g->cursor;
}

void vgpu_get_stats(struct vgpu *g, struct vgpu_stats *out)
{
        *out = (struct vgpu_stats){
                .commands = g->commands,
                .errors = g->errors,
                .resources = g->nres,
                .hostmem = g->hostmem,
        };
}

/* ---- life cycle ---- */

int vgpu_new(unsigned num_scanouts, uint32_t width, uint32_t height, uint64_t hostmem_max,
             const struct vq_mem *mem, struct vgpu **out)
{
        struct vgpu *g;

        if (num_scanouts == 0 || num_scanouts > VGPU_MAX_SCANOUTS || width == 0 || height == 0 ||
            width > VGPU_MAX_DIM || height > VGPU_MAX_DIM)
                return -EINVAL;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->num_scanouts = num_scanouts;
        g->mem = *mem;
        g->hostmem_max = hostmem_max ? hostmem_max : VGPU_DEFAULT_HOSTMEM;
        g->want[0] = (struct vgpu_head){ .enabled = true, .width = width, .height = height };
        *out = g;
        return 0;
}

void vgpu_reset(struct vgpu *g)
{
        while (g->nres)
                res_destroy(g, g->nres - 1);
        for (unsigned s = 0; s < g->num_scanouts; s++)
                scanout_disable(g, &g->so[s]);
        memset(&g->cursor.pixels, 0, sizeof(g->cursor.pixels));
        g->cursor.visible = false;
        g->cursor.shape_serial++;
        g->cursor.pos_serial++;
}

void vgpu_free(struct vgpu *g)
{
        if (!g)
                return;
        vgpu_reset(g);
        free(g);
}
