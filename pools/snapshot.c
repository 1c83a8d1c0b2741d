/* Read the world for the policy (pools/policy.h) in one REPEATABLE READ
 * transaction, so pools, hosts and desktops are seen at one instant. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "pools/internal.h"

int pool_sql(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out,
             char **error)
{
        PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(res);

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                *error = g_strdup_printf("%s", PQresultErrorMessage(res));
                g_strchomp(*error);
                PQclear(res);
                return -EIO;
        }
        if (out)
                *out = res;
        else
                PQclear(res);
        return 0;
}

static const char *q_pools =
        "SELECT id, name, kind = 'floating', enabled, image_version_id, min_size, max_size, "
        "ready_size, vcpus, memory_mb, COALESCE(idle_poweroff_s, 0), bridge, COALESCE(vlan, 0), clipboard, "
        "provisioning = 'instant', COALESCE(suspend_after_disconnect_s, 0) FROM pools ORDER BY id";
static const char *q_hosts =
        "SELECT id, name, state = 'up', "
        "COALESCE(EXTRACT(EPOCH FROM now() - last_heartbeat)::bigint, -1), vcpus, memory_mb, "
        "address, port FROM hosts ORDER BY id";
static const char *q_desktops =
        "SELECT d.id, d.pool_id, COALESCE(d.host_id, 0), d.image_version_id, d.state, "
        "COALESCE(d.pending_action, ''), "
        "EXISTS (SELECT 1 FROM assignments a WHERE a.desktop_id = d.id AND a.released_at IS NULL), "
        "d.quarantine_reason IS NOT NULL, d.failures, d.last_error, "
        "EXTRACT(EPOCH FROM now() - d.state_changed_at)::bigint, "
        /* Idle: no client connected and no ticket still good, counted from
         * the latest of the state change, a disconnect and a ticket's issue
         * (a reconnect is activity; a ticket's lifetime is a floor). */
        "CASE WHEN EXISTS (SELECT 1 FROM desktop_sessions s WHERE s.desktop_id = d.id "
        "                  AND s.disconnected_at IS NULL) OR t.expires_at > now() THEN -1 "
        "ELSE EXTRACT(EPOCH FROM now() - GREATEST(d.state_changed_at, t.created_at, "
        "     (SELECT max(s.disconnected_at) FROM desktop_sessions s WHERE s.desktop_id = d.id)))::bigint "
        "END FROM desktops d "
        "LEFT JOIN LATERAL (SELECT created_at, expires_at FROM tickets WHERE desktop_id = d.id "
        "                   ORDER BY created_at DESC LIMIT 1) t ON true "
        "ORDER BY d.id";

static int64_t i64(PGresult *r, int row, int col)
{
        return g_ascii_strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool b(PGresult *r, int row, int col)
{
        return PQgetvalue(r, row, col)[0] == 't';
}

void pool_snapshot_free(struct snapshot_buf *sb)
{
        free(sb->pools);
        free(sb->hosts);
        free(sb->desktops);
        free(sb->host_addr);
        free(sb->host_port);
        for (int i = 0; i < 3; i++)
                PQclear(sb->res[i]);
        memset(sb, 0, sizeof(*sb));
}

int pool_snapshot_load(PGconn *c, struct snapshot_buf *sb, char **error)
{
        PGresult *rp, *rh, *rd;
        int r;

        memset(sb, 0, sizeof(*sb));
        r = pool_sql(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL, error);
        if (r == 0)
                r = pool_sql(c, q_pools, 0, NULL, &sb->res[0], error);
        if (r == 0)
                r = pool_sql(c, q_hosts, 0, NULL, &sb->res[1], error);
        if (r == 0)
                r = pool_sql(c, q_desktops, 0, NULL, &sb->res[2], error);
        if (r == 0)
                r = pool_sql(c, "COMMIT", 0, NULL, NULL, error);
        else
                PQclear(PQexec(c, "ROLLBACK"));
        if (r < 0) {
                pool_snapshot_free(sb);
                return r;
        }
        rp = sb->res[0];
        rh = sb->res[1];
        rd = sb->res[2];
        int np = PQntuples(rp), nh = PQntuples(rh), nd = PQntuples(rd);
        sb->pools = calloc((size_t)np + 1, sizeof(*sb->pools));
        sb->hosts = calloc((size_t)nh + 1, sizeof(*sb->hosts));
        sb->host_addr = calloc((size_t)nh + 1, sizeof(char *));
        sb->host_port = calloc((size_t)nh + 1, sizeof(int));
        sb->desktops = calloc((size_t)nd + 1, sizeof(*sb->desktops));
        if (!sb->pools || !sb->hosts || !sb->desktops || !sb->host_addr || !sb->host_port) {
                pool_snapshot_free(sb);
                *error = g_strdup("out of memory");
                return -ENOMEM;
        }
        for (int i = 0; i < np; i++)
                sb->pools[i] = (struct pool_spec){
                        .id = i64(rp, i, 0), .name = PQgetvalue(rp, i, 1),
                        .floating = b(rp, i, 2), .enabled = b(rp, i, 3),
                        .image_version_id = i64(rp, i, 4), .min_size = (int)i64(rp, i, 5),
                        .max_size = (int)i64(rp, i, 6), .ready_size = (int)i64(rp, i, 7),
                        .vcpus = (int)i64(rp, i, 8), .memory_mb = i64(rp, i, 9),
                        .idle_poweroff_s = i64(rp, i, 10),
                        .bridge = PQgetisnull(rp, i, 11) ? NULL : PQgetvalue(rp, i, 11),
                        .vlan = (int)i64(rp, i, 12),
                        .clipboard = PQgetvalue(rp, i, 13),
                        .instant = b(rp, i, 14),
                        .suspend_after_s = i64(rp, i, 15),
                };
        for (int i = 0; i < nh; i++) {
                sb->hosts[i] = (struct pool_host){
                        .id = i64(rh, i, 0), .name = PQgetvalue(rh, i, 1), .up = b(rh, i, 2),
                        .heartbeat_age_s = i64(rh, i, 3), .vcpus = i64(rh, i, 4),
                        .memory_mb = i64(rh, i, 5),
                };
                sb->host_addr[i] = PQgetvalue(rh, i, 6);
                sb->host_port[i] = (int)i64(rh, i, 7);
        }
        for (int i = 0; i < nd; i++) {
                struct pool_desktop *d = &sb->desktops[i];
                const char *pend = PQgetvalue(rd, i, 5);
                *d = (struct pool_desktop){
                        .id = i64(rd, i, 0), .pool_id = i64(rd, i, 1), .host_id = i64(rd, i, 2),
                        .image_version_id = i64(rd, i, 3), .assigned = b(rd, i, 6),
                        .quarantined = b(rd, i, 7), .failures = (int)i64(rd, i, 8),
                        .last_error = PQgetisnull(rd, i, 9) ? NULL : PQgetvalue(rd, i, 9),
                        .state_age_s = i64(rd, i, 10), .idle_s = i64(rd, i, 11),
                };
                if (pool_desk_state_from_string(PQgetvalue(rd, i, 4), &d->state) < 0)
                        d->state = DESK_ERROR;
                d->pending = strcmp(pend, "refresh") == 0  ? PENDING_REFRESH
                             : strcmp(pend, "delete") == 0 ? PENDING_DELETE
                             : strcmp(pend, "start") == 0  ? PENDING_START
                                                           : PENDING_NONE;
        }
        sb->snap = (struct pool_snapshot){ sb->pools, (size_t)np, sb->hosts, (size_t)nh,
                                           sb->desktops, (size_t)nd };
        return 0;
}
