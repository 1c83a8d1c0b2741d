/* vdi-hostd's reading of vdi-vm's seccomp report (hostd/jail-report.c),
 * on good, missing and hostile log text. */
#include "config.h"

#include "check-main.h"
#include "hostd/jail-report.h"

static int find(const char *text, struct jail_report *r)
{
        return jail_report_find(text, strlen(text), r);
}

START_TEST(test_report)
{
        struct jail_report r;

        ck_assert_int_eq(find("level=notice event=booting cpus=1\n"
                              "level=error event=seccomp_violation syscall=openat nr=257 class=display thread=rdp-peer\n",
                              &r),
                         0);
        ck_assert_str_eq(r.syscall, "openat");
        ck_assert_str_eq(r.cls, "display");
        ck_assert_str_eq(r.thread, "rdp-peer");
}
END_TEST

START_TEST(test_last_line_wins_no_newline)
{
        struct jail_report r;

        ck_assert_int_eq(find("event=seccomp_violation syscall=a class=vcpu thread=x\n"
                              "event=seccomp_violation syscall=socket class=device thread=virtio", &r), 0);
        ck_assert_str_eq(r.syscall, "socket");
        ck_assert_str_eq(r.cls, "device");
        ck_assert_str_eq(r.thread, "virtio");
}
END_TEST

START_TEST(test_none)
{
        struct jail_report r = { "keep" };

        ck_assert_int_eq(find("", &r), -ENOENT);
        ck_assert_int_eq(find("level=error event=crashed syscall=openat\n", &r), -ENOENT);
        ck_assert_int_eq(jail_report_find("event=seccomp_violation", 10, &r), -ENOENT); /* cut short */
        ck_assert_str_eq(r.syscall, "keep");
}
END_TEST

/* Hostile bytes: quotes, escapes, overlong values, missing fields, NULs. */
START_TEST(test_hostile)
{
        static const char text[] = "event=seccomp_violation syscall=\"rm -rf\" xclass=vcpu class=\x1b[31mred "
                                   "thread=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0trailing";
        struct jail_report r;

        ck_assert_int_eq(jail_report_find(text, sizeof(text) - 1, &r), 0);
        ck_assert_str_eq(r.syscall, "unknown");
        ck_assert_str_eq(r.cls, "unknown");
        ck_assert_str_eq(r.thread, "aaaaaaaaaaaaaaaa"); /* cut to 16 */
        ck_assert_int_eq(find("event=seccomp_violation syscall=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &r), 0);
        ck_assert_uint_eq(strlen(r.syscall), sizeof(r.syscall) - 1);
        ck_assert_str_eq(r.thread, "unknown");
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("jail-report");
        TCase *t = tcase_create("parse");

        tcase_add_test(t, test_report);
        tcase_add_test(t, test_last_line_wins_no_newline);
        tcase_add_test(t, test_none);
        tcase_add_test(t, test_hostile);
        suite_add_tcase(s, t);
        return s;
}
