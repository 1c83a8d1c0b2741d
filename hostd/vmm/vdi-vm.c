/* vdi-vm: run one virtual machine on the built-in KVM engine until it
 * stops. A thin main around libvmm (hostd/vmm/vm.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vm.h"

/* Exit statuses (documented in --help). */
enum {
        EXIT_POWEROFF = 0,
        EXIT_ERROR = 1,
        EXIT_USAGE = 2,
        EXIT_RESET = 3,
        EXIT_STOPPED = 4,
};

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: vdi-vm --kernel BZIMAGE [OPTIONS]\n"
                "Run one virtual machine on the built-in KVM engine until it stops.\n"
                "\n"
                "  -k, --kernel PATH     Linux bzImage to boot (64-bit boot protocol 2.12+)\n"
                "  -i, --initrd PATH     initramfs to load\n"
                "  -a, --cmdline TEXT    kernel command line (default \"console=ttyS0\")\n"
                "  -c, --cpus N          number of vCPUs, 1-%d (default 1)\n"
                "  -m, --memory MIB      guest RAM in MiB, %d-%d (default 256); RAM above 3 GiB\n"
                "                        is placed above 4 GiB (the PCI hole)\n"
                "      --console FILE    write the guest serial console (COM1) to FILE instead of\n"
                "                        stdout; \"-\" is stdout, \"none\" discards it. With\n"
                "                        stdout, stdin is the console's input\n"
                "      --no-reboot       when the guest resets, stop instead of rebooting it\n"
                "      --kvm PATH        KVM device (default /dev/kvm)\n"
                "      --log-level LVL   error|warning|notice|info|debug (default notice)\n"
                "  -h, --help            show this help\n"
                "\n"
                "Events (booting, reset, powered_off, stopped) are logged on stderr as\n"
                "\"level=notice event=NAME key=value...\" lines.\n"
                "\n"
                "The guest has: COM1 16550A at 0x3f8/IRQ 4, ACPI tables (MADT with every\n"
                "vCPU; PM1 registers for S5 poweroff; a reset register), a PCI host bridge\n"
                "(config ports 0xCF8/0xCFC), in-kernel LAPIC/IOAPIC/PIC/PIT. A guest reset\n"
                "(ACPI reset, i8042 0xFE, port 0xCF9, triple fault) reboots the VM from\n"
                "scratch unless --no-reboot.\n"
                "\n"
                "Exit status: 0 guest powered off; 1 error (message on stderr); 2 bad\n"
                "arguments; 3 guest reset with --no-reboot; 4 stopped by SIGINT/SIGTERM.\n",
                VM_MAX_CPUS, VM_MIN_MEM_MIB, VM_MAX_MEM_MIB);
}

static int parse_uint(const char *opt, const char *s, unsigned long long max, unsigned long long *out)
{
        char *end;
        unsigned long long v;

        errno = 0;
        if (!s || !*s || *s == '-')
                goto bad;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                goto bad;
        *out = v;
        return 0;
bad:
        fprintf(stderr, "vdi-vm: invalid %s \"%s\": expected a number up to %llu\n", opt, s ? s : "", max);
        return -EINVAL;
}

static void on_event(void *opaque, const char *event, const char *detail)
{
        (void)opaque;
        log_notice(event, "%s", detail);
}

struct sigwaiter {
        struct vm *vm;
        sigset_t set;
        volatile sig_atomic_t got;
};

static void *signal_thread(void *arg)
{
        struct sigwaiter *w = arg;
        int sig;

        if (sigwait(&w->set, &sig) == 0 && (sig == SIGINT || sig == SIGTERM)) {
                w->got = sig;
                vm_request_stop(w->vm);
        }
        return NULL;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "kernel", required_argument, NULL, 'k' },
                { "initrd", required_argument, NULL, 'i' },
                { "cmdline", required_argument, NULL, 'a' },
                { "cpus", required_argument, NULL, 'c' },
                { "memory", required_argument, NULL, 'm' },
                { "console", required_argument, NULL, 'C' },
                { "no-reboot", no_argument, NULL, 'R' },
                { "kvm", required_argument, NULL, 'K' },
                { "log-level", required_argument, NULL, 'L' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct vm_config cfg = {
                .cmdline = "console=ttyS0",
                .ncpus = 1,
                .mem_mib = 256,
                .console_fd = STDOUT_FILENO,
                .console_input = true,
                .console_in_fd = STDIN_FILENO,
                .event = on_event,
        };
        const char *console = NULL;
        enum log_level level = LOG_LEVEL_NOTICE;
        unsigned long long n;
        struct vm_err err = { "" };
        struct vm *vm = NULL;
        struct sigwaiter w = { 0 };
        pthread_t sigthr;
        enum vm_stop why = VM_STOP_NONE;
        int c, r, console_fd = -1;

        while ((c = getopt_long(argc, argv, "k:i:a:c:m:h", opts, NULL)) != -1) {
                switch (c) {
                case 'k':
                        cfg.kernel = optarg;
                        break;
                case 'i':
                        cfg.initrd = optarg;
                        break;
                case 'a':
                        cfg.cmdline = optarg;
                        break;
                case 'c':
                        if (parse_uint("--cpus", optarg, UINT_MAX, &n) < 0)
                                return EXIT_USAGE;
                        cfg.ncpus = (unsigned)n;
                        break;
                case 'm':
                        if (parse_uint("--memory", optarg, UINT64_MAX >> 20, &n) < 0)
                                return EXIT_USAGE;
                        cfg.mem_mib = n;
                        break;
                case 'C':
                        console = optarg;
                        break;
                case 'R':
                        cfg.no_reboot = true;
                        break;
                case 'K':
                        cfg.kvm_path = optarg;
                        break;
                case 'L':
                        if (log_level_from_string(optarg, &level) < 0) {
                                fprintf(stderr, "vdi-vm: invalid --log-level \"%s\"\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "vdi-vm: unexpected argument \"%s\" (see --help)\n", argv[optind]);
                return EXIT_USAGE;
        }
        log_setup("vdi-vm", level);
        if (vm_config_check(&cfg, &err) < 0) {
                fprintf(stderr, "vdi-vm: %s\n", err.msg);
                return EXIT_USAGE;
        }
        if (console && strcmp(console, "none") == 0) {
                cfg.console_fd = -1;
                cfg.console_input = false;
        } else if (console && strcmp(console, "-") != 0) {
                console_fd = open(console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0640);
                if (console_fd < 0) {
                        fprintf(stderr, "vdi-vm: cannot open console file %s: %s\n", console, strerror(errno));
                        return EXIT_ERROR;
                }
                cfg.console_fd = console_fd;
                cfg.console_input = false;
        }
        signal(SIGPIPE, SIG_IGN);

        r = vm_create(&cfg, &vm, &err);
        if (r < 0) {
                fprintf(stderr, "vdi-vm: %s\n", err.msg);
                return EXIT_ERROR;
        }

        /* SIGINT/SIGTERM go to one thread that asks the VM to stop; vCPU
         * threads inherit the blocked mask. */
        w.vm = vm;
        sigemptyset(&w.set);
        sigaddset(&w.set, SIGINT);
        sigaddset(&w.set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &w.set, NULL);
        if (pthread_create(&sigthr, NULL, signal_thread, &w) != 0) {
                fprintf(stderr, "vdi-vm: cannot start the signal thread\n");
                vm_free(vm);
                return EXIT_ERROR;
        }
        pthread_detach(sigthr);

        r = vm_run(vm, &why, &err);
        vm_free(vm);
        if (console_fd >= 0)
                close(console_fd);
        if (r < 0) {
                fprintf(stderr, "vdi-vm: %s\n", err.msg);
                return EXIT_ERROR;
        }
        switch (why) {
        case VM_STOP_POWEROFF:
                return EXIT_POWEROFF;
        case VM_STOP_RESET:
                return EXIT_RESET;
        default:
                return EXIT_STOPPED;
        }
}
