/* PCI configuration mechanism #1, BARs, and the port/MMIO dispatch. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "check-main.h"
#include "iobus.h"
#include "pci.h"

static uint32_t port_in(struct pci_bus *b, unsigned port, unsigned size)
{
        uint8_t d[4] = { 0 };
        pci_bus_port_read(b, port - 0xcf8, d, size);
        return (uint32_t)d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

static void port_out(struct pci_bus *b, unsigned port, unsigned size, uint32_t v)
{
        uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
        pci_bus_port_write(b, port - 0xcf8, d, size);
}

static uint32_t addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
        return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | reg;
}

START_TEST(test_host_bridge)
{
        struct pci_bus b;
        struct pci_device hb;

        pci_bus_init(&b);
        pci_host_bridge_init(&hb);
        ck_assert_int_eq(pci_bus_add(&b, &hb, 0), 0);
        ck_assert_int_eq(pci_bus_add(&b, &hb, 0), -EBUSY);
        ck_assert_int_eq(pci_bus_add(&b, &hb, 32), -EINVAL);

        port_out(&b, 0xcf8, 4, addr(0, 0, 0, 0));
        ck_assert_uint_eq(port_in(&b, 0xcf8, 4), addr(0, 0, 0, 0));
        ck_assert_uint_eq(port_in(&b, 0xcfc, 4), 0x0d578086);
        ck_assert_uint_eq(port_in(&b, 0xcfc, 2), 0x8086);
        ck_assert_uint_eq(port_in(&b, 0xcfe, 2), 0x0d57);
        ck_assert_uint_eq(port_in(&b, 0xcfd, 1), 0x80);
        port_out(&b, 0xcf8, 4, addr(0, 0, 0, 0x08));
        ck_assert_uint_eq(port_in(&b, 0xcfc, 4) >> 8, 0x060000); /* host bridge class */
        /* Vendor id is read-only. */
        port_out(&b, 0xcf8, 4, addr(0, 0, 0, 0));
        port_out(&b, 0xcfc, 4, 0x12345678);
        ck_assert_uint_eq(port_in(&b, 0xcfc, 4), 0x0d578086);
        /* Absent: other slots, functions, buses read all ones. */
        port_out(&b, 0xcf8, 4, addr(0, 1, 0, 0));
        ck_assert_uint_eq(port_in(&b, 0xcfc, 4), 0xffffffff);
        ck_assert_uint_eq(port_in(&b, 0xcfc, 2), 0xffff);
        port_out(&b, 0xcf8, 4, addr(0, 0, 1, 0));
        ck_assert_uint_eq(port_in(&b, 0xcfc, 4), 0xffffffff);
        port_out(&b, 0xcf8, 4, addr(1, 0, 0, 0));
        ck_assert_uint_eq(port_in(&b, 0xcfc, 4), 0xffffffff);
        /* Enable bit clear: no config cycle. */
        port_out(&b, 0xcf8, 4, 0);
        ck_assert_uint_eq(port_in(&b, 0xcfc, 4), 0xffffffff);
        ck_assert_uint_eq(pci_config_read(&b, 0, 0, 0, 2), 0x8086);
        pci_bus_destroy(&b);
}
END_TEST

struct fake {
        uint64_t last_off;
        int last_bar;
        int writes;
};

static void bar_read(struct pci_device *d, int bar, uint64_t off, uint8_t *data, unsigned size)
{
        struct fake *f = d->opaque;
        f->last_bar = bar;
        f->last_off = off;
        memset(data, 0x42, size);
}

static void bar_write(struct pci_device *d, int bar, uint64_t off, const uint8_t *data, unsigned size)
{
        struct fake *f = d->opaque;
        f->last_bar = bar;
        f->last_off = off;
        f->writes++;
}

static const struct pci_device_ops fake_ops = { .bar_read = bar_read, .bar_write = bar_write };

START_TEST(test_bars)
{
        struct pci_bus b;
        struct pci_device d;
        struct fake f = { 0 };
        uint8_t data[4];

        pci_bus_init(&b);
        pci_device_init(&d, 0x1af4, 0x1041, 0x020000, &fake_ops, &f);
        ck_assert_int_eq(pci_device_add_bar(&d, 0, 0x1000, 0), 0);
        ck_assert_int_eq(pci_device_add_bar(&d, 1, 0x20, PCI_BAR_IO), 0);
        ck_assert_int_eq(pci_device_add_bar(&d, 2, 0x4000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH), 0);
        ck_assert_int_eq(pci_device_add_bar(&d, 3, 0x1000, 0), -EINVAL);   /* upper half of BAR 2 */
        ck_assert_int_eq(pci_device_add_bar(&d, 5, 0x1000, PCI_BAR_MEM64), -EINVAL);
        ck_assert_int_eq(pci_device_add_bar(&d, 4, 0x1001, 0), -EINVAL);
        ck_assert_int_eq(pci_device_add_bar(&d, 4, 8, 0), -EINVAL);
        ck_assert_int_eq(pci_device_add_bar(&d, 6, 0x1000, 0), -EINVAL);
        ck_assert_int_eq(pci_bus_add(&b, &d, 3), 0);

        /* Sizing: write all ones, read back the size mask and type bits. */
        pci_config_write(&b, 3, 0, 0x10, 4, 0xffffffff);
        ck_assert_uint_eq(pci_config_read(&b, 3, 0, 0x10, 4), 0xfffff000);
        pci_config_write(&b, 3, 0, 0x14, 4, 0xffffffff);
        ck_assert_uint_eq(pci_config_read(&b, 3, 0, 0x14, 4), 0xffffffe1);
        pci_config_write(&b, 3, 0, 0x18, 4, 0xffffffff);
        pci_config_write(&b, 3, 0, 0x1c, 4, 0xffffffff);
        ck_assert_uint_eq(pci_config_read(&b, 3, 0, 0x18, 4), 0xffffc00c);
        ck_assert_uint_eq(pci_config_read(&b, 3, 0, 0x1c, 4), 0xffffffff);
        pci_config_write(&b, 3, 0, 0x20, 4, 0xffffffff);
        ck_assert_uint_eq(pci_config_read(&b, 3, 0, 0x20, 4), 0); /* unused BAR */

        /* Assign addresses; nothing decodes until the command register says so. */
        pci_config_write(&b, 3, 0, 0x10, 4, 0xc0001000);
        pci_config_write(&b, 3, 0, 0x14, 4, 0xc040);
        pci_config_write(&b, 3, 0, 0x18, 4, 0x00004000);
        pci_config_write(&b, 3, 0, 0x1c, 4, 0x1);
        ck_assert_uint_eq(pci_device_bar_addr(&d, 0), 0xc0001000);
        ck_assert_uint_eq(pci_device_bar_addr(&d, 1), 0xc040);
        ck_assert_uint_eq(pci_device_bar_addr(&d, 2), 0x100004000ull);
        ck_assert(!pci_bus_bar_access(&b, false, 0xc0001004, data, 4, false));
        pci_config_write(&b, 3, 0, PCI_COMMAND, 2, 0xffff);
        ck_assert_uint_eq(pci_config_read(&b, 3, 0, PCI_COMMAND, 2), 0x0407);

        ck_assert(pci_bus_bar_access(&b, false, 0xc0001004, data, 4, false));
        ck_assert_int_eq(f.last_bar, 0);
        ck_assert_uint_eq(f.last_off, 4);
        ck_assert_uint_eq(data[0], 0x42);
        ck_assert(pci_bus_bar_access(&b, false, 0x100004ff8ull, data, 4, true));
        ck_assert_int_eq(f.last_bar, 2);
        ck_assert_uint_eq(f.last_off, 0xff8);
        ck_assert(pci_bus_bar_access(&b, true, 0xc05f, data, 1, true));
        ck_assert_int_eq(f.last_bar, 1);
        ck_assert_uint_eq(f.last_off, 0x1f);
        ck_assert(!pci_bus_bar_access(&b, true, 0xc060, data, 1, false));       /* past the I/O BAR */
        ck_assert(!pci_bus_bar_access(&b, false, 0xc0001ffe, data, 4, false));  /* straddles the end */
        ck_assert(!pci_bus_bar_access(&b, false, 0xc0000ffc, data, 4, false));
        ck_assert_int_eq(f.writes, 2);
        pci_bus_destroy(&b);
}
END_TEST

static int resets;
static void on_reset(void *o)
{
        (void)o;
        resets++;
}

START_TEST(test_cf9_reset)
{
        struct pci_bus b;

        pci_bus_init(&b);
        b.reset_request = on_reset;
        resets = 0;
        port_out(&b, 0xcf9, 1, 0x02);
        ck_assert_int_eq(resets, 0);
        port_out(&b, 0xcf9, 1, 0x06);
        ck_assert_int_eq(resets, 1);
        /* Dword writes to 0xCF8 are the address latch, not a reset. */
        port_out(&b, 0xcf8, 4, 0xffffffff);
        ck_assert_int_eq(resets, 1);
        pci_bus_destroy(&b);
}
END_TEST

static void dev_read(void *o, uint64_t off, uint8_t *data, unsigned size)
{
        memset(data, (int)off, size);
}

static const struct io_ops dev_ops = { .read = dev_read };

START_TEST(test_io_bus)
{
        struct io_bus bus = { 0 };
        uint8_t d[4];

        ck_assert_int_eq(io_bus_register(&bus, 0x3f8, 8, &dev_ops, NULL), 0);
        ck_assert_int_eq(io_bus_register(&bus, 0x3fc, 8, &dev_ops, NULL), -EEXIST);
        ck_assert_int_eq(io_bus_register(&bus, 0x3f0, 9, &dev_ops, NULL), -EEXIST);
        ck_assert_int_eq(io_bus_register(&bus, 0x3f0, 8, &dev_ops, NULL), 0);
        ck_assert_int_eq(io_bus_register(&bus, 0x10, 0, &dev_ops, NULL), -EINVAL);
        ck_assert_int_eq(io_bus_register(&bus, UINT64_MAX, 2, &dev_ops, NULL), -EINVAL);
        ck_assert(io_bus_access(&bus, 0x3fd, d, 1, false));
        ck_assert_uint_eq(d[0], 5);
        /* Unclaimed: reads all ones, writes dropped, reported as such. */
        memset(d, 0, sizeof(d));
        ck_assert(!io_bus_access(&bus, 0x2f8, d, 4, false));
        ck_assert_uint_eq(d[0] & d[1] & d[2] & d[3], 0xff);
        ck_assert(!io_bus_access(&bus, 0x2f8, d, 4, true));
        /* A registered range without a write handler ignores writes. */
        ck_assert(io_bus_access(&bus, 0x3f8, d, 1, true));
        for (int i = 0; i < IO_BUS_MAX - 2; i++)
                ck_assert_int_eq(io_bus_register(&bus, 0x1000 + 16 * (uint64_t)i, 16, &dev_ops, NULL), 0);
        ck_assert_int_eq(io_bus_register(&bus, 0x9000, 1, &dev_ops, NULL), -ENOSPC);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-pci");
        TCase *tc = tcase_create("pci");

        tcase_add_test(tc, test_host_bridge);
        tcase_add_test(tc, test_bars);
        tcase_add_test(tc, test_cf9_reset);
        tcase_add_test(tc, test_io_bus);
        suite_add_tcase(s, tc);
        return s;
}
