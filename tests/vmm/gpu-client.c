/* tests/vmm/gpu-client PORT USER PASSWORD STEP [STEP...] — the RDP half of
 * tests/vmm/gpu.sh (run in the KVM lab by gpu-lab.py): FreeRDP's client
 * library with the display control channel (as xfreerdp
 * /dynamic-resolution) connects to vdi-vm on 127.0.0.1:PORT. A STEP is
 * WxH or WxH+WxH (monitors side by side, tests/vmm/gpu-layout.h). The
 * first is the client's window, or with several its monitors sent at
 * connect (as xfreerdp /monitors:0,1); each further one is a display
 * control layout (the window resized, or the monitors changed). After
 * each the client waits until its picture is exactly the test guest's
 * gputest picture of those heads (gpu_pattern() each, black around) and,
 * with several heads, until the server's monitor layout names them. One
 * line per step:
 *
 *   step STEP ok ms=N     (N: from the request to the exact picture)
 *   step STEP failed ...  (what the client had instead)
 *
 * Exit 0 when every step passed, 1 otherwise, 2 on bad arguments. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tests/rdp/client.h"
#include "tests/vmm/gpu-layout.h"

#define STEP_TIMEOUT_MS 120000 /* the lab under load; the time is printed */

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Pixels of the client's picture that differ from l's desktop; -1 while
 * the picture has another size. */
static long mismatches(struct tclient *c, const struct gpu_layout *l, uint32_t *gw, uint32_t *gh)
{
        uint32_t stride;
        long bad = 0;
        const uint8_t *px;

        tclient_lock(c);
        px = tclient_pixels(c, gw, gh, &stride);
        if (!px || *gw != l->width || *gh != l->height) {
                if (!px)
                        *gw = *gh = 0;
                tclient_unlock(c);
                return -1;
        }
        for (uint32_t y = 0; y < l->height; y++)
                for (uint32_t x = 0; x < l->width; x++) {
                        const uint8_t *p = px + (size_t)y * stride + 4 * (size_t)x; /* BGRX */
                        uint32_t got = (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
                        bad += got != gpu_layout_pixel(l, x, y);
                }
        tclient_unlock(c);
        return bad;
}

/* The server's monitor layout is l's heads (one head: no check, a
 * client without the pipeline has none). */
static bool monitors_match(struct tclient *c, const struct gpu_layout *l)
{
        struct tclient_monitor m[TCLIENT_MAX_MONITORS];
        unsigned n = tclient_server_monitors(c, m, TCLIENT_MAX_MONITORS);

        if (l->n == 1)
                return true;
        if (n != l->n)
                return false;
        for (unsigned i = 0; i < n; i++)
                if (m[i].x != (int32_t)l->x[i] || m[i].y != 0 || m[i].width != l->w[i] || m[i].height != l->h[i])
                        return false;
        return true;
}

static bool wait_exact(struct tclient *c, const char *name, const struct gpu_layout *l, double since)
{
        uint32_t gw = 0, gh = 0;
        long bad = -1;
        bool mons = false;

        while (now_ms() - since < STEP_TIMEOUT_MS && tclient_connected(c)) {
                bad = mismatches(c, l, &gw, &gh);
                mons = monitors_match(c, l);
                if (bad == 0 && mons) {
                        printf("step %s ok ms=%.0f\n", name, now_ms() - since);
                        return true;
                }
                usleep(20000);
        }
        printf("step %s failed: the client has %ux%u with %ld pixels off the pattern%s%s\n", name, gw, gh, bad,
               mons ? "" : ", other monitors", tclient_connected(c) ? "" : ", disconnected");
        return false;
}

static void to_monitors(const struct gpu_layout *l, struct tclient_monitor *m)
{
        for (unsigned i = 0; i < l->n; i++)
                m[i] = (struct tclient_monitor){ (int32_t)l->x[i], 0, l->w[i], l->h[i] };
}

int main(int argc, char **argv)
{
        struct tclient_opts o = { .security = TCLIENT_NLA, .gfx = true, .display_control = true };
        struct gpu_layout l[16];
        struct tclient_monitor first[GPU_LAYOUT_MAX];
        struct tclient *c = NULL;
        int n = argc - 4, r;
        bool ok;

        if (argc < 5 || n > 16) {
                fprintf(stderr, "usage: gpu-client PORT USER PASSWORD STEP [STEP...] (at most 16; STEP: WxH[+WxH...])\n");
                return 2;
        }
        o.port = (uint16_t)atoi(argv[1]);
        o.user = argv[2];
        o.password = argv[3];
        for (int i = 0; i < n; i++)
                if (!gpu_layout_parse(argv[4 + i], &l[i])) {
                        fprintf(stderr, "gpu-client: bad step \"%s\" (WxH[+WxH...])\n", argv[4 + i]);
                        return 2;
                }
        o.width = l[0].width;
        o.height = l[0].height;
        if (l[0].n > 1) {
                to_monitors(&l[0], first);
                o.monitors = first;
                o.nmonitors = l[0].n;
        }
        double t0 = now_ms();
        r = tclient_connect(&o, &c);
        if (r < 0) {
                printf("step connect failed: %d\n", r);
                return 1;
        }
        ok = wait_exact(c, argv[4], &l[0], t0);
        if (ok && n > 1 && !tclient_display_control_ready(c, 30000)) {
                printf("step display-control failed: no capabilities from the server\n");
                ok = false;
        }
        for (int i = 1; ok && i < n; i++) {
                struct tclient_monitor m[GPU_LAYOUT_MAX];
                t0 = now_ms();
                to_monitors(&l[i], m);
                r = tclient_send_layout(c, m, l[i].n);
                if (r < 0)
                        printf("step %s failed: the layout request was not sent (%d)\n", argv[4 + i], r);
                ok = r == 0 && wait_exact(c, argv[4 + i], &l[i], t0);
        }
        fflush(stdout);
        tclient_free(c);
        return ok ? 0 : 1;
}
