/* Overflow-checked size arithmetic and allocation. Sizes computed from
 * untrusted input (image headers, virtqueues, protocol messages) must go
 * through these. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* *out = a * b; returns false (leaving *out untouched) on overflow. */
static inline bool size_mul(size_t a, size_t b, size_t *out)
{
        size_t r;
        if (__builtin_mul_overflow(a, b, &r))
                return false;
        *out = r;
        return true;
}

/* *out = a + b; returns false (leaving *out untouched) on overflow. */
static inline bool size_add(size_t a, size_t b, size_t *out)
{
        size_t r;
        if (__builtin_add_overflow(a, b, &r))
                return false;
        *out = r;
        return true;
}

/* True when [off, off+len) lies inside [0, limit) without overflow. */
static inline bool range_ok(uint64_t off, uint64_t len, uint64_t limit)
{
        uint64_t end;
        if (__builtin_add_overflow(off, len, &end))
                return false;
        return end <= limit;
}

/* malloc(n * size); NULL with errno = ENOMEM on overflow or exhaustion. */
void *malloc_array(size_t n, size_t size);

/* calloc(n, size) that never returns a non-NULL pointer for an overflowed
 * size (glibc already checks; kept for symmetry and for n == 0 → 1 byte). */
void *calloc_array(size_t n, size_t size);

/* realloc(p, n * size); on failure p is untouched and NULL is returned. */
void *realloc_array(void *p, size_t n, size_t size);
