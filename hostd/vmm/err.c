#include "config.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int vm_err_set(struct vm_err *err, int code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        return code;
}
