#include "config.h"

#include "testsrc.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

struct testsrc {
        GMutex lock;
        uint32_t width, height;
        uint64_t generation;
        uint32_t *pixels;
        GPtrArray *retired; /* pixels of earlier modes: servers may still read them */
        bool follow_layout;
        unsigned layouts, last_n;
        struct display_head last[DISPLAY_MAX_HEADS];
        GArray *damage; /* struct display_rect */
        GArray *events; /* struct testsrc_event */
        GByteArray *audio; /* PCM queued by testsrc_audio_push */
        struct display_audio_format audio_fmt;
        struct display_cursor *cursor; /* NULL: no hardware cursor (as VESA) */
};

static int ts_get_surface(void *opaque, struct display_surface *out)
{
        struct testsrc *t = opaque;
        g_mutex_lock(&t->lock);
        *out = (struct display_surface){
                .pixels = (const uint8_t *)t->pixels,
                .width = t->width,
                .height = t->height,
                .stride = t->width * 4,
                .format = DISPLAY_FORMAT_XRGB8888,
                .generation = t->generation,
        };
        g_mutex_unlock(&t->lock);
        return 0;
}

static struct display_rect rect_union(struct display_rect a, struct display_rect b)
{
        uint32_t x0 = MIN(a.x, b.x), y0 = MIN(a.y, b.y);
        uint32_t x1 = MAX(a.x + a.w, b.x + b.w), y1 = MAX(a.y + a.h, b.y + b.h);
        return (struct display_rect){ x0, y0, x1 - x0, y1 - y0 };
}

static int ts_collect_damage(void *opaque, struct display_rect *rects, size_t max)
{
        struct testsrc *t = opaque;
        size_t n;

        if (max == 0)
                return -EINVAL;
        g_mutex_lock(&t->lock);
        n = t->damage->len;
        if (n == 0) {
                /* nothing changed */
        } else if (n <= max) {
                memcpy(rects, t->damage->data, n * sizeof(*rects));
        } else {
                /* Keep the first max-1 and merge the rest into the last. */
                memcpy(rects, t->damage->data, (max - 1) * sizeof(*rects));
                struct display_rect u = g_array_index(t->damage, struct display_rect, max - 1);
                for (size_t i = max; i < n; i++)
                        u = rect_union(u, g_array_index(t->damage, struct display_rect, i));
                rects[max - 1] = u;
                n = max;
        }
        g_array_set_size(t->damage, 0);
        g_mutex_unlock(&t->lock);
        return (int)n;
}

void testsrc_resize(struct testsrc *t, uint32_t width, uint32_t height);

static int ts_request_layout(void *opaque, const struct display_head *heads, unsigned n)
{
        struct testsrc *t = opaque;
        bool follow;

        if (!heads && n == 0) {
                g_mutex_lock(&t->lock);
                follow = t->follow_layout;
                g_mutex_unlock(&t->lock);
                return follow ? 0 : -ENOTSUP;
        }
        if (n == 0 || n > DISPLAY_MAX_HEADS)
                return -EINVAL;
        g_mutex_lock(&t->lock);
        memcpy(t->last, heads, n * sizeof(*heads));
        t->last_n = n;
        t->layouts++;
        follow = t->follow_layout;
        g_mutex_unlock(&t->lock);
        if (!follow)
                return -ENOTSUP;
        testsrc_resize(t, heads[0].width, heads[0].height);
        return 0;
}

static void push_event(struct testsrc *t, struct testsrc_event ev)
{
        g_mutex_lock(&t->lock);
        g_array_append_val(t->events, ev);
        g_mutex_unlock(&t->lock);
}

static void ts_input_key(void *opaque, uint16_t code, bool pressed)
{
        push_event(opaque, (struct testsrc_event){ .type = TESTSRC_KEY, .code = code,
                                                   .pressed = pressed });
}

static void ts_input_pointer(void *opaque, uint32_t x, uint32_t y, uint32_t buttons)
{
        push_event(opaque, (struct testsrc_event){ .type = TESTSRC_POINTER, .x = x, .y = y,
                                                   .buttons = buttons });
}

static void ts_input_wheel(void *opaque, int32_t delta)
{
        push_event(opaque, (struct testsrc_event){ .type = TESTSRC_WHEEL, .delta = delta });
}

static int ts_get_cursor(void *opaque, struct display_cursor *out)
{
        struct testsrc *t = opaque;
        int r = -ENODEV;
        g_mutex_lock(&t->lock);
        if (t->cursor) {
                *out = *t->cursor;
                r = 0;
        }
        g_mutex_unlock(&t->lock);
        return r;
}

static size_t ts_audio_read(void *opaque, struct display_audio_format *fmt, uint8_t *buf, size_t max)
{
        struct testsrc *t = opaque;
        size_t frame, n;

        g_mutex_lock(&t->lock);
        frame = t->audio_fmt.channels * 2u;
        n = t->audio->len < max ? t->audio->len : max;
        n -= frame ? n % frame : n;
        if (n) {
                memcpy(buf, t->audio->data, n);
                g_byte_array_remove_range(t->audio, 0, (guint)n);
        }
        *fmt = t->audio_fmt;
        g_mutex_unlock(&t->lock);
        return n;
}

#define TESTSRC_OPS_COMMON                             \
        .get_surface = ts_get_surface,                 \
        .request_layout = ts_request_layout,           \
        .collect_damage = ts_collect_damage,           \
        .input_key = ts_input_key,                     \
        .input_pointer = ts_input_pointer,             \
        .input_wheel = ts_input_wheel,                 \
        .get_cursor = ts_get_cursor

static const struct display_source_ops testsrc_ops = { TESTSRC_OPS_COMMON };
static const struct display_source_ops testsrc_audio_ops = { TESTSRC_OPS_COMMON, .audio_read = ts_audio_read };

struct testsrc *testsrc_new(uint32_t width, uint32_t height)
{
        struct testsrc *t = g_new0(struct testsrc, 1);
        g_mutex_init(&t->lock);
        t->width = width;
        t->height = height;
        t->generation = 1;
        t->pixels = g_new0(uint32_t, (gsize)width * height);
        t->retired = g_ptr_array_new_with_free_func(g_free);
        t->damage = g_array_new(FALSE, FALSE, sizeof(struct display_rect));
        t->events = g_array_new(FALSE, FALSE, sizeof(struct testsrc_event));
        t->audio = g_byte_array_new();
        return t;
}

void testsrc_free(struct testsrc *t)
{
        if (!t)
                return;
        g_array_free(t->damage, TRUE);
        g_array_free(t->events, TRUE);
        g_byte_array_free(t->audio, TRUE);
        g_ptr_array_free(t->retired, TRUE);
        g_free(t->pixels);
        g_free(t->cursor);
        g_mutex_clear(&t->lock);
        g_free(t);
}

struct display_source testsrc_source(struct testsrc *t)
{
        return (struct display_source){ .ops = &testsrc_ops, .opaque = t };
}

struct display_source testsrc_audio_source(struct testsrc *t)
{
        return (struct display_source){ .ops = &testsrc_audio_ops, .opaque = t };
}

void testsrc_audio_push(struct testsrc *t, const struct display_audio_format *fmt, const uint8_t *pcm, size_t len)
{
        g_mutex_lock(&t->lock);
        if (fmt->rate != t->audio_fmt.rate || fmt->channels != t->audio_fmt.channels)
                g_byte_array_set_size(t->audio, 0);
        t->audio_fmt = *fmt;
        g_byte_array_append(t->audio, pcm, (guint)len);
        g_mutex_unlock(&t->lock);
}

/* Clip r to the framebuffer; false when nothing is left. */
static bool clip(struct testsrc *t, struct display_rect *r)
{
        if (r->x >= t->width || r->y >= t->height || r->w == 0 || r->h == 0)
                return false;
        r->w = MIN(r->w, t->width - r->x);
        r->h = MIN(r->h, t->height - r->y);
        return true;
}

void testsrc_fill(struct testsrc *t, struct display_rect r, uint32_t color)
{
        g_mutex_lock(&t->lock);
        if (clip(t, &r)) {
                for (uint32_t y = r.y; y < r.y + r.h; y++)
                        for (uint32_t x = r.x; x < r.x + r.w; x++)
                                t->pixels[(size_t)y * t->width + x] = color;
                g_array_append_val(t->damage, r);
        }
        g_mutex_unlock(&t->lock);
}

void testsrc_pattern(struct testsrc *t, struct display_rect r, uint32_t seed)
{
        g_mutex_lock(&t->lock);
        if (clip(t, &r)) {
                for (uint32_t y = r.y; y < r.y + r.h; y++) {
                        for (uint32_t x = r.x; x < r.x + r.w; x++) {
                                /* splitmix-style hash of (x, y, seed). */
                                uint64_t z = ((uint64_t)y << 32 | x) ^ ((uint64_t)seed * 0x9e3779b97f4a7c15ull);
                                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
                                z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
                                t->pixels[(size_t)y * t->width + x] = (uint32_t)(z ^ (z >> 31)) & 0xffffffu;
                        }
                }
                g_array_append_val(t->damage, r);
        }
        g_mutex_unlock(&t->lock);
}

void testsrc_resize(struct testsrc *t, uint32_t width, uint32_t height)
{
        g_mutex_lock(&t->lock);
        g_ptr_array_add(t->retired, t->pixels);
        t->pixels = g_new0(uint32_t, (gsize)width * height);
        t->width = width;
        t->height = height;
        t->generation++;
        g_array_set_size(t->damage, 0);
        struct display_rect all = { 0, 0, width, height };
        g_array_append_val(t->damage, all);
        g_mutex_unlock(&t->lock);
}

void testsrc_follow_layout(struct testsrc *t, bool follow)
{
        g_mutex_lock(&t->lock);
        t->follow_layout = follow;
        g_mutex_unlock(&t->lock);
}

unsigned testsrc_last_layout(struct testsrc *t, struct display_head *heads, unsigned *n)
{
        g_mutex_lock(&t->lock);
        unsigned count = t->layouts;
        if (heads)
                memcpy(heads, t->last, t->last_n * sizeof(*heads));
        if (n)
                *n = t->last_n;
        g_mutex_unlock(&t->lock);
        return count;
}

void testsrc_size(struct testsrc *t, uint32_t *width, uint32_t *height)
{
        g_mutex_lock(&t->lock);
        *width = t->width;
        *height = t->height;
        g_mutex_unlock(&t->lock);
}

uint32_t testsrc_pixel(struct testsrc *t, uint32_t x, uint32_t y)
{
        return x < t->width && y < t->height ? t->pixels[(size_t)y * t->width + x] : 0;
}

const uint32_t *testsrc_pixels(struct testsrc *t)
{
        return t->pixels;
}

size_t testsrc_take_events(struct testsrc *t, struct testsrc_event *out, size_t max)
{
        size_t n;
        g_mutex_lock(&t->lock);
        n = MIN(max, (size_t)t->events->len);
        if (n > 0) {
                memcpy(out, t->events->data, n * sizeof(*out));
                g_array_remove_range(t->events, 0, (guint)n);
        }
        g_mutex_unlock(&t->lock);
        return n;
}

void testsrc_set_cursor(struct testsrc *t, const struct display_cursor *c)
{
        g_mutex_lock(&t->lock);
        if (!t->cursor)
                t->cursor = g_new0(struct display_cursor, 1);
        *t->cursor = *c;
        g_mutex_unlock(&t->lock);
}
