/* Counters and histograms for /metrics (broker/metrics.h). */
#include "config.h"

#include "broker/metrics.h"

#include <time.h>

static const char *const phase_names[PHASE_COUNT] = {
        [PHASE_THROTTLE] = "throttle",     [PHASE_LDAP] = "ldap",
        [PHASE_SESSION] = "session",       [PHASE_ENTITLEMENT] = "entitlement",
        [PHASE_CLAIM] = "claim",           [PHASE_TICKET] = "ticket",
        [PHASE_FILE] = "file",             [PHASE_TOTAL_LOGIN] = "login_total",
        [PHASE_TOTAL_LAUNCH] = "launch_total",
};

static const char *const failure_names[LOGIN_FAIL_COUNT] = {
        [LOGIN_FAIL_CREDENTIALS] = "invalid_credentials",
        [LOGIN_FAIL_THROTTLED] = "throttled",
        [LOGIN_FAIL_DIRECTORY] = "directory_unavailable",
        [LOGIN_FAIL_BAD_REQUEST] = "bad_request",
        [LOGIN_FAIL_INTERNAL] = "internal",
};

static const char *const launch_names[LAUNCH_RESULT_COUNT] = {
        [LAUNCH_OK] = "ok",
        [LAUNCH_NO_DESKTOP] = "no_desktop",
        [LAUNCH_HOST_UNREACHABLE] = "host_unreachable",
        [LAUNCH_HOST_ERROR] = "host_error",
        [LAUNCH_DENIED] = "denied",
        [LAUNCH_FAILED] = "failed",
};

/* Upper bounds in seconds (Prometheus "le"). */
static const double bucket_le[BROKER_HIST_BUCKETS] = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

const char *broker_phase_name(enum broker_phase p)
{
        return p < PHASE_COUNT ? phase_names[p] : "unknown";
}

int64_t broker_now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void broker_timer_start(struct broker_timer *t)
{
        *t = (struct broker_timer){ 0 };
        t->start_us = t->phase_start_us = broker_now_us();
}

void broker_timer_mark(struct broker_timer *t, enum broker_phase p)
{
        int64_t now = broker_now_us();
        if (p < PHASE_COUNT) {
                t->us[p] += now - t->phase_start_us;
                t->done[p] = true;
        }
        t->phase_start_us = now;
}

static void add(uint64_t *v, uint64_t n)
{
        __atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *v)
{
        return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void broker_metrics_login_ok(struct broker_metrics *m)
{
        add(&m->logins_ok, 1);
}

void broker_metrics_login_failed(struct broker_metrics *m, enum broker_login_failure why)
{
        if (why < LOGIN_FAIL_COUNT)
                add(&m->login_failures[why], 1);
}

void broker_metrics_launch(struct broker_metrics *m, enum broker_launch_result result)
{
        if (result < LAUNCH_RESULT_COUNT)
                add(&m->launches[result], 1);
}

void broker_metrics_phase(struct broker_metrics *m, enum broker_phase p, int64_t us)
{
        struct broker_histogram *h;
        double s = (double)us / 1e6;

        if (p >= PHASE_COUNT || us < 0)
                return;
        h = &m->phases[p];
        for (size_t i = 0; i < BROKER_HIST_BUCKETS; i++)
                if (s <= bucket_le[i]) {
                        add(&h->buckets[i], 1);
                        break;
                }
        add(&h->count, 1);
        add(&h->sum_us, (uint64_t)us);
}

void broker_metrics_format(const struct broker_metrics *m, GString *out)
{
        uint64_t total = get(&m->logins_ok);

        for (size_t i = 0; i < LOGIN_FAIL_COUNT; i++)
                total += get(&m->login_failures[i]);
        g_string_append(out, "# HELP vdi_logins_total Sign-in attempts handled by this broker.\n"
                             "# TYPE vdi_logins_total counter\n");
        g_string_append_printf(out, "vdi_logins_total %" G_GUINT64_FORMAT "\n", total);
        g_string_append(out, "# HELP vdi_logins_succeeded_total Successful sign-ins.\n"
                             "# TYPE vdi_logins_succeeded_total counter\n");
        g_string_append_printf(out, "vdi_logins_succeeded_total %" G_GUINT64_FORMAT "\n",
                               get(&m->logins_ok));
        g_string_append(out, "# HELP vdi_login_failures_total Failed sign-ins by reason.\n"
                             "# TYPE vdi_login_failures_total counter\n");
        for (size_t i = 0; i < LOGIN_FAIL_COUNT; i++)
                g_string_append_printf(out,
                                       "vdi_login_failures_total{reason=\"%s\"} %" G_GUINT64_FORMAT
                                       "\n",
                                       failure_names[i], get(&m->login_failures[i]));
        g_string_append(out, "# HELP vdi_launches_total Desktop launches by result.\n"
                             "# TYPE vdi_launches_total counter\n");
        for (size_t i = 0; i < LAUNCH_RESULT_COUNT; i++)
                g_string_append_printf(out,
                                       "vdi_launches_total{result=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                       launch_names[i], get(&m->launches[i]));
        g_string_append(out, "# HELP vdi_phase_duration_seconds Sign-in and launch latency "
                             "per phase.\n"
                             "# TYPE vdi_phase_duration_seconds histogram\n");
        for (size_t p = 0; p < PHASE_COUNT; p++) {
                const struct broker_histogram *h = &m->phases[p];
                uint64_t cum = 0;
                for (size_t i = 0; i < BROKER_HIST_BUCKETS; i++) {
                        cum += get(&h->buckets[i]);
                        g_string_append_printf(out,
                                               "vdi_phase_duration_seconds_bucket{phase=\"%s\","
                                               "le=\"%g\"} %" G_GUINT64_FORMAT "\n",
                                               phase_names[p], bucket_le[i], cum);
                }
                g_string_append_printf(out,
                                       "vdi_phase_duration_seconds_bucket{phase=\"%s\",le=\"+Inf\"}"
                                       " %" G_GUINT64_FORMAT "\n",
                                       phase_names[p], get(&h->count));
                g_string_append_printf(out,
                                       "vdi_phase_duration_seconds_sum{phase=\"%s\"} %.6f\n",
                                       phase_names[p], (double)get(&h->sum_us) / 1e6);
                g_string_append_printf(out,
                                       "vdi_phase_duration_seconds_count{phase=\"%s\"} %"
                                       G_GUINT64_FORMAT "\n",
                                       phase_names[p], get(&h->count));
        }
}
