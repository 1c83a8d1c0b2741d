/* The LDAP backend: search the user with the service connection, bind as
 * the user to check the password, bind back as the service, resolve
 * groups. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ldap-internal.h"

struct ldap_auth {
        struct ldap_settings s;
        struct ldap_pool pool;
};

static int ldap_auth_open(const void *config, void **state, char **error)
{
        struct ldap_auth *a = g_new0(struct ldap_auth, 1);
        int r = ldap_settings_resolve(config, &a->s, error);
        if (r < 0) {
                g_free(a);
                return r;
        }
        ldap_pool_init(&a->pool, &a->s);
        *state = a;
        return 0;
}

static void ldap_auth_close(void *state)
{
        struct ldap_auth *a = state;
        if (!a)
                return;
        ldap_pool_destroy(&a->pool);
        ldap_settings_clear(&a->s);
        g_free(a);
}

/* "(&<user_filter>(|(a1=v)(a2=v)…))" with v escaped per RFC 4515. */
static char *user_filter(const struct ldap_settings *s, const struct auth_credentials *cred)
{
        g_autofree char *v = auth_ldap_escape_filter_value(cred->login, cred->login_len);
        GString *f;

        if (!v)
                return NULL;
        f = g_string_new("(&");
        g_string_append(f, s->user_filter);
        g_string_append(f, "(|");
        for (char **a = s->login_attrs; *a; a++)
                g_string_append_printf(f, "(%s=%s)", *a, v);
        g_string_append(f, "))");
        return g_string_free(f, FALSE);
}

static char *first_value(LDAP *ld, LDAPMessage *e, const char *attr)
{
        struct berval **vals = ldap_get_values_len(ld, e, attr);
        char *v = NULL;
        if (vals && vals[0])
                v = g_strndup(vals[0]->bv_val, vals[0]->bv_len);
        ldap_value_free_len(vals);
        return v;
}

static char **all_values(LDAP *ld, LDAPMessage *e, const char *attr)
{
        struct berval **vals = ldap_get_values_len(ld, e, attr);
        int n = ldap_count_values_len(vals);
        char **v = NULL;
        if (n > 0) {
                v = g_new0(char *, (size_t)n + 1);
                for (int i = 0; i < n; i++)
                        v[i] = g_strndup(vals[i]->bv_val, vals[i]->bv_len);
        }
        ldap_value_free_len(vals);
        return v;
}

/* Outcome of one attempt on one connection. */
struct attempt {
        bool conn_ok;   /* connection may go back to the pool */
        bool transient; /* connection-level failure: worth one retry */
};

static int authenticate_on(struct ldap_auth *a, LDAP *ld, const struct auth_credentials *cred,
                           struct auth_identity **out, struct attempt *at, char **error)
{
        const struct ldap_settings *s = &a->s;
        g_autofree char *filter = user_filter(s, cred);
        g_autoptr(GPtrArray) attrs = g_ptr_array_new();
        g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(g_free);
        struct timeval tv = { .tv_sec = s->timeout_ms / 1000,
                              .tv_usec = (s->timeout_ms % 1000) * 1000 };
        LDAPMessage *res = NULL, *e;
        g_autofree char *dn = NULL, *login = NULL, *name = NULL, *mail = NULL;
        g_auto(GStrv) memberof = NULL;
        int rc, bind_rc;

        at->conn_ok = true;
        at->transient = false;
        if (!filter)
                return -ENOMEM;
        for (char **l = s->login_attrs; *l; l++)
                g_ptr_array_add(attrs, *l);
        g_ptr_array_add(attrs, s->name_attr);
        g_ptr_array_add(attrs, s->mail_attr);
        if (s->use_memberof)
                g_ptr_array_add(attrs, (char *)"memberOf");
        g_ptr_array_add(attrs, NULL);

        /* Size limit 2: one match is a user, two are an ambiguity we refuse. */
        rc = ldap_search_ext_s(ld, s->user_base, LDAP_SCOPE_SUBTREE, filter,
                               (char **)attrs->pdata, 0, NULL, NULL, &tv, 2, &res);
        if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED && rc != LDAP_NO_SUCH_OBJECT) {
                ldap_msgfree(res);
                at->transient = ldap_rc_is_transport(rc);
                at->conn_ok = !at->transient;
                return ldap_fail(ld, rc, "user search", error);
        }
        if (ldap_count_entries(ld, res) != 1 || rc == LDAP_SIZELIMIT_EXCEEDED) {
                ldap_msgfree(res);
                return auth_fail_credentials(error);
        }
        e = ldap_first_entry(ld, res);
        char *d = ldap_get_dn(ld, e);
        dn = g_strdup(d);
        ldap_memfree(d);
        login = first_value(ld, e, s->login_attrs[0]);
        name = first_value(ld, e, s->name_attr);
        mail = first_value(ld, e, s->mail_attr);
        if (s->use_memberof)
                memberof = all_values(ld, e, "memberOf");
        ldap_msgfree(res);
        if (!dn || !*dn || !login) {
                /* No canonical login (e.g. AD entry without sAMAccountName). */
                return auth_fail_credentials(error);
        }

        /* The password check. Whatever it returns, the connection is now
         * bound as the user or anonymous: bind the service back before it
         * may return to the pool. */
        bind_rc = ldap_bind_simple(ld, dn, cred->password, cred->password_len);
        rc = ldap_bind_service(s, ld);
        if (rc != LDAP_SUCCESS) {
                at->conn_ok = false;
                at->transient = ldap_rc_is_transport(rc);
                return ldap_fail(ld, rc, "service re-bind", error);
        }
        if (bind_rc != LDAP_SUCCESS) {
                if (ldap_rc_is_transport(bind_rc)) {
                        at->transient = true;
                        return ldap_fail(ld, bind_rc, "user bind", error);
                }
                /* invalidCredentials, unwillingToPerform, inappropriateAuth… */
                return auth_fail_credentials(error);
        }

        rc = ldap_groups_resolve(ld, s, dn, login, memberof, groups);
        if (rc != LDAP_SUCCESS) {
                at->transient = ldap_rc_is_transport(rc);
                at->conn_ok = !at->transient;
                return ldap_fail(ld, rc, "group search", error);
        }

        struct auth_identity *id = g_new0(struct auth_identity, 1);
        id->backend = g_strdup("ldap");
        id->dn = g_steal_pointer(&dn);
        id->login = g_steal_pointer(&login);
        id->display_name = name ? g_steal_pointer(&name) : g_strdup("");
        id->email = mail ? g_steal_pointer(&mail) : g_strdup("");
        g_ptr_array_add(groups, NULL);
        id->groups = (char **)g_ptr_array_steal(groups, NULL);
        id->n_groups = auth_groups_normalize(id->groups);
        *out = id;
        return 0;
}

static int ldap_auth_authenticate(void *state, const struct auth_credentials *cred,
                                  struct auth_identity **out, char **error)
{
        struct ldap_auth *a = state;
        int r = -EIO;

        /* Nothing unacceptable reaches the directory: above all no empty
         * password (an unauthenticated bind succeeds on many servers). */
        if (!auth_credentials_acceptable(cred))
                return auth_fail_credentials(error);

        for (int attempt = 0; attempt < 2; attempt++) {
                struct attempt at = { 0 };
                LDAP *ld = NULL;

                r = ldap_pool_acquire(&a->pool, &ld, error);
                if (r < 0)
                        return r;
                r = authenticate_on(a, ld, cred, out, &at, error);
                ldap_pool_release(&a->pool, ld, at.conn_ok);
                /* A pooled connection may have died while idle (server
                 * restart, idle timeout): retry once on a new connection,
                 * which also fails over to the next server. */
                if (r < 0 && at.transient)
                        continue;
                break;
        }
        if (r == 0 && error && *error)
                g_clear_pointer(error, g_free); /* from a retried attempt */
        return r;
}

const struct auth_backend_ops auth_ldap_backend = {
        .name = "ldap",
        .open = ldap_auth_open,
        .close = ldap_auth_close,
        .authenticate = ldap_auth_authenticate,
};
