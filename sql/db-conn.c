/* One libpq connection driven with the asynchronous API, so that every
 * wait (connect, send, result) has a deadline: a server that is stopped,
 * paused or unreachable makes a call fail, never hang. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "sql/db-internal.h"

int64_t db_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void db_set_error(char **error, const char *fmt, ...)
{
        va_list ap;

        if (!error)
                return;
        free(*error);
        va_start(ap, fmt);
        if (vasprintf(error, fmt, ap) < 0)
                *error = NULL;
        va_end(ap);
}

/* libpq messages end with a newline; strip it for one-line messages. */
static char *pq_message(PGconn *pg)
{
        char *m = strdup(pg ? PQerrorMessage(pg) : "out of memory");
        if (m) {
                size_t n = strlen(m);
                while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
                        m[--n] = '\0';
        }
        return m;
}

/* Wait for the socket to become readable (and writable when want_write)
 * until deadline. 1 ready, 0 timed out, -errno on poll failure. */
static int wait_socket(PGconn *pg, bool want_read, bool want_write, int64_t deadline)
{
        int fd = PQsocket(pg);
        if (fd < 0)
                return -EBADF;
        for (;;) {
                struct pollfd p = { .fd = fd,
                                    .events = (short)((want_read ? POLLIN : 0) |
                                                      (want_write ? POLLOUT : 0)) };
                int64_t left = deadline - db_now_ms();
                if (left <= 0)
                        return 0;
                int r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
                if (r > 0)
                        return 1;
                if (r == 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

static void ignore_notice(void *arg, const char *message)
{
}

int db_conn_new(struct db *db, struct db_conn **out, char **error)
{
        const char *keys[] = { "dbname", "application_name", "options", NULL };
        const char *vals[] = { db->conninfo, db->application_name, db->options, NULL };
        int64_t deadline = db_now_ms() + db->connect_timeout_ms;
        PostgresPollingStatusType st = PGRES_POLLING_WRITING;
        struct db_conn *c;
        PGconn *pg;

        /* expand_dbname: the conninfo string supplies everything else; the
         * keys after it override, so our timeouts always apply. */
        pg = PQconnectStartParams(keys, vals, 1);
        if (!pg) {
                db_set_error(error, "database: out of memory");
                return -ENOMEM;
        }
        while (PQstatus(pg) != CONNECTION_BAD && st != PGRES_POLLING_OK) {
                if (st == PGRES_POLLING_FAILED)
                        break;
                int r = wait_socket(pg, st == PGRES_POLLING_READING, st == PGRES_POLLING_WRITING,
                                    deadline);
                if (r == 0) {
                        db_set_error(error,
                                     "database: connecting timed out after %u ms (is the "
                                     "server running and reachable?)",
                                     db->connect_timeout_ms);
                        PQfinish(pg);
                        return -ETIMEDOUT;
                }
                if (r < 0)
                        break;
                st = PQconnectPoll(pg);
        }
        if (PQstatus(pg) != CONNECTION_OK) {
                _cleanup_free_ char *m = pq_message(pg);
                db_set_error(error, "database: cannot connect: %s", m ? m : "unknown error");
                PQfinish(pg);
                return -ECONNREFUSED;
        }
        /* Library code does not print: drop server notices. */
        PQsetNoticeProcessor(pg, ignore_notice, NULL);
        if (PQsetnonblocking(pg, 1) < 0) {
                db_set_error(error, "database: cannot switch the connection to non-blocking mode");
                PQfinish(pg);
                return -EIO;
        }

        c = calloc(1, sizeof(*c));
        if (!c) {
                PQfinish(pg);
                db_set_error(error, "database: out of memory");
                return -ENOMEM;
        }
        c->db = db;
        c->pg = pg;
        c->prepared = g_hash_table_new(g_direct_hash, g_direct_equal);
        *out = c;
        return 0;
}

void db_conn_free(struct db_conn *c)
{
        if (!c)
                return;
        if (c->pg)
                PQfinish(c->pg);
        if (c->prepared)
                g_hash_table_destroy(c->prepared);
        free(c);
}

bool db_conn_healthy(struct db_conn *c)
{
        struct pollfd p = { .fd = PQsocket(c->pg), .events = POLLIN };

        if (c->broken || PQstatus(c->pg) != CONNECTION_OK || p.fd < 0)
                return false;
        /* An idle connection has nothing to read unless the server closed
         * it (restart, admin shutdown: FATAL 57P01 then EOF). */
        if (poll(&p, 1, 0) > 0) {
                if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK)
                        return false;
                /* Drain asynchronous notices/notifications, if any. */
                PGnotify *n;
                while ((n = PQnotifies(c->pg)))
                        PQfreemem(n);
        }
        return true;
}

static bool connection_lost_state(const char *state)
{
        /* Class 08: connection exception; 57P01..03: admin shutdown, crash
         * shutdown, cannot connect now. */
        return !state || !*state || !strncmp(state, "08", 2) || !strcmp(state, "57P01") ||
               !strcmp(state, "57P02") || !strcmp(state, "57P03");
}

/* Map a failed result to -errno and a message. */
static int classify(struct db_conn *c, const char *what, PGresult *res, char **error)
{
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;

        snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
        if (PQstatus(c->pg) != CONNECTION_OK || connection_lost_state(state)) {
                _cleanup_free_ char *m = primary ? strdup(primary) : pq_message(c->pg);
                c->broken = true;
                db_set_error(error, "database: %s: connection lost: %s", what,
                             m && *m ? m : "server closed the connection");
                return -ECONNRESET;
        }
        if (!strcmp(state, "40001") || !strcmp(state, "40P01")) {
                db_set_error(error, "database: %s: %s (SQLSTATE %s)", what, primary, state);
                return -EAGAIN;
        }
        if (!strcmp(state, "57014")) {
                db_set_error(error, "database: %s: statement timed out after %u ms", what,
                             c->db->statement_timeout_ms);
                return -ETIMEDOUT;
        }
        if (!strncmp(state, "22", 2)) {
                /* Data exceptions quote the offending value: never echo it. */
                db_set_error(error, "database: %s: invalid parameter value (SQLSTATE %s)", what,
                             state);
                return -EINVAL;
        }
        if (constraint)
                db_set_error(error, "database: %s: violates constraint \"%s\" (SQLSTATE %s)",
                             what, constraint, state);
        else
                db_set_error(error, "database: %s: %s (SQLSTATE %s)", what,
                             primary ? primary : "error", state);
        if (!strcmp(state, "23505"))
                return -EEXIST;
        if (!strcmp(state, "23503"))
                return -ENOENT;
        if (!strcmp(state, "23514") || !strcmp(state, "23502"))
                return -EINVAL;
        return -EIO;
}

static bool result_ok(const PGresult *res)
{
        ExecStatusType st = PQresultStatus(res);
        return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* Flush the output queue and collect every result until deadline. The
 * first error result wins; otherwise the last result is returned. */
static int collect(struct db_conn *c, const char *what, int64_t deadline, PGresult **out,
                   char **error)
{
        PGconn *pg = c->pg;
        PGresult *keep = NULL;
        int r;

        for (;;) {
                int f = PQflush(pg);
                if (f == 0)
                        break;
                if (f < 0)
                        goto lost;
                r = wait_socket(pg, true, true, deadline);
                if (r == 0)
                        goto timeout;
                if (r < 0 || !PQconsumeInput(pg))
                        goto lost;
        }
        for (;;) {
                while (PQisBusy(pg)) {
                        r = wait_socket(pg, true, false, deadline);
                        if (r == 0)
                                goto timeout;
                        if (r < 0 || !PQconsumeInput(pg))
                                goto lost;
                }
                PGresult *res = PQgetResult(pg);
                if (!res)
                        break;
                if (keep && !result_ok(keep)) {
                        PQclear(res); /* keep the first error */
                } else {
                        PQclear(keep);
                        keep = res;
                }
        }
        if (!keep)
                goto lost;
        *out = keep;
        return 0;

timeout:
        PQclear(keep);
        /* The connection is mid-request in an unknown state: drop it. The
         * server-side statement_timeout ends the query if the server lives. */
        c->broken = true;
        snprintf(c->sqlstate, sizeof(c->sqlstate), "57014");
        db_set_error(error, "database: %s: no answer within %u ms (server stopped or unreachable?)",
                     what, c->db->statement_timeout_ms + 1000);
        return -ETIMEDOUT;
lost:
        PQclear(keep);
        return classify(c, what, NULL, error);
}

static int check_result(struct db_conn *c, const char *what, PGresult *res, PGresult **out,
                        char **error)
{
        if (result_ok(res)) {
                c->sqlstate[0] = '\0';
                if (out)
                        *out = res;
                else
                        PQclear(res);
                return 0;
        }
        int r = classify(c, what, res, error);
        PQclear(res);
        return r;
}

int db_conn_run(struct db_conn *c, const struct db_stmt *stmt, const char *text,
                const char *const *params, PGresult **out, bool *maybe_sent, char **error)
{
        int64_t deadline = db_now_ms() + c->db->statement_timeout_ms + 1000;
        const char *what = stmt ? stmt->name : "script";
        char name[32];
        PGresult *res = NULL;
        int r;

        *maybe_sent = false;
        if (c->broken || PQstatus(c->pg) != CONNECTION_OK) {
                c->broken = true;
                db_set_error(error, "database: %s: connection lost", what);
                return -ECONNRESET;
        }

        if (!stmt) {
                if (!PQsendQuery(c->pg, text))
                        return classify(c, what, NULL, error);
                *maybe_sent = true;
                r = collect(c, what, deadline, &res, error);
                return r < 0 ? r : check_result(c, what, res, out, error);
        }

        snprintf(name, sizeof(name), "vdi_%" PRIxPTR, (uintptr_t)stmt);
        if (!g_hash_table_contains(c->prepared, stmt)) {
                if (!PQsendPrepare(c->pg, name, stmt->sql, stmt->nparams, NULL))
                        return classify(c, what, NULL, error);
                r = collect(c, what, deadline, &res, error);
                if (r < 0)
                        return r;
                r = check_result(c, what, res, NULL, error);
                if (r < 0)
                        return r;
                g_hash_table_add(c->prepared, (gpointer)stmt);
        }
        if (!PQsendQueryPrepared(c->pg, name, stmt->nparams, params, NULL, NULL, 0))
                return classify(c, what, NULL, error);
        *maybe_sent = true;
        r = collect(c, what, deadline, &res, error);
        return r < 0 ? r : check_result(c, what, res, out, error);
}

int64_t db_value_i64(const PGresult *res, int row, int col)
{
        if (PQgetisnull(res, row, col))
                return 0;
        return strtoll(PQgetvalue(res, row, col), NULL, 10);
}
