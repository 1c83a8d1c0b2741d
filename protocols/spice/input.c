#include "config.h"

#include "protocols/spice/input.h"

#include <errno.h>
#include <glib.h>

#include "protocols/keymap.h"

struct spice_input {
        SpiceKbdInstance kbd;
        SpiceTabletInstance tablet;
        struct display_source src;
        struct keymap_xt_decoder dec;
        int width, height; /* tablet logical size (the primary surface) */
        uint32_t x, y;     /* last position, 0..DISPLAY_POINTER_MAX */
        uint32_t buttons;  /* last DISPLAY_BUTTON_* sent */
};

static struct spice_input *from_kbd(SpiceKbdInstance *sin)
{
        return G_STRUCT_MEMBER_P(sin, -(glong)G_STRUCT_OFFSET(struct spice_input, kbd));
}

static struct spice_input *from_tablet(SpiceTabletInstance *sin)
{
        return G_STRUCT_MEMBER_P(sin, -(glong)G_STRUCT_OFFSET(struct spice_input, tablet));
}

/* spice-server hands the client's set-1 bytes one at a time (E0 prefixes,
 * release bit 0x80 included). */
static void kbd_push_scan(SpiceKbdInstance *sin, uint8_t byte)
{
        struct spice_input *in = from_kbd(sin);
        uint16_t code;
        bool pressed;

        if (keymap_xt_feed(&in->dec, byte, &code, &pressed))
                in->src.ops->input_key(in->src.opaque, code, pressed);
}

/* The guest's lock LEDs are not part of the display interface yet, so the
 * client is told "all off" and keeps its own lock state. */
static uint8_t kbd_get_leds(SpiceKbdInstance *sin)
{
        return 0;
}

static const SpiceKbdInterface kbd_interface = {
        .base = {
                .type = SPICE_INTERFACE_KEYBOARD,
                .description = "vdi keyboard",
                .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
                .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
        },
        .push_scan_freg = kbd_push_scan,
        .get_leds = kbd_get_leds,
};

static uint32_t buttons_from_spice(uint32_t state)
{
        uint32_t b = 0;
        if (state & SPICE_MOUSE_BUTTON_MASK_LEFT)
                b |= DISPLAY_BUTTON_LEFT;
        if (state & SPICE_MOUSE_BUTTON_MASK_MIDDLE)
                b |= DISPLAY_BUTTON_MIDDLE;
        if (state & SPICE_MOUSE_BUTTON_MASK_RIGHT)
                b |= DISPLAY_BUTTON_RIGHT;
        return b;
}

/* Pixel v in [0, size) to 0..DISPLAY_POINTER_MAX, the last pixel mapping
 * to the maximum. */
static uint32_t scale(int v, int size)
{
        if (v <= 0 || size <= 1)
                return 0;
        if (v >= size - 1)
                return DISPLAY_POINTER_MAX;
        return (uint32_t)(((uint64_t)v * DISPLAY_POINTER_MAX + (uint64_t)(size - 1) / 2) /
                          (uint64_t)(size - 1));
}

static void tablet_set_logical_size(SpiceTabletInstance *sin, int width, int height)
{
        struct spice_input *in = from_tablet(sin);
        in->width = width;
        in->height = height;
}

static void tablet_position(SpiceTabletInstance *sin, int x, int y, uint32_t buttons)
{
        struct spice_input *in = from_tablet(sin);
        in->x = scale(x, in->width);
        in->y = scale(y, in->height);
        in->buttons = buttons_from_spice(buttons);
        in->src.ops->input_pointer(in->src.opaque, in->x, in->y, in->buttons);
}

static void set_buttons(struct spice_input *in, uint32_t spice_buttons)
{
        uint32_t b = buttons_from_spice(spice_buttons);
        if (b != in->buttons) {
                in->buttons = b;
                in->src.ops->input_pointer(in->src.opaque, in->x, in->y, b);
        }
}

/* In client mouse mode spice reports every button press here (motion 0
 * unless it is a wheel notch) and releases through tablet_buttons. */
static void tablet_wheel(SpiceTabletInstance *sin, int motion, uint32_t buttons)
{
        struct spice_input *in = from_tablet(sin);

        set_buttons(in, buttons);
        /* spice: negative = wheel up (button 4); ours: positive = up. */
        if (motion != 0)
                in->src.ops->input_wheel(in->src.opaque, -motion);
}

static void tablet_buttons(SpiceTabletInstance *sin, uint32_t buttons)
{
        set_buttons(from_tablet(sin), buttons);
}

static const SpiceTabletInterface tablet_interface = {
        .base = {
                .type = SPICE_INTERFACE_TABLET,
                .description = "vdi tablet",
                .major_version = SPICE_INTERFACE_TABLET_MAJOR,
                .minor_version = SPICE_INTERFACE_TABLET_MINOR,
        },
        .set_logical_size = tablet_set_logical_size,
        .position = tablet_position,
        .wheel = tablet_wheel,
        .buttons = tablet_buttons,
};

struct spice_input *spice_input_new(SpiceServer *s, struct display_source source, int *err)
{
        struct spice_input *in = g_new0(struct spice_input, 1);

        in->src = source;
        in->kbd.base.sif = &kbd_interface.base;
        in->tablet.base.sif = &tablet_interface.base;
        if (spice_server_add_interface(s, &in->kbd.base) != 0) {
                *err = -EIO;
                g_free(in);
                return NULL;
        }
        if (spice_server_add_interface(s, &in->tablet.base) != 0) {
                spice_server_remove_interface(&in->kbd.base);
                *err = -EIO;
                g_free(in);
                return NULL;
        }
        return in;
}

void spice_input_free(struct spice_input *in)
{
        if (!in)
                return;
        /* spice-server cannot remove a keyboard, and its inputs channel
         * frees the tablet's state but never the keyboard's (a g_new0 it
         * made in add_interface): free it here, after spice_server_destroy. */
        g_free(in->kbd.st);
        g_free(in);
}
