/* The RDP server behind the generic display-server table
 * (protocols/display-server.h), so vdi-vm can pick it like SPICE.
 * The ticket's user is the NLA user name (the broker writes the same name
 * into the .rdp file's "username"). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "protocols/display-server.h"
#include "rdp-server.h"

struct rdp_display_server {
        struct display_server base;
        struct rdp_server *srv;
};

static int rds_start(const struct display_server_config *dc, struct display_source source,
                     GMainContext *ctx, struct display_server **out, char **error)
{
        struct rdp_server_config cfg = {
                .bind_address = dc->listen_address,
                .port = dc->tls_port,
                .cert_file = dc->cert_file,
                .key_file = dc->key_file,
                .fps = dc->fps,
                /* lossless, or "" (no video codecs): planar only. */
                .disable_h264 = dc->lossless || (dc->video_codecs && !*dc->video_codecs),
                .h264_encoder = dc->video_codecs && *dc->video_codecs ? dc->video_codecs : NULL,
                .client_event = dc->client_event,
                .client_event_opaque = dc->client_event_opaque,
        };
        struct rdp_display_server *s;
        int r;

        *error = NULL;
        if (agent_clip_policy_parse(dc->clipboard ? dc->clipboard : "both", &cfg.clipboard) < 0) {
                *error = g_strdup_printf("rdp: clipboard \"%s\" is not one of both, guest-to-client, "
                                         "client-to-guest, none", dc->clipboard);
                return -EINVAL;
        }
        if (dc->plain_port || !dc->tls_port) {
                *error = g_strdup("rdp: set tls_port (RDP is served over TLS only; "
                                  "plain_port is not supported)");
                return -EINVAL;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = rdp_server_start(&cfg, source, ctx, &s->srv, error);
        if (r < 0) {
                free(s);
                return r;
        }
        s->base.ops = &rdp_display_server_ops;
        *out = &s->base;
        return 0;
}

static int rds_set_ticket(struct display_server *ds, const char *user, const char *password,
                          unsigned expiry_seconds)
{
        struct rdp_display_server *s = (struct rdp_display_server *)ds;
        return rdp_server_set_ticket(s->srv, user, password, expiry_seconds);
}

static unsigned rds_disconnect(struct display_server *ds)
{
        return rdp_server_disconnect(((struct rdp_display_server *)ds)->srv);
}

static void rds_stop(struct display_server *ds)
{
        struct rdp_display_server *s = (struct rdp_display_server *)ds;
        if (!s)
                return;
        rdp_server_stop(s->srv);
        free(s);
}

static struct rdp_server *rds(struct display_server *ds)
{
        return ((struct rdp_display_server *)ds)->srv;
}

int rdp_display_agent_attach(struct display_server *ds, const struct rdp_agent_port *port, void *opaque)
{
        return rdp_server_agent_attach(rds(ds), port, opaque);
}

void rdp_display_agent_pump(struct display_server *ds)
{
        rdp_server_agent_pump(rds(ds));
}

void rdp_display_agent_detach(struct display_server *ds)
{
        rdp_server_agent_detach(rds(ds));
}

const struct display_server_ops rdp_display_server_ops = {
        .name = "rdp",
        .start = rds_start,
        .set_ticket = rds_set_ticket,
        .disconnect = rds_disconnect,
        .stop = rds_stop,
};
