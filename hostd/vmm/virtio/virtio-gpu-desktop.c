#include "config.h"

#include "virtio-gpu-desktop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DESKTOP_GEN_BIT (1ull << 63)

/* The heads' rectangles with the top-left of their bounding box at 0,0. */
static int place(const struct vgpu_desktop_head *h, unsigned n, struct display_rect *rect, uint32_t *w,
                 uint32_t *hgt)
{
        int64_t x0 = INT64_MAX, y0 = INT64_MAX, x1 = INT64_MIN, y1 = INT64_MIN;

        for (unsigned i = 0; i < n; i++) {
                x0 = h[i].x < x0 ? h[i].x : x0;
                y0 = h[i].y < y0 ? h[i].y : y0;
                x1 = h[i].x + (int64_t)h[i].view->width > x1 ? h[i].x + (int64_t)h[i].view->width : x1;
                y1 = h[i].y + (int64_t)h[i].view->height > y1 ? h[i].y + (int64_t)h[i].view->height : y1;
        }
        if (x1 - x0 > DISPLAY_HEAD_MAX || y1 - y0 > DISPLAY_HEAD_MAX)
                return -E2BIG;
        for (unsigned i = 0; i < n; i++)
                rect[i] = (struct display_rect){ (uint32_t)(h[i].x - x0), (uint32_t)(h[i].y - y0), h[i].view->width,
                                                 h[i].view->height };
        for (unsigned i = 0; i < n; i++)
                for (unsigned j = i + 1; j < n; j++)
                        if (rect[i].x < rect[j].x + rect[j].w && rect[j].x < rect[i].x + rect[i].w &&
                            rect[i].y < rect[j].y + rect[j].h && rect[j].y < rect[i].y + rect[i].h)
                                return -E2BIG;
        *w = (uint32_t)(x1 - x0);
        *hgt = (uint32_t)(y1 - y0);
        return 0;
}

static bool same_geometry(const struct vgpu_desktop *d, const struct vgpu_desktop_head *h, unsigned n,
                          const struct display_rect *rect, uint32_t w, uint32_t hgt)
{
        if (!d->pixels || d->nheads != n || d->width != w || d->height != hgt)
                return false;
        for (unsigned i = 0; i < n; i++)
                if (d->scanout[i] != h[i].scanout || memcmp(&d->rect[i], &rect[i], sizeof(rect[i])) != 0)
                        return false;
        return true;
}

static int new_picture(struct vgpu_desktop *d, uint32_t w, uint32_t hgt, uint64_t *counter)
{
        uint8_t *px = calloc((size_t)w * hgt, 4);

        if (!px)
                return -ENOMEM;
        free(d->retired[VGPU_DESKTOP_RETIRED - 1]);
        memmove(&d->retired[1], &d->retired[0], sizeof(d->retired[0]) * (VGPU_DESKTOP_RETIRED - 1));
        d->retired[0] = d->pixels;
        d->pixels = px;
        d->width = w;
        d->height = hgt;
        d->generation = ++*counter | DESKTOP_GEN_BIT;
        return 0;
}

int vgpu_desktop_update(struct vgpu_desktop *d, const struct vgpu_desktop_head *h, unsigned n, uint64_t *counter)
{
        struct display_rect rect[VGPU_MAX_SCANOUTS];
        uint32_t w, hgt;
        bool fresh;
        int r;

        if (n == 0 || n > VGPU_MAX_SCANOUTS)
                return -EINVAL;
        r = place(h, n, rect, &w, &hgt);
        if (r < 0)
                return r;
        fresh = !same_geometry(d, h, n, rect, w, hgt);
        if (fresh) {
                r = new_picture(d, w, hgt, counter);
                if (r < 0)
                        return r;
                d->nheads = n;
                d->whole = 0;
                for (unsigned i = 0; i < n; i++) {
                        d->scanout[i] = h[i].scanout;
                        d->rect[i] = rect[i];
                }
        }
        for (unsigned i = 0; i < n; i++) {
                struct display_rect all = { 0, 0, rect[i].w, rect[i].h }, ignored;
                if (!fresh && d->view_gen[i] == h[i].view->generation)
                        continue;
                vgpu_desktop_copy(d, i, h[i].view, all, &ignored);
                d->view_gen[i] = h[i].view->generation;
                d->whole |= 1u << i;
        }
        return 0;
}

void vgpu_desktop_stale(struct vgpu_desktop *d)
{
        for (unsigned i = 0; i < VGPU_MAX_SCANOUTS; i++)
                d->view_gen[i] = UINT64_MAX; /* no view's: generations count up from 1 */
}

bool vgpu_desktop_copy(struct vgpu_desktop *d, unsigned i, const struct vgpu_view *v, struct display_rect r,
                       struct display_rect *out)
{
        const struct display_rect *hd;
        uint32_t w, h;

        if (i >= d->nheads || !d->pixels)
                return false;
        hd = &d->rect[i];
        /* The view may be newer than the geometry (a mode change the next
         * update places): only what is inside both. */
        w = v->width < hd->w ? v->width : hd->w;
        h = v->height < hd->h ? v->height : hd->h;
        if (r.x >= w || r.y >= h || r.w == 0 || r.h == 0)
                return false;
        r.w = r.w > w - r.x ? w - r.x : r.w;
        r.h = r.h > h - r.y ? h - r.y : r.h;
        for (uint32_t y = 0; y < r.h; y++)
                memcpy(d->pixels + ((size_t)(hd->y + r.y + y) * d->width + hd->x + r.x) * 4,
                       v->pixels + (size_t)(r.y + y) * v->stride + (size_t)r.x * 4, (size_t)r.w * 4);
        *out = (struct display_rect){ hd->x + r.x, hd->y + r.y, r.w, r.h };
        return true;
}

unsigned vgpu_desktop_take_whole(struct vgpu_desktop *d, struct display_rect *out)
{
        unsigned n = 0;

        for (unsigned i = 0; i < d->nheads; i++)
                if (d->whole & 1u << i)
                        out[n++] = d->rect[i];
        d->whole = 0;
        return n;
}

void vgpu_desktop_surface(const struct vgpu_desktop *d, struct display_surface *out)
{
        *out = (struct display_surface){
                .pixels = d->pixels,
                .width = d->width,
                .height = d->height,
                .stride = d->width * 4,
                .format = DISPLAY_FORMAT_XRGB8888,
                .generation = d->generation,
                .nheads = d->nheads,
        };
        memcpy(out->heads, d->rect, sizeof(d->rect[0]) * d->nheads);
}

int vgpu_desktop_head_of(const struct vgpu_desktop *d, unsigned scanout)
{
        for (unsigned i = 0; i < d->nheads; i++)
                if (d->scanout[i] == scanout)
                        return (int)i;
        return -1;
}

void vgpu_desktop_fini(struct vgpu_desktop *d)
{
        free(d->pixels);
        for (unsigned i = 0; i < VGPU_DESKTOP_RETIRED; i++)
                free(d->retired[i]);
        memset(d, 0, sizeof(*d));
}
