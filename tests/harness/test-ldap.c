/* The slapd harness gives a real directory: binds and searches over
 * ldap://+StartTLS and ldaps:// with the test CA, the sample users and
 * groups, and TLS verification that fails against an unrelated CA. */
#include "config.h"

#include <ldap.h>
#include <string.h>

#include "check-main.h"
#include "harness.h"

static struct harness_ldap *dir;

static void setup(void)
{
        ck_assert_int_eq(harness_ldap_start(&dir), 0);
}

static void teardown(void)
{
        harness_ldap_stop(dir);
        dir = NULL;
}

/* Connect to uri verifying against ca; optionally StartTLS. Returns the
 * result of the TLS step (LDAP_SUCCESS or an error) and the handle. */
static int connect_tls(const char *uri, const char *ca, int starttls, LDAP **out)
{
        LDAP *ld = NULL;
        int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, newctx = 0, r;
        ck_assert_int_eq(ldap_initialize(&ld, uri), LDAP_SUCCESS);
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
        ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
        ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca);
        ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &newctx);
        r = starttls ? ldap_start_tls_s(ld, NULL, NULL) : LDAP_SUCCESS;
        *out = ld;
        return r;
}

static int simple_bind(LDAP *ld, const char *dn, const char *pw)
{
        struct berval cred = { .bv_val = (char *)pw, .bv_len = strlen(pw) };
        return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

START_TEST(test_ldaps_bind_and_search)
{
        LDAP *ld;
        LDAPMessage *res = NULL;
        char *attrs[] = { "mail", "memberOf", NULL };
        ck_assert_int_eq(connect_tls(dir->ldaps_uri, dir->ca_file, 0, &ld), LDAP_SUCCESS);
        ck_assert_int_eq(simple_bind(ld, dir->service_dn, dir->service_pw), LDAP_SUCCESS);
        ck_assert_int_eq(ldap_search_ext_s(ld, dir->base_dn, LDAP_SCOPE_SUBTREE, "(uid=alice)",
                                           attrs, 0, NULL, NULL, NULL, 0, &res),
                         LDAP_SUCCESS);
        ck_assert_int_eq(ldap_count_entries(ld, res), 1);
        LDAPMessage *e = ldap_first_entry(ld, res);
        struct berval **mail = ldap_get_values_len(ld, e, "mail");
        ck_assert_str_eq(mail[0]->bv_val, "alice@example.org");
        ldap_value_free_len(mail);
        struct berval **groups = ldap_get_values_len(ld, e, "memberOf");
        ck_assert_ptr_nonnull(groups);
        ck_assert_str_eq(groups[0]->bv_val, "cn=staff,ou=groups,dc=example,dc=org");
        ldap_value_free_len(groups);
        ldap_msgfree(res);
        ldap_unbind_ext_s(ld, NULL, NULL);
}
END_TEST

START_TEST(test_starttls_user_bind)
{
        LDAP *ld;
        ck_assert_int_eq(connect_tls(dir->ldap_uri, dir->ca_file, 1, &ld), LDAP_SUCCESS);
        ck_assert_int_eq(simple_bind(ld, "uid=bob,ou=people,dc=example,dc=org", "bob-pw"),
                         LDAP_SUCCESS);
        ck_assert_int_eq(simple_bind(ld, "uid=bob,ou=people,dc=example,dc=org", "alice-pw"),
                         LDAP_INVALID_CREDENTIALS);
        ldap_unbind_ext_s(ld, NULL, NULL);
}
END_TEST

START_TEST(test_unrelated_ca_fails)
{
        LDAP *ld;
        ck_assert_int_ne(connect_tls(dir->ldap_uri, dir->other_ca_file, 1, &ld), LDAP_SUCCESS);
        ldap_unbind_ext_s(ld, NULL, NULL);
        ck_assert_int_eq(connect_tls(dir->ldaps_uri, dir->other_ca_file, 0, &ld), LDAP_SUCCESS);
        ck_assert_int_ne(simple_bind(ld, dir->service_dn, dir->service_pw), LDAP_SUCCESS);
        ldap_unbind_ext_s(ld, NULL, NULL);
}
END_TEST

START_TEST(test_anonymous_sees_nothing)
{
        LDAP *ld;
        LDAPMessage *res = NULL;
        ck_assert_int_eq(connect_tls(dir->ldaps_uri, dir->ca_file, 0, &ld), LDAP_SUCCESS);
        int r = ldap_search_ext_s(ld, dir->base_dn, LDAP_SCOPE_SUBTREE, "(uid=*)", NULL, 0,
                                  NULL, NULL, NULL, 0, &res);
        ck_assert(r == LDAP_SUCCESS || r == LDAP_NO_SUCH_OBJECT);
        ck_assert_int_eq(ldap_count_entries(ld, res), 0);
        ldap_msgfree(res);
        ldap_unbind_ext_s(ld, NULL, NULL);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("harness-ldap");
        TCase *tc = tcase_create("slapd");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_ldaps_bind_and_search);
        tcase_add_test(tc, test_starttls_user_bind);
        tcase_add_test(tc, test_unrelated_ca_fails);
        tcase_add_test(tc, test_anonymous_sees_nothing);
        suite_add_tcase(s, tc);
        return s;
}
