/* Small helpers shared by every module: cleanup attributes, ownership
 * hand-off and array sizes. See CONVENTIONS.md "Memory". */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

/* Return *p and set *p to NULL: ownership moves to the caller. */
#define TAKE_PTR(p)                                                            \
        ({                                                                     \
                __typeof__(p) *_pp = &(p);                                     \
                __typeof__(p) _v = *_pp;                                       \
                *_pp = NULL;                                                   \
                _v;                                                            \
        })

/* Return fd and set it to -1: ownership moves to the caller. */
#define TAKE_FD(fd)                                                            \
        ({                                                                     \
                int *_pfd = &(fd);                                             \
                int _v = *_pfd;                                                \
                *_pfd = -1;                                                    \
                _v;                                                            \
        })

static inline void freep(void *p)
{
        free(*(void **)p);
}

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Define a cleanup function "namep(type **)" calling "func(type *)". */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                \
        static inline void func##p(type *p)                                    \
        {                                                                      \
                if (*p)                                                        \
                        func(*p);                                              \
        }
