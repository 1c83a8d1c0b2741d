/* Private to protocols/rdp: the server, its peers and the ticket store. */
#pragma once

#include <freerdp/codec/planar.h>
#include <freerdp/codec/region.h>
#include <freerdp/freerdp.h>
#include <freerdp/listener.h>
#include <freerdp/peer.h>
#include <freerdp/server/cliprdr.h>
#include <freerdp/server/disp.h>
#include <freerdp/server/rdpgfx.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "protocols/agent/clip.h"
#include "protocols/display.h"
#include "protocols/encode/h264enc.h"
#include "rdp-server.h"

#define RDP_ENCODE_TIMES 4096

/* One-time credentials: user → NT hash, mirrored into the SAM file. */
struct rdp_ticket {
        char *user;
        uint8_t nt_hash[16];
        int64_t expires_us; /* g_get_monotonic_time() */
};

struct rdp_tickets {
        GMutex lock;
        GPtrArray *list; /* struct rdp_ticket * */
        char *parent;    /* where dir is made */
        char *dir;       /* private runtime directory, 0700; made at the first ticket */
        char *sam_path;  /* dir/sam, 0600 */
};

int rdp_tickets_init(struct rdp_tickets *t, const char *parent, char **error);
void rdp_tickets_fini(struct rdp_tickets *t);
/* A copy of the SAM file's path (free()), NULL before the first ticket. */
char *rdp_tickets_sam_path(struct rdp_tickets *t);
int rdp_tickets_set(struct rdp_tickets *t, const char *user, const char *password,
                    unsigned expiry_seconds);
/* Consume user's ticket after NLA admitted it (the SAM entry matched).
 * true when a live ticket was there (it is now gone). */
bool rdp_tickets_consume(struct rdp_tickets *t, const char *user);
/* Same for TLS-only logons: the password is checked against the hash. */
bool rdp_tickets_consume_password(struct rdp_tickets *t, const char *user, const char *password);
/* Drop expired tickets (and rewrite the SAM file when any went). */
void rdp_tickets_expire(struct rdp_tickets *t);
/* Drop every ticket (an admin disconnected the user). */
void rdp_tickets_clear(struct rdp_tickets *t);

struct rdp_peer;

struct rdp_server {
        struct rdp_server_config cfg; /* strings owned below */
        char *bind_address, *cert_file, *key_file, *h264_encoder;
        /* The certificate and key, read once at start: vdi-vm drops root
         * after starting its servers, and the key file stays root-only. */
        char *cert_pem, *key_pem;
        struct display_source source;
        GMainContext *ctx;
        GSource *listen_src, *tick_src;
        int listen_fd;
        uint16_t port;
        struct rdp_tickets tickets;

        GMutex lock; /* peers, stats, surface, encode times */
        GPtrArray *peers; /* struct rdp_peer * */
        struct display_surface surface;
        bool have_surface;
        struct rdp_server_stats stats;
        uint32_t enc_us[RDP_ENCODE_TIMES];
        size_t enc_head, enc_count;
        struct display_cursor *cursor;      /* under lock; NULL until the source has one */
        struct display_cursor *cursor_next; /* the tick's buffer */

        /* clip.c: the guest agent's clipboard. The port is pumped on the
         * display thread; clip_lock guards the fields below. */
        GMutex clip_lock;
        struct agent_clip *clip;            /* NULL: no agent attached */
        const struct rdp_agent_port *agent;
        void *agent_opaque;
        GByteArray *clip_out;               /* framed bytes for the guest */
        char *clip_text;                    /* the guest's text (UTF-8), NULL: none */
        size_t clip_len;
        uint64_t clip_serial;               /* bumped when clip_text changes */
};

/* Per-connection state; the FreeRDP context embeds a pointer to it. */
struct rdp_peer {
        struct rdp_server *srv;
        freerdp_peer *client;
        GThread *thread;
        HANDLE stop_event;   /* manual reset: leave now */
        HANDLE update_event; /* auto reset: damage or acknowledgement arrived */
        HANDLE vcm;
        gint done;           /* thread finished; reap it */

        GMutex lock;          /* fields below: touched by the tick and the gfx thread */
        REGION16 pending;     /* damage not yet sent */
        bool full_refresh;
        uint32_t width, height; /* geometry the client knows */
        uint64_t generation;
        uint32_t next_frame_id, acked_frame_id;
        bool ack_suspended;
        bool gfx_ready, gfx_failed, gfx_avc, gfx_reset;

        /* Peer thread only. */
        bool authorized, refused, activated, suppress;
        char *user;
        RdpgfxServerContext *gfx;
        bool gfx_opened, surface_created;
        DispServerContext *disp; /* display control: layout requests */
        enum { RDP_DISP_NONE, RDP_DISP_OPENING, RDP_DISP_READY, RDP_DISP_ON, RDP_DISP_FAILED } disp_state;
        gint disp_channel_id;
        struct h264enc *enc;
        bool enc_failed;
        BITMAP_PLANAR_CONTEXT *planar;
        uint32_t buttons;
        uint32_t last_x, last_y;
        uint8_t *tile; /* staging for one planar tile */
        uint64_t cursor_sent; /* serial of the pointer the client has */
        bool cursor_sent_any;
        CliprdrServerContext *cliprdr; /* clipboard channel, NULL: none */
        bool clip_tried;
        gint clip_ready;  /* the client sent its first format list */
        gint clip_asked;  /* our requests for the client's text not answered yet */
        uint64_t clip_sent; /* clip_serial the client was told of */
};

struct rdp_peer_context {
        rdpContext base;
        struct rdp_peer *peer;
};

/* peer.c */
int rdp_peer_spawn(struct rdp_server *srv, int fd);
void rdp_peer_reap(struct rdp_peer *p); /* join and free a finished peer */

/* input.c */
void rdp_input_register(struct rdp_peer *p);

/* gfx.c: the graphics pipeline. */
bool rdp_gfx_open(struct rdp_peer *p);
void rdp_gfx_close(struct rdp_peer *p);
/* Send the damaged region of the surface. 0, or -errno to drop the peer. */
int rdp_gfx_send(struct rdp_peer *p, const struct display_surface *s, const REGION16 *damage,
                 bool reset);

/* disp.c: the display control channel. Open once drdynvc is ready; poll
 * from the peer thread (sends the capabilities once the client took the
 * channel); close at the end. */
bool rdp_disp_open(struct rdp_peer *p);
void rdp_disp_poll(struct rdp_peer *p);
void rdp_disp_close(struct rdp_peer *p);

/* clip.c: the clipboard channel. Open after activation (false: the
 * client did not join cliprdr); poll from the peer thread; close at the
 * end. */
bool rdp_clip_open(struct rdp_peer *p);
void rdp_clip_poll(struct rdp_peer *p);
void rdp_clip_close(struct rdp_peer *p);

/* legacy.c: planar bitmap updates for clients without the pipeline. */
int rdp_legacy_send(struct rdp_peer *p, const struct display_surface *s, const REGION16 *damage);

/* pointer.c: the hardware cursor. The tick polls it (true: it changed,
 * wake the peers); each peer's thread sends what its client lacks (0, or
 * -errno to drop the peer). */
bool rdp_pointer_poll(struct rdp_server *srv);
int rdp_pointer_update(struct rdp_peer *p);

/* server.c */
void rdp_server_record_frame(struct rdp_server *srv, int kind, size_t bytes, uint32_t encode_us);
enum { RDP_FRAME_H264, RDP_FRAME_PLANAR, RDP_FRAME_BITMAP };
