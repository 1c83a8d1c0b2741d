/* The LDAP backend against a real slapd from the harness (sample directory
 * in tests/harness/sample.ldif): passwords, identical failures, filter
 * injection, TLS verification, failover, groups, pool hygiene. */
#include "config.h"

#include <arpa/inet.h>
#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/ldap.h"
#include "check-main.h"
#include "harness/harness.h"

static struct harness_ldap *ldap;

#define PEOPLE "ou=people,dc=example,dc=org"
#define GROUPS "ou=groups,dc=example,dc=org"

static void setup(void)
{
        ck_assert_int_eq(harness_ldap_start(&ldap), 0);
}

static void teardown(void)
{
        harness_ldap_stop(ldap);
        ldap = NULL;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open the backend from an [ldap] section, the way a daemon would. extra
 * holds further "key = value" lines. */
static int open_ldap(const char *uri, const char *ca, const char *extra, void **state,
                     char **err)
{
        g_autofree char *ini = g_strdup_printf("[ldap]\n"
                                               "uri = %s\n"
                                               "base_dn = %s\n"
                                               "bind_dn = %s\n"
                                               "bind_password = %s\n"
                                               "%s%s\n"
                                               "%s",
                                               uri, ldap->base_dn, ldap->service_dn,
                                               ldap->service_pw, ca ? "ca_file = " : "",
                                               ca ? ca : "", extra ? extra : "");
        struct auth_ldap_conf_file f = { 0 };
        int r = conf_load_data("test.conf", ini, auth_ldap_conf_options,
                               auth_ldap_conf_options_count, &f, err);
        ck_assert_msg(r == 0, "config: %s", *err);
        r = auth_backend_find("ldap")->open(&f.ldap, state, err);
        conf_free(auth_ldap_conf_options, auth_ldap_conf_options_count, &f);
        return r;
}

static void *open_default(const char *extra)
{
        void *st = NULL;
        char *err = NULL;
        ck_assert_msg(open_ldap(ldap->ldaps_uri, ldap->ca_file, extra, &st, &err) == 0, "%s",
                      err);
        return st;
}

static int login(void *st, const char *user, const char *pw, struct auth_identity **id,
                 char **err)
{
        struct auth_credentials c = AUTH_CREDENTIALS(user, pw);
        return auth_ldap_backend.authenticate(st, &c, id, err);
}

static void assert_login_ok(void *st, const char *user, const char *pw)
{
        struct auth_identity *id = NULL;
        char *err = NULL;
        int r = login(st, user, pw, &id, &err);
        ck_assert_msg(r == 0, "login %s: %d %s", user, r, err);
        auth_identity_free(id);
}

/* Groups must be exactly the NULL-terminated list given (any order). */
static void assert_groups(const struct auth_identity *id, ...)
{
        va_list ap;
        size_t n = 0;
        va_start(ap, id);
        for (const char *g; (g = va_arg(ap, const char *)); n++)
                ck_assert_msg(g_strv_contains((const char *const *)id->groups, g),
                              "%s: missing group %s", id->login, g);
        va_end(ap);
        ck_assert_msg(id->n_groups == n, "%s: %zu groups, expected %zu", id->login, id->n_groups,
                      n);
}

START_TEST(test_right_password)
{
        void *st = open_default(NULL);
        struct auth_identity *id = NULL;
        char *err = NULL;

        ck_assert_msg(login(st, "alice", "alice-pw", &id, &err) == 0, "%s", err);
        ck_assert_str_eq(id->backend, "ldap");
        ck_assert_str_eq(id->dn, "uid=alice," PEOPLE);
        ck_assert_str_eq(id->login, "alice");
        ck_assert_str_eq(id->display_name, "Alice Archer");
        ck_assert_str_eq(id->email, "alice@example.org");
        assert_groups(id, "cn=staff," GROUPS, "cn=unix," GROUPS, NULL);
        auth_identity_free(id);

        /* Matching follows the directory's rules; the name comes back as
         * the directory spells it. */
        ck_assert_msg(login(st, "ALICE", "alice-pw", &id, &err) == 0, "%s", err);
        ck_assert_str_eq(id->login, "alice");
        auth_identity_free(id);
        auth_ldap_backend.close(st);
}
END_TEST

START_TEST(test_failures_look_the_same)
{
        void *st = open_default(NULL);
        struct {
                const char *user, *pw;
                size_t ulen;
        } cases[] = {
                { "alice", "wrong", 0 },    { "alice", "", 0 },        { "nobody", "alice-pw", 0 },
                { "", "alice-pw", 0 },      { "alice", "ALICE-PW", 0 }, { "alice\0x", "alice-pw", 7 },
                { "ali\tce", "alice-pw", 0 },
        };
        char longname[AUTH_MAX_LOGIN + 2];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                struct auth_identity *id = NULL;
                char *err = NULL;
                struct auth_credentials c = AUTH_CREDENTIALS(cases[i].user, cases[i].pw);
                if (cases[i].ulen)
                        c.login_len = cases[i].ulen;
                int r = auth_ldap_backend.authenticate(st, &c, &id, &err);
                ck_assert_msg(r == -EACCES, "case %zu: %d", i, r);
                ck_assert_str_eq(err, AUTH_INVALID_CREDENTIALS);
                ck_assert_ptr_null(id);
                free(err);
        }
        struct auth_identity *id = NULL;
        char *err = NULL;
        ck_assert_int_eq(login(st, longname, "x", &id, &err), -EACCES);
        ck_assert_str_eq(err, AUTH_INVALID_CREDENTIALS);
        free(err);
        auth_ldap_backend.close(st);
}
END_TEST

START_TEST(test_filter_escaping)
{
        g_autofree char *e = auth_ldap_escape_filter_value("a*(b)\\\0z", 8);
        ck_assert_str_eq(e, "a\\2A\\28b\\29\\5C\\00z");
}
END_TEST

START_TEST(test_filter_injection)
{
        /* Each would match alice (or everyone) if pasted into the filter
         * unescaped; with alice's password, none may log in. */
        const char *attacks[] = {
                "*",           "ali*",          "*)(uid=*",     "alice)(uid=*",
                "al\\69ce",    "alice\\",       "(uid=alice)",  "*)(|(uid=*",
                "alice)(objectClass=*", "*))(|(uid=*",  "\\2a",
        };
        void *st = open_default(NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(attacks); i++) {
                for (int pw = 0; pw < 2; pw++) {
                        struct auth_identity *id = NULL;
                        char *err = NULL;
                        int r = login(st, attacks[i], pw ? "bob-pw" : "alice-pw", &id, &err);
                        ck_assert_msg(r == -EACCES, "\"%s\": %d %s", attacks[i], r, err);
                        ck_assert_str_eq(err, AUTH_INVALID_CREDENTIALS);
                        free(err);
                }
        }
        /* NUL inside the name (length-counted input) is refused too. */
        struct auth_credentials c = { .login = "alice\0*", .login_len = 7,
                                      .password = "alice-pw", .password_len = 8 };
        struct auth_identity *id = NULL;
        char *err = NULL;
        ck_assert_int_eq(auth_ldap_backend.authenticate(st, &c, &id, &err), -EACCES);
        free(err);
        /* And the backend still works. */
        assert_login_ok(st, "bob", "bob-pw");
        auth_ldap_backend.close(st);
}
END_TEST

/* A host name that resolves to 127.0.0.1 but is not in the server
 * certificate (which names 127.0.0.1 and localhost), or NULL. */
static char *alias_for_loopback(void)
{
        char host[256];
        struct addrinfo hints = { .ai_family = AF_INET }, *ai = NULL;
        char *out = NULL;

        if (gethostname(host, sizeof(host)) < 0 || !strcmp(host, "localhost"))
                return NULL;
        if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai) {
                struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;
                if (sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
                        out = g_strdup(host);
        }
        if (ai)
                freeaddrinfo(ai);
        return out;
}

static void expect_tls_failure(const char *uri, const char *ca, const char *extra)
{
        void *st = NULL;
        struct auth_identity *id = NULL;
        char *err = NULL;

        ck_assert_int_eq(open_ldap(uri, ca, extra, &st, &err), 0);
        int r = login(st, "alice", "alice-pw", &id, &err);
        ck_assert_msg(r == -EHOSTDOWN, "%s: expected TLS failure, got %d (%s)", uri, r, err);
        ck_assert_msg(strstr(err, "no directory server usable") && strstr(err, uri), "%s", err);
        ck_assert_ptr_null(id);
        free(err);
        auth_ldap_backend.close(st);
}

START_TEST(test_tls)
{
        void *st;
        char *err = NULL;

        /* LDAPS and StartTLS with the test CA. */
        st = open_default(NULL);
        assert_login_ok(st, "alice", "alice-pw");
        auth_ldap_backend.close(st);
        ck_assert_int_eq(open_ldap(ldap->ldap_uri, ldap->ca_file, NULL, &st, &err), 0);
        assert_login_ok(st, "alice", "alice-pw");
        auth_ldap_backend.close(st);

        /* A CA that did not sign the server certificate. */
        expect_tls_failure(ldap->ldaps_uri, ldap->other_ca_file, NULL);
        expect_tls_failure(ldap->ldap_uri, ldap->other_ca_file, NULL);
        /* No CA configured: the system store does not know the test CA. */
        expect_tls_failure(ldap->ldaps_uri, NULL, NULL);

        /* The right CA, but a host name the certificate does not name. */
        g_autofree char *alias = alias_for_loopback();
        if (alias) {
                g_autofree char *u1 = g_strdup_printf("ldaps://%s:%d", alias, ldap->tls_port);
                g_autofree char *u2 = g_strdup_printf("ldap://%s:%d", alias, ldap->port);
                expect_tls_failure(u1, ldap->ca_file, NULL);
                expect_tls_failure(u2, ldap->ca_file, NULL);
        } else {
                fprintf(stderr, "# no loopback alias: host name check not exercised\n");
        }

        /* Verification can be switched off, but only explicitly. */
        ck_assert_int_eq(open_ldap(ldap->ldaps_uri, ldap->other_ca_file, "tls_verify = false\n",
                                   &st, &err),
                         0);
        assert_login_ok(st, "alice", "alice-pw");
        auth_ldap_backend.close(st);
}
END_TEST

/* A loopback port with nothing listening. */
static int closed_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        return ntohs(sa.sin_port);
}

/* A loopback port that accepts TCP connections and never answers. */
static int silent_listener(int *fd_out)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 16), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        *fd_out = fd;
        return ntohs(sa.sin_port);
}

START_TEST(test_failover)
{
        const char *timeouts = "connect_timeout_ms = 300\ntimeout_ms = 500\n";
        int silent_fd, silent = silent_listener(&silent_fd);
        int closed = closed_port();
        void *st = NULL;
        char *err = NULL;
        int64_t t0;

        /* Dead first server (closed port): straight to the second. */
        g_autofree char *u1 = g_strdup_printf("ldap://127.0.0.1:%d;%s", closed, ldap->ldaps_uri);
        ck_assert_int_eq(open_ldap(u1, ldap->ca_file, timeouts, &st, &err), 0);
        t0 = now_ms();
        assert_login_ok(st, "alice", "alice-pw");
        ck_assert_int_lt(now_ms() - t0, 1000);
        auth_ldap_backend.close(st);

        /* Hung first server: given up after the operation timeout. Later
         * connections start with the server that answered. */
        g_autofree char *u2 = g_strdup_printf("ldap://127.0.0.1:%d;%s", silent, ldap->ldap_uri);
        ck_assert_int_eq(open_ldap(u2, ldap->ca_file, timeouts, &st, &err), 0);
        t0 = now_ms();
        assert_login_ok(st, "bob", "bob-pw");
        int64_t first = now_ms() - t0;
        ck_assert_int_lt(first, 2000);
        t0 = now_ms();
        assert_login_ok(st, "bob", "bob-pw");
        ck_assert_int_lt(now_ms() - t0, 300);
        auth_ldap_backend.close(st);

        /* Nothing usable: a clear error within the limits, not a hang. */
        g_autofree char *u3 = g_strdup_printf("ldap://127.0.0.1:%d;ldaps://127.0.0.1:%d", closed,
                                              silent);
        ck_assert_int_eq(open_ldap(u3, ldap->ca_file, timeouts, &st, &err), 0);
        struct auth_identity *id = NULL;
        t0 = now_ms();
        int r = login(st, "alice", "alice-pw", &id, &err);
        ck_assert_msg(r == -EHOSTDOWN || r == -ETIMEDOUT, "%d %s", r, err);
        ck_assert_int_lt(now_ms() - t0, 3000);
        ck_assert_msg(strstr(err, "no directory server usable"), "%s", err);
        free(err);
        auth_ldap_backend.close(st);
        close(silent_fd);
}
END_TEST

static void check_groups(const char *extra)
{
        void *st = open_default(extra);
        struct auth_identity *id = NULL;
        char *err = NULL;

        /* Nested: carol is in engineering, which is in staff. */
        ck_assert_msg(login(st, "carol", "carol-pw", &id, &err) == 0, "%s", err);
        assert_groups(id, "cn=engineering," GROUPS, "cn=staff," GROUPS, NULL);
        auth_identity_free(id);
        /* groupOfUniqueNames. */
        ck_assert_int_eq(login(st, "bob", "bob-pw", &id, &err), 0);
        assert_groups(id, "cn=staff," GROUPS, "cn=designers," GROUPS, NULL);
        auth_identity_free(id);
        /* posixGroup memberUid. */
        ck_assert_int_eq(login(st, "alice", "alice-pw", &id, &err), 0);
        assert_groups(id, "cn=staff," GROUPS, "cn=unix," GROUPS, NULL);
        auth_identity_free(id);
        ck_assert_int_eq(login(st, "dave", "dave-pw", &id, &err), 0);
        assert_groups(id, "cn=vdi-admins," GROUPS, NULL);
        auth_identity_free(id);
        auth_ldap_backend.close(st);
}

START_TEST(test_groups_memberof)
{
        check_groups(NULL);
}
END_TEST

START_TEST(test_groups_search)
{
        check_groups("use_memberof = false\n");
}
END_TEST

START_TEST(test_group_depth)
{
        void *st = open_default("group_depth = 0\n");
        struct auth_identity *id = NULL;
        char *err = NULL;
        ck_assert_int_eq(login(st, "carol", "carol-pw", &id, &err), 0);
        assert_groups(id, "cn=engineering," GROUPS, NULL);
        auth_identity_free(id);
        auth_ldap_backend.close(st);
}
END_TEST

START_TEST(test_pool_never_keeps_user_bind)
{
        /* One pooled connection shared by every login: if a user bind (or
         * a failed one, which leaves the connection anonymous) stayed on
         * it, the next searches would run with the wrong rights and find
         * nothing (the directory lets users read only themselves). */
        void *st = open_default("pool_size = 1\n");
        struct auth_identity *id = NULL;
        char *err = NULL;

        assert_login_ok(st, "alice", "alice-pw");
        ck_assert_int_eq(login(st, "bob", "bob-pw", &id, &err), 0);
        assert_groups(id, "cn=staff," GROUPS, "cn=designers," GROUPS, NULL);
        auth_identity_free(id);
        ck_assert_int_eq(login(st, "carol", "wrong", &id, &err), -EACCES);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(login(st, "carol", "carol-pw", &id, &err), 0);
        assert_groups(id, "cn=engineering," GROUPS, "cn=staff," GROUPS, NULL);
        auth_identity_free(id);
        auth_ldap_backend.close(st);
}
END_TEST

struct worker {
        void *st;
        int failures;
};

static void *login_worker(void *p)
{
        struct worker *w = p;
        static const char *users[] = { "alice", "bob", "carol", "dave" };
        for (int i = 0; i < 10; i++) {
                const char *u = users[i % 4];
                g_autofree char *pw = g_strdup_printf("%s-pw", u);
                struct auth_identity *id = NULL;
                char *err = NULL;
                if (login(w->st, u, pw, &id, &err) != 0 || strcmp(id->login, u) != 0)
                        w->failures++;
                /* A wrong password in between must not disturb the others. */
                if (login(w->st, u, "nope", &id, &err) != -EACCES)
                        w->failures++;
                auth_identity_free(id);
                free(err);
        }
        return NULL;
}

START_TEST(test_concurrent_logins)
{
        struct worker w[16];
        pthread_t th[16];
        void *st = open_default("pool_size = 4\n");

        for (int i = 0; i < 16; i++) {
                w[i] = (struct worker){ .st = st };
                pthread_create(&th[i], NULL, login_worker, &w[i]);
        }
        for (int i = 0; i < 16; i++) {
                pthread_join(th[i], NULL);
                ck_assert_int_eq(w[i].failures, 0);
        }
        auth_ldap_backend.close(st);
}
END_TEST

START_TEST(test_config)
{
        void *st = NULL;
        char *err = NULL;
        struct auth_identity *id = NULL;

        ck_assert_int_eq(open_ldap("http://127.0.0.1", NULL, NULL, &st, &err), -EINVAL);
        ck_assert_msg(strstr(err, "[ldap] uri") && strstr(err, "http://127.0.0.1"), "%s", err);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(open_ldap(ldap->ldaps_uri, NULL, "preset = novell\n", &st, &err),
                         -EINVAL);
        ck_assert_msg(strstr(err, "[ldap] preset"), "%s", err);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(open_ldap(ldap->ldaps_uri, NULL, "user_filter = objectClass=x\n", &st,
                                   &err),
                         -EINVAL);
        g_clear_pointer(&err, free);

        /* The Active Directory preset yields filters the server accepts
         * (no AD accounts here, so nobody matches). */
        st = open_default("preset = ad\n");
        ck_assert_int_eq(login(st, "alice", "alice-pw", &id, &err), -EACCES);
        g_clear_pointer(&err, free);
        auth_ldap_backend.close(st);
        /* Presets are defaults: explicit mapping wins. */
        st = open_default("preset = ad\nuser_filter = (objectClass=inetOrgPerson)\n"
                          "login_attrs = uid\n");
        ck_assert_msg(login(st, "alice", "alice-pw", &id, &err) == 0, "%s", err);
        ck_assert_str_eq(id->display_name, "Alice Archer"); /* displayName (ad) */
        auth_identity_free(id);
        auth_ldap_backend.close(st);

        /* Anonymous search, where configured: this directory does not allow
         * it, so nobody is found (and nothing else is tried). */
        g_autofree char *ini = g_strdup_printf("[ldap]\nuri = %s\nbase_dn = %s\nca_file = %s\n",
                                               ldap->ldaps_uri, ldap->base_dn, ldap->ca_file);
        struct auth_ldap_conf_file f = { 0 };
        ck_assert_int_eq(conf_load_data("anon.conf", ini, auth_ldap_conf_options,
                                        auth_ldap_conf_options_count, &f, &err),
                         0);
        ck_assert_int_eq(auth_ldap_backend.open(&f.ldap, &st, &err), 0);
        conf_free(auth_ldap_conf_options, auth_ldap_conf_options_count, &f);
        ck_assert_int_eq(login(st, "alice", "alice-pw", &id, &err), -EACCES);
        g_clear_pointer(&err, free);
        auth_ldap_backend.close(st);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("auth-ldap");
        TCase *tc = tcase_create("ldap");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_right_password);
        tcase_add_test(tc, test_failures_look_the_same);
        tcase_add_test(tc, test_filter_escaping);
        tcase_add_test(tc, test_filter_injection);
        tcase_add_test(tc, test_tls);
        tcase_add_test(tc, test_failover);
        tcase_add_test(tc, test_groups_memberof);
        tcase_add_test(tc, test_groups_search);
        tcase_add_test(tc, test_group_depth);
        tcase_add_test(tc, test_pool_never_keeps_user_bind);
        tcase_add_test(tc, test_concurrent_logins);
        tcase_add_test(tc, test_config);
        suite_add_tcase(s, tc);
        return s;
}
