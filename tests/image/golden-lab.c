/* tests/image/golden-lab BUNDLE OUTDIR — the golden desktop image through a
 * real vdi-hostd and real clients; the part of tests/image/golden.sh that
 * needs /dev/kvm (run through tests/lab/needs-kvm: everything here, the
 * daemon, the VM and both clients, shares one lab boot).
 *
 *   1. vdi-hostd starts with the harness PKI (tests/hostd/hostd-proc.h),
 *      its state in OUTDIR/state; the bundle is imported with
 *      PUT /api/v1/images/deb12-golden, its manifest.json as the body. When
 *      golden.sh put hard links of the bundle's files in OUTDIR/base, those
 *      paths and "mode": "link" replace the manifest's (the store then
 *      links instead of copying 830 MB through the lab's 9p);
 *   2. a linked clone (PUT /api/v1/vms/golden1, 2 vCPUs, 1 GiB) starts; a
 *      one-time SPICE ticket, and spice-client-glib (tests/spice/client.h,
 *      TLS verified with the cluster CA) connects while the guest boots and
 *      watches for the desktop of desktop.txt: background #205080, the
 *      white terminal at (64,64) with a prompt (the pointer is parked in a
 *      corner through SPICE's inputs channel);
 *   3. a one-time RDP ticket, and FreeRDP's client library
 *      (tests/rdp/client.h, TLS + NLA, graphics pipeline) sees the same
 *      desktop; over RDP's keyboard "echo hi" + Enter adds the command, its
 *      output and a new prompt to the terminal, "xsetroot -solid red" +
 *      Enter turns the background red: both read back as RDP pixels, and
 *      the red as SPICE pixels too;
 *   4. over SPICE's keyboard "echo hi" again adds lines, "xsetroot -solid
 *      blue" turns the background blue, seen by both clients;
 *   5. the desktop is on virtio-gpu (the manifest's "display") and follows
 *      the client's window: RDP's display control asks for 1280x800, then
 *      1600x900, and both clients get the blue desktop of that size with
 *      the terminal in place and all its text (rdp-WxH.png, spice-WxH.png);
 *      then, once the image's spice-vdagent is connected, SPICE's monitors
 *      config for a 1280x720 window does the same;
 *   6. copy and paste through spice-vdagent: "xclip -sel c /etc/hostname"
 *      typed over SPICE puts "vdi-desktop" on the client's clipboard; the
 *      client's "green", pasted by "xsetroot -solid $(xclip -o -sel c)",
 *      turns the background green;
 *   7. the image's own agent (vdi-agent) opened org.vdi.agent.0 (the
 *      readiness of an instant-clone parent) and said so on the console;
 *   8. stop through the API; the clone passes vdi-img check.
 *
 * Screenshots of what each client saw: OUTDIR/{rdp,spice}-*.png; the
 * guest's console OUTDIR/console.log, the daemon's log OUTDIR/hostd.log.
 * Prints TAP and "# measured ..." lines (boot to desktop, per step).
 * Environment: GOLDEN_BOOT_TIMEOUT (s, default 900), GOLDEN_CPUS (2),
 * GOLDEN_MEMORY (MiB, 1024), GOLDEN_RDP_FROM_BOOT=1 (RDP connects at the
 * start too and must survive the boot). Exit 0 when every check passed. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <freerdp/input.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/tap-check.h"
#include "tests/hostd/hostd-proc.h"
#include "tests/rdp/client.h"
#include "tests/spice/client.h"

/* desktop.txt */
#define W 1024
#define H 768
#define BACKGROUND 0x205080u
#define TERM_X 64
#define TERM_Y 64
/* 80x24 cells of 11x23 px plus an 8 px inner border */
#define TERM_W 896
#define TERM_H 568
#define IMAGE_ID "deb12-golden"
#define VM_ID "golden1"

static const char *out;
static struct hostd_proc hp;

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- pictures: a copy of a client's screen, 0x00RRGGBB per pixel ---- */

struct pic {
        uint32_t w, h;
        uint32_t *px;
};

static void pic_free(struct pic *p)
{
        if (p)
                g_free(p->px);
        g_free(p);
}
typedef struct pic pic;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(pic, pic_free)

/* Both clients keep 4 bytes per pixel whose little-endian value is
 * 0xXXRRGGBB (RDP's BGRX32, SPICE's xRGB). */
static struct pic *pic_copy(const uint8_t *data, uint32_t w, uint32_t h, uint32_t stride)
{
        struct pic *p;

        if (!data || !w || !h)
                return NULL;
        p = g_new0(struct pic, 1);
        p->w = w;
        p->h = h;
        p->px = g_new(uint32_t, (size_t)w * h);
        for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++)
                        p->px[(size_t)y * w + x] = *(const uint32_t *)(data + (size_t)y * stride + 4 * x) & 0xffffff;
        return p;
}

static uint32_t at(const struct pic *p, uint32_t x, uint32_t y)
{
        return x < p->w && y < p->h ? p->px[(size_t)y * p->w + x] : 0xff000000u;
}

/* Within tol per channel: SPICE may send lossy pictures. */
static bool near(uint32_t px, uint32_t want, int tol)
{
        if (px > 0xffffff)
                return false;
        for (int s = 0; s < 24; s += 8) {
                int d = (int)((px >> s) & 0xff) - (int)((want >> s) & 0xff);
                if (d > tol || d < -tol)
                        return false;
        }
        return true;
}

/* Fraction of sampled pixels of this colour. */
static double share(const struct pic *p, uint32_t colour)
{
        unsigned hit = 0, total = 0;

        for (uint32_t y = 0; y < p->h; y += 4)
                for (uint32_t x = 0; x < p->w; x += 4) {
                        total++;
                        hit += near(at(p, x, y), colour, 24);
                }
        return total ? (double)hit / total : 0;
}

struct box {
        uint32_t x0, y0, x1, y1; /* x1, y1 exclusive */
};

/* The white rectangle whose top-left corner is at (TERM_X, TERM_Y). */
static bool terminal_box(const struct pic *p, struct box *b)
{
        const uint32_t white = 0xffffff;
        uint32_t x1 = TERM_X, y1 = TERM_Y;

        if (!near(at(p, TERM_X, TERM_Y), white, 16) || near(at(p, TERM_X - 2, TERM_Y - 2), white, 16))
                return false;
        while (x1 < p->w && near(at(p, x1, TERM_Y), white, 16))
                x1++;
        while (y1 < p->h && near(at(p, TERM_X, y1), white, 16))
                y1++;
        if (x1 - TERM_X < 200 || y1 - TERM_Y < 100)
                return false;
        *b = (struct box){ TERM_X, TERM_Y, x1, y1 };
        return true;
}

/* Text lines in the box: runs of pixel rows with dark (text) pixels. */
static unsigned text_lines(const struct pic *p, const struct box *b)
{
        unsigned lines = 0;
        int last = -100;

        for (uint32_t y = b->y0; y < b->y1; y++) {
                bool ink = false;
                for (uint32_t x = b->x0; x < b->x1 && !ink; x++) {
                        uint32_t c = at(p, x, y);
                        ink = ((c >> 16) & 0xff) < 96 && ((c >> 8) & 0xff) < 96 && (c & 0xff) < 96;
                }
                if (!ink)
                        continue;
                if ((int)y - last > 4)
                        lines++;
                last = (int)y;
        }
        return lines;
}

static void png_chunk(FILE *f, const char *type, const uint8_t *data, uint32_t len)
{
        uint8_t be[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
        uLong crc = crc32(0, (const Bytef *)type, 4);

        if (len)
                crc = crc32(crc, data, len);
        fwrite(be, 1, 4, f);
        fwrite(type, 1, 4, f);
        if (len)
                fwrite(data, 1, len, f);
        be[0] = (uint8_t)(crc >> 24), be[1] = (uint8_t)(crc >> 16), be[2] = (uint8_t)(crc >> 8), be[3] = (uint8_t)crc;
        fwrite(be, 1, 4, f);
}

/* OUTDIR/NAME.png: 8-bit RGB, filter 0 on every row. */
static void pic_save(const struct pic *p, const char *name)
{
        g_autofree char *path = g_strdup_printf("%s/%s.png", out, name);
        size_t raw_len = (size_t)p->h * (1 + 3 * (size_t)p->w);
        g_autofree uint8_t *raw = g_malloc(raw_len), *z = NULL;
        uLongf z_len = compressBound(raw_len);
        uint8_t ihdr[13] = { (uint8_t)(p->w >> 24), (uint8_t)(p->w >> 16), (uint8_t)(p->w >> 8), (uint8_t)p->w,
                             (uint8_t)(p->h >> 24), (uint8_t)(p->h >> 16), (uint8_t)(p->h >> 8), (uint8_t)p->h,
                             8, 2, 0, 0, 0 };
        uint8_t *q = raw;
        FILE *f;

        for (uint32_t y = 0; y < p->h; y++) {
                *q++ = 0;
                for (uint32_t x = 0; x < p->w; x++) {
                        uint32_t c = at(p, x, y);
                        *q++ = (uint8_t)(c >> 16);
                        *q++ = (uint8_t)(c >> 8);
                        *q++ = (uint8_t)c;
                }
        }
        z = g_malloc(z_len);
        if (compress2(z, &z_len, raw, raw_len, 6) != Z_OK || !(f = fopen(path, "wb"))) {
                printf("# cannot write %s\n", path);
                return;
        }
        fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
        png_chunk(f, "IHDR", ihdr, sizeof(ihdr));
        png_chunk(f, "IDAT", z, (uint32_t)z_len);
        png_chunk(f, "IEND", NULL, 0);
        fclose(f);
        printf("# saved %s\n", path);
}

/* ---- the two clients behind one face ---- */

struct viewer {
        const char *name; /* "RDP" or "SPICE" */
        struct tclient *rdp;
        struct spice_client *spice;
};

/* Let both clients work for ms: the SPICE client runs on this thread's
 * main context, the RDP client on its own thread. */
static void pump(unsigned ms)
{
        spice_client_run(ms, NULL, NULL);
}

static struct pic *snap(struct viewer *v)
{
        struct pic *p = NULL;

        if (v->rdp) {
                uint32_t w, h, stride;
                tclient_lock(v->rdp);
                const uint8_t *px = tclient_pixels(v->rdp, &w, &h, &stride);
                p = pic_copy(px, w, h, stride);
                tclient_unlock(v->rdp);
        } else if (v->spice) {
                SpiceDisplayPrimary prim;
                if (spice_client_primary(v->spice, &prim))
                        p = pic_copy(prim.data, (uint32_t)prim.width, (uint32_t)prim.height,
                                     (uint32_t)prim.stride);
        }
        return p;
}

static bool alive(struct viewer *v)
{
        return v->rdp ? tclient_connected(v->rdp) : !spice_client_error(v->spice) && !spice_client_gone(v->spice);
}

static void key(struct viewer *v, uint16_t code, bool down)
{
        if (v->rdp)
                tclient_key(v->rdp, down ? KBD_FLAGS_DOWN : KBD_FLAGS_RELEASE, code);
        else if (down)
                spice_inputs_channel_key_press(spice_client_inputs(v->spice), code);
        else
                spice_inputs_channel_key_release(spice_client_inputs(v->spice), code);
}

/* Linux key codes, which are also the XT scancodes both protocols carry,
 * of a US keyboard; *shift when the character needs Shift. */
static uint16_t code_of(char c, bool *shift)
{
        static const char *rows[] = { "1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm" };
        static const char *shifted[] = { "!@#$%^&*()" };
        static const uint16_t first[] = { KEY_1, KEY_Q, KEY_A, KEY_Z };

        *shift = false;
        for (size_t r = 0; r < G_N_ELEMENTS(rows); r++) {
                const char *hit = strchr(rows[r], c);
                if (hit)
                        return (uint16_t)(first[r] + (hit - rows[r]));
        }
        const char *hit = strchr(shifted[0], c);
        if (c && hit) {
                *shift = true;
                return (uint16_t)(KEY_1 + (hit - shifted[0]));
        }
        return c == ' ' ? KEY_SPACE : c == '-' ? KEY_MINUS : c == '/' ? KEY_SLASH : c == '\n' ? KEY_ENTER : 0;
}

static void type(struct viewer *v, const char *text)
{
        for (const char *c = text; *c; c++) {
                bool shift;
                uint16_t code = code_of(*c, &shift);
                g_assert(code);
                if (shift)
                        key(v, KEY_LEFTSHIFT, true);
                key(v, code, true);
                pump(20);
                key(v, code, false);
                if (shift)
                        key(v, KEY_LEFTSHIFT, false);
                pump(20);
        }
}

/* Poll v's picture until cond holds or timeout_s passes; the last picture
 * in *last (may be NULL). */
static bool wait_pic(struct viewer *v, double timeout_s, bool (*cond)(const struct pic *, void *), void *data,
                     void (*each)(struct viewer *), struct pic **last)
{
        double end = now_s() + timeout_s;
        struct pic *p = NULL;
        bool ok = false;

        while (!ok && now_s() < end && alive(v)) {
                if (each)
                        each(v);
                pump(500);
                pic_free(p);
                p = snap(v);
                ok = p && cond(p, data);
        }
        *last = p;
        return ok;
}

static void describe(const char *who, const struct pic *p)
{
        struct box b;

        if (!p) {
                printf("# %s: no picture\n", who);
                return;
        }
        printf("# %s picture %ux%u: background share %.2f, red %.2f, blue %.2f, (10,10)=%06x (100,100)=%06x, terminal %s\n",
               who, p->w, p->h, share(p, BACKGROUND), share(p, 0xff0000), share(p, 0x0000ff), at(p, 10, 10),
               at(p, 100, 100), terminal_box(p, &b) ? "found" : "not found");
}

static bool desktop_up(const struct pic *p, void *data)
{
        uint32_t bg = GPOINTER_TO_UINT(data);
        struct box b;

        return p->w >= W && p->h >= H && share(p, bg) > 0.3 && terminal_box(p, &b) && text_lines(p, &b) > 0;
}

struct lines_wait {
        struct box box;
        unsigned want;
        unsigned seen;
};

static bool lines_grew(const struct pic *p, void *data)
{
        struct lines_wait *l = data;

        l->seen = text_lines(p, &l->box);
        return l->seen >= l->want;
}

static bool background_is(const struct pic *p, void *data)
{
        return share(p, GPOINTER_TO_UINT(data)) > 0.3;
}

/* The X pointer starts over the terminal: keep it in a corner (moves before
 * X reads the tablet are lost, and the input core drops an absolute value
 * equal to the last one, hence two positions). */
static void park_pointer(struct viewer *v)
{
        if (v->rdp) {
                tclient_mouse(v->rdp, PTR_FLAGS_MOVE, W - 4, H - 4);
                tclient_mouse(v->rdp, PTR_FLAGS_MOVE, W - 1, H - 1);
        } else {
                spice_inputs_channel_position(spice_client_inputs(v->spice), W - 4, H - 4, 0, 0);
                spice_inputs_channel_position(spice_client_inputs(v->spice), W - 1, H - 1, 0, 0);
        }
}

/* "echo hi" then "xsetroot -solid COLOUR" over v's keyboard, read back as
 * v's pixels. tag names the screenshots. */
static bool type_checks(struct viewer *v, const char *tag, const char *colour_name, uint32_t colour,
                        uint32_t bg_before)
{
        g_autoptr(pic) p = NULL, q = NULL;
        g_autofree char *name = NULL, *cmd = NULL;
        struct lines_wait l = { 0 };
        double t0;

        p = snap(v);
        if (!check(p && terminal_box(p, &l.box), "%s: the terminal is on the client", v->name)) {
                describe(v->name, p);
                return false;
        }
        check(l.box.x0 == TERM_X && l.box.y0 == TERM_Y && abs((int)l.box.x1 - (TERM_X + TERM_W)) <= 2 &&
                      abs((int)l.box.y1 - (TERM_Y + TERM_H)) <= 2,
              "%s: the terminal is %ux%u at (%u,%u) (desktop.txt: %ux%u at (%u,%u))", v->name, l.box.x1 - l.box.x0,
              l.box.y1 - l.box.y0, l.box.x0, l.box.y0, TERM_W, TERM_H, TERM_X, TERM_Y);
        check(share(p, bg_before) > 0.3, "%s: the background is #%06x", v->name, bg_before);
        unsigned lines0 = text_lines(p, &l.box);
        l.want = lines0 + 2;

        t0 = now_s();
        type(v, "echo hi\n");
        bool ok = wait_pic(v, 120, lines_grew, &l, NULL, &q);
        if (q) {
                name = g_strdup_printf("%s-typed", tag);
                pic_save(q, name);
        }
        if (!check(ok, "%s: typing \"echo hi\" + Enter adds the output and a new prompt (%u text lines before, "
                       "%u after, %.1f s)",
                   v->name, lines0, l.seen, now_s() - t0))
                describe(v->name, q);

        t0 = now_s();
        cmd = g_strdup_printf("xsetroot -solid %s\n", colour_name);
        type(v, cmd);
        pic_free(q);
        q = NULL;
        ok = wait_pic(v, 120, background_is, GUINT_TO_POINTER(colour), NULL, &q);
        if (q) {
                g_free(name);
                name = g_strdup_printf("%s-%s", tag, colour_name);
                pic_save(q, name);
        }
        if (!check(ok, "%s: typing \"xsetroot -solid %s\" + Enter turns the background %s (%.1f s)", v->name,
                   colour_name, colour_name, now_s() - t0))
                describe(v->name, q);
        return ok;
}

/* ---- the desktop follows the client's window (virtio-gpu) ---- */

struct follow {
        uint32_t w, h, bg;
        unsigned lines; /* the terminal's text lines before the resize */
};

/* A picture of exactly the asked size, the desktop's background and the
 * terminal where desktop.txt puts it, with all of its text redrawn. */
static bool follows(const struct pic *p, void *data)
{
        const struct follow *f = data;
        struct box b;

        return p->w == f->w && p->h == f->h && share(p, f->bg) > 0.3 && terminal_box(p, &b) &&
               text_lines(p, &b) >= f->lines;
}

/* After one client (asker) asked for f's size: it gets a picture of that
 * size, then so does the other client still connected. */
static bool both_follow(struct viewer *asker, struct viewer *other, const struct follow *f, double t0)
{
        struct viewer *v[] = { asker, other };

        for (size_t i = 0; i < G_N_ELEMENTS(v); i++) {
                g_autoptr(pic) p = NULL;
                g_autofree char *lower = g_ascii_strdown(v[i]->name, -1);
                g_autofree char *name = g_strdup_printf("%s-%ux%u", lower, f->w, f->h);
                bool ok = wait_pic(v[i], 60, follows, (void *)f, NULL, &p);
                double took = now_s() - t0;

                if (p)
                        pic_save(p, name);
                if (!check(ok, "%s: %s %ux%u desktop: the background and the terminal with its %u text lines "
                               "(%.1f s after %s's request)",
                           v[i]->name, i == 0 ? "the desktop follows the window to a" : "the client still connected gets the",
                           f->w, f->h, f->lines, took, asker->name)) {
                        describe(v[i]->name, p);
                        return false;
                }
                if (i == 0)
                        printf("# measured %s resize to %ux%u: %.1f s from the client's request to its picture\n",
                               asker->name, f->w, f->h, took);
        }
        return true;
}

static bool agent_connected(void *data)
{
        gboolean connected = FALSE;

        g_object_get(spice_client_main(data), "agent-connected", &connected, NULL);
        return connected;
}

/* SPICE's monitors config, as remote-viewer sends for a new window size:
 * spice-gtk sends it only while the guest's agent (the image's
 * spice-vdagent, on vdi-vm's agent port) is connected; vdi-vm's SPICE
 * server hands it to virtio-gpu, as RDP's display control. */
static void spice_resize_check(struct viewer *spice, struct viewer *rdp, uint32_t bg, unsigned lines)
{
        SpiceMainChannel *m = spice_client_main(spice->spice);
        const struct follow f = { 1280, 720, bg, lines };
        double t0 = now_s();

        spice_client_run(120000, agent_connected, spice->spice);
        if (!check(agent_connected(spice->spice), "SPICE: the guest's spice-vdagent is connected (%.1f s)",
                   now_s() - t0))
                return;
        t0 = now_s();
        spice_main_channel_update_display_enabled(m, 0, TRUE, FALSE);
        spice_main_channel_update_display(m, 0, 0, 0, (int)f.w, (int)f.h, FALSE);
        if (check(spice_main_channel_send_monitor_config(m), "SPICE: the client sends a monitors config for a %ux%u window",
                  f.w, f.h))
                both_follow(spice, rdp, &f, t0);
}

/* ---- the clipboard through the image's spice-vdagent ---- */

/* Copy and paste both ways between the SPICE client and the desktop,
 * through the image's spice-vdagent: "xclip -sel c /etc/hostname" typed in
 * the terminal puts "vdi-desktop" on the client's clipboard; the client
 * then offers "green", and "xsetroot -solid $(xclip -o -sel c)" turns the
 * background green. */
static void clipboard_checks(struct viewer *spice)
{
        struct spice_clip c;
        g_autoptr(pic) p = NULL;
        double t0 = now_s();

        spice_clip_attach(spice->spice, &c);
        type(spice, "xclip -sel c /etc/hostname\n");
        spice_client_run(60000, spice_clip_got, &c);
        g_autofree char *head = g_strndup((const char *)c.got->data, MIN(c.got->len, 40));
        g_autofree char *shown = g_strescape(head, NULL); /* one TAP line */
        check(c.got_done && c.got->len == strlen("vdi-desktop\n") && !memcmp(c.got->data, "vdi-desktop\n", c.got->len),
              "SPICE: text copied in the desktop (xclip) reaches the client's clipboard: %u bytes \"%s\" (%.1f s)",
              c.got->len, shown, now_s() - t0);

        t0 = now_s();
        spice_clip_offer(spice->spice, &c, "green", strlen("green"));
        pump(1000); /* the agent takes the X selection first */
        type(spice, "xsetroot -solid $(xclip -o -sel c)\n");
        bool ok = wait_pic(spice, 60, background_is, GUINT_TO_POINTER(0x00ff00), NULL, &p);
        if (p)
                pic_save(p, "spice-pasted-green");
        if (!check(ok && c.requested, "SPICE: the client's clipboard (\"green\") pasted in the desktop turns the "
                                      "background green (asked for: %s, %.1f s)",
                   c.requested ? "yes" : "no", now_s() - t0))
                describe("SPICE", p);
        spice_clip_detach(spice->spice, &c);
}

/* RDP's display control asks for each size in turn, as xfreerdp
 * /dynamic-resolution does when its window is resized: vdi-vm turns it
 * into virtio-gpu's display config event, the guest's udev hook sets the
 * new mode with xrandr, and both clients get pictures of that size. Then
 * SPICE's way. */
static void resize_checks(struct viewer *rdp, struct viewer *spice, uint32_t bg)
{
        static const struct tclient_monitor sizes[] = { { 0, 0, 1280, 800 }, { 0, 0, 1600, 900 } };
        g_autoptr(pic) before = snap(rdp);
        struct box b;
        unsigned lines = before && terminal_box(before, &b) ? text_lines(before, &b) : 0;

        if (!check(lines > 0, "RDP: the terminal shows %u text lines before the resize", lines) ||
            !check(tclient_display_control_ready(rdp->rdp, 30000),
                   "RDP: the server opened the display control channel"))
                return;
        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                const struct follow f = { sizes[i].width, sizes[i].height, bg, lines };
                double t0 = now_s();

                if (!check(tclient_send_layout(rdp->rdp, &sizes[i], 1) == 0, "RDP: the client asks for %ux%u", f.w,
                           f.h) ||
                    !both_follow(rdp, spice, &f, t0))
                        return;
        }
        spice_resize_check(spice, rdp, bg, lines);
}

/* ---- the host ---- */

static struct hostd_reply call(const char *method, const char *path, const char *body)
{
        struct hostd_reply r;
        hostd_req(&hp, method, path, body, CERT_CLIENT, &r);
        return r;
}

/* A one-time ticket. vdi-hostd answers 503 until vdi-vm's control socket
 * is connected, which takes a while after start under the lab's load. */
static json_t *ticket(const char *protocol)
{
        g_autofree char *body = g_strdup_printf("{\"protocol\": \"%s\", \"user\": \"golden\", \"expiry_s\": 600}",
                                                protocol);
        double t0 = now_s();
        struct hostd_reply r;
        json_t *t;

        for (;;) {
                r = call("POST", "/api/v1/vms/" VM_ID "/tickets", body);
                if (r.status != 503 || now_s() - t0 > 180)
                        break;
                hostd_reply_clear(&r);
                g_usleep(500 * 1000);
        }
        t = r.status == 200 ? json_incref(r.json) : NULL;
        check(t != NULL, "a one-time %s ticket from vdi-hostd (HTTP %ld, %.1f s%s%s)", protocol, r.status,
              now_s() - t0, t ? "" : ": ", t ? "" : r.raw);
        hostd_reply_clear(&r);
        return t;
}

/* A one-time RDP ticket and FreeRDP's client with it: TLS + NLA, the
 * graphics pipeline (planar). */
static bool connect_rdp(struct viewer *v)
{
        json_t *t = ticket("rdp");
        double t0 = now_s();
        int rc;

        if (!t)
                return false;
        struct tclient_opts o = { .host = json_string_value(json_object_get(t, "host")),
                                  .port = (uint16_t)json_integer_value(json_object_get(t, "port")),
                                  .user = json_string_value(json_object_get(t, "username")),
                                  .password = json_string_value(json_object_get(t, "password")),
                                  .security = TCLIENT_NLA, .gfx = true, .width = W, .height = H,
                                  .display_control = true };
        rc = tclient_connect(&o, &v->rdp);
        json_decref(t);
        return check(rc == 0, "RDP: TLS + NLA with the ticket (%.1f s, %d)", now_s() - t0, rc);
}

/* The import body: the manifest, or its files linked into OUTDIR/base. */
static char *import_body(const char *bundle)
{
        g_autofree char *manifest = g_build_filename(bundle, "manifest.json", NULL);
        json_error_t jerr;
        json_t *m = json_load_file(manifest, 0, &jerr);
        static const char *const files[] = { "kernel", "initrd", "disk" };
        bool linked = true;
        char *body;

        if (!check(m != NULL, "the bundle's manifest.json is JSON (%s)", m ? manifest : jerr.text))
                return NULL;
        for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
                g_autofree char *base = g_path_get_basename(json_string_value(json_object_get(m, files[i])));
                g_autofree char *here = g_build_filename(out, "base", base, NULL);
                linked = linked && access(here, R_OK) == 0;
        }
        if (linked) {
                for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
                        g_autofree char *base = g_path_get_basename(json_string_value(json_object_get(m, files[i])));
                        g_autofree char *here = g_build_filename(out, "base", base, NULL);
                        json_object_set_new(m, files[i], json_string(here));
                }
                json_object_set_new(m, "mode", json_string("link"));
        }
        body = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        return body;
}

/* The image's own agent (/usr/local/sbin/vdi-agent) opened vdi-vm's port
 * org.vdi.agent.0 once the desktop was up (vdi-vm's "agent-ready", which an
 * instant-clone parent waits for: hostd/parent.c); it says so on the
 * serial console. */
static void agent_checks(void)
{
        g_autofree char *path = g_build_filename(hp.state_dir, "vms", VM_ID, "console.log", NULL);
        bool seen = false;

        for (int i = 0; i < 120 && !seen; i++) {
                g_autofree char *text = NULL;
                seen = g_file_get_contents(path, &text, NULL, NULL) &&
                       strstr(text, "VDI-AGENT ready port=org.vdi.agent.0");
                if (!seen)
                        g_usleep(G_USEC_PER_SEC / 2);
        }
        check(seen, "the image's vdi-agent opened org.vdi.agent.0 once the desktop was up (VDI-AGENT ready)");
}

/* On failure: what vdi-hostd knows of the VM (state, pid, events). */
static void describe_vm(void)
{
        struct hostd_reply r = call("GET", "/api/v1/vms/" VM_ID, NULL);
        printf("# vdi-hostd: GET /api/v1/vms/" VM_ID ": %ld %s\n", r.status, r.raw ? r.raw : "");
        hostd_reply_clear(&r);
}

static void keep_file(const char *from, const char *name)
{
        g_autofree char *text = NULL, *to = g_build_filename(out, name, NULL);
        gsize len;

        if (g_file_get_contents(from, &text, &len, NULL))
                g_file_set_contents(to, text, (gssize)len, NULL);
}

static void run(const char *bundle)
{
        g_autofree char *body = NULL, *vm_body = NULL;
        struct hostd_reply r;
        struct viewer rdp = { .name = "RDP" }, spice = { .name = "SPICE" };
        g_autoptr(pic) p = NULL;
        g_autofree char *ca = g_build_filename(hp.pki, "ca.pem", NULL);
        json_t *t = NULL;
        double t_start, t0;

        body = import_body(bundle);
        if (!body)
                return;
        printf("# import body: %s\n", body);
        t0 = now_s();
        r = call("PUT", "/api/v1/images/" IMAGE_ID, body);
        if (!check(r.status == 201, "PUT /api/v1/images/" IMAGE_ID " with the manifest imports it (HTTP %ld %s, %.1f s)",
                   r.status, r.status == 201 ? "" : r.raw, now_s() - t0)) {
                hostd_reply_clear(&r);
                return;
        }
        hostd_reply_clear(&r);
        r = call("GET", "/api/v1/images/" IMAGE_ID, NULL);
        bool gpu = r.status == 200 && !g_strcmp0(json_string_value(json_object_get(r.json, "display")), "virtio-gpu");
        check(gpu, "the image's desktops get virtio-gpu (manifest \"display\"; HTTP %ld %s)", r.status, gpu ? "" : r.raw);
        hostd_reply_clear(&r);

        vm_body = g_strdup_printf("{\"image\": \"" IMAGE_ID "\", \"cpus\": %s, \"memory_mb\": %s}",
                                  getenv("GOLDEN_CPUS") ? getenv("GOLDEN_CPUS") : "2",
                                  getenv("GOLDEN_MEMORY") ? getenv("GOLDEN_MEMORY") : "1024");
        r = call("PUT", "/api/v1/vms/" VM_ID, vm_body);
        bool made = check(r.status == 201, "PUT /api/v1/vms/" VM_ID " makes a linked clone (HTTP %ld %s)", r.status,
                          r.status == 201 ? "" : r.raw);
        hostd_reply_clear(&r);
        if (!made)
                return;
        r = call("POST", "/api/v1/vms/" VM_ID "/start", NULL);
        t_start = now_s();
        bool started = check(r.status == 200, "POST /api/v1/vms/" VM_ID "/start (HTTP %ld %s)", r.status,
                             r.status == 200 ? "" : r.raw);
        hostd_reply_clear(&r);
        if (!started)
                return;
        /* ---- SPICE, from the boot on: it watches for the desktop ---- */
        if (!(t = ticket("spice")))
                return;
        struct spice_client_opts so = { .host = json_string_value(json_object_get(t, "host")),
                                        .tls_port = (unsigned)json_integer_value(json_object_get(t, "port")),
                                        .password = json_string_value(json_object_get(t, "password")),
                                        .ca_file = ca };
        t0 = now_s();
        spice.spice = spice_client_connect(&so);
        bool linked = spice_client_wait_main(spice.spice, 300000) && spice_client_wait_inputs(spice.spice, 300000) &&
                      spice_client_wait_primary(spice.spice, 300000);
        json_decref(t);
        if (!check(linked, "SPICE: TLS verified with the cluster CA, the ticket, display and inputs (%.1f s, error %d)",
                   now_s() - t0, spice_client_error(spice.spice)))
                goto out;

        /* GOLDEN_RDP_FROM_BOOT=1: RDP connects now too and must survive the
         * boot (it was dropped while Xorg started; see rdp_session_end in
         * vdi-vm.log). */
        bool rdp_from_boot = g_strcmp0(getenv("GOLDEN_RDP_FROM_BOOT"), "1") == 0;
        if (rdp_from_boot && !connect_rdp(&rdp))
                goto out;

        const char *limit_env = getenv("GOLDEN_BOOT_TIMEOUT");
        double limit = limit_env ? atof(limit_env) : 900;
        bool up = wait_pic(&spice, limit - (now_s() - t_start), desktop_up, GUINT_TO_POINTER(BACKGROUND),
                           park_pointer, &p);
        double boot = now_s() - t_start;
        if (p && !up)
                pic_save(p, "spice-failed");
        if (!check(up, "SPICE: the golden desktop is up: background #205080, the terminal with a prompt at (64,64) "
                       "(%.1f s after start)",
                   boot)) {
                describe("SPICE", p);
                printf("# SPICE %s\n", alive(&spice) ? "still connected" : "disconnected");
                goto out;
        }
        printf("# measured boot-to-desktop %.1f s (vdi-hostd's start of the VM to the desktop on the SPICE client)\n",
               boot);
        fflush(stdout);
        /* Let the session settle (prompt, cursor) before the reference. */
        pump(3000);
        pic_free(p);
        p = snap(&spice);
        if (p)
                pic_save(p, "spice-desktop");

        /* ---- RDP on the desktop that is up ---- */
        if (rdp_from_boot) {
                if (!check(alive(&rdp), "RDP: the client connected since the boot is still connected")) {
                        describe_vm();
                        goto out;
                }
        } else if (!connect_rdp(&rdp)) {
                goto out;
        }
        t0 = now_s();
        pic_free(p);
        p = NULL;
        bool shown = wait_pic(&rdp, 120, desktop_up, GUINT_TO_POINTER(BACKGROUND), NULL, &p);
        if (p)
                pic_save(p, "rdp-desktop");
        if (!check(shown, "RDP: the desktop is on the client (%.1f s)", now_s() - t0)) {
                describe("RDP", p);
                goto out;
        }
        if (type_checks(&rdp, "rdp", "red", 0xff0000, BACKGROUND)) {
                /* The other client sees what RDP typed. */
                pic_free(p);
                p = NULL;
                bool seen = wait_pic(&spice, 60, background_is, GUINT_TO_POINTER(0xff0000), NULL, &p);
                if (p)
                        pic_save(p, "spice-red");
                if (!check(seen, "SPICE: the client still connected sees the red background typed over RDP"))
                        describe("SPICE", p);
        }

        /* ---- SPICE's keyboard ---- */
        if (type_checks(&spice, "spice", "blue", 0x0000ff, 0xff0000)) {
                pic_free(p);
                p = NULL;
                bool seen = wait_pic(&rdp, 60, background_is, GUINT_TO_POINTER(0x0000ff), NULL, &p);
                if (p)
                        pic_save(p, "rdp-blue");
                if (!check(seen, "RDP: the client still connected sees the blue background typed over SPICE"))
                        describe("RDP", p);
        }

        /* ---- a new window size ---- */
        resize_checks(&rdp, &spice, 0x0000ff);

        /* ---- copy and paste (the agent is up after SPICE's resize) ---- */
        clipboard_checks(&spice);

        /* ---- our own agent (instant clones' readiness) ---- */
        agent_checks();

out:
        if (n_failed)
                describe_vm();
        if (spice.spice)
                spice_client_free(spice.spice);
        if (rdp.rdp)
                tclient_free(rdp.rdp);
        t0 = now_s();
        r = call("POST", "/api/v1/vms/" VM_ID "/stop", NULL);
        check(r.status == 200 && !g_strcmp0(json_string_value(json_object_get(r.json, "state")), "stopped"),
              "POST /api/v1/vms/" VM_ID "/stop: stopped (HTTP %ld, %.1f s)", r.status, now_s() - t0);
        hostd_reply_clear(&r);
}

int main(int argc, char **argv)
{
        g_autofree char *work = NULL, *vmdir = NULL, *clone = NULL, *cmd = NULL, *console = NULL, *log = NULL;
        const char *top = getenv("abs_top_builddir") ? getenv("abs_top_builddir") : TOP_BUILDDIR;

        if (argc != 3) {
                fprintf(stderr, "usage: golden-lab BUNDLE OUTDIR\n");
                return 2;
        }
        out = argv[2];
        curl_global_init(CURL_GLOBAL_DEFAULT);
        /* The PKI and the runtime sockets on the lab's tmpfs (no sockets
         * on 9p); the state, clone included, in OUTDIR. */
        work = g_dir_make_tmp("golden-lab-XXXXXX", NULL);
        if (!check(work && hostd_proc_pki(work) == 0, "the harness PKI in %s", work ? work : "(none)"))
                return 1;
        hp.pki = work;
        hp.dir = g_build_filename(work, "hostd", NULL);
        hp.state_dir = g_build_filename(out, "state", NULL);
        {
                /* A fresh store each time: tests/lab/run boots the lab once
                 * more for the same command when the lab's kernel dies. */
                g_autofree char *q = g_shell_quote(hp.state_dir);
                g_autofree char *rm = g_strdup_printf("rm -rf %s", q);
                (void)!system(rm);
        }
        hp.framebuffer = G_STRINGIFY(W) "x" G_STRINGIFY(H);
        /* Time for a sanitizer report to be written whole before a kill. */
        hp.stop_timeout_s = 60;
        g_mkdir_with_parents(hp.dir, 0700);
        int started = hostd_proc_start(&hp);
        if (check(started == 0, "vdi-hostd starts (mutual TLS, port %d)", hp.port))
                run(argv[1]);

        vmdir = g_build_filename(hp.state_dir, "vms", VM_ID, NULL);
        console = g_build_filename(vmdir, "console.log", NULL);
        log = g_build_filename(hp.dir, "hostd.log", NULL);
        keep_file(console, "console.log");
        g_free(console);
        console = g_build_filename(vmdir, "vdi-vm.log", NULL);
        keep_file(console, "vdi-vm.log");
        {
                /* vdi-vm runs with the sanitizers of this build: a report in
                 * its log is a bug even when everything else passed (it
                 * crashed on stop with a SPICE client connected). */
                g_autofree char *text = NULL;
                if (g_file_get_contents(console, &text, NULL, NULL)) {
                        const char *hit = strstr(text, "ERROR: AddressSanitizer");
                        if (!hit)
                                hit = strstr(text, "runtime error:");
                        g_autofree char *line = hit ? g_strndup(hit, strcspn(hit, "\n")) : NULL;
                        check(!hit, "vdi-vm.log has no sanitizer report%s%s", hit ? ": " : "", hit ? line : "");
                }
        }
        keep_file(log, "hostd.log");
        clone = g_build_filename(vmdir, "disk.qcow2", NULL);
        if (access(clone, F_OK) == 0) {
                cmd = g_strdup_printf("%s/hostd/vdi-img check %s", top, clone);
                check(system(cmd) == 0, "the clone passes vdi-img check");
        }
        {
                struct hostd_reply r = call("DELETE", "/api/v1/vms/" VM_ID, NULL);
                check(r.status == 200, "DELETE /api/v1/vms/" VM_ID " (HTTP %ld)", r.status);
                hostd_reply_clear(&r);
        }
        hostd_proc_destroy(&hp);
        g_free(cmd);
        cmd = g_strdup_printf("rm -rf %s", work);
        (void)!system(cmd);
        curl_global_cleanup();
        printf("1..%d\n", n_checks);
        return n_failed ? 1 : 0;
}
