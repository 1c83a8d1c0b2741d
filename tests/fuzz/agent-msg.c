/* libFuzzer target: the test guest agent's parser of vdi-vm's messages
 * (tests/guest/agent-msg.c). Invariants on success: every string field
 * is NUL-terminated inside its array, and the time's fraction is below a
 * second. */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "tests/guest/agent-msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_msg m;

        if (agent_msg_parse((const char *)data, size, &m) < 0)
                return 0;
        assert(memchr(m.event, 0, sizeof(m.event)));
        assert(memchr(m.vmgenid, 0, sizeof(m.vmgenid)));
        assert(memchr(m.mac, 0, sizeof(m.mac)));
        assert(memchr(m.hostname, 0, sizeof(m.hostname)));
        assert(memchr(m.machine_id, 0, sizeof(m.machine_id)));
        assert(m.time_nsec >= 0 && m.time_nsec < 1000000000);
        assert(m.has_time || m.time_sec == 0);
        return 0;
}
