/* Test helpers for the web display protocol (protocols/web/PROTOCOL.md),
 * shared by tests/web/web.c (the display server alone) and
 * tests/web/gateway.c (through vdi-gateway): a libsoup WebSocket client
 * on its own main context, and the canvas's pixels in headless Chromium. */
#pragma once

#include <libsoup/soup.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/cdp.h"

struct wsc {
        GMainContext *ctx;
        SoupSession *session;
        SoupWebsocketConnection *conn;
        GError *error;
        bool done;
        unsigned messages;
        guint8 first_type;
        guint status; /* of the handshake */
        guint8 types[64]; /* of the first messages */
        guint8 encodings[8]; /* of LAYOUT messages */
        unsigned n_layouts;
};

/* Connect to wss://127.0.0.1:port/path trusting the CA file ca, with
 * origin and cookie (a Cookie header; either may be NULL = none). True
 * when the upgrade succeeded; w->status is the handshake's status. Call
 * wsc_close either way. */
bool wsc_open(struct wsc *w, const char *ca, uint16_t port, const char *path, const char *origin,
              const char *cookie);
void wsc_send(struct wsc *w, const void *data, size_t len);
void wsc_send_hello(struct wsc *w, const char *ticket, uint8_t flags);
/* Wait for the server to close; its close code (0: closed without a
 * close frame), or -1 when still open after 10 s. */
int wsc_wait_closed(struct wsc *w);
/* Wait (10 s) for the first message (the LAYOUT of an admitted session). */
void wsc_wait_message(struct wsc *w);
void wsc_close(struct wsc *w);

/* A thread iterating ctx until *stop is set (and ctx woken): what
 * vdi-vm's display thread does, with ctx as its thread-default context
 * (soup's async work, TLS handshakes and WebSocket I/O, runs there). */
struct webtest_loop {
        GMainContext *ctx;
        gint stop;
};
gpointer webtest_loop_thread(gpointer loop);
/* Stop and join thread, which runs webtest_loop_thread(loop). */
void webtest_loop_join(struct webtest_loop *loop, GThread *thread);
/* glib-networking ran TLS handshakes on GLib's thread pool: let its idle
 * threads exit now, not while LeakSanitizer stops the world at exit (a
 * thread exiting then crashes LSan's tracer). */
void webtest_quiet_thread_pool(void);

/* The canvas (#screen) pixel at (x, y) as 0xRRGGBB. */
uint32_t webtest_canvas_pixel(struct cdp *c, unsigned x, unsigned y);
/* Largest difference of one color channel between two 0xRRGGBB. */
int webtest_channel_diff(uint32_t a, uint32_t b);
