/* Shared by the broker's source files (not a public interface): the
 * signed-in user, request helpers and the handlers the route table names. */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/broker.h"
#include "reconnect.h"

/* A portal session, read from portal_sessions. */
struct broker_session {
        int64_t id;
        char *user_name;
        char *user_dn; /* NULL for the local admin */
        char *display_name;
        char *email;
        char *backend;
        bool is_admin;
        json_t *groups; /* JSON array of lowercased group DNs/names */
        char *csrf;     /* the session's CSRF token (derived, see session.c) */
        int64_t age_s;  /* seconds since sign-in */
};

void broker_session_free(struct broker_session *s);
static inline void broker_session_freep(struct broker_session **s)
{
        broker_session_free(*s);
}

/* The pools user U may use (SQL text of a parameter, e.g. "$1") given a
 * subquery G yielding the user's lowercased groups, with what the portal
 * shows as state: the user's own desktop first, else whether one is
 * ready. Columns as desktops_json() reads them. Shared by GET
 * /api/v1/desktops and the sign-in, whose answer carries the list. */
#define DESKTOPS_LIST_SQL(U, G)                                                              \
        "SELECT p.id, p.name, coalesce(nullif(p.display_name, ''), p.name), p.description,"  \
        "  array_to_json(p.protocols),"                                                      \
        "  (SELECT d.state FROM assignments a JOIN desktops d ON d.id = a.desktop_id"        \
        "   WHERE a.pool_id = p.id AND a.user_name = " U " AND a.released_at IS NULL),"       \
        "  EXISTS (SELECT 1 FROM desktops d WHERE d.pool_id = p.id AND d.state = 'ready'),"  \
        "  EXISTS (SELECT 1 FROM desktops d WHERE d.pool_id = p.id"                          \
        "          AND d.state = 'provisioning'),"                                           \
        "  p.kind,"                                                                          \
        "  (SELECT d.name FROM assignments a JOIN desktops d ON d.id = a.desktop_id"         \
        "   WHERE a.pool_id = p.id AND a.user_name = " U " AND a.released_at IS NULL),"       \
        "  array_to_json(p.user_actions)"                                                    \
        " FROM pools p"                                                                      \
        " WHERE p.enabled AND EXISTS ("                                                      \
        "   SELECT 1 FROM pool_entitlements e WHERE e.pool_id = p.id AND"                    \
        "   ((e.kind = 'user' AND lower(e.subject) = lower(" U ")) OR"                        \
        "    (e.kind = 'group' AND lower(e.subject) IN (" G "))))"                            \
        " ORDER BY p.name"

/* api-user.c: the portal's desktop list from a DESKTOPS_LIST_SQL result. */
json_t *desktops_json(const PGresult *res);

/* session.c */
/* Create a session for id; store the new session token and CSRF token
 * (malloc'd) in *token and *csrf. In the same statement (one commit):
 * drops the user's dead sessions and the failed sign-ins counted against
 * throttle_account, stores t's finished phases in login_timings (and the
 * histograms) and the sign-in's audit row; its result, in *desktops
 * (PQclear it), is the user's DESKTOPS_LIST_SQL. */
int session_create(struct broker *b, const struct auth_identity *id, bool is_admin,
                   const char *remote_addr, const char *throttle_account,
                   const struct broker_timer *t, char **token, char **csrf,
                   PGresult **desktops, char **error);
/* The session for a cookie token, touching last_seen_at; -ENOENT when
 * unknown, idle too long or past its absolute lifetime. */
int session_lookup(struct broker *b, const char *token, struct broker_session **out,
                   char **error);
int session_delete(struct broker *b, const char *token, char **error);
/* The CSRF token that belongs to a session token. */
char *session_csrf_for(const char *token);

/* Answer 401/403 unless the request carries a live session (and, when
 * csrf is set, the session's X-CSRF-Token). On success returns the
 * session (caller frees); otherwise NULL with resp filled. The CSRF check
 * comes first and needs no database, so a refused request changes nothing. */
struct broker_session *api_session(struct broker *b, const struct http_request *req,
                                   struct http_response *resp, bool csrf);
/* Same, and 403 unless the user is an administrator; a change (any
 * method but GET/HEAD) also needs the CSRF token and a sign-in at most
 * [admin] fresh_s ago (403 stale_session). */
struct broker_session *api_admin_session(struct broker *b, const struct http_request *req,
                                         struct http_response *resp);

/* Start an admin handler: declares b (the broker) and s (the admin's
 * session), or returns with 401/403 (and CSRF checked for changes). */
#define ADMIN_ENTER(b, req, resp, s)                                                           \
        struct broker *b = ctx;                                                                 \
        _cleanup_(broker_session_freep) struct broker_session *s =                             \
                api_admin_session(b, req, resp);                                                \
        if (!s)                                                                                 \
        return

/* Run a listing and answer 200 {key: [rows]} (rows as pg_rows_array). */
void respond_rows(struct broker *b, struct http_response *resp, const struct db_stmt *st,
                  const char *const *params, const char *key);

/* Audit an admin's change (outcome ok) and log it. */
void admin_audit(struct broker *b, struct broker_session *s, const struct http_request *req,
                 const char *action, const char *pool, const char *desktop, const char *detail);

/* Log an unexpected failure and answer 500 without internals. */
void api_internal_error(struct http_response *resp, const char *event, const char *what,
                        const char *error);
/* Map a data-layer error to a response: timeouts and lost connections
 * are 503, everything else 500. */
void api_db_error(struct http_response *resp, const char *what, int r, const char *error);

/* Respond {"error": code, "message": ..., "field": field}: a validation
 * error about one field of the body, so a form can show it next to that
 * field (the portal's admin console does). */
void api_field_error(struct http_response *resp, unsigned status, const char *code,
                     const char *field, const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* Body field helpers: on a missing (when required) or mistyped field they
 * answer 400 naming the field and return false. */
bool api_field_string(json_t *body, const char *key, bool required, const char **out,
                      struct http_response *resp);
bool api_field_int(json_t *body, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *out, struct http_response *resp);
bool api_field_bool(json_t *body, const char *key, bool *out, struct http_response *resp);
/* Refuse keys not in allowed (NULL-terminated): a typo must not be ignored. */
bool api_only_fields(json_t *body, const char *const *allowed, struct http_response *resp);

/* libpq result helpers. */
int64_t pg_i64(const PGresult *res, int row, int col);
const char *pg_str(const PGresult *res, int row, int col); /* NULL for SQL NULL */
bool pg_bool(const PGresult *res, int row, int col);
/* Parse a json column (e.g. array_to_json(x)); json null for SQL NULL. */
json_t *pg_json(const PGresult *res, int row, int col);
/* Row as a JSON object: keys are column names; int8/int4 as integers,
 * bool as booleans, json columns parsed, other types as strings. */
json_t *pg_row_object(const PGresult *res, int row);
json_t *pg_rows_array(const PGresult *res);

/* t's finished phases as PostgreSQL array literals of names and
 * microseconds (malloc'd), for login_timings; each also goes to the
 * histograms. */
void broker_timings_arrays(struct broker *b, const struct broker_timer *t, char **phases,
                           char **us);
/* Store phase timings of one request in login_timings and the histograms. */
void broker_record_timings(struct broker *b, const char *request_id, const char *user,
                           const struct broker_timer *t);
/* Audit row; failures are logged, not returned (audit must not break a request). */
void broker_audit(struct broker *b, const struct db_audit *ev);

/* api-user.c */
void api_login(void *ctx, const struct http_request *req, struct http_response *resp);
void api_logout(void *ctx, const struct http_request *req, struct http_response *resp);
void api_me(void *ctx, const struct http_request *req, struct http_response *resp);
void api_desktops(void *ctx, const struct http_request *req, struct http_response *resp);
/* api-launch.c */
void api_launch(void *ctx, const struct http_request *req, struct http_response *resp);

/* What a launch or a reconnect answers: the connection file for ticket
 * and the JSON the portal reads. */
struct launch_answer {
        const char *protocol;
        const char *pool_name, *pool_title;
        int64_t desktop_id;
        const char *desktop_name;
        bool reconnected;
        const struct hostd_ticket *ticket;
        const char *reconnect_ticket; /* NULL without [reconnect] key */
};
/* Keep a ticket hashed (tickets table): the audit trail, and the pool
 * loop holds a floating desktop while it is good (pools/snapshot.c).
 * Failures are logged. */
void launch_record_ticket(struct broker *b, const struct hostd_ticket *t, int64_t desktop_id,
                          const char *user, const char *protocol, const char *desktop_name);
/* 0 with *out, or -errno with a message (the file cannot be written). */
int launch_answer_json(struct broker *b, const struct launch_answer *a, json_t **out,
                       char **error);
/* A reconnect ticket for c (issued now, [reconnect] lifetime_s, fresh
 * nonce), or NULL when reconnect tickets are off or signing failed (logged). */
char *launch_reconnect_ticket(struct broker *b, struct reconnect_claims *c);
/* api-reconnect.c */
void api_reconnect(void *ctx, const struct http_request *req, struct http_response *resp);
/* POST /api/v1/gateway/redeem (api-gateway.c): vdi-gateway redeems a web ticket. */
void api_gateway_redeem(void *ctx, const struct http_request *req, struct http_response *resp);
/* api-ops.c */
void api_healthz(void *ctx, const struct http_request *req, struct http_response *resp);
void api_metrics(void *ctx, const struct http_request *req, struct http_response *resp);
void api_portal_index(void *ctx, const struct http_request *req, struct http_response *resp);
void api_portal_asset(void *ctx, const struct http_request *req, struct http_response *resp);
/* Answer with one of the portal's files (404 when it is not there). */
void api_portal_file(struct broker *b, const char *name, struct http_response *resp);
/* api-console.c: the admin console's pages and endpoints (listed in
 * api_admin_routes) and the portal's public branding. */
void console_page(void *ctx, const struct http_request *req, struct http_response *resp);
void console_asset(void *ctx, const struct http_request *req, struct http_response *resp);
void console_overview(void *ctx, const struct http_request *req, struct http_response *resp);
void console_logins(void *ctx, const struct http_request *req, struct http_response *resp);
void console_pool_refresh(void *ctx, const struct http_request *req, struct http_response *resp);
void console_desktop_reset(void *ctx, const struct http_request *req, struct http_response *resp);
void console_desktop_suspend(void *ctx, const struct http_request *req, struct http_response *resp);
void console_desktop_resume(void *ctx, const struct http_request *req, struct http_response *resp);
void console_desktop_disconnect(void *ctx, const struct http_request *req,
                                struct http_response *resp);
void console_desktop_screenshot(void *ctx, const struct http_request *req,
                                struct http_response *resp);
void api_portal_branding(void *ctx, const struct http_request *req, struct http_response *resp);
/* Ask a desktop's host for a VM operation ("reset"): 0 with the host's
 * name in *host_name (malloc'd); else resp is filled (404 unknown desktop,
 * 409 not on a host, 503 host unreachable, 502 host error). */
int desktop_host_action(struct broker *b, const char *desktop_id, const char *action,
                        char **host_name, char **desktop_name, char **pool_name,
                        struct http_response *resp);
/* Audit a change that failed (outcome "failed"), with the message of the
 * error answer already in resp as the detail. */
void audit_failed_request(struct broker *b, const struct broker_session *s,
                          const struct http_request *req, const char *action, const char *pool,
                          const char *desktop, const char *host,
                          const struct http_response *resp);
/* api-self.c: a user's own desktop (restart, log off) from the portal. */
void api_self_restart(void *ctx, const struct http_request *req, struct http_response *resp);
void api_self_logoff(void *ctx, const struct http_request *req, struct http_response *resp);
void api_self_sessions(void *ctx, const struct http_request *req, struct http_response *resp);
void api_self_session_end(void *ctx, const struct http_request *req,
                          struct http_response *resp);
/* api-admin.c: the admin routes, appended to the route table. */
extern const struct http_route api_admin_routes[];
extern const size_t api_admin_routes_count;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)
