#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check-main.h"
#include "conf.h"

struct sample {
        char *listen;
        int64_t port;
        bool tls;
        char *cert;
        char **uris;
        char *secret;
};

static const struct conf_option opts[] = {
        { "http", "listen", CONF_STRING, offsetof(struct sample, listen), "127.0.0.1", 0, 0, 0,
          "address to listen on" },
        { "http", "port", CONF_INT, offsetof(struct sample, port), "8443", 1, 65535, 0,
          "TCP port" },
        { "http", "tls", CONF_BOOL, offsetof(struct sample, tls), "true", 0, 0, 0, "use TLS" },
        { "tls", "cert", CONF_PATH, offsetof(struct sample, cert), NULL, 0, 0,
          CONF_REQUIRED | CONF_FILE_EXISTS, "certificate file" },
        { "ldap", "uris", CONF_STRLIST, offsetof(struct sample, uris), "ldaps://a", 0, 0, 0,
          "servers" },
        { "ldap", "password", CONF_STRING, offsetof(struct sample, secret), NULL, 0, 0,
          CONF_SECRET, "bind password" },
};

static int load(const char *text, struct sample *s, char **err)
{
        memset(s, 0, sizeof(*s));
        *err = NULL;
        return conf_load_data("/etc/vdi/test.conf", text, opts, 6, s, err);
}

START_TEST(test_defaults_and_values)
{
        struct sample s;
        char *err;
        ck_assert_int_eq(load("[tls]\ncert=/dev/null\n[ldap]\nuris=ldap://x ; ldaps://y,\n", &s,
                              &err), 0);
        ck_assert_ptr_null(err);
        ck_assert_str_eq(s.listen, "127.0.0.1");
        ck_assert_int_eq(s.port, 8443);
        ck_assert(s.tls);
        ck_assert_str_eq(s.cert, "/dev/null");
        ck_assert_str_eq(s.uris[0], "ldap://x");
        ck_assert_str_eq(s.uris[1], "ldaps://y");
        ck_assert_ptr_null(s.uris[2]);
        ck_assert_ptr_null(s.secret);
        conf_free(opts, 6, &s);
        ck_assert_ptr_null(s.listen);
}
END_TEST

static void expect_error(const char *text, const char *message)
{
        struct sample s;
        char *err;
        ck_assert_int_eq(load(text, &s, &err), -EINVAL);
        ck_assert_ptr_nonnull(err);
        ck_assert_str_eq(err, message);
        free(err);
        conf_free(opts, 6, &s);
}

START_TEST(test_errors_name_file_key_reason)
{
        expect_error("[tls]\ncert=/dev/null\n[http]\nport=70000\n",
                     "/etc/vdi/test.conf: [http] port: 70000 is out of range 1..65535");
        expect_error("[tls]\ncert=/dev/null\n[http]\nport=80a\n",
                     "/etc/vdi/test.conf: [http] port: \"80a\" is not an integer");
        expect_error("[tls]\ncert=/dev/null\n[http]\ntls=maybe\n",
                     "/etc/vdi/test.conf: [http] tls: \"maybe\" is not a boolean (use true or "
                     "false)");
        expect_error("[http]\nport=1\n",
                     "/etc/vdi/test.conf: [tls] cert: required key is missing");
        expect_error("[tls]\ncert=relative.pem\n",
                     "/etc/vdi/test.conf: [tls] cert: \"relative.pem\" is not an absolute path");
        expect_error("[tls]\ncert=/nonexistent/x.pem\n",
                     "/etc/vdi/test.conf: [tls] cert: cannot read \"/nonexistent/x.pem\": No "
                     "such file or directory");
        expect_error("[tls]\ncert=/dev/null\n[http]\nprot=1\n",
                     "/etc/vdi/test.conf: [http] prot: unknown key");
        expect_error("[tls]\ncert=/dev/null\n[htp]\nport=1\n",
                     "/etc/vdi/test.conf: [htp]: unknown section");
        expect_error("[tls]\ncert=\n", "/etc/vdi/test.conf: [tls] cert: must not be empty");
}
END_TEST

START_TEST(test_syntax_error)
{
        struct sample s;
        char *err;
        ck_assert_int_eq(load("this is not ini\n", &s, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "/etc/vdi/test.conf: "));
        free(err);
        conf_free(opts, 6, &s);
}
END_TEST

START_TEST(test_missing_file)
{
        struct sample s = { 0 };
        char *err = NULL;
        ck_assert_int_eq(conf_load_file("/nonexistent/vdi.conf", opts, 6, &s, &err), -ENOENT);
        ck_assert_ptr_nonnull(strstr(err, "/nonexistent/vdi.conf: cannot read configuration"));
        free(err);
}
END_TEST

START_TEST(test_load_file_and_example)
{
        char path[] = "/tmp/vdi-conf-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        conf_print_example(opts, 6, f);
        fclose(f);

        /* The generated example is itself a valid file once the required
         * key is filled in. */
        char *text = NULL;
        size_t len = 0;
        f = fopen(path, "r");
        ck_assert_int_eq(getdelim(&text, &len, '\0', f) > 0, 1);
        fclose(f);
        ck_assert_ptr_nonnull(strstr(text, "[http]\n# address to listen on\n#listen=127.0.0.1\n"));
        ck_assert_ptr_nonnull(strstr(text, "# (required)\ncert=\n"));

        free(text);

        struct sample s = { 0 };
        char *err = NULL;
        char want[256];
        snprintf(want, sizeof(want), "%s: [tls] cert: must not be empty", path);
        ck_assert_int_eq(conf_load_file(path, opts, 6, &s, &err), -EINVAL);
        ck_assert_str_eq(err, want);
        free(err);
        conf_free(opts, 6, &s);
        unlink(path);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("conf");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_defaults_and_values);
        tcase_add_test(tc, test_errors_name_file_key_reason);
        tcase_add_test(tc, test_syntax_error);
        tcase_add_test(tc, test_missing_file);
        tcase_add_test(tc, test_load_file_and_example);
        suite_add_tcase(s, tc);
        return s;
}
