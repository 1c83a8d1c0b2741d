/* POST /api/v1/reconnect {reconnect_ticket}: back into the desktop a
 * launch gave, with the reconnect ticket that launch signed
 * (lib/reconnect.h), and without the database when it is down.
 *
 * The ticket is the credential (no session cookie: portal sessions live
 * in the database). The broker checks its signature and lifetime, and,
 * when the database answers, that the assignment is still live; then the
 * desktop's host, named in the ticket, checks it again with the public
 * key and uses it up (hostd/reconnect.c), and gives a one-time connection
 * ticket. The answer is a launch's, with a new reconnect ticket. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <string.h>
#include <time.h>

#include "broker/internal.h"
#include "log.h"

DB_STMT(reconnect_live,
        "SELECT 1 FROM assignments WHERE desktop_id = $1::bigint AND user_name = $2"
        " AND released_at IS NULL",
        2);

/* Whether the user still holds the desktop: 1 yes, 0 no, -errno when the
 * database cannot say (then the signed ticket alone decides). */
static int assignment_live(struct broker *b, const struct reconnect_claims *c)
{
        g_autofree char *err = NULL;
        PGresult *res = NULL;
        const char *params[] = { c->vm, c->user };
        int r = db_exec(b->db, &reconnect_live, params, DB_IDEMPOTENT, &res, &err);

        if (r < 0) {
                g_autofree char *why = log_quote(err);
                log_warning("reconnect_offline", "user=%s desktop=%s error=%s", c->user, c->vm,
                            why);
                return r;
        }
        r = PQntuples(res) == 1;
        PQclear(res);
        return r;
}

static void refuse(struct http_response *resp, unsigned status, const char *code,
                   const struct reconnect_claims *c, const char *why)
{
        g_autofree char *quoted = log_quote(why);
        log_warning("reconnect_refused", "user=%s desktop=%s error=%s",
                    c && c->user ? c->user : "-", c && c->vm ? c->vm : "-", quoted);
        http_respond_error(resp, status, code, "%s", why);
}

void api_reconnect(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        static const char *const fields[] = { "reconnect_ticket", NULL };
        g_autoptr(json_t) body = NULL;
        g_autofree char *err = NULL, *next = NULL;
        struct reconnect_claims c = { 0 };
        struct hostd_ticket ticket = { 0 };
        const char *text = NULL;
        json_t *out = NULL;
        int r, live;

        if (!b->reconnect_key) {
                http_respond_error(resp, 404, "reconnect_disabled",
                                   "this broker gives no reconnect tickets ([reconnect] key is "
                                   "not set); sign in again");
                return;
        }
        body = http_json_body(req, resp);
        if (!body || !api_only_fields(body, fields, resp) ||
            !api_field_string(body, "reconnect_ticket", true, &text, resp))
                return;
        r = reconnect_verify(b->reconnect_key, text, (int64_t)time(NULL), &c, &err);
        if (r < 0) {
                refuse(resp, r == -EINVAL ? 400 : 403,
                       r == -EINVAL ? "bad_reconnect_ticket" : "reconnect_refused", NULL, err);
                return;
        }
        live = assignment_live(b, &c);
        if (live == 0) {
                refuse(resp, 403, "reconnect_refused", &c,
                       "this desktop is no longer assigned to you; sign in again");
                goto out;
        }

        struct hostd_endpoint ep = { .name = c.host, .address = c.address, .port = c.port };
        g_clear_pointer(&err, g_free);
        r = hostd_ticket_request(b->hosts, &ep, c.vm, c.protocol, c.user,
                                 (int)b->cfg->ticket_ttl_s, text, &ticket, &err);
        if (r == -EACCES || r == -EALREADY) {
                refuse(resp, r == -EACCES ? 403 : 409,
                       r == -EACCES ? "reconnect_refused" : "reconnect_used", &c, err);
                goto out;
        }
        if (r < 0) {
                g_autofree char *why = log_quote(err);
                log_error("reconnect_host_failed", "user=%s desktop=%s host=%s error=%s", c.user,
                          c.vm, c.host, why);
                if (r == -EHOSTUNREACH) {
                        http_respond_error(resp, 503, "host_unreachable",
                                           "desktop host %s is not reachable; try again in a "
                                           "minute",
                                           c.host);
                        http_add_header(resp, "Retry-After", "30");
                } else {
                        http_respond_error(resp, 502, "host_error",
                                           "desktop host %s could not prepare your connection; "
                                           "try again, or tell your administrator",
                                           c.host);
                }
                goto out;
        }

        /* The next one: this one is used up on the host. */
        g_free(c.nonce);
        next = launch_reconnect_ticket(b, &c);
        struct launch_answer a = {
                .protocol = c.protocol,
                .pool_name = c.pool,
                .pool_title = c.pool,
                .desktop_id = g_ascii_strtoll(c.vm, NULL, 10),
                .desktop_name = c.desktop,
                .reconnected = true,
                .ticket = &ticket,
                .reconnect_ticket = next,
        };
        g_clear_pointer(&err, g_free);
        r = launch_answer_json(b, &a, &out, &err);
        if (r < 0) {
                g_autofree char *why = log_quote(err);
                log_error("reconnect_file_failed", "user=%s desktop=%s error=%s", c.user, c.vm,
                          why);
                http_respond_error(resp, 502, "host_error",
                                   "desktop host %s gave a connection that cannot be written to "
                                   "a file; tell your administrator",
                                   c.host);
                goto out;
        }
        if (live > 0) {
                launch_record_ticket(b, &ticket, a.desktop_id, c.user, c.protocol, c.desktop);
                broker_audit(b, &(struct db_audit){ .actor = c.user,
                                                    .action = "desktop.reconnect",
                                                    .outcome = "ok",
                                                    .pool_name = c.pool,
                                                    .desktop_name = c.desktop,
                                                    .host_name = c.host,
                                                    .remote_addr = req->client_addr,
                                                    .detail = c.protocol });
        }
        log_info("reconnect", "user=%s pool=%s desktop=%s host=%s protocol=%s database=%s",
                 c.user, c.pool, c.desktop, c.host, c.protocol, live > 0 ? "up" : "down");
        http_respond_json(resp, 200, out);
out:
        hostd_ticket_clear(&ticket);
        reconnect_claims_clear(&c);
}
