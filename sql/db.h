/* The PostgreSQL data layer: a thread-safe pool of libpq connections,
 * prepared statements with parameters only, bounded waits everywhere,
 * reconnect after a server restart, and transactions that retry on
 * serialization failures and deadlocks. See DESIGN.md §7.
 *
 * Errors: functions return 0 or a negative errno and, when error is not
 * NULL, store a malloc'd message in *error (free it):
 *   -ETIMEDOUT     connect, query or pool wait exceeded its limit
 *   -ECONNREFUSED  cannot connect (server down, bad address, bad password)
 *   -ECONNRESET    connection lost and the call was not safe to repeat
 *   -EAGAIN        serialization failure/deadlock persisted after retries
 *   -EEXIST        unique constraint violated          (SQLSTATE 23505)
 *   -ENOENT        foreign key violation / row missing (23503 or no row)
 *   -EINVAL        check or not-null constraint violated (23514, 23502, 22xxx)
 *   -EIO           any other server error
 * Messages never contain parameter values (they may be secrets). A call
 * that succeeds after a retry frees any message and leaves *error NULL. */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct db;
struct db_conn;

struct db_config {
        /* libpq connection string ("host=… dbname=…" or a postgresql:// URI). */
        const char *conninfo;
        /* Upper bound on open connections (default 8). */
        unsigned pool_size;
        /* Limit for establishing one connection, ms (default 5000). */
        unsigned connect_timeout_ms;
        /* Server-side statement_timeout, ms (default 10000). The client also
         * gives up on a call that has not answered 1 s after this, so a
         * stopped or unreachable server never hangs a request. */
        unsigned statement_timeout_ms;
        /* How long a call waits for a free pooled connection, ms (default 5000). */
        unsigned acquire_timeout_ms;
        /* application_name reported to the server (default "vdi"). */
        const char *application_name;
};

/* A statement prepared once per connection, on first use. Define them as
 * static const objects next to the code that uses them (DB_STMT); the
 * object's address identifies the prepared statement. */
struct db_stmt {
        const char *name; /* for messages */
        const char *sql;  /* with $1..$n placeholders */
        int nparams;
};
#define DB_STMT(id, text, n) static const struct db_stmt id = { .name = #id, .sql = (text), .nparams = (n) }

enum db_flags {
        /* Safe to run twice: after a lost connection the call is retried
         * once on a fresh connection even if the server may have seen it. */
        DB_IDEMPOTENT = 1 << 0,
};

/* Create a pool. No connection is made yet (daemons may start before the
 * database); use db_ping() to check. 0 or -errno. */
int db_open(const struct db_config *cfg, struct db **out, char **error);

/* Close every connection and free the pool. Accepts NULL. No connection
 * may be in use. */
void db_close(struct db *db);

/* While the server does not answer, new connections are re-dialled with
 * backoff (100 ms doubling to 3 s): calls in between fail at once with the
 * last connect error. Milliseconds until the next attempt, 0 when the
 * server answers (or the wait is over). For Retry-After. */
unsigned db_redial_wait_ms(struct db *db);

/* Run "SELECT 1" on a pooled connection. 0 or -errno. */
int db_ping(struct db *db, char **error);

/* Run one prepared statement in autocommit mode. params has stmt->nparams
 * entries (NULL entries are SQL NULL). On success *out (if non-NULL)
 * receives the result, which the caller frees with PQclear. A lost
 * connection is always retried once when nothing could have reached the
 * server, and also when it might have if flags has DB_IDEMPOTENT. */
int db_exec(struct db *db, const struct db_stmt *stmt, const char *const *params, unsigned flags,
            PGresult **out, char **error);

/* The body of a transaction. Called with BEGIN done; return 0 to commit or
 * a negative errno to roll back. It may be called again (after a
 * serialization failure, deadlock or lost connection), so it must not keep
 * side effects outside the database between calls. */
typedef int (*db_tx_fn)(struct db_conn *c, void *userdata, char **error);

enum db_isolation {
        DB_READ_COMMITTED,
        DB_REPEATABLE_READ,
        DB_SERIALIZABLE,
};

/* Run fn in a transaction, retrying the whole transaction (up to 8 times,
 * with a short random backoff) on SQLSTATE 40001/40P01 and on a lost
 * connection before COMMIT was sent. A connection lost during COMMIT is
 * retried only with DB_IDEMPOTENT. Returns fn's error, or 0 after commit. */
int db_transaction(struct db *db, enum db_isolation iso, unsigned flags, db_tx_fn fn,
                   void *userdata, char **error);

/* Run a prepared statement inside a transaction body. Same contract as
 * db_exec, without retries (db_transaction retries the whole body). */
int db_conn_exec(struct db_conn *c, const struct db_stmt *stmt, const char *const *params,
                 PGresult **out, char **error);

/* SQLSTATE of the last failed statement on c ("" when none). For bodies
 * that handle a specific error themselves. */
const char *db_conn_sqlstate(struct db_conn *c);

/* ---- Schema (db-migrate.c) ---- */

/* Highest migration this build knows. */
unsigned db_schema_known_version(void);

/* Read the schema version of the database (0 when never migrated). */
int db_schema_version(struct db *db, unsigned *out, char **error);

/* Bring the schema to db_schema_known_version(). Under a transaction-level
 * advisory lock, so concurrent callers (several brokers starting at once)
 * are safe: one applies, the others then see the new version.
 *   - newer than known: -EPROTO, "… is newer than this program knows …"
 *   - older and !allow_upgrade: -ESTALE, naming the versions and the fix
 *   - older and allow_upgrade: applies every missing migration in one
 *     transaction, recording each in schema_version.
 * Returns 0 when the schema is (now) current. */
int db_migrate(struct db *db, bool allow_upgrade, char **error);

/* ---- Desktops and assignments (db-desktop.c) ---- */

struct db_claim {
        int64_t assignment_id;
        int64_t desktop_id;
        int64_t host_id; /* 0 when the desktop has no host */
        char *desktop_name;
        bool existing; /* the user already held it; nothing new was claimed */
};

/* Free the strings in c (not c itself). Accepts NULL. */
void db_claim_clear(struct db_claim *c);

/* Give user_name a desktop in pool pool_id: the live assignment the user
 * already holds there, or a ready desktop claimed with FOR UPDATE SKIP
 * LOCKED and recorded as a new live assignment (state 'assigned').
 * Concurrent claims never share a desktop and never give one user two live
 * assignments in a pool (partial unique indexes). -ENOSPC when the pool has
 * no ready desktop. user_dn may be NULL. */
int db_desktop_claim(struct db *db, int64_t pool_id, const char *user_name, const char *user_dn,
                     struct db_claim *out, char **error);

/* The claim statement's SQL ($1 pool id, $2 user name, $3 user DN), for
 * benchmarks and EXPLAIN. */
const char *db_desktop_claim_sql(void);

/* End a live assignment and move its desktop to next_state (e.g.
 * "refreshing" for floating pools). -ENOENT when it is not live. */
int db_assignment_release(struct db *db, int64_t assignment_id, const char *next_state,
                          char **error);

/* ---- Inventory (db-inventory.c): small helpers used by tools and tests ---- */

int db_host_add(struct db *db, const char *name, const char *address, int port, int64_t *id,
                char **error);
int db_image_add(struct db *db, const char *name, int64_t *id, char **error);
int db_image_version_add(struct db *db, int64_t image_id, int version, const char *path,
                         int64_t *id, char **error);

struct db_pool_spec {
        const char *name;
        const char *kind; /* "dedicated" or "floating" */
        int64_t image_version_id;
        int min_size, max_size, ready_size;
        const char *protocols; /* PostgreSQL array text, e.g. "{spice,rdp}"; NULL = both */
};
int db_pool_add(struct db *db, const struct db_pool_spec *spec, int64_t *id, char **error);

/* Add a desktop (state 'ready' when host_id != 0, else 'provisioning'). */
int db_desktop_add(struct db *db, int64_t pool_id, int64_t host_id, const char *name,
                   int64_t *id, char **error);

/* kind "user" (login name) or "group" (group DN). */
int db_entitlement_add(struct db *db, int64_t pool_id, const char *kind, const char *subject,
                       char **error);

/* True in *out when user_name, or one of groups[0..n_groups), is entitled
 * to pool_id. */
int db_pool_entitled(struct db *db, int64_t pool_id, const char *user_name,
                     const char *const *groups, size_t n_groups, bool *out, char **error);

/* ---- Tickets, audit, timings (db-events.c) ---- */

/* Store a one-time ticket by its hash (token_hash()) valid ttl_s seconds.
 * A "web" ticket names where its display listens (display_host and
 * display_port, which vdi-gateway relays to); others pass NULL and 0. */
int db_ticket_create(struct db *db, const char *token_hash, int64_t desktop_id,
                     const char *user_name, const char *protocol, int ttl_s,
                     const char *display_host, int display_port, char **error);

/* Where a web ticket's display listens. */
struct db_web_route {
        char *host; /* the host's display address */
        int port;   /* the VM's web display port */
        int64_t desktop_id;
};

/* Use a web ticket at the gateway: succeeds once, before expiry, only for
 * user_name (the signed-in user it was issued to); *route (clear with
 * db_web_route_clear) says where to relay. -ENOENT for unknown, used,
 * expired, not web, or another user's. */
int db_ticket_redeem_web(struct db *db, const char *token_hash, const char *user_name,
                         struct db_web_route *route, char **error);
void db_web_route_clear(struct db_web_route *route);

/* Use a ticket: succeeds once, before expiry; stores the desktop and user
 * (malloc'd) it was issued for. -ENOENT for unknown, used or expired. */
int db_ticket_consume(struct db *db, const char *token_hash, int64_t *desktop_id,
                      char **user_name, char **error);

struct db_audit {
        const char *actor;
        const char *action; /* e.g. "desktop.claim", "login" */
        const char *outcome; /* "ok", "denied", "failed"; NULL = ok */
        const char *pool_name, *desktop_name, *host_name; /* may be NULL */
        const char *remote_addr;                          /* may be NULL */
        const char *detail;                               /* may be NULL */
};
int db_audit_add(struct db *db, const struct db_audit *ev, char **error);

int db_login_timing_add(struct db *db, const char *request_id, const char *user_name,
                        const char *phase, int64_t duration_us, char **error);
