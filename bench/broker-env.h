/* A real vdi-brokerd for benchmarks (bench/login-storm, bench/console):
 * PostgreSQL and slapd from the test harness, a throwaway PKI, the broker
 * in this process exactly as the daemon runs it, on a free port. */
#pragma once

#include "broker/broker.h"
#include "harness/harness.h"

struct bench_broker {
        struct harness_pg *pg;
        struct harness_ldap *ldap;
        char *pki;  /* PKI directory (ca.pem, server.pem, client.pem, ...) */
        char *ca;   /* pki/ca.pem */
        char *base; /* https://127.0.0.1:PORT */
        struct broker_config cfg;
        struct broker *b;
};

/* Start everything with threads HTTP threads and database and LDAP
 * connections; extra_ini (may be NULL) is appended to the config (keys of
 * [portal], the last group, or new groups). Prints the reason and exits 1
 * on failure: a benchmark without its stack has nothing to measure. */
void bench_broker_start(struct bench_broker *e, const char *name, int threads,
                        const char *extra_ini);
void bench_broker_stop(struct bench_broker *e);

/* Monotonic time in seconds. */
double bench_now_s(void);
/* A positive integer from the environment variable name, else def. */
int bench_env_count(const char *name, int def);
