#include "config.h"

#include "spice/client.h"

#include <spice/vd_agent.h>
#include <string.h>

struct spice_client {
        SpiceSession *session;
        SpiceMainChannel *main;
        SpiceChannel *display;
        SpiceInputsChannel *inputs;
        SpiceChannel *cursor;
        GPtrArray *channels; /* SpiceChannel *, referenced */
        int error;
        bool main_only;
        bool main_open;
        bool gone;
        bool inputs_open;
        bool mouse_requested;
        uint64_t invalidates;
        bool audio;
        GByteArray *played;
        unsigned rate, nchannels;
};

static void on_channel_event(SpiceChannel *ch, SpiceChannelEvent event, gpointer data)
{
        struct spice_client *c = data;

        if (event >= SPICE_CHANNEL_ERROR_CONNECT && c->error == 0)
                c->error = (int)event;
        if (event >= SPICE_CHANNEL_CLOSED)
                c->gone = true;
        if (event == SPICE_CHANNEL_OPENED && SPICE_IS_MAIN_CHANNEL(ch))
                c->main_open = true;
        if (event == SPICE_CHANNEL_OPENED && SPICE_IS_INPUTS_CHANNEL(ch))
                c->inputs_open = true;
}

static void on_invalidate(SpiceChannel *ch, gint x, gint y, gint w, gint h, gpointer data)
{
        struct spice_client *c = data;
        c->invalidates++;
}

static void on_playback_start(SpicePlaybackChannel *ch, gint format, gint channels, gint rate, gpointer data)
{
        struct spice_client *c = data;
        c->rate = (unsigned)rate;
        c->nchannels = (unsigned)channels;
}

static void on_playback_data(SpicePlaybackChannel *ch, gpointer pcm, gint size, gpointer data)
{
        struct spice_client *c = data;
        g_byte_array_append(c->played, pcm, (guint)size);
}

static void on_channel_new(SpiceSession *s, SpiceChannel *ch, gpointer data)
{
        struct spice_client *c = data;

        g_ptr_array_add(c->channels, g_object_ref(ch));
        g_signal_connect(ch, "channel-event", G_CALLBACK(on_channel_event), c);
        if (SPICE_IS_MAIN_CHANNEL(ch)) {
                c->main = SPICE_MAIN_CHANNEL(ch);
                return; /* connected by spice_session_connect */
        }
        if (c->main_only)
                return;
        if (SPICE_IS_DISPLAY_CHANNEL(ch)) {
                c->display = ch;
                g_signal_connect(ch, "display-invalidate", G_CALLBACK(on_invalidate), c);
        } else if (SPICE_IS_INPUTS_CHANNEL(ch)) {
                c->inputs = SPICE_INPUTS_CHANNEL(ch);
        } else if (SPICE_IS_CURSOR_CHANNEL(ch)) {
                c->cursor = ch;
        } else if (SPICE_IS_PLAYBACK_CHANNEL(ch)) {
                g_signal_connect(ch, "playback-start", G_CALLBACK(on_playback_start), c);
                g_signal_connect(ch, "playback-data", G_CALLBACK(on_playback_data), c);
        }
        spice_channel_connect(ch);
}

struct spice_client *spice_client_connect(const struct spice_client_opts *o)
{
        struct spice_client *c = g_new0(struct spice_client, 1);
        g_autofree char *tls = o->tls_port ? g_strdup_printf("%u", o->tls_port) : NULL;
        g_autofree char *plain = o->plain_port ? g_strdup_printf("%u", o->plain_port) : NULL;

        c->channels = g_ptr_array_new_with_free_func(g_object_unref);
        c->main_only = o->main_only;
        c->played = g_byte_array_new();
        c->session = spice_session_new();
        g_object_set(c->session, "host", o->host ? o->host : "127.0.0.1", "enable-audio", (gboolean)o->audio,
                     "enable-usbredir", FALSE, NULL);
        if (tls)
                g_object_set(c->session, "tls-port", tls, NULL);
        if (plain)
                g_object_set(c->session, "port", plain, NULL);
        if (o->password)
                g_object_set(c->session, "password", o->password, NULL);
        if (o->ca_file)
                g_object_set(c->session, "ca-file", o->ca_file, NULL);
        g_signal_connect(c->session, "channel-new", G_CALLBACK(on_channel_new), c);
        if (!spice_session_connect(c->session))
                c->error = SPICE_CHANNEL_ERROR_CONNECT;
        return c;
}

void spice_client_free(struct spice_client *c)
{
        if (!c)
                return;
        g_signal_handlers_disconnect_by_data(c->session, c);
        for (guint i = 0; i < c->channels->len; i++)
                g_signal_handlers_disconnect_by_data(g_ptr_array_index(c->channels, i), c);
        spice_session_disconnect(c->session);
        g_ptr_array_free(c->channels, TRUE);
        /* Let the channels' coroutines wind down before the session goes. */
        spice_client_run(100, NULL, NULL);
        g_object_unref(c->session);
        g_byte_array_unref(c->played);
        g_free(c);
}

static gboolean tick(gpointer data)
{
        return G_SOURCE_CONTINUE;
}

void spice_client_run(unsigned ms, bool (*stop)(void *), void *data)
{
        GMainContext *ctx = g_main_context_get_thread_default();
        gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
        GSource *t = g_timeout_source_new(5);

        if (!ctx)
                ctx = g_main_context_default();
        /* The wake-up tick only gets stop() looked at: below every source of
         * spice-gtk's (its idle ones included), or a stop() slower than the
         * tick (a full-picture compare under ASan in the lab) makes the tick
         * always due and starves them, and the display channel stops
         * handling what it has read (seen: 2 minutes without a draw). */
        g_source_set_priority(t, G_PRIORITY_LOW);
        g_source_set_callback(t, tick, NULL, NULL);
        g_source_attach(t, ctx);
        while (g_get_monotonic_time() < end && !(stop && stop(data)))
                g_main_context_iteration(ctx, TRUE);
        g_source_destroy(t);
        g_source_unref(t);
}

int spice_client_error(struct spice_client *c)
{
        return c->error;
}

static bool has_error(void *data)
{
        return ((struct spice_client *)data)->error != 0;
}

int spice_client_wait_error(struct spice_client *c, unsigned timeout_ms)
{
        spice_client_run(timeout_ms, has_error, c);
        return c->error;
}

static bool main_opened(void *data)
{
        struct spice_client *c = data;
        return c->error != 0 || c->main_open;
}

bool spice_client_wait_main(struct spice_client *c, unsigned timeout_ms)
{
        spice_client_run(timeout_ms, main_opened, c);
        return c->error == 0 && c->main_open;
}

bool spice_client_gone(struct spice_client *c)
{
        return c->gone;
}

bool spice_client_primary(struct spice_client *c, SpiceDisplayPrimary *out)
{
        return c->display && spice_display_channel_get_primary(c->display, 0, out) && out->data;
}

static bool has_primary(void *data)
{
        struct spice_client *c = data;
        SpiceDisplayPrimary p;
        return c->error != 0 || spice_client_primary(c, &p);
}

bool spice_client_wait_primary(struct spice_client *c, unsigned timeout_ms)
{
        SpiceDisplayPrimary p;
        spice_client_run(timeout_ms, has_primary, c);
        return c->error == 0 && spice_client_primary(c, &p);
}

long spice_client_diff(struct spice_client *c, const uint32_t *want, int width, int height)
{
        SpiceDisplayPrimary p;
        long diff = 0;

        if (!spice_client_primary(c, &p) || p.width != width || p.height != height)
                return -1;
        for (int y = 0; y < height; y++) {
                const uint8_t *row = p.data + (size_t)y * (size_t)p.stride;
                for (int x = 0; x < width; x++) {
                        uint32_t v;
                        memcpy(&v, row + (size_t)x * 4, 4);
                        if (((GUINT32_FROM_LE(v) ^ want[(size_t)y * width + x]) & 0xffffffu) != 0)
                                diff++;
                }
        }
        return diff;
}

struct match {
        struct spice_client *c;
        const uint32_t *want;
        int w, h;
        gint64 next;
};

static bool matches(void *data)
{
        struct match *m = data;
        gint64 t0 = g_get_monotonic_time(), t1;
        bool same;

        /* A full compare costs: at most a third of the time, every 20 ms at best. */
        if (t0 < m->next)
                return m->c->error != 0;
        same = m->c->error == 0 && spice_client_diff(m->c, m->want, m->w, m->h) == 0;
        t1 = g_get_monotonic_time();
        m->next = t1 + MAX(20000, 2 * (t1 - t0));
        return m->c->error != 0 || same;
}

bool spice_client_wait_match(struct spice_client *c, const uint32_t *want, int width, int height,
                             unsigned timeout_ms)
{
        struct match m = { c, want, width, height, 0 };
        spice_client_run(timeout_ms, matches, &m);
        return spice_client_diff(c, want, width, height) == 0;
}

static bool inputs_ready(void *data)
{
        struct spice_client *c = data;
        int mode = 0;

        if (c->error)
                return true;
        if (!c->inputs_open || !c->main)
                return false;
        g_object_get(c->main, "mouse-mode", &mode, NULL);
        if (mode != SPICE_MOUSE_MODE_CLIENT && !c->mouse_requested) {
                spice_main_channel_request_mouse_mode(c->main, SPICE_MOUSE_MODE_CLIENT);
                c->mouse_requested = true;
        }
        return mode == SPICE_MOUSE_MODE_CLIENT;
}

bool spice_client_wait_inputs(struct spice_client *c, unsigned timeout_ms)
{
        spice_client_run(timeout_ms, inputs_ready, c);
        return c->error == 0 && inputs_ready(c);
}

SpiceInputsChannel *spice_client_inputs(struct spice_client *c)
{
        return c->inputs;
}

SpiceMainChannel *spice_client_main(struct spice_client *c)
{
        return c->main;
}

/* ---- clipboard ---- */

static gboolean clip_on_grab(SpiceMainChannel *main, guint selection, guint32 *types, guint ntypes, gpointer data)
{
        for (guint i = 0; i < ntypes; i++)
                if (types[i] == VD_AGENT_CLIPBOARD_UTF8_TEXT)
                        spice_main_channel_clipboard_selection_request(main, selection, types[i]);
        return TRUE;
}

static void clip_on_data(SpiceMainChannel *main, guint selection, guint type, const guchar *d, guint size,
                         gpointer data)
{
        struct spice_clip *clip = data;

        if (type != VD_AGENT_CLIPBOARD_UTF8_TEXT || selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD)
                return;
        g_byte_array_set_size(clip->got, 0);
        g_byte_array_append(clip->got, d, size);
        clip->got_done = true;
}

static gboolean clip_on_request(SpiceMainChannel *main, guint selection, guint type, gpointer data)
{
        struct spice_clip *clip = data;

        if (type != VD_AGENT_CLIPBOARD_UTF8_TEXT || !clip->offer)
                return FALSE;
        spice_main_channel_clipboard_selection_notify(main, selection, type, clip->offer, clip->offer_len);
        clip->requested = true;
        return TRUE;
}

void spice_clip_attach(struct spice_client *c, struct spice_clip *clip)
{
        *clip = (struct spice_clip){ .got = g_byte_array_new() };
        clip->ids[0] = g_signal_connect(c->main, "main-clipboard-selection-grab", G_CALLBACK(clip_on_grab), clip);
        clip->ids[1] = g_signal_connect(c->main, "main-clipboard-selection", G_CALLBACK(clip_on_data), clip);
        clip->ids[2] = g_signal_connect(c->main, "main-clipboard-selection-request", G_CALLBACK(clip_on_request), clip);
}

void spice_clip_offer(struct spice_client *c, struct spice_clip *clip, const void *text, size_t len)
{
        guint32 utf8 = VD_AGENT_CLIPBOARD_UTF8_TEXT;

        clip->offer = text;
        clip->offer_len = len;
        spice_main_channel_clipboard_selection_grab(c->main, VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD, &utf8, 1);
}

void spice_clip_detach(struct spice_client *c, struct spice_clip *clip)
{
        for (size_t i = 0; i < G_N_ELEMENTS(clip->ids); i++)
                g_signal_handler_disconnect(c->main, clip->ids[i]);
        g_byte_array_unref(clip->got);
        clip->got = NULL;
}

bool spice_clip_got(void *clip)
{
        return ((struct spice_clip *)clip)->got_done;
}

bool spice_clip_requested(void *clip)
{
        return ((struct spice_clip *)clip)->requested;
}

static SpiceCursorShape *cursor_shape(struct spice_client *c)
{
        SpiceCursorShape *shape = NULL;
        if (c->cursor)
                g_object_get(c->cursor, "cursor", &shape, NULL);
        return shape;
}

static bool has_cursor(void *data)
{
        SpiceCursorShape *shape = cursor_shape(data);
        if (shape)
                g_boxed_free(SPICE_TYPE_CURSOR_SHAPE, shape);
        return shape != NULL;
}

SpiceCursorShape *spice_client_wait_cursor(struct spice_client *c, unsigned timeout_ms)
{
        spice_client_run(timeout_ms, has_cursor, c);
        return cursor_shape(c);
}

const uint8_t *spice_client_audio(struct spice_client *c, size_t *len, unsigned *rate, unsigned *channels)
{
        *len = c->played->len;
        *rate = c->rate;
        *channels = c->nchannels;
        return c->played->len ? c->played->data : NULL;
}

uint64_t spice_client_bytes_read(struct spice_client *c)
{
        uint64_t total = 0;
        for (guint i = 0; i < c->channels->len; i++) {
                gulong n = 0;
                g_object_get(g_ptr_array_index(c->channels, i), "total-read-bytes", &n, NULL);
                total += n;
        }
        return total;
}

uint64_t spice_client_invalidates(struct spice_client *c)
{
        return c->invalidates;
}
