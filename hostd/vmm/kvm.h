/* /dev/kvm: open it, check the API version and the capabilities the engine
 * relies on, and fetch what every VM needs (run area size, CPUID). */
#pragma once

#include <stdbool.h>
#include <linux/kvm.h>

#include "err.h"

struct kvm {
        int fd;
        int vcpu_mmap_size;
        int max_vcpus;
        bool tsc_deadline;
        struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
};

/* Open path (normally "/dev/kvm") and check it. On failure err says what is
 * missing and how to fix it, e.g. "KVM not available: /dev/kvm missing — is
 * the kvm module loaded?". */
int kvm_open(struct kvm *k, const char *path, struct vm_err *err);

/* Create a VM (KVM_CREATE_VM); returns its fd or a negative errno. */
int kvm_create_vm(const struct kvm *k, struct vm_err *err);

void kvm_close(struct kvm *k);
