/* Test helpers for the web display protocol (tests/web/webtest.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "protocols/web/proto.h"
#include "webtest.h"

static void on_connected(GObject *obj, GAsyncResult *res, gpointer data)
{
        struct wsc *w = data;
        w->conn = soup_session_websocket_connect_finish(SOUP_SESSION(obj), res, &w->error);
        w->done = true;
}

static void on_ws_message(SoupWebsocketConnection *conn, gint type, GBytes *msg, gpointer data)
{
        struct wsc *w = data;
        gsize len;
        const uint8_t *d = g_bytes_get_data(msg, &len);

        if (w->messages < G_N_ELEMENTS(w->types))
                w->types[w->messages] = d[0];
        if (d[0] == WEB_OUT_LAYOUT && len >= WEB_LAYOUT_LEN && w->n_layouts < G_N_ELEMENTS(w->encodings))
                w->encodings[w->n_layouts++] = d[5];
        if (!w->messages++)
                w->first_type = d[0];
}

static void iterate_until(struct wsc *w, bool *flag)
{
        /* Generous: TLS under ASan on a loaded two-core machine. */
        gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
        while (!*flag && g_get_monotonic_time() < end)
                g_main_context_iteration(w->ctx, FALSE) || (g_usleep(1000), 0);
}

bool wsc_open(struct wsc *w, const char *ca, uint16_t port, const char *path, const char *origin,
              const char *cookie)
{
        g_autofree char *url = g_strdup_printf("wss://127.0.0.1:%u%s", port, path);
        g_autoptr(GTlsDatabase) db = g_tls_file_database_new(ca, NULL);
        SoupMessage *msg = soup_message_new("GET", url);

        memset(w, 0, sizeof(*w));
        w->ctx = g_main_context_new();
        g_main_context_push_thread_default(w->ctx);
        w->session = soup_session_new_with_options("tls-database", db, NULL);
        if (cookie)
                soup_message_headers_append(soup_message_get_request_headers(msg), "Cookie", cookie);
        soup_session_websocket_connect_async(w->session, msg, origin, NULL, G_PRIORITY_DEFAULT, NULL,
                                             on_connected, w);
        iterate_until(w, &w->done);
        w->status = soup_message_get_status(msg);
        g_object_unref(msg);
        if (w->conn) {
                soup_websocket_connection_set_max_incoming_payload_size(w->conn, 0);
                g_signal_connect(w->conn, "message", G_CALLBACK(on_ws_message), w);
        }
        return w->conn != NULL;
}

void wsc_send(struct wsc *w, const void *data, size_t len)
{
        soup_websocket_connection_send_binary(w->conn, data, len);
}

void wsc_send_hello(struct wsc *w, const char *ticket, uint8_t flags)
{
        uint8_t b[300] = { WEB_IN_HELLO, WEB_PROTO_VERSION, flags, (uint8_t)strlen(ticket), 0 };
        memcpy(b + 5, ticket, strlen(ticket));
        wsc_send(w, b, 5 + strlen(ticket));
}

int wsc_wait_closed(struct wsc *w)
{
        gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (soup_websocket_connection_get_state(w->conn) != SOUP_WEBSOCKET_STATE_CLOSED &&
               g_get_monotonic_time() < end)
                g_main_context_iteration(w->ctx, FALSE) || (g_usleep(1000), 0);
        return soup_websocket_connection_get_state(w->conn) == SOUP_WEBSOCKET_STATE_CLOSED
                       ? soup_websocket_connection_get_close_code(w->conn)
                       : -1;
}

void wsc_wait_message(struct wsc *w)
{
        gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (!w->messages && g_get_monotonic_time() < end &&
               soup_websocket_connection_get_state(w->conn) != SOUP_WEBSOCKET_STATE_CLOSED)
                g_main_context_iteration(w->ctx, FALSE) || (g_usleep(1000), 0);
}

void wsc_close(struct wsc *w)
{
        if (w->conn) {
                if (soup_websocket_connection_get_state(w->conn) == SOUP_WEBSOCKET_STATE_OPEN) {
                        soup_websocket_connection_close(w->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
                        wsc_wait_closed(w);
                }
                g_object_unref(w->conn);
        }
        g_clear_error(&w->error);
        g_object_unref(w->session);
        while (g_main_context_iteration(w->ctx, FALSE))
                ;
        g_main_context_pop_thread_default(w->ctx);
        g_main_context_unref(w->ctx);
}

gpointer webtest_loop_thread(gpointer loop)
{
        struct webtest_loop *l = loop;

        g_main_context_push_thread_default(l->ctx);
        while (!g_atomic_int_get(&l->stop))
                g_main_context_iteration(l->ctx, TRUE);
        g_main_context_pop_thread_default(l->ctx);
        return NULL;
}

void webtest_loop_join(struct webtest_loop *loop, GThread *thread)
{
        g_atomic_int_set(&loop->stop, 1);
        g_main_context_wakeup(loop->ctx);
        g_thread_join(thread);
}

void webtest_quiet_thread_pool(void)
{
        g_thread_pool_set_max_unused_threads(0);
        g_thread_pool_stop_unused_threads();
        g_usleep(500 * 1000);
}

uint32_t webtest_canvas_pixel(struct cdp *c, unsigned x, unsigned y)
{
        g_autofree char *js = g_strdup_printf(
                "(() => { const d = document.getElementById('screen').getContext('2d')"
                ".getImageData(%u, %u, 1, 1).data; return (d[0] << 16 | d[1] << 8 | d[2]); })()",
                x, y);
        json_t *v = cdp_eval(c, js);
        uint32_t px = (uint32_t)json_integer_value(v);
        json_decref(v);
        return px;
}

int webtest_channel_diff(uint32_t a, uint32_t b)
{
        int d = 0;
        for (int s = 0; s < 24; s += 8)
                d = MAX(d, abs((int)((a >> s) & 0xff) - (int)((b >> s) & 0xff)));
        return d;
}
