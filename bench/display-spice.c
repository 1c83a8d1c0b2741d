/* bench/display-spice: our SPICE server (protocols/spice) streaming a
 * scripted desktop workload on the synthetic framebuffer to a real
 * spice-client-glib client over TLS on loopback.
 *
 * Workload, every frame: typing (a few glyph-sized rects), a scrolling text
 * region, a window dragged across the desktop, a video-like region (a moving
 * colour field with grain, written straight into the framebuffer as a guest
 * would, its damage reported next to testsrc's), and a frame-number marker
 * the client reads back from its copy of the screen. Reported per mode (video streaming on with the default
 * codecs, then lossless without streaming):
 *   - frames/s delivered: distinct marker values the client displayed
 *   - bytes per frame: SPICE protocol bytes the client read (after TLS)
 *   - server CPU per frame: the server process's CPU (main loop + spice
 *     worker and encoder threads), minus the time spent drawing the workload
 *
 * The server runs in a child process so its CPU is measured apart from the
 * client's decoding. No reference is run: QEMU's `-vga std -spice` needs a
 * booted guest (the lab), so theirs=none for now.
 *
 *   bench/display-spice      BENCH_SECONDS=N (default 4), BENCH_FPS=N (default 30)
 */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <glib-unix.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "display/testsrc.h"
#include "protocols/spice/spice-display.h"
#include "spice/client.h"

#define W 1024
#define H 768
#define TICKET "bench-ticket-3f9a1c"

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

static double thread_cpu_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
        fprintf(stderr, "display-spice: %s\n", what);
        exit(1);
}

/* ---- the workload (server process) ---- */

#define MARKER 16
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

static uint32_t marker_color(uint32_t k)
{
        /* Spread the frame number over the channels, never the background. */
        return 0x00800000u | (k & 0x7fffu);
}

static void draw_desktop(struct testsrc *ts)
{
        testsrc_fill(ts, (struct display_rect){ 0, 0, W, H }, BACKGROUND);
}

static void draw_frame(struct testsrc *ts, uint32_t k)
{
        /* Typing: three glyph cells along a line below the text region. */
        for (uint32_t i = 0; i < 3; i++) {
                uint32_t col = (k * 3 + i) % 70;
                testsrc_fill(ts, (struct display_rect){ TEXT_X + col * 8, TEXT_Y + TEXT_LINES * LINE_H + 8, 7, 14 },
                             (col & 1) ? 0x00e0e0e0u : 0x00c0c0c0u);
        }
        /* Scrolling text: each line shows what the one below showed. */
        for (uint32_t l = 0; l < TEXT_LINES; l++) {
                uint32_t text = (l + k) * 2654435761u;
                testsrc_fill(ts, (struct display_rect){ TEXT_X, TEXT_Y + l * LINE_H, TEXT_W, LINE_H },
                             0x00f0f0f0u);
                testsrc_fill(ts, (struct display_rect){ TEXT_X + 4, TEXT_Y + l * LINE_H + 8,
                                                        120 + text % 400, 12 },
                             0x00202020u);
        }
        /* A window dragged right and down, leaving the desktop behind. */
        uint32_t span_x = W - WIN_W, span_y = H - 340 - WIN_H;
        uint32_t wx = (k * 8) % span_x, wy = 340 + (k * 3) % span_y;
        if (k > 0) {
                uint32_t px = ((k - 1) * 8) % span_x, py = 340 + ((k - 1) * 3) % span_y;
                testsrc_fill(ts, (struct display_rect){ px, py, WIN_W, WIN_H }, BACKGROUND);
        }
        testsrc_fill(ts, (struct display_rect){ wx, wy, WIN_W, 24 }, 0x002060c0u);
        testsrc_pattern(ts, (struct display_rect){ wx, wy + 24, WIN_W, WIN_H - 24 }, 42);
        testsrc_fill(ts, (struct display_rect){ 0, 0, MARKER, MARKER }, marker_color(k));
}

/* The video region is written into the framebuffer directly, like a guest
 * would; this source reports its damage after testsrc's own. */
struct bench_src {
        struct testsrc *ts;
        struct display_source inner;
        bool video_dirty;
};

static int bs_get_surface(void *opaque, struct display_surface *out)
{
        struct bench_src *b = opaque;
        return b->inner.ops->get_surface(b->inner.opaque, out);
}

static int bs_collect_damage(void *opaque, struct display_rect *rects, size_t max)
{
        struct bench_src *b = opaque;
        int n = b->inner.ops->collect_damage(b->inner.opaque, rects, max - 1);

        if (n >= 0 && b->video_dirty) {
                rects[n++] = (struct display_rect){ VIDEO_X, VIDEO_Y, VIDEO_W, VIDEO_H };
                b->video_dirty = false;
        }
        return n;
}

static void bs_key(void *o, uint16_t code, bool pressed) {}
static void bs_pointer(void *o, uint32_t x, uint32_t y, uint32_t buttons) {}
static void bs_wheel(void *o, int32_t delta) {}

static const struct display_source_ops bench_src_ops = {
        .get_surface = bs_get_surface,
        .collect_damage = bs_collect_damage,
        .input_key = bs_key,
        .input_pointer = bs_pointer,
        .input_wheel = bs_wheel,
};

/* A smooth field drifting every frame, with a little grain: what a video
 * looks like to spice's stream detection (gradual, changing each frame). */
static void draw_video(struct bench_src *b, uint32_t k)
{
        /* The framebuffer is ours to write, as guest memory is the guest's. */
        uint32_t *px = (uint32_t *)(uintptr_t)testsrc_pixels(b->ts);
        uint32_t seed = k * 2654435761u;

        for (uint32_t y = 0; y < VIDEO_H; y++) {
                for (uint32_t x = 0; x < VIDEO_W; x++) {
                        seed = seed * 1103515245u + 12345u;
                        uint32_t grain = (seed >> 16) & 7;
                        uint32_t r = (x + k * 4 + grain) & 255, g = (y + k * 2 + grain) & 255;
                        uint32_t bl = ((x + y) / 2 + k * 3 + grain) & 255;
                        px[(size_t)(VIDEO_Y + y) * W + VIDEO_X + x] = r << 16 | g << 8 | bl;
                }
        }
        b->video_dirty = true;
}

struct server_run {
        struct bench_src *bs;
        struct testsrc *ts;
        GMainLoop *loop;
        uint32_t k, frames;
        double draw_cpu;
};

static gboolean workload_tick(gpointer data)
{
        struct server_run *r = data;
        double t0 = thread_cpu_s();

        draw_video(r->bs, r->k);
        draw_frame(r->ts, r->k++);
        r->draw_cpu += thread_cpu_s() - t0;
        if (r->k >= r->frames) {
                g_main_loop_quit(r->loop);
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

static gboolean quit_loop(gpointer loop)
{
        g_main_loop_quit(loop);
        return G_SOURCE_REMOVE;
}

/* Wait on fd for a line while running the loop (the server must keep
 * serving the client meanwhile). */
static gboolean on_line(gint fd, GIOCondition cond, gpointer loop)
{
        g_main_loop_quit(loop);
        return G_SOURCE_REMOVE;
}

static void run_until_readable(GMainLoop *loop, int fd)
{
        GSource *s = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP);
        g_source_set_callback(s, G_SOURCE_FUNC(on_line), loop, NULL);
        g_source_attach(s, NULL);
        g_main_loop_run(loop);
        g_source_destroy(s);
        g_source_unref(s);
}

static int read_line(int fd, char *buf, size_t size)
{
        size_t n = 0;
        while (n + 1 < size) {
                ssize_t r = read(fd, buf + n, 1);
                if (r <= 0)
                        return -1;
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = 0;
        return 0;
}

static void server_child(int to_parent, int from_parent, const char *certdir, bool streaming,
                         int seconds, int fps)
{
        g_autofree char *cert = g_build_filename(certdir, "server.pem", NULL);
        g_autofree char *key = g_build_filename(certdir, "server.key", NULL);
        g_autofree char *ca = g_build_filename(certdir, "ca.pem", NULL);
        struct testsrc *ts = testsrc_new(W, H);
        struct bench_src bs = { .ts = ts, .inner = testsrc_source(ts) };
        struct display_source source = { .ops = &bench_src_ops, .opaque = &bs };
        GMainLoop *loop = g_main_loop_new(NULL, FALSE);
        struct display_server *ds = NULL;
        char *err = NULL, line[256];
        int rc = -1;
        uint16_t port = 0;

        draw_desktop(ts);
        for (int attempt = 0; attempt < 10 && rc != 0; attempt++) {
                struct display_server_config cfg = {
                        .tls_port = port = (uint16_t)(20000 + g_random_int_range(0, 40000)),
                        .cert_file = cert, .key_file = key, .ca_file = ca,
                        .video_codecs = streaming ? NULL : "",
                        .lossless = !streaming,
                        .fps = (unsigned)fps,
                };
                g_clear_pointer(&err, g_free);
                rc = spice_display_server_ops.start(&cfg, source, g_main_context_default(),
                                                    &ds, &err);
                if (rc != 0 && rc != -EADDRINUSE)
                        break;
        }
        if (rc != 0) {
                dprintf(to_parent, "error %s\n", err ? err : "start failed");
                _exit(1);
        }
        spice_display_server_ops.set_ticket(ds, "bench", TICKET, 120);
        dprintf(to_parent, "port %u\n", port);

        /* Serve the client's connection until it says go. */
        run_until_readable(loop, from_parent);
        if (read_line(from_parent, line, sizeof(line)) < 0)
                _exit(1);

        struct server_run r = { .bs = &bs, .ts = ts, .loop = loop, .frames = (uint32_t)(seconds * fps) };
        struct spice_display_stats s0, s1;
        spice_display_get_stats(ds, &s0);
        double cpu0 = process_cpu_s();
        GSource *tick = g_timeout_source_new(1000 / (guint)fps);
        g_source_set_callback(tick, workload_tick, &r, NULL);
        g_source_attach(tick, NULL);
        g_main_loop_run(loop);
        g_source_unref(tick);
        /* Let the last frames drain (counted: they are the workload's). */
        g_timeout_add(500, quit_loop, loop);
        g_main_loop_run(loop);
        double cpu = process_cpu_s() - cpu0;
        spice_display_get_stats(ds, &s1);
        dprintf(to_parent, "done %u %.6f %.6f %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", r.frames, cpu,
                r.draw_cpu, s1.drawables - s0.drawables, s1.bytes - s0.bytes,
                s1.coalesced - s0.coalesced);

        /* Keep serving until the parent has read everything it wanted. */
        run_until_readable(loop, from_parent);
        spice_display_server_ops.stop(ds);
        testsrc_free(ts);
        _exit(0);
}

/* ---- the client (parent process) ---- */

struct watch {
        struct spice_client *c;
        uint32_t last, seen, target;
        double last_t;
};

static bool watch_marker(void *data)
{
        struct watch *w = data;
        SpiceDisplayPrimary p;
        uint32_t v;

        if (!spice_client_primary(w->c, &p))
                return false;
        memcpy(&v, p.data + (size_t)(MARKER / 2) * (size_t)p.stride + (MARKER / 2) * 4, 4);
        v = GUINT32_FROM_LE(v) & 0xffffffu;
        if ((v & 0x00ff8000u) == 0x00800000u && v != w->last) {
                w->last = v;
                w->seen++;
                w->last_t = now_s();
        }
        return w->target && w->last == marker_color(w->target - 1);
}

struct result {
        double fps, bytes_per_frame, cpu_ms_per_frame;
        uint32_t frames, seen;
        uint64_t drawables, coalesced;
};

static int run_mode(const char *certdir, bool streaming, int seconds, int fps, struct result *out)
{
        int up[2], down[2];
        char line[512];
        unsigned port;

        if (pipe(up) < 0 || pipe(down) < 0)
                die("pipe");
        pid_t pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                close(up[0]);
                close(down[1]);
                server_child(up[1], down[0], certdir, streaming, seconds, fps);
        }
        close(up[1]);
        close(down[0]);
        if (read_line(up[0], line, sizeof(line)) < 0 || sscanf(line, "port %u", &port) != 1) {
                fprintf(stderr, "display-spice: server: %s\n", line);
                return -1;
        }

        g_autofree char *ca = g_build_filename(certdir, "ca.pem", NULL);
        struct spice_client_opts o = { .host = "127.0.0.1", .tls_port = port, .password = TICKET,
                                       .ca_file = ca };
        struct spice_client *c = spice_client_connect(&o);
        if (!spice_client_wait_primary(c, 15000))
                die("the client got no display");
        spice_client_run(500, NULL, NULL); /* initial full screen */

        struct watch w = { .c = c };
        uint64_t bytes0 = spice_client_bytes_read(c);
        double t0 = now_s();
        if (write(down[1], "go\n", 3) != 3)
                die("pipe write");
        /* Follow the marker until the server reports the end. */
        for (;;) {
                spice_client_run(10, watch_marker, &w);
                struct timeval tv = { 0, 0 };
                fd_set fds;
                FD_ZERO(&fds);
                FD_SET(up[0], &fds);
                if (select(up[0] + 1, &fds, NULL, NULL, &tv) > 0)
                        break;
        }
        if (read_line(up[0], line, sizeof(line)) < 0)
                die("server died");
        double cpu, draw_cpu;
        uint64_t drawables, sbytes, coalesced;
        if (sscanf(line, "done %u %lf %lf %" SCNu64 " %" SCNu64 " %" SCNu64, &out->frames, &cpu,
                   &draw_cpu, &drawables, &sbytes, &coalesced) != 6)
                die("bad report from the server");
        /* The last frame may still be on its way. */
        w.target = out->frames;
        spice_client_run(3000, watch_marker, &w);
        double elapsed = (w.last_t > t0 ? w.last_t : now_s()) - t0;
        uint64_t bytes = spice_client_bytes_read(c) - bytes0;

        out->seen = w.seen;
        out->fps = elapsed > 0 ? w.seen / elapsed : 0;
        out->bytes_per_frame = out->frames ? (double)bytes / out->frames : 0;
        out->cpu_ms_per_frame = out->frames ? (cpu - draw_cpu) * 1000.0 / out->frames : 0;
        out->drawables = drawables;
        out->coalesced = coalesced;

        spice_client_free(c);
        if (write(down[1], "quit\n", 5) != 5)
                die("pipe write");
        close(down[1]);
        close(up[0]);
        int status;
        waitpid(pid, &status, 0);
        return 0;
}

int main(void)
{
        int seconds = env_int("BENCH_SECONDS", 4), fps = env_int("BENCH_FPS", 30);
        g_autofree char *certdir = g_dir_make_tmp("vdi-bench-spice-XXXXXX", NULL);
        g_autofree char *script = g_build_filename(HARNESS_DIR, "make-pki", NULL);
        g_autofree char *cmd = g_strdup_printf("/bin/sh '%s' '%s'", script, certdir);
        struct result r[2];
        const char *names[2] = { "streaming (default codecs)", "lossless (no streaming)" };

        if (!certdir || system(cmd) != 0)
                die("cannot make test certificates (is openssl installed?)");
        signal(SIGPIPE, SIG_IGN);

        printf("display-spice: %dx%d, workload %d frames/s for %d s: typing, scrolling text, "
               "moving window, %dx%d video\n", W, H, fps, seconds, VIDEO_W, VIDEO_H);
        for (int m = 0; m < 2; m++) {
                if (run_mode(certdir, m == 0, seconds, fps, &r[m]) < 0)
                        die("run failed");
                printf("%-28s %6.1f frames/s delivered (%u of %u frames shown), %8.0f bytes/frame, "
                       "server CPU %.2f ms/frame, %" PRIu64 " drawables, %" PRIu64 " coalesced ticks\n",
                       names[m], r[m].fps, r[m].seen, r[m].frames, r[m].bytes_per_frame,
                       r[m].cpu_ms_per_frame, r[m].drawables, r[m].coalesced);
        }

        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", certdir);
        if (system(rm) != 0)
                fprintf(stderr, "display-spice: could not remove %s\n", certdir);
        printf("reference: none yet (QEMU -vga std -spice needs a booted guest: run it in the lab)\n");
        printf("RESULT display-spice ours=%.1ffps theirs=none ratio=none better=higher\n", r[0].fps);
        return 0;
}
