/* Shared main() for Check suites: runs the suite with TAP on stdout, which
 * automake's tap-driver turns into per-case PASS/FAIL lines. Include once
 * per test program and define `static Suite *make_suite(void)` after.
 *
 * Suites whose fixtures run servers on threads inside the test process
 * define CHECK_NOFORK before the include: forked test cases would not have
 * those threads, and LeakSanitizer would report their memory as leaked.
 *
 * Two holes in Check's TAP are closed here. A failing unchecked fixture
 * setup (tcase_add_unchecked_fixture) skips its whole test case and counts
 * as a failure, but Check prints no TAP line for it: the output is "1..0",
 * which the tap-driver reads as "all skipped", and the assertion's message
 * is lost. And a suite where no test ran at all must not pass. So Check's
 * own plan line is held back (stdout goes through a filter while the suite
 * runs, which keeps the tests' "# ..." lines in order), the lost failures
 * are printed as "not ok" lines with their messages, and the plan printed
 * last counts them. */
#pragma once

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static Suite *make_suite(void);

/* What went through stdout while the suite ran. */
struct tap_filter {
        int fd;              /* the real stdout */
        char held[32];       /* the start of a line that may be a plan "1..N" */
        size_t n_held;
        bool line_start;
        int n_results;       /* "ok" / "not ok" lines Check printed */
        int n_not_ok;
};

static void tap_filter_out(struct tap_filter *tf, const char *buf, size_t size)
{
        while (size > 0) {
                ssize_t w = write(tf->fd, buf, size);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return;
                buf += w;
                size -= (size_t)w;
        }
}

/* Whether s (n bytes, no newline) can still grow into a plan line. */
static bool tap_plan_prefix(const char *s, size_t n)
{
        static const char lead[] = "1..";
        for (size_t i = 0; i < n; i++)
                if (i < 3 ? s[i] != lead[i] : (s[i] < '0' || s[i] > '9'))
                        return false;
        return true;
}

static ssize_t tap_filter_write(void *cookie, const char *buf, size_t size)
{
        struct tap_filter *tf = cookie;
        size_t from = 0; /* buf[from..i) passes through unchanged */

        for (size_t i = 0; i < size; i++) {
                char c = buf[i];

                if (tf->line_start) {
                        tf->line_start = false;
                        if (size - i >= 3 && strncmp(buf + i, "ok ", 3) == 0) {
                                tf->n_results++;
                        } else if (size - i >= 7 && strncmp(buf + i, "not ok ", 7) == 0) {
                                tf->n_results++;
                                tf->n_not_ok++;
                        } else if (c == '1') {
                                tap_filter_out(tf, buf + from, i - from);
                                tf->held[0] = c;
                                tf->n_held = 1;
                                from = i + 1;
                                continue;
                        }
                }
                if (tf->n_held > 0) {
                        from = i + 1;
                        if (c == '\n' && tf->n_held > 3) {
                                /* Check's plan: dropped (main prints its own). */
                                tf->n_held = 0;
                                tf->line_start = true;
                                continue;
                        }
                        tf->held[tf->n_held] = c;
                        if (c != '\n' && tf->n_held + 1 < sizeof(tf->held) &&
                            tap_plan_prefix(tf->held, tf->n_held + 1)) {
                                tf->n_held++;
                                continue;
                        }
                        /* Not a plan after all. */
                        tap_filter_out(tf, tf->held, tf->n_held + 1);
                        tf->n_held = 0;
                }
                if (c == '\n')
                        tf->line_start = true;
        }
        tap_filter_out(tf, buf + from, size - from);
        return (ssize_t)size;
}

static int tap_filter_close(void *cookie)
{
        struct tap_filter *tf = cookie;

        tap_filter_out(tf, tf->held, tf->n_held);
        tf->n_held = 0;
        return 0;
}

int main(void)
{
        struct tap_filter tf = { .fd = STDOUT_FILENO, .line_start = true };
        cookie_io_functions_t io = { .write = tap_filter_write, .close = tap_filter_close };
        Suite *suite = make_suite();
        SRunner *sr = srunner_create(suite);
        FILE *real_stdout = stdout, *filtered;
        TestResult **failures;
        int n_failed, n_run, n_extra = 0, n_lost;

        fflush(stdout);
        filtered = fopencookie(&tf, "w", io);
        if (filtered) {
                setvbuf(filtered, NULL, _IOLBF, 0);
                stdout = filtered; /* glibc lets programs assign stdout */
        }
        srunner_set_tap(sr, "-");
#ifdef CHECK_NOFORK
        srunner_set_fork_status(sr, CK_NOFORK);
#endif
        srunner_run_all(sr, CK_SILENT);
        if (filtered) {
                fclose(filtered);
                stdout = real_stdout;
        }
        n_failed = srunner_ntests_failed(sr);
        n_run = tf.n_results;

        /* Failures Check counted but printed no TAP line for: unchecked
         * fixture setups (their context is CK_CTX_SETUP). */
        n_lost = n_failed - tf.n_not_ok;
        failures = srunner_failures(sr);
        for (int i = 0; failures && i < n_failed && n_lost > 0; i++) {
                TestResult *tr = failures[i];
                if (tr_ctx(tr) != CK_CTX_SETUP)
                        continue;
                printf("not ok %d - %s:%d:%s: fixture setup failed, its tests did not run: %s\n",
                       n_run + ++n_extra, tr_lfile(tr) ? tr_lfile(tr) : "?", tr_lno(tr), tr_tcname(tr),
                       tr_msg(tr) ? tr_msg(tr) : "(no message)");
                n_lost--;
        }
        free(failures);
        if (n_lost > 0)
                printf("not ok %d - %d failure(s) that Check reported without a TAP line\n",
                       n_run + ++n_extra, n_lost);
        if (n_run == 0) {
                printf("not ok %d - %s: no test ran (srunner_ntests_run %d): "
                       "a fixture's setup failed or no test was added\n",
                       n_run + ++n_extra, program_invocation_short_name, srunner_ntests_run(sr));
        }
        printf("1..%d\n", n_run + n_extra);
        fflush(stdout);
        srunner_free(sr);
        return n_failed == 0 && n_extra == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
