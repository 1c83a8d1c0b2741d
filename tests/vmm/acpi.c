#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "acpi.h"
#include "check-main.h"
#include "layout.h"

#define GPA 0xe0000

static uint8_t buf[LAYOUT_ACPI_SIZE];

static uint32_t r32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t r64(const uint8_t *p) { return r32(p) | (uint64_t)r32(p + 4) << 32; }

/* Table at guest address gpa, checked: inside the buffer, checksum 0. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
        const uint8_t *t;
        uint32_t len;

        ck_assert_uint_ge(gpa, GPA);
        ck_assert_uint_lt(gpa - GPA + 36, sizeof(buf));
        t = buf + (gpa - GPA);
        ck_assert_mem_eq(t, sig, 4);
        len = r32(t + 4);
        ck_assert_uint_le(gpa - GPA + len, sizeof(buf));
        ck_assert_msg(acpi_checksum(t, len) == 0, "%s checksum", sig);
        return t;
}

/* The bytes after the AML name (4 characters) needle, or fail. */
static const uint8_t *after(const uint8_t *aml, size_t len, const char *needle, size_t nlen)
{
        const uint8_t *p = memmem(aml, len, needle, nlen);

        ck_assert_msg(p != NULL, "no %.*s in the DSDT", (int)nlen, needle);
        return p + nlen;
}

/* Device (VGEN) with the IDs Linux's vmgenid driver matches and ADDR
 * returning Package (2) { LAYOUT_VMGENID, 0 }; Device (GED0), ACPI0013,
 * whose _CRS is one edge, active-high interrupt IRQ_GED and whose _EVT
 * notifies \_SB.VGEN with 0x80. */
static void check_vmgenid(const uint8_t *dsdt, size_t len)
{
        static const uint8_t addr[] = { 0x00, 0xa4, 0x12, 0x0c, 0x02, 0x0c, LAYOUT_VMGENID & 0xff,
                                        (LAYOUT_VMGENID >> 8) & 0xff, (LAYOUT_VMGENID >> 16) & 0xff,
                                        LAYOUT_VMGENID >> 24, 0x0c, 0, 0, 0, 0 };
        static const uint8_t irq[] = { 0x89, 0x06, 0x00, 0x03, 0x01, IRQ_GED, 0, 0, 0, 0x79, 0x00 };
        static const uint8_t notify[] = { 0x01, 0x86, '\\', 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80 };

        ck_assert_mem_eq(after(dsdt, len, "VGEN\x08_HID\x0d", 10), "VMGENCTR", 9);
        ck_assert_mem_eq(after(dsdt, len, "_CID\x0d", 5), "VM_GEN_COUNTER", 15);
        ck_assert_mem_eq(after(dsdt, len, "ADDR", 4), addr, sizeof(addr));
        ck_assert_mem_eq(after(dsdt, len, "GED0\x08_HID\x0d", 10), "ACPI0013", 9);
        ck_assert_mem_eq(after(dsdt, len, "_CRS\x11\x0e\x0a\x0b", 8), irq, sizeof(irq));
        ck_assert_mem_eq(after(dsdt, len, "_EVT", 4), notify, sizeof(notify));
}

static void check_tables(unsigned ncpus)
{
        size_t used = 0;
        const uint8_t *xsdt, *fadt, *madt = NULL, *dsdt;
        unsigned lapics = 0;

        memset(buf, 0xcc, sizeof(buf));
        ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA, ncpus, &used), 0);
        ck_assert_uint_gt(used, 0);

        /* RSDP: both checksums, revision 2, XSDT pointer. */
        ck_assert_mem_eq(buf, "RSD PTR ", 8);
        ck_assert_uint_eq(acpi_checksum(buf, 20), 0);
        ck_assert_uint_eq(acpi_checksum(buf, 36), 0);
        ck_assert_uint_eq(buf[15], 2);
        xsdt = table(r64(buf + 24), "XSDT");
        ck_assert_uint_eq(r32(xsdt + 4), 36 + 2 * 8);

        fadt = table(r64(xsdt + 36), "FACP");
        ck_assert_uint_eq(r32(fadt + 4), 276);
        ck_assert_uint_eq(r32(fadt + 40), r64(fadt + 140)); /* DSDT == X_DSDT */
        ck_assert_uint_eq(fadt[46], ACPI_SCI_IRQ);
        ck_assert_uint_eq(r32(fadt + 56), PORT_ACPI_PM1_EVT);
        ck_assert_uint_eq(r32(fadt + 64), PORT_ACPI_PM1_CNT);
        ck_assert_uint_eq(fadt[88], 4);
        ck_assert_uint_eq(fadt[89], 2);
        ck_assert(r32(fadt + 112) & (1u << 10)); /* reset register supported */
        ck_assert_uint_eq(r64(fadt + 116 + 4), PORT_ACPI_RESET);
        ck_assert_uint_eq(fadt[128], ACPI_RESET_VALUE);
        ck_assert_uint_eq(r64(fadt + 172 + 4), PORT_ACPI_PM1_CNT);
        /* FACS: 64-byte aligned. */
        ck_assert_uint_eq(r32(fadt + 36) % 64, 0);
        ck_assert_mem_eq(buf + (r32(fadt + 36) - GPA), "FACS", 4);

        dsdt = table(r64(fadt + 140), "DSDT");
        ck_assert_ptr_nonnull(memmem(dsdt, r32(dsdt + 4), "_S5_\x12", 5));
        ck_assert_ptr_nonnull(memmem(dsdt, r32(dsdt + 4), "\x0c\x41\xd0\x0a\x03", 5)); /* PNP0A03 */
        ck_assert_ptr_nonnull(memmem(dsdt, r32(dsdt + 4), "PCI0", 4));
        check_vmgenid(dsdt, r32(dsdt + 4));

        madt = table(r64(xsdt + 44), "APIC");
        ck_assert_uint_eq(r32(madt + 36), LAYOUT_LAPIC);
        for (uint32_t off = 44; off < r32(madt + 4);) {
                const uint8_t *e = madt + off;
                ck_assert_uint_ge(e[1], 2);
                if (e[0] == 0) {
                        ck_assert_uint_eq(e[3], lapics); /* APIC id */
                        ck_assert_uint_eq(r32(e + 4), 1); /* enabled */
                        lapics++;
                } else if (e[0] == 1) {
                        ck_assert_uint_eq(r32(e + 4), LAYOUT_IOAPIC);
                }
                off += e[1];
        }
        ck_assert_uint_eq(lapics, ncpus);
}

START_TEST(test_tables)
{
        check_tables(1);
        check_tables(2);
        check_tables(64);
        check_tables(ACPI_MAX_CPUS);
}
END_TEST

START_TEST(test_bad_args)
{
        size_t used = 123;

        ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA, 0, &used), -EINVAL);
        ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA, ACPI_MAX_CPUS + 1, &used), -EINVAL);
        ck_assert_int_eq(acpi_build(buf, 100, GPA, 1, &used), -ENOSPC);
        ck_assert_int_eq(acpi_build(buf, 500, GPA, 200, &used), -ENOSPC);
        ck_assert_uint_eq(used, 123);
}
END_TEST

START_TEST(test_checksum)
{
        uint8_t b[4] = { 1, 2, 3, 0xfa };

        ck_assert_uint_eq(acpi_checksum(b, 4), 0);
        ck_assert_uint_eq(acpi_checksum(b, 3), 6);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-acpi");
        TCase *tc = tcase_create("acpi");

        tcase_add_test(tc, test_tables);
        tcase_add_test(tc, test_bad_args);
        tcase_add_test(tc, test_checksum);
        suite_add_tcase(s, tc);
        return s;
}
