/* Error messages of the engine: library code fills a struct vm_err and
 * returns a negative errno; the caller (vdi-vm, the daemon) decides whether
 * and how to log it. */
#pragma once

#include <stddef.h>

#include "macro.h"

struct vm_err {
        char msg[512];
};

/* Format the message into err (when err is non-NULL) and return code, which
 * should be a negative errno. */
int vm_err_set(struct vm_err *err, int code, const char *fmt, ...) _printf_(3, 4);
