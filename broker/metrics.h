/* Per-process counters and latency histograms for /metrics (Prometheus
 * text format 0.0.4). Updated lock-free from handler threads. Desktop
 * counts by state are read from the database at scrape time, so every
 * broker reports the same cluster-wide figures for them. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Phases of a sign-in and of a launch, timed and stored per request in
 * login_timings (the phase column holds the names below). */
enum broker_phase {
        PHASE_THROTTLE,    /* login: failure counters in PostgreSQL */
        PHASE_LDAP,        /* login: directory search, bind, groups */
        PHASE_SESSION,     /* login: session row */
        PHASE_ENTITLEMENT, /* launch: pool lookup + entitlement check */
        PHASE_CLAIM,       /* launch: claim or find the user's desktop */
        PHASE_TICKET,      /* launch: one-time ticket from the desktop's host */
        PHASE_FILE,        /* launch: connection file */
        PHASE_TOTAL_LOGIN,
        PHASE_TOTAL_LAUNCH,
        PHASE_COUNT,
};

const char *broker_phase_name(enum broker_phase p);

enum broker_login_failure {
        LOGIN_FAIL_CREDENTIALS,
        LOGIN_FAIL_THROTTLED,
        LOGIN_FAIL_DIRECTORY,
        LOGIN_FAIL_BAD_REQUEST,
        LOGIN_FAIL_INTERNAL,
        LOGIN_FAIL_COUNT,
};

enum broker_launch_result {
        LAUNCH_OK,
        LAUNCH_NO_DESKTOP,
        LAUNCH_HOST_UNREACHABLE,
        LAUNCH_HOST_ERROR,
        LAUNCH_DENIED,
        LAUNCH_FAILED,
        LAUNCH_RESULT_COUNT,
};

#define BROKER_HIST_BUCKETS 14

struct broker_histogram {
        uint64_t buckets[BROKER_HIST_BUCKETS]; /* not cumulative; +Inf is count */
        uint64_t count;
        uint64_t sum_us;
};

struct broker_metrics {
        uint64_t logins_ok;
        uint64_t login_failures[LOGIN_FAIL_COUNT];
        uint64_t launches[LAUNCH_RESULT_COUNT];
        struct broker_histogram phases[PHASE_COUNT];
};

void broker_metrics_login_ok(struct broker_metrics *m);
void broker_metrics_login_failed(struct broker_metrics *m, enum broker_login_failure why);
void broker_metrics_launch(struct broker_metrics *m, enum broker_launch_result result);
void broker_metrics_phase(struct broker_metrics *m, enum broker_phase p, int64_t us);

/* Append the Prometheus text of m to out. */
void broker_metrics_format(const struct broker_metrics *m, GString *out);

/* Per-request phase durations, collected while handling one request and
 * then stored (login_timings) and added to the histograms. */
struct broker_timer {
        int64_t start_us;
        int64_t phase_start_us;
        int64_t us[PHASE_COUNT];
        bool done[PHASE_COUNT];
};

int64_t broker_now_us(void);
void broker_timer_start(struct broker_timer *t);
/* End the phase that started at the previous mark (or at start). */
void broker_timer_mark(struct broker_timer *t, enum broker_phase p);
