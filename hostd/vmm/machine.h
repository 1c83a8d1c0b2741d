/* Engine internals shared by vm.c and vcpu.c (not part of the API). */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <linux/kvm.h>

#include "boot.h"
#include "iobus.h"
#include "kvm.h"
#include "mem.h"
#include "pci.h"
#include "power.h"
#include "serial.h"
#include "vm-devices.h"
#include "vm.h"

struct vcpu {
        struct vm *vm;
        unsigned id;
        int fd;
        struct kvm_run *run;
        pthread_t thread;
        bool thread_started;
};

struct vm {
        struct vm_config cfg;
        struct kvm kvm;
        struct boot_image image;
        struct guest_mem mem;

        /* Per boot (recreated on reset). */
        int vm_fd;
        struct vcpu *vcpus;
        struct boot_entry entry;

        /* Devices (state reset on every boot). */
        struct io_bus pio, mmio;
        struct pci_bus pci;
        struct pci_device host_bridge;
        struct serial serial;
        struct power power;
        struct vm_devices dev;          /* virtio disks and input, framebuffer */

        atomic_bool stopping;           /* vCPU threads leave their loop */
        atomic_bool pausing;            /* vCPU threads park (vcpu_pause_all) */
        /* Held by vm_run around machine start/stop and by vm_snapshot. */
        pthread_mutex_t machine_lock;
        bool machine_running;           /* vCPUs started, not yet stopped */
        struct snapshot_in *restore;    /* while a restore is pending */
        enum vm_origin origin;          /* of this boot (machine_start) */
        uint8_t vmgenid[16];            /* VMGENID_LEN: the guest's, all zero when it has none */
        atomic_uint unclaimed_logged;

        pthread_mutex_t lock;           /* protects the fields below */
        pthread_cond_t cond;
        enum vm_stop stop;              /* first stop cause of this boot */
        bool stop_requested;            /* vm_request_stop() */
        unsigned paused;                /* vCPU threads parked */
        char stop_how[64];
        struct vm_err stop_err;
};

/* Record a stop cause (the first one wins) and wake vm_run. */
void vm_signal_stop(struct vm *vm, enum vm_stop why, const char *how, const char *errmsg);

/* vcpu.c */
int vcpu_create(struct vm *vm, unsigned id, struct vcpu *v, struct vm_err *err);
int vcpu_start(struct vcpu *v, struct vm_err *err);
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
void vcpu_install_kick_handler(void);
/* Park every vCPU thread outside KVM_RUN, with any pending I/O completed
 * (cond is vm->cond). 0, or -ESHUTDOWN when the VM stops meanwhile (the
 * vCPUs are then released again). */
int vcpu_pause_all(struct vm *vm);
void vcpu_resume_all(struct vm *vm);
