#include "config.h"

#include "alloc.h"

#include <errno.h>
#include <stdlib.h>

void *malloc_array(size_t n, size_t size)
{
        size_t total;
        if (!size_mul(n, size, &total)) {
                errno = ENOMEM;
                return NULL;
        }
        return malloc(total ? total : 1);
}

void *calloc_array(size_t n, size_t size)
{
        size_t total;
        if (!size_mul(n, size, &total)) {
                errno = ENOMEM;
                return NULL;
        }
        return calloc(total ? n : 1, total ? size : 1);
}

void *realloc_array(void *p, size_t n, size_t size)
{
        size_t total;
        if (!size_mul(n, size, &total)) {
                errno = ENOMEM;
                return NULL;
        }
        return realloc(p, total ? total : 1);
}
