/* One browser's relay: HELLO → ticket redeemed at the broker with the
 * browser's cookie → TLS WebSocket to the desktop's web display (the
 * HELLO passed on) → messages both ways until either side closes.
 *
 * Nothing queues without bound: browser messages are at most 64 KiB
 * (libsoup drops a larger one while reading it) and at most
 * max_input_bytes_per_s; input before the desktop answers is dropped
 * (it cannot mean anything yet); towards the browser, the display's own
 * flow control keeps 2 frames unacknowledged and the relay closes a host
 * that goes beyond max_frames_ahead. Every message from the browser is
 * parsed (protocols/web/proto.c) before it reaches a host. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "gateway/internal.h"
#include "log.h"
#include "protocols/web/proto.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

/* Largest message a host may send: a keyframe of a large desktop. */
#define HOST_MAX_MESSAGE (16u << 20)
#define MAX_FRAMES_AHEAD 64
#define KEEPALIVE_S 15

enum relay_state { R_HELLO, R_REDEEM, R_CONNECT, R_RELAY, R_DONE };

struct relay {
        struct gateway *g;
        int refs;
        enum relay_state state;
        SoupWebsocketConnection *browser, *host;
        char *cookie, *peer, *user, *display;
        GBytes *hello;
        GCancellable *cancel;
        SoupMessage *redeem_msg;
        GSource *hello_timer;
        uint32_t unacked[MAX_FRAMES_AHEAD]; /* ids of frames sent, not acknowledged */
        unsigned n_unacked;
        int64_t window_start_us;
        uint64_t window_bytes, bytes_up, bytes_down;
        int64_t opened_us;
        bool failed; /* closing both sides: what still arrives is dropped */
};

static struct relay *relay_ref(struct relay *r)
{
        r->refs++;
        return r;
}

static void unref_closed(SoupWebsocketConnection *conn, gpointer unused)
{
        g_object_unref(conn);
}

/* Drop a connection after its close handshake ends. */
static void drop_conn(SoupWebsocketConnection **conn, gpointer r)
{
        if (!*conn)
                return;
        g_signal_handlers_disconnect_by_data(*conn, r);
        if (soup_websocket_connection_get_state(*conn) == SOUP_WEBSOCKET_STATE_CLOSED)
                g_object_unref(*conn);
        else
                g_signal_connect(*conn, "closed", G_CALLBACK(unref_closed), NULL);
        *conn = NULL;
}

static void relay_unref(struct relay *r)
{
        if (--r->refs > 0)
                return;
        drop_conn(&r->browser, r);
        drop_conn(&r->host, r);
        g_clear_object(&r->cancel);
        g_clear_object(&r->redeem_msg);
        g_clear_pointer(&r->hello, g_bytes_unref);
        g_free(r->cookie);
        g_free(r->peer);
        g_free(r->user);
        g_free(r->display);
        g_free(r);
}

static void set_state(struct relay *r, enum relay_state s)
{
        if (r->state == R_DONE)
                return;
        if (r->state != R_RELAY && (s == R_RELAY || s == R_DONE))
                r->g->stats.pending--;
        if (r->state == R_RELAY)
                r->g->stats.active--;
        if (s == R_RELAY)
                r->g->stats.active++;
        r->state = s;
}

/* Pass msg on, unless that side is closing already. */
static void forward(SoupWebsocketConnection *to, GBytes *msg)
{
        if (soup_websocket_connection_get_state(to) == SOUP_WEBSOCKET_STATE_OPEN)
                soup_websocket_connection_send_message(to, SOUP_WEBSOCKET_DATA_BINARY, msg);
}

static void close_conn(SoupWebsocketConnection *c, gushort code, const char *reason)
{
        if (c && soup_websocket_connection_get_state(c) == SOUP_WEBSOCKET_STATE_OPEN)
                soup_websocket_connection_close(c, code, reason);
}

/* Close both sides with code (the browser's page explains it), log why. */
static void relay_fail(struct relay *r, gushort code, const char *reason, const char *detail)
{
        g_autofree char *why = log_quote(detail ? detail : reason);

        if (r->failed)
                return;
        r->failed = true;
        log_warning("gateway_closed", "peer=%s user=%s display=%s code=%u reason=%s", r->peer,
                    r->user ? r->user : "-", r->display ? r->display : "-", code, why);
        close_conn(r->host, code >= 4000 || code == 1002 || code == 1003 || code == 1008
                                    ? 1000 : code, reason);
        close_conn(r->browser, code, reason);
}

/* A close code a peer may send on (RFC 6455 §7.4): others become 1011. */
static gushort sendable(gushort code)
{
        if (code == 1000 || code == 1001 || code == 1002 || code == 1003 ||
            (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999))
                return code;
        return 1011;
}

static bool input_allowed(struct relay *r, gsize len)
{
        int64_t now = g_get_monotonic_time();

        if (now - r->window_start_us >= G_USEC_PER_SEC) {
                r->window_start_us = now;
                r->window_bytes = 0;
        }
        r->window_bytes += len;
        r->bytes_up += len;
        return r->window_bytes <= (uint64_t)r->g->cfg.max_input_bytes_per_s;
}

/* A frame went to the browser: false when too many are unacknowledged. */
static bool frame_sent(struct relay *r, uint32_t id)
{
        if (r->n_unacked >= (unsigned)r->g->cfg.max_frames_ahead ||
            r->n_unacked >= MAX_FRAMES_AHEAD)
                return false;
        r->unacked[r->n_unacked++] = id;
        return true;
}

/* The browser drew frame id: it and every earlier one are done. */
static void frames_acked(struct relay *r, uint32_t id)
{
        unsigned kept = 0;

        for (unsigned i = 0; i < r->n_unacked; i++)
                if ((int32_t)(id - r->unacked[i]) < 0) /* serial number arithmetic */
                        r->unacked[kept++] = r->unacked[i];
        r->n_unacked = kept;
}

static void on_host_message(SoupWebsocketConnection *c, gint type, GBytes *msg, gpointer data)
{
        struct relay *r = data;
        gsize len;
        const uint8_t *d = g_bytes_get_data(msg, &len);

        if (r->state != R_RELAY || r->failed)
                return;
        if (type != SOUP_WEBSOCKET_DATA_BINARY || len == 0) {
                relay_fail(r, 1011, "the desktop sent a message that is not allowed", NULL);
                return;
        }
        if ((d[0] == WEB_OUT_VIDEO || d[0] == WEB_OUT_FRAME_END) && len >= 5 &&
            !frame_sent(r, (uint32_t)d[1] | (uint32_t)d[2] << 8 | (uint32_t)d[3] << 16 |
                                   (uint32_t)d[4] << 24)) {
                relay_fail(r, 1011, "the desktop ran too far ahead of the browser", NULL);
                return;
        }
        r->bytes_down += len;
        forward(r->browser, msg);
}

static void on_host_closed(SoupWebsocketConnection *c, gpointer data)
{
        struct relay *r = data;
        gushort code = soup_websocket_connection_get_close_code(c);
        const char *reason = soup_websocket_connection_get_close_data(c);

        log_debug("gateway_host_closed", "peer=%s code=%u", r->peer, code);
        if (code == 0 || code == 1005 || code == 1006)
                close_conn(r->browser, 1011, "the connection to the desktop was lost");
        else
                close_conn(r->browser, sendable(code), reason);
}

static void on_connected(GObject *src, GAsyncResult *res, gpointer data)
{
        struct relay *r = data;
        g_autoptr(GError) gerr = NULL;
        SoupWebsocketConnection *conn = soup_session_websocket_connect_finish(SOUP_SESSION(src),
                                                                              res, &gerr);

        if (r->state != R_CONNECT) {
                g_clear_object(&conn);
        } else if (!conn) {
                relay_fail(r, 1011, "the desktop's display cannot be reached", gerr->message);
        } else {
                r->host = conn;
                soup_websocket_connection_set_max_incoming_payload_size(conn, HOST_MAX_MESSAGE);
                soup_websocket_connection_set_keepalive_interval(conn, KEEPALIVE_S);
                g_signal_connect(conn, "message", G_CALLBACK(on_host_message), r);
                g_signal_connect(conn, "closed", G_CALLBACK(on_host_closed), r);
                set_state(r, R_RELAY);
                r->g->stats.relays_opened++;
                forward(conn, r->hello);
                g_clear_pointer(&r->hello, g_bytes_unref);
                log_info("gateway_open", "peer=%s user=%s display=%s", r->peer, r->user,
                         r->display);
        }
        relay_unref(r);
}

static void connect_host(struct relay *r, const char *host, int port)
{
        /* An IPv6 address needs brackets in the URL. */
        g_autofree char *url = g_strdup_printf(strchr(host, ':') ? "wss://[%s]:%d/ws"
                                                                  : "wss://%s:%d/ws",
                                               host, port);
        SoupMessage *m = soup_message_new("GET", url);

        r->display = g_strdup_printf("%s:%d", host, port);
        if (!m) {
                relay_fail(r, 1011, "the desktop's display address is not usable", url);
                return;
        }
        set_state(r, R_CONNECT);
        soup_session_websocket_connect_async(r->g->client, m, r->g->cfg.origin, NULL,
                                             G_PRIORITY_DEFAULT, r->cancel, on_connected,
                                             relay_ref(r));
        g_object_unref(m);
}

/* The broker's answer to the redeem request. */
static void redeemed(struct relay *r, GBytes *body, GError *gerr)
{
        guint status = soup_message_get_status(r->redeem_msg);
        g_autoptr(json_t) v = NULL;
        const char *host = NULL, *user = NULL;
        json_int_t port = 0;

        if (!body) {
                relay_fail(r, 1011, "the portal cannot be asked about this connection",
                           gerr ? gerr->message : "no answer");
                return;
        }
        if (status == SOUP_STATUS_UNAUTHORIZED) {
                relay_fail(r, 4005, "not signed in on the portal", NULL);
                return;
        }
        if (status == SOUP_STATUS_FORBIDDEN) {
                relay_fail(r, 4001, "ticket refused", NULL);
                return;
        }
        v = json_loadb(g_bytes_get_data(body, NULL), g_bytes_get_size(body), 0, NULL);
        if (status != SOUP_STATUS_OK ||
            json_unpack(v, "{s:s, s:I, s:s}", "host", &host, "port", &port, "user", &user) < 0 ||
            port < 1 || port > 65535) {
                g_autofree char *detail = g_strdup_printf("broker answered %u", status);
                relay_fail(r, 1011, "the portal could not check this connection", detail);
                return;
        }
        r->user = g_strdup(user);
        connect_host(r, host, (int)port);
}

static void on_redeemed(GObject *src, GAsyncResult *res, gpointer data)
{
        struct relay *r = data;
        g_autoptr(GError) gerr = NULL;
        g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(src), res, &gerr);

        if (r->state == R_REDEEM)
                redeemed(r, body, gerr);
        relay_unref(r);
}

static void redeem(struct relay *r, GBytes *hello, const struct web_in_msg *m)
{
        g_autofree char *url = g_strdup_printf("%s/api/v1/gateway/redeem", r->g->cfg.broker_url);
        g_autoptr(json_t) v = json_pack("{s:s%}", "ticket", m->u.hello.ticket, m->u.hello.ticket_len);
        char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
        g_autoptr(GBytes) body = NULL;

        if (!text) {
                /* Not UTF-8: no ticket the broker handed out. */
                relay_fail(r, 4001, "ticket refused", "the ticket is not text");
                return;
        }
        body = g_bytes_new_with_free_func(text, strlen(text), free, text);
        r->hello = g_bytes_ref(hello);
        r->redeem_msg = soup_message_new("POST", url);
        soup_message_set_request_body_from_bytes(r->redeem_msg, "application/json", body);
        if (r->cookie)
                soup_message_headers_append(soup_message_get_request_headers(r->redeem_msg),
                                            "Cookie", r->cookie);
        set_state(r, R_REDEEM);
        g_clear_pointer(&r->hello_timer, g_source_destroy);
        soup_session_send_and_read_async(r->g->client, r->redeem_msg, G_PRIORITY_DEFAULT,
                                         r->cancel, on_redeemed, relay_ref(r));
}

static void on_browser_message(SoupWebsocketConnection *c, gint type, GBytes *msg, gpointer data)
{
        struct relay *r = data;
        gsize len;
        const uint8_t *d = g_bytes_get_data(msg, &len);
        struct web_in_msg m;
        const char *why = NULL;

        if (r->failed)
                return;
        if (type != SOUP_WEBSOCKET_DATA_BINARY) {
                relay_fail(r, 1003, "text messages are not accepted", NULL);
        } else if (!input_allowed(r, len)) {
                relay_fail(r, 1008, "input arrives faster than allowed", NULL);
        } else if (web_in_parse(d, len, &m, &why) < 0) {
                relay_fail(r, 1002, why, NULL);
        } else if (r->state == R_HELLO) {
                if (m.type == WEB_IN_HELLO)
                        redeem(r, msg, &m);
                else
                        relay_fail(r, 1002, "the first message must be HELLO", NULL);
        } else if (m.type == WEB_IN_HELLO) {
                relay_fail(r, 1002, "a second HELLO", NULL);
        } else if (r->state == R_RELAY) {
                if (m.type == WEB_IN_FRAME_ACK)
                        frames_acked(r, m.u.frame_ack);
                forward(r->host, msg);
        }
        /* else: input before the desktop is on screen means nothing; dropped. */
}

static void on_browser_closed(SoupWebsocketConnection *c, gpointer data)
{
        struct relay *r = data;
        gushort code = soup_websocket_connection_get_close_code(c);

        g_cancellable_cancel(r->cancel);
        g_clear_pointer(&r->hello_timer, g_source_destroy);
        if (code == 0 || code == 1005 || code == 1006)
                close_conn(r->host, 1001, "the browser went away");
        else
                close_conn(r->host, sendable(code), soup_websocket_connection_get_close_data(c));
        log_info("gateway_end", "peer=%s user=%s display=%s code=%u bytes_up=%" G_GUINT64_FORMAT
                 " bytes_down=%" G_GUINT64_FORMAT " seconds=%.1f",
                 r->peer, r->user ? r->user : "-", r->display ? r->display : "-", code,
                 r->bytes_up, r->bytes_down,
                 (double)(g_get_monotonic_time() - r->opened_us) / G_USEC_PER_SEC);
        set_state(r, R_DONE);
        r->g->relays = g_list_remove(r->g->relays, r);
        relay_unref(r);
}

static gboolean on_hello_timeout(gpointer data)
{
        struct relay *r = data;

        r->hello_timer = NULL;
        relay_fail(r, 4003, "no HELLO in time", NULL);
        return G_SOURCE_REMOVE;
}

void relay_new(struct gateway *g, SoupWebsocketConnection *conn, const char *cookie,
               const char *peer)
{
        struct relay *r = g_new0(struct relay, 1);

        r->g = g;
        r->refs = 1; /* held until the browser's side is closed */
        r->browser = g_object_ref(conn);
        r->cookie = g_strdup(cookie);
        r->peer = g_strdup(peer);
        r->cancel = g_cancellable_new();
        r->opened_us = r->window_start_us = g_get_monotonic_time();
        g->stats.pending++;
        g->relays = g_list_prepend(g->relays, r);
        soup_websocket_connection_set_max_incoming_payload_size(conn, WEB_MAX_IN_MESSAGE);
        soup_websocket_connection_set_keepalive_interval(conn, KEEPALIVE_S);
        g_signal_connect(conn, "message", G_CALLBACK(on_browser_message), r);
        g_signal_connect(conn, "closed", G_CALLBACK(on_browser_closed), r);
        r->hello_timer = g_timeout_source_new_seconds((guint)g->cfg.hello_timeout_s);
        g_source_set_callback(r->hello_timer, on_hello_timeout, r, NULL);
        g_source_attach(r->hello_timer, g_main_context_get_thread_default());
        g_source_unref(r->hello_timer);
}

void relay_shutdown(struct relay *r)
{
        close_conn(r->host, 1001, "the gateway is stopping");
        close_conn(r->browser, 1001, "the gateway is stopping");
        /* Not waiting for the close handshakes: end the relay now. */
        g_signal_handlers_disconnect_by_data(r->browser, r);
        g_cancellable_cancel(r->cancel);
        g_clear_pointer(&r->hello_timer, g_source_destroy);
        set_state(r, R_DONE);
        r->g->relays = g_list_remove(r->g->relays, r);
        relay_unref(r);
}
