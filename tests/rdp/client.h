/* A headless RDP client for the tests and the benchmark: FreeRDP's client
 * library with the software GDI (no X), optionally the graphics pipeline
 * with H.264. The connection runs on its own thread; read the picture
 * under tclient_lock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tclient_security { TCLIENT_NLA, TCLIENT_TLS, TCLIENT_RDP };

struct tclient_opts {
        const char *host;
        uint16_t port;
        const char *user, *password;
        enum tclient_security security;
        bool gfx;  /* advertise the graphics pipeline */
        bool h264; /* and AVC420 in it */
        uint32_t width, height;
        /* Hold each graphics-pipeline frame this long before finishing it
         * (FreeRDP acknowledges a frame after that): a slow client. */
        unsigned end_frame_delay_ms;
        /* Load the display control channel, as xfreerdp /dynamic-resolution. */
        bool display_control;
        /* Load the clipboard channel (cliprdr), as xfreerdp +clipboard. */
        bool clipboard;
};

struct tclient;

/* Connect and wait until the session is active. 0 or -errno (-EACCES when
 * the server refused the logon or the connection failed). */
int tclient_connect(const struct tclient_opts *o, struct tclient **out);
void tclient_free(struct tclient *c);

void tclient_lock(struct tclient *c);
void tclient_unlock(struct tclient *c);
/* Under the lock: the client's picture (BGRX, 4 bytes per pixel). */
const uint8_t *tclient_pixels(struct tclient *c, uint32_t *width, uint32_t *height,
                              uint32_t *stride);

/* What arrived: graphics-pipeline surface commands by codec and frames
 * ended, legacy surface-bits frames and bitmap updates, and the picture
 * payload bytes of all of them (codec data, without protocol headers). */
struct tclient_counts {
        unsigned avc420, planar, other, frames_ended;
        unsigned bitmap_updates, surface_frames;
        uint64_t picture_bytes;
};
void tclient_counts(struct tclient *c, struct tclient_counts *out);
bool tclient_connected(struct tclient *c);

/* Keyboard (RDP flags, set-1 code) and mouse (RDP flags, desktop pixels). */
bool tclient_key(struct tclient *c, uint16_t flags, uint16_t code);
bool tclient_mouse(struct tclient *c, uint16_t flags, uint16_t x, uint16_t y);

/* Display control (opts.display_control): true once the server sent its
 * capabilities, waiting up to timeout_ms. */
bool tclient_display_control_ready(struct tclient *c, int timeout_ms);
/* Ask the server for a layout of n monitors (the first is the primary),
 * as xfreerdp does when its window is resized. 0 or -errno. */
struct tclient_monitor {
        int32_t x, y;
        uint32_t width, height;
};
int tclient_send_layout(struct tclient *c, const struct tclient_monitor *m, unsigned n);

/* The pointer the server set last (pointer updates, as xfreerdp draws
 * them), decoded by FreeRDP to BGRA with alpha, rows of
 * TCLIENT_POINTER_MAX pixels. */
#define TCLIENT_POINTER_MAX 96
struct tclient_pointer {
        unsigned updates; /* new shapes and system pointers received */
        bool hidden;      /* the last one was the null system pointer */
        uint32_t width, height, hot_x, hot_y;
        uint32_t pixels[TCLIENT_POINTER_MAX * TCLIENT_POINTER_MAX];
};
void tclient_pointer(struct tclient *c, struct tclient_pointer *out);

/* Clipboard (opts.clipboard), text only, as xfreerdp: the server's
 * format lists are answered and its text fetched at once; its requests
 * are answered with our text. */
struct tclient_clip_counts {
        unsigned server_lists;    /* format lists the server sent */
        unsigned texts;           /* texts received */
        unsigned server_requests; /* the server asked for our text */
};
/* true once the server's Monitor Ready came (and we answered). */
bool tclient_clip_ready(struct tclient *c, int timeout_ms);
/* Copy text (UTF-8) on the client: announced to the server. 0 or -errno. */
int tclient_clip_set(struct tclient *c, const char *text);
/* The last text the server sent (g_free; NULL: none yet) and the counts. */
char *tclient_clip_text(struct tclient *c, struct tclient_clip_counts *counts);
/* true once the server's last text is want, waiting up to timeout_ms. */
bool tclient_clip_wait_text(struct tclient *c, const char *want, int timeout_ms);
/* Hostile clients: send one PDU as is. msg_type CB_FORMAT_LIST (one
 * format, format), CB_FORMAT_DATA_REQUEST (format) or
 * CB_FORMAT_DATA_RESPONSE (data, len bytes, flagged OK). 0 or -EIO. */
int tclient_clip_send_raw(struct tclient *c, uint16_t msg_type, uint32_t format, const uint8_t *data, size_t len);

/* Cut the TCP connection under the client, as a vanished client would. */
void tclient_vanish(struct tclient *c);
