/* vdi-gateway (gateway/) between browsers and a web display, with real
 * parts around it: PostgreSQL and slapd from the harness, the broker
 * in-process (tests/broker/fixture.h), HAProxy in front routing the
 * portal's /gateway/ path to the vdi-gateway daemon (this tree's binary,
 * its own process) and everything else to the broker, so the page and
 * the WebSocket share one origin, and the web display server
 * (protocols/web) on the synthetic framebuffer as the desktop. No KVM:
 * the host's ticket is recorded by the broker's own launch code
 * (launch_record_ticket) and set on the display as vdi-vm's control
 * socket would.
 *   - headless Chromium signs in on the portal through HAProxy, finds
 *     "Open in browser" (the launch reaches the broker's host call), and
 *     the desktop page shows the framebuffer through the gateway; keys
 *     and clicks come back as input events;
 *   - with libsoup's WebSocket client, straight to the gateway: a foreign
 *     or missing Origin, no session cookie, another user's cookie, a
 *     reused ticket, HELLO not first, text, an oversize and a malformed
 *     message, a silent connection, too many waiting connections: each
 *     refused with its close code, and the next good client still gets
 *     through. */
#include "config.h"

#include <glib.h>
#include <linux/input-event-codes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/internal.h"
#include "display/testsrc.h"
#include "fixture.h"
#include "log.h"
#include "protocols/web/proto.h"
#include "protocols/web/web-server.h"
#include "webtest.h"
#define CHECK_NOFORK
#include "check-main.h"

#define W 640
#define H 480
#define HELLO_TIMEOUT_S 20 /* long enough to open MAX_PENDING + 1 on a loaded machine */
#define MAX_PENDING 3
/* Input bytes a second: the lowest allowed, one largest message. */
#define INPUT_PER_S 65536

static const char *chromium;

static struct {
        struct bfx *f;
        char *dir, *ca;
        struct testsrc *src;
        struct webtest_loop lp; /* the display's context and thread */
        GThread *loop;
        struct web_server *srv;
        GPid gateway, haproxy;
        uint16_t gateway_port, front_port;
        char *origin; /* https://127.0.0.1:FRONT_PORT, the portal's */
        int64_t desktop_id;
} F;

static void start_display(void)
{
        g_autofree char *cert = g_build_filename(F.f->pki, "server.pem", NULL);
        g_autofree char *key = g_build_filename(F.f->pki, "server.key", NULL);
        struct web_server_config cfg = { .cert_file = cert, .key_file = key, .origin = F.origin };
        char *err = NULL;

        F.src = testsrc_new(W, H);
        testsrc_fill(F.src, (struct display_rect){ 0, 0, W, H }, 0x00204060u);
        testsrc_fill(F.src, (struct display_rect){ 40, 40, 160, 120 }, 0x00ff0000u);
        testsrc_fill(F.src, (struct display_rect){ 240, 40, 160, 120 }, 0x0000ff00u);
        testsrc_fill(F.src, (struct display_rect){ 440, 40, 160, 120 }, 0x000000ffu);
        F.lp.ctx = g_main_context_new();
        ck_assert_msg(web_server_start(&cfg, testsrc_source(F.src), F.lp.ctx, &F.srv, &err) == 0, "%s",
                      err ? err : "");
        F.loop = g_thread_new("display", webtest_loop_thread, &F.lp);
}

/* vdi-gateway, its own process; its port from the "port=N" it prints. */
static void start_gateway(void)
{
        g_autofree char *conf = g_build_filename(F.dir, "gateway.conf", NULL);
        g_autofree char *ini = g_strdup_printf(
                "[gateway]\nlisten = 127.0.0.1\nport = 0\ncert = %s/server.pem\nkey = %s/server.key\n"
                "origin = %s\nbroker_url = %s\nca_file = %s\n"
                "[limits]\nhello_timeout_s = %d\nmax_pending = %d\nmax_input_bytes_per_s = %d\n"
                "[log]\nlevel = %s\n",
                F.f->pki, F.f->pki, F.origin, F.f->base, F.ca, HELLO_TIMEOUT_S, MAX_PENDING, INPUT_PER_S,
                getenv("WEB_DEBUG") ? "debug" : "info");
        g_autofree char *bin = g_build_filename(ABS_TOP_BUILDDIR, "gateway", "vdi-gateway", NULL);
        char *argv[] = { bin, "--config", conf, NULL };
        g_autoptr(GError) gerr = NULL;
        char line[64] = "";
        int out;

        ck_assert(g_file_set_contents(conf, ini, -1, NULL));
        ck_assert_msg(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                               NULL, &F.gateway, NULL, &out, NULL, &gerr),
                      "vdi-gateway: %s", gerr ? gerr->message : "");
        FILE *f = fdopen(out, "r");
        ck_assert_msg(fgets(line, sizeof(line), f) && sscanf(line, "port=%hu", &F.gateway_port) == 1,
                      "vdi-gateway did not start (printed \"%s\")", line);
        fclose(f);
}

/* HAProxy terminating TLS for the portal's origin: /gateway/ to the
 * gateway, the rest to the broker, both over TLS verified with the CA. */
static void start_haproxy(void)
{
        g_autofree char *front = g_build_filename(F.dir, "front.pem", NULL);
        g_autofree char *cfgfile = g_build_filename(F.dir, "haproxy.cfg", NULL);
        g_autofree char *cert = NULL, *key = NULL, *pem = NULL, *cfg = NULL;
        g_autofree char *certf = g_build_filename(F.f->pki, "server.pem", NULL);
        g_autofree char *keyf = g_build_filename(F.f->pki, "server.key", NULL);
        g_autoptr(GError) gerr = NULL;

        ck_assert(g_file_get_contents(certf, &cert, NULL, NULL));
        ck_assert(g_file_get_contents(keyf, &key, NULL, NULL));
        pem = g_strconcat(cert, key, NULL);
        ck_assert(g_file_set_contents(front, pem, -1, NULL));
        cfg = g_strdup_printf(
                "global\n    log stderr format short local0 warning\n"
                "defaults\n    mode http\n    log global\n    timeout connect 5s\n"
                "    timeout client 60s\n    timeout server 60s\n    timeout tunnel 1h\n"
                "frontend portal\n    bind 127.0.0.1:%u ssl crt %s\n"
                "    use_backend gateway if { path_beg /gateway/ }\n    default_backend brokers\n"
                "backend brokers\n    server b1 127.0.0.1:%s ssl verify required ca-file %s\n"
                "backend gateway\n    server g1 127.0.0.1:%u ssl verify required ca-file %s\n",
                F.front_port, front, strrchr(F.f->base, ':') + 1, F.ca, F.gateway_port, F.ca);
        ck_assert(g_file_set_contents(cfgfile, cfg, -1, NULL));
        char *argv[] = { "haproxy", "-db", "-f", cfgfile, NULL };
        ck_assert_msg(g_spawn_async(NULL, argv, NULL,
                                    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL, NULL,
                                    &F.haproxy, &gerr),
                      "haproxy: %s (apt-get install haproxy)", gerr ? gerr->message : "");
        /* Ready when the portal answers through it. */
        g_autofree char *url = g_strdup_printf("%s/healthz", F.origin);
        g_autofree char *cmd = g_strdup_printf("curl -sf --cacert %s -o /dev/null %s", F.ca, url);
        for (int i = 0; i < 200 && system(cmd) != 0; i++)
                g_usleep(100 * 1000);
        ck_assert_msg(system(cmd) == 0, "HAProxy does not answer %s", url);
}

static void setup(void)
{
        log_set_level(getenv("WEB_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
        F.f = bfx_start(NULL);
        F.dir = g_dir_make_tmp("vdi-gateway-XXXXXX", NULL);
        F.ca = g_build_filename(F.f->pki, "ca.pem", NULL);
        F.front_port = (uint16_t)bfx_free_port();
        F.origin = g_strdup_printf("https://127.0.0.1:%u", F.front_port);
        start_display();
        start_gateway();
        start_haproxy();
}

static void stop_child(GPid pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        g_spawn_close_pid(pid);
}

static void teardown(void)
{
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", F.dir);

        stop_child(F.haproxy);
        stop_child(F.gateway);
        webtest_loop_join(&F.lp, F.loop);
        web_server_stop(F.srv);
        g_main_context_unref(F.lp.ctx);
        testsrc_free(F.src);
        bfx_stop(F.f);
        ck_assert_int_eq(system(cmd), 0);
        g_free(F.dir);
        g_free(F.ca);
        g_free(F.origin);
        webtest_quiet_thread_pool();
}

/* What the broker's launch does with the host's answer for a web ticket,
 * and what vdi-hostd does with it on the VM: ticket t of user for the
 * display. */
static void issue_ticket(const char *user, const char *t)
{
        struct hostd_ticket ht = { .protocol = "web", .host = "127.0.0.1",
                                   .port = web_server_port(F.srv), .password = (char *)t,
                                   .username = (char *)user, .expires_in = 120 };

        launch_record_ticket(F.f->b, &ht, F.desktop_id, user, "web", "office-1");
        ck_assert_int_eq(web_server_set_ticket(F.srv, user, t, 120), 0);
}

static void reset(void)
{
        bfx_reset(F.f);
        bfx_exec(F.f, "UPDATE pools SET protocols = '{rdp,spice,web}' WHERE name = 'office'");
        F.desktop_id = bfx_long(F.f, "SELECT id FROM desktops WHERE name = 'office-1'");
}

/* ---- in the browser ---- */

static void sign_in(struct cdp *c, const char *user, const char *password)
{
        g_autofree char *url = g_strdup_printf("%s/", F.origin);
        g_autofree char *js = g_strdup_printf(
                "document.getElementById('username').value = '%s';"
                "document.getElementById('password').value = '%s';"
                "document.getElementById('signin-button').click(); true",
                user, password);

        json_decref(cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", url)));
        cdp_wait_for(c, "!!document.getElementById('signin') && "
                        "!document.getElementById('signin').hidden");
        json_decref(cdp_eval(c, js));
        cdp_wait_for(c, "document.querySelectorAll('#desktop-list .desktop').length > 0");
}

static void check_canvas(struct cdp *c)
{
        static const unsigned points[][2] = { { 10, 10 }, { 120, 100 }, { 320, 100 }, { 520, 100 },
                                              { 620, 460 } };

        for (size_t i = 0; i < G_N_ELEMENTS(points); i++) {
                uint32_t want = testsrc_pixel(F.src, points[i][0], points[i][1]) & 0xffffff;
                uint32_t got = webtest_canvas_pixel(c, points[i][0], points[i][1]);
                ck_assert_msg(webtest_channel_diff(want, got) <= 24,
                              "canvas (%u,%u) = %06x, framebuffer %06x", points[i][0],
                              points[i][1], got, want);
        }
}

/* A key typed on the page arrives at the display's input side. */
static void check_key(struct cdp *c)
{
        struct testsrc_event ev[64];
        bool down = false, up = false;

        testsrc_take_events(F.src, ev, G_N_ELEMENTS(ev));
        json_decref(cdp_eval(c, "document.getElementById('screen').focus(); true"));
        for (int i = 0; i < 2; i++)
                json_decref(cdp_call(c, "Input.dispatchKeyEvent",
                                     json_pack("{s:s, s:s, s:s, s:i}", "type",
                                               i ? "keyUp" : "keyDown", "code", "KeyQ", "key",
                                               "q", "windowsVirtualKeyCode", 81)));
        for (int tries = 0; tries < 200 && !(down && up); tries++) {
                size_t n = testsrc_take_events(F.src, ev, G_N_ELEMENTS(ev));
                for (size_t k = 0; k < n; k++)
                        if (ev[k].type == TESTSRC_KEY && ev[k].code == KEY_Q)
                                *(ev[k].pressed ? &down : &up) = true;
                g_usleep(50 * 1000);
        }
        ck_assert_msg(down && up, "KEY_Q through the gateway: down %d up %d", down, up);
}

START_TEST(test_browser_through_gateway)
{
        struct cdp c = { 0 };

        reset();
        cdp_start(&c, chromium);
        sign_in(&c, "alice", "alice-pw");
        /* The portal offers the browser next to the native clients; its
         * launch asks the desktop's host (here nobody listens, so the
         * broker says so in plain words). */
        g_autofree char *label = cdp_eval_str(
                &c, "[...document.querySelectorAll('#desktop-list button[data-protocol=web]')]"
                    ".map(b => b.textContent).join('|')");
        ck_assert_str_eq(label, "Open in browser");
        json_decref(cdp_eval(&c, "document.querySelector('button[data-protocol=web]').click(); true"));
        cdp_wait_for(&c, "document.getElementById('status').textContent.includes('not reachable')");
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = "
                                       "'desktop.launch' AND outcome = 'failed'"), 1);

        /* With the host's ticket: what openInBrowser() hands over. */
        issue_ticket("alice", "browser-ticket-0123456789abcdef");
        json_decref(cdp_eval(&c, "sessionStorage.setItem('vdi-web-launch', JSON.stringify("
                                 "{path: '/gateway/ws', ticket: 'browser-ticket-0123456789abcdef'}));"
                                 "location.assign('/portal/desktop.html'); true"));
        cdp_wait_for(&c, "document.body.dataset.state === 'connected' && "
                         "Number(document.body.dataset.frames || 0) >= 1");
        g_autofree char *enc = cdp_eval_str(&c, "document.body.dataset.encoding");
        ck_assert_str_eq(enc, "h264");
        g_autofree char *where = cdp_eval_str(&c, "location.origin");
        ck_assert_str_eq(where, F.origin);
        check_canvas(&c);
        check_key(&c);
        cdp_wait_for(&c, "(document.body.dataset.rtt || '') !== ''");
        cdp_screenshot(&c, "tests/web/gateway-h264.png");
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = "
                                       "'desktop.web_redeem' AND outcome = 'ok' AND actor = 'alice'"),
                         1);
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM tickets WHERE protocol = 'web' AND "
                                       "used_at IS NOT NULL"), 1);
        cdp_stop(&c);
}
END_TEST

/* ---- with libsoup's WebSocket client ---- */

/* user's session cookie, as a Cookie header. */
static char *session_cookie(const char *user, const char *password)
{
        struct bclient *bc = bclient_new(F.f);
        g_autofree char *body = g_strdup_printf("{\"username\":\"%s\",\"password\":\"%s\"}", user,
                                                password);
        struct breply r = bclient_req(bc, "POST", "/api/v1/login", body, NULL, false);
        g_autofree char *set = breply_header(&r, "Set-Cookie");
        char *cookie;

        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(set);
        cookie = g_strndup(set, strcspn(set, ";"));
        breply_free(&r);
        bclient_free(bc);
        return cookie;
}

static bool gw_open(struct wsc *w, const char *origin, const char *cookie)
{
        return wsc_open(w, F.ca, F.gateway_port, "/gateway/ws", origin, cookie);
}

/* HELLO with ticket t from cookie's browser: the close code it gets, or
 * 0 when the desktop's LAYOUT arrived (then the connection is closed). */
static int hello_outcome(const char *cookie, const char *t)
{
        struct wsc w;
        int code = 0;

        ck_assert_msg(gw_open(&w, F.origin, cookie), "handshake: %s",
                      w.error ? w.error->message : "");
        wsc_send_hello(&w, t, 0);
        wsc_wait_message(&w);
        if (w.messages)
                ck_assert_int_eq(w.first_type, WEB_OUT_LAYOUT);
        else
                code = wsc_wait_closed(&w);
        wsc_close(&w);
        return code;
}

/* Open, send len bytes of msg (none when len is 0), wait for the close. */
static int refused_with(const char *cookie, const char *admit, const void *msg, size_t len,
                        bool text)
{
        struct wsc w;
        int code;

        ck_assert(gw_open(&w, F.origin, cookie));
        if (admit) {
                wsc_send_hello(&w, admit, 0);
                wsc_wait_message(&w);
                ck_assert_int_eq(w.first_type, WEB_OUT_LAYOUT);
        }
        if (text)
                soup_websocket_connection_send_text(w.conn, msg);
        else if (len)
                wsc_send(&w, msg, len);
        code = wsc_wait_closed(&w);
        wsc_close(&w);
        return code;
}

START_TEST(test_gateway_refusals)
{
        g_autofree char *alice = NULL, *bob = NULL;
        g_autofree uint8_t *big = g_malloc0(WEB_MAX_IN_MESSAGE + 100);
        uint8_t bad_key[] = { WEB_IN_KEY, 1, 40, 'K', 'e', 'y' }; /* length says 40 */
        struct web_server_stats before, after;
        struct wsc w, waiting[MAX_PENDING];

        reset();
        alice = session_cookie("alice", "alice-pw");
        bob = session_cookie("bob", "bob-pw");
        web_server_get_stats(F.srv, &before);

        /* Another site's page, or no Origin: 403 before the upgrade. */
        ck_assert(!gw_open(&w, "https://evil.example", alice));
        ck_assert_uint_eq(w.status, SOUP_STATUS_FORBIDDEN);
        wsc_close(&w);
        ck_assert(!gw_open(&w, NULL, alice));
        ck_assert_uint_eq(w.status, SOUP_STATUS_FORBIDDEN);
        wsc_close(&w);

        /* Not signed in, or someone else's session: refused, and the
         * ticket stays good for its owner. */
        issue_ticket("alice", "alice-ticket-0123456789abcdef");
        ck_assert_int_eq(hello_outcome(NULL, "alice-ticket-0123456789abcdef"), 4005);
        ck_assert_int_eq(hello_outcome(bob, "alice-ticket-0123456789abcdef"), 4001);
        ck_assert_int_eq(hello_outcome(alice, "wrong-ticket-0123456789abcdef"), 4001);
        ck_assert_int_eq(hello_outcome(alice, "alice-ticket-0123456789abcdef"), 0);
        /* Used once: a second use is refused. */
        ck_assert_int_eq(hello_outcome(alice, "alice-ticket-0123456789abcdef"), 4001);
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = "
                                       "'desktop.web_redeem' AND outcome = 'denied'"), 3);

        /* Bad messages, before and after admission. */
        ck_assert_int_eq(refused_with(alice, NULL, (uint8_t[]){ WEB_IN_PING, 1, 2, 3, 4 }, 5, false),
                         SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR);
        ck_assert_int_eq(refused_with(alice, NULL, "hello", 0, true),
                         SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA);
        big[0] = WEB_IN_CLIPBOARD;
        memset(big + 1, 'x', WEB_MAX_IN_MESSAGE + 99);
        int code = refused_with(alice, NULL, big, WEB_MAX_IN_MESSAGE + 100, false);
        ck_assert_msg(code == 0 || code == SOUP_WEBSOCKET_CLOSE_TOO_BIG, "oversize: close %d", code);
        issue_ticket("alice", "malformed-ticket-0123456789abcdef");
        ck_assert_int_eq(refused_with(alice, "malformed-ticket-0123456789abcdef", bad_key,
                                      sizeof(bad_key), false),
                         SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR);
        issue_ticket("alice", "text-ticket-0123456789abcdef");
        ck_assert_int_eq(refused_with(alice, "text-ticket-0123456789abcdef", "hi", 0, true),
                         SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA);

        /* Input faster than allowed: closed (1008); the largest message
         * alone is fine. */
        issue_ticket("alice", "flood-ticket-0123456789abcdef");
        ck_assert(gw_open(&w, F.origin, alice));
        wsc_send_hello(&w, "flood-ticket-0123456789abcdef", 0);
        wsc_wait_message(&w);
        ck_assert_int_eq(w.first_type, WEB_OUT_LAYOUT);
        g_usleep(1100 * 1000); /* a fresh one-second window */
        memset(big + 1, 'f', WEB_MAX_CLIPBOARD);
        for (int i = 0; i < 4; i++)
                wsc_send(&w, big, WEB_MAX_IN_MESSAGE);
        ck_assert_int_eq(wsc_wait_closed(&w), SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
        wsc_close(&w);

        /* Silent connections: closed after the HELLO timeout; while
         * MAX_PENDING of them wait, one more is turned away (4006). */
        for (int i = 0; i < MAX_PENDING; i++)
                ck_assert(gw_open(&waiting[i], F.origin, alice));
        ck_assert_int_eq(refused_with(alice, NULL, NULL, 0, false), 4006);
        /* Last opened first: each pushed its own thread-default context. */
        for (int i = MAX_PENDING - 1; i >= 0; i--) {
                int silent = -1; /* each wait is 10 s, the timeout longer */
                for (int k = 0; k < 4 && silent == -1; k++)
                        silent = wsc_wait_closed(&waiting[i]);
                ck_assert_int_eq(silent, 4003);
                wsc_close(&waiting[i]);
        }

        /* After all that, the gateway is alive and the next client gets in. */
        issue_ticket("alice", "after-ticket-0123456789abcdef");
        ck_assert_int_eq(hello_outcome(alice, "after-ticket-0123456789abcdef"), 0);
        ck_assert_int_eq(waitpid(F.gateway, NULL, WNOHANG), 0);

        /* The malformed message stopped at the gateway: the display never
         * saw a bad one, and admitted exactly the four good HELLOs. */
        web_server_get_stats(F.srv, &after);
        ck_assert_uint_eq(after.bad_messages, before.bad_messages);
        ck_assert_uint_eq(after.logons - before.logons, 5);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("gateway");
        TCase *tc = tcase_create("gateway");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, test_gateway_refusals);
        chromium = cdp_require_chromium();
        tcase_add_test(tc, test_browser_through_gateway);
        suite_add_tcase(s, tc);
        return s;
}
