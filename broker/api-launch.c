/* POST /api/v1/launch {pool, protocol}: entitlement → the user's live
 * desktop in the pool, or a newly claimed one → one-time ticket from the
 * desktop's host → connection file.
 *
 * When the host cannot give a ticket, a desktop claimed by this request is
 * given back (its assignment row deleted, the desktop 'ready' again), so
 * the database looks as if the request never happened; a desktop the user
 * already held stays theirs (it was theirs before the request, and
 * reconnecting later must find it). */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "broker/internal.h"
#include "broker/launch-file.h"
#include "log.h"
#include "token.h"

DB_STMT(launch_pool,
        "SELECT p.id, p.name, coalesce(nullif(p.display_name, ''), p.name), p.enabled,"
        "  $3 = ANY(p.protocols), array_to_string(p.protocols, ', '),"
        "  EXISTS (SELECT 1 FROM pool_entitlements e WHERE e.pool_id = p.id AND"
        "   ((e.kind = 'user' AND lower(e.subject) = lower($4)) OR"
        "    (e.kind = 'group' AND lower(e.subject) IN"
        "       (SELECT json_array_elements_text($5::json)))))"
        " FROM pools p WHERE p.id = $1::bigint OR ($1 IS NULL AND p.name = $2)",
        5);
DB_STMT(launch_host,
        "SELECT h.name, h.address, h.port, h.state FROM desktops d"
        " JOIN hosts h ON h.id = d.host_id WHERE d.id = $1::bigint",
        1);
/* Undo a claim made by this request (see the comment at the top). */
DB_STMT(launch_unclaim,
        "WITH del AS (DELETE FROM assignments WHERE id = $1::bigint AND released_at IS NULL"
        "             RETURNING desktop_id)"
        " UPDATE desktops SET state = 'ready', state_changed_at = now()"
        " WHERE id = (SELECT desktop_id FROM del) AND state = 'assigned'",
        1);

struct launch {
        struct broker *b;
        struct broker_session *s;
        const struct http_request *req;
        const char *protocol;
        int64_t pool_id;
        char *pool_name, *pool_title;
        struct db_claim claim;
        bool claimed;
        char *host_name, *host_address;
        int host_port;
};

static void launch_audit(struct launch *l, const char *outcome, const char *detail)
{
        broker_audit(l->b, &(struct db_audit){ .actor = l->s->user_name,
                                               .action = "desktop.launch",
                                               .outcome = outcome,
                                               .pool_name = l->pool_name,
                                               .desktop_name = l->claim.desktop_name,
                                               .host_name = l->host_name,
                                               .remote_addr = l->req->client_addr,
                                               .detail = detail });
}

static void unclaim(struct launch *l)
{
        g_autofree char *err = NULL;
        char id[24];

        if (!l->claimed || l->claim.existing)
                return;
        snprintf(id, sizeof(id), "%" PRId64, l->claim.assignment_id);
        const char *params[] = { id };
        if (db_exec(l->b->db, &launch_unclaim, params, DB_IDEMPOTENT, NULL, &err) < 0)
                log_error("unclaim_failed", "assignment=%s error=\"%s\"", id, err);
}

/* Pool and entitlement. Returns false with resp filled. */
static bool find_pool(struct launch *l, json_t *pool, struct http_response *resp)
{
        g_autofree char *err = NULL, *groups = json_dumps(l->s->groups, JSON_COMPACT);
        char idbuf[24];
        const char *id = NULL, *name = NULL;
        g_autofree char *shown = NULL;
        PGresult *res = NULL;
        int r;

        if (json_is_integer(pool)) {
                snprintf(idbuf, sizeof(idbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(pool));
                id = idbuf;
                shown = g_strdup(idbuf);
        } else {
                name = json_string_value(pool);
                shown = g_strdup(name);
        }
        const char *params[] = { id, name, l->protocol, l->s->user_name, groups };
        r = db_exec(l->b->db, &launch_pool, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                api_db_error(resp, "look up the pool", r, err);
                return false;
        }
        /* Unknown and not entitled look the same: no probing for names. */
        if (PQntuples(res) != 1 || !pg_bool(res, 0, 6)) {
                PQclear(res);
                broker_metrics_launch(&l->b->metrics, LAUNCH_DENIED);
                http_respond_error(resp, 404, "unknown_pool",
                                   "no desktop pool \"%s\" is available to you", shown);
                return false;
        }
        l->pool_id = pg_i64(res, 0, 0);
        l->pool_name = g_strdup(pg_str(res, 0, 1));
        l->pool_title = g_strdup(pg_str(res, 0, 2));
        if (!pg_bool(res, 0, 3)) {
                http_respond_error(resp, 409, "pool_disabled",
                                   "desktop pool \"%s\" is disabled by the administrator",
                                   l->pool_title);
        } else if (!pg_bool(res, 0, 4)) {
                http_respond_error(resp, 400, "protocol_not_offered",
                                   "desktop pool \"%s\" does not offer %s; it offers: %s",
                                   l->pool_title, l->protocol, pg_str(res, 0, 5));
        } else {
                PQclear(res);
                return true;
        }
        PQclear(res);
        broker_metrics_launch(&l->b->metrics, LAUNCH_DENIED);
        return false;
}

/* Ticket from the host; on failure gives the claim back. */
static bool get_ticket(struct launch *l, struct hostd_ticket *t, struct http_response *resp)
{
        g_autofree char *err = NULL;
        char id[24];
        PGresult *res = NULL;
        int r;

        snprintf(id, sizeof(id), "%" PRId64, l->claim.desktop_id);
        const char *params[] = { id };
        r = db_exec(l->b->db, &launch_host, params, DB_IDEMPOTENT, &res, &err);
        if (r < 0) {
                unclaim(l);
                api_db_error(resp, "look up the desktop's host", r, err);
                return false;
        }
        if (PQntuples(res) != 1) {
                PQclear(res);
                unclaim(l);
                broker_metrics_launch(&l->b->metrics, LAUNCH_FAILED);
                launch_audit(l, "failed", "desktop has no host");
                http_respond_error(resp, 503, "no_host",
                                   "desktop %s is not placed on a host yet; try again in a "
                                   "minute",
                                   l->claim.desktop_name);
                return false;
        }
        l->host_name = g_strdup(pg_str(res, 0, 0));
        l->host_address = g_strdup(pg_str(res, 0, 1));
        l->host_port = (int)pg_i64(res, 0, 2);
        struct hostd_endpoint ep = { .name = l->host_name,
                                     .address = l->host_address,
                                     .port = l->host_port };
        r = hostd_ticket_request(l->b->hosts, &ep, id, l->protocol, l->s->user_name,
                                 (int)l->b->cfg->ticket_ttl_s, NULL, t, &err);
        PQclear(res);
        if (r == 0)
                return true;
        unclaim(l);
        g_autofree char *why = log_quote(err);
        log_error("launch_host_failed", "user=%s pool=%s desktop=%s host=%s error=%s",
                  l->s->user_name, l->pool_name, l->claim.desktop_name, l->host_name, why);
        launch_audit(l, "failed", err);
        if (r == -EHOSTUNREACH) {
                broker_metrics_launch(&l->b->metrics, LAUNCH_HOST_UNREACHABLE);
                http_respond_error(resp, 503, "host_unreachable",
                                   "desktop host %s is not reachable; try again in a minute, "
                                   "or tell your administrator if it keeps happening",
                                   l->host_name);
                http_add_header(resp, "Retry-After", "30");
        } else {
                broker_metrics_launch(&l->b->metrics, LAUNCH_HOST_ERROR);
                http_respond_error(resp, 502, "host_error",
                                   "desktop host %s could not prepare your connection; try "
                                   "again, or tell your administrator",
                                   l->host_name);
        }
        return false;
}

void api_launch(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        _cleanup_(broker_session_freep) struct broker_session *s = api_session(b, req, resp, true);
        static const char *const fields[] = { "pool", "protocol", NULL };
        g_autoptr(json_t) body = NULL;
        g_autofree char *err = NULL, *request_id = NULL;
        g_autofree char *reconnect_ticket = NULL, *vm_id = NULL;
        struct hostd_ticket ticket = { 0 };
        struct launch l = { .b = b, .req = req };
        json_t *out = NULL;
        struct broker_timer t;
        json_t *pool;
        int r;

        if (!s)
                return;
        l.s = s;
        broker_timer_start(&t);
        body = http_json_body(req, resp);
        if (!body || !api_only_fields(body, fields, resp) ||
            !api_field_string(body, "protocol", true, &l.protocol, resp))
                return;
        pool = json_object_get(body, "pool");
        if (!pool || json_is_null(pool)) {
                http_respond_error(resp, 400, "missing_field", "missing field \"pool\"");
                return;
        }
        if (!json_is_integer(pool) && !json_is_string(pool)) {
                http_respond_error(resp, 400, "wrong_type",
                                   "field \"pool\" must be a pool id (integer) or name (string)");
                return;
        }
        if (strcmp(l.protocol, "rdp") && strcmp(l.protocol, "spice") && strcmp(l.protocol, "web")) {
                http_respond_error(resp, 400, "bad_protocol",
                                   "field \"protocol\" must be \"rdp\", \"spice\" or \"web\"");
                return;
        }
        if (!find_pool(&l, pool, resp))
                goto out;
        broker_timer_mark(&t, PHASE_ENTITLEMENT);

        r = db_desktop_claim(b->db, l.pool_id, s->user_name, s->user_dn, &l.claim, &err);
        if (r == -ENOSPC) {
                broker_metrics_launch(&b->metrics, LAUNCH_NO_DESKTOP);
                launch_audit(&l, "failed", "no ready desktop");
                http_respond_error(resp, 503, "no_desktop",
                                   "every desktop in \"%s\" is in use or still being prepared; "
                                   "try again in a few minutes",
                                   l.pool_title);
                http_add_header(resp, "Retry-After", "60");
                goto out;
        }
        if (r < 0) {
                broker_metrics_launch(&b->metrics, LAUNCH_FAILED);
                api_db_error(resp, "assign a desktop", r, err);
                goto out;
        }
        l.claimed = true;
        broker_timer_mark(&t, PHASE_CLAIM);

        if (!get_ticket(&l, &ticket, resp))
                goto out;
        broker_timer_mark(&t, PHASE_TICKET);

        launch_record_ticket(b, &ticket, l.claim.desktop_id, s->user_name, l.protocol,
                             l.claim.desktop_name);

        vm_id = g_strdup_printf("%" PRId64, l.claim.desktop_id);
        reconnect_ticket = launch_reconnect_ticket(
                b, &(struct reconnect_claims){ .user = s->user_name,
                                               .vm = vm_id,
                                               .host = l.host_name,
                                               .address = l.host_address,
                                               .port = l.host_port,
                                               .protocol = (char *)l.protocol,
                                               .pool = l.pool_name,
                                               .desktop = l.claim.desktop_name });
        struct launch_answer a = {
                .protocol = l.protocol,
                .pool_name = l.pool_name,
                .pool_title = l.pool_title,
                .desktop_id = l.claim.desktop_id,
                .desktop_name = l.claim.desktop_name,
                .reconnected = l.claim.existing,
                .ticket = &ticket,
                .reconnect_ticket = reconnect_ticket,
        };
        g_clear_pointer(&err, g_free);
        r = launch_answer_json(b, &a, &out, &err);
        if (r < 0) {
                unclaim(&l);
                broker_metrics_launch(&b->metrics, LAUNCH_HOST_ERROR);
                launch_audit(&l, "failed", err);
                http_respond_error(resp, 502, "host_error",
                                   "desktop host %s gave a connection that cannot be written "
                                   "to a file; tell your administrator",
                                   l.host_name);
                goto out;
        }
        broker_timer_mark(&t, PHASE_FILE);
        t.us[PHASE_TOTAL_LAUNCH] = broker_now_us() - t.start_us;
        t.done[PHASE_TOTAL_LAUNCH] = true;
        token_new(TOKEN_MIN_BYTES, &request_id);
        broker_record_timings(b, request_id ? request_id : "", s->user_name, &t);
        broker_metrics_launch(&b->metrics, LAUNCH_OK);
        launch_audit(&l, "ok", l.protocol);
        log_info("launch", "user=%s pool=%s desktop=%s host=%s protocol=%s reconnect=%s ms=%.1f",
                 s->user_name, l.pool_name, l.claim.desktop_name, l.host_name, l.protocol,
                 l.claim.existing ? "yes" : "no", (double)t.us[PHASE_TOTAL_LAUNCH] / 1e3);

        http_respond_json(resp, 200, out);
out:
        hostd_ticket_clear(&ticket);
        db_claim_clear(&l.claim);
        g_free(l.pool_name);
        g_free(l.pool_title);
        g_free(l.host_name);
        g_free(l.host_address);
}

void launch_record_ticket(struct broker *b, const struct hostd_ticket *t, int64_t desktop_id,
                          const char *user, const char *protocol, const char *desktop_name)
{
        g_autofree char *thash = NULL, *err = NULL;

        bool web = !strcmp(protocol, "web");

        /* Unrecorded, a web ticket cannot be redeemed at the gateway: the
         * launch answer still goes out, and the page says "refused". */
        if (token_hash(t->password, &thash) == 0 &&
            db_ticket_create(b->db, thash, desktop_id, user, protocol, t->expires_in,
                             web ? t->host : NULL, web ? t->port : 0, &err) < 0)
                log_warning("ticket_not_recorded", "desktop=%s error=\"%s\"", desktop_name, err);
}

/* The browser's launch: what desktop.html needs (protocols/web/PROTOCOL.md,
 * "The gateway"); the ticket goes to the page, never into a URL. */
static json_t *web_answer(struct broker *b, const struct launch_answer *a)
{
        const struct hostd_ticket *t = a->ticket;

        return json_pack("{s:{s:s, s:s}, s:i, s:s, s:b, s:{s:I, s:s, s:s}}", "web", "path",
                         b->cfg->web_gateway_path, "ticket", t->password, "expires_in",
                         t->expires_in, "protocol", a->protocol, "reconnected", a->reconnected,
                         "desktop", "id", (json_int_t)a->desktop_id, "name", a->desktop_name,
                         "pool", a->pool_name);
}

int launch_answer_json(struct broker *b, const struct launch_answer *a, json_t **out,
                       char **error)
{
        const struct hostd_ticket *t = a->ticket;
        struct launch_file file = { 0 };
        json_t *v;
        struct launch_file_params fp = {
                .title = a->pool_title,
                .host = t->host,
                .port = t->port,
                .username = t->username,
                .password = t->password,
                .routing_token = t->routing_token,
                .ca_pem = b->cluster_ca_pem,
                .expires_in = t->expires_in,
        };
        int r;

        if (!strcmp(a->protocol, "web")) {
                v = web_answer(b, a);
                goto done;
        }
        r = launch_file_build(a->protocol, a->pool_name, &fp, &file, error);
        if (r < 0)
                return r;
        v = json_pack(
                "{s:{s:s, s:s, s:s}, s:i, s:s, s:s, s:i, s:s, s:b, s:{s:I, s:s, s:s}}", "file",
                "name", file.name, "content_type", file.content_type, "content", file.content,
                "expires_in", t->expires_in, "protocol", a->protocol, "host", t->host, "port",
                t->port, "username", t->username, "reconnected", a->reconnected, "desktop", "id",
                (json_int_t)a->desktop_id, "name", a->desktop_name, "pool", a->pool_name);
        launch_file_clear(&file);
done:
        if (!v) {
                *error = g_strdup("out of memory");
                return -ENOMEM;
        }
        /* RDP's NLA needs the one-time password typed (or pasted) into the
         * client: mstsc cannot take it from the file. */
        if (!strcmp(a->protocol, "rdp"))
                json_object_set_new(v, "password", json_string(t->password));
        if (a->reconnect_ticket) {
                json_object_set_new(v, "reconnect_ticket", json_string(a->reconnect_ticket));
                json_object_set_new(v, "reconnect_expires_in",
                                    json_integer(b->cfg->reconnect_lifetime_s));
        }
        *out = v;
        return 0;
}

char *launch_reconnect_ticket(struct broker *b, struct reconnect_claims *c)
{
        char *text = NULL;
        int r;

        if (!b->reconnect_key)
                return NULL;
        c->issued_at_ms = g_get_real_time() / 1000;
        c->expires_at = c->issued_at_ms / 1000 + b->cfg->reconnect_lifetime_s;
        c->nonce = NULL;
        r = reconnect_sign(b->reconnect_key, c, &text);
        if (r < 0) {
                log_error("reconnect_sign_failed", "user=%s desktop=%s error=\"%s\"", c->user,
                          c->vm, g_strerror(-r));
                return NULL;
        }
        return text;
}
