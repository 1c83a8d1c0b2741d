/* libFuzzer target: the clipboard bridge (protocols/agent/clip.c) under a
 * hostile guest and client. The first byte picks the policy; then each
 * step's first byte picks what comes: guest bytes (framed by the fuzzer,
 * or the input's own framing), client text, UTF-16 from a client, or a
 * restart. Whatever the bridge sends the guest must be well framed, text
 * it hands a client valid UTF-8 within the limit, and a refused direction
 * must stay silent. The same input also goes through the one-way stream
 * filters (filter.c): what they pass must be well framed and hold no
 * clipboard message the policy refuses. */
#include "config.h"

#include <assert.h>
#include <glib.h>
#include <spice/vd_agent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/agent/clip.h"
#include "protocols/agent/filter.h"

static struct vdagent_reader out_reader, filter_reader;
static bool filter_from_guest;
static enum agent_clip_policy policy;
static unsigned texts_out;

static void on_out(void *opaque, const struct vdagent_msg *m)
{
        (void)opaque;
        /* No client text may go in when the policy keeps it out. */
        if (!(policy & AGENT_CLIP_CLIENT_TO_GUEST))
                assert(m->type != VD_AGENT_CLIPBOARD_GRAB && (m->type != VD_AGENT_CLIPBOARD || m->size == 4));
}

static int to_guest(void *opaque, const uint8_t *buf, size_t len)
{
        (void)opaque;
        assert(vdagent_reader_feed(&out_reader, buf, len, on_out, NULL) == 0);
        return 0;
}

static void guest_text(void *opaque, const char *text, size_t len)
{
        (void)opaque;
        assert(policy & AGENT_CLIP_GUEST_TO_CLIENT);
        if (text) {
                assert(len <= AGENT_CLIP_TEXT_MAX && strlen(text) == len && g_utf8_validate(text, (gssize)len, NULL));
                texts_out++;
        }
}

static void on_filtered(void *opaque, const struct vdagent_msg *m)
{
        bool own = m->type == VD_AGENT_CLIPBOARD_GRAB || m->type == VD_AGENT_CLIPBOARD ||
                   m->type == VD_AGENT_CLIPBOARD_RELEASE;
        unsigned way = filter_from_guest ? AGENT_CLIP_GUEST_TO_CLIENT : AGENT_CLIP_CLIENT_TO_GUEST;

        (void)opaque;
        if (own)
                assert(policy & way);
        if (m->type == VD_AGENT_CLIPBOARD_REQUEST)
                assert(policy & (AGENT_CLIP_BOTH & ~way));
}

/* The whole input through a one-way filter, in pieces of 1-64 bytes. */
static void run_filter(const uint8_t *data, size_t size)
{
        struct vdagent_filter *f;
        const uint8_t *p;
        size_t n;

        policy = (data[0] & 1) ? AGENT_CLIP_GUEST_TO_CLIENT : AGENT_CLIP_CLIENT_TO_GUEST;
        filter_from_guest = data[0] & 2;
        f = vdagent_filter_new(policy, filter_from_guest);
        assert(f);
        for (size_t off = 0; off < size;) {
                size_t piece = MIN(size - off, 1u + data[off] % 64);
                vdagent_filter_feed(f, data + off, piece);
                n = vdagent_filter_peek(f, &p);
                assert(vdagent_reader_feed(&filter_reader, p, n, on_filtered, NULL) == 0);
                vdagent_filter_consume(f, n);
                off += piece;
        }
        vdagent_filter_free(f);
        vdagent_reader_reset(&filter_reader);
}

static const struct agent_clip_ops ops = { .to_guest = to_guest, .guest_text = guest_text };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_clip *c;
        bool raw = false; /* raw bytes since the last start: framing may be off */

        if (size < 1)
                return 0;
        run_filter(data, size);
        policy = (enum agent_clip_policy)(data[0] & 3);
        data++, size--;
        c = agent_clip_new(&ops, NULL, policy);
        assert(c);
        while (size >= 2) {
                uint8_t op = data[0];
                size_t piece = 1 + data[1] % 128;
                data += 2, size -= 2;
                if (piece > size)
                        piece = size;
                switch (op % 5) {
                case 0: /* raw guest stream */
                        if (agent_clip_guest_bytes(c, data, piece) < 0)
                                raw = false; /* the bridge reset its reader */
                        else
                                raw = true;
                        break;
                case 1: { /* one well-framed guest message: type, then body */
                        uint8_t *buf;
                        size_t n;
                        if (piece && vdagent_frame(1 + data[0] % 14, data + 1, piece - 1, &buf, &n) == 0) {
                                int r = agent_clip_guest_bytes(c, buf, n);
                                assert(raw || r == 0);
                                raw = raw && r == 0;
                                free(buf);
                        }
                        break;
                }
                case 2:
                        agent_clip_client_text(c, (const char *)data, piece);
                        break;
                case 3: {
                        char *t;
                        size_t n;
                        if (agent_clip_from_utf16(data, piece, &t, &n) == 0) {
                                uint8_t *u;
                                size_t un;
                                assert(g_utf8_validate(t, (gssize)n, NULL));
                                assert(agent_clip_to_utf16(t, n, &u, &un) == 0 && un <= piece + 2);
                                g_free(u);
                                agent_clip_client_text(c, t, n);
                                g_free(t);
                        }
                        break;
                }
                default:
                        assert(agent_clip_start(c) == 0);
                        raw = false;
                }
                data += piece, size -= piece;
        }
        agent_clip_free(c);
        vdagent_reader_reset(&out_reader);
        return 0;
}
