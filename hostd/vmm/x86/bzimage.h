/* Linux bzImage header parsing and validation (Documentation/arch/x86/
 * boot.rst, "The Real-Mode Kernel Header"). Pure: works on bytes in memory,
 * so it is unit-tested with crafted headers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* boot.rst offsets (relative to the start of the image / zero page) */
#define BZ_SETUP_SECTS 0x1f1
#define BZ_SYSSIZE 0x1f4
#define BZ_BOOT_FLAG 0x1fe
#define BZ_JUMP 0x200
#define BZ_HEADER 0x202
#define BZ_VERSION 0x206
#define BZ_TYPE_OF_LOADER 0x210
#define BZ_LOADFLAGS 0x211
#define BZ_RAMDISK_IMAGE 0x218
#define BZ_RAMDISK_SIZE 0x21c
#define BZ_HEAP_END_PTR 0x224
#define BZ_CMD_LINE_PTR 0x228
#define BZ_INITRD_ADDR_MAX 0x22c
#define BZ_KERNEL_ALIGNMENT 0x230
#define BZ_RELOCATABLE 0x234
#define BZ_XLOADFLAGS 0x236
#define BZ_CMDLINE_SIZE 0x238
#define BZ_PREF_ADDRESS 0x258
#define BZ_INIT_SIZE 0x260

#define BZ_MAGIC 0x53726448 /* "HdrS" */
#define BZ_MIN_VERSION 0x020c /* 2.12: xloadflags, 64-bit entry */
#define BZ_LOADED_HIGH 0x01
#define BZ_CAN_USE_HEAP 0x80
#define BZ_XLF_KERNEL_64 0x01
#define BZ_ENTRY64_OFFSET 0x200 /* startup_64 relative to the load address */

struct bzimage {
        uint16_t version;
        unsigned setup_sects;   /* 0 in the file means 4 */
        size_t setup_size;      /* (setup_sects + 1) * 512 */
        size_t payload_offset;  /* = setup_size: protected-mode kernel */
        size_t payload_size;
        size_t header_end;      /* end of the setup header: 0x202 + byte[0x201] */
        uint8_t loadflags;
        uint16_t xloadflags;
        bool relocatable;
        uint32_t kernel_alignment;
        uint32_t initrd_addr_max;
        uint32_t cmdline_size;  /* max length, without the NUL */
        uint64_t pref_address;
        uint32_t init_size;     /* memory the kernel needs from its load address */
};

/* Validate a bzImage held in data[0..len) and describe it in *out. Returns 0,
 * or -ENOEXEC (not a usable 64-bit bzImage) / -EINVAL (truncated or
 * inconsistent) with the reason in err. *out is written only on success. */
int bzimage_parse(const uint8_t *data, size_t len, struct bzimage *out, struct vm_err *err);
