/* The web display server behind the generic display-server table
 * (protocols/display-server.h), so vdi-vm picks it like SPICE and RDP.
 * "lossless" (pixel-exact tests) means PNG tiles for every browser; the
 * video_codecs string, when not empty, names the GStreamer H.264 element. */
#include "config.h"

#include <errno.h>

#include "internal.h"

static int wds_start(const struct display_server_config *dc, struct display_source source,
                     GMainContext *ctx, struct display_server **out, char **error)
{
        struct web_server_config cfg = {
                .bind_address = dc->listen_address,
                .port = dc->tls_port,
                .cert_file = dc->cert_file,
                .key_file = dc->key_file,
                .origin = dc->web_origin,
                .fps = dc->fps,
                .force_tiles = dc->lossless || (dc->video_codecs && !*dc->video_codecs),
                .h264_encoder = dc->video_codecs && *dc->video_codecs ? dc->video_codecs : NULL,
                .client_event = dc->client_event,
                .client_event_opaque = dc->client_event_opaque,
        };
        struct web_server *s;
        int r;

        *error = NULL;
        if (dc->plain_port || !dc->tls_port) {
                *error = g_strdup("web: set tls_port (the web display is served over TLS only; "
                                  "plain_port is not supported)");
                return -EINVAL;
        }
        r = web_server_start(&cfg, source, ctx, &s, error);
        if (r == 0) {
                s->base.ops = &web_display_server_ops;
                *out = &s->base;
        }
        return r;
}

static int wds_set_ticket(struct display_server *ds, const char *user, const char *password,
                          unsigned expiry_seconds)
{
        return web_server_set_ticket((struct web_server *)ds, user, password, expiry_seconds);
}

static unsigned wds_disconnect(struct display_server *ds)
{
        return web_server_disconnect((struct web_server *)ds);
}

static void wds_stop(struct display_server *ds)
{
        web_server_stop((struct web_server *)ds);
}

const struct display_server_ops web_display_server_ops = {
        .name = "web",
        .start = wds_start,
        .set_ticket = wds_set_ticket,
        .disconnect = wds_disconnect,
        .stop = wds_stop,
};
