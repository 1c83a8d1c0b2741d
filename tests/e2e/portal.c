/* tests/e2e/portal: the portal of a running stack in headless Chromium
 * (tests/broker/cdp.c), as a person uses it: sign in, see the entitled
 * pool, press Connect (RDP), get the downloaded .rdp file and the one-time
 * password the page shows. Run by tests/e2e/e2e.sh, which then opens the
 * file with xfreerdp. Environment: E2E_PORTAL (https://127.0.0.1:PORT/),
 * E2E_USER, E2E_PASSWORD, E2E_OUT (a directory: the download lands there,
 * the password goes to E2E_OUT/otp, a screenshot to E2E_OUT/portal.png).
 * Skips without Chromium. */
#include "config.h"

#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "broker/cdp.h"
#define CHECK_NOFORK
#include "check-main.h"

static const char *chromium;

static const char *env(const char *name)
{
        const char *v = getenv(name);
        ck_assert_msg(v && *v, "%s is not set (run through tests/e2e/e2e.sh)", name);
        return v;
}

START_TEST(test_sign_in_and_connect)
{
        const char *portal = env("E2E_PORTAL"), *user = env("E2E_USER"), *password = env("E2E_PASSWORD");
        const char *out = env("E2E_OUT");
        struct cdp c = { 0 };

        cdp_start(&c, chromium);
        /* Downloads go to E2E_OUT, as a browser saves them. */
        json_decref(cdp_call(&c, "Browser.setDownloadBehavior",
                             json_pack("{s:s, s:s}", "behavior", "allow", "downloadPath", out)));
        json_decref(cdp_call(&c, "Page.navigate", json_pack("{s:s}", "url", portal)));
        cdp_wait_for(&c, "!!document.getElementById('signin') && !document.getElementById('signin').hidden");
        json_t *ju = json_string(user), *jp = json_string(password);
        g_autofree char *qu = json_dumps(ju, JSON_ENCODE_ANY), *qp = json_dumps(jp, JSON_ENCODE_ANY);
        json_decref(ju);
        json_decref(jp);
        g_autofree char *fill = g_strdup_printf("document.getElementById('username').value = %s;"
                                                "document.getElementById('password').value = %s;"
                                                "document.getElementById('signin-button').click(); true",
                                                qu, qp);
        json_decref(cdp_eval(&c, fill));
        cdp_wait_for(&c, "[...document.querySelectorAll('.desktop-name')].some(e => e.textContent === "
                         "'Office desktop')");
        json_decref(cdp_eval(&c, "document.querySelector('button[aria-label=\"Connect with Remote Desktop "
                                 "(RDP) to Office desktop\"]').click(); true"));
        cdp_wait_for(&c, "document.getElementById('status').textContent.includes('downloaded') && "
                         "!!document.getElementById('otp-value').value");
        g_autofree char *otp = cdp_eval_str(&c, "document.getElementById('otp-value').value");
        g_autofree char *name = cdp_eval_str(&c, "document.getElementById('otp-cmd').textContent.split(' ')[1]");
        ck_assert_uint_ge(strlen(otp), 12);
        ck_assert_msg(g_str_has_suffix(name, ".rdp"), "file name %s", name);
        g_autofree char *path = g_build_filename(out, name, NULL);
        g_autofree char *content = NULL;
        for (int i = 0; i < 100 && !g_file_get_contents(path, &content, NULL, NULL); i++)
                g_usleep(100000);
        ck_assert_msg(content, "the download %s did not arrive", path);
        ck_assert_ptr_nonnull(strstr(content, "full address:s:"));
        g_autofree char *want_user = g_strdup_printf("username:s:%s", user);
        ck_assert_ptr_nonnull(strstr(content, want_user));
        g_autofree char *otp_path = g_build_filename(out, "otp", NULL);
        ck_assert(g_file_set_contents(otp_path, otp, -1, NULL));
        g_autofree char *file_path = g_build_filename(out, "rdp-file", NULL);
        ck_assert(g_file_set_contents(file_path, path, -1, NULL));
        g_autofree char *shot = g_build_filename(out, "portal.png", NULL);
        cdp_screenshot(&c, shot);
        cdp_stop(&c);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("e2e-portal");
        TCase *tc = tcase_create("portal");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_sign_in_and_connect);
        suite_add_tcase(s, tc);
        return s;
}

__attribute__((constructor)) static void need_chromium(void)
{
        chromium = cdp_find_chromium();
}
