/* The SPICE display server against the real spice-client-glib: pixels,
 * input, and who gets refused. The server runs on its own thread and
 * GMainContext in the test process; the client on the test thread. TLS
 * with a test CA made at run time (tests/harness/make-pki). */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/input-event-codes.h>
#include <math.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "display/testsrc.h"
#include "protocols/agent/vdagent.h"
#include "protocols/spice/agent.h"
#include "protocols/spice/layout.h"
#include "protocols/spice/spice-display.h"
#include "spice/client.h"

#define W 320
#define H 200
#define TICKET "t1cket-Zq7w3R9xYb"

static char *certdir;

static char *cert(const char *name)
{
        return g_build_filename(certdir, name, NULL);
}

/* ---- a server on its own thread ---- */

struct server {
        GThread *thread;
        GMainContext *ctx;
        GMainLoop *loop;
        struct display_server *ds;
        struct display_source src;
        struct display_server_config cfg;
        int rc;
        char *error;
        GMutex m;
        GCond c;
        bool ready;
        /* client_event calls: sessions admitted and ended; the last peer */
        gint connected, disconnected;
        char peer[64];
};

static void on_client_event(void *opaque, const char *protocol, bool connected, const char *peer)
{
        struct server *s = opaque;
        ck_assert_str_eq(protocol, "spice");
        g_strlcpy(s->peer, peer, sizeof(s->peer));
        g_atomic_int_inc(connected ? &s->connected : &s->disconnected);
}

static bool disconnected_once(void *data)
{
        return g_atomic_int_get(&((struct server *)data)->disconnected) == 1;
}

static gpointer server_main(gpointer data)
{
        struct server *s = data;

        g_main_context_push_thread_default(s->ctx);
        s->rc = spice_display_server_ops.start(&s->cfg, s->src, s->ctx, &s->ds,
                                               &s->error);
        g_mutex_lock(&s->m);
        s->ready = true;
        g_cond_signal(&s->c);
        g_mutex_unlock(&s->m);
        if (s->rc == 0) {
                g_main_loop_run(s->loop);
                spice_display_server_ops.stop(s->ds);
        }
        g_main_context_pop_thread_default(s->ctx);
        return NULL;
}

static unsigned free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static char *cert_file, *key_file, *ca_file;

/* Start a TLS server for src (and a plain listener too when plain is set). */
/* The clipboard policy of the next server started (NULL: both). */
static const char *server_clipboard;

static struct server *server_start_src(struct display_source src, bool plain)
{
        for (int attempt = 0; attempt < 5; attempt++) {
                struct server *s = g_new0(struct server, 1);
                s->src = src;
                s->ctx = g_main_context_new();
                s->loop = g_main_loop_new(s->ctx, FALSE);
                s->cfg = (struct display_server_config){
                        .listen_address = "127.0.0.1",
                        .tls_port = (uint16_t)free_port(),
                        .plain_port = plain ? (uint16_t)free_port() : 0,
                        .cert_file = cert_file,
                        .key_file = key_file,
                        .ca_file = ca_file,
                        .fps = 60,
                        .lossless = true,
                        .clipboard = server_clipboard,
                        .client_event = on_client_event,
                        .client_event_opaque = s,
                };
                g_mutex_init(&s->m);
                g_cond_init(&s->c);
                s->thread = g_thread_new("spice-server", server_main, s);
                g_mutex_lock(&s->m);
                while (!s->ready)
                        g_cond_wait(&s->c, &s->m);
                g_mutex_unlock(&s->m);
                if (s->rc == 0)
                        return s;
                g_thread_join(s->thread);
                if (s->rc != -EADDRINUSE)
                        ck_abort_msg("server start: %s", s->error);
                g_free(s->error);
                g_main_loop_unref(s->loop);
                g_main_context_unref(s->ctx);
                g_free(s);
        }
        ck_abort_msg("no free port");
        return NULL;
}

static struct server *server_start(struct testsrc *ts, bool plain)
{
        return server_start_src(testsrc_source(ts), plain);
}

struct call {
        struct server *s;
        int (*fn)(struct server *s, void *data);
        void *data;
        int rc;
        bool done;
};

static gboolean do_call(gpointer data)
{
        struct call *c = data;
        c->rc = c->fn(c->s, c->data);
        g_mutex_lock(&c->s->m);
        c->done = true;
        g_cond_signal(&c->s->c);
        g_mutex_unlock(&c->s->m);
        return G_SOURCE_REMOVE;
}

/* Run fn on the server's thread (the API's rule) and wait for it. */
static int server_call(struct server *s, int (*fn)(struct server *, void *), void *data)
{
        struct call c = { s, fn, data, 0, false };
        g_main_context_invoke(s->ctx, do_call, &c);
        g_mutex_lock(&s->m);
        while (!c.done)
                g_cond_wait(&s->c, &s->m);
        g_mutex_unlock(&s->m);
        return c.rc;
}

struct ticket {
        const char *password;
        unsigned expiry;
};

static int do_set_ticket(struct server *s, void *data)
{
        struct ticket *t = data;
        return spice_display_server_ops.set_ticket(s->ds, "alice", t->password, t->expiry);
}

static int server_set_ticket(struct server *s, const char *password, unsigned expiry)
{
        struct ticket t = { password, expiry };
        return server_call(s, do_set_ticket, &t);
}

static gboolean do_quit(gpointer data)
{
        g_main_loop_quit(data);
        return G_SOURCE_REMOVE;
}

static void server_stop(struct server *s)
{
        g_main_context_invoke(s->ctx, do_quit, s->loop);
        g_thread_join(s->thread);
        g_main_loop_unref(s->loop);
        g_main_context_unref(s->ctx);
        g_mutex_clear(&s->m);
        g_cond_clear(&s->c);
        g_free(s);
}

static struct spice_client *client(struct server *s, const char *password)
{
        struct spice_client_opts o = {
                .host = "127.0.0.1",
                .tls_port = s->cfg.tls_port,
                .password = password,
                .ca_file = ca_file,
        };
        return spice_client_connect(&o);
}

/* ---- fixtures ---- */

static void certs_setup(void)
{
        g_autofree char *script = g_build_filename(HARNESS_DIR, "make-pki", NULL);
        char *argv[] = { "/bin/sh", script, NULL, NULL };
        g_autoptr(GError) err = NULL;
        int status = 0;

        certdir = g_dir_make_tmp("vdi-spice-XXXXXX", NULL);
        argv[2] = certdir;
        if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &err) ||
            !g_spawn_check_wait_status(status, NULL)) {
                fprintf(stderr, "make-pki failed\n");
                abort();
        }
        cert_file = cert("server.pem");
        key_file = cert("server.key");
        ca_file = cert("ca.pem");
}

static void certs_teardown(void)
{
        const char *names[] = { "ca.key", "ca.pem", "ca.srl", "ext.cnf", "other-ca.key",
                                "other-ca.pem", "server.csr", "server.key", "server.pem" };
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                g_autofree char *p = cert(names[i]);
                g_unlink(p);
        }
        g_rmdir(certdir);
}

static size_t take_events(struct testsrc *ts, struct testsrc_event *ev, size_t max)
{
        return testsrc_take_events(ts, ev, max);
}

/* A testsrc whose damage and event arrays are already allocated: testsrc.c
 * memcpy()s from a still-NULL GArray when nothing happened yet, which UBSan
 * rejects (reported; this keeps the sanitizer build usable meanwhile). */
static struct testsrc *new_source(void)
{
        struct testsrc *ts = testsrc_new(W, H);
        struct display_source src = testsrc_source(ts);
        struct display_rect r;
        struct testsrc_event ev;

        testsrc_fill(ts, (struct display_rect){ 0, 0, 1, 1 }, 0);
        src.ops->collect_damage(src.opaque, &r, 1);
        src.ops->input_wheel(src.opaque, 0);
        testsrc_take_events(ts, &ev, 1);
        return ts;
}

/* ---- tests ---- */

START_TEST(test_pixels_over_tls)
{
        struct testsrc *ts = new_source();
        testsrc_pattern(ts, (struct display_rect){ 0, 0, W, H }, 1);
        struct server *s = server_start(ts, false);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);

        struct spice_client *c = client(s, TICKET);
        ck_assert_msg(spice_client_wait_primary(c, 10000), "no primary surface (error %d)",
                      spice_client_error(c));
        ck_assert_msg(spice_client_wait_match(c, testsrc_pixels(ts), W, H, 5000),
                      "initial frame differs in %ld pixels",
                      spice_client_diff(c, testsrc_pixels(ts), W, H));

        /* Fills and patterns, several per frame, some overlapping. */
        for (uint32_t i = 0; i < 20; i++) {
                testsrc_fill(ts, (struct display_rect){ (i * 37) % W, (i * 23) % H, 40, 30 },
                             0x00102030u * (i + 1));
                testsrc_pattern(ts, (struct display_rect){ (i * 53) % W, (i * 29) % H, 64, 48 },
                                100 + i);
                if (i % 5 == 0)
                        spice_client_run(20, NULL, NULL);
        }
        testsrc_fill(ts, (struct display_rect){ W - 1, H - 1, 1, 1 }, 0x00abcdefu);
        ck_assert_msg(spice_client_wait_match(c, testsrc_pixels(ts), W, H, 5000),
                      "after drawing, %ld pixels differ",
                      spice_client_diff(c, testsrc_pixels(ts), W, H));

        /* A visible arrow pointer: opaque black tip at the hot spot. */
        SpiceCursorShape *shape = spice_client_wait_cursor(c, 5000);
        ck_assert_msg(shape != NULL, "no cursor shape");
        ck_assert_int_eq(shape->type, SPICE_CURSOR_TYPE_ALPHA);
        ck_assert_int_ge(shape->width, 8);
        ck_assert_int_ge(shape->height, 8);
        ck_assert_int_eq(shape->hot_spot_x, 0);
        ck_assert_int_eq(shape->hot_spot_y, 0);
        uint32_t tip;
        memcpy(&tip, shape->data, 4);
        ck_assert_uint_eq(GUINT32_FROM_LE(tip), 0xff000000u);
        g_boxed_free(SPICE_TYPE_CURSOR_SHAPE, shape);

        /* The session was reported once, with the client's address; its end too. */
        ck_assert_int_eq(g_atomic_int_get(&s->connected), 1);
        ck_assert_int_eq(g_atomic_int_get(&s->disconnected), 0);
        ck_assert_str_eq(s->peer, "127.0.0.1");
        spice_client_free(c);
        spice_client_run(5000, disconnected_once, s);
        ck_assert_int_eq(g_atomic_int_get(&s->disconnected), 1);
        server_stop(s);
        testsrc_free(ts);
}
END_TEST

static bool has_events(struct testsrc *ts, size_t n, struct testsrc_event *ev, size_t *got)
{
        *got += take_events(ts, ev + *got, n - *got);
        return *got >= n;
}

struct evwait {
        struct testsrc *ts;
        struct testsrc_event *ev;
        size_t want, got;
};

static bool evwait_done(void *data)
{
        struct evwait *w = data;
        return has_events(w->ts, w->want, w->ev, &w->got);
}

static void wait_events(struct testsrc *ts, struct testsrc_event *ev, size_t want)
{
        struct evwait w = { ts, ev, want, 0 };
        spice_client_run(5000, evwait_done, &w);
        ck_assert_msg(w.got == want, "got %zu of %zu input events", w.got, want);
}

static uint32_t scaled(int v, int size)
{
        return (uint32_t)(((uint64_t)v * DISPLAY_POINTER_MAX + (uint64_t)(size - 1) / 2) /
                          (uint64_t)(size - 1));
}

START_TEST(test_input)
{
        struct testsrc *ts = new_source();
        struct server *s = server_start(ts, false);
        struct testsrc_event ev[16];
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);

        struct spice_client *c = client(s, TICKET);
        ck_assert(spice_client_wait_primary(c, 10000));
        ck_assert_msg(spice_client_wait_inputs(c, 5000), "no inputs channel / client mouse mode");
        SpiceInputsChannel *in = spice_client_inputs(c);
        spice_client_run(100, NULL, NULL);
        take_events(ts, ev, G_N_ELEMENTS(ev)); /* anything the client sent on connect */

        /* Plain, extended (E0) arrows, Right Ctrl, keypad Enter. */
        static const struct {
                guint scancode;
                uint16_t evdev;
        } keys[] = {
                { 0x1e, KEY_A },        { 0x148, KEY_UP },      { 0x14b, KEY_LEFT },
                { 0x11d, KEY_RIGHTCTRL }, { 0x11c, KEY_KPENTER }, { 0x1c, KEY_ENTER },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
                spice_inputs_channel_key_press(in, keys[i].scancode);
                spice_inputs_channel_key_release(in, keys[i].scancode);
                wait_events(ts, ev, 2);
                ck_assert_int_eq(ev[0].type, TESTSRC_KEY);
                ck_assert_msg(ev[0].code == keys[i].evdev && ev[0].pressed,
                              "scancode %#x: got code %u pressed %d", keys[i].scancode, ev[0].code,
                              ev[0].pressed);
                ck_assert(ev[1].code == keys[i].evdev && !ev[1].pressed);
        }

        /* Absolute pointer: pixels scaled to 0..32767. */
        spice_inputs_channel_position(in, W / 2, H / 3, 0, 0);
        wait_events(ts, ev, 1);
        ck_assert_int_eq(ev[0].type, TESTSRC_POINTER);
        ck_assert_uint_eq(ev[0].x, scaled(W / 2, W));
        ck_assert_uint_eq(ev[0].y, scaled(H / 3, H));
        spice_inputs_channel_position(in, W - 1, H - 1, 0, 0);
        wait_events(ts, ev, 1);
        ck_assert_uint_eq(ev[0].x, DISPLAY_POINTER_MAX);
        ck_assert_uint_eq(ev[0].y, DISPLAY_POINTER_MAX);

        spice_inputs_channel_button_press(in, SPICE_MOUSE_BUTTON_LEFT, 0);
        wait_events(ts, ev, 1);
        ck_assert_int_eq(ev[0].type, TESTSRC_POINTER);
        ck_assert_uint_eq(ev[0].buttons, DISPLAY_BUTTON_LEFT);
        ck_assert_uint_eq(ev[0].x, DISPLAY_POINTER_MAX);
        spice_inputs_channel_button_release(in, SPICE_MOUSE_BUTTON_LEFT, SPICE_MOUSE_BUTTON_MASK_LEFT);
        wait_events(ts, ev, 1);
        ck_assert_uint_eq(ev[0].buttons, 0);

        /* Wheel up: one notch away from the user. */
        spice_inputs_channel_button_press(in, SPICE_MOUSE_BUTTON_UP, 0);
        wait_events(ts, ev, 1);
        ck_assert_int_eq(ev[0].type, TESTSRC_WHEEL);
        ck_assert_int_eq(ev[0].delta, 1);

        spice_client_free(c);
        server_stop(s);
        testsrc_free(ts);
}
END_TEST

/* The client is refused with err, gets no display, and the source sees
 * no input. */
static void assert_refused(struct spice_client *c, struct testsrc *ts, int want_err)
{
        struct testsrc_event ev[4];
        SpiceDisplayPrimary p;
        int err = spice_client_wait_error(c, 10000);

        if (want_err)
                ck_assert_msg(err == want_err, "expected error %d, got %d", want_err, err);
        else
                ck_assert_msg(err != 0, "expected a connection error");
        ck_assert(!spice_client_primary(c, &p));
        if (spice_client_inputs(c))
                spice_inputs_channel_key_press_and_release(spice_client_inputs(c), 0x1e);
        spice_client_run(200, NULL, NULL);
        ck_assert_uint_eq(take_events(ts, ev, G_N_ELEMENTS(ev)), 0);
}

START_TEST(test_wrong_ticket)
{
        struct testsrc *ts = new_source();
        struct server *s = server_start(ts, false);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);

        struct spice_client *c = client(s, "not-the-ticket");
        assert_refused(c, ts, SPICE_CHANNEL_ERROR_AUTH);
        spice_client_free(c);

        /* And no password at all. */
        c = client(s, "");
        assert_refused(c, ts, SPICE_CHANNEL_ERROR_AUTH);
        spice_client_free(c);

        /* The right one still works after failures. */
        c = client(s, TICKET);
        ck_assert(spice_client_wait_primary(c, 10000));
        spice_client_free(c);

        server_stop(s);
        testsrc_free(ts);
}
END_TEST

START_TEST(test_expired_ticket)
{
        struct testsrc *ts = new_source();
        struct server *s = server_start(ts, false);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 1), 0);
        g_usleep(1300 * 1000);

        struct spice_client *c = client(s, TICKET);
        assert_refused(c, ts, SPICE_CHANNEL_ERROR_AUTH);
        spice_client_free(c);

        /* A fresh ticket is accepted. */
        ck_assert_int_eq(server_set_ticket(s, TICKET "2", 60), 0);
        c = client(s, TICKET "2");
        ck_assert(spice_client_wait_primary(c, 10000));
        spice_client_free(c);

        ck_assert_int_eq(server_set_ticket(s, "", 60), -EINVAL);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 0), -EINVAL);
        server_stop(s);
        testsrc_free(ts);
}
END_TEST

START_TEST(test_reused_ticket)
{
        struct testsrc *ts = new_source();
        testsrc_pattern(ts, (struct display_rect){ 0, 0, W, H }, 7);
        struct server *s = server_start(ts, false);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);

        /* First use: a full session with every channel. */
        struct spice_client *a = client(s, TICKET);
        ck_assert(spice_client_wait_primary(a, 10000));
        ck_assert(spice_client_wait_inputs(a, 5000));
        ck_assert(spice_client_wait_match(a, testsrc_pixels(ts), W, H, 5000));

        /* Reuse while the first session runs: refused, first unharmed. */
        struct spice_client *b = client(s, TICKET);
        assert_refused(b, ts, SPICE_CHANNEL_ERROR_AUTH);
        spice_client_free(b);
        testsrc_fill(ts, (struct display_rect){ 10, 10, 50, 50 }, 0x00ff0000u);
        ck_assert(spice_client_wait_match(a, testsrc_pixels(ts), W, H, 5000));
        ck_assert_int_eq(spice_client_error(a), 0);
        spice_client_free(a);

        /* Reuse after the session ended: refused. */
        spice_client_run(200, NULL, NULL);
        b = client(s, TICKET);
        assert_refused(b, ts, SPICE_CHANNEL_ERROR_AUTH);
        spice_client_free(b);

        server_stop(s);
        testsrc_free(ts);
}
END_TEST


static int do_disconnect(struct server *s, void *data)
{
        (void)data;
        return (int)spice_display_server_ops.disconnect(s->ds);
}

static bool client_gone(void *data)
{
        return spice_client_gone(data);
}

/* An admin's "disconnect user": the connected client goes, the server
 * keeps serving, and a ticket not yet used is void; a new one works. */
START_TEST(test_disconnect)
{
        struct testsrc *ts = new_source();
        testsrc_pattern(ts, (struct display_rect){ 0, 0, W, H }, 3);
        struct server *s = server_start(ts, false);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);
        struct spice_client *a = client(s, TICKET);
        ck_assert(spice_client_wait_primary(a, 10000));
        ck_assert(spice_client_wait_match(a, testsrc_pixels(ts), W, H, 5000));

        ck_assert_int_eq(server_call(s, do_disconnect, NULL), 1);
        spice_client_run(10000, client_gone, a);
        ck_assert_msg(spice_client_gone(a), "the client is still connected");
        spice_client_free(a);

        /* Nobody connected: nothing to drop, but the unused ticket goes. */
        ck_assert_int_eq(server_set_ticket(s, "second-ticket", 60), 0);
        ck_assert_int_eq(server_call(s, do_disconnect, NULL), 0);
        struct spice_client *b = client(s, "second-ticket");
        assert_refused(b, ts, SPICE_CHANNEL_ERROR_AUTH);
        spice_client_free(b);

        /* A new ticket admits the user again. */
        ck_assert_int_eq(server_set_ticket(s, "third-ticket", 60), 0);
        struct spice_client *c = client(s, "third-ticket");
        ck_assert(spice_client_wait_primary(c, 10000));
        ck_assert(spice_client_wait_match(c, testsrc_pixels(ts), W, H, 5000));
        spice_client_free(c);
        server_stop(s);
        testsrc_free(ts);
}
END_TEST

static int do_stats(struct server *s, void *out)
{
        spice_display_get_stats(s->ds, out);
        return 0;
}

struct both_gone {
        struct spice_client *a, *b;
};

static bool both_gone(void *data)
{
        struct both_gone *g = data;
        return spice_client_gone(g->a) && spice_client_gone(g->b);
}

/* A second session presenting the ticket while the first is still linking
 * its channels: spice would let it take over; both are disconnected. */
START_TEST(test_reuse_in_grace)
{
        struct testsrc *ts = new_source();
        struct testsrc_event ev[4];
        struct spice_display_stats st;
        SpiceDisplayPrimary p;
        struct server *s = server_start(ts, false);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);

        struct spice_client_opts o = { .host = "127.0.0.1", .tls_port = s->cfg.tls_port,
                                       .password = TICKET, .ca_file = ca_file, .main_only = true };
        struct spice_client *a = spice_client_connect(&o);
        ck_assert(spice_client_wait_main(a, 10000));

        struct spice_client *b = client(s, TICKET);
        struct both_gone g = { a, b };
        spice_client_run(10000, both_gone, &g);
        ck_assert_msg(spice_client_gone(a) && spice_client_gone(b), "a gone %d, b gone %d",
                      spice_client_gone(a), spice_client_gone(b));
        ck_assert(!spice_client_primary(b, &p) || spice_client_gone(b));
        server_call(s, do_stats, &st);
        ck_assert_uint_eq(st.sessions, 1);
        ck_assert_uint_eq(st.refused, 1);
        spice_client_free(a);
        spice_client_free(b);

        /* And the ticket is gone for good. */
        b = client(s, TICKET);
        assert_refused(b, ts, SPICE_CHANNEL_ERROR_AUTH);
        spice_client_free(b);
        ck_assert_uint_eq(take_events(ts, ev, G_N_ELEMENTS(ev)), 0);

        server_stop(s);
        testsrc_free(ts);
}
END_TEST

START_TEST(test_plain_refused)
{
        struct testsrc *ts = new_source();
        struct server *s = server_start(ts, true);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);

        /* Plain SPICE to the TLS port: the handshake fails. */
        struct spice_client_opts o = { .host = "127.0.0.1", .plain_port = s->cfg.tls_port,
                                       .password = TICKET };
        struct spice_client *c = spice_client_connect(&o);
        assert_refused(c, ts, 0);
        spice_client_free(c);

        /* Plain SPICE to an explicitly configured plain port: every channel
         * needs TLS, so the link is refused. */
        o.plain_port = s->cfg.plain_port;
        c = spice_client_connect(&o);
        assert_refused(c, ts, 0);
        spice_client_free(c);

        /* TLS with a CA that did not sign the server: refused by the client. */
        g_autofree char *other = cert("other-ca.pem");
        struct spice_client_opts t = { .host = "127.0.0.1", .tls_port = s->cfg.tls_port,
                                       .password = TICKET, .ca_file = other };
        c = spice_client_connect(&t);
        assert_refused(c, ts, SPICE_CHANNEL_ERROR_TLS);
        spice_client_free(c);

        /* The ticket was never used: a proper client still gets in. */
        c = client(s, TICKET);
        ck_assert(spice_client_wait_primary(c, 10000));
        spice_client_free(c);

        server_stop(s);
        testsrc_free(ts);
}
END_TEST

START_TEST(test_config_errors)
{
        struct testsrc *ts = new_source();
        struct display_server *ds = NULL;
        g_autofree char *err = NULL;
        GMainContext *ctx = g_main_context_new();
        struct display_server_config cfg = { .tls_port = (uint16_t)free_port(),
                                             .cert_file = "/nonexistent/server.pem",
                                             .key_file = key_file,
                                             .ca_file = ca_file };

        ck_assert_int_eq(spice_display_server_ops.start(&cfg, testsrc_source(ts), ctx, &ds, &err),
                         -ENOENT);
        ck_assert_msg(strstr(err, "/nonexistent/server.pem") != NULL, "%s", err);
        g_clear_pointer(&err, g_free);
        cfg.tls_port = 0;
        ck_assert_int_eq(spice_display_server_ops.start(&cfg, testsrc_source(ts), ctx, &ds, &err),
                         -EINVAL);
        ck_assert_ptr_null(ds);
        g_clear_pointer(&err, g_free);
        /* A clipboard policy that is none of the four. */
        cfg.tls_port = (uint16_t)free_port();
        cfg.clipboard = "sideways";
        ck_assert_int_eq(spice_display_server_ops.start(&cfg, testsrc_source(ts), ctx, &ds, &err),
                         -EINVAL);
        ck_assert_msg(strstr(err, "clipboard \"sideways\"") != NULL, "%s", err);
        ck_assert_ptr_null(ds);
        g_main_context_unref(ctx);
        testsrc_free(ts);
}
END_TEST

/* A source that swaps between framebuffers of different sizes, as a guest
 * changing video mode does: geometry and generation change. */
struct switch_src {
        GMutex m;
        struct testsrc *cur;
        uint64_t generation;
};

static int sw_get_surface(void *o, struct display_surface *out)
{
        struct switch_src *sw = o;
        g_mutex_lock(&sw->m);
        struct display_source in = testsrc_source(sw->cur);
        int r = in.ops->get_surface(in.opaque, out);
        out->generation = sw->generation;
        g_mutex_unlock(&sw->m);
        return r;
}

static int sw_collect_damage(void *o, struct display_rect *rects, size_t max)
{
        struct switch_src *sw = o;
        g_mutex_lock(&sw->m);
        struct display_source in = testsrc_source(sw->cur);
        int r = in.ops->collect_damage(in.opaque, rects, max);
        g_mutex_unlock(&sw->m);
        return r;
}

static void sw_key(void *o, uint16_t code, bool pressed) {}
static void sw_pointer(void *o, uint32_t x, uint32_t y, uint32_t buttons) {}
static void sw_wheel(void *o, int32_t delta) {}

static const struct display_source_ops switch_ops = {
        .get_surface = sw_get_surface,
        .collect_damage = sw_collect_damage,
        .input_key = sw_key,
        .input_pointer = sw_pointer,
        .input_wheel = sw_wheel,
};

static void switch_to(struct switch_src *sw, struct testsrc *ts)
{
        g_mutex_lock(&sw->m);
        sw->cur = ts;
        sw->generation++;
        g_mutex_unlock(&sw->m);
}

START_TEST(test_mode_change)
{
        struct testsrc *a = new_source(), *b = testsrc_new(400, 300), *c = new_source();
        struct switch_src sw = { .cur = a, .generation = 1 };
        g_mutex_init(&sw.m);
        testsrc_pattern(a, (struct display_rect){ 0, 0, W, H }, 11);
        testsrc_pattern(b, (struct display_rect){ 0, 0, 400, 300 }, 12);
        testsrc_pattern(c, (struct display_rect){ 0, 0, W, H }, 13);

        struct server *s = server_start_src((struct display_source){ &switch_ops, &sw }, false);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);
        struct spice_client *cl = client(s, TICKET);
        ck_assert(spice_client_wait_primary(cl, 10000));
        ck_assert(spice_client_wait_match(cl, testsrc_pixels(a), W, H, 5000));

        /* New geometry: a new primary surface of the new size. */
        switch_to(&sw, b);
        ck_assert_msg(spice_client_wait_match(cl, testsrc_pixels(b), 400, 300, 5000),
                      "after the mode change: %ld", spice_client_diff(cl, testsrc_pixels(b), 400, 300));
        /* Back, to a different framebuffer (new generation). */
        switch_to(&sw, c);
        ck_assert(spice_client_wait_match(cl, testsrc_pixels(c), W, H, 5000));
        testsrc_fill(c, (struct display_rect){ 5, 5, 20, 20 }, 0x0000ff00u);
        ck_assert(spice_client_wait_match(cl, testsrc_pixels(c), W, H, 5000));
        ck_assert_int_eq(spice_client_error(cl), 0);

        spice_client_free(cl);
        server_stop(s);
        g_mutex_clear(&sw.m);
        testsrc_free(a);
        testsrc_free(b);
        testsrc_free(c);
}
END_TEST

/* A stand-in for the guest's spice-vdagent port. */
struct fake_agent {
        GMutex m;
        GByteArray *to_guest;
        GByteArray *from_guest; /* NULL: a guest that says nothing */
};

static int fa_write(void *o, const uint8_t *buf, size_t len)
{
        struct fake_agent *fa = o;
        g_mutex_lock(&fa->m);
        g_byte_array_append(fa->to_guest, buf, (guint)len);
        g_mutex_unlock(&fa->m);
        return (int)len;
}

static int fa_read(void *o, uint8_t *buf, size_t len)
{
        struct fake_agent *fa = o;
        size_t n = 0;

        g_mutex_lock(&fa->m);
        if (fa->from_guest) {
                n = MIN(len, fa->from_guest->len);
                if (n)
                        memcpy(buf, fa->from_guest->data, n);
                g_byte_array_remove_range(fa->from_guest, 0, (guint)n);
        }
        g_mutex_unlock(&fa->m);
        return (int)n;
}

static const struct spice_agent_port fake_port = { .write = fa_write, .read = fa_read };

static int do_attach(struct server *s, void *fa)
{
        return spice_display_agent_attach(s->ds, &fake_port, fa);
}

static int do_wakeup(struct server *s, void *unused)
{
        spice_display_agent_wakeup(s->ds);
        return 0;
}

/* The fake guest says one message (and spice is told). */
static void fa_say(struct server *s, struct fake_agent *fa, uint32_t type, const void *data, size_t len)
{
        uint8_t *buf;
        size_t n;

        ck_assert_int_eq(vdagent_frame(type, data, len, &buf, &n), 0);
        g_mutex_lock(&fa->m);
        g_byte_array_append(fa->from_guest, buf, (guint)n);
        g_mutex_unlock(&fa->m);
        free(buf);
        ck_assert_int_eq(server_call(s, do_wakeup, NULL), 0);
}

struct msg_count {
        uint32_t type;
        unsigned n;
};

static void count_msg(void *opaque, const struct vdagent_msg *m)
{
        struct msg_count *k = opaque;
        k->n += m->type == k->type;
}

/* Messages of type among what reached the fake guest. */
static unsigned guest_got(struct fake_agent *fa, uint32_t type)
{
        struct vdagent_reader r = { 0 };
        struct msg_count k = { type, 0 };

        g_mutex_lock(&fa->m);
        ck_assert_int_eq(vdagent_reader_feed(&r, fa->to_guest->data, fa->to_guest->len, count_msg, &k), 0);
        g_mutex_unlock(&fa->m);
        vdagent_reader_reset(&r);
        return k.n;
}

static bool guest_grabbed(void *fa)
{
        return guest_got(fa, VD_AGENT_CLIPBOARD_GRAB) > 0;
}


struct agent_wait {
        struct spice_client *c;
        struct fake_agent *fa;
};

static bool agent_ready(void *data)
{
        struct agent_wait *w = data;
        gboolean connected = FALSE;
        guint len;

        g_object_get(spice_client_main(w->c), "agent-connected", &connected, NULL);
        g_mutex_lock(&w->fa->m);
        len = w->fa->to_guest->len;
        g_mutex_unlock(&w->fa->m);
        return connected && len >= sizeof(VDIChunkHeader) + sizeof(VDAgentMessage);
}

START_TEST(test_agent_channel)
{
        struct testsrc *ts = new_source();
        struct fake_agent fa = { .to_guest = g_byte_array_new() };
        g_mutex_init(&fa.m);
        struct server *s = server_start(ts, false);
        ck_assert_int_eq(server_call(s, do_attach, &fa), 0);
        ck_assert_int_eq(server_call(s, do_attach, &fa), -EBUSY);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);

        struct spice_client *c = client(s, TICKET);
        ck_assert(spice_client_wait_primary(c, 10000));
        struct agent_wait w = { c, &fa };
        spice_client_run(5000, agent_ready, &w);
        ck_assert_msg(agent_ready(&w), "client did not see the agent / nothing reached the guest");

        /* The client's first agent message is its capabilities. */
        VDIChunkHeader chunk;
        VDAgentMessage msg;
        g_mutex_lock(&fa.m);
        memcpy(&chunk, fa.to_guest->data, sizeof(chunk));
        memcpy(&msg, fa.to_guest->data + sizeof(chunk), sizeof(msg));
        g_mutex_unlock(&fa.m);
        ck_assert_uint_eq(chunk.port, VDP_CLIENT_PORT);
        ck_assert_uint_eq(msg.protocol, VD_AGENT_PROTOCOL);
        ck_assert_uint_eq(msg.type, VD_AGENT_ANNOUNCE_CAPABILITIES);

        spice_client_free(c);
        server_stop(s);
        g_byte_array_unref(fa.to_guest);
        g_mutex_clear(&fa.m);
        testsrc_free(ts);
}
END_TEST

/* The client has the guest agent's capabilities (spice-gtk's
 * agent-caps-0: clipboard by demand). */
static bool client_knows_caps(void *main)
{
        guint caps = 0;

        g_object_get(main, "agent-caps-0", &caps, NULL);
        return caps & (1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
}

/* A one-way policy (client-to-guest) with spice-client-glib: the guest's
 * grab never reaches the client, the client's reaches the guest. */
START_TEST(test_clipboard_one_way)
{
        struct testsrc *ts = new_source();
        struct fake_agent fa = { .to_guest = g_byte_array_new(), .from_guest = g_byte_array_new() };
        const uint8_t caps[8] = { 0, 0, 0, 0, 1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND, 0, 0, 0 };
        const uint32_t utf8 = VD_AGENT_CLIPBOARD_UTF8_TEXT;
        struct spice_clip clip;

        g_mutex_init(&fa.m);
        server_clipboard = "client-to-guest";
        struct server *s = server_start(ts, false);
        server_clipboard = NULL;
        ck_assert_int_eq(server_call(s, do_attach, &fa), 0);
        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);
        struct spice_client *c = client(s, TICKET);
        ck_assert(spice_client_wait_primary(c, 10000));
        spice_clip_attach(c, &clip);
        struct agent_wait w = { c, &fa };
        spice_client_run(5000, agent_ready, &w);
        ck_assert(agent_ready(&w));

        fa_say(s, &fa, VD_AGENT_ANNOUNCE_CAPABILITIES, caps, sizeof(caps));
        /* The client offers only once it knows the agent's caps. */
        spice_client_run(5000, client_knows_caps, spice_client_main(c));
        ck_assert(client_knows_caps(spice_client_main(c)));
        fa_say(s, &fa, VD_AGENT_CLIPBOARD_GRAB, &utf8, 4);
        /* client -> guest passes */
        spice_clip_offer(c, &clip, "ok", 2);
        spice_client_run(5000, guest_grabbed, &fa);
        ck_assert_uint_eq(guest_got(&fa, VD_AGENT_CLIPBOARD_GRAB), 1);
        /* guest -> client does not: the client never saw the guest's grab,
         * so no request for its text came back (with "both" one does). */
        spice_client_run(1000, NULL, NULL);
        ck_assert_uint_eq(guest_got(&fa, VD_AGENT_CLIPBOARD_REQUEST), 0);
        ck_assert(!clip.got_done);

        spice_clip_detach(c, &clip);
        spice_client_free(c);
        server_stop(s);
        g_byte_array_unref(fa.to_guest);
        g_byte_array_unref(fa.from_guest);
        g_mutex_clear(&fa.m);
        testsrc_free(ts);
}
END_TEST

/* ---- the client's monitors config ---- */

struct layout_wait {
        struct testsrc *ts;
        unsigned want;
};

static bool layouts_reached(void *data)
{
        struct layout_wait *w = data;
        struct display_head h[DISPLAY_MAX_HEADS];
        unsigned n;
        return testsrc_last_layout(w->ts, h, &n) >= w->want;
}

/* What remote-viewer does when its window becomes width x height: display
 * 0 enabled at that size, sent at once. */
static void send_size(struct spice_client *c, int width, int height)
{
        SpiceMainChannel *m = spice_client_main(c);
        spice_main_channel_update_display_enabled(m, 0, TRUE, FALSE);
        spice_main_channel_update_display(m, 0, 0, 0, width, height, FALSE);
        ck_assert(spice_main_channel_send_monitor_config(m));
}

/* Wait for the source's layout request number want; it must be one head
 * of width x height at the origin. */
static void assert_layout(struct testsrc *ts, unsigned want, uint32_t width, uint32_t height)
{
        struct layout_wait w = { ts, want };
        struct display_head h[DISPLAY_MAX_HEADS];
        unsigned n = 0, count;

        spice_client_run(10000, layouts_reached, &w);
        count = testsrc_last_layout(ts, h, &n);
        ck_assert_msg(count == want, "%u layout requests, want %u", count, want);
        ck_assert_uint_eq(n, 1);
        ck_assert_msg(h[0].x == 0 && h[0].y == 0 && h[0].width == width && h[0].height == height,
                      "layout %ux%u+%d+%d, want %ux%u", h[0].width, h[0].height, h[0].x, h[0].y, width,
                      height);
}

/* Agent messages of type type that reached the (fake) guest agent; every
 * message the client sends here fits one chunk. */
static unsigned agent_messages(struct fake_agent *fa, uint32_t type)
{
        unsigned found = 0;
        size_t off = 0;

        g_mutex_lock(&fa->m);
        while (off + sizeof(VDIChunkHeader) + sizeof(VDAgentMessage) <= fa->to_guest->len) {
                VDIChunkHeader chunk;
                VDAgentMessage msg;
                memcpy(&chunk, fa->to_guest->data + off, sizeof(chunk));
                memcpy(&msg, fa->to_guest->data + off + sizeof(chunk), sizeof(msg));
                found += msg.type == type;
                off += sizeof(chunk) + chunk.size;
        }
        g_mutex_unlock(&fa->m);
        return found;
}

struct agent_msg_wait {
        struct fake_agent *fa;
        uint32_t type;
};

static bool agent_got(void *data)
{
        struct agent_msg_wait *w = data;
        return agent_messages(w->fa, w->type) > 0;
}

/* A server for a testsrc that follows layouts or not, the fake guest
 * agent attached, and a client that sees it (spice-gtk sends monitors
 * configs only while an agent is there). */
struct agent_session {
        struct testsrc *ts;
        struct fake_agent fa;
        struct server *s;
        struct spice_client *c;
};

static void agent_session_start(struct agent_session *a, bool follow)
{
        a->ts = new_source();
        testsrc_follow_layout(a->ts, follow);
        a->fa.to_guest = g_byte_array_new();
        g_mutex_init(&a->fa.m);
        a->s = server_start(a->ts, false);
        ck_assert_int_eq(server_call(a->s, do_attach, &a->fa), 0);
        ck_assert_int_eq(server_set_ticket(a->s, TICKET, 60), 0);
        a->c = client(a->s, TICKET);
        ck_assert(spice_client_wait_primary(a->c, 10000));
        struct agent_wait w = { a->c, &a->fa };
        spice_client_run(5000, agent_ready, &w);
        ck_assert_msg(agent_ready(&w), "client did not see the agent");
}

static void agent_session_end(struct agent_session *a)
{
        spice_client_free(a->c);
        server_stop(a->s);
        g_byte_array_unref(a->fa.to_guest);
        g_mutex_clear(&a->fa.m);
        testsrc_free(a->ts);
}

START_TEST(test_monitors_config)
{
        struct agent_session a = { 0 };
        agent_session_start(&a, true);

        /* The window's size becomes the source's layout (an odd width is
         * rounded down to even), and the new mode the client's surface. */
        send_size(a.c, 1281, 720);
        assert_layout(a.ts, 1, 1280, 720);
        testsrc_pattern(a.ts, (struct display_rect){ 0, 0, 1280, 720 }, 21);
        ck_assert_msg(spice_client_wait_match(a.c, testsrc_pixels(a.ts), 1280, 720, 10000),
                      "after the resize: %ld", spice_client_diff(a.c, testsrc_pixels(a.ts), 1280, 720));

        /* Sizes no guest takes are ignored; the next good one goes on. */
        send_size(a.c, 0, 0);
        send_size(a.c, 100, 720);
        send_size(a.c, 1024, 9000);
        send_size(a.c, 20000, 20000);
        send_size(a.c, 800, 600);
        assert_layout(a.ts, 2, 800, 600);

        /* Two displays: the first is the one this server shows. */
        SpiceMainChannel *m = spice_client_main(a.c);
        spice_main_channel_update_display(m, 0, 0, 0, 640, 480, FALSE);
        spice_main_channel_update_display_enabled(m, 1, TRUE, FALSE);
        spice_main_channel_update_display(m, 1, 640, 0, 1024, 768, FALSE);
        ck_assert(spice_main_channel_send_monitor_config(m));
        assert_layout(a.ts, 3, 640, 480);

        /* The device took them all: none reached the guest's agent. */
        ck_assert_uint_eq(agent_messages(&a.fa, VD_AGENT_MONITORS_CONFIG), 0);
        ck_assert_int_eq(spice_client_error(a.c), 0);
        agent_session_end(&a);
}
END_TEST

/* A source that cannot change its layout (VESA): the config goes to the
 * guest's agent as before, the source is not asked, the client scales. */
START_TEST(test_monitors_config_fixed)
{
        struct agent_session a = { 0 };
        agent_session_start(&a, false);

        send_size(a.c, 1280, 720);
        struct agent_msg_wait w = { &a.fa, VD_AGENT_MONITORS_CONFIG };
        spice_client_run(10000, agent_got, &w);
        ck_assert_msg(agent_got(&w), "the monitors config did not reach the guest's agent");
        struct display_head h[DISPLAY_MAX_HEADS];
        unsigned n;
        ck_assert_uint_eq(testsrc_last_layout(a.ts, h, &n), 0);
        ck_assert(spice_client_wait_match(a.c, testsrc_pixels(a.ts), W, H, 5000));
        agent_session_end(&a);
}
END_TEST

/* What a hostile client could put in a monitors config (spice-gtk sends
 * none of these). */
START_TEST(test_monitors_config_values)
{
        struct {
                uint32_t count, width, height;
                int rc;
                uint32_t got_w;
        } cases[] = {
                { 1, 1920, 1080, 1, 1920 },  { 1, 1921, 1080, 1, 1920 },
                { 2, 1024, 768, 1, 1024 },   { 0, 1024, 768, -EINVAL, 0 },
                { 257, 1024, 768, -EINVAL, 0 }, { UINT32_MAX, 1024, 768, -EINVAL, 0 },
                { 1, 0, 0, -EINVAL, 0 },     { 1, 1024, 0, -EINVAL, 0 },
                { 1, 199, 768, -EINVAL, 0 }, { 1, 201, 768, 1, 200 },
                { 1, 8193, 768, 1, 8192 },   { 1, 8194, 768, -EINVAL, 0 },
                { 1, 1024, 8193, -EINVAL, 0 }, { 1, UINT32_MAX, UINT32_MAX, -EINVAL, 0 },
                { 1, 0x80000000u, 768, -EINVAL, 0 },
        };
        g_autofree VDAgentMonitorsConfig *mc = g_malloc0(sizeof(*mc) + 2 * sizeof(VDAgentMonConfig));

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                struct display_head h = { 7, 7, 7, 7 };
                char why[160] = "";
                mc->num_of_monitors = cases[i].count;
                mc->monitors[0] = (VDAgentMonConfig){ .width = cases[i].width, .height = cases[i].height,
                                                      .depth = 32, .x = -5, .y = INT32_MAX };
                mc->monitors[1] = (VDAgentMonConfig){ .width = 640, .height = 480 };
                int r = spice_layout_from_monitors(mc, &h, why, sizeof(why));
                ck_assert_msg(r == cases[i].rc, "case %zu: %d", i, r);
                if (r == 1)
                        ck_assert_msg(h.x == 0 && h.y == 0 && h.width == cases[i].got_w &&
                                      h.height == cases[i].height, "case %zu: %ux%u", i, h.width, h.height);
                else
                        ck_assert_msg(h.width == 7 && why[0], "case %zu: out written or no reason", i);
        }

        /* spice-server's question (NULL): can the source follow? */
        struct testsrc *ts = new_source();
        struct display_source src = testsrc_source(ts);
        ck_assert_int_eq(spice_layout_request(&src, NULL), 0);
        mc->num_of_monitors = 1;
        mc->monitors[0] = (VDAgentMonConfig){ .width = 640, .height = 480 };
        ck_assert_int_eq(spice_layout_request(&src, mc), 0);
        testsrc_follow_layout(ts, true);
        ck_assert_int_eq(spice_layout_request(&src, NULL), 1);
        ck_assert_int_eq(spice_layout_request(&src, mc), 1);
        mc->monitors[0].width = 0;
        ck_assert_int_eq(spice_layout_request(&src, mc), 1);
        struct display_head h[DISPLAY_MAX_HEADS];
        unsigned n;
        /* Both good ones were asked (the fixed source refused), the bad one not. */
        ck_assert_uint_eq(testsrc_last_layout(ts, h, &n), 2);
        uint32_t w, hh;
        testsrc_size(ts, &w, &hh);
        ck_assert(w == 640 && hh == 480);
        testsrc_free(ts);
}
END_TEST

/* ---- sound ---- */

/* The test signal: a 440 Hz sine on the left (full scale / 4, starting at
 * phase 1 so that no frame of it is silence) and a frame
 * counter (from 1, never 0) on the right; mono is the sine alone. */
static GByteArray *tone(unsigned rate, unsigned channels, unsigned frames)
{
        GByteArray *a = g_byte_array_new();

        for (unsigned i = 0; i < frames; i++) {
                int16_t f[2] = { (int16_t)(8192.0 * sin(2 * G_PI * 440.0 * i / rate + 1.0)), (int16_t)(i + 1) };
                g_byte_array_append(a, (const guint8 *)f, channels * 2u);
        }
        return a;
}

/* Dominant frequency of the left channel (stride bytes per frame) by
 * upward zero crossings. */
static double left_frequency(const uint8_t *pcm, size_t frames, size_t stride, unsigned rate)
{
        unsigned crossings = 0;
        size_t first = 0, last = 0;

        for (size_t i = 1; i < frames; i++) {
                int16_t a, b;
                memcpy(&a, pcm + (i - 1) * stride, 2);
                memcpy(&b, pcm + i * stride, 2);
                if (a < 0 && b >= 0) {
                        if (!crossings)
                                first = i;
                        last = i;
                        crossings++;
                }
        }
        return crossings > 1 ? (double)(crossings - 1) * rate / (double)(last - first) : 0;
}

struct audio_wait {
        struct spice_client *c;
        size_t from, want;      /* want bytes after the silence past from */
        unsigned rate;
};

/* Where the signal starts in what the client got: after from, past the
 * silence pushed before it. */
static size_t signal_start(struct audio_wait *w)
{
        size_t len, start = w->from;
        unsigned rate, ch;
        const uint8_t *got = spice_client_audio(w->c, &len, &rate, &ch);

        while (start + 4 <= len && !memcmp(got + start, "\0\0\0\0", 4))
                start += 4;
        return start;
}

static bool playing(void *data)
{
        struct audio_wait *w = data;
        size_t len;
        unsigned rate, ch;

        spice_client_audio(w->c, &len, &rate, &ch);
        return rate == w->rate;
}

static bool audio_arrived(void *data)
{
        struct audio_wait *w = data;
        size_t len;
        unsigned rate, ch;

        spice_client_audio(w->c, &len, &rate, &ch);
        return rate == w->rate && len >= signal_start(w) + w->want;
}

/* Push signal (in 10 ms pieces, as a guest would) and wait until the
 * client has all of it; returns where it starts in what the client got. */
static size_t play_and_wait(struct testsrc *ts, struct spice_client *c, const struct display_audio_format *fmt,
                            const GByteArray *signal)
{
        size_t piece = fmt->rate / 100 * fmt->channels * 2, len;
        unsigned rate, ch;
        struct audio_wait w = { c, 0, signal->len / fmt->channels * 2, fmt->rate }; /* the client gets stereo */

        spice_client_audio(c, &w.from, &rate, &ch);
        for (size_t off = 0; off < signal->len; off += piece) {
                testsrc_audio_push(ts, fmt, signal->data + off, MIN(piece, signal->len - off));
                spice_client_run(5, NULL, NULL);
        }
        /* Silence after it pushes out spice's last partly filled buffer. */
        GByteArray *quiet = g_byte_array_new();
        g_byte_array_set_size(quiet, (guint)fmt->rate / 5 * fmt->channels * 2);
        memset(quiet->data, 0, quiet->len);
        testsrc_audio_push(ts, fmt, quiet->data, quiet->len);
        g_byte_array_unref(quiet);
        spice_client_run(10000, audio_arrived, &w);
        spice_client_audio(c, &len, &rate, &ch);
        ck_assert_msg(audio_arrived(&w), "client got %zu bytes at %u Hz, want %zu more at %u Hz", len, rate,
                      w.want, fmt->rate);
        ck_assert_uint_eq(ch, 2);
        return signal_start(&w);
}

/* The guest's sound reaches a real spice-client-glib intact (raw PCM in
 * the lossless configuration): 48 kHz stereo sample for sample, then a
 * switch to 44.1 kHz mono, which arrives as stereo at 44.1 kHz. */
START_TEST(test_playback)
{
        struct testsrc *ts = new_source();
        struct server *s = server_start_src(testsrc_audio_source(ts), false);
        struct spice_client_opts o = { .host = "127.0.0.1", .tls_port = s->cfg.tls_port, .password = TICKET,
                                       .ca_file = ca_file, .audio = true };
        const struct display_audio_format st = { 48000, 2 }, mono = { 44100, 1 };
        uint8_t zero[1920] = { 0 };
        struct audio_wait w;
        size_t len, start;
        unsigned rate, ch;
        const uint8_t *got;

        ck_assert_int_eq(server_set_ticket(s, TICKET, 60), 0);
        struct spice_client *c = spice_client_connect(&o);
        ck_assert(spice_client_wait_primary(c, 10000));
        /* Until the playback channel is up, sound is dropped (no client). */
        w = (struct audio_wait){ c, 0, 0, 48000 };
        for (int i = 0; i < 500 && !playing(&w); i++) {
                testsrc_audio_push(ts, &st, zero, sizeof(zero));
                spice_client_run(20, playing, &w);
        }
        ck_assert_msg(playing(&w), "no playback channel (error %d)", spice_client_error(c));

        GByteArray *sig = tone(48000, 2, 24000);
        start = play_and_wait(ts, c, &st, sig);
        got = spice_client_audio(c, &len, &rate, &ch);
        ck_assert_uint_ge(len - start, sig->len);
        ck_assert_msg(memcmp(got + start, sig->data, sig->len) == 0, "48 kHz stereo samples differ");
        double f = left_frequency(got + start, sig->len / 4, 4, 48000);
        ck_assert_msg(f > 440 * 0.98 && f < 440 * 1.02, "dominant frequency %.1f Hz", f);
        g_byte_array_unref(sig);

        sig = tone(44100, 1, 22050);
        size_t before = len;
        start = play_and_wait(ts, c, &mono, sig);
        got = spice_client_audio(c, &len, &rate, &ch);
        ck_assert_uint_ge(start, before);
        ck_assert_uint_ge(len - start, sig->len * 2);
        for (size_t i = 0; i < sig->len / 2; i++)
                ck_assert_msg(!memcmp(got + start + 4 * i, sig->data + 2 * i, 2) &&
                                      !memcmp(got + start + 4 * i + 2, sig->data + 2 * i, 2),
                              "44.1 kHz mono frame %zu differs", i);
        f = left_frequency(got + start, sig->len / 2, 4, 44100);
        ck_assert_msg(f > 440 * 0.98 && f < 440 * 1.02, "dominant frequency %.1f Hz", f);
        g_byte_array_unref(sig);

        spice_client_free(c);
        server_stop(s);
        testsrc_free(ts);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("spice");
        TCase *tc = tcase_create("spice");

        tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_pixels_over_tls);
        tcase_add_test(tc, test_input);
        tcase_add_test(tc, test_wrong_ticket);
        tcase_add_test(tc, test_disconnect);
        tcase_add_test(tc, test_expired_ticket);
        tcase_add_test(tc, test_reused_ticket);
        tcase_add_test(tc, test_reuse_in_grace);
        tcase_add_test(tc, test_plain_refused);
        tcase_add_test(tc, test_config_errors);
        tcase_add_test(tc, test_mode_change);
        tcase_add_test(tc, test_agent_channel);
        tcase_add_test(tc, test_clipboard_one_way);
        tcase_add_test(tc, test_monitors_config);
        tcase_add_test(tc, test_monitors_config_fixed);
        tcase_add_test(tc, test_monitors_config_values);
        tcase_add_test(tc, test_playback);
        suite_add_tcase(s, tc);
        return s;
}

#include "check-main.h"
