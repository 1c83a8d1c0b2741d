/* RDP server against real clients: FreeRDP's client library (software
 * GDI, graphics pipeline with H.264 or planar, or plain bitmap updates)
 * connecting over TLS + NLA with one-time tickets to a server showing the
 * synthetic display source. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <dirent.h>
#include <freerdp/channels/cliprdr.h>
#include <freerdp/input.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/input-event-codes.h>
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-main.h"
#include "display/testsrc.h"
#include "log.h"
#include "protocols/display-server.h"
#include "protocols/rdp/rdp-server.h"
#include "rdp/client.h"
#include "rdp/fake-agent.h"

#define W 320
#define H 240
#define USER "alice"
#define PASS "k3Qv-9xTz_4mWp2LrB7n"

static char *pki_dir; /* certificate and key, made once per run */
static char *cert_path, *key_path;

static struct {
        struct testsrc *src;
        GMainContext *ctx;
        GThread *loop;
        gint stop;
        struct rdp_server *srv;
        char *rundir;
        gint connected, disconnected; /* client_event calls */
} F;

static void on_client_event(void *opaque, const char *protocol, bool connected, const char *peer)
{
        ck_assert_str_eq(protocol, "rdp");
        ck_assert_str_eq(peer, "127.0.0.1");
        g_atomic_int_inc(connected ? &F.connected : &F.disconnected);
}

static void make_pki(void)
{
        g_autofree char *cmd = NULL;
        int status = 0;
        pki_dir = g_dir_make_tmp("rdp-pki-XXXXXX", NULL);
        ck_assert_ptr_nonnull(pki_dir);
        cert_path = g_build_filename(pki_dir, "server.pem", NULL);
        key_path = g_build_filename(pki_dir, "server.key", NULL);
        /* A self-signed RSA certificate for localhost, made at test time. */
        cmd = g_strdup_printf("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                              "-addext subjectAltName=IP:127.0.0.1,DNS:localhost "
                              "-keyout %s -out %s",
                              key_path, cert_path);
        g_autofree char *out = NULL, *err = NULL;
        ck_assert(g_spawn_command_line_sync(cmd, &out, &err, &status, NULL));
        ck_assert_int_eq(status, 0);
}

static void drop_pki(void)
{
        g_unlink(cert_path);
        g_unlink(key_path);
        g_rmdir(pki_dir);
        g_free(cert_path);
        g_free(key_path);
        g_free(pki_dir);
}

static gpointer loop_thread(gpointer unused)
{
        while (!g_atomic_int_get(&F.stop))
                g_main_context_iteration(F.ctx, TRUE);
        return NULL;
}

static void start_server(const struct rdp_server_config *extra)
{
        struct rdp_server_config cfg = extra ? *extra : (struct rdp_server_config){ 0 };
        char *err = NULL;
        cfg.cert_file = cert_path;
        cfg.key_file = key_path;
        cfg.runtime_dir = F.rundir;
        cfg.client_event = on_client_event;
        ck_assert_msg(rdp_server_start(&cfg, testsrc_source(F.src), F.ctx, &F.srv, &err) == 0,
                      "%s", err ? err : "");
}

static void setup(void)
{
        log_set_level(getenv("RDP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
        F.src = testsrc_new(W, H);
        testsrc_fill(F.src, (struct display_rect){ 0, 0, W, H }, 0x203040);
        F.ctx = g_main_context_new();
        F.rundir = g_dir_make_tmp("rdp-run-XXXXXX", NULL);
        F.stop = 0;
        F.connected = F.disconnected = 0;
        F.loop = g_thread_new("loop", loop_thread, NULL);
        F.srv = NULL;
}

static void teardown(void)
{
        g_atomic_int_set(&F.stop, 1);
        g_main_context_wakeup(F.ctx);
        g_thread_join(F.loop);
        rdp_server_stop(F.srv);
        g_main_context_unref(F.ctx);
        testsrc_free(F.src);
        ck_assert_int_eq(g_rmdir(F.rundir), 0); /* the server left nothing behind */
        g_free(F.rundir);
}

static struct tclient_opts opts(bool gfx, bool h264)
{
        return (struct tclient_opts){ .port = rdp_server_port(F.srv), .user = USER, .password = PASS,
                                      .security = TCLIENT_NLA, .gfx = gfx, .h264 = h264,
                                      .width = W, .height = H };
}

/* PSNR (dB) of the client's picture against the source, RGB channels; 0
 * while the client's picture is not the source's size. */
static double psnr(struct tclient *c)
{
        const uint32_t *ref = testsrc_pixels(F.src);
        uint32_t w, h, stride, sw, sh;
        double se = 0;
        const uint8_t *px;

        testsrc_size(F.src, &sw, &sh);
        tclient_lock(c);
        px = tclient_pixels(c, &w, &h, &stride);
        if (!px || w != sw || h != sh) {
                tclient_unlock(c);
                return 0;
        }
        for (uint32_t y = 0; y < sh; y++) {
                for (uint32_t x = 0; x < sw; x++) {
                        const uint8_t *p = px + (size_t)y * stride + x * 4;
                        uint32_t r = ref[y * sw + x];
                        for (int k = 0; k < 3; k++) {
                                double d = (double)p[k] - (double)((r >> (8 * k)) & 0xff);
                                se += d * d;
                        }
                }
        }
        tclient_unlock(c);
        if (se == 0)
                return INFINITY;
        return 10 * log10(255.0 * 255.0 / (se / ((double)sw * sh * 3)));
}

/* Wait until the client's picture reaches min_db (INFINITY: identical). */
static double wait_psnr(struct tclient *c, double min_db, int timeout_ms)
{
        double v = 0;
        for (int t = 0; t < timeout_ms; t += 20) {
                v = psnr(c);
                if (v >= min_db)
                        return v;
                g_usleep(20000);
        }
        {
                struct tclient_counts n;
                tclient_counts(c, &n);
                uint32_t w, h, stride;
                const uint8_t *px;
                fprintf(stderr, "# client got avc420=%u planar=%u other=%u frames=%u bitmaps=%u psnr=%.2f\n",
                        n.avc420, n.planar, n.other, n.frames_ended, n.bitmap_updates, v);
                tclient_lock(c);
                px = tclient_pixels(c, &w, &h, &stride);
                fprintf(stderr, "#  client picture %ux%u\n", px ? w : 0, px ? h : 0);
                for (uint32_t i = 0; px && i < 4; i++) {
                        uint32_t x = i * 97 % w, y = i * 61 % h;
                        fprintf(stderr, "#  (%u,%u) client %08x source %08x\n", x, y,
                                *(const uint32_t *)(px + (size_t)y * stride + x * 4),
                                testsrc_pixel(F.src, x, y));
                }
                tclient_unlock(c);
        }
        return v;
}

static void draw_scene(uint32_t seed)
{
        /* Flat colored panels, like a desktop: what H.264 is judged on. */
        for (uint32_t i = 0; i < 12; i++) {
                uint32_t c = (seed * 2654435761u + i * 40503u) & 0xffffff;
                testsrc_fill(F.src, (struct display_rect){ (i % 4) * 80, (i / 4) * 80, 80, 80 }, c);
        }
        testsrc_fill(F.src, (struct display_rect){ 20 + seed % 50, 30, 100, 20 }, 0xffffff);
}

static struct tclient *connect_ok(struct tclient_opts o)
{
        struct tclient *c = NULL;
        int r = tclient_connect(&o, &c);
        ck_assert_msg(r == 0, "connect failed: %d", r);
        return c;
}

START_TEST(h264_frames_reach_client)
{
        struct tclient_counts n;
        struct rdp_server_stats st;
        struct tclient *c;
        double db;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        draw_scene(1);
        c = connect_ok(opts(true, true));
        db = wait_psnr(c, 30.0, 8000);
        ck_assert_msg(db >= 30.0, "first picture PSNR %.1f dB < 30", db);
        /* A change arrives as damage. */
        draw_scene(2);
        db = wait_psnr(c, 30.0, 5000);
        ck_assert_msg(db >= 30.0, "updated picture PSNR %.1f dB < 30", db);
        tclient_counts(c, &n);
        ck_assert_uint_gt(n.avc420, 0);
        ck_assert_uint_eq(n.planar, 0);
        rdp_server_get_stats(F.srv, &st);
        ck_assert_uint_gt(st.h264_frames, 0);
        fprintf(stderr, "# h264: psnr=%.1f dB avc420=%u frames=%" G_GUINT64_FORMAT
                        " bytes=%" G_GUINT64_FORMAT "\n",
                db, n.avc420, st.frames, st.bytes);
        tclient_free(c);
}
END_TEST

START_TEST(gfx_planar_is_exact)
{
        struct tclient_counts n;
        struct tclient *c;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        testsrc_pattern(F.src, (struct display_rect){ 0, 0, W, H }, 7);
        c = connect_ok(opts(true, false));
        ck_assert(isinf(wait_psnr(c, INFINITY, 8000)));
        testsrc_pattern(F.src, (struct display_rect){ 33, 17, 101, 77 }, 8);
        ck_assert(isinf(wait_psnr(c, INFINITY, 5000)));
        tclient_counts(c, &n);
        ck_assert_uint_gt(n.planar, 0);
        ck_assert_uint_eq(n.avc420, 0);
        tclient_free(c);
}
END_TEST

START_TEST(bitmap_updates_are_exact)
{
        struct tclient_counts n;
        struct tclient *c;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        testsrc_pattern(F.src, (struct display_rect){ 0, 0, W, H }, 9);
        c = connect_ok(opts(false, false));
        ck_assert(isinf(wait_psnr(c, INFINITY, 8000)));
        testsrc_pattern(F.src, (struct display_rect){ 250, 200, 70, 40 }, 10);
        ck_assert(isinf(wait_psnr(c, INFINITY, 5000)));
        tclient_counts(c, &n);
        ck_assert_uint_gt(n.bitmap_updates, 0);
        ck_assert_uint_eq(n.avc420 + n.planar, 0);
        tclient_free(c);
}
END_TEST

static size_t wait_events(struct testsrc_event *ev, size_t want, size_t max)
{
        size_t n = 0;
        for (int t = 0; t < 5000 && n < want; t += 20) {
                n += testsrc_take_events(F.src, ev + n, max - n);
                if (n < want)
                        g_usleep(20000);
        }
        return n;
}

/* The guest changes mode while a client watches (a boot going from the
 * console to Xorg, or a resize): each kind of client follows to the new
 * size, larger and then smaller, with the right picture, and stays on. */
static void follow_mode_changes(bool gfx, bool h264)
{
        static const uint32_t modes[][2] = { { 400, 300 }, { 256, 192 } };
        double min_db = h264 ? 30.0 : INFINITY;
        struct tclient *c;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        if (h264)
                draw_scene(3); /* flat panels: noise is not what H.264 is judged on */
        else
                testsrc_pattern(F.src, (struct display_rect){ 0, 0, W, H }, 3);
        c = connect_ok(opts(gfx, h264));
        ck_assert(wait_psnr(c, min_db, 8000) >= min_db);
        for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
                testsrc_resize(F.src, modes[i][0], modes[i][1]);
                if (h264)
                        draw_scene((uint32_t)i + 5);
                else
                        testsrc_pattern(F.src, (struct display_rect){ 0, 0, modes[i][0], modes[i][1] },
                                        (uint32_t)i + 5);
                double db = wait_psnr(c, min_db, 8000);
                ck_assert_msg(db >= min_db, "mode %ux%u: PSNR %.1f dB", modes[i][0], modes[i][1], db);
                ck_assert_msg(tclient_connected(c), "the client was dropped at mode %ux%u", modes[i][0],
                              modes[i][1]);
        }
        ck_assert_int_eq(g_atomic_int_get(&F.disconnected), 0);
        tclient_free(c);
}

START_TEST(mode_change_h264)
{
        follow_mode_changes(true, true);
}
END_TEST

START_TEST(mode_change_gfx_planar)
{
        follow_mode_changes(true, false);
}
END_TEST

START_TEST(mode_change_bitmaps)
{
        follow_mode_changes(false, false);
}
END_TEST

/* xfreerdp /dynamic-resolution: the client's window size becomes a layout
 * request through the display control channel, the guest (here testsrc)
 * takes the new mode, and the picture follows; several monitors arrive
 * whole, primary first. (FreeRDP's client rounds and clamps what it sends:
 * bad layouts are checked below, on display_layout_check itself.) */
static unsigned wait_layouts(unsigned above, int timeout_ms)
{
        unsigned n = 0;
        for (int t = 0; t < timeout_ms; t += 10) {
                n = testsrc_last_layout(F.src, NULL, NULL);
                if (n > above)
                        break;
                g_usleep(10000);
        }
        return n;
}

START_TEST(display_control_follows_client)
{
        struct tclient_opts o;
        struct display_head got[DISPLAY_MAX_HEADS];
        unsigned n = 0;
        struct tclient *c;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        testsrc_follow_layout(F.src, true);
        testsrc_pattern(F.src, (struct display_rect){ 0, 0, W, H }, 11);
        o = opts(true, false);
        o.display_control = true;
        c = connect_ok(o);
        ck_assert(isinf(wait_psnr(c, INFINITY, 8000)));
        ck_assert_msg(tclient_display_control_ready(c, 8000), "no display control capabilities from the server");

        /* The window becomes 640x480: the source is asked, takes the mode,
         * and the client shows the new picture exactly. */
        ck_assert_int_eq(tclient_send_layout(c, &(struct tclient_monitor){ 0, 0, 640, 480 }, 1), 0);
        ck_assert_uint_eq(wait_layouts(0, 5000), 1);
        testsrc_pattern(F.src, (struct display_rect){ 0, 0, 640, 480 }, 12);
        ck_assert_msg(isinf(wait_psnr(c, INFINITY, 8000)), "the client did not follow to 640x480");

        /* Two monitors of different sizes, the primary on the right. */
        struct tclient_monitor two[] = { { 1024, 0, 800, 600 }, { 0, 0, 1024, 768 } };
        ck_assert_int_eq(tclient_send_layout(c, two, 2), 0);
        ck_assert_uint_eq(wait_layouts(1, 5000), 2);
        testsrc_last_layout(F.src, got, &n);
        ck_assert_uint_eq(n, 2);
        ck_assert(got[0].x == 1024 && got[0].width == 800 && got[0].height == 600);
        ck_assert(got[1].x == 0 && got[1].width == 1024 && got[1].height == 768);
        testsrc_pattern(F.src, (struct display_rect){ 0, 0, 800, 600 }, 13);
        ck_assert_msg(isinf(wait_psnr(c, INFINITY, 8000)), "the client did not follow to 800x600");

        ck_assert(tclient_connected(c));
        tclient_free(c);
}
END_TEST

/* The guest's hardware cursor (virtio-gpu's cursor queue, here testsrc's)
 * reaches the client as pointer updates: shape, alpha and hotspot exactly,
 * hidden when the guest hides it, and each new shape. */
static void make_cursor(struct display_cursor *c, uint32_t w, uint32_t h, uint32_t hx, uint32_t hy, uint64_t serial)
{
        memset(c, 0, sizeof(*c));
        *c = (struct display_cursor){ .visible = true, .width = w, .height = h, .hot_x = hx, .hot_y = hy,
                                      .serial = serial };
        for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++) {
                        /* opaque, transparent and (premultiplied) half-transparent pixels */
                        uint32_t a = (x + y) % 3 == 0 ? 0xff : (x + y) % 3 == 1 ? 0 : 0x80;
                        uint32_t r = (x * 10) % (a + 1), g = (y * 8) % (a + 1), b = (0x55 + serial) % (a + 1);
                        c->pixels[y * DISPLAY_CURSOR_MAX + x] = a << 24 | r << 16 | g << 8 | b;
                }
}

static bool wait_pointer(struct tclient *c, unsigned updates, struct tclient_pointer *out)
{
        for (int t = 0; t < 8000; t += 20) {
                tclient_pointer(c, out);
                if (out->updates >= updates)
                        return true;
                g_usleep(20000);
        }
        return false;
}

static void assert_same_pointer(const struct tclient_pointer *got, const struct display_cursor *want)
{
        ck_assert(!got->hidden);
        ck_assert_uint_eq(got->width, want->width);
        ck_assert_uint_eq(got->height, want->height);
        ck_assert_uint_eq(got->hot_x, want->hot_x);
        ck_assert_uint_eq(got->hot_y, want->hot_y);
        for (uint32_t y = 0; y < want->height; y++)
                for (uint32_t x = 0; x < want->width; x++)
                        ck_assert_msg(got->pixels[y * TCLIENT_POINTER_MAX + x] == want->pixels[y * DISPLAY_CURSOR_MAX + x],
                                      "pointer pixel (%u,%u): client %08x, guest %08x", x, y,
                                      got->pixels[y * TCLIENT_POINTER_MAX + x], want->pixels[y * DISPLAY_CURSOR_MAX + x]);
}

START_TEST(hardware_cursor_reaches_client)
{
        g_autofree struct display_cursor *cur = g_new0(struct display_cursor, 1);
        g_autofree struct tclient_pointer *got = g_new0(struct tclient_pointer, 1);
        struct tclient *c;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        make_cursor(cur, 24, 32, 5, 7, 1);
        testsrc_set_cursor(F.src, cur);
        c = connect_ok(opts(true, false));
        ck_assert_msg(wait_pointer(c, 1, got), "no pointer update");
        assert_same_pointer(got, cur);

        cur->visible = false;
        cur->serial = 2;
        testsrc_set_cursor(F.src, cur);
        ck_assert_msg(wait_pointer(c, 2, got), "no pointer update for the hidden cursor");
        ck_assert(got->hidden);

        make_cursor(cur, 64, 64, 63, 0, 3);
        testsrc_set_cursor(F.src, cur);
        ck_assert_msg(wait_pointer(c, 3, got), "no pointer update for the new shape");
        assert_same_pointer(got, cur);
        ck_assert_uint_eq(got->updates, 3); /* nothing sent while the cursor stayed */
        ck_assert(tclient_connected(c));
        tclient_free(c);
}
END_TEST

/* What every protocol refuses before a layout reaches the VM. */
START_TEST(layout_check_refuses_bad_layouts)
{
        struct display_head four[4] = { { 0, 0, 1920, 1080 }, { 1920, 0, 1280, 1024 }, { -800, 0, 800, 600 },
                                        { 0, 1080, 200, 200 } };
        static const struct {
                struct display_head h;
                unsigned n;
        } bad[] = {
                { { 0, 0, 640, 480 }, 0 },   { { 0, 0, 641, 480 }, 1 },   { { 0, 0, 198, 480 }, 1 },
                { { 0, 0, 8194, 480 }, 1 },  { { 0, 0, 640, 199 }, 1 },   { { 0, 0, 640, 8193 }, 1 },
                { { 0, 0, 0, 0 }, 1 },       { { 0, 0, 640, 480 }, 5 },   { { 1 << 30, 0, 640, 480 }, 1 },
                { { 0, -(1 << 30), 640, 480 }, 1 },
        };
        char why[160];

        ck_assert_int_eq(display_layout_check(four, 4, why, sizeof(why)), 0);
        ck_assert_int_eq(display_layout_check(four, 1, why, sizeof(why)), 0);
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                struct display_head h[5] = { bad[i].h, bad[i].h, bad[i].h, bad[i].h, bad[i].h };
                why[0] = 0;
                ck_assert_msg(display_layout_check(h, bad[i].n, why, sizeof(why)) == -EINVAL, "case %zu passed", i);
                ck_assert_msg(why[0], "case %zu: no reason given", i);
        }
        /* display_request_layout: checked first, then the source's answer
         * (none here: a source that cannot change its layout). */
        static const struct display_source_ops fixed = { 0 };
        struct display_source src = { .ops = &fixed };
        ck_assert_int_eq(display_request_layout(&src, four, 2, why, sizeof(why)), -ENOTSUP);
        ck_assert_str_eq(why, "");
        ck_assert_int_eq(display_request_layout(&src, four, 5, why, sizeof(why)), -EINVAL);
        ck_assert_msg(why[0], "no reason for 5 heads");
}
END_TEST

START_TEST(input_reaches_source)
{
        static const struct {
                uint16_t flags, code, evdev;
        } keys[] = {
                { 0, 0x1e, KEY_A },
                { KBD_FLAGS_EXTENDED, 0x48, KEY_UP },
                { KBD_FLAGS_EXTENDED, 0x4b, KEY_LEFT },
                { KBD_FLAGS_EXTENDED, 0x1d, KEY_RIGHTCTRL },
                { 0, 0x1d, KEY_LEFTCTRL },
                { KBD_FLAGS_EXTENDED, 0x1c, KEY_KPENTER },
                { 0, 0x1c, KEY_ENTER },
        };
        struct testsrc_event ev[64];
        struct tclient *c;
        size_t n;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        c = connect_ok(opts(true, false));
        /* testsrc_take_events memcpy()s from a NULL array before the first
         * event ever arrived (UBSan: null argument): make one arrive first,
         * then drop it along with anything from the handshake. */
        ck_assert(tclient_mouse(c, PTR_FLAGS_MOVE, 1, 1));
        g_usleep(200000);
        testsrc_take_events(F.src, ev, G_N_ELEMENTS(ev));
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
                ck_assert(tclient_key(c, KBD_FLAGS_DOWN | keys[i].flags, keys[i].code));
                ck_assert(tclient_key(c, KBD_FLAGS_RELEASE | keys[i].flags, keys[i].code));
        }
        n = wait_events(ev, 2 * G_N_ELEMENTS(keys), G_N_ELEMENTS(ev));
        ck_assert_uint_eq(n, 2 * G_N_ELEMENTS(keys));
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
                ck_assert_int_eq(ev[2 * i].type, TESTSRC_KEY);
                ck_assert_uint_eq(ev[2 * i].code, keys[i].evdev);
                ck_assert(ev[2 * i].pressed);
                ck_assert_uint_eq(ev[2 * i + 1].code, keys[i].evdev);
                ck_assert(!ev[2 * i + 1].pressed);
        }

        ck_assert(tclient_mouse(c, PTR_FLAGS_MOVE, W - 1, H - 1));
        ck_assert(tclient_mouse(c, PTR_FLAGS_DOWN | PTR_FLAGS_BUTTON1, W / 2, 0));
        ck_assert(tclient_mouse(c, PTR_FLAGS_DOWN | PTR_FLAGS_BUTTON2, W / 2, 0));
        ck_assert(tclient_mouse(c, PTR_FLAGS_BUTTON1, W / 2, 0));
        ck_assert(tclient_mouse(c, PTR_FLAGS_WHEEL | 0x0078, 0, 0));
        ck_assert(tclient_mouse(c, PTR_FLAGS_WHEEL | PTR_FLAGS_WHEEL_NEGATIVE | 0x0088, 0, 0));
        n = wait_events(ev, 6, G_N_ELEMENTS(ev));
        ck_assert_uint_eq(n, 6);
        ck_assert_int_eq(ev[0].type, TESTSRC_POINTER);
        ck_assert_uint_eq(ev[0].x, DISPLAY_POINTER_MAX);
        ck_assert_uint_eq(ev[0].y, DISPLAY_POINTER_MAX);
        ck_assert_uint_eq(ev[0].buttons, 0);
        ck_assert_uint_eq(ev[1].x, (W / 2 * DISPLAY_POINTER_MAX + (W - 1) / 2) / (W - 1));
        ck_assert_uint_eq(ev[1].y, 0);
        ck_assert_uint_eq(ev[1].buttons, DISPLAY_BUTTON_LEFT);
        ck_assert_uint_eq(ev[2].buttons, DISPLAY_BUTTON_LEFT | DISPLAY_BUTTON_RIGHT);
        ck_assert_uint_eq(ev[3].buttons, DISPLAY_BUTTON_RIGHT);
        ck_assert_int_eq(ev[4].type, TESTSRC_WHEEL);
        ck_assert_int_eq(ev[4].delta, 1);
        ck_assert_int_eq(ev[5].delta, -1);
        tclient_free(c);
}
END_TEST

/* The private SAM file: where, which mode, what it holds. */
static char *sam_contents(void)
{
        GDir *d = g_dir_open(F.rundir, 0, NULL);
        const char *name = d ? g_dir_read_name(d) : NULL;
        char *text = NULL;
        if (name) {
                g_autofree char *dir = g_build_filename(F.rundir, name, NULL);
                g_autofree char *sam = g_build_filename(dir, "sam", NULL);
                struct stat st;
                ck_assert_int_eq(stat(dir, &st), 0);
                ck_assert_int_eq(st.st_mode & 0777, 0700);
                if (stat(sam, &st) == 0) {
                        ck_assert_int_eq(st.st_mode & 0777, 0600);
                        ck_assert(g_file_get_contents(sam, &text, NULL, NULL));
                }
        }
        if (d)
                g_dir_close(d);
        return text ? text : g_strdup("");
}

START_TEST(ticket_works_once)
{
        struct tclient_opts o;
        struct tclient *c = NULL;
        struct rdp_server_stats st;
        g_autofree char *before = NULL, *after = NULL;

        start_server(NULL);
        /* The private directory is made at the first ticket, not before. */
        GDir *none = g_dir_open(F.rundir, 0, NULL);
        ck_assert_ptr_null(g_dir_read_name(none));
        g_dir_close(none);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        before = sam_contents();
        /* NT hash of the password, never the password itself. */
        ck_assert_msg(g_str_has_prefix(before, USER ":::") && strlen(before) == strlen(USER) + 3 + 32 + 4,
                      "%s", before);
        ck_assert_ptr_null(strstr(before, PASS));
        c = connect_ok(opts(true, false));
        after = sam_contents();
        ck_assert_ptr_null(strstr(after, USER)); /* removed after the first logon */
        /* The session was reported once when it came up, once when it ended. */
        for (int i = 0; i < 100 && !g_atomic_int_get(&F.connected); i++)
                g_usleep(50000);
        ck_assert_int_eq(g_atomic_int_get(&F.connected), 1);
        tclient_free(c);
        c = NULL;
        for (int i = 0; i < 100 && !g_atomic_int_get(&F.disconnected); i++)
                g_usleep(50000);
        ck_assert_int_eq(g_atomic_int_get(&F.disconnected), 1);
        o = opts(true, false);
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
        rdp_server_get_stats(F.srv, &st);
        ck_assert_uint_eq(st.logons, 1);
}
END_TEST

/* An admin's "disconnect user": the connected client's session ends (and
 * is reported ended), the server keeps listening, a ticket not yet used
 * is void, and a new one admits the user again. */
START_TEST(disconnect_drops_client_and_tickets)
{
        struct tclient_opts o;
        struct tclient *c = NULL;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        c = connect_ok(opts(true, false));
        for (int i = 0; i < 100 && !g_atomic_int_get(&F.connected); i++)
                g_usleep(50000);
        ck_assert_int_eq(g_atomic_int_get(&F.connected), 1);
        ck_assert_uint_eq(rdp_server_disconnect(F.srv), 1);
        for (int i = 0; i < 200 && tclient_connected(c); i++)
                g_usleep(50000);
        ck_assert_msg(!tclient_connected(c), "the client is still connected");
        for (int i = 0; i < 100 && !g_atomic_int_get(&F.disconnected); i++)
                g_usleep(50000);
        ck_assert_int_eq(g_atomic_int_get(&F.disconnected), 1);
        tclient_free(c);
        c = NULL;

        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        ck_assert_uint_eq(rdp_server_disconnect(F.srv), 0);
        o = opts(true, false);
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        c = connect_ok(opts(true, false));
        tclient_free(c);
}
END_TEST

START_TEST(wrong_password_refused)
{
        struct tclient_opts o;
        struct tclient *c = NULL;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        o = opts(true, false);
        o.password = "not-the-ticket";
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
        o.password = PASS;
        o.user = "mallory"; /* right password, other user */
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
        /* The failed attempts did not use the ticket up. */
        c = connect_ok(opts(false, false));
        tclient_free(c);
}
END_TEST

START_TEST(expired_ticket_refused)
{
        struct tclient_opts o;
        struct tclient *c = NULL;
        g_autofree char *sam = NULL;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 1), 0);
        g_usleep(1300000);
        sam = sam_contents();
        ck_assert_ptr_null(strstr(sam, USER)); /* removed at expiry */
        o = opts(true, false);
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 0), -EINVAL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, "a:b", PASS, 10), -EINVAL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, "", 10), -EINVAL);
}
END_TEST

START_TEST(weak_security_refused)
{
        struct tclient_opts o;
        struct tclient *c = NULL;

        start_server(NULL);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        o = opts(false, false);
        o.security = TCLIENT_RDP; /* /sec:rdp */
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
        o.security = TCLIENT_TLS; /* TLS without NLA: not configured */
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
        /* Still serving, ticket intact. */
        c = connect_ok(opts(false, false));
        tclient_free(c);
}
END_TEST

START_TEST(tls_only_when_configured)
{
        struct rdp_server_config cfg = { .allow_tls_only = true };
        struct tclient_opts o;
        struct tclient *c = NULL;

        start_server(&cfg);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        o = opts(false, false);
        o.security = TCLIENT_TLS;
        o.password = "wrong";
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
        o.password = PASS;
        testsrc_pattern(F.src, (struct display_rect){ 0, 0, W, H }, 3);
        c = connect_ok(o);
        ck_assert(isinf(wait_psnr(c, INFINITY, 8000)));
        tclient_free(c);
        c = NULL;
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES); /* once */
        o.security = TCLIENT_RDP;
        ck_assert_int_eq(tclient_connect(&o, &c), -EACCES);
}
END_TEST

static gboolean animate(gpointer data)
{
        static uint32_t seed;
        testsrc_pattern(F.src, (struct display_rect){ 0, 0, W, H }, ++seed);
        return G_SOURCE_CONTINUE;
}

/* A client that takes 250 ms per frame: with at most 2 frames in flight
 * the server waits for acknowledgements instead of queueing 60 frames/s. */
START_TEST(frame_acks_throttle)
{
        struct rdp_server_config cfg = { .fps = 60, .max_frames_in_flight = 2 };
        struct rdp_server_stats s0, s1;
        struct tclient_opts o;
        struct tclient *c;
        GSource *anim;

        start_server(&cfg);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        o = opts(true, false);
        o.end_frame_delay_ms = 250;
        c = connect_ok(o);
        anim = g_timeout_source_new(16);
        g_source_set_callback(anim, animate, NULL, NULL);
        g_source_attach(anim, F.ctx);
        g_usleep(200000);
        rdp_server_get_stats(F.srv, &s0);
        g_usleep(1000000);
        rdp_server_get_stats(F.srv, &s1);
        g_source_destroy(anim);
        g_source_unref(anim);
        /* 1 s at 4 frames/s acknowledged, plus the window: about 6, not 60. */
        ck_assert_uint_le(s1.frames - s0.frames, 10);
        ck_assert_uint_ge(s1.frames - s0.frames, 2);
        ck_assert_uint_gt(s1.throttled - s0.throttled, 10);
        tclient_free(c);
}
END_TEST

START_TEST(display_server_table)
{
        struct display_server_config dc = { .cert_file = cert_path, .key_file = key_path };
        struct display_server *ds = NULL;
        struct tclient_opts o;
        struct tclient *c;
        char *err = NULL;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);

        /* No TLS port: refused with a message. */
        ck_assert_int_eq(rdp_display_server_ops.start(&dc, testsrc_source(F.src), F.ctx, &ds, &err),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "tls_port"));
        g_free(err);
        err = NULL;
        /* A clipboard policy that is none of the four. */
        dc.clipboard = "sideways";
        ck_assert_int_eq(rdp_display_server_ops.start(&dc, testsrc_source(F.src), F.ctx, &ds, &err),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "clipboard \"sideways\""));
        g_free(err);
        err = NULL;
        dc.clipboard = "client-to-guest";
        /* A free port, then the server through the table. */
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        dc.tls_port = ntohs(a.sin_port);
        dc.lossless = true;
        ck_assert_msg(rdp_display_server_ops.start(&dc, testsrc_source(F.src), F.ctx, &ds, &err) == 0,
                      "%s", err ? err : "");
        ck_assert_str_eq(ds->ops->name, "rdp");
        ck_assert_int_eq(ds->ops->set_ticket(ds, USER, PASS, 60), 0);
        testsrc_pattern(F.src, (struct display_rect){ 0, 0, W, H }, 11);
        o = (struct tclient_opts){ .port = dc.tls_port, .user = USER,
                                   .password = PASS, .gfx = true, .h264 = true, .width = W,
                                   .height = H };
        ck_assert_int_eq(tclient_connect(&o, &c), 0);
        ck_assert(isinf(wait_psnr(c, INFINITY, 8000))); /* lossless: planar, not H.264 */
        tclient_free(c);
        g_atomic_int_set(&F.stop, 1);
        g_main_context_wakeup(F.ctx);
        g_thread_join(F.loop);
        ds->ops->stop(ds); /* with the context idle, as display-server.h asks */
        g_atomic_int_set(&F.stop, 0);
        F.loop = g_thread_new("loop", loop_thread, NULL); /* teardown joins it again */
}
END_TEST


START_TEST(vanished_client_cleaned_up)
{
        struct rdp_server_stats st;
        struct tclient *c;
        GSource *anim;

        start_server(NULL);
        anim = g_timeout_source_new(15);
        g_source_set_callback(anim, animate, NULL, NULL);
        g_source_attach(anim, F.ctx);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        c = connect_ok(opts(true, true));
        for (int t = 0; t < 5000; t += 20) {
                rdp_server_get_stats(F.srv, &st);
                if (st.frames >= 3)
                        break;
                g_usleep(20000);
        }
        ck_assert_uint_ge(st.frames, 3);
        tclient_vanish(c); /* mid-stream: frames are flowing */
        for (int t = 0; t < 5000; t += 20) {
                rdp_server_get_stats(F.srv, &st);
                if (st.peers == 0)
                        break;
                g_usleep(20000);
        }
        ck_assert_uint_eq(st.peers, 0);
        tclient_free(c);
        g_source_destroy(anim);
        g_source_unref(anim);
        /* The server keeps serving. */
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        c = connect_ok(opts(true, false));
        ck_assert(tclient_connected(c));
        tclient_free(c);
}
END_TEST

/* ---- clipboard: the RDP client and a guest agent (tests/rdp/fake-agent.c) ---- */

#define GUEST_TEXT "Ticket #4711 – Grüße aus dem Gast ✓ 日本語 𝄞"
#define CLIENT_TEXT "vom Client: żółw, ½, 🐢"

static struct fake_agent agent; /* outlives the server's pending calls */

static struct tclient *clip_setup(enum agent_clip_policy policy, const char *guest_text)
{
        struct rdp_server_config cfg = { .clipboard = policy };
        struct tclient_opts o;
        struct tclient *c;

        start_server(&cfg);
        ck_assert_int_eq(rdp_server_set_ticket(F.srv, USER, PASS, 60), 0);
        fake_agent_init(&agent, F.ctx, guest_text);
        ck_assert_int_eq(fake_agent_attach(&agent, F.srv), 0);
        o = opts(false, false);
        o.clipboard = true;
        c = connect_ok(o);
        ck_assert_msg(tclient_clip_ready(c, 10000), "the server never sent Monitor Ready");
        return c;
}

static void clip_teardown(struct tclient *c)
{
        tclient_free(c);
        fake_agent_detach(&agent);
        fake_agent_fini(&agent);
}

static bool guest_gets(const char *want, unsigned texts_above, int timeout_ms)
{
        for (int t = 0; t <= timeout_ms; t += 20) {
                unsigned n;
                g_autofree char *got = fake_agent_received(&agent, &n, NULL);
                if (n > texts_above && got && strcmp(got, want) == 0)
                        return true;
                g_usleep(20000);
        }
        return false;
}

START_TEST(clipboard_both_ways)
{
        struct tclient *c = clip_setup(AGENT_CLIP_BOTH, GUEST_TEXT);
        unsigned n, announces;

        /* The guest's text (non-ASCII, beyond the BMP) reaches the client
         * as CF_UNICODETEXT, and a newer copy replaces it. */
        ck_assert_msg(tclient_clip_wait_text(c, GUEST_TEXT, 10000), "the guest's text never reached the client");
        fake_agent_copy(&agent, "zweite Kopie – ü");
        ck_assert(tclient_clip_wait_text(c, "zweite Kopie – ü", 10000));
        /* The client's text reaches the guest when it pastes. */
        ck_assert_int_eq(tclient_clip_set(c, CLIENT_TEXT), 0);
        ck_assert_msg(guest_gets(CLIENT_TEXT, 0, 10000), "the client's text never reached the guest");
        g_free(fake_agent_received(&agent, &n, &announces));
        ck_assert_uint_eq(announces, 1);
        clip_teardown(c);
}
END_TEST

START_TEST(clipboard_none_passes_nothing)
{
        struct tclient *c = clip_setup(AGENT_CLIP_NONE, GUEST_TEXT);
        struct tclient_clip_counts k;
        unsigned n;
        g_autofree char *got = NULL, *in_guest = NULL;

        ck_assert_int_eq(tclient_clip_set(c, CLIENT_TEXT), 0);
        fake_agent_copy(&agent, "noch eine Kopie");
        /* Nothing to wait for: give both ways the time they take when
         * allowed (well under a second here), several times over. */
        g_usleep(3 * G_USEC_PER_SEC);
        got = tclient_clip_text(c, &k);
        in_guest = fake_agent_received(&agent, &n, NULL);
        ck_assert_ptr_null(got);
        ck_assert_uint_eq(k.texts, 0);
        ck_assert_uint_eq(k.server_requests, 0); /* the server never asked for the client's text */
        ck_assert_uint_eq(n, 0);
        clip_teardown(c);
}
END_TEST

START_TEST(clipboard_one_way)
{
        struct tclient *c = clip_setup(AGENT_CLIP_GUEST_TO_CLIENT, GUEST_TEXT);
        struct tclient_clip_counts k;
        unsigned n;

        ck_assert(tclient_clip_wait_text(c, GUEST_TEXT, 10000));
        ck_assert_int_eq(tclient_clip_set(c, CLIENT_TEXT), 0);
        g_usleep(2 * G_USEC_PER_SEC);
        g_free(tclient_clip_text(c, &k));
        g_free(fake_agent_received(&agent, &n, NULL));
        ck_assert_uint_eq(k.server_requests, 0);
        ck_assert_uint_eq(n, 0);
        clip_teardown(c);
}
END_TEST

/* Hostile clipboard PDUs and guest bytes: refused, the session goes on
 * and the clipboard still works after them. */
START_TEST(clipboard_hostile)
{
        struct tclient *c = clip_setup(AGENT_CLIP_BOTH, GUEST_TEXT);
        static const uint8_t odd[] = { 'a', 0, 'b' };
        static const uint8_t garbage[] = { 9, 9, 9, 9, 0xff, 0xff, 0xff, 0xff };
        char *huge = g_malloc(1200001);
        struct tclient_clip_counts k;
        unsigned n;

        ck_assert(tclient_clip_wait_text(c, GUEST_TEXT, 10000));
        /* Data nobody asked for, a format we never offered, a list of
         * only unknown formats. */
        ck_assert_int_eq(tclient_clip_send_raw(c, CB_FORMAT_DATA_RESPONSE, 0, odd, sizeof(odd)), 0);
        ck_assert_int_eq(tclient_clip_send_raw(c, CB_FORMAT_DATA_REQUEST, 0xC0DE, NULL, 0), 0);
        ck_assert_int_eq(tclient_clip_send_raw(c, CB_FORMAT_LIST, 0xC0DE, NULL, 0), 0);
        /* Text over the limit (2.4 MB of UTF-16): the guest gets nothing. */
        memset(huge, 'x', 1200000);
        huge[1200000] = '\0';
        ck_assert_int_eq(tclient_clip_set(c, huge), 0);
        g_free(huge);
        for (int t = 0; t < 10000 && (g_free(tclient_clip_text(c, &k)), k.server_requests == 0); t += 20)
                g_usleep(20000);
        ck_assert_uint_eq(k.server_requests, 1); /* and the huge answer went out */
        /* A guest that breaks the framing: the server announces itself again. */
        fake_agent_send_raw(&agent, garbage, sizeof(garbage));
        /* Still works both ways. */
        ck_assert_int_eq(tclient_clip_set(c, CLIENT_TEXT), 0);
        ck_assert_msg(guest_gets(CLIENT_TEXT, 0, 15000), "the clipboard stopped working");
        g_free(fake_agent_received(&agent, &n, NULL));
        ck_assert_uint_eq(n, 1); /* the huge text never went in */
        fake_agent_copy(&agent, "danach");
        ck_assert(tclient_clip_wait_text(c, "danach", 10000));
        ck_assert(tclient_connected(c));
        clip_teardown(c);
}
END_TEST

/* RDP_TEST=name runs one test (debugging); RDP_DEBUG=1 logs at debug level. */
#define ADD(tc, fn)                                                                \
        do {                                                                       \
                const char *only = getenv("RDP_TEST");                             \
                if (!only || strcmp(only, #fn) == 0)                               \
                        tcase_add_test(tc, fn);                                    \
        } while (0)

static Suite *make_suite(void)
{
        Suite *s = suite_create("rdp");
        TCase *tc = tcase_create("server");
        tcase_add_unchecked_fixture(tc, make_pki, drop_pki);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        ADD(tc, h264_frames_reach_client);
        ADD(tc, gfx_planar_is_exact);
        ADD(tc, bitmap_updates_are_exact);
        ADD(tc, mode_change_h264);
        ADD(tc, mode_change_gfx_planar);
        ADD(tc, mode_change_bitmaps);
        ADD(tc, display_control_follows_client);
        ADD(tc, hardware_cursor_reaches_client);
        ADD(tc, layout_check_refuses_bad_layouts);
        ADD(tc, input_reaches_source);
        ADD(tc, ticket_works_once);
        ADD(tc, disconnect_drops_client_and_tickets);
        ADD(tc, wrong_password_refused);
        ADD(tc, expired_ticket_refused);
        ADD(tc, weak_security_refused);
        ADD(tc, tls_only_when_configured);
        ADD(tc, vanished_client_cleaned_up);
        ADD(tc, frame_acks_throttle);
        ADD(tc, display_server_table);
        ADD(tc, clipboard_both_ways);
        ADD(tc, clipboard_none_passes_nothing);
        ADD(tc, clipboard_one_way);
        ADD(tc, clipboard_hostile);
        suite_add_tcase(s, tc);
        return s;
}
