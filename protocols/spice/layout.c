#include "config.h"

#include "protocols/spice/layout.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>

#include "log.h"

int spice_layout_from_monitors(const VDAgentMonitorsConfig *mc, struct display_head *out, char *err,
                               size_t errlen)
{
        struct display_head h;

        if (mc->num_of_monitors == 0 || mc->num_of_monitors > SPICE_LAYOUT_MAX_MONITORS) {
                snprintf(err, errlen, "%u monitors: 1 to %u are supported", mc->num_of_monitors,
                         SPICE_LAYOUT_MAX_MONITORS);
                return -EINVAL;
        }
        /* One SPICE display: the others have no surface to be shown on. */
        h = (struct display_head){ 0, 0, mc->monitors[0].width & ~1u, mc->monitors[0].height };
        if (display_layout_check(&h, 1, err, errlen) < 0)
                return -EINVAL;
        *out = h;
        return 1;
}

int spice_layout_request(const struct display_source *src, const VDAgentMonitorsConfig *mc)
{
        struct display_head h;
        char why[160];
        int r;

        if (!mc)
                return display_follows_layout(src) ? 1 : 0;
        if (spice_layout_from_monitors(mc, &h, why, sizeof(why)) < 0) {
                log_notice("spice_layout_refused", "reason=\"%s\"", why);
                return 1;
        }
        r = display_request_layout(src, &h, 1, why, sizeof(why));
        log_info("spice_layout_request", "monitors=%u width=%u height=%u result=%s", mc->num_of_monitors,
                 h.width, h.height, r == 0 ? "asked" : g_strerror(-r));
        return r == -ENOTSUP ? 0 : 1;
}
