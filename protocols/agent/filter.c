/* One direction of a SPICE agent stream, one-way clipboard (filter.h). */
#include "config.h"

#include "protocols/agent/filter.h"

#include <errno.h>
#include <glib.h>
#include <spice/vd_agent.h>
#include <stdlib.h>
#include <string.h>

struct vdagent_filter {
        enum agent_clip_policy policy;
        bool from_guest;
        uint8_t chdr[8];         /* VDIChunkHeader being read */
        size_t chdr_len;
        uint32_t chunk_left;     /* payload bytes of the current chunk */
        bool chunk_client;       /* on VDP_CLIENT_PORT (else passed as is) */
        struct vdagent_reader reader; /* client-port messages */
        GByteArray *out;
        unsigned long dropped;
        int error;               /* from framing a passed message */
};

struct vdagent_filter *vdagent_filter_new(enum agent_clip_policy policy, bool from_guest)
{
        struct vdagent_filter *f = calloc(1, sizeof(*f));

        if (!f)
                return NULL;
        f->policy = policy;
        f->from_guest = from_guest;
        f->out = g_byte_array_new();
        return f;
}

void vdagent_filter_free(struct vdagent_filter *f)
{
        if (!f)
                return;
        vdagent_reader_reset(&f->reader);
        g_byte_array_unref(f->out);
        free(f);
}

/* Does m leave this direction under the policy? */
static bool passes(const struct vdagent_filter *f, uint32_t type)
{
        /* The sender's own clipboard goes its way; a request asks for the
         * other side's. */
        bool ours = type == VD_AGENT_CLIPBOARD_GRAB || type == VD_AGENT_CLIPBOARD ||
                    type == VD_AGENT_CLIPBOARD_RELEASE;
        unsigned way = f->from_guest ? AGENT_CLIP_GUEST_TO_CLIENT : AGENT_CLIP_CLIENT_TO_GUEST;
        unsigned back = f->from_guest ? AGENT_CLIP_CLIENT_TO_GUEST : AGENT_CLIP_GUEST_TO_CLIENT;

        if (ours)
                return (f->policy & way) != 0;
        if (type == VD_AGENT_CLIPBOARD_REQUEST)
                return (f->policy & back) != 0;
        return true;
}

static void on_msg(void *opaque, const struct vdagent_msg *m)
{
        struct vdagent_filter *f = opaque;
        uint8_t *buf;
        size_t len;
        int r;

        if (!passes(f, m->type)) {
                f->dropped++;
                return;
        }
        r = vdagent_frame(m->type, m->data, m->size, &buf, &len);
        if (r < 0) {
                f->error = r;
                return;
        }
        g_byte_array_append(f->out, buf, (guint)len);
        free(buf);
}

/* A chunk header is complete: check it; client-port headers go to the
 * reader, others out. */
static int chunk_begin(struct vdagent_filter *f)
{
        uint32_t port, size;

        memcpy(&port, f->chdr, 4);
        memcpy(&size, f->chdr + 4, 4);
        port = GUINT32_FROM_LE(port);
        size = GUINT32_FROM_LE(size);

        f->chdr_len = 0;
        if (size == 0 || size > VD_AGENT_MAX_DATA_SIZE || (port != VDP_CLIENT_PORT && port != VDP_SERVER_PORT))
                return -EPROTO;
        f->chunk_left = size;
        f->chunk_client = port == VDP_CLIENT_PORT;
        if (f->chunk_client)
                return vdagent_reader_feed(&f->reader, f->chdr, sizeof(f->chdr), on_msg, f);
        g_byte_array_append(f->out, f->chdr, sizeof(f->chdr));
        return 0;
}

static int feed(struct vdagent_filter *f, const uint8_t *p, size_t n)
{
        while (n) {
                size_t k;
                int r = 0;

                if (f->chunk_left == 0) {
                        k = MIN(sizeof(f->chdr) - f->chdr_len, n);
                        memcpy(f->chdr + f->chdr_len, p, k);
                        f->chdr_len += k;
                        if (f->chdr_len == sizeof(f->chdr))
                                r = chunk_begin(f);
                } else {
                        k = MIN(f->chunk_left, n);
                        if (f->chunk_client)
                                r = vdagent_reader_feed(&f->reader, p, k, on_msg, f);
                        else
                                g_byte_array_append(f->out, p, (guint)k);
                        f->chunk_left -= (uint32_t)k;
                }
                if (r == 0 && f->error)
                        r = f->error;
                if (r < 0)
                        return r;
                p += k, n -= k;
        }
        return 0;
}

int vdagent_filter_feed(struct vdagent_filter *f, const uint8_t *p, size_t n)
{
        int r = feed(f, p, n);

        if (r < 0) {
                vdagent_reader_reset(&f->reader);
                f->chdr_len = 0;
                f->chunk_left = 0;
                f->error = 0;
        }
        return r;
}

size_t vdagent_filter_pending(const struct vdagent_filter *f)
{
        return f->out->len;
}

size_t vdagent_filter_peek(const struct vdagent_filter *f, const uint8_t **data)
{
        *data = f->out->data;
        return f->out->len;
}

void vdagent_filter_consume(struct vdagent_filter *f, size_t n)
{
        g_byte_array_remove_range(f->out, 0, (guint)MIN(n, f->out->len));
}

unsigned long vdagent_filter_dropped(const struct vdagent_filter *f)
{
        return f->dropped;
}
