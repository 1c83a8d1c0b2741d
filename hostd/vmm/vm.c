#include "config.h"

#include "vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "layout.h"
#include "machine.h"
#include "snapshot.h"
#include "vmgenid.h"

int vm_config_check(const struct vm_config *cfg, struct vm_err *err)
{
        if (!cfg->restore_dir && (!cfg->kernel || !*cfg->kernel))
                return vm_err_set(err, -EINVAL, "no kernel given (--kernel PATH)");
        if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_CPUS)
                return vm_err_set(err, -EINVAL, "invalid vCPU count %u: must be between 1 and %d", cfg->ncpus,
                                  VM_MAX_CPUS);
        if (cfg->mem_mib < VM_MIN_MEM_MIB || cfg->mem_mib > VM_MAX_MEM_MIB)
                return vm_err_set(err, -EINVAL, "invalid memory size %llu MiB: must be between %d and %d MiB",
                                  (unsigned long long)cfg->mem_mib, VM_MIN_MEM_MIB, VM_MAX_MEM_MIB);
        return 0;
}

static void emit(struct vm *vm, const char *event, const char *fmt, ...) _printf_(3, 4);
static void emit(struct vm *vm, const char *event, const char *fmt, ...)
{
        char detail[256];
        va_list ap;

        if (!vm->cfg.event)
                return;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        vm->cfg.event(vm->cfg.event_opaque, event, detail);
}

void vm_signal_stop(struct vm *vm, enum vm_stop why, const char *how, const char *errmsg)
{
        pthread_mutex_lock(&vm->lock);
        if (vm->stop == VM_STOP_NONE) {
                vm->stop = why;
                snprintf(vm->stop_how, sizeof(vm->stop_how), "%s", how ? how : "");
                if (errmsg)
                        snprintf(vm->stop_err.msg, sizeof(vm->stop_err.msg), "%s", errmsg);
        }
        atomic_store(&vm->stopping, true);
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);
}

void vm_request_reset(struct vm *vm)
{
        vm_signal_stop(vm, VM_STOP_RESET, "request", NULL);
}

void vm_request_stop(struct vm *vm)
{
        pthread_mutex_lock(&vm->lock);
        vm->stop_requested = true;
        pthread_mutex_unlock(&vm->lock);
        vm_signal_stop(vm, VM_STOP_REQUEST, "request", NULL);
}

/* ---- device glue ---- */

static void power_event(void *opaque, enum power_event ev, const char *how)
{
        vm_signal_stop(opaque, ev == POWER_OFF ? VM_STOP_POWEROFF : VM_STOP_RESET, how, NULL);
}

static void cf9_reset(void *opaque)
{
        vm_signal_stop(opaque, VM_STOP_RESET, "cf9", NULL);
}

static void acpi_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
        uint32_t v = power_acpi_read(opaque, (unsigned)off, size);

        for (unsigned i = 0; i < size; i++)
                data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void acpi_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
        uint32_t v = 0;

        for (unsigned i = 0; i < size && i < 4; i++)
                v |= (uint32_t)data[i] << (8 * i);
        power_acpi_write(opaque, (unsigned)off, size, v);
}

static const struct io_ops acpi_ops = { .read = acpi_read, .write = acpi_write };

static void i8042_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
        memset(data, 0, size);
        data[0] = power_i8042_read(opaque, (unsigned)off);
}

static void i8042_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
        power_i8042_write(opaque, (unsigned)off, data[0]);
}

static const struct io_ops i8042_ops = { .read = i8042_read, .write = i8042_write };

static void pci_port_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
        pci_bus_port_read(opaque, (unsigned)off, data, size);
}

static void pci_port_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
        pci_bus_port_write(opaque, (unsigned)off, data, size);
}

static const struct io_ops pci_ops = { .read = pci_port_read, .write = pci_port_write };

static bool pio_fallback(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
        return pci_bus_bar_access(opaque, true, addr, data, size, is_write);
}

static bool mmio_fallback(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
        return pci_bus_bar_access(opaque, false, addr, data, size, is_write);
}

static int setup_devices(struct vm *vm, struct vm_err *err)
{
        int r;

        serial_init(&vm->serial, vm->cfg.console_fd, IRQ_COM1);
        power_init(&vm->power, power_event, vm);
        pci_bus_init(&vm->pci);
        vm->pci.reset_request = cf9_reset;
        vm->pci.reset_opaque = vm;
        pci_host_bridge_init(&vm->host_bridge);
        r = pci_bus_add(&vm->pci, &vm->host_bridge, 0);
        if (r >= 0)
                r = io_bus_register(&vm->pio, PORT_COM1, 8, &serial_io_ops, &vm->serial);
        if (r >= 0)
                r = io_bus_register(&vm->pio, PORT_PCI_ADDR, 8, &pci_ops, &vm->pci);
        if (r >= 0)
                r = io_bus_register(&vm->pio, PORT_ACPI_BASE, PORT_ACPI_LEN, &acpi_ops, &vm->power);
        if (r >= 0)
                r = io_bus_register(&vm->pio, PORT_I8042_DATA, 5, &i8042_ops, &vm->power);
        if (r < 0)
                return vm_err_set(err, r, "cannot register devices");
        vm->pio.fallback = pio_fallback;
        vm->pio.fallback_opaque = &vm->pci;
        vm->mmio.fallback = mmio_fallback;
        vm->mmio.fallback_opaque = &vm->pci;
        return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out, struct vm_err *err)
{
        struct vm *vm;
        uint64_t mem = 0;
        int r;

        r = vm_config_check(cfg, err);
        if (r < 0)
                return r;
        vm = calloc(1, sizeof(*vm));
        if (!vm)
                return vm_err_set(err, -ENOMEM, "out of memory");
        vm->cfg = *cfg;
        vm->kvm.fd = -1;
        vm->mem.fd = -1;
        vm->vm_fd = -1;
        pthread_mutex_init(&vm->lock, NULL);
        pthread_mutex_init(&vm->machine_lock, NULL);
        pthread_cond_init(&vm->cond, NULL);

        r = setup_devices(vm, err);
        if (r < 0)
                goto fail;
        if (cfg->restore_dir) {
                /* The snapshot decides the machine; checked before KVM. */
                r = snapshot_open(cfg->restore_dir, &vm->restore, err);
                if (r < 0)
                        goto fail;
                vm->cfg.ncpus = snapshot_in_cpus(vm->restore);
                vm->cfg.mem_mib = snapshot_in_mem(vm->restore) / MiB;
                vm->cfg.no_reboot = true;
                cfg = &vm->cfg;
        }

        /* Inputs first, so bad files are reported even without KVM. */
        mem = cfg->mem_mib * MiB;
        if (!vm->restore) {
                r = boot_image_load(&vm->image, cfg->kernel, cfg->initrd, mem, err);
                if (r < 0)
                        goto fail;
        }
        /* Disks too: a bad one is reported before KVM is touched. */
        if (vm->restore && (r = snapshot_prepare_disks(vm->restore, &cfg->devices, err)) < 0)
                goto fail;
        r = vm_devices_create(&vm->dev, &cfg->devices, &vm->mem, &vm->pci, err);
        if (r < 0)
                goto fail;
        if (!vm->restore) {
                uint64_t low, high;
                guest_mem_layout(mem, &low, &high);
                if (low < boot_min_ram(&vm->image)) {
                        r = vm_err_set(err, -ENOSPC,
                                       "guest memory too small: kernel %s%s needs at least %llu MiB, --memory is %llu MiB",
                                       cfg->kernel, cfg->initrd ? " with its initrd" : "",
                                       (unsigned long long)(boot_min_ram(&vm->image) >> 20),
                                       (unsigned long long)cfg->mem_mib);
                        goto fail;
                }
        }

        r = kvm_open(&vm->kvm, cfg->kvm_path ? cfg->kvm_path : "/dev/kvm", err);
        if (r < 0)
                goto fail;
        if (cfg->ncpus > (unsigned)vm->kvm.max_vcpus) {
                r = vm_err_set(err, -EINVAL, "%u vCPUs requested but this host's KVM allows at most %d",
                               cfg->ncpus, vm->kvm.max_vcpus);
                goto fail;
        }
        if (vm->restore) {
                r = snapshot_check_vm(vm->restore, vm, err);
                if (r >= 0)
                        r = snapshot_map_ram(vm->restore, &vm->mem, err);
        } else {
                r = guest_mem_create(&vm->mem, mem, err);
        }
        if (r < 0)
                goto fail;
        vm->vcpus = calloc(cfg->ncpus, sizeof(*vm->vcpus));
        if (!vm->vcpus) {
                r = vm_err_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        for (unsigned i = 0; i < cfg->ncpus; i++)
                vm->vcpus[i].fd = -1;
        vcpu_install_kick_handler();
        *out = vm;
        return 0;
fail:
        vm_free(vm);
        return r;
}

/* Before the vCPUs are made: this start's origin and generation ID, in
 * guest RAM. A boot gets cfg.vmgenid or a random ID; a fork (a restore
 * but for a suspend's or a migration's) a new one; a resume keeps the
 * guest's unless cfg.vmgenid is given (which makes it a fork). */
static int set_generation(struct vm *vm, struct vm_err *err)
{
        bool has = true, same_vm = false;
        int r = 0;

        if (vm->restore)
                has = snapshot_in_vmgenid(vm->restore, vm->vmgenid, &same_vm);
        if (!has) {
                memset(vm->vmgenid, 0, VMGENID_LEN);
                vm->origin = VM_ORIGIN_FORK;
                return 0;
        }
        vm->origin = !vm->restore ? VM_ORIGIN_BOOT
                     : same_vm && !vm->cfg.vmgenid ? VM_ORIGIN_RESUME : VM_ORIGIN_FORK;
        if (vm->origin == VM_ORIGIN_RESUME)
                return 0;
        if (vm->cfg.vmgenid)
                memcpy(vm->vmgenid, vm->cfg.vmgenid, VMGENID_LEN);
        else
                r = vmgenid_random(vm->vmgenid);
        if (r == 0)
                r = vmgenid_store(&vm->mem, vm->vmgenid);
        if (r < 0)
                return vm_err_set(err, r, "cannot set the VM generation ID: %s", strerror(-r));
        return 0;
}

/* A fork, once every vCPU's state is in place: tell the guest that its
 * generation ID changed and that its network links went down and up. */
static int announce_fork(struct vm *vm, struct vm_err *err)
{
        int r;

        if (vm->origin != VM_ORIGIN_FORK)
                return 0;
        if (vmgenid_present(vm->vmgenid) && (r = vmgenid_notify(vm->vm_fd)) < 0)
                return vm_err_set(err, r, "cannot notify the VM generation ID: %s", strerror(-r));
        vm_devices_link_change(&vm->dev);
        return 0;
}

enum vm_origin vm_generation(const struct vm *vm, uint8_t *id)
{
        memcpy(id, vm->vmgenid, VMGENID_LEN);
        return vm->origin;
}

/* Tear down this boot's KVM VM and vCPUs (RAM and devices stay). */
static void machine_stop(struct vm *vm)
{
        atomic_store(&vm->stopping, true);
        for (unsigned i = 0; i < vm->cfg.ncpus; i++)
                vcpu_kick(&vm->vcpus[i]);
        for (unsigned i = 0; i < vm->cfg.ncpus; i++)
                vcpu_join(&vm->vcpus[i]);
        for (unsigned i = 0; i < vm->cfg.ncpus; i++)
                if (vm->vcpus[i].vm)
                        vcpu_destroy(&vm->vcpus[i]);
        serial_attach(&vm->serial, -1);
        vm_devices_detach(&vm->dev);
        if (vm->vm_fd >= 0)
                close(vm->vm_fd);
        vm->vm_fd = -1;
}

static int machine_start(struct vm *vm, struct vm_err *err)
{
        struct kvm_pit_config pit = { .flags = 0 };
        int r;

        pthread_mutex_lock(&vm->lock);
        vm->stop = VM_STOP_NONE;
        vm->stop_how[0] = '\0';
        vm->stop_err.msg[0] = '\0';
        atomic_store(&vm->stopping, vm->stop_requested);
        pthread_mutex_unlock(&vm->lock);

        r = kvm_create_vm(&vm->kvm, err);
        if (r < 0)
                return r;
        vm->vm_fd = r;
        /* Intel VMX needs these pages in guest-physical space (unused RAM:
         * the reserved range below 4 GiB); AMD ignores them. */
        if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0)
                return vm_err_set(err, -errno, "KVM_SET_TSS_ADDR: %m");
        {
                uint64_t ident = LAYOUT_IDENTITY_MAP;
                if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0 && errno != EINVAL)
                        return vm_err_set(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR: %m");
        }
        if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
                return vm_err_set(err, -errno, "KVM_CREATE_IRQCHIP: %m");
        if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
                return vm_err_set(err, -errno, "KVM_CREATE_PIT2: %m");
        r = guest_mem_register(&vm->mem, vm->vm_fd, err);
        if (r < 0)
                return r;
        if (vm->restore) {
                /* The guest's zero page is long consumed: the devices
                 * describe themselves into a scratch copy. */
                static uint8_t scratch[4096];
                r = vm_devices_attach(&vm->dev, vm->vm_fd, scratch, err);
        } else {
                r = boot_setup(&vm->mem, &vm->image, vm->cfg.cmdline, vm->cfg.ncpus, &vm->entry, err);
                if (r >= 0)
                        r = vm_devices_attach(&vm->dev, vm->vm_fd, guest_mem_ptr(&vm->mem, LAYOUT_ZERO_PAGE, 4096),
                                              err);
        }
        if (r < 0)
                return r;
        serial_attach(&vm->serial, vm->vm_fd);
        power_reset(&vm->power);
        r = set_generation(vm, err);
        if (r < 0)
                return r;
        if (vm->restore) {
                r = snapshot_load_machine(vm->restore, vm, err);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < vm->cfg.ncpus; i++) {
                r = vcpu_create(vm, i, &vm->vcpus[i], err);
                if (r >= 0 && vm->restore)
                        r = snapshot_load_vcpu(vm->restore, &vm->vcpus[i], err);
                if (r < 0)
                        return r;
        }
        r = announce_fork(vm, err);
        if (r < 0)
                return r;
        /* Restored: nothing of the snapshot is needed any more. */
        snapshot_in_free(vm->restore);
        vm->restore = NULL;
        for (unsigned i = 0; i < vm->cfg.ncpus; i++) {
                r = vcpu_start(&vm->vcpus[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vm_run(struct vm *vm, enum vm_stop *why, struct vm_err *err)
{
        enum vm_stop stop;
        char how[64];
        int r;

        if (vm->cfg.console_input && !vm->serial.in_running) {
                r = serial_start_input(&vm->serial, vm->cfg.console_in_fd);
                if (r < 0)
                        return vm_err_set(err, r, "cannot start the console input thread");
        }
        for (;;) {
                if (vm->restore)
                        emit(vm, "restoring", "cpus=%u memory_mib=%llu snapshot=%s", vm->cfg.ncpus,
                             (unsigned long long)vm->cfg.mem_mib, vm->cfg.restore_dir);
                else
                        emit(vm, "booting", "cpus=%u memory_mib=%llu", vm->cfg.ncpus,
                             (unsigned long long)vm->cfg.mem_mib);
                pthread_mutex_lock(&vm->machine_lock);
                r = machine_start(vm, err);
                if (r < 0) {
                        machine_stop(vm);
                        pthread_mutex_unlock(&vm->machine_lock);
                        *why = VM_STOP_ERROR;
                        return r;
                }
                vm->machine_running = true;
                pthread_mutex_unlock(&vm->machine_lock);
                {
                        static const char *const origins[] = { "boot", "fork", "resume" };
                        char id[2 * VMGENID_LEN + 1];
                        vmgenid_format(vm->vmgenid, id);
                        emit(vm, "started", "cpus=%u origin=%s vmgenid=%s", vm->cfg.ncpus, origins[vm->origin],
                             id); /* vCPU threads run */
                }
                pthread_mutex_lock(&vm->lock);
                while (vm->stop == VM_STOP_NONE && !vm->stop_requested)
                        pthread_cond_wait(&vm->cond, &vm->lock);
                stop = vm->stop_requested ? VM_STOP_REQUEST : vm->stop;
                snprintf(how, sizeof(how), "%s", vm->stop_how);
                pthread_mutex_unlock(&vm->lock);
                pthread_mutex_lock(&vm->machine_lock);
                vm->machine_running = false;
                machine_stop(vm);
                pthread_mutex_unlock(&vm->machine_lock);
                serial_flush(&vm->serial);

                switch (stop) {
                case VM_STOP_RESET:
                        emit(vm, "reset", "how=%s", how);
                        if (vm->cfg.no_reboot) {
                                *why = VM_STOP_RESET;
                                return 0;
                        }
                        guest_mem_clear(&vm->mem);
                        continue;
                case VM_STOP_POWEROFF:
                        emit(vm, "powered_off", "how=%s", how);
                        *why = stop;
                        return 0;
                case VM_STOP_ERROR:
                        emit(vm, "stopped", "reason=error");
                        *why = stop;
                        return vm_err_set(err, -EIO, "%s", vm->stop_err.msg);
                default:
                        emit(vm, "stopped", "reason=request");
                        *why = VM_STOP_REQUEST;
                        return 0;
                }
        }
}

void vm_input_key(struct vm *vm, uint16_t evdev_code, bool pressed)
{
        vm_devices_key(&vm->dev, evdev_code, pressed);
}

void vm_input_pointer(struct vm *vm, uint32_t x, uint32_t y, uint32_t buttons)
{
        vm_devices_pointer(&vm->dev, x, y, buttons);
}

void vm_input_wheel(struct vm *vm, int32_t delta)
{
        vm_devices_wheel(&vm->dev, delta);
}

struct virtio_console *vm_agent_console(struct vm *vm)
{
        return vm->dev.con;
}

struct display_source vm_display_source(struct vm *vm)
{
        return vm_devices_display(&vm->dev);
}

int vm_screenshot(struct vm *vm, int fd)
{
        return vm_devices_screenshot(&vm->dev, fd);
}

void *vm_guest_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
        return guest_mem_ptr(&vm->mem, gpa, len);
}

void vm_free(struct vm *vm)
{
        if (!vm)
                return;
        if (vm->vcpus)
                machine_stop(vm);
        else if (vm->vm_fd >= 0)
                close(vm->vm_fd);
        free(vm->vcpus);
        vm_devices_destroy(&vm->dev);
        serial_destroy(&vm->serial);
        pci_bus_destroy(&vm->pci);
        power_destroy(&vm->power);
        guest_mem_destroy(&vm->mem);
        kvm_close(&vm->kvm);
        boot_image_free(&vm->image);
        snapshot_in_free(vm->restore);
        pthread_cond_destroy(&vm->cond);
        pthread_mutex_destroy(&vm->machine_lock);
        pthread_mutex_destroy(&vm->lock);
        free(vm);
}

unsigned vm_cpus(const struct vm *vm)
{
        return vm->cfg.ncpus;
}

uint64_t vm_memory_mib(const struct vm *vm)
{
        return vm->cfg.mem_mib;
}
