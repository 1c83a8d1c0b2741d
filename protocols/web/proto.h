/* The web display protocol's messages (protocols/web/PROTOCOL.md): parsing
 * of what browsers send and building of what the server sends. Pure byte
 * handling, no I/O and no GLib, so the libFuzzer target
 * (tests/fuzz/web-proto.c) runs it alone. Every field is little-endian. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEB_PROTO_VERSION 1u

/* Largest message a client may send (bytes, the whole WebSocket message):
 * the clipboard text is the only large one. */
#define WEB_MAX_IN_MESSAGE 65536u
#define WEB_MAX_TICKET 256u
#define WEB_MAX_CLIPBOARD (WEB_MAX_IN_MESSAGE - 1u)
/* Largest resize a client may ask for, per axis. */
#define WEB_MAX_DIMENSION 8192u

/* Client → server. */
enum web_in_type {
        WEB_IN_HELLO = 0x01,     /* first message only */
        WEB_IN_KEY = 0x02,
        WEB_IN_POINTER = 0x03,
        WEB_IN_WHEEL = 0x04,
        WEB_IN_RESIZE = 0x05,
        WEB_IN_CLIPBOARD = 0x06,
        WEB_IN_PING = 0x07,
        WEB_IN_FRAME_ACK = 0x08,
};

/* Server → client. */
enum web_out_type {
        WEB_OUT_LAYOUT = 0x81,
        WEB_OUT_VIDEO = 0x82,
        WEB_OUT_TILE = 0x83,
        WEB_OUT_FRAME_END = 0x84,
        WEB_OUT_CURSOR = 0x85,
        WEB_OUT_PONG = 0x86,
};

/* HELLO flags. */
#define WEB_HELLO_H264 0x01u /* the browser decodes H.264 (WebCodecs) */

/* Encodings named in LAYOUT. */
enum web_encoding { WEB_ENC_H264 = 1, WEB_ENC_PNG = 2 };

/* A parsed client message. Pointers point into the parsed buffer. */
struct web_in_msg {
        enum web_in_type type;
        union {
                struct {
                        uint8_t version, flags;
                        const char *ticket; /* not NUL-terminated */
                        size_t ticket_len;
                } hello;
                struct {
                        uint16_t evdev; /* KEY_* from the KeyboardEvent.code */
                        bool pressed;
                } key;
                struct {
                        uint16_t x, y; /* framebuffer pixels */
                        uint8_t buttons; /* DISPLAY_BUTTON_* */
                } pointer;
                int16_t wheel; /* notches, positive = away from the user */
                struct {
                        uint16_t width, height;
                } resize;
                struct {
                        const char *text; /* UTF-8, not NUL-terminated */
                        size_t len;
                } clipboard;
                uint32_t ping;      /* echoed in PONG */
                uint32_t frame_ack; /* the id of a frame the client has drawn */
        } u;
};

/* Parse one client message of len bytes. 0 and *out, or -EBADMSG with
 * *why (a static string) naming what is wrong. Unknown KeyboardEvent.code
 * names are not errors: they parse to evdev 0 (KEY_RESERVED), which the
 * caller drops. */
int web_in_parse(const uint8_t *data, size_t len, struct web_in_msg *out, const char **why);

/* KeyboardEvent.code ("KeyA", "ShiftLeft", ...) to a Linux evdev code, 0
 * when the name is unknown. name is len bytes, not NUL-terminated. */
uint16_t web_keycode_to_evdev(const char *name, size_t len);

/* Headers of server messages; each writes into buf (at least the size
 * named) and returns the header length. The payload follows. */
#define WEB_LAYOUT_LEN 7u
size_t web_out_layout(uint8_t buf[WEB_LAYOUT_LEN], uint16_t width, uint16_t height, uint8_t encoding);
#define WEB_VIDEO_HDR_LEN 6u
size_t web_out_video(uint8_t buf[WEB_VIDEO_HDR_LEN], uint32_t frame, bool keyframe);
#define WEB_TILE_HDR_LEN 13u
size_t web_out_tile(uint8_t buf[WEB_TILE_HDR_LEN], uint32_t frame, uint16_t x, uint16_t y, uint16_t w,
                    uint16_t h);
#define WEB_FRAME_END_LEN 5u
size_t web_out_frame_end(uint8_t buf[WEB_FRAME_END_LEN], uint32_t frame);
#define WEB_PONG_LEN 5u
size_t web_out_pong(uint8_t buf[WEB_PONG_LEN], uint32_t token);
