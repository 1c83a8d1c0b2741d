/* The web display server for one desktop (issue 21, DESIGN.md §5): the
 * protocol of protocols/web/PROTOCOL.md over WebSocket (libsoup 3) on TLS.
 * Out: H.264 access units from protocols/encode for browsers that decode
 * H.264 with WebCodecs, lossless PNG tiles for the others (or always, with
 * force_tiles); in: keys by KeyboardEvent.code, pointer, wheel, resize
 * requests, clipboard text. A client is admitted by a one-time ticket in
 * its first WebSocket message; one session at a time (a newly admitted
 * session replaces the previous one, as a reconnect does).
 *
 * Everything (listening socket, WebSocket connections, the frame tick at
 * fps, encoding) runs on the GMainContext given to web_server_start. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "protocols/display.h"

struct web_server;

struct web_server_config {
        const char *bind_address; /* NULL → "127.0.0.1" */
        uint16_t port;            /* 0 → ephemeral; see web_server_port */
        const char *cert_file;    /* PEM certificate chain (required) */
        const char *key_file;     /* PEM private key (required) */
        /* The one Origin a WebSocket handshake may carry (the portal's, which
         * the gateway passes on); NULL → "https://<bind_address>:<port>".
         * Anything else, or none, gets 403 before the upgrade. */
        const char *origin;
        /* Serve the browser client (desktop.html, desktop.js, style.css)
         * from this directory, same-origin with the WebSocket: for
         * development and tests. NULL: nothing but the WebSocket. */
        const char *static_dir;
        bool force_tiles;         /* never H.264: PNG tiles for everyone */
        const char *h264_encoder; /* force a GStreamer element; NULL → auto */
        unsigned fps;             /* damage tick rate; 0 → 30 */
        unsigned idle_timeout_s;  /* no input for this long ends a session; 0 → 3600 */
        unsigned max_session_s;   /* absolute session length; 0 → 43200 (12 h) */
        /* Admitted sessions starting and ending (display-server.h). */
        void (*client_event)(void *opaque, const char *protocol, bool connected, const char *peer);
        void *client_event_opaque;
};

/* Counters over the server's life. */
struct web_server_stats {
        uint64_t frames;          /* frames sent (an H.264 picture or a set of tiles) */
        uint64_t h264_frames;
        uint64_t tile_frames;
        uint64_t bytes;           /* picture bytes sent */
        uint64_t logons;          /* sessions admitted with a ticket */
        uint64_t refused;         /* connections closed before or at admission */
        uint64_t bad_messages;    /* sessions closed for a malformed message */
        uint64_t clipboard_bytes; /* clipboard text received */
        uint64_t resize_requests;
        unsigned sessions;        /* admitted sessions now (0 or 1) */
};

/* Start listening. source must outlive the server; ctx NULL = the global
 * default context. 0 or -errno; on failure *error (malloc'd) names the
 * cause and the fix. No client is admitted before web_server_set_ticket. */
int web_server_start(const struct web_server_config *cfg, struct display_source source,
                     GMainContext *ctx, struct web_server **out, char **error);

/* Install a one-time ticket, valid for expiry_seconds and one admission.
 * Replaces the previous one. user is kept for logs only. 0 or -EINVAL
 * (empty or oversize password, zero expiry). */
int web_server_set_ticket(struct web_server *srv, const char *user, const char *password,
                          unsigned expiry_seconds);

/* Close every client's session and void the ticket not yet used; the
 * server keeps listening. From the thread that iterates ctx. The number
 * of sessions closed. */
unsigned web_server_disconnect(struct web_server *srv);

uint16_t web_server_port(const struct web_server *srv);
void web_server_get_stats(struct web_server *srv, struct web_server_stats *out);

/* The latest clipboard text a client sent (malloc'd, NULL if none). The
 * display interface has no clipboard yet, so it stops here. */
char *web_server_clipboard(struct web_server *srv);

/* Close every session, stop listening, free. NULL is fine. Call from the
 * thread that iterates ctx (or with ctx not being iterated). */
void web_server_stop(struct web_server *srv);

/* Also behind protocols/display-server.h as web_display_server_ops. */
