/* protocols/agent/clip.c: the text clipboard bridged to a guest agent,
 * against the guest side of the protocol framed with vdagent.c (what
 * spice-vdagent sends), policies, hostile guests, UTF-16. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <spice/vd_agent.h>
#include <stdlib.h>
#include <string.h>

#include "check-main.h"
#include "protocols/agent/clip.h"
#include "protocols/agent/filter.h"

/* What the bridge sent the guest (parsed back) and told the client. */
static struct {
        struct vdagent_reader reader;
        uint32_t types[32];
        GByteArray *last_data; /* payload of the last message to the guest */
        unsigned nmsgs, guest_texts, releases;
        char *text;
} S;

static void on_guest_msg(void *opaque, const struct vdagent_msg *m)
{
        (void)opaque;
        ck_assert_uint_lt(S.nmsgs, G_N_ELEMENTS(S.types));
        S.types[S.nmsgs++] = m->type;
        g_byte_array_set_size(S.last_data, 0);
        g_byte_array_append(S.last_data, m->data, m->size);
}

static int to_guest(void *opaque, const uint8_t *buf, size_t len)
{
        ck_assert_int_eq(vdagent_reader_feed(&S.reader, buf, len, on_guest_msg, opaque), 0);
        return 0;
}

static void guest_text(void *opaque, const char *text, size_t len)
{
        (void)opaque;
        g_free(S.text);
        S.text = text ? g_strndup(text, len) : NULL;
        if (text) {
                ck_assert_uint_eq(strlen(text), len);
                S.guest_texts++;
        } else
                S.releases++;
}

static const struct agent_clip_ops ops = { .to_guest = to_guest, .guest_text = guest_text };

static void setup(void)
{
        memset(&S, 0, sizeof(S));
        S.last_data = g_byte_array_new();
}

static void teardown(void)
{
        vdagent_reader_reset(&S.reader);
        g_byte_array_unref(S.last_data);
        g_free(S.text);
}

/* The guest says something (type, then the payload's words and bytes). */
static int guest_says(struct agent_clip *c, uint32_t type, const void *data, size_t len)
{
        uint8_t *buf;
        size_t n;
        int r;

        ck_assert_int_eq(vdagent_frame(type, data, len, &buf, &n), 0);
        r = agent_clip_guest_bytes(c, buf, n);
        free(buf);
        return r;
}

static void guest_says_text(struct agent_clip *c, uint32_t type, const char *text, size_t len)
{
        uint8_t *m = g_malloc(4 + len);
        memcpy(m, &(uint32_t){ GUINT32_TO_LE(type) }, 4);
        memcpy(m + 4, text, len);
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD, m, 4 + len), 0);
        g_free(m);
}

static const uint32_t utf8 = VD_AGENT_CLIPBOARD_UTF8_TEXT;

START_TEST(test_guest_to_client)
{
        struct agent_clip *c = agent_clip_new(&ops, NULL, AGENT_CLIP_BOTH);
        const uint32_t types[] = { 5 /* PNG */, utf8 };
        const char *t = "Grüße ✓ 𝄞";

        ck_assert_int_eq(agent_clip_start(c), 0);
        ck_assert_uint_eq(S.nmsgs, 1);
        ck_assert_uint_eq(S.types[0], VD_AGENT_ANNOUNCE_CAPABILITIES);
        ck_assert_uint_eq(S.last_data->data[0], 1); /* asks for the guest's */
        /* The guest grabs with text among its types: the bridge asks. */
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_GRAB, types, sizeof(types)), 0);
        ck_assert_uint_eq(S.types[S.nmsgs - 1], VD_AGENT_CLIPBOARD_REQUEST);
        ck_assert_mem_eq(S.last_data->data, &utf8, 4);
        guest_says_text(c, utf8, t, strlen(t) + 1); /* with a NUL, as X11 agents may */
        ck_assert_uint_eq(S.guest_texts, 1);
        ck_assert_str_eq(S.text, t);
        /* The same data again, unasked: dropped. */
        guest_says_text(c, utf8, "unasked", 7);
        ck_assert_uint_eq(S.guest_texts, 1);
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_RELEASE, NULL, 0), 0);
        ck_assert_ptr_null(S.text);
        /* A grab without text: the client's copy is stale, nothing asked. */
        unsigned before = S.nmsgs;
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_GRAB, types, 4), 0);
        ck_assert_uint_eq(S.nmsgs, before);
        struct agent_clip_stats st;
        agent_clip_get_stats(c, &st);
        ck_assert_uint_eq(st.unasked, 1);
        agent_clip_free(c);
}
END_TEST

START_TEST(test_client_to_guest)
{
        struct agent_clip *c = agent_clip_new(&ops, NULL, AGENT_CLIP_BOTH);
        const char *t = "żółw ½ 日本語";
        const uint32_t png = 5;

        ck_assert_int_eq(agent_clip_client_text(c, t, strlen(t)), 0);
        ck_assert_uint_eq(S.types[S.nmsgs - 1], VD_AGENT_CLIPBOARD_GRAB);
        ck_assert_mem_eq(S.last_data->data, &utf8, 4);
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_REQUEST, &utf8, 4), 0);
        ck_assert_uint_eq(S.types[S.nmsgs - 1], VD_AGENT_CLIPBOARD);
        ck_assert_uint_eq(S.last_data->len, 4 + strlen(t));
        ck_assert_mem_eq(S.last_data->data + 4, t, strlen(t));
        /* A type we do not have: an empty answer of that type. */
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_REQUEST, &png, 4), 0);
        ck_assert_uint_eq(S.last_data->len, 4);
        ck_assert_mem_eq(S.last_data->data, &png, 4);
        /* Not UTF-8, too long: refused, nothing sent. */
        unsigned before = S.nmsgs;
        ck_assert_int_eq(agent_clip_client_text(c, "\xff\xfe", 2), -EINVAL);
        ck_assert_int_eq(agent_clip_client_text(c, t, AGENT_CLIP_TEXT_MAX + 1), -EINVAL);
        ck_assert_uint_eq(S.nmsgs, before);
        agent_clip_free(c);
}
END_TEST

/* "none" passes nothing either way; one-way policies pass their way. */
START_TEST(test_policies)
{
        enum agent_clip_policy p;
        const char *names[] = { "both", "guest-to-client", "client-to-guest", "none" };

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                ck_assert_int_eq(agent_clip_policy_parse(names[i], &p), 0);
                ck_assert_str_eq(agent_clip_policy_name(p), names[i]);
        }
        ck_assert_int_eq(agent_clip_policy_parse("Both", &p), -EINVAL);
        ck_assert_int_eq(agent_clip_policy_parse("", &p), -EINVAL);
        ck_assert_int_eq(agent_clip_policy_parse(NULL, &p), -EINVAL);

        for (int pol = AGENT_CLIP_NONE; pol <= AGENT_CLIP_BOTH; pol++) {
                struct agent_clip *c = agent_clip_new(&ops, NULL, (enum agent_clip_policy)pol);
                bool out = pol & AGENT_CLIP_GUEST_TO_CLIENT, in = pol & AGENT_CLIP_CLIENT_TO_GUEST;

                teardown();
                setup();
                ck_assert_int_eq(agent_clip_start(c), 0);
                ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_GRAB, &utf8, 4), 0);
                ck_assert_uint_eq(S.nmsgs, out ? 2 : 1); /* the request, or nothing */
                guest_says_text(c, utf8, "secret", 6);
                ck_assert_uint_eq(S.guest_texts, out ? 1 : 0);
                ck_assert_int_eq(agent_clip_client_text(c, "mine", 4), in ? 0 : -EPERM);
                ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_REQUEST, &utf8, 4), 0);
                /* The guest's paste gets the text, or an empty answer. */
                ck_assert_uint_eq(S.types[S.nmsgs - 1], VD_AGENT_CLIPBOARD);
                ck_assert_uint_eq(S.last_data->len, in ? 8 : 4);
                agent_clip_free(c);
        }
}
END_TEST

START_TEST(test_hostile_guest)
{
        struct agent_clip *c = agent_clip_new(&ops, NULL, AGENT_CLIP_BOTH);
        static const uint8_t garbage[] = { 7, 0, 0, 0, 1, 0, 0, 0, 0 };
        struct agent_clip_stats st;

        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_GRAB, "abc", 3), 0);      /* not whole words */
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_REQUEST, "ab", 2), 0);    /* short */
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD, "ab", 2), 0);            /* no type */
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_GRAB, &utf8, 4), 0);
        guest_says_text(c, utf8, "\xc3\x28 bad", 6);                                 /* not UTF-8 */
        ck_assert_uint_eq(S.guest_texts, 0);
        ck_assert_int_eq(agent_clip_guest_bytes(c, garbage, sizeof(garbage)), -EPROTO); /* unknown port */
        agent_clip_get_stats(c, &st);
        ck_assert_uint_eq(st.bad_messages, 4);
        /* After a new start the stream is read from scratch. */
        ck_assert_int_eq(agent_clip_start(c), 0);
        ck_assert_int_eq(guest_says(c, VD_AGENT_CLIPBOARD_GRAB, &utf8, 4), 0);
        guest_says_text(c, utf8, "ok", 2);
        ck_assert_str_eq(S.text, "ok");
        agent_clip_free(c);
}
END_TEST

START_TEST(test_utf16)
{
        const char *t = "A ü ✓ 𝄞";
        uint8_t *u;
        size_t ulen, len;
        char *back;
        /* 'A', then an unpaired high surrogate, then odd length. */
        static const uint8_t lone[] = { 'A', 0, 0x34, 0xd8, 'B', 0 };
        static const uint8_t nul[] = { 'h', 0, 'i', 0, 0, 0, 'x', 0 };

        ck_assert_int_eq(agent_clip_to_utf16(t, strlen(t), &u, &ulen), 0);
        ck_assert_uint_eq(ulen, 2 * 9); /* 7 BMP units, one pair, NUL */
        ck_assert_uint_eq(u[ulen - 1] | u[ulen - 2], 0);
        ck_assert_int_eq(agent_clip_from_utf16(u, ulen, &back, &len), 0);
        ck_assert_str_eq(back, t);
        ck_assert_uint_eq(len, strlen(t));
        g_free(back);
        g_free(u);
        ck_assert_int_eq(agent_clip_from_utf16(nul, sizeof(nul), &back, &len), 0); /* stops at the NUL */
        ck_assert_str_eq(back, "hi");
        g_free(back);
        ck_assert_int_eq(agent_clip_from_utf16(lone, sizeof(lone), &back, &len), -EINVAL);
        ck_assert_int_eq(agent_clip_from_utf16(nul, 3, &back, &len), -EINVAL);
        ck_assert_int_eq(agent_clip_to_utf16("\xff", 1, &u, &ulen), -EINVAL);
        ck_assert_int_eq(agent_clip_from_utf16(NULL, 0, &back, &len), 0);
        ck_assert_str_eq(back, "");
        g_free(back);
}
END_TEST

/* Frame one message into s (as either side writes it). */
static void frame_into(GByteArray *s, uint32_t type, const void *data, size_t len)
{
        uint8_t *buf;
        size_t n;

        ck_assert_int_eq(vdagent_frame(type, data, len, &buf, &n), 0);
        g_byte_array_append(s, buf, (guint)n);
        free(buf);
}

/* Feed s through a filter in 7-byte pieces; the client-port messages that
 * came out in S.types (server-port chunks are skipped by the reader). */
static void filter_run(enum agent_clip_policy policy, bool from_guest, const GByteArray *s, unsigned long *dropped)
{
        struct vdagent_filter *f = vdagent_filter_new(policy, from_guest);
        const uint8_t *p;
        size_t n;

        for (size_t off = 0; off < s->len; off += 7)
                ck_assert_int_eq(vdagent_filter_feed(f, s->data + off, MIN(7, s->len - off)), 0);
        n = vdagent_filter_peek(f, &p);
        ck_assert_int_eq(vdagent_reader_feed(&S.reader, p, n, on_guest_msg, NULL), 0);
        vdagent_filter_consume(f, n);
        ck_assert_uint_eq(vdagent_filter_peek(f, &p), 0);
        *dropped = vdagent_filter_dropped(f);
        vdagent_filter_free(f);
}

/* One-way policies on SPICE's agent streams: what each direction keeps. */
START_TEST(test_filter)
{
        GByteArray *s = g_byte_array_new();
        static const uint8_t caps[8] = { 1 };
        static const uint8_t server_chunk[] = { 2, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        uint8_t data[8] = { 1, 0, 0, 0, 'h', 'i', '!', 0 };
        unsigned long dropped;

        frame_into(s, VD_AGENT_ANNOUNCE_CAPABILITIES, caps, sizeof(caps));
        frame_into(s, VD_AGENT_CLIPBOARD_GRAB, &utf8, 4);
        frame_into(s, VD_AGENT_CLIPBOARD_REQUEST, &utf8, 4);
        frame_into(s, VD_AGENT_CLIPBOARD, data, sizeof(data));
        g_byte_array_append(s, server_chunk, sizeof(server_chunk)); /* spice-server's own */
        frame_into(s, VD_AGENT_CLIPBOARD_RELEASE, NULL, 0);

        /* From the guest, guest-to-client only: all but its request for
         * the client's text (and spice-server's chunk as it was). */
        filter_run(AGENT_CLIP_GUEST_TO_CLIENT, true, s, &dropped);
        ck_assert_uint_eq(S.nmsgs, 4);
        ck_assert_uint_eq(S.types[2], VD_AGENT_CLIPBOARD);
        ck_assert_uint_eq(S.types[3], VD_AGENT_CLIPBOARD_RELEASE);
        ck_assert_uint_eq(dropped, 1);
        /* From the guest, client-to-guest only: caps and the guest's request. */
        teardown();
        setup();
        filter_run(AGENT_CLIP_CLIENT_TO_GUEST, true, s, &dropped);
        ck_assert_uint_eq(S.nmsgs, 2);
        ck_assert_uint_eq(S.types[0], VD_AGENT_ANNOUNCE_CAPABILITIES);
        ck_assert_uint_eq(S.types[1], VD_AGENT_CLIPBOARD_REQUEST);
        ck_assert_uint_eq(dropped, 3);
        /* To the guest, guest-to-client only: the client's request goes,
         * its own clipboard does not. */
        teardown();
        setup();
        filter_run(AGENT_CLIP_GUEST_TO_CLIENT, false, s, &dropped);
        ck_assert_uint_eq(S.nmsgs, 2);
        ck_assert_uint_eq(S.types[1], VD_AGENT_CLIPBOARD_REQUEST);
        ck_assert_uint_eq(dropped, 3);

        /* Broken framing: refused, and the next message reads again. */
        struct vdagent_filter *f = vdagent_filter_new(AGENT_CLIP_CLIENT_TO_GUEST, false);
        static const uint8_t garbage[] = { 7, 0, 0, 0, 1, 0, 0, 0 };
        const uint8_t *p;
        ck_assert_int_eq(vdagent_filter_feed(f, garbage, sizeof(garbage)), -EPROTO);
        ck_assert_int_eq(vdagent_filter_feed(f, s->data, s->len), 0);
        ck_assert_uint_gt(vdagent_filter_peek(f, &p), 0);
        vdagent_filter_free(f);
        g_byte_array_unref(s);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("agent-clip");
        TCase *tc = tcase_create("clip");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_guest_to_client);
        tcase_add_test(tc, test_client_to_guest);
        tcase_add_test(tc, test_policies);
        tcase_add_test(tc, test_hostile_guest);
        tcase_add_test(tc, test_utf16);
        tcase_add_test(tc, test_filter);
        suite_add_tcase(s, tc);
        return s;
}
