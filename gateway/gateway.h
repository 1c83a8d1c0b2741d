/* vdi-gateway: browsers' WebSocket to their desktops' web displays
 * (protocols/web/PROTOCOL.md, "The gateway"). It listens on the portal's
 * origin (behind the load balancer's path routing), checks the
 * handshake's Origin, takes the page's HELLO, redeems its ticket at the
 * broker with the browser's own session cookie, connects to the VM's web
 * display over TLS verified with the deployment CA, and relays messages
 * both ways. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"

struct gateway_config {
        /* [gateway] */
        char *listen;
        int64_t port;
        char *cert, *key;
        char *origin;     /* the portal's, https://HOST[:PORT] */
        char *path;       /* where the WebSocket is served */
        char *broker_url; /* https://HOST:PORT of the brokers */
        char *ca_file;    /* the deployment CA: brokers' and hosts' certificates */
        /* [limits] */
        int64_t max_sessions, max_pending;
        int64_t hello_timeout_s, connect_timeout_s;
        int64_t max_input_bytes_per_s;
        int64_t max_frames_ahead;
        /* [log] */
        char *log_level;
};

extern const struct conf_option gateway_conf_options[];
extern const size_t gateway_conf_options_count;

/* Checks beyond the schema: origin, path, broker_url. 0 or -EINVAL with
 * *error (g_free). */
int gateway_config_check(const struct gateway_config *cfg, char **error);

struct gateway;

/* What the gateway has done so far. */
struct gateway_stats {
        uint64_t relays_opened, refused;
        unsigned active, pending;
};

/* Listen on cfg->listen:cfg->port (0: any free port) on the thread-default
 * main context. 0 and *out, or -errno with *error (g_free). */
int gateway_start(const struct gateway_config *cfg, struct gateway **out, char **error);
uint16_t gateway_port(const struct gateway *g);
void gateway_get_stats(const struct gateway *g, struct gateway_stats *out);
/* Close every relay and stop listening; NULL is fine. */
void gateway_stop(struct gateway *g);
