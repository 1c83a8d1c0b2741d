/* initramfs scanning; see initrd.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "initrd.h"

static bool hex8(const uint8_t *p, uint32_t *out)
{
        uint32_t v = 0;
        for (int i = 0; i < 8; i++) {
                uint8_t c = p[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= c - '0';
                else if (c >= 'a' && c <= 'f')
                        v |= c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        v |= c - 'A' + 10;
                else
                        return false;
        }
        *out = v;
        return true;
}

static void match(const char *name, size_t nlen, const char *const *names, unsigned n, bool *found)
{
        const char *base = name;
        for (size_t i = 0; i < nlen; i++)
                if (name[i] == '/')
                        base = name + i + 1;
        for (unsigned i = 0; i < n; i++) {
                size_t m = strlen(names[i]), rest = nlen - (size_t)(base - name);
                const char *ext = base + m + 3;
                size_t elen = rest >= m + 3 ? rest - m - 3 : 0;
                if (rest < m + 3 || strncmp(base, names[i], m) != 0 || strncmp(base + m, ".ko", 3) != 0)
                        continue;
                if (elen == 0 || (elen == 3 && !memcmp(ext, ".xz", 3)) ||
                    (elen == 4 && !memcmp(ext, ".zst", 4)) || (elen == 3 && !memcmp(ext, ".gz", 3)))
                        found[i] = true;
        }
}

/* Walk newc cpio entries from *pos to the trailer; *pos ends after it. */
static int cpio(const uint8_t *d, size_t len, size_t *pos, const char *const *names, unsigned n,
                bool *found)
{
        size_t p = *pos;
        for (;;) {
                uint32_t fsize, nsize;
                if (len - p < 110 || (memcmp(d + p, "070701", 6) && memcmp(d + p, "070702", 6)))
                        return -EINVAL;
                if (!hex8(d + p + 54, &fsize) || !hex8(d + p + 94, &nsize) || nsize == 0 ||
                    nsize > len - p - 110)
                        return -EINVAL;
                {
                        const char *name = (const char *)d + p + 110;
                        size_t nl = nsize - 1; /* NUL-terminated */
                        size_t data = (p + 110 + nsize + 3) & ~(size_t)3;
                        if (nl == 10 && memcmp(name, "TRAILER!!!", 10) == 0) {
                                *pos = data > len ? len : data;
                                return 0;
                        }
                        match(name, nl, names, n, found);
                        if (data > len || fsize > len - data)
                                return -EINVAL;
                        p = (data + fsize + 3) & ~(size_t)3;
                        if (p > len)
                                return -EINVAL;
                }
        }
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
        size_t c = *cap ? *cap : 1u << 20;
        uint8_t *nb;
        if (need > INITRD_MAX_UNPACKED)
                return -EFBIG;
        while (c < need)
                c *= 2;
        if (c > INITRD_MAX_UNPACKED)
                c = INITRD_MAX_UNPACKED;
        nb = realloc(*buf, c);
        if (!nb)
                return -ENOMEM;
        *buf = nb;
        *cap = c;
        return 0;
}

/* Decompress one gzip or zstd stream (the rest of the initrd). */
static int unpack(const uint8_t *in, size_t len, bool zstd, uint8_t **out, size_t *outlen)
{
        uint8_t *buf = NULL;
        size_t cap = 0, got = 0;
        int r;

        if (zstd) {
                ZSTD_DCtx *z = ZSTD_createDCtx();
                ZSTD_inBuffer ib = { in, len, 0 };
                if (!z)
                        return -ENOMEM;
                for (;;) {
                        ZSTD_outBuffer ob;
                        size_t zr;
                        if (got == cap && (r = grow(&buf, &cap, cap + 1)) < 0)
                                break;
                        ob = (ZSTD_outBuffer){ buf, cap, got };
                        zr = ZSTD_decompressStream(z, &ob, &ib);
                        got = ob.pos;
                        if (ZSTD_isError(zr)) {
                                r = got ? 0 : -EINVAL; /* trailing garbage after the frames */
                                break;
                        }
                        if (ib.pos == ib.size && ob.pos < ob.size) {
                                r = 0;
                                break;
                        }
                }
                ZSTD_freeDCtx(z);
        } else {
                z_stream z;
                memset(&z, 0, sizeof(z));
                if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
                        return -ENOMEM;
                z.next_in = (Bytef *)in;
                z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
                for (;;) {
                        int zr;
                        if (got == cap && (r = grow(&buf, &cap, cap + 1)) < 0)
                                break;
                        z.next_out = buf + got;
                        z.avail_out = (uInt)(cap - got);
                        zr = inflate(&z, Z_NO_FLUSH);
                        got = cap - z.avail_out;
                        if (zr == Z_STREAM_END || (zr == Z_BUF_ERROR && z.avail_in == 0)) {
                                r = 0;
                                break;
                        }
                        if (zr != Z_OK && zr != Z_BUF_ERROR) {
                                r = got ? 0 : -EINVAL;
                                break;
                        }
                }
                inflateEnd(&z);
        }
        if (r < 0) {
                free(buf);
                return r;
        }
        *out = buf;
        *outlen = got;
        return 0;
}

static int scan(const uint8_t *d, size_t len, const char *const *names, unsigned n, bool *found,
                const char **what, unsigned depth)
{
        size_t p = 0;
        int r;

        while (p < len) {
                const uint8_t *s = d + p;
                size_t rest = len - p;
                if (s[0] == 0) { /* padding between archives */
                        p++;
                        continue;
                }
                if (rest >= 6 && (!memcmp(s, "070701", 6) || !memcmp(s, "070702", 6))) {
                        r = cpio(d, len, &p, names, n, found);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (depth == 0 && rest >= 4 &&
                    ((s[0] == 0x1f && s[1] == 0x8b) || !memcmp(s, "\x28\xb5\x2f\xfd", 4))) {
                        uint8_t *u = NULL;
                        size_t ulen = 0;
                        r = unpack(s, rest, s[0] == 0x28, &u, &ulen);
                        if (r < 0)
                                return r;
                        r = scan(u, ulen, names, n, found, what, depth + 1);
                        free(u);
                        return r; /* the compressed archive is the last part */
                }
                if (rest >= 6 && !memcmp(s, "\xfd" "7zXZ", 5))
                        *what = "xz";
                else if (rest >= 3 && !memcmp(s, "BZh", 3))
                        *what = "bzip2";
                else if (rest >= 4 && (!memcmp(s, "\x02\x21\x4c\x18", 4) || !memcmp(s, "\x04\x22\x4d\x18", 4)))
                        *what = "lz4";
                else if (rest >= 3 && s[0] == 0x5d && s[1] == 0 && s[2] == 0)
                        *what = "lzma";
                else
                        return p ? 0 : -EINVAL;
                return -ENOTSUP;
        }
        return 0;
}

int initrd_find_modules(const uint8_t *data, size_t len, const char *const *names, unsigned n,
                        bool *found, const char **what)
{
        return scan(data, len, names, n, found, what, 0);
}
