/* User API: sign in, sign out, who am I, my desktops (portal contract in
 * broker/portal/app.js). */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "broker/internal.h"
#include "log.h"
#include "token.h"

/* Failures of this account and of this address inside the window, and
 * seconds until the oldest of each leaves it. */
DB_STMT(throttle_check,
        "WITH a AS (SELECT count(*) AS n, min(at) AS first FROM login_failures"
        "           WHERE account = $1 AND at > now() - make_interval(secs => $3::integer)),"
        "     r AS (SELECT count(*) AS n, min(at) AS first FROM login_failures"
        "           WHERE $2::inet IS NOT NULL AND remote_addr = $2::inet"
        "             AND at > now() - make_interval(secs => $3::integer))"
        " SELECT a.n, r.n,"
        "  ceil(extract(epoch FROM a.first + make_interval(secs => $3::integer) - now()))::bigint,"
        "  ceil(extract(epoch FROM r.first + make_interval(secs => $3::integer) - now()))::bigint"
        " FROM a, r",
        3);
DB_STMT(throttle_fail,
        "WITH pruned AS (DELETE FROM login_failures"
        "                WHERE at < now() - make_interval(secs => $3::integer) * 2)"
        " INSERT INTO login_failures (account, remote_addr) VALUES ($1, $2::inet)",
        3);

static const char *addr_or_null(const struct http_request *req)
{
        return strcmp(req->client_addr, "unknown") ? req->client_addr : NULL;
}

/* 0 when the attempt may go on; else the number of seconds to wait. */
static int64_t throttle_wait(struct broker *b, const char *account,
                             const struct http_request *req, int *r, char **err)
{
        char win[24];
        PGresult *res = NULL;
        int64_t wait = 0;

        snprintf(win, sizeof(win), "%" PRId64, b->cfg->throttle_window_s);
        const char *params[] = { account, addr_or_null(req), win };
        *r = db_exec(b->db, &throttle_check, params, DB_IDEMPOTENT, &res, err);
        if (*r < 0)
                return 0;
        if (pg_i64(res, 0, 0) >= b->cfg->account_failures)
                wait = MAX(wait, pg_i64(res, 0, 2));
        if (pg_i64(res, 0, 1) >= b->cfg->address_failures)
                wait = MAX(wait, pg_i64(res, 0, 3));
        if ((pg_i64(res, 0, 0) >= b->cfg->account_failures ||
             pg_i64(res, 0, 1) >= b->cfg->address_failures) &&
            wait < 1)
                wait = 1;
        PQclear(res);
        return wait;
}

static bool is_admin(struct broker *b, const struct auth_identity *id)
{
        if (!strcmp(id->backend, "local"))
                return true;
        for (size_t i = 0; b->admin_groups[i]; i++)
                for (size_t k = 0; k < id->n_groups; k++)
                        if (*b->admin_groups[i] &&
                            !g_ascii_strcasecmp(b->admin_groups[i], id->groups[k]))
                                return true;
        return false;
}

static json_t *user_json(const char *login, const char *display, const char *email, bool admin)
{
        return json_pack("{s:s, s:s, s:s, s:b}", "login", login, "display_name",
                         display ? display : "", "email", email ? email : "", "admin", admin);
}

static void set_session_cookie(struct http_response *resp, const char *token, int64_t max_age)
{
        g_autofree char *c = g_strdup_printf("%s=%s; Path=/; Max-Age=%" PRId64
                                             "; Secure; HttpOnly; SameSite=Strict",
                                             BROKER_SESSION_COOKIE, token, max_age);
        http_add_header(resp, "Set-Cookie", c);
}

void api_login(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        g_autoptr(json_t) body = NULL;
        _cleanup_(auth_identity_freep) struct auth_identity *id = NULL;
        g_autofree char *err = NULL, *account = NULL, *token = NULL, *csrf = NULL;
        g_autofree char *quoted = NULL;
        const char *user = NULL, *password = NULL;
        static const char *const fields[] = { "username", "password", NULL };
        struct broker_timer t;
        int64_t wait;
        int r;

        broker_timer_start(&t);
        body = http_json_body(req, resp);
        if (!body || !api_only_fields(body, fields, resp) ||
            !api_field_string(body, "username", true, &user, resp) ||
            !api_field_string(body, "password", true, &password, resp)) {
                broker_metrics_login_failed(&b->metrics, LOGIN_FAIL_BAD_REQUEST);
                return;
        }
        /* Throttle by the name as typed, folded, so "Alice" and "alice"
         * share a counter; capped so a huge name cannot bloat the table. */
        account = g_utf8_casefold(user, (gssize)MIN(strlen(user), AUTH_MAX_LOGIN));
        if (!account)
                account = g_strdup("");
        /* Typed by anyone: quoted so it cannot add fields to a log line. */
        quoted = log_quote(account);
        wait = throttle_wait(b, account, req, &r, &err);
        broker_timer_mark(&t, PHASE_THROTTLE);
        if (r < 0) {
                broker_metrics_login_failed(&b->metrics, LOGIN_FAIL_INTERNAL);
                api_db_error(resp, "check sign-in throttling", r, err);
                return;
        }
        if (wait > 0) {
                char ra[24];
                snprintf(ra, sizeof(ra), "%" PRId64, wait);
                broker_metrics_login_failed(&b->metrics, LOGIN_FAIL_THROTTLED);
                log_notice("login_throttled", "account=%s client=%s retry_after=%s", quoted,
                           req->client_addr, ra);
                broker_audit(b, &(struct db_audit){ .actor = account, .action = "login",
                                                    .outcome = "denied",
                                                    .remote_addr = req->client_addr,
                                                    .detail = "throttled" });
                http_respond_error(resp, 429, "throttled",
                                   "too many failed sign-ins; try again in %s seconds", ra);
                http_add_header(resp, "Retry-After", ra);
                return;
        }

        struct auth_credentials cred = AUTH_CREDENTIALS(user, password);
        if (b->local && !strcmp(user, b->cfg->local.user))
                r = auth_local_backend.authenticate(b->local, &cred, &id, &err);
        else
                r = auth_ldap_backend.authenticate(b->ldap, &cred, &id, &err);
        broker_timer_mark(&t, PHASE_LDAP);
        if (r == -EACCES) {
                char win[24];
                snprintf(win, sizeof(win), "%" PRId64, b->cfg->throttle_window_s);
                const char *params[] = { account, addr_or_null(req), win };
                g_autofree char *err2 = NULL;
                if (db_exec(b->db, &throttle_fail, params, 0, NULL, &err2) < 0)
                        log_warning("login_failure_not_counted", "error=\"%s\"", err2);
                broker_metrics_login_failed(&b->metrics, LOGIN_FAIL_CREDENTIALS);
                log_notice("login_failed", "account=%s client=%s reason=invalid_credentials",
                           quoted, req->client_addr);
                broker_audit(b, &(struct db_audit){ .actor = account, .action = "login",
                                                    .outcome = "denied",
                                                    .remote_addr = req->client_addr,
                                                    .detail = "invalid credentials" });
                http_respond_error(resp, 401, "invalid_credentials", AUTH_INVALID_CREDENTIALS);
                return;
        }
        if (r < 0) {
                broker_metrics_login_failed(&b->metrics, LOGIN_FAIL_DIRECTORY);
                log_error("directory_unavailable", "error=\"%s\"", err);
                http_respond_error(resp, 503, "directory_unavailable",
                                   "the directory server cannot be reached; try again in a "
                                   "minute or tell your administrator");
                http_add_header(resp, "Retry-After", "30");
                return;
        }

        bool admin = is_admin(b, id);
        /* A new session id at every sign-in; the one this browser held
         * before (if any) ends, so an id planted earlier is worthless. */
        const char *old = http_cookie(req, BROKER_SESSION_COOKIE);
        if (old && token_is_wellformed(old, 16, 128))
                (void)session_delete(b, old, NULL);
        /* The session row carries this sign-in's timings so far (throttle,
         * ldap) and its audit row: one commit, whose statement also reads
         * the user's desktops for the answer. The session write and the
         * total are known only after it: /metrics histograms only. */
        PGresult *desktops = NULL;
        r = session_create(b, id, admin, req->client_addr, account, &t, &token, &csrf,
                           &desktops, &err);
        if (r < 0) {
                broker_metrics_login_failed(&b->metrics, LOGIN_FAIL_INTERNAL);
                api_db_error(resp, "create a session", r, err);
                return;
        }
        broker_timer_mark(&t, PHASE_SESSION);
        t.us[PHASE_TOTAL_LOGIN] = broker_now_us() - t.start_us;
        broker_metrics_phase(&b->metrics, PHASE_SESSION, t.us[PHASE_SESSION]);
        broker_metrics_phase(&b->metrics, PHASE_TOTAL_LOGIN, t.us[PHASE_TOTAL_LOGIN]);
        broker_metrics_login_ok(&b->metrics);
        log_info("login", "user=%s backend=%s admin=%s client=%s groups=%zu ms=%.1f", id->login,
                 id->backend, admin ? "yes" : "no", req->client_addr, id->n_groups,
                 (double)t.us[PHASE_TOTAL_LOGIN] / 1e3);
        set_session_cookie(resp, token, b->cfg->absolute_timeout_s);
        json_t *list = desktops_json(desktops);
        PQclear(desktops);
        http_respond_json(resp, 200,
                          json_pack("{s:o, s:s, s:o}", "user",
                                    user_json(id->login, id->display_name, id->email, admin),
                                    "csrf_token", csrf, "desktops", list));
}

void api_logout(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        _cleanup_(broker_session_freep) struct broker_session *s = api_session(b, req, resp, true);
        g_autofree char *err = NULL;

        if (!s)
                return;
        int r = session_delete(b, http_cookie(req, BROKER_SESSION_COOKIE), &err);
        if (r < 0) {
                api_db_error(resp, "end the session", r, err);
                return;
        }
        log_info("logout", "user=%s client=%s", s->user_name, req->client_addr);
        broker_audit(b, &(struct db_audit){ .actor = s->user_name, .action = "logout",
                                            .remote_addr = req->client_addr });
        http_respond_bytes(resp, 204, NULL, "", 0);
        http_add_header(resp, "Set-Cookie",
                        BROKER_SESSION_COOKIE "=; Path=/; Max-Age=0; Secure; HttpOnly; "
                                              "SameSite=Strict");
}

void api_me(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        _cleanup_(broker_session_freep) struct broker_session *s =
                api_session(b, req, resp, false);

        if (!s)
                return;
        http_respond_json(resp, 200,
                          json_pack("{s:o, s:s}", "user",
                                    user_json(s->user_name, s->display_name, s->email,
                                              s->is_admin),
                                    "csrf_token", s->csrf));
}

DB_STMT(desktops_list,
        DESKTOPS_LIST_SQL("$1", "SELECT json_array_elements_text($2::json)"), 2);

static const char *portal_state(const char *mine, bool ready, bool provisioning)
{
        if (mine) {
                if (!strcmp(mine, "assigned"))
                        return "assigned";
                if (!strcmp(mine, "in_use"))
                        return "connected";
                if (!strcmp(mine, "stopped") || !strcmp(mine, "suspended"))
                        return mine;
                if (!strcmp(mine, "provisioning") || !strcmp(mine, "refreshing"))
                        return "starting";
                return "unavailable";
        }
        if (ready)
                return "ready";
        return provisioning ? "provisioning" : "unavailable";
}

json_t *desktops_json(const PGresult *res)
{
        json_t *list = json_array();

        for (int i = 0; i < PQntuples(res); i++)
                json_array_append_new(
                        list,
                        json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:s}", "pool_id",
                                  (json_int_t)pg_i64(res, i, 0), "name", pg_str(res, i, 1),
                                  "pool_name", pg_str(res, i, 2), "description",
                                  pg_str(res, i, 3), "protocols", pg_json(res, i, 4), "state",
                                  portal_state(pg_str(res, i, 5), pg_bool(res, i, 6),
                                               pg_bool(res, i, 7)),
                                  "kind", pg_str(res, i, 8)));
        /* What the user may do to their own desktop: only with one. */
        for (int i = 0; i < PQntuples(res); i++) {
                json_t *d = json_array_get(list, (size_t)i);
                bool mine = pg_str(res, i, 9) != NULL;
                json_object_set_new(d, "desktop", mine ? json_string(pg_str(res, i, 9))
                                                       : json_null());
                json_object_set_new(d, "actions", mine ? pg_json(res, i, 10) : json_array());
        }
        return list;
}

void api_desktops(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        _cleanup_(broker_session_freep) struct broker_session *s =
                api_session(b, req, resp, false);
        g_autofree char *err = NULL, *groups = NULL;
        PGresult *res = NULL;
        json_t *list;
        int r;

        if (!s)
                return;
        groups = json_dumps(s->groups, JSON_COMPACT);
        const char *params[] = { s->user_name, groups };
        r = db_exec(b->db, &desktops_list, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "list desktops", r, err);
                return;
        }
        list = desktops_json(res);
        PQclear(res);
        http_respond_json(resp, 200, json_pack("{s:o}", "desktops", list));
}
