/* The virtio device models on top of virtio-pci: a block device over the
 * disk interface (hostd/storage/disk.h) and the keyboard and tablet of
 * virtio-input. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

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
