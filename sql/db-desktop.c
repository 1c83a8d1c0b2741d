/* Claiming desktops for users (DESIGN.md §7): no application locks; the
 * database decides with FOR UPDATE SKIP LOCKED and partial unique indexes. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sql/db-internal.h"

/* One statement, one round trip. The user's live assignment in the pool
 * wins; only without one is a ready desktop locked (skipping rows other
 * claimers hold), marked assigned and recorded. Two claims by the same
 * user racing both get past "existing"; the second INSERT then violates
 * assignments_live_user, its whole statement (desktop update included) is
 * rolled back, and the retry finds the first one's assignment. */
DB_STMT(claim_stmt,
        "WITH existing AS ("
        "  SELECT a.id, a.desktop_id FROM assignments a"
        "  WHERE a.pool_id = $1::bigint AND a.user_name = $2::text AND a.released_at IS NULL"
        "), claimed AS ("
        "  UPDATE desktops d SET state = 'assigned', state_changed_at = now()"
        "  WHERE d.id = (SELECT r.id FROM desktops r"
        "                WHERE r.pool_id = $1::bigint AND r.state = 'ready'"
        "                  AND NOT EXISTS (SELECT 1 FROM existing)"
        "                ORDER BY r.id"
        "                FOR UPDATE SKIP LOCKED LIMIT 1)"
        "  RETURNING d.id"
        "), inserted AS ("
        "  INSERT INTO assignments (pool_id, desktop_id, user_name, user_dn)"
        "  SELECT $1::bigint, claimed.id, $2::text, $3::text FROM claimed"
        "  RETURNING id, desktop_id"
        ")"
        " SELECT x.id, x.desktop_id, d.host_id, d.name, x.existing"
        " FROM (SELECT id, desktop_id, true AS existing FROM existing"
        "       UNION ALL SELECT id, desktop_id, false FROM inserted) x"
        " JOIN desktops d ON d.id = x.desktop_id",
        3);

DB_STMT(release_stmt,
        "WITH rel AS ("
        "  UPDATE assignments SET released_at = now()"
        "  WHERE id = $1::bigint AND released_at IS NULL RETURNING desktop_id"
        ")"
        " UPDATE desktops SET state = $2::text, state_changed_at = now()"
        " WHERE id = (SELECT desktop_id FROM rel) RETURNING id",
        2);

const char *db_desktop_claim_sql(void)
{
        return claim_stmt.sql;
}

void db_claim_clear(struct db_claim *c)
{
        if (!c)
                return;
        free(c->desktop_name);
        c->desktop_name = NULL;
}

int db_desktop_claim(struct db *db, int64_t pool_id, const char *user_name, const char *user_dn,
                     struct db_claim *out, char **error)
{
        char pool[24];
        const char *params[] = { pool, user_name, user_dn };
        PGresult *res = NULL;
        int r = -EEXIST;

        if (!user_name || !*user_name) {
                db_set_error(error, "claim: empty user name");
                return -EINVAL;
        }
        snprintf(pool, sizeof(pool), "%" PRId64, pool_id);
        /* A retry returns the assignment made by the first attempt, so the
         * statement is idempotent for the lost-connection retry too. */
        for (int attempt = 0; attempt < 3 && r == -EEXIST; attempt++)
                r = db_exec(db, &claim_stmt, params, DB_IDEMPOTENT, &res, error);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                db_set_error(error, "pool %" PRId64 ": no ready desktop to assign", pool_id);
                return -ENOSPC;
        }
        char *name = strdup(PQgetvalue(res, 0, 3));
        if (!name) {
                PQclear(res);
                db_set_error(error, "claim: out of memory");
                return -ENOMEM;
        }
        *out = (struct db_claim){
                .assignment_id = db_value_i64(res, 0, 0),
                .desktop_id = db_value_i64(res, 0, 1),
                .host_id = db_value_i64(res, 0, 2),
                .desktop_name = name,
                .existing = PQgetvalue(res, 0, 4)[0] == 't',
        };
        PQclear(res);
        return 0;
}

int db_assignment_release(struct db *db, int64_t assignment_id, const char *next_state,
                          char **error)
{
        char id[24];
        const char *params[] = { id, next_state };
        PGresult *res = NULL;
        int r, n;

        snprintf(id, sizeof(id), "%" PRId64, assignment_id);
        r = db_exec(db, &release_stmt, params, 0, &res, error);
        if (r < 0)
                return r;
        n = PQntuples(res);
        PQclear(res);
        if (n != 1) {
                db_set_error(error, "assignment %" PRId64 " is not live", assignment_id);
                return -ENOENT;
        }
        return 0;
}
