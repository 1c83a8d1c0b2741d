/* tests/vmm/gpu-client PORT USER PASSWORD WxH [WxH...] — the RDP half of
 * tests/vmm/gpu.sh (run in the KVM lab by gpu-lab.py): FreeRDP's client
 * library with the display control channel (as xfreerdp
 * /dynamic-resolution) connects to vdi-vm on 127.0.0.1:PORT, waits for the
 * first picture (the first WxH) to be exactly gpu_pattern() of the test
 * guest's gputest action, then for each further WxH resizes its "window"
 * (a one-monitor layout) and waits until the picture is exactly that
 * size and pattern. One line per step:
 *
 *   step WxH ok ms=N     (N: from the layout request to the exact picture)
 *   step WxH failed ...  (what the client had instead)
 *
 * Exit 0 when every step passed, 1 otherwise, 2 on bad arguments. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tests/guest/gpu-pattern.h"
#include "tests/rdp/client.h"

#define STEP_TIMEOUT_MS 120000 /* the lab under load; the time is printed */

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Pixels of the client's picture that differ from head 0's pattern of
 * w x h; -1 while the picture has another size. */
static long mismatches(struct tclient *c, uint32_t w, uint32_t h, uint32_t *gw, uint32_t *gh)
{
        uint32_t stride;
        long bad = 0;
        const uint8_t *px;

        tclient_lock(c);
        px = tclient_pixels(c, gw, gh, &stride);
        if (!px || *gw != w || *gh != h) {
                if (!px)
                        *gw = *gh = 0;
                tclient_unlock(c);
                return -1;
        }
        for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++) {
                        const uint8_t *p = px + (size_t)y * stride + 4 * (size_t)x; /* BGRX */
                        uint32_t got = (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
                        bad += got != gpu_pattern(x, y, w, h, 0);
                }
        tclient_unlock(c);
        return bad;
}

static bool wait_exact(struct tclient *c, uint32_t w, uint32_t h, double since)
{
        uint32_t gw = 0, gh = 0;
        long bad = -1;

        while (now_ms() - since < STEP_TIMEOUT_MS && tclient_connected(c)) {
                bad = mismatches(c, w, h, &gw, &gh);
                if (bad == 0) {
                        printf("step %ux%u ok ms=%.0f\n", w, h, now_ms() - since);
                        return true;
                }
                usleep(20000);
        }
        printf("step %ux%u failed: the client has %ux%u with %ld pixels off the pattern%s\n", w, h, gw, gh, bad,
               tclient_connected(c) ? "" : ", disconnected");
        return false;
}

int main(int argc, char **argv)
{
        struct tclient_opts o = { .security = TCLIENT_NLA, .gfx = true, .display_control = true };
        struct tclient_monitor m[16];
        struct tclient *c = NULL;
        int n = argc - 4, r;
        bool ok;

        if (argc < 5 || n > 16) {
                fprintf(stderr, "usage: gpu-client PORT USER PASSWORD WxH [WxH...] (at most 16 sizes)\n");
                return 2;
        }
        o.port = (uint16_t)atoi(argv[1]);
        o.user = argv[2];
        o.password = argv[3];
        for (int i = 0; i < n; i++)
                if (sscanf(argv[4 + i], "%ux%u", &m[i].width, &m[i].height) != 2) {
                        fprintf(stderr, "gpu-client: bad size \"%s\" (WxH)\n", argv[4 + i]);
                        return 2;
                }
        o.width = m[0].width;
        o.height = m[0].height;
        r = tclient_connect(&o, &c);
        if (r < 0) {
                printf("step connect failed: %d\n", r);
                return 1;
        }
        ok = wait_exact(c, m[0].width, m[0].height, now_ms());
        if (ok && !tclient_display_control_ready(c, 30000)) {
                printf("step display-control failed: no capabilities from the server\n");
                ok = false;
        }
        for (int i = 1; ok && i < n; i++) {
                double t0 = now_ms();
                m[i].x = m[i].y = 0;
                r = tclient_send_layout(c, &m[i], 1);
                if (r < 0)
                        printf("step %ux%u failed: the layout request was not sent (%d)\n", m[i].width, m[i].height, r);
                ok = r == 0 && wait_exact(c, m[i].width, m[i].height, t0);
        }
        fflush(stdout);
        tclient_free(c);
        return ok ? 0 : 1;
}
