/* Guest disk inspection: partitions, file systems, the root and /boot file
 * systems (ext2/3/4 read with libext2fs through our disk layer: no loop
 * mounts, no root, no guest booted), the kernel, initrd and command line
 * the guest's boot loader would start, and whether that kernel has the
 * drivers our VMs need. Used by vdi-img inspect and import. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "disk.h"
#include "partition.h"

struct inspect_fs {
        unsigned part;       /* partition number, 0 = whole disk */
        uint64_t offset, size;
        const char *type;    /* "ext4", "xfs", "btrfs", "LVM2 PV", "LUKS", "swap", "vfat", NULL */
        char uuid[40];       /* ext*: canonical form, else "" */
        char label[20];
        void *fs;            /* ext2_filsys when opened; owned */
        void *io;            /* its I/O context; owned */
};

struct inspect {
        struct disk *disk;   /* borrowed */
        struct part_table table;
        struct inspect_fs fs[PART_MAX + 1];
        unsigned nfs;
        int root, boot;      /* index into fs; boot == root without a /boot file system */
        char *kernel, *initrd; /* paths inside fs[kernel_fs] / fs[initrd_fs] */
        int kernel_fs, initrd_fs;
        char *kversion;
        char *cmdline;
        char *source;        /* where kernel and command line came from */
        char *notes;         /* informational lines ("virtio_gpu: module\n"...) */
        uint64_t kernel_size, initrd_size;
};

/* Inspect the disk. 0 with *out filled (release with inspect_free), or a
 * negative errno with the reason in *err: no ext2/3/4 root (naming what
 * the partitions hold: XFS, btrfs, LVM, LUKS), no kernel, a kernel
 * without virtio_pci/virtio_blk, a truncated or corrupt image. */
int inspect_disk(struct disk *d, struct inspect *out, char **err);
void inspect_free(struct inspect *in);

/* Copy a file of an inspected file system (fs index, path inside it) to a
 * new host file. 0 or negative errno with *err. */
int inspect_copy_file(struct inspect *in, int fs, const char *path, const char *dest, char **err);
