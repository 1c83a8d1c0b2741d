/* A display server: one remote-desktop protocol (SPICE, RDP, web) serving one
 * VM's display_source (protocols/display.h) to clients. vdi-vm picks a
 * backend from a list of these tables and drives it on its GLib main loop.
 *
 * Threading: start, set_ticket and stop are called on the thread that
 * iterates ctx (or before any thread iterates it); the server's sockets and
 * timers run on ctx. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "protocols/display.h"

struct display_server_config {
        /* Address to listen on; NULL means "127.0.0.1". */
        const char *listen_address;
        /* TLS listener; 0 = none. When set, every channel must be TLS. */
        uint16_t tls_port;
        /* Plain-text listener; 0 (the default) = none. Only for development
         * without TLS: with tls_port set, plain links are refused anyway. */
        uint16_t plain_port;
        /* PEM files for the TLS listener (required with tls_port). */
        const char *cert_file;
        const char *key_file;
        const char *ca_file;
        /* Video streaming encoders in the backend's syntax; NULL = the
         * backend's default list, "" = no video streaming. */
        const char *video_codecs;
        /* Frames per second polled from the source; 0 = 30. */
        unsigned fps;
        /* web: the one Origin a browser's WebSocket may come from (the
         * portal's, passed on by the gateway); NULL = the server's own
         * https://ADDRESS:PORT. Other backends ignore it. */
        const char *web_origin;
        /* Never use lossy encodings (JPEG, video): pixel-exact tests. */
        bool lossless;
        /* Clipboard directions that pass through the guest agent: "both"
         * (NULL), "guest-to-client", "client-to-guest" or "none"
         * (protocols/agent/clip.h). */
        const char *clipboard;
        /* Client sessions: called with connected = true once a client was
         * admitted with a ticket and its session is up, and false when that
         * session ends (one call each). peer is the client's "ADDRESS" (or
         * "unknown"). Called from the server's threads; NULL = not wanted. */
        void (*client_event)(void *opaque, const char *protocol, bool connected, const char *peer);
        void *client_event_opaque;
};

struct display_server_ops;

/* A running server; each backend embeds this as its first member. */
struct display_server {
        const struct display_server_ops *ops;
};

struct display_server_ops {
        const char *name;
        /* Start serving source on ctx. Returns 0 and *out, or -errno and a
         * malloc'd message in *error naming what is wrong and the fix.
         * No client can connect until set_ticket is called. */
        int (*start)(const struct display_server_config *config, struct display_source source,
                     GMainContext *ctx, struct display_server **out, char **error);
        /* Admit one client session as user (the name the broker put in the
         * connection file; protocols without user names ignore it) with
         * password (a one-time ticket) for expiry_seconds (> 0). Replaces
         * any previous ticket. 0 or -errno (-EINVAL for an empty/oversize
         * password or user, or a zero expiry). */
        int (*set_ticket)(struct display_server *srv, const char *user, const char *password,
                          unsigned expiry_seconds);
        /* Disconnect the connected clients (an admin's "disconnect user"),
         * and void any ticket not yet used so none can come back without a
         * new one; the server keeps serving. Returns the number of client
         * sessions that were asked to leave. */
        unsigned (*disconnect)(struct display_server *srv);
        /* Disconnect everyone and free everything. Accepts NULL. */
        void (*stop)(struct display_server *srv);
};

/* Backends. */
extern const struct display_server_ops spice_display_server_ops;
extern const struct display_server_ops rdp_display_server_ops;
extern const struct display_server_ops web_display_server_ops;
