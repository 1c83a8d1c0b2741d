/* tests/vmm/clone-client USER PASSWORD PORT:HOSTNAME:CODE [...] — the RDP
 * half of tests/vmm/clones.sh's "own pixels and typing" checks (run in the
 * KVM lab by clones-lab.py): one FreeRDP client (the library, NLA,
 * lossless bitmap updates) visits each instant clone in turn. For each
 * PORT:HOSTNAME:CODE it connects to vdi-vm on 127.0.0.1:PORT, waits until
 * the picture shows that clone's own band (clone_ident_color(HOSTNAME),
 * tests/guest/clone-pattern.h) with no key cell yet, types the key of
 * evdev code CODE (a set-1 scancode below 0x59 is the same number), waits
 * until cell 0 shows clone_key_color(CODE) and cell 1 nothing, and
 * disconnects. The clones are visited CLONE_CLIENT_PARALLEL (default 5) at
 * a time, each visit in a process of its own: in the nested lab an RDP
 * logon takes tens of seconds, much of it waiting. One line per clone:
 *
 *   clone PORT ok connect_ms=C band_ms=B key_ms=K
 *   clone PORT failed: ...   (what the client had instead)
 *
 * Exit 0 when every clone passed, 1 otherwise, 2 on bad arguments. */
#include "config.h"

#include <freerdp/input.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/guest/clone-pattern.h"
#include "tests/rdp/client.h"

#define STEP_TIMEOUT_MS 120000 /* the lab under load; the times are printed */
#define MAX_CLONES 32

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The colour at x, y of the client's picture; -1 when it has none there. */
static long pixel(struct tclient *c, uint32_t x, uint32_t y)
{
        uint32_t w, h, stride;
        const uint8_t *px;
        long v = -1;

        tclient_lock(c);
        px = tclient_pixels(c, &w, &h, &stride);
        if (px && x < w && y < h) {
                const uint8_t *p = px + (size_t)y * stride + 4 * (size_t)x; /* BGRX */
                v = (long)((uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
        }
        tclient_unlock(c);
        return v;
}

/* Whether the rectangle's four corners and centre all have colour want
 * (want < 0: none of them has a key colour's pattern, i.e. not filled). */
static bool rect_is(struct tclient *c, uint32_t x, uint32_t y, uint32_t w, uint32_t h, long want, long *got)
{
        const uint32_t pts[5][2] = { { x, y }, { x + w - 1, y }, { x, y + h - 1 }, { x + w - 1, y + h - 1 },
                                     { x + w / 2, y + h / 2 } };

        for (int i = 0; i < 5; i++) {
                *got = pixel(c, pts[i][0], pts[i][1]);
                if (want >= 0 ? *got != want : (*got < 0 || (*got & 0xff00ff) == 0xe00060))
                        return false;
        }
        return true;
}

struct target {
        unsigned port, code;
        const char *host;
};

static bool visit(const char *user, const char *password, const struct target *t)
{
        struct tclient_opts o = { .security = TCLIENT_NLA, .user = user, .password = password, .width = 640,
                                  .height = 480, .port = (uint16_t)t->port };
        long band = clone_ident_color(t->host), key = clone_key_color(t->code), got = -1;
        struct tclient *c = NULL;
        double t0 = now_ms(), t1, t2;
        bool ok = false;
        int r;

        printf("# clone %u: connecting\n", t->port);
        fflush(stdout);
        r = tclient_connect(&o, &c);

        if (r < 0) {
                printf("clone %u failed: connect %d after %.0f ms\n", t->port, r, now_ms() - t0);
                fflush(stdout);
                return false;
        }
        t1 = now_ms();
        printf("# clone %u: connected in %.0f ms\n", t->port, t1 - t0);
        fflush(stdout);
        while (!(ok = rect_is(c, CLONE_ID_X, CLONE_ID_Y, CLONE_ID_W, CLONE_ID_H, band, &got) &&
                      rect_is(c, CLONE_KEY_X, CLONE_KEY_Y, CLONE_KEY_W, CLONE_KEY_H, -1, &got)) &&
               now_ms() - t1 < STEP_TIMEOUT_MS && tclient_connected(c))
                usleep(20000);
        if (!ok) {
                printf("clone %u failed: no band %06lx with an empty cell 0 (a pixel there: %06lx)%s\n", t->port,
                       band, got, tclient_connected(c) ? "" : ", disconnected");
                fflush(stdout);
                tclient_free(c);
                return false;
        }
        t2 = now_ms();
        tclient_key(c, KBD_FLAGS_DOWN, (uint16_t)t->code);
        tclient_key(c, KBD_FLAGS_RELEASE, (uint16_t)t->code);
        while (!(ok = rect_is(c, CLONE_KEY_X, CLONE_KEY_Y, CLONE_KEY_W, CLONE_KEY_H, key, &got) &&
                      rect_is(c, CLONE_KEY_X + CLONE_KEY_STEP, CLONE_KEY_Y, CLONE_KEY_W, CLONE_KEY_H, -1, &got)) &&
               now_ms() - t2 < STEP_TIMEOUT_MS && tclient_connected(c))
                usleep(20000);
        if (ok)
                printf("clone %u ok connect_ms=%.0f band_ms=%.0f key_ms=%.0f\n", t->port, t1 - t0, t2 - t1,
                       now_ms() - t2);
        else
                printf("clone %u failed: key %u did not come back as one %06lx cell (a pixel there: %06lx)%s\n",
                       t->port, t->code, key, got, tclient_connected(c) ? "" : ", disconnected");
        fflush(stdout);
        tclient_free(c);
        return ok;
}

int main(int argc, char **argv)
{
        struct target t[MAX_CLONES];
        int n = argc - 3;
        bool ok = true;

        if (argc < 4 || n > MAX_CLONES) {
                fprintf(stderr, "usage: clone-client USER PASSWORD PORT:HOSTNAME:CODE... (at most %d)\n", MAX_CLONES);
                return 2;
        }
        for (int i = 0; i < n; i++) {
                char *spec = argv[3 + i], *a = strchr(spec, ':'), *b = a ? strrchr(spec, ':') : NULL;
                if (!a || b == a || sscanf(spec, "%u", &t[i].port) != 1 || t[i].port == 0 || t[i].port > 65535 ||
                    sscanf(b + 1, "%u", &t[i].code) != 1 || t[i].code == 0 || t[i].code >= 0x59) {
                        fprintf(stderr, "clone-client: bad target \"%s\" (PORT:HOSTNAME:CODE, CODE 1-88)\n", spec);
                        return 2;
                }
                *b = '\0';
                t[i].host = a + 1;
        }
        const char *par = getenv("CLONE_CLIENT_PARALLEL");
        int width = par ? atoi(par) : 5, running = 0, st;

        if (width < 1)
                width = 1;
        setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines from each process */
        for (int i = 0; i < n || running > 0;) {
                if (i < n && running < width) {
                        pid_t pid = fork();
                        if (pid == 0) {
                                prctl(PR_SET_PDEATHSIG, SIGKILL); /* a timed-out run leaves none behind */
                                _exit(visit(argv[1], argv[2], &t[i]) ? 0 : 1);
                        }
                        if (pid < 0) {
                                printf("clone %u failed: fork: %m\n", t[i].port);
                                ok = false;
                        } else {
                                running++;
                        }
                        i++;
                        continue;
                }
                if (wait(&st) < 0)
                        break;
                running--;
                ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
        }
        return ok ? 0 : 1;
}
