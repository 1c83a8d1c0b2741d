/* vdi-vm: the agent console's SPICE port served by the remote display
 * servers. */
#pragma once

#include "remote.h"
#include "virtio-devices.h"

/* Serve c's com.redhat.spice.0 port through r (when not NULL), and call
 * ready (when not NULL) the first time the guest opens org.vdi.agent.0
 * (not for a restored guest that had it open). No-op without c. Stop
 * before r or c goes away. */
void agent_link_start(struct virtio_console *c, struct remote *r, void (*ready)(void *ctx, const char *port),
                      void *ctx);
void agent_link_stop(struct virtio_console *c, struct remote *r);
