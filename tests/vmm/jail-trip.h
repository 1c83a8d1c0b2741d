/* One system call each seccomp class of vdi-vm (hostd/vmm/jail.h) must
 * not make, for the tests that trip them (tests/vmm/jail.c, the hostd
 * stand-in tests/hostd/jail-vm.c). */
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail.h"

static inline const char *jail_trip_name(enum jail_class c)
{
        return c == JAIL_DISPLAY ? "socket" : c == JAIL_CONTROL ? "execve" : "openat";
}

/* Make the call (raw: no libc detours); returns what it returned if the
 * filter let it through. */
static inline long jail_trip(enum jail_class c)
{
        switch (c) {
        case JAIL_VCPU:
        case JAIL_DEVICE:
                return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
        case JAIL_DISPLAY:
                /* sockets, but no packet sockets */
                return syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0);
        default:
                return syscall(SYS_execve, "/bin/true", NULL, NULL);
        }
}
