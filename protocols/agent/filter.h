/* One direction of a SPICE agent stream (VDIChunkHeader-framed chunks, as
 * vdagent.h reads them) with the clipboard messages a one-way policy
 * refuses taken out: what spice-server's own filter cannot do (it passes
 * the clipboard both ways or not at all).
 *
 * Client-port messages are read whole and framed again when they pass
 * (messages above VDAGENT_MSG_MAX are dropped, as vdagent.h skips them);
 * server-port chunks (spice-server's own, e.g. CLIENT_DISCONNECTED) pass
 * as they are. Refused: for guest-to-client off, the guest's GRAB,
 * CLIPBOARD and RELEASE and the client's REQUEST; for client-to-guest off,
 * the client's GRAB, CLIPBOARD and RELEASE and the guest's REQUEST. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocols/agent/clip.h"

struct vdagent_filter;

/* A filter for the stream from the guest (from_guest) or to it. NULL on
 * ENOMEM. */
struct vdagent_filter *vdagent_filter_new(enum agent_clip_policy policy, bool from_guest);
void vdagent_filter_free(struct vdagent_filter *f); /* NULL is fine */

/* Take n bytes of the stream. 0, -EPROTO (bad framing: what was not yet
 * passed is dropped and reading starts again at the next byte) or
 * -ENOMEM. */
int vdagent_filter_feed(struct vdagent_filter *f, const uint8_t *p, size_t n);
/* Bytes that passed, not yet taken. */
size_t vdagent_filter_pending(const struct vdagent_filter *f);
/* The passed bytes not yet consumed (*data valid until the next call). */
size_t vdagent_filter_peek(const struct vdagent_filter *f, const uint8_t **data);
/* Forget the first n of them (they went on). */
void vdagent_filter_consume(struct vdagent_filter *f, size_t n);
/* Messages taken out so far. */
unsigned long vdagent_filter_dropped(const struct vdagent_filter *f);
