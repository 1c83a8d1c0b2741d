/* seccomp-bpf allowlists for vdi-vm's threads, one per thread class.
 *
 * Each long-lived thread calls jail_thread(CLASS) when it starts; once
 * jail_arm() ran, that installs the class's filter on the calling thread
 * (threads it creates later inherit it). Calls outside the list trap
 * (SIGSYS): the handler writes one line to stderr,
 *   level=error event=seccomp_violation syscall=NAME nr=N class=CLASS thread=COMM
 * and then kills the whole process (every filter answers KILL_PROCESS to
 * rt_sigaction(SIGSYS), which is also what the handler calls), so vdi-hostd
 * sees vdi-vm die of SIGSYS and finds the line in vdi-vm.log. */
#ifndef VDI_VMM_JAIL_H
#define VDI_VMM_JAIL_H

#include <stdbool.h>
#include <stddef.h>

enum jail_class {
        JAIL_CONTROL, /* main, control socket, signals, console tee */
        JAIL_VCPU,    /* KVM_RUN and port/MMIO exits */
        JAIL_DEVICE,  /* virtio queues, disks, taps, serial input */
        JAIL_DISPLAY, /* GLib loop with SPICE, RDP, web servers, GStreamer */
        JAIL_NCLASSES,
};

/* "control", "vcpu", "device", "display"; NULL out of range. */
const char *jail_class_name(enum jail_class c);

/* The class's own allowlist (syscall names, without the calls every
 * class may make); *n entries. -EINVAL for an unknown class. */
int jail_class_syscalls(enum jail_class c, const char *const **names, size_t *n);

/* Install the SIGSYS reporter and arm jail_thread(). privileged: vdi-vm
 * still runs as root and will switch users later (glibc then makes every
 * thread call setresuid/setresgid/setgroups, so threads confined before
 * that allow those). Call once from main before threads start. Returns 0
 * or a negative errno. */
int jail_arm(bool privileged);

/* The switch of users is done: filters installed from now on omit the
 * set*id calls. */
void jail_privileges_dropped(void);

/* Confine the calling thread to class c now (jail_arm must have run).
 * Returns 0 or a negative errno; the thread is unconfined on error. */
int jail_enter(enum jail_class c);

/* For libvmm's threads: jail_enter(c) if armed, nothing otherwise. A
 * thread that cannot be confined aborts the process (it must not run
 * free). Fuzz targets, which link device code without this module and
 * start no threads, see a no-op. */
#ifdef VDI_TEST_COMMANDS
/* Test builds only (configure --enable-test-commands, on with
 * --enable-sanitizers): make a call that no class allows, personality(2)
 * as a query, harmless when it is let through. Under seccomp it does not
 * return; else it returns the name of the call it made. */
const char *jail_debug_trip(void);
#endif

#ifdef FUZZING
static inline void jail_thread(enum jail_class c)
{
        (void)c;
}
#else
void jail_thread(enum jail_class c);
#endif

#endif
