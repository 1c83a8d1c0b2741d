#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"
#include "cpuid.h"
#include "jail.h"
#include "layout.h"
#include "log.h"
#include "machine.h"

#define KICK_SIGNAL (SIGRTMIN)
#define UNCLAIMED_LOG_MAX 32

/* MSR numbers (Intel SDM vol. 4) */
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define X86_CR0_PE 0x1
#define X86_CR0_ET 0x10
#define X86_CR0_NE 0x20
#define X86_CR0_PG 0x80000000u
#define X86_CR4_PAE 0x20
#define EFER_LME 0x100
#define EFER_LMA 0x400

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static void kick_handler(int sig)
{
        (void)sig; /* only there to interrupt KVM_RUN */
}

void vcpu_install_kick_handler(void)
{
        struct sigaction sa = { .sa_handler = kick_handler };

        sigemptyset(&sa.sa_mask);
        sigaction(KICK_SIGNAL, &sa, NULL);
}

static int setup_cpuid(struct vcpu *v, struct vm_err *err)
{
        const struct kvm_cpuid2 *sup = v->vm->kvm.cpuid;
        _cleanup_free_ struct kvm_cpuid2 *c = NULL;
        struct cpuid_opts o = {
                .apic_id = v->id,
                .ncpus = v->vm->cfg.ncpus,
                .tsc_deadline = v->vm->kvm.tsc_deadline,
        };
        size_t sz = sizeof(*c) + (size_t)sup->nent * sizeof(sup->entries[0]);

        c = malloc(sz);
        if (!c)
                return vm_err_set(err, -ENOMEM, "out of memory");
        memcpy(c, sup, sz);
        cpuid_patch(c->entries, c->nent, &o);
        if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_SET_CPUID2: %m", v->id);
        return 0;
}

static int setup_msrs(struct vcpu *v, struct vm_err *err)
{
        static const struct {
                uint32_t index;
                uint64_t value;
        } boot_msrs[] = {
                /* Most important first: KVM stops at the first it rejects. */
                { MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },          /* MTRRs on, default write-back */
                { MSR_IA32_MISC_ENABLE, 1 },                    /* fast strings */
                { MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 }, { MSR_IA32_SYSENTER_EIP, 0 },
                { MSR_STAR, 0 }, { MSR_LSTAR, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_KERNEL_GS_BASE, 0 },
                { MSR_CSTAR, 0 },
        };
        struct {
                struct kvm_msrs hdr;
                struct kvm_msr_entry e[ARRAY_SIZE(boot_msrs)];
        } m;

        memset(&m, 0, sizeof(m));
        m.hdr.nmsrs = ARRAY_SIZE(boot_msrs);
        for (size_t i = 0; i < ARRAY_SIZE(boot_msrs); i++) {
                m.e[i].index = boot_msrs[i].index;
                m.e[i].data = boot_msrs[i].value;
        }
        /* KVM sets them in order and stops at one it does not know (e.g.
         * CSTAR on some hosts); Linux programs the syscall MSRs itself. */
        if (ioctl(v->fd, KVM_SET_MSRS, &m) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_SET_MSRS: %m", v->id);
        return 0;
}

static int setup_fpu_lapic(struct vcpu *v, struct vm_err *err)
{
        struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
        struct kvm_lapic_state lapic;
        uint32_t lvt;

        if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_SET_FPU: %m", v->id);
        if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_GET_LAPIC: %m", v->id);
        /* LINT0 = ExtINT (the PIC), LINT1 = NMI, as a PC BIOS leaves them. */
        memcpy(&lvt, lapic.regs + APIC_LVT0, 4);
        lvt = (lvt & ~0x700u) | APIC_MODE_EXTINT << 8;
        memcpy(lapic.regs + APIC_LVT0, &lvt, 4);
        memcpy(&lvt, lapic.regs + APIC_LVT1, 4);
        lvt = (lvt & ~0x700u) | APIC_MODE_NMI << 8;
        memcpy(lapic.regs + APIC_LVT1, &lvt, 4);
        if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_SET_LAPIC: %m", v->id);
        return 0;
}

/* boot.rst "64-bit BOOT PROTOCOL": long mode, paging on with an identity
 * map, flat __BOOT_CS/__BOOT_DS, interrupts off, %rsi = boot_params. */
static int setup_boot_regs(struct vcpu *v, struct vm_err *err)
{
        const struct boot_entry *e = &v->vm->entry;
        struct kvm_sregs s;
        struct kvm_regs r = { .rip = e->rip, .rsi = e->rsi, .rflags = 2 };
        struct kvm_segment code = {
                .base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb,
                .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
        };
        struct kvm_segment data = {
                .base = 0, .limit = 0xffffffff, .selector = 0x18, .type = 0x3,
                .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
        };

        if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_GET_SREGS: %m", v->id);
        s.cs = code;
        s.ds = s.es = s.fs = s.gs = s.ss = data;
        s.tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .selector = 0x20, .type = 0xb, .present = 1 };
        s.ldt = (struct kvm_segment){ .base = 0, .limit = 0xffff, .selector = 0, .type = 0x2, .present = 1 };
        s.gdt.base = e->gdt;
        s.gdt.limit = e->gdt_limit;
        s.idt.base = 0;
        s.idt.limit = 0;
        s.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG; /* caches on: no CD/NW */
        s.cr3 = e->cr3;
        s.cr4 = X86_CR4_PAE;
        s.efer = EFER_LME | EFER_LMA;
        if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_SET_SREGS: %m", v->id);
        if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_SET_REGS: %m", v->id);
        return 0;
}

int vcpu_create(struct vm *vm, unsigned id, struct vcpu *v, struct vm_err *err)
{
        void *run;
        int r;

        memset(v, 0, sizeof(*v));
        v->vm = vm;
        v->id = id;
        v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
        if (v->fd < 0) {
                v->fd = -1;
                return vm_err_set(err, -errno, "KVM_CREATE_VCPU %u: %m", id);
        }
        run = mmap(NULL, (size_t)vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (run == MAP_FAILED)
                return vm_err_set(err, -errno, "vCPU %u: mmap of the run area: %m", id);
        v->run = run;

        r = setup_cpuid(v, err);
        if (r >= 0)
                r = setup_msrs(v, err);
        if (r >= 0)
                r = setup_fpu_lapic(v, err);
        /* Only the boot CPU gets registers: the others wait in
         * KVM_MP_STATE_UNINITIALIZED for the guest's INIT/SIPI. */
        if (r >= 0 && id == 0)
                r = setup_boot_regs(v, err);
        return r;
}

static void log_unclaimed(struct vm *vm, const char *what, uint64_t addr, unsigned size, bool is_write)
{
        if (atomic_fetch_add(&vm->unclaimed_logged, 1) < UNCLAIMED_LOG_MAX)
                log_debug("vm_unclaimed_access", "space=%s addr=0x%llx size=%u write=%d", what,
                          (unsigned long long)addr, size, is_write);
}

static void handle_io(struct vcpu *v)
{
        struct kvm_run *run = v->run;
        uint8_t *data = (uint8_t *)run + run->io.data_offset;
        bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

        for (uint32_t i = 0; i < run->io.count; i++) {
                uint8_t *d = data + (size_t)i * run->io.size;
                if (!io_bus_access(&v->vm->pio, run->io.port, d, run->io.size, is_write) &&
                    run->io.port != 0x80 /* POST diagnostics */)
                        log_unclaimed(v->vm, "pio", run->io.port, run->io.size, is_write);
        }
}

static void handle_mmio(struct vcpu *v)
{
        struct kvm_run *run = v->run;
        unsigned len = run->mmio.len > 8 ? 8 : run->mmio.len;

        if (!io_bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write))
                log_unclaimed(v->vm, "mmio", run->mmio.phys_addr, len, run->mmio.is_write);
}

/* Wait in user space while vm->pausing. Reached only after KVM_RUN
 * returned EINTR: with immediate_exit set, KVM first completes the
 * in-flight PIO/MMIO, so the saved registers are consistent. */
static void vcpu_park(struct vcpu *v)
{
        struct vm *vm = v->vm;

        pthread_mutex_lock(&vm->lock);
        vm->paused++;
        pthread_cond_broadcast(&vm->cond);
        while (atomic_load(&vm->pausing) && !atomic_load(&vm->stopping))
                pthread_cond_wait(&vm->cond, &vm->lock);
        vm->paused--;
        /* stopping is set before a stop's kick: checked again by the loop */
        if (!atomic_load(&vm->stopping))
                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&vm->lock);
}

int vcpu_pause_all(struct vm *vm)
{
        bool ok;

        atomic_store(&vm->pausing, true);
        for (unsigned i = 0; i < vm->cfg.ncpus; i++)
                vcpu_kick(&vm->vcpus[i]);
        pthread_mutex_lock(&vm->lock);
        while (vm->paused < vm->cfg.ncpus && !atomic_load(&vm->stopping))
                pthread_cond_wait(&vm->cond, &vm->lock);
        ok = vm->paused == vm->cfg.ncpus && !atomic_load(&vm->stopping);
        pthread_mutex_unlock(&vm->lock);
        if (!ok) {
                vcpu_resume_all(vm);
                return -ESHUTDOWN;
        }
        return 0;
}

void vcpu_resume_all(struct vm *vm)
{
        pthread_mutex_lock(&vm->lock);
        atomic_store(&vm->pausing, false);
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);
}

static void *vcpu_thread(void *arg)
{
        struct vcpu *v = arg;
        struct vm *vm = v->vm;
        struct kvm_run *run = v->run;
        sigset_t set;
        char msg[160];

        sigemptyset(&set);
        sigaddset(&set, KICK_SIGNAL);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        jail_thread(JAIL_VCPU);

        while (!atomic_load(&vm->stopping)) {
                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (errno == EINTR || errno == EAGAIN) {
                                if (atomic_load(&vm->pausing))
                                        vcpu_park(v);
                                continue;
                        }
                        snprintf(msg, sizeof(msg), "vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
                        vm_signal_stop(vm, VM_STOP_ERROR, "kvm-run", msg);
                        break;
                }
                switch (run->exit_reason) {
                case KVM_EXIT_IO:
                        handle_io(v);
                        break;
                case KVM_EXIT_MMIO:
                        handle_mmio(v);
                        break;
                case KVM_EXIT_HLT:
                case KVM_EXIT_INTR:
                        break;
                case KVM_EXIT_SHUTDOWN:
                        /* Triple fault: what a PC does is reset. */
                        vm_signal_stop(vm, VM_STOP_RESET, "triple-fault", NULL);
                        break;
                case KVM_EXIT_SYSTEM_EVENT:
                        if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
                                vm_signal_stop(vm, VM_STOP_POWEROFF, "system-event", NULL);
                        else
                                vm_signal_stop(vm, VM_STOP_RESET, "system-event", NULL);
                        break;
                case KVM_EXIT_FAIL_ENTRY:
                        snprintf(msg, sizeof(msg), "vCPU %u: entry failed, hardware reason 0x%llx", v->id,
                                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
                        vm_signal_stop(vm, VM_STOP_ERROR, "fail-entry", msg);
                        break;
                case KVM_EXIT_INTERNAL_ERROR:
                        snprintf(msg, sizeof(msg), "vCPU %u: KVM internal error, suberror %u", v->id,
                                 run->internal.suberror);
                        vm_signal_stop(vm, VM_STOP_ERROR, "internal-error", msg);
                        break;
                default:
                        snprintf(msg, sizeof(msg), "vCPU %u: unexpected exit reason %u", v->id, run->exit_reason);
                        vm_signal_stop(vm, VM_STOP_ERROR, "exit", msg);
                        break;
                }
        }
        return NULL;
}

int vcpu_start(struct vcpu *v, struct vm_err *err)
{
        int r = pthread_create(&v->thread, NULL, vcpu_thread, v);

        if (r)
                return vm_err_set(err, -r, "vCPU %u: cannot start its thread: %s", v->id, strerror(r));
        v->thread_started = true;
        return 0;
}

void vcpu_kick(struct vcpu *v)
{
        if (v->run)
                __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        if (v->thread_started)
                pthread_kill(v->thread, KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
        if (v->thread_started)
                pthread_join(v->thread, NULL);
        v->thread_started = false;
}

void vcpu_destroy(struct vcpu *v)
{
        if (v->run)
                munmap(v->run, (size_t)v->vm->kvm.vcpu_mmap_size);
        if (v->fd >= 0)
                close(v->fd);
        v->run = NULL;
        v->fd = -1;
}
