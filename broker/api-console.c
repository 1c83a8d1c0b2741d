/* The admin console (issue 24): its pages, served only to admins, and the
 * endpoints the pages need beyond the admin API of api-admin.c: one
 * overview of hosts, pools and sign-ins built by a single SQL statement
 * (the page polls it), refresh of a whole pool, reset of a desktop
 * through its host, disconnect of its user, a thumbnail of its screen.
 * Plus the portal's branding, which anyone may read. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "broker/internal.h"
#include "log.h"

/* ---- pages ---- */

static void page_error(struct http_response *resp, unsigned status, const char *title,
                       const char *text)
{
        g_autofree char *esc = g_markup_escape_text(text, -1);
        g_autofree char *html = g_strdup_printf(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>%s</title><link rel=\"stylesheet\" href=\"/portal/style.css\"></head>"
                "<body><main><section class=\"card\"><h1>%s</h1><p>%s</p>"
                "<p><a href=\"/\">Back to the portal</a></p></section></main></body></html>\n",
                title, title, esc);
        http_respond_bytes(resp, status, "text/html; charset=utf-8", html, strlen(html));
}

/* The same admin check as the API's, answered as a page: true for an
 * administrator; else resp says 401 (no session) or 403 (not an admin),
 * or keeps the API's JSON error (database down). */
static bool console_admin(struct broker *b, const struct http_request *req,
                          struct http_response *resp)
{
        _cleanup_(broker_session_freep) struct broker_session *s = api_admin_session(b, req, resp);

        if (s)
                return true;
        if (resp->status == 401)
                page_error(resp, 401, "Sign in first",
                           "The admin console needs an administrator's session: sign "
                           "in on the portal, then open the console again.");
        else if (resp->status == 403)
                page_error(resp, 403, "Not an administrator",
                           "Your account is not an administrator of this system (admins "
                           "are members of the broker's [admin] groups).");
        return false;
}

/* GET /portal/admin.* (api_portal_asset sends them here): the console's
 * own files, for administrators only. */
void console_asset(void *ctx, const struct http_request *req, struct http_response *resp)
{
        if (console_admin(ctx, req, resp))
                api_portal_file(ctx, req->params[0], resp);
}

/* GET /admin and /admin/{page}: the console's one HTML file (the script
 * shows the page the path names), after the same admin check as the API:
 * 401 without a session, 403 for a user who is not an admin. */
void console_page(void *ctx, const struct http_request *req, struct http_response *resp)
{
        static const char *const pages[] = { "overview", "pools",  "desktops", "images",
                                             "sessions", "logins", "audit",    NULL };
        struct broker *b = ctx;
        bool known = req->n_params == 0;

        if (!console_admin(b, req, resp))
                return;
        for (size_t i = 0; !known && pages[i]; i++)
                known = !strcmp(req->params[0], pages[i]);
        if (!known) {
                page_error(resp, 404, "No such page",
                           "The console has the pages overview, pools, desktops, images, "
                           "sessions, logins and audit.");
                return;
        }
        api_portal_file(b, "admin.html", resp);
}

/* ---- overview ---- */

/* Everything the overview shows, as one JSON document made by PostgreSQL
 * in one round trip: hosts (a host late with its heartbeat is down, as in
 * GET /admin/hosts), pools by desktop state, and sign-ins and launches per
 * minute over the last 15 minutes with the slowest phase of the last 5.
 * Deleted desktops (state 'deleting' without a host: tombstones kept for
 * the assignment history) count nowhere. Committed = the vCPUs and memory
 * of every desktop placed on the host (from its pool); running = those of
 * desktops that are powered on. */
DB_STMT(overview_stmt,
        "WITH live AS (SELECT d.*, p.vcpus AS p_vcpus, p.memory_mb AS p_mem,"
        "   d.state IN ('ready', 'assigned', 'in_use', 'refreshing') AS running"
        "   FROM desktops d JOIN pools p ON p.id = d.pool_id"
        "   WHERE NOT (d.state = 'deleting' AND d.host_id IS NULL)),"
        " per_host AS (SELECT host_id, count(*) AS n, sum(p_vcpus) AS vc, sum(p_mem) AS mc,"
        "   coalesce(sum(p_vcpus) FILTER (WHERE running), 0) AS vr,"
        "   coalesce(sum(p_mem) FILTER (WHERE running), 0) AS mr,"
        "   count(*) FILTER (WHERE state = 'in_use') AS in_use"
        "   FROM live WHERE host_id IS NOT NULL GROUP BY host_id),"
        " hs AS (SELECT h.name,"
        "   CASE WHEN h.state = 'up' AND (h.last_heartbeat IS NULL OR"
        "     h.last_heartbeat < now() - make_interval(secs => $1::integer)) THEN 'down'"
        "     ELSE h.state END AS state,"
        "   h.vcpus, h.memory_mb, coalesce(x.n, 0) AS desktops, coalesce(x.in_use, 0) AS in_use,"
        "   coalesce(x.vc, 0) AS vcpus_committed, coalesce(x.vr, 0) AS vcpus_running,"
        "   coalesce(x.mc, 0) AS memory_committed_mb, coalesce(x.mr, 0) AS memory_running_mb,"
        "   floor(extract(epoch FROM now() - h.last_heartbeat))::bigint AS heartbeat_age_s"
        "   FROM hosts h LEFT JOIN per_host x ON x.host_id = h.id),"
        " ps AS (SELECT p.name, p.display_name, p.kind, p.enabled, p.min_size, p.max_size,"
        "   p.ready_size, count(l.id) AS size,"
        "   count(l.id) FILTER (WHERE l.state = 'ready') AS ready,"
        "   count(l.id) FILTER (WHERE l.state = 'assigned') AS assigned,"
        "   count(l.id) FILTER (WHERE l.state = 'in_use') AS in_use,"
        "   count(l.id) FILTER (WHERE l.state IN ('provisioning', 'refreshing')) AS provisioning,"
        "   count(l.id) FILTER (WHERE l.state = 'stopped') AS stopped,"
        "   count(l.id) FILTER (WHERE l.state = 'suspended') AS suspended,"
        "   count(l.id) FILTER (WHERE l.state = 'deleting') AS deleting,"
        "   count(l.id) FILTER (WHERE l.state = 'error' OR l.quarantine_reason IS NOT NULL)"
        "     AS errors"
        "   FROM pools p LEFT JOIN live l ON l.pool_id = p.id GROUP BY p.id),"
        " mins AS (SELECT generate_series(date_trunc('minute', now()) - interval '14 minutes',"
        "   date_trunc('minute', now()), interval '1 minute') AS m),"
        " recent AS (SELECT date_trunc('minute', at) AS m, request_id, phase, duration_us,"
        "   user_name, at"
        "   FROM login_timings WHERE at >= date_trunc('minute', now()) - interval '14 minutes'),"
        /* A sign-in stores the phases before its session row (throttle,
         * directory) with it, not its total: count its requests. */
        " per_min AS (SELECT mins.m,"
        "   count(DISTINCT r.request_id) FILTER (WHERE r.phase IN ('throttle', 'ldap',"
        "     'session', 'login_total')) AS logins,"
        "   count(r.phase) FILTER (WHERE r.phase = 'launch_total') AS launches"
        "   FROM mins LEFT JOIN recent r ON r.m = mins.m GROUP BY mins.m),"
        " slow AS (SELECT phase, count(*) AS count,"
        "   round(avg(duration_us) / 1000.0, 1)::float8 AS avg_ms,"
        "   round(max(duration_us) / 1000.0, 1)::float8 AS max_ms,"
        "   (array_agg(user_name ORDER BY duration_us DESC))[1] AS slowest_user"
        "   FROM recent WHERE at > now() - interval '5 minutes' AND phase NOT LIKE '%\\_total'"
        "   GROUP BY phase)"
        " SELECT json_build_object('at', now(),"
        "  'hosts', coalesce((SELECT json_agg(hs ORDER BY hs.name) FROM hs), '[]'),"
        "  'pools', coalesce((SELECT json_agg(ps ORDER BY ps.name) FROM ps), '[]'),"
        "  'totals', json_build_object("
        "     'hosts', (SELECT count(*) FROM hs), 'hosts_up', (SELECT count(*) FROM hs"
        "       WHERE state = 'up'), 'desktops', (SELECT count(*) FROM live),"
        "     'in_use', (SELECT count(*) FROM live WHERE state = 'in_use'),"
        "     'ready', (SELECT count(*) FROM live WHERE state = 'ready'),"
        "     'errors', (SELECT count(*) FROM live WHERE state = 'error'"
        "       OR quarantine_reason IS NOT NULL),"
        "     'portal_sessions', (SELECT count(*) FROM portal_sessions WHERE expires_at > now()"
        "       AND last_seen_at > now() - make_interval(secs => $2::integer))),"
        "  'per_minute', (SELECT json_agg(json_build_object('minute', m, 'logins', logins,"
        "     'launches', launches) ORDER BY m) FROM per_min),"
        "  'phases', coalesce((SELECT json_agg(slow ORDER BY slow.avg_ms DESC) FROM slow), '[]'))",
        2);

void console_overview(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        char limit[24], idle[24];

        snprintf(limit, sizeof(limit), "%" PRId64, b->cfg->heartbeat_timeout_s);
        snprintf(idle, sizeof(idle), "%" PRId64, b->cfg->idle_timeout_s);
        const char *params[] = { limit, idle };
        int r = db_exec(b->db, &overview_stmt, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "build the overview", r, err);
                return;
        }
        /* Already JSON: pass PostgreSQL's text through untouched. */
        http_respond_bytes(resp, 200, "application/json", PQgetvalue(res, 0, 0),
                           (size_t)PQgetlength(res, 0, 0));
        PQclear(res);
}

/* ---- logins ---- */

/* Recent sign-ins and launches, one row per request with its phases in
 * milliseconds, newest first: who ($1, any case; NULL = everyone), how
 * many ($2), how far back ($3 s). */
DB_STMT(logins_stmt,
        "SELECT request_id, min(at) AS at, max(user_name) AS user_name,"
        "  CASE WHEN bool_or(phase = 'launch_total') THEN 'launch' ELSE 'login' END AS kind,"
        "  round(max(duration_us) FILTER (WHERE phase LIKE '%\\_total') / 1000.0, 1)::float8"
        "    AS total_ms,"
        "  coalesce(json_object_agg(phase, round(duration_us / 1000.0, 1)::float8"
        "    ORDER BY id) FILTER (WHERE phase NOT LIKE '%\\_total'), '{}') AS phases"
        " FROM login_timings"
        " WHERE at > now() - make_interval(secs => $3::integer)"
        "   AND ($1::text IS NULL OR lower(user_name) = lower($1))"
        " GROUP BY request_id ORDER BY min(at) DESC LIMIT $2::integer",
        3);

static bool query_int(const struct http_request *req, const char *key, long min, long max,
                      long def, char out[24], struct http_response *resp)
{
        const char *v = http_query(req, key);
        long n = def;
        if (v) {
                char *end = NULL;
                n = strtol(v, &end, 10);
                if (!*v || !end || *end || n < min || n > max) {
                        http_respond_error(resp, 400, "bad_query",
                                           "%s must be a number from %ld to %ld", key, min, max);
                        return false;
                }
        }
        snprintf(out, 24, "%ld", n);
        return true;
}

/* GET /api/v1/admin/logins?user=&limit=&window_s=: per-request phase
 * timings, for "why was alice's sign-in slow at 08:31?". */
void console_logins(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        const char *user = http_query(req, "user");
        char limit[24], window[24];
        if (!query_int(req, "limit", 1, 1000, 100, limit, resp) ||
            !query_int(req, "window_s", 60, 31 * 86400, 86400, window, resp))
                return;
        const char *params[] = { user && *user ? user : NULL, limit, window };
        respond_rows(b, resp, &logins_stmt, params, "logins");
}

/* ---- pool refresh ---- */

/* Every live desktop of the pool without another pending request is
 * marked for the reconcile loop (pools/), which drops its overlay and
 * makes it again from the pool's image version. */
DB_STMT(pool_refresh_stmt,
        "WITH p AS (SELECT id FROM pools WHERE name = $1),"
        " m AS (UPDATE desktops d SET pending_action = 'refresh' FROM p"
        "   WHERE d.pool_id = p.id AND d.pending_action IS NULL"
        "     AND d.state IN ('ready', 'assigned', 'in_use', 'stopped', 'suspended', 'error')"
        "   RETURNING d.id)"
        " SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM m)",
        1);

void console_pool_refresh(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        const char *params[] = { req->params[0] };
        int r = db_exec(b->db, &pool_refresh_stmt, params, 0, &res, &err);
        if (r < 0) {
                api_db_error(resp, "mark the pool for refresh", r, err);
                return;
        }
        int64_t found = pg_i64(res, 0, 0), marked = pg_i64(res, 0, 1);
        PQclear(res);
        if (!found) {
                http_respond_error(resp, 404, "unknown_pool", "no pool \"%s\"", req->params[0]);
                return;
        }
        g_autofree char *detail = g_strdup_printf("%" PRId64 " desktops marked", marked);
        admin_audit(b, s, req, "pool.refresh", req->params[0], NULL, detail);
        http_respond_json(resp, 202, json_pack("{s:s, s:I}", "pool", req->params[0], "marked",
                                               (json_int_t)marked));
}

/* ---- operations through the desktop's host ---- */

DB_STMT(desktop_host_stmt,
        "SELECT d.name, p.name, h.name, h.address, h.port FROM desktops d"
        " JOIN pools p ON p.id = d.pool_id LEFT JOIN hosts h ON h.id = d.host_id"
        " WHERE d.id = $1::bigint",
        1);

/* The desktop's names and its host's endpoint (strings owned by *res,
 * which the caller clears). 0, or -errno with the answer in resp; the
 * names are set as soon as the desktop is known (for the audit). */
static int desktop_host_find(struct broker *b, const char *desktop_id, const char *verb,
                             PGresult **res, struct hostd_endpoint *ep, char **host_name,
                             char **desktop_name, char **pool_name, struct http_response *resp)
{
        g_autofree char *err = NULL;
        char *end = NULL;
        int r;

        g_ascii_strtoll(desktop_id, &end, 10);
        if (!*desktop_id || !end || *end) {
                http_respond_error(resp, 400, "bad_id", "desktop id \"%s\" is not a number",
                                   desktop_id);
                return -EINVAL;
        }
        const char *params[] = { desktop_id };
        r = db_exec(b->db, &desktop_host_stmt, params, DB_IDEMPOTENT, res, &err);
        if (r < 0) {
                api_db_error(resp, "look up the desktop's host", r, err);
                return r;
        }
        if (PQntuples(*res) != 1) {
                http_respond_error(resp, 404, "unknown_desktop", "no desktop with id %s",
                                   desktop_id);
                return -ENOENT;
        }
        *desktop_name = g_strdup(pg_str(*res, 0, 0));
        *pool_name = g_strdup(pg_str(*res, 0, 1));
        if (!pg_str(*res, 0, 2)) {
                http_respond_error(resp, 409, "no_host",
                                   "desktop %s is not on a host (it is being made or was "
                                   "deleted), so it cannot be %s",
                                   *desktop_name, verb);
                return -ENXIO;
        }
        *host_name = g_strdup(pg_str(*res, 0, 2));
        *ep = (struct hostd_endpoint){ .name = *host_name, .address = pg_str(*res, 0, 3),
                                       .port = (int)pg_i64(*res, 0, 4) };
        return 0;
}

/* Answer a failed call to the desktop's host (r from lib/hostd-client.h),
 * logged once here. */
static void host_call_failed(int r, const char *err, const char *action, const char *host,
                             const char *desktop, struct http_response *resp)
{
        g_autofree char *why = log_quote(err);
        log_error("desktop_action_failed", "desktop=%s action=%s host=%s error=%s", desktop,
                  action, host, why);
        if (r == -EHOSTUNREACH) {
                http_respond_error(resp, 503, "host_unreachable",
                                   "desktop host %s is not reachable; try again in a minute",
                                   host);
                http_add_header(resp, "Retry-After", "30");
        } else if (r == -ENOENT) {
                http_respond_error(resp, 404, "unknown_vm",
                                   "desktop host %s does not run desktop %s", host, desktop);
        } else {
                http_respond_error(resp, 502, "host_error", "%s", err);
        }
}

int desktop_host_action(struct broker *b, const char *desktop_id, const char *action,
                        char **host_name, char **desktop_name, char **pool_name,
                        struct http_response *resp)
{
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        struct hostd_endpoint ep;
        int r = desktop_host_find(b, desktop_id, action, &res, &ep, host_name, desktop_name,
                                  pool_name, resp);
        if (r == 0) {
                r = hostd_vm_action(b->hosts, &ep, desktop_id, action, &err);
                if (r < 0)
                        host_call_failed(r, err, action, *host_name, *desktop_name, resp);
        }
        PQclear(res);
        return r;
}

void audit_failed_request(struct broker *b, const struct broker_session *s,
                          const struct http_request *req, const char *action, const char *pool,
                          const char *desktop, const char *host,
                          const struct http_response *resp)
{
        g_autoptr(json_t) answer = json_loadb(resp->body ? resp->body : "", resp->body_len, 0,
                                              NULL);
        broker_audit(b, &(struct db_audit){
                                .actor = s->user_name, .action = action, .outcome = "failed",
                                .pool_name = pool, .desktop_name = desktop, .host_name = host,
                                .remote_addr = req->client_addr,
                                .detail = json_string_value(json_object_get(answer, "message")) });
}

/* Audit an admin's operation through a desktop's host that worked. */
static void audit_host_ok(struct broker *b, const struct broker_session *s,
                          const struct http_request *req, const char *action, const char *pool,
                          const char *desktop, const char *host)
{
        broker_audit(b, &(struct db_audit){ .actor = s->user_name, .action = action,
                                            .outcome = "ok", .pool_name = pool,
                                            .desktop_name = desktop, .host_name = host,
                                            .remote_addr = req->client_addr });
        log_info("admin_change", "actor=%s action=%s pool=%s desktop=%s host=%s", s->user_name,
                 action, pool, desktop, host);
}

/* An admin's operation on a desktop through its host (host_action:
 * "reset", "disconnect", "suspend", "start"), audited as desktop.ACTION
 * whether it worked or not. */
static void desktop_op(void *ctx, const struct http_request *req, struct http_response *resp,
                       const char *host_action, const char *action)
{
        ADMIN_ENTER(b, req, resp, s);
        g_autofree char *host = NULL, *desktop = NULL, *pool = NULL;
        g_autofree char *audit = g_strconcat("desktop.", action, NULL);
        int r = desktop_host_action(b, req->params[0], host_action, &host, &desktop, &pool, resp);
        if (r == 0) {
                audit_host_ok(b, s, req, audit, pool, desktop, host);
                http_respond_json(resp, 200, json_pack("{s:s, s:s, s:b}", "desktop", desktop,
                                                       "host", host, action, 1));
        } else if (desktop) {
                /* The attempt is audited too: who tried, and why it failed. */
                audit_failed_request(b, s, req, audit, pool, desktop, host, resp);
        }
}

void console_desktop_reset(void *ctx, const struct http_request *req, struct http_response *resp)
{
        desktop_op(ctx, req, resp, "reset", "reset");
}

/* POST /api/v1/admin/desktops/{id}/suspend: its host saves the running
 * desktop to disk and frees its memory; the user's client is dropped. The
 * desktop resumes where it stood when its user connects again, or on
 * .../resume. */
void console_desktop_suspend(void *ctx, const struct http_request *req, struct http_response *resp)
{
        desktop_op(ctx, req, resp, "suspend", "suspend");
}

void console_desktop_resume(void *ctx, const struct http_request *req, struct http_response *resp)
{
        desktop_op(ctx, req, resp, "start", "resume");
}

/* POST /api/v1/admin/desktops/{id}/disconnect: the user's display client
 * is dropped through the host (vdi-vm's control socket); the desktop keeps
 * running and stays assigned, so the user connects again from the portal. */
void console_desktop_disconnect(void *ctx, const struct http_request *req,
                                struct http_response *resp)
{
        desktop_op(ctx, req, resp, "disconnect", "disconnect");
}

/* POST /api/v1/admin/desktops/{id}/screenshot: a thumbnail of the
 * desktop's screen now (PNG, at most 480 x 360), taken through its host
 * from vdi-vm's control socket. A look at a user's screen: a change-class
 * request (CSRF token, fresh admin session), audited whether it worked or
 * not, never cached. */
void console_desktop_screenshot(void *ctx, const struct http_request *req,
                                struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        g_autofree char *host = NULL, *desktop = NULL, *pool = NULL, *err = NULL;
        g_autoptr(GBytes) png = NULL;
        PGresult *res = NULL;
        struct hostd_endpoint ep;
        int r = desktop_host_find(b, req->params[0], "shown", &res, &ep, &host, &desktop, &pool,
                                  resp);
        if (r == 0) {
                r = hostd_vm_screenshot(b->hosts, &ep, req->params[0], 480, 360, &png, &err);
                if (r < 0)
                        host_call_failed(r, err, "screenshot", host, desktop, resp);
        }
        PQclear(res);
        if (r < 0) {
                if (desktop)
                        audit_failed_request(b, s, req, "desktop.screenshot", pool, desktop,
                                             host, resp);
                return;
        }
        audit_host_ok(b, s, req, "desktop.screenshot", pool, desktop, host);
        gsize len;
        const void *data = g_bytes_get_data(png, &len);
        http_respond_bytes(resp, 200, "image/png", data, len);
        http_add_header(resp, "Cache-Control", "no-store");
}

/* ---- branding ---- */

/* GET /api/v1/portal: name, logo and help link from [portal], for the
 * sign-in page too (no session needed; nothing secret). */
void api_portal_branding(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        const struct broker_config *c = b->cfg;
        g_autofree char *logo = *c->portal_logo ? g_strdup_printf("/portal/%s", c->portal_logo)
                                                : NULL;
        http_respond_json(resp, 200,
                          json_pack("{s:s, s:s?, s:s?}", "name", c->portal_name, "logo", logo,
                                    "help_url", *c->portal_help_url ? c->portal_help_url : NULL));
}
