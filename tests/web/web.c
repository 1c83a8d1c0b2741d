/* The web display server (protocols/web) on the synthetic framebuffer
 * (tests/display/testsrc.h), no KVM:
 *   - headless Chromium runs the portal's desktop page (broker/portal/
 *     desktop.html, served same-origin by the server's development file
 *     handler) and the pixel check runs on the canvas: through the
 *     WebCodecs H.264 decoder, and through the PNG tile fallback forced by
 *     the page's test switch (launch "tiles": true);
 *   - keys typed and a click made through the DevTools Input domain reach
 *     the source's input side as evdev codes and absolute coordinates;
 *   - with libsoup's WebSocket client: a wrong ticket, a reused ticket, a
 *     cross-origin handshake, an oversize message, a malformed message and
 *     text instead of binary are refused with the documented close codes,
 *     and the server still admits the next good client.
 * Screenshots: tests/web/web-h264.png and tests/web/web-tiles.png in the
 * build tree. Skips without Chromium. */
#include "config.h"

#include <glib.h>
#include <libsoup/soup.h>
#include <linux/input-event-codes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "broker/cdp.h"
#include "display/testsrc.h"
#include "log.h"
#include "protocols/web/proto.h"
#include "protocols/web/web-server.h"
#include "webtest.h"
#define CHECK_NOFORK
#include "check-main.h"

#define W 640
#define H 480
#define BG 0x00204060u

static const char *chromium; /* NULL: the browser cases are left out */

static struct {
        char *pki;
        struct testsrc *src;
        struct webtest_loop lp; /* the display's context and thread */
        GThread *loop;
        struct web_server *srv;
        char *base; /* https://127.0.0.1:PORT */
} F;

static void setup(void)
{
        g_autofree char *cmd = NULL, *cert = NULL, *key = NULL;
        struct web_server_config cfg = { 0 };
        char *err = NULL;

        log_set_level(getenv("WEB_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
        F.pki = g_dir_make_tmp("web-pki-XXXXXX", NULL);
        cmd = g_strdup_printf("%s/make-pki %s", HARNESS_DIR, F.pki);
        ck_assert_int_eq(system(cmd), 0);
        cert = g_build_filename(F.pki, "server.pem", NULL);
        key = g_build_filename(F.pki, "server.key", NULL);

        F.src = testsrc_new(W, H);
        testsrc_fill(F.src, (struct display_rect){ 0, 0, W, H }, BG);
        testsrc_fill(F.src, (struct display_rect){ 40, 40, 160, 120 }, 0x00ff0000u);  /* red */
        testsrc_fill(F.src, (struct display_rect){ 240, 40, 160, 120 }, 0x0000ff00u); /* green */
        testsrc_fill(F.src, (struct display_rect){ 440, 40, 160, 120 }, 0x000000ffu); /* blue */
        testsrc_pattern(F.src, (struct display_rect){ 40, 240, 560, 200 }, 7);
        F.lp.ctx = g_main_context_new();

        cfg.cert_file = cert;
        cfg.key_file = key;
        cfg.static_dir = PORTAL_SRC_DIR;
        ck_assert_msg(web_server_start(&cfg, testsrc_source(F.src), F.lp.ctx, &F.srv, &err) == 0, "%s",
                      err ? err : "");
        F.base = g_strdup_printf("https://127.0.0.1:%u", web_server_port(F.srv));
        F.loop = g_thread_new("loop", webtest_loop_thread, &F.lp);
}

static void teardown(void)
{
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", F.pki);

        webtest_loop_join(&F.lp, F.loop);
        web_server_stop(F.srv);
        g_main_context_unref(F.lp.ctx);
        testsrc_free(F.src);
        g_free(F.base);
        ck_assert_int_eq(system(cmd), 0);
        g_free(F.pki);
        webtest_quiet_thread_pool();
}

/* ---- in the browser ---- */

/* Open desktop.html with a launch for ticket (what the portal's button
 * hands over), without waiting for the outcome. */
static void launch_desktop(struct cdp *c, const char *ticket, bool tiles)
{
        g_autofree char *page = g_strdup_printf("%s/desktop.html", F.base);
        g_autofree char *js = NULL;

        json_decref(cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", page)));
        /* Without a launch the page says where to start from. */
        cdp_wait_for(c, "document.body.dataset.state === 'closed'");
        g_autofree char *hint = cdp_eval_str(c, "document.getElementById('desktop-status').textContent");
        ck_assert_str_eq(hint, "Open this desktop from the portal (Open in browser).");
        /* What the portal's button does: the launch in sessionStorage. */
        js = g_strdup_printf("sessionStorage.setItem('vdi-web-launch', JSON.stringify("
                             "{path: '/ws', ticket: '%s', tiles: %s})); true",
                             ticket, tiles ? "true" : "false");
        json_decref(cdp_eval(c, js));
        json_decref(cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", page)));
}

static void open_desktop(struct cdp *c, const char *ticket, bool tiles)
{
        ck_assert_int_eq(web_server_set_ticket(F.srv, "carol", ticket, 60), 0);
        launch_desktop(c, ticket, tiles);
        cdp_wait_for(c, "document.body.dataset.state === 'connected' && "
                        "Number(document.body.dataset.frames || 0) >= 1");
        /* The launch is gone once used. */
        g_autofree char *left = cdp_eval_str(c, "String(sessionStorage.getItem('vdi-web-launch'))");
        ck_assert_str_eq(left, "null");
}

/* Points of flat color (away from edges, where H.264 is near exact) and of
 * the pattern (exact for tiles only). */
static void check_pixels(struct cdp *c, int tolerance, bool pattern)
{
        static const unsigned flat[][2] = { { 10, 10 }, { 120, 100 }, { 320, 100 }, { 520, 100 },
                                            { 620, 200 }, { 20, 460 } };
        for (size_t i = 0; i < G_N_ELEMENTS(flat); i++) {
                uint32_t want = testsrc_pixel(F.src, flat[i][0], flat[i][1]) & 0xffffff;
                uint32_t got = webtest_canvas_pixel(c, flat[i][0], flat[i][1]);
                ck_assert_msg(webtest_channel_diff(want, got) <= tolerance,
                              "canvas (%u,%u) = %06x, framebuffer %06x (tolerance %d)", flat[i][0],
                              flat[i][1], got, want, tolerance);
        }
        if (!pattern)
                return;
        /* The whole pattern region, compared in the page against the
         * framebuffer's bytes sent as a hex string. */
        GString *hex = g_string_new(NULL);
        for (unsigned y = 240; y < 440; y += 7)
                for (unsigned x = 40; x < 600; x += 5)
                        g_string_append_printf(hex, "%06x", testsrc_pixel(F.src, x, y) & 0xffffff);
        g_autofree char *js = g_strdup_printf(
                "(() => { const want = '%s'; const d = document.getElementById('screen')"
                ".getContext('2d').getImageData(0, 0, %u, %u).data; let k = 0, bad = 0, first = '';"
                "for (let y = 240; y < 440; y += 7) for (let x = 40; x < 600; x += 5) {"
                " const i = (y * %u + x) * 4;"
                " const got = (d[i] << 16 | d[i + 1] << 8 | d[i + 2]).toString(16).padStart(6, '0');"
                " if (got !== want.substr(k, 6)) { bad++; if (!first) first = x + ',' + y + ' ' + got; }"
                " k += 6; } return bad + ' ' + first; })()",
                hex->str, W, H, W);
        g_string_free(hex, TRUE);
        g_autofree char *res = cdp_eval_str(c, js);
        ck_assert_msg(strncmp(res, "0 ", 2) == 0, "pattern pixels differ: %s", res);
}

/* Type "a" and click at framebuffer (300, 200): they must arrive as
 * KEY_A down/up and a left press there on the 0..32767 scale. */
static void check_input(struct cdp *c)
{
        struct testsrc_event ev[64];
        size_t n;
        bool a_down = false, a_up = false, pressed = false;
        json_t *r = cdp_eval(c, "(() => { const b = document.getElementById('screen')"
                                ".getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; })()");
        double left = json_real_value(json_array_get(r, 0)) + json_integer_value(json_array_get(r, 0));
        double top = json_real_value(json_array_get(r, 1)) + json_integer_value(json_array_get(r, 1));
        double cw = json_real_value(json_array_get(r, 2)) + json_integer_value(json_array_get(r, 2));
        double chh = json_real_value(json_array_get(r, 3)) + json_integer_value(json_array_get(r, 3));
        double px = left + 300.5 * cw / W, py = top + 200.5 * chh / H;

        json_decref(r);
        testsrc_take_events(F.src, ev, G_N_ELEMENTS(ev));
        json_decref(cdp_eval(c, "document.getElementById('screen').focus(); true"));
        json_decref(cdp_call(c, "Input.dispatchKeyEvent",
                             json_pack("{s:s, s:s, s:s, s:i}", "type", "keyDown", "code", "KeyA", "key",
                                       "a", "windowsVirtualKeyCode", 65)));
        json_decref(cdp_call(c, "Input.dispatchKeyEvent",
                             json_pack("{s:s, s:s, s:s, s:i}", "type", "keyUp", "code", "KeyA", "key",
                                       "a", "windowsVirtualKeyCode", 65)));
        json_decref(cdp_call(c, "Input.dispatchMouseEvent",
                             json_pack("{s:s, s:f, s:f, s:s, s:i, s:i}", "type", "mousePressed", "x", px,
                                       "y", py, "button", "left", "buttons", 1, "clickCount", 1)));
        json_decref(cdp_call(c, "Input.dispatchMouseEvent",
                             json_pack("{s:s, s:f, s:f, s:s, s:i, s:i}", "type", "mouseReleased", "x", px,
                                       "y", py, "button", "left", "buttons", 0, "clickCount", 1)));
        for (int tries = 0; tries < 100 && !(a_down && a_up && pressed); tries++) {
                g_usleep(50000);
                n = testsrc_take_events(F.src, ev, G_N_ELEMENTS(ev));
                for (size_t i = 0; i < n; i++) {
                        if (ev[i].type == TESTSRC_KEY && ev[i].code == KEY_A)
                                *(ev[i].pressed ? &a_down : &a_up) = true;
                        if (ev[i].type == TESTSRC_POINTER && ev[i].buttons == DISPLAY_BUTTON_LEFT) {
                                double fx = ev[i].x * (W - 1.0) / DISPLAY_POINTER_MAX;
                                double fy = ev[i].y * (H - 1.0) / DISPLAY_POINTER_MAX;
                                ck_assert_msg(fabs(fx - 300) <= 2 && fabs(fy - 200) <= 2,
                                              "click arrived at %.1f,%.1f, not 300,200", fx, fy);
                                pressed = true;
                        }
                }
        }
        ck_assert_msg(a_down && a_up, "KEY_A down/up did not arrive (down %d up %d)", a_down, a_up);
        ck_assert_msg(pressed, "the left click did not arrive");
}

/* A change on the framebuffer shows on the canvas (damage → frame). */
static void check_update(struct cdp *c, uint32_t color, int tolerance)
{
        g_autofree char *js = NULL;

        testsrc_fill(F.src, (struct display_rect){ 240, 40, 160, 120 }, color);
        js = g_strdup_printf("(() => { const d = document.getElementById('screen').getContext('2d')"
                             ".getImageData(320, 100, 1, 1).data; const want = [%u, %u, %u];"
                             "return want.every((v, i) => Math.abs(v - d[i]) <= %d); })()",
                             (color >> 16) & 0xff, (color >> 8) & 0xff, color & 0xff, tolerance);
        cdp_wait_for(c, js);
}

START_TEST(test_browser_h264)
{
        struct cdp c = { 0 };
        struct web_server_stats st;

        cdp_start(&c, chromium);
        open_desktop(&c, "h264-ticket-0123456789abcdef", false);
        g_autofree char *enc = cdp_eval_str(&c, "document.body.dataset.encoding");
        ck_assert_str_eq(enc, "h264");
        check_pixels(&c, 24, false);
        check_update(&c, 0x00ffff00u, 24);
        check_input(&c);
        /* The quality indicator shows frames/s and the round trip. */
        cdp_wait_for(&c, "document.body.dataset.rtt !== undefined && document.body.dataset.rtt !== ''");
        cdp_screenshot(&c, "tests/web/web-h264.png");
        cdp_stop(&c);
        web_server_get_stats(F.srv, &st);
        ck_assert_uint_gt(st.h264_frames, 0);
        testsrc_fill(F.src, (struct display_rect){ 240, 40, 160, 120 }, 0x0000ff00u);
}
END_TEST

/* The page after a refused ticket: plain words, and the launch is gone,
 * so a reload cannot try it again. */
START_TEST(test_browser_wrong_ticket)
{
        struct cdp c = { 0 };

        ck_assert_int_eq(web_server_set_ticket(F.srv, "carol", "the-right-one-0123456789", 60), 0);
        cdp_start(&c, chromium);
        launch_desktop(&c, "not-the-right-one-0123456789", false);
        cdp_wait_for(&c, "document.body.dataset.closeCode === '4001'");
        g_autofree char *text = cdp_eval_str(&c, "document.getElementById('desktop-status').textContent");
        ck_assert_str_eq(text, "The connection ticket was refused (wrong, already used or expired). "
                               "Open the desktop again from the portal.");
        g_autofree char *left = cdp_eval_str(&c, "String(sessionStorage.getItem('vdi-web-launch'))");
        ck_assert_str_eq(left, "null");
        cdp_screenshot(&c, "tests/web/web-refused.png");
        cdp_stop(&c);
}
END_TEST

START_TEST(test_browser_tiles)
{
        struct cdp c = { 0 };
        struct web_server_stats before, after;

        web_server_get_stats(F.srv, &before);
        cdp_start(&c, chromium);
        open_desktop(&c, "tiles-ticket-0123456789abcdef", true);
        g_autofree char *enc = cdp_eval_str(&c, "document.body.dataset.encoding");
        ck_assert_str_eq(enc, "png");
        check_pixels(&c, 0, true);
        check_update(&c, 0x00ff00ffu, 0);
        check_input(&c);
        cdp_screenshot(&c, "tests/web/web-tiles.png");
        cdp_stop(&c);
        web_server_get_stats(F.srv, &after);
        ck_assert_uint_gt(after.tile_frames, before.tile_frames);
        ck_assert_uint_eq(after.h264_frames, before.h264_frames);
        testsrc_fill(F.src, (struct display_rect){ 240, 40, 160, 120 }, 0x0000ff00u);
}
END_TEST

/* ---- with libsoup's WebSocket client ---- */

/* Connect to the fixture's server (or port) with origin (NULL = none). */
static bool ws_open_port(struct wsc *w, uint16_t port, const char *origin)
{
        g_autofree char *ca = g_build_filename(F.pki, "ca.pem", NULL);
        return wsc_open(w, ca, port, "/ws", origin, NULL);
}

static bool ws_open(struct wsc *w, const char *origin)
{
        return ws_open_port(w, web_server_port(F.srv), origin);
}

/* An admitted client with ticket t. */
static void ws_admitted(struct wsc *w, const char *t)
{
        ck_assert_int_eq(web_server_set_ticket(F.srv, "carol", t, 60), 0);
        ck_assert_msg(ws_open(w, F.base), "handshake failed: %s", w->error ? w->error->message : "");
        wsc_send_hello(w, t, 0);
        wsc_wait_message(w);
        ck_assert_int_eq(w->first_type, WEB_OUT_LAYOUT);
}

START_TEST(test_refusals)
{
        struct wsc w;
        struct web_server_stats before, after;
        uint8_t bad_key[] = { WEB_IN_KEY, 1, 40, 'K', 'e', 'y' }; /* length says 40 */
        g_autofree uint8_t *big = g_malloc0(WEB_MAX_IN_MESSAGE + 100);

        web_server_get_stats(F.srv, &before);

        /* Cross-origin: refused before the upgrade (403). */
        ck_assert(!ws_open(&w, "https://evil.example"));
        ck_assert_msg(w.status == SOUP_STATUS_FORBIDDEN, "status %u: %s", w.status,
                      w.error ? w.error->message : "");
        wsc_close(&w);
        /* No Origin at all: refused too (only the portal's gateway may come). */
        ck_assert(!ws_open(&w, NULL));
        ck_assert_uint_eq(w.status, SOUP_STATUS_FORBIDDEN);
        wsc_close(&w);

        /* A wrong ticket: 4001. */
        ck_assert_int_eq(web_server_set_ticket(F.srv, "carol", "right-ticket-0123456789", 60), 0);
        ck_assert(ws_open(&w, F.base));
        wsc_send_hello(&w, "wrong-ticket-0123456789", 0);
        ck_assert_int_eq(wsc_wait_closed(&w), 4001);
        wsc_close(&w);

        /* The right one works once; its reuse is refused. */
        ck_assert(ws_open(&w, F.base));
        wsc_send_hello(&w, "right-ticket-0123456789", 0);
        wsc_wait_message(&w);
        ck_assert_int_eq(w.first_type, WEB_OUT_LAYOUT);
        wsc_close(&w);
        ck_assert(ws_open(&w, F.base));
        wsc_send_hello(&w, "right-ticket-0123456789", 0);
        ck_assert_int_eq(wsc_wait_closed(&w), 4001);
        wsc_close(&w);

        /* Something else than HELLO first: protocol error. */
        ck_assert(ws_open(&w, F.base));
        wsc_send(&w, (uint8_t[]){ WEB_IN_PING, 1, 2, 3, 4 }, 5);
        ck_assert_int_eq(wsc_wait_closed(&w), SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR);
        wsc_close(&w);

        /* Oversize, even before the ticket: soup's own limit drops the
         * connection (without a close frame: a browser sees 1006). */
        ck_assert(ws_open(&w, F.base));
        big[0] = WEB_IN_CLIPBOARD;
        memset(big + 1, 'x', WEB_MAX_IN_MESSAGE + 99);
        wsc_send(&w, big, WEB_MAX_IN_MESSAGE + 100);
        int code = wsc_wait_closed(&w);
        ck_assert_msg(code == 0 || code == SOUP_WEBSOCKET_CLOSE_TOO_BIG, "close code %d", code);
        wsc_close(&w);

        /* Admitted, then a malformed message: 1002, nothing delivered. */
        testsrc_take_events(F.src, (struct testsrc_event[8]){ 0 }, 8);
        ws_admitted(&w, "malformed-ticket-0123456789");
        wsc_send(&w, bad_key, sizeof(bad_key));
        ck_assert_int_eq(wsc_wait_closed(&w), SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR);
        wsc_close(&w);

        /* Text instead of binary: 1003. */
        ws_admitted(&w, "text-ticket-0123456789");
        soup_websocket_connection_send_text(w.conn, "hello");
        ck_assert_int_eq(wsc_wait_closed(&w), SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA);
        wsc_close(&w);

        /* Clipboard text, the largest allowed message, arrives whole. */
        ws_admitted(&w, "clip-ticket-0123456789");
        memset(big + 1, 'c', WEB_MAX_CLIPBOARD);
        wsc_send(&w, big, WEB_MAX_IN_MESSAGE);
        for (int i = 0; i < 200; i++) {
                g_autofree char *clip = web_server_clipboard(F.srv);
                if (clip && strlen(clip) == WEB_MAX_CLIPBOARD)
                        break;
                g_main_context_iteration(w.ctx, FALSE);
                g_usleep(10000);
        }
        g_autofree char *clip = web_server_clipboard(F.srv);
        ck_assert_ptr_nonnull(clip);
        ck_assert_uint_eq(strlen(clip), WEB_MAX_CLIPBOARD);
        wsc_close(&w);

        /* A session that ends with Shift and the left button held: the
         * server lets go of both. */
        ws_admitted(&w, "held-ticket-0123456789");
        wsc_send(&w, (uint8_t[]){ WEB_IN_KEY, 1, 9, 'S', 'h', 'i', 'f', 't', 'L', 'e', 'f', 't' }, 12);
        wsc_send(&w, (uint8_t[]){ WEB_IN_POINTER, 10, 0, 20, 0, DISPLAY_BUTTON_LEFT }, 6);
        wsc_close(&w);
        {
                struct testsrc_event ev[16];
                bool shift_up = false, buttons_up = false;
                for (int i = 0; i < 200 && !(shift_up && buttons_up); i++) {
                        size_t n = testsrc_take_events(F.src, ev, G_N_ELEMENTS(ev));
                        for (size_t k = 0; k < n; k++) {
                                shift_up |= ev[k].type == TESTSRC_KEY && ev[k].code == KEY_LEFTSHIFT &&
                                            !ev[k].pressed;
                                buttons_up |= ev[k].type == TESTSRC_POINTER && ev[k].buttons == 0;
                        }
                        g_usleep(10000);
                }
                ck_assert_msg(shift_up && buttons_up, "held input not released (shift %d buttons %d)",
                              shift_up, buttons_up);
        }

        /* After all that, the server is alive and admits the next client. */
        ws_admitted(&w, "after-ticket-0123456789");
        wsc_close(&w);

        web_server_get_stats(F.srv, &after);
        ck_assert_uint_eq(after.refused - before.refused, 4); /* the 403s never reach the server */
        ck_assert_uint_ge(after.bad_messages - before.bad_messages, 3);
        ck_assert_uint_eq(after.logons - before.logons, 6);
        ck_assert_int_eq(testsrc_take_events(F.src, (struct testsrc_event[8]){ 0 }, 8), 0);
}
END_TEST

/* Servers start where their context runs (soup takes the thread's). */
struct start_call {
        const struct web_server_config *cfg;
        struct web_server *srv;
        char *err;
        int rc;
        gint done;
};

static gboolean start_server(gpointer data)
{
        struct start_call *c = data;
        c->rc = web_server_start(c->cfg, testsrc_source(F.src), F.lp.ctx, &c->srv, &c->err);
        g_atomic_int_set(&c->done, 1);
        return G_SOURCE_REMOVE;
}

static gboolean stop_server(gpointer data)
{
        struct start_call *c = data;
        web_server_stop(c->srv);
        g_atomic_int_set(&c->done, 1);
        return G_SOURCE_REMOVE;
}

/* Run fn(call) on the server's context and wait for it. */
static void on_loop(GSourceFunc fn, struct start_call *call)
{
        g_atomic_int_set(&call->done, 0);
        g_main_context_invoke(F.lp.ctx, fn, call);
        while (!g_atomic_int_get(&call->done))
                g_usleep(1000);
}

static gboolean disconnect_all(gpointer data)
{
        struct start_call *c = data;
        c->rc = (int)web_server_disconnect(c->srv);
        g_atomic_int_set(&c->done, 1);
        return G_SOURCE_REMOVE;
}

/* An admin's "disconnect user": the admitted browser is closed with 4007,
 * an unused ticket is void, a new one admits the user again. */
START_TEST(test_disconnect)
{
        struct start_call call = { .srv = F.srv };
        struct wsc w;

        ws_admitted(&w, "disconnect-ticket-0123456789");
        on_loop(disconnect_all, &call);
        ck_assert_int_eq(call.rc, 1);
        ck_assert_int_eq(wsc_wait_closed(&w), 4007);
        wsc_close(&w);

        ck_assert_int_eq(web_server_set_ticket(F.srv, "carol", "unused-ticket-0123456789", 60), 0);
        on_loop(disconnect_all, &call);
        ck_assert_int_eq(call.rc, 0);
        ck_assert(ws_open(&w, F.base));
        wsc_send_hello(&w, "unused-ticket-0123456789", 0);
        ck_assert_int_eq(wsc_wait_closed(&w), 4001);
        wsc_close(&w);

        ws_admitted(&w, "again-ticket-0123456789");
        wsc_close(&w);
}
END_TEST

/* A browser that decodes H.264 on a host whose encoder is missing: it is
 * told H.264, then a new LAYOUT says PNG, and tiles follow. */
START_TEST(test_no_encoder_falls_back_to_tiles)
{
        g_autofree char *cert = g_build_filename(F.pki, "server.pem", NULL);
        g_autofree char *key = g_build_filename(F.pki, "server.key", NULL);
        struct web_server_config cfg = { .cert_file = cert, .key_file = key,
                                         .h264_encoder = "no-such-encoder" };
        struct start_call call = { .cfg = &cfg };
        struct web_server *srv;
        struct wsc w;
        bool tile = false;

        on_loop(start_server, &call);
        ck_assert_msg(call.rc == 0, "%s", call.err ? call.err : "");
        srv = call.srv;
        ck_assert_int_eq(web_server_set_ticket(srv, "carol", "fallback-ticket-0123456789", 60), 0);
        g_autofree char *origin = g_strdup_printf("https://127.0.0.1:%u", web_server_port(srv));
        ck_assert(ws_open_port(&w, web_server_port(srv), origin));
        wsc_send_hello(&w, "fallback-ticket-0123456789", WEB_HELLO_H264);
        for (int i = 0; i < 1000 && !tile; i++) {
                g_main_context_iteration(w.ctx, FALSE) || (g_usleep(10000), 0);
                for (unsigned k = 0; k < MIN(w.messages, G_N_ELEMENTS(w.types)); k++)
                        tile = tile || w.types[k] == WEB_OUT_TILE;
        }
        ck_assert_msg(tile, "no tile after the encoder failed (%u messages)", w.messages);
        ck_assert_uint_ge(w.n_layouts, 2);
        ck_assert_uint_eq(w.encodings[0], WEB_ENC_H264);
        ck_assert_uint_eq(w.encodings[w.n_layouts - 1], WEB_ENC_PNG);
        wsc_close(&w);
        on_loop(stop_server, &call);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("web");
        TCase *tc = tcase_create("web");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_refusals);
        tcase_add_test(tc, test_disconnect);
        tcase_add_test(tc, test_no_encoder_falls_back_to_tiles);
        chromium = cdp_require_chromium();
        tcase_add_test(tc, test_browser_h264);
        tcase_add_test(tc, test_browser_tiles);
        tcase_add_test(tc, test_browser_wrong_ticket);
        suite_add_tcase(s, tc);
        return s;
}

