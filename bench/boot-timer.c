/* bench/boot-timer — time from starting a VMM to a line on its console.
 *
 *   boot-timer [-l LOG] TIMEOUT_S PATTERN CMD [ARGS...]
 *
 * Starts CMD with stdout and stderr on a pipe, and prints
 * "ready_ms=<ms from fork to the first line containing PATTERN> exit=<status>"
 * once CMD has exited (killed after 60 s more if it does not). Exit 0 when
 * PATTERN was seen, 1 when not (timeout or CMD exited first), 2 on usage. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GRACE_MS 60000

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
        const char *log = NULL, *pattern;
        char line[8192];
        size_t len = 0;
        double t0, ready = -1, deadline;
        int p[2], logfd = -1, status = 0, opt;
        long timeout_s;
        pid_t pid;
        int open_pipe = 1;

        while ((opt = getopt(argc, argv, "+l:")) != -1) {
                if (opt != 'l') {
                        fprintf(stderr, "usage: boot-timer [-l LOG] TIMEOUT_S PATTERN CMD [ARGS...]\n");
                        return 2;
                }
                log = optarg;
        }
        if (argc - optind < 3) {
                fprintf(stderr, "usage: boot-timer [-l LOG] TIMEOUT_S PATTERN CMD [ARGS...]\n");
                return 2;
        }
        timeout_s = strtol(argv[optind], NULL, 10);
        pattern = argv[optind + 1];
        if (log && (logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
                fprintf(stderr, "boot-timer: %s: %s\n", log, strerror(errno));
                return 2;
        }
        if (pipe2(p, O_CLOEXEC) < 0) {
                perror("boot-timer: pipe");
                return 2;
        }
        t0 = now_ms();
        pid = fork();
        if (pid < 0) {
                perror("boot-timer: fork");
                return 2;
        }
        if (pid == 0) {
                setpgid(0, 0);
                dup2(p[1], STDOUT_FILENO);
                dup2(p[1], STDERR_FILENO);
                execvp(argv[optind + 2], argv + optind + 2);
                fprintf(stderr, "boot-timer: cannot run %s: %s\n", argv[optind + 2], strerror(errno));
                _exit(127);
        }
        close(p[1]);
        deadline = t0 + (double)timeout_s * 1e3;

        while (open_pipe) {
                struct pollfd pfd = { .fd = p[0], .events = POLLIN };
                double left = deadline - now_ms();
                ssize_t n;

                if (left <= 0)
                        break;
                if (poll(&pfd, 1, (int)left) <= 0)
                        continue;
                n = read(p[0], line + len, sizeof(line) - 1 - len);
                if (n <= 0)
                        break; /* EOF: the command exited */
                if (logfd >= 0 && write(logfd, line + len, (size_t)n) < 0)
                        logfd = -1;
                len += (size_t)n;
                line[len] = '\0';
                if (ready < 0 && strstr(line, pattern)) {
                        ready = now_ms() - t0;
                        deadline = now_ms() + GRACE_MS; /* let it finish (poweroff) */
                }
                /* Keep only the unfinished last line. */
                {
                        char *nl = strrchr(line, '\n');
                        if (nl) {
                                size_t rest = len - (size_t)(nl + 1 - line);
                                memmove(line, nl + 1, rest);
                                len = rest;
                        } else if (len == sizeof(line) - 1) {
                                len = 0;
                        }
                }
        }
        /* Give it a few seconds to exit on its own, then kill it. */
        for (int i = 0; i < 500; i++) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        goto done;
                usleep(10000);
        }
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
done:
        printf("ready_ms=%.0f exit=%d\n", ready, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return ready >= 0 ? 0 : 1;
}
