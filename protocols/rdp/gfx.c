/* The graphics pipeline (MS-RDPEGFX) for one client: capability exchange,
 * one surface mapped to the output, AVC420 frames from the GStreamer
 * encoder with the damage as region rects, or planar (lossless) tiles when
 * the client (or this server) cannot do H.264. Frame acknowledgements
 * bound the frames in flight (see take_damage in peer.c). */
#include "config.h"

#include <errno.h>
#include <freerdp/codec/color.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "log.h"
#include "macro.h"

#define SURFACE_ID 1
#define PLANAR_TILE 256
#define MAX_REGION_RECTS 128

/* Newest first; MS-RDPEGFX 2.2.3. */
static const UINT32 cap_versions[] = {
        RDPGFX_CAPVERSION_107, RDPGFX_CAPVERSION_106, RDPGFX_CAPVERSION_106_ERR,
        RDPGFX_CAPVERSION_105, RDPGFX_CAPVERSION_104, RDPGFX_CAPVERSION_103,
        RDPGFX_CAPVERSION_102, RDPGFX_CAPVERSION_101, RDPGFX_CAPVERSION_10,
        RDPGFX_CAPVERSION_81,  RDPGFX_CAPVERSION_8,
};

static int64_t now_us(void)
{
        return g_get_monotonic_time();
}

static UINT on_caps_advertise(RdpgfxServerContext *ctx, const RDPGFX_CAPS_ADVERTISE_PDU *adv)
{
        struct rdp_peer *p = ctx->custom;
        bool want_avc = !p->srv->cfg.disable_h264;

        for (size_t v = 0; v < ARRAY_SIZE(cap_versions); v++) {
                for (UINT16 i = 0; i < adv->capsSetCount; i++) {
                        RDPGFX_CAPSET caps = adv->capsSets[i];
                        RDPGFX_CAPS_CONFIRM_PDU pdu = { .capsSet = &caps };
                        bool avc;
                        UINT rc;

                        if (caps.version != cap_versions[v])
                                continue;
                        if (caps.version >= RDPGFX_CAPVERSION_10) {
                                avc = want_avc && !(caps.flags & RDPGFX_CAPS_FLAG_AVC_DISABLED);
                                if (!avc)
                                        caps.flags |= RDPGFX_CAPS_FLAG_AVC_DISABLED;
                        } else if (caps.version == RDPGFX_CAPVERSION_81) {
                                avc = want_avc && (caps.flags & RDPGFX_CAPS_FLAG_AVC420_ENABLED);
                                if (!avc)
                                        caps.flags &= ~RDPGFX_CAPS_FLAG_AVC420_ENABLED;
                        } else {
                                avc = false;
                        }
                        rc = ctx->CapsConfirm(ctx, &pdu);
                        g_mutex_lock(&p->lock);
                        p->gfx_avc = avc;
                        p->gfx_ready = rc == CHANNEL_RC_OK;
                        p->gfx_failed = rc != CHANNEL_RC_OK;
                        p->gfx_reset = true;
                        p->full_refresh = true;
                        g_mutex_unlock(&p->lock);
                        log_info("rdp_gfx_caps", "port=%u version=0x%x avc420=%s", p->srv->port,
                                 caps.version, avc ? "yes" : "no");
                        SetEvent(p->update_event);
                        return rc;
                }
        }
        g_mutex_lock(&p->lock);
        p->gfx_failed = true;
        p->full_refresh = true;
        g_mutex_unlock(&p->lock);
        SetEvent(p->update_event);
        return CHANNEL_RC_UNSUPPORTED_VERSION;
}

static UINT on_frame_ack(RdpgfxServerContext *ctx, const RDPGFX_FRAME_ACKNOWLEDGE_PDU *ack)
{
        struct rdp_peer *p = ctx->custom;

        g_mutex_lock(&p->lock);
        /* MS-RDPEGFX 2.2.2.12: queueDepth SUSPEND_FRAME_ACKNOWLEDGEMENT means
         * the client stops acknowledging; do not wait for it any more. */
        p->ack_suspended = ack->queueDepth == SUSPEND_FRAME_ACKNOWLEDGEMENT;
        if (ack->frameId < p->next_frame_id && ack->frameId > p->acked_frame_id)
                p->acked_frame_id = ack->frameId;
        g_mutex_unlock(&p->lock);
        SetEvent(p->update_event);
        return CHANNEL_RC_OK;
}

bool rdp_gfx_open(struct rdp_peer *p)
{
        p->gfx = rdpgfx_server_context_new(p->vcm);
        if (!p->gfx)
                return false;
        p->gfx->custom = p;
        p->gfx->rdpcontext = p->client->context;
        p->gfx->CapsAdvertise = on_caps_advertise;
        p->gfx->FrameAcknowledge = on_frame_ack;
        if (!p->gfx->Open(p->gfx)) {
                log_notice("rdp_gfx_unavailable", "port=%u", p->srv->port);
                rdpgfx_server_context_free(p->gfx);
                p->gfx = NULL;
                return false;
        }
        return true;
}

void rdp_gfx_close(struct rdp_peer *p)
{
        if (!p->gfx)
                return;
        p->gfx->Close(p->gfx);
        rdpgfx_server_context_free(p->gfx);
        p->gfx = NULL;
}

static int reset_surface(struct rdp_peer *p, const struct display_surface *s)
{
        RdpgfxServerContext *g = p->gfx;
        MONITOR_DEF mon = { 0, 0, (INT32)s->width - 1, (INT32)s->height - 1, MONITOR_PRIMARY };
        RDPGFX_RESET_GRAPHICS_PDU reset = { s->width, s->height, 1, &mon };
        RDPGFX_CREATE_SURFACE_PDU create = { SURFACE_ID, (UINT16)s->width, (UINT16)s->height,
                                             GFX_PIXEL_FORMAT_XRGB_8888 };
        RDPGFX_MAP_SURFACE_TO_OUTPUT_PDU map = { SURFACE_ID, 0, 0, 0 };

        if (p->surface_created) {
                RDPGFX_DELETE_SURFACE_PDU del = { SURFACE_ID };
                if (g->DeleteSurface(g, &del) != CHANNEL_RC_OK)
                        return -EIO;
                p->surface_created = false;
        }
        if (g->ResetGraphics(g, &reset) != CHANNEL_RC_OK || g->CreateSurface(g, &create) != CHANNEL_RC_OK ||
            g->MapSurfaceToOutput(g, &map) != CHANNEL_RC_OK)
                return -EIO;
        p->surface_created = true;
        /* The encoder is per geometry; a new one starts with an IDR picture. */
        h264enc_free(p->enc);
        p->enc = NULL;
        return 0;
}

static void frame_ids(struct rdp_peer *p, RDPGFX_START_FRAME_PDU *start, RDPGFX_END_FRAME_PDU *end)
{
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        g_mutex_lock(&p->lock);
        start->frameId = p->next_frame_id++;
        g_mutex_unlock(&p->lock);
        /* MS-RDPEGFX 2.2.2.11: hours, minutes, seconds, milliseconds packed. */
        start->timestamp = (UINT32)tm.tm_hour << 22 | (UINT32)tm.tm_min << 16 |
                           (UINT32)tm.tm_sec << 10 | (UINT32)((now_us() / 1000) % 1000);
        end->frameId = start->frameId;
}

/* AVC420: encode the whole picture, tell the client which rects changed. */
static int send_avc420(struct rdp_peer *p, const struct display_surface *s, const REGION16 *damage)
{
        RECTANGLE_16 rects[MAX_REGION_RECTS];
        RDPGFX_H264_QUANT_QUALITY qq[MAX_REGION_RECTS];
        RDPGFX_AVC420_BITMAP_STREAM avc = { 0 };
        RDPGFX_SURFACE_COMMAND cmd = { 0 };
        RDPGFX_START_FRAME_PDU start;
        RDPGFX_END_FRAME_PDU end;
        struct h264enc_frame f;
        UINT32 n = 0;
        const RECTANGLE_16 *r = region16_rects(damage, &n);
        unsigned qp = p->srv->cfg.h264_qp ? p->srv->cfg.h264_qp : 22;
        bool key = false;
        int64_t t0;
        int rc;

        if (!p->enc) {
                struct h264enc_config ec = { .width = s->width, .height = s->height, .qp = qp,
                                             .element = p->srv->cfg.h264_encoder };
                char *err = NULL;
                rc = h264enc_new(&ec, &p->enc, &err);
                if (rc < 0) {
                        log_warning("rdp_h264_unavailable", "port=%u tried=\"%s\" fallback=planar",
                                    p->srv->port, err ? err : "");
                        free(err);
                        p->enc_failed = true;
                        return -ENOENT;
                }
                log_info("rdp_h264_encoder", "port=%u element=%s", p->srv->port,
                         h264enc_element(p->enc));
                key = true;
        }
        t0 = now_us();
        rc = h264enc_encode(p->enc, s->pixels, s->stride, key, &f);
        if (rc < 0)
                return rc;

        if (n > MAX_REGION_RECTS) {
                /* Too many: one bounding box (the picture is complete anyway). */
                const RECTANGLE_16 *ext = region16_extents(damage);
                rects[0] = *ext;
                n = 1;
        } else {
                memcpy(rects, r, n * sizeof(*r));
        }
        for (UINT32 i = 0; i < n; i++)
                qq[i] = (RDPGFX_H264_QUANT_QUALITY){ .qp = (BYTE)qp, .r = 0, .p = 0,
                                                     .qualityVal = (BYTE)(100 - qp) };
        avc.meta.numRegionRects = n;
        avc.meta.regionRects = rects;
        avc.meta.quantQualityVals = qq;
        avc.data = (BYTE *)f.data;
        avc.length = (UINT32)f.size;
        cmd.surfaceId = SURFACE_ID;
        cmd.codecId = RDPGFX_CODECID_AVC420;
        cmd.format = PIXEL_FORMAT_BGRX32;
        cmd.left = 0;
        cmd.top = 0;
        cmd.right = s->width;
        cmd.bottom = s->height;
        cmd.width = s->width;
        cmd.height = s->height;
        cmd.extra = &avc;
        frame_ids(p, &start, &end);
        if (p->gfx->SurfaceFrameCommand(p->gfx, &cmd, &start, &end) != CHANNEL_RC_OK)
                return -EIO;
        rdp_server_record_frame(p->srv, RDP_FRAME_H264, f.size, (uint32_t)(now_us() - t0));
        return 0;
}

static int send_planar(struct rdp_peer *p, const struct display_surface *s, const REGION16 *damage)
{
        RDPGFX_START_FRAME_PDU start;
        RDPGFX_END_FRAME_PDU end;
        UINT32 n = 0;
        const RECTANGLE_16 *r = region16_rects(damage, &n);
        size_t bytes = 0;
        int64_t spent = 0;

        if (!p->planar) {
                p->planar = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA |
                                                                      PLANAR_FORMAT_HEADER_RLE,
                                                              PLANAR_TILE, PLANAR_TILE);
                if (!p->planar)
                        return -ENOMEM;
        }
        if (!p->tile) {
                p->tile = malloc((size_t)PLANAR_TILE * PLANAR_TILE * 4);
                if (!p->tile)
                        return -ENOMEM;
        }
        frame_ids(p, &start, &end);
        if (p->gfx->StartFrame(p->gfx, &start) != CHANNEL_RC_OK)
                return -EIO;
        for (UINT32 i = 0; i < n; i++) {
                for (UINT32 y = r[i].top; y < r[i].bottom; y += PLANAR_TILE) {
                        for (UINT32 x = r[i].left; x < r[i].right; x += PLANAR_TILE) {
                                UINT32 w = MIN(PLANAR_TILE, r[i].right - x);
                                UINT32 h = MIN(PLANAR_TILE, r[i].bottom - y);
                                UINT32 size = 0;
                                int64_t e0 = now_us();
                                BYTE *out;
                                /* FreeRDP's planar encoder writes rows bottom-up (as
                                 * bitmap updates want); the pipeline's planar is
                                 * top-down, so feed it the tile upside down. */
                                for (UINT32 row = 0; row < h; row++)
                                        memcpy(p->tile + (size_t)(h - 1 - row) * w * 4,
                                               s->pixels + (size_t)(y + row) * s->stride + x * 4,
                                               (size_t)w * 4);
                                out = freerdp_bitmap_compress_planar(p->planar, p->tile,
                                                                     PIXEL_FORMAT_BGRX32, w, h,
                                                                     w * 4, NULL, &size);
                                RDPGFX_SURFACE_COMMAND cmd = {
                                        .surfaceId = SURFACE_ID,
                                        .codecId = RDPGFX_CODECID_PLANAR,
                                        .format = PIXEL_FORMAT_BGRX32,
                                        .left = x, .top = y, .right = x + w, .bottom = y + h,
                                        .width = w, .height = h,
                                        .length = size, .data = out,
                                };
                                UINT rc;
                                spent += now_us() - e0;
                                if (!out)
                                        return -EIO;
                                rc = p->gfx->SurfaceCommand(p->gfx, &cmd);
                                free(out);
                                if (rc != CHANNEL_RC_OK)
                                        return -EIO;
                                bytes += size;
                        }
                }
        }
        if (p->gfx->EndFrame(p->gfx, &end) != CHANNEL_RC_OK)
                return -EIO;
        rdp_server_record_frame(p->srv, RDP_FRAME_PLANAR, bytes, (uint32_t)spent);
        return 0;
}

int rdp_gfx_send(struct rdp_peer *p, const struct display_surface *s, const REGION16 *damage,
                 bool reset)
{
        int r;

        if (!p->gfx)
                return -ENOTCONN;
        log_debug("rdp_gfx_frame", "port=%u reset=%d avc=%d rects=%u", p->srv->port, reset,
                  p->gfx_avc && !p->enc_failed, region16_n_rects(damage));
        if (reset || !p->surface_created) {
                r = reset_surface(p, s);
                if (r < 0)
                        return r;
        }
        if (p->gfx_avc && !p->enc_failed) {
                r = send_avc420(p, s, damage);
                if (r != -ENOENT)
                        return r;
        }
        return send_planar(p, s, damage);
}
