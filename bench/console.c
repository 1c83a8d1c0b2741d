/* bench/console (issue 24): the admin console's live overview,
 * GET /api/v1/admin/overview, against a real vdi-brokerd (in this
 * process, bench/broker-env.h) with real PostgreSQL holding synthetic
 * inventory: 100 hosts, 20 pools, 1,000 desktops in every state plus 500
 * deleted ones, their assignments and connections, and a day of sign-in
 * timings. Reported: the overview's response time (client side, over
 * HTTPS, p50/p99); the broker's CPU while ten consoles are open, each
 * polling the overview as the page does (every 5 s), in CPU seconds per
 * minute (the process's CPU less what the consoles' own threads used:
 * the broker's HTTP workers and their PostgreSQL client, not the
 * database server); and sign-in throughput alone and with ten consoles
 * open (each polling once a second, five times as often as the page
 * does). Goal: under 100 ms per refresh and sign-ins unchanged. There is
 * no other tool to compare with: theirs=none.
 *
 *   bench/console      BENCH_REFRESHES=N (200), BENCH_LOGINS=N (1000),
 *                      BENCH_CPU_S=N (60: the CPU window in seconds)
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
#include <time.h>

#include "bench/broker-env.h"
#include "log.h"

#define CONSOLES 10
#define LOGIN_THREADS 4
#define ROUNDS 5

static struct bench_broker env;
static atomic_bool consoles_run;
static int console_period_ms = 1000; /* between one console's polls */
static atomic_llong consoles_cpu_ns; /* CPU the console threads used while polling */
static atomic_int consoles_signed_in;
static atomic_bool consoles_poll;      /* set once every console signed in */

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

static long long cpu_ns(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One open console: signs in, waits for consoles_poll, then polls the
 * overview every console_period_ms until consoles_run is cleared; adds
 * the CPU its own thread used meanwhile (TLS, HTTP, JSON on the client
 * side) to consoles_cpu_ns. */
static void *console_thread(void *arg)
{
        CURL *h = browser();
        atomic_int *failures = arg;
        if (sign_in(h, "dave") != 200)
                atomic_fetch_add(failures, 1);
        atomic_fetch_add(&consoles_signed_in, 1);
        while (!atomic_load(&consoles_poll) && atomic_load(&consoles_run))
                g_usleep(10000);
        long long t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        while (atomic_load(&consoles_run)) {
                if (overview(h) < 0)
                        atomic_fetch_add(failures, 1);
                for (int i = 0; i < console_period_ms / 100 && atomic_load(&consoles_run); i++)
                        g_usleep(100000);
        }
        curl_easy_cleanup(h);
        atomic_fetch_add(&consoles_cpu_ns, cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0);
        return NULL;
}

/* Open CONSOLES consoles and wait until each has signed in. */
static void consoles_open(pthread_t *t, atomic_int *failures)
{
        atomic_store(&consoles_run, true);
        atomic_store(&consoles_poll, false);
        atomic_store(&consoles_signed_in, 0);
        for (int i = 0; i < CONSOLES; i++)
                pthread_create(&t[i], NULL, console_thread, failures);
        while (atomic_load(&consoles_signed_in) < CONSOLES)
                g_usleep(10000);
}

static void consoles_close(pthread_t *t)
{
        atomic_store(&consoles_run, false);
        for (int i = 0; i < CONSOLES; i++)
                pthread_join(t[i], NULL);
}

/* The broker's CPU seconds per minute with CONSOLES consoles open (signed
 * in before the window) polling at the page's rate for s seconds: the
 * process's CPU (the main thread only sleeps) less the consoles' threads'. */
static double broker_cpu_per_min(int s, atomic_int *failures)
{
        pthread_t t[CONSOLES];
        console_period_ms = 5000;
        atomic_store(&consoles_cpu_ns, 0);
        consoles_open(t, failures);
        long long p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        double w0 = bench_now_s();
        atomic_store(&consoles_poll, true);
        g_usleep((gulong)s * 1000000);
        consoles_close(t);
        long long broker_ns = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - p0 -
                              atomic_load(&consoles_cpu_ns);
        console_period_ms = 1000;
        return (double)broker_ns / 1e9 * 60 / (bench_now_s() - w0);
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
        int logins = bench_env_count("BENCH_LOGINS", 1000);
        int cpu_s = bench_env_count("BENCH_CPU_S", 60);
        int failures = 0;
        atomic_int console_failures = 0;
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

        double cpu_min = broker_cpu_per_min(cpu_s, &console_failures);

        /* Alternate rounds without and with the consoles, so a machine
         * that gets busier or quieter meanwhile weighs on both alike; the
         * ratio is the median of the rounds' own (a neighbour's burst
         * spoils one round, not the figure). */
        login_rate(LOGIN_THREADS * 20, &failures); /* warm-up: pools, caches */
        double alone = 0, with = 0, ratios[ROUNDS];
        for (int round = 0; round < ROUNDS; round++) {
                double a = login_rate(logins / ROUNDS, &failures);
                pthread_t consoles[CONSOLES];
                consoles_open(consoles, &console_failures);
                atomic_store(&consoles_poll, true);
                g_usleep(500000);
                double w = login_rate(logins / ROUNDS, &failures);
                consoles_close(consoles);
                alone += a / ROUNDS;
                with += w / ROUNDS;
                ratios[round] = w / a;
        }
        qsort(ratios, ROUNDS, sizeof(double), cmp_double);
        double ratio = ratios[ROUNDS / 2];

        printf("console: overview of 100 hosts, 20 pools, 1000 desktops (+500 deleted), "
               "172800 timing rows; %ld bytes of JSON\n", bytes);
        printf("  overview over HTTPS: p50=%.2f ms  p99=%.2f ms  (%d refreshes, goal < 100 ms)\n",
               p50, p99, refreshes);
        printf("  CPU of this process (broker, PostgreSQL client and the HTTPS client) per "
               "refresh: %.2f ms\n", cpu_ms);
        printf("  broker CPU with %d consoles open (each polling every 5 s, as the page does) "
               "for %d s: %.2f CPU s per minute\n", CONSOLES, cpu_s, cpu_min);
        printf("  sign-ins (%d clients, %d alternating rounds): %.1f/s alone, %.1f/s "
               "with %d consoles polling every second (mean); median ratio of the rounds "
               "%.3f (%.3f..%.3f)\n",
               LOGIN_THREADS, ROUNDS, alone, with, CONSOLES, ratio, ratios[0],
               ratios[ROUNDS - 1]);
        printf("  failures: %d requests, %d console polls\n", failures,
               atomic_load(&console_failures));
#ifdef __SANITIZE_ADDRESS__
        printf("  note: this build has AddressSanitizer; absolute figures are slower than a "
               "release build\n");
#endif
        printf("RESULT console ours=%.2fms theirs=none ratio=none better=lower\n", p50);
        printf("RESULT console-overview-p50 ours=%.2fms theirs=none ratio=none better=lower\n",
               p50);
        printf("RESULT console-overview-p99 ours=%.2fms theirs=none ratio=none better=lower\n",
               p99);
        printf("RESULT console-broker-cpu ours=%.3fs/min theirs=none ratio=none "
               "better=lower\n", cpu_min);
        /* ours: with ten consoles open; theirs: none open. */
        printf("RESULT console-login-throughput ours=%.1flogins/s theirs=%.1flogins/s "
               "ratio=%.3f better=higher\n", with, alone, ratio);
        g_free(ms);
        curl_easy_cleanup(admin);
        bench_broker_stop(&env);
        curl_global_cleanup();
        return failures || atomic_load(&console_failures) ? 1 : 0;
}
