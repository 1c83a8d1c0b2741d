/* virtio-gpu's device state, shared by the command handling
 * (virtio-gpu-proto.c) and its snapshot section (virtio-gpu-state.c) and
 * by nothing else: the rest of vdi-vm goes through virtio-gpu-proto.h.
 * See virtio-gpu-proto.h for the model (in-place and shadow pixels,
 * damage, limits). */
#pragma once

#include <stdatomic.h>

#include "virtio-gpu-proto.h"

#define BPP 4
/* Host memory charged per backing entry the guest attaches: its iovec
 * and its guest-physical address. */
#define VGPU_BACKING_ENTRY_COST (sizeof(struct iovec) + sizeof(uint64_t))

struct vgpu_pixbuf {
        atomic_uint ref;
        uint8_t data[];
};

struct res {
        uint32_t id, format, width, height, stride;
        uint64_t size;          /* stride * height */
        uint64_t accounted;     /* host memory charged to the device */
        struct iovec *iov;      /* backing in guest RAM, adjacent entries merged */
        uint64_t *gpa;          /* guest-physical start of each iov entry */
        unsigned niov;
        uint64_t table;         /* bytes of iov and gpa, charged */
        uint64_t backing_len;
        bool backed;
        bool in_place;          /* backed by one range covering size, no shadow */
        struct vgpu_pixbuf *shadow;
};

struct scanout {
        struct res *res;        /* NULL: disabled */
        uint32_t x, y, w, h;    /* the shown rectangle of res */
        uint64_t generation;
        struct display_rect damage[VGPU_DAMAGE_MAX];
        unsigned ndamage;
};

struct vgpu {
        unsigned num_scanouts;
        struct vq_mem mem;
        uint64_t hostmem_max, hostmem;
        struct res *res[VGPU_MAX_RESOURCES];
        unsigned nres;
        struct scanout so[VGPU_MAX_SCANOUTS];
        struct vgpu_head want[VGPU_MAX_SCANOUTS];
        uint32_t events_read;
        struct vgpu_cursor cursor;
        uint64_t gen_counter;
        unsigned long commands, errors;
};

/* A pixel buffer of size bytes (zeroed, one reference), or NULL. */
struct vgpu_pixbuf *vgpu_pixbuf_new(uint64_t size);
/* Drop a reference (NULL is fine). */
void vgpu_pixbuf_put(struct vgpu_pixbuf *p);
/* One of the VGPU_FORMAT_* 2D formats. */
bool vgpu_format_ok(uint32_t f);
/* r's content: its in-place backing, its shadow, or NULL (nothing yet). */
const uint8_t *vgpu_res_pixels(const struct res *r);
