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
