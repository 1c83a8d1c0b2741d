/* virtio-console without KVM: this test plays Linux's virtio_console
 * driver over the BAR with a fake guest RAM (one ring per queue), against
 * the real device thread: the multiport handshake byte for byte, data both
 * ways, a reader slower than the guest, hostile control messages, reset. */
#include "config.h"

#include <errno.h>
#include <linux/virtio_console.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "check-main.h"
#include "virtio-console-proto.h"
#include "virtio-devices.h"

#define QSZ 8
#define NQ 6
#define RAM (0x10000u * (NQ + 1))
#define BUF 0x1000
#define FEATURES (1ull << 32 | 1ull << VIRTIO_CONSOLE_F_MULTIPORT)

static uint8_t *ram;
static struct virtio_console *con;
static struct virtio_dev *vd;
static uint16_t avail_idx[NQ], used_seen[NQ];

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
        (void)opaque;
        return range_ok(gpa, len, RAM) ? ram + gpa : NULL;
}

static const struct vq_mem mem = { translate, NULL };

/* What the host side saw. */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static int opened[2], closed[2], readable[2], writable[2];

static void cb_opened(void *o, unsigned p, bool open)
{
        pthread_mutex_lock(&cb_lock);
        (open ? opened : closed)[p]++;
        pthread_mutex_unlock(&cb_lock);
}

static void cb_readable(void *o, unsigned p)
{
        pthread_mutex_lock(&cb_lock);
        readable[p]++;
        pthread_mutex_unlock(&cb_lock);
}

static void cb_writable(void *o, unsigned p)
{
        pthread_mutex_lock(&cb_lock);
        writable[p]++;
        pthread_mutex_unlock(&cb_lock);
}

static int count(int *v, unsigned p)
{
        pthread_mutex_lock(&cb_lock);
        int n = v[p];
        pthread_mutex_unlock(&cb_lock);
        return n;
}

static const struct virtio_console_ops ops = { cb_opened, cb_readable, cb_writable };
static const char *const names[] = { "com.redhat.spice.0", "org.vdi.agent.0" };

static void wr(uint64_t off, uint64_t v, unsigned size)
{
        virtio_pci_bar_set(vd, off, v, size);
}

static uint64_t rd(uint64_t off, unsigned size)
{
        return virtio_pci_bar_get(vd, off, size);
}

static uint64_t qbase(unsigned q)
{
        return 0x10000u * (q + 1);
}

static uint64_t buf_gpa(unsigned q, unsigned slot)
{
        return qbase(q) + 0x4000 + (uint64_t)BUF * slot;
}

/* Offer one buffer of len bytes on q (data: readable, else writable). */
static void post(unsigned q, const void *data, uint32_t len)
{
        unsigned slot = avail_idx[q] % QSZ;
        uint8_t *d = ram + qbase(q) + 16 * slot;
        uint64_t addr = buf_gpa(q, slot);
        uint16_t flags = data ? 0 : VIRTQ_DESC_F_WRITE, next = 0, idx = ++avail_idx[q];

        if (data)
                memcpy(ram + addr, data, len);
        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
        memcpy(ram + qbase(q) + 0x1000 + 4 + 2 * slot, &(uint16_t){ (uint16_t)slot }, 2);
        __atomic_store_n((uint16_t *)(ram + qbase(q) + 0x1000 + 2), idx, __ATOMIC_RELEASE);
        wr(VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * q, q, 2);
}

/* Wait for the next used entry of q; its buffer and length (NULL: none). */
static const uint8_t *take(unsigned q, uint32_t *len)
{
        volatile uint16_t *idx = (uint16_t *)(ram + qbase(q) + 0x2000 + 2);
        uint32_t id;

        for (int i = 0; i < 3000 && __atomic_load_n(idx, __ATOMIC_ACQUIRE) == used_seen[q]; i++)
                usleep(1000);
        if (*idx == used_seen[q])
                return NULL;
        memcpy(&id, ram + qbase(q) + 0x2000 + 4 + 8 * (used_seen[q] % QSZ), 4);
        memcpy(len, ram + qbase(q) + 0x2000 + 8 + 8 * (used_seen[q] % QSZ), 4);
        used_seen[q]++;
        return ram + buf_gpa(q, id % QSZ);
}

static bool nothing_used(unsigned q)
{
        usleep(50000);
        return *(volatile uint16_t *)(ram + qbase(q) + 0x2000 + 2) == used_seen[q];
}

static void driver_init(void)
{
        wr(0x14, 0, 1);
        memset(ram, 0, RAM);
        memset(avail_idx, 0, sizeof(avail_idx));
        memset(used_seen, 0, sizeof(used_seen));
        wr(0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
        for (unsigned half = 0; half < 2; half++) {
                wr(0x08, half, 4);
                wr(0x0c, (uint32_t)(FEATURES >> (32 * half)), 4);
        }
        wr(0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
        ck_assert(rd(0x14, 1) & VIRTIO_STATUS_FEATURES_OK);
        for (unsigned q = 0; q < NQ; q++) {
                wr(0x16, q, 2);
                wr(0x18, QSZ, 2);
                wr(0x20, qbase(q), 8);
                wr(0x28, qbase(q) + 0x1000, 8);
                wr(0x30, qbase(q) + 0x2000, 8);
                wr(0x1c, 1, 2);
        }
        wr(0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                         VIRTIO_STATUS_DRIVER_OK, 1);
}

static void ctrl(uint32_t id, uint16_t event, uint16_t value)
{
        uint8_t m[8];
        memcpy(m, &id, 4);
        memcpy(m + 4, &event, 2);
        memcpy(m + 6, &value, 2);
        post(3, m, 8);
        ck_assert_ptr_nonnull(take(3, &(uint32_t){ 0 }));
}

/* The next control message from the device must be (id, event, value)
 * followed by tail (a NUL-terminated name, or NULL). */
static void expect(uint32_t id, uint16_t event, uint16_t value, const char *tail)
{
        uint32_t len, gid;
        uint16_t gev, gval;
        const uint8_t *m = take(2, &len);

        ck_assert_msg(m, "no control message (wanted event %u for port %u)", event, id);
        ck_assert_uint_eq(len, 8 + (tail ? strlen(tail) + 1 : 0));
        memcpy(&gid, m, 4);
        memcpy(&gev, m + 4, 2);
        memcpy(&gval, m + 6, 2);
        ck_assert_uint_eq(gid, id);
        ck_assert_uint_eq(gev, event);
        ck_assert_uint_eq(gval, value);
        if (tail)
                ck_assert_mem_eq(m + 8, tail, strlen(tail) + 1);
        post(2, NULL, BUF); /* give the buffer back, as Linux does */
}

/* Linux's probe: DEVICE_READY, then PORT_READY for each PORT_ADD. */
static void handshake(void)
{
        driver_init();
        for (int i = 0; i < QSZ; i++)
                post(2, NULL, BUF);
        ctrl(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
        expect(0, VIRTIO_CONSOLE_PORT_ADD, 0, NULL);
        expect(1, VIRTIO_CONSOLE_PORT_ADD, 0, NULL);
        for (unsigned p = 0; p < 2; p++) {
                ctrl(p, VIRTIO_CONSOLE_PORT_READY, 1);
                expect(p, VIRTIO_CONSOLE_PORT_NAME, 1, names[p]);
                expect(p, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
        }
}

static bool wait_count(int *v, unsigned p, int want)
{
        for (int i = 0; i < 3000 && count(v, p) < want; i++)
                usleep(1000);
        return count(v, p) >= want;
}

static void setup(void)
{
        ram = calloc(1, RAM);
        ck_assert_ptr_nonnull(ram);
        memset(opened, 0, sizeof(opened));
        memset(closed, 0, sizeof(closed));
        memset(readable, 0, sizeof(readable));
        memset(writable, 0, sizeof(writable));
        ck_assert_int_eq(virtio_console_create(names, 2, &ops, NULL, 5, &mem, &con), 0);
        vd = virtio_console_dev(con);
}

static void teardown(void)
{
        virtio_console_free(con);
        free(ram);
}

START_TEST(test_config)
{
        wr(0x00, 0, 4);
        ck_assert_uint_eq(rd(0x04, 4) & (1u << VIRTIO_CONSOLE_F_MULTIPORT), 1u << VIRTIO_CONSOLE_F_MULTIPORT);
        ck_assert_uint_eq(rd(0x12, 2), NQ);
        ck_assert_uint_eq(rd(VIRTIO_DEVCFG_OFF + 4, 4), 2); /* max_nr_ports */
}
END_TEST

START_TEST(test_handshake_and_data)
{
        char got[64] = { 0 };
        uint32_t len;
        const uint8_t *b;

        handshake();
        ck_assert(nothing_used(2));
        /* Nobody holds the port in the guest: writes are refused. */
        ck_assert_uint_eq(virtio_console_write(con, 0, "early", 5), 0);
        ctrl(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
        ck_assert(wait_count(opened, 0, 1));
        ck_assert(virtio_console_guest_open(con, 0));
        ck_assert(!virtio_console_guest_open(con, 1));

        /* host -> guest, into port 0's receiveq (queue 0) */
        ck_assert_uint_eq(virtio_console_write(con, 0, "hello guest", 11), 11);
        post(0, NULL, BUF);
        b = take(0, &len);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(len, 11);
        ck_assert_mem_eq(b, "hello guest", 11);

        /* guest -> host, port 0's transmitq (queue 1) */
        post(1, "hello host", 10);
        ck_assert_ptr_nonnull(take(1, &len));
        ck_assert(wait_count(readable, 0, 1));
        ck_assert_uint_eq(virtio_console_read(con, 0, got, sizeof(got)), 10);
        ck_assert_str_eq(got, "hello host");

        /* Port 1 (queues 4, 5) is separate. */
        ctrl(1, VIRTIO_CONSOLE_PORT_OPEN, 1);
        ck_assert(wait_count(opened, 1, 1));
        post(4, NULL, BUF);
        ck_assert_uint_eq(virtio_console_write(con, 1, "p1", 2), 2);
        b = take(4, &len);
        ck_assert(b && len == 2 && memcmp(b, "p1", 2) == 0);
        ck_assert(nothing_used(0));

        ctrl(0, VIRTIO_CONSOLE_PORT_OPEN, 0);
        ck_assert(wait_count(closed, 0, 1));
        ck_assert_uint_eq(virtio_console_write(con, 0, "late", 4), 0);
        ck_assert(!vd->broken);
}
END_TEST

/* The guest writes more than the FIFO holds while nobody reads: the device holds the
 * chain it cannot take and the rest waits in the ring; as the host reads,
 * every byte arrives, in order. */
START_TEST(test_slow_reader)
{
        static uint8_t out[BUF], in[4096];
        const size_t total = VIRTIO_CONSOLE_FIFO + 16 * BUF;
        size_t sent = 0, got = 0, posted = 0;
        unsigned ndone = 0;
        uint32_t len;

        handshake();
        ctrl(1, VIRTIO_CONSOLE_PORT_OPEN, 1);
        while (got < total) {
                while (posted - ndone < QSZ && sent < total) {
                        for (size_t i = 0; i < BUF; i++)
                                out[i] = (uint8_t)((sent + i) * 7);
                        post(5, out, BUF);
                        sent += BUF;
                        posted++;
                }
                size_t n = virtio_console_read(con, 1, in, sizeof(in));
                for (size_t i = 0; i < n; i++)
                        ck_assert_uint_eq(in[i], (uint8_t)((got + i) * 7));
                got += n;
                while (*(volatile uint16_t *)(ram + qbase(5) + 0x2000 + 2) != used_seen[5]) {
                        ck_assert_ptr_nonnull(take(5, &len));
                        ndone++;
                }
                if (!n)
                        usleep(200);
        }
        ck_assert_uint_eq(got, total);
        struct virtio_console_stats st;
        virtio_console_stats(con, &st);
        ck_assert_uint_eq(st.from_guest, total);
}
END_TEST

/* The host fills the FIFO; writes are short; the guest's buffers drain
 * it and the writable callback says so. */
START_TEST(test_full_fifo)
{
        static uint8_t blob[VIRTIO_CONSOLE_FIFO + 100];
        uint32_t len;

        handshake();
        ctrl(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
        ck_assert_uint_eq(virtio_console_write(con, 0, blob, sizeof(blob)), VIRTIO_CONSOLE_FIFO);
        ck_assert_uint_eq(virtio_console_write(con, 0, blob, 1), 0);
        post(0, NULL, BUF);
        ck_assert_ptr_nonnull(take(0, &len));
        ck_assert_uint_eq(len, BUF);
        ck_assert(wait_count(writable, 0, 1));
        ck_assert_uint_eq(virtio_console_write(con, 0, blob, sizeof(blob)), BUF);
}
END_TEST

/* Control messages a hostile guest may send: each refused, counted, and
 * nothing answered; the device stays usable. */
START_TEST(test_hostile_ctrl)
{
        uint8_t m[80] = { 0 };
        struct virtio_console_stats st;
        unsigned long refused = 0;
        uint32_t len;

        driver_init();
        for (int i = 0; i < QSZ; i++)
                post(2, NULL, BUF);
        ctrl(0, VIRTIO_CONSOLE_PORT_READY, 1); refused++;    /* before DEVICE_READY */
        ctrl(0, VIRTIO_CONSOLE_DEVICE_READY, 0); refused++;  /* driver failed */
        ctrl(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
        expect(0, VIRTIO_CONSOLE_PORT_ADD, 0, NULL);
        expect(1, VIRTIO_CONSOLE_PORT_ADD, 0, NULL);
        ctrl(0, VIRTIO_CONSOLE_DEVICE_READY, 1); refused++;  /* twice */
        ctrl(2, VIRTIO_CONSOLE_PORT_READY, 1); refused++;    /* no such port */
        ctrl(0xffffffffu, VIRTIO_CONSOLE_PORT_OPEN, 1); refused++;
        ctrl(0, VIRTIO_CONSOLE_PORT_OPEN, 1); refused++;     /* not ready yet */
        ctrl(0, VIRTIO_CONSOLE_PORT_ADD, 0); refused++;      /* device-to-driver events */
        ctrl(0, VIRTIO_CONSOLE_PORT_NAME, 1); refused++;
        ctrl(0, VIRTIO_CONSOLE_RESIZE, 0); refused++;
        ctrl(0, 0xffff, 0); refused++;
        post(3, m, 7); refused++;                            /* short */
        ck_assert_ptr_nonnull(take(3, &len));
        memcpy(m + 4, &(uint16_t){ VIRTIO_CONSOLE_PORT_READY }, 2);
        m[6] = 1;
        post(3, m, sizeof(m)); refused++;                    /* long */
        ck_assert_ptr_nonnull(take(3, &len));
        post(3, NULL, 8); refused++;                         /* nothing readable */
        ck_assert_ptr_nonnull(take(3, &len));
        ck_assert(nothing_used(2));
        virtio_console_stats(con, &st);
        ck_assert_uint_eq(st.ctrl_refused, refused);

        ctrl(0, VIRTIO_CONSOLE_PORT_READY, 1);
        expect(0, VIRTIO_CONSOLE_PORT_NAME, 1, names[0]);
        expect(0, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
        ctrl(0, VIRTIO_CONSOLE_PORT_READY, 1);               /* twice */
        ctrl(0, VIRTIO_CONSOLE_PORT_OPEN, 2);                /* bad value */
        ctrl(1, VIRTIO_CONSOLE_PORT_READY, 0);               /* the guest refuses port 1: fine */
        ctrl(1, VIRTIO_CONSOLE_PORT_OPEN, 1);                /* so it cannot open it */
        ck_assert(nothing_used(2));
        virtio_console_stats(con, &st);
        ck_assert_uint_eq(st.ctrl_refused, refused + 3);
        ck_assert(!virtio_console_guest_open(con, 1));
        ctrl(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
        ck_assert(wait_count(opened, 0, 1));
        ck_assert(!vd->broken);
}
END_TEST

/* A control buffer too small for PORT_NAME breaks the device; a reset
 * starts the handshake over and the open port counts as closed. */
START_TEST(test_small_ctrl_buffer_and_reset)
{
        uint32_t len;

        driver_init();
        post(2, NULL, 8);
        post(2, NULL, 8);
        ctrl(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
        ck_assert(take(2, &len) && len == 8); /* PORT_ADD fits */
        ck_assert(take(2, &len) && len == 8);
        ctrl(0, VIRTIO_CONSOLE_PORT_READY, 1);
        post(2, NULL, 8); /* PORT_NAME does not */
        for (int i = 0; i < 3000 && !(rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET); i++)
                usleep(1000);
        ck_assert(rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);

        handshake();
        ctrl(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
        ck_assert(wait_count(opened, 0, 1));
        ck_assert_uint_eq(virtio_console_write(con, 0, "x", 1), 1);
        handshake(); /* a reboot: the queued byte is dropped, port 0 closed */
        ck_assert(wait_count(closed, 0, 1));
        ck_assert(!virtio_console_guest_open(con, 0));
        ck_assert_uint_eq(virtio_console_write(con, 0, "x", 1), 0);
}
END_TEST

START_TEST(test_bad_names)
{
        struct virtio_console *c = NULL;
        const char *bad[][1] = { { "" }, { "with space" }, { "tab\there" }, { "\x7f" },
                                 { "0123456789012345678901234567890123456789012345678901234567890123" } };
        const char *const four[] = { "a", "b", "c", "d" };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_int_eq(virtio_console_create(bad[i], 1, &ops, NULL, 5, &mem, &c), -EINVAL);
        ck_assert_int_eq(virtio_console_create(four, 4, &ops, NULL, 5, &mem, &c), -EINVAL);
        ck_assert_int_eq(virtio_console_create(four, 0, &ops, NULL, 5, &mem, &c), -EINVAL);
        ck_assert_ptr_null(c);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("virtio-console");
        TCase *tc = tcase_create("device");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_config);
        tcase_add_test(tc, test_handshake_and_data);
        tcase_add_test(tc, test_slow_reader);
        tcase_add_test(tc, test_full_fifo);
        tcase_add_test(tc, test_hostile_ctrl);
        tcase_add_test(tc, test_small_ctrl_buffer_and_reset);
        tcase_add_test(tc, test_bad_names);
        suite_add_tcase(s, tc);
        return s;
}
