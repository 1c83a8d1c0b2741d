/* spice-server's SpiceCoreInterface (timers, fd watches, channel events)
 * implemented with GLib sources on one GMainContext. */
#pragma once

#include <glib.h>
#include <spice.h>

typedef void (*spice_core_event_fn)(int event, SpiceChannelEventInfo *info, void *opaque);

/* The core interface for spice_server_init: its timers and watches are
 * attached to ctx, channel events go to event_fn. spice-server's core
 * callbacks carry no context pointer, so there is one core per process
 * (spice-server's own limit is one server per process). Returns NULL when a
 * core is already in use. */
SpiceCoreInterface *spice_core_new(GMainContext *ctx, spice_core_event_fn event_fn, void *opaque);

/* Release the core after spice_server_destroy. Accepts NULL. */
void spice_core_free(SpiceCoreInterface *core);
