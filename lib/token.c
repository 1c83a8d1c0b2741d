#include "config.h"

#include "token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "macro.h"

int token_random_bytes(void *buf, size_t len)
{
        uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = getrandom(p, len, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

char *token_base64url(const void *data, size_t len)
{
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const uint8_t *in = data;
        size_t outlen = (len / 3) * 4 + 4;
        char *out = malloc(outlen + 1), *p = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16;
                size_t rem = len - i;
                if (rem > 1)
                        v |= (uint32_t)in[i + 1] << 8;
                if (rem > 2)
                        v |= in[i + 2];
                *p++ = alphabet[(v >> 18) & 63];
                *p++ = alphabet[(v >> 12) & 63];
                if (rem > 1)
                        *p++ = alphabet[(v >> 6) & 63];
                if (rem > 2)
                        *p++ = alphabet[v & 63];
        }
        *p = '\0';
        return out;
}

static int b64url_value(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

int token_base64url_decode(const char *text, unsigned char **out, size_t *outlen)
{
        size_t n = strlen(text), len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0), o = 0;
        uint32_t acc = 0;
        unsigned bits = 0;
        unsigned char *buf;

        if (n % 4 == 1)
                return -EINVAL;
        buf = malloc(len + 1);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int v = b64url_value(text[i]);
                if (v < 0) {
                        free(buf);
                        return -EINVAL;
                }
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        buf[o++] = (unsigned char)(acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        /* Leftover bits must be zero: one text per byte string. */
        if (acc != 0) {
                free(buf);
                return -EINVAL;
        }
        buf[o] = 0;
        *out = buf;
        *outlen = o;
        return 0;
}

int token_new(size_t nbytes, char **out)
{
        uint8_t buf[256];
        char *s;
        int r;

        if (nbytes < TOKEN_MIN_BYTES || nbytes > sizeof(buf))
                return -EINVAL;
        r = token_random_bytes(buf, nbytes);
        if (r < 0)
                return r;
        s = token_base64url(buf, nbytes);
        OPENSSL_cleanse(buf, sizeof(buf));
        if (!s)
                return -ENOMEM;
        *out = s;
        return 0;
}

bool token_equal(const char *a, const char *b)
{
        size_t la, lb;

        if (!a || !b)
                return false;
        la = strlen(a);
        lb = strlen(b);
        if (la != lb)
                return false;
        return CRYPTO_memcmp(a, b, la) == 0;
}

int token_hash(const char *token, char **out)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char *hex;

        if (!token)
                return -EINVAL;
        if (!EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL))
                return -EIO;
        hex = malloc(mdlen * 2 + 1);
        if (!hex)
                return -ENOMEM;
        for (unsigned int i = 0; i < mdlen; i++)
                sprintf(hex + i * 2, "%02x", md[i]);
        *out = hex;
        return 0;
}

bool token_is_wellformed(const char *s, size_t min_len, size_t max_len)
{
        size_t n = 0;

        if (!s)
                return false;
        for (; s[n]; n++) {
                char c = s[n];
                bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_';
                if (!ok || n >= max_len)
                        return false;
        }
        return n >= min_len;
}
