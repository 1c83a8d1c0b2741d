/* Shared main() for Check suites: runs the suite with TAP on stdout, which
 * automake's tap-driver turns into per-case PASS/FAIL lines. Include once
 * per test program and define `static Suite *make_suite(void)` after.
 *
 * Suites whose fixtures run servers on threads inside the test process
 * define CHECK_NOFORK before the include: forked test cases would not have
 * those threads, and LeakSanitizer would report their memory as leaked. */
#pragma once

#include <check.h>
#include <errno.h>
#include <stdlib.h>

static Suite *make_suite(void);

int main(void)
{
        SRunner *sr = srunner_create(make_suite());
        int failed;

        srunner_set_tap(sr, "-");
#ifdef CHECK_NOFORK
        srunner_set_fork_status(sr, CK_NOFORK);
#endif
        srunner_run_all(sr, CK_SILENT);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
