/* Portal sessions in PostgreSQL (DESIGN.md §8). The cookie carries a
 * random 192-bit token; the table keeps only its SHA-256. The CSRF token
 * is derived from the session token (SHA-256 of "csrf:" + token): as
 * secret and as random as the session itself, unique per session, and
 * recomputable, so GET /api/v1/me can hand it to a reloaded portal page
 * although only hashes are stored, and a request without the right token
 * is refused before the database is touched. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "broker/internal.h"
#include "log.h"
#include "token.h"

/* One round trip and one commit per sign-in: tidy the user's dead
 * sessions, clear the account's failed sign-ins (throttling), store the
 * sign-in's phase timings and its audit row, insert the new session; and
 * read the user's desktops for the answer, so the portal needs no second
 * request (the list's snapshot is the statement's: the new session row
 * is not in it, and nothing in the list depends on it). */
DB_STMT(session_insert,
        "WITH pruned AS (DELETE FROM portal_sessions WHERE user_name = $3"
        "   AND (expires_at <= now() OR"
        "        last_seen_at <= now() - make_interval(secs => $12::integer))),"
        " cleared AS (DELETE FROM login_failures WHERE account = $13),"
        " timed AS (INSERT INTO login_timings (request_id, user_name, phase, duration_us)"
        "   SELECT $14, $3, p, d FROM unnest($15::text[], $16::bigint[]) AS t(p, d)),"
        " audited AS (INSERT INTO audit_events (actor, action, remote_addr, detail)"
        "   VALUES ($3, 'login', $10::inet, $17)),"
        " created AS (INSERT INTO portal_sessions (token_hash, csrf_hash, user_name, user_dn,"
        "   display_name, email, backend, is_admin, groups, remote_addr, expires_at)"
        "   VALUES ($1, $2, $3, $4, $5, $6, $7, $8::boolean,"
        "    ARRAY(SELECT lower(g) FROM json_array_elements_text($9::json) AS g),"
        "    $10::inet, now() + make_interval(secs => $11::integer)))"
        " " DESKTOPS_LIST_SQL("$3",
                              "SELECT lower(g) FROM json_array_elements_text($9::json) AS g"),
        17);
/* The live session for a token hash. last_seen_at is written only when
 * it is over SESSION_TOUCH_S old: the requests right after a sign-in (or
 * any burst) are then read-only transactions, with no commit to flush,
 * and the idle timeout is exact to within that many seconds. */
#define SESSION_TOUCH_S "15"
DB_STMT(session_touch,
        "WITH s AS (SELECT id, user_name, user_dn, display_name, email, backend, is_admin,"
        "   groups, last_seen_at, created_at FROM portal_sessions"
        "   WHERE token_hash = $1 AND expires_at > now()"
        "     AND last_seen_at > now() - make_interval(secs => $2::integer)),"
        " touched AS (UPDATE portal_sessions p SET last_seen_at = now() FROM s"
        "   WHERE p.id = s.id AND s.last_seen_at < now() - interval '" SESSION_TOUCH_S " s')"
        " SELECT id, user_name, user_dn, display_name, email, backend, is_admin,"
        "   array_to_json(groups), floor(extract(epoch FROM now() - created_at))::bigint FROM s",
        2);
DB_STMT(session_del, "DELETE FROM portal_sessions WHERE token_hash = $1", 1);

void broker_session_free(struct broker_session *s)
{
        if (!s)
                return;
        g_free(s->user_name);
        g_free(s->user_dn);
        g_free(s->display_name);
        g_free(s->email);
        g_free(s->backend);
        json_decref(s->groups);
        g_free(s->csrf);
        g_free(s);
}

char *session_csrf_for(const char *token)
{
        g_autofree char *material = g_strconcat("csrf:", token, NULL);
        char *out = NULL;
        if (token_hash(material, &out) < 0)
                return NULL;
        return out;
}

int session_create(struct broker *b, const struct auth_identity *id, bool is_admin,
                   const char *remote_addr, const char *throttle_account,
                   const struct broker_timer *t, char **token_out, char **csrf_out,
                   PGresult **desktops, char **error)
{
        g_autofree char *request_id = NULL, *phases = NULL, *us = NULL;
        g_autofree char *token = NULL, *hash = NULL, *csrf = NULL, *csrf_hash = NULL;
        g_autofree char *groups = NULL;
        char ttl[24], idle[24];
        json_t *g = json_array();
        int r;

        for (size_t i = 0; i < id->n_groups; i++)
                json_array_append_new(g, json_string(id->groups[i]));
        groups = json_dumps(g, JSON_COMPACT);
        json_decref(g);
        if ((r = token_new(TOKEN_DEFAULT_BYTES, &token)) < 0 ||
            (r = token_hash(token, &hash)) < 0 || !(csrf = session_csrf_for(token)) ||
            (r = token_hash(csrf, &csrf_hash)) < 0 || !groups) {
                *error = g_strdup("cannot make a session token");
                return r < 0 ? r : -ENOMEM;
        }
        token_new(TOKEN_MIN_BYTES, &request_id);
        broker_timings_arrays(b, t, &phases, &us);
        snprintf(ttl, sizeof(ttl), "%" PRId64, b->cfg->absolute_timeout_s);
        snprintf(idle, sizeof(idle), "%" PRId64, b->cfg->idle_timeout_s);
        const char *params[] = {
                hash, csrf_hash, id->login, id->dn, id->display_name ? id->display_name : "",
                id->email ? id->email : "", id->backend, is_admin ? "true" : "false", groups,
                remote_addr && strcmp(remote_addr, "unknown") ? remote_addr : NULL, ttl,
                idle, throttle_account, request_id ? request_id : "", phases, us,
                is_admin ? "admin" : "",
        };
        r = db_exec(b->db, &session_insert, params, 0, desktops, error);
        if (r < 0)
                return r;
        *token_out = g_steal_pointer(&token);
        *csrf_out = g_steal_pointer(&csrf);
        return 0;
}

int session_lookup(struct broker *b, const char *token, struct broker_session **out,
                   char **error)
{
        g_autofree char *hash = NULL;
        char idle[24];
        PGresult *res = NULL;
        int r;

        if (!token_is_wellformed(token, 16, 128))
                return -ENOENT;
        if (token_hash(token, &hash) < 0)
                return -ENOMEM;
        snprintf(idle, sizeof(idle), "%" PRId64, b->cfg->idle_timeout_s);
        const char *params[] = { hash, idle };
        r = db_exec(b->db, &session_touch, params, DB_IDEMPOTENT, &res, error);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return -ENOENT;
        }
        struct broker_session *s = g_new0(struct broker_session, 1);
        s->id = pg_i64(res, 0, 0);
        s->user_name = g_strdup(pg_str(res, 0, 1));
        s->user_dn = g_strdup(pg_str(res, 0, 2));
        s->display_name = g_strdup(pg_str(res, 0, 3));
        s->email = g_strdup(pg_str(res, 0, 4));
        s->backend = g_strdup(pg_str(res, 0, 5));
        s->is_admin = pg_bool(res, 0, 6);
        s->groups = pg_json(res, 0, 7);
        if (!json_is_array(s->groups)) {
                json_decref(s->groups);
                s->groups = json_array();
        }
        s->csrf = session_csrf_for(token);
        s->age_s = pg_i64(res, 0, 8);
        PQclear(res);
        *out = s;
        return 0;
}

int session_delete(struct broker *b, const char *token, char **error)
{
        g_autofree char *hash = NULL;
        if (token_hash(token, &hash) < 0)
                return -ENOMEM;
        const char *params[] = { hash };
        return db_exec(b->db, &session_del, params, DB_IDEMPOTENT, NULL, error);
}

struct broker_session *api_session(struct broker *b, const struct http_request *req,
                                   struct http_response *resp, bool csrf)
{
        const char *token = http_cookie(req, BROKER_SESSION_COOKIE);
        struct broker_session *s = NULL;
        g_autofree char *err = NULL;
        int r;

        if (!token || !*token) {
                http_respond_error(resp, 401, "not_signed_in", "you are not signed in");
                return NULL;
        }
        if (csrf) {
                const char *sent = http_header(req, "X-CSRF-Token");
                g_autofree char *expected = session_csrf_for(token);
                if (!sent || !expected || !token_equal(sent, expected)) {
                        http_respond_error(resp, 403, "csrf",
                                           "this request lacks the session's X-CSRF-Token "
                                           "header; reload the page and try again");
                        return NULL;
                }
        }
        r = session_lookup(b, token, &s, &err);
        if (r == -ENOENT) {
                http_respond_error(resp, 401, "not_signed_in",
                                   "your session has ended; please sign in again");
                return NULL;
        }
        if (r < 0) {
                api_db_error(resp, "look up the session", r, err);
                return NULL;
        }
        return s;
}

struct broker_session *api_admin_session(struct broker *b, const struct http_request *req,
                                         struct http_response *resp)
{
        bool change = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
        struct broker_session *s = api_session(b, req, resp, change);
        if (s && !s->is_admin) {
                /* Who knocked on an admin door is worth knowing. */
                g_autofree char *what = g_strdup_printf("%s %s", req->method, req->path);
                broker_audit(b, &(struct db_audit){ .actor = s->user_name,
                                                    .action = "admin.denied",
                                                    .outcome = "denied",
                                                    .remote_addr = req->client_addr,
                                                    .detail = what });
                http_respond_error(resp, 403, "not_admin",
                                   "user %s is not an administrator (admins are members of the "
                                   "groups in [admin] groups)",
                                   s->user_name);
                broker_session_free(s);
                return NULL;
        }
        if (s && change && s->age_s > b->cfg->admin_fresh_s) {
                g_autofree char *what = g_strdup_printf("%s %s", req->method, req->path);
                broker_audit(b, &(struct db_audit){ .actor = s->user_name,
                                                    .action = "admin.stale_session",
                                                    .outcome = "denied",
                                                    .remote_addr = req->client_addr,
                                                    .detail = what });
                http_respond_error(resp, 403, "stale_session",
                                   "%s signed in %" PRId64 " minutes ago; changes need a sign-in "
                                   "within the last %" PRId64 " minutes ([admin] fresh_s): sign "
                                   "out and in again",
                                   s->user_name, s->age_s / 60, b->cfg->admin_fresh_s / 60);
                broker_session_free(s);
                return NULL;
        }
        return s;
}
