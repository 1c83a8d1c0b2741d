/* Authentication backends behind one table of functions (CONVENTIONS.md
 * "Interfaces are const tables of functions"). A backend checks a user
 * name and password and describes the user: DN, login name, display name,
 * e-mail and group DNs. LDAP (auth/ldap.h) is the main backend; the local
 * admin backend (auth/local-admin.h) lets an administrator in while the
 * directory is unreachable or not yet configured.
 *
 * Errors: 0 or a negative errno, and a malloc'd message in *error:
 *   -EACCES      bad credentials. Wrong password, unknown user, empty or
 *                malformed user name or password all give this same code
 *                and the same message (AUTH_INVALID_CREDENTIALS), so the
 *                caller cannot tell them apart (DESIGN.md §8).
 *   -EHOSTDOWN   no directory server could be reached or trusted
 *   -ETIMEDOUT   the directory did not answer in time
 *   -EINVAL      bad configuration (at open)
 *   -ENOMEM, -EIO  everything else
 * Messages never contain passwords. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define AUTH_INVALID_CREDENTIALS "invalid user name or password"

/* Longest accepted user name and password, in bytes. */
#define AUTH_MAX_LOGIN 256
#define AUTH_MAX_PASSWORD 1024

/* What the user typed. Lengths are explicit so a NUL inside a form field
 * is seen (and refused) rather than silently cutting the name short. */
struct auth_credentials {
        const char *login;
        size_t login_len;
        const char *password;
        size_t password_len;
};

/* Convenience for NUL-terminated strings (NULL counts as empty). */
static inline struct auth_credentials auth_credentials_from(const char *login,
                                                            const char *password)
{
        return (struct auth_credentials){
                .login = login,
                .login_len = login ? strlen(login) : 0,
                .password = password,
                .password_len = password ? strlen(password) : 0,
        };
}
#define AUTH_CREDENTIALS(l, p) auth_credentials_from((l), (p))

/* An authenticated user. All strings malloc'd; free with auth_identity_free. */
struct auth_identity {
        char *backend;      /* "ldap", "local" */
        char *dn;           /* directory DN (NULL for the local backend) */
        char *login;        /* canonical login name, as the directory spells it */
        char *display_name; /* "" when unknown */
        char *email;        /* "" when unknown */
        char **groups;      /* NULL-terminated, sorted group DNs (or names) */
        size_t n_groups;
};

void auth_identity_free(struct auth_identity *id);
static inline void auth_identity_freep(struct auth_identity **id)
{
        auth_identity_free(*id);
}

struct auth_backend_ops {
        const char *name;
        /* Validate config (the backend's own struct, see its header) and
         * prepare; no network traffic yet. The state may be used from
         * several threads at once. */
        int (*open)(const void *config, void **state, char **error);
        void (*close)(void *state);
        /* Check the credentials; on success store a new identity in *out. */
        int (*authenticate)(void *state, const struct auth_credentials *cred,
                            struct auth_identity **out, char **error);
};

extern const struct auth_backend_ops auth_ldap_backend;
extern const struct auth_backend_ops auth_local_backend;

/* The backend called name, or NULL. */
const struct auth_backend_ops *auth_backend_find(const char *name);

/* True when cred is acceptable to send anywhere: a user name of 1..
 * AUTH_MAX_LOGIN bytes of valid UTF-8 with no control characters, and a
 * password of 1..AUTH_MAX_PASSWORD bytes without NUL. An empty password
 * must never reach a bind: LDAP treats it as an unauthenticated bind that
 * many servers accept. */
bool auth_credentials_acceptable(const struct auth_credentials *cred);

/* Store the standard bad-credentials error. Returns -EACCES. */
int auth_fail_credentials(char **error);

/* Sort and de-duplicate (case-insensitively) a NULL-terminated string
 * vector in place; returns the new count. */
size_t auth_groups_normalize(char **groups);
