/* Linux x86 64-bit boot protocol (Documentation/arch/x86/boot.rst): load
 * the kernel and initrd into guest RAM and build what startup_64 expects
 * (zero page with e820 and command line, ACPI tables, identity page tables,
 * GDT). The vCPU registers are set from struct boot_entry (vcpu.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bzimage.h"
#include "err.h"
#include "mem.h"

/* Files read once and kept for reboots. */
struct boot_image {
        uint8_t *kernel;
        size_t kernel_size;
        struct bzimage bz;
        uint8_t *initrd;        /* NULL when there is none */
        size_t initrd_size;
};

struct boot_entry {
        uint64_t rip;           /* startup_64 */
        uint64_t rsi;           /* zero page */
        uint64_t cr3;
        uint64_t gdt;
        uint16_t gdt_limit;
};

/* Read and validate the kernel (and initrd, when path is non-NULL); files
 * larger than max_size (the guest RAM) are refused before being read.
 * Errors name the file: missing, unreadable, truncated, not a bzImage. */
int boot_image_load(struct boot_image *img, const char *kernel_path, const char *initrd_path, uint64_t max_size,
                    struct vm_err *err);
void boot_image_free(struct boot_image *img);

/* Where the protected-mode kernel goes and the RAM it needs from there. */
uint64_t boot_kernel_addr(const struct bzimage *bz);
/* Lowest RAM size that can hold this kernel and initrd (the kernel
 * decompresses itself to at least 16 MiB + init_size). */
uint64_t boot_min_ram(const struct boot_image *img);

/* Initrd placement: highest 4 KiB-aligned address below min(initrd_addr_max,
 * low_ram) that does not overlap the kernel. Pure; 0 or -ENOSPC. */
int boot_initrd_addr(const struct bzimage *bz, uint64_t low_ram, uint64_t initrd_size, uint64_t *addr);

/* Lay out everything in guest RAM for ncpus vCPUs. */
int boot_setup(const struct guest_mem *m, const struct boot_image *img, const char *cmdline, unsigned ncpus,
               struct boot_entry *entry, struct vm_err *err);
