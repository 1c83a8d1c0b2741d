/* libFuzzer target: the clipboard bridge (protocols/agent/clip.c) under a
 * hostile guest and client. The first byte picks the policy; then each
 * step's first byte picks what comes: guest bytes (framed by the fuzzer,
 * or the input's own framing), client text, UTF-16 from a client, or a
 * restart. Whatever the bridge sends the guest must be well framed, text
 * it hands a client valid UTF-8 within the limit, and a refused direction
 * must stay silent. */
#include "config.h"

#include <assert.h>
#include <glib.h>
#include <spice/vd_agent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/agent/clip.h"

static struct vdagent_reader out_reader;
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

static const struct agent_clip_ops ops = { .to_guest = to_guest, .guest_text = guest_text };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_clip *c;
        bool raw = false; /* raw bytes since the last start: framing may be off */

        if (size < 1)
                return 0;
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
