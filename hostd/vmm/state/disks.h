/* The disks at the snapshot instant (SNAPSHOT.md, "Disks"). Taking a
 * snapshot: every writable disk (a qcow2 overlay) is quiesced with the
 * vCPUs, flushed and hard-linked into the snapshot directory as
 * disk.N, a read-only layer; once the directory is in place the running
 * VM moves onto a fresh overlay on that layer, under the disk's own path.
 * Restoring: each captured disk must be (or is created as) a fresh qcow2
 * overlay whose backing file is the snapshot's disk.N. Read-only disks
 * are not captured: they are the same file for every VM. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "state.h"
#include "vm-devices.h"

#define SNAP_DISK_LAYER "disk.%u"

struct snap_disks {
        unsigned n;
        bool captured[VM_MAX_DISKS];
        uint64_t size[VM_MAX_DISKS];
};

struct vm;

/* Which of vm's disks a snapshot captures; refuses a writable raw disk or
 * an overlay with a relative backing file name, naming it. */
int snap_disks_plan(struct vm *vm, struct snap_disks *out, struct vm_err *err);
/* The disks as they are, none captured: a live migration's target opens
 * the same disk files. */
void snap_disks_live(const struct vm *vm, struct snap_disks *out);
void snap_disks_quiesce(struct vm *vm, const struct snap_disks *p);
void snap_disks_unquiesce(struct vm *vm, const struct snap_disks *p);
/* Quiesced: flush each captured disk and link it as dirfd/disk.N. */
int snap_disks_capture(struct vm *vm, const struct snap_disks *p, int dirfd, struct vm_err *err);
/* Quiesced: flush each writable disk (a suspend keeps them as they are). */
int snap_disks_flush(struct vm *vm, const struct snap_disks *p, struct vm_err *err);
/* The "disks" section. */
void snap_disks_save(const struct snap_disks *p, struct state_writer *w);
/* Quiesced, DIR in place: each captured disk moves onto a new overlay on
 * DIR/disk.N (created as PATH.next-PID, renamed over PATH); the layer
 * becomes mode 0400. *moved: a disk now runs on DIR (on failure with
 * *moved false nothing changed, and DIR must go). */
int snap_disks_switch(struct vm *vm, const struct snap_disks *p, const char *dir, bool *moved, struct vm_err *err);

/* Restore: parse the "disks" section. */
int snap_disks_load(const struct state_file *f, struct snap_disks *out, struct vm_err *err);
/* Before the disks are opened: the same number of disks; a captured
 * disk's PATH that does not exist is created as an overlay on
 * DIR/disk.N (DIR absolute). */
int snap_disks_prepare(const struct snap_disks *p, const char *dir, const struct vm_dev_config *cfg,
                       struct vm_err *err);
/* After they are opened: each captured disk's backing file is DIR/disk.N. */
int snap_disks_check(const struct snap_disks *p, const char *dir, struct vm *vm, struct vm_err *err);
