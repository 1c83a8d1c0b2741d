/* Guest RAM: one memfd (so it can be snapshotted or shared with another
 * process later), mapped once in this process, exposed to KVM as up to two
 * memslots around the 32-bit PCI hole (layout.h). */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct guest_mem {
        int fd;                 /* memfd holding all guest RAM */
        uint8_t *host;          /* mapping of the whole memfd */
        uint64_t size;          /* bytes of RAM */
        uint64_t low_size;      /* RAM at guest-physical 0 */
        uint64_t high_size;     /* RAM at 4 GiB (what did not fit below the hole) */
        bool from_snapshot;     /* a private mapping of a snapshot's RAM file */
        /* While a migration logs dirty pages: one bit per page (RAM file
         * order) for the pages the VMM's devices looked up. */
        _Atomic(uint64_t *) dirty;
        uint64_t *dirty_map;    /* its storage, kept until destroy */
};

#define GUEST_PAGE 4096

/* Split size bytes of RAM around the PCI hole. Pure. */
void guest_mem_layout(uint64_t size, uint64_t *low, uint64_t *high);

/* Create size bytes of zeroed guest RAM. 0 or negative errno (+ err). */
int guest_mem_create(struct guest_mem *m, uint64_t size, struct vm_err *err);

/* Take over host, a MAP_PRIVATE mapping of size bytes of a snapshot's
 * RAM file fd (state/ram.h), as this guest's RAM. */
void guest_mem_adopt(struct guest_mem *m, int fd, uint8_t *host, uint64_t size);

/* Register the memslots with a KVM VM. */
int guest_mem_register(const struct guest_mem *m, int vm_fd, struct vm_err *err);

/* Dirty logging for live migration: on, KVM logs the vCPUs' writes on
 * every slot and guest_mem_ptr marks what the devices look up (a bitmap
 * kept until guest_mem_destroy, so a device thread never sees it freed).
 * 0 or negative errno (+ err). */
int guest_mem_dirty_log(struct guest_mem *m, int vm_fd, bool on, struct vm_err *err);

/* OR into bitmap (one bit per page, RAM file order) the pages the vCPUs
 * wrote since the last call (KVM's log, cleared) and every page the
 * devices looked up since logging began (kept). */
int guest_mem_dirty_get(struct guest_mem *m, int vm_fd, uint64_t *bitmap, struct vm_err *err);

/* Zero all RAM (guest reset): the memfd's pages are dropped, the mapping
 * stays valid. -ENOTSUP for RAM from a snapshot (its file is never touched). */
int guest_mem_clear(struct guest_mem *m);

/* Host pointer for guest-physical [gpa, gpa+len), or NULL when the range is
 * not entirely RAM within one region (bounds- and overflow-checked). The
 * pointer stays valid until guest_mem_destroy(). */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copy into / out of guest RAM; -EFAULT when the range is not RAM. */
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);
int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);

void guest_mem_destroy(struct guest_mem *m);
