#include "config.h"

#include "keymap.h"

#include <linux/input-event-codes.h>

#include "macro.h"

/* Extended (E0-prefixed) set-1 make codes. Everything else in 0x01..0x58
 * maps to the evdev code of the same number: evdev's first 88 codes were
 * defined after the PC/AT keyboard. */
static const uint16_t extended[128] = {
        [0x10] = KEY_PREVIOUSSONG, [0x19] = KEY_NEXTSONG,  [0x1c] = KEY_KPENTER,
        [0x1d] = KEY_RIGHTCTRL,    [0x20] = KEY_MUTE,      [0x21] = KEY_CALC,
        [0x22] = KEY_PLAYPAUSE,    [0x24] = KEY_STOPCD,    [0x2e] = KEY_VOLUMEDOWN,
        [0x30] = KEY_VOLUMEUP,     [0x32] = KEY_HOMEPAGE,  [0x35] = KEY_KPSLASH,
        [0x37] = KEY_SYSRQ,        [0x38] = KEY_RIGHTALT,  [0x46] = KEY_PAUSE,
        [0x47] = KEY_HOME,         [0x48] = KEY_UP,        [0x49] = KEY_PAGEUP,
        [0x4b] = KEY_LEFT,         [0x4d] = KEY_RIGHT,     [0x4f] = KEY_END,
        [0x50] = KEY_DOWN,         [0x51] = KEY_PAGEDOWN,  [0x52] = KEY_INSERT,
        [0x53] = KEY_DELETE,       [0x5b] = KEY_LEFTMETA,  [0x5c] = KEY_RIGHTMETA,
        [0x5d] = KEY_COMPOSE,      [0x5e] = KEY_POWER,     [0x5f] = KEY_SLEEP,
        [0x63] = KEY_WAKEUP,       [0x65] = KEY_SEARCH,    [0x66] = KEY_BOOKMARKS,
        [0x67] = KEY_REFRESH,      [0x68] = KEY_STOP,      [0x69] = KEY_FORWARD,
        [0x6a] = KEY_BACK,         [0x6b] = KEY_COMPUTER,  [0x6c] = KEY_MAIL,
        [0x6d] = KEY_MEDIA,
};

/* Plain make codes above the AT range (Japanese/Brazilian keys, F13+). */
static const uint16_t high[128] = {
        [0x54] = KEY_SYSRQ, /* Alt+PrintScreen */
        [0x56] = KEY_102ND, [0x57] = KEY_F11,      [0x58] = KEY_F12,
        [0x59] = KEY_KPEQUAL, [0x5d] = KEY_F13,    [0x5e] = KEY_F14,
        [0x5f] = KEY_F15,   [0x70] = KEY_KATAKANAHIRAGANA, [0x73] = KEY_RO,
        [0x79] = KEY_HENKAN, [0x7b] = KEY_MUHENKAN, [0x7d] = KEY_YEN,
        [0x7e] = KEY_KPJPCOMMA,
};

uint16_t keymap_xt_to_evdev(uint8_t scancode, bool is_extended)
{
        if (scancode & 0x80)
                return KEY_RESERVED;
        if (is_extended)
                return extended[scancode];
        if (scancode >= 0x01 && scancode <= 0x53)
                return scancode;
        return high[scancode];
}

bool keymap_xt_feed(struct keymap_xt_decoder *d, uint8_t byte, uint16_t *code, bool *pressed)
{
        uint16_t c;

        if (d->skip > 0) {
                /* E1 1D 45 E1 9D C5: Pause, reported as one press+release
                 * on the final byte. */
                if (--d->skip == 0) {
                        *code = KEY_PAUSE;
                        *pressed = !(byte & 0x80);
                        return true;
                }
                return false;
        }
        if (byte == 0xe0) {
                d->extended = true;
                return false;
        }
        if (byte == 0xe1) {
                d->skip = 2;
                d->extended = false;
                return false;
        }
        c = keymap_xt_to_evdev(byte & 0x7f, d->extended);
        d->extended = false;
        /* E0 2A / E0 AA are fake shifts some keyboards send around
         * extended keys; they carry no meaning of their own. */
        if (c == KEY_RESERVED)
                return false;
        *code = c;
        *pressed = !(byte & 0x80);
        return true;
}
