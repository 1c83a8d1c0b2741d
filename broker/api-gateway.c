/* POST /api/v1/gateway/redeem {ticket}: vdi-gateway asks, on behalf of a
 * browser that opened its WebSocket, where the web display of a launch's
 * ticket listens. It passes the browser's own session cookie: the ticket
 * must be a web ticket issued to that signed-in user, unused and not
 * expired, and it is used up here (vdi-vm checks it once more itself).
 *
 * No CSRF token: the body carries the one-time ticket, which no other
 * site's page can know. The answer names the display (host address and
 * port), never anything secret. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>

#include "broker/internal.h"
#include "log.h"
#include "token.h"

void api_gateway_redeem(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct broker *b = ctx;
        _cleanup_(broker_session_freep) struct broker_session *s = api_session(b, req, resp, false);
        static const char *const fields[] = { "ticket", NULL };
        g_autoptr(json_t) body = NULL;
        g_autofree char *err = NULL, *thash = NULL, *detail = NULL;
        struct db_web_route route = { 0 };
        const char *ticket = NULL;
        int r;

        if (!s)
                return;
        body = http_json_body(req, resp);
        if (!body || !api_only_fields(body, fields, resp) ||
            !api_field_string(body, "ticket", true, &ticket, resp))
                return;
        r = token_hash(ticket, &thash);
        if (r == 0)
                r = db_ticket_redeem_web(b->db, thash, s->user_name, &route, &err);
        if (r == -ENOENT || r == -EINVAL) {
                log_warning("gateway_refused", "user=%s remote=%s reason=\"ticket unknown, used, "
                            "expired or not this user's\"", s->user_name, req->client_addr);
                broker_audit(b, &(struct db_audit){ .actor = s->user_name,
                                                    .action = "desktop.web_redeem",
                                                    .outcome = "denied",
                                                    .remote_addr = req->client_addr,
                                                    .detail = "ticket refused" });
                http_respond_error(resp, 403, "ticket_refused",
                                   "the connection ticket was refused (wrong, already used, "
                                   "expired or another user's); open the desktop again from "
                                   "the portal");
                return;
        }
        if (r < 0) {
                api_db_error(resp, "redeem the connection ticket", r, err);
                return;
        }
        detail = g_strdup_printf("%s:%d", route.host, route.port);
        broker_audit(b, &(struct db_audit){ .actor = s->user_name,
                                            .action = "desktop.web_redeem",
                                            .remote_addr = req->client_addr,
                                            .detail = detail });
        log_info("gateway_redeem", "user=%s desktop=%" PRId64 " display=%s", s->user_name,
                 route.desktop_id, detail);
        http_respond_json(resp, 200,
                          json_pack("{s:s, s:i, s:s, s:I}", "host", route.host, "port", route.port,
                                    "user", s->user_name, "desktop_id",
                                    (json_int_t)route.desktop_id));
        db_web_route_clear(&route);
}
