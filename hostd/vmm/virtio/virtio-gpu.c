/* virtio-gpu (virtio 1.x 5.7, 2D only) on virtio-pci: a control queue
 * and a cursor queue, the configuration space with the display event.
 * The commands themselves are virtio-gpu-proto.c's; this file is the
 * transport around them and the thread-safe door for the rest of vdi-vm
 * (views, damage, cursor, the wanted layout).
 *
 * Locking: gpu->lock guards the command state. It is taken after
 * vd->lock when both are needed (cfg_read/cfg_write/reset come with
 * vd->lock held), and never held while calling into virtio-pci.
 * gpu->cmd_lock comes before both: the device thread holds it from
 * taking a chain to returning it, so that a snapshot that holds it
 * (virtio_gpu_quiesce) never saves a command's effect without its
 * return: a restore takes again a chain not returned, and commands such
 * as RESOURCE_CREATE_2D must not run twice. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "virtio-devices.h"

#define GPU_QUEUE_SIZE 256
#define CONTROLQ 0
#define CURSORQ 1
#define VIRTIO_GPU_F_EDID 1

struct virtio_gpu {
        struct virtio_dev vd;
        pthread_mutex_t lock;   /* g and live_gen */
        pthread_mutex_t cmd_lock; /* a chain taken and not yet returned */
        struct vgpu *g;
        unsigned live_gen;      /* vd.generation of the current device incarnation */
        struct vq_elem elem;    /* device thread only */
};

static void gpu_cfg_read(struct virtio_dev *vd, unsigned off, uint8_t *data, unsigned size)
{
        struct virtio_gpu *gpu = vd->opaque;

        pthread_mutex_lock(&gpu->lock);
        vgpu_cfg_read(gpu->g, off, data, size);
        pthread_mutex_unlock(&gpu->lock);
}

static void gpu_cfg_write(struct virtio_dev *vd, unsigned off, const uint8_t *data, unsigned size)
{
        struct virtio_gpu *gpu = vd->opaque;

        pthread_mutex_lock(&gpu->lock);
        vgpu_cfg_write(gpu->g, off, data, size);
        pthread_mutex_unlock(&gpu->lock);
}

/* vd->lock held; the generation has just been bumped. */
static void gpu_reset(struct virtio_dev *vd)
{
        struct virtio_gpu *gpu = vd->opaque;

        pthread_mutex_lock(&gpu->lock);
        vgpu_reset(gpu->g);
        gpu->live_gen = vd->generation;
        pthread_mutex_unlock(&gpu->lock);
}

static void gpu_queue_notify(struct virtio_dev *vd, unsigned q)
{
        struct virtio_gpu *gpu = vd->opaque;
        struct vq_elem *e = &gpu->elem;

        do {
                unsigned gen;

                for (;;) {
                        uint32_t len = 0;

                        pthread_mutex_lock(&gpu->cmd_lock);
                        if (virtio_pop(vd, q, e, &gen) != 1) {
                                pthread_mutex_unlock(&gpu->cmd_lock);
                                break;
                        }
                        pthread_mutex_lock(&gpu->lock);
                        /* A chain taken before a reset must not act on the
                         * new incarnation's state (its push is dropped too). */
                        if (gen == gpu->live_gen)
                                len = q == CONTROLQ ? vgpu_ctrl(gpu->g, e) : vgpu_cursor_cmd(gpu->g, e);
                        pthread_mutex_unlock(&gpu->lock);
                        virtio_push(vd, q, e->head, len, gen);
                        pthread_mutex_unlock(&gpu->cmd_lock);
                }
        } while (virtio_enable_notify(vd, q));
}

/* Snapshot (vd->lock held, the VM paused): the device state of
 * virtio-gpu-state.c after the transport. */
static void gpu_state_save(struct virtio_dev *vd, struct state_writer *w)
{
        struct virtio_gpu *gpu = vd->opaque;

        pthread_mutex_lock(&gpu->lock);
        vgpu_state_save(gpu->g, w);
        pthread_mutex_unlock(&gpu->lock);
}

static bool gpu_state_load(struct virtio_dev *vd, struct state_reader *r)
{
        struct virtio_gpu *gpu = vd->opaque;
        bool ok;

        pthread_mutex_lock(&gpu->lock);
        ok = vgpu_state_load(gpu->g, r);
        if (ok)
                gpu->live_gen = vd->generation;
        pthread_mutex_unlock(&gpu->lock);
        return ok;
}

static const struct virtio_dev_ops gpu_ops = {
        .state_save = gpu_state_save,
        .state_load = gpu_state_load,
        .cfg_read = gpu_cfg_read,
        .cfg_write = gpu_cfg_write,
        .queue_notify = gpu_queue_notify,
        .reset = gpu_reset,
};

int virtio_gpu_create(unsigned num_scanouts, uint32_t width, uint32_t height, uint64_t hostmem_max,
                      unsigned intx_gsi, const struct vq_mem *mem, struct virtio_gpu **out)
{
        struct virtio_gpu *gpu = calloc(1, sizeof(*gpu));
        int r;

        if (!gpu)
                return -ENOMEM;
        r = vgpu_new(num_scanouts, width, height, hostmem_max, mem, &gpu->g);
        if (r < 0) {
                free(gpu);
                return r;
        }
        pthread_mutex_init(&gpu->lock, NULL);
        pthread_mutex_init(&gpu->cmd_lock, NULL);
        /* PCI class: display controller, other (as QEMU's virtio-gpu-pci). */
        r = virtio_pci_init(&gpu->vd, "virtio-gpu", VIRTIO_ID_GPU, 0x038000, 1ull << VIRTIO_GPU_F_EDID, 2,
                            GPU_QUEUE_SIZE, intx_gsi, &gpu_ops, gpu, mem);
        if (r < 0) {
                vgpu_free(gpu->g);
                pthread_mutex_destroy(&gpu->lock);
                pthread_mutex_destroy(&gpu->cmd_lock);
                free(gpu);
                return r;
        }
        *out = gpu;
        return 0;
}

struct virtio_dev *virtio_gpu_dev(struct virtio_gpu *gpu)
{
        return &gpu->vd;
}

void virtio_gpu_free(struct virtio_gpu *gpu)
{
        if (!gpu)
                return;
        virtio_pci_destroy(&gpu->vd);
        vgpu_free(gpu->g);
        pthread_mutex_destroy(&gpu->lock);
        pthread_mutex_destroy(&gpu->cmd_lock);
        free(gpu);
}

void virtio_gpu_quiesce(struct virtio_gpu *gpu)
{
        pthread_mutex_lock(&gpu->cmd_lock);
}

void virtio_gpu_unquiesce(struct virtio_gpu *gpu)
{
        pthread_mutex_unlock(&gpu->cmd_lock);
}

int virtio_gpu_set_layout(struct virtio_gpu *gpu, const struct vgpu_head *heads, unsigned n)
{
        int r;

        pthread_mutex_lock(&gpu->lock);
        r = vgpu_set_layout(gpu->g, heads, n);
        pthread_mutex_unlock(&gpu->lock);
        if (r == 1)
                virtio_config_changed(&gpu->vd); /* 5.7.4.1: VIRTIO_GPU_EVENT_DISPLAY */
        return r < 0 ? r : 0;
}

unsigned virtio_gpu_get_layout(struct virtio_gpu *gpu, struct vgpu_head heads[VGPU_MAX_SCANOUTS])
{
        unsigned n;

        pthread_mutex_lock(&gpu->lock);
        n = vgpu_get_layout(gpu->g, heads);
        pthread_mutex_unlock(&gpu->lock);
        return n;
}

int virtio_gpu_scanout(struct virtio_gpu *gpu, unsigned s, struct vgpu_view *out)
{
        int r;

        pthread_mutex_lock(&gpu->lock);
        r = vgpu_scanout_view(gpu->g, s, out);
        pthread_mutex_unlock(&gpu->lock);
        return r;
}

int virtio_gpu_collect_damage(struct virtio_gpu *gpu, unsigned s, struct display_rect *rects, size_t max)
{
        int r;

        pthread_mutex_lock(&gpu->lock);
        r = vgpu_collect_damage(gpu->g, s, rects, max);
        pthread_mutex_unlock(&gpu->lock);
        return r;
}

void virtio_gpu_cursor(struct virtio_gpu *gpu, struct vgpu_cursor *out)
{
        pthread_mutex_lock(&gpu->lock);
        vgpu_get_cursor(gpu->g, out);
        pthread_mutex_unlock(&gpu->lock);
}

void virtio_gpu_stats(struct virtio_gpu *gpu, struct vgpu_stats *out)
{
        pthread_mutex_lock(&gpu->lock);
        vgpu_get_stats(gpu->g, out);
        pthread_mutex_unlock(&gpu->lock);
}
