/* Damage rectangle lists kept between frames by display servers and by
 * vdi-vm's per-server views: bounded arrays that merge when full. */
#pragma once

#include <stddef.h>

#include "protocols/display.h"

/* Grow a to cover b as well (the bounding box of both). */
void damage_union(struct display_rect *a, const struct display_rect *b);

/* Append count rectangles to list (*n of max used). When the list is full,
 * everything it holds becomes one bounding box, so no change is lost. */
void damage_add(struct display_rect *list, size_t *n, size_t max, const struct display_rect *add,
                size_t count);
