/* Connections to the directory: TLS set up per connection, timeouts,
 * failover across the configured servers, and the pool of service-bound
 * connections. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "auth/ldap-internal.h"

bool ldap_rc_is_transport(int rc)
{
        return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT ||
               rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_LOCAL_ERROR ||
               rc == LDAP_ENCODING_ERROR || rc == LDAP_DECODING_ERROR;
}

int ldap_fail(LDAP *ld, int rc, const char *what, char **error)
{
        char *diag = NULL;

        if (ld)
                ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
        if (error) {
                g_free(*error);
                *error = g_strdup_printf("LDAP %s: %s%s%s%s", what, ldap_err2string(rc),
                                         diag && *diag ? " (" : "", diag && *diag ? diag : "",
                                         diag && *diag ? ")" : "");
        }
        ldap_memfree(diag);
        if (rc == LDAP_TIMEOUT)
                return -ETIMEDOUT;
        if (ldap_rc_is_transport(rc))
                return -EHOSTDOWN;
        return -EIO;
}

int ldap_bind_simple(LDAP *ld, const char *dn, const char *pw, size_t pw_len)
{
        struct berval cred = { .bv_len = pw_len, .bv_val = (char *)pw };
        return ldap_sasl_bind_s(ld, dn ? dn : "", LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

int ldap_bind_service(const struct ldap_settings *s, LDAP *ld)
{
        if (!s->bind_dn)
                return ldap_bind_simple(ld, NULL, "", 0); /* back to anonymous */
        return ldap_bind_simple(ld, s->bind_dn, s->bind_password, strlen(s->bind_password));
}

static struct timeval ms_to_tv(int ms)
{
        return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

/* libldap bounds TCP connect (LDAP_OPT_NETWORK_TIMEOUT) and operations
 * (LDAP_OPT_TIMEOUT, which covers the StartTLS request), but not the TLS
 * handshake of ldaps:// or after StartTLS: against a server that accepts
 * TCP and then stays silent it spins forever. So every connection attempt
 * runs under a watchdog that shuts the socket down at the deadline, which
 * makes the handshake fail at once. The socket is learnt through a connect
 * callback; the attempt in progress on this thread is found through a
 * thread-local pointer, so the callback itself needs no per-handle state. */
struct watchdog {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct timespec deadline; /* CLOCK_MONOTONIC */
        int fd;
        bool done, fired;
};

static __thread struct watchdog *current_watchdog;

static int watchdog_conn_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
                             struct ldap_conncb *ctx)
{
        struct watchdog *w = current_watchdog;
        ber_socket_t fd = -1;

        if (w && ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) == 1) {
                pthread_mutex_lock(&w->lock);
                w->fd = fd;
                pthread_mutex_unlock(&w->lock);
        }
        return 0;
}

static void watchdog_conn_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
}

static struct ldap_conncb watchdog_cb = {
        .lc_add = watchdog_conn_add,
        .lc_del = watchdog_conn_del,
};

static void *watchdog_thread(void *p)
{
        struct watchdog *w = p;

        pthread_mutex_lock(&w->lock);
        while (!w->done) {
                if (pthread_cond_timedwait(&w->cond, &w->lock, &w->deadline) == ETIMEDOUT) {
                        if (w->fd >= 0)
                                shutdown(w->fd, SHUT_RDWR);
                        w->fired = true;
                        break;
                }
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static void deadline_after(struct timespec *ts, int ms)
{
        clock_gettime(CLOCK_MONOTONIC, ts);
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

/* Connect (TCP, TLS) and bind the service; runs under the watchdog. */
static int connect_and_bind(const struct ldap_settings *s, const char *uri, LDAP *ld)
{
        int rc;

        if (ldap_is_ldaps_url(uri))
                rc = ldap_connect(ld); /* TCP + TLS handshake now */
        else if (s->starttls)
                rc = ldap_start_tls_s(ld, NULL, NULL);
        else
                rc = ldap_connect(ld);
        if (rc == LDAP_SUCCESS)
                rc = ldap_bind_service(s, ld);
        return rc;
}

static int connect_guarded(const struct ldap_settings *s, const char *uri, LDAP *ld)
{
        struct watchdog w = { .fd = -1 };
        pthread_condattr_t ca;
        pthread_t th;
        int rc;

        pthread_mutex_init(&w.lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w.cond, &ca);
        pthread_condattr_destroy(&ca);
        deadline_after(&w.deadline, s->connect_timeout_ms + s->timeout_ms);

        bool guarded = pthread_create(&th, NULL, watchdog_thread, &w) == 0;
        current_watchdog = &w;
        ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &watchdog_cb);
        rc = connect_and_bind(s, uri, ld);
        current_watchdog = NULL;
        if (guarded) {
                pthread_mutex_lock(&w.lock);
                w.done = true;
                w.fd = -1; /* from now on the socket may be closed and reused */
                pthread_cond_signal(&w.cond);
                pthread_mutex_unlock(&w.lock);
                pthread_join(th, NULL);
        }
        if (w.fired && rc != LDAP_SUCCESS)
                rc = LDAP_TIMEOUT;
        pthread_mutex_destroy(&w.lock);
        pthread_cond_destroy(&w.cond);
        return rc;
}

/* Connect to one server, secure the connection and bind as the service. */
static int open_one(const struct ldap_settings *s, const char *uri, LDAP **out, char **error)
{
        LDAP *ld = NULL;
        int rc, v;
        struct timeval net = ms_to_tv(s->connect_timeout_ms);
        struct timeval op = ms_to_tv(s->timeout_ms);

        rc = ldap_initialize(&ld, uri);
        if (rc != LDAP_SUCCESS) {
                *error = g_strdup_printf("%s: %s", uri, ldap_err2string(rc));
                return -EINVAL;
        }
        v = LDAP_VERSION3;
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v);
        ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net);
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op);
        /* TLS options on this handle only, then a fresh context built from
         * them (LDAP_OPT_X_TLS_NEWCTX): no process-wide TLS state. */
        v = s->tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
        ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &v);
        v = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
        ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &v);
        if (s->ca_file)
                ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, s->ca_file);
        v = 0; /* client context */
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &v);
        if (rc != LDAP_OPT_SUCCESS) {
                *error = g_strdup_printf("%s: cannot set up TLS", uri);
                ldap_unbind_ext_s(ld, NULL, NULL);
                return -EIO;
        }

        rc = connect_guarded(s, uri, ld);
        if (rc != LDAP_SUCCESS) {
                char *diag = NULL;
                ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
                *error = g_strdup_printf("%s: %s%s%s%s", uri, ldap_err2string(rc),
                                         diag && *diag ? " (" : "", diag && *diag ? diag : "",
                                         diag && *diag ? ")" : "");
                ldap_memfree(diag);
                ldap_unbind_ext_s(ld, NULL, NULL);
                if (rc == LDAP_INVALID_CREDENTIALS)
                        return -EACCES; /* the service account's, not the user's */
                return rc == LDAP_TIMEOUT ? -ETIMEDOUT : -EHOSTDOWN;
        }
        *out = ld;
        return 0;
}

/* Try every server once, starting with the one that answered last. */
static int open_any(struct ldap_pool *p, LDAP **out, char **error)
{
        const struct ldap_settings *s = p->s;
        int start = __atomic_load_n(&p->preferred, __ATOMIC_RELAXED);
        GString *why = g_string_new(NULL);
        int r = -EHOSTDOWN;

        for (size_t i = 0; i < s->n_uris; i++) {
                int idx = (int)((start + i) % s->n_uris);
                g_autofree char *e = NULL;

                r = open_one(s, s->uris[idx], out, &e);
                if (r == 0) {
                        __atomic_store_n(&p->preferred, idx, __ATOMIC_RELAXED);
                        g_string_free(why, TRUE);
                        return 0;
                }
                g_string_append_printf(why, "%s%s", why->len ? "; " : "", e ? e : "failed");
        }
        if (error) {
                g_free(*error);
                *error = g_strdup_printf("no directory server usable: %s", why->str);
        }
        g_string_free(why, TRUE);
        /* A bad service password is a configuration problem, not an outage. */
        return r == -EACCES ? -EIO : r == -ETIMEDOUT ? -ETIMEDOUT : -EHOSTDOWN;
}

void ldap_pool_init(struct ldap_pool *p, const struct ldap_settings *s)
{
        pthread_condattr_t ca;

        memset(p, 0, sizeof(*p));
        p->s = s;
        p->idle = g_new0(LDAP *, s->pool_size);
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
}

void ldap_pool_destroy(struct ldap_pool *p)
{
        for (unsigned i = 0; i < p->n_idle; i++)
                ldap_unbind_ext_s(p->idle[i], NULL, NULL);
        g_free(p->idle);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
}

int ldap_pool_acquire(struct ldap_pool *p, LDAP **out, char **error)
{
        struct timespec deadline;
        LDAP *ld = NULL;
        int r;

        deadline_after(&deadline, p->s->timeout_ms);

        pthread_mutex_lock(&p->lock);
        for (;;) {
                if (p->n_idle > 0) {
                        ld = p->idle[--p->n_idle];
                        break;
                }
                if (p->n_open < p->s->pool_size) {
                        p->n_open++;
                        break;
                }
                if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) == ETIMEDOUT) {
                        pthread_mutex_unlock(&p->lock);
                        if (error) {
                                g_free(*error);
                                *error = g_strdup_printf("all %u directory connections stayed "
                                                         "busy for %d ms",
                                                         p->s->pool_size, p->s->timeout_ms);
                        }
                        return -ETIMEDOUT;
                }
        }
        pthread_mutex_unlock(&p->lock);
        if (ld) {
                *out = ld;
                return 0;
        }
        r = open_any(p, out, error);
        if (r < 0) {
                pthread_mutex_lock(&p->lock);
                p->n_open--;
                pthread_cond_signal(&p->cond);
                pthread_mutex_unlock(&p->lock);
        }
        return r;
}

void ldap_pool_release(struct ldap_pool *p, LDAP *ld, bool reusable)
{
        if (!ld)
                return;
        if (!reusable)
                ldap_unbind_ext_s(ld, NULL, NULL);
        pthread_mutex_lock(&p->lock);
        if (reusable)
                p->idle[p->n_idle++] = ld;
        else
                p->n_open--;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
}
