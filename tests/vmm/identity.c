/* A forked guest's identity (issue 20): vdi-vm's message to the guest
 * agent (hostd/vmm/identity.c) read by the agent's own parser
 * (tests/guest/agent-msg.c), the answer to the agent's time request, the
 * parser on bad lines, the VM generation
 * ID's option syntax (hostd/vmm/hw/vmgenid.c) and the checks of
 * --clone-hostname and --clone-machine-id. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check-main.h"
#include "identity.h"
#include "tests/guest/agent-msg.h"
#include "vmgenid.h"

static const uint8_t genid[VMGENID_LEN] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                            0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 };

static struct agent_msg parse_ok(const char *line)
{
        struct agent_msg m;

        ck_assert_msg(agent_msg_parse(line, strlen(line), &m) == 0, "refused: %s", line);
        return m;
}

static void parse_bad(const char *line)
{
        struct agent_msg m;

        ck_assert_msg(agent_msg_parse(line, strlen(line), &m) == -1, "accepted: %s", line);
}

START_TEST(test_cloned_roundtrip)
{
        static const uint8_t mac[6] = { 0x02, 0x56, 0x44, 0x00, 0x00, 0x0a };
        const struct identity id = { "clone-07", "0123456789abcdef0123456789abcdef", mac };
        const struct timespec now = { 1765123456, 123456789 };
        char *msg = identity_message(VM_ORIGIN_FORK, genid, &id, &now);
        struct agent_msg m;

        ck_assert_ptr_nonnull(msg);
        ck_assert_ptr_null(strchr(msg, '\n'));
        m = parse_ok(msg);
        ck_assert_str_eq(m.event, "cloned");
        ck_assert_str_eq(m.vmgenid, "0123456789abcdeffedcba9876543210");
        ck_assert_str_eq(m.mac, "02:56:44:00:00:0a");
        ck_assert_str_eq(m.hostname, "clone-07");
        ck_assert_str_eq(m.machine_id, "0123456789abcdef0123456789abcdef");
        ck_assert_int_eq(m.has_time, 1);
        ck_assert_int_eq(m.time_sec, 1765123456);
        /* A double keeps the time to well under a microsecond. */
        ck_assert_int_lt(labs(m.time_nsec - 123456789), 1000);
        free(msg);
}
END_TEST

START_TEST(test_optional_fields)
{
        static const uint8_t none[VMGENID_LEN];
        const struct identity id = { 0 };
        const struct timespec now = { 5, 0 };
        char *msg;
        struct agent_msg m;

        ck_assert_ptr_null(identity_message(VM_ORIGIN_BOOT, genid, &id, &now));
        msg = identity_message(VM_ORIGIN_FORK, none, &id, &now);
        m = parse_ok(msg);
        ck_assert_str_eq(m.event, "cloned");
        ck_assert_str_eq(m.vmgenid, "");
        ck_assert_str_eq(m.mac, "");
        ck_assert_str_eq(m.hostname, "");
        ck_assert_int_eq(m.time_sec, 5);
        ck_assert_int_eq(m.time_nsec, 0);
        free(msg);
        /* A resume keeps its identity: only the clock. */
        msg = identity_message(VM_ORIGIN_RESUME, genid, &(struct identity){ "h", NULL, NULL }, &now);
        m = parse_ok(msg);
        ck_assert_str_eq(m.event, "resumed");
        ck_assert_str_eq(m.hostname, "");
        ck_assert_str_eq(m.vmgenid, "");
        free(msg);
}
END_TEST

/* The agent's time request answered with the host's time, which the
 * agent's parser reads; anything else from the guest: no answer. */
START_TEST(test_time_reply)
{
        const struct timespec now = { 1765123456, 500000000 };
        static const char *const ignored[] = { "", "{", "[]", "{\"event\":\"time\"}", "{\"event\":7}",
                                               "{\"event\":\"time?\",\"event\":\"time?\"}", "\"time?\"" };
        const char *req = "{\"event\":\"time?\"}";
        char *r = identity_time_reply(req, strlen(req), &now);
        struct agent_msg m;

        ck_assert_ptr_nonnull(r);
        m = parse_ok(r);
        ck_assert_str_eq(m.event, "time");
        ck_assert_int_eq(m.time_sec, 1765123456);
        ck_assert_int_lt(labs(m.time_nsec - 500000000), 1000);
        free(r);
        for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
                ck_assert_ptr_null(identity_time_reply(ignored[i], strlen(ignored[i]), &now));
}
END_TEST

START_TEST(test_parser)
{
        struct agent_msg m;

        m = parse_ok(" { \"event\" : \"x\\\"y\" , \"other\":\"z\" } ");
        ck_assert_str_eq(m.event, "x\"y");
        parse_bad(" { \"event\" : \"x\" , \"other\":[1] } "); /* arrays are not ours */
        m = parse_ok("{\"zzz\":\"skipped\",\"n\":12.5,\"event\":\"cloned\",\"time\":7.25}");
        ck_assert_str_eq(m.event, "cloned");
        ck_assert_int_eq(m.time_sec, 7);
        ck_assert_int_eq(m.time_nsec, 250000000);
        m = parse_ok("{\"time\":1.1234567891234}");
        ck_assert_int_eq(m.time_nsec, 123456789);
        m = parse_ok("{}");
        ck_assert_int_eq(m.has_time, 0);
        parse_bad("");
        parse_bad("{");
        parse_bad("{\"event\":\"cloned\"");
        parse_bad("{\"event\":\"cloned\"} x");
        parse_bad("{\"event\":\"a\",\"event\":\"b\"}");          /* repeated */
        parse_bad("{\"event\":\"0123456789abcdef\"}");           /* too long for its field */
        parse_bad("{\"hostname\":\"a\\u0041\"}");                /* \u: not ours */
        parse_bad("{\"hostname\":\"a\nb\"}");                    /* control character */
        parse_bad("{\"time\":\"1\"}");
        parse_bad("{\"time\":-1}");
        parse_bad("{\"time\":1e9}");
        parse_bad("{\"time\":1.}");
        parse_bad("{\"time\":99999999999999999999}");
        parse_bad("{\"event\":1}");
        parse_bad("{\"a_key_longer_than_thirty_one_bytes\":1}");
        parse_bad("{\"event\":\"x\",}");
}
END_TEST

START_TEST(test_vmgenid_syntax)
{
        uint8_t id[VMGENID_LEN];
        char hex[2 * VMGENID_LEN + 1];

        ck_assert_int_eq(vmgenid_parse("0123456789abcdeffedcba9876543210", id), 0);
        ck_assert_mem_eq(id, genid, VMGENID_LEN);
        vmgenid_format(id, hex);
        ck_assert_str_eq(hex, "0123456789abcdeffedcba9876543210");
        ck_assert_int_eq(vmgenid_parse("0x01234567-89AB-CDEF-FEDC-BA9876543210", id), 0);
        ck_assert_mem_eq(id, genid, VMGENID_LEN);
        ck_assert_int_eq(vmgenid_parse("00000000000000000000000000000000", id), -EINVAL);
        ck_assert_int_eq(vmgenid_parse("0123456789abcdeffedcba987654321", id), -EINVAL);
        ck_assert_int_eq(vmgenid_parse("0123456789abcdeffedcba98765432100", id), -EINVAL);
        ck_assert_int_eq(vmgenid_parse("0123456789abcdeffedcba987654321g", id), -EINVAL);
        ck_assert_int_eq(vmgenid_parse("", id), -EINVAL);
        ck_assert_int_eq(vmgenid_random(id), 0);
        ck_assert(vmgenid_present(id));
}
END_TEST

START_TEST(test_checks)
{
        ck_assert_int_eq(identity_check_hostname("desk-042"), 0);
        ck_assert_int_eq(identity_check_hostname("a"), 0);
        ck_assert_int_eq(identity_check_hostname(""), -EINVAL);
        ck_assert_int_eq(identity_check_hostname("-a"), -EINVAL);
        ck_assert_int_eq(identity_check_hostname("a-"), -EINVAL);
        ck_assert_int_eq(identity_check_hostname("a.b"), -EINVAL);
        ck_assert_int_eq(identity_check_hostname("a\"b"), -EINVAL);
        ck_assert_int_eq(identity_check_hostname("0123456789012345678901234567890123456789012345678901234567890123"),
                         -EINVAL);
        ck_assert_int_eq(identity_check_machine_id("0123456789abcdef0123456789abcdef"), 0);
        ck_assert_int_eq(identity_check_machine_id("0123456789ABCDEF0123456789abcdef"), -EINVAL);
        ck_assert_int_eq(identity_check_machine_id("00000000000000000000000000000000"), -EINVAL);
        ck_assert_int_eq(identity_check_machine_id("0123456789abcdef0123456789abcde"), -EINVAL);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-identity");
        TCase *tc = tcase_create("identity");

        tcase_add_test(tc, test_cloned_roundtrip);
        tcase_add_test(tc, test_optional_fields);
        tcase_add_test(tc, test_parser);
        tcase_add_test(tc, test_time_reply);
        tcase_add_test(tc, test_vmgenid_syntax);
        tcase_add_test(tc, test_checks);
        suite_add_tcase(s, tc);
        return s;
}
