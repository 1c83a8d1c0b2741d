/* Helpers for the storage suites: temporary directories, running external
 * tools (qemu-img, qemu-io, vdi-img), patterns and a seeded PRNG. */
#pragma once

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "disk.h"

#ifndef QEMU_IMG
#define QEMU_IMG "qemu-img"
#endif

static char tmpdir[256];

static inline int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st; (void)flag; (void)ftw;
        return remove(p);
}

static inline void tmp_setup(void)
{
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmpdir, sizeof(tmpdir), "%s/vdi-storage-XXXXXX", base);
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static inline void tmp_teardown(void)
{
        if (tmpdir[0])
                nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Path of name inside the test's temporary directory (static buffer ring). */
static inline const char *tpath(const char *name)
{
        static char bufs[8][512];
        static unsigned i;
        char *b = bufs[i++ % 8];
        snprintf(b, 512, "%s/%s", tmpdir, name);
        return b;
}

/* Run a shell command; returns its exit status (or -1). Output is kept in
 * out (if given, up to size bytes). */
static inline int sh_out(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int sh_out(char *out, size_t size, const char *fmt, ...)
{
        char cmd[4096];
        va_list ap;
        FILE *p;
        size_t n = 0;
        int st;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        p = popen(cmd, "r");
        if (!p)
                return -1;
        if (out && size) {
                n = fread(out, 1, size - 1, p);
                out[n] = '\0';
        } else {
                char sink[4096];
                while (fread(sink, 1, sizeof(sink), p) > 0)
                        ;
        }
        st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
#define sh(...) sh_out(NULL, 0, __VA_ARGS__)

static inline const char *qemu_io(void)
{
        static char path[512];
        char *copy;
        if (!path[0]) {
                copy = strdup(QEMU_IMG);
                if (strchr(copy, '/'))
                        snprintf(path, sizeof(path), "%s/qemu-io", dirname(copy));
                else
                        snprintf(path, sizeof(path), "qemu-io");
                free(copy);
        }
        return path;
}

static inline bool have_qemu(void)
{
        return access(QEMU_IMG, X_OK) == 0 && access(qemu_io(), X_OK) == 0;
}

/* qemu-img check: 0 clean, 2 corruptions, 3 leaks; output kept for messages. */
static inline int qemu_check(const char *path, char *out, size_t size)
{
        return sh_out(out, size, "%s check -f qcow2 '%s' 2>&1", QEMU_IMG, path);
}

/* splitmix64 */
static inline uint64_t rng_next(uint64_t *s)
{
        uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static inline struct disk *open_or_fail(const char *path, enum disk_format f, unsigned flags)
{
        struct disk *d = NULL;
        char *err = NULL;
        int r = disk_open(path, f, flags, &d, &err);
        ck_assert_msg(r == 0, "open %s: %s", path, err ? err : strerror(-r));
        free(err);
        return d;
}

static inline void create_or_fail(const char *path, const struct disk_create_opts *o)
{
        char *err = NULL;
        int r = disk_create(path, o, &err);
        ck_assert_msg(r == 0, "create %s: %s", path, err ? err : strerror(-r));
        free(err);
}
