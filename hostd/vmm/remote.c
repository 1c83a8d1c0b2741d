/* vdi-vm's remote display servers on their own main loop thread. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "jail.h"
#include "protocols/damage.h"
#include "protocols/display-server.h"
#include "protocols/spice/agent.h"
#include "protocols/rdp/rdp-server.h"
#include "protocols/spice/spice-display.h"
#include "remote.h"

/* How long a ticket call waits for the display thread. */
#define TICKET_TIMEOUT_US (5 * G_USEC_PER_SEC)

/* Damage kept for one server between its polls (more is merged). */
#define VIEW_RECTS 64

/* The VM's damage is read-once (collect_damage returns what changed since
 * the previous call): each server gets a view of the source that sees
 * every change, whichever server polled the VM. */
struct view {
        struct remote *r;
        struct display_rect rects[VIEW_RECTS];
        size_t n;
};

struct remote {
        GMainContext *ctx;
        GMainLoop *loop;
        GThread *thread;
        struct display_server *spice, *rdp, *web;
        struct display_source source;
        GMutex damage_lock;
        struct view views[3]; /* spice, rdp, web */
        /* Clients connected to either server. Without one the dirty log is
         * not read at all: an idle desktop costs no KVM_GET_DIRTY_LOG, and
         * what changed meanwhile stays in KVM's bitmap for the next read
         * (a new client gets a full frame anyway). */
        gint clients;
        /* The guest agent's port (display thread only) and which server
         * serves it now; agent_queued: a catch-up call is on its way. */
        struct remote_agent agent;
        bool has_agent;
        struct display_server *agent_owner;
        gint agent_queued;
        void (*client_event)(void *opaque, const char *protocol, bool connected, const char *peer);
        void *client_event_opaque;
};

static void on_client_event(void *opaque, const char *protocol, bool connected, const char *peer)
{
        struct remote *r = opaque;

        if (connected)
                g_atomic_int_inc(&r->clients);
        else
                g_atomic_int_dec_and_test(&r->clients);
        if (strcmp(protocol, "rdp") == 0)
                remote_agent_changed(r); /* an RDP owner pumps for its new client */
        if (r->client_event)
                r->client_event(r->client_event_opaque, protocol, connected, peer);
}

static void view_add(struct view *v, const struct display_rect *rects, size_t n)
{
        damage_add(v->rects, &v->n, VIEW_RECTS, rects, n);
}

static int view_get_surface(void *opaque, struct display_surface *out)
{
        struct view *v = opaque;
        return v->r->source.ops->get_surface(v->r->source.opaque, out);
}

static int view_collect_damage(void *opaque, struct display_rect *rects, size_t max)
{
        struct view *v = opaque;
        struct remote *r = v->r;
        struct display_rect fresh[VIEW_RECTS];
        int n;

        if (max == 0)
                return -EINVAL;
        if (g_atomic_int_get(&r->clients) <= 0)
                return 0;
        g_mutex_lock(&r->damage_lock);
        n = r->source.ops->collect_damage(r->source.opaque, fresh, G_N_ELEMENTS(fresh));
        if (n > 0)
                for (size_t i = 0; i < G_N_ELEMENTS(r->views); i++)
                        view_add(&r->views[i], fresh, (size_t)n);
        if (n >= 0) {
                if (v->n > max) {
                        for (size_t k = max; k < v->n; k++)
                                damage_union(&v->rects[max - 1], &v->rects[k]);
                        v->n = max;
                }
                memcpy(rects, v->rects, v->n * sizeof(*rects));
                n = (int)v->n;
                v->n = 0;
        }
        g_mutex_unlock(&r->damage_lock);
        return n;
}

static void view_input_key(void *opaque, uint16_t code, bool pressed)
{
        struct view *v = opaque;
        v->r->source.ops->input_key(v->r->source.opaque, code, pressed);
}

static void view_input_pointer(void *opaque, uint32_t x, uint32_t y, uint32_t buttons)
{
        struct view *v = opaque;
        v->r->source.ops->input_pointer(v->r->source.opaque, x, y, buttons);
}

static void view_input_wheel(void *opaque, int32_t delta)
{
        struct view *v = opaque;
        v->r->source.ops->input_wheel(v->r->source.opaque, delta);
}

static int view_request_layout(void *opaque, const struct display_head *heads, unsigned n)
{
        struct view *v = opaque;
        char why[160];

        if (!heads && n == 0)
                return display_follows_layout(&v->r->source) ? 0 : -ENOTSUP;
        return display_request_layout(&v->r->source, heads, n, why, sizeof(why));
}

static int view_get_cursor(void *opaque, struct display_cursor *out)
{
        struct view *v = opaque;
        const struct display_source *s = &v->r->source;
        return s->ops->get_cursor ? s->ops->get_cursor(s->opaque, out) : -ENODEV;
}

/* The VM's sound is read-once too; one server (SPICE) carries it. */
static size_t view_audio_read(void *opaque, struct display_audio_format *fmt, uint8_t *buf, size_t max)
{
        struct view *v = opaque;
        const struct display_source *s = &v->r->source;
        return s->ops->audio_read(s->opaque, fmt, buf, max);
}

#define VIEW_OPS_COMMON                                \
        .get_surface = view_get_surface,               \
        .collect_damage = view_collect_damage,         \
        .input_key = view_input_key,                   \
        .input_pointer = view_input_pointer,           \
        .input_wheel = view_input_wheel,               \
        .request_layout = view_request_layout,         \
        .get_cursor = view_get_cursor

static const struct display_source_ops view_ops = { VIEW_OPS_COMMON };
static const struct display_source_ops view_ops_audio = { VIEW_OPS_COMMON, .audio_read = view_audio_read };

static gpointer loop_thread(gpointer arg)
{
        struct remote *r = arg;

        /* Before the servers start: the threads their libraries start
         * (spice-server's worker, FreeRDP's peers, GStreamer's encoders)
         * inherit the filter; none runs unconfined. */
        jail_thread(JAIL_DISPLAY);
        g_main_context_push_thread_default(r->ctx);
        g_main_loop_run(r->loop);
        g_main_context_pop_thread_default(r->ctx);
        return NULL;
}

static int start_one(const struct display_server_ops *ops, const struct remote_options *o, uint16_t port,
                     struct view *v, struct remote *r, struct display_server **out, char **error)
{
        bool audio = v == &r->views[0] && r->source.ops->audio_read;
        struct display_source source = { audio ? &view_ops_audio : &view_ops, v };
        const struct display_server_config cfg = {
                .listen_address = o->listen,
                .tls_port = port,
                .cert_file = o->cert_file,
                .key_file = o->key_file,
                .ca_file = o->ca_file,
                .web_origin = o->web_origin,
                .lossless = o->lossless,
                .clipboard = o->clipboard,
                .client_event = on_client_event,
                .client_event_opaque = r,
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

/* Run fn(r, data) on the display thread and wait for it: spice-server
 * ties its channels to the thread that made them, so the servers are
 * started and stopped where they run, and tickets are set there too.
 * timeout_us 0 waits for good; otherwise -ETIMEDOUT once it passed, and
 * the call is abandoned: the thread frees it if it ever gets to it, and
 * then does not run fn (data may be gone by then). */
struct loop_call {
        struct remote *r;
        int (*fn)(struct remote *r, void *data);
        void *data;
        int ret;
        bool done, abandoned;
        GMutex lock;
        GCond cond;
};

static void loop_call_free(struct loop_call *c)
{
        g_mutex_clear(&c->lock);
        g_cond_clear(&c->cond);
        free(c);
}

static gboolean loop_call_run(gpointer arg)
{
        struct loop_call *c = arg;
        bool abandoned;

        g_mutex_lock(&c->lock);
        abandoned = c->abandoned;
        if (!abandoned)
                c->ret = c->fn(c->r, c->data);
        c->done = true;
        g_cond_signal(&c->cond);
        g_mutex_unlock(&c->lock);
        if (abandoned)
                loop_call_free(c);
        return G_SOURCE_REMOVE;
}

static int on_loop(struct remote *r, int (*fn)(struct remote *r, void *data), void *data, gint64 timeout_us)
{
        struct loop_call *c = calloc(1, sizeof(*c));
        gint64 deadline = g_get_monotonic_time() + timeout_us;
        int ret;

        if (!c)
                return -ENOMEM;
        *c = (struct loop_call){ .r = r, .fn = fn, .data = data };
        g_mutex_init(&c->lock);
        g_cond_init(&c->cond);
        g_main_context_invoke(r->ctx, loop_call_run, c);
        g_mutex_lock(&c->lock);
        while (!c->done) {
                if (!timeout_us)
                        g_cond_wait(&c->cond, &c->lock);
                else if (!g_cond_wait_until(&c->cond, &c->lock, deadline))
                        break;
        }
        if (!c->done) {
                c->abandoned = true;
                g_mutex_unlock(&c->lock);
                return -ETIMEDOUT;
        }
        ret = c->ret;
        g_mutex_unlock(&c->lock);
        loop_call_free(c);
        return ret;
}

struct start_args {
        const struct remote_options *o;
        char **error;
};

static int start_servers(struct remote *r, void *data)
{
        struct start_args *a = data;
        int ret = start_one(&spice_display_server_ops, a->o, a->o->spice_port, &r->views[0], r, &r->spice,
                            a->error);

        if (ret == 0)
                ret = start_one(&rdp_display_server_ops, a->o, a->o->rdp_port, &r->views[1], r, &r->rdp,
                                a->error);
        if (ret == 0)
                ret = start_one(&web_display_server_ops, a->o, a->o->web_port, &r->views[2], r, &r->web,
                                a->error);
        return ret;
}

static int agent_sync(struct remote *r, void *data);

static int stop_servers(struct remote *r, void *data)
{
        (void)data;
        r->has_agent = false;
        agent_sync(r, NULL);
        if (r->spice)
                r->spice->ops->stop(r->spice);
        if (r->rdp)
                r->rdp->ops->stop(r->rdp);
        if (r->web)
                r->web->ops->stop(r->web);
        r->spice = r->rdp = r->web = NULL;
        return 0;
}

int remote_start(const struct remote_options *o, struct display_source source, struct remote **out,
                 char **error)
{
        struct start_args args = { o, error };
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
        r->source = source;
        r->client_event = o->client_event;
        r->client_event_opaque = o->client_event_opaque;
        g_mutex_init(&r->damage_lock);
        for (size_t i = 0; i < G_N_ELEMENTS(r->views); i++)
                r->views[i].r = r;
        r->ctx = g_main_context_new();
        r->loop = g_main_loop_new(r->ctx, FALSE);
        r->thread = g_thread_try_new("display", loop_thread, r, &gerr);
        if (!r->thread) {
                *error = g_strdup_printf("cannot start the display thread: %s", gerr->message);
                g_clear_error(&gerr);
                ret = -EAGAIN;
                goto fail;
        }
        ret = on_loop(r, start_servers, &args, 0);
        if (ret < 0)
                goto fail;
        *out = r;
        return 0;
fail:
        remote_stop(r);
        return ret;
}

/* ---- the guest agent's port, served by one server at a time ----
 *
 * One guest agent, one clipboard: the port belongs to SPICE when this
 * vdi-vm serves SPICE, else to RDP. (Moving it to RDP while an RDP client
 * was connected and back to SPICE afterwards left spice-server without
 * the golden desktop's spice-vdagent: tests/image/golden.sh, CI23.) The
 * server that takes it announces itself to the guest agent, which offers
 * its clipboard again. */

static int agent_write(void *opaque, const uint8_t *buf, size_t len)
{
        struct remote *r = opaque;
        return r->has_agent ? r->agent.write(r->agent.opaque, buf, len) : 0;
}

static int agent_read(void *opaque, uint8_t *buf, size_t len)
{
        struct remote *r = opaque;
        return r->has_agent ? r->agent.read(r->agent.opaque, buf, len) : 0;
}

static void agent_wake(void *opaque)
{
        remote_agent_changed(opaque);
}

static const struct spice_agent_port agent_port = { .write = agent_write, .read = agent_read };
static const struct rdp_agent_port rdp_agent_port = { .write = agent_write, .read = agent_read, .wake = agent_wake };

/* Which server should serve the port now (NULL: none). */
static struct display_server *agent_owner(struct remote *r)
{
        if (!r->has_agent || !r->agent.is_open(r->agent.opaque))
                return NULL;
        return r->spice ? r->spice : r->rdp;
}

static void agent_detach(struct remote *r)
{
        if (r->agent_owner && r->agent_owner == r->spice)
                spice_display_agent_detach(r->spice);
        else if (r->agent_owner)
                rdp_display_agent_detach(r->rdp);
        r->agent_owner = NULL;
}

static void agent_attach(struct remote *r, struct display_server *owner)
{
        int e = owner == r->spice ? spice_display_agent_attach(r->spice, &agent_port, r)
                                  : rdp_display_agent_attach(r->rdp, &rdp_agent_port, r);

        if (e == 0)
                r->agent_owner = owner;
        else
                log_warning("agent_attach_failed", "server=%s error=\"%s\"", owner->ops->name, g_strerror(-e));
}

/* Display thread: hand the port to the server that should have it, and
 * have that one read or write what is new. */
static int agent_sync(struct remote *r, void *data)
{
        struct display_server *want = agent_owner(r);

        (void)data;
        g_atomic_int_set(&r->agent_queued, 0);
        if (want != r->agent_owner) {
                agent_detach(r);
                if (want)
                        agent_attach(r, want);
        }
        if (r->agent_owner && r->agent_owner == r->spice)
                spice_display_agent_wakeup(r->spice);
        else if (r->agent_owner)
                rdp_display_agent_pump(r->rdp);
        return 0;
}

static gboolean agent_sync_idle(gpointer arg)
{
        agent_sync(arg, NULL);
        return G_SOURCE_REMOVE;
}

void remote_agent_changed(struct remote *r)
{
        if (r && g_atomic_int_compare_and_exchange(&r->agent_queued, 0, 1))
                g_main_context_invoke(r->ctx, agent_sync_idle, r);
}

static int agent_replace(struct remote *r, void *data)
{
        const struct remote_agent *a = data;

        r->has_agent = a != NULL;
        if (a)
                r->agent = *a;
        return agent_sync(r, NULL);
}

void remote_agent_set(struct remote *r, const struct remote_agent *a)
{
        if (r)
                on_loop(r, agent_replace, (void *)a, 0);
}

struct ticket_args {
        struct display_server *srv;
        const char *user, *password;
        unsigned expiry_s;
};

static int set_ticket(struct remote *r, void *data)
{
        struct ticket_args *t = data;

        (void)r;
        return t->srv->ops->set_ticket(t->srv, t->user, t->password, t->expiry_s);
}

int remote_set_ticket(struct remote *r, const char *protocol, const char *user, const char *password,
                      unsigned expiry_s, char *err, size_t n)
{
        struct display_server *srv = NULL;
        struct ticket_args t;
        int ret;

        if (r && strcmp(protocol, "spice") == 0)
                srv = r->spice;
        else if (r && strcmp(protocol, "rdp") == 0)
                srv = r->rdp;
        else if (r && strcmp(protocol, "web") == 0)
                srv = r->web;
        if (!srv) {
                snprintf(err, n, "this VM serves no %s display (start vdi-vm with --%s-port)", protocol,
                         protocol);
                return -ENOENT;
        }
        t = (struct ticket_args){ srv, user, password, expiry_s };
        ret = on_loop(r, set_ticket, &t, TICKET_TIMEOUT_US);
        if (ret == -ETIMEDOUT) {
                snprintf(err, n, "the display thread did not answer within %d s",
                         (int)(TICKET_TIMEOUT_US / G_USEC_PER_SEC));
                return ret;
        }
        if (ret < 0)
                snprintf(err, n, "%s ticket refused: %s", protocol,
                         ret == -EINVAL ? "empty or oversize user or password, or zero expiry"
                                        : strerror(-ret));
        return ret;
}

static int disconnect_all(struct remote *r, void *data)
{
        struct display_server *const srv[] = { r->spice, r->rdp, r->web };
        unsigned n = 0;

        (void)data;
        for (size_t i = 0; i < sizeof(srv) / sizeof(srv[0]); i++)
                if (srv[i])
                        n += srv[i]->ops->disconnect(srv[i]);
        return (int)n;
}

int remote_disconnect(struct remote *r, char *err, size_t n)
{
        int ret = r ? on_loop(r, disconnect_all, NULL, TICKET_TIMEOUT_US) : 0;

        if (ret == -ETIMEDOUT)
                snprintf(err, n, "the display thread did not answer within %d s",
                         (int)(TICKET_TIMEOUT_US / G_USEC_PER_SEC));
        return ret;
}

void remote_stop(struct remote *r)
{
        if (!r)
                return;
        if (r->thread) {
                on_loop(r, stop_servers, NULL, 0);
                g_main_loop_quit(r->loop);
                g_thread_join(r->thread);
        }
        g_main_loop_unref(r->loop);
        g_main_context_unref(r->ctx);
        g_mutex_clear(&r->damage_lock);
        free(r);
}
