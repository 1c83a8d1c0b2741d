/* A user's own things from the portal (issue 24): their desktop, which
 * they may restart (a reset through its host) or log off (a refresh by
 * the reconcile loop, which also releases a floating desktop) where the
 * pool's user_actions allow it, and their sessions: portal sign-ins (any
 * of which they may end) and desktop connections. Changes need the
 * session's CSRF token and are audited, failures too. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "broker/internal.h"
#include "log.h"

/* The user's live desktop in the pool named by id or name, and whether
 * the pool lets users do $3 to it. */
DB_STMT(self_desktop,
        "SELECT d.id, d.name, p.name, $3 = ANY (p.user_actions)"
        " FROM pools p JOIN assignments a ON a.pool_id = p.id AND a.released_at IS NULL"
        " JOIN desktops d ON d.id = a.desktop_id"
        " WHERE (p.id::text = $1 OR p.name = $1) AND a.user_name = $2",
        3);
DB_STMT(self_logoff,
        "UPDATE desktops SET pending_action = 'refresh' WHERE id = $1::bigint"
        " AND (pending_action IS NULL OR pending_action = 'refresh') RETURNING id",
        1);

static void self_action(void *ctx, const struct http_request *req, struct http_response *resp,
                        const char *action)
{
        struct broker *b = ctx;
        _cleanup_(broker_session_freep) struct broker_session *s = api_session(b, req, resp, true);
        g_autofree char *err = NULL, *id = NULL, *desktop = NULL, *pool = NULL, *host = NULL;
        g_autofree char *audit_action = g_strdup_printf("desktop.user_%s", action);
        PGresult *res = NULL;
        bool allowed;
        int r;

        if (!s)
                return;
        const char *params[] = { req->params[0], s->user_name, action };
        r = db_exec(b->db, &self_desktop, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "look up your desktop", r, err);
                return;
        }
        if (PQntuples(res) != 1) {
                PQclear(res);
                http_respond_error(resp, 404, "no_desktop",
                                   "you have no desktop in pool %s (connect first)",
                                   req->params[0]);
                return;
        }
        id = g_strdup(pg_str(res, 0, 0));
        desktop = g_strdup(pg_str(res, 0, 1));
        pool = g_strdup(pg_str(res, 0, 2));
        allowed = pg_bool(res, 0, 3);
        PQclear(res);
        if (!allowed) {
                http_respond_error(resp, 403, "not_allowed",
                                   "pool %s does not let users %s their desktop; ask your "
                                   "administrator",
                                   pool, !strcmp(action, "logoff") ? "log off" : action);
                audit_failed_request(b, s, req, audit_action, pool, desktop, NULL, resp);
                return;
        }
        if (!strcmp(action, "restart")) {
                g_autofree char *d2 = NULL, *p2 = NULL;
                r = desktop_host_action(b, id, "reset", &host, &d2, &p2, resp);
        } else {
                const char *p1[] = { id };
                r = db_exec(b->db, &self_logoff, p1, DB_IDEMPOTENT, &res, &err);
                if (r < 0) {
                        api_db_error(resp, "mark your desktop for log off", r, err);
                } else if (PQntuples(res) != 1) {
                        http_respond_error(resp, 409, "busy",
                                           "desktop %s is already being changed; try again in a "
                                           "minute",
                                           desktop);
                        r = -EBUSY;
                }
                PQclear(res);
        }
        if (r < 0) {
                audit_failed_request(b, s, req, audit_action, pool, desktop, host, resp);
                return;
        }
        broker_audit(b, &(struct db_audit){ .actor = s->user_name, .action = audit_action,
                                            .pool_name = pool, .desktop_name = desktop,
                                            .host_name = host, .remote_addr = req->client_addr });
        log_info("user_desktop_action", "user=%s action=%s desktop=%s", s->user_name, action,
                 desktop);
        http_respond_json(resp, 202, json_pack("{s:s, s:s, s:s}", "desktop", desktop, "pool",
                                               pool, "action", action));
}

void api_self_restart(void *ctx, const struct http_request *req, struct http_response *resp)
{
        self_action(ctx, req, resp, "restart");
}

void api_self_logoff(void *ctx, const struct http_request *req, struct http_response *resp)
{
        self_action(ctx, req, resp, "logoff");
}

/* ---- the user's sessions ---- */

DB_STMT(self_sessions,
        "SELECT json_build_object("
        " 'portal', coalesce((SELECT json_agg(json_build_object('id', s.id,"
        "   'remote_addr', host(s.remote_addr), 'created_at', s.created_at,"
        "   'last_seen_at', s.last_seen_at, 'current', s.id = $2::bigint)"
        "   ORDER BY s.last_seen_at DESC) FROM portal_sessions s"
        "   WHERE s.user_name = $1 AND s.expires_at > now()"
        "     AND s.last_seen_at > now() - make_interval(secs => $3::integer)), '[]'),"
        " 'desktops', coalesce((SELECT json_agg(json_build_object('desktop', d.name,"
        "   'pool', coalesce(nullif(p.display_name, ''), p.name), 'protocol', ds.protocol,"
        "   'client_addr', host(ds.client_addr), 'connected_at', ds.connected_at)"
        "   ORDER BY ds.connected_at DESC) FROM desktop_sessions ds"
        "   JOIN desktops d ON d.id = ds.desktop_id JOIN pools p ON p.id = d.pool_id"
        "   WHERE ds.user_name = $1 AND ds.disconnected_at IS NULL), '[]'))",
        3);
DB_STMT(self_session_end,
        "DELETE FROM portal_sessions WHERE id = $1::bigint AND user_name = $2 RETURNING id", 2);

/* GET /api/v1/me/sessions: {portal: [...], desktops: [...]}. */
void api_self_sessions(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        _cleanup_(broker_session_freep) struct broker_session *s =
                api_session(b, req, resp, false);
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        char id[24], idle[24];

        if (!s)
                return;
        snprintf(id, sizeof(id), "%" PRId64, s->id);
        snprintf(idle, sizeof(idle), "%" PRId64, b->cfg->idle_timeout_s);
        const char *params[] = { s->user_name, id, idle };
        int r = db_exec(b->db, &self_sessions, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "list your sessions", r, err);
                return;
        }
        http_respond_bytes(resp, 200, "application/json", PQgetvalue(res, 0, 0),
                           (size_t)PQgetlength(res, 0, 0));
        PQclear(res);
}

/* DELETE /api/v1/me/sessions/{id}: sign out one of the user's own
 * portal sessions (another browser); 404 for anyone else's. */
void api_self_session_end(void *ctx, const struct http_request *req,
                          struct http_response *resp)
{
        struct broker *b = ctx;
        _cleanup_(broker_session_freep) struct broker_session *s = api_session(b, req, resp, true);
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        char *end = NULL;

        if (!s)
                return;
        g_ascii_strtoll(req->params[0], &end, 10);
        if (!*req->params[0] || !end || *end) {
                http_respond_error(resp, 400, "bad_id", "session id \"%s\" is not a number",
                                   req->params[0]);
                return;
        }
        const char *params[] = { req->params[0], s->user_name };
        int r = db_exec(b->db, &self_session_end, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "end the session", r, err);
                return;
        }
        int n = PQntuples(res);
        PQclear(res);
        if (n != 1) {
                http_respond_error(resp, 404, "unknown_session",
                                   "you have no session with id %s", req->params[0]);
                return;
        }
        broker_audit(b, &(struct db_audit){ .actor = s->user_name, .action = "session.end",
                                            .remote_addr = req->client_addr,
                                            .detail = "own session" });
        http_respond_bytes(resp, 204, NULL, "", 0);
}
