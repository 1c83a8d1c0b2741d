#include "config.h"

#include "protocols/display.h"

#include <errno.h>
#include <stdio.h>

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
        return 0;
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
