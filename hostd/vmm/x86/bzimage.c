#include "config.h"

#include "bzimage.h"

#include <errno.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
        return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

int bzimage_parse(const uint8_t *data, size_t len, struct bzimage *out, struct vm_err *err)
{
        struct bzimage bz = {0};
        uint32_t syssize;

        /* Everything up to init_size (2.12 header fields we read) must exist. */
        if (len < BZ_INIT_SIZE + 4)
                return vm_err_set(err, -EINVAL, "file too small for a Linux kernel (%zu bytes)", len);
        if (rd16(data + BZ_BOOT_FLAG) != 0xaa55 || rd32(data + BZ_HEADER) != BZ_MAGIC)
                return vm_err_set(err, -ENOEXEC,
                                  "not a Linux bzImage (no boot flag 0xAA55 / \"HdrS\" header magic)");
        bz.version = rd16(data + BZ_VERSION);
        if (bz.version < BZ_MIN_VERSION)
                return vm_err_set(err, -ENOEXEC,
                                  "boot protocol %u.%02u is too old: 2.12 or later is needed for the 64-bit entry point",
                                  bz.version >> 8, bz.version & 0xff);
        bz.loadflags = data[BZ_LOADFLAGS];
        if (!(bz.loadflags & BZ_LOADED_HIGH))
                return vm_err_set(err, -ENOEXEC, "not a bzImage (zImage kernels loaded at 0x10000 are not supported)");
        bz.xloadflags = rd16(data + BZ_XLOADFLAGS);
        if (!(bz.xloadflags & BZ_XLF_KERNEL_64))
                return vm_err_set(err, -ENOEXEC, "kernel has no 64-bit entry point (XLF_KERNEL_64 not set): a 64-bit x86 kernel is needed");

        bz.setup_sects = data[BZ_SETUP_SECTS] ? data[BZ_SETUP_SECTS] : 4;
        bz.setup_size = ((size_t)bz.setup_sects + 1) * 512;
        bz.header_end = BZ_HEADER + (size_t)data[BZ_JUMP + 1];
        if (bz.header_end < BZ_INIT_SIZE + 4 || bz.header_end > bz.setup_size)
                return vm_err_set(err, -EINVAL, "inconsistent setup header (ends at 0x%zx, setup is %zu bytes)",
                                  bz.header_end, bz.setup_size);
        if (bz.setup_size >= len)
                return vm_err_set(err, -EINVAL, "kernel truncated: %zu bytes, but the setup code alone is %zu bytes",
                                  len, bz.setup_size);
        bz.payload_offset = bz.setup_size;
        bz.payload_size = len - bz.setup_size;
        syssize = rd32(data + BZ_SYSSIZE);
        if (syssize == 0 || (uint64_t)syssize * 16 > bz.payload_size)
                return vm_err_set(err, -EINVAL, "kernel truncated: header says %llu bytes of kernel, file has %zu",
                                  (unsigned long long)syssize * 16, bz.payload_size);

        bz.relocatable = data[BZ_RELOCATABLE] != 0;
        bz.kernel_alignment = rd32(data + BZ_KERNEL_ALIGNMENT);
        bz.initrd_addr_max = rd32(data + BZ_INITRD_ADDR_MAX);
        bz.cmdline_size = rd32(data + BZ_CMDLINE_SIZE);
        bz.pref_address = rd64(data + BZ_PREF_ADDRESS);
        bz.init_size = rd32(data + BZ_INIT_SIZE);
        if (bz.init_size == 0 || bz.init_size < bz.payload_size)
                return vm_err_set(err, -EINVAL, "inconsistent kernel header: init_size %u is smaller than the kernel", bz.init_size);
        if (!bz.relocatable && (bz.pref_address < 0x100000 || bz.pref_address >= 0xc0000000ULL))
                return vm_err_set(err, -ENOEXEC, "kernel is not relocatable and prefers an unusable load address 0x%llx",
                                  (unsigned long long)bz.pref_address);
        if (bz.cmdline_size == 0)
                bz.cmdline_size = 255; /* boot.rst: before 2.06 the limit was 255 */

        *out = bz;
        return 0;
}
