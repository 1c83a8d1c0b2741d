/* [ldap] configuration: schema, presets, validation, filter escaping. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ldap-internal.h"

const struct conf_option auth_ldap_conf_options[] = {
        AUTH_LDAP_CONF_OPTIONS(struct auth_ldap_conf_file, ldap),
};
const size_t auth_ldap_conf_options_count = G_N_ELEMENTS(auth_ldap_conf_options);

struct preset {
        const char *name;
        const char *user_filter;
        const char *login_attrs; /* ',' separated */
        const char *name_attr;
        const char *mail_attr;
};

static const struct preset presets[] = {
        {
                .name = "openldap",
                .user_filter = "(objectClass=inetOrgPerson)",
                .login_attrs = "uid",
                .name_attr = "cn",
                .mail_attr = "mail",
        },
        {
                /* Enabled person accounts (userAccountControl bit 2 = disabled). */
                .name = "ad",
                .user_filter = "(&(objectCategory=person)(objectClass=user)"
                               "(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
                .login_attrs = "sAMAccountName,userPrincipalName",
                .name_attr = "displayName",
                .mail_attr = "mail",
        },
};

char *auth_ldap_escape_filter_value(const char *value, size_t len)
{
        struct berval in = { .bv_len = len, .bv_val = (char *)value };
        struct berval out = { 0 };
        char *s;

        /* RFC 4515 §3 via libldap: escapes NUL, '(', ')', '*', '\\' and
         * bytes outside ASCII as \XX. */
        if (ldap_bv2escaped_filter_value(&in, &out) != 0)
                return NULL;
        s = strndup(out.bv_val, out.bv_len);
        ber_memfree(out.bv_val);
        return s;
}

static bool attr_name_ok(const char *a)
{
        /* RFC 4512 descr (letters, digits, '-') or a numeric OID. */
        if (!a || !*a)
                return false;
        for (const char *p = a; *p; p++)
                if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != ';')
                        return false;
        return true;
}

static bool filter_balanced(const char *f)
{
        int depth = 0;
        size_t n = strlen(f);

        if (n < 3 || f[0] != '(' || f[n - 1] != ')')
                return false;
        for (const char *p = f; *p; p++) {
                if (*p == '(')
                        depth++;
                else if (*p == ')' && --depth < 0)
                        return false;
                if (depth == 0 && p[1])
                        return false; /* one filter, not several */
        }
        return depth == 0;
}

static char *read_secret_file(const char *path, char **error)
{
        g_autofree char *data = NULL;
        g_autoptr(GError) err = NULL;

        if (!g_file_get_contents(path, &data, NULL, &err)) {
                *error = g_strdup_printf("[ldap] bind_password_file: %s", err->message);
                return NULL;
        }
        data[strcspn(data, "\r\n")] = '\0';
        return g_strdup(data);
}

void ldap_settings_clear(struct ldap_settings *s)
{
        g_strfreev(s->uris);
        g_free(s->base_dn);
        g_free(s->user_base);
        g_free(s->group_base);
        g_free(s->bind_dn);
        if (s->bind_password) {
                explicit_bzero(s->bind_password, strlen(s->bind_password));
                g_free(s->bind_password);
        }
        g_free(s->ca_file);
        g_free(s->user_filter);
        g_strfreev(s->login_attrs);
        g_free(s->name_attr);
        g_free(s->mail_attr);
        memset(s, 0, sizeof(*s));
}

static bool nonempty(const char *s)
{
        return s && *s;
}

int ldap_settings_resolve(const struct auth_ldap_config *cfg, struct ldap_settings *s,
                          char **error)
{
        const struct preset *pr = NULL;
        const char *preset = nonempty(cfg->preset) ? cfg->preset : "openldap";

        memset(s, 0, sizeof(*s));
        for (size_t i = 0; i < G_N_ELEMENTS(presets); i++)
                if (!g_ascii_strcasecmp(presets[i].name, preset))
                        pr = &presets[i];
        if (!pr) {
                *error = g_strdup_printf("[ldap] preset: unknown preset \"%s\" (use openldap or ad)",
                                         preset);
                return -EINVAL;
        }
        if (!cfg->uris || !cfg->uris[0]) {
                *error = g_strdup("[ldap] uri: no directory server configured");
                return -EINVAL;
        }
        for (char **u = cfg->uris; *u; u++) {
                if (!ldap_is_ldap_url(*u) && !ldap_is_ldaps_url(*u)) {
                        *error = g_strdup_printf("[ldap] uri: \"%s\" is not an ldap:// or "
                                                 "ldaps:// URI",
                                                 *u);
                        return -EINVAL;
                }
        }
        if (!nonempty(cfg->base_dn)) {
                *error = g_strdup("[ldap] base_dn: must be set, e.g. dc=example,dc=org");
                return -EINVAL;
        }
        if (nonempty(cfg->bind_password) && nonempty(cfg->bind_password_file)) {
                *error = g_strdup("[ldap] bind_password_file: set either bind_password or "
                                  "bind_password_file, not both");
                return -EINVAL;
        }
        if (nonempty(cfg->user_filter) && !filter_balanced(cfg->user_filter)) {
                *error = g_strdup_printf("[ldap] user_filter: \"%s\" is not one parenthesised "
                                         "LDAP filter",
                                         cfg->user_filter);
                return -EINVAL;
        }

        s->uris = g_strdupv(cfg->uris);
        s->n_uris = g_strv_length(s->uris);
        s->base_dn = g_strdup(cfg->base_dn);
        s->user_base = g_strdup(nonempty(cfg->user_base) ? cfg->user_base : cfg->base_dn);
        s->group_base = g_strdup(nonempty(cfg->group_base) ? cfg->group_base : cfg->base_dn);
        s->ca_file = nonempty(cfg->ca_file) ? g_strdup(cfg->ca_file) : NULL;
        s->starttls = cfg->starttls;
        s->tls_verify = cfg->tls_verify;
        s->use_memberof = cfg->use_memberof;
        s->group_depth = (int)cfg->group_depth;
        s->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? (int)cfg->connect_timeout_ms : 3000;
        s->timeout_ms = cfg->timeout_ms > 0 ? (int)cfg->timeout_ms : 5000;
        s->pool_size = cfg->pool_size > 0 ? (unsigned)cfg->pool_size : 4;
        s->user_filter = g_strdup(nonempty(cfg->user_filter) ? cfg->user_filter : pr->user_filter);
        if (cfg->login_attrs && cfg->login_attrs[0])
                s->login_attrs = g_strdupv(cfg->login_attrs);
        else
                s->login_attrs = g_strsplit(pr->login_attrs, ",", -1);
        s->name_attr = g_strdup(nonempty(cfg->name_attr) ? cfg->name_attr : pr->name_attr);
        s->mail_attr = g_strdup(nonempty(cfg->mail_attr) ? cfg->mail_attr : pr->mail_attr);

        for (char **a = s->login_attrs; *a; a++) {
                if (!attr_name_ok(*a)) {
                        *error = g_strdup_printf("[ldap] login_attrs: \"%s\" is not an "
                                                 "attribute name",
                                                 *a);
                        goto fail;
                }
        }
        if (!attr_name_ok(s->name_attr) || !attr_name_ok(s->mail_attr)) {
                *error = g_strdup("[ldap] name_attr/mail_attr: not an attribute name");
                goto fail;
        }
        if (nonempty(cfg->bind_dn)) {
                s->bind_dn = g_strdup(cfg->bind_dn);
                if (nonempty(cfg->bind_password_file)) {
                        s->bind_password = read_secret_file(cfg->bind_password_file, error);
                        if (!s->bind_password)
                                goto fail;
                } else {
                        s->bind_password = g_strdup(cfg->bind_password ? cfg->bind_password : "");
                }
                /* The service account's own bind must not be an
                 * unauthenticated one either. */
                if (!*s->bind_password) {
                        *error = g_strdup("[ldap] bind_password: the service account needs a "
                                          "password (or leave bind_dn empty for anonymous "
                                          "search)");
                        goto fail;
                }
        }
        return 0;

fail:
        ldap_settings_clear(s);
        return -EINVAL;
}
