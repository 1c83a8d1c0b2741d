/* PNG tiles for the web display server's lossless fallback (tile.c). */
#pragma once

#include <glib.h>

#include "protocols/display.h"

/* Largest tile side: bigger damage is cut into tiles of at most this. */
#define WEB_TILE_MAX 256u

/* Append a PNG of rectangle r of surface s (XRGB8888) to out. 0, -EINVAL
 * when r is empty or outside s, -ENOMEM, -EIO (libpng failed; out is left
 * as it was). */
int web_tile_png(const struct display_surface *s, struct display_rect r, GByteArray *out);
