/* bench/first-frame PORT [TIMEOUT_S] — the RDP client of bench/instant-clone:
 * FreeRDP's client library (tests/rdp/client.h: TLS + NLA, the graphics
 * pipeline, software GDI) connects to a vdi-vm on 127.0.0.1:PORT as user
 * "bench" with the one-time ticket read from stdin (one line; the caller
 * sets it through vdi-vm's control socket "set-ticket" first), retrying
 * while the server does not listen yet, and watches the picture until the
 * test guest's counter action shows its red 100x50 rectangle at 10,10
 * (tests/guest/agent.c agent_act_counter). Times are CLOCK_MONOTONIC
 * seconds, the clock Python's time.monotonic() reads, so the caller can
 * count from the moment it started the VM:
 *
 *   connected mono=S tries=N   the session is active
 *   nonblack mono=S            the first picture with any non-black pixel
 *   frame mono=S               the first picture showing the red rectangle
 *   failed what...             what never came
 *
 * Exit 0 when the rectangle came, 1 otherwise, 2 on bad arguments. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/rdp/client.h"

#define POLL_US 10000
#define LOOKS_AFTER_CHANGE 100 /* a second of POLL_US */

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool is_red(const uint8_t *p) /* BGRX; lossy codecs blur a little */
{
        return p[2] > 200 && p[1] < 80 && p[0] < 80;
}

/* Under the lock: any pixel not black (scanned only until one is found),
 * and the rectangle's inside all red. */
static void look(struct tclient *c, bool *nonblack, bool *frame)
{
        static const uint32_t xs[] = { 14, 60, 105 }, ys[] = { 14, 35, 55 };
        uint32_t w, h, stride;
        const uint8_t *px;

        tclient_lock(c);
        px = tclient_pixels(c, &w, &h, &stride);
        if (px && w > 110 && h > 60) {
                *frame = true;
                for (size_t i = 0; i < 3; i++)
                        for (size_t j = 0; j < 3; j++)
                                *frame = *frame && is_red(px + (size_t)ys[j] * stride + 4 * (size_t)xs[i]);
                for (uint32_t y = 0; !*nonblack && y < h; y++)
                        for (uint32_t x = 0; x < w; x++) {
                                const uint8_t *p = px + (size_t)y * stride + 4 * (size_t)x;
                                if (p[0] > 0x20 || p[1] > 0x20 || p[2] > 0x20) {
                                        *nonblack = true;
                                        break;
                                }
                        }
        }
        tclient_unlock(c);
}

int main(int argc, char **argv)
{
        struct tclient_opts o = {
                .host = "127.0.0.1", .user = "bench", .security = TCLIENT_NLA, .gfx = true,
                .width = 1024, .height = 768,
        };
        char ticket[256];
        struct tclient *c = NULL;
        bool nonblack = false, frame = false;
        double end;
        char *e;
        long port, secs = argc > 2 ? strtol(argv[2], &e, 10) : 600;
        int tries = 0, r = -ECONNREFUSED;
        unsigned seen = 0, looks = LOOKS_AFTER_CHANGE;

        if (argc < 2 || argc > 3 || (port = strtol(argv[1], &e, 10)) < 1 || port > 65535 || *e || secs < 1) {
                fprintf(stderr, "usage: first-frame PORT [TIMEOUT_S] (the ticket on stdin)\n");
                return 2;
        }
        if (!fgets(ticket, sizeof(ticket), stdin) || !ticket[0]) {
                fprintf(stderr, "first-frame: no ticket on stdin\n");
                return 2;
        }
        ticket[strcspn(ticket, "\r\n")] = '\0';
        o.port = (uint16_t)port;
        o.password = ticket;
        end = now_s() + (double)secs;
        /* Refused while the VM's display server is not up yet: the ticket
         * is only spent by a logon that succeeds. */
        while (now_s() < end) {
                tries++;
                r = tclient_connect(&o, &c);
                if (r == 0)
                        break;
                usleep(50000);
        }
        if (r < 0) {
                printf("failed connect: %d after %d tries\n", r, tries);
                return 1;
        }
        printf("connected mono=%.6f tries=%d\n", now_s(), tries);
        fflush(stdout);
        while (!frame && now_s() < end && tclient_connected(c)) {
                struct tclient_counts n;
                bool had = nonblack;
                unsigned pictures;

                /* Look only for a while after the picture changed: the
                 * client must not take the CPU from the guest that boots
                 * beside it. (The counts go up just before FreeRDP draws
                 * an update, hence the while.) */
                tclient_counts(c, &n);
                pictures = n.frames_ended + n.bitmap_updates + n.surface_frames;
                if (pictures != seen) {
                        seen = pictures;
                        looks = LOOKS_AFTER_CHANGE;
                }
                if (looks == 0) {
                        usleep(POLL_US);
                        continue;
                }
                looks--;
                look(c, &nonblack, &frame);
                if (nonblack && !had)
                        printf("nonblack mono=%.6f\n", now_s());
                if (frame)
                        printf("frame mono=%.6f\n", now_s());
                fflush(stdout);
                if (!frame)
                        usleep(POLL_US);
        }
        if (!frame)
                printf("failed frame: %s\n", tclient_connected(c) ? "no red rectangle in time" : "disconnected");
        fflush(stdout);
        tclient_free(c);
        return frame ? 0 : 1;
}
