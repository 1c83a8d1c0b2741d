/* vdi-vm's seccomp filters (hostd/vmm/jail.c), without KVM: the tables,
 * and in a child process per class a thread confined to that class that
 * makes one allowed and one forbidden call; the forbidden one must kill
 * the whole child with SIGSYS after the report line. */
#include "config.h"

#include <linux/if_tun.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "check-main.h"
#include "jail-trip.h"

/* What no class may ever make: leaving the jail, reaching other processes
 * or dialling out. */
static const char *const never[] = {
        "execve", "execveat", "fork", "vfork", "mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
        "bpf", "perf_event_open", "kexec_load", "init_module", "finit_module", "process_vm_writev",
        "process_vm_readv", "open_by_handle_at", "keyctl", "add_key", "userfaultfd", "kill", "ptrace",
};

START_TEST(test_tables)
{
        for (int c = 0; c < JAIL_NCLASSES; c++) {
                const char *const *names;
                size_t n;

                ck_assert_ptr_nonnull(jail_class_name(c));
                ck_assert_int_eq(jail_class_syscalls(c, &names, &n), 0);
                ck_assert_uint_gt(n, 0);
                for (size_t i = 0; i < n; i++) {
                        ck_assert_msg(seccomp_syscall_resolve_name(names[i]) != __NR_SCMP_ERROR,
                                      "class %s: unknown syscall %s", jail_class_name(c), names[i]);
                        for (size_t k = 0; k < sizeof(never) / sizeof(never[0]); k++)
                                ck_assert_msg(strcmp(names[i], never[k]) != 0, "class %s allows %s",
                                              jail_class_name(c), never[k]);
                        /* only live migration's source (control) dials out */
                        ck_assert_msg(c == JAIL_CONTROL || strcmp(names[i], "connect") != 0, "class %s connects",
                                      jail_class_name(c));
                }
        }
        ck_assert_str_eq(jail_class_name(JAIL_DISPLAY), "display");
        /* Only the display thread listens. */
        for (int c = 0; c < JAIL_NCLASSES; c++) {
                const char *const *names;
                size_t n;
                bool has = false;

                jail_class_syscalls(c, &names, &n);
                for (size_t i = 0; i < n; i++)
                        has = has || strcmp(names[i], "bind") == 0 || strcmp(names[i], "listen") == 0;
                ck_assert_msg(has == (c == JAIL_DISPLAY), "class %s and listening sockets", jail_class_name(c));
        }
        ck_assert_ptr_null(jail_class_name(JAIL_NCLASSES));
        ck_assert_ptr_null(jail_class_name((enum jail_class)-1));
}
END_TEST

START_TEST(test_bad_class)
{
        const char *const *names = NULL;
        size_t n = 0;

        ck_assert_int_eq(jail_class_syscalls(JAIL_NCLASSES, &names, &n), -EINVAL);
        ck_assert_ptr_null(names);
        ck_assert_int_eq(jail_enter(JAIL_NCLASSES), -EINVAL);
}
END_TEST

enum attempt {
        ATTEMPT_NOTHING,   /* allowed calls only: exits 0 */
        ATTEMPT_FORBIDDEN, /* the class's forbidden call */
        ATTEMPT_SIGSYS,    /* replace the reporter */
        ATTEMPT_DEBUG,     /* the control socket's jail-trip (test builds) */
        ATTEMPT_BLOCKED,   /* the forbidden call, every signal blocked */
};

struct job {
        enum jail_class cls;
        enum attempt what;
        int result;
};

static void *confined(void *arg)
{
        struct job *j = arg;
        char *mem;

        prctl(PR_SET_NAME, "jt-worker", 0, 0, 0);
        if (j->what == ATTEMPT_BLOCKED) { /* as the control and device threads start */
                sigset_t all;
                sigfillset(&all);
                pthread_sigmask(SIG_BLOCK, &all, NULL);
        }
        j->result = jail_enter(j->cls);
        if (j->result < 0)
                return NULL;
        /* Allowed in every class: memory, locks, the log. */
        mem = malloc(1 << 20);
        memset(mem, 1, 1 << 20);
        free(mem);
        /* virtio-net's thread sets the tap's offloads (the KVM lab's
         * bridged guest died of it) */
        if (j->cls == JAIL_DEVICE && (ioctl(-1, TUNSETOFFLOAD, 0UL) == 0 || errno != EBADF))
                return NULL;
        (void)!write(STDERR_FILENO, "alive\n", 6);
        if (j->what == ATTEMPT_FORBIDDEN || j->what == ATTEMPT_BLOCKED)
                j->result = (int)jail_trip(j->cls);
#ifdef VDI_TEST_COMMANDS
        else if (j->what == ATTEMPT_DEBUG)
                j->result = jail_debug_trip() ? -1 : 0;
#endif
        else if (j->what == ATTEMPT_SIGSYS)
                j->result = sigaction(SIGSYS, &(struct sigaction){ .sa_handler = SIG_IGN }, NULL);
        return NULL;
}

/* main, confined to control, starts the vCPU threads, which confine
 * themselves further: that must work (the lab found it did not). */
static void *inner(void *arg)
{
        struct job *j = arg;

        j->result = jail_enter(JAIL_VCPU);
        return NULL;
}

static void *stacked(void *arg)
{
        struct job *j = arg;
        pthread_t t;

        j->result = jail_enter(JAIL_CONTROL);
        if (j->result == 0 && pthread_create(&t, NULL, inner, j) == 0)
                pthread_join(t, NULL);
        return NULL;
}

struct outcome {
        int status;
        char err[4096];
};

/* Run a confined thread in a child; its stderr is captured. */
static void run_child(enum jail_class c, enum attempt what, struct outcome *o)
{
        int p[2];
        pid_t pid;
        size_t got = 0;
        ssize_t n;

        ck_assert_int_eq(pipe(p), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct job j = { c, what, 0 };
                pthread_t t;

                dup2(p[1], STDERR_FILENO);
                close(p[0]);
                if (jail_arm(false) < 0 || pthread_create(&t, NULL, confined, &j) != 0)
                        _exit(90);
                pthread_join(t, NULL);
                _exit(j.result < 0 ? 91 : 0);
        }
        close(p[1]);
        while ((n = read(p[0], o->err + got, sizeof(o->err) - 1 - got)) > 0)
                got += (size_t)n;
        o->err[got] = 0;
        close(p[0]);
        ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
}

START_TEST(test_allowed_calls_live)
{
        struct outcome o;

        run_child((enum jail_class)_i, ATTEMPT_NOTHING, &o);
        ck_assert_msg(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0, "class %s: status %#x, stderr: %s",
                      jail_class_name(_i), o.status, o.err);
        ck_assert_ptr_nonnull(strstr(o.err, "alive\n"));
        ck_assert_ptr_null(strstr(o.err, "seccomp_violation"));
}
END_TEST

START_TEST(test_forbidden_call_kills)
{
        enum jail_class c = (enum jail_class)_i;
        struct outcome o;
        char want[160];

        /* a thread that blocks every signal reports too (the kernel
         * would kill it silently: the lab's snapshot deaths) */
        for (int blocked = 0; blocked < 2; blocked++) {
                run_child(c, blocked ? ATTEMPT_BLOCKED : ATTEMPT_FORBIDDEN, &o);
                ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS, "class %s: status %#x, stderr: %s",
                              jail_class_name(c), o.status, o.err);
                snprintf(want, sizeof(want), "level=error event=seccomp_violation syscall=%s nr=%d class=%s thread=jt-worker\n",
                         jail_trip_name(c), seccomp_syscall_resolve_name(jail_trip_name(c)), jail_class_name(c));
                ck_assert_msg(strstr(o.err, want), "class %s%s: want \"%s\" in: %s", jail_class_name(c),
                              blocked ? " (signals blocked)" : "", want, o.err);
        }
}
END_TEST

#ifdef VDI_TEST_COMMANDS
/* The call of the debug-only control command jail-trip is in no class. */
START_TEST(test_debug_trip_kills)
{
        enum jail_class c = (enum jail_class)_i;
        struct outcome o;
        char want[160];

        run_child(c, ATTEMPT_DEBUG, &o);
        ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS, "class %s: status %#x, stderr: %s",
                      jail_class_name(c), o.status, o.err);
        snprintf(want, sizeof(want), "event=seccomp_violation syscall=personality nr=%d class=%s thread=jt-worker\n",
                 seccomp_syscall_resolve_name("personality"), jail_class_name(c));
        ck_assert_msg(strstr(o.err, want), "class %s: want \"%s\" in: %s", jail_class_name(c), want, o.err);
}
END_TEST
#endif

/* An exploited thread that silences the reporter dies at once. */
START_TEST(test_sigsys_disposition_kills)
{
        struct outcome o;

        run_child((enum jail_class)_i, ATTEMPT_SIGSYS, &o);
        ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS, "status %#x", o.status);
        ck_assert_ptr_nonnull(strstr(o.err, "alive\n"));
}
END_TEST

START_TEST(test_stacked_vcpu_under_control)
{
        int p[2];
        pid_t pid;
        int status;

        ck_assert_int_eq(pipe(p), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct job j = { JAIL_CONTROL, ATTEMPT_NOTHING, -1 };
                pthread_t t;

                dup2(p[1], STDERR_FILENO);
                if (jail_arm(false) < 0 || pthread_create(&t, NULL, stacked, &j) != 0)
                        _exit(90);
                pthread_join(t, NULL);
                _exit(j.result == 0 ? 0 : 91);
        }
        close(p[1]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        close(p[0]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("jail");
        TCase *t = tcase_create("tables");
        TCase *k = tcase_create("kill");

        tcase_add_test(t, test_tables);
        tcase_add_test(t, test_bad_class);
        suite_add_tcase(s, t);
        tcase_set_timeout(k, 60);
        tcase_add_loop_test(k, test_allowed_calls_live, 0, JAIL_NCLASSES);
        tcase_add_loop_test(k, test_forbidden_call_kills, 0, JAIL_NCLASSES);
        tcase_add_loop_test(k, test_sigsys_disposition_kills, 0, JAIL_NCLASSES);
#ifdef VDI_TEST_COMMANDS
        tcase_add_loop_test(k, test_debug_trip_kills, 0, JAIL_NCLASSES);
#endif
        tcase_add_test(k, test_stacked_vcpu_under_control);
        suite_add_tcase(s, k);
        return s;
}
