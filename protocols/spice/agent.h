/* The SPICE agent channel: spice's "vdagent" character device, whose bytes
 * (VDIChunkHeader + VDAgentMessage stream: monitor configs, clipboard,
 * capabilities) travel between clients and the guest's spice-vdagent over a
 * transport the engine provides (a virtio-serial port named
 * com.redhat.spice.0, once the engine has one). Attach it when the guest's
 * agent opens the port, detach when it closes: clients see the agent come
 * and go. */
#pragma once

#include <spice.h>

#include "protocols/agent/clip.h"
#include <stddef.h>
#include <stdint.h>

struct spice_agent_port {
        /* Client bytes for the guest agent. Returns how many were taken
         * (short writes and 0 are fine: spice retries after
         * spice_display_agent_wakeup), or -errno. */
        int (*write)(void *opaque, const uint8_t *buf, size_t len);
        /* Guest agent bytes for the client: returns how many were stored in
         * buf (0 when none). */
        int (*read)(void *opaque, uint8_t *buf, size_t len);
};

struct spice_agent;

/* Register the vdagent device with s. A one-way clipboard policy filters
 * the clipboard messages it refuses out of both directions (spice-server's
 * own filter, spice_server_set_agent_copypaste, is all or nothing: the
 * caller sets it for both and none). NULL with -errno in *err. */
struct spice_agent *spice_agent_new(SpiceServer *s, const struct spice_agent_port *port,
                                    void *opaque, enum agent_clip_policy policy, int *err);
/* The port has data to read or room to write again. */
void spice_agent_wakeup(struct spice_agent *a);
/* Unregister and free. Accepts NULL. */
void spice_agent_free(struct spice_agent *a);
