/* Headless Chromium driven over the DevTools protocol (tests/broker/cdp.c). */
#pragma once

#include <jansson.h>
#include <sys/types.h>

struct cdp {
        pid_t pid;
        int to, from; /* our ends: write commands, read answers */
        GString *buf;
        int next_id;
        char *session;
        char *profile;
};

/* The chromium to drive: $CHROMIUM when executable, else Debian's
 * /usr/bin/chromium or /usr/bin/chromium-browser; NULL when none is. */
const char *cdp_find_chromium(void);
/* The same, for tests that need it: without chromium the test program
 * fails (exit 99, a hard error): scripts/install-deps installs it, and a
 * browser test that skips would hide what it is there to check. */
const char *cdp_require_chromium(void);
/* Start chromium (headless, a throwaway profile) with one page attached. */
void cdp_start(struct cdp *c, const char *chromium);
void cdp_stop(struct cdp *c);
/* A DevTools command on the page; its "result" (caller decrefs). Takes params. */
json_t *cdp_call(struct cdp *c, const char *method, json_t *params);
/* Evaluate JS in the page (promises awaited); the value (caller decrefs). */
json_t *cdp_eval(struct cdp *c, const char *js);
char *cdp_eval_str(struct cdp *c, const char *js);
/* Poll until js is true (10 s), else abort with the page's text. */
void cdp_wait_for(struct cdp *c, const char *js);
/* The same with a time limit of its own (the page follows a slow process). */
void cdp_wait_for_ms(struct cdp *c, const char *js, unsigned timeout_ms);
/* Save a PNG of the page: name absolute, or relative to abs_top_builddir. */
void cdp_screenshot(struct cdp *c, const char *name);
