/* The portal in headless Chromium (Debian's chromium), driven over the
 * DevTools protocol (tests/broker/cdp.c), against the broker in-process with real
 * PostgreSQL and slapd: sign in as alice, see her desktops, press Connect
 * (no vdi-hostd exists yet, so the portal must say in plain words that
 * the desktop's host is not reachable), save a screenshot as a test
 * artifact (tests/broker/portal-*.png in the build tree), sign out. */
#include "config.h"

#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "cdp.h"
#include "fixture.h"
#define CHECK_NOFORK
#include "check-main.h"

static struct bfx *f;
static const char *chromium;

START_TEST(test_portal_sign_in_connect_sign_out)
{
        struct cdp c = { 0 };
        bfx_reset(f);
        cdp_start(&c, chromium);
        g_autofree char *url = g_strdup_printf("%s/", f->base);
        json_decref(cdp_call(&c, "Page.navigate", json_pack("{s:s}", "url", url)));
        cdp_wait_for(&c, "!!document.getElementById('signin') && "
                     "!document.getElementById('signin').hidden");

        /* A wrong password: the plain-words message, no session. */
        json_decref(cdp_eval(&c, "document.getElementById('username').value = 'alice';"
                             "document.getElementById('password').value = 'nope';"
                             "document.getElementById('signin-button').click(); true"));
        cdp_wait_for(&c, "!document.getElementById('signin-error').hidden");
        g_autofree char *bad = cdp_eval_str(&c, "document.getElementById('signin-error').textContent");
        ck_assert_str_eq(bad, "Invalid user name or password");

        json_decref(cdp_eval(&c, "document.getElementById('username').value = 'alice';"
                             "document.getElementById('password').value = 'alice-pw';"
                             "document.getElementById('signin-button').click(); true"));
        cdp_wait_for(&c, "document.querySelectorAll('#desktop-list .desktop').length === 3");
        g_autofree char *names = cdp_eval_str(
                &c, "[...document.querySelectorAll('.desktop-name')].map(e => e.textContent)"
                    ".join('|')");
        ck_assert_str_eq(names, "Always full|Alice's lab|Office desktop");
        g_autofree char *who = cdp_eval_str(&c, "document.getElementById('who-name').textContent");
        ck_assert_int_gt(strlen(who), 0);
        g_autofree char *buttons = cdp_eval_str(
                &c, "[...document.querySelectorAll('.desktop-actions button')]"
                    ".map(b => b.getAttribute('aria-label')).join('|')");
        ck_assert_ptr_nonnull(strstr(buttons, "Connect with Remote Desktop (RDP) to Office desktop"));
        ck_assert_ptr_nonnull(strstr(buttons, "Connect with SPICE to Office desktop"));
        /* The session cookie is HttpOnly: page scripts cannot see it. */
        g_autofree char *cookies = cdp_eval_str(&c, "document.cookie");
        ck_assert_str_eq(cookies, "");

        /* Connect: the host does not exist yet, so the portal explains. */
        json_decref(cdp_eval(&c, "document.querySelector('button[aria-label=\"Connect with Remote "
                             "Desktop (RDP) to Office desktop\"]').click(); true"));
        cdp_wait_for(&c, "document.getElementById('status').textContent.includes('not reachable')");
        g_autofree char *st = cdp_eval_str(&c, "document.getElementById('status').textContent");
        ck_assert_msg(g_str_has_prefix(st, "Desktop host h1 is not reachable"), "%s", st);
        json_t *err = cdp_eval(&c, "document.getElementById('status').classList.contains('error')");
        ck_assert(json_is_true(err));
        json_decref(err);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM assignments"), 0);
        cdp_screenshot(&c, "tests/broker/portal-desktops.png");

        json_decref(cdp_eval(&c, "document.getElementById('signout').click(); true"));
        cdp_wait_for(&c, "!document.getElementById('signin').hidden && "
                     "document.getElementById('status').textContent === 'You have signed out.'");
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 0);
        /* Nothing of alice's stays on screen. */
        cdp_wait_for(&c, "getComputedStyle(document.getElementById('who')).display === 'none' && "
                     "getComputedStyle(document.getElementById('desktops')).display === 'none'");
        cdp_screenshot(&c, "tests/broker/portal-signed-out.png");
        cdp_stop(&c);
}
END_TEST

static void setup(void)
{
        f = bfx_start(NULL);
}

static void teardown(void)
{
        bfx_stop(f);
}

static Suite *make_suite(void)
{
        Suite *s = suite_create("broker-portal");
        TCase *tc = tcase_create("chromium");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_portal_sign_in_connect_sign_out);
        suite_add_tcase(s, tc);
        return s;
}

/* Without chromium the whole program is a TAP skip (run from main() below
 * through a constructor, before check-main's main). */
__attribute__((constructor)) static void need_chromium(void)
{
        chromium = cdp_require_chromium();
}
