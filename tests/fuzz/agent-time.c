/* libFuzzer target: vdi-vm's answer to lines from the guest agent
 * (hostd/vmm/identity.c identity_time_reply): any bytes; an answer, when
 * there is one, is the test guest agent's kind of message with the time. */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "tests/guest/agent-msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct timespec now = { 1765123456, 1 };
        char *r = identity_time_reply((const char *)data, size, &now);
        struct agent_msg m;

        if (!r)
                return 0;
        assert(agent_msg_parse(r, strlen(r), &m) == 0);
        assert(strcmp(m.event, "time") == 0 && m.has_time && m.time_sec == 1765123456);
        free(r);
        return 0;
}
