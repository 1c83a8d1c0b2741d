/* libFuzzer target: the seccomp report vdi-hostd reads back from the end of
 * a dead vdi-vm's log (hostd/jail-report.c). */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "hostd/jail-report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct jail_report r;

        if (jail_report_find((const char *)data, size, &r) == 0) {
                /* Every field is a NUL-terminated token that fits. */
                if (strlen(r.syscall) >= sizeof(r.syscall) || strlen(r.cls) >= sizeof(r.cls) ||
                    strlen(r.thread) >= sizeof(r.thread))
                        __builtin_trap();
        }
        return 0;
}
