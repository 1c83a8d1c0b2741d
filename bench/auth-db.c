/* bench/auth-db: login and claim throughput of auth/ and sql/ against real
 * servers (slapd and PostgreSQL started by the test harness), each next to
 * its floor: the same protocol operations issued with plain libldap /
 * libpq calls in a tight loop. The ratio is what our layers cost on top of
 * the wire work (pooling, escaping, timeouts, result building).
 *
 *   bench/auth-db          BENCH_LOGINS=N and BENCH_CLAIMS=N change the counts
 *
 * Single-threaded on purpose: two shared cores make parallel figures noise. */
#include "config.h"

#include <glib.h>
#include <inttypes.h>
#include <ldap.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "auth/ldap.h"
#include "harness/harness.h"
#include "sql/db.h"

#define ROUNDS 4

static const char *const users[] = { "alice", "bob", "carol", "dave" };

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int env_count(const char *name, int def)
{
        const char *v = getenv(name);
        int n = v ? atoi(v) : 0;
        return n > 0 ? n : def;
}

static void die(const char *what, const char *why)
{
        fprintf(stderr, "auth-db: %s: %s\n", what, why ? why : "failed");
        exit(1);
}

/* ---- LDAP ---- */

static double bench_ours_ldap(struct harness_ldap *l, int n, size_t *groups_seen)
{
        g_autofree char *ini = g_strdup_printf(
                "[ldap]\nuri = %s\nbase_dn = %s\nbind_dn = %s\nbind_password = %s\n"
                "ca_file = %s\npool_size = 1\n",
                l->ldaps_uri, l->base_dn, l->service_dn, l->service_pw, l->ca_file);
        struct auth_ldap_conf_file f = { 0 };
        char *err = NULL;
        void *st = NULL;

        if (conf_load_data("bench", ini, auth_ldap_conf_options, auth_ldap_conf_options_count, &f,
                           &err) < 0 ||
            auth_ldap_backend.open(&f.ldap, &st, &err) < 0)
                die("ldap config", err);
        conf_free(auth_ldap_conf_options, auth_ldap_conf_options_count, &f);

        /* Warm up: the pooled connection (TCP + TLS + bind) is made here. */
        for (int i = 0; i < 8; i++) {
                struct auth_identity *id = NULL;
                g_autofree char *pw = g_strdup_printf("%s-pw", users[i % 4]);
                struct auth_credentials c = AUTH_CREDENTIALS(users[i % 4], pw);
                if (auth_ldap_backend.authenticate(st, &c, &id, &err) < 0)
                        die("ldap login", err);
                auth_identity_free(id);
        }
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
                struct auth_identity *id = NULL;
                char pw[32];
                snprintf(pw, sizeof(pw), "%s-pw", users[i % 4]);
                struct auth_credentials c = AUTH_CREDENTIALS(users[i % 4], pw);
                if (auth_ldap_backend.authenticate(st, &c, &id, &err) < 0)
                        die("ldap login", err);
                *groups_seen += id->n_groups;
                auth_identity_free(id);
        }
        double dt = now_s() - t0;
        auth_ldap_backend.close(st);
        return dt;
}

static int raw_bind(LDAP *ld, const char *dn, const char *pw)
{
        struct berval cred = { .bv_len = strlen(pw), .bv_val = (char *)pw };
        return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* Collect entry DNs of a search result into out; returns how many. */
static int raw_group_search(LDAP *ld, const char *base, const char *filter, GPtrArray *out)
{
        char *attrs[] = { LDAP_NO_ATTRS, NULL };
        LDAPMessage *res = NULL;
        int n = 0;
        struct timeval tv = { .tv_sec = 5 };
        if (ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL, &tv, 0,
                              &res) != LDAP_SUCCESS)
                die("raw group search", NULL);
        for (LDAPMessage *e = ldap_first_entry(ld, res); e; e = ldap_next_entry(ld, e)) {
                char *dn = ldap_get_dn(ld, e);
                g_ptr_array_add(out, g_strdup(dn));
                ldap_memfree(dn);
                n++;
        }
        ldap_msgfree(res);
        return n;
}

/* The floor: one connection, and per login exactly the operations the
 * backend sends for this directory: user search, user bind, service
 * re-bind, one direct-group search, one search per nesting level. */
static double bench_raw_ldap(struct harness_ldap *l, int n, size_t *groups_seen)
{
        LDAP *ld = NULL;
        int v = LDAP_VERSION3, req = LDAP_OPT_X_TLS_DEMAND, zero = 0;

        if (ldap_initialize(&ld, l->ldaps_uri) != LDAP_SUCCESS)
                die("raw ldap", "initialize");
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v);
        /* The same connection settings as the backend's defaults: they
         * change how libldap drives the socket (measured: the network
         * timeout and referrals off each make a visible difference). */
        struct timeval net = { .tv_sec = 3 }, op = { .tv_sec = 5 };
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net);
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op);
        ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
        ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req);
        int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
        ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12);
        ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, l->ca_file);
        ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
        if (raw_bind(ld, l->service_dn, l->service_pw) != LDAP_SUCCESS)
                die("raw ldap", "service bind");

        double t0 = now_s();
        for (int i = 0; i < n; i++) {
                const char *u = users[i % 4];
                char filter[128], pw[32];
                char *attrs[] = { "uid", "cn", "mail", "memberOf", NULL };
                LDAPMessage *res = NULL;
                g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(g_free);
                g_autoptr(GPtrArray) frontier = g_ptr_array_new_with_free_func(g_free);

                snprintf(filter, sizeof(filter), "(&(objectClass=inetOrgPerson)(|(uid=%s)))", u);
                snprintf(pw, sizeof(pw), "%s-pw", u);
                struct timeval tv = { .tv_sec = 5 };
                if (ldap_search_ext_s(ld, l->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL,
                                      NULL, &tv, 2, &res) != LDAP_SUCCESS)
                        die("raw user search", NULL);
                LDAPMessage *e = ldap_first_entry(ld, res);
                char *dn = ldap_get_dn(ld, e);
                struct berval **mo = ldap_get_values_len(ld, e, "memberOf");
                for (int k = 0; mo && mo[k]; k++) {
                        g_ptr_array_add(groups, g_strndup(mo[k]->bv_val, mo[k]->bv_len));
                        g_ptr_array_add(frontier, g_strndup(mo[k]->bv_val, mo[k]->bv_len));
                }
                ldap_value_free_len(mo);
                ldap_msgfree(res);
                if (raw_bind(ld, dn, pw) != LDAP_SUCCESS)
                        die("raw user bind", NULL);
                if (raw_bind(ld, l->service_dn, l->service_pw) != LDAP_SUCCESS)
                        die("raw service bind", NULL);
                snprintf(filter, sizeof(filter), "(|(uniqueMember=%s)(memberUid=%s))", dn, u);
                g_autoptr(GPtrArray) direct = g_ptr_array_new_with_free_func(g_free);
                raw_group_search(ld, l->base_dn, filter, direct);
                for (guint k = 0; k < direct->len; k++) {
                        g_ptr_array_add(groups, g_strdup(g_ptr_array_index(direct, k)));
                        g_ptr_array_add(frontier, g_strdup(g_ptr_array_index(direct, k)));
                }
                /* Nested levels: groups containing the last level's groups. */
                while (frontier->len > 0) {
                        GString *f = g_string_new("(|");
                        for (guint k = 0; k < frontier->len; k++) {
                                const char *g = g_ptr_array_index(frontier, k);
                                g_string_append_printf(f, "(member=%s)(uniqueMember=%s)", g, g);
                        }
                        g_string_append_c(f, ')');
                        g_autoptr(GPtrArray) next = g_ptr_array_new_with_free_func(g_free);
                        raw_group_search(ld, l->base_dn, f->str, next);
                        g_string_free(f, TRUE);
                        for (guint k = 0; k < next->len; k++)
                                g_ptr_array_add(groups, g_strdup(g_ptr_array_index(next, k)));
                        g_ptr_array_unref(frontier);
                        frontier = g_steal_pointer(&next);
                }
                *groups_seen += groups->len;
                ldap_memfree(dn);
        }
        double dt = now_s() - t0;
        ldap_unbind_ext_s(ld, NULL, NULL);
        return dt;
}

/* ---- PostgreSQL ---- */

static int64_t make_pool(struct db *db, const char *conninfo, const char *name, int n,
                         int64_t *host, int64_t *version)
{
        char *err = NULL;
        int64_t image, pool;

        if (!*host) {
                if (db_host_add(db, "bench-host", "127.0.0.1", 8443, host, &err) < 0 ||
                    db_image_add(db, "bench", &image, &err) < 0 ||
                    db_image_version_add(db, image, 1, "/img/bench.qcow2", version, &err) < 0)
                        die("inventory", err);
        }
        struct db_pool_spec spec = { .name = name, .kind = "floating",
                                     .image_version_id = *version, .max_size = n };
        if (db_pool_add(db, &spec, &pool, &err) < 0)
                die("pool", err);
        /* Desktops in one statement (setup, not measured). */
        PGconn *c = PQconnectdb(conninfo);
        g_autofree char *sql = g_strdup_printf(
                "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state)"
                " SELECT %" PRId64 ", %" PRId64 ", %" PRId64 ", '%s-' || g, 'ready'"
                " FROM generate_series(1, %d) g",
                pool, *host, *version, name, n);
        PGresult *res = PQexec(c, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                die("desktops", PQerrorMessage(c));
        PQclear(res);
        PQfinish(c);
        return pool;
}

static double bench_ours_claims(struct db *db, int64_t pool, int n, int round)
{
        char *err = NULL;
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
                struct db_claim c = { 0 };
                char user[32];
                snprintf(user, sizeof(user), "ours%d-%05d", round, i);
                if (db_desktop_claim(db, pool, user, NULL, &c, &err) < 0)
                        die("claim", err);
                db_claim_clear(&c);
        }
        return now_s() - t0;
}

static double bench_raw_claims(const char *conninfo, int64_t pool, int n, int round)
{
        PGconn *c = PQconnectdb(conninfo);
        PGresult *res;
        char p[24];

        if (PQstatus(c) != CONNECTION_OK)
                die("raw connect", PQerrorMessage(c));
        res = PQprepare(c, "claim", db_desktop_claim_sql(), 3, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                die("raw prepare", PQerrorMessage(c));
        PQclear(res);
        snprintf(p, sizeof(p), "%" PRId64, pool);
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
                char user[32];
                snprintf(user, sizeof(user), "raw%d-%05d", round, i);
                const char *params[] = { p, user, NULL };
                res = PQexecPrepared(c, "claim", 3, params, NULL, NULL, 0);
                if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
                        die("raw claim", PQerrorMessage(c));
                PQclear(res);
        }
        double dt = now_s() - t0;
        PQfinish(c);
        return dt;
}

static void result(const char *name, double ours, double theirs, const char *unit)
{
        printf("RESULT %s ours=%.1f%s theirs=%.1f%s ratio=%.3f better=higher\n", name, ours, unit,
               theirs, unit, ours / theirs);
}

int main(void)
{
        int logins = env_count("BENCH_LOGINS", 2000);
        int claims = env_count("BENCH_CLAIMS", 2000);
        struct harness_ldap *l = NULL;
        struct harness_pg *pg = NULL;
        size_t g_ours = 0, g_raw = 0;
        char *err = NULL;

        if (harness_ldap_start(&l) < 0 || harness_pg_start(&pg) < 0) {
                harness_ldap_stop(l);
                die("harness", "cannot start slapd/PostgreSQL (see above)");
        }

        printf("auth-db: %d logins (alice, bob, carol, dave in turn) over ldaps:// to slapd, "
               "best of %d rounds\n",
               logins, ROUNDS);
        /* Rounds alternate the two sides; each side's best round counts,
         * which filters out other load on shared machines. */
        double ours_l = 0, raw_l = 0;
        for (int r = 0; r < ROUNDS; r++) {
                int k = logins / ROUNDS;
                double a = k / bench_raw_ldap(l, k, &g_raw);
                double b = k / bench_ours_ldap(l, k, &g_ours);
                raw_l = a > raw_l ? a : raw_l;
                ours_l = b > ours_l ? b : ours_l;
        }
        if (g_ours != g_raw)
                die("ldap", "ours and the floor found different group counts");
        printf("  ours  (auth_ldap_backend: search, bind, re-bind, groups): %8.1f logins/s  "
               "%.3f ms/login\n",
               ours_l, 1000.0 / ours_l);
        printf("  floor (same operations, plain libldap, one connection):  %8.1f logins/s  "
               "%.3f ms/login\n",
               raw_l, 1000.0 / raw_l);
        printf("  overhead ratio ours/floor (time per login): %.3f\n", raw_l / ours_l);

        struct db_config cfg = { .conninfo = pg->conninfo, .pool_size = 2 };
        struct db *db = NULL;
        int64_t host = 0, version = 0;
        if (db_open(&cfg, &db, &err) < 0 || db_migrate(db, true, &err) < 0)
                die("database", err);
        int64_t p_ours = make_pool(db, pg->conninfo, "ours", claims, &host, &version);
        int64_t p_raw = make_pool(db, pg->conninfo, "raw", claims, &host, &version);

        printf("auth-db: %d desktop claims (new user each) on PostgreSQL (harness cluster, fsync "
               "off), best of %d rounds\n",
               claims, ROUNDS);
        double ours_c = 0, raw_c = 0;
        for (int r = 0; r < ROUNDS; r++) {
                int k = claims / ROUNDS;
                double a = k / bench_raw_claims(pg->conninfo, p_raw, k, r);
                double b = k / bench_ours_claims(db, p_ours, k, r);
                raw_c = a > raw_c ? a : raw_c;
                ours_c = b > ours_c ? b : ours_c;
        }
        printf("  ours  (db_desktop_claim: pool, prepared, deadlines):   %8.1f claims/s  "
               "%.3f ms/claim\n",
               ours_c, 1000.0 / ours_c);
        printf("  floor (same prepared statement, blocking libpq loop):  %8.1f claims/s  "
               "%.3f ms/claim\n",
               raw_c, 1000.0 / raw_c);
        printf("  overhead ratio ours/floor (time per claim): %.3f\n", raw_c / ours_c);

        db_close(db);
        harness_pg_stop(pg);
        harness_ldap_stop(l);
        result("auth-db-login", ours_l, raw_l, "/s");
        result("auth-db-claim", ours_c, raw_c, "/s");
        return 0;
}
