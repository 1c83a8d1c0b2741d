/* The snapshot state format (hostd/vmm/SNAPSHOT.md): one file of named,
 * checksummed sections, written by a state_writer and read back through a
 * state_file and per-section state_readers. Pure code: no KVM, no files
 * (state_io.c does the files), so it is unit-tested and fuzzed on its own.
 *
 * Every device model owns its state through a struct state_ops: it saves
 * into one section and loads from it, validating every value (the bytes
 * come from a file that may be corrupt or hostile). */
#pragma once

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "le.h"

#define STATE_MAGIC "VDIVMST\n"        /* 8 bytes */
#define STATE_VERSION 3
#define STATE_VERSION_MIN 2     /* read too: its clock has no wall-clock time */
#define STATE_HEADER_SIZE 32
#define STATE_SECTION_HEADER_SIZE 48
#define STATE_NAME_MAX 31               /* bytes of a section name */
#define STATE_MAX_SECTIONS 1024
#define STATE_MAX_FILE (256u << 20)     /* the state file (RAM is apart) */

/* ---- writing ---- */

struct state_writer {
        uint8_t *buf;
        size_t len, cap;
        size_t sec_start;       /* offset of the open section's header, or SIZE_MAX */
        unsigned nsec;
        bool oom;               /* sticky: an allocation failed */
};

void state_writer_init(struct state_writer *w);
/* Open a section (names: 1..31 of [a-z0-9._-]); sections do not nest. */
void state_begin(struct state_writer *w, const char *name);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bytes(struct state_writer *w, const void *p, size_t n);
/* Close the open section: its length and checksum are filled in. */
void state_end(struct state_writer *w);
/* The whole file (header included); the caller frees *out. 0, -ENOMEM,
 * or -EINVAL when a section is still open or a name was invalid. */
int state_writer_finish(struct state_writer *w, uint8_t **out, size_t *len);
void state_writer_free(struct state_writer *w);

/* ---- reading ---- */

struct state_section {
        char name[STATE_NAME_MAX + 1];
        const uint8_t *data;    /* points into the parsed buffer */
        uint64_t len;
};

struct state_file {
        uint32_t version;
        unsigned nsec;
        struct state_section *sec;      /* malloc'd; data stays the caller's */
};

/* Check and index buf (not copied: it must outlive f): magic, version,
 * header and section checksums, lengths, names, no duplicates, nothing
 * after the last section. 0, or a negative errno with err saying which
 * check failed (-EPROTONOSUPPORT for another version, -EBADMSG for a
 * checksum, -EINVAL otherwise). */
int state_file_parse(const uint8_t *buf, size_t len, struct state_file *f, struct vm_err *err);
void state_file_free(struct state_file *f);
/* The section called name, or NULL. */
const struct state_section *state_find(const struct state_file *f, const char *name);

/* Bounded reads from one section: a read past its end, or a value the
 * loader rejects (state_reader_fail), makes the reader bad; reads then
 * return zeros. state_reader_done() reports it. */
struct state_reader {
        const uint8_t *p;
        size_t len, off;
        const char *section;
        char why[160];          /* first failure, empty while good */
};

void state_reader_init(struct state_reader *r, const struct state_section *s);
uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
void state_get_bytes(struct state_reader *r, void *p, size_t n);
/* A reader on section name of f; -EINVAL ("incomplete snapshot") when
 * f has no such section. */
int state_section_reader(const struct state_file *f, const char *name, struct state_reader *r, struct vm_err *err);
/* Mark the section bad (first call wins); returns false for && chains. */
bool state_reader_fail(struct state_reader *r, const char *fmt, ...) _printf_(2, 3);
static inline bool state_reader_ok(const struct state_reader *r) { return !r->why[0]; }
/* 0 when every byte was read and nothing failed; else -EINVAL with err
 * naming the section and the problem. */
int state_reader_done(struct state_reader *r, struct vm_err *err);

/* ---- device state interface ---- */

/* A device model's state: save writes the payload of its section (the
 * caller opens and closes it), load reads and applies it (0 or a negative
 * errno with err; on failure the VM is never run). Both run with the
 * vCPUs paused or not yet started. */
struct state_ops {
        int (*save)(void *dev, struct state_writer *w);
        int (*load)(void *dev, struct state_reader *r, struct vm_err *err);
        /* Optional: does the section fit this device (sizes, ids)? Run by
         * a restore before KVM is touched, so a mismatch is refused
         * early; changes nothing. 0 or -EINVAL with err. */
        int (*check)(void *dev, struct state_reader *r, struct vm_err *err);
};

/* CRC-32 (zlib's) of n bytes, continuing from crc (0 to start). */
uint32_t state_crc(uint32_t crc, const void *p, size_t n);
