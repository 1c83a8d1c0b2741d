/* MBR and GPT parsing; see partition.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "disk.h"
#include "partition.h"

#define SECTOR 512ULL
#define GPT_MAX_ENTRIES_BYTES (1u << 20)

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
        return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int add(struct part_table *t, unsigned number, uint64_t first_lba, uint64_t sectors,
               uint64_t disk_size, char **err)
{
        struct part *p;
        uint64_t off, size;

        if (t->n >= PART_MAX)
                return disk_errorf(err, -EINVAL, "more than %d partitions", PART_MAX);
        if (__builtin_mul_overflow(first_lba, SECTOR, &off) ||
            __builtin_mul_overflow(sectors, SECTOR, &size) || off + size < off)
                return disk_errorf(err, -EINVAL, "partition %u has an absurd size", number);
        if (off + size > disk_size)
                return disk_errorf(err, -EINVAL,
                                   "partition %u (bytes %llu..%llu) ends past the end of the disk (%llu bytes): the image is truncated or the table is corrupt",
                                   number, (unsigned long long)off,
                                   (unsigned long long)(off + size), (unsigned long long)disk_size);
        p = &t->parts[t->n++];
        memset(p, 0, sizeof(*p));
        p->number = number;
        p->offset = off;
        p->size = size;
        return 0;
}

static int read_gpt(part_read_fn rd, void *ctx, uint64_t disk_size, struct part_table *t,
                    char **err)
{
        uint8_t h[SECTOR];
        uint32_t hsize, crc, n, esize;
        uint64_t entries_lba, alt_lba, bytes;
        uint8_t *e;
        int r;

        r = rd(ctx, h, SECTOR, SECTOR);
        if (r < 0)
                return disk_errorf(err, r, "cannot read the GPT header: %s", strerror(-r));
        if (memcmp(h, "EFI PART", 8) != 0)
                return disk_errorf(err, -EINVAL, "protective MBR but no GPT header at LBA 1 (table corrupt)");
        hsize = le32(h + 12);
        if (hsize < 92 || hsize > SECTOR)
                return disk_errorf(err, -EINVAL, "GPT header size %u is invalid (table corrupt)", hsize);
        crc = le32(h + 16);
        memset(h + 16, 0, 4);
        if ((uint32_t)crc32(0, h, hsize) != crc)
                return disk_errorf(err, -EINVAL, "GPT header CRC mismatch (table corrupt)");
        alt_lba = le64(h + 32);
        entries_lba = le64(h + 72);
        n = le32(h + 80);
        esize = le32(h + 84);
        if (esize < 128 || esize % 8 || n == 0 || (uint64_t)n * esize > GPT_MAX_ENTRIES_BYTES)
                return disk_errorf(err, -EINVAL, "GPT entry array (%u entries of %u bytes) is invalid (table corrupt)",
                                   n, esize);
        if (alt_lba >= disk_size / SECTOR)
                return disk_errorf(err, -EINVAL,
                                   "the GPT says the disk has %llu sectors, the image has %llu: the image is truncated",
                                   (unsigned long long)alt_lba + 1,
                                   (unsigned long long)(disk_size / SECTOR));
        bytes = (uint64_t)n * esize;
        if (entries_lba < 2 || entries_lba > disk_size / SECTOR ||
            entries_lba * SECTOR + bytes > disk_size)
                return disk_errorf(err, -EINVAL, "GPT entry array at LBA %llu is outside the disk (table corrupt)",
                                   (unsigned long long)entries_lba);
        e = malloc(bytes);
        if (!e)
                return disk_errorf(err, -ENOMEM, "out of memory");
        r = rd(ctx, e, bytes, entries_lba * SECTOR);
        if (r < 0) {
                free(e);
                return disk_errorf(err, r, "cannot read the GPT entries: %s", strerror(-r));
        }
        if ((uint32_t)crc32(0, e, (uInt)bytes) != le32(h + 88)) {
                free(e);
                return disk_errorf(err, -EINVAL, "GPT entry array CRC mismatch (table corrupt)");
        }
        t->scheme = PART_GPT;
        for (uint32_t i = 0; i < n; i++) {
                const uint8_t *p = e + (uint64_t)i * esize;
                static const uint8_t zero[16];
                uint64_t first = le64(p + 32), last = le64(p + 40);
                struct part *pt;
                if (memcmp(p, zero, 16) == 0)
                        continue;
                if (last < first) {
                        free(e);
                        return disk_errorf(err, -EINVAL, "GPT partition %u ends before it starts (table corrupt)",
                                           i + 1);
                }
                r = add(t, i + 1, first, last - first + 1, disk_size, err);
                if (r < 0) {
                        free(e);
                        return r;
                }
                pt = &t->parts[t->n - 1];
                memcpy(pt->guid, p, 16);
                for (unsigned c = 0; c < 36 && c < sizeof(pt->name) - 1; c++) {
                        uint16_t ch = (uint16_t)(p[56 + 2 * c] | p[57 + 2 * c] << 8);
                        if (!ch)
                                break;
                        pt->name[c] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
                }
        }
        free(e);
        return 0;
}

int part_read_table(part_read_fn rd, void *ctx, uint64_t disk_size, struct part_table *out,
                    char **err)
{
        uint8_t m[SECTOR];
        struct part_table *t = out;
        unsigned logical = 5;
        int r;

        memset(t, 0, sizeof(*t));
        if (disk_size < SECTOR)
                return 0;
        r = rd(ctx, m, SECTOR, 0);
        if (r < 0)
                return disk_errorf(err, r, "cannot read the MBR: %s", strerror(-r));
        if (m[510] != 0x55 || m[511] != 0xaa)
                return 0;
        for (unsigned i = 0; i < 4; i++)
                if (m[446 + 16 * i + 4] == 0xee)
                        return read_gpt(rd, ctx, disk_size, t, err);
        /* A FAT or NTFS boot sector also ends in 55aa: its partition area
         * then holds no valid entries (status bytes other than 0/0x80). */
        for (unsigned i = 0; i < 4; i++) {
                uint8_t status = m[446 + 16 * i];
                if (status != 0 && status != 0x80)
                        return 0;
        }
        t->scheme = PART_MBR;
        for (unsigned i = 0; i < 4; i++) {
                const uint8_t *p = m + 446 + 16 * i;
                uint8_t type = p[4];
                uint64_t lba = le32(p + 8), n = le32(p + 12);
                if (type == 0 || n == 0)
                        continue;
                if (type == 0x05 || type == 0x0f || type == 0x85) {
                        /* Extended partition: a chain of EBRs, each naming
                         * one logical partition and the next EBR. */
                        uint64_t ext = lba, ebr = lba;
                        for (unsigned hops = 0; hops < PART_MAX; hops++) {
                                uint8_t b[SECTOR];
                                uint64_t l_lba, l_n, next;
                                if (ebr * SECTOR + SECTOR > disk_size)
                                        return disk_errorf(err, -EINVAL,
                                                           "extended partition table at LBA %llu is past the end of the disk: the image is truncated",
                                                           (unsigned long long)ebr);
                                r = rd(ctx, b, SECTOR, ebr * SECTOR);
                                if (r < 0)
                                        return disk_errorf(err, r, "cannot read an extended partition table: %s",
                                                           strerror(-r));
                                if (b[510] != 0x55 || b[511] != 0xaa)
                                        break;
                                l_lba = le32(b + 446 + 8);
                                l_n = le32(b + 446 + 12);
                                if (b[446 + 4] && l_n) {
                                        r = add(t, logical, ebr + l_lba, l_n, disk_size, err);
                                        if (r < 0)
                                                return r;
                                        t->parts[t->n - 1].mbr_type = b[446 + 4];
                                        logical++;
                                }
                                next = le32(b + 446 + 16 + 8);
                                if (!b[446 + 16 + 4] || !next || ext + next <= ebr)
                                        break; /* end of chain; never backwards (loops) */
                                ebr = ext + next;
                        }
                        continue;
                }
                r = add(t, i + 1, lba, n, disk_size, err);
                if (r < 0)
                        return r;
                t->parts[t->n - 1].mbr_type = type;
        }
        return 0;
}

/* GPT type GUIDs as stored: the first three fields little-endian. */
static const struct {
        uint8_t guid[16];
        const char *name;
} gpt_types[] = {
        { { 0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4 }, "Linux filesystem" },
        { { 0xe3, 0xbc, 0x68, 0x4f, 0xcd, 0xe8, 0xb1, 0x4d, 0x96, 0xe7, 0xfb, 0xca, 0xf9, 0x84, 0xb7, 0x09 }, "Linux root (x86-64)" },
        { { 0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b }, "EFI System" },
        { { 0x48, 0x61, 0x68, 0x21, 0x49, 0x64, 0x6f, 0x6e, 0x74, 0x4e, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49 }, "BIOS boot" },
        { { 0x79, 0xd3, 0xd6, 0xe6, 0x07, 0xf5, 0xc2, 0x44, 0xa2, 0x3c, 0x23, 0x8f, 0x2a, 0x3d, 0xf9, 0x28 }, "Linux LVM" },
        { { 0x6d, 0xfd, 0x57, 0x06, 0xab, 0xa4, 0xc4, 0x43, 0x84, 0xe5, 0x09, 0x33, 0xc8, 0x4b, 0x4f, 0x4f }, "Linux swap" },
        { { 0x72, 0x6d, 0xc2, 0xbc, 0x27, 0x3b, 0x4c, 0x4a, 0xa9, 0x7f, 0x9a, 0x39, 0xa4, 0x68, 0xd9, 0x9a }, "Linux extended boot" },
};

const char *part_type_name(const struct part *p)
{
        if (p->mbr_type) {
                switch (p->mbr_type) {
                case 0x83: return "Linux";
                case 0x82: return "Linux swap";
                case 0x8e: return "Linux LVM";
                case 0xef: return "EFI System";
                case 0x0b: case 0x0c: return "FAT32";
                case 0x07: return "NTFS/exFAT";
                default: return NULL;
                }
        }
        for (size_t i = 0; i < sizeof(gpt_types) / sizeof(gpt_types[0]); i++)
                if (memcmp(p->guid, gpt_types[i].guid, 16) == 0)
                        return gpt_types[i].name;
        return NULL;
}
