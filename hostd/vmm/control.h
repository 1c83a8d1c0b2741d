/* The control socket of vdi-vm: a unix stream socket speaking
 * line-delimited JSON with vdi-hostd (DESIGN.md §4 "hostd ↔ vdi-vm").
 *
 * Requests (one JSON object per line, at most CONTROL_MAX_LINE bytes):
 *   {"id":N,"cmd":"status"}  → {"id":N,"ok":true,"state":"running","cpus":C,"memory_mb":M,"pid":P}
 *   {"id":N,"cmd":"stop"}    → {"id":N,"ok":true}, then the VM stops hard
 *   {"id":N,"cmd":"reset"}   → {"id":N,"ok":true}, then the guest reboots
 *   {"id":N,"cmd":"key","code":30,"pressed":true}
 *   {"id":N,"cmd":"pointer","x":X,"y":Y,"buttons":B}   0..32767, bits 1/2/4 = left/middle/right
 *   {"id":N,"cmd":"wheel","delta":D}
 *   {"id":N,"cmd":"screenshot","path":"/abs/file.ppm"}  binary PPM (P6)
 *   {"id":N,"cmd":"screenshot"} + one descriptor   the same PPM into a file
 *                            descriptor passed with SCM_RIGHTS in the sendmsg that
 *                            carries the line (vdi-hostd's form: a memfd); it must
 *                            be a regular file (a memfd is) open for writing
 *   {"id":N,"cmd":"set-ticket","protocol":"spice"|"rdp","user":"alice","password":"…","expiry_s":120}
 *   {"id":N,"cmd":"snapshot","dir":"/abs/new-dir"}
 *                            → {"id":N,"ok":true,"paused_ms":P,"ram_pages":R,"state_bytes":S}
 *   {"id":N,"cmd":"migrate","to":"unix:/path"[,"downtime_ms":300]}  live migration
 *                            → {"id":N,"ok":true,"rounds":R,"pages":P,...,"paused_ms":D}, then the VM
 *                              stops here (it runs on the target); an error: it runs on here
 * Diagnostics (tests; not part of the hostd contract):
 *   {"id":N,"cmd":"damage"}  → {"id":N,"ok":true,"rects":[[x,y,w,h],...]}
 *     the framebuffer rectangles changed since the last call; this
 *     consumes the damage stream a display server would otherwise get.
 * Errors: {"id":N,"ok":false,"error":"clear message"} (id null when the
 * request had none). Malformed or oversize lines get an error reply; the
 * connection stays usable. Passed descriptors: at most one per command,
 * and only screenshot takes one. A second one, one on another command or
 * with no command (an empty line) is refused with an error, and every
 * descriptor received is closed once its line is handled.
 *
 * Events, pushed to every connected client as lines without "id":
 *   {"event":"booted"}                 the guest wrote its first byte to the serial console
 *                                      (also sent to clients that connect later)
 *   {"event":"reset"}                  the guest reset (it reboots)
 *   {"event":"powered_off"}            the guest powered off (vdi-vm exits 0)
 *   {"event":"crashed","reason":"…"}   the engine stopped the VM on an error
 *
 * One thread serves the socket; handlers run on it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocols/display.h"

#define CONTROL_MAX_LINE 65536
#define CONTROL_MAX_CLIENTS 8

struct control_status {
        const char *state; /* "running", ... */
        unsigned cpus;
        uint64_t memory_mb;
};

struct control_snapshot {
        double paused_ms;
        uint64_t ram_pages, state_bytes;
};

struct control_migrate {
        unsigned rounds;
        uint64_t pages, zero_pages, final_pages, bytes;
        double rate_mib_s, total_ms, paused_ms;
};

/* What the socket drives. Functions returning int give 0 or a negative
 * errno with a message in err (a static or caller-owned buffer). */
struct control_handler {
        void (*status)(void *opaque, struct control_status *out);
        void (*stop)(void *opaque);
        int (*reset)(void *opaque, char *err, size_t errlen);
        void (*key)(void *opaque, uint16_t code, bool pressed);
        void (*pointer)(void *opaque, uint32_t x, uint32_t y, uint32_t buttons);
        void (*wheel)(void *opaque, int32_t delta);
        /* Write a binary PPM (P6) of the screen to fd, at its offset (the
         * socket checked it is a writable regular file; it closes it). */
        int (*screenshot)(void *opaque, int fd, char *err, size_t errlen);
        /* protocol is "spice" or "rdp"; the password must not be logged. */
        int (*set_ticket)(void *opaque, const char *protocol, const char *user, const char *password,
                          unsigned expiry_s, char *err, size_t errlen);
        /* Optional ("damage"): up to max rects, count or negative errno. */
        int (*damage)(void *opaque, struct display_rect *rects, size_t max);
        /* Optional ("snapshot"): save the VM into the new directory dir. */
        int (*snapshot)(void *opaque, const char *dir, struct control_snapshot *out, char *err, size_t errlen);
        /* Optional ("suspend"): the same, then the VM stops (exit 0): its
         * guest goes on from dir with --restore. */
        int (*suspend)(void *opaque, const char *dir, struct control_snapshot *out, char *err, size_t errlen);
        /* Optional ("migrate"): live-migrate the VM to the target at to. */
        int (*migrate)(void *opaque, const char *to, double downtime_ms, struct control_migrate *out, char *err,
                       size_t errlen);
        /* Optional ("disconnect"): drop the display clients; the number
         * that were asked to leave, or -errno with err. */
        int (*disconnect)(void *opaque, char *err, size_t errlen);
};

struct control;

/* Listen on path (a stale socket there is replaced; mode 0600) and start
 * serving. Returns 0 and *out, or a negative errno with *err (malloc'd). */
int control_start(const char *path, const struct control_handler *h, void *opaque, struct control **out,
                  char **err);

/* Push {"event":event[,"reason":reason]} to every client (any thread). */
void control_event(struct control *c, const char *event, const char *reason);
/* {"event":"agent-ready"} from a thread that may not write to sockets (a
 * device's, under its seccomp filter): the control thread sends it. Any
 * thread; NULL c is a no-op. */
void control_agent_ready_later(struct control *c);

/* Stop serving, close everything, remove the socket file. NULL is fine. */
void control_stop(struct control *c);
