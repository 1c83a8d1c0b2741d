/* Inside vdi-gateway: the server (gateway.c) and its relays (relay.c). */
#pragma once

#include <libsoup/soup.h>

#include "gateway/gateway.h"

struct gateway {
        struct gateway_config cfg; /* strings owned */
        SoupServer *server;
        SoupSession *client; /* to the brokers and the hosts; verifies with ca_file */
        uint16_t port;
        GList *relays; /* struct relay * */
        struct gateway_stats stats;
};

struct relay;

/* A browser's WebSocket that passed the Origin check: the relay owns a
 * reference to conn. cookie (may be NULL) is the handshake's Cookie
 * header, peer its address. */
void relay_new(struct gateway *g, SoupWebsocketConnection *conn, const char *cookie,
               const char *peer);
/* Close both sides now (the gateway is stopping). */
void relay_shutdown(struct relay *r);
