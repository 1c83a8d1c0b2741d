/* The connection pool, single statements with retry, and transactions. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "sql/db-internal.h"

int db_open(const struct db_config *cfg, struct db **out, char **error)
{
        struct db *db;

        if (!cfg || !cfg->conninfo) {
                db_set_error(error, "database: no connection string configured");
                return -EINVAL;
        }
        db = calloc(1, sizeof(*db));
        if (!db)
                goto nomem;
        db->pool_size = cfg->pool_size ? cfg->pool_size : 8;
        db->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
        db->statement_timeout_ms = cfg->statement_timeout_ms ? cfg->statement_timeout_ms : 10000;
        db->acquire_timeout_ms = cfg->acquire_timeout_ms ? cfg->acquire_timeout_ms : 5000;
        db->conninfo = strdup(cfg->conninfo);
        db->application_name = strdup(cfg->application_name ? cfg->application_name : "vdi");
        /* A transaction left open by a stuck client must not hold locks
         * forever either. */
        if (asprintf(&db->options,
                     "-c statement_timeout=%u -c idle_in_transaction_session_timeout=%u",
                     db->statement_timeout_ms, db->statement_timeout_ms * 3) < 0)
                db->options = NULL;
        db->idle = calloc(db->pool_size, sizeof(*db->idle));
        if (!db->conninfo || !db->application_name || !db->options || !db->idle)
                goto nomem;
        pthread_mutex_init(&db->lock, NULL);
        {
                pthread_condattr_t ca;
                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_init(&db->cond, &ca);
                pthread_condattr_destroy(&ca);
        }
        *out = db;
        return 0;

nomem:
        if (db) {
                free(db->conninfo);
                free(db->application_name);
                free(db->options);
                free(db->idle);
                free(db);
        }
        db_set_error(error, "database: out of memory");
        return -ENOMEM;
}

void db_close(struct db *db)
{
        if (!db)
                return;
        for (unsigned i = 0; i < db->n_idle; i++)
                db_conn_free(db->idle[i]);
        pthread_mutex_destroy(&db->lock);
        pthread_cond_destroy(&db->cond);
        free(db->idle);
        free(db->conninfo);
        free(db->application_name);
        free(db->options);
        free(db->last_dial_message);
        free(db);
}

/* Under db->lock: may this call dial now? While the server is known to be
 * down, only one call at a time, and only once the backoff has passed. */
static bool may_dial(struct db *db, int64_t now)
{
        if (db->redial_backoff_ms == 0)
                return true;
        if (db->probing || now < db->redial_at_ms)
                return false;
        db->probing = true;
        return true;
}

/* Under db->lock: record the outcome of a dial. */
static void dial_done(struct db *db, int r, const char *error)
{
        db->probing = false;
        if (r == 0) {
                db->redial_backoff_ms = 0;
                return;
        }
        db->redial_backoff_ms = db->redial_backoff_ms == 0 ? DB_REDIAL_MIN_MS
                                : MIN(db->redial_backoff_ms * 2, DB_REDIAL_MAX_MS);
        db->redial_at_ms = db_now_ms() + db->redial_backoff_ms;
        db->last_dial_error = r;
        free(db->last_dial_message);
        db->last_dial_message = error ? strdup(error) : NULL;
}

unsigned db_redial_wait_ms(struct db *db)
{
        int64_t left;

        pthread_mutex_lock(&db->lock);
        left = db->redial_backoff_ms ? db->redial_at_ms - db_now_ms() : 0;
        pthread_mutex_unlock(&db->lock);
        return left > 0 ? (unsigned)left : 0;
}

int db_acquire(struct db *db, struct db_conn **out, char **error)
{
        int64_t deadline = db_now_ms() + db->acquire_timeout_ms;
        struct db_conn *c = NULL;
        int r;

        pthread_mutex_lock(&db->lock);
        for (;;) {
                if (db->n_idle > 0) {
                        c = db->idle[--db->n_idle];
                        break;
                }
                if (db->n_open < db->pool_size) {
                        db->n_open++; /* reserve the slot, connect unlocked */
                        break;
                }
                int64_t left = deadline - db_now_ms();
                if (left <= 0) {
                        pthread_mutex_unlock(&db->lock);
                        db_set_error(error,
                                     "database: all %u pooled connections stayed busy for %u ms",
                                     db->pool_size, db->acquire_timeout_ms);
                        return -ETIMEDOUT;
                }
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += left / 1000;
                ts.tv_nsec += (left % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&db->cond, &db->lock, &ts);
        }
        pthread_mutex_unlock(&db->lock);

        /* A pooled connection the server closed meanwhile (restart) is
         * replaced by a new one before anything is sent on it. */
        if (c && db_conn_healthy(c)) {
                *out = c;
                return 0;
        }
        db_conn_free(c);
        pthread_mutex_lock(&db->lock);
        int64_t now = db_now_ms();
        if (!may_dial(db, now)) {
                /* Known down: answer now instead of every request
                 * dialling (and, for an unreachable host, each waiting
                 * connect_timeout_ms). */
                int64_t left = db->redial_at_ms - now;
                r = db->last_dial_error ? db->last_dial_error : -ECONNREFUSED;
                db_set_error(error, "%s (not retried for another %lld ms)",
                             db->last_dial_message ? db->last_dial_message
                                                   : "database: cannot connect",
                             (long long)(left > 0 ? left : 0));
                db->n_open--;
                pthread_cond_signal(&db->cond);
                pthread_mutex_unlock(&db->lock);
                return r;
        }
        pthread_mutex_unlock(&db->lock);
        r = db_conn_new(db, out, error);
        pthread_mutex_lock(&db->lock);
        dial_done(db, r, r < 0 && error ? *error : NULL);
        if (r < 0) {
                db->n_open--;
                pthread_cond_signal(&db->cond);
        }
        pthread_mutex_unlock(&db->lock);
        return r;
}

void db_release(struct db_conn *c)
{
        struct db *db;

        if (!c)
                return;
        db = c->db;
        if (c->broken || PQstatus(c->pg) != CONNECTION_OK ||
            PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
                db_conn_free(c);
                c = NULL;
        }
        pthread_mutex_lock(&db->lock);
        if (c)
                db->idle[db->n_idle++] = c;
        else
                db->n_open--;
        pthread_cond_signal(&db->cond);
        pthread_mutex_unlock(&db->lock);
}

int db_conn_exec(struct db_conn *c, const struct db_stmt *stmt, const char *const *params,
                 PGresult **out, char **error)
{
        bool sent;
        return db_conn_run(c, stmt, NULL, params, out, &sent, error);
}

const char *db_conn_sqlstate(struct db_conn *c)
{
        return c->sqlstate;
}

/* A call that succeeded after retries leaves no message behind. */
static void clear_error_on_success(int r, char **error)
{
        if (r == 0 && error && *error) {
                free(*error);
                *error = NULL;
        }
}

/* Sleep a random 1..cap ms so retried transactions do not collide again. */
static void backoff(unsigned attempt)
{
        unsigned cap = 2u << (attempt < 6 ? attempt : 6);
        unsigned ms = 1 + (unsigned)g_random_int_range(0, (gint32)cap);
        struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000 };
        nanosleep(&ts, NULL);
}

int db_exec(struct db *db, const struct db_stmt *stmt, const char *const *params, unsigned flags,
            PGresult **out, char **error)
{
        int r = 0;

        for (unsigned attempt = 0, lost = 0; attempt < 4; attempt++) {
                struct db_conn *c;
                bool sent = false;

                r = db_acquire(db, &c, error);
                if (r < 0)
                        return r;
                r = db_conn_run(c, stmt, NULL, params, out, &sent, error);
                db_release(c);
                /* One retry after a lost connection; a deadlock or
                 * serialization failure rolled the statement back, so
                 * repeating it is always safe. */
                if (r == -ECONNRESET && lost++ == 0 && (!sent || (flags & DB_IDEMPOTENT)))
                        continue;
                if (r == -EAGAIN) {
                        backoff(attempt);
                        continue;
                }
                break;
        }
        clear_error_on_success(r, error);
        return r;
}

int db_ping(struct db *db, char **error)
{
        DB_STMT(ping, "SELECT 1", 0);
        return db_exec(db, &ping, NULL, DB_IDEMPOTENT, NULL, error);
}

DB_STMT(tx_begin_rc, "BEGIN ISOLATION LEVEL READ COMMITTED", 0);
DB_STMT(tx_begin_rr, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0);
DB_STMT(tx_begin_ser, "BEGIN ISOLATION LEVEL SERIALIZABLE", 0);
DB_STMT(tx_commit, "COMMIT", 0);
DB_STMT(tx_rollback, "ROLLBACK", 0);

#define DB_TX_ATTEMPTS 8

int db_transaction(struct db *db, enum db_isolation iso, unsigned flags, db_tx_fn fn,
                   void *userdata, char **error)
{
        const struct db_stmt *begin = iso == DB_SERIALIZABLE      ? &tx_begin_ser
                                      : iso == DB_REPEATABLE_READ ? &tx_begin_rr
                                                                  : &tx_begin_rc;
        int r = 0;

        for (unsigned attempt = 0, lost = 0; attempt < DB_TX_ATTEMPTS; attempt++) {
                struct db_conn *c;
                bool commit_sent = false;

                r = db_acquire(db, &c, error);
                if (r < 0)
                        return r;
                r = db_conn_exec(c, begin, NULL, NULL, error);
                if (r == 0)
                        r = fn(c, userdata, error);
                if (r == 0)
                        r = db_conn_run(c, &tx_commit, NULL, NULL, NULL, &commit_sent, error);
                /* fn may have mapped the error: look at the failed
                 * statement's SQLSTATE, before ROLLBACK clears it. */
                bool retry_state = r < 0 && (!strcmp(c->sqlstate, "40001") ||
                                             !strcmp(c->sqlstate, "40P01"));
                if (r < 0 && !c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
                        if (db_conn_exec(c, &tx_rollback, NULL, NULL, NULL) < 0)
                                c->broken = true;
                }
                bool was_lost = c->broken && r == -ECONNRESET;
                db_release(c);

                if (r == -EAGAIN || retry_state) {
                        backoff(attempt);
                        continue;
                }
                if (was_lost && lost++ < 2 && (!commit_sent || (flags & DB_IDEMPOTENT)))
                        continue;
                break;
        }
        clear_error_on_success(r, error);
        return r;
}
