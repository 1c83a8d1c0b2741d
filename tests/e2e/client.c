/* tests/e2e/client: one user's whole path through a running stack, as a
 * thin client would take it.
 *
 *   client --broker URL --ca FILE --user U --password P --pool NAME
 *          --protocol rdp|spice [--keys TEXT] [--timeout S] [--h264]
 *
 * Signs in through the portal API, launches the pool's desktop, takes the
 * connection file the broker returned (.rdp: "full address" and
 * "username", with the one-time password the portal shows; .vv: host,
 * tls-port, password and the CA it names), connects a real client library
 * (FreeRDP's over the graphics pipeline, planar unless --h264 asks for
 * AVC420, as tests/rdp/client.c; spice-client-glib, as
 * tests/spice/client.c), waits for the guest's desktop picture (the
 * agent's "desktop" action, tests/guest/agent.c: background, top bar),
 * types TEXT (letters) and waits for one coloured block per key at the
 * agent's text line, clicks the middle of the screen (RDP: a white mark),
 * and disconnects. Prints TAP lines and one "TIMING login_ms=.. launch_ms=..
 * handshake_ms=.. first_frame_ms=.. input_ms=.." line; exit 0 when every
 * check passed. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <freerdp/input.h>
#include <getopt.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/tap-check.h"
#include "tests/rdp/client.h"
#include "tests/spice/client.h"

/* The agent's desktop (tests/guest/agent.c, agent_act_desktop). */
#define DESKTOP_BG 0x204060u
#define DESKTOP_BAR 0xc0c0c0u
#define DESKTOP_BAR_H 24
#define DESKTOP_MARGIN 16
#define DESKTOP_TEXT_Y 48
#define DESKTOP_CELL_W 24
#define DESKTOP_CELL_H 32
static const uint32_t palette[7] = { 0xff2020, 0x20e020, 0x2040ff, 0xffff20,
                                     0xff20ff, 0x20ffff, 0xff9000 };


static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the portal API ---- */

struct api {
        CURL *curl;
        const char *base, *ca;
        char *csrf;
};

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
        g_string_append_len(ud, p, (gssize)(sz * n));
        return sz * n;
}

/* One request (body is consumed); the reply's JSON, or NULL. */
static json_t *api_call(struct api *a, const char *method, const char *path, json_t *body, long *status)
{
        g_autofree char *url = g_strconcat(a->base, path, NULL);
        g_autofree char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        g_autofree char *x = a->csrf ? g_strdup_printf("X-CSRF-Token: %s", a->csrf) : NULL;

        if (x)
                h = curl_slist_append(h, x);
        curl_easy_setopt(a->curl, CURLOPT_URL, url);
        curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, out);
        *status = 0;
        if (curl_easy_perform(a->curl) == CURLE_OK)
                curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, status);
        curl_slist_free_all(h);
        json_decref(body);
        return json_loads(out->str, 0, NULL);
}

/* ---- connection files ---- */

/* "key:s:value" lines of a .rdp file, "key=value" of a .vv. */
static char *file_value(const char *content, const char *key, const char *sep)
{
        g_auto(GStrv) lines = g_strsplit(content, "\n", -1);
        g_autofree char *prefix = g_strconcat(key, sep, NULL);

        for (char **l = lines; *l; l++) {
                g_strchomp(*l);
                if (g_str_has_prefix(*l, prefix))
                        return g_strdup(*l + strlen(prefix));
        }
        return NULL;
}

/* ---- pixels ---- */

static bool near(uint32_t px, uint32_t want, int tol)
{
        for (int s = 0; s < 24; s += 8) {
                int d = (int)((px >> s) & 0xff) - (int)((want >> s) & 0xff);
                if (d > tol || d < -tol)
                        return false;
        }
        return true;
}

/* Sample the middle of a region: lossy codecs smear the edges. */
static bool region_is(const uint8_t *px, uint32_t stride, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                      uint32_t want)
{
        for (uint32_t j = y + h / 4; j < y + h - h / 4; j += 2)
                for (uint32_t i = x + w / 4; i < x + w - w / 4; i += 2)
                        if (!near(*(const uint32_t *)(px + (size_t)j * stride + 4 * i), want, 48))
                                return false;
        return true;
}

/* Fixed places inside the smallest screen (640x480): a client's buffer
 * may be larger than the guest's screen. */
#define CLICK_X 200
#define CLICK_Y 300
static bool desktop_shown(const uint8_t *px, uint32_t w, uint32_t h, uint32_t stride)
{
        return px && w >= 640 && h >= 480 && region_is(px, stride, 0, 0, 320, DESKTOP_BAR_H, DESKTOP_BAR) &&
               region_is(px, stride, 100, 160, 400, 240, DESKTOP_BG);
}

static bool text_shown(const uint8_t *px, uint32_t w, uint32_t stride, const uint16_t *codes, size_t n)
{
        if (!px || DESKTOP_MARGIN + n * DESKTOP_CELL_W > w)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!region_is(px, stride, DESKTOP_MARGIN + (uint32_t)i * DESKTOP_CELL_W + 2, DESKTOP_TEXT_Y,
                               DESKTOP_CELL_W - 4, DESKTOP_CELL_H, palette[codes[i] % 7]))
                        return false;
        /* and nothing after the last one */
        return region_is(px, stride, DESKTOP_MARGIN + (uint32_t)n * DESKTOP_CELL_W + 2, DESKTOP_TEXT_Y,
                         DESKTOP_CELL_W - 4, DESKTOP_CELL_H, DESKTOP_BG);
}

/* What the client shows at the places the checks look at (on failure). */
static void describe(const uint8_t *px, uint32_t w, uint32_t h, uint32_t stride)
{
        static const uint32_t at[][2] = { { 10, 10 }, { 300, 280 }, { DESKTOP_MARGIN + 12, DESKTOP_TEXT_Y + 16 },
                                          { DESKTOP_MARGIN + 36, DESKTOP_TEXT_Y + 16 }, { CLICK_X, CLICK_Y } };

        printf("# client picture %ux%u:", w, h);
        for (size_t i = 0; px && i < G_N_ELEMENTS(at); i++)
                if (at[i][0] < w && at[i][1] < h)
                        printf(" (%u,%u)=%06x", at[i][0], at[i][1],
                               *(const uint32_t *)(px + (size_t)at[i][1] * stride + 4 * at[i][0]) & 0xffffff);
        printf("\n");
}

/* Letters to Linux key codes, which are also the XT scancodes both
 * protocols send for them. */
static size_t letters_to_codes(const char *text, uint16_t *codes, size_t max)
{
        static const uint16_t az[26] = { KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I,
                                         KEY_J, KEY_K, KEY_L, KEY_M, KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R,
                                         KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z };
        size_t n = 0;

        for (const char *c = text; *c && n < max; c++)
                if (g_ascii_isalpha(*c))
                        codes[n++] = az[g_ascii_tolower(*c) - 'a'];
        return n;
}

struct timing {
        double handshake, first_frame, input;
};

/* ---- RDP ---- */

static bool rdp_wait(struct tclient *c, double deadline, const uint16_t *codes, size_t n)
{
        uint32_t w, h, stride;
        const uint8_t *px;

        while (now_ms() < deadline && tclient_connected(c)) {
                bool ok;
                tclient_lock(c);
                px = tclient_pixels(c, &w, &h, &stride);
                ok = codes ? text_shown(px, w, stride, codes, n) : desktop_shown(px, w, h, stride);
                tclient_unlock(c);
                if (ok)
                        return true;
                g_usleep(20000);
        }
        struct tclient_counts k;
        tclient_counts(c, &k);
        printf("# RDP: connected=%d avc420=%u planar=%u other=%u frames_ended=%u bitmap_updates=%u\n",
               tclient_connected(c), k.avc420, k.planar, k.other, k.frames_ended, k.bitmap_updates);
        tclient_lock(c);
        px = tclient_pixels(c, &w, &h, &stride);
        describe(px, w, h, stride);
        tclient_unlock(c);
        return false;
}

static void run_rdp(const char *content, const char *password, bool h264, const uint16_t *codes, size_t n,
                    double timeout_ms, struct timing *t)
{
        g_autofree char *addr = file_value(content, "full address", ":s:");
        g_autofree char *user = file_value(content, "username", ":s:");
        char *colon = addr ? strrchr(addr, ':') : NULL;
        struct tclient *c = NULL;
        double t0;

        if (!check(addr && colon && user && password, ".rdp file has full address and username (%s, %s)",
                   addr ? addr : "-", user ? user : "-"))
                return;
        *colon = 0;
        struct tclient_opts o = { .host = addr, .port = (uint16_t)atoi(colon + 1), .user = user,
                                  .password = password, .security = TCLIENT_NLA, .gfx = true, .h264 = h264,
                                  .width = 640, .height = 480 };
        t0 = now_ms();
        int r = tclient_connect(&o, &c);
        t->handshake = now_ms() - t0;
        if (!check(r == 0, "RDP: TLS + NLA with the one-time password (%.0f ms)", t->handshake))
                return;
        t0 = now_ms();
        bool shown = rdp_wait(c, t0 + timeout_ms, NULL, 0);
        t->first_frame = now_ms() - t0;
        check(shown, "RDP: the guest's desktop is on the client (%.0f ms)", t->first_frame);
        if (shown) {
                t0 = now_ms();
                for (size_t i = 0; i < n; i++) {
                        tclient_key(c, KBD_FLAGS_DOWN, codes[i]);
                        tclient_key(c, KBD_FLAGS_RELEASE, codes[i]);
                }
                bool typed = rdp_wait(c, t0 + timeout_ms, codes, n);
                t->input = now_ms() - t0;
                check(typed, "RDP: typed keys reached the guest and its picture came back (%.0f ms)", t->input);
                /* A click: the agent draws a white square under the pointer. */
                uint32_t w, h, stride;
                tclient_mouse(c, PTR_FLAGS_MOVE, CLICK_X, CLICK_Y);
                tclient_mouse(c, PTR_FLAGS_DOWN | PTR_FLAGS_BUTTON1, CLICK_X, CLICK_Y);
                tclient_mouse(c, PTR_FLAGS_BUTTON1, CLICK_X, CLICK_Y);
                bool marked = false;
                for (double end = now_ms() + timeout_ms; !marked && now_ms() < end; g_usleep(20000)) {
                        tclient_lock(c);
                        const uint8_t *px = tclient_pixels(c, &w, &h, &stride);
                        marked = px && region_is(px, stride, CLICK_X - 3, CLICK_Y - 3, 6, 6, 0xffffff);
                        tclient_unlock(c);
                }
                check(marked, "RDP: a click drew the agent's mark under the pointer");
        }
        tclient_free(c);
}

/* ---- SPICE ---- */

struct spice_wait {
        struct spice_client *c;
        const uint16_t *codes;
        size_t n;
        bool ok;
        uint32_t w, h;
};

static bool spice_done(void *data)
{
        struct spice_wait *s = data;
        SpiceDisplayPrimary p;

        if (spice_client_error(s->c) || !spice_client_primary(s->c, &p))
                return spice_client_error(s->c) != 0;
        s->w = (uint32_t)p.width;
        s->h = (uint32_t)p.height;
        s->ok = s->codes ? text_shown(p.data, (uint32_t)p.width, (uint32_t)p.stride, s->codes, s->n)
                         : desktop_shown(p.data, (uint32_t)p.width, (uint32_t)p.height, (uint32_t)p.stride);
        return s->ok;
}

static void run_spice(const char *content, const uint16_t *codes, size_t n, double timeout_ms, struct timing *t)
{
        g_autofree char *host = file_value(content, "host", "=");
        g_autofree char *port = file_value(content, "tls-port", "=");
        g_autofree char *password = file_value(content, "password", "=");
        g_autofree char *ca = file_value(content, "ca", "=");
        g_autofree char *ca_path = NULL;
        double t0;

        if (!check(host && port && password && ca, ".vv file has host, tls-port, password and ca"))
                return;
        /* The file's CA, "\n"-escaped: the client verifies the host with it. */
        g_autoptr(GString) pem = g_string_new(NULL);
        for (const char *c = ca; *c; c++) {
                if (c[0] == '\\' && c[1] == 'n') {
                        g_string_append_c(pem, '\n');
                        c++;
                } else
                        g_string_append_c(pem, *c);
        }
        int fd = g_file_open_tmp("e2e-ca-XXXXXX.pem", &ca_path, NULL);
        if (!check(fd >= 0 && write(fd, pem->str, pem->len) == (ssize_t)pem->len, "CA from the .vv file saved"))
                return;
        close(fd);
        struct spice_client_opts o = { .host = host, .tls_port = (unsigned)atoi(port), .password = password,
                                       .ca_file = ca_path };
        t0 = now_ms();
        struct spice_client *c = spice_client_connect(&o);
        bool up = c && spice_client_wait_main(c, (unsigned)timeout_ms) && spice_client_wait_inputs(c, (unsigned)timeout_ms);
        t->handshake = now_ms() - t0;
        if (check(up, "SPICE: TLS (verified with the file's CA) and the ticket (%.0f ms)", t->handshake)) {
                struct spice_wait w = { .c = c };
                t0 = now_ms();
                spice_client_run((unsigned)timeout_ms, spice_done, &w);
                t->first_frame = now_ms() - t0;
                SpiceDisplayPrimary p;
                if (!w.ok && spice_client_primary(c, &p))
                        describe(p.data, (uint32_t)p.width, (uint32_t)p.height, (uint32_t)p.stride);
                check(w.ok, "SPICE: the guest's desktop is on the client (%.0f ms)", t->first_frame);
                if (w.ok) {
                        SpiceInputsChannel *in = spice_client_inputs(c);
                        t0 = now_ms();
                        for (size_t i = 0; i < n; i++)
                                spice_inputs_channel_key_press_and_release(in, codes[i]);
                        w = (struct spice_wait){ .c = c, .codes = codes, .n = n };
                        spice_client_run((unsigned)timeout_ms, spice_done, &w);
                        t->input = now_ms() - t0;
                        if (!w.ok && spice_client_primary(c, &p))
                                describe(p.data, (uint32_t)p.width, (uint32_t)p.height, (uint32_t)p.stride);
                        check(w.ok, "SPICE: typed keys reached the guest and its picture came back (%.0f ms)",
                              t->input);
                }
        }
        spice_client_free(c);
        g_unlink(ca_path);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "broker", required_argument, NULL, 'b' }, { "ca", required_argument, NULL, 'c' },
                { "user", required_argument, NULL, 'u' },   { "password", required_argument, NULL, 'p' },
                { "pool", required_argument, NULL, 'P' },   { "protocol", required_argument, NULL, 'r' },
                { "keys", required_argument, NULL, 'k' },   { "timeout", required_argument, NULL, 't' },
                { "h264", no_argument, NULL, 'H' },
                {},
        };
        const char *user = NULL, *password = NULL, *pool = NULL, *protocol = "rdp", *keys = "hello";
        struct api a = { 0 };
        struct timing t = { 0 };
        double timeout_ms = 120000, t0, login_ms, launch_ms;
        bool h264 = false;
        uint16_t codes[32];
        size_t n;
        long st;
        int ch;

        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (ch) {
                case 'b': a.base = optarg; break;
                case 'c': a.ca = optarg; break;
                case 'u': user = optarg; break;
                case 'p': password = optarg; break;
                case 'P': pool = optarg; break;
                case 'r': protocol = optarg; break;
                case 'k': keys = optarg; break;
                case 't': timeout_ms = atof(optarg) * 1000; break;
                case 'H': h264 = true; break;
                default: return 2;
                }
        }
        if (!a.base || !a.ca || !user || !password || !pool ||
            (strcmp(protocol, "rdp") && strcmp(protocol, "spice"))) {
                fprintf(stderr, "usage: client --broker URL --ca FILE --user U --password P --pool NAME "
                                "--protocol rdp|spice [--keys TEXT] [--timeout S] [--h264]\n");
                return 2;
        }
        n = letters_to_codes(keys, codes, G_N_ELEMENTS(codes));
        curl_global_init(CURL_GLOBAL_DEFAULT);
        a.curl = curl_easy_init();
        curl_easy_setopt(a.curl, CURLOPT_CAINFO, a.ca);
        curl_easy_setopt(a.curl, CURLOPT_COOKIEFILE, ""); /* in-memory cookie jar */
        curl_easy_setopt(a.curl, CURLOPT_TIMEOUT, 120L);

        t0 = now_ms();
        json_t *r = api_call(&a, "POST", "/api/v1/login",
                             json_pack("{s:s, s:s}", "username", user, "password", password), &st);
        login_ms = now_ms() - t0;
        const char *csrf = json_string_value(json_object_get(r, "csrf_token"));
        a.csrf = g_strdup(csrf);
        json_decref(r);
        if (!check(st == 200 && a.csrf, "%s signs in through the portal API (HTTP %ld, %.0f ms)", user, st, login_ms))
                return 1;

        t0 = now_ms();
        r = api_call(&a, "POST", "/api/v1/launch", json_pack("{s:s, s:s}", "pool", pool, "protocol", protocol),
                     &st);
        launch_ms = now_ms() - t0;
        const char *content = json_string_value(json_object_get(json_object_get(r, "file"), "content"));
        const char *desktop = json_string_value(json_object_get(json_object_get(r, "desktop"), "name"));
        if (check(st == 200 && content, "launch %s/%s: desktop %s and a connection file (HTTP %ld, %.0f ms)", pool,
                  protocol, desktop ? desktop : "-", st, launch_ms)) {
                if (!strcmp(protocol, "rdp"))
                        run_rdp(content, json_string_value(json_object_get(r, "password")), h264, codes, n,
                                timeout_ms, &t);
                else
                        run_spice(content, codes, n, timeout_ms, &t);
        } else {
                g_autofree char *dump = r ? json_dumps(r, JSON_COMPACT) : NULL;
                printf("# %s\n", dump ? dump : "(no JSON)");
        }
        printf("TIMING protocol=%s desktop=%s login_ms=%.1f launch_ms=%.1f handshake_ms=%.1f first_frame_ms=%.1f "
               "input_ms=%.1f\n",
               protocol, desktop ? desktop : "-", login_ms, launch_ms, t.handshake, t.first_frame, t.input);
        json_decref(r);
        g_free(a.csrf);
        curl_easy_cleanup(a.curl);
        curl_global_cleanup();
        printf("1..%d\n", n_checks);
        return n_failed ? 1 : 0;
}
