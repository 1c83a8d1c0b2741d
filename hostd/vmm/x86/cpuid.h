/* Per-vCPU CPUID: start from KVM_GET_SUPPORTED_CPUID and patch the
 * topology and feature bits the guest must see. Pure (unit-tested). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <linux/kvm.h>

struct cpuid_opts {
        unsigned apic_id;       /* this vCPU */
        unsigned ncpus;         /* all vCPUs of the VM */
        bool tsc_deadline;      /* KVM_CAP_TSC_DEADLINE_TIMER */
};

/* Patch entries[0..n) in place for one vCPU: leaf 1 (initial APIC id,
 * logical count, HTT, hypervisor bit, TSC-deadline), leaves 0xB/0x1F
 * (x2APIC id, counts), leaf 4 (cores per package). */
void cpuid_patch(struct kvm_cpuid_entry2 *entries, size_t n, const struct cpuid_opts *o);

/* Find leaf/subleaf in entries, or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *entries, size_t n, unsigned function,
                                    unsigned index);
