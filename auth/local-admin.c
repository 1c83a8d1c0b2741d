/* The local admin backend (auth/local-admin.h): crypt(3) hashes through
 * libcrypt (yescrypt, SHA-512 crypt, bcrypt). */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/local-admin.h"
#include "token.h"

const struct conf_option auth_local_conf_options[] = {
        AUTH_LOCAL_CONF_OPTIONS(struct auth_local_conf_file, local),
};
const size_t auth_local_conf_options_count = G_N_ELEMENTS(auth_local_conf_options);

struct local_admin {
        char *user;
        char *hash;
        char **groups;
};

/* Hash methods strong enough for an administrator password. */
static const char *const strong_prefixes[] = { "$y$", "$gy$", "$7$", "$2b$", "$2y$", "$6$" };

static bool hash_method_ok(const char *hash)
{
        for (size_t i = 0; i < G_N_ELEMENTS(strong_prefixes); i++)
                if (g_str_has_prefix(hash, strong_prefixes[i]))
                        return true;
        return false;
}

/* crypt_r into a heap buffer (struct crypt_data is ~32 KiB). Returns a
 * g_malloc'd result, or NULL when the hash is malformed. */
static char *hash_password(const char *password, const char *setting)
{
        struct crypt_data *cd = calloc(1, sizeof(*cd));
        char *out = NULL;

        if (!cd)
                return NULL;
        const char *h = crypt_r(password, setting, cd);
        /* libxcrypt signals failure with a string starting with '*'. */
        if (h && h[0] != '*')
                out = g_strdup(h);
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
        return out;
}

static int local_open(const void *config, void **state, char **error)
{
        const struct auth_local_config *cfg = config;
        struct local_admin *a;

        if (!cfg->user || !*cfg->user) {
                *error = g_strdup("[local-admin] user: must not be empty");
                return -EINVAL;
        }
        if (!cfg->password_hash || !*cfg->password_hash) {
                *error = g_strdup("[local-admin] password_hash: not set (make one with "
                                  "mkpasswd -m yescrypt or openssl passwd -6)");
                return -EINVAL;
        }
        if (!hash_method_ok(cfg->password_hash)) {
                *error = g_strdup("[local-admin] password_hash: unsupported or weak hash method "
                                  "(use $y$ yescrypt or $6$ SHA-512 crypt)");
                return -EINVAL;
        }
        g_autofree char *probe = hash_password("probe", cfg->password_hash);
        if (!probe) {
                *error = g_strdup("[local-admin] password_hash: malformed hash");
                return -EINVAL;
        }
        a = g_new0(struct local_admin, 1);
        a->user = g_strdup(cfg->user);
        a->hash = g_strdup(cfg->password_hash);
        a->groups = cfg->groups ? g_strdupv(cfg->groups) : g_new0(char *, 1);
        *state = a;
        return 0;
}

static void local_close(void *state)
{
        struct local_admin *a = state;
        if (!a)
                return;
        g_free(a->user);
        g_free(a->hash);
        g_strfreev(a->groups);
        g_free(a);
}

static int local_authenticate(void *state, const struct auth_credentials *cred,
                              struct auth_identity **out, char **error)
{
        struct local_admin *a = state;
        g_autofree char *login = NULL, *password = NULL, *computed = NULL;
        bool user_ok, pw_ok;

        if (!auth_credentials_acceptable(cred))
                return auth_fail_credentials(error);
        login = g_strndup(cred->login, cred->login_len);
        password = g_strndup(cred->password, cred->password_len);
        /* Hash even for the wrong user name, so timing does not tell. */
        computed = hash_password(password, a->hash);
        explicit_bzero(password, cred->password_len);
        user_ok = token_equal(login, a->user);
        pw_ok = computed && token_equal(computed, a->hash);
        if (!user_ok || !pw_ok)
                return auth_fail_credentials(error);

        struct auth_identity *id = g_new0(struct auth_identity, 1);
        id->backend = g_strdup("local");
        id->login = g_strdup(a->user);
        id->display_name = g_strdup(a->user);
        id->email = g_strdup("");
        id->groups = g_strdupv(a->groups);
        id->n_groups = auth_groups_normalize(id->groups);
        *out = id;
        return 0;
}

const struct auth_backend_ops auth_local_backend = {
        .name = "local",
        .open = local_open,
        .close = local_close,
        .authenticate = local_authenticate,
};
