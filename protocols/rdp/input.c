/* Client input (MS-RDPBCGR 2.2.8.1.1.3.1.1) to the display source. */
#include "config.h"

#include <freerdp/input.h>

#include "internal.h"
#include "log.h"
#include "protocols/keymap.h"

static struct rdp_peer *input_peer(rdpInput *input)
{
        return ((struct rdp_peer_context *)input->context)->peer;
}

static BOOL on_sync(rdpInput *input, UINT32 flags)
{
        /* Lock-key state: the guest keeps its own; nothing to do. */
        return TRUE;
}

static BOOL on_key(rdpInput *input, UINT16 flags, UINT16 code)
{
        struct rdp_peer *p = input_peer(input);
        const struct display_source *src = &p->srv->source;
        uint16_t evdev;

        if (!p->activated)
                return TRUE;
        /* Pause arrives as E1 1D + 45; it has no single set-1 code here. */
        if (flags & KBD_FLAGS_EXTENDED1)
                return TRUE;
        evdev = keymap_xt_to_evdev((uint8_t)(code & 0x7f), (flags & KBD_FLAGS_EXTENDED) != 0);
        if (evdev == 0) {
                log_debug("rdp_key_unmapped", "scancode=0x%02x extended=%d", code & 0xff,
                          (flags & KBD_FLAGS_EXTENDED) != 0);
                return TRUE;
        }
        src->ops->input_key(src->opaque, evdev, !(flags & KBD_FLAGS_RELEASE));
        return TRUE;
}

static BOOL on_unicode(rdpInput *input, UINT16 flags, UINT16 code)
{
        /* Would need a keysym → key-sequence map for the guest layout. */
        log_debug("rdp_unicode_key_ignored", "port=%u", input_peer(input)->srv->port);
        return TRUE;
}

static uint32_t scale(uint32_t v, uint32_t size)
{
        if (size <= 1)
                return 0;
        if (v >= size)
                v = size - 1;
        return (uint32_t)(((uint64_t)v * DISPLAY_POINTER_MAX + (size - 1) / 2) / (size - 1));
}

static BOOL on_mouse(rdpInput *input, UINT16 flags, UINT16 x, UINT16 y)
{
        struct rdp_peer *p = input_peer(input);
        const struct display_source *src = &p->srv->source;
        uint32_t bit = 0;

        if (!p->activated)
                return TRUE;
        if (flags & PTR_FLAGS_WHEEL) {
                int32_t v = flags & WheelRotationMask;
                int32_t notches;
                if (flags & PTR_FLAGS_WHEEL_NEGATIVE)
                        v -= 0x200; /* 9-bit two's complement */
                notches = v / 120;
                if (notches == 0 && v != 0)
                        notches = v > 0 ? 1 : -1;
                if (notches)
                        src->ops->input_wheel(src->opaque, notches);
                return TRUE;
        }
        if (flags & PTR_FLAGS_HWHEEL)
                return TRUE; /* no horizontal wheel in display.h */
        if (flags & PTR_FLAGS_BUTTON1)
                bit = DISPLAY_BUTTON_LEFT;
        else if (flags & PTR_FLAGS_BUTTON2)
                bit = DISPLAY_BUTTON_RIGHT;
        else if (flags & PTR_FLAGS_BUTTON3)
                bit = DISPLAY_BUTTON_MIDDLE;
        if (bit) {
                if (flags & PTR_FLAGS_DOWN)
                        p->buttons |= bit;
                else
                        p->buttons &= ~bit;
        }
        p->last_x = scale(x, p->width);
        p->last_y = scale(y, p->height);
        src->ops->input_pointer(src->opaque, p->last_x, p->last_y, p->buttons);
        return TRUE;
}

static BOOL on_extended_mouse(rdpInput *input, UINT16 flags, UINT16 x, UINT16 y)
{
        /* X buttons 1/2: display.h has no such buttons; keep the position. */
        return on_mouse(input, PTR_FLAGS_MOVE, x, y);
}

void rdp_input_register(struct rdp_peer *p)
{
        rdpInput *in = p->client->input;
        in->SynchronizeEvent = on_sync;
        in->KeyboardEvent = on_key;
        in->UnicodeKeyboardEvent = on_unicode;
        in->MouseEvent = on_mouse;
        in->ExtendedMouseEvent = on_extended_mouse;
}
