#include "config.h"

#include "protocols/spice/agent.h"

#include <errno.h>
#include <glib.h>

struct spice_agent {
        SpiceCharDeviceInstance sin; /* first: spice hands it back */
        const struct spice_agent_port *port;
        void *opaque;
};

static int agent_write(SpiceCharDeviceInstance *sin, const uint8_t *buf, int len)
{
        struct spice_agent *a = (struct spice_agent *)sin;
        return len <= 0 ? 0 : a->port->write(a->opaque, buf, (size_t)len);
}

static int agent_read(SpiceCharDeviceInstance *sin, uint8_t *buf, int len)
{
        struct spice_agent *a = (struct spice_agent *)sin;
        return len <= 0 ? 0 : a->port->read(a->opaque, buf, (size_t)len);
}

static void agent_state(SpiceCharDeviceInstance *sin, int connected)
{
}

static void agent_event(SpiceCharDeviceInstance *sin, uint8_t event)
{
}

static const SpiceCharDeviceInterface agent_interface = {
        .base = {
                .type = SPICE_INTERFACE_CHAR_DEVICE,
                .description = "vdi vdagent port",
                .major_version = SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
                .minor_version = SPICE_INTERFACE_CHAR_DEVICE_MINOR,
        },
        .state = agent_state,
        .write = agent_write,
        .read = agent_read,
        .event = agent_event,
        .flags = 0,
};

struct spice_agent *spice_agent_new(SpiceServer *s, const struct spice_agent_port *port,
                                    void *opaque, int *err)
{
        struct spice_agent *a = g_new0(struct spice_agent, 1);

        a->sin.base.sif = &agent_interface.base;
        a->sin.subtype = "vdagent";
        a->port = port;
        a->opaque = opaque;
        if (spice_server_add_interface(s, &a->sin.base) != 0) {
                *err = -EIO;
                g_free(a);
                return NULL;
        }
        return a;
}

void spice_agent_wakeup(struct spice_agent *a)
{
        spice_server_char_device_wakeup(&a->sin);
}

void spice_agent_free(struct spice_agent *a)
{
        if (!a)
                return;
        spice_server_remove_interface(&a->sin.base);
        g_free(a);
}
