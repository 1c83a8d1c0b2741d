/* C side of the real-server harness: runs the scripts in HARNESS_DIR and
 * parses the KEY=VALUE lines they print. See harness.h. */
#include "config.h"

#include "harness.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HARNESS_DIR
#error "HARNESS_DIR must point at tests/harness in the source tree"
#endif

/* Run HARNESS_DIR/script with args; on success return its stdout parsed
 * into a hash table of KEY → VALUE. */
static GHashTable *run_script(const char *script, const char *const *args, int *err)
{
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *out = NULL, *errout = NULL;
        g_autoptr(GError) gerr = NULL;
        g_auto(GStrv) lines = NULL;
        GHashTable *kv;
        int status = 0;

        g_ptr_array_add(argv, g_build_filename(HARNESS_DIR, script, NULL));
        for (const char *const *a = args; *a; a++)
                g_ptr_array_add(argv, g_strdup(*a));
        g_ptr_array_add(argv, NULL);

        if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                          &errout, &status, &gerr)) {
                fprintf(stderr, "harness: cannot run %s: %s\n", script, gerr->message);
                *err = -ENOENT;
                return NULL;
        }
        if (!g_spawn_check_wait_status(status, NULL)) {
                fprintf(stderr, "harness: %s failed:\n%s", script, errout ? errout : "");
                *err = -EIO;
                return NULL;
        }
        kv = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        lines = g_strsplit(out ? out : "", "\n", -1);
        for (char **l = lines; *l; l++) {
                char *eq = strchr(*l, '=');
                if (eq)
                        g_hash_table_insert(kv, g_strndup(*l, (gsize)(eq - *l)),
                                            g_strdup(eq + 1));
        }
        return kv;
}

static char *take(GHashTable *kv, const char *key)
{
        const char *v = g_hash_table_lookup(kv, key);
        return g_strdup(v ? v : "");
}

/* Run a stop script (pg-stop, slapd-stop) on dir with --remove. */
static void stop_and_remove(const char *script, const char *dir)
{
        const char *args[] = { dir, "--remove", NULL };
        int r = 0;
        GHashTable *kv = run_script(script, args, &r);
        if (kv)
                g_hash_table_unref(kv);
}

static char *make_tmpdir(const char *prefix)
{
        g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);
        g_autoptr(GError) err = NULL;
        char *dir = g_dir_make_tmp(tmpl, &err);
        if (!dir)
                fprintf(stderr, "harness: cannot make a temporary directory: %s\n",
                        err->message);
        return dir;
}

static int pg_fill(struct harness_pg *pg, GHashTable *kv)
{
        g_free(pg->host);
        g_free(pg->socket_dir);
        g_free(pg->user);
        g_free(pg->password);
        g_free(pg->dbname);
        g_free(pg->conninfo);
        pg->host = take(kv, "PGHOST");
        pg->port = atoi(g_hash_table_lookup(kv, "PGPORT") ?: "0");
        pg->socket_dir = take(kv, "PGSOCKET");
        pg->user = take(kv, "PGUSER");
        pg->password = take(kv, "PGPASSWORD");
        pg->dbname = take(kv, "PGDATABASE");
        pg->conninfo = g_strdup_printf("host=%s port=%d user=%s password=%s dbname=%s "
                                       "connect_timeout=30",
                                       pg->host, pg->port, pg->user, pg->password, pg->dbname);
        return pg->port > 0 ? 0 : -EIO;
}

int harness_pg_start(struct harness_pg **out)
{
        g_autofree char *owner = g_strdup_printf("%d", (int)getpid());
        struct harness_pg *pg;
        GHashTable *kv;
        int r = 0;

        pg = g_new0(struct harness_pg, 1);
        pg->dir = make_tmpdir("vdi-pg");
        if (!pg->dir) {
                g_free(pg);
                return -EIO;
        }
        const char *args[] = { pg->dir, "--fast", "--owner", owner, NULL };
        kv = run_script("pg-start", args, &r);
        if (!kv) {
                harness_pg_stop(pg);
                return r;
        }
        r = pg_fill(pg, kv);
        g_hash_table_unref(kv);
        if (r < 0) {
                harness_pg_stop(pg);
                return r;
        }
        *out = pg;
        return 0;
}

int harness_pg_pause(struct harness_pg *pg)
{
        const char *args[] = { pg->dir, NULL };
        int r = 0;
        GHashTable *kv = run_script("pg-stop", args, &r);
        if (!kv)
                return r;
        g_hash_table_unref(kv);
        return 0;
}

int harness_pg_restart(struct harness_pg *pg)
{
        g_autofree char *port = g_strdup_printf("%d", pg->port);
        const char *args[] = { pg->dir, "--fast", "--port", port, NULL };
        GHashTable *kv;
        int r;

        r = harness_pg_pause(pg);
        if (r < 0)
                return r;
        kv = run_script("pg-start", args, &r);
        if (!kv)
                return r;
        r = pg_fill(pg, kv);
        g_hash_table_unref(kv);
        return r;
}

void harness_pg_stop(struct harness_pg *pg)
{
        if (!pg)
                return;
        if (pg->dir)
                stop_and_remove("pg-stop", pg->dir);
        g_free(pg->dir);
        g_free(pg->host);
        g_free(pg->socket_dir);
        g_free(pg->user);
        g_free(pg->password);
        g_free(pg->dbname);
        g_free(pg->conninfo);
        g_free(pg);
}

int harness_ldap_start(struct harness_ldap **out)
{
        g_autofree char *owner = g_strdup_printf("%d", (int)getpid());
        struct harness_ldap *l;
        GHashTable *kv;
        int r = 0;

        l = g_new0(struct harness_ldap, 1);
        l->dir = make_tmpdir("vdi-slapd");
        if (!l->dir) {
                g_free(l);
                return -EIO;
        }
        const char *args[] = { l->dir, "--owner", owner, NULL };
        kv = run_script("slapd-start", args, &r);
        if (!kv) {
                harness_ldap_stop(l);
                return r;
        }
        l->ldap_uri = take(kv, "LDAP_URI");
        l->ldaps_uri = take(kv, "LDAPS_URI");
        l->ca_file = take(kv, "LDAP_CA");
        l->other_ca_file = take(kv, "LDAP_OTHER_CA");
        l->base_dn = take(kv, "LDAP_BASE");
        l->admin_dn = take(kv, "LDAP_ADMIN_DN");
        l->admin_pw = take(kv, "LDAP_ADMIN_PW");
        l->service_dn = take(kv, "LDAP_SERVICE_DN");
        l->service_pw = take(kv, "LDAP_SERVICE_PW");
        g_hash_table_unref(kv);
        if (sscanf(l->ldap_uri, "ldap://127.0.0.1:%d", &l->port) != 1 ||
            sscanf(l->ldaps_uri, "ldaps://127.0.0.1:%d", &l->tls_port) != 1) {
                harness_ldap_stop(l);
                return -EIO;
        }
        *out = l;
        return 0;
}

void harness_ldap_stop(struct harness_ldap *l)
{
        if (!l)
                return;
        if (l->dir)
                stop_and_remove("slapd-stop", l->dir);
        g_free(l->dir);
        g_free(l->ldap_uri);
        g_free(l->ldaps_uri);
        g_free(l->ca_file);
        g_free(l->other_ca_file);
        g_free(l->base_dn);
        g_free(l->admin_dn);
        g_free(l->admin_pw);
        g_free(l->service_dn);
        g_free(l->service_pw);
        g_free(l);
}
