/* bench/provision (DESIGN.md §10): provisioning a pool.
 *
 *   1. Per-clone cost: a linked clone made through vdi-hostd's API
 *      (PUT /api/v1/vms/{id}: HTTPS + mutual TLS, overlay, vm.json,
 *      fsync) against `qemu-img create -f qcow2 -b BASE -F qcow2`, the
 *      command an admin would script instead, both on the same base.
 *   2. Pool created → N desktops ready: the reconcile loop (pools/) against
 *      the harness PostgreSQL and a real vdi-hostd, counting desktops the
 *      host reports started. Without /dev/kvm the host runs a process
 *      stand-in for vdi-vm (tests/hostd/sleeper-vm), so this measures
 *      provisioning (rows, image import, clones, processes), not boots.
 *
 * Usage: bench/provision [N]   (default N = 20). Ends with the RESULT
 * line for the per-clone cost (ours/theirs, lower is better). */
#include "config.h"

#include <curl/curl.h>
#include <glib.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/harness.h"
#include "hostd-proc.h"
#include "log.h"
#include "pools/loop.h"
#include "sql/db.h"

#ifndef QEMU_IMG
#define QEMU_IMG "qemu-img"
#endif

static double now_ms(void)
{
        return (double)g_get_monotonic_time() / 1000.0;
}

static long count(PGconn *c, const char *sql)
{
        PGresult *r = PQexec(c, sql);
        long n = PQresultStatus(r) == PGRES_TUPLES_OK ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
        return n;
}

int main(int argc, char **argv)
{
        int n = argc > 1 ? atoi(argv[1]) : 20;
        const char *src = getenv("abs_top_srcdir") ? getenv("abs_top_srcdir") : TOP_SRCDIR;
        struct harness_pg *pg = NULL;
        struct hostd_proc hp = { 0 };
        g_autofree char *pki = NULL, *base = NULL, *cmd = NULL, *err = NULL, *sql = NULL;
        g_autofree char *img = NULL, *crt = NULL, *key = NULL, *ca = NULL;
        PGconn *c = NULL;
        double t0, ours = 0, theirs = 0;
        struct db *db = NULL;
        int rc = 1;

        if (n < 1 || n > 500) {
                fprintf(stderr, "usage: bench/provision [N 1..500]\n");
                return 2;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        log_setup("bench-provision", LOG_LEVEL_ERROR);
        pki = g_dir_make_tmp("vdi-bench-prov-XXXXXX", NULL);
        if (!pki || hostd_proc_pki(pki) < 0 || harness_pg_start(&pg) < 0) {
                fprintf(stderr, "provision: cannot set up PKI or PostgreSQL\n");
                goto out;
        }
        struct db_config dc = { .conninfo = pg->conninfo };
        if (db_open(&dc, &db, &err) < 0 || db_migrate(db, true, &err) < 0) {
                fprintf(stderr, "provision: %s\n", err);
                goto out;
        }
        hp.pki = pki;
        hp.conninfo = pg->conninfo;
        hp.name = "bench-host";
        hp.vm_binary = g_strdup_printf("%s/tests/hostd/sleeper-vm", src);
        if (hostd_proc_start(&hp) < 0)
                goto out;
        base = g_build_filename(hp.dir, "golden.qcow2", NULL);
        cmd = g_strdup_printf("%s create -q -f qcow2 %s 10G && head -c 4096 /dev/urandom > "
                              "%s/vmlinuz && mkdir -p %s/qi",
                              QEMU_IMG, base, hp.dir, hp.dir);
        if (system(cmd) != 0)
                goto out;

        /* 1. Per-clone cost. */
        img = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", "
                                               "\"disk\": \"%s\", \"mode\": \"link\"}",
                                               hp.dir, base);
        struct hostd_reply r;
        hostd_req(&hp, "PUT", "/api/v1/images/golden", img, CERT_CLIENT, &r);
        if (r.status != 201) {
                fprintf(stderr, "provision: image import: %ld %s\n", r.status, r.raw);
                hostd_reply_clear(&r);
                goto out;
        }
        hostd_reply_clear(&r);
        for (int i = 0; i < n; i++) {
                g_autofree char *path = g_strdup_printf("/api/v1/vms/clone-%d", i);
                t0 = now_ms();
                hostd_req(&hp, "PUT", path, "{\"image\": \"golden\"}", CERT_CLIENT, &r);
                ours += now_ms() - t0;
                if (r.status != 201) {
                        fprintf(stderr, "provision: clone %d: %ld %s\n", i, r.status, r.raw);
                        hostd_reply_clear(&r);
                        goto out;
                }
                hostd_reply_clear(&r);
                g_autofree char *q = g_strdup_printf(
                        "%s create -q -f qcow2 -b %s -F qcow2 %s/qi/clone-%d.qcow2", QEMU_IMG,
                        base, hp.dir, i);
                t0 = now_ms();
                if (system(q) != 0)
                        goto out;
                theirs += now_ms() - t0;
        }
        ours /= n;
        theirs /= n;
        printf("linked clone, mean of %d: vdi-hostd API %.2f ms (HTTPS+mTLS request, overlay, "
               "record, fsync); qemu-img create -b %.2f ms\n",
               n, ours, theirs);

        /* 2. Pool created → N desktops provisioned and started. */
        c = PQconnectdb(pg->conninfo);
        sql = g_strdup_printf(
                "WITH i AS (INSERT INTO images (name) VALUES ('golden') RETURNING id), "
                "v AS (INSERT INTO image_versions (image_id, version, path, kernel_path, state) "
                "SELECT id, 1, '%s', '%s/vmlinuz', 'published' FROM i RETURNING id) "
                "INSERT INTO pools (name, kind, image_version_id, min_size, max_size, ready_size, "
                "vcpus, memory_mb) SELECT 'bench', 'floating', id, %d, %d, %d, 1, 64 FROM v",
                base, hp.dir, n, n, n);
        PQclear(PQexec(c, sql));
        /* Wait for the host's registration first (heartbeat). */
        for (int i = 0; i < 100 && count(c, "SELECT count(*) FROM hosts WHERE state = 'up'") < 1;
             i++)
                g_usleep(50 * 1000);
        crt = g_strdup_printf("%s/client.pem", pki);
        key = g_strdup_printf("%s/client.key", pki);
        ca = g_strdup_printf("%s/ca.pem", pki);
        struct pool_loop_config cfg = {
                .hosts = { .cert_file = crt, .key_file = key, .ca_file = ca },
                .policy = { .heartbeat_timeout_s = 30, .provision_timeout_s = 300,
                            .max_failures = 3, .retry_backoff_s = 15, .vcpu_overcommit = 1000 },
        };
        t0 = now_ms();
        int passes = 0;
        long ready = 0;
        while (now_ms() - t0 < 120000) {
                g_autofree char *e = NULL;
                if (pool_reconcile_once(c, &cfg, NULL, &e) < 0) {
                        fprintf(stderr, "provision: %s\n", e);
                        break;
                }
                passes++;
                ready = count(c, "SELECT count(*) FROM desktops WHERE state = 'ready'");
                if (ready >= n)
                        break;
                g_usleep(20 * 1000);
        }
        double pool_ms = now_ms() - t0;
        printf("pool created -> %ld/%d desktops ready (clone + VM process; no guest boot "
               "without /dev/kvm): %.0f ms, %d loop passes, %.1f ms per desktop\n",
               ready, n, pool_ms, passes, pool_ms / n);
        printf("note: this tree is built with sanitizers when configured so; compare ratios, "
               "not absolute times\n");
        if (ready < n)
                goto out;
        printf("RESULT provision ours=%.3fms theirs=%.3fms ratio=%.2f better=lower\n", ours,
               theirs, ours / theirs);
        rc = 0;
out:
        PQfinish(c);
        hostd_proc_destroy(&hp);
        db_close(db);
        harness_pg_stop(pg);
        if (pki) {
                g_autofree char *rm = g_strdup_printf("rm -rf %s", pki);
                (void)!system(rm);
        }
        return rc;
}
