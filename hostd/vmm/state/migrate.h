/* Live migration of a running vdi-vm (hostd/vmm/MIGRATION.md): the source
 * sends RAM while the guest runs (pre-copy rounds over KVM's dirty log),
 * then pauses it, sends the last dirty pages and the snapshot state, and
 * stops only when the target answers READY; on any failure it resumes the
 * guest. The target receives into a directory laid out like a snapshot
 * and restores from it (vm_config.restore_dir). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct vm;

struct vm_migrate_opts {
        double downtime_ms;     /* stop-and-copy budget at the measured rate; 0: 300 */
        unsigned max_rounds;    /* pre-copy rounds before stopping anyway; 0: 30 */
        unsigned reply_timeout_s; /* wait for the target's answer; 0: 120 */
};

struct vm_migrate_info {
        unsigned rounds;                /* pre-copy rounds, the first full one included */
        uint64_t pages, zero_pages;     /* data and zero pages sent in all */
        uint64_t final_pages;           /* sent while paused */
        uint64_t bytes;                 /* stream bytes sent */
        double rate_mib_s;              /* the last round's measured rate */
        double total_ms, paused_ms;     /* paused: from pause to the target's READY */
        bool unsettled;                 /* a device held chains from before the log */
};

/* Migrate vm over the connected socket fd (not closed). 0 with *info (may
 * be NULL): the target has the VM and this one is stopping
 * (VM_STOP_REQUEST). A negative errno with err: the guest runs on here. */
int vm_migrate_send(struct vm *vm, int fd, const struct vm_migrate_opts *o, struct vm_migrate_info *info,
                    struct vm_err *err);

/* Receive a migration stream from fd into dir (a new, empty directory):
 * dir/ram and dir/state, a snapshot for vm_config.restore_dir. Every frame
 * is checked; on a bad or cut stream -errno with err and dir is emptied
 * (vm_migrate_cleanup). timeout_s bounds every wait for bytes. */
int vm_migrate_receive(int fd, const char *dir, unsigned timeout_s, struct vm_err *err);

/* Answer the source: READY (msg NULL) or ERROR with msg (then what the
 * source still sends is read and dropped, at most 2 s per read, so that
 * the answer arrives). 0 or -errno. */
int vm_migrate_reply(int fd, const char *msg);

/* Remove what vm_migrate_receive wrote in dir, and dir. */
void vm_migrate_cleanup(const char *dir);
