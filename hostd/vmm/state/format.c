#include "config.h"

#include "state.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* SNAPSHOT.md "State file": all integers little-endian.
 *   header  magic[8] version:u32 flags:u32 nsections:u64 reserved:u32 crc:u32
 *   section name[32] length:u64 payload_crc:u32 header_crc:u32, payload */

uint32_t state_crc(uint32_t crc, const void *p, size_t n)
{
        const uint8_t *b = p;

        /* zlib takes uInt lengths */
        while (n) {
                uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
                crc = (uint32_t)crc32(crc, b, chunk);
                b += chunk;
                n -= chunk;
        }
        return crc;
}

static bool name_ok(const char *name, size_t n)
{
        if (n == 0 || n > STATE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
                        return false;
        }
        return true;
}

/* ---- writer ---- */

static uint8_t *reserve(struct state_writer *w, size_t n)
{
        if (w->oom)
                return NULL;
        if (n > w->cap - w->len) {
                size_t cap = w->cap ? w->cap : 4096;
                uint8_t *nb;
                while (cap - w->len < n) {
                        if (cap > SIZE_MAX / 2) {
                                w->oom = true;
                                return NULL;
                        }
                        cap *= 2;
                }
                nb = realloc(w->buf, cap);
                if (!nb) {
                        w->oom = true;
                        return NULL;
                }
                w->buf = nb;
                w->cap = cap;
        }
        w->len += n;
        return w->buf + w->len - n;
}

void state_writer_init(struct state_writer *w)
{
        memset(w, 0, sizeof(*w));
        w->sec_start = SIZE_MAX;
        if (reserve(w, STATE_HEADER_SIZE))
                memset(w->buf, 0, STATE_HEADER_SIZE);
}

void state_begin(struct state_writer *w, const char *name)
{
        size_t n = strlen(name);
        uint8_t *h;

        if (w->sec_start != SIZE_MAX || !name_ok(name, n)) {
                w->oom = true; /* a programming error: finish reports -EINVAL */
                w->nsec = UINT32_MAX;
                return;
        }
        h = reserve(w, STATE_SECTION_HEADER_SIZE);
        if (!h)
                return;
        memset(h, 0, STATE_SECTION_HEADER_SIZE);
        memcpy(h, name, n);
        w->sec_start = w->len - STATE_SECTION_HEADER_SIZE;
}

void state_put_bytes(struct state_writer *w, const void *p, size_t n)
{
        uint8_t *d = reserve(w, n);

        if (d && n)
                memcpy(d, p, n);
}

void state_put_u8(struct state_writer *w, uint8_t v)
{
        state_put_bytes(w, &v, 1);
}

void state_put_u16(struct state_writer *w, uint16_t v)
{
        v = htole16(v);
        state_put_bytes(w, &v, 2);
}

void state_put_u32(struct state_writer *w, uint32_t v)
{
        v = htole32(v);
        state_put_bytes(w, &v, 4);
}

void state_put_u64(struct state_writer *w, uint64_t v)
{
        v = htole64(v);
        state_put_bytes(w, &v, 8);
}

void state_end(struct state_writer *w)
{
        uint8_t *h;
        size_t payload;

        if (w->sec_start == SIZE_MAX) {
                w->oom = true;
                w->nsec = UINT32_MAX;
                return;
        }
        if (!w->oom) {
                h = w->buf + w->sec_start;
                payload = w->len - w->sec_start - STATE_SECTION_HEADER_SIZE;
                le_put64(h + 32, payload);
                le_put32(h + 40, state_crc(0, h + STATE_SECTION_HEADER_SIZE, payload));
                le_put32(h + 44, state_crc(0, h, 44));
        }
        w->sec_start = SIZE_MAX;
        w->nsec++;
}

int state_writer_finish(struct state_writer *w, uint8_t **out, size_t *len)
{
        uint8_t *h;

        if (w->nsec == UINT32_MAX || w->sec_start != SIZE_MAX || w->nsec > STATE_MAX_SECTIONS)
                return -EINVAL;
        if (w->oom)
                return -ENOMEM;
        if (w->len > STATE_MAX_FILE)
                return -EFBIG;
        h = w->buf;
        memcpy(h, STATE_MAGIC, 8);
        le_put32(h + 8, STATE_VERSION);
        le_put32(h + 12, 0);
        le_put64(h + 16, w->nsec);
        le_put32(h + 24, 0);
        le_put32(h + 28, state_crc(0, h, 28));
        *out = w->buf;
        *len = w->len;
        w->buf = NULL;
        w->len = w->cap = 0;
        return 0;
}

void state_writer_free(struct state_writer *w)
{
        free(w->buf);
        w->buf = NULL;
        w->len = w->cap = 0;
}

/* ---- reader ---- */

int state_file_parse(const uint8_t *buf, size_t len, struct state_file *f, struct vm_err *err)
{
        struct state_section *sec;
        uint64_t nsec;
        uint32_t version;
        size_t off;
        int r;

        if (len < STATE_HEADER_SIZE)
                return vm_err_set(err, -EINVAL, "state file truncated: %zu bytes, the header alone is %d", len,
                                  STATE_HEADER_SIZE);
        if (memcmp(buf, STATE_MAGIC, 8) != 0)
                return vm_err_set(err, -EINVAL, "not a vdi-vm state file (bad magic)");
        if (le_get32(buf + 28) != state_crc(0, buf, 28))
                return vm_err_set(err, -EBADMSG, "state file header checksum mismatch (corrupt file)");
        version = (uint32_t)le_get32(buf + 8);
        if (version < STATE_VERSION_MIN || version > STATE_VERSION)
                return vm_err_set(err, -EPROTONOSUPPORT,
                                  "state file format version %u is not supported (this vdi-vm reads versions %d to %d)",
                                  version, STATE_VERSION_MIN, STATE_VERSION);
        if (le_get32(buf + 12) != 0 || le_get32(buf + 24) != 0)
                return vm_err_set(err, -EINVAL, "state file header has unknown flags");
        nsec = le_get64(buf + 16);
        if (nsec == 0 || nsec > STATE_MAX_SECTIONS)
                return vm_err_set(err, -EINVAL, "state file claims %llu sections (1..%d allowed)",
                                  (unsigned long long)nsec, STATE_MAX_SECTIONS);
        sec = calloc((size_t)nsec, sizeof(*sec));
        if (!sec)
                return vm_err_set(err, -ENOMEM, "out of memory");
        off = STATE_HEADER_SIZE;
        for (unsigned i = 0; i < nsec; i++) {
                const uint8_t *h = buf + off;
                uint64_t plen;
                size_t nlen;

                if (len - off < STATE_SECTION_HEADER_SIZE) {
                        r = vm_err_set(err, -EINVAL, "state file truncated in the header of section %u of %llu", i + 1,
                                   (unsigned long long)nsec);
                        goto fail;
                }
                if (le_get32(h + 44) != state_crc(0, h, 44)) {
                        r = vm_err_set(err, -EBADMSG, "state file: header checksum mismatch in section %u (corrupt file)",
                                   i + 1);
                        goto fail;
                }
                nlen = strnlen((const char *)h, 32);
                if (!name_ok((const char *)h, nlen) || nlen == 32) {
                        r = vm_err_set(err, -EINVAL, "state file: section %u has an invalid name", i + 1);
                        goto fail;
                }
                for (size_t k = nlen; k < 32; k++)
                        if (h[k]) {
                                r = vm_err_set(err, -EINVAL, "state file: section %u has garbage after its name", i + 1);
                                goto fail;
                        }
                memcpy(sec[i].name, h, nlen);
                for (unsigned k = 0; k < i; k++)
                        if (strcmp(sec[k].name, sec[i].name) == 0) {
                                r = vm_err_set(err, -EINVAL, "state file: section \"%s\" appears twice", sec[i].name);
                                goto fail;
                        }
                plen = le_get64(h + 32);
                off += STATE_SECTION_HEADER_SIZE;
                if (plen > len - off) {
                        r = vm_err_set(err, -EINVAL, "state file truncated: section \"%s\" needs %llu bytes, %zu left",
                                   sec[i].name, (unsigned long long)plen, len - off);
                        goto fail;
                }
                if (le_get32(h + 40) != state_crc(0, buf + off, (size_t)plen)) {
                        r = vm_err_set(err, -EBADMSG, "state file: checksum mismatch in section \"%s\" (corrupt file)",
                                   sec[i].name);
                        goto fail;
                }
                sec[i].data = buf + off;
                sec[i].len = plen;
                off += (size_t)plen;
        }
        if (off != len) {
                r = vm_err_set(err, -EINVAL, "state file has %zu bytes after its last section", len - off);
                goto fail;
        }
        f->version = version;
        f->nsec = (unsigned)nsec;
        f->sec = sec;
        return 0;
fail:
        free(sec);
        return r;
}

void state_file_free(struct state_file *f)
{
        free(f->sec);
        f->sec = NULL;
        f->nsec = 0;
}

const struct state_section *state_find(const struct state_file *f, const char *name)
{
        for (unsigned i = 0; i < f->nsec; i++)
                if (strcmp(f->sec[i].name, name) == 0)
                        return &f->sec[i];
        return NULL;
}

int state_section_reader(const struct state_file *f, const char *name, struct state_reader *r, struct vm_err *err)
{
        const struct state_section *s = state_find(f, name);

        if (!s)
                return vm_err_set(err, -EINVAL, "snapshot has no \"%s\" section (incomplete snapshot)", name);
        state_reader_init(r, s);
        return 0;
}

void state_reader_init(struct state_reader *r, const struct state_section *s)
{
        memset(r, 0, sizeof(*r));
        r->p = s->data;
        r->len = (size_t)s->len;
        r->section = s->name;
}

bool state_reader_fail(struct state_reader *r, const char *fmt, ...)
{
        va_list ap;

        if (r->why[0])
                return false;
        va_start(ap, fmt);
        vsnprintf(r->why, sizeof(r->why), fmt, ap);
        va_end(ap);
        if (!r->why[0])
                snprintf(r->why, sizeof(r->why), "invalid value");
        return false;
}

void state_get_bytes(struct state_reader *r, void *p, size_t n)
{
        if (!state_reader_ok(r) || n > r->len - r->off) {
                state_reader_fail(r, "truncated (wanted %zu bytes at offset %zu of %zu)", n, r->off, r->len);
                if (n)
                        memset(p, 0, n);
                return;
        }
        if (n)
                memcpy(p, r->p + r->off, n);
        r->off += n;
}

uint8_t state_get_u8(struct state_reader *r)
{
        uint8_t v;

        state_get_bytes(r, &v, 1);
        return v;
}

uint16_t state_get_u16(struct state_reader *r)
{
        uint16_t v;

        state_get_bytes(r, &v, 2);
        return le16toh(v);
}

uint32_t state_get_u32(struct state_reader *r)
{
        uint32_t v;

        state_get_bytes(r, &v, 4);
        return le32toh(v);
}

uint64_t state_get_u64(struct state_reader *r)
{
        uint64_t v;

        state_get_bytes(r, &v, 8);
        return le64toh(v);
}

int state_reader_done(struct state_reader *r, struct vm_err *err)
{
        if (state_reader_ok(r) && r->off != r->len)
                state_reader_fail(r, "%zu unexpected bytes at its end", r->len - r->off);
        if (!state_reader_ok(r))
                return vm_err_set(err, -EINVAL, "snapshot section \"%s\": %s", r->section, r->why);
        return 0;
}
