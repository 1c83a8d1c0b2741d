/* Supervision of vdi-vm processes: spawn (posix_spawn in a session of its
 * own, so hostd's exit or restart never takes a VM down), watch (pidfd +
 * control socket, one monitor thread), stop, and re-adopt after a hostd
 * restart. A VM that dies unasked is reported as "crashed" and left
 * stopped: nothing is restarted silently (DESIGN.md §2). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "hostd/jail-report.h"
#include "hostd/net.h"
#include "hostd/vmctl.h"
#include "log.h"
#include "macro.h"

/* How long a control-socket request (stop, set-ticket, ...) may take. */
#define CTL_TIMEOUT_MS 5000

void hostd_probe_caps(const char *binary, struct hostd_vm_caps *caps)
{
        g_autofree char *out = NULL;
        const char *argv[] = { binary, "--help", NULL };

        memset(caps, 0, sizeof(*caps));
        if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                          NULL, NULL, NULL) ||
            !out)
                return;
        caps->disk = strstr(out, "--disk") != NULL;
        caps->net = strstr(out, "--net") != NULL;
        caps->control = strstr(out, "--control") != NULL;
        caps->framebuffer = strstr(out, "--framebuffer") != NULL;
        caps->user = strstr(out, "--user") != NULL;
        caps->spice_port = strstr(out, "--spice-port") != NULL;
        caps->rdp_port = strstr(out, "--rdp-port") != NULL;
        caps->web_port = strstr(out, "--web-origin") != NULL;
        caps->tls = strstr(out, "--tls-cert") != NULL;
        caps->agent = strstr(out, "--agent") != NULL;
        caps->virtio_gpu = strstr(out, "--display vesa|virtio-gpu") != NULL;
        caps->clipboard = strstr(out, "--clipboard both|") != NULL;
        caps->suspend = strstr(out, "\"cmd\":\"suspend\"") != NULL && strstr(out, "--restore") != NULL;
        caps->seccomp = strstr(out, "--seccomp on|off") != NULL;
        caps->clone_identity = strstr(out, "--clone-hostname") != NULL && strstr(out, "--clone-machine-id") != NULL;
}

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot. With
 * the pid it identifies a process: a reused pid has a different one. */
int hostd_proc_starttime(pid_t pid, unsigned long long *out)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
        g_autofree char *text = NULL;
        char *p;
        unsigned long long v;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -ESRCH;
        /* comm may hold spaces and parentheses: skip to the last ')'. */
        p = strrchr(text, ')');
        if (!p)
                return -EIO;
        p++;
        for (int field = 3; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EIO;
        }
        if (sscanf(p, " %llu", &v) != 1)
                return -EIO;
        *out = v;
        return 0;
}

/* A forked desktop's host name: "vdi-" and its VM id, lowercased, with
 * dashes for what a host name cannot hold (RFC 1123 label). */
static char *clone_hostname(const char *id)
{
        g_autofree char *low = g_ascii_strdown(id, -1);
        char *name = g_strdup_printf("vdi-%.59s", low);

        for (char *p = name; *p; p++)
                if (!g_ascii_isalnum(*p))
                        *p = '-';
        for (size_t n = strlen(name); n > 0 && name[n - 1] == '-'; n--)
                name[n - 1] = '\0';
        return name;
}

/* A fresh machine ID (32 lowercase hex digits) for a forked desktop. */
static char *clone_machine_id(void)
{
        g_autofree char *uuid = g_uuid_string_random();
        char *id = g_malloc(33);
        size_t n = 0;

        for (const char *p = uuid; *p && n < 32; p++)
                if (*p != '-')
                        id[n++] = *p;
        id[n] = '\0';
        return id;
}

/* Control sockets live in runtime_dir, not with the VM's files: state_dir
 * may be a file system without sockets (9p, NFS). */
static char *ctl_path(const struct hostd *h, const struct hostd_vm *vm)
{
        g_autofree char *name = g_strdup_printf("%s.sock", vm->id);
        return g_build_filename(h->cfg->runtime_dir, name, NULL);
}

/* The tap's descriptor number in vdi-vm (--net fd=N). */
#define VM_TAP_FD 3

/* Start argv in a session of its own (hostd's stop, crash or restart
 * leaves it be), in vm's directory, stdin /dev/null, stdout and stderr on
 * logfd, no signal blocked, SIGPIPE default, and no descriptor of hostd's
 * (API sockets, database, other VMs' sockets) but the tap as VM_TAP_FD.
 * posix_spawn (vfork and exec): a fork of the whole daemon under the lock
 * took tens of ms per VM. 0 and *pid, or -errno (exec's too). */
static int spawn_vm(struct hostd_vm *vm, char **argv, int logfd, int tapfd, pid_t *pid)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        sigset_t none, dfl;
        int r;

        sigemptyset(&none);
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGPIPE);
        posix_spawnattr_init(&at);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &dfl);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, logfd, 1);
        posix_spawn_file_actions_adddup2(&fa, logfd, 2);
        /* dup2 onto itself clears close-on-exec (glibc >= 2.29). */
        if (tapfd >= 0)
                posix_spawn_file_actions_adddup2(&fa, tapfd, VM_TAP_FD);
        posix_spawn_file_actions_addclosefrom_np(&fa, tapfd >= 0 ? VM_TAP_FD + 1 : 3);
        posix_spawn_file_actions_addchdir_np(&fa, vm->dir);
        r = posix_spawn(pid, argv[0], &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        return -r;
}

int hostd_vm_spawn(struct hostd *h, struct hostd_vm *vm, char **error)
{
        struct hostd_image *img = g_hash_table_lookup(h->images, vm->image_id);
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *console = g_build_filename(vm->dir, "console.log", NULL);
        g_autofree char *log = g_build_filename(vm->dir, "vdi-vm.log", NULL);
        g_autofree char *sock = ctl_path(h, vm);
        int logfd, tapfd = -1;
        bool fork = vm->instant && !vm->suspended_dir && !vm->fork_started;
        /* The guest agent's ports ride on SPICE's agent support; a fork's
         * identity is told through them. */
        bool agent = h->caps.agent && h->caps.spice_port;
        pid_t pid;

        if (!img) {
                *error = g_strdup_printf("image \"%s\" is gone from this host", vm->image_id);
                return -ENOENT;
        }
        if (fork && !vm->fork_state) {
                /* Its parent was not ready when it was made or refreshed. */
                int r = hostd_parent_fork_point(h, vm, error);
                if (r == 0) {
                        vm->start_pending = true; /* parent.c starts it when it is */
                        hostd_vm_event(h, vm, "start_pending", NULL);
                        return 0;
                }
                if (r < 0 || (r = hostd_vm_fork_files(vm, error)) < 0)
                        return r;
        }
        if (vm->bridge) {
                int r = hostd_net_open_tap(h, vm, &tapfd, error); /* net.c's tap, for --net fd= */
                if (r < 0)
                        return r;
        }
#define ARG(...) g_ptr_array_add(argv, g_strdup_printf(__VA_ARGS__))
        ARG("%s", h->cfg->vm_binary);
        if (vm->suspended_dir || fork) {
                /* The guest, its vCPUs and memory come from the state:
                 * its own suspended one, or its parent's (a fork). */
                ARG("--restore");
                ARG("%s", vm->suspended_dir ? vm->suspended_dir : vm->fork_state);
        } else {
                ARG("--kernel");
                ARG("%s", img->kernel);
                if (img->initrd) {
                        ARG("--initrd");
                        ARG("%s", img->initrd);
                }
                ARG("--cmdline");
                ARG("%s", img->cmdline);
                ARG("--cpus");
                ARG("%d", vm->cpus);
                ARG("--memory");
                ARG("%lld", (long long)vm->memory_mb);
        }
        ARG("--console");
        ARG("%s", console);
        if (h->caps.disk) {
                ARG("--disk");
                ARG("%s,format=qcow2", vm->disk);
        }
        if (h->caps.framebuffer) {
                ARG("--framebuffer");
                ARG("%s", h->cfg->framebuffer);
        }
        if (img->virtio_gpu) {
                /* Checked at import: this vdi-vm has it (hostd_image_put). */
                ARG("--display");
                ARG("virtio-gpu");
        }
        if (h->caps.control) {
                unlink(sock);
                ARG("--control");
                ARG("%s", sock);
        }
        if (agent) {
                /* spice-vdagent's port: clipboard and monitors config */
                ARG("--agent");
        }
        if (vm->clipboard) { /* the PUT was refused without caps.clipboard */
                ARG("--clipboard");
                ARG("%s", vm->clipboard);
        }
        if (h->caps.spice_port) {
                ARG("--spice-port");
                ARG("%d", vm->spice_port);
        }
        if (h->caps.rdp_port) {
                ARG("--rdp-port");
                ARG("%d", vm->rdp_port);
        }
        if (h->caps.web_port && vm->web_port && h->cfg->web_origin) {
                ARG("--web-port");
                ARG("%d", vm->web_port);
                ARG("--web-origin");
                ARG("%s", h->cfg->web_origin);
        }
        if (h->caps.tls && (h->caps.spice_port || h->caps.rdp_port)) {
                ARG("--display-listen");
                ARG("%s", h->cfg->display_listen);
                ARG("--tls-cert");
                ARG("%s", h->cfg->cert);
                ARG("--tls-key");
                ARG("%s", h->cfg->key);
                ARG("--tls-ca");
                ARG("%s", h->cfg->client_ca);
        }
        if (tapfd >= 0) {
                char mac[18];
                net_mac_format(vm->mac, mac);
                ARG("--net");
                ARG("fd=%d,mac=%s", VM_TAP_FD, mac);
        }
        if (fork && h->caps.clone_identity && agent) {
                /* Its own identity, told to the guest's agent (the MAC is
                 * its --net card's); vdi-vm gives it a new VM generation
                 * ID by itself. */
                g_autofree char *name = clone_hostname(vm->id), *mid = clone_machine_id();
                ARG("--clone-hostname");
                ARG("%s", name);
                ARG("--clone-machine-id");
                ARG("%s", mid);
        }
        if (h->caps.seccomp) {
                ARG("--seccomp");
                ARG("%s", h->cfg->vm_seccomp ? "on" : "off");
        }
        if (h->caps.user && getuid() == 0) {
                ARG("--user");
                ARG("%s", h->cfg->vm_user);
        }
#undef ARG
        g_ptr_array_add(argv, NULL);

        logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (logfd < 0) {
                int r = -errno;
                *error = g_strdup_printf("%s: %s", log, g_strerror(errno));
                if (tapfd >= 0)
                        close(tapfd);
                return r;
        }
        int r = spawn_vm(vm, (char **)argv->pdata, logfd, tapfd, &pid);
        close(logfd);
        /* The tap is vdi-vm's now: it goes away with that process. */
        if (tapfd >= 0)
                close(tapfd);
        if (r < 0) {
                *error = g_strdup_printf("cannot run %s: %s (check [vm] binary)",
                                         h->cfg->vm_binary, g_strerror(-r));
                return r;
        }
        vm->pidfd = pidfd_open(pid, 0);
        if (vm->pidfd < 0 || hostd_proc_starttime(pid, &vm->starttime) < 0) {
                /* It already died: the monitor cannot watch it; reap here. */
                int st = 0;
                if (vm->pidfd >= 0)
                        close(vm->pidfd);
                vm->pidfd = -1;
                waitpid(pid, &st, 0);
                *error = g_strdup_printf("vdi-vm exited at once (status %d); see %s",
                                         WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                                         log);
                return -ECHILD;
        }
        vm->pid = pid;
        vm->state = VM_RUNNING;
        vm->booted = false;
        vm->resuming = false;
        vm->forking = fork;
        vm->agent_ready = false;
        vm->start_pending = false;
        vm->stopping = false;
        vm->exit_reported = false;
        vm->adopted = false;
        g_clear_pointer(&vm->last_error, g_free);
        hostd_vm_save_run(vm);
        hostd_vm_event(h, vm,  "started", json_pack("{s:i}", "pid", (int)pid));
        if (fork) {
                /* From now on its disk is its own: a later start without a
                 * suspended state boots it (a refresh forks it again). */
                vm->fork_started = true;
                if (hostd_vm_save(vm, error) < 0) {
                        g_autofree char *quoted = log_quote(*error);
                        log_error("vm_save_failed", "vm=%s error=%s", vm->id, quoted);
                        g_clear_pointer(error, g_free);
                }
        }
        if (vm->suspended_dir) {
                /* The state stays until the restore is accepted (its
                 * control socket): a refused one leaves it suspended. */
                vm->resuming = true;
                hostd_vm_save_run(vm);
        }
        hostd_monitor_wake(h);
        return 0;
}

void hostd_vm_adopt(struct hostd *h, struct hostd_vm *vm)
{
        g_autofree char *path = g_build_filename(vm->dir, "run.json", NULL);
        g_autofree char *err = NULL;
        json_int_t pid, st;
        unsigned long long now_st;
        json_t *v;

        if (access(path, F_OK) < 0)
                return; /* not running when hostd last saw it */
        v = hostd_read_json(path, &err);
        if (!v || json_unpack(v, "{s:I, s:I}", "pid", &pid, "starttime", &st) != 0 || pid <= 1) {
                json_decref(v);
                unlink(path);
                return;
        }
        json_decref(v);
        if (hostd_proc_starttime((pid_t)pid, &now_st) == 0 && now_st == (unsigned long long)st)
                vm->pidfd = pidfd_open((pid_t)pid, 0);
        if (vm->pidfd < 0) {
                /* It died while hostd was not watching. */
                unlink(path);
                vm->state = VM_CRASHED;
                g_free(vm->last_error);
                vm->last_error = g_strdup("vdi-vm exited while vdi-hostd was not running");
                hostd_vm_event(h, vm, "crashed", json_pack("{s:s}", "reason", vm->last_error));
                return;
        }
        vm->pid = (pid_t)pid;
        vm->starttime = now_st;
        vm->state = VM_RUNNING;
        vm->adopted = true;
        /* Whether the guest booted: the control socket's status answers,
         * once the monitor has connected. */
        hostd_vm_event(h, vm, "adopted", json_pack("{s:i}", "pid", (int)pid));
}

/* How much of vdi-vm.log's end is searched for a seccomp report. */
#define JAIL_REPORT_TAIL 16384

/* Why a vdi-vm that died of SIGSYS died: its seccomp reporter's last line
 * in vdi-vm.log (hostd/vmm/jail.h), logged once here. */
static char *seccomp_reason(struct hostd_vm *vm, pid_t pid)
{
        g_autofree char *log = g_build_filename(vm->dir, "vdi-vm.log", NULL);
        char tail[JAIL_REPORT_TAIL];
        struct jail_report rep;
        ssize_t n = -1;
        int fd = open(log, O_RDONLY | O_CLOEXEC);

        if (fd >= 0) {
                off_t end = lseek(fd, 0, SEEK_END);
                n = pread(fd, tail, sizeof(tail), end > (off_t)sizeof(tail) ? end - (off_t)sizeof(tail) : 0);
                close(fd);
        }
        if (n <= 0 || jail_report_find(tail, (size_t)n, &rep) < 0) {
                log_error("vm_seccomp_kill", "vm=%s pid=%d syscall=unknown reason=\"no report in %s\"", vm->id,
                          (int)pid, log);
                return g_strdup_printf("vdi-vm %d killed by seccomp (SIGSYS; no report in vdi-vm.log)", (int)pid);
        }
        log_error("vm_seccomp_kill", "vm=%s pid=%d syscall=%s class=%s thread=%s", vm->id, (int)pid, rep.syscall,
                  rep.cls, rep.thread);
        return g_strdup_printf("vdi-vm %d killed by seccomp: syscall %s from the %s thread (%s)", (int)pid,
                               rep.syscall, rep.cls, rep.thread);
}

/* The process behind vm exited (lock held). */
static void on_exit_(struct hostd *h, struct hostd_vm *vm)
{
        g_autofree char *run = g_build_filename(vm->dir, "run.json", NULL);
        g_autofree char *reason = NULL;
        int st = 0;
        bool known = false, clean;
        pid_t pid = vm->pid;

        if (!vm->adopted && waitpid(vm->pid, &st, WNOHANG) == vm->pid)
                known = true;
        close(vm->pidfd);
        vm->pidfd = -1;
        if (vm->ctl) {
                vmctl_shutdown(vm->ctl);
                vmctl_unref(vm->ctl);
                vm->ctl = NULL;
        }
        unlink(run);
        vm->pid = 0;
        vm->booted = false;
        clean = known && WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (known && WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
                reason = seccomp_reason(vm, pid);
        else if (known && WIFSIGNALED(st))
                reason = g_strdup_printf("vdi-vm killed by signal %d (%s)", WTERMSIG(st),
                                         strsignal(WTERMSIG(st)));
        else if (known && WIFEXITED(st))
                reason = g_strdup_printf("vdi-vm exited with status %d (see vdi-vm.log)",
                                         WEXITSTATUS(st));
        else
                reason = g_strdup("vdi-vm exited (status unknown: adopted process)");

        if (vm->suspended_dir && !g_file_test(vm->suspended_dir, G_FILE_TEST_IS_DIR))
                g_clear_pointer(&vm->suspended_dir, g_free); /* a suspend that never wrote it */
        if (vm->suspended_dir && vm->resuming) {
                /* Its restore was refused: still suspended, nothing lost. */
                vm->state = VM_SUSPENDED;
                g_free(vm->last_error);
                vm->last_error = g_strdup_printf("resume failed: %s", reason);
                hostd_vm_event(h, vm, "resume_failed", json_pack("{s:s}", "reason", reason));
        } else if (vm->suspended_dir) {
                /* It wrote its state and left (suspend.c records the event). */
                vm->state = VM_SUSPENDED;
        } else if (vm->exit_reported) {
                vm->state = VM_STOPPED;
        } else if (vm->stopping) {
                vm->state = VM_STOPPED;
                hostd_vm_event(h, vm, "stopped", NULL);
        } else if (clean) {
                vm->state = VM_STOPPED;
                hostd_vm_event(h, vm, "powered_off", NULL);
        } else if (vm->state == VM_CRASHED) {
                /* The control socket already said why. */
        } else {
                vm->state = VM_CRASHED;
                g_free(vm->last_error);
                vm->last_error = g_strdup(reason);
                hostd_vm_event(h, vm, "crashed", json_pack("{s:s}", "reason", reason));
        }
        if (vm->state != VM_CRASHED && vm->state != VM_SUSPENDED)
                vm->state = VM_STOPPED;
        /* No process maps a state any more: keep only a suspended one. */
        hostd_vm_state_gc(vm);
        vm->stopping = false;
        vm->exit_reported = false;
        vm->resuming = false;
        vm->forking = false;
        pthread_cond_broadcast(&h->cond);
}

/* One event line from vdi-vm (lock held). */
static void on_ctl_event(struct hostd *h, struct hostd_vm *vm, json_t *ev)
{
        const char *name = json_string_value(json_object_get(ev, "event"));
        const char *reason = json_string_value(json_object_get(ev, "reason"));
        json_t *extra = json_object();

        if (!name || strlen(name) > 32)
                goto out;
        for (const char *p = name; *p; p++)
                if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
                        goto out; /* not an event name we could log safely */
        if (reason)
                json_object_set_new(extra, "reason", json_string(reason));
        if (strcmp(name, "booted") == 0) {
                vm->booted = true;
        } else if (strcmp(name, "agent-ready") == 0) {
                vm->agent_ready = true; /* a parent waits for this (parent.c) */
                pthread_cond_broadcast(&h->cond);
        } else if (strcmp(name, "powered_off") == 0) {
                vm->booted = false;
                vm->exit_reported = true; /* the exit that follows is no crash */
        } else if (strcmp(name, "reset") == 0) {
                vm->booted = false;
        } else if (strcmp(name, "crashed") == 0) {
                vm->state = VM_CRASHED;
                g_free(vm->last_error);
                vm->last_error = g_strdup(reason ? reason : "vdi-vm reported a crash");
        }
        hostd_vm_event(h, vm, name, extra);
        extra = NULL;
out:
        json_decref(extra);
}

struct watch {
        char *id;
        int fd;
        bool ctl;
};

static void watches_clear(GArray *pfds, GArray *watches)
{
        g_array_set_size(pfds, 0);
        for (guint i = 0; i < watches->len; i++)
                g_free(g_array_index(watches, struct watch, i).id);
        g_array_set_size(watches, 0);
}

static void watch_add(GArray *pfds, GArray *watches, const char *id, int fd, bool ctl)
{
        g_array_append_val(pfds, ((struct pollfd){ .fd = fd, .events = POLLIN }));
        g_array_append_val(watches, ((struct watch){ g_strdup(id), fd, ctl }));
}

/* The poll set: the wake pipe, then each running VM's pidfd and control
 * socket, connecting the sockets not yet connected (lock held). Returns
 * whether a running VM still has no control connection. */
static bool watches_build(struct hostd *h, GArray *pfds, GArray *watches)
{
        GHashTableIter it;
        struct hostd_vm *vm;
        bool pending = false;

        watches_clear(pfds, watches);
        g_array_append_val(pfds, ((struct pollfd){ .fd = h->wake_fd[0], .events = POLLIN }));
        g_array_append_val(watches, ((struct watch){ 0 }));
        g_hash_table_iter_init(&it, h->vms);
        while (g_hash_table_iter_next(&it, NULL, (void **)&vm)) {
                if (vm->pidfd < 0)
                        continue;
                if (!vm->ctl && h->caps.control) {
                        g_autofree char *sock = ctl_path(h, vm);
                        struct vmctl *c;
                        if (vmctl_connect(sock, &c) == 0) {
                                vm->ctl = c;
                                log_info("vm_control_connected", "vm=%s", vm->id);
                                if (vm->resuming)
                                        hostd_vm_resumed(h, vm);
                                else if (vm->forking)
                                        hostd_vm_forked(h, vm);
                                pthread_cond_broadcast(&h->cond);
                        } else {
                                pending = true;
                        }
                }
                watch_add(pfds, watches, vm->id, vm->pidfd, false);
                if (vm->ctl)
                        watch_add(pfds, watches, vm->id, vmctl_fd(vm->ctl), true);
        }
        return pending;
}

/* Handle what poll reported (lock held). Returns whether the poll set
 * must be built again: a VM exited, lost its control connection or is
 * gone. Events and replies on a control socket change nothing in it. */
static bool watches_handle(struct hostd *h, GArray *pfds, GArray *watches)
{
        struct pollfd *pf = (struct pollfd *)pfds->data;
        bool rebuild = false;

        for (guint i = 1; i < pfds->len; i++) {
                struct watch *w = &g_array_index(watches, struct watch, i);
                struct hostd_vm *vm;

                if (!pf[i].revents)
                        continue;
                vm = g_hash_table_lookup(h->vms, w->id);
                if (vm && w->ctl && vm->ctl && vmctl_fd(vm->ctl) == w->fd) {
                        g_autoptr(GPtrArray) evs =
                                g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
                        int r = vmctl_read(vm->ctl, evs);
                        for (guint k = 0; k < evs->len; k++)
                                on_ctl_event(h, vm, evs->pdata[k]);
                        if (r < 0) {
                                log_info("vm_control_closed", "vm=%s", vm->id);
                                vmctl_shutdown(vm->ctl);
                                vmctl_unref(vm->ctl);
                                vm->ctl = NULL;
                                rebuild = true;
                        }
                } else if (vm && !w->ctl && vm->pidfd == w->fd) {
                        on_exit_(h, vm);
                        rebuild = true;
                } else {
                        rebuild = true; /* a watch of a VM that changed meanwhile */
                }
        }
        return rebuild;
}

/* The monitor thread. The poll set is built again only when it changes
 * (a start wakes it; an exit or a lost control connection is seen here),
 * and every 200 ms while a fresh VM's control socket is not there yet:
 * a reply to a request is O(1) however many VMs run, where building the
 * set per event made every ticket wait O(VMs) behind the others. */
static void *monitor_main(void *arg)
{
        struct hostd *h = arg;
        g_autoptr(GArray) pfds = g_array_new(FALSE, TRUE, sizeof(struct pollfd));
        g_autoptr(GArray) watches = g_array_new(FALSE, TRUE, sizeof(struct watch));
        bool rebuild = true, pending = false;

        for (;;) {
                int n;

                pthread_mutex_lock(&h->lock);
                if (h->quit) {
                        pthread_mutex_unlock(&h->lock);
                        break;
                }
                if (rebuild)
                        pending = watches_build(h, pfds, watches);
                pthread_mutex_unlock(&h->lock);

                /* Short timeout: sockets of freshly started VMs appear late. */
                n = poll((struct pollfd *)pfds->data, pfds->len, pending ? 200 : -1);
                if (n < 0 && errno != EINTR)
                        break;
                rebuild = n == 0; /* the pending sockets' turn */
                if (n <= 0)
                        continue;
                struct pollfd *pf = (struct pollfd *)pfds->data;
                if (pf[0].revents) {
                        char buf[64];
                        while (read(h->wake_fd[0], buf, sizeof(buf)) > 0)
                                ;
                        rebuild = true;
                }
                pthread_mutex_lock(&h->lock);
                rebuild |= watches_handle(h, pfds, watches);
                pthread_mutex_unlock(&h->lock);
        }
        watches_clear(pfds, watches);
        return NULL;
}

void hostd_monitor_wake(struct hostd *h)
{
        (void)!write(h->wake_fd[1], "w", 1);
}

int hostd_monitor_start(struct hostd *h, char **error)
{
        int r = pthread_create(&h->monitor, NULL, monitor_main, h);
        if (r) {
                *error = g_strdup_printf("cannot start the monitor thread: %s", g_strerror(r));
                return -r;
        }
        return 0;
}

void hostd_monitor_stop(struct hostd *h)
{
        pthread_mutex_lock(&h->lock);
        h->quit = true;
        pthread_cond_broadcast(&h->cond); /* parents being prepared give up */
        pthread_mutex_unlock(&h->lock);
        hostd_monitor_wake(h);
        pthread_join(h->monitor, NULL);
}

bool hostd_vm_wait_exit(struct hostd *h, struct hostd_vm *vm, unsigned seconds)
{
        struct timespec dl;

        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += seconds;
        while (vm->state == VM_RUNNING)
                if (pthread_cond_timedwait(&h->cond, &h->lock, &dl) == ETIMEDOUT)
                        break;
        return vm->state != VM_RUNNING;
}

static void signal_vm(struct hostd_vm *vm, int sig)
{
        /* Through the pidfd: never a reused pid. */
        if (vm->pidfd >= 0)
                pidfd_send_signal(vm->pidfd, sig, NULL, 0);
}

int hostd_vm_halt(struct hostd *h, struct hostd_vm *vm)
{
        unsigned t = (unsigned)h->cfg->stop_timeout_s;

        if (vm->state != VM_RUNNING)
                return 0;
        vm->stopping = true;
        if (vm->ctl) {
                struct vmctl *c = vmctl_ref(vm->ctl);
                json_t *cmd = json_pack("{s:s}", "cmd", "stop"), *reply = NULL;
                g_autofree char *err = NULL;
                pthread_mutex_unlock(&h->lock);
                if (vmctl_request(c, cmd, CTL_TIMEOUT_MS, &reply, &err) < 0) {
                        g_autofree char *quoted = log_quote(err);
                        log_warning("vm_stop_command_failed", "vm=%s error=%s", vm->id, quoted);
                }
                json_decref(cmd);
                json_decref(reply);
                vmctl_unref(c);
                pthread_mutex_lock(&h->lock);
                if (hostd_vm_wait_exit(h, vm, t))
                        return 0;
        }
        /* vdi-vm stops the guest and exits on SIGTERM (status 4). */
        signal_vm(vm, SIGTERM);
        if (hostd_vm_wait_exit(h, vm, vm->ctl ? 3 : t))
                return 0;
        log_warning("vm_kill", "vm=%s reason=\"no exit %u s after stop\"", vm->id, t);
        signal_vm(vm, SIGKILL);
        return hostd_vm_wait_exit(h, vm, 10) ? 0 : -ETIMEDOUT;
}

int hostd_vm_command(struct hostd *h, const char *vm_id, json_t *cmd, json_t **reply,
                     char **error)
{
        return hostd_vm_command_fd(h, vm_id, cmd, -1, reply, error);
}

int hostd_vm_command_fd(struct hostd *h, const char *vm_id, json_t *cmd, int fd, json_t **reply,
                        char **error)
{
        struct hostd_vm *vm;
        struct vmctl *c = NULL;
        int r;

        pthread_mutex_lock(&h->lock);
        vm = g_hash_table_lookup(h->vms, vm_id);
        if (!vm) {
                r = -ENOENT;
                *error = g_strdup_printf("VM \"%s\" does not exist", vm_id);
        } else if (vm->state != VM_RUNNING) {
                r = -ESRCH;
                *error = g_strdup_printf("VM \"%s\" is not running (start it first)", vm_id);
        } else if (!vm->ctl) {
                r = -ENOTCONN;
                *error = g_strdup_printf(
                        "VM \"%s\" has no control connection%s", vm_id,
                        h->caps.control ? " yet (vdi-vm is starting; retry shortly)"
                                        : " (this host's vdi-vm lacks --control)");
        } else {
                c = vmctl_ref(vm->ctl);
                r = 0;
        }
        pthread_mutex_unlock(&h->lock);
        if (r < 0)
                return r;
        r = vmctl_request_fd(c, cmd, fd, CTL_TIMEOUT_MS, reply, error);
        vmctl_unref(c);
        return r;
}
