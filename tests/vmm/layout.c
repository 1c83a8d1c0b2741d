/* e820 construction, the RAM split around the PCI hole, guest-physical to
 * host translation and initrd placement. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "boot.h"
#include "check-main.h"
#include "e820.h"
#include "layout.h"
#include "mem.h"

START_TEST(test_e820_small)
{
        struct e820_entry m[E820_MAX_ENTRIES];
        int n = e820_build(256 * MiB, 0, m, E820_MAX_ENTRIES);

        ck_assert_int_eq(n, 4);
        ck_assert_uint_eq(m[0].addr, 0);
        ck_assert_uint_eq(m[0].size, 0x9fc00);
        ck_assert_uint_eq(m[0].type, E820_RAM);
        ck_assert_uint_eq(m[1].addr, 0x9fc00);
        ck_assert_uint_eq(m[1].addr + m[1].size, 0x100000);
        ck_assert_uint_eq(m[1].type, E820_RESERVED);
        ck_assert_uint_eq(m[2].addr, 0x100000);
        ck_assert_uint_eq(m[2].addr + m[2].size, 256 * MiB);
        ck_assert_uint_eq(m[2].type, E820_RAM);
        /* IOAPIC, LAPIC, TSS and identity-map pages reserved up to 4 GiB. */
        ck_assert_uint_eq(m[3].addr, LAYOUT_IOAPIC);
        ck_assert_uint_eq(m[3].addr + m[3].size, LAYOUT_4G);
        ck_assert_uint_eq(m[3].type, E820_RESERVED);
        ck_assert(LAYOUT_TSS >= m[3].addr && LAYOUT_IDENTITY_MAP >= m[3].addr);
        ck_assert_uint_eq(sizeof(struct e820_entry), 20);
}
END_TEST

START_TEST(test_e820_hole)
{
        struct e820_entry m[8];
        uint64_t low, high;
        int n;

        guest_mem_layout(5 * GiB, &low, &high);
        ck_assert_uint_eq(low, 3 * GiB);
        ck_assert_uint_eq(high, 2 * GiB);
        n = e820_build(low, high, m, 8);
        ck_assert_int_eq(n, 5);
        ck_assert_uint_eq(m[2].addr + m[2].size, 3 * GiB);
        /* Nothing is described between 3 GiB and the IOAPIC: the PCI window. */
        ck_assert_uint_eq(m[3].addr, LAYOUT_IOAPIC);
        ck_assert_uint_eq(m[4].addr, 4 * GiB);
        ck_assert_uint_eq(m[4].size, 2 * GiB);
        ck_assert_uint_eq(m[4].type, E820_RAM);

        guest_mem_layout(3 * GiB, &low, &high);
        ck_assert_uint_eq(low, 3 * GiB);
        ck_assert_uint_eq(high, 0);

        /* Bad inputs. */
        ck_assert_int_eq(e820_build(512 * 1024, 0, m, 8), -EINVAL);
        ck_assert_int_eq(e820_build(2 * GiB, 1 * GiB, m, 8), -EINVAL); /* high RAM without a full low part */
        ck_assert_int_eq(e820_build(256 * MiB, 0, m, 3), -EINVAL);
}
END_TEST

START_TEST(test_gpa_translation)
{
        /* Reserve address space only: 3 GiB low + 1 GiB high. */
        struct guest_mem m = { .fd = -1, .size = 4 * GiB };
        void *p = mmap(NULL, 4 * GiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        uint8_t *h;

        ck_assert_ptr_ne(p, MAP_FAILED);
        h = p;
        m.host = h;
        guest_mem_layout(m.size, &m.low_size, &m.high_size);

        ck_assert_ptr_eq(guest_mem_ptr(&m, 0, 4096), h);
        ck_assert_ptr_eq(guest_mem_ptr(&m, 3 * GiB - 4096, 4096), h + 3 * GiB - 4096);
        ck_assert_ptr_null(guest_mem_ptr(&m, 3 * GiB - 4096, 4097));    /* runs into the hole */
        ck_assert_ptr_null(guest_mem_ptr(&m, 3 * GiB, 1));              /* the hole */
        ck_assert_ptr_null(guest_mem_ptr(&m, LAYOUT_LAPIC, 4));
        ck_assert_ptr_eq(guest_mem_ptr(&m, 4 * GiB, 8), h + 3 * GiB);   /* high RAM follows low RAM */
        ck_assert_ptr_eq(guest_mem_ptr(&m, 5 * GiB - 8, 8), h + 4 * GiB - 8);
        ck_assert_ptr_null(guest_mem_ptr(&m, 5 * GiB - 8, 9));
        ck_assert_ptr_null(guest_mem_ptr(&m, UINT64_MAX, 2));           /* wraps */
        ck_assert_ptr_null(guest_mem_ptr(&m, 4096, UINT64_MAX));
        ck_assert_ptr_nonnull(guest_mem_ptr(&m, 0, 0));
        munmap(p, 4 * GiB);
}
END_TEST

START_TEST(test_initrd_placement)
{
        struct bzimage bz = {
                .relocatable = true,
                .initrd_addr_max = 0x7fffffff,
                .init_size = 64 * MiB,
        };
        uint64_t a = 1;

        /* Top of RAM, page aligned, below initrd_addr_max. */
        ck_assert_int_eq(boot_initrd_addr(&bz, 256 * MiB, 10 * MiB + 5, &a), 0);
        ck_assert_uint_eq(a, (256 * MiB - (10 * MiB + 5)) & ~4095ULL);
        ck_assert_int_eq(boot_initrd_addr(&bz, 3 * GiB, MiB, &a), 0);
        ck_assert_uint_eq(a, 2 * GiB - MiB);
        /* Would overlap the decompressed kernel (16 MiB + init_size). */
        a = 1;
        ck_assert_int_eq(boot_initrd_addr(&bz, 100 * MiB, 30 * MiB, &a), -ENOSPC);
        ck_assert_int_eq(boot_initrd_addr(&bz, 100 * MiB, 200 * MiB, &a), -ENOSPC);
        ck_assert_uint_eq(a, 1);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-layout");
        TCase *tc = tcase_create("layout");

        tcase_add_test(tc, test_e820_small);
        tcase_add_test(tc, test_e820_hole);
        tcase_add_test(tc, test_gpa_translation);
        tcase_add_test(tc, test_initrd_placement);
        suite_add_tcase(s, tc);
        return s;
}
