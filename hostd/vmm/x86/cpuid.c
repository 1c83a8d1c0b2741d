#include "config.h"

#include "cpuid.h"

#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CPUID1_EDX_HTT (1u << 28)

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *e, size_t n, unsigned function, unsigned index)
{
        for (size_t i = 0; i < n; i++) {
                if (e[i].function != function)
                        continue;
                if ((e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e[i].index != index)
                        continue;
                return &e[i];
        }
        return NULL;
}

/* Bits needed to number ncpus ids (0 for 1). */
static unsigned id_bits(unsigned n)
{
        unsigned b = 0;

        while ((1u << b) < n)
                b++;
        return b;
}

void cpuid_patch(struct kvm_cpuid_entry2 *e, size_t n, const struct cpuid_opts *o)
{
        unsigned ncpus = o->ncpus ? o->ncpus : 1;

        for (size_t i = 0; i < n; i++) {
                struct kvm_cpuid_entry2 *c = &e[i];

                switch (c->function) {
                case 1:
                        /* EBX[31:24] initial APIC id, [23:16] logical processors */
                        c->ebx = (c->ebx & 0x0000ffffu) | (o->apic_id & 0xffu) << 24 |
                                 (ncpus > 255 ? 255u : ncpus) << 16;
                        if (ncpus > 1)
                                c->edx |= CPUID1_EDX_HTT;
                        else
                                c->edx &= ~CPUID1_EDX_HTT;
                        c->ecx |= CPUID1_ECX_HYPERVISOR;
                        if (o->tsc_deadline)
                                c->ecx |= CPUID1_ECX_TSC_DEADLINE;
                        break;
                case 4:
                        /* EAX[31:26] cores per package - 1: one core per vCPU */
                        if (c->eax & 0x1f)
                                c->eax = (c->eax & 0x03ffffffu) | ((ncpus - 1) & 0x3f) << 26;
                        break;
                case 0xb:
                case 0x1f:
                        /* Extended topology: SMT level of 1 thread, core
                         * level with all vCPUs; EDX is the x2APIC id. */
                        if (c->index == 0) {
                                c->eax = 0;
                                c->ebx = 1;
                                c->ecx = 1u << 8;
                        } else if (c->index == 1) {
                                c->eax = id_bits(ncpus);
                                c->ebx = ncpus;
                                c->ecx = 2u << 8 | 1;
                        } else {
                                c->eax = 0;
                                c->ebx = 0;
                                c->ecx = c->index & 0xff;
                        }
                        c->edx = o->apic_id;
                        break;
                default:
                        break;
                }
        }
}
