/* libFuzzer target: the initramfs scanner (cpio newc, gzip, zstd). */
#include "config.h"

#include <stdint.h>

#include "initrd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const names[] = { "virtio_pci", "virtio_blk" };
        bool found[2] = { false, false };
        const char *what = NULL;
        (void)initrd_find_modules(data, size, names, 2, found, &what);
        return 0;
}
