#include "config.h"

#include "protocols/spice/fb.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "protocols/spice/layout.h"

/* Host memory is mapped 1:1 through one memslot, so a QXLPHYSICAL is just
 * a pointer into our own address space. */
#define MEMSLOT_GROUP 0
#define MEMSLOT_ID 0

/* Rectangles taken from the source per tick; more are merged by it. */
#define DAMAGE_MAX 32
/* Drawables waiting for the worker; beyond this, damage accumulates (and is
 * merged) until the consumer catches up. */
#define PENDING_MAX 64

enum update_kind { UPDATE_DRAW, UPDATE_CURSOR };

/* One command handed to spice. It lives until release_resource (or until
 * spice_fb_free, for what spice never released). */
struct update {
        enum update_kind kind;
        struct update *prev, *next; /* live list */
        QXLCommandExt ext;
};

struct draw_update {
        struct update hdr;
        QXLDrawable drawable;
        QXLImage image;
        uint8_t bitmap[]; /* w*h*4, top-down: owned, the guest may redraw */
};

struct cursor_update {
        struct update hdr;
        QXLCursorCmd cmd;
        QXLCursor *shape; /* with its pixels after it */
};

struct spice_fb {
        QXLInstance qxl; /* first: container of the instance spice passes back */
        SpiceServer *server;
        struct display_source src;
        GMainContext *ctx;
        GSource *tick;

        GMutex lock; /* everything below: the worker thread reads it */
        GQueue draws;   /* struct update *, not yet fetched */
        GQueue cursors; /* struct update *, not yet fetched */
        struct update *live;
        struct spice_fb_stats stats;

        /* Main-loop state. */
        uint32_t image_unique;
        bool have_surface;
        uint32_t width, height;
        uint64_t generation;
        uint8_t *surface_mem; /* spice's canvas for the primary surface */
        struct display_rect acc[DAMAGE_MAX];
        size_t nacc;
        bool warned_format;
};

static struct spice_fb *from_qin(QXLInstance *qin)
{
        return (struct spice_fb *)qin;
}

static void live_add(struct spice_fb *q, struct update *u)
{
        u->prev = NULL;
        u->next = q->live;
        if (q->live)
                q->live->prev = u;
        q->live = u;
}

static void live_del(struct spice_fb *q, struct update *u)
{
        if (u->prev)
                u->prev->next = u->next;
        else
                q->live = u->next;
        if (u->next)
                u->next->prev = u->prev;
}

static void update_free(struct update *u)
{
        if (u && u->kind == UPDATE_CURSOR)
                g_free(((struct cursor_update *)u)->shape);
        g_free(u);
}

/* ---- QXL interface (spice worker thread, except where noted) ---- */

static void qxl_attached_worker(QXLInstance *qin)
{
}

static void qxl_set_compression_level(QXLInstance *qin, int level)
{
}

static void qxl_set_mm_time(QXLInstance *qin, uint32_t mm_time)
{
}

static void qxl_get_init_info(QXLInstance *qin, QXLDevInitInfo *info)
{
        *info = (QXLDevInitInfo){
                .num_memslots_groups = 1,
                .num_memslots = 1,
                .memslot_gen_bits = 8,
                .memslot_id_bits = 8,
                .qxl_ram_size = 16u << 20,
                .internal_groupslot_id = 0,
                .n_surfaces = 1,
        };
}

static int pop_command(struct spice_fb *q, GQueue *queue, struct QXLCommandExt *ext)
{
        struct update *u;

        g_mutex_lock(&q->lock);
        u = g_queue_pop_head(queue);
        if (u)
                *ext = u->ext;
        g_mutex_unlock(&q->lock);
        return u != NULL;
}

static int qxl_get_command(QXLInstance *qin, struct QXLCommandExt *ext)
{
        struct spice_fb *q = from_qin(qin);
        return pop_command(q, &q->draws, ext);
}

static int qxl_get_cursor_command(QXLInstance *qin, struct QXLCommandExt *ext)
{
        struct spice_fb *q = from_qin(qin);
        return pop_command(q, &q->cursors, ext);
}

/* We always want a spice_qxl_wakeup when new commands are queued. */
static int qxl_req_notification(QXLInstance *qin)
{
        return 1;
}

static void qxl_release_resource(QXLInstance *qin, struct QXLReleaseInfoExt rel)
{
        struct spice_fb *q = from_qin(qin);
        struct update *u = (struct update *)(uintptr_t)rel.info->id;

        g_mutex_lock(&q->lock);
        live_del(q, u);
        g_mutex_unlock(&q->lock);
        update_free(u);
}

static void qxl_notify_update(QXLInstance *qin, uint32_t update_id)
{
}

static int qxl_flush_resources(QXLInstance *qin)
{
        return 0;
}

static void qxl_async_complete(QXLInstance *qin, uint64_t cookie)
{
        /* Only the synchronous spice_qxl_* calls are used. */
}

static void qxl_update_area_complete(QXLInstance *qin, uint32_t surface_id, struct QXLRect *rects,
                                     uint32_t n)
{
}

static void qxl_set_client_capabilities(QXLInstance *qin, uint8_t client_present,
                                        uint8_t caps[SPICE_CAPABILITIES_SIZE])
{
}

/* The client's window size or displays (spice-server's main loop, our
 * display thread; request_layout may be called from any thread). */
static int qxl_client_monitors_config(QXLInstance *qin, VDAgentMonitorsConfig *mc)
{
        return spice_layout_request(&from_qin(qin)->src, mc);
}

static const QXLInterface qxl_interface = {
        .base = {
                .type = SPICE_INTERFACE_QXL,
                .description = "vdi framebuffer",
                .major_version = SPICE_INTERFACE_QXL_MAJOR,
                .minor_version = SPICE_INTERFACE_QXL_MINOR,
        },
        .attached_worker = qxl_attached_worker,
        .set_compression_level = qxl_set_compression_level,
        .set_mm_time = qxl_set_mm_time,
        .get_init_info = qxl_get_init_info,
        .get_command = qxl_get_command,
        .req_cmd_notification = qxl_req_notification,
        .release_resource = qxl_release_resource,
        .get_cursor_command = qxl_get_cursor_command,
        .req_cursor_notification = qxl_req_notification,
        .notify_update = qxl_notify_update,
        .flush_resources = qxl_flush_resources,
        .async_complete = qxl_async_complete,
        .update_area_complete = qxl_update_area_complete,
        .set_client_capabilities = qxl_set_client_capabilities,
        .client_monitors_config = qxl_client_monitors_config,
};

/* ---- commands (main loop) ---- */

static uint32_t mm_time_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint32_t)((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Copy r out of the framebuffer into a new COPY drawable and queue it.
 * r is inside the surface (clipped by the caller). */
static int queue_draw(struct spice_fb *q, const struct display_surface *s, struct display_rect r)
{
        struct draw_update *d;
        size_t row, size, total;

        if (!size_mul(r.w, 4, &row) || !size_mul(row, r.h, &size) ||
            !size_add(sizeof(*d), size, &total))
                return -ENOMEM;
        d = g_try_malloc0(total);
        if (!d)
                return -ENOMEM;
        for (uint32_t y = 0; y < r.h; y++)
                memcpy(d->bitmap + (size_t)y * row,
                       s->pixels + (size_t)(r.y + y) * s->stride + (size_t)r.x * 4, row);

        d->hdr.kind = UPDATE_DRAW;
        d->hdr.ext.cmd.type = QXL_CMD_DRAW;
        d->hdr.ext.cmd.data = (uintptr_t)&d->drawable;
        d->hdr.ext.group_id = MEMSLOT_GROUP;

        QXLDrawable *dr = &d->drawable;
        dr->release_info.id = (uintptr_t)&d->hdr;
        dr->surface_id = 0;
        dr->effect = QXL_EFFECT_OPAQUE;
        dr->type = QXL_DRAW_COPY;
        dr->bbox = (QXLRect){ .left = (int32_t)r.x, .top = (int32_t)r.y,
                              .right = (int32_t)(r.x + r.w), .bottom = (int32_t)(r.y + r.h) };
        dr->clip.type = SPICE_CLIP_TYPE_NONE;
        dr->mm_time = mm_time_now();
        dr->surfaces_dest[0] = dr->surfaces_dest[1] = dr->surfaces_dest[2] = -1;
        dr->u.copy.src_bitmap = (uintptr_t)&d->image;
        dr->u.copy.src_area = (QXLRect){ .right = (int32_t)r.w, .bottom = (int32_t)r.h };
        dr->u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;

        QXLImage *im = &d->image;
        /* Unique per image: spice and clients cache by id. */
        QXL_SET_IMAGE_ID(im, QXL_IMAGE_GROUP_DEVICE, ++q->image_unique);
        im->descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
        im->descriptor.width = r.w;
        im->descriptor.height = r.h;
        im->bitmap.format = SPICE_BITMAP_FMT_32BIT;
        im->bitmap.flags = QXL_BITMAP_DIRECT | QXL_BITMAP_TOP_DOWN;
        im->bitmap.x = r.w;
        im->bitmap.y = r.h;
        im->bitmap.stride = (uint32_t)row;
        im->bitmap.palette = 0;
        im->bitmap.data = (uintptr_t)d->bitmap;

        g_mutex_lock(&q->lock);
        live_add(q, &d->hdr);
        g_queue_push_tail(&q->draws, &d->hdr);
        q->stats.drawables++;
        q->stats.bytes += size;
        g_mutex_unlock(&q->lock);
        return 0;
}

/* A 12x19 arrow, white with a black outline, hot spot at its tip. */
#define ARROW_W 12
#define ARROW_H 19

static bool arrow_inside(int x, int y)
{
        if (x < 0 || y < 0 || x >= ARROW_W || y >= ARROW_H)
                return false;
        if (y < 12)
                return x <= y; /* head: right triangle */
        if (y == 12 && x <= 7)
                return true; /* head's lower edge */
        int off = 3 + (y - 12) / 2; /* slanted tail */
        return x >= off && x <= off + 2;
}

/* White inside, black where an inside pixel touches the outside. */
static uint32_t arrow_pixel(int x, int y)
{
        if (!arrow_inside(x, y))
                return 0;
        if (!arrow_inside(x - 1, y) || !arrow_inside(x + 1, y) || !arrow_inside(x, y - 1) ||
            !arrow_inside(x, y + 1))
                return 0xff000000u;
        return 0xffffffffu;
}

static int queue_cursor(struct spice_fb *q)
{
        size_t size = ARROW_W * ARROW_H * 4;
        struct cursor_update *c = g_try_new0(struct cursor_update, 1);
        QXLCursor *shape = g_try_malloc0(sizeof(QXLCursor) + size);
        uint8_t *px;

        if (!c || !shape) {
                g_free(c);
                g_free(shape);
                return -ENOMEM;
        }
        px = (uint8_t *)shape + sizeof(QXLCursor); /* chunk.data: packed, unaligned */
        for (int y = 0; y < ARROW_H; y++) {
                for (int x = 0; x < ARROW_W; x++) {
                        uint32_t v = GUINT32_TO_LE(arrow_pixel(x, y));
                        memcpy(px + (size_t)(y * ARROW_W + x) * 4, &v, 4);
                }
        }
        shape->header.unique = 0; /* 0: not cached */
        shape->header.type = SPICE_CURSOR_TYPE_ALPHA;
        shape->header.width = ARROW_W;
        shape->header.height = ARROW_H;
        shape->header.hot_spot_x = 0;
        shape->header.hot_spot_y = 0;
        shape->data_size = (uint32_t)size;
        shape->chunk.data_size = (uint32_t)size;
        c->shape = shape;

        c->hdr.kind = UPDATE_CURSOR;
        c->hdr.ext.cmd.type = QXL_CMD_CURSOR;
        c->hdr.ext.cmd.data = (uintptr_t)&c->cmd;
        c->hdr.ext.group_id = MEMSLOT_GROUP;
        c->cmd.release_info.id = (uintptr_t)&c->hdr;
        c->cmd.type = QXL_CURSOR_SET;
        c->cmd.u.set.position.x = 0;
        c->cmd.u.set.position.y = 0;
        c->cmd.u.set.visible = 1;
        c->cmd.u.set.shape = (uintptr_t)shape;

        g_mutex_lock(&q->lock);
        live_add(q, &c->hdr);
        g_queue_push_tail(&q->cursors, &c->hdr);
        g_mutex_unlock(&q->lock);
        return 0;
}

/* Drop drawables the worker has not fetched yet (they are for a surface
 * that is going away). */
static void drop_pending(struct spice_fb *q)
{
        struct update *u;

        g_mutex_lock(&q->lock);
        while ((u = g_queue_pop_head(&q->draws))) {
                live_del(q, u);
                update_free(u);
        }
        g_mutex_unlock(&q->lock);
}

/* (Re)create the primary surface for s; the whole screen becomes damage. */
static int create_surface(struct spice_fb *q, const struct display_surface *s)
{
        QXLDevSurfaceCreate c;
        size_t row, size;

        if (!size_mul(s->width, 4, &row) || !size_mul(row, s->height, &size) ||
            row > INT32_MAX || size > INT32_MAX || s->width == 0 || s->height == 0)
                return -EINVAL;

        drop_pending(q);
        if (q->have_surface) {
                spice_qxl_destroy_primary_surface(&q->qxl, 0);
                q->have_surface = false;
        }
        g_free(q->surface_mem);
        q->surface_mem = g_try_malloc0(size);
        if (!q->surface_mem)
                return -ENOMEM;

        c = (QXLDevSurfaceCreate){
                .width = s->width,
                .height = s->height,
                .stride = (int32_t)row,
                .format = SPICE_SURFACE_FMT_32_xRGB,
                .position = 0,
                .mouse_mode = 1, /* client (tablet) mouse mode allowed */
                .flags = 0,
                .type = QXL_SURF_TYPE_PRIMARY,
                .mem = (uintptr_t)q->surface_mem,
                .group_id = MEMSLOT_GROUP,
        };
        spice_qxl_create_primary_surface(&q->qxl, 0, &c);
        q->have_surface = true;
        q->width = s->width;
        q->height = s->height;
        q->generation = s->generation;
        q->acc[0] = (struct display_rect){ 0, 0, s->width, s->height };
        q->nacc = 1;
        g_mutex_lock(&q->lock);
        q->stats.surfaces++;
        g_mutex_unlock(&q->lock);
        log_info("spice_surface", "width=%u height=%u generation=%llu", s->width, s->height,
                 (unsigned long long)s->generation);
        /* A new surface resets the cursor channel: set the pointer again. */
        return queue_cursor(q);
}

static struct display_rect rect_union(struct display_rect a, struct display_rect b)
{
        uint32_t x0 = MIN(a.x, b.x), y0 = MIN(a.y, b.y);
        uint32_t x1 = MAX(a.x + a.w, b.x + b.w), y1 = MAX(a.y + a.h, b.y + b.h);
        return (struct display_rect){ x0, y0, x1 - x0, y1 - y0 };
}

/* Add r (clipped to the surface) to the accumulated damage; when full,
 * merge everything into one bounding rectangle. */
static void acc_add(struct spice_fb *q, struct display_rect r)
{
        if (r.x >= q->width || r.y >= q->height || r.w == 0 || r.h == 0)
                return;
        r.w = MIN(r.w, q->width - r.x);
        r.h = MIN(r.h, q->height - r.y);
        if (q->nacc == DAMAGE_MAX) {
                struct display_rect u = q->acc[0];
                for (size_t i = 1; i < q->nacc; i++)
                        u = rect_union(u, q->acc[i]);
                q->acc[0] = u;
                q->nacc = 1;
        }
        q->acc[q->nacc++] = r;
}

static gboolean qxl_tick(gpointer data)
{
        struct spice_fb *q = data;
        struct display_surface s;
        struct display_rect rects[DAMAGE_MAX];
        bool queued = false;
        guint pending;
        int n;

        g_mutex_lock(&q->lock);
        q->stats.ticks++;
        g_mutex_unlock(&q->lock);

        if (q->src.ops->get_surface(q->src.opaque, &s) < 0)
                return G_SOURCE_CONTINUE;
        if (s.format != DISPLAY_FORMAT_XRGB8888 || !s.pixels || s.width == 0 || s.height == 0 ||
            s.stride / 4 < s.width) {
                if (!q->warned_format)
                        log_warning("spice_surface_unsupported",
                                    "format=%u width=%u height=%u stride=%u", s.format, s.width,
                                    s.height, s.stride);
                q->warned_format = true;
                return G_SOURCE_CONTINUE;
        }
        if (!q->have_surface || s.width != q->width || s.height != q->height ||
            s.generation != q->generation) {
                int r = create_surface(q, &s);
                if (r < 0) {
                        log_error("spice_surface_failed", "width=%u height=%u error=%s", s.width,
                                  s.height, g_strerror(-r));
                        return G_SOURCE_CONTINUE;
                }
                queued = true;
        }

        n = q->src.ops->collect_damage(q->src.opaque, rects, G_N_ELEMENTS(rects));
        for (int i = 0; i < n; i++)
                acc_add(q, rects[i]);

        g_mutex_lock(&q->lock);
        pending = q->draws.length;
        if (q->nacc > 0 && pending >= PENDING_MAX)
                q->stats.coalesced++;
        g_mutex_unlock(&q->lock);

        if (pending < PENDING_MAX) {
                for (size_t i = 0; i < q->nacc; i++) {
                        if (queue_draw(q, &s, q->acc[i]) < 0) {
                                /* Out of memory: keep the damage, retry. */
                                memmove(q->acc, q->acc + i, (q->nacc - i) * sizeof(q->acc[0]));
                                q->nacc -= i;
                                goto wake;
                        }
                        queued = true;
                }
                q->nacc = 0;
        }
wake:
        if (queued)
                spice_qxl_wakeup(&q->qxl);
        return G_SOURCE_CONTINUE;
}

struct spice_fb *spice_fb_new(SpiceServer *s, struct display_source source, GMainContext *ctx,
                              unsigned fps, int *err)
{
        struct spice_fb *q = g_new0(struct spice_fb, 1);
        QXLDevMemSlot slot = {
                .slot_group_id = MEMSLOT_GROUP,
                .slot_id = MEMSLOT_ID,
                .generation = 0,
                .virt_start = 0,
                .virt_end = ~(uintptr_t)0,
                .addr_delta = 0,
                .qxl_ram_size = 0,
        };

        q->qxl.base.sif = &qxl_interface.base;
        q->qxl.id = 0;
        q->server = s;
        q->src = source;
        q->ctx = g_main_context_ref(ctx);
        g_mutex_init(&q->lock);
        g_queue_init(&q->draws);
        g_queue_init(&q->cursors);

        if (spice_server_add_interface(s, &q->qxl.base) != 0) {
                *err = -EIO;
                spice_fb_free(q);
                return NULL;
        }
        spice_qxl_add_memslot(&q->qxl, &slot);

        q->tick = g_timeout_source_new(1000 / CLAMP(fps ? fps : 30, 1, 240));
        g_source_set_callback(q->tick, qxl_tick, q, NULL);
        g_source_attach(q->tick, ctx);
        return q;
}

void spice_fb_stop(struct spice_fb *q)
{
        if (q && q->tick) {
                g_source_destroy(q->tick);
                g_source_unref(q->tick);
                q->tick = NULL;
        }
}

void spice_fb_free(struct spice_fb *q)
{
        struct update *u;

        if (!q)
                return;
        spice_fb_stop(q);
        g_queue_clear(&q->draws);
        g_queue_clear(&q->cursors);
        while ((u = q->live)) {
                live_del(q, u);
                update_free(u);
        }
        g_free(q->surface_mem);
        g_mutex_clear(&q->lock);
        g_main_context_unref(q->ctx);
        g_free(q);
}

void spice_fb_get_stats(struct spice_fb *q, struct spice_fb_stats *out)
{
        g_mutex_lock(&q->lock);
        *out = q->stats;
        g_mutex_unlock(&q->lock);
}
