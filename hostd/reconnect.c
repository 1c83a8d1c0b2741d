/* Reconnect tickets on the host (lib/reconnect.h): a broker passes the
 * user's signed ticket with a ticket request, and the host checks it with
 * the brokers' public key alone, without the database. Each ticket's
 * nonce is accepted once (kept until the ticket would expire), and a
 * ticket issued before the VM's disk was made or refreshed, or before this
 * daemon started (the used nonces are kept in memory only), is refused:
 * the desktop may have gone to someone else since. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "hostd/hostd.h"
#include "reconnect.h"

int hostd_reconnect_init(struct hostd *h, char **error)
{
        h->reconnect_used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        if (!h->cfg->reconnect_key || !*h->cfg->reconnect_key)
                return 0;
        char *why = NULL;
        int r = reconnect_key_load(h->cfg->reconnect_key, false, &h->reconnect_key, &why);
        if (r < 0) {
                *error = g_strdup_printf("[reconnect] public_key: %s", why);
                g_free(why);
        }
        return r;
}

void hostd_reconnect_fini(struct hostd *h)
{
        EVP_PKEY_free(h->reconnect_key);
        h->reconnect_key = NULL;
        if (h->reconnect_used)
                g_hash_table_destroy(h->reconnect_used);
        h->reconnect_used = NULL;
}

static gboolean expired(gpointer key, gpointer value, gpointer now)
{
        return *(int64_t *)value <= *(int64_t *)now;
}

unsigned hostd_reconnect_use(struct hostd *h, const char *ticket, const char *vm_id,
                             const char *user, const char *protocol, char **nonce,
                             const char **code, char **error)
{
        struct reconnect_claims c = { 0 };
        int64_t now = (int64_t)time(NULL);
        char *why = NULL;
        unsigned status = 0;
        int r;

        *code = "reconnect_refused";
        if (!h->reconnect_key) {
                *code = "reconnect_disabled";
                *error = g_strdup("this host takes no reconnect tickets (set [reconnect] "
                                  "public_key in its hostd.conf)");
                return 400;
        }
        r = reconnect_verify(h->reconnect_key, ticket, now, &c, &why);
        if (r < 0) {
                *error = why;
                return r == -EINVAL ? 400 : 403;
        }
        if (strcmp(c.vm, vm_id) || strcmp(c.user, user) || strcmp(c.protocol, protocol) ||
            strcmp(c.host, h->cfg->name)) {
                *error = g_strdup("the reconnect ticket is for another desktop, user, protocol "
                                  "or host");
                status = 403;
                goto out;
        }
        pthread_mutex_lock(&h->lock);
        struct hostd_vm *vm = g_hash_table_lookup(h->vms, vm_id);
        if (!vm) {
                *code = "not_found";
                *error = g_strdup_printf("VM \"%s\" does not exist", vm_id);
                status = 404;
        } else if (c.issued_at_ms < vm->tickets_since) {
                *error = g_strdup("the reconnect ticket was issued before this desktop was "
                                  "refreshed or its host restarted; sign in again");
                status = 403;
        } else if (g_hash_table_contains(h->reconnect_used, c.nonce)) {
                *code = "reconnect_used";
                *error = g_strdup("this reconnect ticket was used already; use the one the last "
                                  "reconnect gave, or sign in again");
                status = 409;
        } else {
                g_hash_table_foreach_remove(h->reconnect_used, expired, &now);
                g_hash_table_insert(h->reconnect_used, g_strdup(c.nonce),
                                    g_memdup2(&c.expires_at, sizeof(c.expires_at)));
                *nonce = g_strdup(c.nonce);
        }
        pthread_mutex_unlock(&h->lock);
out:
        reconnect_claims_clear(&c);
        return status;
}

void hostd_reconnect_unuse(struct hostd *h, const char *nonce)
{
        if (!nonce)
                return;
        pthread_mutex_lock(&h->lock);
        g_hash_table_remove(h->reconnect_used, nonce);
        pthread_mutex_unlock(&h->lock);
}
