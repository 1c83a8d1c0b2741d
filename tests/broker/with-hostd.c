/* The broker against a real vdi-hostd (hostd/vdi-hostd from this tree) on
 * loopback, over mutual TLS with the test PKI: the broker's client
 * certificate is accepted, its status call works, and a launch whose VM
 * the host does not run (no KVM here, so the host runs none) fails with
 * the host's refusal and gives the claimed desktop back. A successful
 * launch needs a running VM: see the KVM lab tests. Skips when vdi-hostd
 * is not built. */
#include "config.h"

#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#define CHECK_NOFORK
#include "check-main.h"

static struct bfx *f;
static GPid hostd = 0;
static int hostd_port;
static char *hostd_bin;
static char *state;

static void setup(void)
{
        g_autoptr(GError) gerr = NULL;
        f = bfx_start(NULL);
        state = g_dir_make_tmp("vdi-hostd-state-XXXXXX", &gerr);
        hostd_port = bfx_free_port();
        g_autofree char *conf = g_build_filename(f->pki, "hostd.conf", NULL);
        g_autofree char *ini = g_strdup_printf(
                "[hostd]\nname = h3\nstate_dir = %s\nruntime_dir = %s/run\nlog_level = warning\n"
                "[api]\nlisten = 127.0.0.1\nport = %d\ncert = %s/server.pem\n"
                "key = %s/server.key\nclient_ca = %s/ca.pem\npublic_address = 127.0.0.1\n",
                state, state, hostd_port, f->pki, f->pki, f->pki);
        ck_assert(g_file_set_contents(conf, ini, -1, NULL));
        char *argv[] = { hostd_bin, "--config", conf, "--foreground", NULL };
        ck_assert_msg(g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                    &hostd, &gerr),
                      "vdi-hostd: %s", gerr ? gerr->message : "");
        /* Ready when its API answers the broker. */
        struct hostd_endpoint ep = { .name = "h3", .address = "127.0.0.1", .port = hostd_port };
        for (int i = 0; i < 100; i++) {
                json_t *st = NULL;
                char *err = NULL;
                if (hostd_status(f->b->hosts, &ep, &st, &err) == 0) {
                        json_decref(st);
                        return;
                }
                g_free(err);
                g_usleep(100000);
        }
        ck_abort_msg("vdi-hostd did not answer on port %d", hostd_port);
}

static void teardown(void)
{
        if (hostd > 0)
                bfx_terminate(hostd, 5000);
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", state);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", state);
        g_free(state);
        bfx_stop(f);
}

START_TEST(test_status_over_mutual_tls)
{
        struct hostd_endpoint ep = { .name = "h3", .address = "127.0.0.1", .port = hostd_port };
        json_t *st = NULL;
        char *err = NULL;
        ck_assert_msg(hostd_status(f->b->hosts, &ep, &st, &err) == 0, "%s", err);
        ck_assert(json_is_object(st));
        json_decref(st);
}
END_TEST

START_TEST(test_launch_refused_by_host_gives_desktop_back)
{
        bfx_reset(f);
        bfx_exec(f, "INSERT INTO hosts (name, address, port) VALUES ('h3', '127.0.0.1', %d);"
                    "UPDATE desktops SET host_id = 3 WHERE pool_id = 1",
                 hostd_port);
        struct bclient *c = bclient_new(f);
        ck_assert_int_eq(bclient_login(c, "alice", "alice-pw"), 200);
        g_autofree char *before = bfx_str(f, "SELECT (SELECT count(*) FROM assignments) || '/' ||"
                                             " string_agg(name || ':' || state, ',' ORDER BY id)"
                                             " FROM desktops");
        for (int i = 0; i < 2; i++) {
                struct breply r = bclient_req(c, "POST", "/api/v1/launch",
                                              i ? "{\"pool\":\"office\",\"protocol\":\"spice\"}"
                                                : "{\"pool\":\"office\",\"protocol\":\"rdp\"}",
                                              NULL, true);
                ck_assert_msg(r.status == 502, "%ld %s", r.status, r.body->str);
                ck_assert_str_eq(json_string_value(json_object_get(r.json, "error")),
                                 "host_error");
                ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r.json,
                                                                               "message")),
                                             "desktop host h3 could not prepare"));
                breply_free(&r);
        }
        g_autofree char *after = bfx_str(f, "SELECT (SELECT count(*) FROM assignments) || '/' ||"
                                            " string_agg(name || ':' || state, ',' ORDER BY id)"
                                            " FROM desktops");
        ck_assert_str_eq(after, before);
        /* The host's reason is kept for the admin. */
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE action ="
                                     " 'desktop.launch' AND outcome = 'failed' AND host_name ="
                                     " 'h3' AND detail LIKE 'desktop host h3%%'"), 2);
        bclient_free(c);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("broker-with-hostd");
        TCase *tc = tcase_create("hostd");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_status_over_mutual_tls);
        tcase_add_test(tc, test_launch_refused_by_host_gives_desktop_back);
        suite_add_tcase(s, tc);
        return s;
}

__attribute__((constructor)) static void need_hostd(void)
{
        const char *top = getenv("abs_top_builddir");
        hostd_bin = g_strdup_printf("%s/hostd/vdi-hostd", top ? top : ".");
        if (access(hostd_bin, X_OK) != 0) {
                printf("1..0 # SKIP %s is not built\n", hostd_bin);
                exit(0);
        }
}
