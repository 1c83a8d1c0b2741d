/* virtio-pci transport, virtio-blk and virtio-input without KVM: this test
 * plays the guest driver over the BAR registers with a fake guest RAM, the
 * devices run their real threads (interrupts go nowhere: no VM fd). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "check-main.h"
#include "hostd/storage/disk.h"
#include "state-test.h"
#include "virtio-devices.h"

#define RAM 0x40000
#define QSZ 8
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define HDR 0x8000
#define DATA 0x9000
#define STATUS 0xa000
#define DATA2 0xb000

static uint8_t *ram;

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
        (void)opaque;
        return range_ok(gpa, len, RAM) ? ram + gpa : NULL;
}

static const struct vq_mem mem = { translate, NULL };

static void wr(struct virtio_dev *vd, uint64_t off, uint64_t v, unsigned size)
{
        uint8_t d[8];
        for (unsigned i = 0; i < size; i++)
                d[i] = (uint8_t)(v >> (8 * i));
        virtio_pci_bar_write(vd, off, d, size);
}

static uint64_t rd(struct virtio_dev *vd, uint64_t off, unsigned size)
{
        uint8_t d[8];
        uint64_t v = 0;
        virtio_pci_bar_read(vd, off, d, size);
        for (unsigned i = 0; i < size; i++)
                v |= (uint64_t)d[i] << (8 * i);
        return v;
}

static uint16_t get16(uint64_t gpa)
{
        uint16_t v;
        memcpy(&v, ram + gpa, 2);
        return v;
}

static void put_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
        uint8_t *p = ram + DESC + 16 * i;
        memcpy(p, &addr, 8);
        memcpy(p + 8, &len, 4);
        memcpy(p + 12, &flags, 2);
        memcpy(p + 14, &next, 2);
}

static void offer(struct virtio_dev *vd, uint16_t head)
{
        uint16_t idx = get16(AVAIL + 2);
        memcpy(ram + AVAIL + 4 + 2 * (idx % QSZ), &head, 2);
        idx++;
        __atomic_store_n((uint16_t *)(ram + AVAIL + 2), idx, __ATOMIC_RELEASE);
        wr(vd, VIRTIO_NOTIFY_OFF, 0, 2);
}

/* Wait until used->idx reaches want (the device thread works async). */
static bool wait_used(uint16_t want)
{
        for (int i = 0; i < 2000; i++) {
                if (__atomic_load_n((uint16_t *)(ram + USED + 2), __ATOMIC_ACQUIRE) == want)
                        return true;
                usleep(1000);
        }
        return false;
}

/* The driver side of 3.1.1 for queue q; returns the final status. */
static uint8_t driver_init(struct virtio_dev *vd, unsigned nq, uint64_t features)
{
        wr(vd, 0x14, 0, 1); /* reset */
        wr(vd, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
        wr(vd, 0x08, 0, 4);
        wr(vd, 0x0c, (uint32_t)features, 4);
        wr(vd, 0x08, 1, 4);
        wr(vd, 0x0c, features >> 32, 4);
        wr(vd, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
        if (!(rd(vd, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK))
                return (uint8_t)rd(vd, 0x14, 1);
        for (unsigned q = 0; q < nq; q++) {
                uint64_t base = 0x10000 * (q + 1) - (q == 0 ? 0x10000 : 0);
                wr(vd, 0x16, q, 2);
                ck_assert_uint_ge(rd(vd, 0x18, 2), QSZ);
                wr(vd, 0x18, QSZ, 2);
                /* 64-bit addresses as two 32-bit halves, as Linux does */
                wr(vd, 0x20, (uint32_t)(base + DESC), 4);
                wr(vd, 0x24, 0, 4);
                wr(vd, 0x28, base + AVAIL, 8);
                wr(vd, 0x30, base + USED, 8);
                wr(vd, 0x1c, 1, 2);
                ck_assert_uint_eq(rd(vd, 0x1c, 2), 1);
        }
        wr(vd, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                             VIRTIO_STATUS_DRIVER_OK, 1);
        return (uint8_t)rd(vd, 0x14, 1);
}

#define FEAT_V1 (1ull << 32)

/* ---- virtio-blk ---- */

static char path[64];
static struct disk *disk;
static struct virtio_blk *blk;

static void blk_setup(bool ro)
{
        struct disk_create_opts o = { .format = DISK_FORMAT_RAW, .size = 1 << 20, .no_sync = true };
        char *err = NULL;
        int fd;

        ram = calloc(1, RAM);
        strcpy(path, "/tmp/virtio-blk-test-XXXXXX");
        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(disk_create(path, &o, &err), 0);
        ck_assert_int_eq(disk_open(path, DISK_FORMAT_RAW, ro ? DISK_OPEN_READONLY : 0, &disk, &err), 0);
        ck_assert_int_eq(virtio_blk_create(disk, ro, "serial-42", 10, &mem, &blk), 0);
}

static void blk_teardown(void)
{
        virtio_blk_free(blk);
        disk_close(disk);
        unlink(path);
        free(ram);
}

/* Queue one request: header, optional data (dir: write = device reads). */
static void blk_req(struct virtio_dev *vd, uint32_t type, uint64_t sector, uint32_t len, bool data_in)
{
        uint8_t hdr[16] = { 0 };

        memcpy(hdr, &type, 4);
        memcpy(hdr + 8, &sector, 8);
        memcpy(ram + HDR, hdr, 16);
        ram[STATUS] = 0xee;
        put_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
        if (len) {
                put_desc(1, DATA, len, VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0), 2);
                put_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
        } else {
                put_desc(1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
        }
        offer(vd, 0);
}

START_TEST(test_blk_rw)
{
        struct virtio_dev *vd;
        uint8_t back[1024];
        uint64_t cap;

        blk_setup(false);
        vd = virtio_blk_dev(blk);
        /* PCI identity and capabilities */
        ck_assert_uint_eq(vd->pci.cfg[0] | vd->pci.cfg[1] << 8, 0x1af4);
        ck_assert_uint_eq(vd->pci.cfg[2] | vd->pci.cfg[3] << 8, 0x1042);
        ck_assert_uint_eq(vd->pci.cfg[0x34], 0x40);
        /* capacity in sectors, features */
        cap = rd(vd, VIRTIO_DEVCFG_OFF, 8);
        ck_assert_uint_eq(cap, (1 << 20) / 512);
        wr(vd, 0x00, 1, 4);
        ck_assert_uint_eq(rd(vd, 0x04, 4) & 1, 1); /* VERSION_1 */
        wr(vd, 0x00, 0, 4);
        ck_assert_uint_eq(rd(vd, 0x04, 4) & (1u << 5), 0); /* not RO */

        ck_assert_uint_eq(driver_init(vd, 1, FEAT_V1 | 1ull << 29 | 1ull << 28) & VIRTIO_STATUS_DRIVER_OK,
                          VIRTIO_STATUS_DRIVER_OK);

        for (int i = 0; i < 1024; i++)
                ram[DATA + i] = (uint8_t)(i * 7 + 3);
        blk_req(vd, 1 /* OUT */, 5, 1024, false);
        ck_assert(wait_used(1));
        ck_assert_uint_eq(ram[STATUS], 0);
        ck_assert_int_eq(disk_read(disk, back, 1024, 5 * 512), 0);
        ck_assert_mem_eq(back, ram + DATA, 1024);

        memset(ram + DATA, 0, 1024);
        blk_req(vd, 0 /* IN */, 5, 1024, true);
        ck_assert(wait_used(2));
        ck_assert_uint_eq(ram[STATUS], 0);
        ck_assert_mem_eq(back, ram + DATA, 1024);
        /* used len = data + status */
        ck_assert_uint_eq(*(uint32_t *)(ram + USED + 4 + 8 * 1 + 4), 1025);

        blk_req(vd, 4 /* FLUSH */, 0, 0, false);
        ck_assert(wait_used(3));
        ck_assert_uint_eq(ram[STATUS], 0);

        blk_req(vd, 8 /* GET_ID */, 0, 20, true);
        ck_assert(wait_used(4));
        ck_assert_uint_eq(ram[STATUS], 0);
        ck_assert_str_eq((char *)ram + DATA, "serial-42");

        blk_req(vd, 0, 2047, 1024, true); /* runs past the end */
        ck_assert(wait_used(5));
        ck_assert_uint_eq(ram[STATUS], 1);
        blk_req(vd, 0, UINT64_MAX / 256, 512, true); /* offset overflows */
        ck_assert(wait_used(6));
        ck_assert_uint_eq(ram[STATUS], 1);
        blk_req(vd, 99, 0, 0, false); /* unknown type */
        ck_assert(wait_used(7));
        ck_assert_uint_eq(ram[STATUS], 2);
        ck_assert_uint_eq(rd(vd, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
        blk_teardown();
}
END_TEST

START_TEST(test_blk_readonly)
{
        struct virtio_dev *vd;
        uint8_t back[512];

        blk_setup(true);
        vd = virtio_blk_dev(blk);
        wr(vd, 0x00, 0, 4);
        ck_assert_uint_eq(rd(vd, 0x04, 4) & (1u << 5), 1u << 5); /* VIRTIO_BLK_F_RO */
        driver_init(vd, 1, FEAT_V1 | 1ull << 5);
        memset(ram + DATA, 0x55, 512);
        blk_req(vd, 1, 0, 512, false);
        ck_assert(wait_used(1));
        ck_assert_uint_eq(ram[STATUS], 1); /* VIRTIO_BLK_S_IOERR */
        ck_assert_int_eq(disk_read(disk, back, 512, 0), 0);
        ck_assert_uint_eq(back[0], 0);
        blk_teardown();
}
END_TEST

START_TEST(test_features_refused)
{
        struct virtio_dev *vd;

        blk_setup(false);
        vd = virtio_blk_dev(blk);
        /* legacy driver (no VERSION_1) and unknown feature bits */
        ck_assert_uint_eq(driver_init(vd, 1, 0) & VIRTIO_STATUS_FEATURES_OK, 0);
        ck_assert_uint_eq(driver_init(vd, 1, FEAT_V1 | 1ull << 40) & VIRTIO_STATUS_FEATURES_OK, 0);
        ck_assert_uint_ne(driver_init(vd, 1, FEAT_V1) & VIRTIO_STATUS_FEATURES_OK, 0);
        blk_teardown();
}
END_TEST

START_TEST(test_blk_broken_chain)
{
        struct virtio_dev *vd;

        blk_setup(false);
        vd = virtio_blk_dev(blk);
        driver_init(vd, 1, FEAT_V1);
        put_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
        put_desc(1, DATA, 16, VIRTQ_DESC_F_NEXT, 0); /* loop */
        offer(vd, 0);
        for (int i = 0; i < 2000 && !(rd(vd, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET); i++)
                usleep(1000);
        ck_assert_uint_eq(rd(vd, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, VIRTIO_STATUS_NEEDS_RESET);
        ck_assert_uint_eq(get16(USED + 2), 0);
        /* no more processing until reset, then it works again */
        blk_req(vd, 8, 0, 20, true);
        usleep(50000);
        ck_assert_uint_eq(get16(USED + 2), 0);
        memset(ram + AVAIL, 0, 0x100);
        memset(ram + USED, 0, 0x100);
        ck_assert_uint_eq(driver_init(vd, 1, FEAT_V1) & VIRTIO_STATUS_NEEDS_RESET, 0);
        blk_req(vd, 8, 0, 20, true);
        ck_assert(wait_used(1));
        ck_assert_uint_eq(ram[STATUS], 0);

        /* a request without a status byte is a protocol violation too */
        put_desc(0, HDR, 16, 0, 0);
        offer(vd, 0);
        for (int i = 0; i < 2000 && !(rd(vd, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET); i++)
                usleep(1000);
        ck_assert_uint_eq(rd(vd, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, VIRTIO_STATUS_NEEDS_RESET);

        /* queue rings outside guest RAM: broken at enable */
        wr(vd, 0x14, 0, 1);
        wr(vd, 0x16, 0, 2);
        wr(vd, 0x20, RAM - 16, 8);
        wr(vd, 0x1c, 1, 2);
        ck_assert_uint_eq(rd(vd, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, VIRTIO_STATUS_NEEDS_RESET);
        ck_assert_uint_eq(rd(vd, 0x1c, 2), 0);
        blk_teardown();
}
END_TEST

/* ---- virtio-input ---- */

START_TEST(test_input)
{
        struct virtio_input *kbd, *tab;
        struct virtio_dev *vd;
        uint8_t ev[8];
        uint16_t type, code;
        uint32_t value;

        ram = calloc(1, RAM);
        ck_assert_int_eq(virtio_input_create(VIRTIO_INPUT_KEYBOARD, 11, &mem, &kbd), 0);
        ck_assert_int_eq(virtio_input_create(VIRTIO_INPUT_TABLET, 12, &mem, &tab), 0);
        vd = virtio_input_dev(kbd);
        ck_assert_uint_eq(vd->pci.cfg[2] | vd->pci.cfg[3] << 8, 0x1052);
        /* config: EV_BITS/EV_KEY has every key */
        wr(vd, VIRTIO_DEVCFG_OFF, 0x11, 1);
        wr(vd, VIRTIO_DEVCFG_OFF + 1, 1, 1);
        ck_assert_uint_eq(rd(vd, VIRTIO_DEVCFG_OFF + 2, 1), 96);
        ck_assert_uint_eq(rd(vd, VIRTIO_DEVCFG_OFF + 8 + 30 / 8, 1) & (1u << (30 % 8)), 1u << (30 % 8));
        wr(vd, VIRTIO_DEVCFG_OFF, 0x01, 1);
        ck_assert_uint_eq(rd(vd, VIRTIO_DEVCFG_OFF + 8, 4), 0x20494456); /* "VDI " */
        /* tablet ABS_INFO of ABS_Y: 0..32767 */
        wr(virtio_input_dev(tab), VIRTIO_DEVCFG_OFF, 0x12, 1);
        wr(virtio_input_dev(tab), VIRTIO_DEVCFG_OFF + 1, 1, 1);
        ck_assert_uint_eq(rd(virtio_input_dev(tab), VIRTIO_DEVCFG_OFF + 2, 1), 20);
        ck_assert_uint_eq(rd(virtio_input_dev(tab), VIRTIO_DEVCFG_OFF + 12, 4), 32767);

        /* events before the driver is up wait in the FIFO */
        virtio_input_key(kbd, 30, true);
        virtio_input_key(kbd, 30, false);
        driver_init(vd, 1, FEAT_V1 | 1ull << 29);
        for (unsigned i = 0; i < 4; i++) {
                put_desc(i, DATA + 8 * i, 8, VIRTQ_DESC_F_WRITE, 0);
                offer(vd, (uint16_t)i);
        }
        ck_assert(wait_used(4));
        memcpy(ev, ram + DATA, 8);
        memcpy(&type, ev, 2);
        memcpy(&code, ev + 2, 2);
        memcpy(&value, ev + 4, 4);
        ck_assert_uint_eq(type, 1);
        ck_assert_uint_eq(code, 30);
        ck_assert_uint_eq(value, 1);
        memcpy(&type, ram + DATA + 8, 2);
        ck_assert_uint_eq(type, 0); /* SYN_REPORT */
        memcpy(&value, ram + DATA + 16 + 4, 4);
        ck_assert_uint_eq(value, 0); /* release */

        /* buffers posted first, event later: delivered at once */
        for (unsigned i = 0; i < 2; i++) {
                put_desc(4 + i, DATA + 0x100 + 8 * i, 8, VIRTQ_DESC_F_WRITE, 0);
                offer(vd, (uint16_t)(4 + i));
        }
        usleep(20000);
        virtio_input_key(kbd, 0x2ff, true);
        ck_assert(wait_used(6));
        memcpy(&code, ram + DATA + 0x100 + 2, 2);
        ck_assert_uint_eq(code, 0x2ff);
        /* invalid key codes are ignored */
        virtio_input_key(kbd, 0x300, true);
        virtio_input_key(kbd, 0, true);

        /* statusq (queue 1, rings at 0x20000): the guest sets CAPS LOCK */
        {
                uint64_t q1 = 0x20000;
                uint8_t led[8] = { 0x11, 0, 1, 0, 1, 0, 0, 0 }; /* EV_LED, LED_CAPSL, 1 */
                uint64_t addr = DATA2;
                uint32_t len = 8;
                uint16_t flags = 0, head = 0, one = 1;

                wr(vd, 0x16, 1, 2);
                wr(vd, 0x18, QSZ, 2);
                wr(vd, 0x20, q1 + DESC, 8);
                wr(vd, 0x28, q1 + AVAIL, 8);
                wr(vd, 0x30, q1 + USED, 8);
                wr(vd, 0x1c, 1, 2);
                memcpy(ram + DATA2, led, 8);
                memcpy(ram + q1 + DESC, &addr, 8);
                memcpy(ram + q1 + DESC + 8, &len, 4);
                memcpy(ram + q1 + DESC + 12, &flags, 2);
                memcpy(ram + q1 + AVAIL + 4, &head, 2);
                __atomic_store_n((uint16_t *)(ram + q1 + AVAIL + 2), one, __ATOMIC_RELEASE);
                wr(vd, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT, 1, 2);
                for (int i = 0; i < 2000 && virtio_input_leds(kbd) != 2; i++)
                        usleep(1000);
                ck_assert_uint_eq(virtio_input_leds(kbd), 1u << 1);
                ck_assert_uint_eq(get16(q1 + USED + 2), 1);
        }

        virtio_input_free(kbd);
        virtio_input_free(tab);
        free(ram);
}
END_TEST

/* ---- snapshots: the transport state moves from one device to another ---- */

/* The transport's save runs frozen, as vm_snapshot calls it. */
static int frozen_save(void *dev, struct state_writer *w)
{
        int r;

        virtio_pci_freeze(dev);
        r = virtio_state_ops.save(dev, w);
        virtio_pci_thaw(dev);
        return r;
}

static int state_move(struct virtio_dev *a, struct virtio_dev *b, struct vm_err *err)
{
        const struct state_ops o = { .save = frozen_save, .load = virtio_state_ops.load };

        return state_round_trip(&o, a, b, NULL, err);
}

START_TEST(test_state)
{
        struct virtio_input *ka, *kb;
        struct virtio_dev *a, *b;
        struct vm_err err;
        uint8_t *ram_a;

        ram = calloc(1, RAM);
        ck_assert_int_eq(virtio_input_create(VIRTIO_INPUT_KEYBOARD, 11, &mem, &ka), 0);
        ck_assert_int_eq(virtio_input_create(VIRTIO_INPUT_KEYBOARD, 11, &mem, &kb), 0);
        a = virtio_input_dev(ka);
        b = virtio_input_dev(kb);
        ck_assert_uint_eq(driver_init(a, 2, FEAT_V1) & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
        wr(a, VIRTIO_DEVCFG_OFF, 0x01, 1); /* config select: the name */
        ck_assert_int_eq(state_move(a, b, &err), 0);
        ck_assert_uint_eq(rd(b, 0x14, 1), rd(a, 0x14, 1));
        ck_assert_uint_eq(rd(b, VIRTIO_DEVCFG_OFF + 8, 4), 0x20494456); /* "VDI ": select moved */
        for (unsigned q = 0; q < 2; q++) {
                wr(b, 0x16, q, 2);
                wr(a, 0x16, q, 2);
                ck_assert_uint_eq(rd(b, 0x1c, 2), 1);                   /* enabled */
                ck_assert(rd(b, 0x20, 8) == rd(a, 0x20, 8));            /* descriptor ring */
                ck_assert(rd(b, 0x30, 8) == rd(a, 0x30, 8));            /* used ring */
                ck_assert(b->q[q].vq.started);
        }
        virtio_input_free(kb);
        /* A keyboard's state on a block device: refused, nothing changed.
         * blk_setup makes a RAM of its own: a's stays until a is gone. */
        ram_a = ram;
        blk_setup(false);
        ck_assert_int_eq(state_move(a, virtio_blk_dev(blk), &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "virtio-blk: features"));
        ck_assert_uint_eq(rd(virtio_blk_dev(blk), 0x14, 1), 0);
        blk_teardown();
        virtio_input_free(ka);
        free(ram_a);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("virtio");
        TCase *tc = tcase_create("devices");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_blk_rw);
        tcase_add_test(tc, test_blk_readonly);
        tcase_add_test(tc, test_features_refused);
        tcase_add_test(tc, test_blk_broken_chain);
        tcase_add_test(tc, test_input);
        tcase_add_test(tc, test_state);
        suite_add_tcase(s, tc);
        return s;
}
