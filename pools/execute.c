/* Execute pool actions (pools/policy.h) against vdi-hostd and PostgreSQL.
 *
 * VMs on hosts are named by desktop id, images by "iv-<image version id>",
 * so every call is an idempotent PUT/POST that a retry (or the next
 * leader) can repeat. The database row is written first for creates (so
 * a crash leaves a row the next pass sees, never an orphan VM) and last
 * for everything else (so the state never claims work not done). */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "pools/internal.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

struct ctx {
        PGconn *c;
        const struct pool_loop_config *cfg;
        const struct snapshot_buf *b;
        struct hostd_endpoint ep;
        int64_t host_id;
        GHashTable *imported; /* "host/iv" imported in this pass (set) */
        char id[24];
};

static bool endpoint(struct ctx *x, int64_t host_id)
{
        for (size_t i = 0; i < x->b->snap.n_hosts; i++)
                if (x->b->hosts[i].id == host_id) {
                        x->ep = (struct hostd_endpoint){ x->b->hosts[i].name,
                                                         x->b->host_addr[i],
                                                         x->b->host_port[i] };
                        x->host_id = host_id;
                        return true;
                }
        return false;
}

static const struct pool_spec *pool_of(struct ctx *x, int64_t id)
{
        for (size_t i = 0; i < x->b->snap.n_pools; i++)
                if (x->b->pools[i].id == id)
                        return &x->b->pools[i];
        return NULL;
}

/* Call the host; 0 when it answered with a status in ok_lo..ok_hi. */
static int host(struct ctx *x, const char *method, const char *path, json_t *body,
                unsigned timeout_ms, long *status, json_t **reply, char **error)
{
        long st = 0;
        json_t *rep = NULL;
        int r = hostd_request(&x->cfg->hosts, &x->ep, method, path, body, timeout_ms, &st, &rep,
                              error);
        if (r < 0)
                return r;
        if (status)
                *status = st;
        if (st < 200 || st > 299) {
                g_autofree char *d = hostd_reply_describe(st, rep);
                *error = g_strdup_printf("host %s: %s %s: %s", x->ep.name, method, path, d);
                json_decref(rep);
                return -EIO;
        }
        if (reply)
                *reply = rep;
        else
                json_decref(rep);
        return 0;
}

static unsigned host_timeout(struct ctx *x)
{
        return x->cfg->host_timeout_ms ? x->cfg->host_timeout_ms : 15000;
}

int pool_image_body(PGconn *c, int64_t iv, json_t **body, char **error)
{
        char ivs[24];
        PGresult *res = NULL;

        snprintf(ivs, sizeof(ivs), "%" PRId64, iv);
        const char *p[] = { ivs };
        int r = pool_sql(c,
                         "SELECT iv.version, iv.path, iv.format, iv.kernel_path, iv.initrd_path, "
                         "iv.cmdline, iv.display FROM image_versions iv WHERE iv.id = $1",
                         1, p, &res, error);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1 || PQgetisnull(res, 0, 3)) {
                *error = g_strdup_printf(
                        "image version %s has no kernel_path (set image_versions.kernel_path "
                        "and initrd_path so hosts can boot it)",
                        ivs);
                PQclear(res);
                return -EINVAL;
        }
        json_t *o = json_pack(
                "{s:I, s:s, s:s, s:s, s:s, s:s}", "version",
                (json_int_t)g_ascii_strtoll(PQgetvalue(res, 0, 0), NULL, 10), "kernel",
                PQgetvalue(res, 0, 3), "disk", PQgetvalue(res, 0, 1), "format",
                PQgetvalue(res, 0, 2), "cmdline", PQgetvalue(res, 0, 5), "mode", "copy");
        if (!PQgetisnull(res, 0, 4))
                json_object_set_new(o, "initrd", json_string(PQgetvalue(res, 0, 4)));
        /* vdi-hostd takes an absent display as vesa: only a non-default
         * one is sent, so hosts that predate the field still import vesa
         * images, and refuse (rather than boot wrongly) a virtio-gpu one. */
        if (strcmp(PQgetvalue(res, 0, 6), "vesa") != 0)
                json_object_set_new(o, "display", json_string(PQgetvalue(res, 0, 6)));
        PQclear(res);
        *body = o;
        return 0;
}

/* Import image version iv on the host (PUT is idempotent), once a pass
 * per host: a pass that makes many desktops asks each host once. */
static int ensure_image(struct ctx *x, int64_t iv, char **error)
{
        g_autofree char *key = g_strdup_printf("%" PRId64 "/%" PRId64, x->host_id, iv);
        g_autoptr(json_t) body = NULL;
        int r;

        if (x->imported && g_hash_table_contains(x->imported, key))
                return 0;
        r = pool_image_body(x->c, iv, &body, error);
        if (r < 0)
                return r;
        g_autofree char *path = g_strdup_printf("/api/v1/images/iv-%" PRId64, iv);
        r = host(x, "PUT", path, body,
                 x->cfg->import_timeout_ms ? x->cfg->import_timeout_ms : 600000, NULL, NULL,
                 error);
        if (r == 0 && x->imported)
                g_hash_table_add(x->imported, g_steal_pointer(&key));
        return r;
}

/* Make the VM exist as a clone of iv; replace it when it exists otherwise. */
static int ensure_vm(struct ctx *x, const struct pool_spec *pool, int64_t iv, json_t **vm,
                     char **error)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", x->id);
        g_autofree char *image = g_strdup_printf("iv-%" PRId64, iv);
        g_autoptr(json_t) body = json_pack("{s:s, s:i, s:I}", "image", image, "cpus", pool->vcpus,
                                           "memory_mb", (json_int_t)pool->memory_mb);
        long st = 0;
        int r;

        if (pool->bridge) {
                json_t *net = json_pack("{s:s}", "bridge", pool->bridge);
                if (pool->vlan)
                        json_object_set_new(net, "vlan", json_integer(pool->vlan));
                json_object_set_new(body, "network", net);
        }
        /* Only a policy that is not the default: bodies stay as they were. */
        if (pool->clipboard && strcmp(pool->clipboard, "both") != 0)
                json_object_set_new(body, "clipboard", json_string(pool->clipboard));
        /* Forked from the image's parent on the host (hostd/parent.c): a
         * desktop that finds its parent still booting starts once it is
         * up, within provision_timeout_s like a boot. */
        if (pool->instant)
                json_object_set_new(body, "clone", json_string("instant"));

        r = ensure_image(x, iv, error);
        if (r < 0)
                return r;
        r = host(x, "PUT", path, body, host_timeout(x), &st, vm, error);
        if (r == -EIO && st == 409) {
                /* Another image or size (recompose): rebuild it. */
                g_clear_pointer(error, g_free);
                r = host(x, "DELETE", path, NULL, host_timeout(x), NULL, NULL, error);
                if (r == 0)
                        r = host(x, "PUT", path, body, host_timeout(x), NULL, vm, error);
        }
        return r;
}

static int vm_post(struct ctx *x, const char *verb, char **error)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s/%s", x->id, verb);
        return host(x, "POST", path, NULL, host_timeout(x), NULL, NULL, error);
}

/* Record a failed action on the desktop: error state, one more failure. */
static int record_failure(struct ctx *x, const char *what, const char *why, char **error)
{
        g_autofree char *msg = g_strdup_printf("%s: %s", what, why);
        const char *p[] = { x->id, msg };
        g_autofree char *quoted = log_quote(msg);
        log_warning("pool_action_failed", "desktop=%s error=%s", x->id, quoted);
        return pool_sql(x->c,
                        "UPDATE desktops SET state = 'error', failures = failures + 1, "
                        "last_error = $2, state_changed_at = now() WHERE id = $1",
                        2, p, NULL, error);
}

static int set_ports(struct ctx *x, json_t *vm, char **error)
{
        char sp[16], rp[16];
        snprintf(sp, sizeof(sp), "%lld", json_integer_value(json_object_get(vm, "spice_port")));
        snprintf(rp, sizeof(rp), "%lld", json_integer_value(json_object_get(vm, "rdp_port")));
        const char *disk = json_string_value(json_object_get(vm, "disk"));
        const char *p[] = { x->id, sp, rp, disk };
        return pool_sql(x->c,
                        "UPDATE desktops SET spice_port = NULLIF($2, '0')::int, "
                        "rdp_port = NULLIF($3, '0')::int, disk_path = $4 WHERE id = $1",
                        4, p, NULL, error);
}

/* Build (or rebuild) and start: the tail of create, refresh, recompose. */
static int provision(struct ctx *x, const struct pool_spec *pool, int64_t iv, bool refresh,
                     const char *what, char **error)
{
        g_autofree char *err = NULL;
        g_autoptr(json_t) vm = NULL;
        char ivs[24];
        int r;

        if (refresh) {
                r = vm_post(x, "stop", &err);
                if (r == 0)
                        r = vm_post(x, "refresh", &err);
                if (r == -EIO && strstr(err, "HTTP 404")) {
                        g_clear_pointer(&err, g_free);
                        r = 0; /* gone: ensure_vm makes a fresh one */
                }
                if (r < 0)
                        return record_failure(x, what, err, error);
        }
        r = ensure_vm(x, pool, iv, &vm, &err);
        if (r == 0)
                r = set_ports(x, vm, error) < 0 ? -EIO : 0;
        if (r < 0)
                return record_failure(x, what, err ? err : "database", error);
        snprintf(ivs, sizeof(ivs), "%" PRId64, iv);
        const char *p[] = { x->id, ivs };
        /* Provisioning before the start: the host's "booted" report
         * (hostd/report.c) may arrive before the start call returns. */
        r = pool_sql(x->c,
                     "UPDATE desktops SET state = 'provisioning', image_version_id = $2, "
                     "pending_action = NULL, state_changed_at = now() WHERE id = $1",
                     2, p, NULL, error);
        if (r < 0)
                return r;
        if (vm_post(x, "start", &err) < 0)
                return record_failure(x, what, err, error);
        return 0;
}

static int do_create(struct ctx *x, const struct pool_action *a, char **error)
{
        const struct pool_spec *pool = pool_of(x, a->pool_id);
        char pool_s[24], host_s[24], iv_s[24];
        PGresult *res = NULL;
        int r;

        snprintf(pool_s, sizeof(pool_s), "%" PRId64, a->pool_id);
        snprintf(host_s, sizeof(host_s), "%" PRId64, a->host_id);
        snprintf(iv_s, sizeof(iv_s), "%" PRId64, a->image_version_id);
        const char *p[] = { pool_s, host_s, iv_s, pool->name };
        /* Named after its id: "<pool>-<id>". */
        r = pool_sql(x->c,
                     "WITH n AS (SELECT nextval(pg_get_serial_sequence('desktops', 'id')) AS id) "
                     "INSERT INTO desktops (id, pool_id, host_id, image_version_id, name, state) "
                     "OVERRIDING SYSTEM VALUE SELECT n.id, $1, $2, $3, $4 || '-' || n.id, "
                     "'provisioning' FROM n RETURNING id",
                     4, p, &res, error);
        if (r < 0)
                return r;
        g_strlcpy(x->id, PQgetvalue(res, 0, 0), sizeof(x->id));
        PQclear(res);
        return provision(x, pool, a->image_version_id, false, "create", error);
}

static int do_delete(struct ctx *x, const struct pool_action *a, char **error)
{
        g_autofree char *err = NULL;
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", x->id);
        const char *p[] = { x->id };
        bool host_up = false;
        int r;

        for (size_t i = 0; i < x->b->snap.n_hosts; i++)
                if (x->b->hosts[i].id == a->host_id)
                        host_up = x->b->hosts[i].up && x->b->hosts[i].heartbeat_age_s >= 0 &&
                                  x->b->hosts[i].heartbeat_age_s <=
                                          x->cfg->policy.heartbeat_timeout_s;
        /* Mark first: a crash midway leaves a delete to finish, not a ghost. */
        r = pool_sql(x->c,
                     "UPDATE desktops SET state = 'deleting', state_changed_at = now() "
                     "WHERE id = $1 AND state <> 'deleting'",
                     1, p, NULL, error);
        if (r == 0)
                r = pool_sql(x->c,
                             "UPDATE assignments SET released_at = now() "
                             "WHERE desktop_id = $1 AND released_at IS NULL",
                             1, p, NULL, error);
        if (r < 0)
                return r;
        if (host_up && a->host_id) {
                r = host(x, "DELETE", path, NULL, host_timeout(x), NULL, NULL, &err);
                if (r < 0) {
                        /* Retried by the next pass (state 'deleting'). */
                        g_autofree char *quoted = log_quote(err);
                        log_warning("pool_delete_deferred", "desktop=%s error=%s", x->id, quoted);
                        return 0;
                }
        }
        r = pool_sql(x->c, "DELETE FROM desktops WHERE id = $1", 1, p, NULL, error);
        if (r < 0) {
                /* Assignment history refers to it: keep a tombstone off any host. */
                g_clear_pointer(error, g_free);
                r = pool_sql(x->c,
                             "UPDATE desktops SET host_id = NULL, spice_port = NULL, "
                             "rdp_port = NULL, disk_path = NULL WHERE id = $1",
                             1, p, NULL, error);
        }
        return r;
}

static int audit(struct ctx *x, const struct pool_action *a, const char *outcome, char **error)
{
        char pool_s[24], host_s[24];
        g_autofree char *action = g_strdup_printf("pool.%s", pool_action_name(a->kind));
        snprintf(pool_s, sizeof(pool_s), "%" PRId64, a->pool_id);
        snprintf(host_s, sizeof(host_s), "%" PRId64, a->host_id);
        const char *p[] = { action, outcome, pool_s, a->desktop_id ? x->id : "0", host_s,
                            a->reason };
        return pool_sql(x->c,
                        "INSERT INTO audit_events (actor, action, outcome, pool_name, "
                        "desktop_name, host_name, detail) VALUES ('pools', $1, $2, "
                        "(SELECT name FROM pools WHERE id = $3::bigint), "
                        "(SELECT name FROM desktops WHERE id = $4::bigint), "
                        "(SELECT name FROM hosts WHERE id = $5::bigint), $6)",
                        6, p, NULL, error);
}

int pool_execute(PGconn *c, const struct pool_loop_config *cfg, const struct snapshot_buf *b,
                 GHashTable *imported, const struct pool_action *a, char **error)
{
        struct ctx x = { .c = c, .cfg = cfg, .b = b, .imported = imported };
        const struct pool_spec *pool = pool_of(&x, a->pool_id);
        g_autofree char *err = NULL;
        char host_s[24];
        int r = 0;

        snprintf(x.id, sizeof(x.id), "%" PRId64, a->desktop_id);
        snprintf(host_s, sizeof(host_s), "%" PRId64, a->host_id);
        if (a->host_id && !endpoint(&x, a->host_id) && a->kind != ACT_DELETE &&
            a->kind != ACT_REPORT && a->kind != ACT_HOST_DOWN) {
                *error = g_strdup_printf("host %s is not in the snapshot", host_s);
                return -ENOENT;
        }
        g_autofree char *qreason = log_quote(a->reason);
        log_info("pool_action", "action=%s pool=%" PRId64 " desktop=%" PRId64 " host=%" PRId64
                 " reason=%s", pool_action_name(a->kind), a->pool_id, a->desktop_id, a->host_id,
                 qreason);
        switch (a->kind) {
        case ACT_HOST_DOWN: {
                const char *p[] = { host_s, a->reason };
                r = pool_sql(c,
                             "UPDATE hosts SET state = 'down', down_reason = $2 "
                             "WHERE id = $1 AND state = 'up'",
                             2, p, NULL, error);
                if (r == 0)
                        r = audit(&x, a, "failed", error);
                break;
        }
        case ACT_CREATE:
                r = do_create(&x, a, error);
                break;
        case ACT_START: {
                const char *p[] = { x.id };
                r = pool_sql(c,
                             "UPDATE desktops SET pending_action = NULL, state = CASE WHEN "
                             "state IN ('stopped', 'error') THEN 'provisioning' ELSE state END, "
                             "state_changed_at = now() WHERE id = $1",
                             1, p, NULL, error);
                if (r == 0 && vm_post(&x, "start", &err) < 0)
                        return record_failure(&x, "start", err, error);
                break;
        }
        case ACT_POWER_OFF: {
                const char *p[] = { x.id };
                if (vm_post(&x, "stop", &err) < 0)
                        return record_failure(&x, "power off", err, error);
                r = pool_sql(c,
                             "UPDATE desktops SET state = 'stopped', state_changed_at = now() "
                             "WHERE id = $1",
                             1, p, NULL, error);
                break;
        }
        case ACT_SUSPEND: {
                /* Its memory goes to disk and back to the host; the user's
                 * next ticket resumes it (vdi-hostd), and the host's
                 * "resumed" makes it assigned again. The host reports the
                 * suspend as well. */
                const char *p[] = { x.id };
                if (vm_post(&x, "suspend", &err) < 0)
                        return record_failure(&x, "suspend", err, error);
                r = pool_sql(c,
                             "UPDATE desktops SET state = 'suspended', state_changed_at = now() "
                             "WHERE id = $1 AND state = 'assigned'",
                             1, p, NULL, error);
                break;
        }
        case ACT_REFRESH: {
                /* A floating desktop is wiped: whoever held it lets go. */
                const char *p[] = { x.id };
                r = pool && pool->floating
                            ? pool_sql(c,
                                       "UPDATE assignments SET released_at = now() "
                                       "WHERE desktop_id = $1 AND released_at IS NULL",
                                       1, p, NULL, error)
                            : 0;
                if (r == 0 && pool)
                        r = provision(&x, pool, a->image_version_id, true, "refresh", error);
                break;
        }
        case ACT_RECOMPOSE:
                r = pool ? provision(&x, pool, a->image_version_id, false, "recompose", error)
                         : 0;
                break;
        case ACT_DELETE:
                if (a->host_id)
                        endpoint(&x, a->host_id);
                r = do_delete(&x, a, error);
                break;
        case ACT_FAIL: {
                r = record_failure(&x, "boot", a->reason, error);
                break;
        }
        case ACT_QUARANTINE: {
                const char *p[] = { x.id, a->reason };
                if (a->host_id)
                        vm_post(&x, "stop", &err); /* best effort: stop burning CPU */
                r = pool_sql(c,
                             "UPDATE desktops SET quarantine_reason = $2, state = 'error', "
                             "state_changed_at = now() WHERE id = $1",
                             2, p, NULL, error);
                if (r == 0)
                        r = audit(&x, a, "failed", error);
                log_warning("desktop_quarantined", "desktop=%s reason=%s", x.id, qreason);
                break;
        }
        case ACT_REPORT: {
                log_warning("pool_report", "pool=%" PRId64 " desktop=%" PRId64 " reason=%s",
                            a->pool_id, a->desktop_id, qreason);
                if (a->desktop_id) {
                        const char *p[] = { x.id, a->reason };
                        r = pool_sql(c,
                                     "UPDATE desktops SET state = 'error', last_error = $2, "
                                     "state_changed_at = now() WHERE id = $1",
                                     2, p, NULL, error);
                        if (r == 0)
                                r = audit(&x, a, "failed", error);
                }
                break;
        }
        }
        return r;
}
