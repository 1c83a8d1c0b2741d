/* Reconnect tickets: Ed25519-signed claims (lib/reconnect.h). */
#include "config.h"

#include "reconnect.h"

#include <errno.h>
#include <glib.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "token.h"

#define SIG_LEN 64
#define NONCE_BYTES 16

int reconnect_key_load(const char *path, bool private_key, EVP_PKEY **out, char **error)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        EVP_PKEY *k = NULL;

        if (!f) {
                int e = errno;
                *error = g_strdup_printf("%s: %s", path, strerror(e));
                return -e;
        }
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        if (!k && !private_key) {
                ERR_clear_error();
                rewind(f);
                k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        }
        ERR_clear_error();
        if (!k) {
                *error = g_strdup_printf(
                        "%s: not a PEM %s (make one with: openssl genpkey -algorithm ed25519 "
                        "-out FILE%s)",
                        path, private_key ? "private key" : "public or private key",
                        private_key ? "" : "; openssl pkey -in FILE -pubout");
                return -EINVAL;
        }
        if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
                EVP_PKEY_free(k);
                *error = g_strdup_printf("%s: not an Ed25519 key (make one with: openssl genpkey "
                                         "-algorithm ed25519 -out FILE)",
                                         path);
                return -EINVAL;
        }
        *out = k;
        return 0;
}

int reconnect_sign(EVP_PKEY *key, const struct reconnect_claims *c, char **out)
{
        _cleanup_free_ char *nonce = NULL, *json = NULL, *body = NULL, *sig64 = NULL;
        unsigned char sig[SIG_LEN];
        size_t siglen = sizeof(sig);
        EVP_MD_CTX *md;
        json_t *claims;
        int r = -EIO;

        if (!c->nonce && token_new(NONCE_BYTES, &nonce) < 0)
                return -EIO;
        claims = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:s}", "v",
                           1, "user", c->user, "vm", c->vm, "host", c->host, "address",
                           c->address, "port", c->port, "protocol", c->protocol, "pool", c->pool,
                           "desktop", c->desktop, "iat_ms",
                           (json_int_t)c->issued_at_ms, "exp", (json_int_t)c->expires_at, "nonce",
                           c->nonce ? c->nonce : nonce);
        if (!claims)
                return -EINVAL;
        json = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(claims);
        if (!json || !(body = token_base64url(json, strlen(json))))
                return -ENOMEM;
        md = EVP_MD_CTX_new();
        if (md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
            EVP_DigestSign(md, sig, &siglen, (const unsigned char *)body, strlen(body)) == 1)
                r = 0;
        EVP_MD_CTX_free(md);
        ERR_clear_error();
        if (r < 0)
                return r;
        sig64 = token_base64url(sig, siglen);
        if (!sig64)
                return -ENOMEM;
        *out = g_strdup_printf("%s.%s", body, sig64);
        return 0;
}

static int bad(char **error, int r, const char *why)
{
        *error = g_strdup(why);
        return r;
}

int reconnect_verify(EVP_PKEY *key, const char *ticket, int64_t now,
                     struct reconnect_claims *out, char **error)
{
        _cleanup_free_ char *body = NULL;
        _cleanup_free_ unsigned char *sig = NULL, *json = NULL;
        size_t siglen = 0, jsonlen = 0;
        const char *dot, *user, *vm, *host, *address, *protocol, *pool, *desktop, *nonce;
        json_int_t version, port, iat, exp;
        json_error_t jerr;
        EVP_MD_CTX *md;
        int ok = 0;

        if (!ticket || strlen(ticket) > RECONNECT_MAX_LEN || !(dot = strchr(ticket, '.')))
                return bad(error, -EINVAL, "not a reconnect ticket");
        body = g_strndup(ticket, (size_t)(dot - ticket));
        if (token_base64url_decode(dot + 1, &sig, &siglen) < 0 || siglen != SIG_LEN)
                return bad(error, -EINVAL, "not a reconnect ticket (bad signature encoding)");
        md = EVP_MD_CTX_new();
        if (md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1)
                ok = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)body,
                                      strlen(body)) == 1;
        EVP_MD_CTX_free(md);
        ERR_clear_error();
        if (!ok)
                return bad(error, -EPERM,
                           "reconnect ticket signature does not match (altered, or signed by "
                           "another key)");
        /* Signed by us: the claims are ours, but still checked as data. */
        if (token_base64url_decode(body, &json, &jsonlen) < 0)
                return bad(error, -EINVAL, "not a reconnect ticket (bad claims encoding)");
        json_t *claims = json_loadb((const char *)json, jsonlen, 0, &jerr);
        if (!claims ||
            json_unpack(claims, "{s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:s}",
                        "v", &version, "user", &user, "vm", &vm, "host", &host, "address",
                        &address, "port", &port, "protocol", &protocol, "pool", &pool, "desktop",
                        &desktop, "iat_ms", &iat, "exp", &exp, "nonce", &nonce) != 0 ||
            version != 1 || port < 1 || port > 65535) {
                json_decref(claims);
                return bad(error, -EINVAL, "not a reconnect ticket (claims missing)");
        }
        if (now >= exp) {
                json_decref(claims);
                return bad(error, -ESTALE, "reconnect ticket expired");
        }
        *out = (struct reconnect_claims){
                .user = g_strdup(user),
                .vm = g_strdup(vm),
                .host = g_strdup(host),
                .address = g_strdup(address),
                .port = (int)port,
                .protocol = g_strdup(protocol),
                .pool = g_strdup(pool),
                .desktop = g_strdup(desktop),
                .issued_at_ms = iat,
                .expires_at = exp,
                .nonce = g_strdup(nonce),
        };
        json_decref(claims);
        return 0;
}

void reconnect_claims_clear(struct reconnect_claims *c)
{
        if (!c)
                return;
        g_free(c->user);
        g_free(c->vm);
        g_free(c->host);
        g_free(c->address);
        g_free(c->protocol);
        g_free(c->pool);
        g_free(c->desktop);
        g_free(c->nonce);
        *c = (struct reconnect_claims){ 0 };
}
