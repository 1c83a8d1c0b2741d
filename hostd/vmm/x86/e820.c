#include "config.h"

#include "e820.h"

#include <errno.h>

#include "layout.h"

int e820_build(uint64_t low_ram, uint64_t high_ram, struct e820_entry *map, size_t cap)
{
        struct e820_entry e[5];
        size_t n = 0;

        if (low_ram < LAYOUT_HIGH_MEM || low_ram > LAYOUT_PCI_HOLE)
                return -EINVAL;
        if (high_ram && low_ram != LAYOUT_PCI_HOLE)
                return -EINVAL;

        e[n++] = (struct e820_entry){ 0, LAYOUT_EBDA, E820_RAM };
        e[n++] = (struct e820_entry){ LAYOUT_EBDA, LAYOUT_HIGH_MEM - LAYOUT_EBDA, E820_RESERVED };
        if (low_ram > LAYOUT_HIGH_MEM)
                e[n++] = (struct e820_entry){ LAYOUT_HIGH_MEM, low_ram - LAYOUT_HIGH_MEM, E820_RAM };
        /* [low_ram, 0xfec00000) stays a hole: the PCI MMIO window. */
        e[n++] = (struct e820_entry){ LAYOUT_IOAPIC, LAYOUT_4G - LAYOUT_IOAPIC, E820_RESERVED };
        if (high_ram)
                e[n++] = (struct e820_entry){ LAYOUT_4G, high_ram, E820_RAM };

        if (n > cap)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                map[i] = e[i];
        return (int)n;
}
