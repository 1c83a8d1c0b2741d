/* One browser session of the web display server: admission (HELLO with
 * the ticket), input to the display source, frames out (H.264 or PNG
 * tiles), throttled by the client's frame acknowledgements. */
#include "config.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "protocols/damage.h"
#include "tile.h"
#include "video.h"

/* Frames sent and not yet acknowledged, at most. */
#define MAX_IN_FLIGHT 2
/* Damage kept between frames (more is merged into a bounding box). */
#define MAX_RECTS 64

struct web_session {
        struct web_server *s;
        SoupWebsocketConnection *conn;
        char *peer, *user;
        GSource *hello_timeout;
        bool admitted, closing;
        enum web_encoding encoding;
        struct web_video *video; /* with WEB_ENC_H264 */
        uint64_t generation; /* of the surface the encoder and client know */
        uint32_t frame, acked;
        bool need_full;
        struct display_rect rects[MAX_RECTS];
        size_t n_rects;
        int64_t started_us, last_input_us;
        /* What the guest was told is held, released when the session ends
         * (a closed tab must not leave Ctrl down in the guest). */
        uint8_t keys_down[KEY_CNT / 8];
        uint32_t pointer_x, pointer_y, buttons;
};

static void end_session(struct web_session *ss, gushort code, const char *reason)
{
        if (ss->closing)
                return;
        ss->closing = true;
        log_info("web_session_end", "peer=%s user=%s code=%u reason=\"%s\"", ss->peer,
                 ss->user ? ss->user : "-", code, reason);
        if (soup_websocket_connection_get_state(ss->conn) == SOUP_WEBSOCKET_STATE_OPEN)
                soup_websocket_connection_close(ss->conn, code, reason);
}

static void send_bytes(struct web_session *ss, const uint8_t *hdr, size_t hlen, const uint8_t *data,
                       size_t len)
{
        GByteArray *a;
        GBytes *b;

        /* The client may have started closing: nothing more to say. */
        if (soup_websocket_connection_get_state(ss->conn) != SOUP_WEBSOCKET_STATE_OPEN)
                return;
        a = g_byte_array_sized_new((guint)(hlen + len));

        g_byte_array_append(a, hdr, (guint)hlen);
        if (len)
                g_byte_array_append(a, data, (guint)len);
        b = g_byte_array_free_to_bytes(a);
        soup_websocket_connection_send_message(ss->conn, SOUP_WEBSOCKET_DATA_BINARY, b);
        g_bytes_unref(b);
}

static void send_layout(struct web_session *ss, const struct display_surface *surf)
{
        uint8_t b[WEB_LAYOUT_LEN];
        size_t n = web_out_layout(b, (uint16_t)surf->width, (uint16_t)surf->height, ss->encoding);
        send_bytes(ss, b, n, NULL, 0);
}

/* A new surface geometry (or the first): tell the client, start over
 * (the encoder thread makes a new encoder when the size changed). */
static void new_geometry(struct web_session *ss, const struct display_surface *surf)
{
        ss->generation = surf->generation;
        ss->need_full = true;
        send_layout(ss, surf);
}

static void count_frame(struct web_server *s, bool h264, size_t bytes)
{
        g_mutex_lock(&s->lock);
        s->stats.frames++;
        s->stats.bytes += bytes;
        if (h264)
                s->stats.h264_frames++;
        else
                s->stats.tile_frames++;
        g_mutex_unlock(&s->lock);
}

/* An H.264 frame came back from the encoder thread. */
static void on_video(void *opaque, uint32_t frame, GBytes *msg, size_t picture_bytes, int err)
{
        struct web_session *ss = opaque;

        if (ss->closing)
                return;
        if (err == -ENOENT) {
                /* No encoder here after all: PNG tiles, from a full frame,
                 * announced by a new LAYOUT at the next tick. */
                ss->encoding = WEB_ENC_PNG;
                ss->acked = ss->frame;
                ss->generation = UINT64_MAX;
                return;
        }
        if (err < 0) {
                log_warning("web_encode_failed", "peer=%s error=\"%s\"", ss->peer, strerror(-err));
                end_session(ss, WEB_CLOSE_ENCODER, "cannot encode the display");
                return;
        }
        if (soup_websocket_connection_get_state(ss->conn) != SOUP_WEBSOCKET_STATE_OPEN)
                return;
        soup_websocket_connection_send_message(ss->conn, SOUP_WEBSOCKET_DATA_BINARY, msg);
        count_frame(ss->s, true, picture_bytes);
}

static int send_tiles(struct web_session *ss, const struct display_surface *surf)
{
        struct display_rect all = { 0, 0, surf->width, surf->height };
        const struct display_rect *rects = ss->need_full ? &all : ss->rects;
        size_t n = ss->need_full ? 1 : ss->n_rects, bytes = 0;
        g_autoptr(GByteArray) png = g_byte_array_new();
        uint8_t hdr[WEB_TILE_HDR_LEN];

        ss->frame++;
        for (size_t i = 0; i < n; i++) {
                /* Clip to the surface: damage may predate a smaller mode. */
                struct display_rect r = rects[i];
                if (r.x >= surf->width || r.y >= surf->height)
                        continue;
                r.w = MIN(r.w, surf->width - r.x);
                r.h = MIN(r.h, surf->height - r.y);
                for (uint32_t y = r.y; y < r.y + r.h; y += WEB_TILE_MAX)
                        for (uint32_t x = r.x; x < r.x + r.w; x += WEB_TILE_MAX) {
                                struct display_rect t = { x, y, MIN(WEB_TILE_MAX, r.x + r.w - x),
                                                          MIN(WEB_TILE_MAX, r.y + r.h - y) };
                                int e;

                                g_byte_array_set_size(png, 0);
                                e = web_tile_png(surf, t, png);
                                if (e < 0)
                                        return e;
                                send_bytes(ss, hdr,
                                           web_out_tile(hdr, ss->frame, (uint16_t)t.x, (uint16_t)t.y,
                                                        (uint16_t)t.w, (uint16_t)t.h),
                                           png->data, png->len);
                                bytes += png->len;
                        }
        }
        send_bytes(ss, hdr, web_out_frame_end(hdr, ss->frame), NULL, 0);
        count_frame(ss->s, false, bytes);
        return 0;
}

static void session_frame(struct web_session *ss, const struct display_surface *surf)
{
        int64_t now = g_get_monotonic_time();
        int r;

        if (now - ss->last_input_us > (int64_t)ss->s->cfg.idle_timeout_s * G_USEC_PER_SEC) {
                end_session(ss, WEB_CLOSE_TIMEOUT, "idle timeout");
                return;
        }
        if (now - ss->started_us > (int64_t)ss->s->cfg.max_session_s * G_USEC_PER_SEC) {
                end_session(ss, WEB_CLOSE_TIMEOUT, "session time limit reached");
                return;
        }
        if (surf->generation != ss->generation)
                new_geometry(ss, surf);
        if (!ss->need_full && ss->n_rects == 0)
                return;
        if (ss->frame - ss->acked >= MAX_IN_FLIGHT)
                return; /* the damage waits for the client to catch up */
        if (ss->encoding == WEB_ENC_H264) {
                /* One frame at the encoder at a time; the damage waits. */
                if (!web_video_submit(ss->video, surf, ss->frame + 1, ss->need_full))
                        return;
                ss->frame++;
                ss->need_full = false;
                ss->n_rects = 0;
                return;
        }
        r = send_tiles(ss, surf);
        if (r < 0) {
                log_warning("web_encode_failed", "peer=%s error=\"%s\"", ss->peer, strerror(-r));
                end_session(ss, WEB_CLOSE_ENCODER, "cannot encode the display");
                return;
        }
        ss->need_full = false;
        ss->n_rects = 0;
}

gboolean web_session_tick(gpointer data)
{
        struct web_server *s = data;
        struct display_rect rects[MAX_RECTS];
        struct display_surface surf;
        int n;

        /* Damage is read every tick (read-once), even with nobody to send
         * it to: a new session starts with a full frame anyway. */
        n = s->source.ops->collect_damage(s->source.opaque, rects, MAX_RECTS);
        if (s->source.ops->get_surface(s->source.opaque, &surf) < 0 ||
            surf.format != DISPLAY_FORMAT_XRGB8888 || surf.width > UINT16_MAX ||
            surf.height > UINT16_MAX) {
                s->have_surface = false;
                return G_SOURCE_CONTINUE;
        }
        s->surface = surf;
        s->have_surface = true;
        for (guint i = 0; i < s->sessions->len; i++) {
                struct web_session *ss = g_ptr_array_index(s->sessions, i);
                if (!ss->admitted || ss->closing)
                        continue;
                if (n > 0)
                        damage_add(ss->rects, &ss->n_rects, MAX_RECTS, rects, (size_t)n);
                session_frame(ss, &surf);
        }
        return G_SOURCE_CONTINUE;
}

static void count(struct web_server *s, uint64_t *counter)
{
        g_mutex_lock(&s->lock);
        (*counter)++;
        g_mutex_unlock(&s->lock);
}

static void admit(struct web_session *ss, const struct web_in_msg *m)
{
        struct web_server *s = ss->s;

        if (m->type != WEB_IN_HELLO || m->u.hello.version != WEB_PROTO_VERSION) {
                count(s, &s->stats.refused);
                end_session(ss, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                            m->type != WEB_IN_HELLO ? "the first message must be HELLO"
                                                    : "unsupported protocol version");
                return;
        }
        if (!web_server_consume_ticket(s, m->u.hello.ticket, m->u.hello.ticket_len, &ss->user)) {
                count(s, &s->stats.refused);
                end_session(ss, WEB_CLOSE_TICKET, "ticket refused (wrong, used or expired)");
                return;
        }
        /* One session per desktop: the newest wins (a reconnect after a
         * network blip must not wait for the dead one to time out). */
        for (guint i = 0; i < s->sessions->len; i++) {
                struct web_session *o = g_ptr_array_index(s->sessions, i);
                if (o != ss && o->admitted)
                        end_session(o, WEB_CLOSE_REPLACED, "replaced by a new session");
        }
        g_clear_pointer(&ss->hello_timeout, g_source_destroy);
        ss->admitted = true;
        s->pending--;
        ss->started_us = ss->last_input_us = g_get_monotonic_time();
        ss->encoding = (m->u.hello.flags & WEB_HELLO_H264) && !s->cfg.force_tiles ? WEB_ENC_H264
                                                                                   : WEB_ENC_PNG;
        g_mutex_lock(&s->lock);
        s->stats.logons++;
        s->stats.sessions++;
        g_mutex_unlock(&s->lock);
        if (ss->encoding == WEB_ENC_H264)
                ss->video = web_video_new(s->ctx, s->cfg.h264_encoder, on_video, ss);
        log_info("web_session_start", "peer=%s user=%s encoding=%s", ss->peer, ss->user,
                 ss->encoding == WEB_ENC_H264 ? "h264" : "png");
        if (s->cfg.client_event)
                s->cfg.client_event(s->cfg.client_event_opaque, "web", true, ss->peer);
        /* The first frame goes out at the next tick; the layout now. */
        if (s->have_surface)
                new_geometry(ss, &s->surface);
        else
                ss->generation = UINT64_MAX;
}

static void handle(struct web_session *ss, const struct web_in_msg *m)
{
        struct web_server *s = ss->s;
        const struct display_source *src = &s->source;
        uint8_t b[WEB_PONG_LEN];

        switch (m->type) {
        case WEB_IN_HELLO:
                end_session(ss, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR, "HELLO sent twice");
                return;
        case WEB_IN_KEY:
                if (m->u.key.evdev && m->u.key.evdev < KEY_CNT) {
                        uint8_t bit = (uint8_t)(1u << (m->u.key.evdev % 8));
                        if (m->u.key.pressed)
                                ss->keys_down[m->u.key.evdev / 8] |= bit;
                        else
                                ss->keys_down[m->u.key.evdev / 8] &= (uint8_t)~bit;
                        src->ops->input_key(src->opaque, m->u.key.evdev, m->u.key.pressed);
                }
                break;
        case WEB_IN_POINTER:
                if (s->have_surface) {
                        /* Pixels of the surface to the absolute 0..32767 scale. */
                        uint32_t w = MAX(s->surface.width, 2), h = MAX(s->surface.height, 2);
                        uint32_t x = MIN(m->u.pointer.x, w - 1), y = MIN(m->u.pointer.y, h - 1);
                        ss->pointer_x = x * DISPLAY_POINTER_MAX / (w - 1);
                        ss->pointer_y = y * DISPLAY_POINTER_MAX / (h - 1);
                        ss->buttons = m->u.pointer.buttons;
                        src->ops->input_pointer(src->opaque, ss->pointer_x, ss->pointer_y, ss->buttons);
                }
                break;
        case WEB_IN_WHEEL:
                src->ops->input_wheel(src->opaque, m->u.wheel);
                break;
        case WEB_IN_RESIZE: {
                /* The tab's size, made a layout a guest takes (even width,
                 * 200..8192); the client scales the picture until the new
                 * mode arrives, and keeps scaling when it never does (VESA). */
                struct display_head h = {
                        0, 0, CLAMP(m->u.resize.width & ~1u, DISPLAY_HEAD_MIN, DISPLAY_HEAD_MAX),
                        CLAMP((uint32_t)m->u.resize.height, DISPLAY_HEAD_MIN, DISPLAY_HEAD_MAX)
                };
                char why[160];
                int r = display_request_layout(src, &h, 1, why, sizeof(why));
                count(s, &s->stats.resize_requests);
                log_debug("web_resize_request", "peer=%s width=%u height=%u result=%s", ss->peer, h.width,
                          h.height, r == 0 ? "asked" : g_strerror(-r));
                return;
        }
        case WEB_IN_CLIPBOARD:
                g_mutex_lock(&s->lock);
                g_free(s->clipboard);
                s->clipboard = g_strndup(m->u.clipboard.text, m->u.clipboard.len);
                s->stats.clipboard_bytes += m->u.clipboard.len;
                g_mutex_unlock(&s->lock);
                break;
        case WEB_IN_PING:
                send_bytes(ss, b, web_out_pong(b, m->u.ping), NULL, 0);
                return; /* not user input: no idle reset */
        case WEB_IN_FRAME_ACK:
                /* Only frames that were sent can be acknowledged. */
                if (m->u.frame_ack - ss->acked <= ss->frame - ss->acked)
                        ss->acked = m->u.frame_ack;
                return;
        }
        ss->last_input_us = g_get_monotonic_time();
}

static void on_message(SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer data)
{
        struct web_session *ss = data;
        struct web_in_msg m;
        const char *why = NULL;
        gsize len;
        const uint8_t *d = g_bytes_get_data(message, &len);

        if (ss->closing)
                return;
        if (type != SOUP_WEBSOCKET_DATA_BINARY) {
                if (!ss->admitted)
                        count(ss->s, &ss->s->stats.refused);
                count(ss->s, &ss->s->stats.bad_messages);
                end_session(ss, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA, "binary messages only");
                return;
        }
        if (web_in_parse(d, len, &m, &why) < 0) {
                if (!ss->admitted)
                        count(ss->s, &ss->s->stats.refused);
                count(ss->s, &ss->s->stats.bad_messages);
                end_session(ss, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR, why);
                return;
        }
        if (!ss->admitted)
                admit(ss, &m);
        else
                handle(ss, &m);
}

static void on_error(SoupWebsocketConnection *conn, GError *error, gpointer data)
{
        struct web_session *ss = data;

        if (error->domain != SOUP_WEBSOCKET_ERROR) {
                /* The network: a client gone without a close frame. */
                log_debug("web_connection_lost", "peer=%s error=\"%s\"", ss->peer, error->message);
                return;
        }
        /* A frame soup refused (oversize: over WEB_MAX_IN_MESSAGE, or bad
         * framing); soup closes the connection itself. */
        log_info("web_bad_frame", "peer=%s error=\"%s\"", ss->peer, error->message);
        if (!ss->admitted)
                count(ss->s, &ss->s->stats.refused);
        count(ss->s, &ss->s->stats.bad_messages);
}

static void on_closed(SoupWebsocketConnection *conn, gpointer data)
{
        web_session_free(data);
}

static gboolean on_hello_timeout(gpointer data)
{
        struct web_session *ss = data;

        ss->hello_timeout = NULL;
        count(ss->s, &ss->s->stats.refused);
        end_session(ss, WEB_CLOSE_TIMEOUT, "no ticket in time");
        return G_SOURCE_REMOVE;
}

void web_session_new(struct web_server *s, SoupWebsocketConnection *conn, const char *peer,
                     unsigned hello_timeout_s)
{
        struct web_session *ss = g_new0(struct web_session, 1);

        ss->s = s;
        ss->conn = g_object_ref(conn);
        ss->peer = g_strdup(peer);
        ss->generation = UINT64_MAX;
        /* Every inbound message is bounded (PROTOCOL.md); soup closes the
         * connection with 1009 "message too big" past it. */
        soup_websocket_connection_set_max_incoming_payload_size(conn, WEB_MAX_IN_MESSAGE);
        soup_websocket_connection_set_keepalive_interval(conn, 15);
        g_signal_connect(conn, "message", G_CALLBACK(on_message), ss);
        g_signal_connect(conn, "error", G_CALLBACK(on_error), ss);
        g_signal_connect(conn, "closed", G_CALLBACK(on_closed), ss);
        ss->hello_timeout = g_timeout_source_new_seconds(hello_timeout_s);
        g_source_set_callback(ss->hello_timeout, on_hello_timeout, ss, NULL);
        g_source_attach(ss->hello_timeout, s->ctx);
        g_source_unref(ss->hello_timeout);
        g_ptr_array_add(s->sessions, ss);
        s->pending++;
}

bool web_session_close(struct web_session *ss, unsigned short code, const char *reason)
{
        if (soup_websocket_connection_get_state(ss->conn) != SOUP_WEBSOCKET_STATE_OPEN)
                return false;
        soup_websocket_connection_close(ss->conn, code, reason);
        return true;
}

void web_session_free(struct web_session *ss)
{
        struct web_server *s = ss->s;

        web_video_free(ss->video);
        g_signal_handlers_disconnect_by_data(ss->conn, ss);
        if (ss->hello_timeout)
                g_source_destroy(ss->hello_timeout);
        web_session_close(ss, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "server stopping");
        if (ss->admitted) {
                const struct display_source *src = &s->source;
                for (uint16_t k = 0; k < KEY_CNT; k++)
                        if (ss->keys_down[k / 8] & (1u << (k % 8)))
                                src->ops->input_key(src->opaque, k, false);
                if (ss->buttons)
                        src->ops->input_pointer(src->opaque, ss->pointer_x, ss->pointer_y, 0);
                g_mutex_lock(&s->lock);
                s->stats.sessions--;
                g_mutex_unlock(&s->lock);
                if (s->cfg.client_event)
                        s->cfg.client_event(s->cfg.client_event_opaque, "web", false, ss->peer);
        } else {
                s->pending--;
        }
        g_ptr_array_remove(s->sessions, ss);
        g_object_unref(ss->conn);
        g_free(ss->peer);
        g_free(ss->user);
        g_free(ss);
}
