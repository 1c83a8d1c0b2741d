/* virtio-gpu's snapshot section (SNAPSHOT.md "virtio-gpu"): the device
 * state of virtio-gpu-model.h, written after the virtio transport. Guest
 * RAM is in the RAM file, so a resource's backing is saved as its
 * guest-physical ranges, never as pixels; only the host's own copy (the
 * shadow) is. Everything read is checked against this device before any
 * of it replaces the current state. */
#include "config.h"

#include <inttypes.h>
#include <linux/virtio_gpu.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "virtio-gpu-model.h"

#define VGPU_STATE_VERSION 1

void vgpu_state_save(const struct vgpu *g, struct state_writer *w)
{
        const struct vgpu_cursor *c = &g->cursor;

        state_put_u8(w, VGPU_STATE_VERSION);
        state_put_u32(w, g->num_scanouts);
        state_put_u32(w, g->events_read);
        for (unsigned s = 0; s < g->num_scanouts; s++) {
                const struct vgpu_head *h = &g->want[s];
                state_put_u8(w, h->enabled);
                state_put_u32(w, (uint32_t)h->x);
                state_put_u32(w, (uint32_t)h->y);
                state_put_u32(w, h->width);
                state_put_u32(w, h->height);
        }
        state_put_u32(w, g->nres);
        for (unsigned i = 0; i < g->nres; i++) {
                const struct res *r = g->res[i];
                state_put_u32(w, r->id);
                state_put_u32(w, r->format);
                state_put_u32(w, r->width);
                state_put_u32(w, r->height);
                state_put_u32(w, r->backed ? r->niov : 0);
                for (unsigned k = 0; r->backed && k < r->niov; k++) {
                        state_put_u64(w, r->gpa[k]);
                        state_put_u64(w, r->iov[k].iov_len);
                }
                state_put_u8(w, r->shadow != NULL);
                if (r->shadow)
                        state_put_bytes(w, r->shadow->data, r->size);
        }
        for (unsigned s = 0; s < g->num_scanouts; s++) {
                const struct scanout *so = &g->so[s];
                /* A disabled scanout keeps its last rectangle: not state. */
                state_put_u32(w, so->res ? so->res->id : 0);
                state_put_u32(w, so->res ? so->x : 0);
                state_put_u32(w, so->res ? so->y : 0);
                state_put_u32(w, so->res ? so->w : 0);
                state_put_u32(w, so->res ? so->h : 0);
        }
        state_put_u8(w, c->visible);
        state_put_u32(w, c->scanout);
        state_put_u32(w, (uint32_t)c->x);
        state_put_u32(w, (uint32_t)c->y);
        state_put_u32(w, c->hot_x);
        state_put_u32(w, c->hot_y);
        state_put_u32(w, c->width);
        state_put_u32(w, c->height);
        for (unsigned i = 0; i < VGPU_CURSOR_DIM * VGPU_CURSOR_DIM; i++)
                state_put_u32(w, c->pixels[i]);
        state_put_u64(w, g->commands);
        state_put_u64(w, g->errors);
}

/* ---- loading ---- */

/* What a section holds, applied to the device only once all of it is good. */
struct loaded {
        uint32_t events_read;
        struct vgpu_head want[VGPU_MAX_SCANOUTS];
        struct res *res[VGPU_MAX_RESOURCES];
        unsigned nres;
        uint64_t hostmem;
        struct {
                struct res *res;
                uint32_t x, y, w, h;
        } so[VGPU_MAX_SCANOUTS];
        struct vgpu_cursor cursor;
        uint64_t commands, errors;
};

static void res_free(struct res *r)
{
        if (!r)
                return;
        free(r->iov);
        free(r->gpa);
        vgpu_pixbuf_put(r->shadow);
        free(r);
}

static void loaded_free(struct loaded *l)
{
        for (unsigned i = 0; i < l->nres; i++)
                res_free(l->res[i]);
        free(l);
}

static size_t reader_left(const struct state_reader *r)
{
        return r->len - r->off;
}

static bool load_layout(const struct vgpu *g, struct state_reader *r, struct loaded *l)
{
        bool any = false;

        l->events_read = state_get_u32(r);
        if (state_reader_ok(r) && (l->events_read & ~(uint32_t)VIRTIO_GPU_EVENT_DISPLAY))
                return state_reader_fail(r, "virtio-gpu: pending events 0x%x (only 0x%x exists)", l->events_read,
                                         VIRTIO_GPU_EVENT_DISPLAY);
        for (unsigned s = 0; s < g->num_scanouts && state_reader_ok(r); s++) {
                struct vgpu_head *h = &l->want[s];
                uint8_t en = state_get_u8(r);

                h->enabled = en;
                h->x = (int32_t)state_get_u32(r);
                h->y = (int32_t)state_get_u32(r);
                h->width = state_get_u32(r);
                h->height = state_get_u32(r);
                if (!state_reader_ok(r))
                        break;
                if (en > 1)
                        return state_reader_fail(r, "virtio-gpu: wanted head %u: enabled flag %u", s, en);
                if (en && (h->width == 0 || h->height == 0 || h->width > VGPU_MAX_DIM || h->height > VGPU_MAX_DIM))
                        return state_reader_fail(r, "virtio-gpu: wanted head %u: size %" PRIu32 "x%" PRIu32
                                                 " (1..%d a side)", s, h->width, h->height, VGPU_MAX_DIM);
                if (!en && (h->x || h->y || h->width || h->height))
                        return state_reader_fail(r, "virtio-gpu: wanted head %u: disabled with a size", s);
                any |= en;
        }
        if (state_reader_ok(r) && !any)
                return state_reader_fail(r, "virtio-gpu: the wanted layout has no enabled head");
        return state_reader_ok(r);
}

/* Resource i of the section into l->res[i]. */
static bool load_res(const struct vgpu *g, struct state_reader *r, struct loaded *l, unsigned i)
{
        uint32_t id = state_get_u32(r), format = state_get_u32(r), w = state_get_u32(r), h = state_get_u32(r);
        uint32_t n = state_get_u32(r);
        uint64_t size, cost;
        struct res *res;
        uint8_t shadow;

        if (!state_reader_ok(r))
                return false;
        if (id == 0)
                return state_reader_fail(r, "virtio-gpu: resource %u: id 0", i);
        for (unsigned j = 0; j < i; j++)
                if (l->res[j]->id == id)
                        return state_reader_fail(r, "virtio-gpu: resource %u: id %" PRIu32 " twice", i, id);
        if (!vgpu_format_ok(format))
                return state_reader_fail(r, "virtio-gpu: resource %" PRIu32 ": format %" PRIu32 " is not a 2D format",
                                         id, format);
        if (w == 0 || h == 0 || w > VGPU_MAX_DIM || h > VGPU_MAX_DIM)
                return state_reader_fail(r, "virtio-gpu: resource %" PRIu32 ": size %" PRIu32 "x%" PRIu32
                                         " (1..%d a side)", id, w, h, VGPU_MAX_DIM);
        if (n > VGPU_MAX_BACKING_ENTRIES)
                return state_reader_fail(r, "virtio-gpu: resource %" PRIu32 ": %" PRIu32
                                         " backing entries (at most %d)", id, n, VGPU_MAX_BACKING_ENTRIES);
        if ((uint64_t)n * 16 > reader_left(r))
                return state_reader_fail(r, "virtio-gpu: resource %" PRIu32 ": backing entries past the section's end",
                                         id);
        size = (uint64_t)w * h * BPP;
        cost = size + (uint64_t)n * VGPU_BACKING_ENTRY_COST;
        if (cost > g->hostmem_max - l->hostmem)
                return state_reader_fail(r, "virtio-gpu: resource %" PRIu32 ": the resources take more than this "
                                         "device's %" PRIu64 " bytes of host memory", id, g->hostmem_max);
        res = calloc(1, sizeof(*res));
        if (!res)
                return state_reader_fail(r, "virtio-gpu: out of memory");
        l->res[i] = res; /* freed with l from here on */
        l->nres = i + 1;
        *res = (struct res){ .id = id, .format = format, .width = w, .height = h, .stride = w * BPP,
                             .size = size, .accounted = cost };
        l->hostmem += cost;
        if (n) {
                res->iov = calloc(n, sizeof(*res->iov));
                res->gpa = calloc(n, sizeof(*res->gpa));
                if (!res->iov || !res->gpa)
                        return state_reader_fail(r, "virtio-gpu: out of memory");
                res->niov = n;
                res->table = (uint64_t)n * VGPU_BACKING_ENTRY_COST;
                res->backed = true;
        }
        for (unsigned k = 0; k < n; k++) {
                uint64_t gpa = state_get_u64(r), len = state_get_u64(r);
                void *p = len && state_reader_ok(r) ? g->mem.translate(g->mem.opaque, gpa, len) : NULL;

                if (!state_reader_ok(r))
                        return false;
                if (!p)
                        return state_reader_fail(r, "virtio-gpu: resource %" PRIu32 ": backing entry %u (%" PRIu64
                                                 " bytes at 0x%" PRIx64 ") is not guest RAM", id, k, len, gpa);
                res->gpa[k] = gpa;
                res->iov[k] = (struct iovec){ p, (size_t)len };
                res->backing_len += len; /* each <= guest RAM, n <= 65536: no overflow */
        }
        shadow = state_get_u8(r);
        if (state_reader_ok(r) && shadow > 1)
                return state_reader_fail(r, "virtio-gpu: resource %" PRIu32 ": shadow flag %u", id, shadow);
        if (state_reader_ok(r) && shadow) {
                if (size > reader_left(r))
                        return state_reader_fail(r, "virtio-gpu: resource %" PRIu32 ": shadow pixels past the "
                                                 "section's end", id);
                res->shadow = vgpu_pixbuf_new(size);
                if (!res->shadow)
                        return state_reader_fail(r, "virtio-gpu: out of memory for resource %" PRIu32 "'s pixels", id);
                state_get_bytes(r, res->shadow->data, size);
        }
        /* As ATTACH_BACKING decides it: one range covering the resource,
         * and no shadow ever made. */
        res->in_place = res->backed && !res->shadow && res->niov == 1 && res->iov[0].iov_len >= size;
        return state_reader_ok(r);
}

static struct res *loaded_find(const struct loaded *l, uint32_t id)
{
        for (unsigned i = 0; i < l->nres; i++)
                if (l->res[i]->id == id)
                        return l->res[i];
        return NULL;
}

static bool load_scanouts(const struct vgpu *g, struct state_reader *r, struct loaded *l)
{
        for (unsigned s = 0; s < g->num_scanouts && state_reader_ok(r); s++) {
                uint32_t id = state_get_u32(r), x = state_get_u32(r), y = state_get_u32(r);
                uint32_t w = state_get_u32(r), h = state_get_u32(r);
                struct res *res;

                if (!state_reader_ok(r))
                        break;
                if (id == 0) {
                        if (x || y || w || h)
                                return state_reader_fail(r, "virtio-gpu: scanout %u: disabled with a rectangle", s);
                        continue;
                }
                res = loaded_find(l, id);
                if (!res)
                        return state_reader_fail(r, "virtio-gpu: scanout %u: resource %" PRIu32 " does not exist", s,
                                                 id);
                if (!w || !h || (uint64_t)x + w > res->width || (uint64_t)y + h > res->height)
                        return state_reader_fail(r, "virtio-gpu: scanout %u: rectangle %" PRIu32 "x%" PRIu32 "+%" PRIu32
                                                 "+%" PRIu32 " is not inside resource %" PRIu32 " (%" PRIu32 "x%" PRIu32
                                                 ")", s, w, h, x, y, id, res->width, res->height);
                if (!vgpu_res_pixels(res))
                        return state_reader_fail(r, "virtio-gpu: scanout %u: resource %" PRIu32 " has no pixels", s,
                                                 id);
                l->so[s].res = res;
                l->so[s].x = x;
                l->so[s].y = y;
                l->so[s].w = w;
                l->so[s].h = h;
        }
        return state_reader_ok(r);
}

static bool load_cursor(const struct vgpu *g, struct state_reader *r, struct loaded *l)
{
        struct vgpu_cursor *c = &l->cursor;
        uint8_t visible = state_get_u8(r);

        c->visible = visible;
        c->scanout = state_get_u32(r);
        c->x = (int32_t)state_get_u32(r);
        c->y = (int32_t)state_get_u32(r);
        c->hot_x = state_get_u32(r);
        c->hot_y = state_get_u32(r);
        c->width = state_get_u32(r);
        c->height = state_get_u32(r);
        for (unsigned i = 0; i < VGPU_CURSOR_DIM * VGPU_CURSOR_DIM; i++)
                c->pixels[i] = state_get_u32(r);
        if (!state_reader_ok(r))
                return false;
        if (visible > 1)
                return state_reader_fail(r, "virtio-gpu: cursor: visible flag %u", visible);
        if (c->scanout >= g->num_scanouts)
                return state_reader_fail(r, "virtio-gpu: cursor: scanout %" PRIu32 " (this device has %u)",
                                         c->scanout, g->num_scanouts);
        if (c->width > VGPU_CURSOR_DIM || c->height > VGPU_CURSOR_DIM || (visible && (!c->width || !c->height)))
                return state_reader_fail(r, "virtio-gpu: cursor: size %" PRIu32 "x%" PRIu32 " (1..%d a side)",
                                         c->width, c->height, VGPU_CURSOR_DIM);
        if (c->hot_x >= VGPU_CURSOR_DIM || c->hot_y >= VGPU_CURSOR_DIM)
                return state_reader_fail(r, "virtio-gpu: cursor: hotspot %" PRIu32 ",%" PRIu32 " (below %d)",
                                         c->hot_x, c->hot_y, VGPU_CURSOR_DIM);
        return true;
}

static void apply(struct vgpu *g, struct loaded *l)
{
        uint64_t shape_serial, pos_serial;

        vgpu_reset(g); /* the old resources go; views of them stay readable */
        memcpy(g->res, l->res, sizeof(l->res[0]) * l->nres);
        g->nres = l->nres;
        l->nres = 0;
        g->hostmem = l->hostmem;
        memcpy(g->want, l->want, sizeof(g->want));
        g->events_read = l->events_read;
        for (unsigned s = 0; s < g->num_scanouts; s++) {
                struct scanout *so = &g->so[s];

                so->res = l->so[s].res;
                so->x = l->so[s].x;
                so->y = l->so[s].y;
                so->w = l->so[s].w;
                so->h = l->so[s].h;
                so->generation = ++g->gen_counter;
                /* Shown at once, without waiting for the guest's next flush. */
                so->ndamage = so->res ? 1 : 0;
                so->damage[0] = (struct display_rect){ 0, 0, so->w, so->h };
        }
        shape_serial = g->cursor.shape_serial;
        pos_serial = g->cursor.pos_serial; /* both bumped by the reset: readers see a change */
        g->cursor = l->cursor;
        g->cursor.shape_serial = shape_serial;
        g->cursor.pos_serial = pos_serial;
        g->commands = (unsigned long)l->commands;
        g->errors = (unsigned long)l->errors;
}

bool vgpu_state_load(struct vgpu *g, struct state_reader *r)
{
        struct loaded *l = calloc(1, sizeof(*l));
        uint8_t version = state_get_u8(r);
        uint32_t heads = state_get_u32(r), nres;
        bool ok = false;

        if (!l)
                return state_reader_fail(r, "virtio-gpu: out of memory");
        if (!state_reader_ok(r))
                goto out;
        if (version != VGPU_STATE_VERSION) {
                state_reader_fail(r, "virtio-gpu: state version %u (this vdi-vm reads %d)", version,
                                  VGPU_STATE_VERSION);
                goto out;
        }
        if (heads != g->num_scanouts) {
                state_reader_fail(r, "virtio-gpu: %" PRIu32 " heads in the snapshot, %u here (another device "
                                  "configuration)", heads, g->num_scanouts);
                goto out;
        }
        if (!load_layout(g, r, l))
                goto out;
        nres = state_get_u32(r);
        if (state_reader_ok(r) && nres > VGPU_MAX_RESOURCES) {
                state_reader_fail(r, "virtio-gpu: %" PRIu32 " resources (at most %d)", nres, VGPU_MAX_RESOURCES);
                goto out;
        }
        for (unsigned i = 0; i < nres && state_reader_ok(r); i++)
                if (!load_res(g, r, l, i))
                        goto out;
        if (!load_scanouts(g, r, l) || !load_cursor(g, r, l))
                goto out;
        l->commands = state_get_u64(r);
        l->errors = state_get_u64(r);
        if (state_reader_ok(r) && reader_left(r))
                state_reader_fail(r, "virtio-gpu: %zu bytes after the device state", reader_left(r));
        if (!state_reader_ok(r))
                goto out;
        apply(g, l);
        ok = true;
out:
        loaded_free(l);
        return ok;
}
