/* A guest's spice-vdagent in miniature for the RDP clipboard tests: the
 * bytes of an agent port (rdp_agent_port) held in memory. It answers the
 * way spice-vdagent does: capabilities when asked, a grab of UTF-8 text
 * when it has some and a client announced itself, its text when asked,
 * and a request for the client's text when the client grabs. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocols/rdp/rdp-server.h"

struct fake_agent {
        GMutex lock;
        GByteArray *to_server;      /* guest → server bytes not read yet */
        struct vdagent_reader reader;
        char *text;                 /* what the guest copied (NULL: nothing) */
        char *received;             /* the last text the guest was given */
        unsigned announces, requests_received, texts_received;
        GMainContext *ctx;          /* where the server's display thread runs */
        struct rdp_server *srv;
};

extern const struct rdp_agent_port fake_agent_port;

void fake_agent_init(struct fake_agent *a, GMainContext *ctx, const char *text);
void fake_agent_fini(struct fake_agent *a);
/* Attach a to srv on its display thread (ctx) and wait. */
int fake_agent_attach(struct fake_agent *a, struct rdp_server *srv);
/* Detach from the server (before fake_agent_fini). */
void fake_agent_detach(struct fake_agent *a);
/* The guest copies text now: it grabs the clipboard. */
void fake_agent_copy(struct fake_agent *a, const char *text);
/* A copy of the last text the guest received (g_free) and the counts. */
char *fake_agent_received(struct fake_agent *a, unsigned *texts, unsigned *announces);
/* Raw bytes from the guest (hostile guests); the server pumps them. */
void fake_agent_send_raw(struct fake_agent *a, const void *buf, size_t len);
