#include "config.h"

#include "protocols/spice/layout.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* One enabled monitor as a head: its left and right edges rounded down
 * to even, so that the width is even and monitors side by side stay side
 * by side; a sole monitor is at the origin (where the client's window is
 * on its screen does not matter). */
static int monitor_head(const VDAgentMonConfig *m, bool sole, struct display_head *out, unsigned i, char *err,
                        size_t errlen)
{
        int64_t x0 = sole ? 0 : m->x, y0 = sole ? 0 : m->y, x1;

        if (m->width > DISPLAY_HEAD_MAX + 1u || m->height > DISPLAY_HEAD_MAX) {
                snprintf(err, errlen, "monitor %u is %ux%u: each side must be %u to %u pixels", i, m->width,
                         m->height, DISPLAY_HEAD_MIN, DISPLAY_HEAD_MAX);
                return -EINVAL;
        }
        x1 = x0 + m->width;
        x0 -= x0 & 1;
        x1 -= x1 & 1;
        *out = (struct display_head){ (int32_t)x0, (int32_t)y0, (uint32_t)(x1 - x0), m->height };
        return 0;
}

int spice_layout_from_monitors(const VDAgentMonitorsConfig *mc, struct display_head out[DISPLAY_MAX_HEADS],
                               char *err, size_t errlen)
{
        struct display_head h[DISPLAY_MAX_HEADS];
        unsigned n = 0, enabled = 0;

        if (mc->num_of_monitors == 0 || mc->num_of_monitors > SPICE_LAYOUT_MAX_MONITORS) {
                snprintf(err, errlen, "%u monitors: 1 to %u are supported", mc->num_of_monitors,
                         SPICE_LAYOUT_MAX_MONITORS);
                return -EINVAL;
        }
        /* 0x0: a disabled display (sparse configs keep their place). */
        for (uint32_t i = 0; i < mc->num_of_monitors; i++)
                enabled += mc->monitors[i].width != 0 || mc->monitors[i].height != 0;
        if (enabled == 0 || enabled > DISPLAY_MAX_HEADS) {
                snprintf(err, errlen, "%u monitors enabled: 1 to %u are supported", enabled, DISPLAY_MAX_HEADS);
                return -EINVAL;
        }
        for (uint32_t i = 0; i < mc->num_of_monitors; i++) {
                const VDAgentMonConfig *m = &mc->monitors[i];
                if (m->width == 0 && m->height == 0)
                        continue;
                if (monitor_head(m, enabled == 1, &h[n], i, err, errlen) < 0)
                        return -EINVAL;
                n++;
        }
        if (display_layout_check(h, n, err, errlen) < 0)
                return -EINVAL;
        memcpy(out, h, sizeof(h[0]) * n);
        return (int)n;
}

int spice_layout_request(const struct display_source *src, const VDAgentMonitorsConfig *mc)
{
        struct display_head h[DISPLAY_MAX_HEADS];
        char why[160];
        int n, r;

        if (!mc)
                return display_follows_layout(src) ? 1 : 0;
        n = spice_layout_from_monitors(mc, h, why, sizeof(why));
        if (n < 0) {
                log_notice("spice_layout_refused", "reason=\"%s\"", why);
                return 1;
        }
        r = display_request_layout(src, h, (unsigned)n, why, sizeof(why));
        log_info("spice_layout_request", "monitors=%u heads=%d width=%u height=%u result=%s", mc->num_of_monitors, n,
                 h[0].width, h[0].height, r == 0 ? "asked" : g_strerror(-r));
        return r == -ENOTSUP ? 0 : 1;
}
