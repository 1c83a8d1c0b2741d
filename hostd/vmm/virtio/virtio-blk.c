/* virtio-blk (virtio 1.x 5.2) over struct disk: read, write, flush,
 * get-id. One request queue served by the virtio device thread, so disk
 * I/O never runs on a vCPU thread. Data moves straight between the disk
 * and guest RAM (the chain's iovecs), without a bounce buffer. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hostd/storage/disk.h"
#include "virtio-devices.h"

#define BLK_QUEUE_SIZE 256
#define BLK_SECTOR 512

/* 5.2.3 feature bits */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9

/* 5.2.6 request types and status */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20

#define CONFIG_SIZE 64

struct virtio_blk {
        struct virtio_dev vd;
        struct disk *disk;
        pthread_mutex_t io_lock;        /* held while a request runs; a snapshot holds it to quiesce */
        bool readonly;
        uint64_t bytes;                 /* whole sectors only */
        char serial[VIRTIO_BLK_ID_BYTES];
        uint8_t config[CONFIG_SIZE];
        struct vq_elem elem;            /* device thread only */
};

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
        for (unsigned i = 0; i < size; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void blk_cfg_read(struct virtio_dev *vd, unsigned off, uint8_t *data, unsigned size)
{
        struct virtio_blk *b = vd->opaque;

        if (off < CONFIG_SIZE && size <= CONFIG_SIZE - off)
                memcpy(data, b->config + off, size);
}

/* Move len bytes between the disk at offset and the iovecs, skipping
 * skip bytes of them first. 0 or negative errno. */
static int blk_io(struct virtio_blk *b, bool write, const struct iovec *iov, unsigned n, size_t skip, uint64_t len,
                  uint64_t offset)
{
        for (unsigned i = 0; i < n && len; i++) {
                size_t l = iov[i].iov_len, c;
                int r;

                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                c = l - skip < len ? l - skip : (size_t)len;
                if (write)
                        r = disk_write(b->disk, (uint8_t *)iov[i].iov_base + skip, c, offset);
                else
                        r = disk_read(b->disk, (uint8_t *)iov[i].iov_base + skip, c, offset);
                if (r < 0)
                        return r;
                offset += c;
                len -= c;
                skip = 0;
        }
        return len ? -EIO : 0;
}

/* Serve one request; returns the bytes written into the guest's buffers
 * (data and status), or -EIO when the chain has no room for a header and
 * a status byte (a driver bug the device cannot even report). */
static int64_t blk_request(struct virtio_blk *b, struct vq_elem *e)
{
        const struct iovec *out = e->iov, *in = e->iov + e->n_out;
        uint8_t hdr[16], status = VIRTIO_BLK_S_OK;
        uint64_t data_in = 0, sector, offset, len;
        uint32_t type;

        /* 5.2.6: header (readable), data, status byte (writable, last). */
        if (e->out_len < sizeof(hdr) || e->in_len < 1 || e->in_len > UINT32_MAX)
                return -EIO;
        iov_to_buf(out, e->n_out, 0, hdr, sizeof(hdr));
        memcpy(&type, hdr, 4);
        memcpy(&sector, hdr + 8, 8);

        switch (type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_OUT:
                len = type == VIRTIO_BLK_T_IN ? e->in_len - 1 : e->out_len - sizeof(hdr);
                if (sector > UINT64_MAX / BLK_SECTOR || len % BLK_SECTOR) {
                        status = VIRTIO_BLK_S_IOERR;
                        break;
                }
                offset = sector * BLK_SECTOR;
                if (!range_ok(offset, len, b->bytes)) {
                        status = VIRTIO_BLK_S_IOERR;
                        break;
                }
                if (type == VIRTIO_BLK_T_OUT) {
                        if (b->readonly || blk_io(b, true, out, e->n_out, sizeof(hdr), len, offset) < 0)
                                status = VIRTIO_BLK_S_IOERR;
                } else {
                        if (blk_io(b, false, in, e->n_in, 0, len, offset) < 0)
                                status = VIRTIO_BLK_S_IOERR;
                        else
                                data_in = len;
                }
                break;
        case VIRTIO_BLK_T_FLUSH:
                if (!b->readonly && disk_flush(b->disk) < 0)
                        status = VIRTIO_BLK_S_IOERR;
                break;
        case VIRTIO_BLK_T_GET_ID:
                /* Up to 20 bytes, NUL-padded when shorter. */
                data_in = e->in_len - 1 < VIRTIO_BLK_ID_BYTES ? e->in_len - 1 : VIRTIO_BLK_ID_BYTES;
                iov_from_buf(in, e->n_in, 0, b->serial, data_in);
                break;
        default:
                status = VIRTIO_BLK_S_UNSUPP;
                break;
        }
        iov_from_buf(in, e->n_in, e->in_len - 1, &status, 1);
        return (int64_t)data_in + 1;
}

/* Take and serve one chain under io_lock: 1 done, 0 queue empty, -1
 * malformed (the device is broken). */
static int blk_one(struct virtio_blk *b, unsigned q)
{
        struct vq_elem *e = &b->elem;
        unsigned gen;
        int64_t len;
        int r;

        pthread_mutex_lock(&b->io_lock);
        r = virtio_pop(&b->vd, q, e, &gen);
        if (r == 1) {
                len = blk_request(b, e);
                if (len < 0) {
                        virtio_set_broken(&b->vd, "virtio-blk: request without header or status byte");
                        r = -1;
                } else {
                        virtio_push(&b->vd, q, e->head, (uint32_t)len, gen);
                }
        }
        pthread_mutex_unlock(&b->io_lock);
        return r;
}

static void blk_queue_notify(struct virtio_dev *vd, unsigned q)
{
        struct virtio_blk *b = vd->opaque;
        int r;

        for (;;) {
                while ((r = blk_one(b, q)) == 1)
                        ;
                if (r < 0 || !virtio_enable_notify(vd, q))
                        return;
        }
}

static const struct virtio_dev_ops blk_ops = {
        .cfg_read = blk_cfg_read,
        .queue_notify = blk_queue_notify,
};

int virtio_blk_create(struct disk *disk, bool readonly, const char *serial, unsigned intx_gsi,
                      const struct vq_mem *mem, struct virtio_blk **out)
{
        struct virtio_blk *b;
        uint64_t features = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_FLUSH;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->disk = disk;
        pthread_mutex_init(&b->io_lock, NULL);
        b->readonly = readonly || disk->readonly;
        b->bytes = disk_get_length(disk) / BLK_SECTOR * BLK_SECTOR;
        if (serial)
                memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
        if (b->readonly)
                features |= 1ull << VIRTIO_BLK_F_RO;
        /* 5.2.4 struct virtio_blk_config */
        put_le(b->config + 0, b->bytes / BLK_SECTOR, 8);  /* capacity */
        put_le(b->config + 12, BLK_QUEUE_SIZE - 2, 4);    /* seg_max */
        put_le(b->config + 20, BLK_SECTOR, 4);            /* blk_size */
        r = virtio_pci_init(&b->vd, "virtio-blk", VIRTIO_ID_BLOCK, 0x018000, features, 1, BLK_QUEUE_SIZE,
                            intx_gsi, &blk_ops, b, mem);
        if (r < 0) {
                pthread_mutex_destroy(&b->io_lock);
                free(b);
                return r;
        }
        *out = b;
        return 0;
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b)
{
        return &b->vd;
}

void virtio_blk_free(struct virtio_blk *b)
{
        if (!b)
                return;
        virtio_pci_destroy(&b->vd);
        pthread_mutex_destroy(&b->io_lock);
        free(b);
}

void virtio_blk_quiesce(struct virtio_blk *b)
{
        pthread_mutex_lock(&b->io_lock);
}

void virtio_blk_unquiesce(struct virtio_blk *b)
{
        pthread_mutex_unlock(&b->io_lock);
}

struct disk *virtio_blk_swap_disk(struct virtio_blk *b, struct disk *disk)
{
        struct disk *old = b->disk;

        b->disk = disk;
        return old;
}
