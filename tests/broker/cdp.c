/* Headless Chromium over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4): the
 * browser side of tests/broker/portal and tests/e2e/portal. Failures abort
 * the running Check test. */
#include "config.h"

#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cdp.h"
#include <check.h>

extern char **environ;


static void cdp_send(struct cdp *c, const char *method, json_t *params, int id)
{
        json_t *m = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params",
                              params ? params : json_object());
        if (c->session)
                json_object_set_new(m, "sessionId", json_string(c->session));
        char *text = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        size_t len = strlen(text) + 1; /* with the NUL separator */
        for (size_t off = 0; off < len;) {
                ssize_t n = write(c->to, text + off, len - off);
                ck_assert_int_gt(n, 0);
                off += (size_t)n;
        }
        free(text);
}

/* Read messages until the answer to id arrives; returns its "result".
 * A DevTools error aborts the test, or gives NULL when tolerated. */
static json_t *cdp_wait(struct cdp *c, int id, int timeout_ms, bool tolerate)
{
        char chunk[65536];
        for (;;) {
                char *nul = memchr(c->buf->str, '\0', c->buf->len);
                if (nul) {
                        size_t len = (size_t)(nul - c->buf->str);
                        json_t *m = json_loadb(c->buf->str, len, 0, NULL);
                        g_string_erase(c->buf, 0, (gssize)len + 1);
                        if (m && json_integer_value(json_object_get(m, "id")) == id) {
                                json_t *err = json_object_get(m, "error");
                                if (err && tolerate) {
                                        json_decref(m);
                                        return NULL;
                                }
                                ck_assert_msg(!err, "DevTools error: %s",
                                              json_string_value(json_object_get(err, "message")));
                                json_t *res = json_incref(json_object_get(m, "result"));
                                json_decref(m);
                                return res;
                        }
                        json_decref(m);
                        continue;
                }
                struct pollfd p = { .fd = c->from, .events = POLLIN };
                ck_assert_msg(poll(&p, 1, timeout_ms) == 1, "chromium did not answer");
                ssize_t n = read(c->from, chunk, sizeof(chunk));
                ck_assert_msg(n > 0, "chromium closed the DevTools pipe");
                g_string_append_len(c->buf, chunk, n);
        }
}

json_t *cdp_call(struct cdp *c, const char *method, json_t *params)
{
        int id = ++c->next_id;
        cdp_send(c, method, params, id);
        return cdp_wait(c, id, 20000, false);
}

/* Runtime.evaluate; NULL on a DevTools error when tolerated. */
static json_t *evaluate(struct cdp *c, const char *js, bool tolerate)
{
        int id = ++c->next_id;
        cdp_send(c, "Runtime.evaluate",
                 json_pack("{s:s, s:b, s:b}", "expression", js, "returnByValue", 1,
                           "awaitPromise", 1),
                 id);
        return cdp_wait(c, id, 20000, tolerate);
}

/* Evaluate JS in the page; the value as JSON (caller decrefs). */
json_t *cdp_eval(struct cdp *c, const char *js)
{
        json_t *r = evaluate(c, js, false);
        json_t *v = json_incref(json_object_get(json_object_get(r, "result"), "value"));
        json_decref(r);
        return v ? v : json_null();
}

char *cdp_eval_str(struct cdp *c, const char *js)
{
        json_t *v = cdp_eval(c, js);
        char *s = g_strdup(json_is_string(v) ? json_string_value(v) : "");
        json_decref(v);
        return s;
}

/* Poll until js is true (10 s). */
void cdp_wait_for(struct cdp *c, const char *js)
{
        cdp_wait_for_ms(c, js, 10000);
}

void cdp_wait_for_ms(struct cdp *c, const char *js, unsigned timeout_ms)
{
        gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
        do {
                /* A navigation that commits meanwhile ends the evaluation
                 * with an error ("Inspected target navigated"): not yet. */
                json_t *r = evaluate(c, js, true);
                bool ok = json_is_true(json_object_get(json_object_get(r, "result"), "value"));
                json_decref(r);
                if (ok)
                        return;
                g_usleep(50000);
        } while (g_get_monotonic_time() < end);
        g_autofree char *body = cdp_eval_str(c, "document.body.innerText");
        ck_abort_msg("timed out waiting for %s; page says: %s", js, body);
}

void cdp_screenshot(struct cdp *c, const char *name)
{
        /* The whole page, not only the window: pages longer than the
         * window are looked at too. */
        json_t *m = cdp_call(c, "Page.getLayoutMetrics", NULL);
        json_t *size = json_object_get(m, "cssContentSize");
        double w = json_number_value(json_object_get(size, "width"));
        double h = json_number_value(json_object_get(size, "height"));
        json_decref(m);
        /* Captured beyond the window, the page has no scrollbar: it is laid
         * out at the window's full width, wider than the content measured
         * beside the scrollbar. */
        json_t *iw = cdp_eval(c, "window.innerWidth");
        if (json_is_number(iw) && json_number_value(iw) > w)
                w = json_number_value(iw);
        json_decref(iw);
        json_t *r = cdp_call(c, "Page.captureScreenshot",
                             json_pack("{s:s, s:b, s:{s:f, s:f, s:f, s:f, s:f}}", "format", "png",
                                       "captureBeyondViewport", 1, "clip", "x", 0.0, "y", 0.0,
                                       "width", w, "height", h, "scale", 1.0));
        gsize len = 0;
        guchar *png = g_base64_decode(json_string_value(json_object_get(r, "data")), &len);
        json_decref(r);
        g_autofree char *path = name[0] == '/' ? g_strdup(name)
                                               : g_strdup_printf("%s/%s",
                                                                 getenv("abs_top_builddir") ?: ".", name);
        ck_assert(g_file_set_contents(path, (const char *)png, (gssize)len, NULL));
        printf("# screenshot: %s (%zu bytes)\n", path, (size_t)len);
        g_free(png);
}

const char *cdp_find_chromium(void)
{
        static const char *const candidates[] = { "/usr/bin/chromium", "/usr/bin/chromium-browser" };
        const char *env = getenv("CHROMIUM");

        if (env && access(env, X_OK) == 0)
                return env;
        for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
                if (access(candidates[i], X_OK) == 0)
                        return candidates[i];
        return NULL;
}

const char *cdp_require_chromium(void)
{
        const char *c = cdp_find_chromium();
        if (!c) {
                printf("Bail out! chromium is not installed (scripts/install-deps installs it)\n");
                exit(99);
        }
        return c;
}

void cdp_start(struct cdp *c, const char *chromium)
{
        int cmd[2], ans[2];
        posix_spawn_file_actions_t fa;
        g_autoptr(GError) gerr = NULL;

        c->profile = g_dir_make_tmp("vdi-chromium-XXXXXX", &gerr);
        g_autofree char *profile_arg = g_strdup_printf("--user-data-dir=%s", c->profile);
        char *argv[] = { (char *)chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                         "--remote-debugging-pipe", "--ignore-certificate-errors",
                         "--no-first-run", "--no-default-browser-check",
                         "--disable-dev-shm-usage", "--window-size=900,720", profile_arg,
                         "about:blank", NULL };
        ck_assert_int_eq(pipe2(cmd, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ans, O_CLOEXEC), 0);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, cmd[0], 3);
        posix_spawn_file_actions_adddup2(&fa, ans[1], 4);
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        posix_spawn_file_actions_adddup2(&fa, devnull, 2);
        ck_assert_int_eq(posix_spawn(&c->pid, chromium, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        close(devnull);
        close(cmd[0]);
        close(ans[1]);
        c->to = cmd[1];
        c->from = ans[0];
        c->buf = g_string_new(NULL);
        signal(SIGPIPE, SIG_IGN);

        json_t *t = cdp_call(c, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"));
        json_t *a = cdp_call(c, "Target.attachToTarget",
                             json_pack("{s:s, s:b}", "targetId",
                                       json_string_value(json_object_get(t, "targetId")),
                                       "flatten", 1));
        c->session = g_strdup(json_string_value(json_object_get(a, "sessionId")));
        json_decref(t);
        json_decref(a);
        json_decref(cdp_call(c, "Page.enable", NULL));
        json_decref(cdp_call(c, "Runtime.enable", NULL));
}

void cdp_stop(struct cdp *c)
{
        int status;
        g_clear_pointer(&c->session, g_free);
        cdp_send(c, "Browser.close", NULL, ++c->next_id);
        close(c->to);
        for (int i = 0; i < 100 && waitpid(c->pid, &status, WNOHANG) == 0; i++)
                g_usleep(50000);
        if (waitpid(c->pid, &status, WNOHANG) == 0) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, &status, 0);
        }
        close(c->from);
        g_string_free(c->buf, TRUE);
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", c->profile);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", c->profile);
        g_free(c->profile);
}

