/* vdi-vm: the agent console's SPICE port served by the remote display
 * servers. */
#pragma once

#include "remote.h"
#include "virtio-devices.h"

/* Serve c's com.redhat.spice.0 port through r (no-op when either is
 * NULL). Stop before r or c goes away. */
void agent_link_start(struct virtio_console *c, struct remote *r);
void agent_link_stop(struct virtio_console *c, struct remote *r);
