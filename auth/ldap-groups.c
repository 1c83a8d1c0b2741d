/* Group membership: direct groups from memberOf (when the directory keeps
 * it) or from searching groupOfNames member / groupOfUniqueNames
 * uniqueMember; posixGroup memberUid by login name; then groups that
 * contain those groups, level by level, up to group_depth. Attribute names
 * are used without objectClass so the same filters work on Active
 * Directory (group/member) and OpenLDAP. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "auth/ldap-internal.h"

/* Frontier DNs per nested-group search, to keep filters a sane size. */
#define GROUPS_PER_SEARCH 32

/* Search group_base with filter; add each new group DN to out and to next
 * (when non-NULL). seen holds lowercased DNs already known. */
static int search_groups(LDAP *ld, const struct ldap_settings *s, const char *filter,
                         GHashTable *seen, GPtrArray *out, GPtrArray *next)
{
        char *attrs[] = { LDAP_NO_ATTRS, NULL };
        struct timeval tv = { .tv_sec = s->timeout_ms / 1000,
                              .tv_usec = (s->timeout_ms % 1000) * 1000 };
        LDAPMessage *res = NULL;
        int rc;

        rc = ldap_search_ext_s(ld, s->group_base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL,
                               NULL, &tv, 0, &res);
        /* A partial answer (size limit) still names real groups. */
        if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED && rc != LDAP_NO_SUCH_OBJECT) {
                ldap_msgfree(res);
                return rc;
        }
        for (LDAPMessage *e = ldap_first_entry(ld, res); e; e = ldap_next_entry(ld, e)) {
                char *dn = ldap_get_dn(ld, e);
                if (!dn)
                        continue;
                char *key = g_ascii_strdown(dn, -1);
                if (g_hash_table_add(seen, key)) {
                        g_ptr_array_add(out, g_strdup(dn));
                        if (next)
                                g_ptr_array_add(next, g_strdup(dn));
                }
                ldap_memfree(dn);
        }
        ldap_msgfree(res);
        return LDAP_SUCCESS;
}

/* "(|(member=V)(uniqueMember=V)…(memberUid=L))" for each escaped DN V in
 * dns[from..to) and login L (when not NULL); "member" only if with_member. */
static char *member_filter(GPtrArray *dns, guint from, guint to, const char *posix_login,
                           bool with_member)
{
        GString *f = g_string_new("(|");
        for (guint i = from; i < to; i++) {
                const char *dn = g_ptr_array_index(dns, i);
                g_autofree char *esc = auth_ldap_escape_filter_value(dn, strlen(dn));
                if (!esc)
                        continue;
                if (with_member)
                        g_string_append_printf(f, "(member=%s)", esc);
                g_string_append_printf(f, "(uniqueMember=%s)", esc);
        }
        if (posix_login) {
                g_autofree char *esc = auth_ldap_escape_filter_value(posix_login,
                                                                     strlen(posix_login));
                if (esc)
                        g_string_append_printf(f, "(memberUid=%s)", esc);
        }
        g_string_append_c(f, ')');
        return g_string_free(f, FALSE);
}

int ldap_groups_resolve(LDAP *ld, const struct ldap_settings *s, const char *user_dn,
                        const char *login, char **memberof, GPtrArray *out)
{
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GPtrArray) frontier = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) self = g_ptr_array_new_with_free_func(g_free);
        int rc;

        /* The user's own DN is never one of its groups (and stops loops). */
        g_hash_table_add(seen, g_ascii_strdown(user_dn, -1));

        g_ptr_array_add(self, g_strdup(user_dn));
        if (s->use_memberof && memberof && memberof[0]) {
                /* memberOf (AD, the OpenLDAP memberof overlay) lists the
                 * groups that name the user in "member". The overlay leaves
                 * out groupOfUniqueNames, and posixGroup memberUid holds a
                 * name, not a DN: one search still covers those. */
                for (char **m = memberof; *m; m++) {
                        if (g_hash_table_add(seen, g_ascii_strdown(*m, -1))) {
                                g_ptr_array_add(out, g_strdup(*m));
                                g_ptr_array_add(frontier, g_strdup(*m));
                        }
                }
                g_autofree char *f = member_filter(self, 0, 1, login, false);
                rc = search_groups(ld, s, f, seen, out, frontier);
        } else {
                g_autofree char *f = member_filter(self, 0, 1, login, true);
                rc = search_groups(ld, s, f, seen, out, frontier);
        }
        if (rc != LDAP_SUCCESS)
                return rc;

        /* Nested groups, breadth first; "seen" makes cycles harmless. */
        for (int depth = 0; depth < s->group_depth && frontier->len > 0; depth++) {
                g_autoptr(GPtrArray) next = g_ptr_array_new_with_free_func(g_free);
                for (guint i = 0; i < frontier->len; i += GROUPS_PER_SEARCH) {
                        guint to = MIN(frontier->len, i + GROUPS_PER_SEARCH);
                        g_autofree char *f = member_filter(frontier, i, to, NULL, true);
                        rc = search_groups(ld, s, f, seen, out, next);
                        if (rc != LDAP_SUCCESS)
                                return rc;
                }
                g_ptr_array_unref(frontier);
                frontier = g_steal_pointer(&next);
        }
        return LDAP_SUCCESS;
}
