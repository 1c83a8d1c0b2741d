/* SPICE keyboard and tablet interfaces delivering to a display_source:
 * scancode bytes through the shared XT decoder (protocols/keymap.h) to
 * evdev codes; tablet positions scaled to 0..DISPLAY_POINTER_MAX. */
#pragma once

#include <spice.h>

#include "protocols/display.h"

struct spice_input;

/* Register both interfaces with s. NULL with -errno in *err on failure. */
struct spice_input *spice_input_new(SpiceServer *s, struct display_source source, int *err);

/* Free after spice_server_destroy. Accepts NULL. */
void spice_input_free(struct spice_input *in);
