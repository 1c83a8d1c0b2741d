/* The KVM engine's entry points: one struct vm is one virtual machine
 * (guest RAM, vCPU threads, devices). vdi-vm and vdi-hostd drive it:
 *
 *     struct vm *vm;
 *     vm_create(&cfg, &vm, &err);       files, /dev/kvm, RAM; nothing runs
 *     vm_run(vm, &why, &err);           boots; returns at poweroff/reset/stop
 *     vm_free(vm);
 *
 * A guest reset reboots the VM from scratch inside vm_run (RAM cleared,
 * kernel reloaded, vCPUs recreated) unless cfg.no_reboot is set. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "protocols/display.h"
#include "vm-devices.h"

#define VM_MAX_CPUS 64
#define VM_MIN_MEM_MIB 32
#define VM_MAX_MEM_MIB (1024 * 1024) /* 1 TiB */

enum vm_stop {
        VM_STOP_NONE = 0,
        VM_STOP_POWEROFF,       /* guest powered off (ACPI S5) */
        VM_STOP_RESET,          /* guest reset and cfg.no_reboot */
        VM_STOP_REQUEST,        /* vm_request_stop() */
        VM_STOP_ERROR,          /* engine or vCPU error; see err */
};

/* The strings are not copied: they must outlive the struct vm. */
struct vm_config {
        const char *kernel;     /* bzImage path (required) */
        const char *initrd;     /* initramfs path, or NULL */
        const char *cmdline;    /* kernel command line, or NULL */
        unsigned ncpus;         /* 1..VM_MAX_CPUS */
        uint64_t mem_mib;       /* VM_MIN_MEM_MIB..VM_MAX_MEM_MIB */
        int console_fd;         /* guest serial output; -1 discards it */
        bool console_input;     /* feed console_in_fd to the guest's serial input */
        int console_in_fd;      /* e.g. stdin; read until EOF */
        bool no_reboot;         /* a guest reset stops the VM */
        const char *kvm_path;   /* NULL: /dev/kvm */
        /* Restore this snapshot directory (vm_snapshot) instead of booting:
         * kernel, initrd, cmdline, ncpus and mem_mib are ignored (they come
         * from the snapshot); the devices must match the snapshot's. A
         * restored guest that resets stops (VM_STOP_RESET): its RAM is the
         * snapshot's and there is no kernel to boot again. */
        const char *restore_dir;
        /* The VM generation ID (hw/vmgenid.h) of this boot or of this
         * fork: VMGENID_LEN bytes, or NULL for a random one. A restore of
         * a suspend or of a live migration keeps the guest's ID unless
         * this is given. */
        const uint8_t *vmgenid;
        /* Lifecycle events ("booting", "restoring", "started" (the vCPUs
         * run), "reset", "powered_off", "stopped"),
         * called from any thread; detail is key=value text. May be NULL. */
        void (*event)(void *opaque, const char *event, const char *detail);
        void *event_opaque;
        /* Disks, framebuffer, input (vm-devices.h). */
        struct vm_dev_config devices;
};

struct vm;

/* Check the numbers in cfg without touching files or KVM. */
int vm_config_check(const struct vm_config *cfg, struct vm_err *err);

/* Validate cfg, read the kernel and initrd, open KVM and allocate RAM.
 * Returns 0 and *out, or a negative errno with the reason in err. */
int vm_create(const struct vm_config *cfg, struct vm **out, struct vm_err *err);

/* Run until the guest powers off (or resets with no_reboot), an error
 * occurs or vm_request_stop() is called. *why says which. Returns 0, or a
 * negative errno when the VM could not be (re)started or failed. */
int vm_run(struct vm *vm, enum vm_stop *why, struct vm_err *err);

/* Ask vm_run to stop the VM; safe from any thread. */
void vm_request_stop(struct vm *vm);

/* Ask vm_run to reset the guest (it reboots unless cfg.no_reboot). */
void vm_request_reset(struct vm *vm);

/* Input for the guest's virtio keyboard and tablet; any thread. Codes are
 * Linux evdev KEY_*; x, y 0..32767; buttons bit 0 left, 1 middle, 2 right;
 * wheel delta > 0 scrolls up. Events wait (bounded) while the guest has
 * no buffers. */
void vm_input_key(struct vm *vm, uint16_t evdev_code, bool pressed);
void vm_input_pointer(struct vm *vm, uint32_t x, uint32_t y, uint32_t buttons);
void vm_input_wheel(struct vm *vm, int32_t delta);

/* The framebuffer and input as protocols/display.h's display_source. */
struct display_source vm_display_source(struct vm *vm);

/* The agent console (virtio-devices.h; ports VM_AGENT_PORT_*), NULL
 * without --agent. */
struct virtio_console *vm_agent_console(struct vm *vm);

/* Write the screen to fd as a binary PPM; -ENODEV when nothing is shown
 * (no --framebuffer, or no virtio-gpu scanout yet). */
int vm_screenshot(struct vm *vm, int fd);

/* Guest memory, e.g. for the display path (valid until vm_free). */
void *vm_guest_ptr(struct vm *vm, uint64_t gpa, uint64_t len);

struct vm_snapshot_info {
        double paused_ms;       /* how long the vCPUs stood still */
        uint64_t ram_bytes, ram_pages; /* RAM size, non-zero pages written */
        uint64_t state_bytes;   /* the state file */
};

/* Pause the vCPUs, write the complete VM state to the new directory dir
 * (hostd/vmm/SNAPSHOT.md; it must not exist: it appears whole, by rename,
 * or not at all), resume. Any thread. 0 and *info (may be NULL), or a
 * negative errno with err (-ENOTSUP: a device without snapshot support). */
int vm_snapshot(struct vm *vm, const char *dir, struct vm_snapshot_info *info, struct vm_err *err);
/* The same, for a suspend: the disks are flushed and kept as they are (the
 * state says so: a restore opens the same files), and the guest does not
 * run again: once dir is in place the VM stops (VM_STOP_REQUEST). On
 * failure the guest runs on and nothing is left behind. */
int vm_suspend(struct vm *vm, const char *dir, struct vm_snapshot_info *info, struct vm_err *err);

/* How the running guest came to be (vm_origin), and its VM generation
 * ID (VMGENID_LEN bytes into id; zero for a restored guest without the
 * VGEN device: a snapshot of an older vdi-vm). Valid once vm_run has
 * emitted "started". */
enum vm_origin {
        VM_ORIGIN_BOOT,         /* booted a kernel */
        VM_ORIGIN_FORK,         /* restored from a snapshot: a new generation (new ID, link change) */
        VM_ORIGIN_RESUME,       /* a suspend's or a migration's guest going on: the same generation */
};
enum vm_origin vm_generation(const struct vm *vm, uint8_t *id);

/* The machine's vCPU count and RAM (from the snapshot when restored). */
unsigned vm_cpus(const struct vm *vm);
uint64_t vm_memory_mib(const struct vm *vm);

void vm_free(struct vm *vm);
