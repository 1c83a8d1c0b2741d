/* Damage rectangle lists: see damage.h. */
#include "config.h"

#include "damage.h"

void damage_union(struct display_rect *a, const struct display_rect *b)
{
        uint32_t x2 = a->x + a->w > b->x + b->w ? a->x + a->w : b->x + b->w;
        uint32_t y2 = a->y + a->h > b->y + b->h ? a->y + a->h : b->y + b->h;

        a->x = a->x < b->x ? a->x : b->x;
        a->y = a->y < b->y ? a->y : b->y;
        a->w = x2 - a->x;
        a->h = y2 - a->y;
}

void damage_add(struct display_rect *list, size_t *n, size_t max, const struct display_rect *add,
                size_t count)
{
        for (size_t i = 0; i < count; i++) {
                if (*n < max) {
                        list[(*n)++] = add[i];
                        continue;
                }
                for (size_t k = 1; k < *n; k++)
                        damage_union(&list[0], &list[k]);
                *n = 1;
                damage_union(&list[0], &add[i]);
        }
}
