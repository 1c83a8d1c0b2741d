/* vdi-vm's remote display servers on their own main loop thread. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "protocols/display-server.h"
#include "remote.h"

/* How long a ticket call waits for the display thread. */
#define TICKET_TIMEOUT_US (5 * G_USEC_PER_SEC)

struct remote {
        GMainContext *ctx;
        GMainLoop *loop;
        GThread *thread;
        struct display_server *spice, *rdp;
};

static gpointer loop_thread(gpointer arg)
{
        struct remote *r = arg;

        g_main_context_push_thread_default(r->ctx);
        g_main_loop_run(r->loop);
        g_main_context_pop_thread_default(r->ctx);
        return NULL;
}

static int start_one(const struct display_server_ops *ops, const struct remote_options *o, uint16_t port,
                     struct display_source source, struct remote *r, struct display_server **out,
                     char **error)
{
        const struct display_server_config cfg = {
                .listen_address = o->listen,
                .tls_port = port,
                .cert_file = o->cert_file,
                .key_file = o->key_file,
                .ca_file = o->ca_file,
                .lossless = o->lossless,
                .client_event = o->client_event,
                .client_event_opaque = o->client_event_opaque,
        };

        if (!port)
                return 0;
        if (!o->cert_file || !o->key_file) {
                *error = g_strdup_printf("--%s-port needs --tls-cert and --tls-key (remote displays "
                                         "are served over TLS only)",
                                         ops->name);
                return -EINVAL;
        }
        return ops->start(&cfg, source, r->ctx, out, error);
}

int remote_start(const struct remote_options *o, struct display_source source, struct remote **out,
                 char **error)
{
        struct remote *r = calloc(1, sizeof(*r));
        GError *gerr = NULL;
        int ret;

        *error = NULL;
        if (!r)
                return -ENOMEM;
        /* GStreamer (video encoders of both protocols) loads its plugin
         * registry now, while the files of root's cache are readable: the
         * encoders are made later, after vdi-vm dropped its privileges. */
        if (!gst_init_check(NULL, NULL, &gerr)) {
                log_warning("gstreamer_unavailable", "error=\"%s\" effect=\"no video encodings\"",
                            gerr ? gerr->message : "unknown");
                g_clear_error(&gerr);
        }
        r->ctx = g_main_context_new();
        r->loop = g_main_loop_new(r->ctx, FALSE);
        ret = start_one(&spice_display_server_ops, o, o->spice_port, source, r, &r->spice, error);
        if (ret == 0)
                ret = start_one(&rdp_display_server_ops, o, o->rdp_port, source, r, &r->rdp, error);
        if (ret < 0)
                goto fail;
        r->thread = g_thread_try_new("display", loop_thread, r, &gerr);
        if (!r->thread) {
                *error = g_strdup_printf("cannot start the display thread: %s", gerr->message);
                g_clear_error(&gerr);
                ret = -EAGAIN;
                goto fail;
        }
        *out = r;
        return 0;
fail:
        remote_stop(r);
        return ret;
}

struct ticket_call {
        struct display_server *srv;
        const char *user, *password;
        unsigned expiry_s;
        GMutex lock;
        GCond cond;
        bool done, abandoned;
        int ret;
};

static void ticket_call_free(struct ticket_call *c)
{
        g_mutex_clear(&c->lock);
        g_cond_clear(&c->cond);
        free(c);
}

static gboolean ticket_on_loop(gpointer arg)
{
        struct ticket_call *c = arg;
        bool abandoned;

        g_mutex_lock(&c->lock);
        abandoned = c->abandoned;
        if (!abandoned)
                c->ret = c->srv->ops->set_ticket(c->srv, c->user, c->password, c->expiry_s);
        c->done = true;
        g_cond_signal(&c->cond);
        g_mutex_unlock(&c->lock);
        if (abandoned)
                ticket_call_free(c);
        return G_SOURCE_REMOVE;
}

int remote_set_ticket(struct remote *r, const char *protocol, const char *user, const char *password,
                      unsigned expiry_s, char *err, size_t n)
{
        struct display_server *srv = NULL;
        struct ticket_call *c;
        gint64 deadline = g_get_monotonic_time() + TICKET_TIMEOUT_US;
        int ret;

        if (r && strcmp(protocol, "spice") == 0)
                srv = r->spice;
        else if (r && strcmp(protocol, "rdp") == 0)
                srv = r->rdp;
        if (!srv) {
                snprintf(err, n, "this VM serves no %s display (start vdi-vm with --%s-port)", protocol,
                         protocol);
                return -ENOENT;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (struct ticket_call){ .srv = srv, .user = user, .password = password, .expiry_s = expiry_s };
        g_mutex_init(&c->lock);
        g_cond_init(&c->cond);
        g_main_context_invoke(r->ctx, ticket_on_loop, c);
        g_mutex_lock(&c->lock);
        while (!c->done)
                if (!g_cond_wait_until(&c->cond, &c->lock, deadline))
                        break;
        if (!c->done) {
                /* The loop thread is stuck: it frees the call if it ever
                 * gets to it, and then does not touch user or password. */
                c->abandoned = true;
                g_mutex_unlock(&c->lock);
                snprintf(err, n, "the display thread did not answer within %d s",
                         (int)(TICKET_TIMEOUT_US / G_USEC_PER_SEC));
                return -ETIMEDOUT;
        }
        ret = c->ret;
        g_mutex_unlock(&c->lock);
        ticket_call_free(c);
        if (ret < 0)
                snprintf(err, n, "%s ticket refused: %s", protocol,
                         ret == -EINVAL ? "empty or oversize user or password, or zero expiry"
                                        : strerror(-ret));
        return ret;
}

void remote_stop(struct remote *r)
{
        if (!r)
                return;
        if (r->thread) {
                g_main_loop_quit(r->loop);
                g_thread_join(r->thread);
        }
        /* Nobody iterates ctx any more: this thread may stop the servers. */
        if (r->spice)
                r->spice->ops->stop(r->spice);
        if (r->rdp)
                r->rdp->ops->stop(r->rdp);
        g_main_loop_unref(r->loop);
        g_main_context_unref(r->ctx);
        free(r);
}
