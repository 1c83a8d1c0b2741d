/* Shared by the libFuzzer targets over guest-RAM structures: a fake guest
 * RAM with its bounds-checked translation (struct vq_mem's), and reading
 * little-endian values off the fuzzer's input. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

struct fuzz_ram {
        uint8_t *p;
        uint64_t size;
};

static inline void *fuzz_translate(void *opaque, uint64_t gpa, uint64_t len)
{
        struct fuzz_ram *r = opaque;
        return range_ok(gpa, len, r->size) ? r->p + gpa : NULL;
}

/* The next n bytes of input (fewer at its end, then 0s) as a number. */
static inline uint64_t fuzz_get(const uint8_t **data, size_t *size, unsigned n)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < n && *size; i++, (*data)++, (*size)--)
                v |= (uint64_t)**data << (8 * i);
        return v;
}
