/* The SPICE agent protocol (spice-protocol's vd_agent.h) from the client
 * side, for protocols whose clients do not speak it (RDP, web): vdi-vm
 * talks to the guest's spice-vdagent itself. The guest's byte stream is
 * VDIChunkHeader-framed chunks (at most VD_AGENT_MAX_DATA_SIZE bytes each)
 * carrying VDAgentMessages, which may span chunks.
 *
 * Every byte comes from the guest: chunk and message sizes are checked,
 * messages above VDAGENT_MSG_MAX are skipped whole (counted), and a
 * stream that breaks the framing is refused with -EPROTO (the caller
 * resets its port). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VDAGENT_MSG_MAX (1u << 20)

struct vdagent_msg {
        uint32_t type;          /* VD_AGENT_* */
        const uint8_t *data;    /* valid during the callback */
        uint32_t size;
};

struct vdagent_reader {
        uint8_t chdr[8];        /* VDIChunkHeader being read */
        size_t chdr_len;
        uint32_t chunk_left;    /* payload bytes of the current chunk */
        bool chunk_ours;        /* for VDP_CLIENT_PORT (else skipped) */
        uint8_t mhdr[20];       /* VDAgentMessage being read */
        size_t mhdr_len;
        uint8_t *data;          /* payload of the message (NULL: skipping) */
        uint32_t size, have;
        unsigned long skipped;  /* messages too large */
};

typedef void (*vdagent_msg_fn)(void *opaque, const struct vdagent_msg *m);

/* Take n more bytes of the guest's stream; on_msg for each whole message.
 * 0, -EPROTO (bad framing: the reader must be reset) or -ENOMEM. */
int vdagent_reader_feed(struct vdagent_reader *r, const uint8_t *p, size_t n, vdagent_msg_fn on_msg, void *opaque);
/* Forget everything (and free). Also the initial state: all zeroes. */
void vdagent_reader_reset(struct vdagent_reader *r);

/* A message for the guest as chunks: a malloc'd buffer in *out of *len
 * bytes. 0 or -EINVAL (too large) / -ENOMEM. */
int vdagent_frame(uint32_t type, const void *data, size_t size, uint8_t **out, size_t *len);

/* Clipboard messages (with_selection: both agents announced
 * VD_AGENT_CAP_CLIPBOARD_SELECTION, so a 4-byte selection header comes
 * first; only the CLIPBOARD selection, 0, is accepted). */
/* CLIPBOARD_GRAB: up to max types into types, their count in *n. */
int vdagent_parse_grab(const struct vdagent_msg *m, bool with_selection, uint32_t *types, unsigned max,
                       unsigned *n);
/* CLIPBOARD_REQUEST: the type asked for. */
int vdagent_parse_request(const struct vdagent_msg *m, bool with_selection, uint32_t *type);
/* CLIPBOARD: the type and the data (pointing into m). */
int vdagent_parse_clipboard(const struct vdagent_msg *m, bool with_selection, uint32_t *type, const uint8_t **data,
                            uint32_t *len);
