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

static int check_l2(struct check *c, uint64_t l1i, uint64_t l2_off, uint8_t *table,
                    uint64_t *allocated)
{
        struct qcow2 *q = c->q;
        uint64_t gclusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
        int r = pread_full(q->fd, table, q->cluster_size, l2_off, NULL);
        if (r < 0)
                return r;
        for (uint64_t j = 0; j < q->l2_entries; j++) {
                uint64_t e = get_be64(table + 8 * j), host, gi = l1i * q->l2_entries + j, rc;
                if (e == 0)
                        continue;
                if (gi >= gclusters) {
                        say(c, "ERROR L2 entry for guest cluster %" PRIu64 " lies beyond the virtual size\n", gi);
                        c->corruptions++;
                        continue;
                }
                if (e & QCOW2_OFLAG_COMPRESSED) {
                        uint64_t x = 62 - (q->cluster_bits - 8);
                        uint64_t off = e & ((1ULL << x) - 1);
                        uint64_t nsec = ((e & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >> x) + 1;
                        if (e & QCOW2_OFLAG_COPIED) {
                                say(c, "ERROR compressed cluster for guest offset %#" PRIx64 " has the COPIED flag\n",
                                    gi << q->cluster_bits);
                                c->corruptions++;
                        }
                        ref(c, off & ~511ULL, nsec * 512, "compressed cluster");
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
                if (!(e & QCOW2_OFLAG_ZERO))
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

int qcow2_check(struct disk *d, struct disk_check_result *res, FILE *report, char **err)
{
        struct qcow2 *q = to_qcow2(d);
        struct check c = { .q = q, .report = report };
        _cleanup_free_ uint8_t *table = NULL;
        _cleanup_free_ uint32_t *refs = NULL;
        uint64_t allocated = 0, gclusters;
        size_t bytes;
        int r;

        if (q->nb_snapshots)
                return disk_errorf(err, -ENOTSUP,
                                   "%s: checking images with internal snapshots is not supported (use qemu-img check)",
                                   d->path);
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
                r = check_l2(&c, i, off, table, &allocated);
                if (r < 0)
                        return disk_errorf(err, r, "%s: cannot read L2 table: %s", d->path,
                                           strerror(-r));
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
