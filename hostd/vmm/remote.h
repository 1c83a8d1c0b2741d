/* vdi-vm's remote display: the SPICE, RDP and web servers of
 * protocols/display-server.h serving the VM's framebuffer and input, on a
 * GLib main loop thread of their own. Only vdi-vm links this (libvmm stays
 * free of protocol libraries). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "protocols/display.h"

struct remote_options {
        const char *listen;   /* NULL = 127.0.0.1 */
        uint16_t spice_port;  /* 0 = no SPICE */
        uint16_t rdp_port;    /* 0 = no RDP */
        uint16_t web_port;    /* 0 = no web display (WebSocket, protocols/web) */
        const char *web_origin; /* the Origin browsers come from; NULL = https://listen:web_port */
        const char *cert_file, *key_file, *ca_file;
        bool lossless;        /* no lossy encodings (pixel-exact tests) */
        /* Clipboard directions through the guest agent, for every server:
         * both (NULL), guest-to-client, client-to-guest, none. */
        const char *clipboard;
        /* Client sessions starting and ending (display-server.h). */
        void (*client_event)(void *opaque, const char *protocol, bool connected, const char *peer);
        void *client_event_opaque;
};

struct remote;

/* Start the servers named in o on source and the thread that runs them.
 * 0, or -errno and a malloc'd message in *error (which server, what to fix).
 * Nothing listens for a protocol whose port is 0. */
int remote_start(const struct remote_options *o, struct display_source source, struct remote **out,
                 char **error);

/* Admit one client of protocol ("spice", "rdp" or "web") with a one-time password.
 * Any thread. 0, or -errno with a message in err (-ENOENT: this VM does not
 * serve that protocol). */
int remote_set_ticket(struct remote *r, const char *protocol, const char *user, const char *password,
                      unsigned expiry_s, char *err, size_t n);

/* Disconnect every client of every display server (an admin's "disconnect
 * user"; the guest keeps running) and void the tickets not yet used. Any
 * thread. The number of sessions asked to leave (0 with no servers), or
 * -ETIMEDOUT with a message in err. */
int remote_disconnect(struct remote *r, char *err, size_t n);

/* The guest agent's port (vdi-vm: the agent console's com.redhat.spice.0),
 * for SPICE's vdagent channel or RDP's clipboard: one server at a time,
 * RDP while an RDP client is connected (or without SPICE), else SPICE.
 * Calls come from the display thread. */
struct remote_agent {
        bool (*is_open)(void *opaque);  /* a guest agent holds the port */
        /* Bytes for the guest agent: how many were taken (0: try again
         * after remote_agent_changed). */
        int (*write)(void *opaque, const uint8_t *buf, size_t len);
        /* Bytes from the guest agent: how many were stored in buf. */
        int (*read)(void *opaque, uint8_t *buf, size_t len);
        void *opaque;
};

/* Serve a (NULL: no more) through the servers. Any thread; when it
 * returns, the servers no longer call the old one. */
void remote_agent_set(struct remote *r, const struct remote_agent *a);

/* The port opened or closed, has data to read or room to write: any
 * thread; the display thread catches up (calls coalesce). */
void remote_agent_changed(struct remote *r);

/* Disconnect every client, stop the thread, free. NULL is fine. */
void remote_stop(struct remote *r);
