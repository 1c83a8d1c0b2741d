/* Connection files (.rdp, .vv): exact content, and refusal of values that
 * would add lines. */
#include "config.h"

#include <glib.h>
#include <string.h>

#include "broker/launch-file.h"
#include "check-main.h"

START_TEST(test_rdp)
{
        struct launch_file_params p = { .title = "Office", .host = "10.0.0.5", .port = 3390,
                                        .username = "alice", .password = "s3cret-once",
                                        .routing_token = "vdi.42.7", .expires_in = 120 };
        struct launch_file f = { 0 };
        char *err = NULL;

        ck_assert_int_eq(launch_file_build("rdp", "office pool", &p, &f, &err), 0);
        ck_assert_str_eq(f.name, "office_pool.rdp");
        ck_assert_str_eq(f.content_type, "application/x-rdp");
        ck_assert(g_str_has_prefix(f.content, "full address:s:10.0.0.5:3390\r\n"
                                              "username:s:alice\r\n"
                                              "loadbalanceinfo:s:Cookie: msts=vdi.42.7\r\n"));
        ck_assert_ptr_nonnull(strstr(f.content, "enablecredsspsupport:i:1\r\n"));
        ck_assert_ptr_nonnull(strstr(f.content, "authentication level:i:2\r\n"));
        /* mstsc cannot take a clear-text password from the file. */
        ck_assert_ptr_null(strstr(f.content, "s3cret-once"));
        launch_file_clear(&f);

        p.routing_token = NULL;
        ck_assert_int_eq(launch_file_build("rdp", "x", &p, &f, &err), 0);
        ck_assert_ptr_null(strstr(f.content, "loadbalanceinfo"));
        launch_file_clear(&f);
}
END_TEST

START_TEST(test_vv)
{
        struct launch_file_params p = { .title = "Design studio", .host = "10.0.0.6",
                                        .port = 5901, .password = "tkt-123",
                                        .ca_pem = "-----BEGIN CERTIFICATE-----\nAAA\n"
                                                  "-----END CERTIFICATE-----\n",
                                        .expires_in = 120 };
        struct launch_file f = { 0 };
        char *err = NULL;

        ck_assert_int_eq(launch_file_build("spice", "design", &p, &f, &err), 0);
        ck_assert_str_eq(f.name, "design.vv");
        ck_assert_str_eq(f.content_type, "application/x-virt-viewer");
        ck_assert_str_eq(f.content, "[virt-viewer]\ntype=spice\nhost=10.0.0.6\ntls-port=5901\n"
                                    "password=tkt-123\ntitle=Design studio\n"
                                    "delete-this-file=1\nsecure-channels=all\n"
                                    "ca=-----BEGIN CERTIFICATE-----\\nAAA\\n"
                                    "-----END CERTIFICATE-----\\n\n");
        launch_file_clear(&f);
}
END_TEST

START_TEST(test_refuses_injection)
{
        struct launch_file_params p = { .host = "10.0.0.5", .port = 3389, .username = "alice",
                                        .password = "x\ndelete-this-file=0" };
        struct launch_file f = { 0 };
        char *err = NULL;

        ck_assert_int_eq(launch_file_build("spice", "a", &p, &f, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line break"));
        g_free(err);
        err = NULL;
        p.password = "ok";
        p.username = "alice\r\nfull address:s:evil:1";
        ck_assert_int_eq(launch_file_build("rdp", "a", &p, &f, &err), -EINVAL);
        g_free(err);
        err = NULL;
        p.username = "alice";
        p.port = 0;
        ck_assert_int_eq(launch_file_build("rdp", "a", &p, &f, &err), -EINVAL);
        g_free(err);
        err = NULL;
        p.port = 3389;
        ck_assert_int_eq(launch_file_build("vnc", "a", &p, &f, &err), -EINVAL);
        ck_assert_str_eq(err, "unknown protocol \"vnc\"");
        g_free(err);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("broker-files");
        TCase *tc = tcase_create("files");
        tcase_add_test(tc, test_rdp);
        tcase_add_test(tc, test_vv);
        tcase_add_test(tc, test_refuses_injection);
        suite_add_tcase(s, tc);
        return s;
}
