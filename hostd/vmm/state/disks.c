/* The disks at the snapshot instant: see disks.h and SNAPSHOT.md. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disks.h"
#include "hostd/storage/disk.h"
#include "machine.h"
#include "virtio/virtio-devices.h"

static void layer_name(char *buf, size_t size, unsigned i)
{
        snprintf(buf, size, SNAP_DISK_LAYER, i);
}

int snap_disks_plan(struct vm *vm, struct snap_disks *out, struct vm_err *err)
{
        const struct vm_devices *d = &vm->dev;

        memset(out, 0, sizeof(*out));
        out->n = d->ndisks;
        for (unsigned i = 0; i < d->ndisks; i++) {
                const struct vm_disk_config *c = &vm->cfg.devices.disks[i];
                struct disk_info info;
                int r;

                out->size[i] = disk_get_length(d->disk[i]);
                if (c->readonly || d->disk[i]->readonly)
                        continue;
                if (c->format != DISK_FORMAT_QCOW2)
                        return vm_err_set(err, -ENOTSUP,
                                          "cannot snapshot this VM: disk %s is a writable raw image, whose content "
                                          "at the snapshot cannot be kept (give the VM a qcow2 overlay, or ,ro)",
                                          d->disk[i]->path);
                r = disk_get_info(d->disk[i], &info);
                if (r < 0)
                        return vm_err_set(err, r, "disk %s: %s", d->disk[i]->path, strerror(-r));
                if (info.backing_file && info.backing_file[0] != '/')
                        return vm_err_set(err, -ENOTSUP,
                                          "cannot snapshot this VM: disk %s names its backing file by a relative "
                                          "path (%s), which would not resolve from the snapshot directory",
                                          d->disk[i]->path, info.backing_file);
                out->captured[i] = true;
        }
        return 0;
}

void snap_disks_live(const struct vm *vm, struct snap_disks *out)
{
        memset(out, 0, sizeof(*out));
        out->n = vm->dev.ndisks;
        for (unsigned i = 0; i < out->n; i++)
                out->size[i] = disk_get_length(vm->dev.disk[i]);
}

void snap_disks_quiesce(struct vm *vm, const struct snap_disks *p)
{
        for (unsigned i = 0; i < p->n; i++)
                if (p->captured[i])
                        virtio_blk_quiesce(vm->dev.blk[i]);
}

void snap_disks_unquiesce(struct vm *vm, const struct snap_disks *p)
{
        for (unsigned i = 0; i < p->n; i++)
                if (p->captured[i])
                        virtio_blk_unquiesce(vm->dev.blk[i]);
}

static int flush_one(struct vm *vm, unsigned i, struct vm_err *err)
{
        int r = disk_flush(vm->dev.disk[i]);

        return r < 0 ? vm_err_set(err, r, "disk %s: cannot flush it: %s", vm->dev.disk[i]->path, strerror(-r)) : 0;
}

int snap_disks_flush(struct vm *vm, const struct snap_disks *p, struct vm_err *err)
{
        for (unsigned i = 0; i < p->n; i++) {
                int r = p->captured[i] ? flush_one(vm, i, err) : 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

int snap_disks_capture(struct vm *vm, const struct snap_disks *p, int dirfd, struct vm_err *err)
{
        for (unsigned i = 0; i < p->n; i++) {
                const char *path = vm->dev.disk[i]->path;
                char name[32];
                int r;

                if (!p->captured[i])
                        continue;
                if ((r = flush_one(vm, i, err)) < 0)
                        return r;
                layer_name(name, sizeof(name), i);
                if (linkat(AT_FDCWD, path, dirfd, name, 0) < 0)
                        return vm_err_set(err, -errno,
                                          "cannot link disk %s into the snapshot as %s (the snapshot directory must "
                                          "be on the disk's file system): %m", path, name);
        }
        return 0;
}

static int create_overlay(const char *path, const char *dir, unsigned i, uint64_t size, struct vm_err *err)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_QCOW2, .size = size, .backing_format = DISK_FORMAT_QCOW2 };
        char backing[PATH_MAX], name[32];
        char *msg = NULL;
        int r;

        layer_name(name, sizeof(name), i);
        if ((size_t)snprintf(backing, sizeof(backing), "%s/%s", dir, name) >= sizeof(backing))
                return vm_err_set(err, -ENAMETOOLONG, "snapshot directory path too long");
        o.backing_file = backing;
        r = disk_create(path, &o, &msg);
        if (r < 0) {
                vm_err_set(err, r, "cannot create an overlay on the snapshot's disk: %s", msg ? msg : path);
                free(msg);
        }
        return r;
}

static void close_new(struct disk **nd, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                if (!nd[i])
                        continue;
                unlink(nd[i]->path);
                disk_close(nd[i]);
                nd[i] = NULL;
        }
}

int snap_disks_switch(struct vm *vm, const struct snap_disks *p, const char *dir, bool *moved, struct vm_err *err)
{
        struct disk *nd[VM_MAX_DISKS] = { NULL };
        char tmp[PATH_MAX], name[32];
        int r = 0;

        /* 1. every new overlay made and opened: nothing moved yet */
        for (unsigned i = 0; i < p->n && r == 0; i++) {
                const char *path = vm->dev.disk[i]->path;
                char *msg = NULL;

                if (!p->captured[i])
                        continue;
                if ((size_t)snprintf(tmp, sizeof(tmp), "%s.next-%d", path, (int)getpid()) >= sizeof(tmp))
                        r = vm_err_set(err, -ENAMETOOLONG, "disk path %s too long", path);
                if (r == 0)
                        r = create_overlay(tmp, dir, i, p->size[i], err);
                if (r == 0 && (r = disk_open(tmp, DISK_FORMAT_QCOW2, 0, &nd[i], &msg)) < 0) {
                        vm_err_set(err, r, "cannot open the new overlay: %s", msg ? msg : tmp);
                        unlink(tmp);
                }
                free(msg);
        }
        if (r < 0) {
                close_new(nd, p->n);
                return r;
        }
        /* 2. each under its disk's path, under its device */
        for (unsigned i = 0; i < p->n; i++) {
                const char *path = vm->dev.disk[i]->path;

                if (!p->captured[i])
                        continue;
                int rr = disk_rename(nd[i], path);

                if (rr < 0 && r == 0)
                        r = vm_err_set(err, rr, "snapshot %s taken, but the new overlay of disk %s stays at %s: %s",
                                       dir, path, nd[i]->path, strerror(-rr));
                disk_close(virtio_blk_swap_disk(vm->dev.blk[i], nd[i]));
                *moved = true;
                vm->dev.disk[i] = nd[i];
                layer_name(name, sizeof(name), i);
                snprintf(tmp, sizeof(tmp), "%s/%s", dir, name);
                chmod(tmp, 0400);
        }
        return r;
}

/* ---- restore ---- */

static int layer_path(char *buf, size_t size, const char *dir, unsigned i, struct vm_err *err)
{
        char name[32];

        layer_name(name, sizeof(name), i);
        if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
                return vm_err_set(err, -ENAMETOOLONG, "snapshot directory path too long");
        return 0;
}

int snap_disks_prepare(const struct snap_disks *p, const char *dir, const struct vm_dev_config *cfg,
                       struct vm_err *err)
{
        if (p->n != cfg->ndisks)
                return vm_err_set(err, -EINVAL,
                                  "the snapshot has %u disks, this VM %u (start vdi-vm --restore with the options "
                                  "the snapshot's VM had)", p->n, cfg->ndisks);
        for (unsigned i = 0; i < p->n; i++) {
                const struct vm_disk_config *c = &cfg->disks[i];
                char layer[PATH_MAX], path[PATH_MAX];
                struct stat st;
                int r;

                if (!p->captured[i])
                        continue;
                /* c->path runs on to the rest of the --disk argument */
                snprintf(path, sizeof(path), "%.*s", (int)strcspn(c->path, ","), c->path);
                if (c->readonly || c->format != DISK_FORMAT_QCOW2)
                        return vm_err_set(err, -EINVAL,
                                          "disk %u of the snapshot was captured: --disk %s must be a writable qcow2 "
                                          "overlay on %s/disk.%u (a path that does not exist is created as one)",
                                          i, path, dir, i);
                r = layer_path(layer, sizeof(layer), dir, i, err);
                if (r < 0)
                        return r;
                if (stat(layer, &st) < 0 || !S_ISREG(st.st_mode))
                        return vm_err_set(err, -ENOENT, "snapshot %s: its disk layer %s is missing (incomplete snapshot)",
                                          dir, layer);
                if (lstat(path, &st) == 0 || errno != ENOENT)
                        continue;
                r = create_overlay(path, dir, i, p->size[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int snap_disks_check(const struct snap_disks *p, const char *dir, struct vm *vm, struct vm_err *err)
{
        for (unsigned i = 0; i < p->n && i < vm->dev.ndisks; i++) {
                const char *path = vm->dev.disk[i]->path;
                struct disk_info info;
                struct stat want, got;
                char layer[PATH_MAX];
                int r;

                if (disk_get_length(vm->dev.disk[i]) != p->size[i])
                        return vm_err_set(err, -EINVAL, "disk %s has %llu bytes, the snapshot's disk %u had %llu", path,
                                          (unsigned long long)disk_get_length(vm->dev.disk[i]), i,
                                          (unsigned long long)p->size[i]);
                if (!p->captured[i])
                        continue;
                r = layer_path(layer, sizeof(layer), dir, i, err);
                if (r < 0)
                        return r;
                r = disk_get_info(vm->dev.disk[i], &info);
                if (r < 0)
                        return vm_err_set(err, r, "disk %s: %s", path, strerror(-r));
                if (stat(layer, &want) < 0)
                        return vm_err_set(err, -errno, "snapshot disk layer %s: %m", layer);
                if (!info.backing_path || stat(info.backing_path, &got) < 0 || got.st_dev != want.st_dev ||
                    got.st_ino != want.st_ino)
                        return vm_err_set(err, -EINVAL,
                                          "disk %s is not an overlay on the snapshot's disk layer %s (give a path "
                                          "that does not exist and vdi-vm creates one)", path, layer);
        }
        return 0;
}
