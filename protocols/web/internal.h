/* Inside the web display server (server.c, session.c). */
#pragma once

#include <libsoup/soup.h>

#include "protocols/display-server.h"
#include "proto.h"
#include "web-server.h"

/* Where the WebSocket is served. */
#define WEB_PATH "/ws"

struct web_session;

struct web_server {
        struct display_server base; /* first: web_display_server_ops hands out &base */
        struct web_server_config cfg; /* strings owned (cert and key not kept) */
        struct display_source source;
        GMainContext *ctx;
        SoupServer *soup;
        GSource *tick;
        char *origin;
        uint16_t port;
        GPtrArray *sessions; /* struct web_session *, admitted or not; ctx thread */
        unsigned pending;    /* sessions not yet admitted */
        struct display_surface surface; /* at the last tick */
        bool have_surface;
        GMutex lock; /* what follows: other threads read and write it */
        char *ticket, *ticket_user;
        int64_t ticket_expires_us;
        char *clipboard;
        struct web_server_stats stats;
};

/* WebSocket close codes of our own (RFC 6455 §7.4.2: 4000-4999 private;
 * PROTOCOL.md; 4005 and 4006 are the gateway's). */
enum {
        WEB_CLOSE_TICKET = 4001,       /* ticket wrong, used or expired */
        WEB_CLOSE_REPLACED = 4002,     /* another session was admitted */
        WEB_CLOSE_TIMEOUT = 4003,      /* no HELLO in time, idle, or too long */
        WEB_CLOSE_ENCODER = 4004,      /* no encoding possible for this display */
        WEB_CLOSE_DISCONNECTED = 4007, /* an administrator disconnected the user */
};

/* Check and use up the ticket; on success *user is the ticket's user
 * (g_free). Constant-time comparison. */
bool web_server_consume_ticket(struct web_server *s, const char *ticket, size_t len, char **user);

/* A connection that arrived: it has hello_timeout_s to send its HELLO. */
void web_session_new(struct web_server *s, SoupWebsocketConnection *conn, const char *peer,
                     unsigned hello_timeout_s);
/* Close ss's WebSocket (if open) with code and reason; freeing it later
 * sends no second close. */
/* Starts the close handshake of an open session (true); "closed" then frees it. */
bool web_session_close(struct web_session *ss, unsigned short code, const char *reason);
/* Close (if open) and free one session; it leaves s->sessions. */
void web_session_free(struct web_session *ss);
/* The frame tick (a GSourceFunc; data is the server). */
gboolean web_session_tick(gpointer data);
