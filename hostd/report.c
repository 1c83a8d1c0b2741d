/* Host → broker reporting through PostgreSQL.
 *
 * DESIGN.md §4 has hostd register, heartbeat and push VM events to the
 * broker. The broker has no API for that yet, and the pool loop (pools/)
 * reads its facts from the database anyway, so hostd writes them there
 * directly when [database] conninfo is set:
 *   - hosts: one row per host (upserted by name) with address, port,
 *     vCPUs, memory and last_heartbeat every heartbeat_s;
 *   - desktop_events: every VM event (host, VM id, event, reason);
 *   - desktops: the state of the desktop whose id is the VM id (the
 *     broker and the pool loop name VMs by desktop id): booted or resumed
 *     → ready (or assigned when a live assignment holds it), suspended →
 *     suspended, powered off → stopped, crashed → error with failures + 1
 *     and last_error.
 * A later broker endpoint can replace this file without touching the
 * rest of hostd. Events wait in a queue while the database is away. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "log.h"
#include "sql/db.h"

#define REPORT_MAX_QUEUE 10000

struct rep_event {
        char *vm_id, *event, *detail;
        bool quit;
};

struct hostd_report {
        struct db *db;
        GAsyncQueue *queue;
        pthread_t thread;
        struct hostd *h;
        bool db_ok;
        bool stopping; /* drop what cannot be delivered: we are exiting */
};

DB_STMT(st_heartbeat,
        "INSERT INTO hosts (name, address, port, vcpus, memory_mb, state, last_heartbeat) "
        "VALUES ($1, $2, $3::int, $4::int, $5::bigint, 'up', now()) "
        "ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, port = EXCLUDED.port, "
        "vcpus = EXCLUDED.vcpus, memory_mb = EXCLUDED.memory_mb, last_heartbeat = now(), "
        "state = CASE WHEN hosts.state = 'maintenance' THEN 'maintenance' ELSE 'up' END",
        5);
DB_STMT(st_event,
        "INSERT INTO desktop_events (host_name, vm_id, event, detail) VALUES ($1, $2, $3, $4)",
        4);
DB_STMT(st_booted,
        "UPDATE desktops d SET state = CASE WHEN EXISTS (SELECT 1 FROM assignments a "
        "WHERE a.desktop_id = d.id AND a.released_at IS NULL) THEN 'assigned' ELSE 'ready' END, "
        "state_changed_at = now(), failures = 0, last_error = NULL "
        "WHERE d.id = $1::bigint AND d.state IN ('provisioning', 'stopped', 'suspended') "
        "AND d.host_id = (SELECT id FROM hosts WHERE name = $2)",
        2);
/* $3: 'stopped' (powered off; a suspended one too when its saved state
 * is dropped) or 'suspended' (saved to disk, resumable). */
DB_STMT(st_off,
        "UPDATE desktops SET state = $3::text, state_changed_at = now() "
        "WHERE id = $1::bigint AND (state IN ('ready', 'assigned', 'in_use', 'provisioning') "
        "OR (state = 'suspended' AND $3::text = 'stopped')) "
        "AND host_id = (SELECT id FROM hosts WHERE name = $2)",
        3);
DB_STMT(st_crashed,
        "UPDATE desktops SET state = 'error', failures = failures + 1, last_error = $3, "
        "state_changed_at = now() WHERE id = $1::bigint AND state NOT IN ('deleting') "
        "AND host_id = (SELECT id FROM hosts WHERE name = $2)",
        3);

/* Client sessions (vdi-vm's client-connected / client-disconnected): one
 * open desktop_sessions row per desktop (both protocols admit one client at
 * a time, so a new one closes any other), and the desktop in_use while it is
 * open, back to assigned when it ends. */
#define DESKTOP_OF "d AS (SELECT id FROM desktops WHERE id = $1::bigint " \
                   "AND host_id = (SELECT id FROM hosts WHERE name = $2))"
#define CLOSE_SESSIONS "closed AS (UPDATE desktop_sessions SET disconnected_at = now() " \
                       "WHERE desktop_id IN (SELECT id FROM d) AND disconnected_at IS NULL)"
DB_STMT(st_client_on,
        "WITH " DESKTOP_OF ", " CLOSE_SESSIONS ", "
        "ins AS (INSERT INTO desktop_sessions (desktop_id, assignment_id, user_name, protocol, "
        "client_addr) SELECT d.id, (SELECT a.id FROM assignments a WHERE a.desktop_id = d.id "
        "AND a.released_at IS NULL ORDER BY a.id DESC LIMIT 1), $4, $3, $5::inet FROM d) "
        "UPDATE desktops SET state = 'in_use', state_changed_at = now() "
        "WHERE id IN (SELECT id FROM d) AND state = 'assigned'",
        5);
DB_STMT(st_client_off,
        "WITH " DESKTOP_OF ", " CLOSE_SESSIONS " "
        "UPDATE desktops SET state = 'assigned', state_changed_at = now() "
        "WHERE id IN (SELECT id FROM d) AND state = 'in_use'",
        2);
DB_STMT(st_sessions_close, "WITH " DESKTOP_OF ", " CLOSE_SESSIONS " SELECT 1", 2);

/* "protocol=P user=U address=A" (U percent-encoded) from vdi-vm. */
static void client_fields(const char *detail, char **protocol, char **user, char **address)
{
        g_auto(GStrv) kv = g_strsplit(detail ? detail : "", " ", -1);

        for (char **f = kv; *f; f++) {
                if (g_str_has_prefix(*f, "protocol="))
                        *protocol = g_strdup(*f + 9);
                else if (g_str_has_prefix(*f, "user="))
                        *user = g_uri_unescape_string(*f + 5, NULL);
                else if (g_str_has_prefix(*f, "address="))
                        *address = g_strdup(*f + 8);
        }
}

static int client_event(struct hostd_report *rp, struct rep_event *e, bool on, char **err)
{
        g_autofree char *protocol = NULL, *user = NULL, *address = NULL;
        const char *name = rp->h->cfg->name;

        if (!on) {
                const char *q[] = { e->vm_id, name };
                return db_exec(rp->db, &st_client_off, q, DB_IDEMPOTENT, NULL, err);
        }
        client_fields(e->detail, &protocol, &user, &address);
        if (!protocol || (strcmp(protocol, "spice") != 0 && strcmp(protocol, "rdp") != 0))
                return 0; /* not from our vdi-vm: the event row is all there is */
        const char *q[] = { e->vm_id, name, protocol, user && *user ? user : "unknown",
                            address && g_hostname_is_ip_address(address) ? address : NULL };
        return db_exec(rp->db, &st_client_on, q, 0, NULL, err);
}

static void rep_event_free(struct rep_event *e)
{
        if (!e)
                return;
        g_free(e->vm_id);
        g_free(e->event);
        g_free(e->detail);
        g_free(e);
}

static int heartbeat(struct hostd_report *rp, char **err)
{
        struct hostd *h = rp->h;
        struct sysinfo si;
        char port[16], cpus[16], mem[32];
        uint64_t total_mb = 0;

        if (sysinfo(&si) == 0)
                total_mb = (uint64_t)si.totalram * si.mem_unit / (1024 * 1024);
        total_mb = total_mb > (uint64_t)h->cfg->reserve_memory_mb
                           ? total_mb - (uint64_t)h->cfg->reserve_memory_mb
                           : 0;
        snprintf(port, sizeof(port), "%d", h->api_port);
        snprintf(cpus, sizeof(cpus), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
        snprintf(mem, sizeof(mem), "%llu", (unsigned long long)total_mb);
        const char *p[] = { h->cfg->name, h->cfg->public_address, port, cpus, mem };
        return db_exec(rp->db, &st_heartbeat, p, DB_IDEMPOTENT, NULL, err);
}

static int deliver(struct hostd_report *rp, struct rep_event *e, char **err)
{
        const char *name = rp->h->cfg->name;
        const char *ev = e->event;
        const char *p[] = { name, e->vm_id, ev, e->detail ? e->detail : "" };
        int r;

        r = db_exec(rp->db, &st_event, p, 0, NULL, err);
        if (r < 0)
                return r;
        /* Only numeric VM ids name desktops. */
        if (!e->vm_id[0] || strspn(e->vm_id, "0123456789") != strlen(e->vm_id) ||
            strlen(e->vm_id) > 18)
                return 0;
        /* Without a control socket no "booted" can come: a started process
         * is the best knowledge there is (vdi-vm part 1). */
        if (strcmp(ev, "started") == 0 && !rp->h->caps.control)
                ev = "booted";
        const char *q[] = { e->vm_id, name, e->detail ? e->detail : "crashed" };
        if (strcmp(ev, "client-connected") == 0 || strcmp(ev, "client-disconnected") == 0)
                return client_event(rp, e, strcmp(ev, "client-connected") == 0, err);
        /* Whatever ends the VM ends its client session. */
        /* A resumed guest is up as it was suspended. */
        if (strcmp(ev, "resumed") == 0)
                ev = "booted";
        if (strcmp(ev, "powered_off") == 0 || strcmp(ev, "stopped") == 0 ||
            strcmp(ev, "suspended") == 0 || strcmp(ev, "crashed") == 0) {
                r = db_exec(rp->db, &st_sessions_close, q, DB_IDEMPOTENT, NULL, err);
                if (r < 0)
                        return r;
        }
        if (strcmp(ev, "booted") == 0) {
                r = db_exec(rp->db, &st_booted, q, DB_IDEMPOTENT, NULL, err);
        } else if (strcmp(ev, "powered_off") == 0 || strcmp(ev, "stopped") == 0 ||
                   strcmp(ev, "suspended") == 0) {
                const char *o[] = { e->vm_id, name,
                                    strcmp(ev, "suspended") == 0 ? "suspended" : "stopped" };
                r = db_exec(rp->db, &st_off, o, DB_IDEMPOTENT, NULL, err);
        } else if (strcmp(ev, "crashed") == 0) {
                r = db_exec(rp->db, &st_crashed, q, 0, NULL, err);
        }
        return r;
}

static void *report_main(void *arg)
{
        struct hostd_report *rp = arg;
        gint64 next_beat = 0;

        for (;;) {
                gint64 now = g_get_monotonic_time();
                g_autofree char *err = NULL;
                struct rep_event *e;

                if (now >= next_beat) {
                        int r = heartbeat(rp, &err);
                        if (r < 0 && rp->db_ok) {
                                g_autofree char *quoted = log_quote(err);
                                log_warning("db_heartbeat_failed", "error=%s", quoted);
                        } else if (r == 0 && !rp->db_ok)
                                log_notice("db_registered", "host=%s", rp->h->cfg->name);
                        rp->db_ok = r == 0;
                        g_clear_pointer(&err, g_free);
                        next_beat = now + rp->h->cfg->heartbeat_s * G_USEC_PER_SEC;
                }
                e = g_async_queue_timeout_pop(rp->queue, (guint64)MAX(next_beat - now, 1000));
                if (!e)
                        continue;
                if (e->quit) {
                        rep_event_free(e);
                        break;
                }
                if (deliver(rp, e, &err) < 0) {
                        g_autofree char *quoted = log_quote(err);
                        log_warning("db_event_failed", "vm=%s event=%s error=%s", e->vm_id,
                                    e->event, quoted);
                        rp->db_ok = false;
                        if (__atomic_load_n(&rp->stopping, __ATOMIC_RELAXED)) {
                                rep_event_free(e);
                                continue;
                        }
                        /* Keep it for the next try, in order. */
                        g_async_queue_push_front(rp->queue, e);
                        g_usleep(G_USEC_PER_SEC);
                        continue;
                }
                rep_event_free(e);
        }
        return NULL;
}

int hostd_report_start(struct hostd *h, char **error)
{
        struct db_config dc = { .conninfo = h->cfg->conninfo, .pool_size = 2,
                                .application_name = "vdi-hostd" };
        struct hostd_report *rp;
        int r;

        if (!h->cfg->conninfo || !*h->cfg->conninfo)
                return 0;
        rp = g_new0(struct hostd_report, 1);
        rp->h = h;
        rp->db_ok = true;
        r = db_open(&dc, &rp->db, error);
        if (r < 0) {
                g_free(rp);
                return r;
        }
        rp->queue = g_async_queue_new_full((GDestroyNotify)rep_event_free);
        r = pthread_create(&rp->thread, NULL, report_main, rp);
        if (r) {
                db_close(rp->db);
                g_async_queue_unref(rp->queue);
                g_free(rp);
                *error = g_strdup_printf("cannot start the reporter thread: %s", g_strerror(r));
                return -r;
        }
        h->report = rp;
        return 0;
}

void hostd_report_stop(struct hostd *h)
{
        struct hostd_report *rp = h->report;
        struct rep_event *q;

        if (!rp)
                return;
        __atomic_store_n(&rp->stopping, true, __ATOMIC_RELAXED);
        q = g_new0(struct rep_event, 1);
        q->quit = true;
        g_async_queue_push(rp->queue, q);
        pthread_join(rp->thread, NULL);
        g_async_queue_unref(rp->queue);
        db_close(rp->db);
        g_free(rp);
        h->report = NULL;
}

void hostd_report_event(struct hostd *h, const char *vm_id, const char *event,
                        const char *detail)
{
        struct rep_event *e;

        if (!h->report)
                return;
        if (g_async_queue_length(h->report->queue) > REPORT_MAX_QUEUE) {
                log_warning("db_event_dropped", "vm=%s event=%s reason=\"queue full\"", vm_id,
                            event);
                return;
        }
        e = g_new0(struct rep_event, 1);
        e->vm_id = g_strdup(vm_id);
        e->event = g_strdup(event);
        e->detail = g_strdup(detail);
        g_async_queue_push(h->report->queue, e);
}
