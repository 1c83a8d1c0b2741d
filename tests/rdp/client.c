/* Headless FreeRDP client for tests: see client.h. */
#include "config.h"

#include "client.h"

#include <errno.h>
#include <freerdp/channels/channels.h>
#include <freerdp/client.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cliprdr.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/client/disp.h>
#include <freerdp/client/rdpgfx.h>
#include <freerdp/codec/color.h>
#include <freerdp/event.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/gdi/gfx.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct tclient_context {
        rdpContext base;
        struct tclient *tc;
};

struct tclient {
        rdpContext *ctx;
        GMutex lock;
        GThread *thread;
        gint stop;
        gint connected;
        unsigned end_frame_delay_ms;
        struct tclient_counts counts;
        pcRdpgfxSurfaceCommand gdi_surface_command;
        pcRdpgfxEndFrame gdi_end_frame;
        pcRdpgfxResetGraphics gdi_reset_graphics;
        pBitmapUpdate gdi_bitmap_update;
        pSurfaceBits gdi_surface_bits;
        pSurfaceFrameMarker gdi_frame_marker;
        RdpgfxClientContext *gfx;
        DispClientContext *disp;
        gint disp_ready;
        struct tclient_pointer pointer; /* under lock */
        /* Clipboard (opts.clipboard), under lock: the channel, our text
         * (UTF-16LE with its NUL) and what the server sent. */
        CliprdrClientContext *clip;
        gint clip_ready;
        GByteArray *clip_ours;
        char *clip_theirs;
        struct tclient_clip_counts clip_counts;
};

static struct tclient *tc_of(rdpContext *c)
{
        return ((struct tclient_context *)c)->tc;
}

static UINT count_surface_command(RdpgfxClientContext *gfx, const RDPGFX_SURFACE_COMMAND *cmd)
{
        struct tclient *tc = tc_of(((rdpGdi *)gfx->custom)->context);
        if (cmd->codecId == RDPGFX_CODECID_AVC420)
                tc->counts.avc420++;
        else if (cmd->codecId == RDPGFX_CODECID_PLANAR)
                tc->counts.planar++;
        else
                tc->counts.other++;
        tc->counts.picture_bytes += cmd->length;
        return tc->gdi_surface_command(gfx, cmd);
}

/* ResetGraphics runs on the graphics channel's thread and resizes (frees)
 * the picture: under tc->lock, so that a reader holding tclient_lock never
 * sees a freed buffer. */
static UINT locked_reset_graphics(RdpgfxClientContext *gfx, const RDPGFX_RESET_GRAPHICS_PDU *reset)
{
        struct tclient *tc = tc_of(((rdpGdi *)gfx->custom)->context);
        UINT r;

        g_mutex_lock(&tc->lock);
        r = tc->gdi_reset_graphics(gfx, reset);
        g_mutex_unlock(&tc->lock);
        return r;
}

static UINT count_end_frame(RdpgfxClientContext *gfx, const RDPGFX_END_FRAME_PDU *end)
{
        struct tclient *tc = tc_of(((rdpGdi *)gfx->custom)->context);
        tc->counts.frames_ended++;
        if (tc->end_frame_delay_ms)
                g_usleep(tc->end_frame_delay_ms * 1000ul);
        return tc->gdi_end_frame(gfx, end);
}

static BOOL count_bitmap_update(rdpContext *ctx, const BITMAP_UPDATE *b)
{
        struct tclient *tc = tc_of(ctx);
        tc->counts.bitmap_updates++;
        for (UINT32 i = 0; i < b->number; i++)
                tc->counts.picture_bytes += b->rectangles[i].bitmapLength;
        return tc->gdi_bitmap_update(ctx, b);
}

static BOOL count_surface_bits(rdpContext *ctx, const SURFACE_BITS_COMMAND *cmd)
{
        struct tclient *tc = tc_of(ctx);
        tc->counts.picture_bytes += cmd->bmp.bitmapDataLength;
        return tc->gdi_surface_bits(ctx, cmd);
}

static BOOL count_frame_marker(rdpContext *ctx, const SURFACE_FRAME_MARKER *m)
{
        struct tclient *tc = tc_of(ctx);
        if (m->frameAction == SURFACECMD_FRAMEACTION_END)
                tc->counts.surface_frames++;
        return tc->gdi_frame_marker ? tc->gdi_frame_marker(ctx, m) : TRUE;
}

static UINT on_disp_caps(DispClientContext *d, UINT32 max_monitors, UINT32 factor_a, UINT32 factor_b)
{
        g_atomic_int_set(&((struct tclient *)d->custom)->disp_ready, 1);
        return CHANNEL_RC_OK;
}

/* ---- clipboard (MS-RDPECLIP), as xfreerdp's cliprdr does for text ---- */

static UINT clip_send_list(CliprdrClientContext *c, bool text)
{
        CLIPRDR_FORMAT f = { .formatId = CF_UNICODETEXT };
        CLIPRDR_FORMAT_LIST list = { .msgType = CB_FORMAT_LIST, .numFormats = text, .formats = &f };
        return c->ClientFormatList(c, &list);
}

static UINT clip_monitor_ready(CliprdrClientContext *c, const CLIPRDR_MONITOR_READY *m)
{
        struct tclient *tc = c->custom;
        CLIPRDR_GENERAL_CAPABILITY_SET gen = { .capabilitySetType = CB_CAPSTYPE_GENERAL,
                                               .capabilitySetLength = 12, .version = CB_CAPS_VERSION_2,
                                               .generalFlags = CB_USE_LONG_FORMAT_NAMES };
        CLIPRDR_CAPABILITIES caps = { .cCapabilitiesSets = 1,
                                      .capabilitySets = (CLIPRDR_CAPABILITY_SET *)&gen };
        UINT r = c->ClientCapabilities(c, &caps);

        (void)m;
        if (r == CHANNEL_RC_OK)
                r = clip_send_list(c, tc->clip_ours->len > 0);
        g_atomic_int_set(&tc->clip_ready, 1);
        return r;
}

static UINT clip_server_caps(CliprdrClientContext *c, const CLIPRDR_CAPABILITIES *caps)
{
        return CHANNEL_RC_OK;
}

/* The server's clipboard changed: acknowledge, and fetch its text. */
static UINT clip_server_list(CliprdrClientContext *c, const CLIPRDR_FORMAT_LIST *list)
{
        struct tclient *tc = c->custom;
        CLIPRDR_FORMAT_LIST_RESPONSE ok = { .msgType = CB_FORMAT_LIST_RESPONSE, .msgFlags = CB_RESPONSE_OK };
        CLIPRDR_FORMAT_DATA_REQUEST req = { .msgType = CB_FORMAT_DATA_REQUEST, .dataLen = 4,
                                            .requestedFormatId = CF_UNICODETEXT };
        UINT r = c->ClientFormatListResponse(c, &ok);

        tc->clip_counts.server_lists++;
        for (UINT32 i = 0; r == CHANNEL_RC_OK && i < list->numFormats; i++)
                if (list->formats[i].formatId == CF_UNICODETEXT)
                        return c->ClientFormatDataRequest(c, &req);
        return r;
}

static UINT clip_server_list_response(CliprdrClientContext *c, const CLIPRDR_FORMAT_LIST_RESPONSE *r)
{
        return CHANNEL_RC_OK;
}

static UINT clip_server_data(CliprdrClientContext *c, const CLIPRDR_FORMAT_DATA_RESPONSE *resp)
{
        struct tclient *tc = c->custom;
        const BYTE *d = resp->requestedFormatData;
        size_t units = resp->dataLen / 2;
        gunichar2 *u;

        if (resp->msgFlags != CB_RESPONSE_OK || !d)
                return CHANNEL_RC_OK;
        u = g_new0(gunichar2, units + 1);
        for (size_t i = 0; i < units; i++)
                u[i] = (gunichar2)(d[2 * i] | d[2 * i + 1] << 8);
        g_free(tc->clip_theirs);
        tc->clip_theirs = g_utf16_to_utf8(u, -1, NULL, NULL, NULL); /* to the NUL */
        g_free(u);
        tc->clip_counts.texts++;
        return CHANNEL_RC_OK;
}

/* The server pastes: our text. */
static UINT clip_server_request(CliprdrClientContext *c, const CLIPRDR_FORMAT_DATA_REQUEST *req)
{
        struct tclient *tc = c->custom;
        CLIPRDR_FORMAT_DATA_RESPONSE resp = { .msgType = CB_FORMAT_DATA_RESPONSE, .msgFlags = CB_RESPONSE_FAIL };

        tc->clip_counts.server_requests++;
        if (req->requestedFormatId == CF_UNICODETEXT && tc->clip_ours->len) {
                resp.msgFlags = CB_RESPONSE_OK;
                resp.dataLen = tc->clip_ours->len;
                resp.requestedFormatData = tc->clip_ours->data;
        }
        return c->ClientFormatDataResponse(c, &resp);
}

static void clip_attach(struct tclient *tc, CliprdrClientContext *c)
{
        c->custom = tc;
        c->MonitorReady = clip_monitor_ready;
        c->ServerCapabilities = clip_server_caps;
        c->ServerFormatList = clip_server_list;
        c->ServerFormatListResponse = clip_server_list_response;
        c->ServerFormatDataResponse = clip_server_data;
        c->ServerFormatDataRequest = clip_server_request;
        tc->clip = c;
}

bool tclient_clip_ready(struct tclient *c, int timeout_ms)
{
        for (int t = 0; t <= timeout_ms; t += 10) {
                if (g_atomic_int_get(&c->clip_ready))
                        return true;
                g_usleep(10000);
        }
        return false;
}

int tclient_clip_set(struct tclient *c, const char *text)
{
        glong units;
        gunichar2 *u = g_utf8_to_utf16(text, -1, NULL, &units, NULL);
        UINT r = ERROR_NOT_CONNECTED;

        if (!u)
                return -EINVAL;
        g_mutex_lock(&c->lock);
        g_byte_array_set_size(c->clip_ours, 0);
        for (glong i = 0; i <= units; i++) {
                uint8_t b[2] = { (uint8_t)u[i], (uint8_t)(u[i] >> 8) };
                g_byte_array_append(c->clip_ours, b, 2);
        }
        if (c->clip)
                r = clip_send_list(c->clip, true);
        g_mutex_unlock(&c->lock);
        g_free(u);
        return r == CHANNEL_RC_OK ? 0 : -EIO;
}

int tclient_clip_send_raw(struct tclient *c, uint16_t msg_type, uint32_t format, const uint8_t *data, size_t len)
{
        CLIPRDR_FORMAT f = { .formatId = format };
        CLIPRDR_FORMAT_LIST list = { .msgType = CB_FORMAT_LIST, .numFormats = 1, .formats = &f };
        CLIPRDR_FORMAT_DATA_REQUEST req = { .msgType = CB_FORMAT_DATA_REQUEST, .dataLen = 4,
                                            .requestedFormatId = format };
        CLIPRDR_FORMAT_DATA_RESPONSE resp = { .msgType = CB_FORMAT_DATA_RESPONSE, .msgFlags = CB_RESPONSE_OK,
                                              .dataLen = (UINT32)len, .requestedFormatData = data };
        UINT r = ERROR_NOT_CONNECTED;

        g_mutex_lock(&c->lock);
        if (c->clip && msg_type == CB_FORMAT_LIST)
                r = c->clip->ClientFormatList(c->clip, &list);
        else if (c->clip && msg_type == CB_FORMAT_DATA_REQUEST)
                r = c->clip->ClientFormatDataRequest(c->clip, &req);
        else if (c->clip && msg_type == CB_FORMAT_DATA_RESPONSE)
                r = c->clip->ClientFormatDataResponse(c->clip, &resp);
        g_mutex_unlock(&c->lock);
        return r == CHANNEL_RC_OK ? 0 : -EIO;
}

bool tclient_clip_wait_text(struct tclient *c, const char *want, int timeout_ms)
{
        for (int t = 0; t <= timeout_ms; t += 20) {
                g_autofree char *got = tclient_clip_text(c, NULL);
                if (got && strcmp(got, want) == 0)
                        return true;
                g_usleep(20000);
        }
        return false;
}

char *tclient_clip_text(struct tclient *c, struct tclient_clip_counts *counts)
{
        char *t;

        g_mutex_lock(&c->lock);
        t = g_strdup(c->clip_theirs);
        if (counts)
                *counts = c->clip_counts;
        g_mutex_unlock(&c->lock);
        return t;
}

static void on_channel_connected(void *context, ChannelConnectedEventArgs *e)
{
        rdpContext *ctx = context;
        struct tclient *tc = tc_of(ctx);
        if (strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0)
                clip_attach(tc, e->pInterface);
        if (strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0) {
                tc->disp = e->pInterface;
                tc->disp->custom = tc;
                tc->disp->DisplayControlCaps = on_disp_caps;
        }
        if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) == 0) {
                RdpgfxClientContext *gfx = e->pInterface;
                gdi_graphics_pipeline_init(ctx->gdi, gfx);
                tc->gfx = gfx;
                tc->gdi_surface_command = gfx->SurfaceCommand;
                tc->gdi_end_frame = gfx->EndFrame;
                tc->gdi_reset_graphics = gfx->ResetGraphics;
                gfx->SurfaceCommand = count_surface_command;
                gfx->EndFrame = count_end_frame;
                gfx->ResetGraphics = locked_reset_graphics;
        }
}

static void on_channel_disconnected(void *context, ChannelDisconnectedEventArgs *e)
{
        rdpContext *ctx = context;
        if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) == 0) {
                gdi_graphics_pipeline_uninit(ctx->gdi, e->pInterface);
                tc_of(ctx)->gfx = NULL;
        }
        if (strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0)
                tc_of(ctx)->disp = NULL;
        if (strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0)
                tc_of(ctx)->clip = NULL;
}

static BOOL pre_connect(freerdp *instance)
{
        rdpContext *ctx = instance->context;
        PubSub_SubscribeChannelConnected(ctx->pubSub, on_channel_connected);
        PubSub_SubscribeChannelDisconnected(ctx->pubSub, on_channel_disconnected);
        return freerdp_client_load_addins(ctx->channels, instance->settings);
}

static BOOL begin_paint(rdpContext *ctx)
{
        return TRUE;
}

static BOOL end_paint(rdpContext *ctx)
{
        return TRUE; /* the picture is read straight from the GDI buffer */
}

/* The server changed the desktop's size (a new mode in the guest, or the
 * graphics pipeline's ResetGraphics): the picture follows, as xfreerdp's. */
static BOOL desktop_resize(rdpContext *ctx)
{
        return gdi_resize(ctx->gdi, ctx->settings->DesktopWidth, ctx->settings->DesktopHeight);
}

static BOOL record_pointer_new(rdpContext *ctx, const POINTER_NEW_UPDATE *n)
{
        struct tclient *tc = tc_of(ctx);
        const POINTER_COLOR_UPDATE *a = &n->colorPtrAttr;
        struct tclient_pointer *p = &tc->pointer;

        /* Called from client_thread, which holds tc->lock. */
        p->updates++;
        p->hidden = false;
        p->width = p->height = 0;
        memset(p->pixels, 0, sizeof(p->pixels));
        if (a->width <= TCLIENT_POINTER_MAX && a->height <= TCLIENT_POINTER_MAX &&
            freerdp_image_copy_from_pointer_data((BYTE *)p->pixels, PIXEL_FORMAT_BGRA32, TCLIENT_POINTER_MAX * 4, 0,
                                                 0, a->width, a->height, a->xorMaskData, a->lengthXorMask,
                                                 a->andMaskData, a->lengthAndMask, n->xorBpp, &ctx->gdi->palette)) {
                p->width = a->width;
                p->height = a->height;
                p->hot_x = a->xPos;
                p->hot_y = a->yPos;
        }
        return TRUE;
}

static BOOL record_pointer_system(rdpContext *ctx, const POINTER_SYSTEM_UPDATE *s)
{
        struct tclient *tc = tc_of(ctx);

        tc->pointer.updates++; /* under tc->lock, as above */
        tc->pointer.hidden = s->type == SYSPTR_NULL;
        return TRUE;
}

static BOOL post_connect(freerdp *instance)
{
        struct tclient *tc = tc_of(instance->context);
        if (!gdi_init(instance, PIXEL_FORMAT_BGRX32))
                return FALSE;
        tc->gdi_bitmap_update = instance->update->BitmapUpdate;
        instance->update->BitmapUpdate = count_bitmap_update;
        tc->gdi_surface_bits = instance->update->SurfaceBits;
        instance->update->SurfaceBits = count_surface_bits;
        tc->gdi_frame_marker = instance->update->SurfaceFrameMarker;
        instance->update->SurfaceFrameMarker = count_frame_marker;
        instance->update->BeginPaint = begin_paint;
        instance->update->EndPaint = end_paint;
        instance->update->DesktopResize = desktop_resize;
        /* Recorded only: this client draws no pointer (FreeRDP's own
         * handlers would cache it for a pointer class it does not have). */
        instance->update->pointer->PointerNew = record_pointer_new;
        instance->update->pointer->PointerSystem = record_pointer_system;
        return TRUE;
}

static void post_disconnect(freerdp *instance)
{
        PubSub_UnsubscribeChannelConnected(instance->context->pubSub, on_channel_connected);
        PubSub_UnsubscribeChannelDisconnected(instance->context->pubSub, on_channel_disconnected);
        gdi_free(instance);
}

static DWORD verify_cert(freerdp *instance, const char *host, UINT16 port, const char *cn,
                         const char *subject, const char *issuer, const char *fp, DWORD flags)
{
        return 2; /* accept for this session: the test CA is not installed */
}

static BOOL client_new(freerdp *instance, rdpContext *context)
{
        instance->PreConnect = pre_connect;
        instance->PostConnect = post_connect;
        instance->PostDisconnect = post_disconnect;
        instance->VerifyCertificateEx = verify_cert;
        return TRUE;
}

static gpointer client_thread(gpointer data)
{
        struct tclient *tc = data;
        HANDLE h[64];

        while (!g_atomic_int_get(&tc->stop)) {
                DWORD n = freerdp_get_event_handles(tc->ctx, h, ARRAYSIZE(h));
                BOOL ok;
                if (n == 0)
                        break;
                WaitForMultipleObjects(n, h, FALSE, 50);
                g_mutex_lock(&tc->lock);
                ok = freerdp_check_event_handles(tc->ctx) && !freerdp_shall_disconnect(tc->ctx->instance);
                g_mutex_unlock(&tc->lock);
                if (!ok)
                        break;
        }
        g_atomic_int_set(&tc->connected, 0);
        return NULL;
}

int tclient_connect(const struct tclient_opts *o, struct tclient **out)
{
        RDP_CLIENT_ENTRY_POINTS ep = { .Size = sizeof(ep), .Version = RDP_CLIENT_INTERFACE_VERSION,
                                       .ContextSize = sizeof(struct tclient_context),
                                       .ClientNew = client_new };
        struct tclient *tc = calloc(1, sizeof(*tc));
        rdpSettings *st;

        if (!tc)
                return -ENOMEM;
        g_mutex_init(&tc->lock);
        tc->clip_ours = g_byte_array_new();
        tc->ctx = freerdp_client_context_new(&ep);
        if (!tc->ctx) {
                tclient_free(tc);
                return -ENOMEM;
        }
        ((struct tclient_context *)tc->ctx)->tc = tc;
        tc->end_frame_delay_ms = o->end_frame_delay_ms;
        st = tc->ctx->settings;
        st->ServerHostname = strdup(o->host ? o->host : "127.0.0.1");
        st->ServerPort = o->port;
        st->Username = o->user ? strdup(o->user) : NULL;
        st->Password = o->password ? strdup(o->password) : NULL;
        st->DesktopWidth = o->width ? o->width : 1024;
        st->DesktopHeight = o->height ? o->height : 768;
        st->ColorDepth = 32;
        st->SoftwareGdi = TRUE;
        st->IgnoreCertificate = TRUE;
        st->AutoLogonEnabled = TRUE;
        st->NlaSecurity = o->security == TCLIENT_NLA;
        st->TlsSecurity = o->security == TCLIENT_TLS;
        st->RdpSecurity = o->security == TCLIENT_RDP;
        st->NegotiateSecurityLayer = TRUE;
        st->SupportGraphicsPipeline = o->gfx;
        st->GfxH264 = o->gfx && o->h264;
        st->GfxAVC444 = FALSE;
        st->GfxAVC444v2 = FALSE;
        st->RemoteFxCodec = FALSE;
        st->NSCodec = FALSE;
        st->SupportDisplayControl = o->display_control;
        st->AudioPlayback = FALSE;
        st->DeviceRedirection = FALSE;
        st->RedirectClipboard = o->clipboard;
        st->TcpConnectTimeout = 5000;
        /* FreeRDP waits for the session to activate only this long (in
         * 100 ms sleeps): in a starved nested lab a logon takes longer. */
        st->TcpAckTimeout = 120000;

        if (!freerdp_connect(tc->ctx->instance)) {
                tclient_free(tc);
                return -EACCES;
        }
        tc->connected = 1;
        tc->thread = g_thread_new("tclient", client_thread, tc);
        /* freerdp_connect can return before the server has accepted the
         * logon (TLS-only logons are checked after the Client Info PDU):
         * the session counts as up once the first picture arrived. */
        for (int t = 0; t < 10000; t += 10) {
                struct tclient_counts n;
                tclient_counts(tc, &n);
                if (n.frames_ended + n.bitmap_updates + n.surface_frames > 0)
                        break;
                if (!tclient_connected(tc)) {
                        tclient_free(tc);
                        return -EACCES;
                }
                g_usleep(10000);
        }
        *out = tc;
        return 0;
}

bool tclient_display_control_ready(struct tclient *c, int timeout_ms)
{
        for (int t = 0; t < timeout_ms; t += 10) {
                if (g_atomic_int_get(&c->disp_ready))
                        return true;
                g_usleep(10000);
        }
        return false;
}

int tclient_send_layout(struct tclient *c, const struct tclient_monitor *m, unsigned n)
{
        DISPLAY_CONTROL_MONITOR_LAYOUT layout[16] = { { 0 } };
        UINT rc;

        if (n > G_N_ELEMENTS(layout))
                return -EINVAL;
        for (unsigned i = 0; i < n; i++)
                layout[i] = (DISPLAY_CONTROL_MONITOR_LAYOUT){
                        .Flags = i == 0 ? DISPLAY_CONTROL_MONITOR_PRIMARY : 0,
                        .Left = m[i].x, .Top = m[i].y, .Width = m[i].width, .Height = m[i].height,
                        .Orientation = ORIENTATION_LANDSCAPE, .DesktopScaleFactor = 100,
                        .DeviceScaleFactor = 100,
                };
        g_mutex_lock(&c->lock);
        rc = c->disp ? c->disp->SendMonitorLayout(c->disp, n, layout) : ERROR_NOT_CONNECTED;
        g_mutex_unlock(&c->lock);
        return rc == CHANNEL_RC_OK ? 0 : -EIO;
}

void tclient_free(struct tclient *tc)
{
        if (!tc)
                return;
        g_atomic_int_set(&tc->stop, 1);
        if (tc->thread)
                g_thread_join(tc->thread);
        if (tc->ctx) {
                freerdp_disconnect(tc->ctx->instance);
                freerdp_client_context_free(tc->ctx);
        }
        g_mutex_clear(&tc->lock);
        g_byte_array_unref(tc->clip_ours);
        g_free(tc->clip_theirs);
        free(tc);
}

void tclient_lock(struct tclient *c)
{
        g_mutex_lock(&c->lock);
}

void tclient_unlock(struct tclient *c)
{
        g_mutex_unlock(&c->lock);
}

const uint8_t *tclient_pixels(struct tclient *c, uint32_t *width, uint32_t *height,
                              uint32_t *stride)
{
        rdpGdi *gdi = c->ctx->gdi;
        if (!gdi)
                return NULL;
        *width = gdi->width;
        *height = gdi->height;
        *stride = gdi->stride;
        return gdi->primary_buffer;
}

void tclient_counts(struct tclient *c, struct tclient_counts *out)
{
        g_mutex_lock(&c->lock);
        *out = c->counts;
        g_mutex_unlock(&c->lock);
}

void tclient_pointer(struct tclient *c, struct tclient_pointer *out)
{
        g_mutex_lock(&c->lock);
        *out = c->pointer;
        g_mutex_unlock(&c->lock);
}

bool tclient_connected(struct tclient *c)
{
        return g_atomic_int_get(&c->connected);
}

bool tclient_key(struct tclient *c, uint16_t flags, uint16_t code)
{
        BOOL ok;
        g_mutex_lock(&c->lock);
        ok = freerdp_input_send_keyboard_event(c->ctx->input, flags, code);
        g_mutex_unlock(&c->lock);
        return ok;
}

bool tclient_mouse(struct tclient *c, uint16_t flags, uint16_t x, uint16_t y)
{
        BOOL ok;
        g_mutex_lock(&c->lock);
        ok = freerdp_input_send_mouse_event(c->ctx->input, flags, x, y);
        g_mutex_unlock(&c->lock);
        return ok;
}

void tclient_vanish(struct tclient *c)
{
        /* Find this client's TCP socket: the one connected to the server's
         * port (FreeRDP does not hand it out). */
        uint16_t port = (uint16_t)c->ctx->settings->ServerPort;
        for (int fd = 3; fd < 1024; fd++) {
                struct sockaddr_in a;
                socklen_t len = sizeof(a);
                if (getpeername(fd, (struct sockaddr *)&a, &len) == 0 && a.sin_family == AF_INET &&
                    ntohs(a.sin_port) == port)
                        shutdown(fd, SHUT_RDWR);
        }
}
