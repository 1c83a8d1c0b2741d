/* libFuzzer target: the MBR/GPT parser (hostd/storage/partition.c). The
 * input is the start of a disk; the disk is as long as the input, or as
 * long as its first 8 bytes say (to reach the size checks), reads past
 * the input return zeros. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "partition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct buf {
        const uint8_t *p;
        size_t n;
};

static int rd(void *ctx, void *out, uint64_t len, uint64_t off)
{
        const struct buf *b = ctx;
        memset(out, 0, len);
        if (off < b->n)
                memcpy(out, b->p + off, b->n - off < len ? b->n - off : len);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct buf b = { data, size };
        static struct part_table t;
        uint64_t disk_size = size;
        char *err = NULL;

        if (size >= 1032 && data[1024] == 'Z') /* a claimed size, up to 1 TiB */
                memcpy(&disk_size, data + 1025, 5), disk_size &= (1ULL << 40) - 1;
        if (part_read_table(rd, &b, disk_size, &t, &err) == 0) {
                if (t.n > PART_MAX)
                        abort();
                for (unsigned i = 0; i < t.n; i++) {
                        if (t.parts[i].offset + t.parts[i].size > disk_size)
                                abort();
                        (void)part_type_name(&t.parts[i]);
                }
        }
        free(err);
        return 0;
}
