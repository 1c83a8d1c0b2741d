#include "config.h"

#include "acpi.h"

#include <errno.h>
#include <string.h>

#include "layout.h"

/* ACPI 6.x spec section numbers are given where the layout comes from. */

#define HDR_LEN 36
#define FADT_LEN 276
#define RSDP_LEN 36

#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PWR_BUTTON (1u << 4) /* no fixed power button */
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define BOOT_ARCH_CMOS_RTC_NOT_PRESENT (1u << 5)

struct buf {
        uint8_t *p;
        size_t len, cap;
        int err;
};

static uint8_t *put(struct buf *b, const void *src, size_t n)
{
        uint8_t *dst;

        if (b->err || n > b->cap - b->len) {
                b->err = -ENOSPC;
                return NULL;
        }
        dst = b->p + b->len;
        if (src)
                memcpy(dst, src, n);
        else
                memset(dst, 0, n);
        b->len += n;
        return dst;
}

static void put8(struct buf *b, uint8_t v)
{
        put(b, &v, 1);
}

static void put16(struct buf *b, uint16_t v)
{
        uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
        put(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
        put16(b, (uint16_t)v);
        put16(b, (uint16_t)(v >> 16));
}

static void put64(struct buf *b, uint64_t v)
{
        put32(b, (uint32_t)v);
        put32(b, (uint32_t)(v >> 32));
}

static void wr32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void align(struct buf *b, size_t a)
{
        while (!b->err && b->len % a)
                put8(b, 0);
}

uint8_t acpi_checksum(const void *p, size_t len)
{
        const uint8_t *c = p;
        uint8_t sum = 0;

        for (size_t i = 0; i < len; i++)
                sum = (uint8_t)(sum + c[i]);
        return sum;
}

/* 5.2.6 System Description Table Header; length and checksum are fixed up
 * by table_end(). Returns the table's offset in b. */
static size_t table_begin(struct buf *b, const char sig[4], uint8_t rev)
{
        size_t off = b->len;

        put(b, sig, 4);
        put32(b, 0);    /* length */
        put8(b, rev);
        put8(b, 0);     /* checksum */
        put(b, "VDIVMM", 6);
        put(b, "VDIVMM  ", 8);
        put32(b, 1);
        put(b, "VDI ", 4);
        put32(b, 1);
        return off;
}

static void table_end(struct buf *b, size_t off)
{
        if (b->err)
                return;
        wr32(b->p + off + 4, (uint32_t)(b->len - off));
        b->p[off + 9] = (uint8_t)-acpi_checksum(b->p + off, b->len - off);
}

/* 5.2.3.2 Generic Address Structure in system I/O space; access 0 is
 * "legacy", 1 byte. */
static void put_gas_io(struct buf *b, uint16_t port, uint8_t bits, uint8_t access)
{
        put8(b, 1);     /* system I/O */
        put8(b, bits);
        put8(b, 0);     /* bit offset */
        put8(b, access);
        put64(b, port);
}

/* ---- AML (ACPI 20. "ACPI Machine Language Specification") ---- */

/* Emit op bytes, then PkgLength covering body, then body. */
static void aml_pkg(struct buf *b, const uint8_t *op, size_t oplen, const uint8_t *body, size_t blen)
{
        size_t total;

        put(b, op, oplen);
        if (blen + 1 <= 0x3f) {
                put8(b, (uint8_t)(blen + 1));
        } else if (blen + 2 <= 0xfff) {
                total = blen + 2;
                put8(b, (uint8_t)(0x40 | (total & 0xf)));
                put8(b, (uint8_t)(total >> 4));
        } else {
                total = blen + 3;
                put8(b, (uint8_t)(0x80 | (total & 0xf)));
                put8(b, (uint8_t)(total >> 4));
                put8(b, (uint8_t)(total >> 12));
        }
        put(b, body, blen);
}

static void aml_name(struct buf *b, const char name[4])
{
        put8(b, 0x08); /* NameOp */
        put(b, name, 4);
}

/* Word Address Space Descriptor (6.4.3.5.3), producer, min/max fixed. */
static void res_word(struct buf *b, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
        put8(b, 0x88);
        put16(b, 13);
        put8(b, type);
        put8(b, 0x0c);
        put8(b, tflags);
        put16(b, 0);                                    /* granularity */
        put16(b, min);
        put16(b, max);
        put16(b, 0);                                    /* translation */
        put16(b, (uint16_t)(max - min + 1));
}

/* DWord Memory Descriptor (6.4.3.5.2), producer, RW, non-cacheable. */
static void res_dword_mem(struct buf *b, uint32_t min, uint32_t max)
{
        put8(b, 0x87);
        put16(b, 23);
        put8(b, 0);     /* memory */
        put8(b, 0x0c);
        put8(b, 0x01);  /* read-write, non-cacheable */
        put32(b, 0);
        put32(b, min);
        put32(b, max);
        put32(b, 0);
        put32(b, max - min + 1);
}

static void aml_string(struct buf *b, const char *s)
{
        put8(b, 0x0d); /* StringPrefix */
        put(b, s, strlen(s) + 1);
}

static void aml_dword(struct buf *b, uint32_t v)
{
        put8(b, 0x0c); /* DWordPrefix */
        put32(b, v);
}

/* Device (VGEN): the VM generation ID (Microsoft's "Virtual Machine
 * Generation ID" paper; Linux drivers/virt/vmgenid.c matches _HID
 * VMGENCTR or VM_GEN_COUNTER): ADDR returns Package (2) { low, high } of
 * the 16-byte ID's guest-physical address, in a reserved page. */
static void build_vgen(struct buf *b)
{
        static const uint8_t method_op[] = { 0x14 };
        uint8_t m_raw[32], pkg_raw[16];
        struct buf m = { m_raw, 0, sizeof(m_raw), 0 }, pkg = { pkg_raw, 0, sizeof(pkg_raw), 0 };

        put(b, "VGEN", 4);
        aml_name(b, "_HID");
        aml_string(b, "VMGENCTR");
        aml_name(b, "_CID");
        aml_string(b, "VM_GEN_COUNTER");
        aml_name(b, "_DDN");
        aml_string(b, "VM_Gen_Counter");
        /* Method (ADDR, 0) { Return (Package (2) { low, high }) } */
        put8(&pkg, 2);
        aml_dword(&pkg, (uint32_t)LAYOUT_VMGENID);
        aml_dword(&pkg, (uint32_t)((uint64_t)LAYOUT_VMGENID >> 32));
        put(&m, "ADDR", 4);
        put8(&m, 0x00);         /* no arguments, not serialized */
        put8(&m, 0xa4);         /* ReturnOp */
        aml_pkg(&m, (const uint8_t[]){ 0x12 }, 1, pkg.p, pkg.len);
        if (m.err || pkg.err)
                b->err = -ENOSPC;
        aml_pkg(b, method_op, 1, m.p, m.len);
}

/* Device (GED0): ACPI 6.x 5.6.9 Generic Event Device, ACPI0013, whose one
 * interrupt (IRQ_GED, edge, active high) runs _EVT: Notify (\_SB.VGEN,
 * 0x80), how the guest learns that the generation ID changed. */
static void build_ged(struct buf *b)
{
        static const uint8_t method_op[] = { 0x14 }, buffer_op[] = { 0x11 };
        uint8_t crs_raw[16], m_raw[24];
        struct buf crs = { crs_raw, 0, sizeof(crs_raw), 0 }, m = { m_raw, 0, sizeof(m_raw), 0 };

        put(b, "GED0", 4);
        aml_name(b, "_HID");
        aml_string(b, "ACPI0013");
        aml_name(b, "_UID");
        put8(b, 0x00);
        /* _CRS: Extended Interrupt Descriptor (6.4.3.6): consumer, edge,
         * active high, exclusive, one GSI; then the end tag. */
        put8(&crs, 0x0a);
        put8(&crs, 11);
        put(&crs, (const uint8_t[]){ 0x89, 0x06, 0x00, 0x03, 0x01 }, 5);
        put32(&crs, IRQ_GED);
        put(&crs, (const uint8_t[]){ 0x79, 0x00 }, 2);
        aml_name(b, "_CRS");
        aml_pkg(b, buffer_op, 1, crs.p, crs.len);
        /* Method (_EVT, 1) { Notify (\_SB.VGEN, 0x80) } */
        put(&m, "_EVT", 4);
        put8(&m, 0x01);
        put(&m, (const uint8_t[]){ 0x86, '\\', 0x2e }, 3); /* NotifyOp, root, DualNamePrefix */
        put(&m, "_SB_VGEN", 8);
        put(&m, (const uint8_t[]){ 0x0a, 0x80 }, 2);
        if (crs.err || m.err)
                b->err = -ENOSPC;
        aml_pkg(b, method_op, 1, m.p, m.len);
}

static void build_dsdt_aml(struct buf *b)
{
        uint8_t crs_raw[128], dev_raw[256], vgen_raw[128], ged_raw[128], scope_raw[640];
        struct buf crs = { crs_raw, 0, sizeof(crs_raw), 0 };
        struct buf dev = { dev_raw, 0, sizeof(dev_raw), 0 };
        struct buf vgen = { vgen_raw, 0, sizeof(vgen_raw), 0 };
        struct buf ged = { ged_raw, 0, sizeof(ged_raw), 0 };
        struct buf scope = { scope_raw, 0, sizeof(scope_raw), 0 };
        uint8_t tmp[160];
        struct buf t = { tmp, 0, sizeof(tmp), 0 };
        static const uint8_t device_op[] = { 0x5b, 0x82 };
        static const uint8_t scope_op[] = { 0x10 };
        static const uint8_t buffer_op[] = { 0x11 };
        static const uint8_t package_op[] = { 0x12 };

        /* _CRS of the root bridge: bus 0-255, config ports, I/O around them,
         * the 32-bit MMIO window of layout.h. */
        res_word(&crs, 2, 0, 0x00, 0xff);
        put(&crs, (const uint8_t[]){ 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 }, 8);
        res_word(&crs, 1, 0x03, 0x0000, 0x0cf7);
        res_word(&crs, 1, 0x03, 0x0d00, 0xffff);
        res_dword_mem(&crs, (uint32_t)LAYOUT_PCI_MMIO, (uint32_t)(LAYOUT_PCI_MMIO_END - 1));
        put(&crs, (const uint8_t[]){ 0x79, 0x00 }, 2); /* end tag */

        /* Device (PCI0) { _HID PNP0A03, _UID 0, _BBN 0, _CRS } */
        put(&dev, "PCI0", 4);
        aml_name(&dev, "_HID");
        put(&dev, (const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x0a, 0x03 }, 5); /* EisaId("PNP0A03") */
        aml_name(&dev, "_UID");
        put8(&dev, 0x00);
        aml_name(&dev, "_BBN");
        put8(&dev, 0x00);
        aml_name(&dev, "_CRS");
        put8(&t, 0x0a); /* BufferSize as ByteConst */
        put8(&t, (uint8_t)crs.len);
        put(&t, crs.p, crs.len);
        aml_pkg(&dev, buffer_op, 1, t.p, t.len);
        build_vgen(&vgen);
        build_ged(&ged);

        /* Scope (\_SB) { Device (PCI0) ... Device (VGEN) ... Device (GED0) ... } */
        put(&scope, "\\_SB_", 5);
        aml_pkg(&scope, device_op, 2, dev.p, dev.len);
        aml_pkg(&scope, device_op, 2, vgen.p, vgen.len);
        aml_pkg(&scope, device_op, 2, ged.p, ged.len);
        if (crs.err || dev.err || vgen.err || ged.err || scope.err || t.err) {
                b->err = -ENOSPC;
                return;
        }
        aml_pkg(b, scope_op, 1, scope.p, scope.len);

        /* Name (_S5, Package (4) { 5, 5, 0, 0 }): SLP_TYP for soft-off. */
        aml_name(b, "_S5_");
        aml_pkg(b, package_op, 1,
                (const uint8_t[]){ 0x04, 0x0a, ACPI_S5_SLP_TYP, 0x0a, ACPI_S5_SLP_TYP, 0x00, 0x00 }, 7);
}

static void build_fadt(struct buf *b, uint64_t dsdt, uint64_t facs)
{
        size_t off = table_begin(b, "FACP", 6);

        put32(b, (uint32_t)facs);       /* 36 FIRMWARE_CTRL */
        put32(b, (uint32_t)dsdt);       /* 40 DSDT */
        put8(b, 0);                     /* 44 reserved */
        put8(b, 0);                     /* 45 preferred PM profile: unspecified */
        put16(b, ACPI_SCI_IRQ);         /* 46 SCI_INT */
        put32(b, 0);                    /* 48 SMI_CMD: none, always in ACPI mode */
        put32(b, 0);                    /* 52 ACPI_ENABLE/DISABLE, S4BIOS_REQ, PSTATE_CNT */
        put32(b, PORT_ACPI_PM1_EVT);    /* 56 PM1a_EVT_BLK */
        put32(b, 0);                    /* 60 PM1b_EVT_BLK */
        put32(b, PORT_ACPI_PM1_CNT);    /* 64 PM1a_CNT_BLK */
        put(b, NULL, 20);               /* 68..87 PM1b_CNT, PM2_CNT, PM_TMR, GPE0, GPE1: none */
        put8(b, 4);                     /* 88 PM1_EVT_LEN */
        put8(b, 2);                     /* 89 PM1_CNT_LEN */
        put(b, NULL, 6);                /* 90..95 */
        put16(b, 101);                  /* 96 P_LVL2_LAT: C2 unsupported */
        put16(b, 1001);                 /* 98 P_LVL3_LAT: C3 unsupported */
        put(b, NULL, 8);                /* 100..107 flush, duty, alarms */
        put8(b, 0);                     /* 108 CENTURY */
        put16(b, BOOT_ARCH_VGA_NOT_PRESENT | BOOT_ARCH_CMOS_RTC_NOT_PRESENT); /* 109 IAPC_BOOT_ARCH, no 8042 */
        put8(b, 0);                     /* 111 */
        put32(b, FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP); /* 112 */
        put_gas_io(b, PORT_ACPI_RESET, 8, 1);   /* 116 RESET_REG */
        put8(b, ACPI_RESET_VALUE);              /* 128 RESET_VALUE */
        put16(b, 0);                            /* 129 ARM_BOOT_ARCH */
        put8(b, 0);                             /* 131 minor version */
        put64(b, facs);                         /* 132 X_FIRMWARE_CTRL */
        put64(b, dsdt);                         /* 140 X_DSDT */
        put_gas_io(b, PORT_ACPI_PM1_EVT, 32, 0); /* 148 X_PM1a_EVT_BLK */
        put(b, NULL, 12);                       /* 160 X_PM1b_EVT_BLK */
        put_gas_io(b, PORT_ACPI_PM1_CNT, 16, 0); /* 172 X_PM1a_CNT_BLK */
        put(b, NULL, 72);                       /* 184..255 X_PM1b_CNT .. SLEEP_CONTROL */
        put(b, NULL, 12);                       /* 256 SLEEP_STATUS_REG */
        put(b, "VDIVMM\0\0", 8);                /* 268 hypervisor vendor */
        table_end(b, off);
}

/* 5.2.10 FACS: no checksum, 64-byte aligned, nothing in use. */
static void build_facs(struct buf *b)
{
        put(b, "FACS", 4);
        put32(b, 64);
        put(b, NULL, 24);
        put8(b, 2);     /* version */
        put(b, NULL, 31);
}

static void build_madt(struct buf *b, unsigned ncpus)
{
        size_t off = table_begin(b, "APIC", 4);

        put32(b, (uint32_t)LAYOUT_LAPIC);
        put32(b, 1); /* PCAT_COMPAT: the (in-kernel) 8259 pair exists too */
        for (unsigned i = 0; i < ncpus; i++) {
                /* 5.2.12.2 Processor Local APIC: uid, APIC id, enabled */
                put8(b, 0);
                put8(b, 8);
                put8(b, (uint8_t)i);
                put8(b, (uint8_t)i);
                put32(b, 1);
        }
        /* 5.2.12.3 I/O APIC: id 0, address, GSI base 0 */
        put8(b, 1);
        put8(b, 12);
        put8(b, 0);
        put8(b, 0);
        put32(b, (uint32_t)LAYOUT_IOAPIC);
        put32(b, 0);
        /* 5.2.12.5 Interrupt Source Override: the SCI, ISA IRQ 9 → GSI 9,
         * level-triggered, active high (ISA IRQs default to edge). */
        put8(b, 2);
        put8(b, 10);
        put8(b, 0);
        put8(b, ACPI_SCI_IRQ);
        put32(b, ACPI_SCI_IRQ);
        put16(b, 0x000d);
        /* 5.2.12.7 Local APIC NMI: all processors, LINT1 */
        put8(b, 4);
        put8(b, 6);
        put8(b, 0xff);
        put16(b, 0);
        put8(b, 1);
        table_end(b, off);
}

int acpi_build(uint8_t *p, size_t cap, uint64_t gpa, unsigned ncpus, size_t *used)
{
        struct buf b = { p, 0, cap, 0 };
        size_t xsdt, fadt, madt, dsdt, facs, off;
        uint8_t *rsdp;

        if (ncpus == 0 || ncpus > ACPI_MAX_CPUS)
                return -EINVAL;

        /* 5.2.5.3 RSDP (revision 2); addresses filled in below. */
        rsdp = put(&b, NULL, RSDP_LEN);
        align(&b, 16);

        dsdt = b.len;
        off = table_begin(&b, "DSDT", 2);
        build_dsdt_aml(&b);
        table_end(&b, off);
        align(&b, 16);

        align(&b, 64);
        facs = b.len;
        build_facs(&b);

        fadt = b.len;
        build_fadt(&b, gpa + dsdt, gpa + facs);
        align(&b, 16);

        madt = b.len;
        build_madt(&b, ncpus);
        align(&b, 16);

        xsdt = table_begin(&b, "XSDT", 1);
        put64(&b, gpa + fadt);
        put64(&b, gpa + madt);
        table_end(&b, xsdt);
        if (b.err)
                return b.err;

        memcpy(rsdp, "RSD PTR ", 8);
        memcpy(rsdp + 9, "VDIVMM", 6);
        rsdp[15] = 2;                           /* revision */
        wr32(rsdp + 16, 0);                     /* no RSDT */
        wr32(rsdp + 20, RSDP_LEN);
        wr32(rsdp + 24, (uint32_t)(gpa + xsdt));
        wr32(rsdp + 28, (uint32_t)((gpa + xsdt) >> 32));
        rsdp[8] = (uint8_t)-acpi_checksum(rsdp, 20);
        rsdp[32] = (uint8_t)-acpi_checksum(rsdp, RSDP_LEN);
        *used = b.len;
        return 0;
}
