/* The data layer against a real PostgreSQL from the harness: migrations,
 * concurrent desktop claims (asserted on rows), reconnect after a restart,
 * bounded failures with the server stopped or hung, transaction retries. */
#include "config.h"

#include <arpa/inet.h>
#include <glib.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "check-main.h"
#include "harness/harness.h"
#include "sql/db.h"
#include "sql/db-migrations.h"

static struct harness_pg *pg;

static void setup(void)
{
        ck_assert_int_eq(harness_pg_start(&pg), 0);
}

static void teardown(void)
{
        harness_pg_stop(pg);
        pg = NULL;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *conninfo_for(const char *dbname)
{
        return g_strdup_printf("host=%s port=%d user=%s password=%s dbname=%s", pg->host,
                               pg->port, pg->user, pg->password, dbname);
}

/* Raw libpq, independent of the code under test, for setup and assertions. */
static PGconn *raw_connect(const char *dbname)
{
        g_autofree char *ci = conninfo_for(dbname);
        PGconn *c = PQconnectdb(ci);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
        return c;
}

static void raw_exec(const char *dbname, const char *sql)
{
        PGconn *c = raw_connect(dbname);
        PGresult *res = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK ||
                              PQresultStatus(res) == PGRES_TUPLES_OK,
                      "%s: %s", sql, PQerrorMessage(c));
        PQclear(res);
        PQfinish(c);
}

static long raw_long(const char *dbname, const char *sql)
{
        PGconn *c = raw_connect(dbname);
        PGresult *res = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
        long v = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
        PQfinish(c);
        return v;
}

/* A fresh database per test, so tests do not depend on each other. */
static void fresh_database(const char *name)
{
        g_autofree char *create = g_strdup_printf("CREATE DATABASE %s", name);
        raw_exec("vdi", create);
}

static struct db *open_db(const char *dbname, unsigned pool_size, unsigned timeout_ms)
{
        g_autofree char *ci = conninfo_for(dbname);
        struct db_config cfg = {
                .conninfo = ci,
                .pool_size = pool_size,
                .connect_timeout_ms = timeout_ms,
                .statement_timeout_ms = timeout_ms,
                .acquire_timeout_ms = 10000,
        };
        struct db *db = NULL;
        char *err = NULL;
        ck_assert_msg(db_open(&cfg, &db, &err) == 0, "db_open: %s", err);
        return db;
}

static struct db *migrated_db(const char *dbname, unsigned pool_size)
{
        char *err = NULL;
        fresh_database(dbname);
        struct db *db = open_db(dbname, pool_size, 5000);
        ck_assert_msg(db_migrate(db, true, &err) == 0, "migrate: %s", err);
        return db;
}

START_TEST(test_migrate_fresh_and_again)
{
        struct db *db;
        char *err = NULL;
        unsigned v = 99;

        fresh_database("mig_fresh");
        db = open_db("mig_fresh", 2, 5000);
        ck_assert_int_eq(db_schema_version(db, &v, &err), 0);
        ck_assert_uint_eq(v, 0);

        /* Without permission to upgrade, an old (here: empty) schema is refused. */
        ck_assert_int_eq(db_migrate(db, false, &err), -ESTALE);
        ck_assert_msg(strstr(err, "older than this program needs"), "%s", err);
        g_clear_pointer(&err, free);

        ck_assert_msg(db_migrate(db, true, &err) == 0, "%s", err);
        ck_assert_int_eq(db_schema_version(db, &v, &err), 0);
        ck_assert_uint_eq(v, db_schema_known_version());
        ck_assert_int_eq(raw_long("mig_fresh", "SELECT count(*) FROM schema_version"),
                         db_schema_known_version());
        ck_assert_int_eq(raw_long("mig_fresh", "SELECT count(*) FROM information_schema.tables"
                                               " WHERE table_name IN ('hosts', 'pools', "
                                               "'desktops', 'assignments', 'tickets', "
                                               "'audit_events', 'login_timings', "
                                               "'portal_sessions', 'desktop_sessions', "
                                               "'images', 'image_versions', "
                                               "'pool_entitlements')"),
                         12);

        /* Re-applying is a no-op, with or without permission. */
        ck_assert_int_eq(db_migrate(db, true, &err), 0);
        ck_assert_int_eq(db_migrate(db, false, &err), 0);
        ck_assert_int_eq(raw_long("mig_fresh", "SELECT count(*) FROM schema_version"),
                         db_schema_known_version());
        db_close(db);
}
END_TEST

START_TEST(test_migrate_refuses_newer)
{
        struct db *db = migrated_db("mig_newer", 2);
        g_autofree char *ins = g_strdup_printf(
                "INSERT INTO schema_version (version, name) VALUES (%u, 'future')",
                db_schema_known_version() + 1);
        char *err = NULL;

        raw_exec("mig_newer", ins);
        ck_assert_int_eq(db_migrate(db, true, &err), -EPROTO);
        ck_assert_msg(strstr(err, "is newer than this program knows"), "%s", err);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(db_migrate(db, false, &err), -EPROTO);
        free(err);
        /* Nothing was touched. */
        ck_assert_int_eq(raw_long("mig_newer", "SELECT count(*) FROM schema_version"),
                         db_schema_known_version() + 1);
        db_close(db);
}
END_TEST

/* sql/012 on a database that ran an older vdi-brokerd (schema 11, with a
 * pool and its desktops): the upgrade keeps the rows and lets a desktop be
 * 'suspended'; other states are still refused, and a claim never takes a
 * suspended desktop (its user's, resumed where it stood). */
START_TEST(test_migrate_existing_suspended)
{
        char *err = NULL;
        unsigned v = 0;

        fresh_database("mig_old");
        PGconn *c = raw_connect("mig_old");
        PGresult *res = PQexec(c, "CREATE TABLE schema_version (version integer PRIMARY KEY, "
                                  "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
        ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
        PQclear(res);
        for (unsigned i = 0; i < db_migrations_count && db_migrations[i].version <= 11; i++) {
                res = PQexec(c, db_migrations[i].sql);
                ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", db_migrations[i].name,
                              PQerrorMessage(c));
                PQclear(res);
                g_autofree char *rec = g_strdup_printf("INSERT INTO schema_version VALUES (%u, '%s')",
                                                       db_migrations[i].version, db_migrations[i].name);
                PQclear(PQexec(c, rec));
                v = db_migrations[i].version;
        }
        PQfinish(c);
        ck_assert_uint_eq(v, 11);
        raw_exec("mig_old",
                 "INSERT INTO hosts (name, address, port) VALUES ('h1', '10.0.0.1', 8443);"
                 "INSERT INTO images (name) VALUES ('deb12');"
                 "INSERT INTO image_versions (image_id, version, path) VALUES (1, 1, '/img/1.qcow2');"
                 "INSERT INTO pools (name, kind, image_version_id, max_size) VALUES ('p', 'floating', 1, 3);"
                 "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state)"
                 " VALUES (1, 1, 1, 'p-0', 'stopped'), (1, 1, 1, 'p-1', 'ready')");
        ck_assert_int_ne(raw_long("mig_old", "SELECT count(*) FROM pg_constraint WHERE conname = "
                                             "'desktops_state_check' AND pg_get_constraintdef(oid) "
                                             "NOT LIKE '%suspended%'"),
                         0);

        struct db *db = open_db("mig_old", 2, 5000);
        ck_assert_int_eq(db_migrate(db, false, &err), -ESTALE);
        g_clear_pointer(&err, free);
        ck_assert_msg(db_migrate(db, true, &err) == 0, "%s", err);
        ck_assert_int_eq(db_schema_version(db, &v, &err), 0);
        ck_assert_uint_eq(v, db_schema_known_version());
        ck_assert_int_eq(raw_long("mig_old", "SELECT count(*) FROM desktops WHERE "
                                             "(name, state) IN (('p-0', 'stopped'), ('p-1', 'ready'))"),
                         2);
        raw_exec("mig_old", "UPDATE desktops SET state = 'suspended'");
        ck_assert_int_eq(raw_long("mig_old", "SELECT count(*) FROM desktops WHERE state = 'suspended'"), 2);

        struct db_claim cl = { 0 };
        ck_assert_int_eq(db_desktop_claim(db, 1, "alice", NULL, &cl, &err), -ENOSPC);
        g_clear_pointer(&err, free);
        raw_exec("mig_old", "UPDATE desktops SET state = 'ready' WHERE name = 'p-1'");
        ck_assert_int_eq(db_desktop_claim(db, 1, "alice", NULL, &cl, &err), 0);
        ck_assert_str_eq(cl.desktop_name, "p-1");
        ck_assert_int_eq(db_assignment_release(db, cl.assignment_id, "hibernated", &err), -EINVAL);
        ck_assert_msg(strstr(err, "desktops_state_check"), "%s", err);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(db_assignment_release(db, cl.assignment_id, "suspended", &err), 0);
        db_claim_clear(&cl);
        db_close(db);
}
END_TEST

struct migrate_thread {
        struct db *db;
        pthread_barrier_t *go;
        int r;
        char *err;
};

static void *migrate_thread(void *p)
{
        struct migrate_thread *t = p;
        pthread_barrier_wait(t->go);
        t->r = db_migrate(t->db, true, &t->err);
        return NULL;
}

START_TEST(test_migrate_concurrent)
{
        enum { N = 4 };
        struct migrate_thread t[N];
        pthread_t th[N];
        pthread_barrier_t go;

        fresh_database("mig_conc");
        pthread_barrier_init(&go, NULL, N);
        for (int i = 0; i < N; i++) {
                t[i] = (struct migrate_thread){ .db = open_db("mig_conc", 1, 10000), .go = &go };
                pthread_create(&th[i], NULL, migrate_thread, &t[i]);
        }
        for (int i = 0; i < N; i++) {
                pthread_join(th[i], NULL);
                ck_assert_msg(t[i].r == 0, "migrator %d: %s", i, t[i].err);
                db_close(t[i].db);
        }
        pthread_barrier_destroy(&go);
        ck_assert_int_eq(raw_long("mig_conc", "SELECT count(*) FROM schema_version"),
                         db_schema_known_version());
}
END_TEST

/* A pool of n ready desktops on one host; returns the pool id. */
static int64_t make_pool(struct db *db, const char *name, int n)
{
        static int64_t host, version;
        char *err = NULL;
        int64_t image, pool;

        if (!host) {
                ck_assert_msg(db_host_add(db, "host1", "10.0.0.1", 8443, &host, &err) == 0, "%s",
                              err);
                ck_assert_int_eq(db_image_add(db, "deb12", &image, &err), 0);
                ck_assert_int_eq(db_image_version_add(db, image, 1, "/img/deb12-1.qcow2",
                                                      &version, &err),
                                 0);
        }
        struct db_pool_spec spec = { .name = name, .kind = "floating",
                                     .image_version_id = version, .min_size = n,
                                     .max_size = n, .ready_size = n };
        ck_assert_msg(db_pool_add(db, &spec, &pool, &err) == 0, "%s", err);
        for (int i = 0; i < n; i++) {
                g_autofree char *dn = g_strdup_printf("%s-%03d", name, i);
                ck_assert_msg(db_desktop_add(db, pool, host, dn, NULL, &err) == 0, "%s", err);
        }
        return pool;
}

struct claimer {
        struct db *db;
        pthread_barrier_t *go;
        int64_t pool;
        char user[32];
        int r;
        char *err;
        struct db_claim claim;
};

static void *claim_thread(void *p)
{
        struct claimer *c = p;
        pthread_barrier_wait(c->go);
        c->r = db_desktop_claim(c->db, c->pool, c->user, NULL, &c->claim, &c->err);
        return NULL;
}

static void run_claimers(struct claimer *c, int n)
{
        pthread_t th[64];
        pthread_barrier_t go;
        ck_assert_int_le(n, 64);
        pthread_barrier_init(&go, NULL, (unsigned)n);
        for (int i = 0; i < n; i++) {
                c[i].go = &go;
                pthread_create(&th[i], NULL, claim_thread, &c[i]);
        }
        for (int i = 0; i < n; i++)
                pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
}

START_TEST(test_claim_concurrent)
{
        enum { THREADS = 64 };
        struct db *db = migrated_db("claims", 16);
        int64_t twins = make_pool(db, "twins", THREADS);
        int64_t scarce = make_pool(db, "scarce", 40);
        struct claimer c[THREADS];

        /* Round 1: 32 users, each racing itself from two threads, in a pool
         * with room for everyone. */
        for (int i = 0; i < THREADS; i++) {
                c[i] = (struct claimer){ .db = db, .pool = twins };
                snprintf(c[i].user, sizeof(c[i].user), "user%02d", i % 32);
        }
        run_claimers(c, THREADS);
        for (int i = 0; i < THREADS; i++)
                ck_assert_msg(c[i].r == 0, "claimer %d: %s", i, c[i].err);
        for (int i = 0; i < 32; i++) {
                ck_assert_int_eq(c[i].claim.desktop_id, c[i + 32].claim.desktop_id);
                ck_assert_int_eq(c[i].claim.assignment_id, c[i + 32].claim.assignment_id);
                ck_assert(c[i].claim.existing != c[i + 32].claim.existing);
        }
        for (int i = 0; i < THREADS; i++)
                db_claim_clear(&c[i].claim);

        /* Round 2: 64 different users, 40 desktops. */
        for (int i = 0; i < THREADS; i++) {
                c[i] = (struct claimer){ .db = db, .pool = scarce };
                snprintf(c[i].user, sizeof(c[i].user), "other%02d", i);
        }
        run_claimers(c, THREADS);
        int ok = 0, none = 0;
        for (int i = 0; i < THREADS; i++) {
                if (c[i].r == 0)
                        ok++;
                else if (c[i].r == -ENOSPC)
                        none++;
                else
                        ck_abort_msg("claimer %d: %d %s", i, c[i].r, c[i].err);
                db_claim_clear(&c[i].claim);
                free(c[i].err);
        }
        ck_assert_int_eq(ok, 40);
        ck_assert_int_eq(none, 24);

        /* The rows say the same. */
        ck_assert_int_eq(raw_long("claims", "SELECT count(*) FROM (SELECT desktop_id FROM "
                                            "assignments WHERE released_at IS NULL GROUP BY "
                                            "desktop_id HAVING count(*) > 1) x"),
                         0);
        ck_assert_int_eq(raw_long("claims", "SELECT count(*) FROM (SELECT pool_id, user_name "
                                            "FROM assignments WHERE released_at IS NULL GROUP "
                                            "BY 1, 2 HAVING count(*) > 1) x"),
                         0);
        ck_assert_int_eq(raw_long("claims", "SELECT count(*) FROM assignments"), 32 + 40);
        ck_assert_int_eq(raw_long("claims", "SELECT count(*) FROM desktops WHERE state = "
                                            "'assigned'"),
                         32 + 40);
        ck_assert_int_eq(raw_long("claims", "SELECT count(*) FROM assignments a JOIN desktops d"
                                            " ON d.id = a.desktop_id WHERE d.pool_id <> "
                                            "a.pool_id OR d.state <> 'assigned'"),
                         0);
        db_close(db);
}
END_TEST

START_TEST(test_claim_release_reclaim)
{
        struct db *db = migrated_db("release", 2);
        int64_t pool = make_pool(db, "one", 1);
        struct db_claim a = { 0 }, b = { 0 };
        char *err = NULL;

        ck_assert_int_eq(db_desktop_claim(db, pool, "alice", "uid=alice", &a, &err), 0);
        ck_assert(!a.existing);
        ck_assert_str_eq(a.desktop_name, "one-000");
        ck_assert_int_eq(db_desktop_claim(db, pool, "bob", NULL, &b, &err), -ENOSPC);
        ck_assert_msg(strstr(err, "no ready desktop"), "%s", err);
        g_clear_pointer(&err, free);

        /* Released to "ready" (a pool without refresh) it can go to bob. */
        ck_assert_int_eq(db_assignment_release(db, a.assignment_id, "ready", &err), 0);
        ck_assert_int_eq(db_assignment_release(db, a.assignment_id, "ready", &err), -ENOENT);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(db_desktop_claim(db, pool, "bob", NULL, &b, &err), 0);
        ck_assert_int_eq(b.desktop_id, a.desktop_id);
        ck_assert_int_ne(b.assignment_id, a.assignment_id);
        /* A bad next state is refused by the CHECK, and nothing changes. */
        ck_assert_int_eq(db_assignment_release(db, b.assignment_id, "bogus", &err), -EINVAL);
        ck_assert_msg(strstr(err, "desktops_state_check"), "%s", err);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(raw_long("release", "SELECT count(*) FROM assignments WHERE "
                                             "released_at IS NULL"),
                         1);
        db_claim_clear(&a);
        db_claim_clear(&b);
        db_close(db);
}
END_TEST

START_TEST(test_constraints_and_entitlements)
{
        struct db *db = migrated_db("rules", 2);
        int64_t pool = make_pool(db, "eng", 1), id;
        char *err = NULL;
        bool ok;

        struct db_pool_spec bad = { .name = "bad", .kind = "floating", .image_version_id = 1,
                                    .min_size = 5, .max_size = 2 };
        ck_assert_int_eq(db_pool_add(db, &bad, &id, &err), -EINVAL);
        ck_assert_msg(strstr(err, "pools_check"), "%s", err);
        g_clear_pointer(&err, free);
        struct db_pool_spec dup = { .name = "eng", .kind = "dedicated", .image_version_id = 1,
                                    .max_size = 2 };
        ck_assert_int_eq(db_pool_add(db, &dup, &id, &err), -EEXIST);
        g_clear_pointer(&err, free);
        struct db_pool_spec proto = { .name = "vnc", .kind = "dedicated", .image_version_id = 1,
                                      .max_size = 2, .protocols = "{vnc}" };
        ck_assert_int_eq(db_pool_add(db, &proto, &id, &err), -EINVAL);
        g_clear_pointer(&err, free);

        const char *grp = "cn=staff,ou=groups,dc=example,dc=org";
        ck_assert_int_eq(db_entitlement_add(db, pool, "group", grp, &err), 0);
        ck_assert_int_eq(db_entitlement_add(db, pool, "group", grp, &err), 0); /* idempotent */
        ck_assert_int_eq(db_entitlement_add(db, pool, "user", "dave", &err), 0);
        const char *groups[] = { "cn=x,dc=y", grp };
        ck_assert_int_eq(db_pool_entitled(db, pool, "alice", groups, 2, &ok, &err), 0);
        ck_assert(ok);
        ck_assert_int_eq(db_pool_entitled(db, pool, "dave", NULL, 0, &ok, &err), 0);
        ck_assert(ok);
        const char *tricky[] = { "cn=\"staff\\\",}", "{}" };
        ck_assert_int_eq(db_pool_entitled(db, pool, "carol", tricky, 2, &ok, &err), 0);
        ck_assert(!ok);
        db_close(db);
}
END_TEST

START_TEST(test_tickets_audit_timings)
{
        struct db *db = migrated_db("tickets", 2);
        int64_t pool = make_pool(db, "t", 1), desktop = 0;
        const char *h1 = "0000000000000000000000000000000000000000000000000000000000000001";
        const char *h2 = "0000000000000000000000000000000000000000000000000000000000000002";
        struct db_claim cl = { 0 };
        char *err = NULL, *user = NULL;

        ck_assert_int_eq(db_desktop_claim(db, pool, "alice", NULL, &cl, &err), 0);
        ck_assert_int_eq(
                db_ticket_create(db, h1, cl.desktop_id, "alice", "spice", 120, NULL, 0, &err), 0);
        ck_assert_int_eq(
                db_ticket_create(db, h1, cl.desktop_id, "alice", "spice", 120, NULL, 0, &err),
                -EEXIST);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(db_ticket_create(db, "not-a-hash", cl.desktop_id, "alice", "rdp", 120,
                                          NULL, 0, &err),
                         -EINVAL);
        g_clear_pointer(&err, free);
        ck_assert_int_eq(db_ticket_consume(db, h1, &desktop, &user, &err), 0);
        ck_assert_int_eq(desktop, cl.desktop_id);
        ck_assert_str_eq(user, "alice");
        free(user);
        ck_assert_int_eq(db_ticket_consume(db, h1, &desktop, &user, &err), -ENOENT);
        g_clear_pointer(&err, free);

        ck_assert_int_eq(
                db_ticket_create(db, h2, cl.desktop_id, "alice", "rdp", 120, NULL, 0, &err), 0);
        raw_exec("tickets", "UPDATE tickets SET created_at = now() - interval '1 hour', "
                            "expires_at = now() - interval '1 second' WHERE token_hash LIKE '%2'");
        ck_assert_int_eq(db_ticket_consume(db, h2, NULL, NULL, &err), -ENOENT);
        g_clear_pointer(&err, free);

        /* Web tickets (sql/008): with their display, redeemed once, by their user only. */
        {
                const char *h3 = "0000000000000000000000000000000000000000000000000000000000000003";
                const char *h4 = "0000000000000000000000000000000000000000000000000000000000000004";
                struct db_web_route route = { 0 };

                ck_assert_int_eq(db_ticket_create(db, h4, cl.desktop_id, "alice", "web", 120, NULL,
                                                  0, &err),
                                 -EINVAL); /* no display: nowhere to relay */
                g_clear_pointer(&err, free);
                ck_assert_int_eq(db_ticket_create(db, h3, cl.desktop_id, "alice", "web", 120,
                                                  "192.0.2.9", 5902, &err),
                                 0);
                ck_assert_int_eq(db_ticket_redeem_web(db, h3, "bob", &route, &err), -ENOENT);
                g_clear_pointer(&err, free);
                ck_assert_int_eq(db_ticket_redeem_web(db, h1, "alice", &route, &err), -ENOENT);
                g_clear_pointer(&err, free);
                ck_assert_int_eq(db_ticket_redeem_web(db, h3, "alice", &route, &err), 0);
                ck_assert_str_eq(route.host, "192.0.2.9");
                ck_assert_int_eq(route.port, 5902);
                ck_assert_int_eq(route.desktop_id, cl.desktop_id);
                db_web_route_clear(&route);
                ck_assert_int_eq(db_ticket_redeem_web(db, h3, "alice", &route, &err), -ENOENT);
                g_clear_pointer(&err, free);
        }

        struct db_audit ev = { .actor = "alice", .action = "desktop.claim", .pool_name = "t",
                               .desktop_name = cl.desktop_name, .remote_addr = "192.0.2.7" };
        ck_assert_msg(db_audit_add(db, &ev, &err) == 0, "%s", err);
        ck_assert_int_eq(db_login_timing_add(db, "req1", "alice", "ldap_bind", 1234, &err), 0);
        ck_assert_int_eq(db_login_timing_add(db, "req1", "alice", "Bad Phase", 1, &err), -EINVAL);
        g_clear_pointer(&err, free);
        /* Audit rows outlive what they name. */
        raw_exec("tickets", "DELETE FROM tickets; DELETE FROM assignments; DELETE FROM desktops");
        ck_assert_int_eq(raw_long("tickets", "SELECT count(*) FROM audit_events WHERE "
                                             "desktop_name = 't-000' AND actor = 'alice'"),
                         1);
        db_claim_clear(&cl);
        db_close(db);
}
END_TEST

struct counter {
        struct db *db;
        pthread_barrier_t *both_read; /* first attempt waits here after reading */
        int calls;
};

DB_STMT(counter_read, "SELECT v FROM counter WHERE id = 1", 0);
DB_STMT(counter_write, "UPDATE counter SET v = $1::integer WHERE id = 1", 1);

static int increment(struct db_conn *c, void *userdata, char **error)
{
        struct counter *ctr = userdata;
        PGresult *res = NULL;
        char v[16];
        int r;

        ctr->calls++;
        r = db_conn_exec(c, &counter_read, NULL, &res, error);
        if (r < 0)
                return r;
        snprintf(v, sizeof(v), "%d", atoi(PQgetvalue(res, 0, 0)) + 1);
        PQclear(res);
        /* Make the first attempts overlap: both read 0 before either writes. */
        if (ctr->both_read && ctr->calls == 1)
                pthread_barrier_wait(ctr->both_read);
        const char *params[] = { v };
        return db_conn_exec(c, &counter_write, params, NULL, error);
}

static void *increment_thread(void *p)
{
        struct counter *ctr = p;
        int n = ctr->both_read ? 1 : 10;
        for (int i = 0; i < n; i++) {
                char *err = NULL;
                int r = db_transaction(ctr->db, DB_SERIALIZABLE, 0, increment, ctr, &err);
                ck_assert_msg(r == 0, "transaction: %s", err);
        }
        return NULL;
}

START_TEST(test_serializable_retry)
{
        struct db *db = migrated_db("serial", 4);
        struct counter ctr[4];
        pthread_t th[4];
        pthread_barrier_t both;

        raw_exec("serial", "CREATE TABLE counter (id int PRIMARY KEY, v int NOT NULL);"
                           " INSERT INTO counter VALUES (1, 0)");
        /* Two transactions that certainly conflict: one commits, the other
         * fails with 40001 and is run again from the start. */
        pthread_barrier_init(&both, NULL, 2);
        for (int i = 0; i < 2; i++) {
                ctr[i] = (struct counter){ .db = db, .both_read = &both };
                pthread_create(&th[i], NULL, increment_thread, &ctr[i]);
        }
        for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        pthread_barrier_destroy(&both);
        ck_assert_int_eq(raw_long("serial", "SELECT v FROM counter"), 2);
        ck_assert_int_eq(ctr[0].calls + ctr[1].calls, 3);

        /* And under load: no lost updates. */
        for (int i = 0; i < 4; i++) {
                ctr[i] = (struct counter){ .db = db };
                pthread_create(&th[i], NULL, increment_thread, &ctr[i]);
        }
        for (int i = 0; i < 4; i++)
                pthread_join(th[i], NULL);
        ck_assert_int_eq(raw_long("serial", "SELECT v FROM counter"), 42);
        db_close(db);
}
END_TEST

DB_STMT(backend_pid, "SELECT pg_backend_pid()", 0);
DB_STMT(sleep_stmt, "SELECT pg_sleep(5)", 0);

START_TEST(test_timeouts)
{
        struct db *db = migrated_db("timeouts", 1);
        PGresult *res = NULL;
        char *err = NULL;
        int64_t t0;

        db_close(db);
        /* Short statement deadline, generous connect: a connect under a loaded
         * machine took longer than 500 ms and failed the test. */
        g_autofree char *tci = conninfo_for("timeouts");
        struct db_config tcfg = { .conninfo = tci, .pool_size = 1, .connect_timeout_ms = 5000,
                                  .statement_timeout_ms = 500, .acquire_timeout_ms = 10000 };
        db = NULL;
        ck_assert_msg(db_open(&tcfg, &db, &err) == 0, "db_open: %s", err);

        /* Server-side statement timeout. */
        t0 = now_ms();
        ck_assert_int_eq(db_exec(db, &sleep_stmt, NULL, 0, NULL, &err), -ETIMEDOUT);
        ck_assert_int_lt(now_ms() - t0, 2000);
        g_clear_pointer(&err, free);

        /* A hung backend (stopped process: the kernel still ACKs, so only
         * the client-side deadline can notice). */
        ck_assert_int_eq(db_exec(db, &backend_pid, NULL, 0, &res, &err), 0);
        pid_t pid = (pid_t)atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
        ck_assert_int_eq(kill(pid, SIGSTOP), 0);
        t0 = now_ms();
        int r = db_ping(db, &err);
        int64_t took = now_ms() - t0;
        kill(pid, SIGCONT);
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_msg(strstr(err, "no answer within"), "%s", err);
        ck_assert_int_lt(took, 3000);
        g_clear_pointer(&err, free);
        /* The stuck connection was dropped; the next call gets a new one. */
        ck_assert_msg(db_ping(db, &err) == 0, "%s", err);

        /* A server that accepts TCP but never answers: connect deadline. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 8), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        g_autofree char *ci = g_strdup_printf("host=127.0.0.1 port=%d user=x dbname=x",
                                              ntohs(sa.sin_port));
        struct db_config cfg = { .conninfo = ci, .connect_timeout_ms = 500 };
        struct db *silent = NULL;
        ck_assert_int_eq(db_open(&cfg, &silent, &err), 0);
        t0 = now_ms();
        ck_assert_int_eq(db_ping(silent, &err), -ETIMEDOUT);
        ck_assert_int_lt(now_ms() - t0, 2000);
        ck_assert_msg(strstr(err, "connecting timed out"), "%s", err);
        g_clear_pointer(&err, free);
        db_close(silent);
        close(fd);
        db_close(db);
}
END_TEST

/* Runs last: it stops and restarts the shared server. */
START_TEST(test_restart_and_pause)
{
        struct db *db = migrated_db("restart", 2);
        int64_t pool = make_pool(db, "r", 4);
        struct db_claim cl = { 0 };
        char *err = NULL;

        ck_assert_int_eq(db_ping(db, &err), 0);
        ck_assert_int_eq(db_desktop_claim(db, pool, "alice", NULL, &cl, &err), 0);
        db_claim_clear(&cl);

        /* Pooled connections die with the server; the next calls, including
         * a non-idempotent insert, reconnect transparently. */
        ck_assert_int_eq(harness_pg_restart(pg), 0);
        struct db_audit ev = { .actor = "alice", .action = "after.restart" };
        ck_assert_msg(db_audit_add(db, &ev, &err) == 0, "audit after restart: %s", err);
        ck_assert_msg(db_desktop_claim(db, pool, "alice", NULL, &cl, &err) == 0, "%s", err);
        ck_assert(cl.existing);
        db_claim_clear(&cl);

        /* Server gone: calls fail quickly with a reason, never hang. */
        ck_assert_int_eq(harness_pg_pause(pg), 0);
        int64_t t0 = now_ms();
        int r = db_desktop_claim(db, pool, "bob", NULL, &cl, &err);
        ck_assert_msg(r == -ECONNREFUSED || r == -ETIMEDOUT || r == -ECONNRESET, "r=%d %s", r,
                      err);
        ck_assert_int_lt(now_ms() - t0, 7000);
        ck_assert_msg(strstr(err, "database"), "%s", err);
        g_clear_pointer(&err, free);
        /* Known down: the next calls do not dial again until the backoff
         * has passed; they fail at once with the last reason. */
        t0 = now_ms();
        r = db_ping(db, &err);
        ck_assert_msg(r == -ECONNREFUSED || r == -ETIMEDOUT, "r=%d %s", r, err);
        ck_assert_msg(strstr(err, "not retried for another"), "%s", err);
        ck_assert_int_lt(now_ms() - t0, 50);
        ck_assert_uint_gt(db_redial_wait_ms(db), 0);
        g_clear_pointer(&err, free);
        /* The backoff grows while the server stays away, up to 3 s. */
        for (int i = 0; i < 8; i++) {
                g_usleep((db_redial_wait_ms(db) + 5) * 1000);
                ck_assert_int_lt(db_ping(db, &err), 0);
                g_clear_pointer(&err, free);
        }
        ck_assert_uint_gt(db_redial_wait_ms(db), 1500);
        ck_assert_uint_le(db_redial_wait_ms(db), 3000);

        ck_assert_int_eq(harness_pg_restart(pg), 0);
        /* Back within one backoff period, without reopening anything. */
        g_usleep((db_redial_wait_ms(db) + 5) * 1000);
        ck_assert_msg(db_desktop_claim(db, pool, "bob", NULL, &cl, &err) == 0, "%s", err);
        ck_assert(!cl.existing);
        db_claim_clear(&cl);
        ck_assert_int_eq(raw_long("restart", "SELECT count(*) FROM audit_events"), 1);
        db_close(db);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("sql");
        TCase *tc = tcase_create("db");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_migrate_fresh_and_again);
        tcase_add_test(tc, test_migrate_refuses_newer);
        tcase_add_test(tc, test_migrate_existing_suspended);
        tcase_add_test(tc, test_migrate_concurrent);
        tcase_add_test(tc, test_claim_concurrent);
        tcase_add_test(tc, test_claim_release_reclaim);
        tcase_add_test(tc, test_constraints_and_entitlements);
        tcase_add_test(tc, test_tickets_audit_timings);
        tcase_add_test(tc, test_serializable_retry);
        tcase_add_test(tc, test_timeouts);
        tcase_add_test(tc, test_restart_and_pause);
        suite_add_tcase(s, tc);
        return s;
}
