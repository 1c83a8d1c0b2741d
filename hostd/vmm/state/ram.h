/* Guest RAM in a snapshot (SNAPSHOT.md "ram"): a sparse file as large as
 * the RAM where only non-zero 4 KiB pages are written, and a checksum over
 * (page number, page) of every non-zero page in order. */
#pragma once

#include <stdint.h>

#include "err.h"

#define RAM_PAGE 4096

struct ram_sum {
        uint64_t size;          /* bytes of RAM */
        uint64_t pages;         /* non-zero pages, or RAM_UNSUMMED */
        uint32_t crc;
};

/* pages of a RAM file whose every page already came through a checked
 * channel (a migration stream's CRC-checked frames): ram_map does not sum
 * it again (that would lengthen a migration's downtime by two passes
 * over RAM). */
#define RAM_UNSUMMED UINT64_MAX

/* Write size bytes at host to a new file name in dirfd. 0 or -errno. */
int ram_save(const uint8_t *host, uint64_t size, int dirfd, const char *name, struct ram_sum *sum,
             struct vm_err *err);

/* Open name in dirfd, check its size and checksum against want, and map
 * it MAP_PRIVATE (the guest's writes stay in this process; unwritten
 * pages are shared with every other mapping of the file). Returns 0 with
 * *host and *fd (the caller unmaps and closes), or -errno with err. */
int ram_map(int dirfd, const char *name, const struct ram_sum *want, uint8_t **host, int *fd,
            struct vm_err *err);

