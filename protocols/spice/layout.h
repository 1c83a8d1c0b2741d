/* The SPICE client's monitors config as a display layout request. A
 * client sends VD_AGENT_MONITORS_CONFIG when its window is resized or its
 * displays change (remote-viewer, spice-gtk: only while an agent is
 * connected); spice-server hands it to the QXL device's
 * client_monitors_config instead of the guest's agent when the device
 * says it can follow layouts. */
#pragma once

#include <spice.h>
#include <stddef.h>

#include "protocols/display.h"

/* spice-server's own bound on num_of_monitors (reds.cpp MAX_NUM_MONITORS). */
#define SPICE_LAYOUT_MAX_MONITORS 256u

/* The client's enabled monitors (0x0 ones are disabled displays) as the
 * heads of a layout, in the client's order (the first is the primary):
 * a sole monitor at the origin; several at the client's positions, their
 * left and right edges rounded down to even (widths even, side by side
 * stays side by side: guests want even widths, windows have any). mc's
 * monitors[] must hold num_of_monitors entries (spice-server checked the
 * message's length). Returns the number of heads (1..DISPLAY_MAX_HEADS,
 * stored in out), or -EINVAL with the reason in err: no monitors, more
 * than SPICE_LAYOUT_MAX_MONITORS, none or more than DISPLAY_MAX_HEADS
 * enabled, or a layout display_layout_check refuses. */
int spice_layout_from_monitors(const VDAgentMonitorsConfig *mc, struct display_head out[DISPLAY_MAX_HEADS],
                               char *err, size_t errlen);

/* The QXL client_monitors_config callback's work, on spice-server's main
 * loop. mc NULL is spice-server's question "do you handle monitors
 * configs?": 1 when src can follow layouts, else 0 (the config then goes
 * to the guest's agent, and clients scale). Otherwise the layout is asked
 * of src (a refused config is logged and ignored); returns 0 when src
 * cannot change its layout, else 1. */
int spice_layout_request(const struct display_source *src, const VDAgentMonitorsConfig *mc);
