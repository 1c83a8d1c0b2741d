/* Inventory rows: hosts, images, pools, desktops, entitlements. Small
 * INSERT … RETURNING helpers for tools, the reconcile loop and tests. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sql/db-internal.h"

DB_STMT(host_add,
        "INSERT INTO hosts (name, address, port) VALUES ($1, $2, $3::integer) RETURNING id", 3);
DB_STMT(image_add, "INSERT INTO images (name) VALUES ($1) RETURNING id", 1);
DB_STMT(image_version_add,
        "INSERT INTO image_versions (image_id, version, path, state)"
        " VALUES ($1::bigint, $2::integer, $3, 'published') RETURNING id",
        3);
DB_STMT(pool_add,
        "INSERT INTO pools (name, kind, image_version_id, min_size, max_size, ready_size, "
        "protocols) VALUES ($1, $2, $3::bigint, $4::integer, $5::integer, $6::integer, "
        "coalesce($7::text[], '{spice,rdp}')) RETURNING id",
        7);
DB_STMT(desktop_add,
        "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state)"
        " SELECT p.id, nullif($2::bigint, 0), p.image_version_id, $3,"
        "        CASE WHEN $2::bigint <> 0 THEN 'ready' ELSE 'provisioning' END"
        " FROM pools p WHERE p.id = $1::bigint RETURNING id",
        3);
DB_STMT(entitlement_add,
        "INSERT INTO pool_entitlements (pool_id, kind, subject) VALUES ($1::bigint, $2, $3)"
        " ON CONFLICT DO NOTHING",
        3);
DB_STMT(pool_entitled,
        "SELECT EXISTS (SELECT 1 FROM pool_entitlements WHERE pool_id = $1::bigint"
        " AND ((kind = 'user' AND subject = $2) OR (kind = 'group' AND subject = ANY($3::text[]))))",
        3);

/* Run an INSERT … RETURNING id and store the id. */
static int insert_id(struct db *db, const struct db_stmt *stmt, const char *const *params,
                     int64_t *id, char **error)
{
        PGresult *res = NULL;
        int r = db_exec(db, stmt, params, 0, &res, error);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                db_set_error(error, "database: %s: referenced row not found", stmt->name);
                return -ENOENT;
        }
        if (id)
                *id = db_value_i64(res, 0, 0);
        PQclear(res);
        return 0;
}

int db_host_add(struct db *db, const char *name, const char *address, int port, int64_t *id,
                char **error)
{
        char p[16];
        snprintf(p, sizeof(p), "%d", port);
        const char *params[] = { name, address, p };
        return insert_id(db, &host_add, params, id, error);
}

int db_image_add(struct db *db, const char *name, int64_t *id, char **error)
{
        const char *params[] = { name };
        return insert_id(db, &image_add, params, id, error);
}

int db_image_version_add(struct db *db, int64_t image_id, int version, const char *path,
                         int64_t *id, char **error)
{
        char i[24], v[16];
        snprintf(i, sizeof(i), "%" PRId64, image_id);
        snprintf(v, sizeof(v), "%d", version);
        const char *params[] = { i, v, path };
        return insert_id(db, &image_version_add, params, id, error);
}

int db_pool_add(struct db *db, const struct db_pool_spec *spec, int64_t *id, char **error)
{
        char iv[24], mn[16], mx[16], rd[16];
        snprintf(iv, sizeof(iv), "%" PRId64, spec->image_version_id);
        snprintf(mn, sizeof(mn), "%d", spec->min_size);
        snprintf(mx, sizeof(mx), "%d", spec->max_size);
        snprintf(rd, sizeof(rd), "%d", spec->ready_size);
        const char *params[] = { spec->name, spec->kind, iv, mn, mx, rd, spec->protocols };
        return insert_id(db, &pool_add, params, id, error);
}

int db_desktop_add(struct db *db, int64_t pool_id, int64_t host_id, const char *name,
                   int64_t *id, char **error)
{
        char p[24], h[24];
        snprintf(p, sizeof(p), "%" PRId64, pool_id);
        snprintf(h, sizeof(h), "%" PRId64, host_id);
        const char *params[] = { p, h, name };
        return insert_id(db, &desktop_add, params, id, error);
}

int db_entitlement_add(struct db *db, int64_t pool_id, const char *kind, const char *subject,
                       char **error)
{
        char p[24];
        snprintf(p, sizeof(p), "%" PRId64, pool_id);
        const char *params[] = { p, kind, subject };
        return db_exec(db, &entitlement_add, params, DB_IDEMPOTENT, NULL, error);
}

/* A PostgreSQL array literal of text: {"a","b\"c"}. This is a parameter
 * value (sent out of band), never SQL text. */
static char *text_array_literal(const char *const *items, size_t n)
{
        GString *s = g_string_new("{");
        for (size_t i = 0; i < n; i++) {
                g_string_append(s, i ? ",\"" : "\"");
                for (const char *p = items[i]; *p; p++) {
                        if (*p == '"' || *p == '\\')
                                g_string_append_c(s, '\\');
                        g_string_append_c(s, *p);
                }
                g_string_append_c(s, '"');
        }
        g_string_append_c(s, '}');
        return g_string_free(s, FALSE);
}

int db_pool_entitled(struct db *db, int64_t pool_id, const char *user_name,
                     const char *const *groups, size_t n_groups, bool *out, char **error)
{
        char p[24];
        g_autofree char *arr = text_array_literal(groups, n_groups);
        PGresult *res = NULL;
        int r;

        snprintf(p, sizeof(p), "%" PRId64, pool_id);
        const char *params[] = { p, user_name, arr };
        r = db_exec(db, &pool_entitled, params, DB_IDEMPOTENT, &res, error);
        if (r < 0)
                return r;
        *out = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        return 0;
}
