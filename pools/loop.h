/* The pool reconcile loop (runs inside vdi-brokerd): every interval it
 * loads a snapshot from PostgreSQL, plans with pools/policy.h and executes
 * the actions through the hosts' API (lib/hostd-client.h) and the database.
 *
 * Exactly one broker reconciles at a time: the loop holds a session-level
 * PostgreSQL advisory lock (pg_try_advisory_lock(POOL_LOOP_LOCK_KEY)) on
 * a dedicated connection, and does all its database work on that same
 * connection. If the holder dies, its connection dies, the server drops
 * the lock, and another broker's next attempt takes it. A loop that
 * loses its connection stops acting at once and waits takeover_backoff_ms
 * before competing again, so a flapping network does not make two
 * brokers alternate. Actions are idempotent, so a pass cut short by a
 * takeover is finished by the next leader. */
#pragma once

#include <stdbool.h>

#include "hostd-client.h"
#include "pools/policy.h"

/* "vdipools" in ASCII. */
#define POOL_LOOP_LOCK_KEY 0x76646970706f6f6cLL

struct pool_loop_config {
        const char *conninfo;          /* libpq connection string */
        struct hostd_client_config hosts;   /* mTLS client for vdi-hostd */
        unsigned interval_ms;          /* between passes; default 5000 */
        unsigned takeover_backoff_ms;  /* after losing the connection; default 2 × interval */
        unsigned host_timeout_ms;      /* per host call; default 15000 */
        unsigned import_timeout_ms;    /* per image import; default 600000 */
        struct pool_policy policy;     /* zeros: 30 s heartbeat, 300 s boot, 3 failures,
                                        * 15 s retry back-off per failure, 4 vCPUs per CPU,
                                        * floating desktops released after 300 s without a client */
        const char *name;              /* this broker, for logs */
};

struct pool_loop;

/* Start the loop thread. 0 or -errno with *error. */
int pool_loop_start(const struct pool_loop_config *cfg, struct pool_loop **out, char **error);
/* Stop the thread and close its connection (releasing the lock). NULL ok. */
void pool_loop_stop(struct pool_loop *l);
/* Whether this loop holds the lock right now. */
bool pool_loop_is_leader(struct pool_loop *l);
/* Backend pid of the lock connection (0 when none); for tests. */
int pool_loop_backend_pid(struct pool_loop *l);
/* Passes run as leader so far. */
unsigned pool_loop_passes(struct pool_loop *l);
/* Run the next pass now instead of at the next interval. */
void pool_loop_kick(struct pool_loop *l);

/* One pass on an open connection (the caller holds the lock or knows it is
 * alone): snapshot, plan, execute. Actions tried are appended to done when
 * non-NULL; per-action failures are recorded in the database, not returned.
 * 0, or -errno with *error when the snapshot could not be read. */
int pool_reconcile_once(void *pgconn, const struct pool_loop_config *cfg,
                        struct pool_actions *done, char **error);
