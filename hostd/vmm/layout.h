/* Guest-physical memory map of a vdi-vm guest (x86-64, direct 64-bit boot).
 *
 *   0x00000000  real-mode area; usable RAM up to 0x9fc00 (APs' trampoline)
 *   0x00000500  GDT
 *   0x00007000  zero page (struct boot_params)
 *   0x00009000  identity page tables: PML4, PDPT, 4 page directories
 *   0x00020000  kernel command line
 *   0x0009fc00  reserved: EBDA, VGA hole, BIOS area (ACPI tables at 0xe0000,
 *               the VM generation ID at 0xff000)
 *   0x00100000  protected-mode kernel (bzImage payload), then RAM
 *   ...         initrd at the top of low RAM
 *   0xc0000000  32-bit PCI hole: RAM above 3 GiB is relocated to 4 GiB
 *   0xc0000000  PCI MMIO window (BARs), up to 0xdfffffff
 *   0xe0000000  framebuffer memslot (fb.h), up to 256 MiB; outside the
 *               window so the guest never places a BAR over it
 *   0xfec00000  IOAPIC (in-kernel), 0xfee00000 LAPIC (in-kernel)
 *   0xfffbc000  KVM identity map page and TSS (reserved)
 *   0x100000000 high RAM (memory beyond 3 GiB)
 */
#pragma once

#include <stdint.h>

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

#define LAYOUT_GDT 0x500
#define LAYOUT_ZERO_PAGE 0x7000
#define LAYOUT_PML4 0x9000
#define LAYOUT_PDPT 0xa000
#define LAYOUT_PD 0xb000 /* 4 pages: 0xb000..0xefff, 2 MiB pages over 4 GiB */
#define LAYOUT_CMDLINE 0x20000
#define LAYOUT_CMDLINE_MAX 0x10000
#define LAYOUT_EBDA 0x9fc00
#define LAYOUT_BIOS_START 0xa0000
#define LAYOUT_ACPI 0xe0000 /* RSDP first (found by the BIOS-area scan too) */
#define LAYOUT_ACPI_SIZE 0x1f000
#define LAYOUT_VMGENID 0xff000 /* 16-byte VM generation ID (ACPI VGEN's ADDR), own page */
#define LAYOUT_HIGH_MEM 0x100000 /* 1 MiB */
#define LAYOUT_KERNEL 0x100000

#define LAYOUT_PCI_HOLE 0xc0000000ULL /* 3 GiB: low RAM ends here at most */
#define LAYOUT_PCI_MMIO 0xc0000000ULL
#define LAYOUT_PCI_MMIO_END 0xe0000000ULL /* exclusive */
#define LAYOUT_FB 0xe0000000ULL       /* framebuffer (fb.h FB_GPA) */
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_LAPIC 0xfee00000ULL
#define LAYOUT_IDENTITY_MAP 0xfffbc000ULL
#define LAYOUT_TSS 0xfffbd000ULL
#define LAYOUT_4G 0x100000000ULL

/* I/O ports */
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD 0x64
#define PORT_COM1 0x3f8
#define PORT_PCI_ADDR 0xcf8
#define PORT_PCI_DATA 0xcfc
#define PORT_RESET_CF9 0xcf9
/* ACPI fixed hardware (FADT): PM1a event block (status, enable), PM1a
 * control block, reset register. */
#define PORT_ACPI_BASE 0x600
#define PORT_ACPI_PM1_EVT 0x600 /* 4 bytes: PM1_STS (2), PM1_EN (2) */
#define PORT_ACPI_PM1_CNT 0x604 /* 2 bytes */
#define PORT_ACPI_RESET 0x606   /* 1 byte */
#define PORT_ACPI_LEN 8
#define ACPI_RESET_VALUE 0x01
#define ACPI_S5_SLP_TYP 5
#define ACPI_SCI_IRQ 9

#define IRQ_COM1 4
/* The ACPI generic event device's interrupt (edge, active high; IOAPIC
 * only, above the ISA IRQs): its _EVT tells the guest that the VM
 * generation ID changed. */
#define IRQ_GED 23
