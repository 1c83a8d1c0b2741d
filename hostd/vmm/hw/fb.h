/* The guest framebuffer: XRGB8888 pixels in a memfd that is its own KVM
 * memslot with dirty logging, placed in the 32-bit PCI hole (below 4 GiB:
 * Linux 6.1's vesafb reads only the 32-bit lfb_base) and announced through
 * boot_params.screen_info as a VESA linear framebuffer, so the guest's
 * stock vesafb gives it /dev/fb0 with no BIOS and no PCI device.
 *
 * Damage: KVM_GET_DIRTY_LOG names the 4 KiB pages the guest wrote since
 * the last call; only those pages are compared with a shadow copy of what
 * was last reported, giving exact changed pixel spans per scanline, which
 * are merged into rectangles (rows with overlapping spans join one
 * rectangle; beyond `max`, the neighbours whose union adds the least area
 * are merged). Nothing written, or the same pixels rewritten: no rects.
 *
 * The surface and damage half of protocols/display.h's display_source. */
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "layout.h"
#include "protocols/display.h"

#define FB_GPA LAYOUT_FB         /* the PCI MMIO window ends below it */
#define FB_MAX_BYTES (256ULL << 20)
#define FB_MIN_WIDTH 320
#define FB_MIN_HEIGHT 200
#define FB_MAX_DIM 8192
#define FB_SLOT 2               /* KVM memslot (0, 1: RAM) */

struct fb {
        uint32_t width, height, stride;
        uint64_t size;          /* bytes mapped, multiple of 64 KiB */
        uint64_t gpa;
        int fd;
        uint8_t *pixels;        /* what the guest sees */
        uint8_t *shadow;        /* pixels as of the last damage report */
        uint64_t *bitmap;       /* dirty log, one bit per page */
        size_t bitmap_bytes;
        uint32_t *span_x0, *span_x1; /* per row, work space */
        struct display_rect *work;   /* height entries, work space */

        pthread_mutex_t lock;
        int vm_fd;              /* -1 when detached */
        uint64_t generation;
};

/* Parse "WIDTHxHEIGHT" within the limits above. 0 or -EINVAL. */
int fb_parse_size(const char *s, uint32_t *w, uint32_t *h);

/* Allocate a black width x height framebuffer at FB_GPA. 0 or -errno. */
int fb_create(struct fb *fb, uint32_t width, uint32_t height, struct vm_err *err);
void fb_destroy(struct fb *fb);

/* Map it into a (new) guest with dirty logging; per boot. */
int fb_attach(struct fb *fb, int vm_fd, struct vm_err *err);
void fb_detach(struct fb *fb);

/* Fill boot_params.screen_info (the first 0x40 bytes of the zero page). */
void fb_fill_screen_info(const struct fb *fb, uint8_t *zero_page);

/* Changed rectangles since the last call (see above): count, 0, -errno. */
int fb_collect_damage(struct fb *fb, struct display_rect *rects, size_t max);

/* The core of fb_collect_damage for a given dirty bitmap (pure apart from
 * updating the shadow; exposed for tests). */
int fb_damage_from_bitmap(struct fb *fb, const uint64_t *bitmap, struct display_rect *rects, size_t max);

/* Snapshot state (section "dev.fb"): size, stride and every pixel. Load
 * refuses another size and then changes nothing; the restored pixels are
 * then damage for display servers (the shadow is cleared). */
extern const struct state_ops fb_state_ops;

/* Write s (XRGB8888: a framebuffer's or virtio-gpu's scanout) to fd as a
 * binary PPM (P6), at fd's offset. 0 or -errno. */
int fb_surface_write_ppm(const struct display_surface *s, int fd);

/* display_source pieces (the VM adds input, see vm-devices.h). */
int fb_get_surface(struct fb *fb, struct display_surface *out);
