#include "config.h"

#include "cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "alloc.h"
#include "cpuid.h"

#define CPUID_MAX_ENTRIES 256
#define MSR_MAX 1024

static void put_raw(struct state_writer *w, const void *p, size_t n)
{
        state_put_u32(w, (uint32_t)n);
        state_put_bytes(w, p, n);
}

static void get_raw(struct state_reader *r, void *p, size_t n, const char *what)
{
        uint32_t sz = state_get_u32(r);

        if (state_reader_ok(r) && sz != n) {
                state_reader_fail(r, "%s is %u bytes, this host's KVM uses %zu", what, sz, n);
                memset(p, 0, n);
                return;
        }
        state_get_bytes(r, p, n);
}

/* KVM_GET_MSR_INDEX_LIST, then the values of those KVM reads back
 * (KVM_GET_MSRS stops at the first it cannot read: skip that one). */
static int get_msrs(const struct kvm *k, int fd, struct kvm_msrs **out, struct vm_err *err)
{
        struct kvm_msr_list probe = { .nmsrs = 0 };
        _cleanup_free_ struct kvm_msr_list *list = NULL;
        _cleanup_free_ struct kvm_msrs *m = NULL;
        unsigned n = 0;

        if (ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
                return vm_err_set(err, -errno, "KVM_GET_MSR_INDEX_LIST: %m");
        if (probe.nmsrs == 0 || probe.nmsrs > MSR_MAX)
                return vm_err_set(err, -EINVAL, "KVM_GET_MSR_INDEX_LIST: %u MSRs", probe.nmsrs);
        list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
        m = calloc(1, sizeof(*m) + probe.nmsrs * sizeof(struct kvm_msr_entry));
        if (!list || !m)
                return vm_err_set(err, -ENOMEM, "out of memory");
        list->nmsrs = probe.nmsrs;
        if (ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, list) < 0)
                return vm_err_set(err, -errno, "KVM_GET_MSR_INDEX_LIST: %m");
        for (unsigned i = 0; i < list->nmsrs; i++)
                m->entries[i].index = list->indices[i];
        n = list->nmsrs;
        for (;;) {
                int got;

                m->nmsrs = n;
                got = ioctl(fd, KVM_GET_MSRS, m);
                if (got < 0)
                        return vm_err_set(err, -errno, "KVM_GET_MSRS: %m");
                if ((unsigned)got >= n)
                        break;
                /* entry got is not readable here: drop it, read again */
                memmove(&m->entries[got], &m->entries[got + 1], (n - (unsigned)got - 1) * sizeof(m->entries[0]));
                n--;
        }
        m->nmsrs = n;
        *out = TAKE_PTR(m);
        return 0;
}

int cpu_state_save(const struct kvm *k, int fd, unsigned id, struct state_writer *w, struct vm_err *err)
{
        _cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
        _cleanup_free_ struct kvm_msrs *msrs = NULL;
        _cleanup_free_ struct kvm_xsave *xsave = NULL;
        struct kvm_mp_state mp;
        struct kvm_regs regs;
        struct kvm_sregs sregs;
        struct kvm_fpu fpu;
        struct kvm_xcrs xcrs;
        struct kvm_debugregs dregs;
        struct kvm_lapic_state lapic;
        struct kvm_vcpu_events ev;
        bool has_xsave = ioctl(k->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
        bool has_xcrs = ioctl(k->fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
        int r;

        cpuid = calloc(1, sizeof(*cpuid) + CPUID_MAX_ENTRIES * sizeof(cpuid->entries[0]));
        xsave = calloc(1, sizeof(*xsave));
        if (!cpuid || !xsave)
                return vm_err_set(err, -ENOMEM, "out of memory");
        cpuid->nent = CPUID_MAX_ENTRIES;
        if (ioctl(fd, KVM_GET_CPUID2, cpuid) < 0)
                return vm_err_set(err, -errno, "vCPU %u: KVM_GET_CPUID2: %m", id);
#define GET(req, p, name)                                                               \
        do {                                                                            \
                if (ioctl(fd, req, p) < 0)                                              \
                        return vm_err_set(err, -errno, "vCPU %u: " name ": %m", id);    \
        } while (0)
        GET(KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
        GET(KVM_GET_REGS, &regs, "KVM_GET_REGS");
        GET(KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
        GET(KVM_GET_FPU, &fpu, "KVM_GET_FPU");
        if (has_xsave)
                GET(KVM_GET_XSAVE, xsave, "KVM_GET_XSAVE");
        if (has_xcrs)
                GET(KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS");
        GET(KVM_GET_DEBUGREGS, &dregs, "KVM_GET_DEBUGREGS");
        GET(KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC");
        GET(KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS");
#undef GET
        r = get_msrs(k, fd, &msrs, err);
        if (r < 0)
                return r;

        state_put_u32(w, cpuid->nent);
        state_put_bytes(w, cpuid->entries, cpuid->nent * sizeof(cpuid->entries[0]));
        put_raw(w, &mp, sizeof(mp));
        put_raw(w, &regs, sizeof(regs));
        put_raw(w, &sregs, sizeof(sregs));
        put_raw(w, &fpu, sizeof(fpu));
        state_put_u8(w, has_xsave);
        if (has_xsave)
                put_raw(w, xsave, sizeof(*xsave));
        state_put_u8(w, has_xcrs);
        if (has_xcrs)
                put_raw(w, &xcrs, sizeof(xcrs));
        put_raw(w, &dregs, sizeof(dregs));
        put_raw(w, &lapic, sizeof(lapic));
        state_put_u32(w, msrs->nmsrs);
        for (unsigned i = 0; i < msrs->nmsrs; i++) {
                state_put_u32(w, msrs->entries[i].index);
                state_put_u64(w, msrs->entries[i].data);
        }
        put_raw(w, &ev, sizeof(ev));
        return 0;
}

/* The parsed payload of a vcpu.N section. */
struct cpu_blob {
        struct kvm_cpuid2 *cpuid;
        struct kvm_mp_state mp;
        struct kvm_regs regs;
        struct kvm_sregs sregs;
        struct kvm_fpu fpu;
        bool has_xsave, has_xcrs;
        struct kvm_xsave *xsave;
        struct kvm_xcrs xcrs;
        struct kvm_debugregs dregs;
        struct kvm_lapic_state lapic;
        struct kvm_msrs *msrs;
        struct kvm_vcpu_events ev;
};

static void blob_free(struct cpu_blob *b)
{
        free(b->cpuid);
        free(b->xsave);
        free(b->msrs);
}

static int blob_parse(const struct state_section *s, struct cpu_blob *b, struct vm_err *err)
{
        struct state_reader r;
        uint32_t n;

        memset(b, 0, sizeof(*b));
        state_reader_init(&r, s);
        n = state_get_u32(&r);
        if (state_reader_ok(&r) && (n == 0 || n > CPUID_MAX_ENTRIES))
                state_reader_fail(&r, "%u CPUID entries (1..%d allowed)", n, CPUID_MAX_ENTRIES);
        if (!state_reader_ok(&r))
                return state_reader_done(&r, err);
        b->cpuid = calloc(1, sizeof(*b->cpuid) + n * sizeof(b->cpuid->entries[0]));
        b->xsave = calloc(1, sizeof(*b->xsave));
        if (!b->cpuid || !b->xsave)
                return vm_err_set(err, -ENOMEM, "out of memory");
        b->cpuid->nent = n;
        state_get_bytes(&r, b->cpuid->entries, n * sizeof(b->cpuid->entries[0]));
        get_raw(&r, &b->mp, sizeof(b->mp), "MP state");
        get_raw(&r, &b->regs, sizeof(b->regs), "regs");
        get_raw(&r, &b->sregs, sizeof(b->sregs), "sregs");
        get_raw(&r, &b->fpu, sizeof(b->fpu), "FPU");
        b->has_xsave = state_get_u8(&r);
        if (b->has_xsave)
                get_raw(&r, b->xsave, sizeof(*b->xsave), "XSAVE");
        b->has_xcrs = state_get_u8(&r);
        if (b->has_xcrs)
                get_raw(&r, &b->xcrs, sizeof(b->xcrs), "XCRs");
        get_raw(&r, &b->dregs, sizeof(b->dregs), "debug registers");
        get_raw(&r, &b->lapic, sizeof(b->lapic), "LAPIC");
        n = state_get_u32(&r);
        if (state_reader_ok(&r) && n > MSR_MAX)
                state_reader_fail(&r, "%u MSRs (at most %d)", n, MSR_MAX);
        if (state_reader_ok(&r)) {
                b->msrs = calloc(1, sizeof(*b->msrs) + n * sizeof(b->msrs->entries[0]));
                if (!b->msrs)
                        return vm_err_set(err, -ENOMEM, "out of memory");
                b->msrs->nmsrs = n;
                for (uint32_t i = 0; i < n; i++) {
                        b->msrs->entries[i].index = state_get_u32(&r);
                        b->msrs->entries[i].data = state_get_u64(&r);
                }
        }
        get_raw(&r, &b->ev, sizeof(b->ev), "vCPU events");
        if (state_reader_ok(&r) && b->mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
                state_reader_fail(&r, "unknown MP state %u", b->mp.mp_state);
        return state_reader_done(&r, err);
}

int cpu_state_validate(const struct state_section *s, struct vm_err *err)
{
        struct cpu_blob b;
        int r = blob_parse(s, &b, err);

        blob_free(&b);
        return r;
}

/* The feature registers whose bits a guest may rely on. */
static const struct {
        uint32_t function, index;
        const char *name;
} feature_leaves[] = {
        { 0x1, 0, "1" }, { 0x7, 0, "7.0" }, { 0xd, 1, "0xd.1" }, { 0x80000001, 0, "0x80000001" },
        { 0x80000007, 0, "0x80000007" }, { 0x80000008, 0, "0x80000008" },
};

static const struct kvm_cpuid_entry2 *find_leaf(const struct kvm_cpuid_entry2 *e, unsigned n, uint32_t fn,
                                                uint32_t idx)
{
        for (unsigned i = 0; i < n; i++)
                if (e[i].function == fn && (!(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e[i].index == idx))
                        return &e[i];
        return NULL;
}

int cpu_state_check_cpuid(const struct kvm *k, unsigned id, unsigned ncpus, const struct state_section *s,
                          struct vm_err *err)
{
        const struct kvm_cpuid2 *sup = k->cpuid;
        size_t sz = sizeof(*sup) + (size_t)sup->nent * sizeof(sup->entries[0]);
        struct cpuid_opts o = { .apic_id = id, .ncpus = ncpus, .tsc_deadline = k->tsc_deadline };
        _cleanup_free_ struct kvm_cpuid2 *host = malloc(sz);
        struct cpu_blob b;
        int r;

        if (!host)
                return vm_err_set(err, -ENOMEM, "out of memory");
        /* What this host would give the same vCPU of the same machine. */
        memcpy(host, sup, sz);
        cpuid_patch(host->entries, host->nent, &o);
        r = blob_parse(s, &b, err);
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(feature_leaves); i++) {
                const struct kvm_cpuid_entry2 *want = find_leaf(b.cpuid->entries, b.cpuid->nent,
                                                                feature_leaves[i].function, feature_leaves[i].index);
                const struct kvm_cpuid_entry2 *have = find_leaf(host->entries, host->nent,
                                                                feature_leaves[i].function, feature_leaves[i].index);
                static const char regname[3][4] = { "ebx", "ecx", "edx" };
                uint32_t w[3], h[3];

                if (!want)
                        continue;
                w[0] = want->ebx, w[1] = want->ecx, w[2] = want->edx;
                h[0] = have ? have->ebx : 0, h[1] = have ? have->ecx : 0, h[2] = have ? have->edx : 0;
                if (feature_leaves[i].function == 0x1) {
                        w[0] = h[0] = 0;         /* ebx: APIC id and counts */
                        w[1] &= ~(1u << 27);     /* OSXSAVE mirrors the guest's CR4 */
                }
                if (feature_leaves[i].function == 0x80000008 || feature_leaves[i].function == 0x80000007)
                        w[1] = h[1] = 0;         /* ecx: core counts, not features */
                for (int reg = 0; reg < 3 && r == 0; reg++) {
                        uint32_t missing = w[reg] & ~h[reg];
                        if (missing)
                                r = vm_err_set(err, -ENOTSUP,
                                               "the snapshot's CPU has features this host's KVM lacks: CPUID leaf %s %s bits 0x%08x (restore on a host with the same CPU model)",
                                               feature_leaves[i].name, regname[reg], missing);
                }
        }
        blob_free(&b);
        return r;
}

int cpu_state_load(int fd, unsigned id, const struct state_section *s, struct vm_err *err)
{
        struct cpu_blob b;
        int r = blob_parse(s, &b, err), got;

        if (r < 0)
                goto out;
#define SET(req, p, name)                                                                       \
        do {                                                                                    \
                if (ioctl(fd, req, p) < 0) {                                                    \
                        r = vm_err_set(err, -errno, "restore vCPU %u: " name ": %m", id);       \
                        goto out;                                                               \
                }                                                                               \
        } while (0)
        SET(KVM_SET_CPUID2, b.cpuid, "KVM_SET_CPUID2");
        SET(KVM_SET_MP_STATE, &b.mp, "KVM_SET_MP_STATE");
        SET(KVM_SET_REGS, &b.regs, "KVM_SET_REGS");
        SET(KVM_SET_SREGS, &b.sregs, "KVM_SET_SREGS");
        SET(KVM_SET_FPU, &b.fpu, "KVM_SET_FPU");
        if (b.has_xsave)
                SET(KVM_SET_XSAVE, b.xsave, "KVM_SET_XSAVE");
        if (b.has_xcrs)
                SET(KVM_SET_XCRS, &b.xcrs, "KVM_SET_XCRS");
        SET(KVM_SET_DEBUGREGS, &b.dregs, "KVM_SET_DEBUGREGS");
        SET(KVM_SET_LAPIC, &b.lapic, "KVM_SET_LAPIC");
        got = ioctl(fd, KVM_SET_MSRS, b.msrs);
        if (got < 0 || (unsigned)got != b.msrs->nmsrs) {
                r = vm_err_set(err, got < 0 ? -errno : -EINVAL, "restore vCPU %u: KVM_SET_MSRS: MSR 0x%x refused",
                               id, got < 0 ? 0 : b.msrs->entries[got].index);
                goto out;
        }
        SET(KVM_SET_VCPU_EVENTS, &b.ev, "KVM_SET_VCPU_EVENTS");
#undef SET
        /* Tell a kvmclock guest it was paused (no soft-lockup reports);
         * EINVAL: the guest has no kvmclock. */
        if (ioctl(fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
                r = vm_err_set(err, -errno, "restore vCPU %u: KVM_KVMCLOCK_CTRL: %m", id);
out:
        blob_free(&b);
        return r;
}

static uint64_t realtime_ns(void)
{
        struct timespec t;

        clock_gettime(CLOCK_REALTIME, &t);
        return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int vm_kvm_state_save(int vm_fd, struct state_writer *w, struct vm_err *err)
{
        struct kvm_irqchip chip[3];
        struct kvm_pit_state2 pit;
        struct kvm_clock_data clock;

        for (unsigned i = 0; i < 3; i++) {
                memset(&chip[i], 0, sizeof(chip[i]));
                chip[i].chip_id = i; /* KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC */
                if (ioctl(vm_fd, KVM_GET_IRQCHIP, &chip[i]) < 0)
                        return vm_err_set(err, -errno, "KVM_GET_IRQCHIP %u: %m", i);
        }
        if (ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0)
                return vm_err_set(err, -errno, "KVM_GET_PIT2: %m");
        memset(&clock, 0, sizeof(clock));
        if (ioctl(vm_fd, KVM_GET_CLOCK, &clock) < 0)
                return vm_err_set(err, -errno, "KVM_GET_CLOCK: %m");
        state_begin(w, "irqchip");
        for (unsigned i = 0; i < 3; i++)
                put_raw(w, &chip[i], sizeof(chip[i]));
        state_end(w);
        state_begin(w, "pit");
        put_raw(w, &pit, sizeof(pit));
        state_end(w);
        state_begin(w, "clock");
        state_put_u64(w, clock.clock);
        state_put_u64(w, realtime_ns());
        state_end(w);
        return 0;
}

int vm_kvm_state_load(int vm_fd, const struct state_file *f, struct vm_err *err)
{
        struct kvm_irqchip chip[3];
        struct kvm_pit_state2 pit;
        struct kvm_clock_data clock;
        struct state_reader r;
        int ret;

        if ((ret = state_section_reader(f, "irqchip", &r, err)) < 0)
                return ret;
        for (unsigned i = 0; i < 3; i++) {
                get_raw(&r, &chip[i], sizeof(chip[i]), "irqchip");
                if (state_reader_ok(&r) && chip[i].chip_id != i)
                        state_reader_fail(&r, "chip %u has id %u", i, chip[i].chip_id);
        }
        if ((ret = state_reader_done(&r, err)) < 0)
                return ret;
        if ((ret = state_section_reader(f, "pit", &r, err)) < 0)
                return ret;
        get_raw(&r, &pit, sizeof(pit), "PIT");
        if ((ret = state_reader_done(&r, err)) < 0)
                return ret;
        if ((ret = state_section_reader(f, "clock", &r, err)) < 0)
                return ret;
        memset(&clock, 0, sizeof(clock));
        clock.clock = state_get_u64(&r);
        if (f->version >= 3) {
                /* The wall clock went on while the state waited (a
                 * suspended desktop, a clone of an older parent, a
                 * migration's downtime): so does the guest's clock, or its
                 * time of day would lag by that much. Never backwards. */
                uint64_t saved = state_get_u64(&r), now = realtime_ns();
                if (state_reader_ok(&r) && now > saved)
                        clock.clock += now - saved;
        }
        if ((ret = state_reader_done(&r, err)) < 0)
                return ret;
        for (unsigned i = 0; i < 3; i++)
                if (ioctl(vm_fd, KVM_SET_IRQCHIP, &chip[i]) < 0)
                        return vm_err_set(err, -errno, "restore: KVM_SET_IRQCHIP %u: %m", i);
        if (ioctl(vm_fd, KVM_SET_PIT2, &pit) < 0)
                return vm_err_set(err, -errno, "restore: KVM_SET_PIT2: %m");
        if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
                return vm_err_set(err, -errno, "restore: KVM_SET_CLOCK: %m");
        return 0;
}
