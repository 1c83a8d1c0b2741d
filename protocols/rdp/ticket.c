/* One-time RDP credentials as NTLM SAM entries.
 *
 * FreeRDP's NLA (winpr NTLM) looks the user up in the file named by
 * settings->NtlmSamFile, one line per user: "User:Domain:LM:NT:::" (winpr
 * utils/sam.c), re-read at every authentication. We keep the tickets in
 * memory (user, NT hash, expiry) and rewrite the whole file, atomically,
 * whenever the set changes. An empty domain matches any domain the client
 * sends (winpr retries the lookup without one). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <winpr/ntlm.h>

#include "internal.h"
#include "log.h"
#include "macro.h"

static void ticket_free(gpointer p)
{
        struct rdp_ticket *t = p;
        if (!t)
                return;
        OPENSSL_cleanse(t->nt_hash, sizeof(t->nt_hash));
        free(t->user);
        free(t);
}

int rdp_tickets_init(struct rdp_tickets *t, const char *parent, char **error)
{
        (void)error;
        g_mutex_init(&t->lock);
        t->list = g_ptr_array_new_with_free_func(ticket_free);
        if (!parent)
                parent = g_getenv("XDG_RUNTIME_DIR");
        t->parent = g_strdup(parent && *parent ? parent : "/tmp");
        return 0;
}

/* The private directory is made at the first ticket, not at start: vdi-vm
 * starts its servers as root and then drops to an unprivileged user, who
 * must own the directory it writes tickets into. Lock held. */
static int dir_locked(struct rdp_tickets *t)
{
        g_autofree char *tmpl = NULL;

        if (t->dir)
                return 0;
        tmpl = g_strdup_printf("%s/vdi-rdp-XXXXXX", t->parent);
        /* mkdtemp makes the directory 0700: only this process reads the SAM. */
        if (!mkdtemp(tmpl)) {
                int r = -errno;
                log_error("rdp_ticket_dir", "parent=%s error=\"%s\" hint=\"set runtime_dir to a "
                          "directory this user can write\"", t->parent, strerror(-r));
                return r;
        }
        t->dir = TAKE_PTR(tmpl);
        t->sam_path = g_strdup_printf("%s/sam", t->dir);
        return 0;
}

char *rdp_tickets_sam_path(struct rdp_tickets *t)
{
        char *path;

        g_mutex_lock(&t->lock);
        path = t->sam_path ? strdup(t->sam_path) : NULL;
        g_mutex_unlock(&t->lock);
        return path;
}

void rdp_tickets_fini(struct rdp_tickets *t)
{
        if (!t->list)
                return;
        if (t->sam_path)
                unlink(t->sam_path);
        if (t->dir)
                rmdir(t->dir);
        g_free(t->sam_path);
        g_free(t->dir);
        g_free(t->parent);
        g_ptr_array_unref(t->list);
        t->list = NULL;
        g_mutex_clear(&t->lock);
}

/* Rewrite the SAM file from the list: write a 0600 temporary, then rename
 * over the old one, so NTLM never reads a half-written file. Lock held. */
static int sam_write_locked(struct rdp_tickets *t)
{
        g_autofree char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        GString *text;
        ssize_t n;
        int r = dir_locked(t);

        if (r < 0)
                return r;
        tmp = g_strdup_printf("%s.new", t->sam_path);
        text = g_string_new(NULL);

        for (guint i = 0; i < t->list->len; i++) {
                struct rdp_ticket *k = g_ptr_array_index(t->list, i);
                g_string_append_printf(text, "%s:::", k->user);
                for (size_t b = 0; b < sizeof(k->nt_hash); b++)
                        g_string_append_printf(text, "%02x", k->nt_hash[b]);
                g_string_append(text, ":::\n");
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                goto fail;
        n = write(fd, text->str, text->len);
        if (n < 0 || (size_t)n != text->len)
                goto fail;
        if (rename(tmp, t->sam_path) < 0)
                goto fail;
        OPENSSL_cleanse(text->str, text->allocated_len);
        g_string_free(text, TRUE);
        return 0;
fail:
        r = errno ? -errno : -EIO;
        unlink(tmp);
        OPENSSL_cleanse(text->str, text->allocated_len);
        g_string_free(text, TRUE);
        return r;
}

/* A user name goes verbatim into a ':'-separated line. */
static bool user_ok(const char *user)
{
        size_t n = user ? strlen(user) : 0;
        if (n == 0 || n > 256)
                return false;
        for (const unsigned char *c = (const unsigned char *)user; *c; c++)
                if (*c < 0x20 || *c == ':' || *c == 0x7f)
                        return false;
        return true;
}

static int find_locked(struct rdp_tickets *t, const char *user)
{
        for (guint i = 0; i < t->list->len; i++) {
                struct rdp_ticket *k = g_ptr_array_index(t->list, i);
                if (strcmp(k->user, user) == 0)
                        return (int)i;
        }
        return -1;
}

static bool nt_hash(const char *password, uint8_t out[16])
{
        size_t n = strlen(password);
        if (n == 0 || n > 256)
                return false;
        /* MS-NLMP 3.3.1: NTOWFv1 = MD4(UNICODE(password)). */
        return NTOWFv1A((LPSTR)password, (UINT32)n, out);
}

int rdp_tickets_set(struct rdp_tickets *t, const char *user, const char *password,
                    unsigned expiry_seconds)
{
        struct rdp_ticket *k;
        int i, r;

        if (!user_ok(user) || !password || !*password || expiry_seconds == 0)
                return -EINVAL;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->user = strdup(user);
        if (!k->user || !nt_hash(password, k->nt_hash)) {
                r = k->user ? -EINVAL : -ENOMEM;
                ticket_free(k);
                return r;
        }
        k->expires_us = g_get_monotonic_time() + (int64_t)expiry_seconds * G_USEC_PER_SEC;

        g_mutex_lock(&t->lock);
        i = find_locked(t, user);
        if (i >= 0)
                g_ptr_array_remove_index(t->list, (guint)i);
        g_ptr_array_add(t->list, k);
        r = sam_write_locked(t);
        if (r < 0)
                g_ptr_array_remove_fast(t->list, k);
        g_mutex_unlock(&t->lock);
        return r;
}

static bool consume(struct rdp_tickets *t, const char *user, const char *password)
{
        bool ok = false;
        int i;

        if (!user_ok(user))
                return false;
        g_mutex_lock(&t->lock);
        i = find_locked(t, user);
        if (i >= 0) {
                struct rdp_ticket *k = g_ptr_array_index(t->list, (guint)i);
                bool live = k->expires_us > g_get_monotonic_time();
                bool match = true;
                if (live && password) {
                        uint8_t h[16];
                        match = nt_hash(password, h) && CRYPTO_memcmp(h, k->nt_hash, 16) == 0;
                        OPENSSL_cleanse(h, sizeof(h));
                }
                ok = live && match;
                /* Used or expired: gone. A wrong password leaves it in place,
                 * as a failed NLA exchange does (tickets are too long to guess). */
                if (!live || match) {
                        g_ptr_array_remove_index(t->list, (guint)i);
                        (void)sam_write_locked(t);
                }
        }
        g_mutex_unlock(&t->lock);
        return ok;
}

bool rdp_tickets_consume(struct rdp_tickets *t, const char *user)
{
        return consume(t, user, NULL);
}

bool rdp_tickets_consume_password(struct rdp_tickets *t, const char *user, const char *password)
{
        return password && *password && consume(t, user, password);
}

/* Drop every ticket expiring at or before until. */
static void drop_until(struct rdp_tickets *t, int64_t until)
{
        bool changed = false;

        g_mutex_lock(&t->lock);
        for (guint i = t->list->len; i-- > 0;) {
                struct rdp_ticket *k = g_ptr_array_index(t->list, i);
                if (k->expires_us <= until) {
                        g_ptr_array_remove_index(t->list, i);
                        changed = true;
                }
        }
        if (changed)
                (void)sam_write_locked(t);
        g_mutex_unlock(&t->lock);
}

void rdp_tickets_expire(struct rdp_tickets *t)
{
        drop_until(t, g_get_monotonic_time());
}

void rdp_tickets_clear(struct rdp_tickets *t)
{
        drop_until(t, G_MAXINT64);
}
