/* Suspend and resume (issue 20): vdi-vm's "suspend" writes the whole VM
 * into VMDIR/state/MS (hostd/vmm/SNAPSHOT.md; the overlay stays as it is)
 * and exits, so its memory goes back to the host; a start resumes it with
 * --restore. VMDIR/suspended.json names the state to resume from: it is
 * written once vdi-vm has answered, and removed once the restoring vdi-vm
 * opened its control socket (the restore was accepted).
 * A restored guest keeps reading its RAM from that state (mapped
 * MAP_PRIVATE), so state directories go only when no process runs
 * (hostd_vm_state_gc). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "hostd/vmctl.h"
#include "log.h"

#define SUSPENDED_FILE "suspended.json"
#define STATE_DIR "state"
/* Writing a guest's RAM: about a second per GiB here; far more in a
 * nested lab under load. */
#define SUSPEND_TIMEOUT_MS (300 * 1000)
#define SUSPEND_EXIT_S 60
/* A resumed vdi-vm's control socket: it appears before its vCPUs run. */
#define RESUME_CONNECT_S 60

static char *suspended_path(const struct hostd_vm *vm)
{
        return g_build_filename(vm->dir, SUSPENDED_FILE, NULL);
}

/* What run.json says the running process restores, or NULL. */
static char *run_resuming(const struct hostd_vm *vm)
{
        g_autofree char *path = g_build_filename(vm->dir, "run.json", NULL), *err = NULL;
        json_t *run = hostd_read_json(path, &err);
        char *dir = g_strdup(json_string_value(json_object_get(run, "resuming")));

        json_decref(run);
        return dir;
}

void hostd_vm_suspend_load(struct hostd_vm *vm)
{
        g_autofree char *path = suspended_path(vm);
        g_autofree char *err = NULL, *resuming = NULL;
        const char *dir = NULL;
        json_t *v;

        if (access(path, F_OK) < 0)
                return;
        v = hostd_read_json(path, &err);
        if (!v || json_unpack(v, "{s:s}", "dir", &dir) != 0 || !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
                g_autofree char *quoted = log_quote(err ? err : "no state directory");
                log_warning("vm_suspend_state_lost", "vm=%s error=%s", vm->id, quoted);
                unlink(path);
        } else {
                g_free(vm->suspended_dir);
                vm->suspended_dir = g_strdup(dir);
                if (vm->state != VM_RUNNING)
                        vm->state = VM_SUSPENDED;
                else
                        vm->resuming = g_strcmp0(resuming = run_resuming(vm), dir) == 0;
        }
        json_decref(v);
}

void hostd_vm_state_gc(struct hostd_vm *vm)
{
        g_autofree char *dir = g_build_filename(vm->dir, STATE_DIR, NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *path = g_build_filename(dir, name, NULL);
                if (!vm->suspended_dir || strcmp(path, vm->suspended_dir) != 0)
                        hostd_rm_rf(path);
        }
}

void hostd_vm_suspend_discard(struct hostd_vm *vm)
{
        g_autofree char *path = suspended_path(vm);

        unlink(path);
        g_clear_pointer(&vm->suspended_dir, g_free);
        if (vm->state == VM_SUSPENDED)
                vm->state = VM_STOPPED;
        if (vm->state != VM_RUNNING)
                hostd_vm_state_gc(vm);
}

void hostd_vm_resumed(struct hostd *h, struct hostd_vm *vm)
{
        g_autofree char *path = suspended_path(vm);
        g_autofree char *from = g_steal_pointer(&vm->suspended_dir);

        /* Its directory stays (the guest's RAM is mapped from it) until the
         * process ends; the guest runs on from here, so the state is no
         * longer one to resume. */
        unlink(path);
        vm->resuming = false;
        vm->booted = true; /* up as it was: no boot to wait for */
        hostd_vm_save_run(vm);
        hostd_vm_event(h, vm, "resumed", json_pack("{s:s}", "from", from));
}

/* VMDIR/state, writable by the user vdi-vm runs as. */
static int state_parent(struct hostd *h, const struct hostd_vm *vm, char **out, char **error)
{
        g_autofree char *dir = g_build_filename(vm->dir, STATE_DIR, NULL);

        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                int r = -errno;
                *error = g_strdup_printf("cannot create %s: %s", dir, g_strerror(errno));
                return r;
        }
        if (h->caps.user && getuid() == 0) {
                struct passwd *pw = getpwnam(h->cfg->vm_user);
                if (!pw || chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
                        *error = g_strdup_printf("cannot give %s to [vm] user %s: %s", dir, h->cfg->vm_user,
                                                 pw ? g_strerror(errno) : "no such user");
                        return -EPERM;
                }
        }
        *out = g_steal_pointer(&dir);
        return 0;
}

/* Lock held. 0 when vm can be suspended now, else an HTTP status. */
static unsigned suspend_check(struct hostd *h, struct hostd_vm *vm, const char *id, const char **code,
                              char **error)
{
        if (!vm) {
                *code = "not_found";
                *error = g_strdup_printf("VM \"%s\" does not exist", id);
                return 404;
        }
        if (!h->caps.suspend) {
                *code = "unsupported";
                *error = g_strdup_printf("this host's vdi-vm (%s) cannot suspend VMs (install a newer one)",
                                         h->cfg->vm_binary);
                return 501;
        }
        if (vm->busy) {
                *code = "busy";
                *error = g_strdup_printf("VM \"%s\" is being changed; retry shortly", id);
                return 409;
        }
        if (vm->state != VM_RUNNING) {
                *code = "vm_not_running";
                *error = g_strdup_printf("VM \"%s\" is %s: only a running VM can be suspended", id,
                                         hostd_vm_state_name(vm->state));
                return 409;
        }
        if (!vm->ctl) {
                *code = "no_control";
                *error = g_strdup_printf("VM \"%s\" has no control connection yet; retry shortly", id);
                return 503;
        }
        return 0;
}

/* Lock held, vm busy: ask vdi-vm (lock released meanwhile) to write its
 * state as name in parent. The directory goes with the request: a vdi-vm
 * running as [vm] user cannot reach it by path (the VM's directory is
 * hostd's, mode 0700). */
static int suspend_request(struct hostd *h, struct hostd_vm *vm, const char *parent, const char *name,
                           json_t **reply, char **error)
{
        struct vmctl *c;
        json_t *cmd;
        int r, dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dirfd < 0) {
                r = -errno;
                *error = g_strdup_printf("cannot open %s: %s", parent, g_strerror(errno));
                return r;
        }
        c = vmctl_ref(vm->ctl);
        cmd = json_pack("{s:s, s:s}", "cmd", "suspend", "name", name);
        pthread_mutex_unlock(&h->lock);
        r = vmctl_request_fd(c, cmd, dirfd, SUSPEND_TIMEOUT_MS, reply, error);
        json_decref(cmd);
        vmctl_unref(c);
        close(dirfd);
        pthread_mutex_lock(&h->lock);
        return r;
}

unsigned hostd_vm_suspend(struct hostd *h, const char *id, json_t **out, const char **code, char **error)
{
        g_autofree char *parent = NULL, *name = NULL, *dir = NULL, *path = NULL, *now = NULL;
        json_t *reply = NULL, *rec;
        struct hostd_vm *vm;
        unsigned status;
        int r;

        pthread_mutex_lock(&h->lock);
        vm = g_hash_table_lookup(h->vms, id);
        status = suspend_check(h, vm, id, code, error);
        if (status)
                goto out;
        if (state_parent(h, vm, &parent, error) < 0) {
                *code = "suspend_failed";
                status = 500;
                goto out;
        }
        name = g_strdup_printf("%" G_GINT64_FORMAT, g_get_real_time() / 1000);
        dir = g_build_filename(parent, name, NULL);
        /* Set before asking: the exit that follows the answer may be seen
         * before this thread has the lock again. */
        vm->suspended_dir = g_strdup(dir);
        vm->busy = true;
        r = suspend_request(h, vm, parent, name, &reply, error);
        vm->busy = false;
        if (r < 0 && vm->state == VM_RUNNING)
                g_clear_pointer(&vm->suspended_dir, g_free);
        if (r < 0 && vm->state != VM_SUSPENDED) {
                /* vdi-vm refused or failed: the guest runs on. */
                g_autofree char *quoted = log_quote(*error);
                log_warning("vm_suspend_failed", "vm=%s error=%s", id, quoted);
                *code = r == -ETIMEDOUT ? "vm_timeout" : "suspend_failed";
                status = r == -ETIMEDOUT ? 504 : 502;
                goto out;
        }
        path = suspended_path(vm);
        now = hostd_now_iso();
        rec = json_pack("{s:s, s:s}", "dir", dir, "at", now);
        if (hostd_write_json(path, rec, error) < 0) {
                json_decref(rec);
                *code = "suspend_failed";
                status = 500;
                goto out;
        }
        json_decref(rec);
        /* vdi-vm exits by itself once the state is written. */
        if (!hostd_vm_wait_exit(h, vm, SUSPEND_EXIT_S) && hostd_vm_halt(h, vm) < 0) {
                *code = "suspend_failed";
                *error = g_strdup_printf("VM \"%s\" did not exit after its suspend", id);
                status = 500;
                goto out;
        }
        hostd_vm_event(h, vm, "suspended",
                       json_pack("{s:f, s:I}", "paused_ms",
                                 json_real_value(json_object_get(reply, "paused_ms")), "ram_pages",
                                 json_integer_value(json_object_get(reply, "ram_pages"))));
        *out = hostd_vm_json(vm);
        status = 200;
out:
        json_decref(reply);
        pthread_mutex_unlock(&h->lock);
        return status;
}

int hostd_vm_resume_if_suspended(struct hostd *h, const char *id, char **error)
{
        struct timespec dl;
        struct hostd_vm *vm;
        int r = 0;

        pthread_mutex_lock(&h->lock);
        vm = g_hash_table_lookup(h->vms, id);
        if (!vm || vm->state != VM_SUSPENDED || vm->busy)
                goto out;
        r = hostd_vm_spawn(h, vm, error);
        if (r < 0) {
                g_autofree char *quoted = log_quote(*error);
                log_error("vm_resume_failed", "vm=%s error=%s", id, quoted);
                goto out;
        }
        /* The ticket goes over its control socket: wait for the monitor
         * to connect to the new process. */
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += RESUME_CONNECT_S;
        while (vm->state == VM_RUNNING && !vm->ctl)
                if (pthread_cond_timedwait(&h->cond, &h->lock, &dl) == ETIMEDOUT)
                        break;
        if (vm->state != VM_RUNNING) {
                *error = g_strdup_printf("VM \"%s\" could not be resumed: %s", id,
                                         vm->last_error ? vm->last_error : "its process ended");
                r = -EIO;
        }
out:
        pthread_mutex_unlock(&h->lock);
        return r;
}
