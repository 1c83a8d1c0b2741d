/* Admin API under /api/v1/admin/ (callers in an [admin] group, or the
 * local admin): pools with entitlements, images and versions, hosts,
 * desktops (refresh/delete are requests to the reconcile loop in pools/,
 * recorded in desktops.pending_action), portal sessions, audit log and
 * login/launch timings. Every change is audited. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "broker/internal.h"
#include "log.h"

void admin_audit(struct broker *b, struct broker_session *s, const struct http_request *req,
                 const char *action, const char *pool, const char *desktop, const char *detail)
{
        broker_audit(b, &(struct db_audit){ .actor = s->user_name, .action = action,
                                            .pool_name = pool, .desktop_name = desktop,
                                            .remote_addr = req->client_addr,
                                            .detail = detail });
        log_info("admin_change", "actor=%s action=%s pool=%s desktop=%s", s->user_name, action,
                 pool ? pool : "-", desktop ? desktop : "-");
}

void respond_rows(struct broker *b, struct http_response *resp, const struct db_stmt *st,
                         const char *const *params, const char *key)
{
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        int r = db_exec(b->db, st, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "list rows", r, err);
                return;
        }
        json_t *rows = pg_rows_array(res);
        PQclear(res);
        http_respond_json(resp, 200, json_pack("{s:o}", key, rows));
}

/* ---- pools ---- */

DB_STMT(pools_list,
        "SELECT p.id, p.name, p.display_name, p.description, p.kind, i.name AS image,"
        "  v.version AS image_version, p.image_version_id, p.min_size, p.max_size, p.ready_size,"
        "  array_to_json(p.protocols) AS protocols, p.vcpus, p.memory_mb, p.enabled,"
        "  p.bridge, p.vlan, array_to_json(p.user_actions) AS user_actions, p.clipboard,"
        "  p.provisioning, coalesce(p.suspend_after_disconnect_s, 0) AS suspend_after_disconnect_s,"
        "  coalesce((SELECT json_agg(json_build_object('kind', e.kind, 'subject', e.subject)"
        "            ORDER BY e.kind, e.subject) FROM pool_entitlements e"
        "            WHERE e.pool_id = p.id), '[]'::json) AS entitlements,"
        "  coalesce((SELECT json_object_agg(s.state, s.n) FROM (SELECT state, count(*) AS n"
        "            FROM desktops d WHERE d.pool_id = p.id"
        "              AND NOT (d.state = 'deleting' AND d.host_id IS NULL) GROUP BY state) s),"
        "           '{}'::json) AS desktops,"
        /* Running (or powered off, or suspended) on the pool's version: a
         * recomposed desktop counts once it booted again, not while it
         * provisions. */
        "  (SELECT count(*) FROM desktops d WHERE d.pool_id = p.id"
        "    AND d.image_version_id = p.image_version_id"
        "    AND d.state IN ('ready', 'assigned', 'in_use', 'stopped', 'suspended'))"
        "   AS on_current_image,"
        /* Still to do after a change of version: desktops on another one,
         * and those that existed before the pool's last change and are
         * being rebuilt on the new one. */
        "  (SELECT count(*) FROM desktops d WHERE d.pool_id = p.id"
        "    AND NOT (d.state = 'deleting' AND d.host_id IS NULL)"
        "    AND (d.image_version_id <> p.image_version_id"
        "         OR (d.state IN ('provisioning', 'refreshing')"
        "             AND d.created_at < p.updated_at))) AS recomposing,"
        "  p.created_at, p.updated_at"
        " FROM pools p JOIN image_versions v ON v.id = p.image_version_id"
        " JOIN images i ON i.id = v.image_id"
        " WHERE $1::text IS NULL OR p.name = $1 ORDER BY p.name",
        1);
DB_STMT(pool_image_version,
        "SELECT v.id, v.state, v.version FROM image_versions v JOIN images i ON i.id = v.image_id"
        " WHERE i.name = $1 AND ($2::integer IS NULL OR v.version = $2::integer)"
        "   AND ($2::integer IS NOT NULL OR v.state = 'published')"
        " ORDER BY v.version DESC LIMIT 1",
        2);
DB_STMT(pool_insert,
        "INSERT INTO pools (name, display_name, description, kind, image_version_id, min_size,"
        " max_size, ready_size, protocols, vcpus, memory_mb, enabled, bridge, vlan, user_actions,"
        " clipboard, provisioning, suspend_after_disconnect_s)"
        " VALUES ($1, $2, $3, $4, $5::bigint, $6::integer, $7::integer, $8::integer,"
        "  ARRAY(SELECT json_array_elements_text($9::json)), $10::integer, $11::integer,"
        "  $12::boolean, $13, $14::integer,"
        "  ARRAY(SELECT json_array_elements_text($15::json)), coalesce($16, 'both'),"
        "  coalesce($17, 'linked'), NULLIF($18::integer, 0)) RETURNING id",
        18);
DB_STMT(pool_update,
        "UPDATE pools SET display_name = $2, description = $3, kind = $4,"
        " image_version_id = $5::bigint, min_size = $6::integer, max_size = $7::integer,"
        " ready_size = $8::integer, protocols = ARRAY(SELECT json_array_elements_text($9::json)),"
        " vcpus = $10::integer, memory_mb = $11::integer, enabled = $12::boolean,"
        " bridge = $13, vlan = $14::integer,"
        " user_actions = CASE WHEN $15::json IS NULL THEN"
        "   (CASE WHEN $4 = 'floating' THEN user_actions"
        "    ELSE array_remove(user_actions, 'logoff') END)"
        "   ELSE ARRAY(SELECT json_array_elements_text($15::json)) END,"
        " clipboard = coalesce($16, clipboard), provisioning = coalesce($17, provisioning),"
        " suspend_after_disconnect_s = CASE WHEN $18::integer IS NULL THEN suspend_after_disconnect_s"
        "   ELSE NULLIF($18::integer, 0) END,"
        " updated_at = now() WHERE name = $1 RETURNING id",
        18);
DB_STMT(pool_ents_clear, "DELETE FROM pool_entitlements WHERE pool_id = $1::bigint", 1);
DB_STMT(pool_ents_add,
        "INSERT INTO pool_entitlements (pool_id, kind, subject)"
        " SELECT $1::bigint, e->>'kind', e->>'subject' FROM json_array_elements($2::json) e"
        " ON CONFLICT DO NOTHING",
        2);
/* A pool goes with the history of its deleted desktops (tombstones and
 * their released assignments; the audit log keeps the names), never
 * while live desktops remain. */
DB_STMT(pool_delete_lock,
        "SELECT p.id, (SELECT count(*) FROM desktops d WHERE d.pool_id = p.id"
        "   AND NOT (d.state = 'deleting' AND d.host_id IS NULL))"
        " FROM pools p WHERE p.name = $1 FOR UPDATE",
        1);
DB_STMT(pool_delete_assignments, "DELETE FROM assignments WHERE pool_id = $1::bigint", 1);
DB_STMT(pool_delete_desktops, "DELETE FROM desktops WHERE pool_id = $1::bigint", 1);
DB_STMT(pool_delete_row, "DELETE FROM pools WHERE id = $1::bigint", 1);

/* A statement inside a transaction that must touch exactly one row: its
 * result in *out (caller clears), or -ENOENT when there is none. */
static int exec_one_row(struct db_conn *c, const struct db_stmt *st, const char *const *params,
                        PGresult **out, char **error)
{
        PGresult *res = NULL;
        int r = db_conn_exec(c, st, params, &res, error);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return -ENOENT;
        }
        *out = res;
        return 0;
}

struct pool_delete {
        const char *name;
        int64_t live; /* live desktops found */
};

static int pool_delete_tx(struct db_conn *c, void *userdata, char **error)
{
        struct pool_delete *d = userdata;
        const char *params[] = { d->name };
        PGresult *res = NULL;
        char id[24];
        int r = exec_one_row(c, &pool_delete_lock, params, &res, error);
        if (r < 0)
                return r;
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
        d->live = pg_i64(res, 0, 1);
        PQclear(res);
        if (d->live > 0)
                return -EBUSY;
        const char *p1[] = { id };
        r = db_conn_exec(c, &pool_delete_assignments, p1, NULL, error);
        if (r >= 0)
                r = db_conn_exec(c, &pool_delete_desktops, p1, NULL, error);
        if (r >= 0)
                r = db_conn_exec(c, &pool_delete_row, p1, NULL, error);
        return r;
}

struct pool_write {
        bool create;
        const char *name;
        char p[12][64]; /* small numeric/boolean parameters */
        const char *display_name, *description, *kind;
        char *protocols;    /* JSON array text */
        char *user_actions; /* JSON array text, NULL = keep (update only) */
        char *entitlements; /* JSON array text, NULL = keep (update only) */
        const char *bridge; /* NULL = no network */
        const char *clipboard; /* NULL = "both" on create, keep on update */
        const char *provisioning; /* NULL = "linked" on create, keep on update */
        char suspend_after[24];   /* "" = none on create, keep on update; "0" = never */
        char vlan[8];       /* "" = none */
};

static bool valid_pool_name(const char *n)
{
        if (!n || !*n || strlen(n) > 63 || !(g_ascii_islower(n[0]) || g_ascii_isdigit(n[0])))
                return false;
        for (const char *c = n; *c; c++)
                if (!g_ascii_islower(*c) && !g_ascii_isdigit(*c) && *c != '-' && *c != '_')
                        return false;
        return true;
}

static const char *const protocol_names[] = { "rdp", "spice", "web", NULL };
static const char *const user_action_names[] = { "restart", "logoff", NULL };
/* vdi-vm --clipboard's policies (protocols/agent/clip.h; sql/010). */
static const char *const clipboard_names[] = { "both", "guest-to-client", "client-to-guest", "none", NULL };

/* A list field whose items are names from choices, each at most once
 * (empty only when empty_ok): its JSON text in *out, NULL when the field
 * is absent. False with resp filled. */
static bool parse_choices(json_t *body, const char *field, const char *const *choices,
                          bool empty_ok, const struct pool_write *w, char **out,
                          struct http_response *resp)
{
        json_t *v = json_object_get(body, field), *p;
        bool ok;
        size_t i;

        *out = NULL;
        if (!v || json_is_null(v))
                return true;
        ok = json_is_array(v) && (empty_ok || json_array_size(v) > 0);
        json_array_foreach (ok ? v : NULL, i, p) {
                const char *name = json_string_value(p);
                bool known = false;
                for (size_t c = 0; name && choices[c]; c++)
                        known |= !strcmp(name, choices[c]);
                for (size_t k = 0; known && k < i; k++)
                        known = strcmp(json_string_value(json_array_get(v, k)), name) != 0;
                ok &= known;
        }
        if (!ok) {
                g_autofree char *names = g_strjoinv("\" and/or \"", (char **)choices);
                api_field_error(resp, 400, g_str_equal(field, "protocols") ? "bad_protocols"
                                                                            : "bad_user_actions",
                                field, "pool \"%s\": %s must be a %slist of \"%s\", each once",
                                w->name, field, empty_ok ? "" : "non-empty ", names);
                return false;
        }
        *out = json_dumps(v, JSON_COMPACT);
        return true;
}

/* Validate the body into w; false with resp filled. */
static bool pool_parse(struct broker *b, json_t *body, struct pool_write *w,
                       struct http_response *resp)
{
        static const char *const fields[] = {
                "name", "display_name", "description", "kind", "image", "image_version",
                "min_size", "max_size", "ready_size", "protocols", "vcpus", "memory_mb",
                "enabled", "entitlements", "bridge", "vlan", "user_actions", "clipboard", "provisioning",
                "suspend_after_disconnect_s", NULL,
        };
        const char *image = NULL;
        int64_t version = 0, min = 0, max = -1, ready = 0, vcpus = 2, mem = 2048, vlan = 0, suspend = -1;
        bool enabled = true;
        json_t *v;
        size_t i;

        if (!api_only_fields(body, fields, resp) ||
            !api_field_string(body, "display_name", false, &w->display_name, resp) ||
            !api_field_string(body, "description", false, &w->description, resp) ||
            !api_field_string(body, "kind", true, &w->kind, resp) ||
            !api_field_string(body, "image", true, &image, resp) ||
            !api_field_int(body, "image_version", false, 1, INT32_MAX, &version, resp) ||
            !api_field_int(body, "min_size", false, 0, 100000, &min, resp) ||
            !api_field_int(body, "max_size", true, 0, 100000, &max, resp) ||
            !api_field_int(body, "ready_size", false, 0, 100000, &ready, resp) ||
            !api_field_int(body, "vcpus", false, 1, 256, &vcpus, resp) ||
            !api_field_int(body, "memory_mb", false, 64, 4194304, &mem, resp) ||
            !api_field_bool(body, "enabled", &enabled, resp) ||
            !api_field_string(body, "bridge", false, &w->bridge, resp) ||
            !api_field_string(body, "clipboard", false, &w->clipboard, resp) ||
            !api_field_string(body, "provisioning", false, &w->provisioning, resp) ||
            !api_field_int(body, "suspend_after_disconnect_s", false, 0, 30 * 86400, &suspend, resp) ||
            !api_field_int(body, "vlan", false, 1, 4094, &vlan, resp))
                return false;
        if (w->bridge) {
                size_t n = strlen(w->bridge);
                bool ok = n >= 1 && n <= 15;
                for (const char *c = w->bridge; ok && *c; c++)
                        ok = g_ascii_isalnum(*c) || *c == '_' || *c == '.' || *c == '-';
                if (!ok) {
                        api_field_error(resp, 400, "bad_network", "bridge",
                                        "pool \"%s\": bridge \"%s\" is not a Linux interface name "
                                        "(1-15 of A-Z a-z 0-9 _ . -)",
                                        w->name, w->bridge);
                        return false;
                }
        }
        if (w->clipboard && !g_strv_contains(clipboard_names, w->clipboard)) {
                api_field_error(resp, 400, "bad_clipboard", "clipboard",
                                "pool \"%s\": clipboard \"%s\" must be \"both\", \"guest-to-client\", "
                                "\"client-to-guest\" or \"none\"",
                                w->name, w->clipboard);
                return false;
        }
        if (w->provisioning && strcmp(w->provisioning, "linked") && strcmp(w->provisioning, "instant")) {
                api_field_error(resp, 400, "bad_provisioning", "provisioning",
                                "pool \"%s\": provisioning \"%s\" must be \"linked\" (each desktop boots "
                                "its own clone) or \"instant\" (forked from a running parent)",
                                w->name, w->provisioning);
                return false;
        }
        if (suspend >= 0)
                snprintf(w->suspend_after, sizeof(w->suspend_after), "%" PRId64, suspend);
        if (vlan && !w->bridge) {
                api_field_error(resp, 400, "bad_network", "vlan",
                                "pool \"%s\": vlan %" PRId64 " needs a bridge (set \"bridge\" too)",
                                w->name, vlan);
                return false;
        }
        if (vlan)
                snprintf(w->vlan, sizeof(w->vlan), "%" PRId64, vlan);
        if (strcmp(w->kind, "dedicated") && strcmp(w->kind, "floating")) {
                api_field_error(resp, 400, "bad_kind", "kind",
                                "pool \"%s\": kind must be \"dedicated\" or \"floating\"",
                                w->name);
                return false;
        }
        if (min > max || ready > max) {
                api_field_error(resp, 400, "bad_sizes", min > max ? "min_size" : "ready_size",
                                "pool \"%s\": sizes must satisfy min_size (%" PRId64
                                ") <= max_size (%" PRId64 ") and ready_size (%" PRId64
                                ") <= max_size",
                                w->name, min, max, ready);
                return false;
        }
        if ((w->display_name && strlen(w->display_name) > 200) ||
            (w->description && strlen(w->description) > 2000)) {
                api_field_error(resp, 400, "too_long",
                                (w->display_name && strlen(w->display_name) > 200)
                                        ? "display_name"
                                        : "description",
                                "pool \"%s\": display_name is limited to 200 bytes and "
                                "description to 2000",
                                w->name);
                return false;
        }

        /* protocols: non-empty subset of rdp, spice (default both). */
        if (!parse_choices(body, "protocols", protocol_names, false, w, &w->protocols, resp))
                return false;
        if (!w->protocols)
                w->protocols = g_strdup("[\"rdp\",\"spice\"]");
        /* user_actions: what users may do to their own desktop; logoff
         * refreshes it, so only floating pools offer it. Default on
         * create: restart, and logoff for floating pools; kept on update. */
        if (!parse_choices(body, "user_actions", user_action_names, true, w, &w->user_actions,
                           resp))
                return false;
        if (w->user_actions && strstr(w->user_actions, "\"logoff\"") &&
            strcmp(w->kind, "floating")) {
                api_field_error(resp, 400, "bad_user_actions", "user_actions",
                                "pool \"%s\": \"logoff\" refreshes the desktop, so only floating "
                                "pools offer it (a dedicated desktop keeps its user's disk)",
                                w->name);
                return false;
        }
        if (!w->user_actions && w->create)
                w->user_actions = g_strdup(strcmp(w->kind, "floating")
                                                   ? "[\"restart\"]"
                                                   : "[\"restart\",\"logoff\"]");

        /* entitlements: [{kind: user|group, subject}] */
        v = json_object_get(body, "entitlements");
        if (v && !json_is_null(v)) {
                json_t *e;
                if (!json_is_array(v)) {
                        api_field_error(resp, 400, "bad_entitlements", "entitlements",
                                        "pool \"%s\": entitlements must be a list of "
                                        "{\"kind\": \"user\"|\"group\", \"subject\": ...}",
                                        w->name);
                        return false;
                }
                json_array_foreach (v, i, e) {
                        const char *k = json_string_value(json_object_get(e, "kind"));
                        const char *sub = json_string_value(json_object_get(e, "subject"));
                        if (!json_is_object(e) || json_object_size(e) != 2 || !k || !sub ||
                            (strcmp(k, "user") && strcmp(k, "group")) || !*sub ||
                            strlen(sub) > 1024) {
                                api_field_error(resp, 400, "bad_entitlements", "entitlements",
                                                "pool \"%s\": entitlement %zu must be "
                                                "{\"kind\": \"user\"|\"group\", \"subject\": "
                                                "a login name or group DN}",
                                                w->name, i + 1);
                                return false;
                        }
                }
                w->entitlements = json_dumps(v, JSON_COMPACT);
        } else if (w->create) {
                w->entitlements = g_strdup("[]");
        }

        /* The golden image version must exist (and be published when
         * the newest is meant). */
        {
                g_autofree char *err = NULL;
                char vb[24];
                PGresult *res = NULL;
                snprintf(vb, sizeof(vb), "%" PRId64, version);
                const char *params[] = { image, version ? vb : NULL };
                int r = db_exec(b->db, &pool_image_version, params, DB_IDEMPOTENT, &res, &err);
                if (r < 0) {
                        api_db_error(resp, "look up the image", r, err);
                        return false;
                }
                if (PQntuples(res) != 1) {
                        PQclear(res);
                        if (version)
                                api_field_error(resp, 400, "unknown_image", "image",
                                                "pool \"%s\": golden image \"%s\" version "
                                                "%" PRId64 " not found (register it with "
                                                "vdictl image-version)",
                                                w->name, image, version);
                        else
                                api_field_error(resp, 400, "unknown_image", "image",
                                                "pool \"%s\": golden image \"%s\" has no "
                                                "published version (register one with "
                                                "vdictl image-version)",
                                                w->name, image);
                        return false;
                }
                if (strcmp(pg_str(res, 0, 1), "published")) {
                        api_field_error(resp, 400, "image_not_published", "image",
                                        "pool \"%s\": golden image \"%s\" version %s is %s, "
                                        "not published",
                                        w->name, image, pg_str(res, 0, 2), pg_str(res, 0, 1));
                        PQclear(res);
                        return false;
                }
                snprintf(w->p[4], sizeof(w->p[4]), "%s", pg_str(res, 0, 0));
                PQclear(res);
        }
        snprintf(w->p[5], sizeof(w->p[5]), "%" PRId64, min);
        snprintf(w->p[6], sizeof(w->p[6]), "%" PRId64, max);
        snprintf(w->p[7], sizeof(w->p[7]), "%" PRId64, ready);
        snprintf(w->p[9], sizeof(w->p[9]), "%" PRId64, vcpus);
        snprintf(w->p[10], sizeof(w->p[10]), "%" PRId64, mem);
        snprintf(w->p[11], sizeof(w->p[11]), "%s", enabled ? "true" : "false");
        return true;
}

static int pool_write_tx(struct db_conn *c, void *userdata, char **error)
{
        struct pool_write *w = userdata;
        const char *params[] = { w->name, w->display_name ? w->display_name : "",
                                 w->description ? w->description : "", w->kind, w->p[4],
                                 w->p[5], w->p[6], w->p[7], w->protocols, w->p[9], w->p[10],
                                 w->p[11], w->bridge, w->vlan[0] ? w->vlan : NULL,
                                 w->user_actions, w->clipboard, w->provisioning,
                                 w->suspend_after[0] ? w->suspend_after : NULL };
        PGresult *res = NULL;
        char id[24];
        int r;

        r = exec_one_row(c, w->create ? &pool_insert : &pool_update, params, &res, error);
        if (r < 0)
                return r;
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        if (!w->entitlements)
                return 0;
        const char *p1[] = { id };
        const char *p2[] = { id, w->entitlements };
        r = db_conn_exec(c, &pool_ents_clear, p1, NULL, error);
        if (r >= 0)
                r = db_conn_exec(c, &pool_ents_add, p2, NULL, error);
        return r;
}

static void pool_respond(struct broker *b, struct http_response *resp, const char *name,
                         unsigned status)
{
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        const char *params[] = { name };
        int r = db_exec(b->db, &pools_list, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "read the pool", r, err);
                return;
        }
        if (PQntuples(res) != 1) {
                PQclear(res);
                http_respond_error(resp, 404, "unknown_pool", "no pool \"%s\"", name);
                return;
        }
        json_t *o = pg_row_object(res, 0);
        PQclear(res);
        http_respond_json(resp, status, json_pack("{s:o}", "pool", o));
}

static void pool_write(void *ctx, const struct http_request *req, struct http_response *resp,
                       bool create)
{
        ADMIN_ENTER(b, req, resp, s);
        g_autoptr(json_t) body = http_json_body(req, resp);
        struct pool_write w = { .create = create };
        g_autofree char *err = NULL;
        int r;

        if (!body)
                return;
        if (create) {
                if (!api_field_string(body, "name", true, &w.name, resp))
                        return;
        } else {
                const char *n = NULL;
                w.name = req->params[0];
                if (!api_field_string(body, "name", false, &n, resp))
                        return;
                if (n && strcmp(n, w.name)) {
                        api_field_error(resp, 400, "name_mismatch", "name",
                                        "pool \"%s\": the body names pool \"%s\"; pools "
                                        "cannot be renamed",
                                        w.name, n);
                        return;
                }
        }
        if (!valid_pool_name(w.name)) {
                api_field_error(resp, 400, "bad_name", "name",
                                "pool name \"%s\" is not valid: use 1-63 lowercase letters, "
                                "digits, '-' or '_', starting with a letter or digit",
                                w.name);
                return;
        }
        if (!pool_parse(b, body, &w, resp))
                goto out;
        r = db_transaction(b->db, DB_READ_COMMITTED, 0, pool_write_tx, &w, &err);
        if (r == -EEXIST) {
                api_field_error(resp, 409, "exists", "name", "pool \"%s\" already exists", w.name);
                goto out;
        }
        if (r == -ENOENT && !create) {
                http_respond_error(resp, 404, "unknown_pool", "no pool \"%s\"", w.name);
                goto out;
        }
        if (r == -EINVAL) {
                http_respond_error(resp, 400, "invalid", "pool \"%s\": %s", w.name, err);
                goto out;
        }
        if (r < 0) {
                api_db_error(resp, "save the pool", r, err);
                goto out;
        }
        admin_audit(b, s, req, create ? "pool.create" : "pool.update", w.name, NULL, "");
        pool_respond(b, resp, w.name, create ? 201 : 200);
out:
        g_free(w.protocols);
        g_free(w.user_actions);
        g_free(w.entitlements);
}

static void h_pools_list(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        const char *params[] = { NULL };
        respond_rows(b, resp, &pools_list, params, "pools");
}

static void h_pool_get(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        pool_respond(b, resp, req->params[0], 200);
}

static void h_pool_create(void *ctx, const struct http_request *req, struct http_response *resp)
{
        pool_write(ctx, req, resp, true);
}

static void h_pool_update(void *ctx, const struct http_request *req, struct http_response *resp)
{
        pool_write(ctx, req, resp, false);
}

static void h_pool_delete(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        g_autofree char *err = NULL;
        struct pool_delete d = { .name = req->params[0] };
        int r = db_transaction(b->db, DB_READ_COMMITTED, 0, pool_delete_tx, &d, &err);
        if (r == -ENOENT) {
                http_respond_error(resp, 404, "unknown_pool", "no pool \"%s\"", d.name);
                return;
        }
        if (r == -EBUSY) {
                http_respond_error(resp, 409, "pool_in_use",
                                   "pool \"%s\" still has %" PRId64 " desktops: set max_size to "
                                   "0 and let the reconcile loop remove them first",
                                   d.name, d.live);
                return;
        }
        if (r < 0) {
                api_db_error(resp, "delete the pool", r, err);
                return;
        }
        admin_audit(b, s, req, "pool.delete", d.name, NULL, "");
        http_respond_bytes(resp, 204, NULL, "", 0);
}

/* ---- images ---- */

DB_STMT(images_list,
        "SELECT i.id, i.name, i.description, i.created_at,"
        "  coalesce((SELECT json_agg(json_build_object('id', v.id, 'version', v.version,"
        "   'path', v.path, 'format', v.format, 'size_bytes', v.size_bytes, 'state', v.state,"
        "   'kernel', v.kernel_path, 'initrd', v.initrd_path, 'cmdline', v.cmdline,"
        "   'display', v.display, 'created_at', v.created_at) ORDER BY v.version)"
        "   FROM image_versions v WHERE v.image_id = i.id), '[]'::json) AS versions"
        " FROM images i ORDER BY i.name",
        0);
DB_STMT(image_insert,
        "INSERT INTO images (name, description) VALUES ($1, $2) RETURNING id, name, description",
        2);
DB_STMT(image_version_insert,
        "INSERT INTO image_versions (image_id, version, path, format, size_bytes, state,"
        " kernel_path, initrd_path, cmdline, display)"
        " SELECT i.id, $2::integer, $3, $4, $5::bigint, $6, $7, $8, coalesce($9, 'console=ttyS0'),"
        " $10 FROM images i WHERE i.name = $1"
        " RETURNING id, version, path, format, size_bytes, state, kernel_path AS kernel,"
        " initrd_path AS initrd, cmdline, display",
        10);

static void h_images_list(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        respond_rows(b, resp, &images_list, NULL, "images");
}

static void respond_insert(struct broker *b, struct http_response *resp, const struct db_stmt *st,
                           const char *const *params, const char *key, const char *what,
                           const char *exists_msg)
{
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        int r = db_exec(b->db, st, params, 0, &res, &err);
        if (r == -EEXIST) {
                http_respond_error(resp, 409, "exists", "%s", exists_msg);
                return;
        }
        if (r == -EINVAL) {
                http_respond_error(resp, 400, "invalid", "%s: %s", what, err);
                return;
        }
        if (r < 0) {
                api_db_error(resp, what, r, err);
                return;
        }
        if (PQntuples(res) != 1) {
                PQclear(res);
                http_respond_error(resp, 404, "not_found", "%s: the image does not exist", what);
                return;
        }
        json_t *o = pg_row_object(res, 0);
        PQclear(res);
        http_respond_json(resp, 201, json_pack("{s:o}", key, o));
}

static void h_image_create(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        static const char *const fields[] = { "name", "description", NULL };
        g_autoptr(json_t) body = http_json_body(req, resp);
        const char *name, *desc = NULL;

        if (!body || !api_only_fields(body, fields, resp) ||
            !api_field_string(body, "name", true, &name, resp) ||
            !api_field_string(body, "description", false, &desc, resp))
                return;
        if (!g_regex_match_simple("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", name, 0, 0)) {
                http_respond_error(resp, 400, "bad_name",
                                   "image name \"%s\" is not valid: use letters, digits, '.', "
                                   "'-' or '_' (at most 63), starting with a letter or digit",
                                   name);
                return;
        }
        g_autofree char *exists = g_strdup_printf("image \"%s\" already exists", name);
        const char *params[] = { name, desc ? desc : "" };
        respond_insert(b, resp, &image_insert, params, "image", "register the image", exists);
        if (resp->status == 201)
                admin_audit(b, s, req, "image.create", NULL, NULL, name);
}

/* How hosts boot a version: kernel and initrd absolute paths on the hosts,
 * an initrd only with a kernel, a one-line command line, and the display
 * device its guests drive (vdi-vm's --display). false with a 400 in resp. */
static bool version_boot_ok(const char *kernel, const char *initrd, const char *cmdline,
                            const char *display, struct http_response *resp)
{
        if ((kernel && kernel[0] != '/') || (initrd && initrd[0] != '/')) {
                http_respond_error(resp, 400, "bad_path",
                                   "kernel and initrd must be absolute paths (on the hosts)");
                return false;
        }
        if (initrd && !kernel) {
                http_respond_error(resp, 400, "bad_boot", "an initrd needs a kernel");
                return false;
        }
        if (cmdline && (strlen(cmdline) > 2048 || strpbrk(cmdline, "\r\n"))) {
                http_respond_error(resp, 400, "bad_cmdline",
                                   "cmdline must be one line of at most 2048 bytes");
                return false;
        }
        if (display && strcmp(display, "vesa") && strcmp(display, "virtio-gpu")) {
                api_field_error(resp, 400, "bad_display", "display",
                                "display \"%s\" is not \"vesa\" or \"virtio-gpu\" (the device "
                                "the image's guests drive; virtio-gpu needs virtio_gpu in the "
                                "guest)",
                                display);
                return false;
        }
        return true;
}

static void h_image_version_add(void *ctx, const struct http_request *req,
                                struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        static const char *const fields[] = { "version", "path", "format", "size_bytes", "state",
                                              "kernel", "initrd", "cmdline", "display", NULL };
        g_autoptr(json_t) body = http_json_body(req, resp);
        const char *path, *format = NULL, *state = NULL, *kernel = NULL, *initrd = NULL,
                          *cmdline = NULL, *display = NULL;
        int64_t version = 0, size = 0;
        char vb[24], sb[24];

        if (!body || !api_only_fields(body, fields, resp) ||
            !api_field_int(body, "version", true, 1, INT32_MAX, &version, resp) ||
            !api_field_string(body, "path", true, &path, resp) ||
            !api_field_string(body, "format", false, &format, resp) ||
            !api_field_int(body, "size_bytes", false, 0, INT64_MAX, &size, resp) ||
            !api_field_string(body, "state", false, &state, resp) ||
            !api_field_string(body, "kernel", false, &kernel, resp) ||
            !api_field_string(body, "initrd", false, &initrd, resp) ||
            !api_field_string(body, "cmdline", false, &cmdline, resp) ||
            !api_field_string(body, "display", false, &display, resp))
                return;
        if (!version_boot_ok(kernel, initrd, cmdline, display, resp))
                return;
        if (path[0] != '/') {
                http_respond_error(resp, 400, "bad_path",
                                   "image version path \"%s\" must be absolute (a path on the "
                                   "hosts' image store)",
                                   path);
                return;
        }
        format = format ? format : "qcow2";
        state = state ? state : "published";
        display = display ? display : "vesa";
        if (strcmp(format, "qcow2") && strcmp(format, "raw")) {
                http_respond_error(resp, 400, "bad_format", "format must be \"qcow2\" or \"raw\"");
                return;
        }
        if (strcmp(state, "importing") && strcmp(state, "published") && strcmp(state, "retired")) {
                http_respond_error(resp, 400, "bad_state",
                                   "state must be \"importing\", \"published\" or \"retired\"");
                return;
        }
        snprintf(vb, sizeof(vb), "%" PRId64, version);
        snprintf(sb, sizeof(sb), "%" PRId64, size);
        g_autofree char *exists = g_strdup_printf("image \"%s\" already has version %s",
                                                  req->params[0], vb);
        const char *params[] = { req->params[0], vb, path, format, sb, state, kernel, initrd,
                                 cmdline, display };
        respond_insert(b, resp, &image_version_insert, params, "version",
                       "register the image version", exists);
        if (resp->status == 201) {
                g_autofree char *d = g_strdup_printf("%s v%s", req->params[0], vb);
                admin_audit(b, s, req, "image.version.add", NULL, NULL, d);
        }
}

/* ---- hosts, desktops ---- */

/* A host that stopped heartbeating is down as soon as it is late ($1 s,
 * [pools] heartbeat_timeout_s), whether or not the pool loop has marked it
 * so yet (it does the same with the same limit; no loop may be running). */
DB_STMT(hosts_list,
        "SELECT h.id, h.name, h.address, h.port,"
        "  CASE WHEN h.state = 'up' AND s.stale THEN 'down' ELSE h.state END AS state,"
        "  CASE WHEN h.state = 'up' AND h.last_heartbeat IS NULL THEN 'never sent a heartbeat'"
        "       WHEN h.state = 'up' AND s.stale THEN"
        "         format('no heartbeat for %s s (limit %s s)', s.age, $1::integer)"
        "       WHEN h.state = 'down' THEN h.down_reason END AS down_reason,"
        "  h.vcpus, h.memory_mb, h.last_heartbeat, s.age AS heartbeat_age_s,"
        "  (SELECT count(*) FROM desktops d WHERE d.host_id = h.id) AS desktops"
        " FROM hosts h,"
        "  LATERAL (SELECT floor(extract(epoch FROM now() - h.last_heartbeat))::bigint AS age) a,"
        "  LATERAL (SELECT a.age AS age, a.age IS NULL OR a.age > $1::integer AS stale) s"
        " ORDER BY h.name",
        1);
/* Deleted desktops (state 'deleting' without a host: tombstones kept for
 * the assignment history) show as 'deleted', and only when history is
 * asked for ($5) or their state is; q ($4) finds a desktop or user by part
 * of the name. The open protocol session says who is connected from where. */
DB_STMT(desktops_admin_list,
        "SELECT * FROM (SELECT d.id, d.name, p.name AS pool, h.name AS host,"
        "  CASE WHEN d.state = 'deleting' AND d.host_id IS NULL THEN 'deleted'"
        "   ELSE d.state END AS state, d.pending_action,"
        "  a.user_name AS assigned_to, d.spice_port, d.rdp_port, d.state_changed_at,"
        "  i.name || ' v' || v.version AS image, d.last_error, d.quarantine_reason,"
        "  ds.user_name AS connected_user, host(ds.client_addr) AS connected_from,"
        "  ds.protocol AS connected_protocol, ds.connected_at AS connected_since"
        " FROM desktops d JOIN pools p ON p.id = d.pool_id"
        " JOIN image_versions v ON v.id = d.image_version_id JOIN images i ON i.id = v.image_id"
        " LEFT JOIN hosts h ON h.id = d.host_id"
        " LEFT JOIN assignments a ON a.desktop_id = d.id AND a.released_at IS NULL"
        " LEFT JOIN LATERAL (SELECT s.user_name, s.client_addr, s.protocol, s.connected_at"
        "   FROM desktop_sessions s WHERE s.desktop_id = d.id AND s.disconnected_at IS NULL"
        "   ORDER BY s.connected_at DESC LIMIT 1) ds ON true"
        " WHERE ($1::text IS NULL OR p.name = $1) AND ($3::text IS NULL OR a.user_name = $3)"
        "   AND ($4::text IS NULL OR strpos(lower(d.name), lower($4)) > 0"
        "        OR strpos(lower(a.user_name), lower($4)) > 0"
        "        OR strpos(lower(ds.user_name), lower($4)) > 0)) x"
        " WHERE ($2::text IS NULL OR x.state = $2)"
        "   AND (x.state <> 'deleted' OR $5::boolean OR $2::text = 'deleted')"
        " ORDER BY x.pool, x.name LIMIT 5000",
        5);
DB_STMT(desktop_mark_stmt,
        "UPDATE desktops d SET pending_action = $2 FROM pools p"
        " WHERE d.id = $1::bigint AND p.id = d.pool_id RETURNING d.name, p.name",
        2);

static void h_hosts_list(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        char limit[24];
        snprintf(limit, sizeof(limit), "%" PRId64, b->cfg->heartbeat_timeout_s);
        const char *params[] = { limit };
        respond_rows(b, resp, &hosts_list, params, "hosts");
}

static void h_desktops_list(void *ctx, const struct http_request *req,
                            struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        const char *h = http_query(req, "history"), *q = http_query(req, "q");
        bool history = false;
        if (h && !(history = !strcmp(h, "1") || !strcmp(h, "true") || !strcmp(h, "yes")) &&
            strcmp(h, "0") && strcmp(h, "false") && strcmp(h, "no")) {
                http_respond_error(resp, 400, "bad_history",
                                   "history must be yes or no (deleted desktops are hidden "
                                   "unless history=yes)");
                return;
        }
        const char *params[] = { http_query(req, "pool"), http_query(req, "state"),
                                 http_query(req, "user"), q && *q ? q : NULL,
                                 history ? "true" : "false" };
        respond_rows(b, resp, &desktops_admin_list, params, "desktops");
}

static void desktop_mark(void *ctx, const struct http_request *req, struct http_response *resp,
                         const char *action)
{
        ADMIN_ENTER(b, req, resp, s);
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        char *end = NULL;

        g_ascii_strtoll(req->params[0], &end, 10);
        if (!end || *end) {
                http_respond_error(resp, 400, "bad_id", "desktop id \"%s\" is not a number",
                                   req->params[0]);
                return;
        }
        const char *params[] = { req->params[0], action };
        int r = db_exec(b->db, &desktop_mark_stmt, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "mark the desktop", r, err);
                return;
        }
        if (PQntuples(res) != 1) {
                PQclear(res);
                http_respond_error(resp, 404, "unknown_desktop", "no desktop with id %s",
                                   req->params[0]);
                return;
        }
        g_autofree char *action_name = g_strdup_printf("desktop.%s", action);
        admin_audit(b, s, req, action_name, pg_str(res, 0, 1), pg_str(res, 0, 0), "requested");
        http_respond_json(resp, 202,
                          json_pack("{s:s, s:s, s:s}", "desktop", pg_str(res, 0, 0), "pool",
                                    pg_str(res, 0, 1), "pending_action", action));
        PQclear(res);
}

static void h_desktop_refresh(void *ctx, const struct http_request *req,
                              struct http_response *resp)
{
        desktop_mark(ctx, req, resp, "refresh");
}

static void h_desktop_delete(void *ctx, const struct http_request *req,
                             struct http_response *resp)
{
        desktop_mark(ctx, req, resp, "delete");
}

/* ---- sessions ---- */

DB_STMT(sessions_list,
        "SELECT s.id, s.user_name, s.display_name, s.is_admin, s.backend,"
        "  host(s.remote_addr) AS remote_addr, s.created_at, s.last_seen_at, s.expires_at,"
        "  coalesce((SELECT json_agg(json_build_object('id', ds.id, 'desktop', d.name,"
        "    'protocol', ds.protocol, 'connected_at', ds.connected_at))"
        "    FROM desktop_sessions ds JOIN desktops d ON d.id = ds.desktop_id"
        "    WHERE ds.user_name = s.user_name AND ds.disconnected_at IS NULL),"
        "   '[]'::json) AS desktop_sessions"
        " FROM portal_sessions s WHERE s.expires_at > now()"
        "   AND s.last_seen_at > now() - make_interval(secs => $1::integer)"
        " ORDER BY s.last_seen_at DESC LIMIT 5000",
        1);
DB_STMT(session_end, "DELETE FROM portal_sessions WHERE id = $1::bigint RETURNING user_name", 1);

static void h_sessions_list(void *ctx, const struct http_request *req,
                            struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        char idle[24];
        snprintf(idle, sizeof(idle), "%" PRId64, b->cfg->idle_timeout_s);
        const char *params[] = { idle };
        respond_rows(b, resp, &sessions_list, params, "sessions");
}

static void h_session_end(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        char *end = NULL;

        g_ascii_strtoll(req->params[0], &end, 10);
        if (!end || *end) {
                http_respond_error(resp, 400, "bad_id", "session id \"%s\" is not a number",
                                   req->params[0]);
                return;
        }
        const char *params[] = { req->params[0] };
        int r = db_exec(b->db, &session_end, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "end the session", r, err);
                return;
        }
        if (PQntuples(res) != 1) {
                PQclear(res);
                http_respond_error(resp, 404, "unknown_session", "no session with id %s",
                                   req->params[0]);
                return;
        }
        admin_audit(b, s, req, "session.end", NULL, NULL, pg_str(res, 0, 0));
        PQclear(res);
        http_respond_bytes(resp, 204, NULL, "", 0);
}

/* ---- audit, timings ---- */

DB_STMT(audit_query,
        "SELECT id, at, actor, action, outcome, pool_name, desktop_name, host_name,"
        "  host(remote_addr) AS remote_addr, detail FROM audit_events"
        " WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action LIKE $2 || '%')"
        "   AND ($3::text IS NULL OR outcome = $3) AND ($4::text IS NULL OR pool_name = $4)"
        "   AND ($5::timestamptz IS NULL OR at >= $5::timestamptz)"
        "   AND ($6::timestamptz IS NULL OR at < $6::timestamptz)"
        " ORDER BY at DESC, id DESC LIMIT $7::integer",
        7);
DB_STMT(timings_summary,
        "SELECT phase, count(*) AS count,"
        "  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_us))::numeric / 1000, 3)::text"
        "    AS p50_ms,"
        "  round((percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_us))::numeric / 1000, 3)::text"
        "    AS p99_ms,"
        "  round(max(duration_us)::numeric / 1000, 3)::text AS max_ms"
        " FROM login_timings WHERE at > now() - make_interval(secs => $1::integer)"
        " GROUP BY phase ORDER BY phase",
        1);

static bool valid_time(const char *t)
{
        /* ISO 8601 date or timestamp: digits and -:T.+Z only; PostgreSQL
         * parses it, this just keeps junk out of its error messages. */
        return !t || (strlen(t) <= 40 && g_regex_match_simple("^[0-9][0-9:T. +Z-]*$", t, 0, 0));
}

static void h_audit(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        const char *limit = http_query(req, "limit");
        const char *since = http_query(req, "since"), *until = http_query(req, "until");
        const char *outcome = http_query(req, "outcome");
        char lim[16] = "100";
        g_autofree char *err = NULL;
        PGresult *res = NULL;

        if (limit) {
                char *end = NULL;
                long v = strtol(limit, &end, 10);
                if (!end || *end || v < 1 || v > 10000) {
                        http_respond_error(resp, 400, "bad_limit",
                                           "limit must be a number from 1 to 10000");
                        return;
                }
                snprintf(lim, sizeof(lim), "%ld", v);
        }
        if (!valid_time(since) || !valid_time(until)) {
                http_respond_error(resp, 400, "bad_time",
                                   "since and until must be ISO 8601 times, e.g. "
                                   "2026-01-31T08:00:00Z");
                return;
        }
        if (outcome && strcmp(outcome, "ok") && strcmp(outcome, "denied") &&
            strcmp(outcome, "failed")) {
                http_respond_error(resp, 400, "bad_outcome",
                                   "outcome must be \"ok\", \"denied\" or \"failed\"");
                return;
        }
        const char *params[] = { http_query(req, "actor"), http_query(req, "action"), outcome,
                                 http_query(req, "pool"), since, until, lim };
        int r = db_exec(b->db, &audit_query, params, DB_IDEMPOTENT, &res, &err);
        if (r == -EINVAL) {
                http_respond_error(resp, 400, "bad_time",
                                   "since and until must be ISO 8601 times, e.g. "
                                   "2026-01-31T08:00:00Z");
                return;
        }
        if (r < 0) {
                api_db_error(resp, "query the audit log", r, err);
                return;
        }
        json_t *rows = pg_rows_array(res);
        PQclear(res);
        http_respond_json(resp, 200, json_pack("{s:o}", "events", rows));
}

static void h_timings(void *ctx, const struct http_request *req, struct http_response *resp)
{
        ADMIN_ENTER(b, req, resp, s);
        const char *w = http_query(req, "window_s");
        char win[24] = "3600";
        if (w) {
                char *end = NULL;
                long v = strtol(w, &end, 10);
                if (!end || *end || v < 1 || v > 31 * 86400) {
                        http_respond_error(resp, 400, "bad_window",
                                           "window_s must be a number of seconds up to 31 days");
                        return;
                }
                snprintf(win, sizeof(win), "%ld", v);
        }
        const char *params[] = { win };
        respond_rows(b, resp, &timings_summary, params, "phases");
}

const struct http_route api_admin_routes[] = {
        { "GET", "/api/v1/admin/pools", h_pools_list },
        { "POST", "/api/v1/admin/pools", h_pool_create },
        { "GET", "/api/v1/admin/pools/{name}", h_pool_get },
        { "PUT", "/api/v1/admin/pools/{name}", h_pool_update },
        { "DELETE", "/api/v1/admin/pools/{name}", h_pool_delete },
        { "GET", "/api/v1/admin/images", h_images_list },
        { "POST", "/api/v1/admin/images", h_image_create },
        { "POST", "/api/v1/admin/images/{name}/versions", h_image_version_add },
        { "GET", "/api/v1/admin/hosts", h_hosts_list },
        { "GET", "/api/v1/admin/desktops", h_desktops_list },
        { "POST", "/api/v1/admin/desktops/{id}/refresh", h_desktop_refresh },
        { "DELETE", "/api/v1/admin/desktops/{id}", h_desktop_delete },
        { "GET", "/api/v1/admin/sessions", h_sessions_list },
        { "DELETE", "/api/v1/admin/sessions/{id}", h_session_end },
        { "GET", "/api/v1/admin/audit", h_audit },
        { "GET", "/api/v1/admin/timings", h_timings },
        { "GET", "/api/v1/admin/overview", console_overview },
        { "GET", "/api/v1/admin/logins", console_logins },
        { "POST", "/api/v1/admin/pools/{name}/refresh", console_pool_refresh },
        { "POST", "/api/v1/admin/desktops/{id}/reset", console_desktop_reset },
        { "POST", "/api/v1/admin/desktops/{id}/suspend", console_desktop_suspend },
        { "POST", "/api/v1/admin/desktops/{id}/resume", console_desktop_resume },
        { "POST", "/api/v1/admin/desktops/{id}/screenshot", console_desktop_screenshot },
        { "POST", "/api/v1/admin/desktops/{id}/disconnect", console_desktop_disconnect },
        { "GET", "/admin", console_page },
        { "GET", "/admin/{page}", console_page },
};
const size_t api_admin_routes_count = G_N_ELEMENTS(api_admin_routes);
