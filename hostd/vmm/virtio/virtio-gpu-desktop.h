/* Several virtio-gpu scanouts as one desktop surface (display.h): the
 * bounding box of the heads at the positions of the wanted layout, each
 * scanout's picture copied into its rectangle, on the guest's own damage
 * (RESOURCE_FLUSH) only. One head needs none of this: vdi-vm shows its
 * scanout in place (no copy); the desktop is for two heads or more.
 *
 * Not thread-safe: the owner serialises every call. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "protocols/display.h"
#include "virtio-gpu-proto.h"

#define VGPU_DESKTOP_RETIRED 4 /* older pictures kept readable after a geometry change */

/* One scanout the guest shows, with where the wanted layout puts it. */
struct vgpu_desktop_head {
        unsigned scanout;
        int32_t x, y;
        const struct vgpu_view *view; /* B8G8R8X8 or B8G8R8A8 */
};

struct vgpu_desktop {
        uint8_t *pixels;        /* width * height * 4, XRGB8888 */
        uint32_t width, height;
        uint64_t generation;
        unsigned nheads;
        unsigned scanout[VGPU_MAX_SCANOUTS];
        struct display_rect rect[VGPU_MAX_SCANOUTS]; /* on the desktop */
        uint64_t view_gen[VGPU_MAX_SCANOUTS];         /* the picture last copied whole */
        unsigned whole;                               /* heads copied whole, not yet reported as damage */
        uint8_t *retired[VGPU_DESKTOP_RETIRED];
};

/* Bring d to heads h[0..n) (n 1..VGPU_MAX_SCANOUTS, in head order): a new
 * geometry (sizes, positions, scanouts) gets a new zeroed picture and the
 * generation *counter + 1 with the top bit set (never a scanout's); a
 * head whose view changed since it was copied (a new generation) is
 * copied whole. 0, -E2BIG when the heads span more than DISPLAY_HEAD_MAX
 * on a side or overlap (the guest's modes are not the layout asked for),
 * -EINVAL for n, -ENOMEM. d is unchanged on error. */
int vgpu_desktop_update(struct vgpu_desktop *d, const struct vgpu_desktop_head *h, unsigned n, uint64_t *counter);

/* Copy every head whole at the next update (the picture may have missed
 * damage while the owner showed one scanout in place). */
void vgpu_desktop_stale(struct vgpu_desktop *d);

/* Copy the damaged rectangle r of head i (scanout coordinates, clipped to
 * the head) from view v into the picture; the rectangle on the desktop
 * into *out. false when nothing of r is inside the head. */
bool vgpu_desktop_copy(struct vgpu_desktop *d, unsigned i, const struct vgpu_view *v, struct display_rect r,
                       struct display_rect *out);

/* The heads copied whole since the last call (their desktop rectangles,
 * at most VGPU_MAX_SCANOUTS), for damage. Returns their number. */
unsigned vgpu_desktop_take_whole(struct vgpu_desktop *d, struct display_rect *out);

/* The desktop as a display_surface (valid until a new generation plus
 * VGPU_DESKTOP_RETIRED more). */
void vgpu_desktop_surface(const struct vgpu_desktop *d, struct display_surface *out);

/* The head showing scanout s: its index, or -1. */
int vgpu_desktop_head_of(const struct vgpu_desktop *d, unsigned scanout);

void vgpu_desktop_fini(struct vgpu_desktop *d);
