/* One RDP client: its thread, security and logon, activation, and the
 * decision when to send a frame (gfx.c and legacy.c do the encoding). */
#include "config.h"

#include <errno.h>
#include <freerdp/channels/channels.h>
#include <freerdp/channels/wtsvc.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <winpr/sspi.h>
#include <winpr/string.h>
#include <winpr/synch.h>
#include <winpr/wtsapi.h>

#include "internal.h"
#include "log.h"
#include "macro.h"
#include "tls-policy.h"

static struct rdp_peer *peer_of(rdpContext *c)
{
        return ((struct rdp_peer_context *)c)->peer;
}

/* Called by FreeRDP after the security handshake. automatic means NLA
 * succeeded: the client proved it knows the password of a SAM entry, i.e.
 * of a live ticket; the ticket is consumed here so it works once. */
static BOOL on_logon(freerdp_peer *client, SEC_WINNT_AUTH_IDENTITY *identity, BOOL automatic)
{
        struct rdp_peer *p = peer_of(client->context);
        char *user = NULL;

        if (!automatic)
                return TRUE; /* TLS-only: checked in on_post_connect */
        if (identity && identity->User && identity->UserLength > 0 &&
            ConvertFromUnicode(CP_UTF8, 0, (LPCWSTR)identity->User, (int)identity->UserLength,
                               &user, 0, NULL, NULL) > 0 &&
            rdp_tickets_consume(&p->srv->tickets, user)) {
                p->authorized = true;
                p->user = user;
                log_info("rdp_logon", "port=%u security=nla", p->srv->port);
                return TRUE;
        }
        free(user);
        p->refused = true;
        log_notice("rdp_logon_refused", "port=%u security=nla reason=ticket_used_or_expired",
                   p->srv->port);
        return FALSE;
}

/* Wait (briefly) for the first frame tick to describe the surface. */
static bool wait_surface(struct rdp_peer *p, struct display_surface *s)
{
        for (int i = 0; i < 200; i++) {
                bool have;
                g_mutex_lock(&p->srv->lock);
                have = p->srv->have_surface;
                *s = p->srv->surface;
                g_mutex_unlock(&p->srv->lock);
                if (have)
                        return true;
                if (WaitForSingleObject(p->stop_event, 10) == WAIT_OBJECT_0)
                        return false;
        }
        return false;
}

static BOOL on_post_connect(freerdp_peer *client)
{
        struct rdp_peer *p = peer_of(client->context);
        rdpSettings *st = client->settings;
        struct display_surface s;

        if (!st->NlaSecurity) {
                /* TLS without NLA (only when configured): the Client Info PDU
                 * carried the user name and the one-time password. */
                if (!p->srv->cfg.allow_tls_only || !st->Username ||
                    !rdp_tickets_consume_password(&p->srv->tickets, st->Username, st->Password)) {
                        p->refused = true;
                        log_notice("rdp_logon_refused", "port=%u security=tls reason=%s",
                                   p->srv->port,
                                   p->srv->cfg.allow_tls_only ? "bad_ticket" : "nla_required");
                        return FALSE;
                }
                p->authorized = true;
                p->user = strdup(st->Username);
                log_info("rdp_logon", "port=%u security=tls", p->srv->port);
        }
        if (!p->authorized || p->refused)
                return FALSE;
        if (!wait_surface(p, &s))
                return FALSE;
        g_mutex_lock(&p->srv->lock);
        p->srv->stats.logons++;
        g_mutex_unlock(&p->srv->lock);
        if (st->DesktopWidth != s.width || st->DesktopHeight != s.height) {
                st->DesktopWidth = s.width;
                st->DesktopHeight = s.height;
                if (st->DesktopResize)
                        client->update->DesktopResize(client->update->context);
        }
        g_mutex_lock(&p->lock);
        p->width = s.width;
        p->height = s.height;
        p->generation = s.generation;
        g_mutex_unlock(&p->lock);
        /* The pipeline is offered only when the client announced it and
         * joined drdynvc; otherwise planar bitmap updates. */
        if (!WTSVirtualChannelManagerIsChannelJoined(p->vcm, "drdynvc"))
                st->SupportGraphicsPipeline = FALSE;
        return TRUE;
}

static BOOL on_activate(freerdp_peer *client)
{
        struct rdp_peer *p = peer_of(client->context);

        if (!p->authorized)
                return FALSE;
        /* Activate comes again after a reactivation: one event per session. */
        if (!p->activated && p->srv->cfg.client_event)
                p->srv->cfg.client_event(p->srv->cfg.client_event_opaque, "rdp", true,
                                         client->hostname[0] ? client->hostname : "unknown");
        p->activated = true;
        g_mutex_lock(&p->lock);
        p->full_refresh = true;
        g_mutex_unlock(&p->lock);
        SetEvent(p->update_event);
        log_info("rdp_activated", "port=%u width=%u height=%u gfx=%s", p->srv->port,
                 client->settings->DesktopWidth, client->settings->DesktopHeight,
                 client->settings->SupportGraphicsPipeline ? "yes" : "no");
        return TRUE;
}

static BOOL on_refresh_rect(rdpContext *c, BYTE count, const RECTANGLE_16 *areas)
{
        struct rdp_peer *p = peer_of(c);
        g_mutex_lock(&p->lock);
        if (count == 0 || !areas)
                p->full_refresh = true;
        for (BYTE i = 0; areas && i < count; i++) {
                RECTANGLE_16 r = areas[i];
                r.right = MIN(r.right, (UINT16)p->width);
                r.bottom = MIN(r.bottom, (UINT16)p->height);
                if (r.left < r.right && r.top < r.bottom)
                        region16_union_rect(&p->pending, &p->pending, &r);
        }
        g_mutex_unlock(&p->lock);
        SetEvent(p->update_event);
        return TRUE;
}

static BOOL on_suppress_output(rdpContext *c, BYTE allow, const RECTANGLE_16 *area)
{
        struct rdp_peer *p = peer_of(c);
        p->suppress = !allow;
        if (allow)
                on_refresh_rect(c, 0, NULL);
        return TRUE;
}

static BOOL peer_context_new(freerdp_peer *client, rdpContext *ctx)
{
        return TRUE;
}

static void peer_context_free(freerdp_peer *client, rdpContext *ctx)
{
}

/* Take the region to send now, or report why not. Returns false when
 * nothing is to be sent. */
static bool take_damage(struct rdp_peer *p, const struct display_surface *s, REGION16 *out,
                        bool *reset)
{
        bool gfx = p->client->settings->SupportGraphicsPipeline && !p->gfx_failed;
        bool send = false;

        g_mutex_lock(&p->lock);
        if (gfx && !p->gfx_ready) {
                g_mutex_unlock(&p->lock); /* wait for the caps exchange */
                return false;
        }
        if (gfx && !p->ack_suspended &&
            p->next_frame_id - 1 - p->acked_frame_id >= p->srv->cfg.max_frames_in_flight) {
                g_mutex_unlock(&p->lock);
                g_mutex_lock(&p->srv->lock);
                p->srv->stats.throttled++;
                g_mutex_unlock(&p->srv->lock);
                return false;
        }
        *reset = gfx && p->gfx_reset;
        if (s->generation != p->generation || s->width != p->width || s->height != p->height) {
                p->generation = s->generation;
                p->width = s->width;
                p->height = s->height;
                *reset = gfx;
                p->full_refresh = true;
        }
        if (*reset)
                p->full_refresh = true;
        p->gfx_reset = false;
        if (p->full_refresh) {
                RECTANGLE_16 all = { 0, 0, (UINT16)s->width, (UINT16)s->height };
                region16_clear(&p->pending);
                region16_union_rect(out, out, &all);
                p->full_refresh = false;
                send = true;
        } else if (!region16_is_empty(&p->pending)) {
                region16_copy(out, &p->pending);
                region16_clear(&p->pending);
                send = true;
        }
        g_mutex_unlock(&p->lock);
        return send;
}

static int send_update(struct rdp_peer *p)
{
        struct display_surface s;
        REGION16 damage;
        bool reset = false, have;
        int r = 0;

        if (!p->activated || p->suppress)
                return 0;
        g_mutex_lock(&p->srv->lock);
        have = p->srv->have_surface;
        s = p->srv->surface;
        g_mutex_unlock(&p->srv->lock);
        if (!have)
                return 0;
        if ((r = rdp_pointer_update(p)) < 0)
                return r;

        region16_init(&damage);
        if (take_damage(p, &s, &damage, &reset)) {
                rdpSettings *st = p->client->settings;
                if (st->SupportGraphicsPipeline && !p->gfx_failed) {
                        r = rdp_gfx_send(p, &s, &damage, reset);
                } else {
                        if (st->DesktopWidth != s.width || st->DesktopHeight != s.height) {
                                if (!st->DesktopResize) {
                                        log_notice("rdp_resize_unsupported", "port=%u",
                                                   p->srv->port);
                                        r = -EOPNOTSUPP;
                                } else {
                                        st->DesktopWidth = s.width;
                                        st->DesktopHeight = s.height;
                                        if (!p->client->update->DesktopResize(p->client->context))
                                                r = -EIO;
                                }
                        }
                        if (r == 0)
                                r = rdp_legacy_send(p, &s, &damage);
                }
        }
        region16_uninit(&damage);
        return r;
}

static void handle_drdynvc(struct rdp_peer *p)
{
        if (!WTSVirtualChannelManagerIsChannelJoined(p->vcm, "drdynvc"))
                return;
        switch (WTSVirtualChannelManagerGetDrdynvcState(p->vcm)) {
        case DRDYNVC_STATE_NONE:
                /* Kicks off the drdynvc capability exchange. */
                WTSVirtualChannelManagerCheckFileDescriptor(p->vcm);
                break;
        case DRDYNVC_STATE_READY:
                if (p->activated && p->disp_state == RDP_DISP_NONE && !rdp_disp_open(p))
                        log_info("rdp_display_control", "port=%u available=no", p->srv->port);
                rdp_disp_poll(p);
                if (p->activated && p->client->settings->SupportGraphicsPipeline && !p->gfx_opened) {
                        p->gfx_opened = true;
                        if (!rdp_gfx_open(p)) {
                                g_mutex_lock(&p->lock);
                                p->gfx_failed = true;
                                p->full_refresh = true;
                                g_mutex_unlock(&p->lock);
                                SetEvent(p->update_event);
                        }
                }
                break;
        case DRDYNVC_STATE_FAILED:
                if (!p->gfx_failed) {
                        g_mutex_lock(&p->lock);
                        p->gfx_failed = true;
                        p->full_refresh = true;
                        g_mutex_unlock(&p->lock);
                        SetEvent(p->update_event);
                }
                break;
        default:
                break;
        }
}

static gpointer peer_thread(gpointer data)
{
        struct rdp_peer *p = data;
        freerdp_peer *client = p->client;
        rdpSettings *st = client->settings;
        HANDLE handles[40];
        const char *why = "setup failed";
        bool why_update = false;

        /* Key material from memory (read at start, before any privilege
         * drop); no SAM file yet means no ticket was ever set: refuse. */
        st->CertificateContent = strdup(p->srv->cert_pem);
        st->PrivateKeyContent = strdup(p->srv->key_pem);
        st->NtlmSamFile = rdp_tickets_sam_path(&p->srv->tickets);
        if (!st->CertificateContent || !st->PrivateKeyContent || !st->NtlmSamFile)
                goto out;
        /* Mozilla "intermediate" (lib/tls-policy.h): TLS 1.2+, ECDHE with
         * AEAD suites only. */
        if (!freerdp_settings_set_string(st, FreeRDP_AllowedTlsCiphers,
                                         TLS_POLICY_OPENSSL_CIPHERS))
                goto out;
        st->TLSMinVersion = 0x0303; /* TLS1_2_VERSION */
        st->RdpSecurity = FALSE;
        st->TlsSecurity = p->srv->cfg.allow_tls_only;
        st->NlaSecurity = TRUE;
        st->Authentication = TRUE;
        st->ColorDepth = 32;
        st->SupportGraphicsPipeline = TRUE;
        st->GfxH264 = !p->srv->cfg.disable_h264;
        st->RefreshRect = TRUE;
        st->SuppressOutput = TRUE;
        st->HasExtendedMouseEvent = TRUE;
        st->HasHorizontalWheel = TRUE;
        st->UnicodeInput = TRUE;
        st->RemoteFxCodec = FALSE;
        st->NSCodec = FALSE;
        st->MultifragMaxRequestSize = 0xFFFFFF;
        client->Logon = on_logon;
        client->PostConnect = on_post_connect;
        client->Activate = on_activate;
        client->update->RefreshRect = on_refresh_rect;
        client->update->SuppressOutput = on_suppress_output;
        rdp_input_register(p);
        if (!client->Initialize(client))
                goto out;
        p->vcm = WTSOpenServerA((LPSTR)client->context);
        if (!p->vcm || p->vcm == INVALID_HANDLE_VALUE) {
                p->vcm = NULL;
                goto out;
        }

        for (;;) {
                DWORD n = client->GetEventHandles(client, handles, ARRAY_SIZE(handles) - 3);
                int r;
                if (n == 0) {
                        why = "no event handles";
                        break;
                }
                handles[n++] = WTSVirtualChannelManagerGetEventHandle(p->vcm);
                handles[n++] = p->stop_event;
                handles[n++] = p->update_event;
                if (WaitForMultipleObjects(n, handles, FALSE, INFINITE) == WAIT_FAILED) {
                        why = "wait failed";
                        break;
                }
                if (WaitForSingleObject(p->stop_event, 0) == WAIT_OBJECT_0) {
                        why = "server stopping";
                        break;
                }
                if (p->refused) {
                        why = "logon refused";
                        break;
                }
                if (!client->CheckFileDescriptor(client)) {
                        why = "client connection closed or unreadable";
                        break;
                }
                if (!WTSVirtualChannelManagerCheckFileDescriptor(p->vcm)) {
                        why = "virtual channel error";
                        break;
                }
                handle_drdynvc(p);
                if (p->activated && !p->clip_tried) {
                        p->clip_tried = true;
                        log_info("rdp_clipboard_channel", "port=%u available=%s", p->srv->port,
                                 rdp_clip_open(p) ? "yes" : "no");
                }
                if (WaitForSingleObject(p->update_event, 0) == WAIT_OBJECT_0) {
                        ResetEvent(p->update_event);
                        rdp_clip_poll(p);
                        if ((r = send_update(p)) < 0) {
                                why = g_strerror(-r);
                                why_update = true;
                                break;
                        }
                }
        }
out:
        /* Say why a session ended: an update that failed cuts the client
         * off, and nothing else would tell. */
        if (p->authorized && !p->refused)
                log_notice("rdp_session_end", "port=%u reason=\"%s%s\"", p->srv->port,
                         why_update ? "sending an update failed: " : "", why);
        if (p->refused || !p->authorized) {
                g_mutex_lock(&p->srv->lock);
                p->srv->stats.refused++;
                g_mutex_unlock(&p->srv->lock);
        }
        log_info("rdp_disconnected", "port=%u admitted=%s", p->srv->port,
                 p->authorized && !p->refused ? "yes" : "no");
        if (p->activated && p->srv->cfg.client_event)
                p->srv->cfg.client_event(p->srv->cfg.client_event_opaque, "rdp", false,
                                         client->hostname[0] ? client->hostname : "unknown");
        rdp_clip_close(p);
        rdp_disp_close(p);
        rdp_gfx_close(p);
        if (p->vcm)
                WTSCloseServer(p->vcm);
        p->vcm = NULL;
        client->Disconnect(client);
        g_atomic_int_set(&p->done, 1);
        return NULL;
}

int rdp_peer_spawn(struct rdp_server *srv, int fd)
{
        struct rdp_peer *p = calloc(1, sizeof(*p));
        freerdp_peer *client;

        if (!p) {
                close(fd);
                return -ENOMEM;
        }
        client = freerdp_peer_new(fd);
        if (!client) {
                close(fd);
                free(p);
                return -ENOMEM;
        }
        /* The client's address, as FreeRDP's own listener records it. */
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
                getnameinfo((struct sockaddr *)&ss, len, client->hostname, sizeof(client->hostname),
                            NULL, 0, NI_NUMERICHOST);
        p->srv = srv;
        p->client = client;
        g_mutex_init(&p->lock);
        region16_init(&p->pending);
        p->next_frame_id = 1;
        p->stop_event = CreateEvent(NULL, TRUE, FALSE, NULL);
        p->update_event = CreateEvent(NULL, TRUE, FALSE, NULL);
        client->ContextSize = sizeof(struct rdp_peer_context);
        client->ContextNew = peer_context_new;
        client->ContextFree = peer_context_free;
        if (!p->stop_event || !p->update_event || !freerdp_peer_context_new(client)) {
                p->done = 1;
                rdp_peer_reap(p);
                return -ENOMEM;
        }
        ((struct rdp_peer_context *)client->context)->peer = p;

        g_mutex_lock(&srv->lock);
        g_ptr_array_add(srv->peers, p);
        p->thread = g_thread_try_new("rdp-peer", peer_thread, p, NULL);
        if (!p->thread)
                g_ptr_array_remove_fast(srv->peers, p);
        g_mutex_unlock(&srv->lock);
        if (!p->thread) {
                p->done = 1;
                rdp_peer_reap(p);
                return -EAGAIN;
        }
        return 0;
}

void rdp_peer_reap(struct rdp_peer *p)
{
        if (p->thread)
                g_thread_join(p->thread);
        if (p->client) {
                /* FreeRDP 2 copies the NLA identity into the peer and never
                 * frees it. */
                SEC_WINNT_AUTH_IDENTITY *id = &p->client->identity;
                if (id->Password)
                        memset(id->Password, 0, (size_t)id->PasswordLength * 2);
                free(id->User);
                free(id->Domain);
                free(id->Password);
                memset(id, 0, sizeof(*id));
                if (p->client->context)
                        freerdp_peer_context_free(p->client);
                freerdp_peer_free(p->client);
        }
        h264enc_free(p->enc);
        if (p->planar)
                freerdp_bitmap_planar_context_free(p->planar);
        free(p->tile);
        free(p->user);
        region16_uninit(&p->pending);
        if (p->stop_event)
                CloseHandle(p->stop_event);
        if (p->update_event)
                CloseHandle(p->update_event);
        g_mutex_clear(&p->lock);
        free(p);
}
