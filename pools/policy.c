/* Pool policy (pools/policy.h): snapshot in, actions out. */
#include "config.h"

#include "pools/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
        [DESK_PROVISIONING] = "provisioning", [DESK_READY] = "ready",
        [DESK_ASSIGNED] = "assigned",         [DESK_IN_USE] = "in_use",
        [DESK_REFRESHING] = "refreshing",     [DESK_STOPPED] = "stopped",
        [DESK_ERROR] = "error",               [DESK_DELETING] = "deleting",
        [DESK_SUSPENDED] = "suspended",
};

int pool_desk_state_from_string(const char *s, enum desk_state *out)
{
        for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
                if (strcmp(s, state_names[i]) == 0) {
                        *out = (enum desk_state)i;
                        return 0;
                }
        return -EINVAL;
}

const char *pool_desk_state_name(enum desk_state s)
{
        return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

const char *pool_action_name(enum pool_action_kind k)
{
        static const char *const names[] = {
                [ACT_HOST_DOWN] = "host_down", [ACT_CREATE] = "create",
                [ACT_START] = "start",         [ACT_POWER_OFF] = "power_off", [ACT_SUSPEND] = "suspend",
                [ACT_REFRESH] = "refresh",     [ACT_RECOMPOSE] = "recompose",
                [ACT_DELETE] = "delete",       [ACT_FAIL] = "fail",
                [ACT_QUARANTINE] = "quarantine", [ACT_REPORT] = "report",
        };
        return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

void pool_actions_clear(struct pool_actions *a)
{
        free(a->v);
        memset(a, 0, sizeof(*a));
}

__attribute__((format(printf, 7, 8))) static int add(struct pool_actions *a,
                                                     enum pool_action_kind kind, int64_t pool,
                                                     int64_t desktop, int64_t host, int64_t iv,
                                                     const char *fmt, ...)
{
        struct pool_action *act;
        va_list ap;

        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 16;
                void *v = realloc(a->v, cap * sizeof(*a->v));
                if (!v)
                        return -ENOMEM;
                a->v = v;
                a->cap = cap;
        }
        act = &a->v[a->n++];
        *act = (struct pool_action){ .kind = kind, .pool_id = pool, .desktop_id = desktop,
                                     .host_id = host, .image_version_id = iv };
        if (fmt) {
                va_start(ap, fmt);
                vsnprintf(act->reason, sizeof(act->reason), fmt, ap);
                va_end(ap);
        }
        return 0;
}

/* Powered off or suspended: on its host, holding no CPU or memory until
 * it is started (a suspended one resumes where it stood). */
static bool parked(enum desk_state s)
{
        return s == DESK_STOPPED || s == DESK_SUSPENDED;
}

/* Does a desktop in this state hold CPU and memory on its host? */
static bool occupies(enum desk_state s)
{
        return s == DESK_PROVISIONING || s == DESK_READY || s == DESK_ASSIGNED ||
               s == DESK_IN_USE || s == DESK_REFRESHING;
}

int pool_place(const struct pool_spec *pool, const struct pool_host *hosts, size_t n,
               const bool *host_usable, const int64_t *used_vcpus,
               const int64_t *used_memory_mb, const int *pool_count, const int *vm_count)
{
        int best = -1;
        double best_load = 0;

        for (size_t i = 0; i < n; i++) {
                const struct pool_host *h = &hosts[i];
                if (!host_usable[i] || h->vcpus - used_vcpus[i] < pool->vcpus ||
                    h->memory_mb - used_memory_mb[i] < pool->memory_mb)
                        continue;
                double load = h->memory_mb > 0
                                      ? (double)(used_memory_mb[i] + pool->memory_mb) /
                                                (double)h->memory_mb
                                      : 1.0;
                if (best < 0 || pool_count[i] < pool_count[best] ||
                    (pool_count[i] == pool_count[best] &&
                     (load < best_load ||
                      (load == best_load && vm_count[i] < vm_count[best])))) {
                        best = (int)i;
                        best_load = load;
                }
        }
        return best;
}

static int host_index(const struct pool_snapshot *s, int64_t id)
{
        for (size_t i = 0; i < s->n_hosts; i++)
                if (s->hosts[i].id == id)
                        return (int)i;
        return -1;
}

static const struct pool_spec *pool_of(const struct pool_snapshot *s, int64_t id)
{
        for (size_t i = 0; i < s->n_pools; i++)
                if (s->pools[i].id == id)
                        return &s->pools[i];
        return NULL;
}

/* Deletion preference for surplus desktops: the least useful first. */
static int surplus_rank(enum desk_state st)
{
        switch (st) {
        case DESK_ERROR:
                return 0;
        case DESK_STOPPED:
        case DESK_SUSPENDED:
                return 1;
        case DESK_PROVISIONING:
                return 2;
        case DESK_REFRESHING:
                return 3;
        default:
                return 4;
        }
}

int pool_plan(const struct pool_snapshot *s, const struct pool_policy *p,
              struct pool_actions *out)
{
        size_t nh = s->n_hosts, nd = s->n_desktops;
        struct pool_host *hosts = calloc(nh + 1, sizeof(*hosts));
        bool *usable = calloc(nh + 1, sizeof(bool));
        int64_t *used_cpu = calloc(nh + 1, sizeof(int64_t));
        int64_t *used_mem = calloc(nh + 1, sizeof(int64_t));
        int *vms = calloc(nh + 1, sizeof(int));
        int *pcount = calloc(nh + 1, sizeof(int));
        /* Per desktop: 0 untouched, 1 an action planned, 2 leaving (deleted). */
        unsigned char *acted = calloc(nd + 1, 1);
        int r = -ENOMEM;

        if (!hosts || !usable || !used_cpu || !used_mem || !vms || !pcount || !acted)
                goto out;
        r = 0;
        /* Placement sees vCPU capacity with the overcommit applied. */
        for (size_t i = 0; i < nh; i++) {
                hosts[i] = s->hosts[i];
                hosts[i].vcpus *= p->vcpu_overcommit > 0 ? p->vcpu_overcommit : 1;
        }

        /* 1. Hosts: silent ones are down. */
        for (size_t i = 0; i < nh; i++) {
                const struct pool_host *h = &s->hosts[i];
                bool stale = h->heartbeat_age_s < 0 || h->heartbeat_age_s > p->heartbeat_timeout_s;
                usable[i] = h->up && !stale;
                if (h->up && stale) {
                        if (h->heartbeat_age_s < 0)
                                r = add(out, ACT_HOST_DOWN, 0, 0, h->id, 0,
                                        "host %s never sent a heartbeat", h->name);
                        else
                                r = add(out, ACT_HOST_DOWN, 0, 0, h->id, 0,
                                        "host %s: no heartbeat for %lld s (limit %lld s)",
                                        h->name, (long long)h->heartbeat_age_s,
                                        (long long)p->heartbeat_timeout_s);
                        if (r < 0)
                                goto out;
                }
        }

        /* 2. Each desktop on its own: repairs, requests, lifecycle. */
        for (size_t k = 0; k < nd; k++) {
                const struct pool_desktop *d = &s->desktops[k];
                const struct pool_spec *pool = pool_of(s, d->pool_id);
                int hi = d->host_id ? host_index(s, d->host_id) : -1;
                bool on_dead_host = d->host_id && (hi < 0 || !usable[hi]);
                bool stale_image = pool && d->image_version_id != pool->image_version_id;
                enum pool_action_kind fix = stale_image ? ACT_RECOMPOSE : ACT_REFRESH;
                int64_t iv = pool ? pool->image_version_id : 0;

                if (d->state == DESK_DELETING) {
                        acted[k] = 2;
                        /* Without a host it is a tombstone kept for the
                         * assignment history; else a delete to finish. */
                        if (!d->host_id)
                                continue;
                        r = add(out, ACT_DELETE, d->pool_id, d->id, d->host_id, 0,
                                "finishing an earlier delete");
                        goto next;
                }
                if (!pool)
                        continue;
                if (on_dead_host) {
                        const char *hn = hi >= 0 ? s->hosts[hi].name : "?";
                        if (pool->floating) {
                                acted[k] = 2;
                                r = add(out, ACT_DELETE, d->pool_id, d->id, d->host_id, 0,
                                        "host %s is down: floating desktop replaced elsewhere",
                                        hn);
                        } else {
                                acted[k] = 1;
                                if (d->state != DESK_ERROR)
                                        r = add(out, ACT_REPORT, d->pool_id, d->id, d->host_id,
                                                0,
                                                "host %s is down: dedicated desktop unavailable "
                                                "until it returns",
                                                hn);
                        }
                        goto next;
                }
                if (d->quarantined) {
                        acted[k] = 1;
                        continue;
                }
                if (d->failures >= p->max_failures) {
                        acted[k] = 1;
                        r = add(out, ACT_QUARANTINE, d->pool_id, d->id, d->host_id, 0,
                                "failed %d times in a row; last: %s", d->failures,
                                d->last_error ? d->last_error : "unknown");
                        goto next;
                }
                if (d->pending == PENDING_DELETE) {
                        acted[k] = 2;
                        r = add(out, ACT_DELETE, d->pool_id, d->id, d->host_id, 0,
                                "deleted by an administrator");
                        goto next;
                }
                if (d->state == DESK_PROVISIONING && d->state_age_s > p->provision_timeout_s) {
                        acted[k] = 1;
                        r = add(out, ACT_FAIL, d->pool_id, d->id, d->host_id, 0,
                                "did not boot within %lld s", (long long)p->provision_timeout_s);
                        goto next;
                }
                if (d->state == DESK_ERROR) {
                        /* Retry with back-off: retry_backoff_s per failure so far. */
                        acted[k] = 1;
                        /* A dedicated user's disk is never wiped by a retry. */
                        if (!pool->floating && d->assigned)
                                fix = ACT_START;
                        if (d->state_age_s >=
                            p->retry_backoff_s * (d->failures > 0 ? d->failures : 1))
                                r = add(out, fix, d->pool_id, d->id, d->host_id, iv,
                                        "retrying after: %s",
                                        d->last_error ? d->last_error : "error");
                        goto next;
                }
                if (d->pending == PENDING_REFRESH || d->state == DESK_REFRESHING) {
                        acted[k] = 1;
                        r = add(out, fix, d->pool_id, d->id, d->host_id, iv,
                                d->pending == PENDING_REFRESH ? "refresh requested"
                                                              : "released: wiped before reuse");
                        goto next;
                }
                if (d->pending == PENDING_START) {
                        acted[k] = 1;
                        r = add(out, ACT_START, d->pool_id, d->id, d->host_id, 0,
                                "start requested (launch)");
                        goto next;
                }
                /* A suspended floating desktop is released like a running one. */
                if (pool->floating && d->assigned &&
                    (d->state == DESK_ASSIGNED || parked(d->state)) &&
                    p->release_idle_s > 0 && d->idle_s >= p->release_idle_s) {
                        acted[k] = 1;
                        r = add(out, ACT_REFRESH, d->pool_id, d->id, d->host_id, iv,
                                "released: no client for %lld s", (long long)d->idle_s);
                        goto next;
                }
                if (stale_image && !d->assigned &&
                    (d->state == DESK_READY || parked(d->state))) {
                        acted[k] = 1;
                        r = add(out, ACT_RECOMPOSE, d->pool_id, d->id, d->host_id, iv,
                                "recompose to image version %lld", (long long)iv);
                        goto next;
                }
                if (d->assigned && d->state == DESK_ASSIGNED && pool->suspend_after_s > 0 &&
                    d->idle_s >= pool->suspend_after_s &&
                    (pool->floating || pool->idle_poweroff_s == 0 ||
                     pool->suspend_after_s < pool->idle_poweroff_s)) {
                        acted[k] = 1;
                        r = add(out, ACT_SUSPEND, d->pool_id, d->id, d->host_id, 0,
                                "no client for %lld s", (long long)d->idle_s);
                        goto next;
                }
                if (!pool->floating && d->assigned && d->state == DESK_ASSIGNED &&
                    pool->idle_poweroff_s > 0 && d->idle_s >= pool->idle_poweroff_s) {
                        acted[k] = 1;
                        r = add(out, ACT_POWER_OFF, d->pool_id, d->id, d->host_id, 0,
                                "idle for %lld s", (long long)d->idle_s);
                        goto next;
                }
                if (!d->assigned && parked(d->state)) {
                        /* Spare desktops are kept running: that is "ready". */
                        acted[k] = 1;
                        r = add(out, ACT_START, d->pool_id, d->id, d->host_id, 0,
                                d->state == DESK_SUSPENDED ? "spare desktop suspended"
                                                           : "spare desktop powered off");
                        goto next;
                }
next:
                if (r < 0)
                        goto out;
        }

        /* Load per host from the desktops that stay. */
        for (size_t k = 0; k < nd; k++) {
                const struct pool_desktop *d = &s->desktops[k];
                const struct pool_spec *pool = pool_of(s, d->pool_id);
                int hi = d->host_id ? host_index(s, d->host_id) : -1;
                if (hi < 0 || acted[k] == 2 || !pool)
                        continue;
                if (occupies(d->state) || (acted[k] == 1 && parked(d->state))) {
                        used_cpu[hi] += pool->vcpus;
                        used_mem[hi] += pool->memory_mb;
                        vms[hi]++;
                }
        }

        /* 3. Sizing, per pool. */
        for (size_t pi = 0; pi < s->n_pools; pi++) {
                const struct pool_spec *pool = &s->pools[pi];
                int live = 0, assigned = 0, quarantined = 0, target, create, surplus;

                memset(pcount, 0, nh * sizeof(int));
                for (size_t k = 0; k < nd; k++) {
                        const struct pool_desktop *d = &s->desktops[k];
                        if (d->pool_id != pool->id || acted[k] == 2 || d->state == DESK_DELETING)
                                continue;
                        if (d->quarantined || d->failures >= p->max_failures) {
                                quarantined++;
                                continue;
                        }
                        live++;
                        assigned += d->assigned;
                        int hi = d->host_id ? host_index(s, d->host_id) : -1;
                        if (hi >= 0)
                                pcount[hi]++;
                }
                target = pool->enabled ? pool->min_size : 0;
                if (pool->enabled && assigned + pool->ready_size > target)
                        target = assigned + pool->ready_size;
                if (target > pool->max_size)
                        target = pool->max_size;

                create = target - live;
                if (create > pool->max_size - live - quarantined)
                        create = pool->max_size - live - quarantined;
                for (int c = 0; c < create; c++) {
                        int hi = pool_place(pool, hosts, nh, usable, used_cpu, used_mem,
                                            pcount, vms);
                        if (hi < 0) {
                                r = add(out, ACT_REPORT, pool->id, 0, 0, 0,
                                        "pool %s: no host has room for %d more desktop(s) "
                                        "(%d vCPUs, %lld MiB each)",
                                        pool->name, create - c, pool->vcpus,
                                        (long long)pool->memory_mb);
                                if (r < 0)
                                        goto out;
                                break;
                        }
                        used_cpu[hi] += pool->vcpus;
                        used_mem[hi] += pool->memory_mb;
                        vms[hi]++;
                        pcount[hi]++;
                        r = add(out, ACT_CREATE, pool->id, 0, s->hosts[hi].id,
                                pool->image_version_id, "pool %s: %d of %d", pool->name,
                                live + c + 1, target);
                        if (r < 0)
                                goto out;
                }

                /* Too many: remove unassigned ones, least useful first. */
                surplus = live - target;
                for (int rank = 0; rank <= 4 && surplus > 0; rank++)
                        for (size_t k = 0; k < nd && surplus > 0; k++) {
                                const struct pool_desktop *d = &s->desktops[k];
                                if (d->pool_id != pool->id || acted[k] || d->assigned ||
                                    d->quarantined || surplus_rank(d->state) != rank ||
                                    d->state == DESK_DELETING || d->state == DESK_ASSIGNED ||
                                    d->state == DESK_IN_USE)
                                        continue;
                                acted[k] = 2;
                                surplus--;
                                r = add(out, ACT_DELETE, pool->id, d->id, d->host_id, 0,
                                        "pool %s: above its size (%d wanted)", pool->name,
                                        target);
                                if (r < 0)
                                        goto out;
                        }
        }
out:
        free(hosts);
        free(usable);
        free(used_cpu);
        free(used_mem);
        free(vms);
        free(pcount);
        free(acted);
        return r;
}
