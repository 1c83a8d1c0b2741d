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

/* The client's first monitor (the one SPICE display this server shows) as
 * one head at the origin, its width rounded down to even (any window
 * width is fine for a client, guests want even ones). mc's monitors[]
 * must hold num_of_monitors entries (spice-server checked the message's
 * length). Returns 1 (heads stored in *out), or -EINVAL with the reason in
 * err: no monitors, more than SPICE_LAYOUT_MAX_MONITORS, or a size
 * display_layout_check refuses. */
int spice_layout_from_monitors(const VDAgentMonitorsConfig *mc, struct display_head *out, char *err,
                               size_t errlen);

/* The QXL client_monitors_config callback's work, on spice-server's main
 * loop. mc NULL is spice-server's question "do you handle monitors
 * configs?": 1 when src can follow layouts, else 0 (the config then goes
 * to the guest's agent, and clients scale). Otherwise the layout is asked
 * of src (a refused config is logged and ignored); returns 0 when src
 * cannot change its layout, else 1. */
int spice_layout_request(const struct display_source *src, const VDAgentMonitorsConfig *mc);
