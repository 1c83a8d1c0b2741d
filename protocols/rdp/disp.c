/* The Display Control virtual channel (MS-RDPEDISP): a client whose window
 * was resized, or that has several monitors, asks for a new layout; it
 * becomes a display_source request_layout call. The guest's new mode then
 * reaches the client like any mode change (ResetGraphics or DesktopResize). */
#include "config.h"

#include <errno.h>
#include <freerdp/channels/wtsvc.h>
#include <freerdp/server/disp.h>
#include <glib.h>

#include "log.h"
#include "protocols/display.h"
#include "rdp-server.h"
#include "internal.h"

static BOOL on_channel_id(DispServerContext *d, UINT32 id)
{
        struct rdp_peer *p = d->custom;

        g_atomic_int_set(&p->disp_channel_id, (gint)id);
        return TRUE;
}

/* The client's answer to our creation request (peer thread). Every dynamic
 * channel comes here; only the display channel is of interest. */
static BOOL on_dvc_created(void *opaque, UINT32 id, INT32 status)
{
        struct rdp_peer *p = opaque;

        if (p->disp && (gint)id == g_atomic_int_get(&p->disp_channel_id) && p->disp_state == RDP_DISP_OPENING) {
                p->disp_state = status >= 0 ? RDP_DISP_READY : RDP_DISP_FAILED;
                if (status < 0)
                        log_info("rdp_display_control", "port=%u available=no", p->srv->port);
        }
        return TRUE;
}

/* A layout from the client (FreeRDP's channel thread). A bad one is
 * refused in the log and the session goes on. */
static UINT on_layout(DispServerContext *d, const DISPLAY_CONTROL_MONITOR_LAYOUT_PDU *pdu)
{
        struct rdp_peer *p = d->custom;
        const struct display_source *src = &p->srv->source;
        struct display_head heads[DISPLAY_MAX_HEADS];
        unsigned n = 0;
        char why[160];
        int r;

        if (pdu->NumMonitors == 0 || pdu->NumMonitors > DISPLAY_MAX_HEADS || !pdu->Monitors) {
                log_notice("rdp_layout_refused", "port=%u reason=\"%u monitors: 1 to %u are supported\"",
                           p->srv->port, pdu->NumMonitors, DISPLAY_MAX_HEADS);
                return CHANNEL_RC_OK;
        }
        /* The primary monitor first, the others in the client's order. */
        for (int pass = 0; pass < 2; pass++)
                for (UINT32 i = 0; i < pdu->NumMonitors; i++) {
                        const DISPLAY_CONTROL_MONITOR_LAYOUT *m = &pdu->Monitors[i];
                        bool primary = (m->Flags & DISPLAY_CONTROL_MONITOR_PRIMARY) != 0;
                        if (primary != (pass == 0) || (pass == 0 && n == 1))
                                continue;
                        heads[n++] = (struct display_head){ m->Left, m->Top, m->Width, m->Height };
                }
        if (n != pdu->NumMonitors) {
                log_notice("rdp_layout_refused", "port=%u reason=\"%u monitors marked primary\"", p->srv->port,
                           pdu->NumMonitors - n + 1);
                return CHANNEL_RC_OK;
        }
        r = display_request_layout(src, heads, n, why, sizeof(why));
        if (why[0]) {
                log_notice("rdp_layout_refused", "port=%u reason=\"%s\"", p->srv->port, why);
                return CHANNEL_RC_OK;
        }
        log_info("rdp_layout_request", "port=%u heads=%u width=%u height=%u result=%s", p->srv->port, n,
                 heads[0].width, heads[0].height, r == 0 ? "asked" : g_strerror(-r));
        return CHANNEL_RC_OK;
}

bool rdp_disp_open(struct rdp_peer *p)
{
        DispServerContext *d = disp_server_context_new(p->vcm);

        if (!d)
                return false;
        d->custom = p;
        d->rdpcontext = p->client->context;
        d->MaxNumMonitors = DISPLAY_MAX_HEADS;
        d->MaxMonitorAreaFactorA = DISPLAY_HEAD_MAX;
        d->MaxMonitorAreaFactorB = DISPLAY_HEAD_MAX;
        d->DispMonitorLayout = on_layout;
        d->ChannelIdAssigned = on_channel_id;
        p->disp = d;
        p->disp_state = RDP_DISP_OPENING;
        WTSVirtualChannelManagerSetDVCCreationCallback(p->vcm, on_dvc_created, p);
        if (d->Open(d) != CHANNEL_RC_OK) {
                p->disp = NULL;
                p->disp_state = RDP_DISP_FAILED;
                disp_server_context_free(d);
                return false;
        }
        return true;
}

void rdp_disp_poll(struct rdp_peer *p)
{
        if (p->disp && p->disp_state == RDP_DISP_READY) {
                p->disp_state = p->disp->DisplayControlCaps(p->disp) == CHANNEL_RC_OK ? RDP_DISP_ON : RDP_DISP_FAILED;
                log_info("rdp_display_control", "port=%u available=%s", p->srv->port,
                         p->disp_state == RDP_DISP_ON ? "yes" : "no");
        }
}

void rdp_disp_close(struct rdp_peer *p)
{
        if (!p->disp)
                return;
        p->disp->Close(p->disp);
        disp_server_context_free(p->disp);
        p->disp = NULL;
}
