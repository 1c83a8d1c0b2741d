/* Small helpers shared by the storage benchmarks (bench/clone, bench/qcow2-io). */
#pragma once

#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef QEMU_IMG
#define QEMU_IMG "qemu-img"
#endif

extern char **environ;

static inline double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static inline double median(double *v, size_t n)
{
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints what a failed command wrote to stderr (kept in err; its last 4 KiB). */
static inline void show_stderr(const char *prog, FILE *err)
{
        char buf[4096];
        long end;
        size_t n;

        if (!err || fseek(err, 0, SEEK_END) != 0 || (end = ftell(err)) <= 0)
                return;
        fseek(err, end > (long)sizeof(buf) ? end - (long)sizeof(buf) : 0, SEEK_SET);
        n = fread(buf, 1, sizeof(buf), err);
        fprintf(stderr, "--- %s's stderr ---\n%.*s%s", prog, (int)n, buf,
                n && buf[n - 1] != '\n' ? "\n" : "");
}

/* Run argv with stdout silenced (if out == NULL); 0 on exit 0. With out,
 * stdout is captured (up to size bytes). Its stderr is kept and printed
 * when it fails. */
static inline int run_argv(char *const argv[], char *out, size_t size)
{
        posix_spawn_file_actions_t fa;
        int p[2] = { -1, -1 }, st, ok;
        FILE *err = tmpfile();
        pid_t pid;

        posix_spawn_file_actions_init(&fa);
        if (out) {
                if (pipe(p) < 0) {
                        if (err)
                                fclose(err);
                        return -1;
                }
                posix_spawn_file_actions_adddup2(&fa, p[1], 1);
                posix_spawn_file_actions_addclose(&fa, p[0]);
        } else {
                posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
        }
        if (err)
                posix_spawn_file_actions_adddup2(&fa, fileno(err), 2);
        if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
                posix_spawn_file_actions_destroy(&fa);
                if (err)
                        fclose(err);
                return -1;
        }
        posix_spawn_file_actions_destroy(&fa);
        if (out) {
                size_t n = 0;
                ssize_t r;
                close(p[1]);
                while (n + 1 < size && (r = read(p[0], out + n, size - 1 - n)) > 0)
                        n += (size_t)r;
                out[n] = '\0';
                close(p[0]);
        }
        ok = waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!ok)
                show_stderr(argv[0], err);
        if (err)
                fclose(err);
        return ok ? 0 : -1;
}

/* Directory of the running executable (for sibling helpers). */
static inline void self_dir(char *buf, size_t size)
{
        ssize_t n = readlink("/proc/self/exe", buf, size - 1);
        if (n <= 0) {
                snprintf(buf, size, ".");
                return;
        }
        buf[n] = '\0';
        char *slash = strrchr(buf, '/');
        if (slash)
                *slash = '\0';
}
