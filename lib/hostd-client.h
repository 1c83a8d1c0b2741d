/* The one client of the vdi-hostd API (DESIGN.md §4), used by the broker
 * (tickets, status) and the pool loop (images, VMs): HTTPS + JSON with
 * mutual TLS through libcurl. The caller presents its own certificate and
 * trusts only the cluster CA; every call has a connect and a total
 * timeout, so an unreachable host fails a request in bounded time.
 *
 *   POST /api/v1/vms/{id}/tickets  {protocol, user, expiry_s, reconnect_ticket?}
 *        → {protocol, host, port, password, username, routing_token, expires_in}
 *   GET  /api/v1/status            → host status object
 *
 * Errors: 0 or a negative errno and a malloc'd message in *error:
 *   -EHOSTUNREACH  could not connect, TLS failed, or no answer in time
 *   -EPROTO        the host answered something that is not the expected JSON
 *   -ENOENT        the host does not know the VM (HTTP 404)
 *   -EACCES        the host refused a reconnect ticket (HTTP 403)
 *   -EALREADY      the reconnect ticket was used already (409 reconnect_used)
 *   -EIO           the host refused (other 4xx/5xx); its message is passed on
 * The ticket password is never logged nor put in a message. */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <stdint.h>

struct hostd_conns;

struct hostd_client_config {
        const char *cert_file; /* broker's client certificate (PEM) */
        const char *key_file;
        const char *ca_file; /* cluster CA that signed the hosts' certificates */
        unsigned connect_timeout_ms;
        unsigned timeout_ms;
        struct hostd_conns *conns; /* NULL: a new connection per request */
};

/* Open connections, TLS sessions and DNS answers kept between requests
 * (a locked libcurl share, safe from many threads): a request to a host
 * reuses an idle connection instead of a new TCP and mutual-TLS handshake
 * each time, which under a login storm ran into the connect timeout.
 * 0 and *out, or -ENOMEM with *error. */
int hostd_conns_new(struct hostd_conns **out, char **error);
/* Close them all. Accepts NULL; no request may be running. */
void hostd_conns_free(struct hostd_conns *c);

/* Where a host's API listens. */
struct hostd_endpoint {
        const char *name; /* for messages */
        const char *address;
        int port;
};

struct hostd_ticket {
        char *protocol;
        char *host; /* address the client connects to */
        int port;
        char *password; /* the one-time credential: never log it */
        char *username;
        char *routing_token; /* RDP load-balancing cookie; may be "" */
        int expires_in;
};

/* One request, for callers that read the status themselves (the pool
 * loop); body may be NULL (a POST then sends an empty body). timeout_ms 0
 * uses cfg->timeout_ms (default 10 s). On any HTTP answer returns 0 with
 * the status in *status and the parsed JSON in *reply (NULL when the body
 * is not JSON; caller decrefs). -EHOSTUNREACH with *error when the host
 * could not be reached, TLS failed, or no answer came in time. */
int hostd_request(const struct hostd_client_config *cfg, const struct hostd_endpoint *host,
                  const char *method, const char *path, json_t *body, unsigned timeout_ms,
                  long *status, json_t **reply, char **error);

/* "HTTP 409: <message>" for a refused call's answer; malloc'd. */
char *hostd_reply_describe(long status, json_t *reply);

struct hostd_client;

/* Copy cfg. No connection is made. 0 or -errno. */
int hostd_client_new(const struct hostd_client_config *cfg, struct hostd_client **out,
                     char **error);
void hostd_client_free(struct hostd_client *c);

/* Ask host for a one-time ticket for VM vm_id; reconnect (or NULL) is a
 * signed reconnect ticket the host checks and uses up (lib/reconnect.h).
 * On success fills *out (free with hostd_ticket_clear). Safe to call from
 * several threads. */
int hostd_ticket_request(struct hostd_client *c, const struct hostd_endpoint *host,
                         const char *vm_id, const char *protocol, const char *user,
                         int expiry_s, const char *reconnect, struct hostd_ticket *out,
                         char **error);

/* Free the strings in t (wiping the password). Accepts NULL. */
void hostd_ticket_clear(struct hostd_ticket *t);

/* POST /api/v1/vms/{vm_id}/{action} with no body ("reset", "stop",
 * "start", "refresh"): an operation on one VM. 0 or -errno as above. */
int hostd_vm_action(struct hostd_client *c, const struct hostd_endpoint *host,
                    const char *vm_id, const char *action, char **error);

/* POST /api/v1/vms/{vm_id}/screenshot: the VM's screen now as a PNG
 * scaled to fit max_w x max_h (16-1920 each). 0 and *png (caller
 * unrefs), -EPROTO when the answer is not a PNG, or -errno as above. */
int hostd_vm_screenshot(struct hostd_client *c, const struct hostd_endpoint *host,
                        const char *vm_id, unsigned max_w, unsigned max_h, GBytes **png,
                        char **error);

/* GET /api/v1/status; the JSON object in *out (caller decrefs). */
int hostd_status(struct hostd_client *c, const struct hostd_endpoint *host, json_t **out,
                 char **error);
