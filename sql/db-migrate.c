/* Schema migrations: the numbered sql/NNN-name.sql files, embedded at build
 * time, applied in one transaction under an advisory lock and recorded in
 * schema_version. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "sql/db-internal.h"

/* Advisory lock key for migrations: "vdimigr" in ASCII, as a decimal int8
 * (hex literals need PostgreSQL 16). */
#define MIGRATE_LOCK_KEY "33324451221825394"

DB_STMT(mig_lock, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", 0);
DB_STMT(mig_table,
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version integer PRIMARY KEY CHECK (version > 0),"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())",
        0);
DB_STMT(mig_has_table, "SELECT to_regclass('schema_version') IS NOT NULL", 0);
DB_STMT(mig_current, "SELECT coalesce(max(version), 0) FROM schema_version", 0);
DB_STMT(mig_record, "INSERT INTO schema_version (version, name) VALUES ($1::integer, $2)", 2);

unsigned db_schema_known_version(void)
{
        return db_migrations_count;
}

static int read_version(struct db_conn *c, unsigned *out, char **error)
{
        PGresult *res = NULL;
        bool has;
        int r;

        r = db_conn_exec(c, &mig_has_table, NULL, &res, error);
        if (r < 0)
                return r;
        has = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (!has) {
                *out = 0;
                return 0;
        }
        r = db_conn_exec(c, &mig_current, NULL, &res, error);
        if (r < 0)
                return r;
        *out = (unsigned)db_value_i64(res, 0, 0);
        PQclear(res);
        return 0;
}

static int version_tx(struct db_conn *c, void *userdata, char **error)
{
        return read_version(c, userdata, error);
}

int db_schema_version(struct db *db, unsigned *out, char **error)
{
        unsigned v = 0;
        int r = db_transaction(db, DB_READ_COMMITTED, DB_IDEMPOTENT, version_tx, &v, error);
        if (r == 0)
                *out = v;
        return r;
}

static int check_version(unsigned have, bool allow_upgrade, char **error)
{
        unsigned known = db_schema_known_version();

        if (have > known) {
                db_set_error(error,
                             "database schema version %u is newer than this program knows (%u): "
                             "run the vdi release that upgraded it, or point the configuration "
                             "at the right database",
                             have, known);
                return -EPROTO;
        }
        if (have < known && !allow_upgrade) {
                db_set_error(error,
                             "database schema version %u is older than this program needs (%u): "
                             "upgrade it by starting once with schema migration allowed "
                             "(--migrate)",
                             have, known);
                return -ESTALE;
        }
        return 0;
}

struct migrate_ctx {
        unsigned from, to;
};

static int migrate_tx(struct db_conn *c, void *userdata, char **error)
{
        struct migrate_ctx *m = userdata;
        unsigned have = 0;
        int r;

        /* Serialise concurrent migrators (several daemons starting at once).
         * The lock comes first: CREATE TABLE IF NOT EXISTS itself races. */
        r = db_conn_exec(c, &mig_lock, NULL, NULL, error);
        if (r < 0)
                return r;
        r = db_conn_exec(c, &mig_table, NULL, NULL, error);
        if (r < 0)
                return r;
        r = read_version(c, &have, error);
        if (r < 0)
                return r;
        r = check_version(have, true, error);
        if (r < 0)
                return r;
        m->from = have;
        for (unsigned i = have; i < db_migrations_count; i++) {
                const struct db_migration *mg = &db_migrations[i];
                char version[16];
                bool sent;

                r = db_conn_run(c, NULL, mg->sql, NULL, NULL, &sent, error);
                if (r < 0) {
                        if (error) {
                                char *why = TAKE_PTR(*error);
                                db_set_error(error, "migration %03u-%s failed: %s", mg->version,
                                             mg->name, why ? why : "unknown error");
                                free(why);
                        }
                        return r;
                }
                snprintf(version, sizeof(version), "%u", mg->version);
                const char *params[] = { version, mg->name };
                r = db_conn_exec(c, &mig_record, params, NULL, error);
                if (r < 0)
                        return r;
        }
        m->to = db_migrations_count;
        return 0;
}

int db_migrate(struct db *db, bool allow_upgrade, char **error)
{
        struct migrate_ctx m = { 0 };
        unsigned have = 0;
        int r;

        r = db_schema_version(db, &have, error);
        if (r < 0)
                return r;
        r = check_version(have, allow_upgrade, error);
        if (r < 0 || have == db_schema_known_version())
                return r;
        /* DDL is transactional in PostgreSQL: all migrations or none. */
        return db_transaction(db, DB_READ_COMMITTED, DB_IDEMPOTENT, migrate_tx, &m, error);
}
