/* A guest's spice-vdagent in miniature (fake-agent.h). */
#include "config.h"

#include "fake-agent.h"

#include <spice/vd_agent.h>
#include <stdlib.h>
#include <string.h>

/* Guest → server: one framed message (chunks on VDP_CLIENT_PORT, as
 * spice-vdagent writes them). Under a->lock. */
static void say(struct fake_agent *a, uint32_t type, const void *data, size_t len)
{
        uint8_t *buf;
        size_t n;

        g_assert(vdagent_frame(type, data, len, &buf, &n) == 0);
        g_byte_array_append(a->to_server, buf, (guint)n);
        free(buf);
}

static void say_text(struct fake_agent *a)
{
        size_t len = strlen(a->text);
        uint8_t *m = g_malloc(4 + len);

        memcpy(m, &(uint32_t){ GUINT32_TO_LE(VD_AGENT_CLIPBOARD_UTF8_TEXT) }, 4);
        memcpy(m + 4, a->text, len);
        say(a, VD_AGENT_CLIPBOARD, m, 4 + len);
        g_free(m);
}

static void on_msg(void *opaque, const struct vdagent_msg *m)
{
        struct fake_agent *a = opaque;
        const uint32_t text = GUINT32_TO_LE(VD_AGENT_CLIPBOARD_UTF8_TEXT);
        const uint8_t caps[8] = { 0, 0, 0, 0, 1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND, 0, 0, 0 };
        uint32_t type;
        const uint8_t *data;
        uint32_t len;

        switch (m->type) {
        case VD_AGENT_ANNOUNCE_CAPABILITIES:
                a->announces++;
                if (m->size >= 4 && m->data[0])
                        say(a, VD_AGENT_ANNOUNCE_CAPABILITIES, caps, sizeof(caps));
                if (a->text)
                        say(a, VD_AGENT_CLIPBOARD_GRAB, &text, 4);
                break;
        case VD_AGENT_CLIPBOARD_REQUEST:
                if (vdagent_parse_request(m, false, &type) == 0 && type == VD_AGENT_CLIPBOARD_UTF8_TEXT && a->text)
                        say_text(a);
                break;
        case VD_AGENT_CLIPBOARD_GRAB:
                say(a, VD_AGENT_CLIPBOARD_REQUEST, &text, 4);
                break;
        case VD_AGENT_CLIPBOARD:
                if (vdagent_parse_clipboard(m, false, &type, &data, &len) == 0) {
                        g_free(a->received);
                        a->received = g_strndup((const char *)data, len);
                        a->texts_received++;
                }
                break;
        default:
                break;
        }
}

static int port_write(void *opaque, const uint8_t *buf, size_t len)
{
        struct fake_agent *a = opaque;

        g_mutex_lock(&a->lock);
        g_assert(vdagent_reader_feed(&a->reader, buf, len, on_msg, a) == 0);
        g_mutex_unlock(&a->lock);
        return (int)len;
}

static int port_read(void *opaque, uint8_t *buf, size_t len)
{
        struct fake_agent *a = opaque;
        size_t n;

        g_mutex_lock(&a->lock);
        n = MIN(len, a->to_server->len);
        if (n)
                memcpy(buf, a->to_server->data, n);
        g_byte_array_remove_range(a->to_server, 0, (guint)n);
        g_mutex_unlock(&a->lock);
        return (int)n;
}

static gboolean pump(gpointer opaque)
{
        struct fake_agent *a = opaque;

        if (a->srv)
                rdp_server_agent_pump(a->srv);
        return G_SOURCE_REMOVE;
}

static void port_wake(void *opaque)
{
        struct fake_agent *a = opaque;

        g_main_context_invoke(a->ctx, pump, a);
}

const struct rdp_agent_port fake_agent_port = { .write = port_write, .read = port_read, .wake = port_wake };

void fake_agent_init(struct fake_agent *a, GMainContext *ctx, const char *text)
{
        memset(a, 0, sizeof(*a));
        g_mutex_init(&a->lock);
        a->to_server = g_byte_array_new();
        a->text = g_strdup(text);
        a->ctx = ctx;
}

void fake_agent_fini(struct fake_agent *a)
{
        vdagent_reader_reset(&a->reader);
        g_byte_array_unref(a->to_server);
        g_free(a->text);
        g_free(a->received);
        g_mutex_clear(&a->lock);
}

struct loop_call {
        struct fake_agent *a;
        bool attach;
        int ret;
        gint done;
};

static gboolean call_on_loop(gpointer opaque)
{
        struct loop_call *c = opaque;

        if (c->attach)
                c->ret = rdp_server_agent_attach(c->a->srv, &fake_agent_port, c->a);
        else
                rdp_server_agent_detach(c->a->srv);
        g_atomic_int_set(&c->done, 1);
        return G_SOURCE_REMOVE;
}

/* Attach or detach on the display thread, and wait. */
static int on_loop(struct fake_agent *a, bool attach)
{
        struct loop_call c = { a, attach, 0, 0 };

        g_main_context_invoke(a->ctx, call_on_loop, &c);
        while (!g_atomic_int_get(&c.done))
                g_usleep(1000);
        return c.ret;
}

int fake_agent_attach(struct fake_agent *a, struct rdp_server *srv)
{
        a->srv = srv;
        return on_loop(a, true);
}

void fake_agent_detach(struct fake_agent *a)
{
        on_loop(a, false);
        a->srv = NULL;
}

void fake_agent_copy(struct fake_agent *a, const char *text)
{
        const uint32_t t = GUINT32_TO_LE(VD_AGENT_CLIPBOARD_UTF8_TEXT);

        g_mutex_lock(&a->lock);
        g_free(a->text);
        a->text = g_strdup(text);
        say(a, VD_AGENT_CLIPBOARD_GRAB, &t, 4);
        g_mutex_unlock(&a->lock);
        port_wake(a);
}

void fake_agent_send_raw(struct fake_agent *a, const void *buf, size_t len)
{
        g_mutex_lock(&a->lock);
        g_byte_array_append(a->to_server, buf, (guint)len);
        g_mutex_unlock(&a->lock);
        port_wake(a);
}

char *fake_agent_received(struct fake_agent *a, unsigned *texts, unsigned *announces)
{
        char *t;

        g_mutex_lock(&a->lock);
        t = g_strdup(a->received);
        *texts = a->texts_received;
        if (announces)
                *announces = a->announces;
        g_mutex_unlock(&a->lock);
        return t;
}
