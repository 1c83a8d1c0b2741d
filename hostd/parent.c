/* Instant clones (issue 20): a parent per image version and VM shape,
 * booted once until its guest agent is up, then suspended
 * (hostd/vmm/SNAPSHOT.md); every instant clone of that shape is a
 * `vdi-vm --restore` of the parent's state on its own overlay over the
 * parent's disk. The clones' RAM is mapped MAP_PRIVATE from the one state
 * file, so what they only read stays shared; no clone boots a kernel.
 *
 *   parents/KEY/GEN/parent.json   written last: the parent is ready
 *   parents/KEY/GEN/vm/           the parent VM's directory while it ran:
 *                                 disk.qcow2 (read-only once suspended),
 *                                 state/NAME (the state clones restore),
 *                                 console.log, vdi-vm.log
 *
 * KEY names the image, its version, vCPUs, memory and network (a clone
 * must have the devices its parent had); GEN is the time its preparation
 * began. A parent is prepared when a clone first needs it (its create or
 * start), on a thread of its own, as a hidden VM (".parent-GEN": not
 * listed, not reported) that the monitor supervises like any other. Clones
 * started meanwhile wait ("start_pending") and are started when it is
 * ready, or marked crashed with the reason when it failed. A generation is
 * removed once it is neither the current one nor under any VM's overlay
 * (hostd_parents_gc); a parent made by another vdi-vm binary is not used
 * for new clones (a new one is prepared). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "log.h"

#define PARENT_FILE "parent.json"
/* After a failed preparation, clones are refused for this long before
 * the next attempt (a broken image must not boot in a loop). */
#define PARENT_RETRY_S 60

struct hostd_parent {
        char *key;
        char *image_id;
        int version, cpus, vlan;
        int64_t memory_mb;
        char *bridge;
        bool preparing;
        pthread_t thread;
        bool joinable;
        char *gen;              /* the generation being prepared */
        char *state_dir, *disk; /* the ready generation's, or NULL */
        char *ready_at;
        char *error;            /* the last preparation's failure */
        int64_t failed_at;      /* monotonic µs */
};

static void parent_free(struct hostd_parent *p)
{
        g_free(p->key);
        g_free(p->image_id);
        g_free(p->bridge);
        g_free(p->gen);
        g_free(p->state_dir);
        g_free(p->disk);
        g_free(p->ready_at);
        g_free(p->error);
        g_free(p);
}

static char *parents_dir(const struct hostd *h)
{
        return g_build_filename(h->cfg->state_dir, "parents", NULL);
}

/* The image, its version and the VM's shape: what a restore needs alike. */
static char *parent_key(const struct hostd_image *img, const struct hostd_vm *vm)
{
        g_autofree char *shape = g_strdup_printf("%s\n%d\n%d\n%lld\n%s\n%d", img->id, img->version, vm->cpus,
                                                 (long long)vm->memory_mb, vm->bridge ? vm->bridge : "",
                                                 vm->vlan);
        g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, shape, -1);

        return g_strdup_printf("%s-%.16s", img->id, sum);
}

/* What the parent's state was made by: a restore by another build of
 * vdi-vm may refuse it (device versions). */
static char *vm_binary_id(const struct hostd *h)
{
        struct stat st;

        if (stat(h->cfg->vm_binary, &st) < 0)
                return g_strdup("missing");
        return g_strdup_printf("%lld:%lld.%09ld", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                               st.st_mtim.tv_nsec);
}

static bool under(const char *path, const char *dir)
{
        size_t n = strlen(dir);

        return path && strncmp(path, dir, n) == 0 && path[n] == '/';
}

int hostd_parents_load(struct hostd *h, char **error)
{
        g_autofree char *root = parents_dir(h), *binary = vm_binary_id(h);
        g_autoptr(GDir) d = NULL;
        const char *key;

        (void)error;
        h->parents = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)parent_free);
        d = g_dir_open(root, 0, NULL);
        while (d && (key = g_dir_read_name(d))) {
                g_autofree char *kdir = g_build_filename(root, key, NULL);
                g_autoptr(GDir) gd = g_dir_open(kdir, 0, NULL);
                const char *gen;

                while (gd && (gen = g_dir_read_name(gd))) {
                        g_autofree char *gdir = g_build_filename(kdir, gen, NULL);
                        g_autofree char *path = g_build_filename(gdir, PARENT_FILE, NULL);
                        g_autofree char *err = NULL;
                        const char *image, *state, *disk, *made_by, *at, *bridge = NULL;
                        json_int_t version, cpus, mem, vlan = 0;
                        json_t *v = hostd_read_json(path, &err);

                        if (!v) {
                                /* A preparation that hostd's stop or crash cut short: its
                                 * parent VM may still run (VMs outlive hostd). */
                                g_autofree char *run = g_build_filename(gdir, "vm", "run.json", NULL);
                                json_t *r = hostd_read_json(run, NULL);
                                unsigned long long st = 0;
                                pid_t pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
                                if (pid > 0 && hostd_proc_starttime(pid, &st) == 0 &&
                                    st == (unsigned long long)json_integer_value(json_object_get(r, "starttime")))
                                        kill(pid, SIGKILL);
                                json_decref(r);
                                log_notice("parent_discarded", "dir=%s reason=unfinished", gdir);
                                hostd_rm_rf(gdir);
                                continue;
                        }
                        if (json_unpack(v, "{s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s?s, s?I}", "image", &image,
                                        "version", &version, "cpus", &cpus, "memory_mb", &mem, "state_dir", &state,
                                        "disk", &disk, "vm_binary", &made_by, "ready_at", &at, "bridge", &bridge,
                                        "vlan", &vlan) != 0 ||
                            !g_file_test(state, G_FILE_TEST_IS_DIR) || !g_file_test(disk, G_FILE_TEST_EXISTS)) {
                                log_warning("parent_unusable", "dir=%s", gdir);
                                json_decref(v);
                                continue; /* kept while a clone is on it; gc decides */
                        }
                        struct hostd_parent *p = g_hash_table_lookup(h->parents, key);
                        if (!p) {
                                p = g_new0(struct hostd_parent, 1);
                                p->key = g_strdup(key);
                                p->image_id = g_strdup(image);
                                p->version = (int)version;
                                p->cpus = (int)cpus;
                                p->memory_mb = mem;
                                p->bridge = bridge && *bridge ? g_strdup(bridge) : NULL;
                                p->vlan = (int)vlan;
                                g_hash_table_insert(h->parents, p->key, p);
                        }
                        /* The newest usable generation made by this vdi-vm. */
                        if (strcmp(made_by, binary) == 0 && (!p->state_dir || !under(p->state_dir, gdir)) &&
                            (!p->ready_at || strcmp(at, p->ready_at) > 0)) {
                                g_free(p->state_dir);
                                g_free(p->disk);
                                g_free(p->ready_at);
                                p->state_dir = g_strdup(state);
                                p->disk = g_strdup(disk);
                                p->ready_at = g_strdup(at);
                        }
                        json_decref(v);
                }
        }
        hostd_parents_gc(h);
        return 0;
}

void hostd_parents_free(struct hostd *h)
{
        GHashTableIter it;
        struct hostd_parent *p;

        if (!h->parents)
                return;
        /* hostd_monitor_stop set quit: preparations give up and end. */
        g_hash_table_iter_init(&it, h->parents);
        while (g_hash_table_iter_next(&it, NULL, (void **)&p))
                if (p->joinable)
                        pthread_join(p->thread, NULL);
        g_hash_table_destroy(h->parents);
        h->parents = NULL;
}

void hostd_parents_gc(struct hostd *h)
{
        g_autofree char *root = parents_dir(h);
        g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
        const char *key;

        while (d && (key = g_dir_read_name(d))) {
                struct hostd_parent *p = g_hash_table_lookup(h->parents, key);
                g_autofree char *kdir = g_build_filename(root, key, NULL);
                g_autoptr(GDir) gd = g_dir_open(kdir, 0, NULL);
                const char *gen;
                bool any = false;

                while (gd && (gen = g_dir_read_name(gd))) {
                        g_autofree char *gdir = g_build_filename(kdir, gen, NULL);
                        bool keep = p && (under(p->state_dir, gdir) || g_strcmp0(p->gen, gdir) == 0);
                        GHashTableIter it;
                        struct hostd_vm *vm;

                        g_hash_table_iter_init(&it, h->vms);
                        while (!keep && g_hash_table_iter_next(&it, NULL, (void **)&vm))
                                keep = under(vm->fork_disk, gdir) || under(vm->dir, gdir);
                        if (keep) {
                                any = true;
                                continue;
                        }
                        log_notice("parent_removed", "dir=%s", gdir);
                        hostd_rm_rf(gdir);
                }
                if (!any && (!p || !p->preparing))
                        rmdir(kdir);
        }
}

json_t *hostd_parents_json(struct hostd *h)
{
        json_t *arr = json_array();
        GHashTableIter it;
        struct hostd_parent *p;

        pthread_mutex_lock(&h->lock);
        g_hash_table_iter_init(&it, h->parents);
        while (g_hash_table_iter_next(&it, NULL, (void **)&p)) {
                json_t *v = json_pack("{s:s, s:s, s:i, s:i, s:I, s:s}", "key", p->key, "image", p->image_id,
                                      "version", p->version, "cpus", p->cpus, "memory_mb",
                                      (json_int_t)p->memory_mb, "state",
                                      p->preparing ? "preparing" : p->state_dir ? "ready" : "failed");
                int clones = 0;
                GHashTableIter vi;
                struct hostd_vm *vm;

                if (p->bridge)
                        json_object_set_new(v, "network", json_pack("{s:s, s:i}", "bridge", p->bridge, "vlan", p->vlan));
                if (p->state_dir) {
                        json_object_set_new(v, "state_dir", json_string(p->state_dir));
                        json_object_set_new(v, "ready_at", json_string(p->ready_at));
                }
                if (p->error)
                        json_object_set_new(v, "last_error", json_string(p->error));
                g_hash_table_iter_init(&vi, h->vms);
                while (g_hash_table_iter_next(&vi, NULL, (void **)&vm))
                        clones += vm->fork_state && p->state_dir && strcmp(vm->fork_state, p->state_dir) == 0;
                json_object_set_new(v, "clones", json_integer(clones));
                json_array_append_new(arr, v);
        }
        pthread_mutex_unlock(&h->lock);
        return json_pack("{s:o}", "parents", arr);
}

/* ---- preparing a parent ---- */

struct prep {
        struct hostd *h;
        char *key;
};

/* Lock held: the clones waiting for p start now, or learn why they cannot. */
static void wake_clones(struct hostd *h, struct hostd_parent *p)
{
        GHashTableIter it;
        struct hostd_vm *vm;

        g_hash_table_iter_init(&it, h->vms);
        while (g_hash_table_iter_next(&it, NULL, (void **)&vm)) {
                g_autofree char *err = NULL;
                if (!vm->start_pending)
                        continue;
                struct hostd_image *img = g_hash_table_lookup(h->images, vm->image_id);
                g_autofree char *key = img ? parent_key(img, vm) : NULL;
                if (g_strcmp0(key, p->key) != 0)
                        continue;
                vm->start_pending = false;
                if (p->state_dir && hostd_vm_spawn(h, vm, &err) == 0)
                        continue;
                g_free(vm->last_error);
                vm->last_error = p->state_dir ? g_steal_pointer(&err)
                                              : g_strdup_printf("instant-clone parent: %s", p->error);
                vm->state = VM_CRASHED;
                hostd_vm_event(h, vm, "crashed", json_pack("{s:s}", "reason", vm->last_error));
        }
        pthread_cond_broadcast(&h->cond);
}

/* Lock held, released while the parent boots. The parent VM suspended
 * with its state in vm->suspended_dir, or -errno with *error. */
static int parent_boot(struct hostd *h, struct hostd_vm *vm, const char *image_disk,
                       enum disk_format format, char **error)
{
        struct timespec dl;
        g_autofree char *out_err = NULL;
        const char *code = NULL;
        json_t *out = NULL;
        unsigned st;
        int r;

        pthread_mutex_unlock(&h->lock);
        r = g_mkdir_with_parents(vm->dir, 0700) < 0 ? -errno : 0;
        if (r < 0)
                *error = g_strdup_printf("%s: %s", vm->dir, g_strerror(-r));
        else
                r = hostd_make_overlay(vm->disk, image_disk, format, error);
        pthread_mutex_lock(&h->lock);
        vm->creating = false;
        vm->busy = false;
        if (r < 0)
                return r;
        r = hostd_vm_spawn(h, vm, error);
        if (r < 0)
                return r;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += h->cfg->parent_ready_timeout_s;
        while (vm->state == VM_RUNNING && !vm->agent_ready && !h->quit)
                if (pthread_cond_timedwait(&h->cond, &h->lock, &dl) == ETIMEDOUT)
                        break;
        if (!vm->agent_ready) {
                *error = vm->state != VM_RUNNING
                                 ? g_strdup_printf("its vdi-vm ended before the guest agent was up: %s",
                                                   vm->last_error ? vm->last_error : "see its vdi-vm.log")
                         : h->quit ? g_strdup("vdi-hostd is stopping")
                                   : g_strdup_printf("its guest agent did not come up within %lld s "
                                                     "([vm] parent_ready_timeout_s; see %s/console.log)",
                                                     (long long)h->cfg->parent_ready_timeout_s, vm->dir);
                return -ETIMEDOUT;
        }
        pthread_mutex_unlock(&h->lock);
        st = hostd_vm_suspend(h, vm->id, &out, &code, &out_err);
        json_decref(out);
        pthread_mutex_lock(&h->lock);
        if (st != 200) {
                *error = g_strdup_printf("its suspend failed: %s", out_err ? out_err : code);
                return -EIO;
        }
        return 0;
}

static void *prep_main(void *arg)
{
        struct prep *pa = arg;
        struct hostd *h = pa->h;
        g_autofree char *err = NULL, *image_disk = NULL, *vmdir = NULL, *id = NULL, *gen = NULL;
        struct hostd_parent *p;
        struct hostd_image *img;
        struct hostd_vm *vm;
        enum disk_format format;
        const char *code = NULL;
        int r = -ENOENT;

        pthread_mutex_lock(&h->lock);
        p = g_hash_table_lookup(h->parents, pa->key);
        img = g_hash_table_lookup(h->images, p->image_id);
        if (!img) {
                err = g_strdup_printf("image \"%s\" is gone from this host", p->image_id);
                goto done;
        }
        image_disk = g_strdup(img->disk);
        format = img->format;
        gen = g_path_get_basename(p->gen);
        id = g_strdup_printf(".parent-%s", gen);
        vmdir = g_build_filename(p->gen, "vm", NULL);
        vm = hostd_vm_new_hidden(h, id, vmdir, p->image_id, p->cpus, p->memory_mb, p->bridge, p->vlan,
                                 &code, &err);
        if (!vm) {
                r = -EAGAIN;
                goto done;
        }
        log_notice("parent_preparing", "parent=%s vm=%s", p->key, vm->id);
        r = parent_boot(h, vm, image_disk, format, &err);
        if (r == 0) {
                g_autofree char *path = g_build_filename(p->gen, PARENT_FILE, NULL);
                g_autofree char *binary = vm_binary_id(h), *now = hostd_now_iso();
                json_t *rec = json_pack("{s:s, s:i, s:i, s:I, s:s, s:s, s:s, s:s}", "image", p->image_id,
                                        "version", p->version, "cpus", p->cpus, "memory_mb",
                                        (json_int_t)p->memory_mb, "state_dir", vm->suspended_dir, "disk",
                                        vm->disk, "vm_binary", binary, "ready_at", now);
                if (p->bridge) {
                        json_object_set_new(rec, "bridge", json_string(p->bridge));
                        json_object_set_new(rec, "vlan", json_integer(p->vlan));
                }
                /* Nothing may write the parent's disk again: clones stand on it. */
                if (chmod(vm->disk, 0400) < 0 || hostd_write_json(path, rec, &err) < 0) {
                        if (!err)
                                err = g_strdup_printf("%s: %s", vm->disk, g_strerror(errno));
                        r = -EIO;
                } else {
                        g_free(p->state_dir);
                        g_free(p->disk);
                        g_free(p->ready_at);
                        p->state_dir = g_strdup(vm->suspended_dir);
                        p->disk = g_strdup(vm->disk);
                        p->ready_at = g_steal_pointer(&now);
                        g_clear_pointer(&p->error, g_free);
                }
                json_decref(rec);
        }
        if (vm->state == VM_RUNNING) {
                vm->busy = true;
                hostd_vm_halt(h, vm);
        }
        g_hash_table_steal(h->vms, vm->id);
        hostd_vm_free(vm);
done:
        if (r < 0) {
                g_autofree char *quoted = log_quote(err ? err : "unknown");
                log_error("parent_failed", "parent=%s error=%s", p->key, quoted);
                g_free(p->error);
                p->error = g_steal_pointer(&err);
                p->failed_at = g_get_monotonic_time();
                hostd_rm_rf(p->gen);
        } else {
                log_notice("parent_ready", "parent=%s state=%s", p->key, p->state_dir);
        }
        g_clear_pointer(&p->gen, g_free);
        p->preparing = false;
        wake_clones(h, p);
        hostd_parents_gc(h);
        pthread_mutex_unlock(&h->lock);
        g_free(pa->key);
        g_free(pa);
        return NULL;
}

/* Lock held: start preparing p. */
static int prepare(struct hostd *h, struct hostd_parent *p, char **error)
{
        struct prep *pa = g_new0(struct prep, 1);
        g_autofree char *root = parents_dir(h);
        int r;

        if (p->joinable) {
                /* The last preparation's thread is over (preparing is false). */
                pthread_join(p->thread, NULL);
                p->joinable = false;
        }
        p->gen = g_strdup_printf("%s/%s/%" G_GINT64_FORMAT, root, p->key, g_get_real_time() / 1000);
        pa->h = h;
        pa->key = g_strdup(p->key);
        p->preparing = true;
        r = pthread_create(&p->thread, NULL, prep_main, pa);
        if (r) {
                p->preparing = false;
                g_clear_pointer(&p->gen, g_free);
                g_free(pa->key);
                g_free(pa);
                *error = g_strdup_printf("cannot start a thread: %s", g_strerror(r));
                return -r;
        }
        p->joinable = true;
        return 0;
}

int hostd_parent_fork_point(struct hostd *h, struct hostd_vm *vm, char **error)
{
        struct hostd_image *img = g_hash_table_lookup(h->images, vm->image_id);
        g_autofree char *key = NULL;
        struct hostd_parent *p;

        if (!img) {
                *error = g_strdup_printf("image \"%s\" is gone from this host", vm->image_id);
                return -ENOENT;
        }
        key = parent_key(img, vm);
        p = g_hash_table_lookup(h->parents, key);
        if (!p) {
                p = g_new0(struct hostd_parent, 1);
                p->key = g_steal_pointer(&key);
                p->image_id = g_strdup(img->id);
                p->version = img->version;
                p->cpus = vm->cpus;
                p->memory_mb = vm->memory_mb;
                p->bridge = g_strdup(vm->bridge);
                p->vlan = vm->vlan;
                g_hash_table_insert(h->parents, p->key, p);
        }
        if (p->state_dir) {
                g_free(vm->fork_state);
                g_free(vm->fork_disk);
                vm->fork_state = g_strdup(p->state_dir);
                vm->fork_disk = g_strdup(p->disk);
                return 1;
        }
        if (p->preparing)
                return 0;
        if (p->error && g_get_monotonic_time() - p->failed_at < PARENT_RETRY_S * G_USEC_PER_SEC) {
                *error = g_strdup_printf("instant-clone parent of image \"%s\" failed %lld s ago: %s", p->image_id,
                                         (long long)((g_get_monotonic_time() - p->failed_at) / G_USEC_PER_SEC),
                                         p->error);
                return -EAGAIN;
        }
        return prepare(h, p, error);
}

void hostd_vm_forked(struct hostd *h, struct hostd_vm *vm)
{
        /* Its restore was accepted: it runs as its parent did, up (no boot
         * to wait for). */
        vm->forking = false;
        vm->booted = true;
        hostd_vm_event(h, vm, "booted", json_pack("{s:s}", "forked_from", vm->fork_state));
}
