/* Pool policy: pure functions from a snapshot of the world (pools, hosts,
 * desktops) to the list of actions that move it toward what the pools ask
 * for. No I/O, no clock, no randomness: the same snapshot always gives the
 * same actions, so the policy is tested exhaustively with plain structs
 * (tests/pools/policy.c) and the loop (pools/loop.h) only executes.
 *
 * Every action is idempotent for the executor: planning again on a
 * snapshot taken after a partial execution finishes the job and never
 * repeats a finished step (e.g. a desktop created once is counted, a
 * refreshed one is "provisioning" and not refreshed again). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool_spec {
        int64_t id;
        const char *name;
        bool floating;            /* else dedicated */
        bool enabled;
        int64_t image_version_id; /* the version desktops should run */
        int min_size, max_size, ready_size;
        int vcpus;
        int64_t memory_mb;
        int64_t idle_poweroff_s;  /* dedicated: power off after this idle time; 0 = never */
        const char *bridge;       /* desktops' network: host bridge, NULL = none */
        int vlan;                 /* untagged VLAN on it, 0 = none */
        const char *clipboard;    /* clipboard policy (sql/010), "both" by default */
        bool instant;             /* provisioning = 'instant' (sql/011): forked, not booted */
        int64_t suspend_after_s;  /* suspend a user's desktop this long without a client; 0 = never */
};

struct pool_host {
        int64_t id;
        const char *name;
        bool up;                  /* hosts.state = 'up' */
        int64_t heartbeat_age_s;  /* -1 when it never sent one */
        int64_t vcpus, memory_mb; /* capacity offered to VMs */
};

/* Desktop states as in the desktops table. */
enum desk_state {
        DESK_PROVISIONING,
        DESK_READY,
        DESK_ASSIGNED,
        DESK_IN_USE,
        DESK_REFRESHING,
        DESK_STOPPED,
        DESK_ERROR,
        DESK_DELETING,
        DESK_SUSPENDED,  /* saved to disk on its host, memory freed; a start resumes it */
};

enum desk_pending { PENDING_NONE, PENDING_REFRESH, PENDING_DELETE, PENDING_START };

struct pool_desktop {
        int64_t id;
        int64_t pool_id;
        int64_t host_id;          /* 0 when not placed */
        int64_t image_version_id;
        enum desk_state state;
        enum desk_pending pending;
        bool assigned;            /* has a live assignment */
        bool quarantined;
        int failures;
        const char *last_error;   /* may be NULL */
        int64_t state_age_s;      /* seconds since state_changed_at */
        int64_t idle_s;           /* seconds without an open session or a live ticket since the
                                   * latest ticket or disconnect; -1 while either exists */
};

struct pool_snapshot {
        const struct pool_spec *pools;
        size_t n_pools;
        const struct pool_host *hosts;
        size_t n_hosts;
        const struct pool_desktop *desktops;
        size_t n_desktops;
};

struct pool_policy {
        int64_t heartbeat_timeout_s;  /* no heartbeat for longer: host down */
        int64_t provision_timeout_s;  /* provisioning longer: a failure */
        int max_failures;             /* failures in a row before quarantine */
        int64_t retry_backoff_s;      /* error desktops retried after this × failures */
        int vcpu_overcommit;          /* vCPUs placed per host CPU (desktops idle a lot); 0 = 1 */
        /* Floating pools: a claimed desktop with no client connected for this
         * long (after a launch nobody used, or after the client left) is
         * released and refreshed for the next user; 0 = never. */
        int64_t release_idle_s;
};

enum pool_action_kind {
        ACT_HOST_DOWN,  /* host_id: mark down */
        ACT_CREATE,     /* pool_id, host_id, image_version_id: new desktop, clone, start */
        ACT_START,      /* desktop_id: start its VM */
        ACT_POWER_OFF,  /* desktop_id: stop its VM (dedicated idle) */
        ACT_SUSPEND,    /* desktop_id: suspend its VM to disk (no client for suspend_after_s) */
        ACT_REFRESH,    /* desktop_id: stop, new overlay, start */
        ACT_RECOMPOSE,  /* desktop_id, image_version_id: rebuild on the new version, start */
        ACT_DELETE,     /* desktop_id: destroy VM and desktop */
        ACT_FAIL,       /* desktop_id: count a failure (provisioning timed out) */
        ACT_QUARANTINE, /* desktop_id: stop retrying; reason */
        ACT_REPORT,     /* pool_id/desktop_id/host_id: tell an admin; reason */
};

struct pool_action {
        enum pool_action_kind kind;
        int64_t pool_id, desktop_id, host_id, image_version_id;
        char reason[192];
};

struct pool_actions {
        struct pool_action *v;
        size_t n, cap;
};

/* Plan the actions for snap under policy, appended to out (in execution
 * order: host changes, repairs, then per pool). 0 or -ENOMEM. */
int pool_plan(const struct pool_snapshot *snap, const struct pool_policy *policy,
              struct pool_actions *out);

void pool_actions_clear(struct pool_actions *a);

const char *pool_action_name(enum pool_action_kind k);

/* "ready" → DESK_READY...; -EINVAL for an unknown name. */
int pool_desk_state_from_string(const char *s, enum desk_state *out);
const char *pool_desk_state_name(enum desk_state s);

/* Choose a host for one more desktop of pool among hosts[0..n): up, with
 * room for its vCPUs and memory after used_*[i] (the load already there),
 * preferring the host with the fewest desktops of this pool
 * (pool_count[i]), then the lowest memory load, then the fewest VMs
 * (vm_count[i]). Returns the index, or -1 when none has room. */
int pool_place(const struct pool_spec *pool, const struct pool_host *hosts, size_t n,
               const bool *host_usable, const int64_t *used_vcpus,
               const int64_t *used_memory_mb, const int *pool_count, const int *vm_count);
