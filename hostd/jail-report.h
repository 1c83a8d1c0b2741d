/* What vdi-vm's SIGSYS reporter (hostd/vmm/jail.c) left in vdi-vm.log,
 * read back by vdi-hostd when a vdi-vm dies of SIGSYS. */
#ifndef VDI_HOSTD_JAIL_REPORT_H
#define VDI_HOSTD_JAIL_REPORT_H

#include <stddef.h>

struct jail_report {
        char syscall[32]; /* "openat" */
        char cls[16];     /* "display" */
        char thread[17];  /* the thread's name, "rdp-peer" */
};

/* The last "event=seccomp_violation" line of text[0..len) (any bytes, no
 * NUL needed). Values keep only [A-Za-z0-9_.-] and are cut to their
 * field; a missing one reads "unknown". Returns 0 and *out, or -ENOENT. */
int jail_report_find(const char *text, size_t len, struct jail_report *out);

#endif
