/* The e820 memory map handed to the guest in the zero page. Pure. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_MAX_ENTRIES 128 /* boot_params.e820_table */

struct e820_entry {
        uint64_t addr;
        uint64_t size;
        uint32_t type;
} __attribute__((packed));

/* Fill map (room for cap entries) for a guest with low_ram bytes at 0 and
 * high_ram bytes at 4 GiB (see layout.h): RAM below the EBDA, the reserved
 * BIOS area (ACPI tables), RAM from 1 MiB, the PCI hole left out (it is the
 * MMIO window the kernel may assign BARs in), the IOAPIC/LAPIC/TSS range
 * reserved, high RAM. Returns the number of entries, or -EINVAL when low_ram
 * is below 1 MiB or exceeds the hole, or cap is too small. */
int e820_build(uint64_t low_ram, uint64_t high_ram, struct e820_entry *map, size_t cap);
