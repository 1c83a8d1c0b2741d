/* Internals shared by the auth/ldap-*.c files. */
#pragma once

#include <glib.h>
#include <ldap.h>
#include <pthread.h>
#include <stdbool.h>

#include "auth/auth.h"
#include "auth/ldap.h"

/* The configuration after presets and defaults are applied. */
struct ldap_settings {
        char **uris; /* NULL-terminated */
        size_t n_uris;
        char *base_dn, *user_base, *group_base;
        char *bind_dn, *bind_password; /* bind_dn NULL: anonymous search */
        char *ca_file;
        char *user_filter; /* "(…)" */
        char **login_attrs;
        char *name_attr, *mail_attr;
        bool starttls, tls_verify, use_memberof;
        int group_depth;
        int connect_timeout_ms, timeout_ms;
        unsigned pool_size;
};

int ldap_settings_resolve(const struct auth_ldap_config *cfg, struct ldap_settings *s,
                          char **error);
void ldap_settings_clear(struct ldap_settings *s);

/* Service-bound connections. A connection in the pool is always bound as
 * the service account (or anonymous when so configured), never as a user. */
struct ldap_pool {
        const struct ldap_settings *s;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        LDAP **idle;
        unsigned n_idle, n_open;
        int preferred; /* index of the server that answered last */
};

void ldap_pool_init(struct ldap_pool *p, const struct ldap_settings *s);
void ldap_pool_destroy(struct ldap_pool *p);
/* A bound connection: pooled, or new (trying each server in turn). */
int ldap_pool_acquire(struct ldap_pool *p, LDAP **out, char **error);
/* Return ld; reusable false closes it (transport error, unknown bind state). */
void ldap_pool_release(struct ldap_pool *p, LDAP *ld, bool reusable);

/* Bind ld as the service account (anonymous when none). LDAP result code. */
int ldap_bind_service(const struct ldap_settings *s, LDAP *ld);
/* Simple bind with a DN and password of explicit length. LDAP result code. */
int ldap_bind_simple(LDAP *ld, const char *dn, const char *pw, size_t pw_len);
/* True for result codes that mean the connection, not the request, failed. */
bool ldap_rc_is_transport(int rc);
/* Errno and message for a failed operation. */
int ldap_fail(LDAP *ld, int rc, const char *what, char **error);

/* Append the DNs of every group the user belongs to (directly and through
 * nesting up to s->group_depth) to out (g_strdup'd strings). memberof is
 * the user entry's memberOf values (may be NULL). LDAP result code. */
int ldap_groups_resolve(LDAP *ld, const struct ldap_settings *s, const char *user_dn,
                        const char *login, char **memberof, GPtrArray *out);
