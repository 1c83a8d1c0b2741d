#include "config.h"

#include "protocols/spice/audio.h"

#include <errno.h>
#include <string.h>

#define POLL_MS 10
#define READ_MAX 19200 /* 100 ms of 48 kHz stereo: more than a poll's worth */

struct spice_audio {
        SpicePlaybackInstance play;
        struct display_source src;
        GSource *timer;
        bool started;
        uint32_t rate;
        uint32_t *frame;        /* spice's buffer being filled, or NULL */
        uint32_t nframes, filled;
        uint8_t buf[READ_MAX];
};

static const SpicePlaybackInterface playback_sif = {
        .base = {
                .type = SPICE_INTERFACE_PLAYBACK,
                .description = "playback",
                .major_version = SPICE_INTERFACE_PLAYBACK_MAJOR,
                .minor_version = SPICE_INTERFACE_PLAYBACK_MINOR,
        },
};

/* Hand back the buffer being filled, the rest silence: every buffer from
 * get_buffer must go back through put_samples, or spice keeps their
 * container alive for good. */
static void flush_frame(struct spice_audio *a)
{
        if (!a->frame)
                return;
        memset(a->frame + a->filled, 0, (a->nframes - a->filled) * sizeof(*a->frame));
        spice_server_playback_put_samples(&a->play, a->frame);
        a->frame = NULL;
}

static void restart(struct spice_audio *a, uint32_t rate)
{
        flush_frame(a);
        if (a->started)
                spice_server_playback_stop(&a->play);
        spice_server_set_playback_rate(&a->play, rate);
        spice_server_playback_start(&a->play);
        a->started = true;
        a->rate = rate;
}

/* One stereo frame (left in the low half, as spice's S16 buffers). */
static void put_frame(struct spice_audio *a, uint32_t frame)
{
        if (!a->frame) {
                spice_server_playback_get_buffer(&a->play, &a->frame, &a->nframes);
                a->filled = 0;
                if (!a->frame || !a->nframes) { /* no client: dropped */
                        a->frame = NULL;
                        return;
                }
        }
        a->frame[a->filled++] = frame;
        if (a->filled == a->nframes) {
                spice_server_playback_put_samples(&a->play, a->frame);
                a->frame = NULL;
        }
}

static gboolean on_poll(gpointer data)
{
        struct spice_audio *a = data;
        struct display_audio_format fmt = { 0 };
        size_t n = a->src.ops->audio_read(a->src.opaque, &fmt, a->buf, sizeof(a->buf));
        size_t step = fmt.channels == 1 ? 2 : 4;

        if (n == 0 || (fmt.channels != 1 && fmt.channels != 2) || fmt.rate == 0)
                return G_SOURCE_CONTINUE;
        if (!a->started || fmt.rate != a->rate)
                restart(a, fmt.rate);
        for (size_t i = 0; i + step <= n; i += step) {
                uint32_t left = (uint32_t)a->buf[i] | (uint32_t)a->buf[i + 1] << 8;
                uint32_t right = step == 4 ? ((uint32_t)a->buf[i + 2] | (uint32_t)a->buf[i + 3] << 8) : left;
                put_frame(a, left | right << 16);
        }
        return G_SOURCE_CONTINUE;
}

struct spice_audio *spice_audio_new(SpiceServer *server, struct display_source source, GMainContext *ctx,
                                    int *err)
{
        struct spice_audio *a = g_new0(struct spice_audio, 1);

        a->src = source;
        a->play.base.sif = &playback_sif.base;
        if (spice_server_add_interface(server, &a->play.base) != 0) {
                g_free(a);
                *err = -EINVAL;
                return NULL;
        }
        a->timer = g_timeout_source_new(POLL_MS);
        g_source_set_callback(a->timer, on_poll, a, NULL);
        g_source_attach(a->timer, ctx);
        return a;
}

void spice_audio_free(struct spice_audio *a)
{
        if (!a)
                return;
        g_source_destroy(a->timer);
        g_source_unref(a->timer);
        flush_frame(a);
        if (a->started)
                spice_server_playback_stop(&a->play);
        /* spice_server_destroy does not free the channel: detach it first. */
        spice_server_remove_interface(&a->play.base);
        g_free(a);
}
