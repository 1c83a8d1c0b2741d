/* qcow2 consistency check: recompute every cluster's reference count from
 * the header, L1/L2 and refcount structures and compare it with the stored
 * refcounts. More stored than referenced = leak (wasted space, harmless);
 * fewer = corruption (a cluster in use could be handed out again). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "macro.h"
#include "qcow2.h"

struct check {
        struct qcow2 *q;
        FILE *report;
        uint32_t *refs;
        uint64_t nclusters; /* clusters in the file */
        uint64_t corruptions, leaks, image_end;
};

static void say(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct check *c, const char *fmt, ...)
{
        va_list ap;
        if (!c->report)
                return;
        va_start(ap, fmt);
        vfprintf(c->report, fmt, ap);
        va_end(ap);
}

/* Count a reference to [off, off+len). */
static void ref(struct check *c, uint64_t off, uint64_t len, const char *what)
{
        uint64_t cs = c->q->cluster_size, first = off / cs, last;

        if (len == 0)
                return;
        if (!range_ok(off, len, QCOW2_MAX_SIZE)) {
                say(c, "ERROR %s at offset %#" PRIx64 " is out of range\n", what, off);
                c->corruptions++;
                return;
        }
        last = (off + len - 1) / cs;
        for (uint64_t i = first; i <= last; i++) {
                if (i >= c->nclusters) {
                        say(c, "ERROR %s cluster at offset %#" PRIx64 " is past the end of the file\n",
                            what, i * cs);
                        c->corruptions++;
                        continue;
                }
                if (c->refs[i] < UINT32_MAX)
                        c->refs[i]++;
                if ((i + 1) * cs > c->image_end)
                        c->image_end = (i + 1) * cs;
        }
}

/* Count the references of one L2 table. active: the image's own L1 (the
 * COPIED flags are checked, and entries must lie inside the virtual size);
 * otherwise an internal snapshot's, whose VM state may lie beyond it. */
static int check_l2(struct check *c, uint64_t l1i, uint64_t l2_off, uint8_t *table,
                    uint64_t *allocated, bool active)
{
        struct qcow2 *q = c->q;
        uint64_t gclusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
        int r = pread_full(q->fd, table, q->cluster_size, l2_off, NULL);
        if (r < 0)
                return r;
        for (uint64_t j = 0; j < q->l2_entries; j++) {
                uint64_t e = qcow2_l2e(q, (const uint64_t *)table, j), host;
                uint64_t gi = l1i * q->l2_entries + j, rc;
                if (e == 0)
                        continue;
                if (active && gi >= gclusters) {
                        say(c, "ERROR L2 entry for guest cluster %" PRIu64 " lies beyond the virtual size\n", gi);
                        c->corruptions++;
                        continue;
                }
                if (e & QCOW2_OFLAG_COMPRESSED) {
                        uint64_t x = 62 - (q->cluster_bits - 8);
                        uint64_t off = e & ((1ULL << x) - 1);
                        uint64_t nsec = ((e & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >> x) + 1;
                        if (active && (e & QCOW2_OFLAG_COPIED)) {
                                say(c, "ERROR compressed cluster for guest offset %#" PRIx64 " has the COPIED flag\n",
                                    gi << q->cluster_bits);
                                c->corruptions++;
                        }
                        ref(c, off & ~511ULL, nsec * 512, "compressed cluster");
                        if (active)
                                (*allocated)++;
                        continue;
                }
                host = e & QCOW2_OFFSET_MASK;
                if (e & QCOW2_L2_RESERVED || (q->version < 3 && (e & QCOW2_OFLAG_ZERO))) {
                        say(c, "ERROR L2 entry %#" PRIx64 " for guest offset %#" PRIx64 " has reserved bits set\n",
                            e, gi << q->cluster_bits);
                        c->corruptions++;
                }
                if (!host)
                        continue;
                if (host & (q->cluster_size - 1)) {
                        say(c, "ERROR data cluster offset %#" PRIx64 " is not cluster-aligned\n", host);
                        c->corruptions++;
                        continue;
                }
                ref(c, host, q->cluster_size, "data");
                if (!active)
                        continue;
                if (q->extl2 || !(e & QCOW2_OFLAG_ZERO))
                        (*allocated)++;
                r = qcow2_get_refcount(q, host >> q->cluster_bits, &rc);
                if (r < 0)
                        rc = 0;
                if ((rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
                        say(c, "ERROR OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                            e, rc);
                        c->corruptions++;
                }
        }
        return 0;
}

/* qcow2 spec "Snapshots": the snapshot table and, for every snapshot, its
 * L1 table, the L2 tables and the clusters they reference, counted once per
 * L1 table that references them (QEMU raises the refcounts that way when it
 * takes a snapshot). Snapshot L1 entries carry no COPIED flags to check. */
static int check_snapshots(struct check *c, uint8_t *table)
{
        struct qcow2 *q = c->q;
        uint64_t off = q->snapshots_offset, allocated = 0;
        _cleanup_free_ uint64_t *l1 = NULL;
        uint8_t h[40];
        int r;

        if (off & 7 || off < q->cluster_size || off >= q->file_end) {
                say(c, "ERROR snapshot table offset %#" PRIx64 " is invalid\n", off);
                c->corruptions++;
                return 0;
        }
        for (uint32_t i = 0; i < q->nb_snapshots; i++) {
                uint64_t l1_off, l1_size, len;
                uint32_t extra, id_len, name_len;
                size_t got;

                r = pread_full(q->fd, h, sizeof(h), off, &got);
                if (r < 0)
                        return r;
                if (got < sizeof(h)) {
                        say(c, "ERROR snapshot %" PRIu32 " lies past the end of the file\n", i);
                        c->corruptions++;
                        return 0;
                }
                l1_off = get_be64(h);
                l1_size = get_be32(h + 8);
                id_len = get_be16(h + 12);
                name_len = get_be16(h + 14);
                extra = get_be32(h + 36);
                len = (40ULL + extra + id_len + name_len + 7) & ~7ULL;
                off += len;
                if (l1_size * 8 > QCOW2_MAX_L1_BYTES || (l1_off & (q->cluster_size - 1)) ||
                    (l1_size && l1_off < q->cluster_size)) {
                        say(c, "ERROR snapshot %" PRIu32 ": L1 table (offset %#" PRIx64 ", %" PRIu64 " entries) is invalid\n",
                            i, l1_off, l1_size);
                        c->corruptions++;
                        continue;
                }
                ref(c, l1_off, l1_size * 8, "snapshot L1 table");
                free(l1);
                l1 = malloc(l1_size ? l1_size * 8 : 1);
                if (!l1)
                        return -ENOMEM;
                r = pread_full(q->fd, l1, l1_size * 8, l1_off, NULL);
                if (r < 0)
                        return r;
                for (uint64_t j = 0; j < l1_size; j++) {
                        uint64_t l2 = get_be64(&l1[j]) & QCOW2_OFFSET_MASK;
                        if (!l2)
                                continue;
                        if (l2 & (q->cluster_size - 1) || l2 < q->cluster_size ||
                            l2 + q->cluster_size > q->file_end) {
                                say(c, "ERROR snapshot %" PRIu32 ": L2 table offset %#" PRIx64 " (L1 index %" PRIu64 ") is invalid\n",
                                    i, l2, j);
                                c->corruptions++;
                                continue;
                        }
                        ref(c, l2, q->cluster_size, "L2 table");
                        r = check_l2(c, j, l2, table, &allocated, false);
                        if (r < 0)
                                return r;
                }
        }
        /* The table as a whole holds one reference per cluster it spans. */
        ref(c, q->snapshots_offset, off - q->snapshots_offset, "snapshot table");
        say(c, "Checked %" PRIu32 " internal snapshot%s: table, L1/L2 tables and data clusters\n",
            q->nb_snapshots, q->nb_snapshots == 1 ? "" : "s");
        return 0;
}

int qcow2_check(struct disk *d, struct disk_check_result *res, FILE *report, char **err)
{
        struct qcow2 *q = to_qcow2(d);
        struct check c = { .q = q, .report = report };
        _cleanup_free_ uint8_t *table = NULL;
        _cleanup_free_ uint32_t *refs = NULL;
        uint64_t allocated = 0, gclusters;
        size_t bytes;
        int r;

        if (q->autoclear & 1)
                return disk_errorf(err, -ENOTSUP,
                                   "%s: checking images with persistent bitmaps is not supported (use qemu-img check)",
                                   d->path);
        if (!d->readonly) {
                r = qcow2_sync(q, true);
                if (r < 0)
                        return disk_errorf(err, r, "%s: cannot write back metadata: %s", d->path,
                                           strerror(-r));
        }
        c.nclusters = (q->file_end + q->cluster_size - 1) >> q->cluster_bits;
        if (!size_mul(c.nclusters ? c.nclusters : 1, sizeof(uint32_t), &bytes) ||
            !(refs = calloc(1, bytes)) || !(table = malloc(q->cluster_size)))
                return disk_errorf(err, -ENOMEM, "%s: out of memory", d->path);
        c.refs = refs;

        ref(&c, 0, q->cluster_size, "header");
        ref(&c, q->l1_offset, q->l1_size * 8, "L1 table");
        ref(&c, q->rt_offset, q->rt_clusters * q->cluster_size, "refcount table");
        for (uint64_t i = 0; i < q->rt_size; i++) {
                uint64_t off = q->rt[i];
                if (!off)
                        continue;
                if (off & (q->cluster_size - 1)) {
                        say(&c, "ERROR refcount block %" PRIu64 " is not cluster-aligned\n", i);
                        c.corruptions++;
                        continue;
                }
                ref(&c, off, q->cluster_size, "refcount block");
        }
        for (uint64_t i = 0; i < q->l1_size; i++) {
                uint64_t e = q->l1[i], off = e & QCOW2_OFFSET_MASK, rc;
                if (!off)
                        continue;
                if (off & (q->cluster_size - 1) || off < q->cluster_size ||
                    off + q->cluster_size > q->file_end) {
                        say(&c, "ERROR L2 table offset %#" PRIx64 " (L1 index %" PRIu64 ") is invalid\n",
                            off, i);
                        c.corruptions++;
                        continue;
                }
                ref(&c, off, q->cluster_size, "L2 table");
                r = qcow2_get_refcount(q, off >> q->cluster_bits, &rc);
                if (r < 0)
                        rc = 0;
                if ((rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
                        say(&c, "ERROR OFLAG_COPIED L2 cluster: l1_index=%" PRIu64 " l1_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                            i, e, rc);
                        c.corruptions++;
                }
                r = check_l2(&c, i, off, table, &allocated, true);
                if (r < 0)
                        return disk_errorf(err, r, "%s: cannot read L2 table: %s", d->path,
                                           strerror(-r));
        }

        if (q->nb_snapshots) {
                r = check_snapshots(&c, table);
                if (r < 0)
                        return disk_errorf(err, r, "%s: cannot read the snapshot table: %s",
                                           d->path, strerror(-r));
        }

        /* Compare with the stored refcounts, including clusters the
         * refcount blocks cover past the end of the file. */
        for (uint64_t i = 0; i < c.nclusters; i++) {
                uint64_t stored;
                r = qcow2_get_refcount(q, i, &stored);
                if (r < 0) {
                        char msg[256];
                        snprintf(msg, sizeof(msg), "%s", d->error);
                        say(&c, "ERROR cannot read the refcount of cluster %" PRIu64 ": %s\n", i,
                            msg[0] ? msg : strerror(-r));
                        c.corruptions++;
                        /* skip the rest of this block */
                        i = (i / q->rb_entries + 1) * q->rb_entries - 1;
                        continue;
                }
                if (stored < refs[i]) {
                        say(&c, "ERROR cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu32 "\n",
                            i, stored, refs[i]);
                        c.corruptions++;
                } else if (stored > refs[i]) {
                        say(&c, "Leaked cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu32 "\n",
                            i, stored, refs[i]);
                        c.leaks++;
                }
        }

        gclusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
        if (c.corruptions)
                say(&c, "\n%" PRIu64 " errors were found on the image.\n"
                        "Data may be corrupted, or further writes to the image may corrupt it.\n",
                    c.corruptions);
        if (c.leaks)
                say(&c, "\n%" PRIu64 " leaked clusters were found on the image.\n"
                        "This means waste of disk space, but no harm to data.\n",
                    c.leaks);
        if (!c.corruptions && !c.leaks)
                say(&c, "No errors were found on the image.\n");
        say(&c, "%" PRIu64 "/%" PRIu64 " = %.2f%% allocated\n", allocated, gclusters,
            gclusters ? 100.0 * (double)allocated / (double)gclusters : 0.0);
        say(&c, "Image end offset: %" PRIu64 "\n", c.image_end);

        res->corruptions = c.corruptions;
        res->leaks = c.leaks;
        res->allocated_clusters = allocated;
        res->total_clusters = gclusters;
        res->image_end = c.image_end;
        return 0;
}
