#include "config.h"

#include "protocols/display.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool heads_overlap(const struct display_head *a, const struct display_head *b)
{
        return (int64_t)a->x < (int64_t)b->x + b->width && (int64_t)b->x < (int64_t)a->x + a->width &&
               (int64_t)a->y < (int64_t)b->y + b->height && (int64_t)b->y < (int64_t)a->y + a->height;
}

/* a and b share a piece of edge (monitors side by side or stacked). */
static bool heads_touch(const struct display_head *a, const struct display_head *b)
{
        int64_t ax1 = (int64_t)a->x + a->width, ay1 = (int64_t)a->y + a->height;
        int64_t bx1 = (int64_t)b->x + b->width, by1 = (int64_t)b->y + b->height;
        bool rows = a->y < by1 && b->y < ay1, cols = a->x < bx1 && b->x < ax1;

        return (rows && (ax1 == b->x || bx1 == a->x)) || (cols && (ay1 == b->y || by1 == a->y));
}

/* Overlaps, heads apart from the others, a desktop too large. Sides and
 * positions were checked (no overflow below). */
static int layout_check_placement(const struct display_head *heads, unsigned n, char *err, size_t errlen)
{
        int64_t x0 = heads[0].x, y0 = heads[0].y, x1 = x0 + heads[0].width, y1 = y0 + heads[0].height;
        unsigned reached = 1u, grew = 1;

        for (unsigned i = 0; i < n; i++)
                for (unsigned j = i + 1; j < n; j++)
                        if (heads_overlap(&heads[i], &heads[j])) {
                                snprintf(err, errlen, "heads %u and %u overlap", i, j);
                                return -EINVAL;
                        }
        while (grew) { /* the heads reachable from the first along edges */
                grew = 0;
                for (unsigned i = 0; i < n; i++)
                        for (unsigned j = 0; j < n; j++)
                                if ((reached & 1u << i) && !(reached & 1u << j) && heads_touch(&heads[i], &heads[j])) {
                                        reached |= 1u << j;
                                        grew = 1;
                                }
        }
        for (unsigned i = 0; i < n; i++) {
                if (!(reached & 1u << i)) {
                        snprintf(err, errlen, "head %u at (%d,%d) touches no other head: monitors must be side by side",
                                 i, heads[i].x, heads[i].y);
                        return -EINVAL;
                }
                x0 = heads[i].x < x0 ? heads[i].x : x0;
                y0 = heads[i].y < y0 ? heads[i].y : y0;
                x1 = heads[i].x + (int64_t)heads[i].width > x1 ? heads[i].x + (int64_t)heads[i].width : x1;
                y1 = heads[i].y + (int64_t)heads[i].height > y1 ? heads[i].y + (int64_t)heads[i].height : y1;
        }
        if (x1 - x0 > DISPLAY_HEAD_MAX || y1 - y0 > DISPLAY_HEAD_MAX) {
                snprintf(err, errlen, "the heads span %lldx%lld: the desktop can be at most %ux%u",
                         (long long)(x1 - x0), (long long)(y1 - y0), DISPLAY_HEAD_MAX, DISPLAY_HEAD_MAX);
                return -EINVAL;
        }
        return 0;
}

int display_layout_check(const struct display_head *heads, unsigned n, char *err, size_t errlen)
{
        if (n == 0 || n > DISPLAY_MAX_HEADS) {
                snprintf(err, errlen, "%u heads: 1 to %u are supported", n, DISPLAY_MAX_HEADS);
                return -EINVAL;
        }
        for (unsigned i = 0; i < n; i++) {
                const struct display_head *h = &heads[i];
                if (h->width < DISPLAY_HEAD_MIN || h->width > DISPLAY_HEAD_MAX || h->height < DISPLAY_HEAD_MIN ||
                    h->height > DISPLAY_HEAD_MAX || (h->width & 1)) {
                        snprintf(err, errlen, "head %u is %ux%u: each side must be %u to %u pixels, the width even",
                                 i, h->width, h->height, DISPLAY_HEAD_MIN, DISPLAY_HEAD_MAX);
                        return -EINVAL;
                }
                if (h->x < -(int32_t)DISPLAY_HEAD_MAX * 4 || h->x > (int32_t)DISPLAY_HEAD_MAX * 4 ||
                    h->y < -(int32_t)DISPLAY_HEAD_MAX * 4 || h->y > (int32_t)DISPLAY_HEAD_MAX * 4) {
                        snprintf(err, errlen, "head %u is placed at (%d,%d), off any desktop", i, h->x, h->y);
                        return -EINVAL;
                }
        }
        return layout_check_placement(heads, n, err, errlen);
}

unsigned display_surface_heads(const struct display_surface *s, struct display_rect out[DISPLAY_MAX_HEADS])
{
        if (s->nheads == 0 || s->nheads > DISPLAY_MAX_HEADS) {
                out[0] = (struct display_rect){ 0, 0, s->width, s->height };
                return 1;
        }
        memcpy(out, s->heads, sizeof(out[0]) * s->nheads);
        return s->nheads;
}

int display_request_layout(const struct display_source *src, const struct display_head *heads,
                           unsigned n, char *err, size_t errlen)
{
        if (errlen)
                err[0] = '\0';
        if (display_layout_check(heads, n, err, errlen) < 0)
                return -EINVAL;
        return src->ops->request_layout ? src->ops->request_layout(src->opaque, heads, n) : -ENOTSUP;
}

bool display_follows_layout(const struct display_source *src)
{
        return src->ops->request_layout && src->ops->request_layout(src->opaque, NULL, 0) == 0;
}
