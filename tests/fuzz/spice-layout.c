/* libFuzzer target: a SPICE client's monitors config as a layout request
 * (protocols/spice/layout.c). The input is the VD_AGENT_MONITORS_CONFIG
 * body; like spice-server, bodies shorter than their num_of_monitors say
 * are not passed on. Whatever is accepted must be a layout a guest takes,
 * and the source is asked only for such layouts. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "protocols/spice/layout.h"

static unsigned asked;

static int fz_request_layout(void *opaque, const struct display_head *heads, unsigned n)
{
        char why[160];

        (void)opaque;
        if (!heads)
                return 0;
        assert(n == 1 && display_layout_check(heads, n, why, sizeof(why)) == 0);
        assert(heads[0].x == 0 && heads[0].y == 0 && (heads[0].width & 1) == 0);
        asked++;
        return 0;
}

static const struct display_source_ops fz_ops = { .request_layout = fz_request_layout };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        log_set_level(LOG_LEVEL_ERROR); /* a refused config is a notice line */
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct display_source src = { &fz_ops, NULL };
        VDAgentMonitorsConfig *mc;
        struct display_head h;
        char why[160];
        uint32_t count;
        int r;

        if (size < sizeof(VDAgentMonitorsConfig))
                return 0;
        memcpy(&count, data, sizeof(count));
        if ((uint64_t)count * sizeof(VDAgentMonConfig) > size - sizeof(VDAgentMonitorsConfig))
                return 0;
        mc = malloc(size); /* exact size: ASan sees reads past it */
        memcpy(mc, data, size);
        r = spice_layout_from_monitors(mc, &h, why, sizeof(why));
        assert(r == 1 || (r == -EINVAL && why[0]));
        if (r == 1)
                assert(h.width <= mc->monitors[0].width && mc->monitors[0].width - h.width <= 1 &&
                       h.height == mc->monitors[0].height);
        asked = 0;
        assert(spice_layout_request(&src, mc) == 1);
        assert(asked == (r == 1));
        assert(spice_layout_request(&src, NULL) == 1);
        free(mc);
        return 0;
}
