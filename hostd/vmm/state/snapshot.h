/* Restore steps used by vm.c (vm_snapshot itself is in vm.h). A restore
 * checks everything it can before KVM runs anything: the state file's
 * format and checksums (snapshot_open), the device set and CPU features
 * (snapshot_check_vm), the RAM file's checksum (snapshot_map_ram); then
 * machine_start applies the state (snapshot_load_*) before any vCPU
 * thread starts, and gives up on the first error. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct snapshot_in;
struct vm;
struct vcpu;
struct guest_mem;
struct ram_sum;

int snapshot_open(const char *dir, struct snapshot_in **out, struct vm_err *err);
void snapshot_in_free(struct snapshot_in *s);
unsigned snapshot_in_cpus(const struct snapshot_in *s);
uint64_t snapshot_in_mem(const struct snapshot_in *s);
struct vm_dev_config;
/* Before the disks are opened: a captured disk's path that does not exist
 * becomes a fresh overlay on the snapshot's layer (state/disks.h). */
int snapshot_prepare_disks(struct snapshot_in *s, const struct vm_dev_config *cfg, struct vm_err *err);
int snapshot_check_vm(struct snapshot_in *s, struct vm *vm, struct vm_err *err);
int snapshot_map_ram(struct snapshot_in *s, struct guest_mem *m, struct vm_err *err);
/* irqchip, PIT, clock and the device models (after the devices attached). */
int snapshot_load_machine(struct snapshot_in *s, struct vm *vm, struct vm_err *err);
/* Whether the snapshot's guest has the VM generation ID device; if so its
 * ID (VMGENID_LEN bytes) and *same_vm: the snapshot is a suspend's or a
 * migration's, whose restore is the same VM going on. */
bool snapshot_in_vmgenid(const struct snapshot_in *s, uint8_t *id, bool *same_vm);
/* One created vCPU. */
int snapshot_load_vcpu(struct snapshot_in *s, struct vcpu *v, struct vm_err *err);

/* For live migration (migrate.c). With the vCPUs paused: freeze the
 * virtio devices (no chain taken or returned, virtio-gpu's command in
 * flight finished first; their used rings marked in an active dirty log)
 * or thaw them. */
void snapshot_freeze_devices(struct vm *vm, bool freeze);
/* Wait (at most about timeout_ms per queue) until every virtio queue has
 * returned the chains it had taken when called: buffers looked up before
 * a dirty log began are then written. false when some queue still holds
 * chains (e.g. receive buffers waiting for packets). */
bool snapshot_settle_devices(struct vm *vm, unsigned timeout_ms);
/* With the vCPUs paused and the devices frozen: the state file's bytes
 * (the caller frees *buf), its "ram" section from ram; the disks as they
 * are, none captured (a live migration: the target opens the same files). */
int snapshot_state_build(struct vm *vm, const struct ram_sum *ram, uint8_t **buf, size_t *len, struct vm_err *err);
