/* bench/broker-env.h */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/broker-env.h"

static void die(const char *name, const char *what, const char *why)
{
        fprintf(stderr, "%s: %s: %s\n", name, what, why ? why : "failed");
        exit(1);
}

void bench_broker_start(struct bench_broker *e, const char *name, int threads,
                        const char *extra_ini)
{
        g_autoptr(GError) gerr = NULL;
        char *err = NULL;

        if (harness_pg_start(&e->pg) < 0 || harness_ldap_start(&e->ldap) < 0)
                die(name, "harness", "cannot start PostgreSQL or slapd");
        e->pki = g_dir_make_tmp("vdi-bench-XXXXXX", &gerr);
        if (!e->pki)
                die(name, "make-pki", gerr->message);
        g_autofree char *cmd = g_strdup_printf("%s/make-pki %s", HARNESS_DIR, e->pki);
        if (system(cmd) != 0)
                die(name, "make-pki", NULL);
        e->ca = g_build_filename(e->pki, "ca.pem", NULL);
        g_autofree char *ini = g_strdup_printf(
                "[http]\nlisten = 127.0.0.1\nport = 0\ncert = %1$s/server.pem\n"
                "key = %1$s/server.key\nthreads = %2$d\n"
                "[database]\nconninfo = %3$s\npool_size = %2$d\nauto_migrate = true\n"
                "[ldap]\nuri = %4$s\nbase_dn = %5$s\nbind_dn = %6$s\nbind_password = %7$s\n"
                "ca_file = %8$s\npool_size = %2$d\n"
                "[hosts]\nclient_cert = %1$s/client.pem\nclient_key = %1$s/client.key\n"
                "ca_file = %1$s/ca.pem\n[log]\nlevel = error\n[portal]\nassets = %9$s\n%10$s",
                e->pki, threads, e->pg->conninfo, e->ldap->ldaps_uri, e->ldap->base_dn,
                e->ldap->service_dn, e->ldap->service_pw, e->ldap->ca_file, PORTAL_SRC_DIR,
                extra_ini ? extra_ini : "");
        g_autofree char *conf = g_strdup_printf("%s.conf", name);
        if (conf_load_data(conf, ini, broker_conf_options, broker_conf_options_count, &e->cfg,
                           &err) < 0 ||
            broker_new(&e->cfg, &e->b, &err) < 0 || db_migrate(e->b->db, true, &err) < 0 ||
            broker_start(e->b, &err) < 0)
                die(name, "broker", err);
        e->base = g_strdup_printf("https://127.0.0.1:%u", broker_port(e->b));
}

void bench_broker_stop(struct bench_broker *e)
{
        broker_free(e->b);
        conf_free(broker_conf_options, broker_conf_options_count, &e->cfg);
        harness_ldap_stop(e->ldap);
        harness_pg_stop(e->pg);
        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", e->pki);
        if (system(rm) != 0)
                fprintf(stderr, "cannot remove %s\n", e->pki);
        g_free(e->pki);
        g_free(e->ca);
        g_free(e->base);
}

double bench_now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_env_count(const char *name, int def)
{
        const char *v = getenv(name);
        int n = v ? atoi(v) : 0;
        return n > 0 ? n : def;
}
