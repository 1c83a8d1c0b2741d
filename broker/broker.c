/* The broker's lifecycle and route table (broker/broker.h). */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "broker/internal.h"
#include "log.h"
#include "reconnect.h"

static const struct http_route user_routes[] = {
        { "GET", "/", api_portal_index },
        { "GET", "/portal/{file}", api_portal_asset },
        { "GET", "/healthz", api_healthz },
        { "GET", "/metrics", api_metrics },
        { "POST", "/api/v1/login", api_login },
        { "POST", "/api/v1/logout", api_logout },
        { "GET", "/api/v1/me", api_me },
        { "GET", "/api/v1/me/sessions", api_self_sessions },
        { "DELETE", "/api/v1/me/sessions/{id}", api_self_session_end },
        { "GET", "/api/v1/portal", api_portal_branding },
        { "GET", "/api/v1/desktops", api_desktops },
        { "POST", "/api/v1/launch", api_launch },
        { "POST", "/api/v1/reconnect", api_reconnect },
        { "POST", "/api/v1/gateway/redeem", api_gateway_redeem },
        { "POST", "/api/v1/desktops/{pool}/restart", api_self_restart },
        { "POST", "/api/v1/desktops/{pool}/logoff", api_self_logoff },
};

/* user_routes followed by the admin routes; built once. */
static struct http_route *all_routes;
static size_t n_all_routes;
static GOnce routes_once = G_ONCE_INIT;

static gpointer build_routes(gpointer unused)
{
        n_all_routes = G_N_ELEMENTS(user_routes) + api_admin_routes_count;
        all_routes = g_new(struct http_route, n_all_routes);
        memcpy(all_routes, user_routes, sizeof(user_routes));
        memcpy(all_routes + G_N_ELEMENTS(user_routes), api_admin_routes,
               api_admin_routes_count * sizeof(struct http_route));
        return NULL;
}

static const char *content_type_for(const char *name)
{
        if (g_str_has_suffix(name, ".html"))
                return "text/html; charset=utf-8";
        if (g_str_has_suffix(name, ".js"))
                return "text/javascript; charset=utf-8";
        if (g_str_has_suffix(name, ".css"))
                return "text/css; charset=utf-8";
        if (g_str_has_suffix(name, ".svg"))
                return "image/svg+xml";
        if (g_str_has_suffix(name, ".png"))
                return "image/png";
        if (g_str_has_suffix(name, ".ico"))
                return "image/x-icon";
        return NULL;
}

/* Read the portal's files once: requests never touch the file system, and
 * only names that were in the directory at start can be served. */
static int load_assets(struct broker *b, const char *dir, char **error)
{
        g_autoptr(GError) gerr = NULL;
        g_autoptr(GDir) d = g_dir_open(dir, 0, &gerr);
        GArray *arr;
        const char *name;
        bool has_index = false;

        if (!d) {
                *error = g_strdup_printf("[portal] assets: %s", gerr->message);
                return -ENOENT;
        }
        arr = g_array_new(FALSE, TRUE, sizeof(struct broker_asset));
        while ((name = g_dir_read_name(d))) {
                const char *ct = content_type_for(name);
                struct broker_asset a = { 0 };
                g_autofree char *path = g_build_filename(dir, name, NULL);
                if (!ct || !g_file_test(path, G_FILE_TEST_IS_REGULAR))
                        continue;
                if (!g_file_get_contents(path, &a.data, &a.len, &gerr)) {
                        *error = g_strdup_printf("[portal] assets: %s", gerr->message);
                        b->assets = (struct broker_asset *)(void *)arr->data;
                        b->n_assets = arr->len;
                        g_array_free(arr, FALSE);
                        return -EIO;
                }
                a.name = g_strdup(name);
                a.content_type = g_strdup(ct);
                has_index |= !strcmp(name, "index.html");
                g_array_append_val(arr, a);
        }
        b->n_assets = arr->len;
        b->assets = (struct broker_asset *)(void *)g_array_free(arr, FALSE);
        if (!has_index) {
                *error = g_strdup_printf("[portal] assets: %s has no index.html", dir);
                return -ENOENT;
        }
        return 0;
}

/* [portal] logo must be one of the loaded images, help_url a web address:
 * the page's CSP loads images only from the portal itself. */
static int check_branding(struct broker *b, char **error)
{
        const char *logo = b->cfg->portal_logo, *help = b->cfg->portal_help_url;
        bool found = false;

        for (size_t i = 0; *logo && i < b->n_assets; i++)
                found |= !strcmp(b->assets[i].name, logo) &&
                         g_str_has_prefix(b->assets[i].content_type, "image/");
        if (*logo && !found) {
                *error = g_strdup_printf("[portal] logo: \"%s\" is not a .svg or .png file in "
                                         "%s (put the logo there and name only the file)",
                                         logo, b->cfg->assets);
                return -EINVAL;
        }
        if (*help && (!(g_str_has_prefix(help, "https://") || g_str_has_prefix(help, "http://")) ||
                      strlen(help) > 2000 || strpbrk(help, " \t\r\n\"<>"))) {
                *error = g_strdup_printf("[portal] help_url: \"%s\" is not an http(s):// address",
                                         help);
                return -EINVAL;
        }
        if (b->cfg->web_gateway_path[0] != '/' || strpbrk(b->cfg->web_gateway_path, " \t\r\n\"<>?#")) {
                *error = g_strdup_printf("[portal] web_gateway_path: \"%s\" is not a path like "
                                         "/gateway/ws", b->cfg->web_gateway_path);
                return -EINVAL;
        }
        return 0;
}

int broker_new(const struct broker_config *cfg, struct broker **out, char **error)
{
        struct broker *b = g_new0(struct broker, 1);
        struct db_config dbc = {
                .conninfo = cfg->conninfo,
                .pool_size = (unsigned)cfg->db_pool_size,
                .connect_timeout_ms = (unsigned)cfg->db_connect_timeout_ms,
                .statement_timeout_ms = (unsigned)cfg->db_statement_timeout_ms,
                .acquire_timeout_ms = (unsigned)cfg->db_acquire_timeout_ms,
                .application_name = "vdi-brokerd",
        };
        struct hostd_client_config hc = {
                .cert_file = cfg->host_cert,
                .key_file = cfg->host_key,
                .ca_file = cfg->host_ca,
                .connect_timeout_ms = (unsigned)cfg->host_connect_timeout_ms,
                .timeout_ms = (unsigned)cfg->host_timeout_ms,
        };
        int r;

        g_once(&routes_once, build_routes, NULL);
        b->cfg = cfg;
        b->admin_groups = g_strsplit(cfg->admin_groups ? cfg->admin_groups : "", ";", -1);
        for (char **g = b->admin_groups; *g; g++)
                g_strstrip(*g);
        r = db_open(&dbc, &b->db, error);
        if (r >= 0)
                r = auth_ldap_backend.open(&cfg->ldap, &b->ldap, error);
        /* The local admin is optional: without a password hash it is off. */
        if (r >= 0 && cfg->local.password_hash && *cfg->local.password_hash)
                r = auth_local_backend.open(&cfg->local, &b->local, error);
        if (r >= 0)
                r = hostd_client_new(&hc, &b->hosts, error);
        if (r >= 0 && !g_file_get_contents(cfg->host_ca, &b->cluster_ca_pem, NULL, NULL)) {
                *error = g_strdup_printf("[hosts] ca_file: cannot read %s", cfg->host_ca);
                r = -EIO;
        }
        if (r >= 0 && cfg->reconnect_key && *cfg->reconnect_key) {
                g_autofree char *why = NULL;
                r = reconnect_key_load(cfg->reconnect_key, true, &b->reconnect_key, &why);
                if (r < 0)
                        *error = g_strdup_printf("[reconnect] key: %s", why);
        }
        if (r >= 0)
                r = load_assets(b, cfg->assets, error);
        if (r >= 0)
                r = check_branding(b, error);
        if (r < 0) {
                broker_free(b);
                return r;
        }
        *out = b;
        return 0;
}

int broker_start(struct broker *b, char **error)
{
        const struct broker_config *cfg = b->cfg;
        struct http_config hc = {
                .listen_addr = cfg->listen,
                .port = (uint16_t)cfg->port,
                .cert_file = cfg->cert,
                .key_file = cfg->key,
                .threads = (unsigned)cfg->threads,
                .max_body = (size_t)cfg->max_body,
                .timeout_s = (unsigned)cfg->timeout_s,
        };
        return http_server_start(&hc, all_routes, n_all_routes, b, &b->http, error);
}

uint16_t broker_port(const struct broker *b)
{
        return b->http ? http_server_port(b->http) : 0;
}

void broker_free(struct broker *b)
{
        if (!b)
                return;
        http_server_stop(b->http);
        if (b->ldap)
                auth_ldap_backend.close(b->ldap);
        if (b->local)
                auth_local_backend.close(b->local);
        hostd_client_free(b->hosts);
        EVP_PKEY_free(b->reconnect_key);
        g_free(b->cluster_ca_pem);
        g_strfreev(b->admin_groups);
        db_close(b->db);
        for (size_t i = 0; i < b->n_assets; i++) {
                g_free(b->assets[i].name);
                g_free(b->assets[i].content_type);
                g_free(b->assets[i].data);
        }
        g_free(b->assets);
        g_free(b);
}
