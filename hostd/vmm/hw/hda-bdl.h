/* Buffer descriptor lists of HD Audio streams (Intel HDA spec 1.0a,
 * 3.6.2): a guest-RAM array of LVI+1 16-byte entries (address, length,
 * IOC flag) describing a cyclic buffer of CBL bytes. hda_bdl_transfer
 * moves bytes between that buffer and a host buffer, following the
 * stream's position, with every guest address bounds-checked against RAM.
 * Pure apart from the guest-RAM accesses. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtqueue.h" /* struct vq_mem: guest-physical -> host translation */

#define HDA_BDL_ENTRY_SIZE 16
#define HDA_BDL_MAX_ENTRIES 256

/* What the guest programmed into a stream descriptor. */
struct hda_bdl {
        uint64_t base;          /* BDPL/BDPU, 128-byte aligned */
        uint16_t lvi;           /* last valid index */
        uint32_t cbl;           /* cyclic buffer length */
};

/* Where the stream is: entry index, offset inside it, link position. */
struct hda_bdl_pos {
        uint16_t entry;
        uint32_t off;
        uint32_t lpib;
};

/* Move up to len bytes at pos (guest buffer -> buf when to_guest is
 * false, buf -> guest buffer otherwise), advancing pos and wrapping at the
 * end of the list. *ioc is set when an entry with IOC was completed.
 * Returns the bytes moved, or -EINVAL (LVI < 1, CBL 0, a zero-length or
 * misaligned entry) or -EFAULT (list or buffer outside RAM): the stream's
 * descriptor error, pos then unchanged past the bytes already moved. */
long hda_bdl_transfer(const struct vq_mem *mem, const struct hda_bdl *bdl, struct hda_bdl_pos *pos, uint8_t *buf,
                      size_t len, bool to_guest, bool *ioc);
