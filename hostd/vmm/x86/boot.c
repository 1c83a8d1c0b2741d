#include "config.h"

#include "boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpi.h"
#include "alloc.h"
#include "e820.h"
#include "layout.h"

/* boot_params (zero page) offsets outside the setup header */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_SIZE 4096

#define LOAD_PHYSICAL_ADDR (16 * MiB) /* where x86-64 kernels decompress to at least */

static int read_file(const char *what, const char *path, uint64_t max, uint8_t **out, size_t *len,
                     struct vm_err *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t done = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return vm_err_set(err, -errno, "%s %s: %m", what, path);
        if (fstat(fd, &st) < 0)
                return vm_err_set(err, -errno, "%s %s: %m", what, path);
        if (!S_ISREG(st.st_mode))
                return vm_err_set(err, -EINVAL, "%s %s: not a regular file", what, path);
        if ((uint64_t)st.st_size > max)
                return vm_err_set(err, -EFBIG, "%s %s (%llu MiB) is larger than guest memory (%llu MiB)", what, path,
                                  (unsigned long long)st.st_size >> 20, (unsigned long long)max >> 20);
        buf = malloc(st.st_size ? (size_t)st.st_size : 1);
        if (!buf)
                return vm_err_set(err, -ENOMEM, "%s %s: out of memory", what, path);
        while (done < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vm_err_set(err, -errno, "%s %s: %m", what, path);
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        *out = TAKE_PTR(buf);
        *len = done;
        return 0;
}

int boot_image_load(struct boot_image *img, const char *kernel_path, const char *initrd_path, uint64_t max_size,
                    struct vm_err *err)
{
        struct vm_err e;
        int r;

        memset(img, 0, sizeof(*img));
        r = read_file("kernel", kernel_path, max_size, &img->kernel, &img->kernel_size, err);
        if (r < 0)
                return r;
        r = bzimage_parse(img->kernel, img->kernel_size, &img->bz, &e);
        if (r < 0) {
                boot_image_free(img);
                return vm_err_set(err, r, "kernel %s: %s", kernel_path, e.msg);
        }
        if (initrd_path) {
                r = read_file("initrd", initrd_path, max_size, &img->initrd, &img->initrd_size, err);
                if (r < 0) {
                        boot_image_free(img);
                        return r;
                }
        }
        return 0;
}

void boot_image_free(struct boot_image *img)
{
        free(img->kernel);
        free(img->initrd);
        memset(img, 0, sizeof(*img));
}

uint64_t boot_kernel_addr(const struct bzimage *bz)
{
        return bz->relocatable ? LAYOUT_KERNEL : bz->pref_address;
}

/* End of the memory the kernel uses while decompressing and running. */
static uint64_t kernel_end(const struct bzimage *bz)
{
        uint64_t base = boot_kernel_addr(bz);

        if (base < LOAD_PHYSICAL_ADDR)
                base = LOAD_PHYSICAL_ADDR;
        return base + bz->init_size;
}

uint64_t boot_min_ram(const struct boot_image *img)
{
        uint64_t need = kernel_end(&img->bz) + img->initrd_size;

        /* Leave the running kernel some room of its own too. */
        return (need + 16 * MiB + MiB - 1) & ~(MiB - 1);
}

int boot_initrd_addr(const struct bzimage *bz, uint64_t low_ram, uint64_t initrd_size, uint64_t *addr)
{
        uint64_t top = low_ram, a;

        if ((uint64_t)bz->initrd_addr_max + 1 < top)
                top = (uint64_t)bz->initrd_addr_max + 1;
        if (initrd_size > top)
                return -ENOSPC;
        a = (top - initrd_size) & ~UINT64_C(4095);
        if (a < kernel_end(bz))
                return -ENOSPC;
        *addr = a;
        return 0;
}

static void wr16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
        wr16(p, (uint16_t)v);
        wr16(p + 2, (uint16_t)(v >> 16));
}

static void wr64(uint8_t *p, uint64_t v)
{
        wr32(p, (uint32_t)v);
        wr32(p + 4, (uint32_t)(v >> 32));
}

/* Identity map of the low 4 GiB with 2 MiB pages: enough for the kernel,
 * zero page, command line and initrd, which all sit below 3 GiB. */
static int setup_page_tables(const struct guest_mem *m)
{
        uint8_t *pml4 = guest_mem_ptr(m, LAYOUT_PML4, 4096);
        uint8_t *pdpt = guest_mem_ptr(m, LAYOUT_PDPT, 4096);
        uint8_t *pd = guest_mem_ptr(m, LAYOUT_PD, 4 * 4096);

        if (!pml4 || !pdpt || !pd)
                return -EFAULT;
        memset(pml4, 0, 4096);
        memset(pdpt, 0, 4096);
        wr64(pml4, LAYOUT_PDPT | 0x3); /* present, writable */
        for (uint64_t i = 0; i < 4; i++)
                wr64(pdpt + 8 * i, (LAYOUT_PD + i * 4096) | 0x3);
        for (uint64_t i = 0; i < 4 * 512; i++)
                wr64(pd + 8 * i, (i << 21) | 0x83); /* present, writable, 2 MiB page */
        return 0;
}

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
        return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
               (limit & 0xffffu) | ((uint64_t)(limit & 0xf0000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40);
}

/* boot.rst "64-bit BOOT PROTOCOL": __BOOT_CS = 0x10, __BOOT_DS = 0x18. */
static int setup_gdt(const struct guest_mem *m, struct boot_entry *entry)
{
        const uint64_t gdt[] = {
                0,
                0,
                gdt_entry(0xa09b, 0, 0xfffff), /* 0x10: 64-bit code */
                gdt_entry(0xc093, 0, 0xfffff), /* 0x18: data */
                gdt_entry(0x008b, 0, 0x67),    /* 0x20: TSS (busy) */
                0,
        };
        uint8_t *p = guest_mem_ptr(m, LAYOUT_GDT, sizeof(gdt));

        if (!p)
                return -EFAULT;
        for (size_t i = 0; i < ARRAY_SIZE(gdt); i++)
                wr64(p + 8 * i, gdt[i]);
        entry->gdt = LAYOUT_GDT;
        entry->gdt_limit = sizeof(gdt) - 1;
        return 0;
}

int boot_setup(const struct guest_mem *m, const struct boot_image *img, const char *cmdline, unsigned ncpus,
               struct boot_entry *entry, struct vm_err *err)
{
        const struct bzimage *bz = &img->bz;
        struct e820_entry map[E820_MAX_ENTRIES];
        uint64_t kaddr = boot_kernel_addr(bz), initrd_addr = 0;
        size_t cmdlen = cmdline ? strlen(cmdline) : 0, acpi_len = 0;
        uint8_t *zp, *acpi;
        int n, r;

        if (m->low_size < boot_min_ram(img))
                return vm_err_set(err, -ENOSPC,
                                  "guest memory too small: this kernel%s needs at least %llu MiB (give more --memory)",
                                  img->initrd ? " and initrd" : "",
                                  (unsigned long long)(boot_min_ram(img) >> 20));
        if (cmdlen > bz->cmdline_size || cmdlen >= LAYOUT_CMDLINE_MAX)
                return vm_err_set(err, -E2BIG, "kernel command line too long: %zu bytes, this kernel takes at most %u",
                                  cmdlen, bz->cmdline_size);

        /* Protected-mode kernel. */
        if (guest_mem_write(m, kaddr, img->kernel + bz->payload_offset, bz->payload_size) < 0)
                return vm_err_set(err, -ENOSPC, "kernel does not fit in guest memory");

        if (img->initrd) {
                if (boot_initrd_addr(bz, m->low_size, img->initrd_size, &initrd_addr) < 0 ||
                    guest_mem_write(m, initrd_addr, img->initrd, img->initrd_size) < 0)
                        return vm_err_set(err, -ENOSPC,
                                          "initrd (%llu MiB) does not fit in guest memory next to the kernel (give more --memory)",
                                          (unsigned long long)(img->initrd_size >> 20));
        }

        if (guest_mem_write(m, LAYOUT_CMDLINE, cmdline ? cmdline : "", cmdlen + 1) < 0)
                return vm_err_set(err, -EFAULT, "cannot place the command line");

        acpi = guest_mem_ptr(m, LAYOUT_ACPI, LAYOUT_ACPI_SIZE);
        if (!acpi)
                return vm_err_set(err, -EFAULT, "cannot place ACPI tables");
        r = acpi_build(acpi, LAYOUT_ACPI_SIZE, LAYOUT_ACPI, ncpus, &acpi_len);
        if (r < 0)
                return vm_err_set(err, r, "cannot build ACPI tables for %u vCPUs", ncpus);

        /* Zero page: a copy of the setup header, then what the loader fills. */
        zp = guest_mem_ptr(m, LAYOUT_ZERO_PAGE, BP_SIZE);
        if (!zp)
                return vm_err_set(err, -EFAULT, "cannot place the zero page");
        memset(zp, 0, BP_SIZE);
        memcpy(zp + BZ_SETUP_SECTS, img->kernel + BZ_SETUP_SECTS, bz->header_end - BZ_SETUP_SECTS);
        zp[BZ_TYPE_OF_LOADER] = 0xff; /* undefined loader */
        zp[BZ_LOADFLAGS] = (uint8_t)((bz->loadflags | BZ_CAN_USE_HEAP) & ~0x20 /* QUIET off */);
        wr16(zp + BZ_HEAP_END_PTR, 0xfe00);
        wr32(zp + BZ_CMD_LINE_PTR, LAYOUT_CMDLINE);
        wr32(zp + BP_EXT_CMD_LINE_PTR, 0);
        wr32(zp + BZ_RAMDISK_IMAGE, (uint32_t)initrd_addr);
        wr32(zp + BZ_RAMDISK_SIZE, (uint32_t)img->initrd_size);
        wr32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
        wr32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)img->initrd_size >> 32));
        wr64(zp + BP_ACPI_RSDP_ADDR, LAYOUT_ACPI);

        n = e820_build(m->low_size, m->high_size, map, ARRAY_SIZE(map));
        if (n < 0)
                return vm_err_set(err, n, "cannot build the e820 map");
        zp[BP_E820_ENTRIES] = (uint8_t)n;
        memcpy(zp + BP_E820_TABLE, map, (size_t)n * sizeof(map[0]));

        if (setup_page_tables(m) < 0 || setup_gdt(m, entry) < 0)
                return vm_err_set(err, -EFAULT, "cannot place page tables");
        entry->rip = kaddr + BZ_ENTRY64_OFFSET;
        entry->rsi = LAYOUT_ZERO_PAGE;
        entry->cr3 = LAYOUT_PML4;
        return 0;
}
