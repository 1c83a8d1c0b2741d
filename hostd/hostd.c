/* vdi-hostd's context: set up and tear down, host facts for the status. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "hostd/vmctl.h"
#include "log.h"

bool hostd_id_valid(const char *id)
{
        size_t n = strlen(id);

        if (n == 0 || n > HOSTD_ID_MAX || id[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!g_ascii_isalnum(id[i]) && id[i] != '.' && id[i] != '_' && id[i] != '-')
                        return false;
        return true;
}

char *hostd_now_iso(void)
{
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
}

int hostd_init(struct hostd *h, struct hostd_config *cfg, char **error)
{
        pthread_condattr_t ca;
        int r;

        memset(h, 0, sizeof(*h));
        h->cfg = cfg;
        pthread_mutex_init(&h->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&h->cond, &ca);
        pthread_condattr_destroy(&ca);
        h->images = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify)hostd_image_free);
        h->vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify)hostd_vm_free);
        h->importing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (pipe2(h->wake_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
                *error = g_strdup_printf("pipe: %s", g_strerror(errno));
                return -errno;
        }
        if (g_mkdir_with_parents(cfg->state_dir, 0700) < 0) {
                *error = g_strdup_printf("[hostd] state_dir %s: %s", cfg->state_dir,
                                         g_strerror(errno));
                return -errno;
        }
        if (g_mkdir_with_parents(cfg->runtime_dir, 0700) < 0) {
                *error = g_strdup_printf("[hostd] runtime_dir %s: %s", cfg->runtime_dir,
                                         g_strerror(errno));
                return -errno;
        }
        hostd_probe_caps(cfg->vm_binary, &h->caps);
        r = hostd_reconnect_init(h, error);
        if (r < 0)
                return r;
        r = hostd_images_load(h, error);
        if (r == 0) {
                pthread_mutex_lock(&h->lock);
                r = hostd_vms_load(h, error);
                if (r == 0)
                        r = hostd_parents_load(h, error);
                pthread_mutex_unlock(&h->lock);
        }
        return r;
}

void hostd_fini(struct hostd *h)
{
        GHashTableIter it;
        struct hostd_vm *vm;

        hostd_parents_free(h);
        /* VMs keep running: only our handles on them go. */
        if (h->vms) {
                g_hash_table_iter_init(&it, h->vms);
                while (g_hash_table_iter_next(&it, NULL, (void **)&vm)) {
                        if (vm->ctl) {
                                vmctl_shutdown(vm->ctl);
                                vmctl_unref(vm->ctl);
                        }
                        if (vm->pidfd >= 0)
                                close(vm->pidfd);
                }
                g_hash_table_destroy(h->vms);
        }
        if (h->images)
                g_hash_table_destroy(h->images);
        if (h->importing)
                g_hash_table_destroy(h->importing);
        if (h->wake_fd[0] > 0) {
                close(h->wake_fd[0]);
                close(h->wake_fd[1]);
        }
        hostd_reconnect_fini(h);
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->cond);
}

static uint64_t meminfo_kb(const char *key)
{
        g_autofree char *text = NULL;
        const char *p;

        if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL))
                return 0;
        p = strstr(text, key);
        return p ? g_ascii_strtoull(p + strlen(key), NULL, 10) : 0;
}

json_t *hostd_status_json(struct hostd *h)
{
        struct sysinfo si = { 0 };
        double load[3] = { 0 };
        json_t *vms = json_array();
        GHashTableIter it;
        struct hostd_vm *vm;
        int64_t alloc_cpus = 0, alloc_mem = 0, running = 0;
        uint64_t total_mb, avail_mb;

        sysinfo(&si);
        getloadavg(load, 3);
        total_mb = (uint64_t)si.totalram * si.mem_unit / (1024 * 1024);
        avail_mb = meminfo_kb("MemAvailable:") / 1024;

        pthread_mutex_lock(&h->lock);
        g_hash_table_iter_init(&it, h->vms);
        while (g_hash_table_iter_next(&it, NULL, (void **)&vm)) {
                json_t *v = json_pack("{s:s, s:s, s:s, s:b, s:i, s:I}", "id", vm->id, "image",
                                      vm->image_id, "state", hostd_vm_state_name(vm->state),
                                      "booted", vm->booted, "cpus", vm->cpus, "memory_mb",
                                      (json_int_t)vm->memory_mb);
                if (vm->state == VM_RUNNING) {
                        json_object_set_new(v, "pid", json_integer(vm->pid));
                        alloc_cpus += vm->cpus;
                        alloc_mem += vm->memory_mb;
                        running++;
                }
                json_array_append_new(vms, v);
        }
        size_t n_images = g_hash_table_size(h->images);
        pthread_mutex_unlock(&h->lock);

        return json_pack("{s:s, s:s, s:{s:i, s:[f,f,f]}, s:{s:I, s:I, s:I}, "
                         "s:{s:I, s:I, s:I}, s:I, s:o, s:{s:b, s:b, s:b}}",
                         "host", h->cfg->name, "address", h->cfg->public_address,
                         "cpu", "count", (int)sysconf(_SC_NPROCESSORS_ONLN), "load", load[0],
                         load[1], load[2],
                         "memory_mb", "total", (json_int_t)total_mb, "available",
                         (json_int_t)avail_mb, "reserved", (json_int_t)h->cfg->reserve_memory_mb,
                         "allocated", "vcpus", (json_int_t)alloc_cpus, "memory_mb",
                         (json_int_t)alloc_mem, "running_vms", (json_int_t)running,
                         "images", (json_int_t)n_images, "vms", vms,
                         "vm_features", "disk", h->caps.disk, "control", h->caps.control,
                         "framebuffer", h->caps.framebuffer);
}
