/* The SPICE agent protocol from the client side (vdagent.h). */
#include "config.h"

#include "protocols/agent/vdagent.h"

#include <errno.h>
#include <spice/vd_agent.h>
#include <stdlib.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

void vdagent_reader_reset(struct vdagent_reader *r)
{
        free(r->data);
        memset(r, 0, sizeof(*r));
}

/* The message header is complete: start its payload. */
static int begin_message(struct vdagent_reader *r)
{
        uint32_t protocol = get32(r->mhdr), size = get32(r->mhdr + 16);

        if (protocol != VD_AGENT_PROTOCOL)
                return -EPROTO;
        r->size = size;
        r->have = 0;
        if (size > VDAGENT_MSG_MAX) {
                r->skipped++;
                return 0; /* data stays NULL: skip it */
        }
        r->data = malloc(size ? size : 1);
        return r->data ? 0 : -ENOMEM;
}

static void end_message(struct vdagent_reader *r, vdagent_msg_fn on_msg, void *opaque)
{
        if (r->data) {
                const struct vdagent_msg m = { get32(r->mhdr + 4), r->data, r->size };
                on_msg(opaque, &m);
        }
        free(r->data);
        r->data = NULL;
        r->mhdr_len = 0;
}

/* Payload bytes of our port's chunks: message headers and bodies. */
static int feed_payload(struct vdagent_reader *r, const uint8_t *p, size_t n, vdagent_msg_fn on_msg, void *opaque)
{
        while (n) {
                size_t k;

                if (r->mhdr_len < sizeof(r->mhdr)) {
                        k = sizeof(r->mhdr) - r->mhdr_len < n ? sizeof(r->mhdr) - r->mhdr_len : n;
                        memcpy(r->mhdr + r->mhdr_len, p, k);
                        r->mhdr_len += k;
                        p += k, n -= k;
                        if (r->mhdr_len == sizeof(r->mhdr)) {
                                int e = begin_message(r);
                                if (e < 0)
                                        return e;
                        }
                } else {
                        k = r->size - r->have < n ? r->size - r->have : n;
                        if (r->data)
                                memcpy(r->data + r->have, p, k);
                        r->have += (uint32_t)k;
                        p += k, n -= k;
                }
                if (r->mhdr_len == sizeof(r->mhdr) && r->have == r->size)
                        end_message(r, on_msg, opaque);
        }
        return 0;
}

int vdagent_reader_feed(struct vdagent_reader *r, const uint8_t *p, size_t n, vdagent_msg_fn on_msg, void *opaque)
{
        while (n) {
                if (r->chunk_left == 0) {
                        size_t k = sizeof(r->chdr) - r->chdr_len < n ? sizeof(r->chdr) - r->chdr_len : n;
                        uint32_t port, size;

                        memcpy(r->chdr + r->chdr_len, p, k);
                        r->chdr_len += k;
                        p += k, n -= k;
                        if (r->chdr_len < sizeof(r->chdr))
                                return 0;
                        r->chdr_len = 0;
                        port = get32(r->chdr);
                        size = get32(r->chdr + 4);
                        if (size == 0 || size > VD_AGENT_MAX_DATA_SIZE ||
                            (port != VDP_CLIENT_PORT && port != VDP_SERVER_PORT))
                                return -EPROTO;
                        r->chunk_left = size;
                        r->chunk_ours = port == VDP_CLIENT_PORT;
                        continue;
                }
                size_t k = r->chunk_left < n ? r->chunk_left : n;
                if (r->chunk_ours) {
                        int e = feed_payload(r, p, k, on_msg, opaque);
                        if (e < 0)
                                return e;
                }
                r->chunk_left -= (uint32_t)k;
                p += k, n -= k;
        }
        return 0;
}

int vdagent_frame(uint32_t type, const void *data, size_t size, uint8_t **out, size_t *len)
{
        size_t total = 20 + size, nchunks, olen;
        uint8_t *msg, *o;

        if (size > VDAGENT_MSG_MAX)
                return -EINVAL;
        nchunks = (total + VD_AGENT_MAX_DATA_SIZE - 1) / VD_AGENT_MAX_DATA_SIZE;
        olen = total + 8 * nchunks;
        msg = malloc(total);
        o = malloc(olen);
        if (!msg || !o) {
                free(msg);
                free(o);
                return -ENOMEM;
        }
        put32(msg, VD_AGENT_PROTOCOL);
        put32(msg + 4, type);
        memset(msg + 8, 0, 8);
        put32(msg + 16, (uint32_t)size);
        if (size)
                memcpy(msg + 20, data, size);
        for (size_t off = 0, w = 0; off < total; off += VD_AGENT_MAX_DATA_SIZE) {
                size_t k = total - off < VD_AGENT_MAX_DATA_SIZE ? total - off : VD_AGENT_MAX_DATA_SIZE;
                put32(o + w, VDP_CLIENT_PORT);
                put32(o + w + 4, (uint32_t)k);
                memcpy(o + w + 8, msg + off, k);
                w += 8 + k;
        }
        free(msg);
        *out = o;
        *len = olen;
        return 0;
}

/* Skip the selection header when there is one; the rest of m in *p, *n. */
static int body(const struct vdagent_msg *m, bool with_selection, const uint8_t **p, uint32_t *n)
{
        *p = m->data;
        *n = m->size;
        if (!with_selection)
                return 0;
        if (m->size < 4 || m->data[0] != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD)
                return -EINVAL;
        *p += 4;
        *n -= 4;
        return 0;
}

int vdagent_parse_grab(const struct vdagent_msg *m, bool with_selection, uint32_t *types, unsigned max,
                       unsigned *n)
{
        const uint8_t *p;
        uint32_t len;
        unsigned k = 0;

        if (m->type != VD_AGENT_CLIPBOARD_GRAB || body(m, with_selection, &p, &len) < 0 || len % 4)
                return -EINVAL;
        for (uint32_t off = 0; off < len && k < max; off += 4)
                types[k++] = get32(p + off);
        *n = k;
        return 0;
}

int vdagent_parse_request(const struct vdagent_msg *m, bool with_selection, uint32_t *type)
{
        const uint8_t *p;
        uint32_t len;

        if (m->type != VD_AGENT_CLIPBOARD_REQUEST || body(m, with_selection, &p, &len) < 0 || len != 4)
                return -EINVAL;
        *type = get32(p);
        return 0;
}

int vdagent_parse_clipboard(const struct vdagent_msg *m, bool with_selection, uint32_t *type, const uint8_t **data,
                            uint32_t *len)
{
        const uint8_t *p;
        uint32_t n;

        if (m->type != VD_AGENT_CLIPBOARD || body(m, with_selection, &p, &n) < 0 || n < 4)
                return -EINVAL;
        *type = get32(p);
        *data = p + 4;
        *len = n - 4;
        return 0;
}
