/* qcow2 metadata: L2 and refcount-block caches, refcounts, cluster
 * allocation and the ordered write-back (see qcow2.h for the ordering). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "alloc.h"
#include "qcow2.h"

/* ---- slot cache keyed by table index ---- */

int qcow2_cache_init(struct qcow2_cache *c, uint32_t limit, uint64_t map_size)
{
        memset(c, 0, sizeof(*c));
        c->limit = limit ? limit : 1;
        return qcow2_cache_grow_map(c, map_size);
}

int qcow2_cache_grow_map(struct qcow2_cache *c, uint64_t map_size)
{
        int32_t *m;
        size_t bytes;

        if (map_size <= c->map_size)
                return 0;
        if (!size_mul(map_size, sizeof(int32_t), &bytes))
                return -ENOMEM;
        m = realloc(c->map, bytes ? bytes : 1);
        if (!m)
                return -ENOMEM;
        for (uint64_t i = c->map_size; i < map_size; i++)
                m[i] = -1;
        c->map = m;
        c->map_size = map_size;
        return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
        for (uint32_t i = 0; i < c->n; i++)
                free(c->slots[i].data);
        free(c->slots);
        free(c->map);
        memset(c, 0, sizeof(*c));
}

static void cache_drop(struct qcow2_cache *c, uint32_t i)
{
        c->map[c->slots[i].key] = -1;
        free(c->slots[i].data);
        c->n--;
        if (i != c->n) {
                c->slots[i] = c->slots[c->n];
                c->map[c->slots[i].key] = (int32_t)i;
        }
}

/* Evict clean slots (least recently used first) down to the soft limit. */
static void cache_shrink(struct qcow2_cache *c)
{
        while (c->n > c->limit) {
                int64_t best = -1;
                for (uint32_t i = 0; i < c->n; i++)
                        if (!c->slots[i].dirty &&
                            (best < 0 || c->slots[i].stamp < c->slots[best].stamp))
                                best = i;
                if (best < 0)
                        return;
                cache_drop(c, (uint32_t)best);
        }
}

/* A slot for key (not cached yet). Reuses a clean LRU slot when full; never
 * writes anything back, so it may overcommit until the next qcow2_sync(). */
static int cache_take(struct qcow2_cache *c, uint64_t key, size_t cluster_size, int32_t *out)
{
        int64_t victim = -1;
        struct qcow2_slot *s;

        if (c->n >= c->limit) {
                for (uint32_t i = 0; i < c->n; i++)
                        if (!c->slots[i].dirty &&
                            (victim < 0 || c->slots[i].stamp < c->slots[victim].stamp))
                                victim = i;
        }
        if (victim >= 0) {
                s = &c->slots[victim];
                c->map[s->key] = -1;
        } else {
                struct qcow2_slot *ns;
                void *data;
                if (c->n >= INT32_MAX - 1)
                        return -ENOMEM;
                ns = realloc(c->slots, (c->n + 1) * sizeof(*ns));
                if (!ns)
                        return -ENOMEM;
                c->slots = ns;
                data = aligned_alloc(4096, cluster_size < 4096 ? 4096 : cluster_size);
                if (!data)
                        return -ENOMEM;
                victim = c->n++;
                s = &c->slots[victim];
                memset(s, 0, sizeof(*s));
                s->data = data;
        }
        s->key = (int64_t)key;
        s->dirty = false;
        s->fresh = false;
        s->stamp = ++c->tick;
        c->map[key] = (int32_t)victim;
        *out = (int32_t)victim;
        return 0;
}

static int32_t cache_lookup(struct qcow2_cache *c, uint64_t key)
{
        int32_t s;
        if (key >= c->map_size)
                return -1;
        s = c->map[key];
        if (s >= 0)
                c->slots[s].stamp = ++c->tick;
        return s;
}

/* ---- validation ---- */

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
        return a < b + blen && b < a + alen;
}

int qcow2_validate_offset(struct qcow2 *q, uint64_t off, uint64_t len, const char *what)
{
        uint64_t limit = q->file_end > q->next_alloc ? q->file_end : q->next_alloc;

        if (off & (q->cluster_size - 1)) {
                disk_set_error(&q->disk, "%s: %s offset %#llx is not cluster-aligned (image corrupt)",
                               q->disk.path, what, (unsigned long long)off);
                return -EIO;
        }
        if (off < q->cluster_size) {
                disk_set_error(&q->disk, "%s: %s at offset %#llx overlaps the header (image corrupt)",
                               q->disk.path, what, (unsigned long long)off);
                return -EIO;
        }
        if (!range_ok(off, len, limit)) {
                disk_set_error(&q->disk, "%s: %s at offset %#llx is past the end of the file (image corrupt or truncated)",
                               q->disk.path, what, (unsigned long long)off);
                return -EIO;
        }
        if (overlaps(off, len, q->l1_offset, q->l1_size * 8) ||
            overlaps(off, len, q->rt_offset, q->rt_clusters * q->cluster_size)) {
                disk_set_error(&q->disk, "%s: %s at offset %#llx overlaps the L1 or refcount table (image corrupt)",
                               q->disk.path, what, (unsigned long long)off);
                return -EIO;
        }
        return 0;
}

static int read_table(struct qcow2 *q, uint64_t off, void *buf)
{
        size_t got;
        int r = pread_full(q->fd, buf, q->cluster_size, off, &got);
        if (r < 0)
                return r;
        if (got < q->cluster_size)
                memset((uint8_t *)buf + got, 0, q->cluster_size - got);
        return 0;
}

/* ---- refcounts ---- */

static int load_rb(struct qcow2 *q, uint64_t ri, int32_t *slot)
{
        int32_t s = cache_lookup(&q->rb, ri);
        int r;

        if (s >= 0) {
                *slot = s;
                return 0;
        }
        r = qcow2_validate_offset(q, q->rt[ri], q->cluster_size, "refcount block");
        if (r < 0)
                return r;
        r = cache_take(&q->rb, ri, q->cluster_size, &s);
        if (r < 0)
                return r;
        q->rb.slots[s].offset = q->rt[ri];
        r = read_table(q, q->rt[ri], q->rb.slots[s].data);
        if (r < 0) {
                cache_drop(&q->rb, (uint32_t)s);
                return r;
        }
        *slot = s;
        return 0;
}

int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *out)
{
        uint64_t ri = cluster / q->rb_entries;
        int32_t s;
        int r;

        if (ri >= q->rt_size || q->rt[ri] == 0) {
                *out = 0;
                return 0;
        }
        r = load_rb(q, ri, &s);
        if (r < 0)
                return r;
        *out = qcow2_rb_get(q->rb.slots[s].data, q->refcount_order, cluster % q->rb_entries);
        return 0;
}

/* Reserve n contiguous clusters whose refcount is 0, past everything in
 * use; their refcounts are not touched. */
static int reserve(struct qcow2 *q, uint64_t n, uint64_t *out)
{
        uint64_t start = q->next_alloc, k = 0;

        while (k < n) {
                uint64_t rc;
                int r = qcow2_get_refcount(q, (start >> q->cluster_bits) + k, &rc);
                if (r < 0)
                        return r;
                if (rc) {
                        start += (k + 1) << q->cluster_bits;
                        k = 0;
                        continue;
                }
                k++;
        }
        if (start + (n << q->cluster_bits) > QCOW2_MAX_SIZE) {
                disk_set_error(&q->disk, "%s: image file would exceed the maximum size",
                               q->disk.path);
                return -ENOSPC;
        }
        q->next_alloc = start + (n << q->cluster_bits);
        *out = start;
        return 0;
}

static int grow_reftable(struct qcow2 *q, uint64_t min_entries);

/* New refcount block for table index ri. Its own refcount is made valid
 * before the table points at it (so no write-back can see it unaccounted). */
static int create_rb(struct qcow2 *q, uint64_t ri)
{
        uint64_t off, self;
        int32_t s;
        int r;

        r = reserve(q, 1, &off);
        if (r < 0)
                return r;
        self = off >> q->cluster_bits;
        if (self / q->rb_entries != ri) {
                r = qcow2_update_refcount(q, self, 1);
                if (r < 0)
                        return r;
        }
        r = cache_take(&q->rb, ri, q->cluster_size, &s);
        if (r < 0)
                return r;
        memset(q->rb.slots[s].data, 0, q->cluster_size);
        if (self / q->rb_entries == ri)
                put_be16((uint8_t *)q->rb.slots[s].data + 2 * (self % q->rb_entries), 1);
        q->rb.slots[s].offset = off;
        q->rb.slots[s].dirty = true;
        q->rt[ri] = off;
        if (!q->rt_fresh)
                q->rt_dirty[ri * 8 / q->cluster_size] = true;
        return 0;
}

int qcow2_update_refcount(struct qcow2 *q, uint64_t cluster, int delta)
{
        uint64_t ri = cluster / q->rb_entries, v;
        uint8_t *p;
        int32_t s;
        int r;

        if (q->refcount_order != 4)
                return -EROFS;
        if (ri >= q->rt_size) {
                if (delta < 0)
                        goto underflow;
                r = grow_reftable(q, ri + 1);
                if (r < 0)
                        return r;
        }
        if (q->rt[ri] == 0) {
                if (delta < 0)
                        goto underflow;
                r = create_rb(q, ri);
                if (r < 0)
                        return r;
        }
        r = load_rb(q, ri, &s);
        if (r < 0)
                return r;
        p = (uint8_t *)q->rb.slots[s].data + 2 * (cluster % q->rb_entries);
        v = get_be16(p);
        if (delta < 0 && v < (uint64_t)-delta)
                goto underflow;
        if (delta > 0 && v + (uint64_t)delta > 0xffff) {
                disk_set_error(&q->disk, "%s: refcount overflow for cluster %#llx (image corrupt)",
                               q->disk.path, (unsigned long long)(cluster << q->cluster_bits));
                return -EIO;
        }
        put_be16(p, (uint16_t)(v + (uint64_t)(int64_t)delta));
        q->rb.slots[s].dirty = true;
        return 0;
underflow:
        disk_set_error(&q->disk, "%s: refcount of cluster %#llx would drop below zero (image corrupt)",
                       q->disk.path, (unsigned long long)(cluster << q->cluster_bits));
        return -EIO;
}

/* Move the refcount table to a larger place at the end of the file. The
 * new table is fresh (written at stage 1, named by the header at stage 2);
 * the old clusters are freed after that. */
static int grow_reftable(struct qcow2 *q, uint64_t min_entries)
{
        uint64_t epc = q->cluster_size / 8, entries, ncl, off, old_off = q->rt_offset,
                 old_cl = q->rt_clusters;
        uint64_t *nrt;
        bool *ndirty;
        int r;

        entries = q->rt_size * 2 > min_entries + epc ? q->rt_size * 2 : min_entries + epc;
        entries = (entries + epc - 1) / epc * epc;
        if (entries * 8 > QCOW2_MAX_REFTABLE_BYTES) {
                disk_set_error(&q->disk, "%s: refcount table would exceed %u MiB",
                               q->disk.path, QCOW2_MAX_REFTABLE_BYTES >> 20);
                return -ENOSPC;
        }
        ncl = entries / epc;
        nrt = calloc(entries, sizeof(*nrt));
        ndirty = calloc(ncl, sizeof(*ndirty));
        if (!nrt || !ndirty || qcow2_cache_grow_map(&q->rb, entries) < 0) {
                free(nrt);
                free(ndirty);
                return -ENOMEM;
        }
        r = reserve(q, ncl, &off);
        if (r < 0) {
                free(nrt);
                free(ndirty);
                return r;
        }
        memcpy(nrt, q->rt, q->rt_size * sizeof(*nrt));
        free(q->rt);
        free(q->rt_dirty);
        q->rt = nrt;
        q->rt_dirty = ndirty;
        q->rt_size = entries;
        q->rt_offset = off;
        q->rt_clusters = ncl;
        q->rt_fresh = true;
        for (uint64_t i = 0; i < ncl; i++) {
                r = qcow2_update_refcount(q, (off >> q->cluster_bits) + i, 1);
                if (r < 0)
                        return r;
        }
        for (uint64_t i = 0; i < old_cl; i++) {
                r = qcow2_free_entry_later(q, old_off + (i << q->cluster_bits));
                if (r < 0)
                        return r;
        }
        return 0;
}

int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *out)
{
        uint64_t off;
        int r = reserve(q, n, &off);
        if (r < 0)
                return r;
        for (uint64_t i = 0; i < n; i++) {
                r = qcow2_update_refcount(q, (off >> q->cluster_bits) + i, 1);
                if (r < 0)
                        return r; /* leaked at worst */
        }
        *out = off;
        return 0;
}

static int push_free(struct qcow2 *q, uint64_t off)
{
        if (q->n_pending == q->cap_pending) {
                uint64_t cap = q->cap_pending ? q->cap_pending * 2 : 64;
                uint64_t *p = realloc(q->pending_free, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                q->pending_free = p;
                q->cap_pending = cap;
        }
        q->pending_free[q->n_pending++] = off;
        return 0;
}

/* Accepts an L2 entry, or a bare cluster offset (no flag bits). */
int qcow2_free_entry_later(struct qcow2 *q, uint64_t e)
{
        if (e & QCOW2_OFLAG_COMPRESSED) {
                uint64_t x = 62 - (q->cluster_bits - 8);
                uint64_t off = e & ((1ULL << x) - 1);
                uint64_t nsec = ((e & ~QCOW2_OFLAG_COPIED & ~QCOW2_OFLAG_COMPRESSED) >> x) + 1;
                uint64_t end = (off & ~511ULL) + nsec * 512;
                for (uint64_t c = off & ~(q->cluster_size - 1); c < end; c += q->cluster_size) {
                        int r = push_free(q, c);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (e & QCOW2_OFFSET_MASK)
                return push_free(q, e & QCOW2_OFFSET_MASK);
        return 0;
}

/* ---- L2 tables ---- */

int qcow2_get_l2(struct qcow2 *q, uint64_t l1i, bool alloc, int32_t *slot)
{
        uint64_t e, off;
        int32_t s;
        int r;

        if (l1i >= q->l1_size) {
                disk_set_error(&q->disk, "%s: guest offset beyond the L1 table (image corrupt)",
                               q->disk.path);
                return -EIO;
        }
        e = q->l1[l1i];
        off = e & QCOW2_OFFSET_MASK;
        s = cache_lookup(&q->l2, l1i);
        if (s < 0 && off) {
                r = qcow2_validate_offset(q, off, q->cluster_size, "L2 table");
                if (r < 0)
                        return r;
                r = cache_take(&q->l2, l1i, q->cluster_size, &s);
                if (r < 0)
                        return r;
                q->l2.slots[s].offset = off;
                r = read_table(q, off, q->l2.slots[s].data);
                if (r < 0) {
                        cache_drop(&q->l2, (uint32_t)s);
                        return r;
                }
        }
        if (!alloc || (off && (e & QCOW2_OFLAG_COPIED))) {
                *slot = s;
                return 0;
        }
        if (off) {
                /* Without COPIED the table may be shared (internal snapshot). */
                uint64_t rc;
                r = qcow2_get_refcount(q, off >> q->cluster_bits, &rc);
                if (r < 0)
                        return r;
                if (rc != 1) {
                        disk_set_error(&q->disk, "%s: L2 table at %#llx is shared (refcount %llu); writing to images with internal snapshots is not supported",
                                       q->disk.path, (unsigned long long)off,
                                       (unsigned long long)rc);
                        return -EIO;
                }
                q->l1[l1i] |= QCOW2_OFLAG_COPIED;
                q->l1_dirty[l1i * 8 / q->cluster_size] = true;
                *slot = s;
                return 0;
        }
        r = qcow2_alloc_clusters(q, 1, &off);
        if (r < 0)
                return r;
        r = cache_take(&q->l2, l1i, q->cluster_size, &s);
        if (r < 0)
                return r;
        memset(q->l2.slots[s].data, 0, q->cluster_size);
        q->l2.slots[s].offset = off;
        q->l2.slots[s].dirty = true;
        q->l2.slots[s].fresh = true;
        q->l1[l1i] = off | QCOW2_OFLAG_COPIED;
        q->l1_dirty[l1i * 8 / q->cluster_size] = true;
        *slot = s;
        return 0;
}

/* ---- compressed clusters (zlib raw deflate, qcow2 spec "Compressed Clusters") ---- */

/* Inflate q->zin[0..n) into the whole of q->zbuf: raw deflate, as QEMU. */
static bool zlib_cluster(struct qcow2 *q, size_t n)
{
        z_stream z;
        int zr;

        memset(&z, 0, sizeof(z));
        if (inflateInit2(&z, -12) != Z_OK)
                return false;
        z.next_in = q->zin;
        z.avail_in = (uInt)n;
        z.next_out = q->zbuf;
        z.avail_out = (uInt)q->cluster_size;
        zr = inflate(&z, Z_FINISH);
        inflateEnd(&z);
        return (zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) && z.avail_out == 0;
}

/* zstd: one frame, followed by padding up to the sector end (QEMU's
 * qcow2_zstd_decompress reads with the streaming API for that reason). */
static bool zstd_cluster(struct qcow2 *q, size_t n)
{
        ZSTD_inBuffer in = { q->zin, n, 0 };
        ZSTD_outBuffer out = { q->zbuf, q->cluster_size, 0 };

        if (!q->zstd && !(q->zstd = ZSTD_createDCtx()))
                return false;
        ZSTD_DCtx_reset(q->zstd, ZSTD_reset_session_only);
        while (out.pos < out.size) {
                size_t before = in.pos, made = out.pos;
                size_t zr = ZSTD_decompressStream(q->zstd, &out, &in);
                if (ZSTD_isError(zr))
                        return false;
                if (zr == 0 || (in.pos == before && out.pos == made))
                        break; /* frame ended, or no progress: input exhausted */
        }
        return out.pos == out.size;
}

int qcow2_read_compressed(struct qcow2 *q, uint64_t e)
{
        uint64_t x = 62 - (q->cluster_bits - 8);
        uint64_t off = e & ((1ULL << x) - 1);
        uint64_t nsec = ((e & ~QCOW2_OFLAG_COPIED & ~QCOW2_OFLAG_COMPRESSED) >> x) + 1;
        uint64_t clen = nsec * 512 - (off & 511);
        size_t got;
        bool ok;
        int r;

        if (q->zbuf_entry == e)
                return 0;
        if (clen > 2 * q->cluster_size)
                clen = 2 * q->cluster_size;
        if (!q->zin) {
                q->zin = malloc(2 * q->cluster_size);
                if (!q->zin)
                        return -ENOMEM;
        }
        if (!q->zbuf) {
                q->zbuf = malloc(q->cluster_size);
                if (!q->zbuf)
                        return -ENOMEM;
        }
        if (off < q->cluster_size || off >= q->file_end) {
                disk_set_error(&q->disk, "%s: compressed cluster at %#llx is outside the file (image corrupt)",
                               q->disk.path, (unsigned long long)off);
                return -EIO;
        }
        r = pread_full(q->fd, q->zin, clen, off, &got);
        if (r < 0)
                return r;
        if (q->compression_type == QCOW2_COMPRESSION_ZSTD)
                ok = zstd_cluster(q, got);
        else
                ok = zlib_cluster(q, got);
        if (!ok) {
                q->zbuf_entry = 0;
                disk_set_error(&q->disk, "%s: compressed cluster at %#llx does not decompress (image corrupt)",
                               q->disk.path, (unsigned long long)off);
                return -EIO;
        }
        q->zbuf_entry = e;
        return 0;
}

/* ---- ordered write-back ---- */

static int write_at(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
        int r = pwrite_full(q->fd, buf, len, off);
        if (r < 0)
                return r;
        if (off + len > q->file_end)
                q->file_end = off + len;
        return 0;
}

static int datasync(struct qcow2 *q)
{
        if (fdatasync(q->fd) < 0)
                return -errno;
        return 0;
}

static int write_rt_cluster(struct qcow2 *q, uint64_t c)
{
        uint64_t epc = q->cluster_size / 8;
        uint8_t *buf = q->cbuf;
        for (uint64_t i = 0; i < epc; i++)
                put_be64(buf + 8 * i, q->rt[c * epc + i]);
        return write_at(q, buf, q->cluster_size, q->rt_offset + c * q->cluster_size);
}

static int write_l1_cluster(struct qcow2 *q, uint64_t c)
{
        uint64_t epc = q->cluster_size / 8, first = c * epc,
                 n = q->l1_size - first < epc ? q->l1_size - first : epc;
        uint8_t *buf = q->cbuf;
        for (uint64_t i = 0; i < n; i++)
                put_be64(buf + 8 * i, q->l1[first + i]);
        return write_at(q, buf, n * 8, q->l1_offset + first * 8);
}

int qcow2_sync(struct qcow2 *q, bool final)
{
        bool wrote = q->data_dirty;
        uint64_t l1_clusters = (q->l1_size * 8 + q->cluster_size - 1) / q->cluster_size;
        int r;

        if (q->disk.readonly)
                return 0;

        /* Stage 1: data, refcount blocks, metadata nothing durable points to. */
        for (uint32_t i = 0; i < q->rb.n; i++) {
                struct qcow2_slot *s = &q->rb.slots[i];
                if (!s->dirty)
                        continue;
                r = write_at(q, s->data, q->cluster_size, s->offset);
                if (r < 0)
                        return r;
                s->dirty = false;
                wrote = true;
        }
        if (q->rt_fresh) {
                for (uint64_t c = 0; c < q->rt_clusters; c++) {
                        r = write_rt_cluster(q, c);
                        if (r < 0)
                                return r;
                }
                wrote = true;
        }
        for (uint32_t i = 0; i < q->l2.n; i++) {
                struct qcow2_slot *s = &q->l2.slots[i];
                if (!s->dirty || !s->fresh)
                        continue;
                r = write_at(q, s->data, q->cluster_size, s->offset);
                if (r < 0)
                        return r;
                s->dirty = false;
                wrote = true;
        }
        if (q->next_alloc > q->file_end) {
                /* Reserved clusters never written (zero tails) must exist. */
                if (ftruncate(q->fd, (off_t)q->next_alloc) < 0)
                        return -errno;
                q->file_end = q->next_alloc;
                wrote = true;
        }
        if (wrote) {
                r = datasync(q);
                if (r < 0)
                        return r;
                q->data_dirty = false;
        }

        /* Stage 2: refcount table entries / header naming a new table. */
        wrote = false;
        if (q->rt_fresh) {
                uint8_t h[12];
                put_be64(h, q->rt_offset);
                put_be32(h + 8, (uint32_t)q->rt_clusters);
                r = write_at(q, h, sizeof(h), 48);
                if (r < 0)
                        return r;
                q->rt_fresh = false;
                memset(q->rt_dirty, 0, q->rt_clusters * sizeof(bool));
                wrote = true;
        }
        for (uint64_t c = 0; c < q->rt_clusters; c++) {
                if (!q->rt_dirty[c])
                        continue;
                r = write_rt_cluster(q, c);
                if (r < 0)
                        return r;
                q->rt_dirty[c] = false;
                wrote = true;
        }
        if (wrote) {
                r = datasync(q);
                if (r < 0)
                        return r;
        }

        /* Stage 3: existing L2 tables and L1 entries. */
        wrote = false;
        for (uint32_t i = 0; i < q->l2.n; i++) {
                struct qcow2_slot *s = &q->l2.slots[i];
                s->fresh = false;
                if (!s->dirty)
                        continue;
                r = write_at(q, s->data, q->cluster_size, s->offset);
                if (r < 0)
                        return r;
                s->dirty = false;
                wrote = true;
        }
        for (uint64_t c = 0; c < l1_clusters; c++) {
                if (!q->l1_dirty[c])
                        continue;
                r = write_l1_cluster(q, c);
                if (r < 0)
                        return r;
                q->l1_dirty[c] = false;
                wrote = true;
        }
        if (wrote) {
                r = datasync(q);
                if (r < 0)
                        return r;
        }

        /* Their last references are durably gone: free. */
        if (q->n_pending) {
                uint64_t n = q->n_pending;
                q->n_pending = 0;
                for (uint64_t i = 0; i < n; i++) {
                        r = qcow2_update_refcount(q, q->pending_free[i] >> q->cluster_bits, -1);
                        if (r < 0)
                                return r;
                }
                if (final) {
                        bool any = false;
                        for (uint32_t i = 0; i < q->rb.n; i++) {
                                struct qcow2_slot *s = &q->rb.slots[i];
                                if (!s->dirty)
                                        continue;
                                r = write_at(q, s->data, q->cluster_size, s->offset);
                                if (r < 0)
                                        return r;
                                s->dirty = false;
                                any = true;
                        }
                        if (any && (r = datasync(q)) < 0)
                                return r;
                }
        }
        cache_shrink(&q->l2);
        cache_shrink(&q->rb);
        return 0;
}
