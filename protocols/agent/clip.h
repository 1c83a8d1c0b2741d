/* A text clipboard bridged to the guest's spice-vdagent (issue 19), for
 * protocols whose clients do not speak the SPICE agent protocol (RDP):
 * vdi-vm plays the SPICE client towards the guest agent (vdagent.h) and
 * hands the protocol plain UTF-8 text.
 *
 * Guest to client: the guest grabs the clipboard with UTF-8 text on offer;
 * the bridge asks for the text at once and hands it to guest_text (the
 * protocol announces it to its clients and serves their requests from
 * it). Client to guest: agent_clip_client_text keeps the client's text and
 * grabs the guest's clipboard; the guest's request is answered from it.
 *
 * A policy says which directions pass (a pool's clipboard setting); what
 * it refuses never leaves the bridge. Every byte from the guest is
 * untrusted: framing errors give -EPROTO, bad messages are ignored and
 * counted, text that is not UTF-8 is dropped. Not thread-safe: the caller
 * serialises calls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocols/agent/vdagent.h"

/* Which directions the clipboard passes (a pool's setting). */
enum agent_clip_policy {
        AGENT_CLIP_NONE = 0,
        AGENT_CLIP_GUEST_TO_CLIENT = 1,
        AGENT_CLIP_CLIENT_TO_GUEST = 2,
        AGENT_CLIP_BOTH = 3,
};

/* "both", "guest-to-client", "client-to-guest", "none" → the policy in
 * *out; -EINVAL for anything else. */
int agent_clip_policy_parse(const char *s, enum agent_clip_policy *out);
const char *agent_clip_policy_name(enum agent_clip_policy p);

/* Largest clipboard text either way, in UTF-8 bytes. */
#define AGENT_CLIP_TEXT_MAX (VDAGENT_MSG_MAX - 64)

struct agent_clip_ops {
        /* Framed bytes for the guest agent (one whole message). 0 or
         * -errno (the message is lost; the bridge goes on). */
        int (*to_guest)(void *opaque, const uint8_t *buf, size_t len);
        /* The guest's clipboard now holds text (UTF-8, NUL-terminated,
         * valid during the call), or nothing (text NULL). */
        void (*guest_text)(void *opaque, const char *text, size_t len);
};

struct agent_clip_stats {
        unsigned long bad_messages;  /* malformed clipboard messages from the guest */
        unsigned long unasked;       /* clipboard data nobody asked for */
        unsigned long refused;       /* dropped by the policy */
};

struct agent_clip;

/* A bridge to ops (which must outlive it). NULL on ENOMEM. */
struct agent_clip *agent_clip_new(const struct agent_clip_ops *ops, void *opaque, enum agent_clip_policy policy);
void agent_clip_free(struct agent_clip *c); /* NULL is fine */

/* Announce ourselves as the agent's client (capabilities, asking for the
 * guest's): call when the bridge takes the port. The guest answers and
 * offers its clipboard again. Forgets the stream read so far. */
int agent_clip_start(struct agent_clip *c);

/* Bytes the guest agent wrote. 0, -EPROTO (the stream broke its framing:
 * the bridge has reset its reader; call agent_clip_start to begin again)
 * or -ENOMEM. */
int agent_clip_guest_bytes(struct agent_clip *c, const uint8_t *p, size_t n);

/* The client copied text (UTF-8, len bytes, no NUL needed). 0, -EPERM
 * (the policy keeps client text from the guest), -EINVAL (not UTF-8 or
 * longer than AGENT_CLIP_TEXT_MAX), -ENOMEM or to_guest's error. */
int agent_clip_client_text(struct agent_clip *c, const char *text, size_t len);

void agent_clip_get_stats(const struct agent_clip *c, struct agent_clip_stats *out);

/* UTF-16LE (Windows' CF_UNICODETEXT) ↔ UTF-8. from_utf16 reads n bytes up
 * to the first NUL unit; odd n, unpaired surrogates or more than
 * AGENT_CLIP_TEXT_MAX bytes of UTF-8 give -EINVAL. to_utf16 writes a
 * NUL-terminated UTF-16LE copy of text. Both g_malloc *out (*len bytes,
 * without the terminator for UTF-8, with it for UTF-16; g_free it). */
int agent_clip_from_utf16(const uint8_t *p, size_t n, char **out, size_t *len);
int agent_clip_to_utf16(const char *text, size_t n, uint8_t **out, size_t *len);
