/* Clients without the graphics pipeline: planar-compressed (lossless)
 * 32 bpp bitmap updates (MS-RDPBCGR 2.2.9.1.1.3.1.2, MS-RDPEGDI 2.2.2.5.1)
 * on a fixed 64x64 grid over the damaged area. */
#include "config.h"

#include <errno.h>
#include <freerdp/codec/color.h>
#include <freerdp/update.h>
#include <stdlib.h>

#include "internal.h"
#include "macro.h"

#define TILE 64

/* Tile edges along one axis: 64-pixel steps, but never leave a strip of
 * fewer than 4 pixels at the surface edge (planar needs 4). */
static uint32_t tile_end(uint32_t start, uint32_t limit)
{
        uint32_t end = MIN(start + TILE, limit);
        if (limit - end < 4)
                end = limit;
        return end;
}

static int flush(struct rdp_peer *p, BITMAP_DATA *tiles, UINT32 n)
{
        BITMAP_UPDATE up = { .count = n, .number = n, .rectangles = tiles };
        BOOL ok = n == 0 || p->client->update->BitmapUpdate(p->client->context, &up);
        for (UINT32 i = 0; i < n; i++) {
                free(tiles[i].bitmapDataStream);
                tiles[i].bitmapDataStream = NULL;
        }
        return ok ? 0 : -EIO;
}

int rdp_legacy_send(struct rdp_peer *p, const struct display_surface *s, const REGION16 *damage)
{
        const RECTANGLE_16 *ext = region16_extents(damage);
        UINT32 max_update = p->client->settings->MultifragMaxRequestSize;
        BITMAP_DATA tiles[64];
        UINT32 n = 0, batch = 0;
        size_t bytes = 0;
        int64_t spent = 0;
        int r = 0;

        if (!ext || region16_is_empty(damage))
                return 0;
        if (max_update < 0x4000)
                max_update = 0x4000;
        if (!p->planar) {
                p->planar = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA |
                                                                      PLANAR_FORMAT_HEADER_RLE,
                                                              TILE + 4, TILE + 4);
                if (!p->planar)
                        return -ENOMEM;
        }
        /* Grid tiles that touch the damage's bounding bands. */
        for (uint32_t y = ext->top - ext->top % TILE; y < ext->bottom && r == 0;) {
                uint32_t y1 = tile_end(y, s->height);
                for (uint32_t x = ext->left - ext->left % TILE; x < ext->right && r == 0;) {
                        uint32_t x1 = tile_end(x, s->width);
                        RECTANGLE_16 t = { (UINT16)x, (UINT16)y, (UINT16)x1, (UINT16)y1 };
                        REGION16 hit;
                        region16_init(&hit);
                        region16_intersect_rect(&hit, damage, &t);
                        if (!region16_is_empty(&hit)) {
                                UINT32 size = 0;
                                int64_t e0 = g_get_monotonic_time();
                                BYTE *out = freerdp_bitmap_compress_planar(
                                        p->planar, s->pixels + (size_t)y * s->stride + x * 4,
                                        PIXEL_FORMAT_BGRX32, x1 - x, y1 - y, s->stride, NULL, &size);
                                spent += g_get_monotonic_time() - e0;
                                if (!out) {
                                        r = -EIO;
                                } else {
                                        if (n > 0 && (n == ARRAY_SIZE(tiles) ||
                                                      batch + size + 64 > max_update - 1024)) {
                                                r = flush(p, tiles, n);
                                                n = 0;
                                                batch = 0;
                                        }
                                        tiles[n++] = (BITMAP_DATA){
                                                .destLeft = x, .destTop = y,
                                                .destRight = x1 - 1, .destBottom = y1 - 1,
                                                .width = x1 - x, .height = y1 - y,
                                                .bitsPerPixel = 32, .compressed = TRUE,
                                                .bitmapLength = size, .cbCompMainBodySize = size,
                                                .cbScanWidth = (x1 - x) * 4,
                                                .cbUncompressedSize = (x1 - x) * (y1 - y) * 4,
                                                .bitmapDataStream = out,
                                        };
                                        batch += size + 64;
                                        bytes += size;
                                }
                        }
                        region16_uninit(&hit);
                        x = x1;
                }
                y = y1;
        }
        if (r == 0)
                r = flush(p, tiles, n);
        else
                for (UINT32 i = 0; i < n; i++)
                        free(tiles[i].bitmapDataStream);
        if (r == 0)
                rdp_server_record_frame(p->srv, RDP_FRAME_BITMAP, bytes, (uint32_t)spent);
        return r;
}
