/* hostd/net.c without privileges: MAC prefixes, deterministic per-desktop
 * MACs with collision handling, tap names. (Taps and bridges are made for
 * real in tests/vmm/net.sh's lab run, through tests/hostd/net-tap.) */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check-main.h"
#include "hostd/net.h"

static const uint8_t prefix[3] = { 0x02, 0x56, 0x44 };

START_TEST(test_prefix)
{
        uint8_t p[3];

        ck_assert_int_eq(net_mac_prefix_parse("02:56:44", p), 0);
        ck_assert_mem_eq(p, prefix, 3);
        ck_assert_int_eq(net_mac_prefix_parse("0A:bC:de", p), 0);
        /* 52:54:00 (QEMU's default) has the local bit set: accepted */
        ck_assert_int_eq(net_mac_prefix_parse("52:54:00", p), 0);
        /* a vendor OUI (Xen's) is globally administered: refused */
        ck_assert_int_eq(net_mac_prefix_parse("00:16:3e", p), -EADDRNOTAVAIL);
        ck_assert_int_eq(net_mac_prefix_parse("03:00:00", p), -EADDRNOTAVAIL); /* multicast */
        ck_assert_int_eq(net_mac_prefix_parse("02:56", p), -EINVAL);
        ck_assert_int_eq(net_mac_prefix_parse("02:56:44:00", p), -EINVAL);
        ck_assert_int_eq(net_mac_prefix_parse("02-56-44", p), -EINVAL);
        ck_assert_int_eq(net_mac_prefix_parse("0g:56:44", p), -EINVAL);
        ck_assert_int_eq(net_mac_prefix_parse("", p), -EINVAL);
}
END_TEST

START_TEST(test_mac_deterministic)
{
        uint8_t a[6], b[6], c[6];
        char s[18];

        ck_assert_int_eq(net_mac_for(prefix, "desk-1", NULL, NULL, a), 0);
        ck_assert_int_eq(net_mac_for(prefix, "desk-1", NULL, NULL, b), 0);
        ck_assert_int_eq(net_mac_for(prefix, "desk-2", NULL, NULL, c), 0);
        ck_assert_mem_eq(a, b, 6);
        ck_assert_mem_ne(a, c, 6);
        ck_assert_mem_eq(a, prefix, 3);
        net_mac_format(a, s);
        ck_assert_int_eq(strlen(s), 17);
        ck_assert_int_eq(strncmp(s, "02:56:44:", 9), 0);
        ck_assert_int_eq(net_mac_parse(s, b), 0);
        ck_assert_mem_eq(a, b, 6);
        ck_assert_int_eq(net_mac_parse("01:00:5e:00:00:01", b), -EADDRNOTAVAIL);
        ck_assert_int_eq(net_mac_parse("02:00:00:00:00", b), -EINVAL);
}
END_TEST

/* A set of MACs in use (linear: small). */
struct used {
        uint8_t (*macs)[6];
        size_t n;
        size_t deny_all;
};

static bool in_use(const uint8_t mac[6], void *opaque)
{
        struct used *u = opaque;

        if (u->deny_all)
                return true;
        for (size_t i = 0; i < u->n; i++)
                if (!memcmp(u->macs[i], mac, 6))
                        return true;
        return false;
}

START_TEST(test_mac_collisions)
{
        struct used u = { calloc(5000, 6), 0, 0 };
        uint8_t first[6], again[6], m[6];
        char id[32];

        /* desk-1's own address is taken by another live desktop: it gets
         * another one, the same every time for the same set in use */
        ck_assert_int_eq(net_mac_for(prefix, "desk-1", NULL, NULL, first), 0);
        memcpy(u.macs[u.n++], first, 6);
        ck_assert_int_eq(net_mac_for(prefix, "desk-1", in_use, &u, m), 0);
        ck_assert_mem_ne(m, first, 6);
        ck_assert_mem_eq(m, prefix, 3);
        ck_assert_int_eq(net_mac_for(prefix, "desk-1", in_use, &u, again), 0);
        ck_assert_mem_eq(m, again, 6);

        /* 5000 live desktops (24-bit space: the birthday bound makes
         * several raw collisions likely): all distinct */
        u.n = 0;
        for (int i = 0; i < 5000; i++) {
                snprintf(id, sizeof(id), "pool-a-%04d", i);
                ck_assert_int_eq(net_mac_for(prefix, id, in_use, &u, m), 0);
                ck_assert(!in_use(m, &u));
                memcpy(u.macs[u.n++], m, 6);
        }
        /* nothing left to try */
        u.deny_all = 1;
        ck_assert_int_eq(net_mac_for(prefix, "desk-x", in_use, &u, m), -EADDRINUSE);
        free(u.macs);
}
END_TEST

START_TEST(test_names)
{
        const uint8_t mac[6] = { 0x02, 0x56, 0x44, 0x3f, 0xa0, 0x1c };
        char name[IFNAMSIZ];

        net_tap_name(mac, name);
        ck_assert_str_eq(name, "vdi3fa01c");
        ck_assert(net_ifname_valid("br0"));
        ck_assert(net_ifname_valid("br-desktops.10"));
        ck_assert(!net_ifname_valid(""));
        ck_assert(!net_ifname_valid("0123456789abcdef"));
        ck_assert(!net_ifname_valid("br/0"));
        ck_assert(!net_ifname_valid("br 0"));
        ck_assert(!net_ifname_valid(".."));
}
END_TEST

START_TEST(test_tap_errors)
{
        char err[256] = "";
        int fd = -1;

        /* checked before anything is created (no privileges needed) */
        ck_assert_int_eq(net_tap_create("vditest0", "no-such-br0", 0, 0, 0, &fd, err, sizeof(err)), -ENODEV);
        ck_assert_str_eq(err, "bridge no-such-br0 does not exist (create it: ip link add no-such-br0 type bridge)");
        ck_assert_int_eq(net_tap_create("vditest0", "lo", 0, 0, 0, &fd, err, sizeof(err)), -ENOTTY);
        ck_assert_str_eq(err, "lo is not a bridge (its pool's bridge must be a Linux bridge)");
        ck_assert_int_eq(net_tap_create("bad/name", "lo", 0, 0, 0, &fd, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(fd, -1);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("hostd-net");
        TCase *tc = tcase_create("net");

        tcase_add_test(tc, test_prefix);
        tcase_add_test(tc, test_mac_deterministic);
        tcase_add_test(tc, test_mac_collisions);
        tcase_add_test(tc, test_names);
        tcase_add_test(tc, test_tap_errors);
        suite_add_tcase(s, tc);
        return s;
}
