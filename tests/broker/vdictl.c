/* tools/vdictl against the broker (in-process, real PostgreSQL and slapd):
 * declarative apply, tables, --json, refusals with the broker's message. */
#include "config.h"

#include <glib.h>
#include <string.h>
#include <sys/wait.h>

#include "fixture.h"
#define CHECK_NOFORK
#include "check-main.h"

static struct bfx *f;

static void setup(void)
{
        f = bfx_start(NULL);
}

static void teardown(void)
{
        bfx_stop(f);
}

/* Run vdictl as user (password user-pw, or the local admin's); returns
 * the exit status and stores stdout/stderr. */
static int vdictl(const char *user, char **out, char **err, const char *const *args)
{
        g_autofree char *bin = g_strdup_printf("%s/tools/vdictl", getenv("abs_top_builddir"));
        g_autofree char *pw = !strcmp(user, BFX_LOCAL_ADMIN) ? g_strdup(BFX_LOCAL_ADMIN_PW)
                                                             : g_strdup_printf("%s-pw", user);
        GPtrArray *argv = g_ptr_array_new();
        g_autoptr(GError) gerr = NULL;
        int status = 0;

        g_ptr_array_add(argv, bin);
        for (size_t i = 0; args[i]; i++)
                g_ptr_array_add(argv, (char *)args[i]);
        g_ptr_array_add(argv, NULL);
        g_auto(GStrv) env = g_get_environ();
        env = g_environ_setenv(env, "VDICTL_URL", f->base, TRUE);
        env = g_environ_setenv(env, "VDICTL_CA", f->ca, TRUE);
        env = g_environ_setenv(env, "VDICTL_USER", user, TRUE);
        env = g_environ_setenv(env, "VDICTL_PASSWORD", pw, TRUE);
        ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL,
                                   out, err, &status, &gerr),
                      "spawn: %s", gerr ? gerr->message : "");
        g_ptr_array_free(argv, TRUE);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

START_TEST(test_apply_and_list)
{
        g_autofree char *conf = g_build_filename(f->pki, "pools.conf", NULL);
        char *out = NULL, *err = NULL;
        bfx_reset(f);
        ck_assert(g_file_set_contents(conf,
                                      "[pool office]\nmax_size = 20\nready_size = 4\n"
                                      "kind = floating\nimage = deb12\nprotocols = rdp\n"
                                      "groups = cn=staff,ou=groups,dc=example,dc=org;"
                                      "cn=designers,ou=groups,dc=example,dc=org\n"
                                      "[pool kiosk]\ndisplay_name = Kiosk\nkind = floating\n"
                                      "image = deb12\nmax_size = 2\nusers = carol\nclipboard = guest-to-client\n",
                                      -1, NULL));
        const char *apply[] = { "apply", conf, NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, apply), 0);
        ck_assert_str_eq(out, "updated pool office\ncreated pool kiosk\n");
        g_free(out);
        g_free(err);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'office' AND"
                                     " max_size = 20 AND protocols = '{rdp}'"), 1);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pool_entitlements e JOIN pools p"
                                     " ON p.id = e.pool_id WHERE p.name = 'office'"), 2);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pool_entitlements e JOIN pools p"
                                     " ON p.id = e.pool_id WHERE p.name = 'kiosk' AND"
                                     " e.kind = 'user' AND e.subject = 'carol'"), 1);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'kiosk' AND"
                                     " clipboard = 'guest-to-client'"), 1);
        /* Applying again changes nothing but says so per pool. */
        ck_assert_int_eq(vdictl("dave", &out, &err, apply), 0);
        ck_assert_str_eq(out, "updated pool office\nupdated pool kiosk\n");
        g_free(out);
        g_free(err);

        const char *pools[] = { "pools", NULL };
        ck_assert_int_eq(vdictl(BFX_LOCAL_ADMIN, &out, &err, pools), 0);
        ck_assert_msg(g_str_has_prefix(out, "POOL    KIND       IMAGE  V  MIN  MAX  READY"), "%s",
                      out);
        ck_assert_ptr_nonnull(strstr(out, "\nkiosk   floating   deb12  1  0    2    0      "
                                          "rdp,spice  yes"));
        g_free(out);
        g_free(err);
        const char *json[] = { "--json", "desktops", "pool=office", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, json), 0);
        json_t *j = json_loads(out, 0, NULL);
        ck_assert_int_eq(json_array_size(json_object_get(j, "desktops")), 3);
        json_decref(j);
        g_free(out);
        g_free(err);
        /* Sessions are closed after each command. */
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 0);
}
END_TEST

START_TEST(test_refusals)
{
        g_autofree char *conf = g_build_filename(f->pki, "bad.conf", NULL);
        char *out = NULL, *err = NULL;
        bfx_reset(f);
        g_autofree char *before = bfx_str(f, "SELECT string_agg(name || max_size, ',' ORDER BY"
                                             " name) FROM pools");

        const char *pools[] = { "pools", NULL };
        ck_assert_int_eq(vdictl("alice", &out, &err, pools), 1);
        ck_assert_str_eq(err, "vdictl: user alice is not an administrator (admins are members "
                              "of the broker's [admin] groups)\n");
        g_free(out);
        g_free(err);

        /* A bad section stops the whole file before anything is applied. */
        ck_assert(g_file_set_contents(conf,
                                      "[pool office]\nmax_size = 30\nkind = floating\n"
                                      "image = deb12\n[pool eng]\nmax_size = lots\n",
                                      -1, NULL));
        const char *apply[] = { "apply", conf, NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, apply), 1);
        ck_assert_ptr_nonnull(strstr(err, "[pool eng] max_size: \"lots\" is not a number"));
        g_free(out);
        g_free(err);
        /* The broker's validation message reaches the admin. */
        ck_assert(g_file_set_contents(conf,
                                      "[pool office]\nmax_size = 1\nready_size = 3\n"
                                      "kind = floating\nimage = deb12\n",
                                      -1, NULL));
        ck_assert_int_eq(vdictl("dave", &out, &err, apply), 1);
        ck_assert_ptr_nonnull(strstr(err, "[pool office]: pool \"office\": sizes must satisfy"));
        g_free(out);
        g_free(err);
        g_autofree char *after = bfx_str(f, "SELECT string_agg(name || max_size, ',' ORDER BY"
                                            " name) FROM pools");
        ck_assert_str_eq(after, before);
        const char *del[] = { "pool-delete", "office", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, del), 1);
        ck_assert_ptr_nonnull(strstr(err, "still has 3 desktops"));
        g_free(out);
        g_free(err);
}
END_TEST

/* Deleted desktops are history: hidden unless asked for (issue 24). A
 * tombstone (state deleting, no host) shows as "deleted" with history=yes;
 * a delete still in flight on its host stays in the default list. */
START_TEST(test_desktops_history)
{
        char *out = NULL, *err = NULL;
        bfx_reset(f);
        bfx_exec(f, "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state) VALUES"
                    " (1, NULL, 1, 'office-9', 'deleting'), (1, 1, 1, 'office-8', 'deleting')");
        const char *now[] = { "desktops", "pool=office", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, now), 0);
        ck_assert_msg(strstr(out, "office-8") && strstr(out, "deleting"), "%s", out);
        ck_assert_msg(!strstr(out, "office-9") && !strstr(out, "deleted"), "%s", out);
        g_free(out);
        g_free(err);
        const char *hist[] = { "desktops", "pool=office", "history=yes", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, hist), 0);
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        bool seen = false;
        for (size_t i = 0; lines[i]; i++)
                if (strstr(lines[i], "office-9"))
                        seen = strstr(lines[i], "deleted") && strstr(lines[i], " - ");
        ck_assert_msg(seen, "%s", out);
        g_free(out);
        g_free(err);
        /* A pool goes with its history, never with live desktops (a delete
         * still in flight counts). */
        bfx_exec(f, "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state) VALUES"
                    " (5, NULL, 1, 'full-1', 'deleting');"
                    "INSERT INTO assignments (pool_id, desktop_id, user_name, created_at, released_at)"
                    " SELECT 5, id, 'bob', now() - interval '1 hour', now() FROM desktops"
                    " WHERE name = 'full-1'");
        const char *del_full[] = { "pool-delete", "full", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, del_full), 0);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'full'"), 0);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM desktops WHERE name = 'full-1'"), 0);
        g_free(out);
        g_free(err);
        const char *del_office[] = { "pool-delete", "office", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, del_office), 1);
        ck_assert_msg(strstr(err, "still has 4 desktops"), "%s", err);
        g_free(out);
        g_free(err);
        const char *bad[] = { "desktops", "history=maybe", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, bad), 1);
        ck_assert_msg(strstr(err, "history must be yes or no"), "%s", err);
        g_free(out);
        g_free(err);
}
END_TEST

/* image-version: every KEY=VALUE of the admin API, display included; the
 * broker's refusal of a bad display reaches the admin, an unknown key is
 * refused before anything is sent. */
START_TEST(test_image_version)
{
        char *out = NULL, *err = NULL;
        bfx_reset(f);
        const char *add[] = { "image-version", "deb12", "40", "/images/d40.qcow2", "format=raw",
                              "state=importing", "kernel=/images/k", "initrd=/images/i",
                              "cmdline=console=ttyS0 quiet", "display=virtio-gpu", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, add), 0);
        ck_assert_str_eq(out, "registered deb12 version 40\n");
        g_free(out);
        g_free(err);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM image_versions v JOIN images i ON"
                                     " i.id = v.image_id WHERE i.name = 'deb12' AND"
                                     " v.version = 40 AND v.path = '/images/d40.qcow2' AND"
                                     " v.format = 'raw' AND v.state = 'importing' AND"
                                     " v.kernel_path = '/images/k' AND v.initrd_path ="
                                     " '/images/i' AND v.cmdline = 'console=ttyS0 quiet' AND"
                                     " v.display = 'virtio-gpu'"),
                         1);
        const char *bad[] = { "image-version", "deb12", "41", "/images/d41.qcow2",
                              "display=qxl", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, bad), 1);
        ck_assert_msg(strstr(err, "display \"qxl\" is not \"vesa\" or \"virtio-gpu\""), "%s",
                      err);
        g_free(out);
        g_free(err);
        const char *unknown[] = { "image-version", "deb12", "41", "/images/d41.qcow2",
                                  "displays=vesa", NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, unknown), 2);
        ck_assert_str_eq(err, "vdictl: unexpected argument \"displays=vesa\"\n");
        g_free(out);
        g_free(err);
        const char *bare[] = { "image-version", "deb12", "41", "/images/d41.qcow2", "display",
                               NULL };
        ck_assert_int_eq(vdictl("dave", &out, &err, bare), 2);
        ck_assert_str_eq(err, "vdictl: unexpected argument \"display\"\n");
        g_free(out);
        g_free(err);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM image_versions WHERE version = 41"), 0);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("broker-vdictl");
        TCase *tc = tcase_create("vdictl");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_apply_and_list);
        tcase_add_test(tc, test_refusals);
        tcase_add_test(tc, test_desktops_history);
        tcase_add_test(tc, test_image_version);
        suite_add_tcase(s, tc);
        return s;
}
