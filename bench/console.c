/* bench/console (issue 24): the admin console's live overview,
 * GET /api/v1/admin/overview, against a real vdi-brokerd (in this
 * process, bench/broker-env.h) with real PostgreSQL holding synthetic
 * inventory: 100 hosts, 20 pools, 1,000 desktops in every state plus 500
 * deleted ones, their assignments and connections, and a day of sign-in
 * timings. Reported: the overview's response time (client side, over
 * HTTPS, p50/p99), the process's CPU per refresh, and sign-in throughput
 * alone and with ten consoles open (each polling once a second, five
 * times as often as the page does). Goal: under 100 ms per refresh and
 * sign-ins unchanged. There is no other tool to compare with:
 * theirs=none.
 *
 *   bench/console      BENCH_REFRESHES=N (200), BENCH_LOGINS=N (300)
 */
#include "config.h"

#include <curl/curl.h>
#include <glib.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/broker-env.h"
#include "log.h"

#define CONSOLES 10
#define LOGIN_THREADS 4

static struct bench_broker env;
static atomic_bool consoles_run;

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
        if (ud)
                g_string_append_len(ud, p, (gssize)(sz * n));
        return sz * n;
}

/* A curl handle with its own cookie jar (one browser). */
static CURL *browser(void)
{
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
        curl_easy_setopt(h, CURLOPT_CAINFO, env.ca);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        return h;
}

/* POST /api/v1/login; the HTTP status. */
static long sign_in(CURL *h, const char *user)
{
        g_autofree char *url = g_strdup_printf("%s/api/v1/login", env.base);
        g_autofree char *body = g_strdup_printf("{\"username\":\"%s\",\"password\":\"%s-pw\"}",
                                                user, user);
        struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        long status = 0;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
        if (curl_easy_perform(h) == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdrs);
        return status;
}

/* GET the overview; its size in bytes, or -1. */
static long overview(CURL *h)
{
        g_autofree char *url = g_strdup_printf("%s/api/v1/admin/overview", env.base);
        GString *out = g_string_new(NULL);
        long status = 0, len;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
        if (curl_easy_perform(h) == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        len = status == 200 && out->len > 2 ? (long)out->len : -1;
        g_string_free(out, TRUE);
        return len;
}

static void seed(void)
{
        PGconn *pg = PQconnectdb(env.pg->conninfo);
        PGresult *r = PQexec(
                pg,
                "INSERT INTO images (name) VALUES ('deb12');"
                "INSERT INTO image_versions (image_id, version, path, state)"
                " VALUES (1, 1, '/img/deb12.qcow2', 'published');"
                "INSERT INTO hosts (name, address, port, vcpus, memory_mb, last_heartbeat)"
                " SELECT format('h%s', lpad(g::text, 3, '0')), '127.0.0.1', 9000 + g, 64, 262144,"
                "  now() - (g % 7) * interval '1 second' FROM generate_series(1, 100) g;"
                "UPDATE hosts SET last_heartbeat = now() - interval '10 minutes' WHERE id % 25 = 0;"
                "INSERT INTO pools (name, display_name, kind, image_version_id, max_size,"
                " ready_size, vcpus, memory_mb)"
                " SELECT format('p%s', lpad(g::text, 2, '0')), format('Pool %s', g), 'floating',"
                "  1, 80, 10, 2, 4096 FROM generate_series(1, 20) g;"
                "INSERT INTO pool_entitlements (pool_id, kind, subject)"
                " SELECT id, 'group', 'cn=staff,ou=groups,dc=example,dc=org' FROM pools;"
                /* 1,000 live desktops: 60% ready, 20% in use, 10% assigned,
                 * 5% provisioning, 3% error, 2% stopped. */
                "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state)"
                " SELECT 1 + g % 20, 1 + g % 100, 1, format('d%s', g),"
                "  CASE WHEN g % 100 < 60 THEN 'ready' WHEN g % 100 < 80 THEN 'in_use'"
                "   WHEN g % 100 < 90 THEN 'assigned' WHEN g % 100 < 95 THEN 'provisioning'"
                "   WHEN g % 100 < 98 THEN 'error' ELSE 'stopped' END"
                " FROM generate_series(1, 1000) g;"
                /* 500 deleted ones: tombstones without a host. */
                "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state)"
                " SELECT 1 + g % 20, NULL, 1, format('old%s', g), 'deleting'"
                " FROM generate_series(1, 500) g;"
                "INSERT INTO assignments (pool_id, desktop_id, user_name)"
                " SELECT pool_id, id, 'user' || id FROM desktops"
                " WHERE state IN ('in_use', 'assigned');"
                "INSERT INTO desktop_sessions (desktop_id, user_name, protocol, client_addr)"
                " SELECT id, 'user' || id, 'rdp', '192.0.2.1' FROM desktops WHERE state = 'in_use';"
                /* A day of sign-ins and launches, 6 phases each, busier in
                 * the last 15 minutes. */
                "INSERT INTO login_timings (at, request_id, user_name, phase, duration_us)"
                " SELECT now() - g * interval '3 seconds', 'r' || g, 'user' || (g % 500), ph,"
                "  1000 + (g * 7919) % 200000"
                " FROM generate_series(1, 28800) g,"
                "  unnest(ARRAY['throttle', 'ldap', 'session', 'login_total', 'claim',"
                "   'launch_total']) ph;"
                "ANALYZE");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "console: seed: %s", PQerrorMessage(pg));
                exit(1);
        }
        PQclear(r);
        PQfinish(pg);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static void *console_thread(void *arg)
{
        CURL *h = browser();
        int *failures = arg;
        if (sign_in(h, "dave") != 200)
                (*failures)++;
        while (atomic_load(&consoles_run)) {
                if (overview(h) < 0)
                        (*failures)++;
                for (int i = 0; i < 10 && atomic_load(&consoles_run); i++)
                        g_usleep(100000);
        }
        curl_easy_cleanup(h);
        return NULL;
}

struct login_worker {
        int n, failures;
};

static void *login_thread(void *arg)
{
        static const char *const users[] = { "alice", "bob", "carol" };
        struct login_worker *w = arg;
        CURL *h = browser();
        for (int i = 0; i < w->n; i++)
                w->failures += sign_in(h, users[i % 3]) != 200;
        curl_easy_cleanup(h);
        return NULL;
}

/* Sign-ins per second with LOGIN_THREADS clients, total sign-ins. */
static double login_rate(int total, int *failures)
{
        pthread_t t[LOGIN_THREADS];
        struct login_worker w[LOGIN_THREADS];
        double start = bench_now_s();
        for (int i = 0; i < LOGIN_THREADS; i++) {
                w[i] = (struct login_worker){ .n = total / LOGIN_THREADS };
                pthread_create(&t[i], NULL, login_thread, &w[i]);
        }
        for (int i = 0; i < LOGIN_THREADS; i++) {
                pthread_join(t[i], NULL);
                *failures += w[i].failures;
        }
        return (total / LOGIN_THREADS * LOGIN_THREADS) / (bench_now_s() - start);
}

int main(void)
{
        int refreshes = bench_env_count("BENCH_REFRESHES", 200);
        int logins = bench_env_count("BENCH_LOGINS", 300);
        int failures = 0, console_failures = 0;
        struct rusage r0, r1;
        long bytes = 0;

        log_setup("console", LOG_LEVEL_ERROR);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        bench_broker_start(&env, "console", 8,
                           "[admin]\ngroups = cn=vdi-admins,ou=groups,dc=example,dc=org\n"
                           "[throttle]\naccount_failures = 1000\naddress_failures = 100000\n");
        seed();

        CURL *admin = browser();
        if (sign_in(admin, "dave") != 200) {
                fprintf(stderr, "console: dave cannot sign in\n");
                return 1;
        }
        for (int i = 0; i < 10; i++) /* warm-up */
                bytes = overview(admin);
        double *ms = g_new(double, (size_t)refreshes);
        getrusage(RUSAGE_SELF, &r0);
        for (int i = 0; i < refreshes; i++) {
                double t = bench_now_s();
                long n = overview(admin);
                ms[i] = (bench_now_s() - t) * 1000;
                failures += n < 0;
        }
        getrusage(RUSAGE_SELF, &r1);
        double cpu_ms = ((double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec +
                                  r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000 +
                         (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec +
                                  r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1000) /
                        refreshes;
        qsort(ms, (size_t)refreshes, sizeof(double), cmp_double);
        double p50 = ms[refreshes / 2], p99 = ms[(refreshes * 99) / 100];

        /* Alternate rounds without and with the consoles, so a machine
         * that gets busier or quieter meanwhile weighs on both alike. */
        login_rate(LOGIN_THREADS * 20, &failures); /* warm-up: pools, caches */
        double alone = 0, with = 0;
        for (int round = 0; round < 3; round++) {
                alone += login_rate(logins / 3, &failures) / 3;
                pthread_t consoles[CONSOLES];
                atomic_store(&consoles_run, true);
                for (int i = 0; i < CONSOLES; i++)
                        pthread_create(&consoles[i], NULL, console_thread, &console_failures);
                g_usleep(500000);
                with += login_rate(logins / 3, &failures) / 3;
                atomic_store(&consoles_run, false);
                for (int i = 0; i < CONSOLES; i++)
                        pthread_join(consoles[i], NULL);
        }

        printf("console: overview of 100 hosts, 20 pools, 1000 desktops (+500 deleted), "
               "172800 timing rows; %ld bytes of JSON\n", bytes);
        printf("  overview over HTTPS: p50=%.2f ms  p99=%.2f ms  (%d refreshes, goal < 100 ms)\n",
               p50, p99, refreshes);
        printf("  CPU of this process (broker, PostgreSQL client and the HTTPS client) per "
               "refresh: %.2f ms\n", cpu_ms);
        printf("  sign-ins (%d clients, mean of 3 alternating rounds): %.1f/s alone, %.1f/s "
               "with %d consoles polling every second (ratio %.3f)\n",
               LOGIN_THREADS, alone, with, CONSOLES, with / alone);
        printf("  failures: %d requests, %d console polls\n", failures, console_failures);
#ifdef __SANITIZE_ADDRESS__
        printf("  note: this build has AddressSanitizer; absolute figures are slower than a "
               "release build\n");
#endif
        printf("RESULT console ours=%.2fms theirs=none ratio=none better=lower\n", p50);
        g_free(ms);
        curl_easy_cleanup(admin);
        bench_broker_stop(&env);
        curl_global_cleanup();
        return failures || console_failures ? 1 : 0;
}
