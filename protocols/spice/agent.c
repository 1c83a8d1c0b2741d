#include "config.h"

#include "protocols/spice/agent.h"

#include <errno.h>
#include <glib.h>

#include "protocols/agent/filter.h"

/* Filtered bytes held for the guest before spice's writes are refused. */
#define BACKLOG_MAX (256u * 1024)

struct spice_agent {
        SpiceCharDeviceInstance sin; /* first: spice hands it back */
        const struct spice_agent_port *port;
        void *opaque;
        /* A one-way clipboard policy: both directions go through a filter
         * (NULL: bytes pass as they are). */
        struct vdagent_filter *to_guest, *from_guest;
};

/* Write what the guest's port takes of the filtered bytes. */
static void flush_to_guest(struct spice_agent *a)
{
        const uint8_t *p;
        size_t n;

        while ((n = vdagent_filter_peek(a->to_guest, &p)) > 0) {
                int w = a->port->write(a->opaque, p, n);
                if (w <= 0)
                        break;
                vdagent_filter_consume(a->to_guest, (size_t)w);
        }
}

static int agent_write(SpiceCharDeviceInstance *sin, const uint8_t *buf, int len)
{
        struct spice_agent *a = (struct spice_agent *)sin;

        if (len <= 0)
                return 0;
        if (!a->to_guest)
                return a->port->write(a->opaque, buf, (size_t)len);
        flush_to_guest(a);
        if (vdagent_filter_peek(a->to_guest, &(const uint8_t *){ NULL }) > BACKLOG_MAX)
                return 0; /* spice retries after spice_agent_wakeup */
        /* A client that breaks the framing loses what it sent so far. */
        vdagent_filter_feed(a->to_guest, buf, (size_t)len);
        flush_to_guest(a);
        return len;
}

static int agent_read(SpiceCharDeviceInstance *sin, uint8_t *buf, int len)
{
        struct spice_agent *a = (struct spice_agent *)sin;
        const uint8_t *p;
        uint8_t tmp[4096];
        size_t n;
        int got;

        if (len <= 0)
                return 0;
        if (!a->from_guest)
                return a->port->read(a->opaque, buf, (size_t)len);
        while (vdagent_filter_peek(a->from_guest, &p) < (size_t)len &&
               (got = a->port->read(a->opaque, tmp, sizeof(tmp))) > 0)
                vdagent_filter_feed(a->from_guest, tmp, (size_t)got); /* -EPROTO: dropped, read on */
        n = MIN((size_t)len, vdagent_filter_peek(a->from_guest, &p));
        if (n)
                memcpy(buf, p, n);
        vdagent_filter_consume(a->from_guest, n);
        return (int)n;
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
                                    void *opaque, enum agent_clip_policy policy, int *err)
{
        struct spice_agent *a = g_new0(struct spice_agent, 1);

        if (policy == AGENT_CLIP_GUEST_TO_CLIENT || policy == AGENT_CLIP_CLIENT_TO_GUEST) {
                a->to_guest = vdagent_filter_new(policy, false);
                a->from_guest = vdagent_filter_new(policy, true);
                if (!a->to_guest || !a->from_guest) {
                        *err = -ENOMEM;
                        spice_agent_free(a);
                        return NULL;
                }
        }

        a->sin.base.sif = &agent_interface.base;
        a->sin.subtype = "vdagent";
        a->port = port;
        a->opaque = opaque;
        if (spice_server_add_interface(s, &a->sin.base) != 0) {
                *err = -EIO;
                a->sin.base.sif = NULL; /* not added: nothing to remove */
                spice_agent_free(a);
                return NULL;
        }
        return a;
}

void spice_agent_wakeup(struct spice_agent *a)
{
        if (a->to_guest)
                flush_to_guest(a);
        spice_server_char_device_wakeup(&a->sin);
}

void spice_agent_free(struct spice_agent *a)
{
        if (!a)
                return;
        if (a->sin.base.sif)
                spice_server_remove_interface(&a->sin.base);
        vdagent_filter_free(a->to_guest);
        vdagent_filter_free(a->from_guest);
        g_free(a);
}
