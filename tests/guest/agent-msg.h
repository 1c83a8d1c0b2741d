/* The messages vdi-vm sends our guest agent on the virtio-console port
 * org.vdi.agent.0 (hostd/vmm/identity.h): one flat JSON object per line,
 * string and number values only, e.g.
 *
 *   {"event":"cloned","vmgenid":"…","mac":"02:…","hostname":"h1",
 *    "machine_id":"…","time":1765123456.1234567}
 *
 * Pure C without libc extras, so that it is unit-tested and fuzzed on the
 * host (tests/guest/agent-msg-test.c, tests/fuzz/agent-msg.c). */
#pragma once

#include <stddef.h>

struct agent_msg {
	char event[16];
	char vmgenid[33];
	char mac[18];
	char hostname[64];
	char machine_id[33];
	int has_time;
	long long time_sec;	/* "time": seconds since the epoch, */
	long time_nsec;		/* and the fraction (digits past 9 are dropped) */
};

/* Parse line[0..len) (no newline) into *m: an object whose keys are
 * strings and whose values are strings (escapes \" \\ \/ only) or
 * non-negative decimal numbers (no exponent); known keys fill m (a value
 * too long for its field is an error), others are skipped; a repeated
 * known key, or a key over 31 bytes, is an error. Returns 0, or -1 with *m undefined. */
int agent_msg_parse(const char *line, size_t len, struct agent_msg *m);
