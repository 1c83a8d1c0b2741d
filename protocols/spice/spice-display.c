#include "config.h"

#include "protocols/spice/spice-display.h"

#include <errno.h>
#include <spice/protocol.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tls-policy.h"
#include "protocols/agent/clip.h"
#include "protocols/spice/agent.h"
#include "protocols/spice/audio.h"
#include "protocols/spice/core.h"
#include "protocols/spice/input.h"
#include "protocols/spice/fb.h"

/* Used when the config names no codecs: hardware-friendly H.264 first,
 * then VP8, then spice's own MJPEG which every client decodes. */
#define DEFAULT_VIDEO_CODECS "gstreamer:h264;gstreamer:vp8;spice:mjpeg"

#define MAX_EXPIRY_SECONDS (366u * 24 * 3600)

enum ticket_state {
        TICKET_NONE,  /* no valid ticket: every link is refused */
        TICKET_ARMED, /* set, not yet used */
        TICKET_GRACE, /* used by one session; its other channels may link */
};

enum {
        SIBLING_DISPLAY = 1u << 0,
        SIBLING_CURSOR = 1u << 1,
        SIBLING_INPUTS = 1u << 2,
        SIBLING_PLAYBACK = 1u << 3, /* only with a sound card */
        SIBLING_ALL = SIBLING_DISPLAY | SIBLING_CURSOR | SIBLING_INPUTS,
};

struct spice_display {
        struct display_server base; /* first */
        GMainContext *ctx;
        SpiceServer *server;
        SpiceCoreInterface *core;
        struct spice_fb *fb;
        struct spice_input *input;
        struct spice_agent *agent;
        struct spice_audio *audio;
        enum agent_clip_policy clip; /* the clipboard policy (vdi-vm --clipboard) */
        unsigned sibling_all; /* SIBLING_ALL, and playback with audio */

        enum ticket_state ticket;
        int session;       /* connection id that used the ticket */
        unsigned siblings; /* SIBLING_* linked in the grace period */
        GSource *expiry, *grace, *kick;
        uint64_t sessions, refused;
        /* The admitted client's connection id (any int) for client_event. */
        bool has_client;
        int client;
        void (*client_event)(void *opaque, const char *protocol, bool connected, const char *peer);
        void *client_event_opaque;
        char client_peer[NI_MAXHOST];
};

static struct spice_display *from_base(struct display_server *srv)
{
        return (struct spice_display *)srv;
}

static void source_drop(GSource **s)
{
        if (*s) {
                g_source_destroy(*s);
                g_source_unref(*s);
                *s = NULL;
        }
}

static GSource *timeout_on(GMainContext *ctx, guint ms, GSourceFunc fn, void *data)
{
        GSource *s = g_timeout_source_new(ms);
        g_source_set_callback(s, fn, data, NULL);
        g_source_attach(s, ctx);
        return s;
}

/* ---- tickets ---- */

/* Make every further link fail: spice refuses links while the password is
 * empty. */
static void ticket_clear(struct spice_display *d, const char *why)
{
        spice_server_set_ticket(d->server, NULL, 0, 0, 0);
        d->ticket = TICKET_NONE;
        d->siblings = 0;
        source_drop(&d->expiry);
        source_drop(&d->grace);
        log_info("spice_ticket_cleared", "reason=%s", why);
}

static gboolean on_expiry(gpointer data)
{
        struct spice_display *d = data;

        g_source_unref(d->expiry);
        d->expiry = NULL;
        /* A session inside its grace period keeps the ticket until its
         * channels are linked; the grace timer bounds that. */
        if (d->ticket == TICKET_ARMED)
                ticket_clear(d, "expired");
        return G_SOURCE_REMOVE;
}

static gboolean on_grace(gpointer data)
{
        struct spice_display *d = data;

        g_source_unref(d->grace);
        d->grace = NULL;
        ticket_clear(d, "grace-over");
        return G_SOURCE_REMOVE;
}

static gboolean on_kick(gpointer data)
{
        struct spice_display *d = data;

        g_source_unref(d->kick);
        d->kick = NULL;
        /* Not from inside spice's own link handling: from an idle. */
        spice_server_set_ticket(d->server, NULL, 0, 0, 1);
        return G_SOURCE_REMOVE;
}

/* The connected session goes (spice's disconnect_if_connected, which the
 * empty ticket also leaves unusable); a later client needs a new ticket. */
unsigned spice_display_disconnect(struct display_server *srv)
{
        struct spice_display *d = from_base(srv);
        unsigned had = d->has_client ? 1 : 0;

        ticket_clear(d, "disconnect");
        spice_server_set_ticket(d->server, NULL, 0, 0, 1);
        log_info("spice_disconnect", "sessions=%u", had);
        return had;
}

int spice_display_set_ticket(struct display_server *srv, const char *user, const char *password,
                             unsigned expiry_seconds)
{
        struct spice_display *d = from_base(srv);
        size_t len = password ? strlen(password) : 0;

        if (len == 0 || len > SPICE_MAX_PASSWORD_LENGTH || expiry_seconds == 0 ||
            expiry_seconds > MAX_EXPIRY_SECONDS)
                return -EINVAL;
        /* spice's own expiry has one-second granularity; our timer clears
         * the ticket on time. Never disconnect a running session here: a
         * new client presenting the new ticket replaces it anyway. */
        if (spice_server_set_ticket(d->server, password, (int)expiry_seconds, 0, 0) != 0)
                return -EINVAL;
        source_drop(&d->expiry);
        source_drop(&d->grace);
        d->ticket = TICKET_ARMED;
        d->siblings = 0;
        d->expiry = timeout_on(d->ctx, expiry_seconds * 1000u, on_expiry, d);
        log_info("spice_ticket_set", "expiry_s=%u", expiry_seconds);
        return 0;
}

/* ---- channel events ---- */

static const char *channel_name(int type)
{
        switch (type) {
        case SPICE_CHANNEL_MAIN: return "main";
        case SPICE_CHANNEL_DISPLAY: return "display";
        case SPICE_CHANNEL_INPUTS: return "inputs";
        case SPICE_CHANNEL_CURSOR: return "cursor";
        case SPICE_CHANNEL_PLAYBACK: return "playback";
        case SPICE_CHANNEL_RECORD: return "record";
        case 0: return "none";
        default: return "other";
        }
}

static const char *event_name(int event)
{
        switch (event) {
        case SPICE_CHANNEL_EVENT_CONNECTED: return "spice_connected";
        case SPICE_CHANNEL_EVENT_INITIALIZED: return "spice_channel_linked";
        case SPICE_CHANNEL_EVENT_DISCONNECTED: return "spice_disconnected";
        default: return "spice_channel_event";
        }
}

static void peer_text(SpiceChannelEventInfo *info, char *buf, size_t size)
{
        char host[NI_MAXHOST], serv[NI_MAXSERV];

        g_strlcpy(buf, "unknown", size);
        if (!(info->flags & SPICE_CHANNEL_EVENT_FLAG_ADDR_EXT) || info->plen_ext == 0)
                return;
        if (getnameinfo((struct sockaddr *)&info->paddr_ext, info->plen_ext, host, sizeof(host),
                        serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
                g_snprintf(buf, size, "%s:%s", host, serv);
}

/* The admitted session changed: peer is the new one's address, NULL when
 * none is left. Connection ids are random ints, negative ones included. */
static void client_changed(struct spice_display *d, int connection, const char *peer)
{
        if (d->has_client && d->fb) {
                struct spice_fb_stats q;
                spice_fb_get_stats(d->fb, &q);
                log_info("spice_client_stats", "ticks=%llu drawables=%llu bytes=%llu coalesced=%llu surfaces=%llu",
                         (unsigned long long)q.ticks, (unsigned long long)q.drawables,
                         (unsigned long long)q.bytes, (unsigned long long)q.coalesced,
                         (unsigned long long)q.surfaces);
        }
        if (d->has_client && d->client_event)
                d->client_event(d->client_event_opaque, "spice", false, d->client_peer);
        d->has_client = peer != NULL;
        d->client = connection;
        if (peer) {
                g_strlcpy(d->client_peer, peer, sizeof(d->client_peer));
                if (d->client_event)
                        d->client_event(d->client_event_opaque, "spice", true, d->client_peer);
        }
}

static void on_linked(struct spice_display *d, SpiceChannelEventInfo *info, const char *peer)
{
        if (info->type == SPICE_CHANNEL_MAIN) {
                if (d->ticket == TICKET_ARMED) {
                        client_changed(d, info->connection_id, peer);
                        d->ticket = TICKET_GRACE;
                        d->session = info->connection_id;
                        d->siblings = 0;
                        d->sessions++;
                        source_drop(&d->grace);
                        d->grace = timeout_on(d->ctx, SPICE_TICKET_GRACE_MS, on_grace, d);
                        log_info("spice_ticket_used", "connection=%d", info->connection_id);
                } else {
                        /* A main link passed the ticket check, but the ticket
                         * is no longer unused: a second session with it, in the
                         * first one's grace period. spice has already dropped
                         * the first session for it (one client at a time, and
                         * its disconnect may have cleared the ticket just
                         * before this event); drop this one too. */
                        d->refused++;
                        log_warning("spice_ticket_reused", "connection=%d first=%d",
                                    info->connection_id, d->session);
                        if (d->ticket != TICKET_NONE)
                                ticket_clear(d, "reused");
                        if (!d->kick) {
                                d->kick = g_idle_source_new();
                                g_source_set_callback(d->kick, on_kick, d, NULL);
                                g_source_attach(d->kick, d->ctx);
                        }
                }
                return;
        }
        if (d->ticket != TICKET_GRACE || info->connection_id != d->session)
                return;
        switch (info->type) {
        case SPICE_CHANNEL_DISPLAY: d->siblings |= SIBLING_DISPLAY; break;
        case SPICE_CHANNEL_CURSOR: d->siblings |= SIBLING_CURSOR; break;
        case SPICE_CHANNEL_INPUTS: d->siblings |= SIBLING_INPUTS; break;
        case SPICE_CHANNEL_PLAYBACK: d->siblings |= SIBLING_PLAYBACK; break;
        }
        /* A client without audio leaves the ticket to the grace timer. */
        if ((d->siblings & d->sibling_all) == d->sibling_all)
                ticket_clear(d, "used");
}

static void on_channel_event(int event, SpiceChannelEventInfo *info, void *opaque)
{
        struct spice_display *d = opaque;
        char peer[NI_MAXHOST + NI_MAXSERV + 2];

        peer_text(info, peer, sizeof(peer));
        log_info(event_name(event), "channel=%s id=%d connection=%d tls=%s peer=%s",
                 channel_name(info->type), info->id, info->connection_id,
                 (info->flags & SPICE_CHANNEL_EVENT_FLAG_TLS) ? "yes" : "no", peer);

        if (event == SPICE_CHANNEL_EVENT_INITIALIZED) {
                char addr[NI_MAXHOST];
                /* The address without the port, like RDP's. */
                g_strlcpy(addr, peer, sizeof(addr));
                char *colon = strrchr(addr, ':');
                if (colon && strcmp(addr, "unknown") != 0)
                        *colon = 0;
                on_linked(d, info, addr);
        } else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED && info->type == SPICE_CHANNEL_MAIN) {
                if (d->ticket == TICKET_GRACE && info->connection_id == d->session)
                        ticket_clear(d, "session-ended");
                if (d->has_client && info->connection_id == d->client)
                        client_changed(d, 0, NULL);
        }
}

/* ---- start / stop ---- */

static int check_file(const char *key, const char *path, char **error)
{
        if (!path || !*path) {
                *error = g_strdup_printf("spice: %s is required with a TLS port (give the PEM file)",
                                         key);
                return -EINVAL;
        }
        if (access(path, R_OK) != 0) {
                int e = errno;
                *error = g_strdup_printf("spice: %s \"%s\": %s (check the path and permissions)",
                                         key, path, g_strerror(e));
                return -e;
        }
        return 0;
}

int spice_display_start(const struct display_server_config *cfg, struct display_source source,
                        GMainContext *ctx, struct display_server **out, char **error)
{
        struct spice_display *d;
        const char *addr = cfg->listen_address ? cfg->listen_address : "127.0.0.1";
        const char *codecs = cfg->video_codecs ? cfg->video_codecs : DEFAULT_VIDEO_CODECS;
        bool streaming = !cfg->lossless && *codecs;
        enum agent_clip_policy clip;
        int r;

        if (cfg->tls_port == 0 && cfg->plain_port == 0) {
                *error = g_strdup("spice: no listener (set a TLS port)");
                return -EINVAL;
        }
        if (agent_clip_policy_parse(cfg->clipboard ? cfg->clipboard : "both", &clip) < 0) {
                *error = g_strdup_printf("spice: clipboard \"%s\" is not one of both, guest-to-client, "
                                         "client-to-guest, none", cfg->clipboard);
                return -EINVAL;
        }
        if (cfg->tls_port != 0 && ((r = check_file("certificate", cfg->cert_file, error)) < 0 ||
                                   (r = check_file("private key", cfg->key_file, error)) < 0 ||
                                   (r = check_file("CA file", cfg->ca_file, error)) < 0))
                return r;

        d = g_new0(struct spice_display, 1);
        d->base.ops = &spice_display_server_ops;
        d->client_event = cfg->client_event;
        d->client_event_opaque = cfg->client_event_opaque;
        d->sibling_all = SIBLING_ALL | (source.ops->audio_read ? SIBLING_PLAYBACK : 0);
        d->ctx = g_main_context_ref(ctx);
        d->core = spice_core_new(ctx, on_channel_event, d);
        if (!d->core) {
                *error = g_strdup("spice: a SPICE server already runs in this process (one per VM process)");
                r = -EBUSY;
                goto fail;
        }
        d->server = spice_server_new();
        if (!d->server) {
                *error = g_strdup("spice: cannot create the server");
                r = -ENOMEM;
                goto fail;
        }
        spice_server_set_addr(d->server, addr, 0);
        if (cfg->plain_port)
                spice_server_set_port(d->server, cfg->plain_port);
        if (cfg->tls_port) {
                if (spice_server_set_tls(d->server, cfg->tls_port, cfg->ca_file, cfg->cert_file,
                                         cfg->key_file, NULL, NULL,
                                         /* Mozilla "intermediate" (lib/tls-policy.h) */
                                         TLS_POLICY_OPENSSL_CIPHERS) != 0) {
                        *error = g_strdup_printf("spice: cannot use TLS port %u", cfg->tls_port);
                        r = -EINVAL;
                        goto fail;
                }
                /* NULL = the default for every channel: TLS only. */
                spice_server_set_channel_security(d->server, NULL, SPICE_CHANNEL_SECURITY_SSL);
        }
        /* No ticket yet: every link is refused until set_ticket. */
        spice_server_set_ticket(d->server, NULL, 0, 0, 0);
        /* Pointer events go to our tablet, never to a guest agent. */
        spice_server_set_agent_mouse(d->server, 0);
        /* spice-server filters the agent's clipboard messages both ways or
         * not at all: "none" is its filter; one way is the agent device's
         * (protocols/spice/agent.c). */
        spice_server_set_agent_copypaste(d->server, clip != AGENT_CLIP_NONE);
        d->clip = clip;
        if (clip != AGENT_CLIP_BOTH)
                log_info("spice_clipboard", "policy=%s", agent_clip_policy_name(clip));
        spice_server_set_agent_file_xfer(d->server, 0);
        spice_server_set_image_compression(d->server, SPICE_IMAGE_COMPRESSION_AUTO_GLZ);
        spice_server_set_jpeg_compression(d->server, cfg->lossless ? SPICE_WAN_COMPRESSION_NEVER
                                                                   : SPICE_WAN_COMPRESSION_AUTO);
        spice_server_set_zlib_glz_compression(d->server, SPICE_WAN_COMPRESSION_AUTO);
        /* Opus where the client has it, raw PCM for bit-exact tests. */
        spice_server_set_playback_compression(d->server, !cfg->lossless);
        if (streaming) {
                spice_server_set_streaming_video(d->server, SPICE_STREAM_VIDEO_FILTER);
                if (spice_server_set_video_codecs(d->server, codecs) != 0) {
                        *error = g_strdup_printf("spice: video codecs \"%s\": none usable "
                                                 "(use e.g. \"%s\", or \"\" for no streaming)",
                                                 codecs, DEFAULT_VIDEO_CODECS);
                        r = -EINVAL;
                        goto fail;
                }
        } else {
                spice_server_set_streaming_video(d->server, SPICE_STREAM_VIDEO_OFF);
        }
        spice_server_set_name(d->server, "vdi");

        if (spice_server_init(d->server, d->core) != 0) {
                *error = g_strdup_printf("spice: cannot listen on %s port %u%s%.0u (in use, or a "
                                         "bad address or certificate?)",
                                         addr, cfg->tls_port ? cfg->tls_port : cfg->plain_port,
                                         cfg->tls_port && cfg->plain_port ? " and " : "",
                                         cfg->tls_port && cfg->plain_port ? cfg->plain_port : 0u);
                r = -EADDRINUSE;
                goto fail;
        }
        d->input = spice_input_new(d->server, source, &r);
        if (!d->input) {
                *error = g_strdup("spice: cannot add the keyboard and tablet");
                goto fail;
        }
        d->fb = spice_fb_new(d->server, source, ctx, cfg->fps, &r);
        if (!d->fb) {
                *error = g_strdup("spice: cannot add the display");
                goto fail;
        }
        if (source.ops->audio_read && !(d->audio = spice_audio_new(d->server, source, ctx, &r))) {
                *error = g_strdup("spice: cannot add the playback channel");
                goto fail;
        }
        spice_server_vm_start(d->server);
        log_info("spice_started", "address=%s tls_port=%u plain_port=%u streaming=%s fps=%u", addr,
                 cfg->tls_port, cfg->plain_port, streaming ? codecs : "off",
                 cfg->fps ? cfg->fps : 30);
        *out = &d->base;
        return 0;

fail:
        spice_display_stop(&d->base);
        return r;
}

void spice_display_stop(struct display_server *srv)
{
        struct spice_display *d;

        if (!srv)
                return;
        d = from_base(srv);
        source_drop(&d->expiry);
        source_drop(&d->grace);
        source_drop(&d->kick);
        if (d->has_client)
                client_changed(d, 0, NULL);
        spice_agent_free(d->agent);
        spice_fb_stop(d->fb);
        spice_audio_free(d->audio);
        if (d->server) {
                spice_server_vm_stop(d->server);
                spice_server_destroy(d->server);
        }
        spice_fb_free(d->fb);
        spice_input_free(d->input);
        spice_core_free(d->core);
        g_main_context_unref(d->ctx);
        g_free(d);
}

int spice_display_agent_attach(struct display_server *srv, const struct spice_agent_port *port,
                               void *opaque)
{
        struct spice_display *d = from_base(srv);
        int r = 0;

        if (d->agent)
                return -EBUSY;
        d->agent = spice_agent_new(d->server, port, opaque, d->clip, &r);
        if (!d->agent)
                return r;
        log_info("spice_agent_attached", NULL);
        return 0;
}

void spice_display_agent_wakeup(struct display_server *srv)
{
        struct spice_display *d = from_base(srv);
        if (d->agent)
                spice_agent_wakeup(d->agent);
}

void spice_display_agent_detach(struct display_server *srv)
{
        struct spice_display *d = from_base(srv);
        if (d->agent) {
                spice_agent_free(d->agent);
                d->agent = NULL;
                log_info("spice_agent_detached", NULL);
        }
}

void spice_display_get_stats(struct display_server *srv, struct spice_display_stats *out)
{
        struct spice_display *d = from_base(srv);
        struct spice_fb_stats q = { 0 };

        if (d->fb)
                spice_fb_get_stats(d->fb, &q);
        *out = (struct spice_display_stats){
                .ticks = q.ticks,
                .drawables = q.drawables,
                .bytes = q.bytes,
                .coalesced = q.coalesced,
                .surfaces = q.surfaces,
                .sessions = d->sessions,
                .refused = d->refused,
        };
}

const struct display_server_ops spice_display_server_ops = {
        .name = "spice",
        .start = spice_display_start,
        .set_ticket = spice_display_set_ticket,
        .disconnect = spice_display_disconnect,
        .stop = spice_display_stop,
};
