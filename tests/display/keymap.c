/* The shared scancode table: base keys, E0-extended keys, Pause, and the
 * byte-stream decoder SPICE input goes through. */
#include "config.h"

#include <linux/input-event-codes.h>

#include "check-main.h"
#include "protocols/keymap.h"

START_TEST(test_base_keys)
{
        ck_assert_uint_eq(keymap_xt_to_evdev(0x01, false), KEY_ESC);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x1e, false), KEY_A);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x1c, false), KEY_ENTER);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x1d, false), KEY_LEFTCTRL);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x57, false), KEY_F11);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x58, false), KEY_F12);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x56, false), KEY_102ND);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x00, false), KEY_RESERVED);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x9e, false), KEY_RESERVED); /* release bit */
}
END_TEST

START_TEST(test_extended_keys)
{
        ck_assert_uint_eq(keymap_xt_to_evdev(0x48, true), KEY_UP);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x48, false), KEY_KP8);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x1d, true), KEY_RIGHTCTRL);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x1c, true), KEY_KPENTER);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x38, true), KEY_RIGHTALT);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x53, true), KEY_DELETE);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x5b, true), KEY_LEFTMETA);
        ck_assert_uint_eq(keymap_xt_to_evdev(0x2a, true), KEY_RESERVED); /* fake shift */
}
END_TEST

START_TEST(test_decoder_stream)
{
        /* a down, a up, Right Ctrl down/up, fake shift, Left, Pause. */
        static const uint8_t bytes[] = { 0x1e, 0x9e, 0xe0, 0x1d, 0xe0, 0x9d, 0xe0, 0x2a,
                                         0xe0, 0x4b, 0xe0, 0xcb, 0xe1, 0x1d, 0x45, 0xe1,
                                         0x9d, 0xc5 };
        static const struct {
                uint16_t code;
                bool pressed;
        } want[] = { { KEY_A, true },        { KEY_A, false },    { KEY_RIGHTCTRL, true },
                     { KEY_RIGHTCTRL, false }, { KEY_LEFT, true }, { KEY_LEFT, false },
                     { KEY_PAUSE, true },    { KEY_PAUSE, false } };
        struct keymap_xt_decoder d = { 0 };
        size_t n = 0;
        for (size_t i = 0; i < sizeof(bytes); i++) {
                uint16_t code;
                bool pressed;
                if (keymap_xt_feed(&d, bytes[i], &code, &pressed)) {
                        ck_assert_uint_lt(n, sizeof(want) / sizeof(want[0]));
                        ck_assert_uint_eq(code, want[n].code);
                        ck_assert_int_eq(pressed, want[n].pressed);
                        n++;
                }
        }
        ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("keymap");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_base_keys);
        tcase_add_test(tc, test_extended_keys);
        tcase_add_test(tc, test_decoder_stream);
        suite_add_tcase(s, tc);
        return s;
}
