/* virtio-net without KVM: this test plays the guest driver over the BAR
 * registers with a fake guest RAM; the device runs its real thread. The
 * "tap" is one end of a SOCK_SEQPACKET socketpair (one frame per read and
 * write, like a tap); real taps on real bridges are tests/vmm/net.sh. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "check-main.h"
#include "virtio-devices.h"
#include "virtio-net-proto.h"

#define RAM 0x40000
#define QSZ 16
#define RXB 0x00000 /* queue 0 rings */
#define TXB 0x10000 /* queue 1 rings */
#define DESC 0x0000
#define AVAIL 0x1000
#define USED 0x2000
#define BUF 0x20000 /* buffers */
#define MRG (1ull << 15)
#define FEAT_V1 (1ull << 32)

static uint8_t *ram;
static struct virtio_net *nt;
static struct virtio_dev *vd;
static int peer, devfd; /* the host and the device side of the "tap" */
static const uint8_t mac[6] = { 0x02, 0x56, 0x44, 0, 0, 0x0a };

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
        (void)opaque;
        return range_ok(gpa, len, RAM) ? ram + gpa : NULL;
}

static const struct vq_mem mem = { translate, NULL };

static void wr(uint64_t off, uint64_t v, unsigned size)
{
        uint8_t d[8];
        for (unsigned i = 0; i < size; i++)
                d[i] = (uint8_t)(v >> (8 * i));
        virtio_pci_bar_write(vd, off, d, size);
}

static uint64_t rd(uint64_t off, unsigned size)
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
        return __atomic_load_n((uint16_t *)(ram + gpa), __ATOMIC_ACQUIRE);
}

static uint32_t get32(uint64_t gpa)
{
        uint32_t v;
        memcpy(&v, ram + gpa, 4);
        return v;
}

static void put_desc(uint64_t base, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
        uint8_t *p = ram + base + DESC + 16 * i;
        memcpy(p, &addr, 8);
        memcpy(p + 8, &len, 4);
        memcpy(p + 12, &flags, 2);
        memcpy(p + 14, &next, 2);
}

static void offer(uint64_t base, unsigned q, uint16_t head)
{
        uint16_t idx = get16(base + AVAIL + 2);
        memcpy(ram + base + AVAIL + 4 + 2 * (idx % QSZ), &head, 2);
        __atomic_store_n((uint16_t *)(ram + base + AVAIL + 2), (uint16_t)(idx + 1), __ATOMIC_RELEASE);
        wr(VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * q, q, 2);
}

static bool wait_used(uint64_t base, uint16_t want)
{
        for (int i = 0; i < 2000; i++) {
                if (get16(base + USED + 2) == want)
                        return true;
                usleep(1000);
        }
        return false;
}

static bool wait_broken(void)
{
        for (int i = 0; i < 2000; i++) {
                if (rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET)
                        return true;
                usleep(1000);
        }
        return false;
}

static uint8_t driver_init(uint64_t features)
{
        memset(ram, 0, BUF);
        wr(0x14, 0, 1);
        wr(0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
        wr(0x08, 0, 4);
        wr(0x0c, (uint32_t)features, 4);
        wr(0x08, 1, 4);
        wr(0x0c, features >> 32, 4);
        wr(0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
        for (unsigned q = 0; q < 2; q++) {
                uint64_t base = q ? TXB : RXB;
                wr(0x16, q, 2);
                wr(0x18, QSZ, 2);
                wr(0x20, base + DESC, 8);
                wr(0x28, base + AVAIL, 8);
                wr(0x30, base + USED, 8);
                wr(0x1c, 1, 2);
        }
        wr(0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                         VIRTIO_STATUS_DRIVER_OK, 1);
        return (uint8_t)rd(0x14, 1);
}

static void setup_hdr(bool vnet_hdr)
{
        int sp[2];

        ram = calloc(1, RAM);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sp), 0);
        peer = sp[1];
        ck_assert_int_eq(virtio_net_create(sp[0], vnet_hdr, mac, 10, &mem, &nt), 0);
        vd = virtio_net_dev(nt);
        devfd = sp[0];
}

static void setup(void)
{
        setup_hdr(false);
}

static void teardown(void)
{
        virtio_net_free(nt);
        close(devfd);
        close(peer);
        free(ram);
}

static void frame(uint8_t *f, size_t len, uint8_t seed)
{
        for (size_t i = 0; i < len; i++)
                f[i] = (uint8_t)(i * 31 + seed);
}

static ssize_t peer_recv(uint8_t *buf, size_t size)
{
        for (int i = 0; i < 2000; i++) {
                ssize_t n = recv(peer, buf, size, 0);
                if (n >= 0 || errno != EAGAIN)
                        return n;
                usleep(1000);
        }
        return -1;
}

START_TEST(test_net_config_and_tx)
{
        uint8_t f[1500], got[2000];

        setup();
        ck_assert_uint_eq(vd->pci.cfg[2] | vd->pci.cfg[3] << 8, 0x1041);
        ck_assert_uint_eq(vd->pci.cfg[0xb], 0x02); /* network controller */
        for (int i = 0; i < 6; i++)
                ck_assert_uint_eq(rd(VIRTIO_DEVCFG_OFF + i, 1), mac[i]);
        ck_assert_uint_eq(rd(VIRTIO_DEVCFG_OFF + 6, 2), 1); /* VIRTIO_NET_S_LINK_UP */
        wr(0x00, 0, 4);
        ck_assert_uint_eq(rd(0x04, 4) & (1u << 5 | 1u << 15 | 1u << 16), 1u << 5 | 1u << 15 | 1u << 16);
        ck_assert_uint_eq(rd(0x04, 4) & (1u << 0 | 1u << 1 | 1u << 11), 0); /* no CSUM, GUEST_CSUM, HOST_TSO4 */
        ck_assert_uint_ne(driver_init(FEAT_V1 | MRG) & VIRTIO_STATUS_DRIVER_OK, 0);

        /* header and frame split over three descriptors, header split too */
        frame(f, sizeof(f), 1);
        memset(ram + BUF, 0xee, VNET_HDR_LEN); /* garbage header: ignored */
        memcpy(ram + BUF + VNET_HDR_LEN, f, sizeof(f));
        put_desc(TXB, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
        put_desc(TXB, 1, BUF + 4, 100, VIRTQ_DESC_F_NEXT, 2);
        put_desc(TXB, 2, BUF + 104, VNET_HDR_LEN + sizeof(f) - 104, 0, 0);
        offer(TXB, 1, 0);
        ck_assert(wait_used(TXB, 1));
        ck_assert_int_eq(peer_recv(got, sizeof(got)), sizeof(f));
        ck_assert_mem_eq(got, f, sizeof(f));

        /* too short a frame (5 bytes after the header): dropped, chain returned */
        put_desc(TXB, 3, BUF, VNET_HDR_LEN + 5, 0, 0);
        offer(TXB, 1, 3);
        ck_assert(wait_used(TXB, 2));
        ck_assert_int_eq(recv(peer, got, sizeof(got), 0), -1);
        {
                struct virtio_net_stats st;
                virtio_net_stats(nt, &st);
                ck_assert_uint_eq(st.tx_packets, 1);
                ck_assert_uint_eq(st.tx_dropped, 1);
        }
        ck_assert_uint_eq(rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
        teardown();
}
END_TEST

/* A fork's announcement: link down with a configuration interrupt, up
 * again (another interrupt, a new config generation) only once the driver
 * has read the down state; nothing before the driver runs. */
START_TEST(test_net_link_change)
{
        uint8_t gen;
        int i;

        setup();
        virtio_net_link_change(nt); /* no driver yet: nothing */
        ck_assert_uint_eq(rd(VIRTIO_DEVCFG_OFF + 6, 2), 1);
        ck_assert_uint_ne(driver_init(FEAT_V1 | MRG) & VIRTIO_STATUS_DRIVER_OK, 0);
        rd(VIRTIO_ISR_OFF, 1); /* clear */
        gen = (uint8_t)rd(0x15, 1);
        virtio_net_link_change(nt);
        ck_assert_uint_eq(rd(VIRTIO_ISR_OFF, 1) & 2, 2); /* configuration interrupt */
        ck_assert_uint_eq(rd(0x15, 1), (uint8_t)(gen + 1));
        for (i = 0; i < 6; i++)
                ck_assert_uint_eq(rd(VIRTIO_DEVCFG_OFF + i, 1), mac[i]); /* the MAC alone: still down */
        usleep(50000);
        ck_assert_uint_eq(rd(VIRTIO_DEVCFG_OFF + 6, 2), 0); /* the driver sees it down... */
        for (i = 0; i < 2000 && rd(VIRTIO_DEVCFG_OFF + 6, 2) != 1; i++) /* ...then up */
                usleep(1000);
        ck_assert_uint_eq(rd(VIRTIO_DEVCFG_OFF + 6, 2), 1);
        ck_assert_uint_eq(rd(VIRTIO_ISR_OFF, 1) & 2, 2);
        ck_assert_uint_eq(rd(0x15, 1), (uint8_t)(gen + 2));
        teardown();
}
END_TEST

START_TEST(test_net_rx_mergeable)
{
        uint8_t f[3000], hdr[VNET_HDR_LEN];
        uint16_t nb;

        setup();
        driver_init(FEAT_V1 | MRG);
        /* a frame sent before any buffer waits in the "tap" */
        frame(f, 100, 7);
        ck_assert_int_eq(send(peer, f, 100, 0), 100);
        usleep(20000);
        for (unsigned i = 0; i < 4; i++) {
                put_desc(RXB, i, BUF + 0x1000 * i, 1024, VIRTQ_DESC_F_WRITE, 0);
                offer(RXB, 0, (uint16_t)i);
        }
        ck_assert(wait_used(RXB, 1));
        ck_assert_uint_eq(get32(RXB + USED + 4 + 4), VNET_HDR_LEN + 100);
        memcpy(&nb, ram + BUF + 10, 2);
        ck_assert_uint_eq(nb, 1);
        ck_assert_mem_eq(ram + BUF + VNET_HDR_LEN, f, 100);

        /* 3000 bytes over three 1024-byte buffers, published together */
        frame(f, sizeof(f), 9);
        ck_assert_int_eq(send(peer, f, sizeof(f), 0), sizeof(f));
        ck_assert(wait_used(RXB, 4));
        memcpy(hdr, ram + BUF + 0x1000, VNET_HDR_LEN);
        memcpy(&nb, hdr + 10, 2);
        ck_assert_uint_eq(nb, 3);
        ck_assert_uint_eq(get32(RXB + USED + 4 + 8 * 1 + 4), 1024);
        ck_assert_uint_eq(get32(RXB + USED + 4 + 8 * 2 + 4), 1024);
        ck_assert_uint_eq(get32(RXB + USED + 4 + 8 * 3 + 4), 3000 + VNET_HDR_LEN - 2048);
        ck_assert_mem_eq(ram + BUF + 0x1000 + VNET_HDR_LEN, f, 1024 - VNET_HDR_LEN);
        ck_assert_mem_eq(ram + BUF + 0x2000, f + 1024 - VNET_HDR_LEN, 1024);
        ck_assert_mem_eq(ram + BUF + 0x3000, f + 2048 - VNET_HDR_LEN, 3000 + VNET_HDR_LEN - 2048);
        teardown();
}
END_TEST

START_TEST(test_net_rx_small_buffer_no_mrg)
{
        uint8_t f[1500];
        struct virtio_net_stats st;

        setup();
        driver_init(FEAT_V1); /* no MRG_RXBUF: one buffer per frame */
        put_desc(RXB, 0, BUF, 512, VIRTQ_DESC_F_WRITE, 0);
        offer(RXB, 0, 0);
        frame(f, sizeof(f), 3);
        ck_assert_int_eq(send(peer, f, sizeof(f), 0), sizeof(f));
        ck_assert(wait_used(RXB, 1));
        ck_assert_uint_eq(get32(RXB + USED + 4 + 4), 0); /* dropped: returned empty */
        virtio_net_stats(nt, &st);
        ck_assert_uint_eq(st.rx_dropped, 1);
        ck_assert_uint_eq(rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
        teardown();
}
END_TEST

/* Hostile chains: each breaks the device (NEEDS_RESET), never the process;
 * after a reset the device works again. */
START_TEST(test_net_hostile)
{
        uint8_t f[200], got[300];

        setup();
        frame(f, sizeof(f), 5);

        /* TX: chain shorter than the header */
        driver_init(FEAT_V1 | MRG);
        put_desc(TXB, 0, BUF, 4, 0, 0);
        offer(TXB, 1, 0);
        ck_assert(wait_broken());

        /* TX: a device-writable buffer on the transmit queue */
        driver_init(FEAT_V1 | MRG);
        put_desc(TXB, 0, BUF, 64, VIRTQ_DESC_F_NEXT, 1);
        put_desc(TXB, 1, BUF + 64, 64, VIRTQ_DESC_F_WRITE, 0);
        offer(TXB, 1, 0);
        ck_assert(wait_broken());

        /* TX: a descriptor loop */
        driver_init(FEAT_V1 | MRG);
        put_desc(TXB, 0, BUF, 64, VIRTQ_DESC_F_NEXT, 1);
        put_desc(TXB, 1, BUF, 64, VIRTQ_DESC_F_NEXT, 0);
        offer(TXB, 1, 0);
        ck_assert(wait_broken());

        /* TX: a buffer outside guest RAM */
        driver_init(FEAT_V1 | MRG);
        put_desc(TXB, 0, RAM - 8, 64, 0, 0);
        offer(TXB, 1, 0);
        ck_assert(wait_broken());

        /* TX: an oversize chain (more than 64 KiB of frame) is dropped */
        driver_init(FEAT_V1 | MRG);
        put_desc(TXB, 0, 0, VNET_HDR_LEN + VNET_MAX_FRAME + 1, 0, 0);
        offer(TXB, 1, 0);
        ck_assert(wait_used(TXB, 1));
        ck_assert_int_eq(recv(peer, got, sizeof(got), 0), -1);
        ck_assert_uint_eq(rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);

        /* RX: a readable buffer on the receive queue */
        driver_init(FEAT_V1 | MRG);
        put_desc(RXB, 0, BUF, 1024, 0, 0);
        offer(RXB, 0, 0);
        ck_assert_int_eq(send(peer, f, sizeof(f), 0), sizeof(f));
        ck_assert(wait_broken());

        /* RX: first buffer too small for the header */
        driver_init(FEAT_V1 | MRG);
        put_desc(RXB, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
        offer(RXB, 0, 0);
        ck_assert_int_eq(send(peer, f, sizeof(f), 0), sizeof(f));
        ck_assert(wait_broken());

        /* RX, mergeable: every buffer one byte: the whole ring cannot hold
         * the frame; broken instead of waiting forever */
        driver_init(FEAT_V1 | MRG);
        put_desc(RXB, 0, BUF, VNET_HDR_LEN, VIRTQ_DESC_F_WRITE, 0);
        offer(RXB, 0, 0);
        for (unsigned i = 1; i < QSZ; i++) {
                put_desc(RXB, i, BUF + 0x100 + i, 1, VIRTQ_DESC_F_WRITE, 0);
                offer(RXB, 0, (uint16_t)i);
        }
        ck_assert_int_eq(send(peer, f, sizeof(f), 0), sizeof(f));
        ck_assert(wait_broken());
        ck_assert_uint_eq(get16(RXB + USED + 2), 0); /* nothing half-published */

        /* after a reset, normal traffic again */
        driver_init(FEAT_V1 | MRG);
        put_desc(RXB, 0, BUF, 1024, VIRTQ_DESC_F_WRITE, 0);
        offer(RXB, 0, 0);
        ck_assert_int_eq(send(peer, f, sizeof(f), 0), sizeof(f));
        ck_assert(wait_used(RXB, 1));
        ck_assert_mem_eq(ram + BUF + VNET_HDR_LEN, f, sizeof(f));
        ck_assert_uint_eq(rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
        teardown();
}
END_TEST

/* Offloads through a vnet header: the guest's header goes out checked; the
 * "tap"'s header comes in only as negotiated. */
START_TEST(test_net_offloads)
{
        uint8_t f[1000], got[2000], hdr[VNET_HDR_LEN] = { 0 }, pkt[VNET_HDR_LEN + 1000];
        const uint64_t csum = 1ull << VIRTIO_NET_F_CSUM, gcsum = 1ull << VIRTIO_NET_F_GUEST_CSUM;
        const uint64_t tso4 = 1ull << VIRTIO_NET_F_HOST_TSO4, gtso4 = 1ull << VIRTIO_NET_F_GUEST_TSO4;
        struct virtio_net_stats st;

        setup_hdr(true);
        wr(0x00, 0, 4);
        ck_assert_uint_eq(rd(0x04, 4) & (csum | gcsum | tso4 | gtso4), csum | gcsum | tso4 | gtso4);
        driver_init(FEAT_V1 | MRG | csum | tso4);
        frame(f, sizeof(f), 2);

        /* NEEDS_CSUM + TSO4 header: passed on, num_buffers and junk flags cleared */
        hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM | 0x40;
        hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        hdr[2] = 54;    /* hdr_len */
        hdr[4] = 0xb4;  /* gso_size 1460 */
        hdr[5] = 0x05;
        hdr[6] = 34;    /* csum_start */
        hdr[8] = 16;    /* csum_offset */
        hdr[10] = 7;    /* num_buffers: receive only */
        memcpy(ram + BUF, hdr, VNET_HDR_LEN);
        memcpy(ram + BUF + VNET_HDR_LEN, f, sizeof(f));
        put_desc(TXB, 0, BUF, VNET_HDR_LEN + sizeof(f), 0, 0);
        offer(TXB, 1, 0);
        ck_assert(wait_used(TXB, 1));
        ck_assert_int_eq(peer_recv(got, sizeof(got)), VNET_HDR_LEN + sizeof(f));
        ck_assert_uint_eq(got[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
        ck_assert_mem_eq(got + 1, hdr + 1, 9);
        ck_assert_uint_eq(got[10] | got[11], 0);
        ck_assert_mem_eq(got + VNET_HDR_LEN, f, sizeof(f));

        /* TSO6 was not negotiated, GSO without NEEDS_CSUM, UDP GSO: dropped */
        hdr[1] = VIRTIO_NET_HDR_GSO_TCPV6;
        memcpy(ram + BUF, hdr, VNET_HDR_LEN);
        put_desc(TXB, 1, BUF, VNET_HDR_LEN + sizeof(f), 0, 0);
        offer(TXB, 1, 1);
        hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        hdr[0] = 0;
        memcpy(ram + BUF + 0x2000, hdr, VNET_HDR_LEN);
        memcpy(ram + BUF + 0x2000 + VNET_HDR_LEN, f, sizeof(f));
        put_desc(TXB, 2, BUF + 0x2000, VNET_HDR_LEN + sizeof(f), 0, 0);
        offer(TXB, 1, 2);
        ck_assert(wait_used(TXB, 3));
        ck_assert_int_eq(recv(peer, got, sizeof(got), 0), -1);
        virtio_net_stats(nt, &st);
        ck_assert_uint_eq(st.tx_dropped, 2);

        /* receive: a GSO frame the driver did not negotiate (GUEST_TSO4) is
         * dropped; a plain one gets its header with num_buffers */
        put_desc(RXB, 0, BUF + 0x4000, 2048, VIRTQ_DESC_F_WRITE, 0);
        offer(RXB, 0, 0);
        memset(pkt, 0, VNET_HDR_LEN);
        pkt[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        pkt[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        memcpy(pkt + VNET_HDR_LEN, f, sizeof(f));
        ck_assert_int_eq(send(peer, pkt, sizeof(pkt), 0), sizeof(pkt));
        memset(pkt, 0, VNET_HDR_LEN);
        pkt[0] = VIRTIO_NET_HDR_F_DATA_VALID; /* kept only with GUEST_CSUM */
        ck_assert_int_eq(send(peer, pkt, sizeof(pkt), 0), sizeof(pkt));
        ck_assert(wait_used(RXB, 1));
        ck_assert_uint_eq(get32(RXB + USED + 4 + 4), VNET_HDR_LEN + sizeof(f));
        ck_assert_uint_eq(ram[BUF + 0x4000], 0);
        ck_assert_uint_eq(ram[BUF + 0x4000 + 10], 1);
        virtio_net_stats(nt, &st);
        ck_assert_uint_eq(st.rx_dropped, 1);

        /* with GUEST_CSUM + GUEST_TSO4 the GSO frame goes in, header intact */
        driver_init(FEAT_V1 | MRG | gcsum | gtso4);
        put_desc(RXB, 0, BUF + 0x4000, 2048, VIRTQ_DESC_F_WRITE, 0);
        offer(RXB, 0, 0);
        memset(pkt, 0, VNET_HDR_LEN);
        pkt[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        pkt[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        pkt[4] = 0xb4;
        pkt[5] = 0x05;
        ck_assert_int_eq(send(peer, pkt, sizeof(pkt), 0), sizeof(pkt));
        ck_assert(wait_used(RXB, 1));
        ck_assert_uint_eq(ram[BUF + 0x4000], VIRTIO_NET_HDR_F_NEEDS_CSUM);
        ck_assert_uint_eq(ram[BUF + 0x4000 + 1], VIRTIO_NET_HDR_GSO_TCPV4);
        ck_assert_uint_eq(ram[BUF + 0x4000 + 4], 0xb4);
        ck_assert_mem_eq(ram + BUF + 0x4000 + VNET_HDR_LEN, f, sizeof(f));
        ck_assert_uint_eq(rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
        teardown();
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("virtio-net");
        TCase *tc = tcase_create("net");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_net_config_and_tx);
        tcase_add_test(tc, test_net_link_change);
        tcase_add_test(tc, test_net_rx_mergeable);
        tcase_add_test(tc, test_net_rx_small_buffer_no_mrg);
        tcase_add_test(tc, test_net_hostile);
        tcase_add_test(tc, test_net_offloads);
        suite_add_tcase(s, tc);
        return s;
}
