/* Shared parts of the authentication backends. */
#include "config.h"

#include "auth/auth.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* Every backend, in the order a configuration would list them. */
static const struct auth_backend_ops *const backends[] = {
        &auth_ldap_backend,
        &auth_local_backend,
};

const struct auth_backend_ops *auth_backend_find(const char *name)
{
        for (size_t i = 0; i < G_N_ELEMENTS(backends); i++)
                if (name && !strcmp(backends[i]->name, name))
                        return backends[i];
        return NULL;
}

void auth_identity_free(struct auth_identity *id)
{
        if (!id)
                return;
        g_free(id->backend);
        g_free(id->dn);
        g_free(id->login);
        g_free(id->display_name);
        g_free(id->email);
        g_strfreev(id->groups);
        g_free(id);
}

bool auth_credentials_acceptable(const struct auth_credentials *cred)
{
        if (!cred || !cred->login || !cred->password)
                return false;
        if (cred->login_len == 0 || cred->login_len > AUTH_MAX_LOGIN)
                return false;
        if (cred->password_len == 0 || cred->password_len > AUTH_MAX_PASSWORD)
                return false;
        if (memchr(cred->password, '\0', cred->password_len))
                return false;
        if (!g_utf8_validate(cred->login, (gssize)cred->login_len, NULL))
                return false;
        for (size_t i = 0; i < cred->login_len; i++) {
                unsigned char c = (unsigned char)cred->login[i];
                if (c < 0x20 || c == 0x7f)
                        return false;
        }
        return true;
}

int auth_fail_credentials(char **error)
{
        if (error) {
                g_free(*error);
                *error = g_strdup(AUTH_INVALID_CREDENTIALS);
        }
        return -EACCES;
}

static int cmp_ci(const void *a, const void *b)
{
        return g_ascii_strcasecmp(*(char *const *)a, *(char *const *)b);
}

size_t auth_groups_normalize(char **groups)
{
        size_t n = 0, out = 0;

        if (!groups)
                return 0;
        while (groups[n])
                n++;
        qsort(groups, n, sizeof(*groups), cmp_ci);
        for (size_t i = 0; i < n; i++) {
                if (out > 0 && !g_ascii_strcasecmp(groups[out - 1], groups[i])) {
                        g_free(groups[i]);
                        continue;
                }
                groups[out++] = groups[i];
        }
        groups[out] = NULL;
        return out;
}
