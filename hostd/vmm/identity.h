/* vdi-vm: a forked guest's new identity, told to our guest agent on the
 * agent console's org.vdi.agent.0 port (agent-link.h) once it runs:
 *
 *   {"event":"cloned","vmgenid":HEX,"mac":"02:..","hostname":H,
 *    "machine_id":M,"time":SECONDS}
 *
 * (mac: the first network card's, hostname and machine_id from
 * --clone-hostname and --clone-machine-id, each left out when there is
 * none; time: the host's wall clock, seconds since the epoch with a
 * fraction, for the guest to set its clock by). A resumed guest (a
 * suspend's or a migration's) keeps its identity and gets
 * {"event":"resumed","time":SECONDS}.
 *
 * The agent sets its clock by asking, on the same port, {"event":"time?"}:
 * vdi-vm answers at once {"event":"time","time":SECONDS}, so that the
 * agent can allow for the round trip (the first message may have waited
 * long for a busy guest). */
#pragma once

#include <stdint.h>
#include <time.h>

#include "vm.h"

struct identity {
        const char *hostname;   /* or NULL */
        const char *machine_id; /* or NULL */
        const uint8_t *mac;     /* 6 bytes, or NULL */
};

/* A host name the guest may take: 1..63 letters, digits and dashes, not
 * starting or ending with a dash (RFC 1123 label). 0 or -EINVAL. */
int identity_check_hostname(const char *s);

/* A machine ID as systemd writes /etc/machine-id: 32 lowercase hex
 * digits, not all zero. 0 or -EINVAL. */
int identity_check_machine_id(const char *s);

/* The message (no newline) for a guest that started with origin (nothing
 * for a boot: NULL), vmgenid its VM generation ID (VMGENID_LEN bytes; left
 * out when all zero), at wall-clock time now. The caller frees it; NULL
 * when out of memory too. */
char *identity_message(enum vm_origin origin, const uint8_t *vmgenid, const struct identity *id,
                       const struct timespec *now);

/* The answer to one line from the guest agent (line[0..len), no newline),
 * or NULL when it is not a well-formed time request (anything else is
 * ignored). The caller frees it. */
char *identity_time_reply(const char *line, size_t len, const struct timespec *now);
