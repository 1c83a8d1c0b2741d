/* seccomp-bpf allowlists for vdi-vm's thread classes (jail.h).
 *
 * Why a trap and not SCMP_ACT_KILL_PROCESS directly: a killed process
 * leaves only "SIGSYS" behind, with no syscall and no thread; the kernel's
 * audit record is not where vdi-hostd looks. A trap lets a handler in the
 * dying process name the call and the thread class on stderr (vdi-vm.log)
 * and then die of the same rule that kills anyone touching SIGSYS's
 * disposition, so an exploited thread can neither ignore the trap nor
 * replace the reporter: both end in KILL_PROCESS. A blocked or ignored
 * SIGSYS is reset to its default by the kernel for seccomp traps, which
 * kills too. */
#include "config.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"

/* Every class: memory, locks, time, signals (but SIGSYS), thread exit. */
static const char *const common_calls[] = {
        "read", "write", "readv", "writev", "close", "futex", "rt_sigreturn", "rt_sigprocmask",
        "exit", "exit_group", "restart_syscall", "mmap", "munmap", "mremap", "mprotect", "madvise", "brk",
        "clock_gettime", "clock_nanosleep", "nanosleep", "gettid", "getpid", "tgkill", "sched_yield",
        "getrandom", "sigaltstack", "set_robust_list", "rseq", "fstat", "newfstatat", "getcpu",
        "sched_getaffinity", "gettimeofday", "time", /* no vDSO clock in some guests (the lab's TCG) */
        /* a thread made by a confined one confines itself further: filters
         * only ever narrow (with PR_SET_NO_NEW_PRIVS, see add_arg_rules) */
        "seccomp",
};

/* KVM_RUN and what the exits need: the console pipe, ioeventfd-less
 * doorbells, pausing for snapshots. */
static const char *const vcpu_calls[] = {
        "ioctl", /* KVM ioctls only (see add_ioctl) */
        "poll",
        "timerfd_settime", /* the HD Audio card's clock, started by a register write */
};

/* Virtqueue workers: disks (pread/pwrite, flush, discard), taps,
 * eventfds, the serial input. */
static const char *const device_calls[] = {
        "ioctl", "poll", "ppoll", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
        "fsync", "fdatasync", "fallocate", "ftruncate", "lseek",
        "timerfd_settime", /* the HD Audio card's thread stops its clock */
};

/* The GLib loop with spice-server, FreeRDP and libsoup, and GStreamer,
 * which loads encoder plugins when a client first asks for video. The
 * widest class: measured with strace under the real clients of tests/rdp,
 * tests/spice and tests/web. */
static const char *const display_calls[] = {
        "ioctl", "poll", "ppoll", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
        "eventfd2", "pipe2", "timerfd_create", "timerfd_settime", "timer_create", "timer_settime",
        "timer_delete", "accept", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg", "sendmmsg",
        "setsockopt", "getsockopt", "getsockname", "getpeername", "shutdown", "fcntl", "dup", "dup3",
        "openat", "newfstatat", "fstat", "statx", "statfs", "fstatfs", "lseek", "pread64", "getdents64",
        "access", "faccessat", "faccessat2", "readlink", "readlinkat", "clone", "clone3", "sched_getaffinity",
        "sched_setaffinity", "sched_getattr", "sched_setattr", "prctl", "uname", "sysinfo", "getuid",
        "geteuid", "getgid", "getegid", "getresuid", "getresgid", "prlimit64", "getpriority", "setpriority",
        "memfd_create", "socketpair", "rt_sigaction", "getrusage", "fadvise64", "set_tid_address",
        /* listening sockets (made on this thread, see add_arg_rules) */
        "socket", "bind", "listen",
        /* the RDP server's one-time ticket files: a private directory
         * (mkdtemp), a SAM file written and renamed, removed after use */
        "mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir",
        "clock_getres", "getcwd", "sched_getparam", "sched_getscheduler", "umask",
        "ftruncate", /* GStreamer's shared memory */
};

/* main (boots and reboots the machine, so it needs all the vCPU and
 * device calls too: a filter stacks on the one of the thread that made
 * it), the control socket (screenshots, snapshots), signals. */
static const char *const control_calls[] = {
        "ioctl", "poll", "ppoll", "accept", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg",
        "shutdown", "fcntl", "openat", "mkdirat", "mkdir", "unlinkat", "renameat", "rename", "fstat",
        "newfstatat", "lseek", "pread64", "pwrite64", "ftruncate", "fallocate", "fsync", "fdatasync",
        "eventfd2", "pipe2", "clone", "clone3", "prctl", "rt_sigtimedwait", "rt_sigaction", "dup",
        "sched_getaffinity", "getdents64", "access", "faccessat", "faccessat2", "unlink", "rmdir",
        /* snapshots: the disks linked into the snapshot, made read-only;
         * realpath of its directory (and, in test builds, the leak check's
         * module list at exit: the raw readlink of /proc/self/exe) */
        "link", "linkat", "chmod", "fchmodat", "readlink",
        /* live migration's source dials the target (unix: or tcp:, see
         * add_arg_rules for the families); no listening */
        "socket", "connect", "setsockopt", "getsockopt",
};

/* glibc's setuid() makes every thread call these (SIGSETXID). */
static const char *const setxid_calls[] = {
        "setresuid", "setresgid", "setgroups", "setuid", "setgid",
};

#ifdef __SANITIZE_ADDRESS__
/* The sanitizer runtime (test builds only): leak checking stops the world
 * through a ptrace-ing clone (from main, whose class opens files anyway;
 * a report from a narrower thread dies as a violation when it starts
 * symbolizing, after its first line). That clone blocks every signal, so a
 * call missing here kills it without a report, and the exiting process then
 * waits for it forever in sched_yield: it lists /proc/self/task with the
 * legacy open and getdents and checks its parent with getppid (found with
 * SCMP_ACT_LOG as the default action: the kernel's audit lines name them).
 * Before it starts, main lists the modules (readlink, in control_calls).
 * VDI_JAIL_STRICT=1 (tests) drops these allowances and the leak check,
 * so that a sanitizer build runs under the release build's filters. */
static const char *const sanitizer_calls[] = {
        "open", "getdents", "getppid",
        "ptrace", "wait4", "waitid", "newfstatat", "fstat", "prctl", "clone",
        "sched_getaffinity", "getdents64", "pread64", "lseek", "rt_sigaction", "dup", "pipe2", "fcntl",
        "munmap", "setrlimit", "getrlimit", "prlimit64", "sched_yield", "kill",
};
#endif

#ifdef __SANITIZE_ADDRESS__
static atomic_bool strict; /* VDI_JAIL_STRICT: the release filters */

/* LeakSanitizer asks this before its check at exit, whose calls are the
 * allowances that strict mode leaves out. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
        return atomic_load(&strict);
}
#endif

struct class_table {
        const char *name;
        const char *const *calls;
        size_t n;
};

#define TABLE(nm, t) { nm, t, sizeof(t) / sizeof((t)[0]) }
static const struct class_table tables[JAIL_NCLASSES] = {
        [JAIL_CONTROL] = TABLE("control", control_calls),
        [JAIL_VCPU] = TABLE("vcpu", vcpu_calls),
        [JAIL_DEVICE] = TABLE("device", device_calls),
        [JAIL_DISPLAY] = TABLE("display", display_calls),
};

/* Process state for the signal handler (set once in jail_arm, before any
 * thread exists): names by syscall number, and the switch. */
#define JAIL_MAX_NR 512
static const char *syscall_names[JAIL_MAX_NR];
static atomic_bool armed, privileged_phase;
static __thread int thread_class = -1;

const char *jail_class_name(enum jail_class c)
{
        return (unsigned)c < JAIL_NCLASSES ? tables[c].name : NULL;
}

int jail_class_syscalls(enum jail_class c, const char *const **names, size_t *n)
{
        if ((unsigned)c >= JAIL_NCLASSES)
                return -EINVAL;
        *names = tables[c].calls;
        *n = tables[c].n;
        return 0;
}

/* ---- the SIGSYS reporter (async-signal-safe only) ---- */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
        while (*s && at + 1 < cap)
                buf[at++] = *s++;
        return at;
}

static size_t put_uint(char *buf, size_t at, size_t cap, unsigned long v)
{
        char tmp[24];
        size_t n = 0;

        do
                tmp[n++] = (char)('0' + v % 10);
        while ((v /= 10) && n < sizeof(tmp));
        while (n && at + 1 < cap)
                buf[at++] = tmp[--n];
        return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
        char line[256], comm[17] = "";
        unsigned nr = (unsigned)si->si_syscall;
        const char *name = nr < JAIL_MAX_NR && syscall_names[nr] ? syscall_names[nr] : "unknown";
        const char *cls = jail_class_name((enum jail_class)thread_class);
        size_t at = 0;

        (void)sig;
        (void)uc;
        prctl(PR_GET_NAME, comm, 0, 0, 0);
        at = put_str(line, at, sizeof(line), "level=error event=seccomp_violation syscall=");
        at = put_str(line, at, sizeof(line), name);
        at = put_str(line, at, sizeof(line), " nr=");
        at = put_uint(line, at, sizeof(line), nr);
        at = put_str(line, at, sizeof(line), " class=");
        /* Threads that libraries start inherit their creator's filter. */
        at = put_str(line, at, sizeof(line), cls ? cls : "inherited");
        at = put_str(line, at, sizeof(line), " thread=");
        /* Library threads name themselves: keep the line one token. */
        for (size_t i = 0; comm[i] && i < 16; i++)
                if (comm[i] <= ' ' || comm[i] >= 127 || comm[i] == '"')
                        comm[i] = '_';
        at = put_str(line, at, sizeof(line), comm);
        line[at++] = '\n'; /* put_str leaves room for it */
        (void)!write(STDERR_FILENO, line, at);
        /* Every filter kills the process for this call. */
        syscall(SYS_rt_sigaction, SIGSYS, NULL, NULL, 8);
        _exit(128 + SIGSYS);
}

/* ---- filters ---- */

static int allow_names(scmp_filter_ctx f, const char *const *calls, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                int nr = seccomp_syscall_resolve_name(calls[i]);
                int r;

                if (nr == __NR_SCMP_ERROR)
                        return -ENOENT;
                if (nr == __NR_ioctl || nr == __NR_clone || nr == __NR_clone3 || nr == __NR_prctl ||
                    nr == __NR_rt_sigaction || nr == __NR_socket)
                        continue; /* with argument rules below */
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool lists(const struct class_table *t, int nr)
{
        for (size_t i = 0; i < t->n; i++)
                if (seccomp_syscall_resolve_name(t->calls[i]) == nr)
                        return true;
        return false;
}

/* The calls whose arguments narrow them. ioctl: KVM's (type 0xAE) for the
 * VMM classes; the display also gets the socket/tty queries its libraries
 * make, the device class the tap's TUNSETOFFLOAD. clone: threads only (no fork, no exec of anything); clone3 hides
 * its flags in memory, so it answers ENOSYS and glibc falls back to clone.
 * prctl: thread names. rt_sigaction: anything but SIGSYS, which kills.
 * socket: IPv4, IPv6, Unix and route netlink (no packet sockets, no
 * other netlink families). */
/* int arguments arrive in 64-bit registers whose upper half the kernel
 * does not clear: compare the low 32 bits only. */
#define INT_ARG 0xffffffffULL

static int add_arg_rules(scmp_filter_ctx f, enum jail_class c, bool sanitizer)
{
        const struct class_table *t = &tables[c];
        int r = 0;

        if (lists(t, __NR_ioctl)) {
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_ioctl, 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, 0xae00));
                if (r >= 0 && c == JAIL_DISPLAY)
                        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_ioctl, 1,
                                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, 0x5400)); /* FIONREAD, FIONBIO, TCGETS */
                /* virtio-net's device thread sets the tap's offloads to
                 * what the driver acked (main, a superset, too) */
                if (r >= 0 && (c == JAIL_DEVICE || c == JAIL_CONTROL))
                        r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_ioctl, 1,
                                             SCMP_A1(SCMP_CMP_MASKED_EQ, INT_ARG, TUNSETOFFLOAD));
        }
        for (int i = 0; r >= 0 && lists(t, __NR_socket) && i < 3; i++)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_socket, 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, INT_ARG, (int[]){ AF_INET, AF_INET6, AF_UNIX }[i]));
        if (r >= 0 && lists(t, __NR_socket)) /* getaddrinfo's AI_ADDRCONFIG reads the addresses */
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_socket, 2, SCMP_A0(SCMP_CMP_MASKED_EQ, INT_ARG, AF_NETLINK),
                                     SCMP_A2(SCMP_CMP_MASKED_EQ, INT_ARG, NETLINK_ROUTE));
        /* getaddrinfo sorts addresses by connecting UDP sockets: it copes
         * with a refusal, and the display thread never dials out. */
        if (r >= 0 && lists(t, __NR_socket) && !lists(t, __NR_connect))
                r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), __NR_connect, 0);
        if (r >= 0 && (lists(t, __NR_clone) || sanitizer))
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_clone, 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
        if (r >= 0 && sanitizer)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_clone, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
        if (r >= 0 && (lists(t, __NR_clone3) || sanitizer))
                r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), __NR_clone3, 0);
        if (r >= 0 && !sanitizer)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_prctl, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, INT_ARG, PR_GET_NAME));
        if (r >= 0 && !sanitizer)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_prctl, 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, INT_ARG, PR_SET_NO_NEW_PRIVS));
        if (r >= 0 && (lists(t, __NR_prctl) && !sanitizer))
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_prctl, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, INT_ARG, PR_SET_NAME));
        if (r >= 0 && sanitizer)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_prctl, 0);
        if (r >= 0 && (lists(t, __NR_rt_sigaction) || sanitizer))
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_rt_sigaction, 1, SCMP_A0(SCMP_CMP_LT, SIGSYS));
        if (r >= 0 && (lists(t, __NR_rt_sigaction) || sanitizer))
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, __NR_rt_sigaction, 1, SCMP_A0(SCMP_CMP_GT, SIGSYS));
        if (r >= 0)
                r = seccomp_rule_add(f, SCMP_ACT_KILL_PROCESS, __NR_rt_sigaction, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, INT_ARG, SIGSYS));
        return r;
}

static int build(enum jail_class c, scmp_filter_ctx f)
{
        bool sanitizer = false;
        int r;

#ifdef __SANITIZE_ADDRESS__
        sanitizer = !atomic_load(&strict);
        r = sanitizer ? allow_names(f, sanitizer_calls, sizeof(sanitizer_calls) / sizeof(sanitizer_calls[0])) : 0;
        if (r < 0)
                return r;
#endif
        r = allow_names(f, common_calls, sizeof(common_calls) / sizeof(common_calls[0]));
        if (r >= 0)
                r = allow_names(f, tables[c].calls, tables[c].n);
        if (r >= 0 && c == JAIL_CONTROL) {
                /* main creates the vCPU and serial threads: their filters
                 * stack on its own, so it must allow what they do. */
                r = allow_names(f, vcpu_calls, sizeof(vcpu_calls) / sizeof(vcpu_calls[0]));
                if (r >= 0)
                        r = allow_names(f, device_calls, sizeof(device_calls) / sizeof(device_calls[0]));
        }
        if (r >= 0 && atomic_load(&privileged_phase))
                r = allow_names(f, setxid_calls, sizeof(setxid_calls) / sizeof(setxid_calls[0]));
        if (r >= 0)
                r = add_arg_rules(f, c, sanitizer);
        return r;
}

int jail_enter(enum jail_class c)
{
        scmp_filter_ctx f;
        sigset_t sys;
        int r;

        if ((unsigned)c >= JAIL_NCLASSES)
                return -EINVAL;
        /* Threads that start with every signal blocked (the control
         * socket's, the devices') must still run the reporter: a blocked
         * SIGSYS kills without a word. */
        sigemptyset(&sys);
        sigaddset(&sys, SIGSYS);
        pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
        f = seccomp_init(SCMP_ACT_TRAP);
        if (!f)
                return -ENOMEM;
        r = build(c, f);
        if (r >= 0)
                r = seccomp_load(f); /* sets NO_NEW_PRIVS on this thread first */
        seccomp_release(f);
        if (r >= 0)
                thread_class = (int)c;
        return r < 0 ? r : 0;
}

void jail_thread(enum jail_class c)
{
        int r;

        if (!atomic_load(&armed))
                return;
        r = jail_enter(c);
        if (r < 0) {
                log_error("seccomp_failed", "class=%s error=\"%s\" effect=\"vdi-vm stops: a thread must not run unconfined\"",
                          jail_class_name(c), strerror(-r));
                abort();
        }
}

int jail_arm(bool privileged)
{
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

        for (int nr = 0; nr < JAIL_MAX_NR; nr++)
                syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
#ifdef __SANITIZE_ADDRESS__
        atomic_store(&strict, getenv("VDI_JAIL_STRICT") != NULL);
#endif
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSYS, &sa, NULL) < 0)
                return -errno;
        atomic_store(&privileged_phase, privileged);
        atomic_store(&armed, true);
        return 0;
}

#ifdef VDI_TEST_COMMANDS
const char *jail_debug_trip(void)
{
        (void)syscall(SYS_personality, 0xffffffffUL); /* query only */
        return "personality";
}
#endif

void jail_privileges_dropped(void)
{
        atomic_store(&privileged_phase, false);
}
