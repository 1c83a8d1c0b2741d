/* protocols/agent/vdagent.c: framing round trips (one chunk, many chunks,
 * fed a byte at a time), the clipboard parsers, and hostile streams: bad
 * chunk sizes and ports, a wrong protocol, an oversize message skipped
 * whole, truncated clipboard messages. */
#include "config.h"

#include <errno.h>
#include <spice/vd_agent.h>
#include <stdlib.h>
#include <string.h>

#include "check-main.h"
#include "protocols/agent/vdagent.h"

static struct vdagent_msg got[8];
static uint8_t *got_data[8];
static unsigned ngot;

static void on_msg(void *opaque, const struct vdagent_msg *m)
{
        (void)opaque;
        ck_assert_uint_lt(ngot, 8);
        got[ngot] = *m;
        got_data[ngot] = malloc(m->size + 1);
        memcpy(got_data[ngot], m->data, m->size);
        got[ngot].data = got_data[ngot];
        ngot++;
}

static void reset_got(void)
{
        for (unsigned i = 0; i < ngot; i++)
                free(got_data[i]);
        ngot = 0;
}

static void put32(uint8_t *p, uint32_t v)
{
        memcpy(p, &v, 4);
}

static void round_trip(size_t size, size_t piece)
{
        struct vdagent_reader r = { 0 };
        uint8_t *payload = malloc(size + 1), *f;
        size_t flen;

        for (size_t i = 0; i < size; i++)
                payload[i] = (uint8_t)(i * 13);
        ck_assert_int_eq(vdagent_frame(VD_AGENT_CLIPBOARD, payload, size, &f, &flen), 0);
        ck_assert_uint_eq(flen, 20 + size + 8 * ((20 + size + 2047) / 2048));
        for (size_t off = 0; off < flen; off += piece)
                ck_assert_int_eq(vdagent_reader_feed(&r, f + off, flen - off < piece ? flen - off : piece, on_msg,
                                                     NULL), 0);
        ck_assert_uint_eq(ngot, 1);
        ck_assert_uint_eq(got[0].type, VD_AGENT_CLIPBOARD);
        ck_assert_uint_eq(got[0].size, size);
        ck_assert(memcmp(got[0].data, payload, size) == 0);
        reset_got();
        vdagent_reader_reset(&r);
        free(f);
        free(payload);
}

START_TEST(test_round_trips)
{
        round_trip(0, 1);
        round_trip(4, 1);
        round_trip(2028, 7);     /* exactly one full chunk */
        round_trip(2029, 4096);  /* one byte into a second chunk */
        round_trip(100000, 1);   /* many chunks, byte by byte */
        round_trip(300000, 65536);
}
END_TEST

START_TEST(test_two_messages_one_chunk)
{
        struct vdagent_reader r = { 0 };
        uint8_t s[8 + 2 * 24];

        put32(s, VDP_CLIENT_PORT);
        put32(s + 4, 48);
        for (int i = 0; i < 2; i++) {
                uint8_t *m = s + 8 + 24 * i;
                memset(m, 0, 24);
                put32(m, VD_AGENT_PROTOCOL);
                put32(m + 4, VD_AGENT_CLIPBOARD_REQUEST);
                put32(m + 16, 4);
                put32(m + 20, VD_AGENT_CLIPBOARD_UTF8_TEXT);
        }
        ck_assert_int_eq(vdagent_reader_feed(&r, s, sizeof(s), on_msg, NULL), 0);
        ck_assert_uint_eq(ngot, 2);
        uint32_t type = 0;
        ck_assert_int_eq(vdagent_parse_request(&got[1], false, &type), 0);
        ck_assert_uint_eq(type, VD_AGENT_CLIPBOARD_UTF8_TEXT);
        reset_got();
        vdagent_reader_reset(&r);
}
END_TEST

static int feed_chunk(struct vdagent_reader *r, uint32_t port, uint32_t size, const uint8_t *payload, size_t n)
{
        uint8_t h[8];
        put32(h, port);
        put32(h + 4, size);
        int e = vdagent_reader_feed(r, h, 8, on_msg, NULL);
        return e < 0 ? e : vdagent_reader_feed(r, payload, n, on_msg, NULL);
}

START_TEST(test_hostile_streams)
{
        struct vdagent_reader r = { 0 };
        uint8_t m[24] = { 0 };

        ck_assert_int_eq(feed_chunk(&r, VDP_CLIENT_PORT, 0, m, 0), -EPROTO);
        vdagent_reader_reset(&r);
        ck_assert_int_eq(feed_chunk(&r, VDP_CLIENT_PORT, 2049, m, 0), -EPROTO);
        vdagent_reader_reset(&r);
        ck_assert_int_eq(feed_chunk(&r, 7, 24, m, 0), -EPROTO);
        vdagent_reader_reset(&r);
        put32(m, 2); /* another protocol version */
        ck_assert_int_eq(feed_chunk(&r, VDP_CLIENT_PORT, 24, m, 24), -EPROTO);
        vdagent_reader_reset(&r);

        /* A message of 4 GiB - 1 announced: skipped whole, counted, and
         * the next message still arrives. */
        put32(m, VD_AGENT_PROTOCOL);
        put32(m + 4, VD_AGENT_CLIPBOARD);
        put32(m + 16, VDAGENT_MSG_MAX + 1);
        ck_assert_int_eq(feed_chunk(&r, VDP_CLIENT_PORT, 20, m, 20), 0);
        static uint8_t junk[2048];
        for (uint32_t left = VDAGENT_MSG_MAX + 1; left;) {
                uint32_t k = left < sizeof(junk) ? left : sizeof(junk);
                ck_assert_int_eq(feed_chunk(&r, VDP_CLIENT_PORT, k, junk, k), 0);
                left -= k;
        }
        ck_assert_uint_eq(r.skipped, 1);
        ck_assert_uint_eq(ngot, 0);
        /* Server-port chunks are passed over. */
        ck_assert_int_eq(feed_chunk(&r, VDP_SERVER_PORT, 5, junk, 5), 0);
        put32(m + 4, VD_AGENT_CLIPBOARD_RELEASE);
        put32(m + 16, 0);
        ck_assert_int_eq(feed_chunk(&r, VDP_CLIENT_PORT, 20, m, 20), 0);
        ck_assert_uint_eq(ngot, 1);
        ck_assert_uint_eq(got[0].type, VD_AGENT_CLIPBOARD_RELEASE);
        reset_got();
        vdagent_reader_reset(&r);
        ck_assert_int_eq(vdagent_frame(1, junk, VDAGENT_MSG_MAX + 1, &(uint8_t *){ NULL }, &(size_t){ 0 }), -EINVAL);
}
END_TEST

START_TEST(test_clipboard_parsers)
{
        uint8_t d[16] = { 0 };
        struct vdagent_msg m = { VD_AGENT_CLIPBOARD_GRAB, d, 8 };
        uint32_t types[4], type, len;
        const uint8_t *data;
        unsigned n;

        put32(d, VD_AGENT_CLIPBOARD_UTF8_TEXT);
        put32(d + 4, VD_AGENT_CLIPBOARD_IMAGE_PNG);
        ck_assert_int_eq(vdagent_parse_grab(&m, false, types, 4, &n), 0);
        ck_assert(n == 2 && types[0] == VD_AGENT_CLIPBOARD_UTF8_TEXT && types[1] == VD_AGENT_CLIPBOARD_IMAGE_PNG);
        ck_assert_int_eq(vdagent_parse_grab(&m, false, types, 1, &n), 0);
        ck_assert_uint_eq(n, 1);
        m.size = 7;
        ck_assert_int_eq(vdagent_parse_grab(&m, false, types, 4, &n), -EINVAL);
        /* With selection: CLIPBOARD only. */
        m.size = 8;
        d[0] = VD_AGENT_CLIPBOARD_SELECTION_PRIMARY;
        ck_assert_int_eq(vdagent_parse_grab(&m, true, types, 4, &n), -EINVAL);
        d[0] = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;
        ck_assert_int_eq(vdagent_parse_grab(&m, true, types, 4, &n), 0);
        ck_assert_uint_eq(n, 1);

        m = (struct vdagent_msg){ VD_AGENT_CLIPBOARD, d, 3 };
        ck_assert_int_eq(vdagent_parse_clipboard(&m, false, &type, &data, &len), -EINVAL);
        memcpy(d, "\x01\0\0\0hi!", 7);
        m.size = 7;
        ck_assert_int_eq(vdagent_parse_clipboard(&m, false, &type, &data, &len), 0);
        ck_assert(type == 1 && len == 3 && memcmp(data, "hi!", 3) == 0);
        ck_assert_int_eq(vdagent_parse_request(&m, false, &type), -EINVAL); /* wrong type */
        m.type = VD_AGENT_CLIPBOARD_REQUEST;
        m.size = 5;
        ck_assert_int_eq(vdagent_parse_request(&m, false, &type), -EINVAL);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vdagent");
        TCase *tc = tcase_create("stream");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_round_trips);
        tcase_add_test(tc, test_two_messages_one_chunk);
        tcase_add_test(tc, test_hostile_streams);
        tcase_add_test(tc, test_clipboard_parsers);
        suite_add_tcase(s, tc);
        return s;
}
