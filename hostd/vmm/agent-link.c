/* vdi-vm's agent console: port com.redhat.spice.0 served through the
 * remote display servers (remote.h's remote_agent), so the guest's
 * spice-vdagent and SPICE clients talk through it; and the first open of
 * org.vdi.agent.0 by the guest's own agent, reported once as "agent-ready"
 * (vdi-hostd waits for it before it suspends an instant-clone parent). */
#include "config.h"

#include "agent-link.h"

#include <limits.h>

#include "vm-devices.h"

/* One per process: vdi-vm runs one VM. */
static struct {
        struct remote *r;
        void (*ready)(void *ctx, const char *port);
        void *ctx;
        bool told;
} the_link;

static void on_change(void *opaque, unsigned port)
{
        (void)opaque;
        if (port == VM_AGENT_PORT_SPICE && the_link.r)
                remote_agent_changed(the_link.r);
}

static void on_opened(void *opaque, unsigned port, bool open)
{
        if (open && port == VM_AGENT_PORT_VDI && !the_link.told && the_link.ready) {
                the_link.told = true;
                the_link.ready(the_link.ctx, VM_AGENT_PORT_VDI_NAME);
        }
        on_change(opaque, port);
}

static const struct virtio_console_ops link_ops = {
        .opened = on_opened,
        .readable = on_change,
        .writable = on_change,
};

static bool port_open(void *opaque)
{
        return virtio_console_guest_open(opaque, VM_AGENT_PORT_SPICE);
}

static int port_write(void *opaque, const uint8_t *buf, size_t len)
{
        return (int)virtio_console_write(opaque, VM_AGENT_PORT_SPICE, buf, len > INT_MAX ? INT_MAX : len);
}

static int port_read(void *opaque, uint8_t *buf, size_t len)
{
        return (int)virtio_console_read(opaque, VM_AGENT_PORT_SPICE, buf, len > INT_MAX ? INT_MAX : len);
}

void agent_link_start(struct virtio_console *c, struct remote *r, void (*ready)(void *ctx, const char *port),
                      void *ctx)
{
        const struct remote_agent a = { port_open, port_write, port_read, c };

        if (!c)
                return;
        the_link.r = r;
        the_link.ready = ready;
        the_link.ctx = ctx;
        /* A restored guest's agent has its port open already: no news. */
        the_link.told = virtio_console_guest_open(c, VM_AGENT_PORT_VDI);
        if (r)
                remote_agent_set(r, &a);
        virtio_console_set_ops(c, &link_ops, NULL);
}

void agent_link_stop(struct virtio_console *c, struct remote *r)
{
        if (!c)
                return;
        virtio_console_set_ops(c, NULL, NULL);
        if (r)
                remote_agent_set(r, NULL);
        the_link.r = NULL;
}
