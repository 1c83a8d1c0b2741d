/* KVM-held state of a VM and its vCPUs for snapshots (SNAPSHOT.md
 * "vcpu.N", "irqchip", "pit", "clock"): the KVM x86-64 ABI structures of
 * linux/kvm.h, each stored as u32 size + bytes, so a different layout is
 * refused instead of misread. */
#pragma once

#include <linux/kvm.h>

#include "err.h"
#include "kvm.h"
#include "state.h"

/* Save vCPU fd's state (it must not be running): CPUID, MP state, regs,
 * sregs, FPU and XSAVE, XCRs, debug registers, LAPIC, every MSR of
 * KVM_GET_MSR_INDEX_LIST that KVM reads back, pending events. Writes the
 * payload of the open section. 0 or negative errno (+ err). */
int cpu_state_save(const struct kvm *k, int vcpu_fd, unsigned id, struct state_writer *w, struct vm_err *err);

/* Apply a saved vCPU (Firecracker's order: CPUID, MP state, regs, sregs,
 * XSAVE, XCRs, debug regs, LAPIC, MSRs, events; then KVM_KVMCLOCK_CTRL).
 * 0 or negative errno with err naming the vCPU and the step. */
int cpu_state_load(int vcpu_fd, unsigned id, const struct state_section *s, struct vm_err *err);

/* Parse a vcpu.N section without applying it (no KVM needed). 0 or
 * -EINVAL/-ENOMEM with err naming the section and the problem. */
int cpu_state_validate(const struct state_section *s, struct vm_err *err);

/* Check a saved vCPU's CPUID against what this host's KVM would give vCPU
 * id of an ncpus machine: every feature bit the snapshot's guest saw must
 * be offered here. 0 or -ENOTSUP naming the leaf, register and bits. */
int cpu_state_check_cpuid(const struct kvm *k, unsigned id, unsigned ncpus, const struct state_section *s,
                          struct vm_err *err);

/* The in-kernel PIC/IOAPIC, PIT and KVM clock: one section each. */
int vm_kvm_state_save(int vm_fd, struct state_writer *w, struct vm_err *err);
int vm_kvm_state_load(int vm_fd, const struct state_file *f, struct vm_err *err);
