/* vdi-vm's agent console (virtio-console port com.redhat.spice.0) served
 * through the remote display servers (remote.h's remote_agent): the
 * guest's spice-vdagent and SPICE clients talk through it. */
#include "config.h"

#include "agent-link.h"

#include <limits.h>

#include "vm-devices.h"

static void on_change(void *opaque, unsigned port)
{
        if (port == VM_AGENT_PORT_SPICE)
                remote_agent_changed(opaque);
}

static void on_opened(void *opaque, unsigned port, bool open)
{
        (void)open;
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

void agent_link_start(struct virtio_console *c, struct remote *r)
{
        const struct remote_agent a = { port_open, port_write, port_read, c };

        if (!c || !r)
                return;
        remote_agent_set(r, &a);
        virtio_console_set_ops(c, &link_ops, r);
}

void agent_link_stop(struct virtio_console *c, struct remote *r)
{
        if (!c || !r)
                return;
        virtio_console_set_ops(c, NULL, NULL);
        remote_agent_set(r, NULL);
}
