#include "config.h"

#include <string.h>
#include <unistd.h>

#include "check-main.h"
#include "log.h"

/* Capture what one log call writes through a pipe. */
static char *capture(enum log_level max, enum log_level level, const char *event,
                     const char *fields)
{
        int p[2];
        static char buf[8192];
        ssize_t n;

        ck_assert_int_eq(pipe(p), 0);
        log_setup("test", max);
        log_set_fd(p[1]);
        if (fields)
                log_event(level, event, "%s", fields);
        else
                log_event(level, event, NULL);
        log_set_fd(-1);
        close(p[1]);
        n = read(p[0], buf, sizeof(buf) - 1);
        close(p[0]);
        buf[n > 0 ? n : 0] = '\0';
        return buf;
}

START_TEST(test_line_format)
{
        char *s = capture(LOG_LEVEL_INFO, LOG_LEVEL_INFO, "vm_started", "vm=d1 pid=42");
        ck_assert_ptr_nonnull(strstr(s, " test["));
        ck_assert_ptr_nonnull(strstr(s, "]: level=info event=vm_started vm=d1 pid=42\n"));
        ck_assert_int_eq(s[4], '-'); /* ISO 8601 timestamp first */
        ck_assert_ptr_eq(strchr(s, '\n'), s + strlen(s) - 1); /* exactly one line */
}
END_TEST

START_TEST(test_level_filter)
{
        ck_assert_str_eq(capture(LOG_LEVEL_WARNING, LOG_LEVEL_INFO, "x", NULL), "");
        ck_assert_ptr_nonnull(strstr(capture(LOG_LEVEL_WARNING, LOG_LEVEL_ERROR, "x", NULL),
                                     "level=error event=x\n"));
        ck_assert_ptr_nonnull(strstr(capture(LOG_LEVEL_DEBUG, LOG_LEVEL_DEBUG, "y", NULL),
                                     "level=debug event=y\n"));
}
END_TEST

START_TEST(test_no_line_injection)
{
        char *s = capture(LOG_LEVEL_INFO, LOG_LEVEL_WARNING, "login_failed",
                          "user=evil\nlevel=info event=login_ok\r");
        ck_assert_ptr_nonnull(strstr(s, "user=evil\\nlevel=info event=login_ok\\x0d\n"));
        ck_assert_ptr_eq(strchr(s, '\n'), s + strlen(s) - 1);
}
END_TEST

START_TEST(test_quote)
{
        char *q;
        q = log_quote("simple");
        ck_assert_str_eq(q, "simple");
        free(q);
        q = log_quote("two words");
        ck_assert_str_eq(q, "\"two words\"");
        free(q);
        q = log_quote("a\"b\\c\nd");
        ck_assert_str_eq(q, "\"a\\\"b\\\\c\\x0ad\"");
        free(q);
        q = log_quote("");
        ck_assert_str_eq(q, "\"\"");
        free(q);
        q = log_quote(NULL);
        ck_assert_str_eq(q, "(null)");
        free(q);
}
END_TEST

START_TEST(test_levels_parse)
{
        enum log_level l = LOG_LEVEL_INFO;
        ck_assert_int_eq(log_level_from_string("debug", &l), 0);
        ck_assert_int_eq(l, LOG_LEVEL_DEBUG);
        ck_assert_int_eq(log_level_from_string("verbose", &l), -EINVAL);
        ck_assert_int_eq(l, LOG_LEVEL_DEBUG);
        ck_assert_str_eq(log_level_to_string(LOG_LEVEL_WARNING), "warning");
}
END_TEST

START_TEST(test_long_line_truncated)
{
        char big[10000];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        char *s = capture(LOG_LEVEL_INFO, LOG_LEVEL_INFO, "big", big);
        ck_assert_uint_lt(strlen(s), 4097);
        ck_assert_int_eq(s[strlen(s) - 1], '\n');
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_line_format);
        tcase_add_test(tc, test_level_filter);
        tcase_add_test(tc, test_no_line_injection);
        tcase_add_test(tc, test_quote);
        tcase_add_test(tc, test_levels_parse);
        tcase_add_test(tc, test_long_line_truncated);
        suite_add_tcase(s, tc);
        return s;
}
