/* Reconnect tickets (lib/reconnect.h): sign and verify with real Ed25519
 * keys made by the openssl tool, and every way a ticket must be refused. */
#include "config.h"

#include <glib.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "check-main.h"
#include "reconnect.h"
#include "token.h"

static char *dir;

static void setup(void)
{
        dir = g_dir_make_tmp("vdi-reconnect-XXXXXX", NULL);
        ck_assert_ptr_nonnull(dir);
        g_autofree char *cmd = g_strdup_printf(
                "cd %s && openssl genpkey -algorithm ed25519 -out a.key 2>/dev/null && "
                "openssl pkey -in a.key -pubout -out a.pub && "
                "openssl genpkey -algorithm ed25519 -out b.key 2>/dev/null && "
                "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out ec.key "
                "2>/dev/null && echo garbage > junk.pem",
                dir);
        ck_assert_int_eq(system(cmd), 0);
}

static void teardown(void)
{
        g_autofree char *cmd = g_strdup_printf("rm -rf %s", dir);
        ck_assert_int_eq(system(cmd), 0);
        g_free(dir);
}

static EVP_PKEY *key(const char *name, bool private_key)
{
        g_autofree char *path = g_build_filename(dir, name, NULL);
        char *err = NULL;
        EVP_PKEY *k = NULL;
        ck_assert_msg(reconnect_key_load(path, private_key, &k, &err) == 0, "%s", err);
        return k;
}

static const struct reconnect_claims claims = {
        .user = "alice", .vm = "17", .host = "host-a", .address = "127.0.0.1", .port = 8443,
        .protocol = "rdp", .pool = "eng", .desktop = "eng-17", .issued_at_ms = 1000123,
        .expires_at = 1900,
};

START_TEST(test_sign_verify)
{
        EVP_PKEY *priv = key("a.key", true), *pub = key("a.pub", false);
        struct reconnect_claims c = { 0 };
        char *t1 = NULL, *t2 = NULL, *err = NULL;

        ck_assert_int_eq(reconnect_sign(priv, &claims, &t1), 0);
        ck_assert_int_eq(reconnect_sign(priv, &claims, &t2), 0);
        ck_assert_str_ne(t1, t2); /* a fresh nonce each time */
        ck_assert_uint_le(strlen(t1), RECONNECT_MAX_LEN);
        ck_assert_msg(reconnect_verify(pub, t1, 1899, &c, &err) == 0, "%s", err);
        ck_assert_str_eq(c.user, "alice");
        ck_assert_str_eq(c.vm, "17");
        ck_assert_str_eq(c.host, "host-a");
        ck_assert_str_eq(c.address, "127.0.0.1");
        ck_assert_int_eq(c.port, 8443);
        ck_assert_str_eq(c.protocol, "rdp");
        ck_assert_str_eq(c.pool, "eng");
        ck_assert_str_eq(c.desktop, "eng-17");
        ck_assert_int_eq(c.issued_at_ms, 1000123);
        ck_assert_int_eq(c.expires_at, 1900);
        ck_assert_uint_ge(strlen(c.nonce), 20);
        reconnect_claims_clear(&c);
        /* The private key verifies too (brokers check before calling a host). */
        ck_assert_int_eq(reconnect_verify(priv, t2, 1000, &c, &err), 0);
        reconnect_claims_clear(&c);
        free(t1);
        free(t2);
        EVP_PKEY_free(priv);
        EVP_PKEY_free(pub);
}
END_TEST

static int verify(EVP_PKEY *k, const char *t, int64_t now, char **err)
{
        struct reconnect_claims c = { 0 };
        g_clear_pointer(err, g_free);
        int r = reconnect_verify(k, t, now, &c, err);
        reconnect_claims_clear(&c);
        return r;
}

START_TEST(test_refused)
{
        EVP_PKEY *priv = key("a.key", true), *pub = key("a.pub", false), *other = key("b.key", true);
        char *t = NULL, *err = NULL, *forged = NULL;

        ck_assert_int_eq(reconnect_sign(priv, &claims, &t), 0);
        ck_assert_int_eq(verify(pub, t, 1900, &err), -ESTALE);
        ck_assert_str_eq(err, "reconnect ticket expired");
        ck_assert_int_eq(verify(other, t, 1000, &err), -EPERM);
        ck_assert_ptr_nonnull(strstr(err, "signature does not match"));
        /* Another user's name in the claims, the signature kept. */
        char *dot = strchr(t, '.');
        g_autofree char *json = g_strdup_printf(
                "{\"address\":\"127.0.0.1\",\"desktop\":\"eng-17\",\"exp\":1900,\"host\":\"host-a\","
                "\"iat_ms\":1000123,\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"pool\":\"eng\",\"port\":8443,"
                "\"protocol\":\"rdp\",\"user\":\"mallory\",\"v\":1,\"vm\":\"17\"}");
        g_autofree char *body = token_base64url(json, strlen(json));
        forged = g_strdup_printf("%s%s", body, dot);
        ck_assert_int_eq(verify(pub, forged, 1000, &err), -EPERM);
        /* One flipped character anywhere. */
        for (size_t i = 0; i < strlen(t); i += 7) {
                g_autofree char *x = g_strdup(t);
                x[i] = x[i] == 'A' ? 'B' : 'A';
                ck_assert_int_lt(verify(pub, x, 1000, &err), 0);
        }
        /* Garbage, empty, too long, no dot, bad base64. */
        ck_assert_int_eq(verify(pub, "", 1000, &err), -EINVAL);
        ck_assert_int_eq(verify(pub, "abc", 1000, &err), -EINVAL);
        ck_assert_int_eq(verify(pub, "abc.d*f", 1000, &err), -EINVAL);
        ck_assert_str_eq(err, "not a reconnect ticket (bad signature encoding)");
        g_autofree char *big = g_strnfill(RECONNECT_MAX_LEN + 1, 'A');
        ck_assert_int_eq(verify(pub, big, 1000, &err), -EINVAL);
        /* Messages never quote the ticket. */
        ck_assert_ptr_null(strstr(err, "AAAA"));
        g_free(err);
        g_free(forged);
        free(t);
        EVP_PKEY_free(priv);
        EVP_PKEY_free(pub);
        EVP_PKEY_free(other);
}
END_TEST

START_TEST(test_key_files)
{
        EVP_PKEY *k = NULL;
        char *err = NULL;
        g_autofree char *pub = g_build_filename(dir, "a.pub", NULL);
        g_autofree char *ec = g_build_filename(dir, "ec.key", NULL);
        g_autofree char *junk = g_build_filename(dir, "junk.pem", NULL);

        /* A broker needs the private key. */
        ck_assert_int_eq(reconnect_key_load(pub, true, &k, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "not a PEM private key"));
        g_clear_pointer(&err, g_free);
        ck_assert_int_eq(reconnect_key_load(ec, false, &k, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "not an Ed25519 key"));
        g_clear_pointer(&err, g_free);
        ck_assert_int_eq(reconnect_key_load(junk, false, &k, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "junk.pem"));
        g_clear_pointer(&err, g_free);
        ck_assert_int_eq(reconnect_key_load("/nonexistent/k.pem", false, &k, &err), -ENOENT);
        ck_assert_ptr_null(k);
        g_free(err);
}
END_TEST

START_TEST(test_base64url_decode)
{
        unsigned char *out = NULL;
        size_t n = 0;
        ck_assert_int_eq(token_base64url_decode("Zm9vYmFy", &out, &n), 0);
        ck_assert_uint_eq(n, 6);
        ck_assert_mem_eq(out, "foobar", 6);
        free(out);
        ck_assert_int_eq(token_base64url_decode("-_-_", &out, &n), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert_int_eq(out[0], 0xfb);
        free(out);
        ck_assert_int_eq(token_base64url_decode("Zg", &out, &n), 0);
        free(out);
        ck_assert_int_eq(token_base64url_decode("Zh", &out, &n), -EINVAL); /* stray bits */
        ck_assert_int_eq(token_base64url_decode("Z", &out, &n), -EINVAL);
        ck_assert_int_eq(token_base64url_decode("Zm9v+", &out, &n), -EINVAL);
        ck_assert_int_eq(token_base64url_decode("Zg==", &out, &n), -EINVAL);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("reconnect");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_sign_verify);
        tcase_add_test(tc, test_refused);
        tcase_add_test(tc, test_key_files);
        tcase_add_test(tc, test_base64url_decode);
        suite_add_tcase(s, tc);
        return s;
}

