/* The reconcile loop against the harness PostgreSQL and a real vdi-hostd:
 *   - leadership: two loops, one advisory lock; only one holds it, the
 *     other takes over when the holder's connection dies or it stops;
 *   - a pool converges from empty (rows, VMs on the host, clones on disk),
 *     a claim makes the loop add a replacement, a release refreshes, a
 *     killed VM is repaired, a silent host is marked down.
 * Without KVM the host runs tests/hostd/sleeper-vm as its "vdi-vm", and
 * lacking a control socket it reports a started VM as booted. With
 * VDI_POOLS_REAL_VM=1 (tests/hostd/lab.sh, in the KVM lab) the host runs
 * the real vdi-vm booting tests/guest's initramfs, and "ready" means the
 * guest booted (the control socket's "booted" event); there the lifecycle
 * stops after the convergence and one refresh (each further step boots
 * another guest to check what the hollow-VM run checks already). */
#include "config.h"

#include <curl/curl.h>
#include <glib.h>
#include <libpq-fe.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define CHECK_NOFORK
#include "check-main.h"
#include "harness/harness.h"
#include "hostd-proc.h"
#include "log.h"
#include "pools/internal.h"
#include "pools/loop.h"
#include "sql/db.h"

static struct harness_pg *pg;
static char *pki;
static bool real_vm;
static unsigned converge_ms = 15000;

static void setup(void)
{
        g_autofree char *err = NULL;
        struct db *db = NULL;

        ck_assert_int_eq(harness_pg_start(&pg), 0);
        struct db_config dc = { .conninfo = pg->conninfo };
        ck_assert_int_eq(db_open(&dc, &db, &err), 0);
        ck_assert_msg(db_migrate(db, true, &err) == 0, "migrate: %s", err);
        db_close(db);
        pki = g_dir_make_tmp("vdi-pools-pki-XXXXXX", NULL);
        ck_assert_int_eq(hostd_proc_pki(pki), 0);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        log_setup("test-pools", LOG_LEVEL_WARNING);
        real_vm = g_strcmp0(getenv("VDI_POOLS_REAL_VM"), "1") == 0;
        if (real_vm)
                converge_ms = 600000; /* nested guests boot slowly in the one-vCPU lab */
}

static void teardown(void)
{
        g_autofree char *cmd = g_strdup_printf("rm -rf %s", pki);
        harness_pg_stop(pg);
        (void)!system(cmd);
        g_free(pki);
}

static PGconn *conn(void)
{
        PGconn *c = PQconnectdb(pg->conninfo);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
        return c;
}

static char *q1(PGconn *c, const char *sql)
{
        PGresult *r = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
                      "%s: %s", sql, PQresultErrorMessage(r));
        char *v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0
                          ? g_strdup(PQgetvalue(r, 0, 0))
                          : g_strdup("");
        PQclear(r);
        return v;
}

static long qn(PGconn *c, const char *sql)
{
        g_autofree char *v = q1(c, sql);
        return strtol(v, NULL, 10);
}

/* Holders of the loop's advisory lock, as the server sees them. */
static long lock_holders(PGconn *c)
{
        return qn(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                     "AND ((classid::bigint << 32) | objid::bigint) = 8531059525790166892");
}

static struct pool_loop_config loop_cfg(const char *name)
{
        static char cert[512], key[512], ca[512];
        snprintf(cert, sizeof(cert), "%s/client.pem", pki);
        snprintf(key, sizeof(key), "%s/client.key", pki);
        snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
        return (struct pool_loop_config){
                .conninfo = pg->conninfo,
                .hosts = { .cert_file = cert, .key_file = key, .ca_file = ca },
                .interval_ms = 100,
                .takeover_backoff_ms = 1500,
                .policy = { .heartbeat_timeout_s = 3, .provision_timeout_s = 60,
                            .max_failures = 3, .retry_backoff_s = 1, .vcpu_overcommit = 8 },
                .name = name,
        };
}

static bool wait_for(bool (*cond)(void *), void *arg, unsigned ms)
{
        gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
        do {
                if (cond(arg))
                        return true;
                g_usleep(50 * 1000);
        } while (g_get_monotonic_time() < end);
        return cond(arg);
}

static bool is_leader(void *l)
{
        return pool_loop_is_leader(l);
}

START_TEST(test_one_leader_and_takeover)
{
        struct pool_loop_config ca = loop_cfg("broker-a"), cb = loop_cfg("broker-b");
        struct pool_loop *a = NULL, *b = NULL, *first, *second;
        g_autofree char *err = NULL;
        PGconn *c = conn();

        /* The assertion below reads the key as the server splits it. */
        ck_assert_int_eq(POOL_LOOP_LOCK_KEY, 8531059525790166892LL);
        ck_assert_int_eq(pool_loop_start(&ca, &a, &err), 0);
        ck_assert_int_eq(pool_loop_start(&cb, &b, &err), 0);
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        while (!pool_loop_is_leader(a) && !pool_loop_is_leader(b) &&
               g_get_monotonic_time() < end)
                g_usleep(20 * 1000);
        /* Over two seconds: one leader, one lock holder, the other waits. */
        for (int i = 0; i < 20; i++) {
                ck_assert_int_eq(pool_loop_is_leader(a) + pool_loop_is_leader(b), 1);
                ck_assert_int_eq(lock_holders(c), 1);
                g_usleep(100 * 1000);
        }
        first = pool_loop_is_leader(a) ? a : b;
        second = first == a ? b : a;
        unsigned passes = pool_loop_passes(first);
        ck_assert_uint_gt(passes, 3);
        ck_assert_uint_eq(pool_loop_passes(second), 0);

        /* The leader's connection dies (a crashed broker, a cut network). */
        g_autofree char *kill = g_strdup_printf("SELECT pg_terminate_backend(%d)",
                                                pool_loop_backend_pid(first));
        g_free(q1(c, kill));
        ck_assert(wait_for(is_leader, second, 5000));
        /* Never two holders while the former leader notices and backs off. */
        for (int i = 0; i < 20; i++) {
                ck_assert_int_le(lock_holders(c), 1);
                g_usleep(100 * 1000);
        }
        ck_assert(!pool_loop_is_leader(first));
        ck_assert_uint_gt(pool_loop_passes(second), 0);

        /* The new leader stops (clean shutdown): the first takes over again. */
        pool_loop_stop(second);
        ck_assert(wait_for(is_leader, first, 5000));
        ck_assert_int_eq(lock_holders(c), 1);
        pool_loop_stop(first);
        g_usleep(200 * 1000);
        ck_assert_int_eq(lock_holders(c), 0);
        PQfinish(c);
}
END_TEST

struct count_arg {
        PGconn *c;
        const char *sql;
        long want;
        struct pool_loop_config *cfg;
};

/* Reconcile once, then check a count. */
static bool pass_until(void *arg)
{
        struct count_arg *x = arg;
        g_autofree char *err = NULL;
        if (x->cfg)
                ck_assert_msg(pool_reconcile_once(x->c, x->cfg, NULL, &err) == 0, "%s", err);
        return qn(x->c, x->sql) == x->want;
}

static void converge(PGconn *c, struct pool_loop_config *cfg, const char *sql, long want)
{
        struct count_arg x = { c, sql, want, cfg };
        if (wait_for(pass_until, &x, converge_ms))
                return;
        /* Say what the world looks like before failing. */
        PGresult *r = PQexec(c, "SELECT id, state, failures, last_error, pending_action "
                                "FROM desktops ORDER BY id");
        for (int i = 0; i < PQntuples(r); i++)
                fprintf(stderr, "desktop %s state=%s failures=%s error=%s pending=%s\n",
                        PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                        PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
        PQclear(r);
        ck_abort_msg("%s: want %ld, have %ld", sql, want, qn(c, sql));
}

/* The release timer (issue 23): a floating desktop whose client left long
 * ago is not released while a ticket for it is still good, and a ticket's
 * issue (a launch or reconnect) counts as activity. Read through the
 * loop's own snapshot and planned by the policy. */
static int64_t snapshot_idle(PGconn *c, bool *released)
{
        struct snapshot_buf sb;
        struct pool_actions acts = { 0 };
        struct pool_policy pol = loop_cfg("t").policy;
        g_autofree char *err = NULL;

        pol.release_idle_s = 300;
        ck_assert_msg(pool_snapshot_load(c, &sb, &err) == 0, "%s", err);
        ck_assert_uint_eq(sb.snap.n_desktops, 1);
        int64_t idle = sb.desktops[0].idle_s;
        ck_assert_int_eq(pool_plan(&sb.snap, &pol, &acts), 0);
        *released = false;
        for (size_t i = 0; i < acts.n; i++)
                *released |= acts.v[i].kind == ACT_REFRESH;
        pool_actions_clear(&acts);
        pool_snapshot_free(&sb);
        return idle;
}

START_TEST(test_release_timer_and_tickets)
{
        PGconn *c = conn();
        bool released;

        g_free(q1(c, "WITH i AS (INSERT INTO images (name) VALUES ('rel') RETURNING id), "
                     "v AS (INSERT INTO image_versions (image_id, version, path, state) "
                     "SELECT id, 1, '/img/rel.qcow2', 'published' FROM i RETURNING id), "
                     "p AS (INSERT INTO pools (name, kind, image_version_id, min_size, max_size, "
                     "ready_size) SELECT 'rel', 'floating', id, 1, 1, 0 FROM v RETURNING id), "
                     "h AS (INSERT INTO hosts (name, address, vcpus, memory_mb, last_heartbeat) "
                     "VALUES ('h-rel', '127.0.0.1', 8, 8192, now()) RETURNING id) "
                     "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state, "
                     "state_changed_at) SELECT p.id, h.id, v.id, 'rel-1', 'assigned', "
                     "now() - interval '1000 s' FROM p, h, v"));
        g_free(q1(c, "INSERT INTO assignments (pool_id, desktop_id, user_name) "
                     "SELECT pool_id, id, 'alice' FROM desktops"));
        /* Assigned 1000 s ago, no client since: released. */
        ck_assert_int_ge(snapshot_idle(c, &released), 1000);
        ck_assert(released);
        /* alice launches again: a ticket good for 120 s. Not idle while it is
         * good, although the timer (300 s) ran out long ago. */
        g_free(q1(c, "INSERT INTO tickets (token_hash, desktop_id, user_name, protocol, "
                     "created_at, expires_at) SELECT repeat('a', 64), id, 'alice', 'rdp', "
                     "now() - interval '100 s', now() + interval '20 s' FROM desktops"));
        ck_assert_int_eq(snapshot_idle(c, &released), -1);
        ck_assert(!released);
        /* The ticket expired unused 10 s ago: idle counts from its issue
         * (130 s), under the 300 s timer. */
        g_free(q1(c, "UPDATE tickets SET created_at = now() - interval '130 s', "
                     "expires_at = now() - interval '10 s'"));
        int64_t idle = snapshot_idle(c, &released);
        ck_assert_int_ge(idle, 129);
        ck_assert_int_le(idle, 140);
        ck_assert(!released);
        /* 300 s after that launch with no client: released. */
        g_free(q1(c, "UPDATE tickets SET created_at = now() - interval '400 s', "
                     "expires_at = now() - interval '280 s'"));
        ck_assert_int_ge(snapshot_idle(c, &released), 399);
        ck_assert(released);
        /* The next case starts from an empty inventory. */
        g_free(q1(c, "TRUNCATE images, hosts, pools RESTART IDENTITY CASCADE"));
        PQfinish(c);
}
END_TEST

START_TEST(test_pool_lifecycle_with_real_hostd)
{
        struct pool_loop_config cfg = loop_cfg("broker");
        if (real_vm) {
                /* A loaded lab must not look like a dead host or a failed boot,
                 * nor a slow host call (a refresh stops a VM and remakes its
                 * disk: seen taking over 15 s at load 19) like a dead host. */
                cfg.policy.heartbeat_timeout_s = 120;
                cfg.policy.provision_timeout_s = 600;
                cfg.host_timeout_ms = 120000;
                cfg.hosts.connect_timeout_ms = 20000;
        }
        struct hostd_proc hp = { .pki = pki, .conninfo = pg->conninfo, .name = "host-a" };
        g_autofree char *sleeper = g_strdup_printf("%s/tests/hostd/sleeper-vm", TOP_SRCDIR);
        g_autofree char *base = NULL, *cmd = NULL, *sql = NULL, *err = NULL;
        PGconn *c = conn();

        if (!real_vm)
                hp.vm_binary = g_strdup(sleeper);
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        /* The host registers itself through its heartbeat. */
        converge(c, NULL, "SELECT count(*) FROM hosts WHERE name = 'host-a' AND state = 'up'", 1);

        /* A golden image version and a floating pool: min 2, keep 2 ready, max 4,
         * with the clipboard off. */
        base = g_build_filename(hp.dir, "golden.qcow2", NULL);
        cmd = g_strdup_printf("qemu-img create -q -f qcow2 %s 32M && head -c 1024 /dev/urandom > "
                              "%s/vmlinuz", base, hp.dir);
        ck_assert_int_eq(system(cmd), 0);
        if (real_vm) {
                const char *top = getenv("abs_top_builddir");
                g_autofree char *out = NULL;
                g_autofree char *kcmd = g_strdup_printf(
                        "%s/tests/guest/build-initrd --print-kernel", TOP_SRCDIR);
                ck_assert(g_spawn_command_line_sync(kcmd, &out, NULL, NULL, NULL));
                sql = g_strdup_printf(
                        "WITH i AS (INSERT INTO images (name) VALUES ('deb12') RETURNING id), "
                        "v AS (INSERT INTO image_versions (image_id, version, path, kernel_path, "
                        "initrd_path, cmdline, state) SELECT id, 1, '%s', '%s', "
                        "'%s/tests/guest/initrd.gz', 'console=ttyS0 quiet agent.action=sleep', "
                        "'published' FROM i RETURNING id) "
                        "INSERT INTO pools (name, kind, image_version_id, min_size, max_size, "
                        "ready_size, vcpus, memory_mb, clipboard) SELECT 'eng', 'floating', id, 2, 4, "
                        "2, 1, 128, 'none' FROM v RETURNING id",
                        base, g_strstrip(out), top ? top : TOP_SRCDIR);
        } else {
                sql = g_strdup_printf(
                        "WITH i AS (INSERT INTO images (name) VALUES ('deb12') RETURNING id), "
                        "v AS (INSERT INTO image_versions (image_id, version, path, kernel_path, "
                        "state) SELECT id, 1, '%s', '%s/vmlinuz', 'published' FROM i RETURNING id) "
                        "INSERT INTO pools (name, kind, image_version_id, min_size, max_size, "
                        "ready_size, vcpus, memory_mb, clipboard) SELECT 'eng', 'floating', id, 2, 4, "
                        "2, 1, 128, 'none' FROM v RETURNING id",
                        base, hp.dir);
        }
        g_free(q1(c, sql));

        /* Converges from empty: 2 desktops, both ready (booted). */
        converge(c, &cfg, "SELECT count(*) FROM desktops WHERE state = 'ready'", 2);
        ck_assert_int_eq(qn(c, "SELECT count(*) FROM desktops"), 2);
        ck_assert_int_eq(qn(c, "SELECT count(*) FROM desktops WHERE spice_port IS NOT NULL "
                               "AND disk_path IS NOT NULL"), 2);
        struct hostd_reply r;
        hostd_req(&hp, "GET", "/api/v1/vms", NULL, CERT_CLIENT, &r);
        ck_assert_uint_eq(json_array_size(json_object_get(r.json, "vms")), 2);
        /* The pool's clipboard policy went with each VM (vdi-vm --clipboard). */
        for (size_t i = 0; i < 2; i++)
                ck_assert_str_eq(json_string_value(json_object_get(
                                         json_array_get(json_object_get(r.json, "vms"), i), "clipboard")),
                                 "none");
        hostd_reply_clear(&r);
        ck_assert_int_eq(qn(c, "SELECT count(*) FROM desktop_events WHERE event = 'started'"), 2);
        if (real_vm)
                ck_assert_int_eq(qn(c, "SELECT count(*) FROM desktop_events WHERE event = "
                                       "'booted'"), 2);

        /* In the lab only one refresh follows (a real stop, a new disk and a
         * real boot); the replacement and the crash repair below would each
         * boot one more guest (about 90 s apiece in the one-vCPU lab) to
         * check loop logic the hollow-VM run of this test checks already. */
        g_autofree char *did = q1(c, "SELECT id FROM desktops ORDER BY id LIMIT 1");
        if (!real_vm) {
                /* A user takes one: the loop adds a replacement (1 assigned + 2 ready). */
                g_free(q1(c, "UPDATE desktops SET state = 'assigned' WHERE id = (SELECT min(id) FROM desktops)"));
                g_autofree char *asg = g_strdup_printf(
                        "INSERT INTO assignments (pool_id, desktop_id, user_name) SELECT pool_id, id, "
                        "'alice' FROM desktops WHERE id = %s RETURNING id", did);
                g_autofree char *aid = q1(c, asg);
                converge(c, &cfg, "SELECT count(*) FROM desktops WHERE state = 'ready'", 2);
                ck_assert_int_eq(qn(c, "SELECT count(*) FROM desktops"), 3);

                /* She signs out: the desktop is wiped (refreshed) and back to ready. */
                g_autofree char *rel = g_strdup_printf(
                        "UPDATE assignments SET released_at = now() WHERE id = %s", aid);
                g_free(q1(c, rel));
        }
        g_autofree char *refr = g_strdup_printf(
                "UPDATE desktops SET state = 'refreshing' WHERE id = %s", did);
        g_free(q1(c, refr));
        g_autofree char *ev = g_strdup_printf(
                "SELECT count(*) FROM desktop_events WHERE vm_id = '%s' AND event = 'refreshed'",
                did);
        converge(c, &cfg, ev, 1);
        /* ... and the pool shrinks back to its size: 2 desktops, none assigned. */
        converge(c, &cfg, "SELECT count(*) FROM desktops WHERE state = 'ready'", 2);
        converge(c, &cfg, "SELECT count(*) FROM desktops", 2);
        if (real_vm) { /* not a goto: it would skip the g_autofree declarations below */
                hostd_proc_destroy(&hp);
                PQfinish(c);
                return;
        }

        /* A VM dies: crash event, desktop in error, the loop repairs it. */
        g_autofree char *victim = q1(c, "SELECT id FROM desktops ORDER BY id DESC LIMIT 1");
        g_autofree char *vpath = g_strdup_printf("/api/v1/vms/%s", victim);
        hostd_req(&hp, "GET", vpath, NULL, CERT_CLIENT, &r);
        pid_t pid = (pid_t)json_integer_value(json_object_get(r.json, "pid"));
        hostd_reply_clear(&r);
        ck_assert_int_gt(pid, 1);
        kill(pid, SIGKILL);
        g_autofree char *crashed = g_strdup_printf(
                "SELECT count(*) FROM desktop_events WHERE vm_id = '%s' AND event = 'crashed'",
                victim);
        converge(c, NULL, crashed, 1);
        g_autofree char *failed = g_strdup_printf(
                "SELECT count(*) FROM desktops WHERE id = %s AND (failures = 1 OR state = 'ready')",
                victim);
        converge(c, NULL, failed, 1);
        converge(c, &cfg, "SELECT count(*) FROM desktops WHERE state = 'ready'", 2);

        /* The host goes silent: marked down, its floating desktops dropped.
         * (Not in the lab: a loaded TCG lab makes that timeout long.) */
        hostd_proc_stop(&hp);
        sleep((unsigned)cfg.policy.heartbeat_timeout_s + 1);
        ck_assert_int_eq(pool_reconcile_once(c, &cfg, NULL, &err), 0);
        ck_assert_int_eq(qn(c, "SELECT count(*) FROM hosts WHERE state = 'down' AND "
                               "down_reason LIKE 'host host-a: no heartbeat%'"), 1);
        converge(c, &cfg, "SELECT count(*) FROM desktops WHERE host_id IS NOT NULL", 0);
        ck_assert_int_ge(qn(c, "SELECT count(*) FROM audit_events WHERE action = 'pool.host_down'"),
                         1);
        hostd_proc_destroy(&hp);
        PQfinish(c);
}
END_TEST

/* Wait for vdi-hostd to hold the control connection of the VM at path
 * (GET /api/v1/vms/ID). */
static void wait_control(const struct hostd_proc *hp, const char *path)
{
        struct hostd_reply r;
        bool control = false;

        for (int i = 0; i < 100 && !control; i++) {
                hostd_req(hp, "GET", path, NULL, CERT_CLIENT, &r);
                control = json_is_true(json_object_get(r.json, "control"));
                hostd_reply_clear(&r);
                if (!control)
                        g_usleep(100000);
        }
        ck_assert(control);
}

/* suspend_after_disconnect_s (issue 20) through the loop and vdi-hostd
 * with the hollow VM: alice's desktop did of pool "fast", idle for an hour,
 * is suspended and recorded 'suspended' (not 'stopped'); it stays hers,
 * so the pool makes a third desktop to keep two ready beside it; her next
 * ticket resumes it and the host's report makes it 'assigned' again;
 * suspended by the host alone and then powered off, it is 'suspended' and
 * then 'stopped'. */
static void suspend_and_resume(PGconn *c, struct pool_loop_config *cfg, struct hostd_proc *hp,
                               const char *did)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", did);
        g_autofree char *tickets = g_strdup_printf("/api/v1/vms/%s/tickets", did);
        struct hostd_reply r;

        wait_control(hp, path); /* a suspend goes through it */
        g_autofree char *take = g_strdup_printf(
                "UPDATE desktops SET state = 'assigned', state_changed_at = now() - interval '1 hour' "
                "WHERE id = %s; INSERT INTO assignments (pool_id, desktop_id, user_name) "
                "SELECT pool_id, id, 'alice' FROM desktops WHERE id = %s; "
                "UPDATE pools SET suspend_after_disconnect_s = 1 WHERE name = 'fast'",
                did, did);
        g_free(q1(c, take));
        g_autofree char *suspended = g_strdup_printf(
                "SELECT count(*) FROM desktops WHERE id = %s AND state = 'suspended'", did);
        converge(c, cfg, suspended, 1);
        ck_assert(hostd_wait_state(hp, did, "suspended", 5000));
        /* Not a free one: two others are made ready beside it. */
        converge(c, cfg,
                 "SELECT count(*) FROM desktops d JOIN pools p ON p.id = d.pool_id "
                 "WHERE p.name = 'fast' AND d.state = 'ready'",
                 2);
        ck_assert_int_eq(qn(c, suspended), 1);

        /* Her next launch: the host resumes it for the ticket. */
        g_free(q1(c, "UPDATE pools SET suspend_after_disconnect_s = NULL WHERE name = 'fast'"));
        hostd_req(hp, "POST", tickets, "{\"protocol\": \"rdp\", \"user\": \"alice\"}", CERT_CLIENT, &r);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        ck_assert(hostd_wait_state(hp, did, "running", 5000));
        g_autofree char *assigned = g_strdup_printf(
                "SELECT count(*) FROM desktops WHERE id = %s AND state = 'assigned'", did);
        converge(c, NULL, assigned, 1);
        g_autofree char *resumed = g_strdup_printf(
                "SELECT count(*) FROM desktop_events WHERE vm_id = '%s' AND event = 'resumed'", did);
        ck_assert_int_eq(qn(c, resumed), 1);

        /* Suspended through the host alone (an admin's), then powered off:
         * its report says which. */
        g_autofree char *suspend = g_strdup_printf("/api/v1/vms/%s/suspend", did);
        g_autofree char *stop = g_strdup_printf("/api/v1/vms/%s/stop", did);
        wait_control(hp, path);
        hostd_req(hp, "POST", suspend, NULL, CERT_CLIENT, &r);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        converge(c, NULL, suspended, 1);
        hostd_req(hp, "POST", stop, NULL, CERT_CLIENT, &r);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        g_autofree char *stopped = g_strdup_printf(
                "SELECT count(*) FROM desktops WHERE id = %s AND state = 'stopped'", did);
        converge(c, NULL, stopped, 1);
}

/* A pool with provisioning = 'instant' (issue 20) on a real vdi-hostd whose
 * VMs are the hollow VM (which suspends and restores), or in the lab the
 * real vdi-vm with the counting test guest (it opens its agent port): the
 * pool converges with desktops forked from one parent, and a released
 * desktop is refreshed by forking it again. */
START_TEST(test_instant_pool)
{
        struct pool_loop_config cfg = loop_cfg("broker");
        struct hostd_proc hp = { .pki = pki, .conninfo = pg->conninfo, .name = "host-i" };
        g_autofree char *hollow = hostd_proc_hollow_vm();
        g_autofree char *base = NULL, *cmd = NULL, *sql = NULL, *kernel = NULL, *initrd = NULL;
        struct hostd_reply r;
        const char *state = NULL;
        PGconn *c = conn();

        if (real_vm) {
                cfg.policy.heartbeat_timeout_s = 120;
                cfg.policy.provision_timeout_s = 900; /* the parent boots first */
                cfg.host_timeout_ms = 120000;
                cfg.hosts.connect_timeout_ms = 20000;
        } else {
                hp.vm_binary = g_strdup(hollow);
        }
        /* Only this pool: the other tests' pools and hosts are left alone. */
        g_free(q1(c, "UPDATE pools SET enabled = false"));
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        converge(c, NULL, "SELECT count(*) FROM hosts WHERE name = 'host-i' AND state = 'up'", 1);
        base = g_build_filename(hp.dir, "golden.qcow2", NULL);
        cmd = g_strdup_printf("qemu-img create -q -f qcow2 %s 32M && head -c 1024 /dev/urandom > %s/vmlinuz",
                              base, hp.dir);
        ck_assert_int_eq(system(cmd), 0);
        if (real_vm) {
                g_autofree char *out = NULL;
                g_autofree char *kcmd = g_strdup_printf("%s/tests/guest/build-initrd --print-kernel", TOP_SRCDIR);
                const char *top = getenv("abs_top_builddir");
                ck_assert(g_spawn_command_line_sync(kcmd, &out, NULL, NULL, NULL));
                kernel = g_strdup(g_strstrip(out));
                initrd = g_strdup_printf("'%s/tests/guest/initrd.gz'", top ? top : TOP_SRCDIR);
        } else {
                kernel = g_strdup_printf("%s/vmlinuz", hp.dir);
                initrd = g_strdup("NULL");
        }
        sql = g_strdup_printf(
                "WITH i AS (INSERT INTO images (name) VALUES ('deb12i') RETURNING id), "
                "v AS (INSERT INTO image_versions (image_id, version, path, kernel_path, initrd_path, cmdline, "
                "state) SELECT id, 1, '%s', '%s', %s, 'console=ttyS0 quiet agent.action=counter', 'published' "
                "FROM i RETURNING id) "
                "INSERT INTO pools (name, kind, image_version_id, min_size, max_size, ready_size, vcpus, "
                "memory_mb, provisioning) SELECT 'fast', 'floating', id, 2, 3, 2, 1, 128, 'instant' FROM v "
                "RETURNING id",
                base, kernel, initrd);
        g_free(q1(c, sql));

        converge(c, &cfg,
                 "SELECT count(*) FROM desktops d JOIN pools p ON p.id = d.pool_id "
                 "WHERE p.name = 'fast' AND d.state = 'ready'",
                 2);
        /* Both forked from the one parent of the image on this host. */
        hostd_req(&hp, "GET", "/api/v1/parents", NULL, CERT_CLIENT, &r);
        json_t *parents = json_object_get(r.json, "parents");
        ck_assert_msg(json_array_size(parents) == 1, "%s", r.raw);
        state = json_string_value(json_object_get(json_array_get(parents, 0), "state_dir"));
        ck_assert_ptr_nonnull(state);
        g_autofree char *parent_state = g_strdup(state);
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(parents, 0), "clones")), 2);
        hostd_reply_clear(&r);
        hostd_req(&hp, "GET", "/api/v1/vms", NULL, CERT_CLIENT, &r);
        for (size_t i = 0; i < json_array_size(json_object_get(r.json, "vms")); i++) {
                json_t *v = json_array_get(json_object_get(r.json, "vms"), i);
                ck_assert_str_eq(json_string_value(json_object_get(v, "clone")), "instant");
                ck_assert_str_eq(json_string_value(json_object_get(v, "parent_state")), parent_state);
        }
        hostd_reply_clear(&r);

        /* A user takes one and leaves: refreshed by forking it again. */
        g_autofree char *did = q1(c, "SELECT min(d.id) FROM desktops d JOIN pools p ON p.id = d.pool_id "
                                     "WHERE p.name = 'fast'");
        g_autofree char *take = g_strdup_printf(
                "UPDATE desktops SET state = 'refreshing' WHERE id = %s", did);
        g_free(q1(c, take));
        g_autofree char *refreshed = g_strdup_printf(
                "SELECT count(*) FROM desktop_events WHERE vm_id = '%s' AND event = 'refreshed'", did);
        converge(c, &cfg, refreshed, 1);
        g_autofree char *ready = g_strdup_printf(
                "SELECT count(*) FROM desktops WHERE id = %s AND state = 'ready'", did);
        converge(c, &cfg, ready, 1);
        g_autofree char *booted = g_strdup_printf(
                "SELECT count(*) FROM desktop_events WHERE vm_id = '%s' AND event = 'booted'", did);
        ck_assert_int_ge(qn(c, booted), 2); /* forked twice */
        if (!real_vm) {
                g_autofree char *log = NULL;
                g_autofree char *path = g_build_filename(hp.state_dir, "vms", did, "restores.log", NULL);
                ck_assert(g_file_get_contents(path, &log, NULL, NULL));
                ck_assert_msg(strstr(log, parent_state) && strchr(log, '\n') && strchr(strchr(log, '\n') + 1, '\n'),
                              "%s", log);
                suspend_and_resume(c, &cfg, &hp, did);
        }
        hostd_proc_destroy(&hp);
        PQfinish(c);
}
END_TEST

/* pool_image_body for version v of image "imgdisp" (0 when there is no
 * such version): the body as sorted compact JSON, or NULL; *r its result. */
static char *import_body(PGconn *c, int v, int *r, char **err)
{
        g_autofree char *sql = g_strdup_printf(
                "SELECT coalesce((SELECT v.id FROM image_versions v JOIN images i ON "
                "i.id = v.image_id WHERE i.name = 'imgdisp' AND v.version = %d), 0)",
                v);
        g_autofree char *id = q1(c, sql);
        json_t *body = NULL;

        *r = pool_image_body(c, g_ascii_strtoll(id, NULL, 10), &body, err);
        ck_assert(*r == 0 ? body != NULL : body == NULL);
        char *s = body ? json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        json_decref(body);
        return s;
}

/* What the loop sends vdi-hostd to import an image version (PUT
 * /api/v1/images/iv-N), built from the version's row: boot material, disk,
 * command line, and the display unless it is the default vesa (hosts take
 * an absent display as vesa). The schema refuses other displays. */
START_TEST(test_image_import_body)
{
        PGconn *c = conn();
        g_autofree char *err = NULL;

        /* v1 vesa, v2 virtio-gpu with an initrd, v3 without a kernel. */
        g_free(q1(c, "WITH i AS (INSERT INTO images (name) VALUES ('imgdisp') RETURNING id) "
                     "INSERT INTO image_versions (image_id, version, path, format, kernel_path, "
                     "initrd_path, cmdline, display) SELECT id, v, '/srv/d' || v || '.qcow2', "
                     "'qcow2', CASE WHEN v < 3 THEN '/srv/k' END, CASE WHEN v = 2 THEN "
                     "'/srv/i' END, 'console=ttyS0 quiet', CASE WHEN v = 2 THEN 'virtio-gpu' "
                     "ELSE 'vesa' END FROM i, generate_series(1, 3) v"));
        int r = 0;

        /* vesa (the column's default too): no display in the body. */
        g_autofree char *j1 = import_body(c, 1, &r, &err);
        ck_assert_msg(r == 0, "%s", err);
        ck_assert_str_eq(j1, "{\"cmdline\":\"console=ttyS0 quiet\",\"disk\":\"/srv/d1.qcow2\","
                             "\"format\":\"qcow2\",\"kernel\":\"/srv/k\",\"mode\":\"copy\","
                             "\"version\":1}");
        /* virtio-gpu: passed on, with the initrd. */
        g_autofree char *j2 = import_body(c, 2, &r, &err);
        ck_assert_msg(r == 0, "%s", err);
        ck_assert_str_eq(j2, "{\"cmdline\":\"console=ttyS0 quiet\",\"disk\":\"/srv/d2.qcow2\","
                             "\"display\":\"virtio-gpu\",\"format\":\"qcow2\",\"initrd\":"
                             "\"/srv/i\",\"kernel\":\"/srv/k\",\"mode\":\"copy\",\"version\":2}");
        /* No kernel, or no such version: refused with the reason, no body. */
        ck_assert_ptr_null(import_body(c, 3, &r, &err));
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_msg(strstr(err, "has no kernel_path"), "%s", err);
        g_clear_pointer(&err, g_free);
        ck_assert_ptr_null(import_body(c, 99, &r, &err));
        ck_assert_int_eq(r, -EINVAL);
        g_clear_pointer(&err, g_free);

        /* The schema's default is vesa; it takes nothing but the two. */
        g_autofree char *def = q1(c, "WITH i AS (SELECT id FROM images WHERE name = 'imgdisp') "
                                     "INSERT INTO image_versions (image_id, version, path) "
                                     "SELECT id, 4, '/srv/d4.qcow2' FROM i RETURNING display");
        ck_assert_str_eq(def, "vesa");
        PGresult *bad = PQexec(c, "UPDATE image_versions SET display = 'cirrus' WHERE path = "
                                  "'/srv/d4.qcow2'");
        ck_assert_int_eq(PQresultStatus(bad), PGRES_FATAL_ERROR);
        ck_assert_str_eq(PQresultErrorField(bad, PG_DIAG_CONSTRAINT_NAME),
                         "image_versions_display_check");
        PQclear(bad);
        g_free(q1(c, "DELETE FROM image_versions WHERE image_id = (SELECT id FROM images "
                     "WHERE name = 'imgdisp')"));
        g_free(q1(c, "DELETE FROM images WHERE name = 'imgdisp'"));
        PQfinish(c);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("pools-loop");
        TCase *tc = tcase_create("loop");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 900);
        /* In the KVM lab (VDI_POOLS_REAL_VM=1) only the cases whose guests
         * are real: the others ran already outside it, and the lab's one
         * slow vCPU is the test command's scarcest resource. */
        if (g_strcmp0(getenv("VDI_POOLS_REAL_VM"), "1") != 0) {
                tcase_add_test(tc, test_one_leader_and_takeover);
                tcase_add_test(tc, test_release_timer_and_tickets);
                tcase_add_test(tc, test_image_import_body);
        }
        tcase_add_test(tc, test_pool_lifecycle_with_real_hostd);
        tcase_add_test(tc, test_instant_pool);
        suite_add_tcase(s, tc);
        return s;
}
