/* tests/vmm/gpu-spice PORT PASSWORD CA STEP [STEP...] — the SPICE half of
 * tests/vmm/gpu.sh (run in the KVM lab by gpu-lab.py): spice-client-glib
 * (tests/spice/client.h) connects to vdi-vm's SPICE server on
 * 127.0.0.1:PORT over TLS verified with CA, waits for the guest's agent
 * port (spice-gtk sends monitors configs only while an agent is there),
 * then for each STEP (WxH, or WxH+WxH: displays side by side,
 * tests/vmm/gpu-layout.h) does what remote-viewer does when its windows
 * take those sizes (those displays enabled at their places, the others
 * disabled, the monitors config sent) and waits until the primary surface
 * is exactly the test guest's gputest picture of those heads (the SPICE
 * server shows several heads as one display of their desktop). One line
 * per step:
 *
 *   step NAME ok ms=N     (for a STEP, N: from the config to the exact picture)
 *   step NAME failed ...  (what the client had instead)
 *
 * Exit 0 when every step passed, 1 otherwise, 2 on bad arguments. */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/spice/client.h"
#include "tests/vmm/gpu-layout.h"

#define STEP_TIMEOUT_MS 60000 /* the lab under load; the time is printed */

static bool agent_connected(void *data)
{
        gboolean connected = FALSE;

        g_object_get(spice_client_main(data), "agent-connected", &connected, NULL);
        return connected;
}

static bool step(const char *name, bool ok, gint64 since, struct spice_client *c)
{
        if (ok)
                printf("step %s ok ms=%" G_GINT64_FORMAT "\n", name, (g_get_monotonic_time() - since) / 1000);
        else
                printf("step %s failed: client error %d%s\n", name, spice_client_error(c),
                       spice_client_gone(c) ? ", a channel closed" : "");
        return ok;
}

struct picture_wait {
        struct spice_client *c;
        const struct gpu_layout *l;
        const uint32_t *want;
};

static bool picture_match(void *data)
{
        struct picture_wait *w = data;
        return spice_client_diff(w->c, w->want, (int)w->l->width, (int)w->l->height) == 0;
}

/* What the client has instead: its size, updates, and a few pixels
 * against the expected ones. */
static void report(struct spice_client *c, const SpiceDisplayPrimary *p, const struct gpu_layout *l,
                   const uint32_t *want)
{
        printf("# the client has %dx%d, %ld pixels off, %" G_GUINT64_FORMAT " updates\n", p->width, p->height,
               spice_client_diff(c, want, (int)l->width, (int)l->height), spice_client_invalidates(c));
        for (unsigned k = 0; k < 8 && (int)l->width == p->width && (int)l->height == p->height; k++) {
                uint32_t x = k * 229 % l->width, y = k * 97 % l->height, v;
                memcpy(&v, p->data + (size_t)y * (size_t)p->stride + (size_t)x * 4, 4);
                printf("#   (%u,%u) client %06x want %06x\n", x, y, GUINT32_FROM_LE(v) & 0xffffffu,
                       want[(size_t)y * l->width + x]);
        }
}

static bool show(struct spice_client *c, const char *name, const struct gpu_layout *l)
{
        SpiceMainChannel *m = spice_client_main(c);
        g_autofree uint32_t *want = g_new(uint32_t, (size_t)l->width * l->height);
        struct picture_wait w = { c, l, want };
        SpiceDisplayPrimary p = { 0 };
        gint64 t0;
        bool ok;

        for (uint32_t y = 0; y < l->height; y++)
                for (uint32_t x = 0; x < l->width; x++)
                        want[(size_t)y * l->width + x] = gpu_layout_pixel(l, x, y);
        t0 = g_get_monotonic_time();
        for (unsigned i = 0; i < GPU_LAYOUT_MAX; i++) {
                spice_main_channel_update_display_enabled(m, (int)i, i < l->n, FALSE);
                if (i < l->n)
                        spice_main_channel_update_display(m, (int)i, (int)l->x[i], 0, (int)l->w[i], (int)l->h[i],
                                                          FALSE);
        }
        if (!spice_main_channel_send_monitor_config(m)) {
                printf("step %s failed: the monitors config was not sent\n", name);
                return false;
        }
        spice_client_run(STEP_TIMEOUT_MS, picture_match, &w);
        ok = picture_match(&w);
        if (!ok && spice_client_primary(c, &p))
                report(c, &p, l, want);
        return step(name, ok, t0, c);
}

int main(int argc, char **argv)
{
        struct spice_client_opts o = { .host = "127.0.0.1" };
        struct gpu_layout l[16];
        struct spice_client *c;
        int n = argc - 4;
        gint64 t0;
        bool ok;

        if (argc < 5 || n > 16) {
                fprintf(stderr, "usage: gpu-spice PORT PASSWORD CA STEP [STEP...] (at most 16; STEP: WxH[+WxH...])\n");
                return 2;
        }
        for (int i = 0; i < n; i++)
                if (!gpu_layout_parse(argv[4 + i], &l[i])) {
                        fprintf(stderr, "gpu-spice: bad step \"%s\" (WxH[+WxH...])\n", argv[4 + i]);
                        return 2;
                }
        o.tls_port = (unsigned)atoi(argv[1]);
        o.password = argv[2];
        o.ca_file = argv[3];
        t0 = g_get_monotonic_time();
        c = spice_client_connect(&o);
        ok = step("connect", spice_client_wait_primary(c, STEP_TIMEOUT_MS), t0, c);
        if (ok) {
                t0 = g_get_monotonic_time();
                spice_client_run(STEP_TIMEOUT_MS, agent_connected, c);
                ok = step("agent", agent_connected(c), t0, c);
        }
        for (int i = 0, up = ok; up && i < n && spice_client_error(c) == 0; i++) /* each step, for the report */
                ok = show(c, argv[4 + i], &l[i]) && ok;
        fflush(stdout);
        spice_client_free(c);
        return ok ? 0 : 1;
}
