/* bench/browser: the desktop in the browser against the native RDP client,
 * on the same desktop and the same scripted workload (issue 21).
 *
 * The desktop is the synthetic framebuffer (1024x768) with a window
 * dragged across it at 30 frames/s, and a key echo: every key press draws
 * the next cell of a text line in a colour of its own, as a desktop's
 * editor echoes a typed letter. BENCH_KEYS (default 40) keys are typed,
 * one every 150 ms, while the window moves. Measured per client:
 *   - keys to pixels: from sending the key until the client's picture shows
 *     its cell (p50, p95, max);
 *   - bytes/s: picture bytes of the whole run (H.264 access units or PNG
 *     tiles counted by the web display server; codec payload of the
 *     surface commands counted by the RDP client).
 * Clients: headless Chromium on the portal's desktop page (WebCodecs H.264,
 * then the PNG tile fallback, forced by the page's test switch), straight
 * to the web display server over TLS; FreeRDP's client library (what
 * xfreerdp runs, software GDI, AVC420 in the graphics pipeline) to the RDP
 * server. Chromium's key goes through DevTools and its picture is read
 * back with getImageData (two DevTools round trips, well under a
 * millisecond each on loopback, are in its figure); the RDP client's
 * picture is read in memory.
 *
 *   bench/browser      BENCH_KEYS=N
 *
 * RESULT lines: latency (ours = browser H.264, theirs = FreeRDP) and bytes/s
 * (the same), then the browser's H.264 against its own tile fallback. */
#include "config.h"

#include <check.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "display/testsrc.h"
#include "log.h"
#include "protocols/rdp/rdp-server.h"
#include "protocols/web/web-server.h"
#include "rdp/client.h"
#include "broker/cdp.h"

#define W 1024
#define H 768
#define BG 0x00305070u
#define CELL_X 40
#define CELL_Y 60
#define CELL_W 24
#define CELL_H 32
#define CELLS 30 /* not a multiple of the palette's 7: a reused cell changes colour */
#define WIN_W 300
#define WIN_H 200
#define FPS 30
#define KEY_GAP_MS 150
#define KEY_TIMEOUT_S 5.0
#define TICKET "bench-ticket-4Rk9pQ2w"

static const uint32_t palette[7] = { 0x00ff2020, 0x0020e020, 0x002040ff, 0x00ffff20,
                                     0x00ff20ff, 0x0020ffff, 0x00ff9000 };

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
        fprintf(stderr, "browser: %s\n", what);
        exit(1);
}

/* The desktop: testsrc, a moving window, and the key echo. Everything
 * runs on the server's thread (its GMainContext). */
struct desk {
        struct testsrc *ts;
        struct display_source inner;
        unsigned keys; /* presses echoed */
        uint32_t frame;
        GMainContext *ctx;
        gint stop;
};

static int d_get_surface(void *o, struct display_surface *out)
{
        struct desk *d = o;
        return d->inner.ops->get_surface(d->inner.opaque, out);
}

static int d_collect_damage(void *o, struct display_rect *rects, size_t max)
{
        struct desk *d = o;
        return d->inner.ops->collect_damage(d->inner.opaque, rects, max);
}

static void d_key(void *o, uint16_t code, bool pressed)
{
        struct desk *d = o;

        if (!pressed)
                return;
        testsrc_fill(d->ts, (struct display_rect){ CELL_X + (d->keys % CELLS) * CELL_W + 2, CELL_Y,
                                                   CELL_W - 4, CELL_H },
                     palette[d->keys % 7]);
        d->keys++;
}

static void d_pointer(void *o, uint32_t x, uint32_t y, uint32_t buttons) {}
static void d_wheel(void *o, int32_t delta) {}

static const struct display_source_ops d_ops = {
        .get_surface = d_get_surface,
        .collect_damage = d_collect_damage,
        .input_key = d_key,
        .input_pointer = d_pointer,
        .input_wheel = d_wheel,
};

static gboolean d_tick(gpointer data)
{
        struct desk *d = data;
        uint32_t k = d->frame++, span_x = W - WIN_W, span_y = H - 140 - WIN_H;

        if (k > 0)
                testsrc_fill(d->ts, (struct display_rect){ ((k - 1) * 8) % span_x, 140 + ((k - 1) * 3) % span_y,
                                                           WIN_W, WIN_H },
                             BG);
        uint32_t wx = (k * 8) % span_x, wy = 140 + (k * 3) % span_y;
        testsrc_fill(d->ts, (struct display_rect){ wx, wy, WIN_W, 24 }, 0x002060c0u);
        testsrc_pattern(d->ts, (struct display_rect){ wx, wy + 24, WIN_W, WIN_H - 24 }, 42);
        return G_SOURCE_CONTINUE;
}

static gpointer d_thread(gpointer data)
{
        struct desk *d = data;

        g_main_context_push_thread_default(d->ctx); /* soup's async work runs there */
        while (!g_atomic_int_get(&d->stop))
                g_main_context_iteration(d->ctx, TRUE);
        g_main_context_pop_thread_default(d->ctx);
        return NULL;
}

/* The desktop, ticking on its own context; desk_run once the server is
 * attached to it. */
static void desk_init(struct desk *d)
{
        *d = (struct desk){ .ts = testsrc_new(W, H), .ctx = g_main_context_new() };
        d->inner = testsrc_source(d->ts);
        testsrc_fill(d->ts, (struct display_rect){ 0, 0, W, H }, BG);
        GSource *tick = g_timeout_source_new(1000 / FPS);
        g_source_set_callback(tick, d_tick, d, NULL);
        g_source_attach(tick, d->ctx);
        g_source_unref(tick);
}

static GThread *desk_run(struct desk *d)
{
        return g_thread_new("desk", d_thread, d);
}

static void desk_stop(struct desk *d, GThread *th)
{
        g_atomic_int_set(&d->stop, 1);
        g_main_context_wakeup(d->ctx);
        g_thread_join(th);
}

static void desk_free(struct desk *d)
{
        g_main_context_unref(d->ctx);
        testsrc_free(d->ts);
}

struct result {
        double ms[512];
        unsigned n, lost;
        double bytes_per_s;
};

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double pct(struct result *r, double p)
{
        if (!r->n)
                return 0;
        qsort(r->ms, r->n, sizeof(r->ms[0]), cmp_double);
        return r->ms[(size_t)(p * (r->n - 1) + 0.5)];
}

static void cell_of(unsigned i, unsigned *x, unsigned *y, uint32_t *color)
{
        *x = CELL_X + (i % CELLS) * CELL_W + CELL_W / 2;
        *y = CELL_Y + CELL_H / 2;
        *color = palette[i % 7];
}

/* ---- headless Chromium on desktop.html ---- */

static void run_browser(const char *chromium, const char *cert, const char *key, bool tiles, unsigned keys,
                        struct result *out)
{
        struct web_server_config cfg = { .cert_file = cert, .key_file = key, .static_dir = PORTAL_SRC_DIR,
                                         .fps = FPS };
        struct web_server_stats s0, s1;
        struct web_server *srv;
        struct desk d;
        struct cdp c = { 0 };
        GThread *th;
        char *err = NULL;

        desk_init(&d);
        if (web_server_start(&cfg, (struct display_source){ &d_ops, &d }, d.ctx, &srv, &err) < 0)
                die(err ? err : "web server start failed");
        th = desk_run(&d);
        if (web_server_set_ticket(srv, "bench", TICKET, 60) < 0)
                die("web ticket");
        g_autofree char *page = g_strdup_printf("https://127.0.0.1:%u/desktop.html", web_server_port(srv));
        g_autofree char *launch = g_strdup_printf("sessionStorage.setItem('vdi-web-launch', JSON.stringify("
                                                  "{path: '/ws', ticket: '%s', tiles: %s})); true",
                                                  TICKET, tiles ? "true" : "false");
        cdp_start(&c, chromium);
        json_decref(cdp_call(&c, "Emulation.setDeviceMetricsOverride",
                             json_pack("{s:i, s:i, s:f, s:b}", "width", W + 40, "height", H + 120,
                                       "deviceScaleFactor", 1.0, "mobile", 0)));
        json_decref(cdp_call(&c, "Page.navigate", json_pack("{s:s}", "url", page)));
        cdp_wait_for(&c, "document.body.dataset.state === 'closed'");
        json_decref(cdp_eval(&c, launch));
        json_decref(cdp_call(&c, "Page.navigate", json_pack("{s:s}", "url", page)));
        cdp_wait_for_ms(&c, "document.body.dataset.state === 'connected' && "
                            "Number(document.body.dataset.frames || 0) >= 1", 30000);
        g_autofree char *enc = cdp_eval_str(&c, "document.body.dataset.encoding");
        if (strcmp(enc, tiles ? "png" : "h264"))
                die("the page did not use the encoding asked for");
        json_decref(cdp_eval(&c, "document.getElementById('screen').focus(); true"));
        g_usleep(1000 * 1000); /* the first full picture is not the workload */

        web_server_get_stats(srv, &s0);
        double t0 = now_s();
        for (unsigned i = 0; i < keys; i++) {
                unsigned x, y;
                uint32_t col;
                cell_of(i, &x, &y, &col);
                g_autofree char *js = g_strdup_printf(
                        "new Promise((res) => { const g = document.getElementById('screen').getContext('2d');"
                        " const end = performance.now() + %d; const f = () => {"
                        " const p = g.getImageData(%u, %u, 1, 1).data;"
                        " if (Math.abs(p[0] - %u) <= 24 && Math.abs(p[1] - %u) <= 24 && Math.abs(p[2] - %u) <= 24)"
                        " res(true); else if (performance.now() > end) res(false); else setTimeout(f, 0); }; f(); })",
                        (int)(KEY_TIMEOUT_S * 1000), x, y, col >> 16 & 0xff, col >> 8 & 0xff, col & 0xff);
                double k0 = now_s();
                json_decref(cdp_call(&c, "Input.dispatchKeyEvent",
                                     json_pack("{s:s, s:s, s:s}", "type", "keyDown", "code", "KeyA", "key", "a")));
                json_t *ok = cdp_eval(&c, js);
                double k1 = now_s();
                if (json_is_true(ok) && out->n < G_N_ELEMENTS(out->ms))
                        out->ms[out->n++] = (k1 - k0) * 1000;
                else
                        out->lost++;
                json_decref(ok);
                json_decref(cdp_call(&c, "Input.dispatchKeyEvent",
                                     json_pack("{s:s, s:s, s:s}", "type", "keyUp", "code", "KeyA", "key", "a")));
                g_usleep(KEY_GAP_MS * 1000);
        }
        web_server_get_stats(srv, &s1);
        out->bytes_per_s = (double)(s1.bytes - s0.bytes) / (now_s() - t0);
        cdp_stop(&c);
        desk_stop(&d, th);
        web_server_stop(srv);
        desk_free(&d);
}

/* ---- FreeRDP's client library ---- */

static bool rdp_shows(struct tclient *c, unsigned x, unsigned y, uint32_t col)
{
        uint32_t w, h, stride;
        bool hit = false;

        tclient_lock(c);
        const uint8_t *px = tclient_pixels(c, &w, &h, &stride);
        if (px && x < w && y < h) {
                const uint8_t *p = px + (size_t)y * stride + 4 * (size_t)x; /* BGRX */
                hit = abs(p[2] - (int)(col >> 16 & 0xff)) <= 24 && abs(p[1] - (int)(col >> 8 & 0xff)) <= 24 &&
                      abs(p[0] - (int)(col & 0xff)) <= 24;
        }
        tclient_unlock(c);
        return hit;
}

static void run_rdp(const char *cert, const char *key, unsigned keys, struct result *out)
{
        struct rdp_server_config cfg = { .cert_file = cert, .key_file = key, .fps = FPS };
        struct tclient_opts o = { .host = "127.0.0.1", .user = "bench", .password = TICKET, .gfx = true,
                                  .h264 = true, .width = W, .height = H };
        struct tclient_counts c0, c1;
        struct rdp_server *srv;
        struct tclient *c;
        struct desk d;
        GThread *th;
        char *err = NULL;

        desk_init(&d);
        if (rdp_server_start(&cfg, (struct display_source){ &d_ops, &d }, d.ctx, &srv, &err) < 0)
                die(err ? err : "RDP server start failed");
        th = desk_run(&d);
        if (rdp_server_set_ticket(srv, "bench", TICKET, 60) < 0)
                die("RDP ticket");
        o.port = rdp_server_port(srv);
        if (tclient_connect(&o, &c) < 0)
                die("the RDP client could not connect");
        g_usleep(1000 * 1000);

        tclient_counts(c, &c0);
        double t0 = now_s();
        for (unsigned i = 0; i < keys; i++) {
                unsigned x, y;
                uint32_t col;
                bool hit = false;
                cell_of(i, &x, &y, &col);
                double k0 = now_s(), k1;
                tclient_key(c, 0x4000 /* KBD_FLAGS_DOWN */, 0x1e /* A */);
                while (!(hit = rdp_shows(c, x, y, col)) && now_s() - k0 < KEY_TIMEOUT_S)
                        g_usleep(200);
                k1 = now_s();
                if (hit && out->n < G_N_ELEMENTS(out->ms))
                        out->ms[out->n++] = (k1 - k0) * 1000;
                else
                        out->lost++;
                tclient_key(c, 0x8000 /* KBD_FLAGS_RELEASE */, 0x1e);
                g_usleep(KEY_GAP_MS * 1000);
        }
        tclient_counts(c, &c1);
        out->bytes_per_s = (double)(c1.picture_bytes - c0.picture_bytes) / (now_s() - t0);
        tclient_free(c);
        desk_stop(&d, th);
        rdp_server_stop(srv);
        desk_free(&d);
}

static void report(const char *name, struct result *r)
{
        printf("%-34s keys-to-pixels p50 %6.1f ms  p95 %6.1f ms  max %6.1f ms  (%u keys, %u lost)  %8.0f KB/s\n",
               name, pct(r, 0.5), pct(r, 0.95), pct(r, 1.0), r->n, r->lost, r->bytes_per_s / 1000);
}

/* The DevTools helper (tests/broker/cdp.c) reports through Check's
 * assertions, which only work inside a running Check test: the whole
 * benchmark is one, run in this process (CK_NOFORK). */
START_TEST(bench)
{
        const char *env = getenv("BENCH_KEYS");
        unsigned keys = env && atoi(env) > 0 ? (unsigned)atoi(env) : 40;
        const char *chromium = cdp_find_chromium();
        g_autofree char *dir = g_dir_make_tmp("vdi-bench-browser-XXXXXX", NULL);
        g_autofree char *cmd = NULL, *rm = NULL, *cert = NULL, *key = NULL;
        static struct result web, tiles, rdp;

        if (keys > G_N_ELEMENTS(web.ms))
                keys = G_N_ELEMENTS(web.ms);
        log_set_level(LOG_LEVEL_WARNING);
        if (!dir)
                die("no temporary directory");
        cmd = g_strdup_printf("%s/tests/harness/make-pki %s >/dev/null", ABS_TOP_SRCDIR, dir);
        if (system(cmd) != 0)
                die("tests/harness/make-pki failed");
        cert = g_build_filename(dir, "server.pem", NULL);
        key = g_build_filename(dir, "server.key", NULL);
        printf("browser: %u keys, one every %d ms, over a window dragged across a %dx%d desktop at %d fps\n", keys,
               KEY_GAP_MS, W, H, FPS);
        if (!chromium)
                die("no chromium (scripts/install-deps)");
        run_browser(chromium, cert, key, false, keys, &web);
        report("browser, H.264 (WebCodecs):", &web);
        run_browser(chromium, cert, key, true, keys, &tiles);
        report("browser, PNG tiles:", &tiles);
        run_rdp(cert, key, keys, &rdp);
        report("FreeRDP client, AVC420:", &rdp);
        rm = g_strdup_printf("rm -rf '%s'", dir);
        if (system(rm) != 0)
                fprintf(stderr, "browser: cannot remove %s\n", dir);
        if (!web.n || !rdp.n || !tiles.n)
                die("a client saw none of its keys");
        printf("RESULT browser-latency ours=%.1fms theirs=%.1fms ratio=%.2f better=lower\n", pct(&web, 0.5),
               pct(&rdp, 0.5), pct(&web, 0.5) / pct(&rdp, 0.5));
        printf("RESULT browser-tiles-bytes ours=%.0fB/s theirs=%.0fB/s ratio=%.2f better=lower\n", web.bytes_per_s,
               tiles.bytes_per_s, web.bytes_per_s / tiles.bytes_per_s);
        printf("RESULT browser-bytes ours=%.0fB/s theirs=%.0fB/s ratio=%.2f better=lower\n", web.bytes_per_s,
               rdp.bytes_per_s, web.bytes_per_s / rdp.bytes_per_s);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("browser");
        TCase *tc = tcase_create("browser");
        SRunner *sr;
        int failed;

        tcase_set_timeout(tc, 1200);
        tcase_add_test(tc, bench);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_NOFORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
