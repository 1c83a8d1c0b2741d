/* The reconcile loop thread and its advisory-lock leadership (pools/loop.h). */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pools/internal.h"

struct pool_loop {
        struct pool_loop_config cfg;
        char *conninfo, *name, *cert, *key, *ca;
        struct hostd_conns *conns; /* kept host connections, ours */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool quit, kick, leader;
        int backend_pid;
        unsigned passes;
};

int pool_reconcile_once(void *pgconn, const struct pool_loop_config *cfg,
                        struct pool_actions *done, char **error)
{
        PGconn *c = pgconn;
        struct snapshot_buf sb;
        struct pool_actions acts = { 0 };
        g_autoptr(GHashTable) imported = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        int r;

        r = pool_snapshot_load(c, &sb, error);
        if (r < 0)
                return r;
        r = pool_plan(&sb.snap, &cfg->policy, &acts);
        if (r < 0) {
                *error = g_strdup("out of memory planning");
                pool_snapshot_free(&sb);
                return r;
        }
        for (size_t i = 0; i < acts.n; i++) {
                g_autofree char *err = NULL;
                r = pool_execute(c, cfg, &sb, imported, &acts.v[i], &err);
                if (r < 0) {
                        g_autofree char *quoted = log_quote(err);
                        log_warning("pool_action_error", "action=%s error=%s",
                                    pool_action_name(acts.v[i].kind), quoted);
                        if (PQstatus(c) != CONNECTION_OK) {
                                /* Lost the connection, and with it the lock: stop acting. */
                                *error = g_strdup_printf("database connection lost: %s", err);
                                break;
                        }
                        r = 0;
                }
                if (done) {
                        if (done->n == done->cap) {
                                size_t cap = done->cap ? done->cap * 2 : 16;
                                done->v = g_realloc(done->v, cap * sizeof(*done->v));
                                done->cap = cap;
                        }
                        done->v[done->n++] = acts.v[i];
                }
        }
        pool_actions_clear(&acts);
        pool_snapshot_free(&sb);
        return r;
}

static PGconn *connect_db(struct pool_loop *l)
{
        /* connect_timeout before the conninfo: a conninfo's own wins (the
         * KVM lab's tests, where TCG under load needs more than 5 s). */
        const char *keys[] = { "connect_timeout", "dbname", "application_name", "keepalives",
                               "keepalives_idle", "keepalives_interval", "keepalives_count",
                               NULL };
        const char *vals[] = { "5", l->conninfo, "vdi-pools", "1", "5", "2", "3", NULL };
        PGconn *c = PQconnectdbParams(keys, vals, 1);

        if (PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                return NULL;
        }
        PQclear(PQexec(c, "SET statement_timeout = 30000"));
        return c;
}

static bool try_lock(PGconn *c)
{
        char key[32];
        snprintf(key, sizeof(key), "%lld", (long long)POOL_LOOP_LOCK_KEY);
        const char *p[] = { key };
        PGresult *res = PQexecParams(c, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, p,
                                     NULL, NULL, 0);
        bool got = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        return got;
}

static bool alive(PGconn *c)
{
        PGresult *res = PQexec(c, "SELECT 1");
        bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        return ok && PQstatus(c) == CONNECTION_OK;
}

/* Sleep ms or until kicked/quit; returns false on quit. */
static bool nap(struct pool_loop *l, unsigned ms)
{
        struct timespec dl;
        bool go;

        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += ms / 1000;
        dl.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&l->lock);
        while (!l->quit && !l->kick)
                if (pthread_cond_timedwait(&l->cond, &l->lock, &dl) == ETIMEDOUT)
                        break;
        l->kick = false;
        go = !l->quit;
        pthread_mutex_unlock(&l->lock);
        return go;
}

static void set_state(struct pool_loop *l, bool leader, int pid)
{
        pthread_mutex_lock(&l->lock);
        l->leader = leader;
        l->backend_pid = pid;
        pthread_mutex_unlock(&l->lock);
}

static void *loop_main(void *arg)
{
        struct pool_loop *l = arg;
        PGconn *c = NULL;
        bool leader = false;
        unsigned wait = 0;

        while (nap(l, wait)) {
                wait = l->cfg.interval_ms;
                if (!c) {
                        c = connect_db(l);
                        if (!c) {
                                log_warning("pools_db_unreachable", "broker=%s", l->name);
                                continue;
                        }
                        set_state(l, false, PQbackendPID(c));
                }
                if (!leader) {
                        if (!try_lock(c)) {
                                if (!alive(c)) {
                                        PQfinish(c);
                                        c = NULL;
                                        set_state(l, false, 0);
                                }
                                continue;
                        }
                        leader = true;
                        set_state(l, true, PQbackendPID(c));
                        log_notice("pools_leader", "broker=%s", l->name);
                }
                if (!alive(c)) {
                        /* The server ended our session: the lock is gone with it. */
                        log_warning("pools_leadership_lost", "broker=%s", l->name);
                        PQfinish(c);
                        c = NULL;
                        leader = false;
                        set_state(l, false, 0);
                        wait = l->cfg.takeover_backoff_ms;
                        continue;
                }
                {
                        /* A block of its own: the continues above must not
                         * skip this initialisation inside its scope. */
                        g_autofree char *err = NULL;
                        if (pool_reconcile_once(c, &l->cfg, NULL, &err) < 0) {
                                g_autofree char *quoted = log_quote(err);
                                log_warning("pools_pass_failed", "broker=%s error=%s", l->name,
                                            quoted);
                        }
                }
                pthread_mutex_lock(&l->lock);
                l->passes++;
                pthread_cond_broadcast(&l->cond);
                pthread_mutex_unlock(&l->lock);
        }
        PQfinish(c); /* releases the lock */
        set_state(l, false, 0);
        return NULL;
}

int pool_loop_start(const struct pool_loop_config *cfg, struct pool_loop **out, char **error)
{
        struct pool_loop *l;
        pthread_condattr_t ca;
        int r;

        if (!cfg->conninfo) {
                *error = g_strdup("pool loop: no database conninfo");
                return -EINVAL;
        }
        l = g_new0(struct pool_loop, 1);
        l->cfg = *cfg;
        l->conninfo = g_strdup(cfg->conninfo);
        l->name = g_strdup(cfg->name ? cfg->name : "broker");
        l->cert = g_strdup(cfg->hosts.cert_file);
        l->key = g_strdup(cfg->hosts.key_file);
        l->ca = g_strdup(cfg->hosts.ca_file);
        l->cfg.conninfo = l->conninfo;
        l->cfg.name = l->name;
        l->cfg.hosts.cert_file = l->cert;
        l->cfg.hosts.key_file = l->key;
        l->cfg.hosts.ca_file = l->ca;
        if (!l->cfg.interval_ms)
                l->cfg.interval_ms = 5000;
        if (!l->cfg.takeover_backoff_ms)
                l->cfg.takeover_backoff_ms = 2 * l->cfg.interval_ms;
        if (!l->cfg.policy.heartbeat_timeout_s)
                l->cfg.policy.heartbeat_timeout_s = 30;
        if (!l->cfg.policy.provision_timeout_s)
                l->cfg.policy.provision_timeout_s = 300;
        if (!l->cfg.policy.max_failures)
                l->cfg.policy.max_failures = 3;
        if (!l->cfg.policy.vcpu_overcommit)
                l->cfg.policy.vcpu_overcommit = 4;
        if (!l->cfg.policy.retry_backoff_s)
                l->cfg.policy.retry_backoff_s = 15;
        if (!l->cfg.policy.release_idle_s)
                l->cfg.policy.release_idle_s = 300;
        pthread_mutex_init(&l->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&l->cond, &ca);
        pthread_condattr_destroy(&ca);
        /* One pass calls every host many times: keep the connections. */
        r = hostd_conns_new(&l->conns, error);
        if (r < 0) {
                pool_loop_stop(l);
                return r;
        }
        l->cfg.hosts.conns = l->conns;
        r = pthread_create(&l->thread, NULL, loop_main, l);
        if (r) {
                *error = g_strdup_printf("pool loop: cannot start its thread: %s", g_strerror(r));
                pool_loop_stop(l);
                return -r;
        }
        *out = l;
        return 0;
}

void pool_loop_stop(struct pool_loop *l)
{
        if (!l)
                return;
        pthread_mutex_lock(&l->lock);
        l->quit = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        if (l->thread)
                pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->cond);
        g_free(l->conninfo);
        g_free(l->name);
        g_free(l->cert);
        g_free(l->key);
        g_free(l->ca);
        hostd_conns_free(l->conns);
        g_free(l);
}

bool pool_loop_is_leader(struct pool_loop *l)
{
        bool v;
        pthread_mutex_lock(&l->lock);
        v = l->leader;
        pthread_mutex_unlock(&l->lock);
        return v;
}

int pool_loop_backend_pid(struct pool_loop *l)
{
        int v;
        pthread_mutex_lock(&l->lock);
        v = l->backend_pid;
        pthread_mutex_unlock(&l->lock);
        return v;
}

unsigned pool_loop_passes(struct pool_loop *l)
{
        unsigned v;
        pthread_mutex_lock(&l->lock);
        v = l->passes;
        pthread_mutex_unlock(&l->lock);
        return v;
}

void pool_loop_kick(struct pool_loop *l)
{
        pthread_mutex_lock(&l->lock);
        l->kick = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
}
