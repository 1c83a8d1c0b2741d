/* tests/hostd/net-tap NAME BRIDGE [VLAN] -- CMD ARGS...
 *
 * Lab helper: make tap NAME on BRIDGE (VLAN 0 = none) with vdi-hostd's
 * code (hostd/net.c), run CMD with the tap as fd 3 (as vdi-hostd runs
 * vdi-vm with --net fd=N), then check that the tap is gone once CMD has
 * exited. Exit: CMD's status; 97 when the tap outlived it; 98 when it
 * could not be made (message on stderr). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostd/net.h"

int main(int argc, char **argv)
{
        char err[256], path[64];
        int fd, vlan = 0, argi = 3, st;
        pid_t pid;

        if (argc < 5)
                goto usage;
        if (strcmp(argv[3], "--") != 0) {
                vlan = atoi(argv[3]);
                argi = 4;
        }
        if (strcmp(argv[argi], "--") != 0 || argi + 1 >= argc)
                goto usage;
        if (net_tap_create(argv[1], argv[2], vlan, getuid(), getgid(), &fd, err, sizeof(err)) < 0) {
                fprintf(stderr, "net-tap: %s\n", err);
                return 98;
        }
        pid = fork();
        if (pid == 0) {
                /* dup2 onto itself would keep close-on-exec. */
                if (fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(fd, 3) < 0)
                        _exit(127);
                execvp(argv[argi + 1], argv + argi + 1);
                perror("net-tap: exec");
                _exit(127);
        }
        close(fd);
        if (pid < 0 || waitpid(pid, &st, 0) != pid)
                return 98;
        snprintf(path, sizeof(path), "/sys/class/net/%s", argv[1]);
        if (access(path, F_OK) == 0) {
                fprintf(stderr, "net-tap: tap %s is still there after its VM exited\n", argv[1]);
                return 97;
        }
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
usage:
        fprintf(stderr, "usage: net-tap NAME BRIDGE [VLAN] -- CMD ARGS...\n");
        return 2;
}
