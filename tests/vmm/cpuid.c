#include "config.h"

#include <string.h>

#include "check-main.h"
#include "cpuid.h"

static size_t fill(struct kvm_cpuid_entry2 *e)
{
        size_t n = 0;

        memset(e, 0, 8 * sizeof(*e));
        e[n++] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
        e[n++] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff000800, .ecx = 0, .edx = 1u << 28 };
        e[n++] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0, .eax = 0xfc000121,
                                            .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
        for (unsigned i = 0; i < 3; i++)
                e[n++] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = i, .edx = 0x77,
                                                    .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
        e[n++] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .ebx = 0x4b4d564b };
        return n;
}

START_TEST(test_patch_smp)
{
        struct kvm_cpuid_entry2 e[8];
        size_t n = fill(e);
        struct cpuid_opts o = { .apic_id = 3, .ncpus = 4, .tsc_deadline = true };
        struct kvm_cpuid_entry2 *c;

        cpuid_patch(e, n, &o);
        c = cpuid_find(e, n, 1, 0);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->ebx >> 24, 3);             /* initial APIC id */
        ck_assert_uint_eq((c->ebx >> 16) & 0xff, 4);    /* logical processors */
        ck_assert_uint_eq(c->ebx & 0xffff, 0x0800);     /* CLFLUSH size kept */
        ck_assert(c->edx & (1u << 28));                 /* HTT */
        ck_assert(c->ecx & (1u << 31));                 /* hypervisor */
        ck_assert(c->ecx & (1u << 24));                 /* TSC deadline */

        c = cpuid_find(e, n, 0xb, 0);
        ck_assert_uint_eq(c->edx, 3);
        ck_assert_uint_eq(c->ebx, 1);
        ck_assert_uint_eq((c->ecx >> 8) & 0xff, 1);     /* SMT level */
        c = cpuid_find(e, n, 0xb, 1);
        ck_assert_uint_eq(c->edx, 3);
        ck_assert_uint_eq(c->ebx, 4);
        ck_assert_uint_eq(c->eax, 2);                   /* 2 bits of core id */
        ck_assert_uint_eq((c->ecx >> 8) & 0xff, 2);     /* core level */
        c = cpuid_find(e, n, 0xb, 2);
        ck_assert_uint_eq(c->ebx, 0);
        ck_assert_uint_eq((c->ecx >> 8) & 0xff, 0);     /* end of levels */
        c = cpuid_find(e, n, 4, 0);
        ck_assert_uint_eq(c->eax >> 26, 3);
        ck_assert_uint_eq(c->eax & 0x3ffffff, 0x121);
        c = cpuid_find(e, n, 0x40000000, 0);
        ck_assert_uint_eq(c->ebx, 0x4b4d564b);          /* untouched */
        ck_assert_ptr_null(cpuid_find(e, n, 0x80000008, 0));
}
END_TEST

START_TEST(test_patch_up)
{
        struct kvm_cpuid_entry2 e[8];
        size_t n = fill(e);
        struct cpuid_opts o = { .apic_id = 0, .ncpus = 1 };
        struct kvm_cpuid_entry2 *c;

        cpuid_patch(e, n, &o);
        c = cpuid_find(e, n, 1, 0);
        ck_assert_uint_eq(c->ebx >> 24, 0);
        ck_assert_uint_eq((c->ebx >> 16) & 0xff, 1);
        ck_assert(!(c->edx & (1u << 28)));
        ck_assert(!(c->ecx & (1u << 24)));
        ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->eax, 0);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-cpuid");
        TCase *tc = tcase_create("cpuid");

        tcase_add_test(tc, test_patch_smp);
        tcase_add_test(tc, test_patch_up);
        suite_add_tcase(s, tc);
        return s;
}
