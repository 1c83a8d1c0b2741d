/* The live migration stream (hostd/vmm/MIGRATION.md): a stream header,
 * then framed, CRC-checked pages and the snapshot state, source to
 * target; one reply frame back. Pure code (no sockets, no KVM), so it is
 * unit-tested and fuzzed on its own; migrate.c does the I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MIG_MAGIC "VDIVMMG\n"          /* 8 bytes */
#define MIG_VERSION 1
#define MIG_HEADER_SIZE 28
#define MIG_FRAME_HEADER_SIZE 16
#define MIG_PAGE 4096
#define MIG_MAX_RUN 256                 /* pages in one PAGES frame (1 MiB) */
#define MIG_MAX_REPLY 400               /* bytes of an ERROR reply's text */

enum mig_type {
        MIG_PAGES = 1,  /* u64 first page, u32 count, u32 zero; count pages unless zero */
        MIG_STATE = 2,  /* the snapshot state file (SNAPSHOT.md), once, after the last pages */
        MIG_END = 3,    /* empty: the stream is complete */
        MIG_READY = 16, /* target → source, empty: the target took the VM */
        MIG_ERROR = 17, /* target → source: why it refused, text */
};

struct mig_frame {
        uint32_t type;
        uint32_t len;           /* payload bytes */
        uint32_t crc;           /* of the payload */
};

/* Encode the stream header for ram_bytes of guest RAM. */
void mig_header_build(uint8_t out[MIG_HEADER_SIZE], uint64_t ram_bytes);
/* Check a received stream header; 0 and *ram_bytes, or -EINVAL /
 * -EPROTONOSUPPORT / -EBADMSG with err. */
int mig_header_parse(const uint8_t in[MIG_HEADER_SIZE], uint64_t *ram_bytes, struct vm_err *err);

/* Encode a frame header for a payload of len bytes with CRC crc
 * (state_crc of the payload). */
void mig_frame_build(uint8_t out[MIG_FRAME_HEADER_SIZE], enum mig_type type, uint32_t len, uint32_t crc);
/* Check a frame header: its CRC, a known type and a length that type
 * allows (so a hostile length never makes the reader allocate more than
 * the state file's cap). 0 and *f, or a negative errno with err. */
int mig_frame_parse(const uint8_t in[MIG_FRAME_HEADER_SIZE], struct mig_frame *f, struct vm_err *err);
/* Check the payload's CRC against f. 0 or -EBADMSG with err. */
int mig_payload_check(const struct mig_frame *f, const uint8_t *p, struct vm_err *err);

/* Encode the 16-byte head of a PAGES payload. */
void mig_pages_head(uint8_t out[16], uint64_t first, uint32_t count, bool zero);
/* Apply a checked PAGES payload to ram (ram_bytes long): copy the pages
 * or zero them. 0, or -EINVAL with err for a run outside RAM, a bad
 * count or a length that does not match; ram is untouched then. */
int mig_pages_apply(const uint8_t *p, uint32_t len, uint8_t *ram, uint64_t ram_bytes, struct vm_err *err);
