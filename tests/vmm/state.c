/* The snapshot state format without KVM (hostd/vmm/state/): round trips,
 * every kind of corruption refused with its message, the device sections
 * (UART, PCI, power), and the sparse RAM file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "check-main.h"
#include "disks.h"
#include "pci.h"
#include "power.h"
#include "ram.h"
#include "state.h"
#include "state-test.h"
#include "uart.h"

/* A small file: three sections of every field type. */
static uint8_t *sample(size_t *len)
{
        struct state_writer w;
        uint8_t *buf;

        state_writer_init(&w);
        state_begin(&w, "alpha");
        state_put_u8(&w, 0xab);
        state_put_u16(&w, 0xcdef);
        state_put_u32(&w, 0x12345678);
        state_put_u64(&w, 0x1122334455667788ull);
        state_end(&w);
        state_begin(&w, "vcpu.0");
        state_put_bytes(&w, "hello", 5);
        state_end(&w);
        state_begin(&w, "empty");
        state_end(&w);
        ck_assert_int_eq(state_writer_finish(&w, &buf, len), 0);
        state_writer_free(&w);
        return buf;
}

START_TEST(test_round_trip)
{
        size_t len;
        _cleanup_free_ uint8_t *buf = sample(&len);
        struct state_file f;
        struct state_reader r;
        struct vm_err err = { "" };
        char five[5];

        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), 0);
        ck_assert_uint_eq(f.version, STATE_VERSION);
        ck_assert_uint_eq(f.nsec, 3);
        state_reader_init(&r, state_find(&f, "alpha"));
        ck_assert_uint_eq(state_get_u8(&r), 0xab);
        ck_assert_uint_eq(state_get_u16(&r), 0xcdef);
        ck_assert_uint_eq(state_get_u32(&r), 0x12345678);
        ck_assert(state_get_u64(&r) == 0x1122334455667788ull);
        ck_assert_int_eq(state_reader_done(&r, &err), 0);
        state_reader_init(&r, state_find(&f, "vcpu.0"));
        state_get_bytes(&r, five, 5);
        ck_assert(memcmp(five, "hello", 5) == 0);
        ck_assert_int_eq(state_reader_done(&r, &err), 0);
        ck_assert_uint_eq(state_find(&f, "empty")->len, 0);
        ck_assert_ptr_null(state_find(&f, "nope"));
        state_file_free(&f);
}
END_TEST

/* Every single-bit flip anywhere in the file is caught by a checksum, the
 * magic or a field check. */
START_TEST(test_every_bit_flip_refused)
{
        size_t len;
        _cleanup_free_ uint8_t *buf = sample(&len);
        struct state_file f;
        struct vm_err err;

        for (size_t i = 0; i < len; i++)
                for (int bit = 0; bit < 8; bit++) {
                        buf[i] ^= (uint8_t)(1u << bit);
                        err.msg[0] = '\0';
                        if (state_file_parse(buf, len, &f, &err) == 0)
                                ck_abort_msg("flip of bit %d at byte %zu accepted", bit, i);
                        ck_assert(err.msg[0]);
                        buf[i] ^= (uint8_t)(1u << bit);
                }
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), 0);
        state_file_free(&f);
}
END_TEST

START_TEST(test_truncation_and_trailing_refused)
{
        size_t len;
        _cleanup_free_ uint8_t *buf = sample(&len);
        _cleanup_free_ uint8_t *longer = malloc(len + 1);
        struct state_file f;
        struct vm_err err;

        for (size_t n = 0; n < len; n++) {
                err.msg[0] = '\0';
                ck_assert_int_lt(state_file_parse(buf, n, &f, &err), 0);
                ck_assert(err.msg[0]);
        }
        ck_assert_int_eq(state_file_parse(buf, 10, &f, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "state file truncated: 10 bytes, the header alone is 32");
        memcpy(longer, buf, len);
        longer[len] = 0;
        ck_assert_int_eq(state_file_parse(longer, len + 1, &f, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "state file has 1 bytes after its last section");
}
END_TEST

/* A header rewritten with valid checksums but another version or flags. */
static void rewrite_header(uint8_t *buf, uint32_t version, uint32_t flags)
{
        for (int i = 0; i < 4; i++) {
                buf[8 + i] = (uint8_t)(version >> (8 * i));
                buf[12 + i] = (uint8_t)(flags >> (8 * i));
        }
        uint32_t crc = state_crc(0, buf, 28);
        for (int i = 0; i < 4; i++)
                buf[28 + i] = (uint8_t)(crc >> (8 * i));
}

START_TEST(test_version_and_flags_refused)
{
        size_t len;
        _cleanup_free_ uint8_t *buf = sample(&len);
        struct state_file f;
        struct vm_err err;

        rewrite_header(buf, 4, 0);
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), -EPROTONOSUPPORT);
        ck_assert_str_eq(err.msg, "state file format version 4 is not supported (this vdi-vm reads versions 2 to 3)");
        rewrite_header(buf, 1, 0);
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), -EPROTONOSUPPORT);
        /* Version 2 (its clock without the wall-clock time) is still read. */
        rewrite_header(buf, 2, 0);
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), 0);
        ck_assert_uint_eq(f.version, 2);
        state_file_free(&f);
        rewrite_header(buf, 3, 4);
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "state file header has unknown flags");
        memcpy(buf, "QFI\xfb....", 8);
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "not a vdi-vm state file (bad magic)");
}
END_TEST

START_TEST(test_checksum_messages)
{
        size_t len;
        _cleanup_free_ uint8_t *buf = sample(&len);
        struct state_file f;
        struct vm_err err;

        /* last payload byte of "vcpu.0" ("hello"): 32 + 48 + 15 + 48 + 4 */
        buf[32 + 48 + 15 + 48 + 4] ^= 1;
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), -EBADMSG);
        ck_assert_str_eq(err.msg, "state file: checksum mismatch in section \"vcpu.0\" (corrupt file)");
        buf[32 + 48 + 15 + 48 + 4] ^= 1;
        buf[32] ^= 1; /* first section's name */
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), -EBADMSG);
        ck_assert_str_eq(err.msg, "state file: header checksum mismatch in section 1 (corrupt file)");
}
END_TEST

START_TEST(test_duplicates_and_bad_names)
{
        struct state_writer w;
        uint8_t *buf = NULL;
        size_t len;
        struct state_file f;
        struct vm_err err;

        state_writer_init(&w);
        state_begin(&w, "same");
        state_end(&w);
        state_begin(&w, "same");
        state_end(&w);
        ck_assert_int_eq(state_writer_finish(&w, &buf, &len), 0);
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "state file: section \"same\" appears twice");
        free(buf);
        state_writer_free(&w);

        state_writer_init(&w);
        state_begin(&w, "Upper Case");
        state_end(&w);
        ck_assert_int_eq(state_writer_finish(&w, &buf, &len), -EINVAL);
        state_writer_free(&w);
        state_writer_init(&w);
        state_begin(&w, "open");
        ck_assert_int_eq(state_writer_finish(&w, &buf, &len), -EINVAL);
        state_writer_free(&w);
}
END_TEST

START_TEST(test_reader_bounds)
{
        size_t len;
        _cleanup_free_ uint8_t *buf = sample(&len);
        struct state_file f;
        struct state_reader r;
        struct vm_err err;

        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), 0);
        state_reader_init(&r, state_find(&f, "vcpu.0"));
        ck_assert(state_get_u64(&r) == 0); /* 5 bytes only */
        ck_assert(!state_reader_ok(&r));
        ck_assert_int_eq(state_reader_done(&r, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "snapshot section \"vcpu.0\": truncated (wanted 8 bytes at offset 0 of 5)");
        state_reader_init(&r, state_find(&f, "vcpu.0"));
        state_get_u32(&r);
        ck_assert_int_eq(state_reader_done(&r, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "snapshot section \"vcpu.0\": 1 unexpected bytes at its end");
        state_file_free(&f);
}
END_TEST

static void nop_tx(void *o, uint8_t c) { (void)o; (void)c; }
static void nop_irq(void *o, bool l) { (void)o; (void)l; }

static int uart_save_cb(void *dev, struct state_writer *w)
{
        uart_state_save(dev, w);
        return 0;
}

static int uart_load_cb(void *dev, struct state_reader *r, struct vm_err *err)
{
        uart_state_load(dev, r);
        return state_reader_done(r, err);
}

static const struct state_ops uart_ops = { .save = uart_save_cb, .load = uart_load_cb };

static void bad_rx_count(uint8_t *p, size_t n)
{
        p[12] = 17; /* 9 registers, 2 flags, head, count */
}

START_TEST(test_uart_state)
{
        struct uart a, b, before;
        struct vm_err err;
        const uint8_t in[] = "abc";

        uart_init(&a, nop_tx, nop_irq, NULL);
        uart_init(&b, nop_tx, nop_irq, NULL);
        uart_write(&a, 3, 0x80); /* DLAB */
        uart_write(&a, 0, 0x01);
        uart_write(&a, 3, 0x03);
        uart_write(&a, 1, 0x05);
        uart_receive(&a, in, 3);
        ck_assert_int_eq(state_round_trip(&uart_ops, &a, &b, NULL, &err), 0);
        ck_assert_uint_eq(b.dll, 0x01);
        ck_assert_uint_eq(b.lcr, 0x03);
        ck_assert_uint_eq(b.ier, 0x05);
        ck_assert_uint_eq(uart_read(&b, 0), 'a');
        ck_assert_uint_eq(uart_read(&b, 0), 'b');
        before = b;
        ck_assert_int_eq(state_round_trip(&uart_ops, &a, &b, bad_rx_count, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "receive FIFO position"));
        ck_assert(memcmp(&before, &b, sizeof(b)) == 0); /* untouched */
}
END_TEST

START_TEST(test_pci_state)
{
        struct pci_bus a, b, c;
        struct pci_device ha, hb, hc, other;
        struct vm_err err;

        pci_bus_init(&a);
        pci_bus_init(&b);
        pci_bus_init(&c);
        pci_host_bridge_init(&ha);
        pci_host_bridge_init(&hb);
        pci_host_bridge_init(&hc);
        pci_bus_add(&a, &ha, 0);
        pci_bus_add(&b, &hb, 0);
        pci_bus_add(&c, &hc, 0);
        pci_config_write(&a, 0, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        pci_config_write(&a, 0, 0, PCI_INTERRUPT_LINE, 1, 11);
        ck_assert_int_eq(state_round_trip(&pci_state_ops, &a, &b, NULL, &err), 0);
        ck_assert_uint_eq(pci_config_read(&b, 0, 0, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        ck_assert_uint_eq(pci_config_read(&b, 0, 0, PCI_INTERRUPT_LINE, 1), 11);
        /* Another device in the slot: refused, nothing applied. */
        pci_device_init(&other, 0x1af4, 0x1042, 0x010000, NULL, NULL);
        c.dev[0] = &other;
        other.slot = 0;
        ck_assert_int_eq(state_round_trip(&pci_state_ops, &a, &c, NULL, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "read-only config byte"));
        ck_assert_uint_eq(pci_config_read(&c, 0, 0, PCI_COMMAND, 2), 0);
        /* A device missing in the snapshot. */
        c.dev[0] = &hc;
        c.dev[3] = &other;
        other.slot = 3;
        ck_assert_int_eq(state_round_trip(&pci_state_ops, &a, &c, NULL, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "differ from this VM's at slot 3"));
        /* A device the snapshot has and this VM lacks. */
        c.dev[0] = NULL;
        c.dev[3] = NULL;
        ck_assert_int_eq(state_round_trip(&pci_state_ops, &a, &c, NULL, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "the snapshot has PCI devices this VM lacks (slot 0)"));
        pci_bus_destroy(&a);
        pci_bus_destroy(&b);
        pci_bus_destroy(&c);
}
END_TEST

static void power_event(void *o, enum power_event ev, const char *how) { (void)o; (void)ev; (void)how; }

START_TEST(test_power_state)
{
        struct power a, b;
        struct vm_err err;

        power_init(&a, power_event, NULL);
        power_init(&b, power_event, NULL);
        power_reset(&a);
        power_acpi_write(&a, 2, 2, 0x0100); /* PM1_EN: power button */
        ck_assert_int_eq(state_round_trip(&power_state_ops, &a, &b, NULL, &err), 0);
        ck_assert_uint_eq(power_acpi_read(&b, 2, 2), 0x0100);
        power_destroy(&a);
        power_destroy(&b);
}
END_TEST

START_TEST(test_ram_file)
{
        char dir[] = "/tmp/vdi-state-test-XXXXXX";
        const uint64_t size = 64 * RAM_PAGE;
        _cleanup_free_ uint8_t *ram = calloc(1, size);
        struct ram_sum sum, bad;
        struct vm_err err;
        struct stat st;
        uint8_t *map;
        int dirfd, fd;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        dirfd = open(dir, O_RDONLY | O_DIRECTORY);
        ram[5 * RAM_PAGE + 7] = 0x42;
        ram[6 * RAM_PAGE] = 0x43;
        ram[63 * RAM_PAGE + 4095] = 0x44;
        ck_assert_int_eq(ram_save(ram, size, dirfd, "ram", &sum, &err), 0);
        ck_assert_uint_eq(sum.pages, 3);
        ck_assert_int_eq(ram_save(ram, size, dirfd, "ram", &sum, &err), -EEXIST);
        ck_assert_int_eq(fstatat(dirfd, "ram", &st, 0), 0);
        ck_assert_int_eq(st.st_size, (off_t)size);
        ck_assert_int_le(st.st_blocks * 512, 3 * RAM_PAGE * 2); /* sparse (tmpfs, ext4) */
        ck_assert_int_eq(ram_map(dirfd, "ram", &sum, &map, &fd, &err), 0);
        ck_assert(memcmp(map, ram, size) == 0);
        map[0] = 1; /* private: the file stays as it was */
        munmap(map, size);
        close(fd);
        ck_assert_int_eq(ram_map(dirfd, "ram", &sum, &map, &fd, &err), 0);
        ck_assert_uint_eq(map[0], 0);
        munmap(map, size);
        close(fd);
        bad = sum;
        bad.crc ^= 1;
        ck_assert_int_eq(ram_map(dirfd, "ram", &bad, &map, &fd, &err), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(err.msg, "snapshot RAM file ram is corrupt"));
        bad = sum;
        bad.size *= 2;
        ck_assert_int_eq(ram_map(dirfd, "ram", &bad, &map, &fd, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "is 262144 bytes, the snapshot says 524288"));
        ck_assert_int_eq(ram_map(dirfd, "missing", &sum, &map, &fd, &err), -ENOENT);
        unlinkat(dirfd, "ram", 0);
        close(dirfd);
        rmdir(dir);
}
END_TEST

/* A state file whose only section is "disks" with payload p. */
static int parse_disks(const uint8_t *p, size_t n, struct snap_disks *out, struct vm_err *err)
{
        struct state_writer w;
        struct state_file f;
        uint8_t *buf;
        size_t len;
        int r;

        state_writer_init(&w);
        state_begin(&w, "disks");
        state_put_bytes(&w, p, n);
        state_end(&w);
        ck_assert_int_eq(state_writer_finish(&w, &buf, &len), 0);
        state_writer_free(&w);
        ck_assert_int_eq(state_file_parse(buf, len, &f, err), 0);
        r = snap_disks_load(&f, out, err);
        state_file_free(&f);
        free(buf);
        return r;
}

START_TEST(test_disks_section)
{
        struct snap_disks in = { .n = 2, .captured = { true, false }, .size = { 16 << 20, 1ull << 40 } }, out;
        struct state_writer w;
        struct state_file f;
        struct vm_err err = { "" };
        uint8_t *buf;
        size_t len;
        /* u32 n, then n x (u8 captured, u64 size) */
        static const uint8_t seven[4] = { 7 }, flag2[13] = { 1, 0, 0, 0, 2 }, short_[8] = { 1, 0, 0, 0, 1 };

        state_writer_init(&w);
        snap_disks_save(&in, &w);
        ck_assert_int_eq(state_writer_finish(&w, &buf, &len), 0);
        state_writer_free(&w);
        ck_assert_int_eq(state_file_parse(buf, len, &f, &err), 0);
        ck_assert_int_eq(snap_disks_load(&f, &out, &err), 0);
        ck_assert_uint_eq(out.n, 2);
        ck_assert(out.captured[0] && !out.captured[1]);
        ck_assert_uint_eq(out.size[0], 16 << 20);
        ck_assert_uint_eq(out.size[1], 1ull << 40);
        state_file_free(&f);
        free(buf);

        ck_assert_int_lt(parse_disks(seven, sizeof(seven), &out, &err), 0);
        ck_assert_str_eq(err.msg, "snapshot section \"disks\": 7 disks (at most 6)");
        ck_assert_int_lt(parse_disks(flag2, sizeof(flag2), &out, &err), 0);
        ck_assert_str_eq(err.msg, "snapshot section \"disks\": disk 0: captured flag 2");
        ck_assert_int_lt(parse_disks(short_, sizeof(short_), &out, &err), 0);
        ck_assert_ptr_nonnull(strstr(err.msg, "disks"));
        ck_assert_int_lt(parse_disks(seven, 0, &out, &err), 0);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-state");
        TCase *tc = tcase_create("format");

        tcase_add_test(tc, test_round_trip);
        tcase_add_test(tc, test_every_bit_flip_refused);
        tcase_add_test(tc, test_truncation_and_trailing_refused);
        tcase_add_test(tc, test_version_and_flags_refused);
        tcase_add_test(tc, test_checksum_messages);
        tcase_add_test(tc, test_duplicates_and_bad_names);
        tcase_add_test(tc, test_reader_bounds);
        tcase_add_test(tc, test_uart_state);
        tcase_add_test(tc, test_pci_state);
        tcase_add_test(tc, test_power_state);
        tcase_add_test(tc, test_ram_file);
        tcase_add_test(tc, test_disks_section);
        suite_add_tcase(s, tc);
        return s;
}
