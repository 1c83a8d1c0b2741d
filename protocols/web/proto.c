/* The web display protocol's messages: see proto.h and PROTOCOL.md. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "protocols/display.h"
#include "proto.h"

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
        put16(p, (uint16_t)v);
        put16(p + 2, (uint16_t)(v >> 16));
}

/* RFC 3629: well-formed UTF-8 only (no overlongs, no surrogates, <= U+10FFFF),
 * and no NUL, so the text can become a C string later. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
        size_t i = 0;

        while (i < n) {
                uint8_t c = s[i];
                size_t k;
                uint32_t cp;

                if (c == 0)
                        return false;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        k = 1;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        k = 2;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        k = 3;
                        cp = c & 0x07;
                } else {
                        return false;
                }
                if (n - i <= k)
                        return false;
                for (size_t j = 1; j <= k; j++) {
                        if ((s[i + j] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (s[i + j] & 0x3f);
                }
                if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
                        return false;
                i += k + 1;
        }
        return true;
}

int web_in_parse(const uint8_t *d, size_t len, struct web_in_msg *out, const char **why)
{
        struct web_in_msg m = { 0 };
        size_t body;

        if (len == 0 || len > WEB_MAX_IN_MESSAGE) {
                *why = len ? "message too large" : "empty message";
                return -EBADMSG;
        }
        m.type = d[0];
        body = len - 1;
        d++;
        switch (m.type) {
        case WEB_IN_HELLO:
                /* version u8, flags u8, ticket length u16, ticket */
                if (body < 4 || body != 4u + get16(d + 2)) {
                        *why = "hello: length does not match its ticket length";
                        return -EBADMSG;
                }
                m.u.hello.version = d[0];
                m.u.hello.flags = d[1];
                m.u.hello.ticket_len = get16(d + 2);
                m.u.hello.ticket = (const char *)d + 4;
                if (m.u.hello.ticket_len == 0 || m.u.hello.ticket_len > WEB_MAX_TICKET) {
                        *why = "hello: empty or oversize ticket";
                        return -EBADMSG;
                }
                break;
        case WEB_IN_KEY:
                /* pressed u8 (0/1), code length u8, KeyboardEvent.code (ASCII) */
                if (body < 3 || body != 2u + d[1] || d[0] > 1) {
                        *why = "key: malformed";
                        return -EBADMSG;
                }
                m.u.key.pressed = d[0];
                m.u.key.evdev = web_keycode_to_evdev((const char *)d + 2, d[1]);
                break;
        case WEB_IN_POINTER:
                /* x u16, y u16, buttons u8 */
                if (body != 5 || (d[4] & ~7u)) {
                        *why = "pointer: malformed";
                        return -EBADMSG;
                }
                m.u.pointer.x = get16(d);
                m.u.pointer.y = get16(d + 2);
                m.u.pointer.buttons = d[4];
                break;
        case WEB_IN_WHEEL:
                if (body != 2) {
                        *why = "wheel: malformed";
                        return -EBADMSG;
                }
                m.u.wheel = (int16_t)get16(d);
                break;
        case WEB_IN_RESIZE:
                if (body != 4) {
                        *why = "resize: malformed";
                        return -EBADMSG;
                }
                m.u.resize.width = get16(d);
                m.u.resize.height = get16(d + 2);
                if (!m.u.resize.width || !m.u.resize.height || m.u.resize.width > WEB_MAX_DIMENSION ||
                    m.u.resize.height > WEB_MAX_DIMENSION) {
                        *why = "resize: size out of range";
                        return -EBADMSG;
                }
                break;
        case WEB_IN_CLIPBOARD:
                if (!utf8_valid(d, body)) {
                        *why = "clipboard: not UTF-8 text";
                        return -EBADMSG;
                }
                m.u.clipboard.text = (const char *)d;
                m.u.clipboard.len = body;
                break;
        case WEB_IN_PING:
        case WEB_IN_FRAME_ACK:
                if (body != 4) {
                        *why = m.type == WEB_IN_PING ? "ping: malformed" : "frame ack: malformed";
                        return -EBADMSG;
                }
                if (m.type == WEB_IN_PING)
                        m.u.ping = get32(d);
                else
                        m.u.frame_ack = get32(d);
                break;
        default:
                *why = "unknown message type";
                return -EBADMSG;
        }
        *out = m;
        return 0;
}

size_t web_out_layout(uint8_t b[WEB_LAYOUT_LEN], uint16_t width, uint16_t height, uint8_t encoding)
{
        b[0] = WEB_OUT_LAYOUT;
        put16(b + 1, width);
        put16(b + 3, height);
        b[5] = encoding;
        b[6] = 1; /* heads; one until display.h describes more */
        return WEB_LAYOUT_LEN;
}

size_t web_out_video(uint8_t b[WEB_VIDEO_HDR_LEN], uint32_t frame, bool keyframe)
{
        b[0] = WEB_OUT_VIDEO;
        put32(b + 1, frame);
        b[5] = keyframe;
        return WEB_VIDEO_HDR_LEN;
}

size_t web_out_tile(uint8_t b[WEB_TILE_HDR_LEN], uint32_t frame, uint16_t x, uint16_t y, uint16_t w,
                    uint16_t h)
{
        b[0] = WEB_OUT_TILE;
        put32(b + 1, frame);
        put16(b + 5, x);
        put16(b + 7, y);
        put16(b + 9, w);
        put16(b + 11, h);
        return WEB_TILE_HDR_LEN;
}

size_t web_out_frame_end(uint8_t b[WEB_FRAME_END_LEN], uint32_t frame)
{
        b[0] = WEB_OUT_FRAME_END;
        put32(b + 1, frame);
        return WEB_FRAME_END_LEN;
}

size_t web_out_pong(uint8_t b[WEB_PONG_LEN], uint32_t token)
{
        b[0] = WEB_OUT_PONG;
        put32(b + 1, token);
        return WEB_PONG_LEN;
}
