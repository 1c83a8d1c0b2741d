/* PC keyboard scancodes (XT set 1, as sent by SPICE and RDP clients) to
 * Linux evdev key codes. One table for every protocol. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Map a set-1 make code (bit 7 clear; the release bit is the caller's
 * business) with or without the E0 prefix to an evdev code. Returns 0
 * (KEY_RESERVED) for codes with no mapping. */
uint16_t keymap_xt_to_evdev(uint8_t scancode, bool extended);

/* Decode a raw set-1 byte stream one byte at a time (as SPICE delivers it:
 * 0xE0 prefix bytes, release bit 0x80). */
struct keymap_xt_decoder {
        bool extended;
        int skip; /* bytes of an E1 (Pause) sequence still to swallow */
};

/* Feed one byte. Returns true and fills *code and *pressed when it completes a
 * key event that maps to an evdev code. */
bool keymap_xt_feed(struct keymap_xt_decoder *d, uint8_t byte, uint16_t *code, bool *pressed);
