/* The guest's hardware cursor as RDP pointer updates (MS-RDPBCGR
 * 2.2.9.1.1.4): the server's tick polls the source's cursor, and each
 * client's thread sends a shape it has not seen as a 32 bpp New Pointer
 * Update (alpha in the XOR mask, an empty AND mask), or hides the pointer
 * (System Pointer Update, SYSPTR_NULL). Positions are not sent: the client
 * draws the pointer where its own mouse is, which is where the guest puts
 * it (absolute input). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool rdp_pointer_poll(struct rdp_server *srv)
{
        struct display_cursor *next = srv->cursor_next, *old;
        bool changed;

        if (!srv->source.ops->get_cursor)
                return false;
        if (!next && !(next = srv->cursor_next = malloc(sizeof(*next))))
                return false;
        if (srv->source.ops->get_cursor(srv->source.opaque, next) < 0)
                return false;
        g_mutex_lock(&srv->lock);
        changed = !srv->cursor || srv->cursor->serial != next->serial;
        if (changed) {
                old = srv->cursor;
                srv->cursor = next;
                srv->cursor_next = old;
        }
        g_mutex_unlock(&srv->lock);
        return changed;
}

/* MS-RDPBCGR 2.2.9.1.1.4.4: both masks bottom-up, rows padded to 2 bytes. */
static int send_shape(struct rdp_peer *p, const struct display_cursor *c)
{
        uint32_t w = c->width, h = c->height;
        uint32_t and_row = (w + 15) / 16 * 2;
        POINTER_NEW_UPDATE n = { .xorBpp = 32 };
        BYTE *xor_mask = malloc((size_t)w * h * 4), *and_mask = calloc(h, and_row);
        BOOL ok;

        if (!xor_mask || !and_mask) {
                free(xor_mask);
                free(and_mask);
                return -ENOMEM;
        }
        for (uint32_t y = 0; y < h; y++)
                memcpy(xor_mask + (size_t)(h - 1 - y) * w * 4, c->pixels + (size_t)y * DISPLAY_CURSOR_MAX, w * 4);
        n.colorPtrAttr = (POINTER_COLOR_UPDATE){
                .cacheIndex = 0,
                .xPos = c->hot_x,
                .yPos = c->hot_y,
                .width = w,
                .height = h,
                .lengthAndMask = and_row * h,
                .lengthXorMask = w * h * 4,
                .xorMaskData = xor_mask,
                .andMaskData = and_mask,
        };
        ok = p->client->update->pointer->PointerNew(p->client->context, &n);
        free(xor_mask);
        free(and_mask);
        return ok ? 0 : -EIO;
}

int rdp_pointer_update(struct rdp_peer *p)
{
        struct display_cursor *c;
        bool fresh;
        int r;

        g_mutex_lock(&p->srv->lock);
        fresh = p->srv->cursor && (!p->cursor_sent_any || p->cursor_sent != p->srv->cursor->serial);
        c = fresh ? g_memdup2(p->srv->cursor, sizeof(*c)) : NULL;
        g_mutex_unlock(&p->srv->lock);
        if (!c)
                return 0;
        if (!c->visible || c->width == 0 || c->height == 0 || c->width > DISPLAY_CURSOR_MAX ||
            c->height > DISPLAY_CURSOR_MAX) {
                POINTER_SYSTEM_UPDATE sys = { .type = SYSPTR_NULL };
                r = p->client->update->pointer->PointerSystem(p->client->context, &sys) ? 0 : -EIO;
        } else {
                r = send_shape(p, c);
        }
        if (r == 0) {
                p->cursor_sent = c->serial;
                p->cursor_sent_any = true;
        }
        g_free(c);
        return r;
}
