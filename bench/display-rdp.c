/* bench/display-rdp: our RDP server (protocols/rdp) streaming a scripted
 * desktop workload on the synthetic framebuffer to a real FreeRDP client
 * (the client library with its software GDI, H.264 decoded by FreeRDP's
 * ffmpeg backend) over TLS + NLA on loopback.
 *
 * Workload, every frame (the same kind as bench/display-spice): typing (a
 * few glyph-sized rects), a scrolling text region, a window dragged across
 * the desktop, a 320x240 video-like region (a drifting colour field with
 * grain, written straight into the framebuffer as a guest would).
 * Reported per mode (graphics pipeline with AVC420, then lossless planar):
 *   - frames/s delivered: graphics-pipeline frames the client finished
 *   - bytes per frame: encoded picture bytes the server sent
 *   - encode ms per frame, p50 and p99 (H.264 through GStreamer, or planar)
 *
 * Reference, in the same run: FreeRDP's own shadow server (libfreerdp-shadow2
 * with its X11 subsystem, started as freerdp-shadow-cli starts it: see
 * bench/display-rdp-shadow.c) on an Xvfb showing the same workload, which
 * this program draws there with XPutImage of exactly the damaged rects,
 * frame by frame. The same client connects to it (TLS; the shadow server
 * has no one-time tickets) asking for the same graphics pipeline with
 * AVC420. Bytes per frame are counted at the client for both (codec
 * payload of the surface commands), so they compare like for like. When
 * Xvfb or the helper is missing: theirs=none.
 *
 *   bench/display-rdp      BENCH_SECONDS=N (default 4), BENCH_FPS=N (default 30)
 */
#include "config.h"

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "display/testsrc.h"
#include "log.h"
#include "protocols/rdp/rdp-server.h"
#include "rdp/client.h"

#define W 1024
#define H 768
#define USER "bench"
#define TEXT_X 40
#define TEXT_Y 60
#define TEXT_W 560
#define TEXT_LINES 10
#define LINE_H 28
#define VIDEO_X 660
#define VIDEO_Y 60
#define VIDEO_W 320
#define VIDEO_H 240
#define WIN_W 300
#define WIN_H 200
#define BACKGROUND 0x00305070u

static int env_int(const char *name, int def)
{
        const char *v = getenv(name);
        int n = v ? atoi(v) : 0;
        return n > 0 ? n : def;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
        fprintf(stderr, "display-rdp: %s\n", what);
        exit(1);
}

/* The source: testsrc, plus a video region written in place whose damage
 * is reported after testsrc's own. */
struct bench_src {
        struct testsrc *ts;
        struct display_source inner;
        gint video_dirty;
};

static int bs_get_surface(void *o, struct display_surface *out)
{
        struct bench_src *b = o;
        return b->inner.ops->get_surface(b->inner.opaque, out);
}

static int bs_collect_damage(void *o, struct display_rect *rects, size_t max)
{
        struct bench_src *b = o;
        int n = b->inner.ops->collect_damage(b->inner.opaque, rects, max - 1);
        if (n >= 0 && g_atomic_int_compare_and_exchange(&b->video_dirty, 1, 0))
                rects[n++] = (struct display_rect){ VIDEO_X, VIDEO_Y, VIDEO_W, VIDEO_H };
        return n;
}

static void bs_key(void *o, uint16_t code, bool pressed) {}
static void bs_pointer(void *o, uint32_t x, uint32_t y, uint32_t buttons) {}
static void bs_wheel(void *o, int32_t delta) {}

static const struct display_source_ops bs_ops = {
        .get_surface = bs_get_surface,
        .collect_damage = bs_collect_damage,
        .input_key = bs_key,
        .input_pointer = bs_pointer,
        .input_wheel = bs_wheel,
};

static void draw_frame(struct bench_src *b, uint32_t k)
{
        struct testsrc *ts = b->ts;
        uint32_t *px = (uint32_t *)(uintptr_t)testsrc_pixels(ts);
        uint32_t seed = k * 2654435761u;

        /* Typing. */
        for (uint32_t i = 0; i < 3; i++) {
                uint32_t col = (k * 3 + i) % 70;
                testsrc_fill(ts, (struct display_rect){ TEXT_X + col * 8,
                                                        TEXT_Y + TEXT_LINES * LINE_H + 8, 7, 14 },
                             (col & 1) ? 0x00e0e0e0u : 0x00c0c0c0u);
        }
        /* Scrolling text: every line moves up by one. */
        for (uint32_t l = 0; l < TEXT_LINES; l++) {
                uint32_t text = (l + k) * 2654435761u;
                testsrc_fill(ts, (struct display_rect){ TEXT_X, TEXT_Y + l * LINE_H, TEXT_W, LINE_H },
                             0x00f0f0f0u);
                testsrc_fill(ts, (struct display_rect){ TEXT_X + 4, TEXT_Y + l * LINE_H + 8,
                                                        120 + text % 400, 12 },
                             0x00202020u);
        }
        /* A window dragged right and down. */
        uint32_t span_x = W - WIN_W, span_y = H - 340 - WIN_H;
        if (k > 0)
                testsrc_fill(ts, (struct display_rect){ ((k - 1) * 8) % span_x,
                                                        340 + ((k - 1) * 3) % span_y, WIN_W, WIN_H },
                             BACKGROUND);
        uint32_t wx = (k * 8) % span_x, wy = 340 + (k * 3) % span_y;
        testsrc_fill(ts, (struct display_rect){ wx, wy, WIN_W, 24 }, 0x002060c0u);
        testsrc_pattern(ts, (struct display_rect){ wx, wy + 24, WIN_W, WIN_H - 24 }, 42);
        /* Video: a drifting field with grain. */
        for (uint32_t y = 0; y < VIDEO_H; y++) {
                for (uint32_t x = 0; x < VIDEO_W; x++) {
                        seed = seed * 1103515245u + 12345u;
                        uint32_t grain = (seed >> 16) & 7;
                        uint32_t r = (x + k * 4 + grain) & 255, g = (y + k * 2 + grain) & 255;
                        uint32_t bl = ((x + y) / 2 + k * 3 + grain) & 255;
                        px[(size_t)(VIDEO_Y + y) * W + VIDEO_X + x] = r << 16 | g << 8 | bl;
                }
        }
        g_atomic_int_set(&b->video_dirty, 1);
}

struct run {
        struct bench_src *bs;
        GMainContext *ctx;
        gint stop;
        uint32_t k;
        bool drawing;
};

static gboolean workload_tick(gpointer data)
{
        struct run *r = data;
        if (r->drawing)
                draw_frame(r->bs, r->k++);
        return G_SOURCE_CONTINUE;
}

static gpointer loop_thread(gpointer data)
{
        struct run *r = data;
        while (!g_atomic_int_get(&r->stop))
                g_main_context_iteration(r->ctx, TRUE);
        return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

struct result {
        double fps, bytes_per_frame, p50_ms, p99_ms;
        unsigned frames_drawn;
        uint64_t frames_sent, throttled;
        double client_bytes_per_frame;
        struct tclient_counts codec;
};

/* Frames the client finished, whichever way they came. */
static unsigned frames_of(const struct tclient_counts *n)
{
        return n->frames_ended + n->surface_frames;
}

static void run_mode(const char *cert, const char *key, bool h264, int seconds, int fps,
                     struct result *out)
{
        struct bench_src bs = { 0 };
        struct run r = { .bs = &bs };
        struct rdp_server_config cfg = { .cert_file = cert, .key_file = key, .fps = (unsigned)fps,
                                         .disable_h264 = !h264 };
        struct rdp_server_stats s0, s1;
        struct tclient_counts c0, c1;
        struct tclient_opts o = { .user = USER, .password = "bench-ticket-7Qm2xZ", .gfx = true,
                                  .h264 = h264, .width = W, .height = H };
        struct rdp_server *srv;
        struct tclient *c;
        GThread *th;
        GSource *tick;
        char *err = NULL;
        static uint32_t us[4096];
        size_t n;
        double t0, t1;

        bs.ts = testsrc_new(W, H);
        bs.inner = testsrc_source(bs.ts);
        testsrc_fill(bs.ts, (struct display_rect){ 0, 0, W, H }, BACKGROUND);
        r.ctx = g_main_context_new();
        if (rdp_server_start(&cfg, (struct display_source){ &bs_ops, &bs }, r.ctx, &srv, &err) < 0)
                die(err ? err : "server start failed");
        if (rdp_server_set_ticket(srv, USER, o.password, 60) < 0)
                die("set_ticket failed");
        tick = g_timeout_source_new(1000 / (unsigned)fps);
        g_source_set_callback(tick, workload_tick, &r, NULL);
        g_source_attach(tick, r.ctx);
        th = g_thread_new("bench-loop", loop_thread, &r);
        o.port = rdp_server_port(srv);
        if (tclient_connect(&o, &c) < 0)
                die("client could not connect");
        g_usleep(500000); /* first full frame and encoder start-up are not the workload */
        rdp_server_take_encode_times(srv, us, G_N_ELEMENTS(us));
        rdp_server_get_stats(srv, &s0);
        tclient_counts(c, &c0);
        t0 = now_s();
        r.drawing = true;
        g_usleep((gulong)seconds * 1000000);
        r.drawing = false;
        g_usleep(300000); /* let the frames in flight land */
        t1 = now_s() - 0.3;
        rdp_server_get_stats(srv, &s1);
        tclient_counts(c, &c1);
        n = rdp_server_take_encode_times(srv, us, G_N_ELEMENTS(us));
        qsort(us, n, sizeof(*us), cmp_u32);

        out->frames_drawn = r.k;
        out->frames_sent = s1.frames - s0.frames;
        out->throttled = s1.throttled - s0.throttled;
        out->fps = (frames_of(&c1) - frames_of(&c0)) / (t1 - t0);
        out->client_bytes_per_frame =
                frames_of(&c1) > frames_of(&c0)
                        ? (double)(c1.picture_bytes - c0.picture_bytes) / (frames_of(&c1) - frames_of(&c0))
                        : 0;
        out->codec = c1;
        out->bytes_per_frame = out->frames_sent ? (double)(s1.bytes - s0.bytes) / out->frames_sent : 0;
        out->p50_ms = n ? us[n / 2] / 1000.0 : 0;
        out->p99_ms = n ? us[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0 : 0;

        tclient_free(c);
        g_atomic_int_set(&r.stop, 1);
        g_main_context_wakeup(r.ctx);
        g_thread_join(th);
        g_source_destroy(tick);
        g_source_unref(tick);
        rdp_server_stop(srv);
        g_main_context_unref(r.ctx);
        testsrc_free(bs.ts);
}

/* ---- the reference: FreeRDP's shadow server on Xvfb ---- */

static uint16_t free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        uint16_t port = 0;
        if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
                port = ntohs(a.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

static bool port_open(uint16_t port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0)
                close(fd);
        return ok;
}

static void stop_child(GPid pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        for (int i = 0; i < 50; i++) {
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return;
                g_usleep(20000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

/* Push the damaged rects of the framebuffer to the X screen. */
static void put_damage(Display *dpy, Window root, GC gc, XImage *img, struct bench_src *bs)
{
        struct display_rect rects[64];
        int n = bs_collect_damage(bs, rects, G_N_ELEMENTS(rects));
        for (int i = 0; i < n; i++)
                XPutImage(dpy, root, gc, img, (int)rects[i].x, (int)rects[i].y, (int)rects[i].x,
                          (int)rects[i].y, rects[i].w, rects[i].h);
        XSync(dpy, False);
}

/* The last lines of a helper's log, on stderr (when the reference failed). */
static void show_log(const char *what, const char *path)
{
        g_autofree char *text = NULL;
        gsize n = 0;

        if (!g_file_get_contents(path, &text, &n, NULL) || n == 0)
                return;
        fprintf(stderr, "--- %s (%s), last 4 KiB ---\n%s\n", what, path,
                n > 4096 ? text + n - 4096 : text);
}

/* 0 and *out, or -1 with *why when the reference cannot run here. */
static int run_shadow(const char *dir, int seconds, int fps, struct result *out, const char **why)
{
        g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
        g_autofree char *bindir = self ? g_path_get_dirname(self) : NULL;
        g_autofree char *helper = bindir ? g_build_filename(bindir, "display-rdp-shadow", NULL) : NULL;
        g_autofree char *xvfb = g_find_program_in_path("Xvfb");
        g_autofree char *disp = NULL, *portarg = NULL, *sock = NULL;
        g_autofree char *xvfb_log = g_build_filename(dir, "xvfb.log", NULL);
        g_autofree char *shadow_log = g_build_filename(dir, "shadow.log", NULL);
        int xvfb_fd = -1, shadow_fd = -1;
        struct bench_src bs = { 0 };
        struct tclient_counts c0, c1;
        struct tclient *c = NULL;
        GPid xpid = 0, spid = 0;
        Display *dpy = NULL;
        XImage *img = NULL;
        uint16_t port;
        int n = 90, rc = -1;
        double t0, t1, next;

        if (!xvfb) {
                *why = "Xvfb not installed";
                return -1;
        }
        if (!helper || access(helper, X_OK) != 0) {
                *why = "bench/display-rdp-shadow not built";
                return -1;
        }
        for (;; n++) {
                g_autofree char *lock = g_strdup_printf("/tmp/.X%d-lock", n);
                if (access(lock, F_OK) != 0)
                        break;
        }
        disp = g_strdup_printf(":%d", n);
        sock = g_strdup_printf("/tmp/.X11-unix/X%d", n);
        {
                char *argv[] = { xvfb, disp, "-screen", "0", "1024x768x24", "-nolisten", "tcp", NULL };
                /* Its output is kept and shown if the reference fails. */
                xvfb_fd = open(xvfb_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (!g_spawn_async_with_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                            &xpid, -1, xvfb_fd, xvfb_fd, NULL)) {
                        *why = "Xvfb failed to start";
                        return -1;
                }
        }
        for (int i = 0; i < 100 && !(dpy = XOpenDisplay(disp)); i++)
                g_usleep(50000);
        if (!dpy) {
                *why = "cannot open the Xvfb display";
                goto out;
        }
        bs.ts = testsrc_new(W, H);
        bs.inner = testsrc_source(bs.ts);
        testsrc_fill(bs.ts, (struct display_rect){ 0, 0, W, H }, BACKGROUND);
        img = XCreateImage(dpy, DefaultVisual(dpy, DefaultScreen(dpy)), 24, ZPixmap, 0,
                           (char *)(uintptr_t)testsrc_pixels(bs.ts), W, H, 32, W * 4);
        if (!img) {
                *why = "XCreateImage failed";
                goto out;
        }
        put_damage(dpy, DefaultRootWindow(dpy), DefaultGC(dpy, DefaultScreen(dpy)), img, &bs);

        port = free_port();
        portarg = g_strdup_printf("/port:%u", port);
        {
                char *argv[] = { helper, portarg, "-auth", "/sec:tls", "/bind-address:127.0.0.1", NULL };
                char **env = g_get_environ();
                env = g_environ_setenv(env, "DISPLAY", disp, TRUE);
                env = g_environ_setenv(env, "HOME", dir, TRUE);
                env = g_environ_setenv(env, "XDG_CONFIG_HOME", dir, TRUE);
                env = g_environ_setenv(env, "WLOG_LEVEL", "ERROR", TRUE);
                env = g_environ_setenv(env, "ASAN_OPTIONS", "detect_leaks=0", TRUE);
                shadow_fd = open(shadow_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                bool ok = g_spawn_async_with_fds(NULL, argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                                 NULL, &spid, -1, shadow_fd, shadow_fd, NULL);
                g_strfreev(env);
                if (!ok) {
                        *why = "the shadow server failed to start";
                        goto out;
                }
        }
        for (int i = 0; i < 200 && !port_open(port); i++)
                g_usleep(50000);
        {
                struct tclient_opts o = { .port = port, .user = USER, .password = "unused",
                                          .security = TCLIENT_TLS, .gfx = true, .h264 = true,
                                          .width = W, .height = H };
                if (tclient_connect(&o, &c) < 0) {
                        *why = "the client could not connect to the shadow server";
                        goto out;
                }
        }
        g_usleep(500000);
        tclient_counts(c, &c0);
        t0 = next = now_s();
        for (uint32_t k = 0; now_s() - t0 < seconds; k++) {
                draw_frame(&bs, k);
                put_damage(dpy, DefaultRootWindow(dpy), DefaultGC(dpy, DefaultScreen(dpy)), img, &bs);
                out->frames_drawn = k + 1;
                next += 1.0 / fps;
                if (next > now_s())
                        g_usleep((gulong)((next - now_s()) * 1e6));
        }
        g_usleep(300000);
        t1 = now_s() - 0.3;
        tclient_counts(c, &c1);
        out->fps = (frames_of(&c1) - frames_of(&c0)) / (t1 - t0);
        out->client_bytes_per_frame =
                frames_of(&c1) > frames_of(&c0)
                        ? (double)(c1.picture_bytes - c0.picture_bytes) / (frames_of(&c1) - frames_of(&c0))
                        : 0;
        out->codec = c1;
        rc = 0;
out:
        tclient_free(c);
        stop_child(spid);
        if (img) {
                img->data = NULL; /* testsrc's pixels */
                XDestroyImage(img);
        }
        if (dpy)
                XCloseDisplay(dpy);
        stop_child(xpid);
        if (bs.ts)
                testsrc_free(bs.ts);
        if (rc < 0) {
                show_log("the shadow server's output", shadow_log);
                show_log("Xvfb's output", xvfb_log);
        }
        if (shadow_fd >= 0)
                close(shadow_fd);
        if (xvfb_fd >= 0)
                close(xvfb_fd);
        return rc;
}

static const char *codec_name(const struct tclient_counts *n)
{
        if (n->avc420)
                return n->planar || n->other ? "AVC420+other" : "AVC420";
        if (n->planar)
                return "planar";
        if (n->other)
                return "other gfx codec";
        return n->surface_frames ? "surface bits" : "bitmap updates";
}

int main(void)
{
        int seconds = env_int("BENCH_SECONDS", 4), fps = env_int("BENCH_FPS", 30);
        g_autofree char *dir = g_dir_make_tmp("vdi-bench-rdp-XXXXXX", NULL);
        g_autofree char *cert = NULL, *key = NULL, *cmd = NULL, *rm = NULL;
        const char *names[2] = { "AVC420 (H.264, GStreamer):", "planar (lossless):" };
        struct result res[2], theirs = { 0 };
        const char *why = NULL;

        if (!dir)
                die("no temporary directory");
        cert = g_build_filename(dir, "cert.pem", NULL);
        key = g_build_filename(dir, "key.pem", NULL);
        cmd = g_strdup_printf("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                              "-keyout '%s' -out '%s' >/dev/null 2>&1", key, cert);
        if (system(cmd) != 0)
                die("cannot make a test certificate (is openssl installed?)");
        signal(SIGPIPE, SIG_IGN);
        log_set_level(LOG_LEVEL_ERROR);
        if (!getenv("WLOG_LEVEL"))
                setenv("WLOG_LEVEL", "ERROR", 0);

        printf("display-rdp: %dx%d, workload %d frames/s for %d s: typing, scrolling text, "
               "moving window, %dx%d video; FreeRDP client library over TLS+NLA on loopback\n",
               W, H, fps, seconds, VIDEO_W, VIDEO_H);
        for (int m = 0; m < 2; m++) {
                run_mode(cert, key, m == 0, seconds, fps, &res[m]);
                printf("ours, %-26s %6.1f frames/s delivered (%" PRIu64 " sent for %u drawn, %" PRIu64
                       " ticks waited for acks), %8.0f bytes/frame at the client, encode p50 %.2f ms "
                       "p99 %.2f ms\n",
                       names[m], res[m].fps, res[m].frames_sent, res[m].frames_drawn,
                       res[m].throttled, res[m].client_bytes_per_frame, res[m].p50_ms, res[m].p99_ms);
        }
        if (run_shadow(dir, seconds, fps, &theirs, &why) == 0)
                printf("theirs, FreeRDP shadow (X11) %6.1f frames/s delivered (%u drawn), %8.0f "
                       "bytes/frame at the client, codec %s\n",
                       theirs.fps, theirs.frames_drawn, theirs.client_bytes_per_frame,
                       codec_name(&theirs.codec));
        rm = g_strdup_printf("rm -rf '%s'", dir);
        if (system(rm) != 0)
                fprintf(stderr, "display-rdp: could not remove %s\n", dir);
        if (why || theirs.fps <= 0) {
                printf("reference: none (%s)\n", why ? why : "no frames from the shadow server");
                printf("RESULT display-rdp ours=%.1ffps theirs=none ratio=none better=higher\n",
                       res[0].fps);
        } else {
                printf("bytes/frame ours/theirs: %.2f\n",
                       theirs.client_bytes_per_frame > 0
                               ? res[0].client_bytes_per_frame / theirs.client_bytes_per_frame
                               : 0);
                printf("RESULT display-rdp ours=%.1ffps theirs=%.1ffps ratio=%.2f better=higher\n",
                       res[0].fps, theirs.fps, res[0].fps / theirs.fps);
        }
        return 0;
}
