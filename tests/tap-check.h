/* TAP output for test programs that are not Check suites (tests/e2e/client,
 * tests/image/golden-lab): numbered "ok N - ..." / "not ok N - ..." lines,
 * flushed at once so a hang still shows how far the test got. Include once
 * per program; n_failed decides the exit status. */
#pragma once

#include <glib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int n_checks, n_failed;

static bool check(bool ok, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool check(bool ok, const char *fmt, ...)
{
        va_list ap;

        n_checks++;
        n_failed += !ok;
        printf("%s %d - ", ok ? "ok" : "not ok", n_checks);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        return ok;
}
