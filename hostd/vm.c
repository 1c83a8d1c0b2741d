/* VM records: a linked clone (qcow2 overlay over an image's disk) or an
 * instant clone (an overlay over its parent's disk, forked from the
 * parent's memory: parent.c), its size and ports, persisted in
 * state_dir/vms/ID/vm.json. Create, refresh (new overlay; an instant
 * clone is forked again) and delete; the process side is in supervise.c. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "hostd/net.h"
#include "log.h"

const char *hostd_vm_state_name(enum hostd_vm_state s)
{
        switch (s) {
        case VM_RUNNING:
                return "running";
        case VM_CRASHED:
                return "crashed";
        case VM_SUSPENDED:
                return "suspended";
        case VM_STOPPED:
        default:
                return "stopped";
        }
}

void hostd_vm_free(struct hostd_vm *vm)
{
        if (!vm)
                return;
        g_free(vm->id);
        g_free(vm->image_id);
        g_free(vm->dir);
        g_free(vm->disk);
        g_free(vm->created_at);
        g_free(vm->bridge);
        g_free(vm->clipboard);
        g_free(vm->last_error);
        g_free(vm->suspended_dir);
        g_free(vm->fork_state);
        g_free(vm->fork_disk);
        json_decref(vm->events);
        g_free(vm);
}

/* {"bridge", "vlan"?, "mac", "tap"?} of a VM with a network, else NULL. */
static json_t *vm_network(const struct hostd_vm *vm, bool with_tap)
{
        char mac[18], tap[IFNAMSIZ];
        json_t *n;

        if (!vm->bridge)
                return NULL;
        net_mac_format(vm->mac, mac);
        n = json_pack("{s:s, s:s}", "bridge", vm->bridge, "mac", mac);
        if (vm->vlan)
                json_object_set_new(n, "vlan", json_integer(vm->vlan));
        if (with_tap) {
                net_tap_name(vm->mac, tap);
                json_object_set_new(n, "tap", json_string(tap));
        }
        return n;
}

static json_t *vm_spec(const struct hostd_vm *vm)
{
        json_t *v = json_pack("{s:s, s:i, s:I}", "image", vm->image_id, "cpus", vm->cpus,
                              "memory_mb", (json_int_t)vm->memory_mb);
        json_t *net = vm_network(vm, false);

        if (net)
                json_object_set_new(v, "network", net);
        if (vm->clipboard)
                json_object_set_new(v, "clipboard", json_string(vm->clipboard));
        if (vm->instant)
                json_object_set_new(v, "clone", json_string("instant"));
        return v;
}

/* A clipboard policy for vdi-vm --clipboard: a copy of s when it is one
 * that is not the default, NULL for "both", absent or unknown. */
static char *clipboard_parse(const char *s)
{
        static const char *const kept[] = { "guest-to-client", "client-to-guest", "none", NULL };

        return s && g_strv_contains(kept, s) ? g_strdup(s) : NULL;
}

/* Is mac used by a VM of this host other than skip? (lock held) */
struct mac_query {
        struct hostd *h;
        const char *skip;
};

static bool mac_in_use(const uint8_t mac[6], void *opaque)
{
        struct mac_query *q = opaque;
        GHashTableIter it;
        struct hostd_vm *vm;

        g_hash_table_iter_init(&it, q->h->vms);
        while (g_hash_table_iter_next(&it, NULL, (void **)&vm))
                if (vm->bridge && strcmp(vm->id, q->skip) != 0 && memcmp(vm->mac, mac, 6) == 0)
                        return true;
        return false;
}

/* "network" of a PUT body or vm.json: bridge and optional vlan (0: none). 0,
 * or -EINVAL with *error. */
static int network_parse(json_t *net, char **bridge, int *vlan, const char **mac, char **error)
{
        const char *br = NULL;
        json_int_t v = 0;
        json_error_t jerr;

        *mac = NULL;
        if (json_unpack_ex(net, &jerr, JSON_STRICT, "{s:s, s?I, s?s}", "bridge", &br, "vlan", &v, "mac", mac) != 0) {
                *error = g_strdup_printf("VM: network: %s (fields: bridge; optional vlan)", jerr.text);
                return -EINVAL;
        }
        if (!net_ifname_valid(br)) {
                *error = g_strdup_printf("VM: network: bridge \"%s\" is not a valid interface name "
                                         "(1-15 characters, no '/', ':' or blanks)",
                                         br);
                return -EINVAL;
        }
        if (v < 0 || v > 4094) {
                *error = g_strdup_printf("VM: network: vlan %lld is out of range 1..4094 (0 or absent: none)",
                                         (long long)v);
                return -EINVAL;
        }
        *bridge = g_strdup(br);
        *vlan = (int)v;
        return 0;
}

json_t *hostd_vm_json(const struct hostd_vm *vm)
{
        json_t *net = vm_network(vm, true);
        json_t *v = json_pack("{s:s, s:s, s:i, s:I, s:s, s:b, s:i, s:i, s:s, s:s, s:b, s:b, s:O}",
                              "id", vm->id, "image", vm->image_id, "cpus", vm->cpus, "memory_mb",
                              (json_int_t)vm->memory_mb, "state",
                              hostd_vm_state_name(vm->state), "booted", vm->booted,
                              "spice_port", vm->spice_port, "rdp_port", vm->rdp_port, "disk",
                              vm->disk, "created_at", vm->created_at, "control", vm->ctl != NULL,
                              "adopted", vm->adopted, "events", vm->events);
        if (net)
                json_object_set_new(v, "network", net);
        if (vm->clipboard)
                json_object_set_new(v, "clipboard", json_string(vm->clipboard));
        if (vm->web_port)
                json_object_set_new(v, "web_port", json_integer(vm->web_port));
        if (vm->creating)
                json_object_set_new(v, "creating", json_true());
        if (vm->instant) {
                json_object_set_new(v, "clone", json_string("instant"));
                if (vm->fork_state)
                        json_object_set_new(v, "parent_state", json_string(vm->fork_state));
        }
        if (vm->start_pending)
                json_object_set_new(v, "start_pending", json_true());
        if (vm->state == VM_RUNNING)
                json_object_set_new(v, "pid", json_integer(vm->pid));
        if (vm->last_error)
                json_object_set_new(v, "last_error", json_string(vm->last_error));
        return v;
}

int hostd_vm_save(const struct hostd_vm *vm, char **error)
{
        g_autofree char *path = g_build_filename(vm->dir, "vm.json", NULL);
        json_t *v = vm_spec(vm);
        int r;

        json_object_set_new(v, "id", json_string(vm->id));
        json_object_set_new(v, "spice_port", json_integer(vm->spice_port));
        json_object_set_new(v, "rdp_port", json_integer(vm->rdp_port));
        if (vm->web_port)
                json_object_set_new(v, "web_port", json_integer(vm->web_port));
        if (vm->fork_state && vm->fork_disk) {
                json_object_set_new(v, "parent_state", json_string(vm->fork_state));
                json_object_set_new(v, "parent_disk", json_string(vm->fork_disk));
                if (vm->fork_started)
                        json_object_set_new(v, "forked", json_true());
        }
        json_object_set_new(v, "created_at", json_string(vm->created_at));
        r = hostd_write_json(path, v, error);
        json_decref(v);
        return r;
}

int hostd_vm_save_run(struct hostd_vm *vm)
{
        g_autofree char *path = g_build_filename(vm->dir, "run.json", NULL);
        g_autofree char *err = NULL;
        json_t *v = json_pack("{s:i, s:I}", "pid", (int)vm->pid, "starttime",
                              (json_int_t)vm->starttime);
        int r;

        /* A hostd that restarts meanwhile knows this process is a resume. */
        if (vm->resuming && vm->suspended_dir)
                json_object_set_new(v, "resuming", json_string(vm->suspended_dir));
        r = hostd_write_json(path, v, &err);

        json_decref(v);
        if (r < 0) {
                g_autofree char *quoted = log_quote(err);
                log_error("vm_state_write_failed", "vm=%s error=%s", vm->id, quoted);
        }
        return r;
}

void hostd_vm_event(struct hostd *h, struct hostd_vm *vm, const char *event, json_t *extra)
{
        g_autofree char *at = hostd_now_iso();
        json_t *ev = extra ? extra : json_object();
        const char *reason = json_string_value(json_object_get(ev, "reason"));

        json_object_set_new(ev, "event", json_string(event));
        json_object_set_new(ev, "at", json_string(at));
        json_array_append_new(vm->events, ev);
        while (json_array_size(vm->events) > HOSTD_VM_EVENTS)
                json_array_remove(vm->events, 0);
        if (reason) {
                g_autofree char *quoted = log_quote(reason);
                log_notice("vm_event", "vm=%s event=%s reason=%s", vm->id, event, quoted);
        } else
                log_notice("vm_event", "vm=%s event=%s", vm->id, event);
        if (!vm->hidden) /* a parent is no desktop */
                hostd_report_event(h, vm->id, event, reason);
}

/* Free ports in [port_min, port_max] not used by any VM: SPICE, RDP and,
 * with [vm] web_origin, web (else *web = 0). */
static int alloc_ports(struct hostd *h, int *spice, int *rdp, int *web)
{
        GHashTable *used = g_hash_table_new(g_direct_hash, g_direct_equal);
        GHashTableIter it;
        struct hostd_vm *vm;
        int found[3], n = 0, want = h->cfg->web_origin ? 3 : 2;

        g_hash_table_iter_init(&it, h->vms);
        while (g_hash_table_iter_next(&it, NULL, (void **)&vm)) {
                g_hash_table_add(used, GINT_TO_POINTER(vm->spice_port));
                g_hash_table_add(used, GINT_TO_POINTER(vm->rdp_port));
                g_hash_table_add(used, GINT_TO_POINTER(vm->web_port));
        }
        for (int p = (int)h->cfg->port_min; p <= (int)h->cfg->port_max && n < want; p++)
                if (!g_hash_table_contains(used, GINT_TO_POINTER(p)))
                        found[n++] = p;
        g_hash_table_destroy(used);
        if (n < want)
                return -ENOSPC;
        *spice = found[0];
        *rdp = found[1];
        *web = want == 3 ? found[2] : 0;
        return 0;
}

/* What an overlay is built over: the image's disk, copied under the lock
 * so the files can be made without it. */
struct backing {
        char *path;
        enum disk_format format;
};

static void backing_clear(struct backing *b)
{
        g_clear_pointer(&b->path, g_free);
}

/* What vm's overlay goes over (lock held): the image's disk, or for an
 * instant clone its parent's disk once the parent is ready (else no
 * path: the overlay is made when it starts). 0 or -errno with *error. */
static int backing_of(struct hostd *h, struct hostd_vm *vm, struct backing *b, char **error)
{
        struct hostd_image *img = g_hash_table_lookup(h->images, vm->image_id);

        if (!img) {
                *error = g_strdup_printf("image \"%s\" is gone from this host", vm->image_id);
                return -ENOENT;
        }
        if (vm->instant) {
                int r;
                g_clear_pointer(&vm->fork_state, g_free);
                g_clear_pointer(&vm->fork_disk, g_free);
                vm->fork_started = false; /* forked afresh at its next start */
                r = hostd_parent_fork_point(h, vm, error);
                if (r < 0)
                        return r;
                b->path = g_strdup(vm->fork_disk); /* NULL while not ready */
                b->format = DISK_FORMAT_QCOW2;
                return 0;
        }
        b->path = g_strdup(img->disk);
        b->format = img->format;
        return 0;
}

int hostd_make_overlay(const char *disk, const char *backing, enum disk_format format, char **error)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2 };
        g_autofree char *tmp = g_strdup_printf("%s.new", disk);
        int r;

        o.backing_file = backing;
        o.backing_format = format;
        /* Build aside, then rename over the old overlay: never half a disk. */
        r = disk_create(tmp, &o, error);
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        if (rename(tmp, disk) < 0) {
                r = -errno;
                *error = g_strdup_printf("%s: %s", disk, g_strerror(errno));
                unlink(tmp);
                return r;
        }
        return 0;
}

/* A fresh overlay at disk over b; none while b has no path (an instant
 * clone without a ready parent: the start makes it). Needs no lock: the
 * caller keeps others off this VM's files (busy). */
static int make_overlay(const char *disk, const struct backing *b, char **error)
{
        if (!b->path) {
                unlink(disk);
                return 0;
        }
        return hostd_make_overlay(disk, b->path, b->format, error);
}

static struct hostd_vm *vm_new(struct hostd *h, const char *id)
{
        struct hostd_vm *vm = g_new0(struct hostd_vm, 1);

        vm->id = g_strdup(id);
        vm->dir = g_build_filename(h->cfg->state_dir, "vms", id, NULL);
        vm->disk = g_build_filename(vm->dir, "disk.qcow2", NULL);
        vm->events = json_array();
        vm->pidfd = -1;
        vm->state = VM_STOPPED;
        /* Made or found at start: no earlier reconnect ticket is known good. */
        vm->tickets_since = g_get_real_time() / 1000;
        return vm;
}

int hostd_vms_load(struct hostd *h, char **error)
{
        g_autofree char *dir = g_build_filename(h->cfg->state_dir, "vms", NULL);
        g_autoptr(GDir) d = NULL;
        const char *name;
        int r = hostd_open_dir(dir, &d, error);

        if (r < 0)
                return r;
        while ((name = g_dir_read_name(d))) {
                g_autofree char *path = g_build_filename(dir, name, "vm.json", NULL);
                g_autofree char *err = NULL;
                const char *image, *created;
                json_int_t cpus, mem, sp, rp;
                json_t *v;

                if (!hostd_id_valid(name))
                        continue;
                v = hostd_read_json(path, &err);
                if (!v || json_unpack(v, "{s:s, s:I, s:I, s:I, s:I, s:s}", "image", &image, "cpus",
                                      &cpus, "memory_mb", &mem, "spice_port", &sp, "rdp_port", &rp,
                                      "created_at", &created) != 0) {
                        /* A create interrupted before vm.json landed. */
                        g_autofree char *quoted = log_quote(err ? err : "vm.json lacks fields");
                        log_warning("vm_skipped", "dir=%s/%s error=%s", dir, name, quoted);
                        json_decref(v);
                        continue;
                }
                struct hostd_vm *vm = vm_new(h, name);
                json_t *net = json_object_get(v, "network");
                if (net) {
                        const char *mac = NULL;
                        if (network_parse(net, &vm->bridge, &vm->vlan, &mac, &err) < 0 || !mac ||
                            net_mac_parse(mac, vm->mac) < 0) {
                                g_autofree char *quoted = log_quote(err ? err : "bad network.mac");
                                log_warning("vm_network_ignored", "vm=%s error=%s", name, quoted);
                                g_clear_pointer(&vm->bridge, g_free);
                        }
                }
                vm->image_id = g_strdup(image);
                vm->cpus = (int)cpus;
                vm->memory_mb = mem;
                /* Absent: both (VMs made before the policy, or the default). */
                vm->clipboard = clipboard_parse(json_string_value(json_object_get(v, "clipboard")));
                vm->spice_port = (int)sp;
                vm->rdp_port = (int)rp;
                /* Absent in VMs made before the web display, or without web_origin. */
                vm->web_port = (int)json_integer_value(json_object_get(v, "web_port"));
                vm->created_at = g_strdup(created);
                vm->instant = g_strcmp0(json_string_value(json_object_get(v, "clone")), "instant") == 0;
                vm->fork_state = g_strdup(json_string_value(json_object_get(v, "parent_state")));
                vm->fork_disk = g_strdup(json_string_value(json_object_get(v, "parent_disk")));
                vm->fork_started = json_is_true(json_object_get(v, "forked"));
                if (!vm->fork_state != !vm->fork_disk || !g_file_test(vm->disk, G_FILE_TEST_EXISTS)) {
                        g_clear_pointer(&vm->fork_state, g_free); /* forked at its next start */
                        g_clear_pointer(&vm->fork_disk, g_free);
                }
                json_decref(v);
                g_hash_table_insert(h->vms, vm->id, vm);
                hostd_vm_adopt(h, vm);
                hostd_vm_suspend_load(vm);
        }
        return 0;
}

/* PUT of an id that exists (lock held): 200 with its JSON when it is the
 * same VM, else 409. A new clipboard policy is no new VM: it is stored
 * (a dedicated desktop keeps its disk) and applies from its next start. */
static unsigned vm_put_existing(struct hostd_vm *old, const char *image, json_int_t cpus,
                                json_int_t mem, const char *bridge, int vlan, const char *clipboard,
                                bool instant, json_t **out, const char **code, char **error)
{
        bool same = strcmp(old->image_id, image) == 0 && old->cpus == cpus &&
                    old->memory_mb == mem && g_strcmp0(old->bridge, bridge) == 0 &&
                    old->vlan == vlan && old->instant == instant;

        if (same && g_strcmp0(old->clipboard, clipboard) != 0) {
                g_autofree char *was = old->clipboard;
                old->clipboard = g_strdup(clipboard);
                if (hostd_vm_save(old, error) < 0) {
                        g_free(old->clipboard);
                        old->clipboard = g_steal_pointer(&was);
                        *code = "save_failed";
                        return 500;
                }
                log_info("vm_clipboard", "vm=%s clipboard=%s", old->id, clipboard ? clipboard : "both");
        }
        if (same) {
                *out = hostd_vm_json(old);
                return 200;
        }
        *code = "conflict";
        *error = g_strdup_printf("VM \"%s\" already exists as %s clone of image \"%s\" with %d "
                                 "vCPUs and %lld MiB (network: %s, VLAN %d); delete it first to "
                                 "change it",
                                 old->id, old->instant ? "an instant" : "a linked", old->image_id,
                                 old->cpus, (long long)old->memory_mb,
                                 old->bridge ? old->bridge : "none", old->vlan);
        return 409;
}

/* Give the new vm its MAC (with a bridge) and ports and put it in the
 * table, creating and busy (lock held). 201, or 503 with vm freed. */
static unsigned vm_reserve(struct hostd *h, struct hostd_vm *vm, const char **code, char **error)
{
        if (vm->bridge) {
                struct mac_query q = { h, vm->id };
                if (net_mac_for(h->cfg->mac_prefix_bytes, vm->id, mac_in_use, &q, vm->mac) < 0) {
                        *code = "no_mac";
                        *error = g_strdup_printf("no free MAC address for VM \"%s\" under [network] "
                                                 "mac_prefix %s",
                                                 vm->id, h->cfg->mac_prefix);
                        hostd_vm_free(vm);
                        return 503;
                }
        }
        if (alloc_ports(h, &vm->spice_port, &vm->rdp_port, &vm->web_port) < 0) {
                *code = "no_ports";
                *error = g_strdup_printf("no free ports left in [vm] port_min..port_max "
                                         "(%lld-%lld); widen the range or delete VMs",
                                         (long long)h->cfg->port_min, (long long)h->cfg->port_max);
                hostd_vm_free(vm);
                return 503;
        }
        vm->creating = true;
        vm->busy = true;
        g_hash_table_insert(h->vms, vm->id, vm);
        return 201;
}

struct hostd_vm *hostd_vm_new_hidden(struct hostd *h, const char *id, const char *dir, const char *image,
                                     int cpus, int64_t memory_mb, const char *bridge, int vlan,
                                     const char **code, char **error)
{
        struct hostd_vm *vm = vm_new(h, id);

        g_free(vm->dir);
        g_free(vm->disk);
        vm->dir = g_strdup(dir);
        vm->disk = g_build_filename(dir, "disk.qcow2", NULL);
        vm->image_id = g_strdup(image);
        vm->cpus = cpus;
        vm->memory_mb = memory_mb;
        vm->created_at = hostd_now_iso();
        vm->bridge = g_strdup(bridge);
        vm->vlan = vlan;
        vm->hidden = true;
        return vm_reserve(h, vm, code, error) == 201 ? vm : NULL;
}

int hostd_vm_fork_files(struct hostd_vm *vm, char **error)
{
        int r = hostd_make_overlay(vm->disk, vm->fork_disk, DISK_FORMAT_QCOW2, error);

        return r < 0 ? r : hostd_vm_save(vm, error);
}

/* The new VM's directory, overlay over b, and vm.json last (its presence
 * means the VM exists). Without the lock; on failure nothing is left. */
static int vm_make_files(struct hostd_vm *vm, struct backing *b, char **error)
{
        int r;

        /* A leftover directory without vm.json is an interrupted create. */
        hostd_rm_rf(vm->dir);
        if (g_mkdir_with_parents(vm->dir, 0700) < 0) {
                r = -errno;
                *error = g_strdup_printf("%s: %s", vm->dir, g_strerror(errno));
        } else {
                r = make_overlay(vm->disk, b, error);
                if (r == 0)
                        r = hostd_vm_save(vm, error);
        }
        if (r < 0)
                hostd_rm_rf(vm->dir);
        backing_clear(b);
        return r;
}

unsigned hostd_vm_put(struct hostd *h, const char *id, json_t *body, json_t **out,
                      const char **code, char **error)
{
        const char *image = NULL, *mac_given = NULL, *clone = NULL;
        json_int_t cpus = 1, mem = 512;
        json_error_t jerr;
        json_t *net = NULL;
        g_autofree char *bridge = NULL, *clipboard = NULL;
        const char *clip_given = NULL;
        int vlan = 0;
        struct hostd_vm *vm, *old;
        struct backing b = { 0 };
        unsigned status = 201;
        int r;

        *code = "bad_request";
        if (!hostd_id_valid(id)) {
                *error = g_strdup_printf("VM id \"%s\" is not valid (1-%d of A-Z a-z 0-9 . _ -)",
                                         id, HOSTD_ID_MAX);
                return 400;
        }
        if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s?I, s?I, s?o, s?s, s?s}", "image", &image, "cpus",
                           &cpus, "memory_mb", &mem, "network", &net, "clipboard", &clip_given, "clone",
                           &clone) != 0) {
                *error = g_strdup_printf("VM: %s (fields: image; optional cpus, memory_mb, network, clipboard, "
                                         "clone)",
                                         jerr.text);
                return 400;
        }
        if (clone && strcmp(clone, "linked") != 0 && strcmp(clone, "instant") != 0) {
                *error = g_strdup_printf("VM: clone \"%s\" must be linked (boots) or instant (forked from a "
                                         "running parent)",
                                         clone);
                return 400;
        }
        if (clone && strcmp(clone, "instant") == 0 && !h->caps.suspend) {
                *code = "unsupported_clone";
                *error = g_strdup_printf("VM: clone \"instant\": this host's vdi-vm (%s) cannot snapshot and "
                                         "restore VMs (update vdi-vm on this host)",
                                         h->cfg->vm_binary);
                return 400;
        }
        clipboard = clipboard_parse(clip_given);
        if (clip_given && !clipboard && strcmp(clip_given, "both") != 0) {
                *error = g_strdup_printf("VM: clipboard \"%s\" must be both, guest-to-client, client-to-guest "
                                         "or none", clip_given);
                return 400;
        }
        if (clipboard && !h->caps.clipboard) {
                *code = "unsupported_clipboard";
                *error = g_strdup_printf("VM: clipboard \"%s\": this host's vdi-vm has no --clipboard "
                                         "(update vdi-vm on this host)", clipboard);
                return 400;
        }
        if (net && !json_is_null(net)) {
                if (network_parse(net, &bridge, &vlan, &mac_given, error) < 0)
                        return 400;
                if (mac_given) {
                        *error = g_strdup("VM: network: mac is chosen by the host (from [network] mac_prefix "
                                          "and the VM id); leave it out");
                        return 400;
                }
        }
        if (cpus < 1 || cpus > 64 || mem < 64 || mem > (1 << 22)) {
                *error = g_strdup_printf("VM: cpus must be 1-64 and memory_mb 64-%d", 1 << 22);
                return 400;
        }

        pthread_mutex_lock(&h->lock);
        /* A create of this id in flight: its outcome decides ours. */
        while ((old = g_hash_table_lookup(h->vms, id)) && old->creating)
                pthread_cond_wait(&h->cond, &h->lock);
        if (old) {
                status = vm_put_existing(old, image, cpus, mem, bridge, vlan, clipboard,
                                         g_strcmp0(clone, "instant") == 0, out, code, error);
                goto out;
        }
        if (!g_hash_table_contains(h->images, image)) {
                *code = "unknown_image";
                *error = g_strdup_printf("image \"%s\" is not on this host (import it with PUT "
                                         "/api/v1/images/%s)",
                                         image, image);
                status = 422;
                goto out;
        }
        vm = vm_new(h, id);
        vm->image_id = g_strdup(image);
        vm->cpus = (int)cpus;
        vm->memory_mb = mem;
        vm->created_at = hostd_now_iso();
        vm->bridge = g_steal_pointer(&bridge);
        vm->vlan = vlan;
        vm->clipboard = g_steal_pointer(&clipboard);
        vm->instant = g_strcmp0(clone, "instant") == 0;
        status = vm_reserve(h, vm, code, error);
        if (status != 201)
                goto out;
        /* Images are never removed; a parent that failed lately leaves the
         * overlay to the start (which reports it). */
        if (backing_of(h, vm, &b, error) < 0)
                g_clear_pointer(error, g_free);
        /* The name, MAC and ports are taken (the VM is in the table,
         * creating and busy): the files are made without the lock, so
         * creates of other VMs run side by side. */
        pthread_mutex_unlock(&h->lock);
        r = vm_make_files(vm, &b, error);
        pthread_mutex_lock(&h->lock);
        vm->creating = false;
        vm->busy = false;
        pthread_cond_broadcast(&h->cond);
        if (r < 0) {
                *code = "create_failed";
                g_hash_table_steal(h->vms, vm->id);
                hostd_vm_free(vm);
                status = 500;
                goto out;
        }
        hostd_vm_event(h, vm, "created", NULL);
        *out = hostd_vm_json(vm);
out:
        pthread_mutex_unlock(&h->lock);
        return status;
}

/* A fresh overlay for stopped vm (lock held, released while the file is
 * made; vm is busy meanwhile, so nothing starts or deletes it). */
static int vm_refresh_files(struct hostd *h, struct hostd_vm *vm, char **error)
{
        struct backing b = { 0 };
        int r = backing_of(h, vm, &b, error);

        if (r < 0)
                return r;
        vm->busy = true;
        pthread_mutex_unlock(&h->lock);
        r = make_overlay(vm->disk, &b, error);
        if (r == 0 && vm->instant)
                r = hostd_vm_save(vm, error); /* the parent state it is forked from now */
        pthread_mutex_lock(&h->lock);
        vm->busy = false;
        backing_clear(&b);
        return r;
}

unsigned hostd_vm_refresh(struct hostd *h, const char *id, json_t **out, const char **code,
                          char **error)
{
        struct hostd_vm *vm;
        unsigned status = 200;

        pthread_mutex_lock(&h->lock);
        vm = g_hash_table_lookup(h->vms, id);
        if (!vm) {
                *code = "not_found";
                *error = g_strdup_printf("VM \"%s\" does not exist", id);
                status = 404;
        } else if (vm->state == VM_RUNNING || vm->busy) {
                *code = "vm_running";
                *error = g_strdup_printf("VM \"%s\" is running; stop it before a refresh", id);
                status = 409;
        } else if (vm_refresh_files(h, vm, error) < 0) {
                *code = "refresh_failed";
                status = 500;
        } else {
                vm->booted = false;
                vm->tickets_since = g_get_real_time() / 1000;
                if (vm->state == VM_CRASHED)
                        vm->state = VM_STOPPED;
                hostd_vm_suspend_discard(vm); /* its state was of the old disk */
                hostd_parents_gc(h);
                hostd_vm_event(h, vm, "refreshed", NULL);
                *out = hostd_vm_json(vm);
        }
        pthread_mutex_unlock(&h->lock);
        return status;
}

unsigned hostd_vm_delete(struct hostd *h, const char *id, const char **code, char **error)
{
        struct hostd_vm *vm;
        unsigned status = 200;

        pthread_mutex_lock(&h->lock);
        vm = g_hash_table_lookup(h->vms, id);
        if (!vm) {
                /* Already gone: a retried DELETE succeeds. */
                goto out;
        }
        if (vm->busy) {
                *code = "busy";
                *error = g_strdup_printf("VM \"%s\" is being changed; retry shortly", id);
                status = 409;
                goto out;
        }
        vm->busy = true;
        if (hostd_vm_halt(h, vm) < 0) {
                vm->busy = false;
                *code = "stop_failed";
                *error = g_strdup_printf("VM \"%s\" did not stop; not deleted", id);
                status = 500;
                goto out;
        }
        g_hash_table_steal(h->vms, id);
        hostd_report_event(h, vm->id, "deleted", NULL);
        log_notice("vm_deleted", "vm=%s", vm->id);
        hostd_rm_rf(vm->dir);
        hostd_vm_free(vm);
        hostd_parents_gc(h);
out:
        pthread_mutex_unlock(&h->lock);
        return status;
}
