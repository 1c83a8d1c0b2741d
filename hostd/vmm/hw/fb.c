#include "config.h"

#include "fb.h"

#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"

#define PAGE 4096u
#define LFB_UNIT 65536u

/* include/uapi/linux/screen_info.h */
#define SI_ORIG_VIDEO_ISVGA 0x0f
#define SI_LFB_WIDTH 0x12
#define SI_LFB_HEIGHT 0x14
#define SI_LFB_DEPTH 0x16
#define SI_LFB_BASE 0x18
#define SI_LFB_SIZE 0x1c
#define SI_LFB_LINELENGTH 0x24
#define SI_RED_SIZE 0x26
#define SI_PAGES 0x32
#define SI_CAPABILITIES 0x36
#define SI_EXT_LFB_BASE 0x3a
#define VIDEO_TYPE_VLFB 0x23
#define VIDEO_CAPABILITY_64BIT_BASE (1u << 1)

static void wr16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
        wr16(p, (uint16_t)v);
        wr16(p + 2, (uint16_t)(v >> 16));
}

int fb_parse_size(const char *s, uint32_t *w, uint32_t *h)
{
        unsigned long a, b;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        a = strtoul(s, &end, 10);
        if (errno || (*end != 'x' && *end != 'X') || end[1] < '0' || end[1] > '9')
                return -EINVAL;
        b = strtoul(end + 1, &end, 10);
        if (errno || *end || a < FB_MIN_WIDTH || b < FB_MIN_HEIGHT || a > FB_MAX_DIM || b > FB_MAX_DIM ||
            (uint64_t)a * b * 4 > FB_MAX_BYTES)
                return -EINVAL;
        *w = (uint32_t)a;
        *h = (uint32_t)b;
        return 0;
}

int fb_create(struct fb *fb, uint32_t width, uint32_t height, struct vm_err *err)
{
        uint64_t pages;

        memset(fb, 0, sizeof(*fb));
        fb->fd = -1;
        fb->vm_fd = -1;
        if (width < FB_MIN_WIDTH || height < FB_MIN_HEIGHT || width > FB_MAX_DIM || height > FB_MAX_DIM ||
            (uint64_t)width * height * 4 > FB_MAX_BYTES)
                return vm_err_set(err, -EINVAL, "invalid framebuffer size %ux%u: %ux%u to %ux%u, at most %llu MiB",
                                  width, height, FB_MIN_WIDTH, FB_MIN_HEIGHT, FB_MAX_DIM, FB_MAX_DIM,
                                  (unsigned long long)(FB_MAX_BYTES >> 20));
        fb->width = width;
        fb->height = height;
        fb->stride = width * 4;
        fb->size = ((uint64_t)fb->stride * height + LFB_UNIT - 1) / LFB_UNIT * LFB_UNIT;
        fb->gpa = FB_GPA;
        pages = fb->size / PAGE;
        fb->bitmap_bytes = (size_t)((pages + 63) / 64 * 8);

        fb->fd = memfd_create("vdi-vm-fb", MFD_CLOEXEC);
        if (fb->fd < 0 || ftruncate(fb->fd, (off_t)fb->size) < 0) {
                int e = -errno;
                fb_destroy(fb);
                return vm_err_set(err, e, "cannot allocate the framebuffer: %s", strerror(-e));
        }
        fb->pixels = mmap(NULL, fb->size, PROT_READ | PROT_WRITE, MAP_SHARED, fb->fd, 0);
        if (fb->pixels == MAP_FAILED) {
                int e = -errno;
                fb->pixels = NULL;
                fb_destroy(fb);
                return vm_err_set(err, e, "cannot map the framebuffer: %s", strerror(-e));
        }
        fb->shadow = calloc(1, fb->size);
        fb->bitmap = calloc(1, fb->bitmap_bytes);
        fb->span_x0 = calloc_array(height, sizeof(uint32_t));
        fb->span_x1 = calloc_array(height, sizeof(uint32_t));
        fb->work = calloc_array(height, sizeof(struct display_rect));
        if (!fb->shadow || !fb->bitmap || !fb->span_x0 || !fb->span_x1 || !fb->work) {
                fb_destroy(fb);
                return vm_err_set(err, -ENOMEM, "out of memory for the framebuffer");
        }
        pthread_mutex_init(&fb->lock, NULL);
        fb->generation = 1;
        return 0;
}

void fb_destroy(struct fb *fb)
{
        if (fb->pixels)
                munmap(fb->pixels, fb->size);
        if (fb->fd >= 0)
                close(fb->fd);
        free(fb->shadow);
        free(fb->bitmap);
        free(fb->span_x0);
        free(fb->span_x1);
        free(fb->work);
        if (fb->generation)
                pthread_mutex_destroy(&fb->lock);
        memset(fb, 0, sizeof(*fb));
        fb->fd = -1;
        fb->vm_fd = -1;
}

int fb_attach(struct fb *fb, int vm_fd, struct vm_err *err)
{
        struct kvm_userspace_memory_region r = {
                .slot = FB_SLOT,
                .flags = KVM_MEM_LOG_DIRTY_PAGES,
                .guest_phys_addr = fb->gpa,
                .memory_size = fb->size,
                .userspace_addr = (uintptr_t)fb->pixels,
        };

        if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                return vm_err_set(err, -errno, "KVM_SET_USER_MEMORY_REGION (framebuffer): %m");
        pthread_mutex_lock(&fb->lock);
        fb->vm_fd = vm_fd;
        /* A fresh slot starts all clean: report the whole screen once. */
        memset(fb->shadow, 0, fb->size);
        memset(fb->bitmap, 0xff, fb->bitmap_bytes);
        fb_damage_from_bitmap(fb, fb->bitmap, NULL, 0);
        pthread_mutex_unlock(&fb->lock);
        return 0;
}

void fb_detach(struct fb *fb)
{
        pthread_mutex_lock(&fb->lock);
        fb->vm_fd = -1;
        pthread_mutex_unlock(&fb->lock);
}

void fb_fill_screen_info(const struct fb *fb, uint8_t *zp)
{
        /* XRGB8888: red 8 bits at 16, green at 8, blue at 0, 8 unused at 24. */
        static const uint8_t fields[8] = { 8, 16, 8, 8, 8, 0, 8, 24 };

        memset(zp, 0, 0x40);
        zp[SI_ORIG_VIDEO_ISVGA] = VIDEO_TYPE_VLFB;
        wr16(zp + SI_LFB_WIDTH, (uint16_t)fb->width);
        wr16(zp + SI_LFB_HEIGHT, (uint16_t)fb->height);
        wr16(zp + SI_LFB_DEPTH, 32);
        wr32(zp + SI_LFB_BASE, (uint32_t)fb->gpa);
        wr32(zp + SI_LFB_SIZE, (uint32_t)(fb->size / LFB_UNIT));
        wr16(zp + SI_LFB_LINELENGTH, (uint16_t)fb->stride);
        memcpy(zp + SI_RED_SIZE, fields, sizeof(fields));
        wr16(zp + SI_PAGES, 1);
        if (fb->gpa >> 32) {
                wr32(zp + SI_CAPABILITIES, VIDEO_CAPABILITY_64BIT_BASE);
                wr32(zp + SI_EXT_LFB_BASE, (uint32_t)(fb->gpa >> 32));
        }
}

/* Record that row y changed in pixels [x0, x1). */
static void span_add(struct fb *fb, uint32_t y, uint32_t x0, uint32_t x1)
{
        if (fb->span_x1[y] == 0) {
                fb->span_x0[y] = x0;
                fb->span_x1[y] = x1;
                return;
        }
        if (x0 < fb->span_x0[y])
                fb->span_x0[y] = x0;
        if (x1 > fb->span_x1[y])
                fb->span_x1[y] = x1;
}

/* Compare the pixels of page p with the shadow, row by row. */
static void diff_page(struct fb *fb, uint64_t p)
{
        uint64_t start = p * PAGE, end = start + PAGE, visible = (uint64_t)fb->stride * fb->height;

        if (start >= visible)
                return;
        if (end > visible)
                end = visible;
        for (uint64_t y = start / fb->stride; y <= (end - 1) / fb->stride; y++) {
                uint64_t row = y * fb->stride;
                uint64_t b0 = start > row ? start - row : 0;
                uint64_t b1 = end - row < fb->stride ? end - row : fb->stride;
                uint32_t x0 = (uint32_t)(b0 / 4), x1 = (uint32_t)((b1 + 3) / 4), first = UINT32_MAX, last = 0;
                const uint32_t *px = (const uint32_t *)(fb->pixels + row);
                uint32_t *sh = (uint32_t *)(fb->shadow + row);

                for (uint32_t x = x0; x < x1; x++) {
                        uint32_t v = __atomic_load_n(&px[x], __ATOMIC_RELAXED);
                        if (v != sh[x]) {
                                sh[x] = v;
                                if (first == UINT32_MAX)
                                        first = x;
                                last = x;
                        }
                }
                if (first != UINT32_MAX)
                        span_add(fb, (uint32_t)y, first, last + 1);
        }
}

static uint64_t area(const struct display_rect *r)
{
        return (uint64_t)r->w * r->h;
}

static struct display_rect bbox(const struct display_rect *a, const struct display_rect *b)
{
        uint32_t x0 = a->x < b->x ? a->x : b->x, y0 = a->y < b->y ? a->y : b->y;
        uint32_t x1 = a->x + a->w > b->x + b->w ? a->x + a->w : b->x + b->w;
        uint32_t y1 = a->y + a->h > b->y + b->h ? a->y + a->h : b->y + b->h;

        return (struct display_rect){ x0, y0, x1 - x0, y1 - y0 };
}

int fb_damage_from_bitmap(struct fb *fb, const uint64_t *bitmap, struct display_rect *rects, size_t max)
{
        uint64_t pages = fb->size / PAGE;
        size_t n = 0;

        for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
                uint64_t bits = bitmap[w];
                while (bits) {
                        uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
                        bits &= bits - 1;
                        if (p < pages)
                                diff_page(fb, p);
                }
        }

        /* Rows → rectangles: consecutive rows whose spans overlap or touch. */
        for (uint32_t y = 0; y < fb->height; y++) {
                uint32_t x0 = fb->span_x0[y], x1 = fb->span_x1[y];
                struct display_rect *cur = n ? &fb->work[n - 1] : NULL;

                if (x1 == 0)
                        continue;
                fb->span_x0[y] = fb->span_x1[y] = 0;
                if (cur && cur->y + cur->h == y && x0 <= cur->x + cur->w && cur->x <= x1) {
                        struct display_rect r = { x0, y, x1 - x0, 1 };
                        *cur = bbox(cur, &r);
                } else {
                        fb->work[n++] = (struct display_rect){ x0, y, x1 - x0, 1 };
                }
        }
        if (!rects || max == 0)
                return 0;

        /* Too many: merge the neighbours whose union adds the least area. */
        while (n > max) {
                size_t best = 0;
                uint64_t best_cost = UINT64_MAX;
                for (size_t i = 0; i + 1 < n; i++) {
                        struct display_rect u = bbox(&fb->work[i], &fb->work[i + 1]);
                        uint64_t cost = area(&u) - area(&fb->work[i]) - area(&fb->work[i + 1]);
                        if (cost < best_cost) {
                                best_cost = cost;
                                best = i;
                        }
                }
                fb->work[best] = bbox(&fb->work[best], &fb->work[best + 1]);
                memmove(&fb->work[best + 1], &fb->work[best + 2], (n - best - 2) * sizeof(fb->work[0]));
                n--;
        }
        memcpy(rects, fb->work, n * sizeof(rects[0]));
        return (int)n;
}

int fb_collect_damage(struct fb *fb, struct display_rect *rects, size_t max)
{
        struct kvm_dirty_log log = { .slot = FB_SLOT };
        int r;

        pthread_mutex_lock(&fb->lock);
        if (fb->vm_fd < 0) {
                pthread_mutex_unlock(&fb->lock);
                return 0;
        }
        /* Fetches and clears the log, write-protecting the pages again. */
        log.dirty_bitmap = fb->bitmap;
        memset(fb->bitmap, 0, fb->bitmap_bytes);
        if (ioctl(fb->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
                r = -errno;
                pthread_mutex_unlock(&fb->lock);
                return r;
        }
        r = fb_damage_from_bitmap(fb, fb->bitmap, rects, max);
        pthread_mutex_unlock(&fb->lock);
        return r;
}

int fb_get_surface(struct fb *fb, struct display_surface *out)
{
        out->pixels = fb->pixels;
        out->width = fb->width;
        out->height = fb->height;
        out->stride = fb->stride;
        out->format = DISPLAY_FORMAT_XRGB8888;
        out->generation = fb->generation;
        return 0;
}

/* All of len bytes to fd, past short writes and EINTR. 0 or -errno. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int fb_surface_write_ppm(const struct display_surface *s, int fd)
{
        _cleanup_free_ uint8_t *line = malloc((size_t)s->width * 3);
        char head[64];
        int r;

        if (!line)
                return -ENOMEM;
        r = write_all(fd, (const uint8_t *)head, (size_t)snprintf(head, sizeof(head), "P6\n%u %u\n255\n",
                                                                   s->width, s->height));
        for (uint32_t y = 0; r == 0 && y < s->height; y++) {
                const uint8_t *px = s->pixels + (size_t)y * s->stride;
                for (uint32_t x = 0; x < s->width; x++) { /* XRGB8888 in memory: B, G, R, X */
                        line[3 * x] = px[4 * x + 2];
                        line[3 * x + 1] = px[4 * x + 1];
                        line[3 * x + 2] = px[4 * x];
                }
                r = write_all(fd, line, (size_t)s->width * 3);
        }
        return r;
}

static int fb_save(void *dev, struct state_writer *w)
{
        struct fb *fb = dev;

        pthread_mutex_lock(&fb->lock);
        state_put_u32(w, fb->width);
        state_put_u32(w, fb->height);
        state_put_u32(w, fb->stride);
        state_put_u64(w, fb->size);
        state_put_bytes(w, fb->pixels, (size_t)fb->size);
        pthread_mutex_unlock(&fb->lock);
        return 0;
}

/* The header: the same size and layout as this framebuffer. */
static void fb_parse_header(struct fb *fb, struct state_reader *r)
{
        uint32_t w = state_get_u32(r), h = state_get_u32(r), stride = state_get_u32(r);
        uint64_t size = state_get_u64(r);

        if (state_reader_ok(r) && (w != fb->width || h != fb->height || stride != fb->stride || size != fb->size))
                state_reader_fail(r, "a %ux%u framebuffer in the snapshot, %ux%u here (give --framebuffer %ux%u)", w,
                                  h, fb->width, fb->height, w, h);
        if (state_reader_ok(r) && r->len - r->off != fb->size)
                state_reader_fail(r, "%zu bytes of pixels, the framebuffer has %llu", r->len - r->off,
                                  (unsigned long long)fb->size);
}

static int fb_check(void *dev, struct state_reader *r, struct vm_err *err)
{
        fb_parse_header(dev, r);
        if (state_reader_ok(r))
                r->off = r->len; /* the pixels: any bytes will do */
        return state_reader_done(r, err);
}

static int fb_load(void *dev, struct state_reader *r, struct vm_err *err)
{
        struct fb *fb = dev;

        fb_parse_header(fb, r);
        if (!state_reader_ok(r))
                return state_reader_done(r, err);
        pthread_mutex_lock(&fb->lock);
        state_get_bytes(r, fb->pixels, (size_t)fb->size);
        memset(fb->shadow, 0, (size_t)fb->size);
        pthread_mutex_unlock(&fb->lock);
        return state_reader_done(r, err);
}

const struct state_ops fb_state_ops = { .save = fb_save, .load = fb_load, .check = fb_check };
