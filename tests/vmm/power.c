#include "config.h"

#include "check-main.h"
#include "layout.h"
#include "power.h"

struct seen {
        int off, reset;
        const char *how;
};

static void ev(void *o, enum power_event e, const char *how)
{
        struct seen *s = o;
        if (e == POWER_OFF)
                s->off++;
        else
                s->reset++;
        s->how = how;
}

#define CNT (PORT_ACPI_PM1_CNT - PORT_ACPI_BASE)
#define EVT (PORT_ACPI_PM1_EVT - PORT_ACPI_BASE)
#define RST (PORT_ACPI_RESET - PORT_ACPI_BASE)

START_TEST(test_s5)
{
        struct seen s = { 0 };
        struct power p;

        power_init(&p, ev, &s);
        ck_assert_uint_eq(power_acpi_read(&p, CNT, 2) & 1, 1); /* SCI_EN: ACPI mode */
        /* ACPICA writes SLP_TYP first, then SLP_TYP | SLP_EN. */
        power_acpi_write(&p, CNT, 2, 5u << 10);
        ck_assert_int_eq(s.off, 0);
        power_acpi_write(&p, CNT, 2, 5u << 10 | 1u << 13);
        ck_assert_int_eq(s.off, 1);
        ck_assert_str_eq(s.how, "acpi-s5");
        ck_assert_uint_eq(power_acpi_read(&p, CNT, 2) & (1u << 13), 0); /* SLP_EN not latched */
        /* Another sleep type (S3) is not a poweroff. */
        power_acpi_write(&p, CNT, 2, 3u << 10 | 1u << 13);
        ck_assert_int_eq(s.off, 1);
        /* Byte-wise writes work too. */
        power_acpi_write(&p, CNT + 1, 1, (5u << 10 | 1u << 13) >> 8);
        ck_assert_int_eq(s.off, 2);
        ck_assert_int_eq(s.reset, 0);
        power_destroy(&p);
}
END_TEST

START_TEST(test_pm1_event_block)
{
        struct seen s = { 0 };
        struct power p;

        power_init(&p, ev, &s);
        p.pm1_sts = 0x8001;
        power_acpi_write(&p, EVT, 2, 0x0001); /* write-1-to-clear */
        ck_assert_uint_eq(power_acpi_read(&p, EVT, 2), 0x8000);
        power_acpi_write(&p, EVT + 2, 2, 0x0120);
        ck_assert_uint_eq(power_acpi_read(&p, EVT, 4), 0x01208000);
        power_reset(&p);
        ck_assert_uint_eq(power_acpi_read(&p, EVT, 4), 0);
        ck_assert_int_eq(s.off + s.reset, 0);
        power_destroy(&p);
}
END_TEST

START_TEST(test_resets)
{
        struct seen s = { 0 };
        struct power p;

        power_init(&p, ev, &s);
        power_acpi_write(&p, RST, 1, 0x02);
        ck_assert_int_eq(s.reset, 0);
        power_acpi_write(&p, RST, 1, ACPI_RESET_VALUE);
        ck_assert_int_eq(s.reset, 1);
        ck_assert_str_eq(s.how, "acpi-reset");
        ck_assert_uint_eq(power_i8042_read(&p, 4) & 0x02, 0); /* input buffer empty */
        power_i8042_write(&p, 0, 0xfe);                       /* data port: not a command */
        ck_assert_int_eq(s.reset, 1);
        power_i8042_write(&p, 4, 0xd1);
        ck_assert_int_eq(s.reset, 1);
        power_i8042_write(&p, 4, 0xfe);
        ck_assert_int_eq(s.reset, 2);
        ck_assert_str_eq(s.how, "i8042");
        ck_assert_int_eq(s.off, 0);
        power_destroy(&p);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-power");
        TCase *tc = tcase_create("power");

        tcase_add_test(tc, test_s5);
        tcase_add_test(tc, test_pm1_event_block);
        tcase_add_test(tc, test_resets);
        suite_add_tcase(s, tc);
        return s;
}
