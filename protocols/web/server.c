/* The web display server: listening (libsoup 3, TLS), admission by
 * one-time ticket, the client's files for development. A session's frames
 * and input are in session.c. */
#include "config.h"

#include <errno.h>
#include <gst/gst.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"

#define HELLO_TIMEOUT_S 10
/* Connections that have not sent their ticket yet, at most. */
#define MAX_PENDING 8

static const char *const static_files[][2] = {
        { "/desktop.html", "text/html; charset=utf-8" },
        { "/desktop.js", "text/javascript; charset=utf-8" },
        { "/style.css", "text/css; charset=utf-8" },
};

static void ticket_clear_locked(struct web_server *s)
{
        if (s->ticket)
                OPENSSL_cleanse(s->ticket, strlen(s->ticket));
        g_clear_pointer(&s->ticket, g_free);
        g_clear_pointer(&s->ticket_user, g_free);
}

int web_server_set_ticket(struct web_server *s, const char *user, const char *password,
                          unsigned expiry_seconds)
{
        size_t n = password ? strlen(password) : 0;

        if (n == 0 || n > WEB_MAX_TICKET || expiry_seconds == 0 || (user && strlen(user) > 256))
                return -EINVAL;
        g_mutex_lock(&s->lock);
        ticket_clear_locked(s);
        s->ticket = g_strdup(password);
        s->ticket_user = g_strdup(user && *user ? user : "-");
        s->ticket_expires_us = g_get_monotonic_time() + (int64_t)expiry_seconds * G_USEC_PER_SEC;
        g_mutex_unlock(&s->lock);
        return 0;
}

/* Each open session gets its close frame (4007) and is freed by its
 * "closed" handler once the handshake is over: freeing it here at once
 * could drop the frame, and the browser then saw no code at all (CI11). */
unsigned web_server_disconnect(struct web_server *s)
{
        g_autoptr(GPtrArray) sessions = g_ptr_array_copy(s->sessions, NULL, NULL);
        unsigned n = 0;

        g_mutex_lock(&s->lock);
        ticket_clear_locked(s);
        g_mutex_unlock(&s->lock);
        for (guint i = 0; i < sessions->len; i++)
                n += web_session_close(g_ptr_array_index(sessions, i), WEB_CLOSE_DISCONNECTED,
                                       "disconnected by an administrator");
        log_info("web_disconnect", "port=%u sessions=%u", s->port, n);
        return n;
}

bool web_server_consume_ticket(struct web_server *s, const char *ticket, size_t len, char **user)
{
        bool ok = false;

        g_mutex_lock(&s->lock);
        if (s->ticket && s->ticket_expires_us > g_get_monotonic_time() && strlen(s->ticket) == len &&
            CRYPTO_memcmp(s->ticket, ticket, len) == 0) {
                ok = true;
                *user = g_strdup(s->ticket_user);
        }
        /* Used or expired: gone. A wrong ticket leaves it (too long to guess). */
        if (ok || (s->ticket && s->ticket_expires_us <= g_get_monotonic_time()))
                ticket_clear_locked(s);
        g_mutex_unlock(&s->lock);
        return ok;
}

uint16_t web_server_port(const struct web_server *s)
{
        return s->port;
}

void web_server_get_stats(struct web_server *s, struct web_server_stats *out)
{
        g_mutex_lock(&s->lock);
        *out = s->stats;
        g_mutex_unlock(&s->lock);
}

char *web_server_clipboard(struct web_server *s)
{
        char *text;

        g_mutex_lock(&s->lock);
        text = s->clipboard ? strdup(s->clipboard) : NULL;
        g_mutex_unlock(&s->lock);
        return text;
}

/* GET of the client's own files, only those, only with static_dir. */
static void on_static(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                      gpointer data)
{
        struct web_server *s = data;
        SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
        const char *type = NULL;
        g_autofree char *file = NULL;
        char *body = NULL;
        gsize len = 0;

        if (strcmp(soup_server_message_get_method(msg), "GET") != 0) {
                soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
                return;
        }
        if (strcmp(path, "/") == 0)
                path = "/desktop.html";
        for (size_t i = 0; i < G_N_ELEMENTS(static_files); i++)
                if (strcmp(path, static_files[i][0]) == 0)
                        type = static_files[i][1];
        file = type ? g_build_filename(s->cfg.static_dir, path + 1, NULL) : NULL;
        if (!file || !g_file_get_contents(file, &body, &len, NULL)) {
                soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
                return;
        }
        /* Stricter than the portal's (lib/http.c): no inline script or style,
         * nothing from anywhere but here. */
        soup_message_headers_append(h, "Content-Security-Policy",
                                    "default-src 'none'; script-src 'self'; style-src 'self'; "
                                    "img-src 'self' blob:; connect-src 'self'; "
                                    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
        soup_message_headers_append(h, "X-Content-Type-Options", "nosniff");
        soup_message_headers_append(h, "Cache-Control", "no-store");
        soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
        soup_server_message_set_response(msg, type, SOUP_MEMORY_TAKE, body, len);
}

static void unref_closed(SoupWebsocketConnection *conn, gpointer unused)
{
        g_object_unref(conn);
}

static void on_websocket(SoupServer *server, SoupServerMessage *msg, const char *path,
                         SoupWebsocketConnection *conn, gpointer data)
{
        struct web_server *s = data;
        GSocketAddress *remote = soup_server_message_get_remote_address(msg);
        g_autofree char *peer = NULL;

        if (G_IS_INET_SOCKET_ADDRESS(remote)) {
                g_autofree char *ip = g_inet_address_to_string(
                        g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
                peer = g_strdup_printf("%s:%u", ip,
                                       g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(remote)));
        }
        if (s->pending >= MAX_PENDING) {
                log_warning("web_refused", "peer=%s reason=\"too many connections without a ticket\"",
                            peer ? peer : "unknown");
                /* Held until the close handshake ends (soup drops its own). */
                g_signal_connect(g_object_ref(conn), "closed", G_CALLBACK(unref_closed), NULL);
                soup_websocket_connection_close(conn, 1013 /* RFC 6455 registry: try again later */,
                                                "too many connections waiting");
                g_mutex_lock(&s->lock);
                s->stats.refused++;
                g_mutex_unlock(&s->lock);
                return;
        }
        web_session_new(s, conn, peer ? peer : "unknown", HELLO_TIMEOUT_S);
}

static int make_server(struct web_server *s, const char *cert_file, const char *key_file, char **error)
{
        const struct web_server_config *c = &s->cfg;
        g_autoptr(GError) gerr = NULL;
        g_autoptr(GTlsCertificate) cert = NULL;
        g_autoptr(GInetAddress) ia = NULL;
        g_autoptr(GSocketAddress) sa = NULL;
        GSList *uris;

        if (!cert_file || !key_file) {
                *error = g_strdup("web: set cert_file and key_file (the web display is served "
                                  "over TLS only)");
                return -EINVAL;
        }
        cert = g_tls_certificate_new_from_files(cert_file, key_file, &gerr);
        if (!cert) {
                *error = g_strdup_printf("web: cannot load the certificate %s and key %s: %s",
                                         cert_file, key_file, gerr->message);
                return -EINVAL;
        }
        ia = g_inet_address_new_from_string(c->bind_address ? c->bind_address : "127.0.0.1");
        if (!ia) {
                *error = g_strdup_printf("web: listen address \"%s\" is not an IP address",
                                         c->bind_address);
                return -EINVAL;
        }
        sa = g_inet_socket_address_new(ia, c->port);
        s->soup = soup_server_new("tls-certificate", cert, "server-header", NULL, NULL);
        if (!soup_server_listen(s->soup, sa, SOUP_SERVER_LISTEN_HTTPS, &gerr)) {
                *error = g_strdup_printf("web: cannot listen on %s port %u: %s",
                                         c->bind_address ? c->bind_address : "127.0.0.1", c->port,
                                         gerr->message);
                return -EADDRINUSE;
        }
        uris = soup_server_get_uris(s->soup);
        s->port = uris ? (uint16_t)g_uri_get_port(uris->data) : c->port;
        g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
        s->origin = c->origin ? g_strdup(c->origin)
                              : g_strdup_printf("https://%s:%u",
                                                c->bind_address ? c->bind_address : "127.0.0.1",
                                                s->port);
        /* soup refuses (403) a handshake whose Origin is not exactly ours. */
        soup_server_add_websocket_handler(s->soup, WEB_PATH, s->origin, NULL, on_websocket, s, NULL);
        if (c->static_dir)
                soup_server_add_handler(s->soup, "/", on_static, s, NULL);
        return 0;
}

int web_server_start(const struct web_server_config *cfg, struct display_source source,
                     GMainContext *ctx, struct web_server **out, char **error)
{
        struct web_server *s;
        int r;

        *error = NULL;
        if (!gst_is_initialized() && !gst_init_check(NULL, NULL, NULL))
                log_warning("gstreamer_unavailable", "effect=\"PNG tiles only\"");
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        g_mutex_init(&s->lock);
        s->cfg = *cfg;
        s->cfg.bind_address = g_strdup(cfg->bind_address);
        s->cfg.origin = g_strdup(cfg->origin);
        s->cfg.static_dir = g_strdup(cfg->static_dir);
        s->cfg.h264_encoder = g_strdup(cfg->h264_encoder);
        s->cfg.cert_file = s->cfg.key_file = NULL; /* read once, below */
        if (!s->cfg.fps)
                s->cfg.fps = 30;
        if (!s->cfg.idle_timeout_s)
                s->cfg.idle_timeout_s = 3600;
        if (!s->cfg.max_session_s)
                s->cfg.max_session_s = 43200;
        s->source = source;
        s->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());
        s->sessions = g_ptr_array_new();

        /* soup attaches its sockets to the thread-default context. */
        g_main_context_push_thread_default(s->ctx);
        r = make_server(s, cfg->cert_file, cfg->key_file, error);
        g_main_context_pop_thread_default(s->ctx);
        if (r < 0) {
                web_server_stop(s);
                return r;
        }
        s->tick = g_timeout_source_new(1000 / s->cfg.fps);
        g_source_set_callback(s->tick, web_session_tick, s, NULL);
        g_source_attach(s->tick, s->ctx);
        log_info("web_listen", "port=%u origin=%s tiles_only=%s", s->port, s->origin,
                 s->cfg.force_tiles ? "yes" : "no");
        *out = s;
        return 0;
}

void web_server_stop(struct web_server *s)
{
        if (!s)
                return;
        if (s->tick) {
                g_source_destroy(s->tick);
                g_source_unref(s->tick);
        }
        while (s->sessions && s->sessions->len)
                web_session_free(g_ptr_array_index(s->sessions, 0));
        if (s->soup) {
                soup_server_disconnect(s->soup);
                g_object_unref(s->soup);
        }
        g_clear_pointer(&s->sessions, g_ptr_array_unref);
        ticket_clear_locked(s);
        g_free(s->clipboard);
        g_free(s->origin);
        g_free((char *)s->cfg.bind_address);
        g_free((char *)s->cfg.origin);
        g_free((char *)s->cfg.static_dir);
        g_free((char *)s->cfg.h264_encoder);
        if (s->ctx)
                g_main_context_unref(s->ctx);
        g_mutex_clear(&s->lock);
        free(s);
}
