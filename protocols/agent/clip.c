/* A text clipboard bridged to the guest's spice-vdagent (clip.h). */
#include "config.h"

#include "protocols/agent/clip.h"

#include <errno.h>
#include <glib.h>
#include <spice/vd_agent.h>
#include <stdlib.h>
#include <string.h>

struct agent_clip {
        const struct agent_clip_ops *ops;
        void *opaque;
        enum agent_clip_policy policy;
        struct vdagent_reader reader;
        bool asked;        /* we asked the guest for its text */
        char *client_text; /* what the client copied (for the guest's requests) */
        size_t client_len;
        struct agent_clip_stats stats;
};

static const struct {
        const char *name;
        enum agent_clip_policy policy;
} policies[] = {
        { "both", AGENT_CLIP_BOTH },
        { "guest-to-client", AGENT_CLIP_GUEST_TO_CLIENT },
        { "client-to-guest", AGENT_CLIP_CLIENT_TO_GUEST },
        { "none", AGENT_CLIP_NONE },
};

int agent_clip_policy_parse(const char *s, enum agent_clip_policy *out)
{
        for (size_t i = 0; s && i < G_N_ELEMENTS(policies); i++)
                if (strcmp(s, policies[i].name) == 0) {
                        *out = policies[i].policy;
                        return 0;
                }
        return -EINVAL;
}

const char *agent_clip_policy_name(enum agent_clip_policy p)
{
        for (size_t i = 0; i < G_N_ELEMENTS(policies); i++)
                if (policies[i].policy == p)
                        return policies[i].name;
        return "?";
}

struct agent_clip *agent_clip_new(const struct agent_clip_ops *ops, void *opaque, enum agent_clip_policy policy)
{
        struct agent_clip *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->ops = ops;
        c->opaque = opaque;
        c->policy = policy;
        return c;
}

void agent_clip_free(struct agent_clip *c)
{
        if (!c)
                return;
        vdagent_reader_reset(&c->reader);
        free(c->client_text);
        free(c);
}

static int send_msg(struct agent_clip *c, uint32_t type, const void *data, size_t size)
{
        uint8_t *buf;
        size_t len;
        int r = vdagent_frame(type, data, size, &buf, &len);

        if (r < 0)
                return r;
        r = c->ops->to_guest(c->opaque, buf, len);
        free(buf);
        return r;
}

static int send_u32(struct agent_clip *c, uint32_t type, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
        return send_msg(c, type, b, sizeof(b));
}

/* VDAgentAnnounceCapabilities: request, then our one word of caps. Only
 * CLIPBOARD_BY_DEMAND: without CLIPBOARD_SELECTION no selection headers. */
static int announce(struct agent_clip *c, bool request)
{
        const uint32_t caps = 1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND;
        const uint8_t b[8] = { request, 0, 0, 0, (uint8_t)caps, 0, 0, 0 };

        return send_msg(c, VD_AGENT_ANNOUNCE_CAPABILITIES, b, sizeof(b));
}

int agent_clip_start(struct agent_clip *c)
{
        vdagent_reader_reset(&c->reader);
        c->asked = false;
        return announce(c, true);
}

/* The guest grabbed its clipboard: ask for the text when it offers some
 * and the policy lets it out; otherwise the clients' copy is stale. */
static void on_grab(struct agent_clip *c, const struct vdagent_msg *m)
{
        uint32_t types[16];
        unsigned n;
        bool text = false;

        if (vdagent_parse_grab(m, false, types, G_N_ELEMENTS(types), &n) < 0) {
                c->stats.bad_messages++;
                return;
        }
        for (unsigned i = 0; i < n; i++)
                text |= types[i] == VD_AGENT_CLIPBOARD_UTF8_TEXT;
        c->asked = false;
        if (!(c->policy & AGENT_CLIP_GUEST_TO_CLIENT)) {
                c->stats.refused++;
                return;
        }
        c->ops->guest_text(c->opaque, NULL, 0);
        if (text && send_u32(c, VD_AGENT_CLIPBOARD_REQUEST, VD_AGENT_CLIPBOARD_UTF8_TEXT) == 0)
                c->asked = true;
}

/* The text we asked for: UTF-8 only, at most AGENT_CLIP_TEXT_MAX. */
static void on_data(struct agent_clip *c, const struct vdagent_msg *m)
{
        const uint8_t *data;
        uint32_t type, len;
        char *text;

        if (vdagent_parse_clipboard(m, false, &type, &data, &len) < 0) {
                c->stats.bad_messages++;
                return;
        }
        if (!c->asked || type != VD_AGENT_CLIPBOARD_UTF8_TEXT) {
                c->stats.unasked++;
                return;
        }
        c->asked = false;
        /* Text ends at a NUL, as in X11's and Windows' clipboards. */
        len = (uint32_t)strnlen((const char *)data, len);
        if (len > AGENT_CLIP_TEXT_MAX || !g_utf8_validate((const char *)data, len, NULL)) {
                c->stats.bad_messages++;
                return;
        }
        text = g_strndup((const char *)data, len);
        c->ops->guest_text(c->opaque, text, len);
        g_free(text);
}

/* The guest pastes: the client's text, or an empty answer (what SPICE
 * clients send when they have nothing of that type). */
static void on_request(struct agent_clip *c, const struct vdagent_msg *m)
{
        uint32_t type;
        uint8_t *b;

        if (vdagent_parse_request(m, false, &type) < 0) {
                c->stats.bad_messages++;
                return;
        }
        if (type != VD_AGENT_CLIPBOARD_UTF8_TEXT || !c->client_text ||
            !(c->policy & AGENT_CLIP_CLIENT_TO_GUEST)) {
                send_u32(c, VD_AGENT_CLIPBOARD, type);
                return;
        }
        b = malloc(4 + c->client_len);
        if (!b)
                return;
        memcpy(b, &(uint32_t){ GUINT32_TO_LE(VD_AGENT_CLIPBOARD_UTF8_TEXT) }, 4);
        memcpy(b + 4, c->client_text, c->client_len);
        send_msg(c, VD_AGENT_CLIPBOARD, b, 4 + c->client_len);
        free(b);
}

static void on_message(void *opaque, const struct vdagent_msg *m)
{
        struct agent_clip *c = opaque;

        switch (m->type) {
        case VD_AGENT_ANNOUNCE_CAPABILITIES:
                /* The guest asks for ours when it (re)starts. */
                if (m->size >= 4 && m->data[0])
                        announce(c, false);
                break;
        case VD_AGENT_CLIPBOARD_GRAB:
                on_grab(c, m);
                break;
        case VD_AGENT_CLIPBOARD:
                on_data(c, m);
                break;
        case VD_AGENT_CLIPBOARD_REQUEST:
                on_request(c, m);
                break;
        case VD_AGENT_CLIPBOARD_RELEASE:
                c->asked = false;
                if (c->policy & AGENT_CLIP_GUEST_TO_CLIENT)
                        c->ops->guest_text(c->opaque, NULL, 0);
                break;
        default:
                break; /* monitors, file transfer, ...: not ours */
        }
}

int agent_clip_guest_bytes(struct agent_clip *c, const uint8_t *p, size_t n)
{
        int r = vdagent_reader_feed(&c->reader, p, n, on_message, c);

        if (r < 0)
                vdagent_reader_reset(&c->reader);
        return r;
}

int agent_clip_client_text(struct agent_clip *c, const char *text, size_t len)
{
        char *copy;

        if (!(c->policy & AGENT_CLIP_CLIENT_TO_GUEST)) {
                c->stats.refused++;
                return -EPERM;
        }
        if (len > AGENT_CLIP_TEXT_MAX || !g_utf8_validate(text, (gssize)len, NULL))
                return -EINVAL;
        copy = malloc(len ? len : 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, text, len);
        free(c->client_text);
        c->client_text = copy;
        c->client_len = len;
        return send_u32(c, VD_AGENT_CLIPBOARD_GRAB, VD_AGENT_CLIPBOARD_UTF8_TEXT);
}

void agent_clip_get_stats(const struct agent_clip *c, struct agent_clip_stats *out)
{
        *out = c->stats;
}

int agent_clip_from_utf16(const uint8_t *p, size_t n, char **out, size_t *len)
{
        size_t units = 0;
        gunichar2 *u;
        glong written;
        char *s;

        if (n % 2)
                return -EINVAL;
        while (units < n / 2 && (p[2 * units] | p[2 * units + 1]))
                units++;
        /* Every UTF-16 unit becomes at most 3 UTF-8 bytes. */
        if (units > AGENT_CLIP_TEXT_MAX)
                return -EINVAL;
        u = g_new(gunichar2, units + 1);
        for (size_t i = 0; i < units; i++)
                u[i] = (gunichar2)(p[2 * i] | p[2 * i + 1] << 8);
        s = g_utf16_to_utf8(u, (glong)units, NULL, &written, NULL);
        g_free(u);
        if (!s)
                return -EINVAL;
        if ((size_t)written > AGENT_CLIP_TEXT_MAX) {
                g_free(s);
                return -EINVAL;
        }
        *out = s;
        *len = (size_t)written;
        return 0;
}

int agent_clip_to_utf16(const char *text, size_t n, uint8_t **out, size_t *len)
{
        glong units;
        gunichar2 *u;
        uint8_t *b;

        if (n > AGENT_CLIP_TEXT_MAX)
                return -EINVAL;
        u = g_utf8_to_utf16(text, (glong)n, NULL, &units, NULL);
        if (!u)
                return -EINVAL;
        b = g_malloc(2 * ((size_t)units + 1));
        for (glong i = 0; i <= units; i++) { /* with the terminator */
                b[2 * i] = (uint8_t)u[i];
                b[2 * i + 1] = (uint8_t)(u[i] >> 8);
        }
        g_free(u);
        *out = b;
        *len = 2 * ((size_t)units + 1);
        return 0;
}
