/* vm_snapshot and the restore half of vm_create/machine_start: the glue
 * between struct vm and the state format (SNAPSHOT.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "cpu.h"
#include "disks.h"
#include "layout.h"
#include "machine.h"
#include "ram.h"
#include "snapshot.h"
#include "vmgenid.h"
#include "state.h"

#define STATE_FILE "state"
#define RAM_FILE "ram"

/* The devices that own snapshot state, in section order: the virtio
 * transports before the PCI bus, whose config write at load enables their
 * MSI-X and ioeventfds. */
struct state_dev {
        char name[STATE_NAME_MAX + 1];
        const struct state_ops *ops;
        void *dev;
        struct virtio_dev *vd;  /* virtio devices: frozen while saved */
};

#define STATE_DEVS_MAX (6 + VM_MAX_DISKS + 3 + VM_MAX_NICS) /* + the GPU, the sound card and the agent console */

static void add_dev(struct state_dev *out, unsigned *n, const char *name, const struct state_ops *ops, void *dev,
                    struct virtio_dev *vd)
{
        struct state_dev *d = &out[(*n)++];

        snprintf(d->name, sizeof(d->name), "%s", name);
        d->ops = ops;
        d->dev = dev;
        d->vd = vd;
}

static void add_virtio(struct state_dev *out, unsigned *n, struct virtio_dev *vd)
{
        char name[STATE_NAME_MAX + 1];

        snprintf(name, sizeof(name), "dev.%u.%s", vd->pci.slot, vd->name);
        add_dev(out, n, name, &virtio_state_ops, vd, vd);
}

static unsigned state_devs(struct vm *vm, struct state_dev out[STATE_DEVS_MAX])
{
        struct vm_devices *d = &vm->dev;
        unsigned n = 0;

        add_dev(out, &n, "dev.serial", &serial_state_ops, &vm->serial, NULL);
        add_dev(out, &n, "dev.power", &power_state_ops, &vm->power, NULL);
        for (unsigned i = 0; i < d->ndisks; i++)
                add_virtio(out, &n, virtio_blk_dev(d->blk[i]));
        if (d->kbd)
                add_virtio(out, &n, virtio_input_dev(d->kbd));
        if (d->tablet)
                add_virtio(out, &n, virtio_input_dev(d->tablet));
        for (unsigned i = 0; i < d->nnics; i++)
                add_virtio(out, &n, virtio_net_dev(d->net[i]));
        if (d->gpu)
                add_virtio(out, &n, virtio_gpu_dev(d->gpu));
        if (d->con)
                add_virtio(out, &n, virtio_console_dev(d->con));
        if (d->has_fb)
                add_dev(out, &n, "dev.fb", &fb_state_ops, &d->fb, NULL);
        if (d->hda)
                add_dev(out, &n, "dev.hda", &hda_state_ops, d->hda, NULL);
        add_dev(out, &n, "dev.pci", &pci_state_ops, &vm->pci, NULL);
        return n;
}

static double ms_since(const struct timespec *t0)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int write_file(int dirfd, const char *name, const uint8_t *p, size_t n, struct vm_err *err)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        if (fd < 0)
                return vm_err_set(err, -errno, "cannot create %s: %m", name);
        while (n) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return vm_err_set(err, w < 0 ? -errno : -EIO, "cannot write %s: %m", name);
                p += w;
                n -= (size_t)w;
        }
        if (fsync(fd) < 0)
                return vm_err_set(err, -errno, "cannot write %s: fsync: %m", name);
        return 0;
}

static void remove_partial(const char *tmp)
{
        int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd >= 0) {
                char name[32];
                unlinkat(fd, STATE_FILE, 0);
                unlinkat(fd, RAM_FILE, 0);
                for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
                        snprintf(name, sizeof(name), SNAP_DISK_LAYER, i);
                        unlinkat(fd, name, 0);
                }
                close(fd);
        }
        rmdir(tmp);
}

/* Everything but RAM, with the vCPUs paused. */
static int save_sections(struct vm *vm, struct state_writer *w, const struct ram_sum *ram,
                         const struct snap_disks *disks, bool same_vm, struct vm_err *err)
{
        struct state_dev devs[STATE_DEVS_MAX];
        unsigned n = state_devs(vm, devs);
        char name[STATE_NAME_MAX + 1];
        int r;

        state_begin(w, "machine");
        state_put_u32(w, vm->cfg.ncpus);
        state_put_u64(w, vm->mem.size);
        state_end(w);
        state_begin(w, "devices");
        state_put_u32(w, n);
        for (unsigned i = 0; i < n; i++) {
                state_put_u8(w, (uint8_t)strlen(devs[i].name));
                state_put_bytes(w, devs[i].name, strlen(devs[i].name));
        }
        state_end(w);
        state_begin(w, "ram");
        state_put_u64(w, ram->size);
        state_put_u64(w, ram->pages);
        state_put_u32(w, ram->crc);
        state_end(w);
        snap_disks_save(disks, w);
        if (vmgenid_present(vm->vmgenid)) {
                state_begin(w, "vmgenid");
                state_put_u64(w, LAYOUT_VMGENID);
                state_put_bytes(w, vm->vmgenid, VMGENID_LEN);
                state_put_u8(w, same_vm);
                state_end(w);
        }
        r = vm_kvm_state_save(vm->vm_fd, w, err);
        for (unsigned i = 0; r == 0 && i < vm->cfg.ncpus; i++) {
                snprintf(name, sizeof(name), "vcpu.%u", i);
                state_begin(w, name);
                r = cpu_state_save(&vm->kvm, vm->vcpus[i].fd, i, w, err);
                state_end(w);
        }
        for (unsigned i = 0; r == 0 && i < n; i++) {
                state_begin(w, devs[i].name);
                r = devs[i].ops->save(devs[i].dev, w);
                state_end(w);
                if (r < 0)
                        vm_err_set(err, r, "%s: cannot save its state", devs[i].name);
        }
        return r;
}

/* With the machine lock held and the captured disks quiesced: pause,
 * freeze the virtio devices, write the RAM file, link the disks (a
 * suspend: flush them, saved as they are), collect the sections, thaw.
 * The vCPUs stay paused (the caller resumes or stops them). */
static int capture(struct vm *vm, int dirfd, struct state_writer *w, const struct snap_disks *disks,
                   bool suspend, struct ram_sum *ram, struct vm_err *err)
{
        struct state_dev devs[STATE_DEVS_MAX];
        unsigned n = state_devs(vm, devs);
        struct snap_disks live;
        int r;

        if (vm->vm_fd < 0 || !vm->machine_running)
                return vm_err_set(err, -ESRCH, "the VM is not running");
        if ((r = vcpu_pause_all(vm)) < 0)
                return vm_err_set(err, r, "the VM stopped while being paused for the snapshot");
        /* No chain taken or returned while RAM is copied; none of
         * virtio-gpu's taken and not returned (it must not run twice). */
        if (vm->dev.gpu)
                virtio_gpu_quiesce(vm->dev.gpu);
        for (unsigned i = 0; i < n; i++)
                if (devs[i].vd)
                        virtio_pci_freeze(devs[i].vd);
        r = ram_save(vm->mem.host, vm->mem.size, dirfd, RAM_FILE, ram, err);
        if (r == 0 && suspend) {
                r = snap_disks_flush(vm, disks, err);
                snap_disks_live(vm, &live);
                disks = &live;
        } else if (r == 0) {
                r = snap_disks_capture(vm, disks, dirfd, err);
        }
        if (r == 0)
                r = save_sections(vm, w, ram, disks, suspend, err);
        for (unsigned i = 0; i < n; i++)
                if (devs[i].vd)
                        virtio_pci_thaw(devs[i].vd);
        if (vm->dev.gpu)
                virtio_gpu_unquiesce(vm->dev.gpu);
        return r;
}

/* Write the state file and move tmp to dir. */
static int commit(int dirfd, struct state_writer *w, const char *tmp, const char *dir, size_t *len,
                  struct vm_err *err)
{
        _cleanup_free_ uint8_t *buf = NULL;
        int r = state_writer_finish(w, &buf, len);

        if (r < 0)
                return vm_err_set(err, r, "cannot build the state file: %s", strerror(-r));
        r = write_file(dirfd, STATE_FILE, buf, *len, err);
        if (r < 0)
                return r;
        /* Appear whole or not at all. */
        if (fsync(dirfd) < 0 || rename(tmp, dir) < 0)
                return vm_err_set(err, -errno, "cannot move %s to %s: %m", tmp, dir);
        return 0;
}

/* vm_snapshot and vm_suspend. */
static int take(struct vm *vm, const char *dir, bool suspend, struct vm_snapshot_info *info, struct vm_err *err)
{
        struct state_writer w;
        struct snap_disks disks;
        struct ram_sum ram;
        struct timespec t0;
        char tmp[PATH_MAX];
        _cleanup_close_ int dirfd = -1;
        size_t len = 0;
        int r;

        if (!dir || dir[0] != '/')
                return vm_err_set(err, -EINVAL, "snapshot needs an absolute directory path");
        r = snap_disks_plan(vm, &disks, err);
        if (r < 0)
                return r;
        if (access(dir, F_OK) == 0)
                return vm_err_set(err, -EEXIST, "snapshot directory %s already exists (remove it or pick a new one)",
                                  dir);
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.partial-%d", dir, (int)getpid()) >= sizeof(tmp))
                return vm_err_set(err, -ENAMETOOLONG, "snapshot directory path too long");
        remove_partial(tmp); /* a previous attempt that was killed */
        if (mkdir(tmp, 0700) < 0)
                return vm_err_set(err, -errno, "cannot create %s: %m", tmp);
        dirfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                r = vm_err_set(err, -errno, "cannot open %s: %m", tmp);
                remove_partial(tmp);
                return r;
        }

        state_writer_init(&w);
        /* No request in flight on a captured disk until it has moved to
         * its new overlay, or (a suspend) until it is flushed (before the
         * freeze: a request ends by taking its device's lock). */
        snap_disks_quiesce(vm, &disks);
        pthread_mutex_lock(&vm->machine_lock);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = capture(vm, dirfd, &w, &disks, suspend, &ram, err);
        if (suspend && r == 0) {
                /* The guest stands still until its state is on disk: a
                 * suspend that fails leaves it running, one that worked
                 * stops it without a further instruction. */
                r = commit(dirfd, &w, tmp, dir, &len, err);
                if (r == 0)
                        vm_request_stop(vm);
        }
        vcpu_resume_all(vm);
        if (info)
                info->paused_ms = ms_since(&t0);
        pthread_mutex_unlock(&vm->machine_lock);
        /* A snapshot's guest runs again; requests to its captured disks wait. */
        if (!suspend && r == 0)
                r = commit(dirfd, &w, tmp, dir, &len, err);
        state_writer_free(&w);
        if (r == 0 && !suspend) {
                bool moved = false;
                r = snap_disks_switch(vm, &disks, dir, &moved, err);
                if (r < 0 && !moved)
                        remove_partial(dir); /* the disks it links go on changing */
        } else if (r < 0) {
                remove_partial(tmp);
        }
        /* A suspended VM's guest never runs again, but a request it had
         * queued may still be served before its device thread stops: a
         * write the restored guest replays (same data, same place). */
        snap_disks_unquiesce(vm, &disks);
        if (r == 0 && info) {
                info->ram_pages = ram.pages;
                info->ram_bytes = ram.size;
                info->state_bytes = len;
        }
        return r;
}

int vm_snapshot(struct vm *vm, const char *dir, struct vm_snapshot_info *info, struct vm_err *err)
{
        return take(vm, dir, false, info, err);
}

int vm_suspend(struct vm *vm, const char *dir, struct vm_snapshot_info *info, struct vm_err *err)
{
        return take(vm, dir, true, info, err);
}

/* ---- restore ---- */

struct snapshot_in {
        int dirfd;
        uint8_t *buf;
        size_t len;
        struct state_file f;
        unsigned ncpus;
        uint64_t mem_size;
        struct ram_sum ram;
        struct snap_disks disks;
        char *dir;              /* absolute */
        bool has_vmgenid, same_vm; /* the optional "vmgenid" section */
        uint8_t vmgenid[VMGENID_LEN];
};

void snapshot_in_free(struct snapshot_in *s)
{
        if (!s)
                return;
        state_file_free(&s->f);
        free(s->buf);
        free(s->dir);
        if (s->dirfd >= 0)
                close(s->dirfd);
        free(s);
}

static int read_state_file(int dirfd, const char *dir, uint8_t **out, size_t *len, struct vm_err *err)
{
        _cleanup_close_ int fd = openat(dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t done = 0;

        if (fd < 0)
                return vm_err_set(err, -errno, "snapshot %s: cannot open its state file: %m", dir);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return vm_err_set(err, -EINVAL, "snapshot %s: its state file is not a regular file", dir);
        if (st.st_size <= 0 || (uint64_t)st.st_size > STATE_MAX_FILE)
                return vm_err_set(err, -EINVAL, "snapshot %s: state file size %lld is out of range", dir,
                                  (long long)st.st_size);
        buf = malloc((size_t)st.st_size);
        if (!buf)
                return vm_err_set(err, -ENOMEM, "out of memory");
        while (done < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return vm_err_set(err, n < 0 ? -errno : -EIO, "snapshot %s: cannot read its state file%s",
                                          dir, n < 0 ? "" : " (shrank while read)");
                done += (size_t)n;
        }
        *out = TAKE_PTR(buf);
        *len = done;
        return 0;
}

/* "vmgenid": absent in a snapshot of a guest without the VGEN device. */
static int load_vmgenid(struct snapshot_in *s, struct vm_err *err)
{
        struct state_reader r;
        uint64_t gpa;
        uint8_t same;

        if (!state_find(&s->f, "vmgenid"))
                return 0;
        state_section_reader(&s->f, "vmgenid", &r, err);
        gpa = state_get_u64(&r);
        state_get_bytes(&r, s->vmgenid, VMGENID_LEN);
        same = state_get_u8(&r);
        if (state_reader_ok(&r) && gpa != LAYOUT_VMGENID)
                state_reader_fail(&r, "VM generation ID at %#llx, this vdi-vm has it at %#llx",
                                  (unsigned long long)gpa, (unsigned long long)LAYOUT_VMGENID);
        if (state_reader_ok(&r) && (same > 1 || !vmgenid_present(s->vmgenid)))
                state_reader_fail(&r, "bad VM generation ID");
        s->has_vmgenid = true;
        s->same_vm = same;
        return state_reader_done(&r, err);
}

int snapshot_open(const char *dir, struct snapshot_in **out, struct vm_err *err)
{
        struct snapshot_in *s = calloc(1, sizeof(*s));
        struct state_reader r;
        struct vm_err e2;
        int ret;

        if (!s)
                return vm_err_set(err, -ENOMEM, "out of memory");
        s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dirfd < 0) {
                ret = vm_err_set(err, -errno, "snapshot %s: %m", dir);
                goto fail;
        }
        s->dir = realpath(dir, NULL);
        if (!s->dir) {
                ret = vm_err_set(err, -errno, "snapshot %s: %m", dir);
                goto fail;
        }
        ret = read_state_file(s->dirfd, dir, &s->buf, &s->len, err);
        if (ret < 0)
                goto fail;
        ret = state_file_parse(s->buf, s->len, &s->f, &e2);
        if (ret < 0) {
                vm_err_set(err, ret, "snapshot %s: %s", dir, e2.msg);
                goto fail;
        }
        ret = state_section_reader(&s->f, "machine", &r, err);
        if (ret < 0)
                goto fail;
        s->ncpus = state_get_u32(&r);
        s->mem_size = state_get_u64(&r);
        if (state_reader_ok(&r) && (s->ncpus < 1 || s->ncpus > VM_MAX_CPUS))
                state_reader_fail(&r, "%u vCPUs (1..%d)", s->ncpus, VM_MAX_CPUS);
        if (state_reader_ok(&r) && (s->mem_size < VM_MIN_MEM_MIB * MiB || s->mem_size > VM_MAX_MEM_MIB * MiB ||
                                    s->mem_size % MiB))
                state_reader_fail(&r, "memory size %llu out of range", (unsigned long long)s->mem_size);
        if ((ret = state_reader_done(&r, err)) < 0)
                goto fail;
        ret = state_section_reader(&s->f, "ram", &r, err);
        if (ret < 0)
                goto fail;
        s->ram.size = state_get_u64(&r);
        s->ram.pages = state_get_u64(&r);
        s->ram.crc = state_get_u32(&r);
        if (state_reader_ok(&r) && s->ram.size != s->mem_size)
                state_reader_fail(&r, "RAM size %llu differs from the machine's %llu",
                                  (unsigned long long)s->ram.size, (unsigned long long)s->mem_size);
        if ((ret = state_reader_done(&r, err)) < 0)
                goto fail;
        if ((ret = snap_disks_load(&s->f, &s->disks, err)) < 0)
                goto fail;
        if ((ret = load_vmgenid(s, err)) < 0)
                goto fail;
        for (unsigned i = 0; i < s->ncpus; i++) {
                char name[STATE_NAME_MAX + 1];
                snprintf(name, sizeof(name), "vcpu.%u", i);
                const struct state_section *sec = state_find(&s->f, name);
                if (!sec) {
                        ret = vm_err_set(err, -EINVAL, "snapshot %s has no \"%s\" section (incomplete snapshot)", dir,
                                         name);
                        goto fail;
                }
                ret = cpu_state_validate(sec, err);
                if (ret < 0)
                        goto fail;
        }
        *out = s;
        return 0;
fail:
        snapshot_in_free(s);
        return ret;
}

unsigned snapshot_in_cpus(const struct snapshot_in *s)
{
        return s->ncpus;
}

uint64_t snapshot_in_mem(const struct snapshot_in *s)
{
        return s->mem_size;
}

int snapshot_prepare_disks(struct snapshot_in *s, const struct vm_dev_config *cfg, struct vm_err *err)
{
        return snap_disks_prepare(&s->disks, s->dir, cfg, err);
}

int snapshot_check_vm(struct snapshot_in *s, struct vm *vm, struct vm_err *err)
{
        struct state_dev devs[STATE_DEVS_MAX];
        unsigned n = state_devs(vm, devs), saved;
        struct state_reader r;
        char names[256] = "";
        int ret;

        ret = state_section_reader(&s->f, "devices", &r, err);
        if (ret < 0)
                return ret;
        saved = state_get_u32(&r);
        for (unsigned i = 0; i < saved && state_reader_ok(&r); i++) {
                char name[STATE_NAME_MAX + 1] = "";
                uint8_t l = state_get_u8(&r);
                if (l > STATE_NAME_MAX) {
                        state_reader_fail(&r, "device name of %u bytes", l);
                        break;
                }
                state_get_bytes(&r, name, l);
                if (strlen(names) + l + 2 < sizeof(names)) {
                        strcat(names, i ? " " : "");
                        strcat(names, name);
                }
                if (state_reader_ok(&r) && (i >= n || strcmp(name, devs[i].name) != 0))
                        state_reader_fail(&r, "the snapshot's device set (%s...) differs from this VM's "
                                          "(start vdi-vm --restore with the options the snapshot's VM had)", names);
        }
        if (state_reader_ok(&r) && saved != n)
                state_reader_fail(&r, "the snapshot has %u devices, this VM %u (start vdi-vm --restore with the "
                                  "options the snapshot's VM had)", saved, n);
        if ((ret = state_reader_done(&r, err)) < 0)
                return ret;
        for (unsigned i = 0; i < n; i++) {
                struct state_reader rd;
                ret = state_section_reader(&s->f, devs[i].name, &rd, err);
                if (ret == 0 && devs[i].ops->check)
                        ret = devs[i].ops->check(devs[i].dev, &rd, err);
                if (ret < 0)
                        return ret;
        }
        ret = snap_disks_check(&s->disks, s->dir, vm, err);
        if (ret < 0)
                return ret;
        /* CPU features: every vCPU's view must be offered here. */
        for (unsigned i = 0; i < s->ncpus; i++) {
                char name[STATE_NAME_MAX + 1];
                snprintf(name, sizeof(name), "vcpu.%u", i);
                ret = cpu_state_check_cpuid(&vm->kvm, i, s->ncpus, state_find(&s->f, name), err);
                if (ret < 0)
                        return ret;
        }
        return 0;
}

int snapshot_map_ram(struct snapshot_in *s, struct guest_mem *m, struct vm_err *err)
{
        uint8_t *host;
        int fd, r = ram_map(s->dirfd, RAM_FILE, &s->ram, &host, &fd, err);

        if (r < 0)
                return r;
        guest_mem_adopt(m, fd, host, s->ram.size);
        return 0;
}

int snapshot_load_machine(struct snapshot_in *s, struct vm *vm, struct vm_err *err)
{
        struct state_dev devs[STATE_DEVS_MAX];
        unsigned n = state_devs(vm, devs);
        int r = vm_kvm_state_load(vm->vm_fd, &s->f, err);

        for (unsigned i = 0; r == 0 && i < n; i++) {
                struct state_reader rd;
                state_reader_init(&rd, state_find(&s->f, devs[i].name));
                r = devs[i].ops->load(devs[i].dev, &rd, err);
        }
        return r;
}

bool snapshot_in_vmgenid(const struct snapshot_in *s, uint8_t *id, bool *same_vm)
{
        if (!s->has_vmgenid)
                return false;
        memcpy(id, s->vmgenid, VMGENID_LEN);
        *same_vm = s->same_vm;
        return true;
}

int snapshot_load_vcpu(struct snapshot_in *s, struct vcpu *v, struct vm_err *err)
{
        char name[STATE_NAME_MAX + 1];

        snprintf(name, sizeof(name), "vcpu.%u", v->id);
        return cpu_state_load(v->fd, v->id, state_find(&s->f, name), err);
}

/* ---- for live migration (migrate.c) ---- */

void snapshot_freeze_devices(struct vm *vm, bool freeze)
{
        struct state_dev devs[STATE_DEVS_MAX];
        unsigned n = state_devs(vm, devs);

        if (freeze && vm->dev.gpu)
                virtio_gpu_quiesce(vm->dev.gpu); /* as in capture() */
        for (unsigned i = 0; i < n; i++) {
                if (!devs[i].vd)
                        continue;
                if (!freeze) {
                        virtio_pci_thaw(devs[i].vd);
                        continue;
                }
                virtio_pci_freeze(devs[i].vd);
                /* Used rings are written through pointers taken when the
                 * queue started: look them up again so a dirty log marks
                 * them. */
                for (unsigned q = 0; q < devs[i].vd->nqueues; q++) {
                        const struct virtq *vq = &devs[i].vd->q[q].vq;
                        if (vq->started)
                                guest_mem_ptr(&vm->mem, vq->used_gpa, 6 + 8 * (uint64_t)vq->size);
                }
        }
        if (!freeze && vm->dev.gpu)
                virtio_gpu_unquiesce(vm->dev.gpu);
}

/* Whether the queue has returned every chain it had taken at last_avail. */
static bool queue_settled(struct virtio_dev *vd, unsigned q, uint16_t upto)
{
        bool done;

        pthread_mutex_lock(&vd->lock);
        done = !vd->q[q].vq.started || (int16_t)(vd->q[q].vq.used_idx - upto) >= 0;
        pthread_mutex_unlock(&vd->lock);
        return done;
}

bool snapshot_settle_devices(struct vm *vm, unsigned timeout_ms)
{
        struct state_dev devs[STATE_DEVS_MAX];
        unsigned n = state_devs(vm, devs);
        uint16_t upto[STATE_DEVS_MAX][VIRTIO_MAX_QUEUES];
        bool all = true;

        for (unsigned i = 0; i < n; i++) {
                if (!devs[i].vd)
                        continue;
                pthread_mutex_lock(&devs[i].vd->lock);
                for (unsigned q = 0; q < devs[i].vd->nqueues; q++)
                        upto[i][q] = devs[i].vd->q[q].vq.last_avail;
                pthread_mutex_unlock(&devs[i].vd->lock);
        }
        for (unsigned i = 0; i < n; i++)
                for (unsigned q = 0; devs[i].vd && q < devs[i].vd->nqueues; q++) {
                        unsigned waited = 0;
                        while (!queue_settled(devs[i].vd, q, upto[i][q]) && waited < timeout_ms) {
                                usleep(1000);
                                waited++;
                        }
                        all = all && waited < timeout_ms;
                }
        return all;
}

int snapshot_state_build(struct vm *vm, const struct ram_sum *ram, uint8_t **buf, size_t *len, struct vm_err *err)
{
        struct snap_disks disks;
        struct state_writer w;
        int r;

        snap_disks_live(vm, &disks);
        state_writer_init(&w);
        r = save_sections(vm, &w, ram, &disks, true, err);
        if (r == 0) {
                r = state_writer_finish(&w, buf, len);
                if (r < 0)
                        vm_err_set(err, r, "cannot build the state: %s", strerror(-r));
        }
        state_writer_free(&w);
        return r;
}
