/* Split virtqueue parsing (hostd/vmm/virtio/virtqueue.c) over a fake guest RAM:
 * good chains, and every kind of hostile one ending in -EIO. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "check-main.h"
#include "virtqueue.h"

#define RAM 0x10000
#define QSZ 8
#define DESC 0x0000
#define AVAIL 0x1000
#define USED 0x2000
#define IND 0x3000
#define BUF 0x4000

static uint8_t ram[RAM];
static struct virtq vq;
static struct vq_elem e;

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
        (void)opaque;
        return range_ok(gpa, len, RAM) ? ram + gpa : NULL;
}

static const struct vq_mem mem = { translate, NULL };

static void put_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
        uint8_t *p = ram + table + 16 * i;
        memcpy(p, &addr, 8);
        memcpy(p + 8, &len, 4);
        memcpy(p + 12, &flags, 2);
        memcpy(p + 14, &next, 2);
}

static void put16(uint64_t gpa, uint16_t v)
{
        memcpy(ram + gpa, &v, 2);
}

static uint16_t get16(uint64_t gpa)
{
        uint16_t v;
        memcpy(&v, ram + gpa, 2);
        return v;
}

static uint32_t get32(uint64_t gpa)
{
        uint32_t v;
        memcpy(&v, ram + gpa, 4);
        return v;
}

/* Make head available as the next ring entry. */
static void offer(uint16_t head)
{
        uint16_t idx = get16(AVAIL + 2);
        put16(AVAIL + 4 + 2 * (idx % QSZ), head);
        put16(AVAIL + 2, (uint16_t)(idx + 1));
}

static void setup(void)
{
        memset(ram, 0, sizeof(ram));
        vq_reset(&vq);
        vq.size = QSZ;
        vq.desc_gpa = DESC;
        vq.avail_gpa = AVAIL;
        vq.used_gpa = USED;
        vq.indirect = true;
        ck_assert_int_eq(vq_start(&vq, &mem), 0);
}

START_TEST(test_start_checks)
{
        struct virtq q;

        vq_reset(&q);
        q.size = 3;
        ck_assert_int_eq(vq_start(&q, &mem), -EINVAL);
        q.size = 512;
        ck_assert_int_eq(vq_start(&q, &mem), -EINVAL);
        q.size = 8;
        q.desc_gpa = 8; /* misaligned */
        ck_assert_int_eq(vq_start(&q, &mem), -EFAULT);
        q.desc_gpa = RAM - 16; /* runs past RAM */
        ck_assert_int_eq(vq_start(&q, &mem), -EFAULT);
        q.desc_gpa = UINT64_MAX - 15; /* wraps */
        ck_assert_int_eq(vq_start(&q, &mem), -EFAULT);
        ck_assert(!q.started);
        ck_assert_int_eq(vq_pop(&q, &e), 0);
}
END_TEST

START_TEST(test_good_chain)
{
        uint8_t hdr[16] = { 1, 2, 3 }, back[16];

        setup();
        ck_assert_int_eq(vq_pop(&vq, &e), 0);
        memcpy(ram + BUF, hdr, 16);
        put_desc(DESC, 2, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
        put_desc(DESC, 5, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
        put_desc(DESC, 1, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
        offer(2);
        ck_assert_int_eq(vq_pop(&vq, &e), 1);
        ck_assert_uint_eq(e.head, 2);
        ck_assert_uint_eq(e.n_out, 1);
        ck_assert_uint_eq(e.n_in, 2);
        ck_assert_uint_eq(e.out_len, 16);
        ck_assert_uint_eq(e.in_len, 513);
        ck_assert_ptr_eq(e.iov[1].iov_base, ram + BUF + 0x100);
        ck_assert_uint_eq(iov_to_buf(e.iov, e.n_out, 0, back, sizeof(back)), 16);
        ck_assert_mem_eq(back, hdr, 16);
        ck_assert_uint_eq(iov_from_buf(e.iov + e.n_out, e.n_in, 512, "\x07", 1), 1);
        ck_assert_uint_eq(ram[BUF + 0x400], 7);
        ck_assert_int_eq(vq_pop(&vq, &e), 0);

        vq_push(&vq, 2, 513);
        ck_assert_uint_eq(get16(USED + 2), 1);
        ck_assert_uint_eq(get32(USED + 4), 2);
        ck_assert_uint_eq(get32(USED + 8), 513);
        ck_assert(vq_should_notify(&vq));
        put16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
        vq_push(&vq, 2, 0);
        ck_assert(!vq_should_notify(&vq));
}
END_TEST

START_TEST(test_loop)
{
        setup();
        put_desc(DESC, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
        put_desc(DESC, 1, BUF, 4, VIRTQ_DESC_F_NEXT, 0);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
}
END_TEST

START_TEST(test_self_loop_zero_len)
{
        setup();
        put_desc(DESC, 3, 0, 0, VIRTQ_DESC_F_NEXT, 3);
        offer(3);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
}
END_TEST

START_TEST(test_bad_indices)
{
        setup();
        offer(QSZ); /* head out of range */
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        setup();
        put_desc(DESC, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 200); /* next out of range */
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        setup();
        put16(AVAIL + 2, QSZ + 1); /* more available than the ring holds */
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
}
END_TEST

START_TEST(test_bad_addresses)
{
        setup();
        put_desc(DESC, 0, RAM - 4, 8, 0, 0); /* crosses the end of RAM */
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        setup();
        put_desc(DESC, 0, BUF, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0); /* huge */
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        setup();
        put_desc(DESC, 0, UINT64_MAX - 2, 16, 0, 0); /* wraps */
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
}
END_TEST

START_TEST(test_wrong_direction)
{
        setup();
        put_desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
        put_desc(DESC, 1, BUF + 16, 16, 0, 0); /* readable after writable */
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
}
END_TEST

START_TEST(test_indirect)
{
        setup();
        put_desc(IND, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
        put_desc(IND, 1, BUF + 16, 100, VIRTQ_DESC_F_WRITE, 0);
        put_desc(DESC, 4, IND, 32, VIRTQ_DESC_F_INDIRECT, 0);
        offer(4);
        ck_assert_int_eq(vq_pop(&vq, &e), 1);
        ck_assert_uint_eq(e.head, 4);
        ck_assert_uint_eq(e.n_out, 1);
        ck_assert_uint_eq(e.n_in, 1);
        ck_assert_uint_eq(e.in_len, 100);

        /* not negotiated */
        setup();
        vq.indirect = false;
        put_desc(DESC, 0, IND, 32, VIRTQ_DESC_F_INDIRECT, 0);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        /* nested */
        setup();
        put_desc(IND, 0, IND + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
        put_desc(DESC, 0, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        /* length not a multiple of 16, zero, or INDIRECT with NEXT */
        setup();
        put_desc(DESC, 0, IND, 20, VIRTQ_DESC_F_INDIRECT, 0);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        setup();
        put_desc(DESC, 0, IND, 0, VIRTQ_DESC_F_INDIRECT, 0);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        setup();
        put_desc(DESC, 0, IND, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        /* table outside RAM */
        setup();
        put_desc(DESC, 0, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        /* loop inside the table */
        setup();
        put_desc(IND, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1);
        put_desc(IND, 1, BUF, 1, VIRTQ_DESC_F_NEXT, 0);
        put_desc(DESC, 0, IND, 32, VIRTQ_DESC_F_INDIRECT, 0);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
        /* table longer than the queue */
        setup();
        put_desc(DESC, 0, IND, 16 * (QSZ + 1), VIRTQ_DESC_F_INDIRECT, 0);
        offer(0);
        ck_assert_int_eq(vq_pop(&vq, &e), -EIO);
}
END_TEST

START_TEST(test_event_idx)
{
        setup();
        vq.event_idx = true;
        for (int i = 0; i < 3; i++) {
                put_desc(DESC, (unsigned)i, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
                offer((uint16_t)i);
        }
        /* avail_event: we want a kick for entry 0 onwards. */
        ck_assert(vq_enable_notify(&vq)); /* buffers are already there */
        ck_assert_uint_eq(get16(USED + 4 + 8 * QSZ), 0);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(vq_pop(&vq, &e), 1);
        ck_assert(!vq_enable_notify(&vq));
        ck_assert_uint_eq(get16(USED + 4 + 8 * QSZ), 3);
        /* used_event = 1: interrupt once used idx passes 1. */
        put16(AVAIL + 4 + 2 * QSZ, 1);
        vq_push(&vq, 0, 4);
        ck_assert(vq_should_notify(&vq)); /* first one always */
        vq_push(&vq, 1, 4);
        ck_assert(vq_should_notify(&vq)); /* idx 1 -> 2 crosses event 1 */
        vq_push(&vq, 2, 4);
        ck_assert(!vq_should_notify(&vq)); /* 2 -> 3 does not */
}
END_TEST

START_TEST(test_wraparound)
{
        setup();
        /* Indices are free-running 16-bit counters. */
        vq.last_avail = 0xfffe;
        vq.used_idx = 0xfffe;
        put16(AVAIL + 2, 0xfffe);
        for (int i = 0; i < 4; i++) {
                put_desc(DESC, (unsigned)i, BUF, 4, 0, 0);
                offer((uint16_t)i);
        }
        for (int i = 0; i < 4; i++) {
                ck_assert_int_eq(vq_pop(&vq, &e), 1);
                ck_assert_uint_eq(e.head, (unsigned)i);
                vq_push(&vq, e.head, 0);
        }
        ck_assert_int_eq(vq_pop(&vq, &e), 0);
        ck_assert_uint_eq(get16(USED + 2), 2);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("virtqueue");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_start_checks);
        tcase_add_test(tc, test_good_chain);
        tcase_add_test(tc, test_loop);
        tcase_add_test(tc, test_self_loop_zero_len);
        tcase_add_test(tc, test_bad_indices);
        tcase_add_test(tc, test_bad_addresses);
        tcase_add_test(tc, test_wrong_direction);
        tcase_add_test(tc, test_indirect);
        tcase_add_test(tc, test_event_idx);
        tcase_add_test(tc, test_wraparound);
        suite_add_tcase(s, tc);
        return s;
}
