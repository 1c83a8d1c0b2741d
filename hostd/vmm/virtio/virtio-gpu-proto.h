/* virtio-gpu (virtio 1.x 5.7, 2D only) command handling, separate from
 * the PCI device so that it can be unit-tested and fuzzed on its own: the
 * resources, their guest-RAM backing, the scanouts, the cursor, the
 * wanted layout, and what the rest of vdi-vm reads (views, damage, cursor).
 * Every command comes from the guest: each field is checked, a bad one
 * gets a VIRTIO_GPU_RESP_ERR_* response and changes nothing.
 *
 * Pixels. A resource is width x height 32-bit pixels, stride width * 4
 * (the layout the guest's backing has too: TRANSFER offsets are in it).
 * Its host-side content lives in one of two places:
 * - in place: when the backing is one contiguous host range (after
 *   merging adjacent entries) covering the whole resource, the backing in
 *   guest RAM *is* the content: views point into guest RAM and TRANSFER
 *   copies nothing (it is only checked). A TRANSFER whose offset is not
 *   the rectangle's own place in that layout turns the resource into a
 *   shadow one (the backing is copied once, then the transfer applied).
 * - shadow: otherwise (the usual case for Linux, whose backing is
 *   scattered shmem pages), a host copy of width * height * 4 bytes
 *   updated by TRANSFER_TO_HOST_2D from the backing iovecs, which point
 *   into guest RAM and are read in place. A resource that ever had a
 *   shadow keeps it; DETACH_BACKING of an in-place resource copies the
 *   backing into a new shadow so that its content survives.
 * Views hold a reference on the shadow, so a view stays readable after
 * the guest unrefs the resource (release it with vgpu_view_release).
 *
 * Damage comes only from RESOURCE_FLUSH rectangles (clipped to each
 * scanout showing the resource, in scanout coordinates) and from
 * SET_SCANOUT (the whole scanout): exact, no dirty-log scan. TRANSFER
 * alone is not damage: the guest flushes what it wants shown.
 *
 * Limits (a hostile guest gets ERR_OUT_OF_MEMORY / ERR_INVALID_PARAMETER
 * beyond them, never a host allocation it chose):
 * - a resource's side at most VGPU_MAX_DIM, so at most 256 MiB of pixels;
 * - at most VGPU_MAX_RESOURCES resources at once;
 * - the host memory of all resources (pixels, counted at CREATE whether
 *   or not a shadow is ever allocated, plus backing tables) at most the
 *   hostmem_max given to vgpu_init (VGPU_DEFAULT_HOSTMEM by default);
 * - at most VGPU_MAX_BACKING_ENTRIES backing entries per resource, each
 *   entirely inside guest RAM.
 *
 * Not thread-safe: the owner serialises every call (virtio-gpu.c holds
 * its lock). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "protocols/display.h"
#include "virtqueue.h"

#define VGPU_MAX_SCANOUTS 4
#define VGPU_MAX_DIM 8192                  /* resources and heads, per side */
#define VGPU_MAX_RESOURCES 1024            /* Linux uses a few dozen */
#define VGPU_MAX_BACKING_ENTRIES 65536     /* 256 MiB in 4 KiB pages */
#define VGPU_DEFAULT_HOSTMEM (512ULL << 20) /* 4 heads at 4K, double-buffered, plus slack */
#define VGPU_CURSOR_DIM 64
#define VGPU_DAMAGE_MAX 64                 /* rectangles kept per scanout; more are merged */

/* The 2D formats (virtio_gpu_formats), all 4 bytes per pixel. */
#define VGPU_FORMAT_B8G8R8A8 1 /* = XRGB8888 little endian with alpha: ARGB */
#define VGPU_FORMAT_B8G8R8X8 2 /* = DISPLAY_FORMAT_XRGB8888 */
#define VGPU_FORMAT_A8R8G8B8 3
#define VGPU_FORMAT_X8R8G8B8 4
#define VGPU_FORMAT_R8G8B8A8 67
#define VGPU_FORMAT_X8B8G8R8 68
#define VGPU_FORMAT_A8B8G8R8 121
#define VGPU_FORMAT_R8G8B8X8 134

/* One head of the layout the host wants (GET_DISPLAY_INFO, EDID). */
struct vgpu_head {
        bool enabled;
        int32_t x, y;           /* position in the desktop */
        uint32_t width, height; /* 1..VGPU_MAX_DIM when enabled */
};

struct vgpu_pixbuf;

/* What a scanout shows: pixels[y * stride + x * 4] for x < width, y <
 * height, in the resource's virtio format. pixels stays valid until
 * vgpu_view_release (in place: for as long as guest RAM is mapped). The
 * generation changes whenever any of the other fields may have. */
struct vgpu_view {
        const uint8_t *pixels;
        uint32_t width, height, stride, format;
        uint32_t resource_id;
        bool in_place;          /* pixels are the guest's backing in guest RAM */
        uint64_t generation;
        struct vgpu_pixbuf *ref; /* shadow kept alive by this view, or NULL */
};

/* The hardware cursor: ARGB8888 (B8G8R8A8) shape, top-left
 * width x height of pixels[] meaningful. Serials change with shape and
 * with position so that a reader can tell what changed. */
struct vgpu_cursor {
        bool visible;
        uint32_t scanout;
        int32_t x, y;           /* hotspot position on the scanout */
        uint32_t hot_x, hot_y;
        uint32_t width, height;
        uint32_t pixels[VGPU_CURSOR_DIM * VGPU_CURSOR_DIM];
        uint64_t shape_serial, pos_serial;
};

struct vgpu_stats {
        unsigned long commands, errors; /* errors: responses VIRTIO_GPU_RESP_ERR_* and bad cursor commands */
        unsigned resources;
        uint64_t hostmem;               /* accounted bytes */
};

struct vgpu;

/* A device state with num_scanouts (1..VGPU_MAX_SCANOUTS) heads, the
 * first enabled at width x height, the others disabled; guest RAM through
 * mem. hostmem_max 0: VGPU_DEFAULT_HOSTMEM. 0, -EINVAL or -ENOMEM. */
int vgpu_new(unsigned num_scanouts, uint32_t width, uint32_t height, uint64_t hostmem_max,
             const struct vq_mem *mem, struct vgpu **out);
void vgpu_free(struct vgpu *g);

/* Device reset: drop every resource, scanout and the cursor; the wanted
 * layout and pending config events stay. */
void vgpu_reset(struct vgpu *g);

/* One control queue chain: the request is read from e's readable
 * buffers, the response written into its writable ones. Returns the
 * response bytes written (what goes into the used ring; fewer than the
 * response when the guest gave too little room). */
uint32_t vgpu_ctrl(struct vgpu *g, const struct vq_elem *e);

/* One cursor queue chain (UPDATE_CURSOR, MOVE_CURSOR; no response, as in
 * Linux's driver, but one is written when there is room). */
uint32_t vgpu_cursor_cmd(struct vgpu *g, const struct vq_elem *e);

/* Device configuration (5.7.4: events_read, events_clear, num_scanouts,
 * num_capsets = 0). */
void vgpu_cfg_read(struct vgpu *g, unsigned off, uint8_t *data, unsigned size);
void vgpu_cfg_write(struct vgpu *g, unsigned off, const uint8_t *data, unsigned size);

/* Ask for a new layout (n heads, at most the device's num_scanouts; the
 * rest disabled; at least one enabled). Returns 1 when it differs from the
 * current one: VIRTIO_GPU_EVENT_DISPLAY is now set in events_read and the
 * owner must send a configuration interrupt; 0 when nothing changed;
 * -EINVAL for a bad layout. */
int vgpu_set_layout(struct vgpu *g, const struct vgpu_head *heads, unsigned n);
/* The wanted layout (num_scanouts entries) and the head count. */
unsigned vgpu_get_layout(struct vgpu *g, struct vgpu_head *heads);

/* What scanout s shows: 0, -ENODEV when the guest has nothing on it,
 * -EINVAL for a bad index. */
int vgpu_scanout_view(struct vgpu *g, unsigned s, struct vgpu_view *out);
/* Drop a view's reference (any thread; NULL fields are fine). */
void vgpu_view_release(struct vgpu_view *v);

/* Damage of scanout s since the last call, at most max rectangles
 * (coalesced to fit), in scanout coordinates. Count, 0, or -EINVAL. */
int vgpu_collect_damage(struct vgpu *g, unsigned s, struct display_rect *rects, size_t max);

void vgpu_get_cursor(struct vgpu *g, struct vgpu_cursor *out);
void vgpu_get_stats(struct vgpu *g, struct vgpu_stats *out);

/* Snapshots (virtio-gpu-state.c, SNAPSHOT.md "virtio-gpu"): the whole
 * device state but the damage and the counters' generations: resources
 * with their backing as guest-physical ranges and their shadow pixels,
 * scanouts, cursor, wanted layout and pending events. vgpu_state_load
 * validates every field against this device (its heads, its host memory
 * cap, guest RAM) and replaces g's state only when all of it is good and
 * the section has nothing more; else it marks r bad with the field's name
 * and changes nothing. After a load every enabled scanout has a new
 * generation and is wholly damaged, so a display shows it at once. */
struct state_writer;
struct state_reader;
void vgpu_state_save(const struct vgpu *g, struct state_writer *w);
bool vgpu_state_load(struct vgpu *g, struct state_reader *r);

/* A 128-byte EDID 1.4 base block for head h: preferred (first detailed)
 * timing of h's size (refresh lowered below 60 Hz when the pixel clock
 * would not fit; sides above 4095 are clamped to 4095, which EDID cannot
 * express: GET_DISPLAY_INFO still carries the real size), monitor name
 * "VDI Virtual", serial = index. */
void vgpu_make_edid(const struct vgpu_head *h, unsigned index, uint8_t out[128]);
