/* Restore steps used by vm.c (vm_snapshot itself is in vm.h). A restore
 * checks everything it can before KVM runs anything: the state file's
 * format and checksums (snapshot_open), the device set and CPU features
 * (snapshot_check_vm), the RAM file's checksum (snapshot_map_ram); then
 * machine_start applies the state (snapshot_load_*) before any vCPU
 * thread starts, and gives up on the first error. */
#pragma once

#include <stdint.h>

#include "err.h"

struct snapshot_in;
struct vm;
struct vcpu;
struct guest_mem;

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
/* One created vCPU. */
int snapshot_load_vcpu(struct snapshot_in *s, struct vcpu *v, struct vm_err *err);
