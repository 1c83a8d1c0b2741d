/* A headless SPICE client for tests and benchmarks, built on
 * spice-client-glib (no widgets, no X display). It runs on the calling
 * thread's default GMainContext; the wait functions iterate it. */
#pragma once

#include <spice-client.h>
#include <stdbool.h>
#include <stdint.h>

struct spice_client_opts {
        const char *host;     /* "127.0.0.1" */
        unsigned tls_port;    /* 0 = none */
        unsigned plain_port;  /* 0 = none */
        const char *password; /* the ticket */
        const char *ca_file;  /* CA to verify the server with */
        bool main_only;       /* link only the main channel (a stalled client) */
        bool audio;           /* link the playback channel and keep what it plays */
};

struct spice_client;

/* Start connecting. Never NULL. */
struct spice_client *spice_client_connect(const struct spice_client_opts *opts);
void spice_client_free(struct spice_client *c);

/* First error seen on any channel (SPICE_CHANNEL_ERROR_*), or 0. */
int spice_client_error(struct spice_client *c);
/* Wait until an error or timeout; returns the error or 0. */
int spice_client_wait_error(struct spice_client *c, unsigned timeout_ms);

/* Wait until the main channel is open; false on error or timeout. */
bool spice_client_wait_main(struct spice_client *c, unsigned timeout_ms);
/* True once any channel was closed or failed. */
bool spice_client_gone(struct spice_client *c);

/* Wait for the display's primary surface; false on error or timeout. */
bool spice_client_wait_primary(struct spice_client *c, unsigned timeout_ms);
/* The primary surface (xRGB, 4 bytes per pixel), or false. */
bool spice_client_primary(struct spice_client *c, SpiceDisplayPrimary *out);
/* Pixels of the primary that differ (ignoring the X byte) from the
 * width x height image at want (stride width*4); -1 if no primary or the
 * size differs. */
long spice_client_diff(struct spice_client *c, const uint32_t *want, int width, int height);
/* Wait until spice_client_diff == 0. */
bool spice_client_wait_match(struct spice_client *c, const uint32_t *want, int width, int height,
                             unsigned timeout_ms);

/* Wait for the inputs channel and the client (tablet) mouse mode. */
bool spice_client_wait_inputs(struct spice_client *c, unsigned timeout_ms);
SpiceInputsChannel *spice_client_inputs(struct spice_client *c);
SpiceMainChannel *spice_client_main(struct spice_client *c);
/* The pointer shape the cursor channel set (a copy, g_boxed_free it with
 * SPICE_TYPE_CURSOR_SHAPE), waiting up to timeout_ms; NULL if none. */
SpiceCursorShape *spice_client_wait_cursor(struct spice_client *c, unsigned timeout_ms);

/* What the playback channel delivered so far (S16LE interleaved), its
 * rate and channels from playback-start; NULL/0 before any. Owned by c. */
const uint8_t *spice_client_audio(struct spice_client *c, size_t *len, unsigned *rate, unsigned *channels);

/* Protocol bytes received on all channels (after TLS). */
uint64_t spice_client_bytes_read(struct spice_client *c);
/* display-invalidate signals seen. */
uint64_t spice_client_invalidates(struct spice_client *c);

/* Iterate the main context for ms (or until stop returns true). */
void spice_client_run(unsigned ms, bool (*stop)(void *), void *data);

/* The client's side of the clipboard (UTF-8 text) through the guest's
 * agent: the guest's last copied text in got (got_done once it came), and
 * offer (offer_len bytes) handed over when the guest asks for the client's
 * clipboard (requested). spice_clip_attach connects the handlers on the
 * main channel (as soon as it is open: the guest may grab at once);
 * spice_clip_offer grabs the clipboard for offer; spice_clip_detach
 * disconnects. */
struct spice_clip {
        GByteArray *got;
        bool got_done, requested;
        const void *offer;
        size_t offer_len;
        gulong ids[3];
};
void spice_clip_attach(struct spice_client *c, struct spice_clip *clip);
void spice_clip_offer(struct spice_client *c, struct spice_clip *clip, const void *text, size_t len);
void spice_clip_detach(struct spice_client *c, struct spice_clip *clip);
bool spice_clip_got(void *clip);
bool spice_clip_requested(void *clip);
