/* Append-mostly rows: one-time tickets, the audit trail, login timings. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sql/db-internal.h"

DB_STMT(ticket_create,
        "INSERT INTO tickets (token_hash, desktop_id, user_name, protocol, expires_at,"
        "  display_host, display_port)"
        " VALUES ($1, $2::bigint, $3, $4, now() + make_interval(secs => $5::integer), $6,"
        "  $7::integer)",
        7);
/* Check and use in one statement: two concurrent uses cannot both win. */
DB_STMT(ticket_consume,
        "UPDATE tickets SET used_at = now()"
        " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()"
        " RETURNING desktop_id, user_name",
        1);
/* As ticket_consume, and only a web ticket of this user. */
DB_STMT(ticket_redeem_web,
        "UPDATE tickets SET used_at = now()"
        " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()"
        "  AND protocol = 'web' AND user_name = $2"
        " RETURNING display_host, display_port, desktop_id",
        2);
DB_STMT(audit_add,
        "INSERT INTO audit_events (actor, action, outcome, pool_name, desktop_name, host_name,"
        " remote_addr, detail) VALUES (coalesce($1, ''), $2, coalesce($3, 'ok'), $4, $5, $6,"
        " $7::inet, coalesce($8, ''))",
        8);
DB_STMT(timing_add,
        "INSERT INTO login_timings (request_id, user_name, phase, duration_us)"
        " VALUES (coalesce($1, ''), coalesce($2, ''), $3, $4::bigint)",
        4);

int db_ticket_create(struct db *db, const char *token_hash, int64_t desktop_id,
                     const char *user_name, const char *protocol, int ttl_s,
                     const char *display_host, int display_port, char **error)
{
        char d[24], t[16], p[16];
        snprintf(d, sizeof(d), "%" PRId64, desktop_id);
        snprintf(t, sizeof(t), "%d", ttl_s);
        snprintf(p, sizeof(p), "%d", display_port);
        const char *params[] = { token_hash, d, user_name, protocol, t, display_host,
                                 display_host ? p : NULL };
        if (ttl_s <= 0) {
                db_set_error(error, "ticket: lifetime must be positive");
                return -EINVAL;
        }
        return db_exec(db, &ticket_create, params, 0, NULL, error);
}

int db_ticket_consume(struct db *db, const char *token_hash, int64_t *desktop_id,
                      char **user_name, char **error)
{
        const char *params[] = { token_hash };
        PGresult *res = NULL;
        int r;

        /* Not DB_IDEMPOTENT: had the first attempt used the ticket, a retry
         * would call it unknown. Failing on a lost connection is safer. */
        r = db_exec(db, &ticket_consume, params, 0, &res, error);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                db_set_error(error, "ticket unknown, already used or expired");
                return -ENOENT;
        }
        char *u = strdup(PQgetvalue(res, 0, 1));
        if (!u) {
                PQclear(res);
                return -ENOMEM;
        }
        if (desktop_id)
                *desktop_id = db_value_i64(res, 0, 0);
        if (user_name)
                *user_name = u;
        else
                free(u);
        PQclear(res);
        return 0;
}

int db_ticket_redeem_web(struct db *db, const char *token_hash, const char *user_name,
                         struct db_web_route *route, char **error)
{
        const char *params[] = { token_hash, user_name };
        PGresult *res = NULL;
        int r;

        /* Not DB_IDEMPOTENT, as db_ticket_consume. */
        r = db_exec(db, &ticket_redeem_web, params, 0, &res, error);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                db_set_error(error, "web ticket unknown, already used, expired or not yours");
                return -ENOENT;
        }
        route->host = strdup(PQgetvalue(res, 0, 0));
        route->port = (int)db_value_i64(res, 0, 1);
        route->desktop_id = db_value_i64(res, 0, 2);
        PQclear(res);
        return route->host ? 0 : -ENOMEM;
}

void db_web_route_clear(struct db_web_route *route)
{
        free(route->host);
        route->host = NULL;
}

int db_audit_add(struct db *db, const struct db_audit *ev, char **error)
{
        const char *params[] = { ev->actor,        ev->action,    ev->outcome,
                                 ev->pool_name,    ev->desktop_name, ev->host_name,
                                 ev->remote_addr,  ev->detail };
        return db_exec(db, &audit_add, params, 0, NULL, error);
}

int db_login_timing_add(struct db *db, const char *request_id, const char *user_name,
                        const char *phase, int64_t duration_us, char **error)
{
        char d[24];
        snprintf(d, sizeof(d), "%" PRId64, duration_us);
        const char *params[] = { request_id, user_name, phase, d };
        return db_exec(db, &timing_add, params, 0, NULL, error);
}
