/* The local admin backend: one bootstrap administrator whose password hash
 * is in the configuration, for first setup and for when the directory is
 * down. Use through auth_local_backend (auth/auth.h) with a struct
 * auth_local_config.
 *
 *   [local-admin]
 *   user = admin
 *   # crypt(3) hash: yescrypt ($y$, `mkpasswd -m yescrypt`), or SHA-512
 *   # crypt ($6$, `openssl passwd -6`); bcrypt ($2b$) also accepted.
 *   password_hash = $y$j9T$...
 *   groups = vdi-admins
 */
#pragma once

#include <stddef.h>

#include "conf.h"

struct auth_local_config {
        char *user;
        char *password_hash;
        char **groups;
};

#define AUTH_LOCAL_CONF_OPTIONS(type, member)                                                   \
        { "local-admin", "user", CONF_STRING, offsetof(type, member.user), "admin", 0, 0, 0,  \
          "login name of the bootstrap administrator" },                                       \
        { "local-admin", "password_hash", CONF_STRING, offsetof(type, member.password_hash),  \
          NULL, 0, 0, CONF_SECRET,                                                             \
          "crypt(3) hash of its password: $y$ (mkpasswd -m yescrypt) or $6$ "                  \
          "(openssl passwd -6); empty disables the account" },                                  \
        { "local-admin", "groups", CONF_STRLIST, offsetof(type, member.groups), "vdi-admins", \
          0, 0, 0, "groups the administrator is treated as a member of" }

struct auth_local_conf_file {
        struct auth_local_config local;
};
extern const struct conf_option auth_local_conf_options[];
extern const size_t auth_local_conf_options_count;
