/* Virtual disks: one interface, several image formats (qcow2, raw).
 *
 * A backend is a const `struct disk_ops` table; callers use the disk_*
 * functions below, which dispatch through it. The format is always chosen
 * by the caller: content is never probed. The one exception is a qcow2
 * overlay's backing file, whose format comes from the overlay header's
 * backing-format extension (and must be present).
 *
 * Threads: every function may be called from several threads on the same
 * disk. The qcow2 backend serialises requests with one mutex per image
 * (struct disk.lock); raw uses pread/pwrite directly and needs no lock.
 * disk_close must not race with other calls on the same disk.
 *
 * Errors: functions return 0 or a negative errno. Open/create/check report
 * a human-readable reason through `char **err` (malloc'd, caller frees,
 * written only on failure), always naming the file: "FILE: reason". I/O
 * errors caused by a corrupt image (-EIO) leave a reason that
 * disk_last_error() returns. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum disk_format {
        DISK_FORMAT_RAW,
        DISK_FORMAT_QCOW2,
};

/* disk_open flags */
#define DISK_OPEN_READONLY (1u << 0)

/* Deepest backing chain we follow (overlay → base is depth 1). */
#define DISK_MAX_CHAIN 16

struct disk_create_opts {
        enum disk_format format;
        uint64_t size;            /* bytes, multiple of 512; 0 with a backing file = its size */
        uint32_t cluster_size;    /* qcow2: power of two 512..2 MiB; 0 = 64 KiB */
        const char *backing_file; /* qcow2 only: stored as given; relative = relative to the image */
        enum disk_format backing_format;
        bool no_sync;             /* skip the final fdatasync (tests, benchmarks) */
};

struct disk;

struct disk_info {
        enum disk_format format;
        uint64_t virtual_size;
        uint64_t disk_size;        /* bytes the file occupies on the host */
        uint32_t cluster_size;     /* 0 for raw */
        unsigned version;          /* qcow2 2 or 3; 0 for raw */
        uint64_t allocated;        /* guest bytes mapped in this layer (raw: virtual size) */
        const char *backing_file;  /* as stored in the header, NULL if none; borrowed */
        const char *backing_path;  /* resolved path; borrowed */
        enum disk_format backing_format;
        struct disk *backing;      /* borrowed; NULL if none */
        bool dirty;                /* qcow2 dirty bit */
        bool corrupt;              /* qcow2 corrupt bit */
        unsigned refcount_bits;
        const char *compression;   /* qcow2: "zlib" or "zstd"; NULL for raw */
        bool extended_l2;          /* qcow2 subclusters */
        unsigned snapshots;        /* qcow2 internal snapshots */
};

struct disk_check_result {
        uint64_t corruptions;
        uint64_t leaks;
        uint64_t allocated_clusters; /* guest clusters mapped in this layer */
        uint64_t total_clusters;     /* guest clusters of the virtual size */
        uint64_t image_end;          /* highest host offset in use */
};

/* What a range of one layer holds (disk_ops.block_status). */
enum disk_extent {
        DISK_EXTENT_DATA,    /* stored in this layer (may still be zeros) */
        DISK_EXTENT_ZERO,    /* reads as zeros, whatever the backing file holds */
        DISK_EXTENT_BACKING, /* not in this layer: the backing file's bytes */
};

struct disk_ops {
        const char *name;
        enum disk_format format;
        bool serialize; /* disk_* calls take disk.lock */
        int (*create)(const char *path, const struct disk_create_opts *opts, char **err);
        /* depth: how many overlays sit above this image (0 = top). */
        int (*open)(const char *path, unsigned flags, unsigned depth, struct disk **out,
                    char **err);
        int (*read)(struct disk *d, void *buf, size_t len, uint64_t offset);
        int (*write)(struct disk *d, const void *buf, size_t len, uint64_t offset);
        int (*flush)(struct disk *d);
        int (*discard)(struct disk *d, uint64_t offset, uint64_t len); /* NULL: no-op */
        uint64_t (*get_length)(struct disk *d);
        /* Status of [off, off+len) from off on: *pnum (1..len) bytes are all
         * *out. NULL: everything is data. */
        int (*block_status)(struct disk *d, uint64_t off, uint64_t len, uint64_t *pnum,
                            enum disk_extent *out);
        int (*get_info)(struct disk *d, struct disk_info *out);
        int (*check)(struct disk *d, struct disk_check_result *res, FILE *report,
                     char **err); /* NULL: nothing to check */
        void (*close)(struct disk *d);
};

/* Common head of every backend's disk object (first member). */
struct disk {
        const struct disk_ops *ops;
        char *path;
        bool readonly;
        pthread_mutex_t lock;
        char error[256];
        struct disk *backing; /* the next layer down, NULL if none; owned by the backend */
};

extern const struct disk_ops disk_raw_ops;
extern const struct disk_ops disk_qcow2_ops;

/* The backend for a format; never NULL for a valid enum value. */
const struct disk_ops *disk_ops_for(enum disk_format format);

/* "raw" / "qcow2" → format; 0 or -EINVAL. */
int disk_format_from_string(const char *s, enum disk_format *out);
const char *disk_format_to_string(enum disk_format format);

/* Parse a size like "10G", "512M" or "4096": an integer with an optional
 * K/M/G/T/P suffix (powers of 1024; "KiB"/"KB" spellings accepted).
 * 0, -EINVAL (syntax) or -ERANGE (overflow). */
int disk_parse_size(const char *s, uint64_t *out);

/* Create an image; see struct disk_create_opts. Overwrites an existing file. */
int disk_create(const char *path, const struct disk_create_opts *opts, char **err);

/* Open an image of the given format. On success *out owns the disk (and
 * its backing chain); release it with disk_close. */
int disk_open(const char *path, enum disk_format format, unsigned flags, struct disk **out,
              char **err);

/* Read/write len bytes at a byte offset (any alignment). The range must lie
 * inside the virtual size (-EINVAL otherwise). A write is durable once a
 * later disk_flush has returned 0. */
int disk_read(struct disk *d, void *buf, size_t len, uint64_t offset);
int disk_write(struct disk *d, const void *buf, size_t len, uint64_t offset);
int disk_flush(struct disk *d);
/* Hint that a range is unused. qcow2 v3: whole clusters inside the range
 * then read as zeros; partial clusters are left alone. */
int disk_discard(struct disk *d, uint64_t offset, uint64_t len);
uint64_t disk_get_length(const struct disk *d);
int disk_get_info(struct disk *d, struct disk_info *out);

/* Allocation through the backing chain (what qemu calls block status):
 * from offset on, *pnum bytes (1..len) either surely read as zeros
 * (*data false: unallocated in every layer, zero clusters, holes, past the
 * end of a shorter backing file) or may hold data (*data true). Cost is
 * proportional to the metadata, not to the bytes: a sparse 2 TiB chain
 * answers in a few calls. len > 0 and the range must lie inside the disk. */
int disk_block_status(struct disk *d, uint64_t offset, uint64_t len, uint64_t *pnum, bool *data);

/* Consistency check of the top image (not its backing files). Human-readable
 * findings go to report (may be NULL). Returns 0 when the check ran (look
 * at res), negative errno with *err when it could not. */
int disk_check(struct disk *d, struct disk_check_result *res, FILE *report, char **err);

/* Copy of the reason for the last -EIO on this disk ("" if none). */
void disk_last_error(struct disk *d, char *buf, size_t size);

/* Move the open disk's file to newpath (rename(2): same file system,
 * replacing what is there) and name the disk by it from now on. 0 or
 * negative errno (the disk keeps its old name). */
int disk_rename(struct disk *d, const char *newpath);

/* Write back (if writable) and free; NULL is fine. Errors at this point
 * cannot be reported: call disk_flush first when they matter. */
void disk_close(struct disk *d);

static inline void disk_closep(struct disk **d)
{
        if (*d)
                disk_close(*d);
}
#define _cleanup_disk_ __attribute__((cleanup(disk_closep)))

/* Internal helpers shared by backends. */
int disk_open_depth(const char *path, enum disk_format format, unsigned flags, unsigned depth,
                    struct disk **out, char **err);
int disk_errorf(char **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void disk_set_error(struct disk *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int disk_init(struct disk *d, const struct disk_ops *ops, const char *path, bool readonly);
void disk_fini(struct disk *d);
int pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
