/* RDP server for one desktop (DESIGN.md §5): FreeRDP 2 server library, TLS
 * with the host certificate, NLA against one-time tickets, the graphics
 * pipeline with H.264 AVC420 (GStreamer, protocols/encode) and a lossless
 * planar fallback, keyboard and pointer to the display source.
 *
 * One server per vdi-vm process, one listening socket per server, one
 * thread per connected client. The listening socket and the frame tick
 * (collect_damage at cfg->fps) run on the GMainContext given to start; the
 * caller iterates that context.
 *
 * Clipboard (cliprdr, text) is bridged to the guest's spice-vdagent once
 * the agent port is attached (rdp_server_agent_attach). Audio and drive
 * redirection: not wired. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocols/agent/clip.h"
#include "protocols/display.h"

struct rdp_server;

struct rdp_server_config {
        const char *bind_address; /* NULL → "127.0.0.1" */
        uint16_t port;            /* 0 → ephemeral; see rdp_server_port */
        const char *cert_file;    /* PEM certificate chain (required) */
        const char *key_file;     /* PEM private key (required) */
        /* Parent of the private runtime directory (0700) that holds the NTLM
         * SAM file; NULL → $XDG_RUNTIME_DIR, else /tmp. */
        const char *runtime_dir;
        /* Also accept TLS without NLA (the client then sends the one-time
         * password in its Client Info PDU). RDP security is never accepted. */
        bool allow_tls_only;
        bool disable_h264;         /* never offer AVC420 (planar only) */
        const char *h264_encoder;  /* force a GStreamer element; NULL → auto */
        unsigned h264_qp;          /* 0 → 22 */
        unsigned max_frames_in_flight; /* unacknowledged GFX frames; 0 → 2 */
        unsigned fps;              /* damage tick rate; 0 → 30 */
        /* Clipboard directions that pass (AGENT_CLIP_BOTH is 3; zero-filled
         * configs get AGENT_CLIP_NONE: say BOTH to have a clipboard). */
        enum agent_clip_policy clipboard;
        /* Admitted sessions starting and ending (display-server.h). */
        void (*client_event)(void *opaque, const char *protocol, bool connected, const char *peer);
        void *client_event_opaque;
};

/* Counters over the server's life, all clients together. */
struct rdp_server_stats {
        uint64_t frames;        /* frames sent */
        uint64_t bytes;         /* encoded picture bytes sent */
        uint64_t h264_frames;   /* of which AVC420 */
        uint64_t planar_frames; /* of which planar over the graphics pipeline */
        uint64_t bitmap_frames; /* of which planar bitmap updates (no pipeline) */
        uint64_t throttled;     /* ticks skipped waiting for frame acknowledgements */
        uint64_t logons;        /* sessions admitted with a ticket */
        uint64_t refused;       /* connections refused after the handshake */
        unsigned peers;         /* clients connected now */
};

/* Start listening. The server reads the display through source (which must
 * outlive the server) and attaches its sources to ctx (NULL: the global
 * default context). 0 or -errno; on failure *error (malloc'd) names the
 * cause, e.g. the certificate file that cannot be read. */
int rdp_server_start(const struct rdp_server_config *cfg, struct display_source source,
                     GMainContext *ctx, struct rdp_server **out, char **error);

/* Install a one-time credential for user (from the broker): the NT hash of
 * password goes into the server's private SAM file. It admits one logon and
 * is then removed; it is removed at expiry in any case. A new ticket for
 * the same user replaces the old one. The password is not kept. 0 or -errno
 * (-EINVAL: empty or malformed user or password, expiry 0). */
int rdp_server_set_ticket(struct rdp_server *srv, const char *user, const char *password,
                          unsigned expiry_seconds);

/* The TCP port the server listens on. */
/* Ask every connected client's session to end and drop the tickets not
 * yet used; the server keeps listening. The number of sessions asked. */
unsigned rdp_server_disconnect(struct rdp_server *srv);
uint16_t rdp_server_port(const struct rdp_server *srv);

void rdp_server_get_stats(struct rdp_server *srv, struct rdp_server_stats *out);

/* Move up to max recorded per-frame encode durations (microseconds, oldest
 * first) into us; returns how many. At most the last 4096 are kept. */
size_t rdp_server_take_encode_times(struct rdp_server *srv, uint32_t *us, size_t max);

/* The same server is also behind protocols/display-server.h as
 * rdp_display_server_ops (rdp-display-server.c), with the agent calls
 * above for such a server: */
struct display_server;
struct rdp_agent_port;
int rdp_display_agent_attach(struct display_server *ds, const struct rdp_agent_port *port, void *opaque);
void rdp_display_agent_pump(struct display_server *ds);
void rdp_display_agent_detach(struct display_server *ds);

/* The guest agent's port (vdi-vm: virtio-console com.redhat.spice.0),
 * whose spice-vdagent carries the clipboard. */
struct rdp_agent_port {
        /* Bytes for the guest agent: how many were taken (0: full). */
        int (*write)(void *opaque, const uint8_t *buf, size_t len);
        /* Bytes from the guest agent: how many were stored (0: none). */
        int (*read)(void *opaque, uint8_t *buf, size_t len);
        /* Any thread: bytes are queued for the guest; have the display
         * thread call rdp_server_agent_pump soon. */
        void (*wake)(void *opaque);
};

/* Serve the clipboard through port (which must outlive the attachment):
 * announce ourselves to the guest agent, which offers its clipboard
 * again. Display thread (the one iterating ctx), like pump and detach.
 * 0 or -errno. */
int rdp_server_agent_attach(struct rdp_server *srv, const struct rdp_agent_port *port, void *opaque);
/* The port has data or room: read the guest's messages, write ours. */
void rdp_server_agent_pump(struct rdp_server *srv);
/* Stop using the port; clients' clipboards no longer offer the guest's. */
void rdp_server_agent_detach(struct rdp_server *srv);

/* Disconnect every client, stop listening, remove the SAM file and the
 * private directory, free srv. NULL is fine. Call from the thread that
 * iterates ctx (or with ctx not being iterated). */
void rdp_server_stop(struct rdp_server *srv);
