/* The live migration stream's framing (MIGRATION.md). */
#include "config.h"

#include "migstream.h"

#include <errno.h>
#include <string.h>

#include "state.h"

void mig_header_build(uint8_t out[MIG_HEADER_SIZE], uint64_t ram_bytes)
{
        memcpy(out, MIG_MAGIC, 8);
        le_put32(out + 8, MIG_VERSION);
        le_put32(out + 12, 0);
        le_put64(out + 16, ram_bytes);
        le_put32(out + 24, state_crc(0, out, 24));
}

int mig_header_parse(const uint8_t in[MIG_HEADER_SIZE], uint64_t *ram_bytes, struct vm_err *err)
{
        uint64_t ram = le_get64(in + 16);

        if (memcmp(in, MIG_MAGIC, 8) != 0)
                return vm_err_set(err, -EINVAL, "not a vdi-vm migration stream (bad magic)");
        if (le_get32(in + 24) != state_crc(0, in, 24))
                return vm_err_set(err, -EBADMSG, "migration stream header checksum mismatch");
        if (le_get32(in + 8) != MIG_VERSION)
                return vm_err_set(err, -EPROTONOSUPPORT, "migration stream version %u (this vdi-vm reads %u)",
                                  le_get32(in + 8), MIG_VERSION);
        if (le_get32(in + 12) != 0)
                return vm_err_set(err, -EINVAL, "migration stream flags %#x (none are defined)", le_get32(in + 12));
        if (ram == 0 || ram % (1u << 20) || ram > (UINT64_C(1) << 40))
                return vm_err_set(err, -EINVAL, "migration stream RAM size %llu out of range",
                                  (unsigned long long)ram);
        *ram_bytes = ram;
        return 0;
}

void mig_frame_build(uint8_t out[MIG_FRAME_HEADER_SIZE], enum mig_type type, uint32_t len, uint32_t crc)
{
        le_put32(out, type);
        le_put32(out + 4, len);
        le_put32(out + 8, crc);
        le_put32(out + 12, state_crc(0, out, 12));
}

static uint32_t max_len(uint32_t type)
{
        switch (type) {
        case MIG_PAGES:
                return 16 + MIG_MAX_RUN * MIG_PAGE;
        case MIG_STATE:
                return STATE_MAX_FILE;
        case MIG_ERROR:
                return MIG_MAX_REPLY;
        default:
                return 0; /* END, READY */
        }
}

int mig_frame_parse(const uint8_t in[MIG_FRAME_HEADER_SIZE], struct mig_frame *f, struct vm_err *err)
{
        uint32_t type = le_get32(in), len = le_get32(in + 4);

        if (le_get32(in + 12) != state_crc(0, in, 12))
                return vm_err_set(err, -EBADMSG, "migration frame header checksum mismatch");
        if (type != MIG_PAGES && type != MIG_STATE && type != MIG_END && type != MIG_READY && type != MIG_ERROR)
                return vm_err_set(err, -EINVAL, "unknown migration frame type %u", type);
        if (len > max_len(type))
                return vm_err_set(err, -EINVAL, "migration frame of type %u is %u bytes (at most %u)", type, len,
                                  max_len(type));
        f->type = type;
        f->len = len;
        f->crc = le_get32(in + 8);
        return 0;
}

int mig_payload_check(const struct mig_frame *f, const uint8_t *p, struct vm_err *err)
{
        if (state_crc(0, p, f->len) != f->crc)
                return vm_err_set(err, -EBADMSG, "migration frame of type %u: payload checksum mismatch", f->type);
        return 0;
}

void mig_pages_head(uint8_t out[16], uint64_t first, uint32_t count, bool zero)
{
        le_put64(out, first);
        le_put32(out + 8, count);
        le_put32(out + 12, zero);
}

int mig_pages_apply(const uint8_t *p, uint32_t len, uint8_t *ram, uint64_t ram_bytes, struct vm_err *err)
{
        uint64_t first, pages = ram_bytes / MIG_PAGE;
        uint32_t count, zero;

        if (len < 16)
                return vm_err_set(err, -EINVAL, "migration PAGES frame of %u bytes (at least 16)", len);
        first = le_get64(p);
        count = le_get32(p + 8);
        zero = le_get32(p + 12);
        if (count == 0 || count > MIG_MAX_RUN || zero > 1)
                return vm_err_set(err, -EINVAL, "migration PAGES frame: %u pages, zero flag %u", count, zero);
        if (first >= pages || count > pages - first)
                return vm_err_set(err, -EINVAL, "migration PAGES frame: pages %llu+%u beyond RAM (%llu pages)",
                                  (unsigned long long)first, count, (unsigned long long)pages);
        if (len != 16 + (zero ? 0 : (uint64_t)count * MIG_PAGE))
                return vm_err_set(err, -EINVAL, "migration PAGES frame: %u bytes for %u %s pages", len, count,
                                  zero ? "zero" : "data");
        if (zero)
                memset(ram + first * MIG_PAGE, 0, (size_t)count * MIG_PAGE);
        else
                memcpy(ram + first * MIG_PAGE, p + 16, (size_t)count * MIG_PAGE);
        return 0;
}
