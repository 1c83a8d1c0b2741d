/* The clipboard channel (MS-RDPECLIP, FreeRDP's cliprdr server) bridged
 * to the guest's spice-vdagent through protocols/agent/clip.h: text only,
 * CF_UNICODETEXT on the RDP side, UTF-8 on the agent's.
 *
 * Threads: the agent port is pumped on the display thread (attach, pump,
 * detach); cliprdr's callbacks run on its channel thread; each peer's
 * thread announces the guest's text to its client (rdp_clip_poll). The
 * server's clip_lock guards the bridge, the bytes queued for the guest and
 * the guest's text. Everything a client sends is untrusted: PDUs nobody
 * asked for, formats we do not offer and oversized or malformed text are
 * refused in the log, and the session goes on. */
#include "config.h"

#include <errno.h>
#include <freerdp/channels/cliprdr.h>
#include <freerdp/server/cliprdr.h>
#include <stdlib.h>
#include <string.h>
#include <winpr/user.h>

#include "internal.h"
#include "log.h"

/* Biggest data response we read: the longest text in UTF-16 with its NUL. */
#define CLIP_UTF16_MAX (2 * ((size_t)AGENT_CLIP_TEXT_MAX + 1))

static void refuse(struct rdp_peer *p, const char *why)
{
        log_notice("rdp_clipboard_refused", "port=%u reason=\"%s\"", p->srv->port, why);
}

/* ---- the agent side (display thread, clip_lock held by the callers) ---- */

static int queue_for_guest(void *opaque, const uint8_t *buf, size_t len)
{
        struct rdp_server *srv = opaque;

        g_byte_array_append(srv->clip_out, buf, (guint)len);
        return 0;
}

static void guest_text(void *opaque, const char *text, size_t len)
{
        struct rdp_server *srv = opaque;

        g_free(srv->clip_text);
        srv->clip_text = text ? g_strndup(text, len) : NULL;
        srv->clip_len = text ? len : 0;
        srv->clip_serial++;
}

static const struct agent_clip_ops clip_ops = { .to_guest = queue_for_guest, .guest_text = guest_text };

static void wake_peers(struct rdp_server *srv)
{
        g_mutex_lock(&srv->lock);
        for (guint i = 0; i < srv->peers->len; i++)
                SetEvent(((struct rdp_peer *)g_ptr_array_index(srv->peers, i))->update_event);
        g_mutex_unlock(&srv->lock);
}

int rdp_server_agent_attach(struct rdp_server *srv, const struct rdp_agent_port *port, void *opaque)
{
        struct agent_clip *c = agent_clip_new(&clip_ops, srv, srv->cfg.clipboard);
        int r;

        if (!c)
                return -ENOMEM;
        g_mutex_lock(&srv->clip_lock);
        agent_clip_free(srv->clip);
        srv->clip = c;
        srv->agent = port;
        srv->agent_opaque = opaque;
        g_byte_array_set_size(srv->clip_out, 0);
        r = agent_clip_start(c);
        g_mutex_unlock(&srv->clip_lock);
        log_info("rdp_agent_attached", "port=%u clipboard=%s", srv->port,
                 agent_clip_policy_name(srv->cfg.clipboard));
        rdp_server_agent_pump(srv);
        return r;
}

void rdp_server_agent_detach(struct rdp_server *srv)
{
        g_mutex_lock(&srv->clip_lock);
        agent_clip_free(srv->clip);
        srv->clip = NULL;
        srv->agent = NULL;
        g_byte_array_set_size(srv->clip_out, 0);
        g_free(srv->clip_text);
        srv->clip_text = NULL;
        srv->clip_serial++;
        g_mutex_unlock(&srv->clip_lock);
        wake_peers(srv);
}

/* Write what the port takes of the queue. */
static void flush_out(struct rdp_server *srv)
{
        while (srv->clip_out->len) {
                int n = srv->agent->write(srv->agent_opaque, srv->clip_out->data, srv->clip_out->len);
                if (n <= 0)
                        break;
                g_byte_array_remove_range(srv->clip_out, 0, (guint)n);
        }
}

void rdp_server_agent_pump(struct rdp_server *srv)
{
        uint8_t buf[4096];
        uint64_t serial;
        int n;

        g_mutex_lock(&srv->clip_lock);
        if (!srv->clip) {
                g_mutex_unlock(&srv->clip_lock);
                return;
        }
        serial = srv->clip_serial;
        flush_out(srv);
        while ((n = srv->agent->read(srv->agent_opaque, buf, sizeof(buf))) > 0) {
                int r = agent_clip_guest_bytes(srv->clip, buf, (size_t)n);
                if (r == -EPROTO) {
                        log_warning("rdp_agent_stream", "port=%u error=\"the guest agent broke the "
                                    "SPICE agent framing\" effect=\"announcing again\"", srv->port);
                        agent_clip_start(srv->clip);
                }
                flush_out(srv);
        }
        serial = serial != srv->clip_serial;
        g_mutex_unlock(&srv->clip_lock);
        if (serial)
                wake_peers(srv);
}

/* ---- the client side ---- */

static struct rdp_peer *peer_of(CliprdrServerContext *c)
{
        return c->custom;
}

static UINT on_client_caps(CliprdrServerContext *c, const CLIPRDR_CAPABILITIES *caps)
{
        (void)c;
        (void)caps;
        return CHANNEL_RC_OK;
}

static bool offers_text(const CLIPRDR_FORMAT_LIST *list)
{
        for (UINT32 i = 0; list->formats && i < list->numFormats; i++)
                if (list->formats[i].formatId == CF_UNICODETEXT)
                        return true;
        return false;
}

/* The client copied something: acknowledge, and ask for its text when
 * the policy lets client text into the guest. The first list also says
 * the client finished its initialisation: our list may go out. */
static UINT on_client_format_list(CliprdrServerContext *c, const CLIPRDR_FORMAT_LIST *list)
{
        struct rdp_peer *p = peer_of(c);
        CLIPRDR_FORMAT_LIST_RESPONSE ok = { .msgType = CB_FORMAT_LIST_RESPONSE, .msgFlags = CB_RESPONSE_OK };
        CLIPRDR_FORMAT_DATA_REQUEST req = { .msgType = CB_FORMAT_DATA_REQUEST, .dataLen = 4,
                                            .requestedFormatId = CF_UNICODETEXT };
        UINT r = c->ServerFormatListResponse(c, &ok);

        if (!g_atomic_int_get(&p->clip_ready)) {
                g_atomic_int_set(&p->clip_ready, 1);
                SetEvent(p->update_event);
        }
        if (r != CHANNEL_RC_OK || !offers_text(list))
                return r;
        if (!(p->srv->cfg.clipboard & AGENT_CLIP_CLIENT_TO_GUEST)) {
                refuse(p, "the pool's clipboard policy keeps client text from the desktop");
                return CHANNEL_RC_OK;
        }
        g_atomic_int_inc(&p->clip_asked);
        return c->ServerFormatDataRequest(c, &req);
}

static UINT on_client_format_list_response(CliprdrServerContext *c, const CLIPRDR_FORMAT_LIST_RESPONSE *resp)
{
        (void)c;
        (void)resp;
        return CHANNEL_RC_OK;
}

/* The client pastes: the guest's text as CF_UNICODETEXT, else a failure. */
static UINT on_client_data_request(CliprdrServerContext *c, const CLIPRDR_FORMAT_DATA_REQUEST *req)
{
        struct rdp_peer *p = peer_of(c);
        struct rdp_server *srv = p->srv;
        CLIPRDR_FORMAT_DATA_RESPONSE resp = { .msgType = CB_FORMAT_DATA_RESPONSE, .msgFlags = CB_RESPONSE_FAIL };
        uint8_t *utf16 = NULL;
        size_t len = 0;
        UINT r;

        g_mutex_lock(&srv->clip_lock);
        if (req->requestedFormatId == CF_UNICODETEXT && srv->clip_text &&
            agent_clip_to_utf16(srv->clip_text, srv->clip_len, &utf16, &len) == 0) {
                resp.msgFlags = CB_RESPONSE_OK;
                resp.dataLen = (UINT32)len;
                resp.requestedFormatData = utf16;
        }
        g_mutex_unlock(&srv->clip_lock);
        if (resp.msgFlags == CB_RESPONSE_FAIL)
                refuse(p, req->requestedFormatId == CF_UNICODETEXT ? "no text from the desktop to paste"
                                                                    : "format not offered (only CF_UNICODETEXT)");
        r = c->ServerFormatDataResponse(c, &resp);
        g_free(utf16);
        return r;
}

/* Hand text from the client to the bridge; the display thread sends it. */
static void client_text(struct rdp_peer *p, const char *text, size_t len)
{
        struct rdp_server *srv = p->srv;
        const struct rdp_agent_port *port;
        void *opaque;
        int r = -ENODEV;

        g_mutex_lock(&srv->clip_lock);
        if (srv->clip)
                r = agent_clip_client_text(srv->clip, text, len);
        port = srv->agent;
        opaque = srv->agent_opaque;
        g_mutex_unlock(&srv->clip_lock);
        if (r == 0 && port && port->wake)
                port->wake(opaque);
        if (r == -ENODEV)
                refuse(p, "no guest agent (the desktop's spice-vdagent is not running)");
        else if (r < 0)
                refuse(p, g_strerror(-r));
        else
                log_info("rdp_clipboard", "port=%u direction=client-to-guest bytes=%zu", srv->port, len);
}

/* The client's text, which we asked for. */
static UINT on_client_data_response(CliprdrServerContext *c, const CLIPRDR_FORMAT_DATA_RESPONSE *resp)
{
        struct rdp_peer *p = peer_of(c);
        char *text;
        size_t len;

        /* Responses come in the order of our requests: one per request. */
        if (g_atomic_int_get(&p->clip_asked) <= 0) {
                refuse(p, "clipboard data without a request");
                return CHANNEL_RC_OK;
        }
        g_atomic_int_dec_and_test(&p->clip_asked);
        if (resp->msgFlags != CB_RESPONSE_OK)
                return CHANNEL_RC_OK; /* the client had nothing after all */
        if (resp->dataLen > CLIP_UTF16_MAX || (resp->dataLen && !resp->requestedFormatData)) {
                refuse(p, "clipboard text larger than 1 MiB");
                return CHANNEL_RC_OK;
        }
        if (agent_clip_from_utf16(resp->requestedFormatData, resp->dataLen, &text, &len) < 0) {
                refuse(p, "clipboard text is not UTF-16 (odd length or unpaired surrogate)");
                return CHANNEL_RC_OK;
        }
        client_text(p, text, len);
        g_free(text);
        return CHANNEL_RC_OK;
}

bool rdp_clip_open(struct rdp_peer *p)
{
        CliprdrServerContext *c;

        if (!WTSVirtualChannelManagerIsChannelJoined(p->vcm, CLIPRDR_SVC_CHANNEL_NAME))
                return false;
        c = cliprdr_server_context_new(p->vcm);
        if (!c)
                return false;
        c->custom = p;
        c->rdpcontext = p->client->context;
        c->useLongFormatNames = TRUE;
        c->streamFileClipEnabled = FALSE;
        c->fileClipNoFilePaths = TRUE;
        c->canLockClipData = FALSE;
        c->autoInitializationSequence = TRUE; /* capabilities and monitor ready */
        c->ClientCapabilities = on_client_caps;
        c->ClientFormatList = on_client_format_list;
        c->ClientFormatListResponse = on_client_format_list_response;
        c->ClientFormatDataRequest = on_client_data_request;
        c->ClientFormatDataResponse = on_client_data_response;
        if (c->Start(c) != CHANNEL_RC_OK) {
                cliprdr_server_context_free(c);
                return false;
        }
        p->cliprdr = c;
        return true;
}

/* Peer thread: tell the client when the guest's clipboard changed. */
void rdp_clip_poll(struct rdp_peer *p)
{
        struct rdp_server *srv = p->srv;
        CLIPRDR_FORMAT text = { .formatId = CF_UNICODETEXT };
        CLIPRDR_FORMAT_LIST list = { .msgType = CB_FORMAT_LIST };
        uint64_t serial;

        if (!p->cliprdr || !g_atomic_int_get(&p->clip_ready))
                return;
        g_mutex_lock(&srv->clip_lock);
        serial = srv->clip_serial;
        if (srv->clip_text) {
                list.numFormats = 1;
                list.formats = &text;
        }
        g_mutex_unlock(&srv->clip_lock);
        if (serial == p->clip_sent)
                return;
        p->clip_sent = serial;
        if (p->cliprdr->ServerFormatList(p->cliprdr, &list) == CHANNEL_RC_OK && list.numFormats)
                log_info("rdp_clipboard", "port=%u direction=guest-to-client offered=text", srv->port);
}

void rdp_clip_close(struct rdp_peer *p)
{
        if (!p->cliprdr)
                return;
        p->cliprdr->Stop(p->cliprdr);
        cliprdr_server_context_free(p->cliprdr);
        p->cliprdr = NULL;
}
