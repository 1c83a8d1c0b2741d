/* The virtio device models on top of virtio-pci: a block device over the
 * disk interface (hostd/storage/disk.h), a network card on a tap device,
 * the keyboard and tablet of virtio-input, and a 2D virtio-gpu. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "virtio-gpu-proto.h"
#include "virtio-pci.h"

struct disk;

/* ---- virtio-blk (virtio 1.x 5.2) ---- */

struct virtio_blk;

/* A block device on disk (not owned; must outlive the device). readonly
 * advertises VIRTIO_BLK_F_RO and fails writes with VIRTIO_BLK_S_IOERR;
 * serial (up to 20 bytes) answers GET_ID. Requests run on the device's own
 * thread, never on a vCPU. 0 or negative errno. */
int virtio_blk_create(struct disk *disk, bool readonly, const char *serial, unsigned intx_gsi,
                      const struct vq_mem *mem, struct virtio_blk **out);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);
void virtio_blk_free(struct virtio_blk *b);
/* Snapshots (state/snapshot.c): quiesce waits for the request in flight
 * to finish and holds off the next one (the guest may go on queueing)
 * until unquiesce, from the same thread. While quiesced, swap_disk puts
 * another disk of the same size under the device and returns the old one
 * (the caller closes it). */
void virtio_blk_quiesce(struct virtio_blk *b);
void virtio_blk_unquiesce(struct virtio_blk *b);
struct disk *virtio_blk_swap_disk(struct virtio_blk *b, struct disk *disk);

/* ---- virtio-net (virtio 1.x 5.1) ---- */

struct virtio_net;

struct virtio_net_stats {
        unsigned long rx_packets, tx_packets, rx_dropped, tx_dropped;
};

/* A network card on tap_fd (not owned: the caller closes it after
 * virtio_net_free). vnet_hdr: the tap was opened with IFF_VNET_HDR and
 * its header length set to 12 (tap_check_fd does that). Frames move on
 * the device's own thread. 0 or negative errno. */
int virtio_net_create(int tap_fd, bool vnet_hdr, const uint8_t mac[6], unsigned intx_gsi, const struct vq_mem *mem,
                      struct virtio_net **out);
struct virtio_dev *virtio_net_dev(struct virtio_net *nt);
/* Counters (any thread). Dropped: frames too short/long, tap errors,
 * frames larger than a non-mergeable receive buffer. */
void virtio_net_stats(struct virtio_net *nt, struct virtio_net_stats *st);
void virtio_net_free(struct virtio_net *nt);
/* Announce a new network (e.g. the MAC changed under a forked guest):
 * the link goes down with a configuration interrupt and comes up again,
 * with another, once the driver has read the down state, so that the
 * guest sees a carrier change and renews its lease. Nothing when the
 * driver is not running. Any thread. */
void virtio_net_link_change(struct virtio_net *nt);

/* ---- virtio-input (virtio 1.x 5.8) ---- */

enum virtio_input_kind {
        VIRTIO_INPUT_KEYBOARD,  /* every evdev key, LEDs */
        VIRTIO_INPUT_TABLET,    /* ABS_X/ABS_Y 0..32767, 3 buttons, wheel */
};

/* Host-side events queue up to this many while the guest has no buffers;
 * beyond that, new reports are dropped whole (never half a report). */
#define VIRTIO_INPUT_QUEUE_MAX 1024

struct virtio_input;

int virtio_input_create(enum virtio_input_kind kind, unsigned intx_gsi, const struct vq_mem *mem,
                        struct virtio_input **out);
struct virtio_dev *virtio_input_dev(struct virtio_input *in);
void virtio_input_free(struct virtio_input *in);

/* Inject events (any thread). A report ends with SYN_REPORT, added here. */
void virtio_input_key(struct virtio_input *in, uint16_t code, bool pressed);
void virtio_input_pointer(struct virtio_input *in, uint32_t x, uint32_t y, uint32_t buttons);
void virtio_input_wheel(struct virtio_input *in, int32_t delta);
/* LED state the guest last set (bit n = LED n), keyboard only. */
uint32_t virtio_input_leds(struct virtio_input *in);

/* ---- virtio-gpu (virtio 1.x 5.7, 2D) ---- */

struct virtio_gpu;

/* A 2D GPU with num_scanouts (1..VGPU_MAX_SCANOUTS) heads, the first
 * wanted at width x height; hostmem_max caps the host memory its
 * resources may take (0: VGPU_DEFAULT_HOSTMEM; see virtio-gpu-proto.h
 * for every limit). Offers VIRTIO_GPU_F_EDID. Commands run on the
 * device's own thread. 0 or negative errno. */
int virtio_gpu_create(unsigned num_scanouts, uint32_t width, uint32_t height, uint64_t hostmem_max,
                      unsigned intx_gsi, const struct vq_mem *mem, struct virtio_gpu **out);
struct virtio_dev *virtio_gpu_dev(struct virtio_gpu *gpu);
void virtio_gpu_free(struct virtio_gpu *gpu);
/* Snapshots (state/snapshot.c): quiesce waits for the command in flight
 * to be returned to the guest and holds off the next one until
 * unquiesce, from the same thread; the guest may go on queueing. */
void virtio_gpu_quiesce(struct virtio_gpu *gpu);
void virtio_gpu_unquiesce(struct virtio_gpu *gpu);

/* The output, for the display path (any thread). A view holds a
 * reference: release it with vgpu_view_release. Damage is taken once
 * (the caller fans it out to several readers). 0 or negative errno
 * (-ENODEV: the guest shows nothing on that scanout). */
int virtio_gpu_scanout(struct virtio_gpu *gpu, unsigned s, struct vgpu_view *out);
int virtio_gpu_collect_damage(struct virtio_gpu *gpu, unsigned s, struct display_rect *rects, size_t max);
void virtio_gpu_cursor(struct virtio_gpu *gpu, struct vgpu_cursor *out);
void virtio_gpu_stats(struct virtio_gpu *gpu, struct vgpu_stats *out);

/* Ask the guest for a new layout (any thread): when it differs, the
 * display event and a configuration interrupt tell the driver, which
 * re-reads GET_DISPLAY_INFO and the EDIDs. 0 or -EINVAL. */
int virtio_gpu_set_layout(struct virtio_gpu *gpu, const struct vgpu_head *heads, unsigned n);
unsigned virtio_gpu_get_layout(struct virtio_gpu *gpu, struct vgpu_head heads[VGPU_MAX_SCANOUTS]);

/* ---- virtio-console (virtio 1.x 5.3, multiport) ---- */

struct virtio_console;

/* Bytes each port buffers per direction. */
#define VIRTIO_CONSOLE_FIFO (256u * 1024)

/* The host side of the ports; every callback on the device's thread with
 * no lock held (it may call virtio_console_read/write). Any may be NULL. */
struct virtio_console_ops {
        /* A guest program opened or closed port. */
        void (*opened)(void *opaque, unsigned port, bool open);
        /* The guest wrote to port: virtio_console_read it. */
        void (*readable)(void *opaque, unsigned port);
        /* port's FIFO for the guest was full and has room again. */
        void (*writable)(void *opaque, unsigned port);
};

struct virtio_console_stats {
        unsigned long to_guest, from_guest; /* bytes */
        unsigned long ctrl_refused;         /* control messages refused */
};

/* A console device with nports (1..3) named ports, port i called
 * names[i] (printable ASCII, up to 63 bytes; e.g. "com.redhat.spice.0").
 * 0 or negative errno (-EINVAL for bad names). */
int virtio_console_create(const char *const *names, unsigned nports, const struct virtio_console_ops *ops,
                          void *opaque, unsigned intx_gsi, const struct vq_mem *mem, struct virtio_console **out);
struct virtio_dev *virtio_console_dev(struct virtio_console *c);
/* Replace the host side's callbacks (ops may be NULL: none). When this
 * returns, no call of the old ones is running or will start. */
void virtio_console_set_ops(struct virtio_console *c, const struct virtio_console_ops *ops, void *opaque);
void virtio_console_free(struct virtio_console *c);

/* Queue bytes for the guest program holding port open (any thread).
 * Returns how many were taken: 0 when the port is closed or its FIFO
 * full (ops->writable says when to try again). */
size_t virtio_console_write(struct virtio_console *c, unsigned port, const void *data, size_t len);
/* Take up to len bytes the guest wrote to port (any thread). */
size_t virtio_console_read(struct virtio_console *c, unsigned port, void *data, size_t len);
bool virtio_console_guest_open(struct virtio_console *c, unsigned port);
void virtio_console_stats(struct virtio_console *c, struct virtio_console_stats *out);
