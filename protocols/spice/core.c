#include "config.h"

#include "protocols/spice/core.h"

#include <glib-unix.h>
#include <stdbool.h>

/* One core per process: the SpiceCoreInterface callbacks have no context
 * argument (see core.h). */
static struct core_state {
        SpiceCoreInterface iface;
        GMainContext *ctx;
        spice_core_event_fn event_fn;
        void *opaque;
        bool in_use;
} core;

/* ---- timers: one-shot, re-armed by timer_start ---- */

struct SpiceTimer {
        SpiceTimerFunc func;
        void *opaque;
        GSource *source;
};

static gboolean timer_fire(gpointer data)
{
        SpiceTimer *t = data;

        /* The callback may re-arm or remove the timer: forget the source
         * first (GLib drops it when we return G_SOURCE_REMOVE). */
        g_source_unref(t->source);
        t->source = NULL;
        t->func(t->opaque);
        return G_SOURCE_REMOVE;
}

static SpiceTimer *timer_add(SpiceTimerFunc func, void *opaque)
{
        SpiceTimer *t = g_new0(SpiceTimer, 1);
        t->func = func;
        t->opaque = opaque;
        return t;
}

static void timer_cancel(SpiceTimer *t)
{
        if (t->source) {
                g_source_destroy(t->source);
                g_source_unref(t->source);
                t->source = NULL;
        }
}

static void timer_start(SpiceTimer *t, uint32_t ms)
{
        timer_cancel(t);
        t->source = g_timeout_source_new(ms);
        g_source_set_callback(t->source, timer_fire, t, NULL);
        g_source_attach(t->source, core.ctx);
}

static void timer_remove(SpiceTimer *t)
{
        timer_cancel(t);
        g_free(t);
}

/* ---- fd watches ---- */

struct SpiceWatch {
        GSource source; /* first: the GSource allocation is the watch */
        int fd;
        int mask;       /* SPICE_WATCH_EVENT_* currently wanted */
        gpointer tag;   /* g_source_add_unix_fd tag, NULL while mask == 0 */
        SpiceWatchFunc func;
        void *opaque;
};

static gboolean watch_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
        SpiceWatch *w = (SpiceWatch *)source;
        GIOCondition rev;
        int ev = 0;

        if (!w->tag)
                return G_SOURCE_CONTINUE;
        rev = g_source_query_unix_fd(source, w->tag);
        /* Errors and hang-ups are delivered as the events the owner waits
         * for, so its read/write sees the failure. */
        if ((w->mask & SPICE_WATCH_EVENT_READ) && (rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
                ev |= SPICE_WATCH_EVENT_READ;
        if ((w->mask & SPICE_WATCH_EVENT_WRITE) && (rev & (G_IO_OUT | G_IO_HUP | G_IO_ERR)))
                ev |= SPICE_WATCH_EVENT_WRITE;
        if (ev)
                w->func(w->fd, ev, w->opaque);
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs watch_funcs = {
        .dispatch = watch_dispatch,
};

static GIOCondition mask_to_cond(int mask)
{
        GIOCondition c = 0;
        if (mask & SPICE_WATCH_EVENT_READ)
                c |= G_IO_IN;
        if (mask & SPICE_WATCH_EVENT_WRITE)
                c |= G_IO_OUT;
        return c;
}

static void watch_update_mask(SpiceWatch *w, int mask)
{
        w->mask = mask;
        if (mask == 0) {
                /* poll() reports HUP even with no events requested: keep
                 * the fd out of the poll set entirely, or a closed peer
                 * would spin the loop. */
                if (w->tag) {
                        g_source_remove_unix_fd(&w->source, w->tag);
                        w->tag = NULL;
                }
        } else if (w->tag) {
                g_source_modify_unix_fd(&w->source, w->tag, mask_to_cond(mask));
        } else {
                w->tag = g_source_add_unix_fd(&w->source, w->fd, mask_to_cond(mask));
        }
}

static SpiceWatch *watch_add(int fd, int mask, SpiceWatchFunc func, void *opaque)
{
        SpiceWatch *w = (SpiceWatch *)g_source_new(&watch_funcs, sizeof(SpiceWatch));

        w->fd = fd;
        w->func = func;
        w->opaque = opaque;
        watch_update_mask(w, mask);
        g_source_attach(&w->source, core.ctx);
        return w;
}

static void watch_remove(SpiceWatch *w)
{
        /* Safe from inside the watch's own dispatch: GLib holds a reference
         * while dispatching. */
        g_source_destroy(&w->source);
        g_source_unref(&w->source);
}

static void channel_event(int event, SpiceChannelEventInfo *info)
{
        if (core.event_fn)
                core.event_fn(event, info, core.opaque);
}

SpiceCoreInterface *spice_core_new(GMainContext *ctx, spice_core_event_fn event_fn, void *opaque)
{
        if (core.in_use)
                return NULL;
        core = (struct core_state){
                .iface = {
                        .base.type = SPICE_INTERFACE_CORE,
                        .base.description = "vdi glib core",
                        .base.major_version = SPICE_INTERFACE_CORE_MAJOR,
                        .base.minor_version = SPICE_INTERFACE_CORE_MINOR,
                        .timer_add = timer_add,
                        .timer_start = timer_start,
                        .timer_cancel = timer_cancel,
                        .timer_remove = timer_remove,
                        .watch_add = watch_add,
                        .watch_update_mask = watch_update_mask,
                        .watch_remove = watch_remove,
                        .channel_event = channel_event,
                },
                .ctx = g_main_context_ref(ctx),
                .event_fn = event_fn,
                .opaque = opaque,
                .in_use = true,
        };
        return &core.iface;
}

void spice_core_free(SpiceCoreInterface *iface)
{
        if (!iface || iface != &core.iface)
                return;
        g_main_context_unref(core.ctx);
        core = (struct core_state){ 0 };
}
