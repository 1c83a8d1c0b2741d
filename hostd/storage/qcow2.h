/* qcow2 backend internals, shared by qcow2*.c. Not a public header: users
 * go through disk.h.
 *
 * On-disk format: QEMU's docs/interop/qcow2.txt. We read versions 2 and 3
 * and write version 3 with 16-bit refcounts. Lazy refcounts are never used
 * and the dirty bit is never set by us: refcounts on disk are always an
 * upper bound of the real references (only leaks after a crash).
 *
 * Write ordering (crash consistency). All metadata is cached and written
 * back by qcow2_sync() in three stages, each ended by fdatasync:
 *   1. guest data (already pwritten), refcount blocks, and metadata clusters
 *      that nothing on disk points to yet ("fresh": new L2 tables, new
 *      refcount blocks, a relocated refcount table);
 *   2. only when refcount blocks were added: refcount table entries in place
 *      and the header fields naming a relocated refcount table;
 *   3. existing L2 tables and L1 entries.
 * So when an L2/L1 entry reaches the disk, what it points to and its
 * refcount are already durable. Clusters are freed (refcount decremented)
 * only after the stage that removed their last reference. New clusters are
 * always appended past the highest cluster in use, never reused within a
 * session, so a freed cluster cannot receive new data while a stale
 * on-disk reference to it may still exist. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "disk.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20)       /* as QEMU: 32 MiB of L1 */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)  /* as QEMU: 8 MiB refcount table */
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_SIZE (1ULL << 56)           /* 64 PiB: beyond is absurd here */
#define QCOW2_L2_CACHE_MAX (32u << 20)

/* qcow2 spec: header extension types */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

/* qcow2 spec: feature bits */
#define QCOW2_INCOMPAT_DIRTY (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1fULL

/* qcow2 spec: header byte 104, compression_type */
#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

/* qcow2 spec: "Extended L2 Entries": bitmap word after each L2 entry,
 * bits 0..31 allocated, 32..63 reads as zeros, one bit per subcluster. */
#define QCOW2_SUBCLUSTERS 32

/* qcow2 spec: L1/L2 entries */
#define QCOW2_OFLAG_COPIED (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO (1ULL << 0)
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ULL
#define QCOW2_L1_RESERVED 0x7f000000000001ffULL
#define QCOW2_L2_RESERVED 0x3f000000000001feULL
#define QCOW2_REFT_OFFSET_MASK 0xfffffffffffffe00ULL

struct qcow2_slot {
        uint64_t *data;    /* one cluster, big-endian as on disk */
        uint64_t offset;   /* host offset of the table */
        uint64_t stamp;    /* LRU */
        int64_t key;       /* L1 index / refcount table index; -1 = empty */
        bool dirty;
        bool fresh;        /* nothing durable points here yet (stage 1) */
};

struct qcow2_cache {
        struct qcow2_slot *slots;
        uint32_t n;        /* slots in use (may exceed limit until next sync) */
        uint32_t limit;    /* soft capacity */
        uint64_t tick;
        int32_t *map;      /* key → slot index or -1 */
        uint64_t map_size;
};

struct qcow2 {
        struct disk disk;  /* first */
        int fd;
        unsigned depth;

        /* header */
        uint32_t version;
        uint32_t cluster_bits;
        uint64_t cluster_size;
        uint64_t size;
        uint64_t incompat, compat, autoclear;
        uint32_t header_length;
        uint32_t refcount_order;
        uint32_t nb_snapshots;
        uint64_t snapshots_offset;
        uint32_t crypt_method;

        uint64_t l2_entries;   /* entries per L2 table */
        unsigned l2_shift;     /* 64-bit words per L2 entry: 1 << l2_shift (2 with extended L2) */
        bool extl2;            /* extended L2 entries: 32 subclusters per cluster */
        uint32_t sc_bits;      /* log2 of the subcluster size (= cluster_bits without extl2) */
        uint8_t compression_type; /* QCOW2_COMPRESSION_* */
        void *zstd;            /* ZSTD_DCtx, made on first use */
        uint64_t rb_entries;   /* refcounts per block */

        uint64_t l1_offset;
        uint64_t l1_size;      /* entries */
        uint64_t *l1;          /* host-endian */
        bool *l1_dirty;        /* per L1 cluster */

        uint64_t rt_offset;
        uint64_t rt_clusters;
        uint64_t rt_size;      /* entries */
        uint64_t *rt;          /* host-endian */
        bool *rt_dirty;        /* per refcount table cluster, in place (stage 2) */
        bool rt_fresh;         /* relocated: whole table at stage 1, header at stage 2 */

        char *backing_file;    /* as stored */
        char *backing_path;    /* resolved */
        enum disk_format backing_format;
        struct disk *backing;

        struct qcow2_cache l2, rb;

        uint64_t file_end;     /* bytes of the file at open */
        uint64_t next_alloc;   /* where the next cluster goes */
        uint64_t *pending_free;  /* host offsets to decrement after stage 3 */
        uint64_t n_pending, cap_pending;
        bool data_dirty;

        uint8_t *cbuf;         /* scratch cluster (COW) */
        uint8_t *zbuf;         /* decompressed cluster */
        uint64_t zbuf_entry;   /* L2 entry decompressed in zbuf (0 = none) */
        uint8_t *zin;          /* compressed input */
};

/* qcow2-cache.c / qcow2-meta.c */
int qcow2_cache_init(struct qcow2_cache *c, uint32_t limit, uint64_t map_size);
void qcow2_cache_free(struct qcow2_cache *c);
int qcow2_cache_grow_map(struct qcow2_cache *c, uint64_t map_size);

/* Load the L2 table for an L1 index; *slot set (-1 when unallocated and
 * !alloc). With alloc, the table is created or copied so it is writable. */
int qcow2_get_l2(struct qcow2 *q, uint64_t l1i, bool alloc, int32_t *slot);
int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *out);
int qcow2_update_refcount(struct qcow2 *q, uint64_t cluster, int delta);
/* Reserve n contiguous free clusters with refcount 1; host offset out. */
int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *out);
/* Queue the clusters an L2 entry holds for decrement after the next sync. */
int qcow2_free_entry_later(struct qcow2 *q, uint64_t l2e);
int qcow2_sync(struct qcow2 *q, bool final);
int qcow2_validate_offset(struct qcow2 *q, uint64_t off, uint64_t len, const char *what);
int qcow2_read_compressed(struct qcow2 *q, uint64_t l2e);

/* qcow2-check.c */
int qcow2_check(struct disk *d, struct disk_check_result *res, FILE *report, char **err);
/* qcow2-create.c */
int qcow2_create(const char *path, const struct disk_create_opts *o, char **err);

static inline struct qcow2 *to_qcow2(struct disk *d)
{
        return (struct qcow2 *)d;
}

static inline uint64_t get_be64(const void *p)
{
        uint64_t v;
        __builtin_memcpy(&v, p, 8);
        return __builtin_bswap64(v);
}
static inline uint32_t get_be32(const void *p)
{
        uint32_t v;
        __builtin_memcpy(&v, p, 4);
        return __builtin_bswap32(v);
}
static inline uint16_t get_be16(const void *p)
{
        uint16_t v;
        __builtin_memcpy(&v, p, 2);
        return __builtin_bswap16(v);
}
static inline void put_be64(void *p, uint64_t v)
{
        v = __builtin_bswap64(v);
        __builtin_memcpy(p, &v, 8);
}
static inline void put_be32(void *p, uint32_t v)
{
        v = __builtin_bswap32(v);
        __builtin_memcpy(p, &v, 4);
}
static inline void put_be16(void *p, uint16_t v)
{
        v = __builtin_bswap16(v);
        __builtin_memcpy(p, &v, 2);
}

/* L2 entry of guest cluster index i in a table (host-endian), and its
 * subcluster bitmap (0 without extended L2). */
static inline uint64_t qcow2_l2e(const struct qcow2 *q, const uint64_t *table, uint64_t i)
{
        return get_be64(&table[i << q->l2_shift]);
}
static inline uint64_t qcow2_l2bm(const struct qcow2 *q, const uint64_t *table, uint64_t i)
{
        return q->extl2 ? get_be64(&table[(i << 1) + 1]) : 0;
}

/* Refcount entry of width 2^order bits at index i in a block (any order). */
static inline uint64_t qcow2_rb_get(const void *block, uint32_t order, uint64_t i)
{
        const uint8_t *b = block;
        switch (order) {
        case 4: return get_be16(b + 2 * i);
        case 5: return get_be32(b + 4 * i);
        case 6: return get_be64(b + 8 * i);
        case 3: return b[i];
        default: {
                uint32_t bits = 1u << order;
                uint64_t bit = i * bits;
                return (b[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
        }
        }
}
