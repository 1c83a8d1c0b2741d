/* vdi-vm: the agent console's host side. Its SPICE port is served by the
 * remote display servers; its org.vdi.agent.0 port carries vdi-vm's own
 * messages to our guest agent (one JSON object per line, e.g. the
 * "cloned" event of identity.h). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "remote.h"
#include "virtio-devices.h"

#define AGENT_LINK_OUT_MAX (64u * 1024) /* bytes queued for org.vdi.agent.0 */

struct agent_link {
        struct virtio_console *c;
        struct remote *r;
        pthread_mutex_t lock;
        char *out;              /* for org.vdi.agent.0, not yet taken */
        size_t len, off;
        char in[1024];          /* from org.vdi.agent.0: a line not yet whole */
        size_t in_len;
        bool in_skip;           /* dropping a line too long for in */
        void (*ready)(void *ctx); /* the guest's agent opened org.vdi.agent.0 */
        void *ready_ctx;
        bool told;              /* ready was called (or the port was open at start) */
};

/* Serve c's ports: com.redhat.spice.0 through r (when not NULL), and
 * agent_link_send; the agent's time requests are answered
 * (identity_time_reply), its other lines dropped. No-op when c is NULL. Stop before r or c goes away. */
void agent_link_start(struct agent_link *l, struct virtio_console *c, struct remote *r);
/* Call ready(ctx) the first time the guest opens org.vdi.agent.0 (not for
 * a restored guest that had it open): on the console's device thread,
 * whose seccomp filter allows no socket writes. Before agent_link_start. */
void agent_link_on_ready(struct agent_link *l, void (*ready)(void *ctx), void *ctx);
void agent_link_stop(struct agent_link *l);

/* Queue line (a newline is added) for the guest program that opens
 * org.vdi.agent.0; it is written as soon as the port is open and has room.
 * Any thread. 0, -ENODEV without an agent console, -ENOBUFS when
 * AGENT_LINK_OUT_MAX bytes wait already, -ENOMEM. */
int agent_link_send(struct agent_link *l, const char *line);
