/* LDAP / Active Directory authentication (DESIGN.md §8): search-then-bind
 * with a service account (or anonymously), RFC 4515 escaping of every
 * filter value, StartTLS or LDAPS with certificate verification on by
 * default, several servers with connect and operation timeouts and
 * failover, group resolution (groupOfNames, groupOfUniqueNames, memberOf,
 * posixGroup memberUid, nested groups to a depth limit) and a small pool of
 * service-bound connections. Use through auth_ldap_backend (auth/auth.h)
 * with a struct auth_ldap_config.
 *
 * The [ldap] section (AUTH_LDAP_CONF_OPTIONS; run conf_print_example on
 * auth_ldap_conf_options for the commented example):
 *
 *   [ldap]
 *   # Directory servers, tried in order; ldaps:// or ldap:// (StartTLS).
 *   uri = ldaps://dc1.example.org;ldaps://dc2.example.org
 *   # Attribute mapping preset: openldap (uid, cn, mail) or ad
 *   # (sAMAccountName/userPrincipalName, displayName, mail).
 *   preset = openldap
 *   base_dn = dc=example,dc=org
 *   #user_base =            (default: base_dn)
 *   #group_base =           (default: base_dn)
 *   # Service account for searches; leave empty for anonymous search.
 *   bind_dn = cn=broker,ou=services,dc=example,dc=org
 *   bind_password_file = /etc/vdi/ldap-password   (or bind_password = …)
 *   #starttls = true        ldap:// URIs must upgrade with StartTLS
 *   #tls_verify = true      verify the server certificate and name
 *   ca_file = /etc/vdi/ldap-ca.pem   (default: the system trust store)
 *   #user_filter =          extra filter ANDed into the user search
 *   #login_attrs =          attributes a user may log in with (first is canonical)
 *   #name_attr =  / mail_attr =
 *   #use_memberof = true    take direct groups from memberOf when present
 *   #group_depth = 5        levels of nested groups to follow (0 = none)
 *   #connect_timeout_ms = 3000
 *   #timeout_ms = 5000
 *   #pool_size = 4 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct auth_ldap_config {
        char **uris;
        char *preset;
        char *base_dn;
        char *user_base;
        char *group_base;
        char *bind_dn;
        char *bind_password;
        char *bind_password_file;
        bool starttls;
        bool tls_verify;
        char *ca_file;
        char *user_filter;
        char **login_attrs;
        char *name_attr;
        char *mail_attr;
        bool use_memberof;
        int64_t group_depth;
        int64_t connect_timeout_ms;
        int64_t timeout_ms;
        int64_t pool_size;
};

/* conf_option entries for [ldap], for a daemon whose config struct `type`
 * holds a struct auth_ldap_config named `member`. */
#define AUTH_LDAP_CONF_OPTIONS(type, member)                                                    \
        { "ldap", "uri", CONF_STRLIST, offsetof(type, member.uris), NULL, 0, 0, CONF_REQUIRED, \
          "directory servers, tried in order: ldaps://host[:port] or ldap://host[:port] "     \
          "(StartTLS); separate with ';'" },                                                    \
        { "ldap", "preset", CONF_STRING, offsetof(type, member.preset), "openldap", 0, 0, 0,  \
          "attribute mapping: openldap (uid, cn, mail) or ad (sAMAccountName, "               \
          "userPrincipalName, displayName, mail)" },                                           \
        { "ldap", "base_dn", CONF_STRING, offsetof(type, member.base_dn), NULL, 0, 0,         \
          CONF_REQUIRED, "search base, e.g. dc=example,dc=org" },                              \
        { "ldap", "user_base", CONF_STRING, offsetof(type, member.user_base), NULL, 0, 0, 0,  \
          "where users are searched (default: base_dn)" },                                     \
        { "ldap", "group_base", CONF_STRING, offsetof(type, member.group_base), NULL, 0, 0, 0, \
          "where groups are searched (default: base_dn)" },                                    \
        { "ldap", "bind_dn", CONF_STRING, offsetof(type, member.bind_dn), NULL, 0, 0, 0,      \
          "service account used for searches; empty for anonymous search" },                   \
        { "ldap", "bind_password", CONF_STRING, offsetof(type, member.bind_password), NULL, 0, \
          0, CONF_SECRET, "its password (prefer bind_password_file)" },                        \
        { "ldap", "bind_password_file", CONF_PATH, offsetof(type, member.bind_password_file), \
          NULL, 0, 0, CONF_FILE_EXISTS, "file whose first line is the service password" },     \
        { "ldap", "starttls", CONF_BOOL, offsetof(type, member.starttls), "true", 0, 0, 0,    \
          "ldap:// URIs upgrade with StartTLS (false sends passwords in clear text)" },         \
        { "ldap", "tls_verify", CONF_BOOL, offsetof(type, member.tls_verify), "true", 0, 0, 0, \
          "verify the server certificate and host name" },                                     \
        { "ldap", "ca_file", CONF_PATH, offsetof(type, member.ca_file), NULL, 0, 0,           \
          CONF_FILE_EXISTS, "CA certificates (PEM) to trust (default: the system store)" },    \
        { "ldap", "user_filter", CONF_STRING, offsetof(type, member.user_filter), NULL, 0, 0, \
          0, "extra filter ANDed into the user search (default from preset)" },                \
        { "ldap", "login_attrs", CONF_STRLIST, offsetof(type, member.login_attrs), NULL, 0, 0, \
          0, "attributes a user may log in with; the first is the canonical login name" },     \
        { "ldap", "name_attr", CONF_STRING, offsetof(type, member.name_attr), NULL, 0, 0, 0,  \
          "display name attribute (default from preset)" },                                    \
        { "ldap", "mail_attr", CONF_STRING, offsetof(type, member.mail_attr), NULL, 0, 0, 0,  \
          "e-mail attribute (default from preset)" },                                          \
        { "ldap", "use_memberof", CONF_BOOL, offsetof(type, member.use_memberof), "true", 0,  \
          0, 0, "take direct groups from the user's memberOf when the directory has it" },      \
        { "ldap", "group_depth", CONF_INT, offsetof(type, member.group_depth), "5", 0, 20, 0, \
          "levels of nested groups to follow (0: direct groups only)" },                       \
        { "ldap", "connect_timeout_ms", CONF_INT, offsetof(type, member.connect_timeout_ms),   \
          "3000", 50, 60000, 0, "limit for connecting to one server before trying the next" }, \
        { "ldap", "timeout_ms", CONF_INT, offsetof(type, member.timeout_ms), "5000", 50,      \
          120000, 0, "limit for each directory operation" },                                   \
        { "ldap", "pool_size", CONF_INT, offsetof(type, member.pool_size), "4", 1, 256, 0,    \
          "service connections kept open" }

/* The options above for a file holding only [ldap] (tests, tools). */
struct auth_ldap_conf_file {
        struct auth_ldap_config ldap;
};
extern const struct conf_option auth_ldap_conf_options[];
extern const size_t auth_ldap_conf_options_count;

/* Escape value for use inside an LDAP filter (RFC 4515: '*', '(', ')',
 * '\\' and NUL, plus non-ASCII as \XX). Returns a malloc'd string or NULL
 * on ENOMEM. */
char *auth_ldap_escape_filter_value(const char *value, size_t len);
