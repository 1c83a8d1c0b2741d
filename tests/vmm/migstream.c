/* The live migration stream without KVM (hostd/vmm/state/migstream.c,
 * migrate.c's receiving side): headers and frames round trip, every bit
 * flip and bad value is refused with its message, and a target fed a
 * damaged, hostile or cut stream refuses it and leaves nothing behind. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "check-main.h"
#include "migrate.h"
#include "migstream.h"
#include "ram.h"
#include "state.h"

#define RAM (1u << 20)

START_TEST(test_header)
{
        uint8_t h[MIG_HEADER_SIZE];
        uint64_t ram = 0;
        struct vm_err err;

        mig_header_build(h, 256u << 20);
        ck_assert_int_eq(mig_header_parse(h, &ram, &err), 0);
        ck_assert_uint_eq(ram, 256u << 20);
        for (size_t bit = 0; bit < MIG_HEADER_SIZE * 8; bit++) {
                h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                ck_assert_int_lt(mig_header_parse(h, &ram, &err), 0);
                h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        memcpy(h, "VDIVMST\n", 8);
        ck_assert_int_eq(mig_header_parse(h, &ram, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "not a vdi-vm migration stream (bad magic)");
        /* Right checksums, wrong values. */
        mig_header_build(h, 256u << 20);
        h[8] = 2;
        uint32_t crc = state_crc(0, h, 24);
        memcpy(h + 24, &crc, 4);
        ck_assert_int_eq(mig_header_parse(h, &ram, &err), -EPROTONOSUPPORT);
        ck_assert_str_eq(err.msg, "migration stream version 2 (this vdi-vm reads 1)");
        mig_header_build(h, 12345);
        ck_assert_int_eq(mig_header_parse(h, &ram, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "migration stream RAM size 12345 out of range");
        mig_header_build(h, 0);
        ck_assert_int_eq(mig_header_parse(h, &ram, &err), -EINVAL);
        ck_assert_uint_eq(ram, 256u << 20); /* untouched on failure */
}
END_TEST

START_TEST(test_frames)
{
        uint8_t h[MIG_FRAME_HEADER_SIZE], payload[] = "hello";
        struct mig_frame f;
        struct vm_err err;

        mig_frame_build(h, MIG_ERROR, 5, state_crc(0, payload, 5));
        ck_assert_int_eq(mig_frame_parse(h, &f, &err), 0);
        ck_assert_uint_eq(f.type, MIG_ERROR);
        ck_assert_uint_eq(f.len, 5);
        ck_assert_int_eq(mig_payload_check(&f, payload, &err), 0);
        payload[1] ^= 1;
        ck_assert_int_eq(mig_payload_check(&f, payload, &err), -EBADMSG);
        ck_assert_str_eq(err.msg, "migration frame of type 17: payload checksum mismatch");
        for (size_t bit = 0; bit < 12 * 8; bit++) {
                h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                ck_assert_int_eq(mig_frame_parse(h, &f, &err), -EBADMSG);
                h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        mig_frame_build(h, 9, 0, 0);
        ck_assert_int_eq(mig_frame_parse(h, &f, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "unknown migration frame type 9");
        mig_frame_build(h, MIG_END, 1, 0);
        ck_assert_int_eq(mig_frame_parse(h, &f, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "migration frame of type 3 is 1 bytes (at most 0)");
        mig_frame_build(h, MIG_PAGES, 16 + MIG_MAX_RUN * MIG_PAGE + 1, 0);
        ck_assert_int_eq(mig_frame_parse(h, &f, &err), -EINVAL);
        mig_frame_build(h, MIG_STATE, 0xffffffffu, 0);
        ck_assert_int_eq(mig_frame_parse(h, &f, &err), -EINVAL);
}
END_TEST

START_TEST(test_pages_apply)
{
        _cleanup_free_ uint8_t *ram = calloc(1, RAM), *p = malloc(16 + 2 * MIG_PAGE);
        struct vm_err err;

        memset(p + 16, 0xa5, 2 * MIG_PAGE);
        mig_pages_head(p, 3, 2, false);
        ck_assert_int_eq(mig_pages_apply(p, 16 + 2 * MIG_PAGE, ram, RAM, &err), 0);
        ck_assert_uint_eq(ram[3 * MIG_PAGE], 0xa5);
        ck_assert_uint_eq(ram[5 * MIG_PAGE - 1], 0xa5);
        ck_assert_uint_eq(ram[5 * MIG_PAGE], 0);
        mig_pages_head(p, 4, 1, true);
        ck_assert_int_eq(mig_pages_apply(p, 16, ram, RAM, &err), 0);
        ck_assert_uint_eq(ram[4 * MIG_PAGE], 0);
        ck_assert_uint_eq(ram[3 * MIG_PAGE], 0xa5);

        /* Refused, and RAM untouched. */
        mig_pages_head(p, RAM / MIG_PAGE - 1, 2, false);
        ck_assert_int_eq(mig_pages_apply(p, 16 + 2 * MIG_PAGE, ram, RAM, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "migration PAGES frame: pages 255+2 beyond RAM (256 pages)");
        mig_pages_head(p, UINT64_MAX, 1, true);
        ck_assert_int_eq(mig_pages_apply(p, 16, ram, RAM, &err), -EINVAL);
        mig_pages_head(p, 0, 0, true);
        ck_assert_int_eq(mig_pages_apply(p, 16, ram, RAM, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "migration PAGES frame: 0 pages, zero flag 1");
        mig_pages_head(p, 0, 2, false);
        ck_assert_int_eq(mig_pages_apply(p, 16 + MIG_PAGE, ram, RAM, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "migration PAGES frame: 4112 bytes for 2 data pages");
        mig_pages_head(p, 3, 1, true);
        p[12] = 2;
        ck_assert_int_eq(mig_pages_apply(p, 16, ram, RAM, &err), -EINVAL);
        ck_assert_int_eq(mig_pages_apply(p, 8, ram, RAM, &err), -EINVAL);
        ck_assert_uint_eq(ram[3 * MIG_PAGE], 0xa5);
}
END_TEST

/* ---- a whole stream into vm_migrate_receive ---- */

struct stream {
        uint8_t buf[64 * 1024];
        size_t len;
        size_t frame_at[16]; /* where each frame starts */
        unsigned nframes;
};

static void add(struct stream *s, const void *p, size_t n)
{
        ck_assert_uint_le(s->len + n, sizeof(s->buf));
        if (n)
                memcpy(s->buf + s->len, p, n);
        s->len += n;
}

static void frame(struct stream *s, enum mig_type type, const void *a, size_t alen, const void *b, size_t blen)
{
        uint8_t h[MIG_FRAME_HEADER_SIZE];

        mig_frame_build(h, type, (uint32_t)(alen + blen), state_crc(state_crc(0, a, alen), b, blen));
        s->frame_at[s->nframes++] = s->len;
        add(s, h, sizeof(h));
        add(s, a, alen);
        add(s, b, blen);
}

/* Header; pages 1-2 data (0x11, 0x22), page 7 data then zeroed; the
 * state (a "machine" and a "ram" section); END. */
static void good_stream(struct stream *s)
{
        uint8_t h[MIG_HEADER_SIZE], head[16], pages[2 * MIG_PAGE];
        struct state_writer w;
        uint8_t *state;
        size_t len;

        memset(s, 0, sizeof(*s));
        mig_header_build(h, RAM);
        add(s, h, sizeof(h));
        memset(pages, 0x11, MIG_PAGE);
        memset(pages + MIG_PAGE, 0x22, MIG_PAGE);
        mig_pages_head(head, 1, 2, false);
        frame(s, MIG_PAGES, head, 16, pages, sizeof(pages));
        mig_pages_head(head, 7, 1, false);
        frame(s, MIG_PAGES, head, 16, pages, MIG_PAGE);
        mig_pages_head(head, 7, 1, true);
        frame(s, MIG_PAGES, head, 16, NULL, 0);
        state_writer_init(&w);
        state_begin(&w, "machine");
        state_put_u32(&w, 1);
        state_put_u64(&w, RAM);
        state_end(&w);
        state_begin(&w, "ram");
        state_put_u64(&w, RAM);
        state_put_u64(&w, 0);
        state_put_u32(&w, 0);
        state_end(&w);
        ck_assert_int_eq(state_writer_finish(&w, &state, &len), 0);
        state_writer_free(&w);
        frame(s, MIG_STATE, state, len, NULL, 0);
        free(state);
        frame(s, MIG_END, NULL, 0, NULL, 0);
}

/* Feed n bytes of buf to vm_migrate_receive into a new directory. */
static int receive(const uint8_t *buf, size_t n, char *dir, struct vm_err *err)
{
        int sv[2], r;

        strcpy(dir, "/tmp/vdi-mig-test-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(write(sv[1], buf, n), (ssize_t)n);
        close(sv[1]); /* the source goes away after n bytes */
        r = vm_migrate_receive(sv[0], dir, 5, err);
        close(sv[0]);
        return r;
}

START_TEST(test_receive_good)
{
        static struct stream s;
        char dir[64], path[96];
        struct vm_err err;
        struct state_file f;
        struct state_reader rd;
        _cleanup_free_ uint8_t *state = malloc(65536), *ram = calloc(1, RAM);
        ssize_t n;
        int fd;

        good_stream(&s);
        ck_assert_msg(receive(s.buf, s.len, dir, &err) == 0, "%s", err.msg);
        snprintf(path, sizeof(path), "%s/ram", dir);
        fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(read(fd, ram, RAM), RAM);
        close(fd);
        ck_assert_uint_eq(ram[MIG_PAGE], 0x11);
        ck_assert_uint_eq(ram[3 * MIG_PAGE - 1], 0x22);
        ck_assert_uint_eq(ram[7 * MIG_PAGE], 0); /* zeroed by the later frame */
        /* The state as sent, its "ram" section marked unsummed (every page
         * came CRC-checked). */
        snprintf(path, sizeof(path), "%s/state", dir);
        fd = open(path, O_RDONLY);
        n = read(fd, state, 65536);
        close(fd);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(state_file_parse(state, (size_t)n, &f, &err), 0);
        ck_assert_int_eq(state_section_reader(&f, "ram", &rd, &err), 0);
        ck_assert_uint_eq(state_get_u64(&rd), RAM);
        ck_assert_uint_eq(state_get_u64(&rd), RAM_UNSUMMED);
        ck_assert_uint_eq(state_get_u32(&rd), 0);
        ck_assert_ptr_nonnull(state_find(&f, "machine"));
        state_file_free(&f);
        vm_migrate_cleanup(dir);
        ck_assert_int_ne(access(dir, F_OK), 0);
}
END_TEST

static void expect_refused(const uint8_t *buf, size_t n, const char *msg)
{
        char dir[64];
        struct vm_err err;

        ck_assert_int_lt(receive(buf, n, dir, &err), 0);
        ck_assert_msg(strstr(err.msg, msg), "expected \"%s\" in \"%s\"", msg, err.msg);
        /* Nothing of the partial VM is left. */
        ck_assert_msg(access(dir, F_OK) != 0, "%s left behind", dir);
}

START_TEST(test_receive_cut)
{
        static struct stream s;

        good_stream(&s);
        /* Cut at every frame start, inside every frame header and payload. */
        expect_refused(s.buf, 0, "no migration stream");
        expect_refused(s.buf, 10, "no migration stream");
        for (unsigned i = 0; i < s.nframes; i++) {
                expect_refused(s.buf, s.frame_at[i], "migration stream cut short");
                expect_refused(s.buf, s.frame_at[i] + 7, "migration stream cut short");
                if (i + 1 < s.nframes && s.frame_at[i + 1] - s.frame_at[i] > MIG_FRAME_HEADER_SIZE)
                        expect_refused(s.buf, s.frame_at[i] + MIG_FRAME_HEADER_SIZE + 1,
                                       "migration stream cut short in a frame");
        }
}
END_TEST

START_TEST(test_receive_damaged)
{
        static struct stream s, t;
        uint8_t head[16];

        good_stream(&s);
        /* A bit flipped in a page, in a frame header, in the state. */
        t = s;
        t.buf[t.frame_at[0] + MIG_FRAME_HEADER_SIZE + 100] ^= 4;
        expect_refused(t.buf, t.len, "payload checksum mismatch");
        t = s;
        t.buf[t.frame_at[1] + 2] ^= 1;
        expect_refused(t.buf, t.len, "frame header checksum mismatch");
        t = s;
        t.buf[t.frame_at[3] + MIG_FRAME_HEADER_SIZE + 40] ^= 1;
        expect_refused(t.buf, t.len, "payload checksum mismatch");
        t = s;
        t.buf[3] ^= 1;
        expect_refused(t.buf, t.len, "bad magic");

        /* Well-formed frames out of order or out of bounds. */
        t = s;
        t.len = t.frame_at[3];
        frame(&t, MIG_END, NULL, 0, NULL, 0);
        expect_refused(t.buf, t.len, "unexpected migration frame of type 3");
        t = s;
        t.len = t.frame_at[4];
        mig_pages_head(head, 1, 1, true);
        frame(&t, MIG_PAGES, head, 16, NULL, 0);
        expect_refused(t.buf, t.len, "unexpected migration frame of type 1 after the state");
        t = s;
        t.len = t.frame_at[1];
        mig_pages_head(head, RAM / MIG_PAGE, 1, true);
        frame(&t, MIG_PAGES, head, 16, NULL, 0);
        expect_refused(t.buf, t.len, "beyond RAM");
        t = s;
        t.len = t.frame_at[1];
        frame(&t, MIG_READY, NULL, 0, NULL, 0);
        expect_refused(t.buf, t.len, "unexpected migration frame of type 16");
        t = s;
        t.len = t.frame_at[3];
        frame(&t, MIG_STATE, "not a state file", 16, NULL, 0);
        frame(&t, MIG_END, NULL, 0, NULL, 0);
        expect_refused(t.buf, t.len, "state file truncated");
}
END_TEST

START_TEST(test_reply)
{
        int sv[2];
        uint8_t buf[512];
        struct mig_frame f;
        struct vm_err err;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(vm_migrate_reply(sv[0], NULL), 0);
        ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), MIG_FRAME_HEADER_SIZE);
        ck_assert_int_eq(mig_frame_parse(buf, &f, &err), 0);
        ck_assert_uint_eq(f.type, MIG_READY);
        /* An ERROR lingers (up to 2 s here: the peer stays open). */
        ck_assert_int_eq(vm_migrate_reply(sv[0], "no KVM here"), 0);
        ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), MIG_FRAME_HEADER_SIZE + 11);
        ck_assert_int_eq(mig_frame_parse(buf, &f, &err), 0);
        ck_assert_uint_eq(f.type, MIG_ERROR);
        ck_assert_int_eq(mig_payload_check(&f, buf + MIG_FRAME_HEADER_SIZE, &err), 0);
        ck_assert_int_eq(memcmp(buf + MIG_FRAME_HEADER_SIZE, "no KVM here", 11), 0);
        ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 0); /* and its side is shut */
        close(sv[0]);
        close(sv[1]);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-migrate");
        TCase *tc = tcase_create("stream");

        tcase_add_test(tc, test_header);
        tcase_add_test(tc, test_frames);
        tcase_add_test(tc, test_pages_apply);
        tcase_add_test(tc, test_receive_good);
        tcase_add_test(tc, test_receive_cut);
        tcase_add_test(tc, test_receive_damaged);
        tcase_add_test(tc, test_reply);
        suite_add_tcase(s, tc);
        return s;
}
