/* The SPICE display server (libspice-server): one per process, on a GLib
 * main loop. Serves a display_source over TLS to clients admitted by a
 * one-time ticket. Implements protocols/display-server.h
 * (spice_display_server_ops); the functions below are the same operations
 * plus SPICE-only extras. */
#pragma once

#include <stdint.h>

#include "protocols/display-server.h"

/* How long after a ticket's first use the same session may still link its
 * other channels (display, cursor, inputs) with it. spice-server checks
 * the ticket on every channel link, so it cannot be cleared the moment the
 * main channel connects; it is cleared as soon as the session's channels are
 * all linked, or when this runs out, whichever comes first. Generous: every
 * channel is a TLS handshake of its own, seconds each on a loaded host, and
 * in the nested lab under load the display channel linked more than 30 s
 * after the main one (the golden test's SPICE client was refused). Only
 * channels of the session that used the ticket can link meanwhile. */
#define SPICE_TICKET_GRACE_MS 120000

int spice_display_start(const struct display_server_config *config, struct display_source source,
                        GMainContext *ctx, struct display_server **out, char **error);

/* Set the one-time ticket: valid for expiry_seconds, admits one client
 * session, then is cleared (see SPICE_TICKET_GRACE_MS). A second session
 * presenting it within the grace period is disconnected with the first.
 * 0 or -EINVAL (empty or longer than 60 bytes, or expiry_seconds == 0). */
int spice_display_set_ticket(struct display_server *srv, const char *user, const char *password,
                             unsigned expiry_seconds);

/* Disconnect the client session and void the ticket (display-server.h). */
unsigned spice_display_disconnect(struct display_server *srv);

void spice_display_stop(struct display_server *srv);

/* The guest agent (protocols/spice/agent.h): attach when the guest's
 * spice-vdagent opens its port, detach when it closes; wakeup when the port
 * has data or room again. Clipboard and file transfer stay off (no policy
 * for them yet); pointer events always go to the tablet, never the agent.
 * attach returns 0, -EBUSY when attached already, or -errno. */
struct spice_agent_port;
int spice_display_agent_attach(struct display_server *srv, const struct spice_agent_port *port,
                               void *opaque);
void spice_display_agent_wakeup(struct display_server *srv);
void spice_display_agent_detach(struct display_server *srv);

struct spice_display_stats {
        uint64_t ticks;       /* frame timer runs */
        uint64_t drawables;   /* COPY drawables handed to spice */
        uint64_t bytes;       /* bitmap bytes copied from the framebuffer */
        uint64_t coalesced;   /* ticks where damage waited for a slow client */
        uint64_t surfaces;    /* primary surfaces created */
        uint64_t sessions;    /* tickets consumed by a client session */
        uint64_t refused;     /* ticket reuses caught within the grace period */
};

void spice_display_get_stats(struct display_server *srv, struct spice_display_stats *out);
