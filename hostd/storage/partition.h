/* Partition tables of a guest disk: MBR (primary and logical partitions)
 * and GPT (UEFI spec 2.9 §5.3), read through a callback so the parser works
 * on any disk layer (and on a fuzzer's buffer). Untrusted input: every
 * field is range-checked against the disk size. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define PART_MAX 128

enum part_scheme { PART_NONE, PART_MBR, PART_GPT };

struct part {
        unsigned number;    /* 1-based, as Linux names it (sda1; logical from 5) */
        uint64_t offset;    /* bytes */
        uint64_t size;      /* bytes */
        uint8_t mbr_type;   /* MBR partition type (0 for GPT) */
        uint8_t guid[16];   /* GPT partition type GUID, as stored (mixed-endian) */
        char name[72];      /* GPT name (ASCII subset of UTF-16LE), "" for MBR */
};

struct part_table {
        enum part_scheme scheme;
        unsigned n;
        struct part parts[PART_MAX];
};

/* Read len bytes at off of the disk into buf: 0 or a negative errno. */
typedef int (*part_read_fn)(void *ctx, void *buf, uint64_t len, uint64_t off);

/* Parse the partition table of a disk of disk_size bytes (512-byte
 * sectors). No table (no 0x55aa signature) is not an error: scheme
 * PART_NONE, n = 0. Returns 0, or a negative errno with a reason in err
 * (malloc'd): a partition past the end of the disk (a truncated image), a
 * GPT whose header or entries fail their CRC, absurd sizes. */
int part_read_table(part_read_fn read, void *ctx, uint64_t disk_size, struct part_table *out,
                    char **err);

/* "Linux filesystem", "EFI System", "BIOS boot", "Linux LVM", ... or NULL. */
const char *part_type_name(const struct part *p);
