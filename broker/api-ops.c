/* Operations endpoints (/healthz, /metrics) and the portal's static files. */
#include "config.h"

#include <glib.h>
#include <string.h>

#include "broker/internal.h"
#include "log.h"

void api_healthz(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        g_autofree char *err = NULL;

        if (db_ping(b->db, &err) < 0) {
                log_warning("healthz_failed", "error=\"%s\"", err);
                http_respond_json(resp, 503,
                                  json_pack("{s:s, s:s}", "status", "unhealthy", "database",
                                            "unreachable"));
                return;
        }
        http_respond_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "database", "ok"));
}

DB_STMT(metrics_desktops,
        "SELECT s.state, count(d.id) FROM unnest(ARRAY['provisioning', 'ready', 'assigned',"
        " 'in_use', 'refreshing', 'stopped', 'suspended', 'error', 'deleting']) AS s(state)"
        " LEFT JOIN desktops d ON d.state = s.state"
        /* A deleted desktop's tombstone (no host) is history, not work. */
        "  AND NOT (d.state = 'deleting' AND d.host_id IS NULL)"
        " GROUP BY s.state ORDER BY s.state",
        0);
DB_STMT(metrics_sessions, "SELECT count(*) FROM portal_sessions WHERE expires_at > now()", 0);

void api_metrics(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        g_autoptr(GString) out = g_string_new(NULL);
        g_autofree char *err = NULL;
        PGresult *res = NULL;

        broker_metrics_format(&b->metrics, out);
        if (db_exec(b->db, &metrics_desktops, NULL, DB_IDEMPOTENT, &res, &err) == 0) {
                g_string_append(out, "# HELP vdi_desktops Desktops by state (whole cluster).\n"
                                     "# TYPE vdi_desktops gauge\n");
                for (int i = 0; i < PQntuples(res); i++)
                        g_string_append_printf(out, "vdi_desktops{state=\"%s\"} %s\n",
                                               PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
                PQclear(res);
        }
        if (db_exec(b->db, &metrics_sessions, NULL, DB_IDEMPOTENT, &res, NULL) == 0) {
                g_string_append(out, "# HELP vdi_portal_sessions Unexpired portal sessions.\n"
                                     "# TYPE vdi_portal_sessions gauge\n");
                g_string_append_printf(out, "vdi_portal_sessions %s\n", PQgetvalue(res, 0, 0));
                PQclear(res);
        }
        g_string_append_printf(out, "# HELP vdi_database_up 1 when the last scrape reached "
                                    "PostgreSQL.\n# TYPE vdi_database_up gauge\n"
                                    "vdi_database_up %d\n",
                               err ? 0 : 1);
        http_respond_bytes(resp, 200, "text/plain; version=0.0.4; charset=utf-8", out->str,
                           out->len);
}

static const struct broker_asset *asset(struct broker *b, const char *name)
{
        for (size_t i = 0; i < b->n_assets; i++)
                if (!strcmp(b->assets[i].name, name))
                        return &b->assets[i];
        return NULL;
}

static void serve(struct http_response *resp, const struct broker_asset *a)
{
        http_respond_bytes(resp, 200, a->content_type, a->data, a->len);
        /* Small files, changed with each release: revalidate every time. */
        http_add_header(resp, "Cache-Control", "no-cache");
}

void api_portal_index(void *ctx, const struct http_request *req, struct http_response *resp)
{
        serve(resp, asset(ctx, "index.html"));
}

void api_portal_file(struct broker *b, const char *name, struct http_response *resp)
{
        const struct broker_asset *a = asset(b, name);
        if (!a) {
                http_respond_error(resp, 404, "not_found", "the portal has no %s", name);
                return;
        }
        serve(resp, a);
}

void api_portal_asset(void *ctx, const struct http_request *req, struct http_response *resp)
{
        /* The admin console's files (admin.html, admin.js): admins only. */
        if (g_str_has_prefix(req->params[0], "admin.")) {
                console_asset(ctx, req, resp);
                return;
        }
        const struct broker_asset *a = asset(ctx, req->params[0]);
        if (!a) {
                http_respond_error(resp, 404, "not_found", "no such file: %s", req->path);
                return;
        }
        serve(resp, a);
}
