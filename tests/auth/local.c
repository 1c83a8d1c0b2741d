/* The local admin backend: crypt(3) hashes from the configuration. */
#include "config.h"

#include <crypt.h>
#include <glib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/local-admin.h"
#include "check-main.h"

static char *make_hash(const char *prefix, const char *password)
{
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        struct crypt_data *cd = g_new0(struct crypt_data, 1);
        ck_assert_ptr_nonnull(crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof(salt)));
        char *h = g_strdup(crypt_r(password, salt, cd));
        g_free(cd);
        return h;
}

static void *open_local(const char *hash, char **err)
{
        g_autofree char *ini = g_strdup_printf("[local-admin]\nuser = root-admin\n"
                                               "password_hash = %s\ngroups = vdi-admins;ops\n",
                                               hash);
        struct auth_local_conf_file f = { 0 };
        void *st = NULL;
        ck_assert_int_eq(conf_load_data("t.conf", ini, auth_local_conf_options,
                                        auth_local_conf_options_count, &f, err),
                         0);
        int r = auth_backend_find("local")->open(&f.local, &st, err);
        conf_free(auth_local_conf_options, auth_local_conf_options_count, &f);
        return r == 0 ? st : NULL;
}

static void check_method(const char *prefix)
{
        g_autofree char *hash = make_hash(prefix, "s3cret pass");
        char *err = NULL;
        void *st = open_local(hash, &err);
        struct auth_identity *id = NULL;
        ck_assert_msg(st, "%s: %s", prefix, err);

        struct auth_credentials ok = AUTH_CREDENTIALS("root-admin", "s3cret pass");
        ck_assert_int_eq(auth_local_backend.authenticate(st, &ok, &id, &err), 0);
        ck_assert_str_eq(id->backend, "local");
        ck_assert_str_eq(id->login, "root-admin");
        ck_assert_uint_eq(id->n_groups, 2);
        ck_assert_str_eq(id->groups[0], "ops");
        ck_assert_str_eq(id->groups[1], "vdi-admins");
        auth_identity_free(id);
        id = NULL;

        const struct auth_credentials bad[] = {
                AUTH_CREDENTIALS("root-admin", "s3cret"),
                AUTH_CREDENTIALS("root-admin", ""),
                AUTH_CREDENTIALS("admin", "s3cret pass"),
                AUTH_CREDENTIALS("", "s3cret pass"),
                { .login = "root-admin\0", .login_len = 11, .password = "s3cret pass",
                  .password_len = 11 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                ck_assert_int_eq(auth_local_backend.authenticate(st, &bad[i], &id, &err), -EACCES);
                ck_assert_str_eq(err, AUTH_INVALID_CREDENTIALS);
                ck_assert_ptr_null(id);
                g_clear_pointer(&err, free);
        }
        auth_local_backend.close(st);
}

START_TEST(test_yescrypt)
{
        check_method("$y$");
}
END_TEST

START_TEST(test_sha512crypt)
{
        check_method("$6$");
}
END_TEST

START_TEST(test_bad_hashes)
{
        char *err = NULL;
        g_autofree char *md5 = make_hash("$1$", "pw");
        ck_assert_ptr_null(open_local(md5, &err));
        ck_assert_msg(strstr(err, "[local-admin] password_hash") && strstr(err, "weak"), "%s",
                      err);
        g_clear_pointer(&err, free);
        ck_assert_ptr_null(open_local("$y$broken", &err));
        ck_assert_msg(strstr(err, "malformed"), "%s", err);
        g_clear_pointer(&err, free);
        ck_assert_ptr_null(open_local("", &err));
        ck_assert_msg(strstr(err, "not set"), "%s", err);
        free(err);
        ck_assert_ptr_null(auth_backend_find("kerberos"));
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("auth-local");
        TCase *tc = tcase_create("local");
        tcase_add_test(tc, test_yescrypt);
        tcase_add_test(tc, test_sha512crypt);
        tcase_add_test(tc, test_bad_hashes);
        suite_add_tcase(s, tc);
        return s;
}
