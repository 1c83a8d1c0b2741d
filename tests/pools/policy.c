/* Pool policy (pools/policy.h): pure snapshot → actions, checked case by
 * case and by running a plan/apply loop to convergence. */
#include "config.h"

#include <string.h>

#include "pools/policy.h"
#include "check-main.h"

#define MAXD 64

struct world {
        struct pool_spec pools[4];
        size_t np;
        struct pool_host hosts[4];
        size_t nh;
        struct pool_desktop d[MAXD];
        size_t nd;
        int64_t next_id;
};

static const struct pool_policy policy = {
        .heartbeat_timeout_s = 30, .provision_timeout_s = 300, .max_failures = 3,
        .retry_backoff_s = 15, .release_idle_s = 600,
};

static struct world *w_new(void)
{
        struct world *w = calloc(1, sizeof(*w));
        w->next_id = 100;
        return w;
}

static struct pool_spec *w_pool(struct world *w, const char *name, bool floating, int min,
                                int max, int ready)
{
        struct pool_spec *p = &w->pools[w->np];
        *p = (struct pool_spec){ .id = (int64_t)w->np + 1, .name = name, .floating = floating,
                                 .enabled = true, .image_version_id = 10, .min_size = min,
                                 .max_size = max, .ready_size = ready, .vcpus = 2,
                                 .memory_mb = 2048 };
        w->np++;
        return p;
}

static struct pool_host *w_host(struct world *w, const char *name, int64_t cpus, int64_t mem)
{
        struct pool_host *h = &w->hosts[w->nh];
        *h = (struct pool_host){ .id = (int64_t)w->nh + 1, .name = name, .up = true,
                                 .heartbeat_age_s = 2, .vcpus = cpus, .memory_mb = mem };
        w->nh++;
        return h;
}

static struct pool_desktop *w_desk(struct world *w, int64_t pool, int64_t host,
                                   enum desk_state st)
{
        struct pool_desktop *d = &w->d[w->nd++];
        *d = (struct pool_desktop){ .id = w->next_id++, .pool_id = pool, .host_id = host,
                                    .image_version_id = 10, .state = st, .idle_s = -1,
                                    .assigned = st == DESK_ASSIGNED || st == DESK_IN_USE };
        return d;
}

static struct pool_actions plan(struct world *w)
{
        struct pool_snapshot s = { w->pools, w->np, w->hosts, w->nh, w->d, w->nd };
        struct pool_actions a = { 0 };
        ck_assert_int_eq(pool_plan(&s, &policy, &a), 0);
        return a;
}

static size_t count(const struct pool_actions *a, enum pool_action_kind k)
{
        size_t n = 0;
        for (size_t i = 0; i < a->n; i++)
                n += a->v[i].kind == k;
        return n;
}

static const struct pool_action *find(const struct pool_actions *a, enum pool_action_kind k,
                                      int64_t desktop)
{
        for (size_t i = 0; i < a->n; i++)
                if (a->v[i].kind == k && (!desktop || a->v[i].desktop_id == desktop))
                        return &a->v[i];
        return NULL;
}

static struct pool_desktop *by_id(struct world *w, int64_t id)
{
        for (size_t i = 0; i < w->nd; i++)
                if (w->d[i].id == id)
                        return &w->d[i];
        return NULL;
}

/* What a perfect executor followed by successful boots would leave. */
static void apply(struct world *w, const struct pool_actions *a)
{
        for (size_t i = 0; i < a->n; i++) {
                const struct pool_action *x = &a->v[i];
                struct pool_desktop *d = x->desktop_id ? by_id(w, x->desktop_id) : NULL;
                switch (x->kind) {
                case ACT_HOST_DOWN:
                        for (size_t h = 0; h < w->nh; h++)
                                if (w->hosts[h].id == x->host_id)
                                        w->hosts[h].up = false;
                        break;
                case ACT_CREATE:
                        w_desk(w, x->pool_id, x->host_id, DESK_READY)->image_version_id =
                                x->image_version_id;
                        break;
                case ACT_START:
                case ACT_REFRESH:
                        d->state = d->assigned ? DESK_ASSIGNED : DESK_READY;
                        d->pending = PENDING_NONE;
                        break;
                case ACT_RECOMPOSE:
                        d->state = d->assigned ? DESK_ASSIGNED : DESK_READY;
                        d->image_version_id = x->image_version_id;
                        d->pending = PENDING_NONE;
                        break;
                case ACT_POWER_OFF:
                case ACT_SUSPEND:
                        d->state = DESK_STOPPED;
                        break;
                case ACT_DELETE:
                        *d = w->d[--w->nd];
                        break;
                case ACT_QUARANTINE:
                        d->quarantined = true;
                        d->state = DESK_ERROR;
                        break;
                case ACT_FAIL:
                        d->failures++;
                        d->state = DESK_ERROR;
                        break;
                case ACT_REPORT:
                        if (d)
                                d->state = DESK_ERROR;
                        break;
                }
        }
}

START_TEST(test_empty_pool_converges_and_spreads)
{
        struct world *w = w_new();
        w_pool(w, "eng", true, 3, 5, 2);
        w_host(w, "h1", 16, 32768);
        w_host(w, "h2", 16, 32768);
        struct pool_actions a = plan(w);
        ck_assert_uint_eq(count(&a, ACT_CREATE), 3);
        ck_assert_uint_eq(a.n, 3);
        /* Spread: h1, h2, h1. */
        ck_assert_int_eq(a.v[0].host_id, 1);
        ck_assert_int_eq(a.v[1].host_id, 2);
        ck_assert_int_eq(a.v[2].host_id, 1);
        ck_assert_int_eq(a.v[0].image_version_id, 10);
        apply(w, &a);
        pool_actions_clear(&a);
        /* Converged: nothing more to do, however often we ask. */
        a = plan(w);
        ck_assert_uint_eq(a.n, 0);
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_ready_tracks_assignments_up_to_max)
{
        struct world *w = w_new();
        w_pool(w, "eng", true, 3, 5, 2);
        w_host(w, "h1", 64, 65536);
        w_desk(w, 1, 1, DESK_ASSIGNED);
        w_desk(w, 1, 1, DESK_ASSIGNED);
        w_desk(w, 1, 1, DESK_READY);
        struct pool_actions a = plan(w);
        /* 2 assigned + 2 ready wanted = 4; one exists ready → 1 create. */
        ck_assert_uint_eq(count(&a, ACT_CREATE), 1);
        pool_actions_clear(&a);
        w_desk(w, 1, 1, DESK_ASSIGNED);
        w_desk(w, 1, 1, DESK_ASSIGNED);
        a = plan(w); /* 4 assigned + 1 ready: at max 5 */
        ck_assert_uint_eq(count(&a, ACT_CREATE), 0);
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_capacity_and_placement)
{
        struct world *w = w_new();
        struct pool_spec *p = w_pool(w, "big", true, 4, 4, 0);
        p->memory_mb = 4096;
        w_host(w, "small", 64, 4096);   /* room for one */
        w_host(w, "busy", 64, 16384);
        w_host(w, "cpu-starved", 1, 65536);
        /* busy already runs another pool's desktops. */
        struct pool_spec *o = w_pool(w, "other", true, 0, 10, 0);
        (void)o;
        w_desk(w, 2, 2, DESK_ASSIGNED);
        w_desk(w, 2, 2, DESK_ASSIGNED);
        struct pool_actions a = plan(w);
        /* small: 1 (4096 of 4096); busy: 16384 - 2*2048 = 12288 → 3; cpu-starved: none. */
        ck_assert_uint_eq(count(&a, ACT_CREATE), 4);
        size_t on[4] = { 0 };
        for (size_t i = 0; i < a.n; i++)
                if (a.v[i].kind == ACT_CREATE)
                        on[a.v[i].host_id]++;
        ck_assert_uint_eq(on[1], 1);
        ck_assert_uint_eq(on[2], 3);
        ck_assert_uint_eq(on[3], 0);
        pool_actions_clear(&a);
        /* One more than fits: reported, not forced. */
        p->min_size = p->max_size = 5;
        a = plan(w);
        ck_assert_uint_eq(count(&a, ACT_CREATE), 4);
        const struct pool_action *rep = find(&a, ACT_REPORT, 0);
        ck_assert_ptr_nonnull(rep);
        ck_assert_ptr_nonnull(strstr(rep->reason, "no host has room for 1 more"));
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_host_down_replaces_floating_reports_dedicated)
{
        struct world *w = w_new();
        w_pool(w, "float", true, 2, 4, 0);
        w_pool(w, "dedi", false, 1, 4, 0);
        struct pool_host *dead = w_host(w, "dead", 16, 32768);
        w_host(w, "alive", 16, 32768);
        dead->heartbeat_age_s = 95;
        struct pool_desktop *f1 = w_desk(w, 1, 1, DESK_READY);
        struct pool_desktop *f2 = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_desktop *dd = w_desk(w, 2, 1, DESK_ASSIGNED);
        int64_t f1id = f1->id, f2id = f2->id, ddid = dd->id;
        struct pool_actions a = plan(w);
        const struct pool_action *hd = find(&a, ACT_HOST_DOWN, 0);
        ck_assert_ptr_nonnull(hd);
        ck_assert_int_eq(hd->host_id, 1);
        ck_assert_ptr_nonnull(strstr(hd->reason, "no heartbeat for 95 s"));
        ck_assert_ptr_nonnull(find(&a, ACT_DELETE, f1id));
        ck_assert_ptr_nonnull(find(&a, ACT_DELETE, f2id));
        const struct pool_action *rep = find(&a, ACT_REPORT, ddid);
        ck_assert_ptr_nonnull(rep);
        ck_assert_ptr_nonnull(strstr(rep->reason, "host dead is down"));
        /* Floating replacements go to the live host; the dedicated one is kept. */
        ck_assert_uint_eq(count(&a, ACT_CREATE), 2);
        for (size_t i = 0; i < a.n; i++)
                if (a.v[i].kind == ACT_CREATE) {
                        ck_assert_int_eq(a.v[i].host_id, 2);
                        ck_assert_int_eq(a.v[i].pool_id, 1);
                }
        ck_assert_ptr_null(find(&a, ACT_DELETE, ddid));
        apply(w, &a);
        pool_actions_clear(&a);
        a = plan(w); /* reported once, nothing else */
        ck_assert_uint_eq(a.n, 0);
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_floating_release_refresh_and_recompose)
{
        struct world *w = w_new();
        struct pool_spec *p = w_pool(w, "f", true, 0, 10, 0);
        w_host(w, "h", 64, 65536);
        struct pool_desktop *rel = w_desk(w, 1, 1, DESK_REFRESHING);
        struct pool_actions a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_REFRESH, rel->id));
        pool_actions_clear(&a);

        /* A new image version: idle first, busy after logout. */
        p->image_version_id = 11;
        struct pool_desktop *idle = w_desk(w, 1, 1, DESK_READY);
        struct pool_desktop *busy = w_desk(w, 1, 1, DESK_IN_USE);
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_RECOMPOSE, idle->id));
        ck_assert_int_eq(find(&a, ACT_RECOMPOSE, idle->id)->image_version_id, 11);
        ck_assert_ptr_nonnull(find(&a, ACT_RECOMPOSE, rel->id)); /* released: new version */
        ck_assert_ptr_null(find(&a, ACT_RECOMPOSE, busy->id));
        ck_assert_ptr_null(find(&a, ACT_DELETE, busy->id));
        pool_actions_clear(&a);
        busy->state = DESK_REFRESHING; /* the user logged out */
        busy->assigned = false;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_RECOMPOSE, busy->id));
        pool_actions_clear(&a);
        free(w);
}
END_TEST

/* A floating desktop claimed but without a client (launch never used, or
 * the client left) goes back to the pool, wiped; one in use never does,
 * and a dedicated one is the user's for good. */
START_TEST(test_floating_released_without_client)
{
        struct world *w = w_new();
        w_pool(w, "f", true, 0, 10, 0);
        struct pool_spec *ded = w_pool(w, "d", false, 0, 10, 0);
        w_host(w, "h", 64, 65536);
        struct pool_desktop *left = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_desktop *recent = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_desktop *inuse = w_desk(w, 1, 1, DESK_IN_USE);
        struct pool_desktop *mine = w_desk(w, ded->id, 1, DESK_ASSIGNED);
        left->idle_s = 601;
        recent->idle_s = 30;
        mine->idle_s = 100000;
        struct pool_actions a = plan(w);
        const struct pool_action *x = find(&a, ACT_REFRESH, left->id);
        ck_assert_ptr_nonnull(x);
        ck_assert_ptr_nonnull(strstr(x->reason, "released: no client for 601 s"));
        ck_assert_ptr_null(find(&a, ACT_REFRESH, recent->id));
        ck_assert_ptr_null(find(&a, ACT_REFRESH, inuse->id));
        ck_assert_ptr_null(find(&a, ACT_REFRESH, mine->id));
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_dedicated_idle_power_off_and_start)
{
        struct world *w = w_new();
        struct pool_spec *p = w_pool(w, "d", false, 0, 10, 0);
        p->idle_poweroff_s = 3600;
        w_host(w, "h", 64, 65536);
        struct pool_desktop *idle = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_desktop *fresh = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_desktop *inuse = w_desk(w, 1, 1, DESK_IN_USE);
        idle->idle_s = 7200;
        fresh->idle_s = 60;
        struct pool_actions a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_POWER_OFF, idle->id));
        ck_assert_ptr_null(find(&a, ACT_POWER_OFF, fresh->id));
        ck_assert_ptr_null(find(&a, ACT_POWER_OFF, inuse->id));
        pool_actions_clear(&a);
        /* Powered off and assigned: stays off until a launch asks. */
        idle->state = DESK_STOPPED;
        a = plan(w);
        ck_assert_ptr_null(find(&a, ACT_START, idle->id));
        pool_actions_clear(&a);
        idle->pending = PENDING_START;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_START, idle->id));
        pool_actions_clear(&a);
        /* Floating pools never power off by idleness. */
        p->floating = true;
        idle->state = DESK_ASSIGNED;
        idle->pending = PENDING_NONE;
        a = plan(w);
        ck_assert_ptr_null(find(&a, ACT_POWER_OFF, idle->id));
        pool_actions_clear(&a);
        free(w);
}
END_TEST

/* suspend_after_disconnect_s (issue 20): a user's desktop without a client
 * that long is suspended, in both kinds of pool; one with a client, or not
 * idle long enough, is not; a dedicated pool powers off instead when its
 * power-off time comes first; a suspended floating desktop is still
 * released by the release timer. */
START_TEST(test_suspend_after_disconnect)
{
        struct world *w = w_new();
        struct pool_spec *p = w_pool(w, "d", false, 0, 10, 0);
        p->suspend_after_s = 600;
        w_host(w, "h", 64, 65536);
        struct pool_desktop *idle = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_desktop *fresh = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_desktop *inuse = w_desk(w, 1, 1, DESK_IN_USE);
        idle->idle_s = 601;
        fresh->idle_s = 599;
        inuse->idle_s = -1;
        struct pool_actions a = plan(w);
        const struct pool_action *x = find(&a, ACT_SUSPEND, idle->id);
        ck_assert_ptr_nonnull(x);
        ck_assert_ptr_nonnull(strstr(x->reason, "no client for 601 s"));
        ck_assert_ptr_null(find(&a, ACT_SUSPEND, fresh->id));
        ck_assert_ptr_null(find(&a, ACT_SUSPEND, inuse->id));
        pool_actions_clear(&a);
        /* Power-off first when it is due sooner. */
        p->idle_poweroff_s = 300;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_POWER_OFF, idle->id));
        ck_assert_ptr_null(find(&a, ACT_SUSPEND, idle->id));
        pool_actions_clear(&a);
        p->idle_poweroff_s = 0;
        /* Floating: suspended before the release timer (600 s) comes, then
         * released by it. */
        p->floating = true;
        p->suspend_after_s = 300;
        idle->idle_s = 301;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_SUSPEND, idle->id));
        pool_actions_clear(&a);
        idle->state = DESK_SUSPENDED;
        idle->idle_s = policy.release_idle_s + 1;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_REFRESH, idle->id));
        pool_actions_clear(&a);
        free(w);
}
END_TEST

/* A suspended desktop (issue 20): the state reads from the database's
 * name; a user's suspended desktop stays theirs and suspended (it holds no
 * CPU or memory, and is not a free one: the pool makes another to keep its
 * ready size); a spare one is started (resumed); refresh, delete and
 * recompose work on it as on a powered-off one. */
START_TEST(test_suspended_desktops)
{
        enum desk_state st = DESK_ERROR;
        ck_assert_int_eq(pool_desk_state_from_string("suspended", &st), 0);
        ck_assert_int_eq(st, DESK_SUSPENDED);
        ck_assert_str_eq(pool_desk_state_name(DESK_SUSPENDED), "suspended");

        struct world *w = w_new();
        w_pool(w, "d", false, 0, 10, 1);
        /* Room for exactly two desktops: the suspended one takes none. */
        w_host(w, "h", 4, 4096);
        struct pool_desktop *mine = w_desk(w, 1, 1, DESK_SUSPENDED);
        mine->assigned = true;
        mine->idle_s = 100000;
        struct pool_desktop *running = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_actions a = plan(w);
        ck_assert_uint_eq(a.n, 1);
        ck_assert_uint_eq(count(&a, ACT_CREATE), 1);
        pool_actions_clear(&a);
        running->state = DESK_READY;
        running->assigned = false;
        a = plan(w);
        ck_assert_uint_eq(a.n, 0);
        pool_actions_clear(&a);

        /* A spare one is resumed to be ready. */
        mine->assigned = false;
        running->state = DESK_ASSIGNED;
        running->assigned = true;
        a = plan(w);
        const struct pool_action *x = find(&a, ACT_START, mine->id);
        ck_assert_ptr_nonnull(x);
        ck_assert_str_eq(x->reason, "spare desktop suspended");
        ck_assert_uint_eq(count(&a, ACT_CREATE), 0);
        pool_actions_clear(&a);

        /* An administrator's refresh or delete. */
        mine->assigned = true;
        mine->pending = PENDING_REFRESH;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_REFRESH, mine->id));
        pool_actions_clear(&a);
        mine->pending = PENDING_DELETE;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_DELETE, mine->id));
        pool_actions_clear(&a);

        /* A new image version: a spare suspended desktop is recomposed,
         * a user's waits for its user. */
        mine->pending = PENDING_NONE;
        w->pools[0].image_version_id = 11;
        running->image_version_id = 11;
        a = plan(w);
        ck_assert_ptr_null(find(&a, ACT_RECOMPOSE, mine->id));
        pool_actions_clear(&a);
        mine->assigned = false;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_RECOMPOSE, mine->id));
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_failures_quarantine)
{
        struct world *w = w_new();
        w_pool(w, "q", true, 2, 3, 0);
        w_host(w, "h", 64, 65536);
        struct pool_desktop *slow = w_desk(w, 1, 1, DESK_PROVISIONING);
        struct pool_desktop *bad = w_desk(w, 1, 1, DESK_ERROR);
        slow->state_age_s = 301;
        bad->failures = 3;
        bad->last_error = "vdi-vm killed by signal 11 (Segmentation fault)";
        struct pool_actions a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_FAIL, slow->id));
        const struct pool_action *q = find(&a, ACT_QUARANTINE, bad->id);
        ck_assert_ptr_nonnull(q);
        ck_assert_ptr_nonnull(strstr(q->reason, "failed 3 times"));
        ck_assert_ptr_nonnull(strstr(q->reason, "signal 11"));
        /* The quarantined one is replaced, within max_size (3 = 2 live + 1 q). */
        ck_assert_uint_eq(count(&a, ACT_CREATE), 1);
        apply(w, &a);
        pool_actions_clear(&a);
        /* A fresh error is retried only after its back-off. */
        slow->state_age_s = 5;
        a = plan(w);
        ck_assert_ptr_null(find(&a, ACT_REFRESH, slow->id));
        pool_actions_clear(&a);
        slow->state_age_s = 20;
        a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_REFRESH, slow->id));
        ck_assert_uint_eq(count(&a, ACT_CREATE), 0); /* at max: 3 with the quarantined */
        ck_assert_ptr_null(find(&a, ACT_QUARANTINE, bad->id)); /* once */
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_shrink_removes_least_useful_unassigned)
{
        struct world *w = w_new();
        struct pool_spec *p = w_pool(w, "s", true, 1, 10, 0);
        w_host(w, "h", 64, 65536);
        struct pool_desktop *r1 = w_desk(w, 1, 1, DESK_READY);
        struct pool_desktop *as = w_desk(w, 1, 1, DESK_ASSIGNED);
        struct pool_desktop *er = w_desk(w, 1, 1, DESK_ERROR);
        struct pool_desktop *r2 = w_desk(w, 1, 1, DESK_READY);
        er->state_age_s = 1; /* no retry yet */
        (void)p;
        struct pool_actions a = plan(w);
        /* target = max(1, 1 + 0) = 1: the assigned one stays, 3 go... but the
         * error one has a pending retry slot; ready ones go first among the rest. */
        ck_assert_ptr_null(find(&a, ACT_DELETE, as->id));
        ck_assert_ptr_nonnull(find(&a, ACT_DELETE, r1->id));
        ck_assert_ptr_nonnull(find(&a, ACT_DELETE, r2->id));
        pool_actions_clear(&a);
        /* Disabled: every unassigned desktop goes, the assigned one stays. */
        p->enabled = false;
        er->state_age_s = 0;
        a = plan(w);
        ck_assert_ptr_null(find(&a, ACT_DELETE, as->id));
        ck_assert_uint_eq(count(&a, ACT_CREATE), 0);
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_admin_requests)
{
        struct world *w = w_new();
        w_pool(w, "a", true, 0, 10, 0);
        w_host(w, "h", 64, 65536);
        struct pool_desktop *del = w_desk(w, 1, 1, DESK_READY);
        struct pool_desktop *ref = w_desk(w, 1, 1, DESK_READY);
        struct pool_desktop *gone = w_desk(w, 1, 1, DESK_DELETING);
        del->pending = PENDING_DELETE;
        ref->pending = PENDING_REFRESH;
        struct pool_actions a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_DELETE, del->id));
        ck_assert_ptr_nonnull(find(&a, ACT_REFRESH, ref->id));
        ck_assert_ptr_nonnull(find(&a, ACT_DELETE, gone->id));
        pool_actions_clear(&a);
        free(w);
}
END_TEST

START_TEST(test_never_heartbeated_host_is_down)
{
        struct world *w = w_new();
        w_pool(w, "p", true, 1, 1, 0);
        struct pool_host *h = w_host(w, "new", 64, 65536);
        h->heartbeat_age_s = -1;
        struct pool_actions a = plan(w);
        ck_assert_ptr_nonnull(find(&a, ACT_HOST_DOWN, 0));
        ck_assert_uint_eq(count(&a, ACT_CREATE), 0);
        ck_assert_ptr_nonnull(find(&a, ACT_REPORT, 0));
        pool_actions_clear(&a);
        free(w);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("pools-policy");
        TCase *tc = tcase_create("policy");
        tcase_add_test(tc, test_empty_pool_converges_and_spreads);
        tcase_add_test(tc, test_ready_tracks_assignments_up_to_max);
        tcase_add_test(tc, test_capacity_and_placement);
        tcase_add_test(tc, test_host_down_replaces_floating_reports_dedicated);
        tcase_add_test(tc, test_floating_release_refresh_and_recompose);
        tcase_add_test(tc, test_dedicated_idle_power_off_and_start);
        tcase_add_test(tc, test_suspend_after_disconnect);
        tcase_add_test(tc, test_suspended_desktops);
        tcase_add_test(tc, test_floating_released_without_client);
        tcase_add_test(tc, test_failures_quarantine);
        tcase_add_test(tc, test_shrink_removes_least_useful_unassigned);
        tcase_add_test(tc, test_admin_requests);
        tcase_add_test(tc, test_never_heartbeated_host_is_down);
        suite_add_tcase(s, tc);
        return s;
}
