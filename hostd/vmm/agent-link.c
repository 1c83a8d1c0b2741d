/* vdi-vm's agent console (virtio-console ports com.redhat.spice.0 and
 * org.vdi.agent.0): the first served through the remote display servers
 * (remote.h's remote_agent), whose clients talk to the guest's
 * spice-vdagent; the second carries vdi-vm's messages to our agent. */
#include "config.h"

#include "agent-link.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity.h"
#include "vm-devices.h"

/* Write what is queued for org.vdi.agent.0 (any thread). */
static void flush_vdi(struct agent_link *l)
{
        pthread_mutex_lock(&l->lock);
        while (l->off < l->len) {
                size_t n = virtio_console_write(l->c, VM_AGENT_PORT_VDI, l->out + l->off, l->len - l->off);
                if (n == 0)
                        break; /* closed or full: opened / writable calls again */
                l->off += n;
        }
        if (l->off == l->len) {
                free(l->out);
                l->out = NULL;
                l->len = l->off = 0;
        }
        pthread_mutex_unlock(&l->lock);
}

static void on_change(void *opaque, unsigned port)
{
        struct agent_link *l = opaque;

        if (port == VM_AGENT_PORT_SPICE && l->r)
                remote_agent_changed(l->r);
        else if (port == VM_AGENT_PORT_VDI)
                flush_vdi(l);
}

static void on_opened(void *opaque, unsigned port, bool open)
{
        struct agent_link *l = opaque;

        if (open && port == VM_AGENT_PORT_VDI && !l->told && l->ready) {
                l->told = true;
                l->ready(l->ready_ctx);
        }
        on_change(opaque, port);
}

/* A line from our agent: only time requests are answered. */
static void agent_line(struct agent_link *l, const char *line, size_t len)
{
        struct timespec now;
        char *reply;

        clock_gettime(CLOCK_REALTIME, &now);
        reply = identity_time_reply(line, len, &now);
        if (reply)
                agent_link_send(l, reply);
        free(reply);
}

static void read_vdi(struct agent_link *l)
{
        size_t n;

        while ((n = virtio_console_read(l->c, VM_AGENT_PORT_VDI, l->in + l->in_len, sizeof(l->in) - l->in_len)) > 0) {
                char *nl;
                l->in_len += n;
                while ((nl = memchr(l->in, '\n', l->in_len))) {
                        size_t line = (size_t)(nl - l->in);
                        if (!l->in_skip)
                                agent_line(l, l->in, line);
                        l->in_skip = false;
                        l->in_len -= line + 1;
                        memmove(l->in, nl + 1, l->in_len);
                }
                if (l->in_len == sizeof(l->in)) { /* too long: drop up to its newline */
                        l->in_skip = true;
                        l->in_len = 0;
                }
        }
}

static void on_readable(void *opaque, unsigned port)
{
        if (port == VM_AGENT_PORT_VDI)
                read_vdi(opaque);
        else
                on_change(opaque, port);
}

static const struct virtio_console_ops link_ops = {
        .opened = on_opened,
        .readable = on_readable,
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

void agent_link_start(struct agent_link *l, struct virtio_console *c, struct remote *r)
{
        const struct remote_agent a = { port_open, port_write, port_read, c };

        *l = (struct agent_link){ .c = c, .r = r, .ready = l->ready, .ready_ctx = l->ready_ctx };
        pthread_mutex_init(&l->lock, NULL);
        if (!c)
                return;
        /* A restored guest's agent has its port open already: no news. */
        l->told = virtio_console_guest_open(c, VM_AGENT_PORT_VDI);
        if (r)
                remote_agent_set(r, &a);
        virtio_console_set_ops(c, &link_ops, l);
}

void agent_link_on_ready(struct agent_link *l, void (*ready)(void *ctx), void *ctx)
{
        l->ready = ready;
        l->ready_ctx = ctx;
}

void agent_link_stop(struct agent_link *l)
{
        if (l->c) {
                virtio_console_set_ops(l->c, NULL, NULL);
                if (l->r)
                        remote_agent_set(l->r, NULL);
        }
        free(l->out);
        l->out = NULL;
        pthread_mutex_destroy(&l->lock);
}

int agent_link_send(struct agent_link *l, const char *line)
{
        size_t n = strlen(line);
        char *grown;

        if (!l->c)
                return -ENODEV;
        pthread_mutex_lock(&l->lock);
        /* A guest that asks and never reads must not grow this. */
        if (l->len - l->off + n + 1 > AGENT_LINK_OUT_MAX) {
                pthread_mutex_unlock(&l->lock);
                return -ENOBUFS;
        }
        grown = realloc(l->out, l->len + n + 1);
        if (!grown) {
                pthread_mutex_unlock(&l->lock);
                return -ENOMEM;
        }
        memcpy(grown + l->len, line, n);
        grown[l->len + n] = '\n';
        l->out = grown;
        l->len += n + 1;
        pthread_mutex_unlock(&l->lock);
        flush_vdi(l);
        return 0;
}
