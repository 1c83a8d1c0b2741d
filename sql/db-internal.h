/* Internals shared by the files of the data layer (not for other modules). */
#pragma once

#include <glib.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sql/db.h"

struct db {
        char *conninfo;
        char *application_name;
        char *options; /* "-c statement_timeout=… -c idle_in_transaction_session_timeout=…" */
        unsigned pool_size;
        unsigned connect_timeout_ms;
        unsigned statement_timeout_ms;
        unsigned acquire_timeout_ms;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct db_conn **idle; /* stack of connected, unused connections */
        unsigned n_idle;
        unsigned n_open; /* idle + in use + being connected */
        /* Re-dial with backoff: after a failed connect, calls that need a
         * new connection fail at once until redial_at; one call then tries
         * (probing) and on failure the wait doubles, up to DB_REDIAL_MAX_MS. */
        unsigned redial_backoff_ms; /* 0 while the server answers */
        int64_t redial_at_ms;
        bool probing;
        int last_dial_error;
        char *last_dial_message;
};

#define DB_REDIAL_MIN_MS 100
#define DB_REDIAL_MAX_MS 3000

struct db_conn {
        struct db *db;
        PGconn *pg;
        GHashTable *prepared; /* const struct db_stmt * already prepared here */
        bool broken;          /* state unknown or lost: discard on release */
        char sqlstate[6];
};

/* Monotonic clock in ms. */
int64_t db_now_ms(void);

/* db-conn.c: one connection. */
int db_conn_new(struct db *db, struct db_conn **out, char **error);
void db_conn_free(struct db_conn *c);
/* True when an idle connection still looks usable (no EOF or error queued). */
bool db_conn_healthy(struct db_conn *c);
/* Run stmt (prepared) or, when stmt is NULL, the simple-protocol text
 * (several statements allowed; static text only, never built from input).
 * *maybe_sent tells whether the server may have executed it. */
int db_conn_run(struct db_conn *c, const struct db_stmt *stmt, const char *text,
                const char *const *params, PGresult **out, bool *maybe_sent, char **error);

/* db-pool.c */
int db_acquire(struct db *db, struct db_conn **out, char **error);
void db_release(struct db_conn *c);

/* Replace *error (if error is non-NULL) with a printf-formatted message. */
void db_set_error(char **error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read column col of row 0 as int64 (0 when NULL). */
int64_t db_value_i64(const PGresult *res, int row, int col);

/* The embedded migrations (generated sql/migrations-data.c). */
#include "sql/db-migrations.h"
