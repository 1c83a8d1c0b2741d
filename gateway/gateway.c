/* vdi-gateway's listening side: TLS, the Origin check (libsoup's
 * WebSocket handler refuses any other Origin with 403), the connection
 * limits, and the client session towards brokers and hosts. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/internal.h"
#include "log.h"

static void unref_closed(SoupWebsocketConnection *conn, gpointer unused)
{
        g_object_unref(conn);
}

static void refuse(struct gateway *g, SoupWebsocketConnection *conn, const char *peer,
                   const char *why)
{
        log_warning("gateway_refused", "peer=%s reason=\"%s\"", peer, why);
        g->stats.refused++;
        /* Held until the close handshake ends (soup drops its own). */
        g_signal_connect(g_object_ref(conn), "closed", G_CALLBACK(unref_closed), NULL);
        /* 4006, not the registry's 1013 (try again later): libsoup's own
         * client takes 1013 for a protocol error. */
        soup_websocket_connection_close(conn, 4006, why);
}

static void on_websocket(SoupServer *server, SoupServerMessage *msg, const char *path,
                         SoupWebsocketConnection *conn, gpointer data)
{
        struct gateway *g = data;
        GSocketAddress *remote = soup_server_message_get_remote_address(msg);
        const char *cookie = soup_message_headers_get_one(
                soup_server_message_get_request_headers(msg), "Cookie");
        g_autofree char *peer = NULL;

        if (G_IS_INET_SOCKET_ADDRESS(remote)) {
                GInetSocketAddress *ia = G_INET_SOCKET_ADDRESS(remote);
                g_autofree char *ip = g_inet_address_to_string(g_inet_socket_address_get_address(ia));
                peer = g_strdup_printf("%s:%u", ip, g_inet_socket_address_get_port(ia));
        }
        if (g->stats.active >= g->cfg.max_sessions)
                refuse(g, conn, peer ? peer : "unknown", "too many desktop connections");
        else if (g->stats.pending >= g->cfg.max_pending)
                refuse(g, conn, peer ? peer : "unknown", "too many connections waiting");
        else
                relay_new(g, conn, cookie, peer ? peer : "unknown");
}

static int make_client(struct gateway *g, char **error)
{
        g_autoptr(GError) gerr = NULL;
        g_autoptr(GTlsDatabase) db = g_tls_file_database_new(g->cfg.ca_file, &gerr);

        if (!db) {
                *error = g_strdup_printf("[gateway] ca_file %s: %s", g->cfg.ca_file,
                                         gerr->message);
                return -EINVAL;
        }
        /* Certificates are checked against the deployment CA only, and
         * against the name or address connected to. */
        g->client = soup_session_new_with_options("tls-database", db, "timeout", (guint)g->cfg.connect_timeout_s,
                                     "user-agent", "vdi-gateway", NULL);
        return 0;
}

static int make_server(struct gateway *g, char **error)
{
        const struct gateway_config *c = &g->cfg;
        g_autoptr(GError) gerr = NULL;
        g_autoptr(GTlsCertificate) cert = g_tls_certificate_new_from_files(c->cert, c->key, &gerr);
        g_autoptr(GInetAddress) ia = NULL;
        g_autoptr(GSocketAddress) sa = NULL;
        GSList *uris;

        if (!cert) {
                *error = g_strdup_printf("[gateway] cannot load the certificate %s and key %s: %s",
                                         c->cert, c->key, gerr->message);
                return -EINVAL;
        }
        ia = g_inet_address_new_from_string(c->listen);
        if (!ia) {
                *error = g_strdup_printf("[gateway] listen: \"%s\" is not an IP address", c->listen);
                return -EINVAL;
        }
        sa = g_inet_socket_address_new(ia, (guint16)c->port);
        g->server = soup_server_new("tls-certificate", cert, "server-header", NULL, NULL);
        if (!soup_server_listen(g->server, sa, SOUP_SERVER_LISTEN_HTTPS, &gerr)) {
                *error = g_strdup_printf("[gateway] cannot listen on %s port %u: %s", c->listen,
                                         (unsigned)c->port, gerr->message);
                return -EADDRINUSE;
        }
        uris = soup_server_get_uris(g->server);
        g->port = uris ? (uint16_t)g_uri_get_port(uris->data) : (uint16_t)c->port;
        g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
        soup_server_add_websocket_handler(g->server, c->path, c->origin, NULL, on_websocket, g,
                                          NULL);
        return 0;
}

int gateway_start(const struct gateway_config *cfg, struct gateway **out, char **error)
{
        struct gateway *g;
        int r;

        *error = NULL;
        r = gateway_config_check(cfg, error);
        if (r < 0)
                return r;
        g = g_new0(struct gateway, 1);
        g->cfg = *cfg;
        g->cfg.listen = g_strdup(cfg->listen);
        g->cfg.cert = g_strdup(cfg->cert);
        g->cfg.key = g_strdup(cfg->key);
        g->cfg.origin = g_strdup(cfg->origin);
        g->cfg.path = g_strdup(cfg->path);
        g->cfg.broker_url = g_strdup(cfg->broker_url);
        g->cfg.ca_file = g_strdup(cfg->ca_file);
        g->cfg.log_level = g_strdup(cfg->log_level);
        r = make_client(g, error);
        if (r == 0)
                r = make_server(g, error);
        if (r < 0) {
                gateway_stop(g);
                return r;
        }
        log_info("gateway_listen", "address=%s port=%u origin=%s path=%s broker=%s", g->cfg.listen,
                 g->port, g->cfg.origin, g->cfg.path, g->cfg.broker_url);
        *out = g;
        return 0;
}

uint16_t gateway_port(const struct gateway *g)
{
        return g->port;
}

void gateway_get_stats(const struct gateway *g, struct gateway_stats *out)
{
        *out = g->stats;
}

void gateway_stop(struct gateway *g)
{
        if (!g)
                return;
        while (g->relays)
                relay_shutdown(g->relays->data);
        if (g->server) {
                soup_server_disconnect(g->server);
                g_object_unref(g->server);
        }
        if (g->client) {
                soup_session_abort(g->client);
                g_object_unref(g->client);
        }
        g_free(g->cfg.listen);
        g_free(g->cfg.cert);
        g_free(g->cfg.key);
        g_free(g->cfg.origin);
        g_free(g->cfg.path);
        g_free(g->cfg.broker_url);
        g_free(g->cfg.ca_file);
        g_free(g->cfg.log_level);
        g_free(g);
}
