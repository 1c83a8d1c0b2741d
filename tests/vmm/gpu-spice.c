/* tests/vmm/gpu-spice PORT PASSWORD CA WxH — the SPICE half of
 * tests/vmm/gpu.sh (run in the KVM lab by gpu-lab.py): spice-client-glib
 * (tests/spice/client.h) connects to vdi-vm's SPICE server on
 * 127.0.0.1:PORT over TLS verified with CA, waits for the guest's agent
 * port (spice-gtk sends monitors configs only while an agent is there),
 * then does what remote-viewer does when its window becomes WxH (display
 * 0 enabled at that size, the monitors config sent) and waits until the
 * picture is exactly gpu_pattern() of WxH, the test guest's gputest
 * action's picture. One line per step:
 *
 *   step NAME ok ms=N     (for WxH, N: from the config to the exact picture)
 *   step NAME failed ...  (what the client had instead)
 *
 * Exit 0 when every step passed, 1 otherwise, 2 on bad arguments. */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/guest/gpu-pattern.h"
#include "tests/spice/client.h"

#define STEP_TIMEOUT_MS 120000 /* the lab under load; the time is printed */

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

static bool resize(struct spice_client *c, uint32_t w, uint32_t h)
{
        SpiceMainChannel *m = spice_client_main(c);
        g_autofree uint32_t *want = g_new(uint32_t, (size_t)w * h);
        g_autofree char *name = g_strdup_printf("%ux%u", w, h);
        SpiceDisplayPrimary p = { 0 };
        gint64 t0;
        bool ok;

        for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++)
                        want[(size_t)y * w + x] = gpu_pattern(x, y, w, h, 0);
        uint64_t inv0 = spice_client_invalidates(c), rd0 = spice_client_bytes_read(c);

        t0 = g_get_monotonic_time();
        spice_main_channel_update_display_enabled(m, 0, TRUE, FALSE);
        spice_main_channel_update_display(m, 0, 0, 0, (int)w, (int)h, FALSE);
        if (!spice_main_channel_send_monitor_config(m)) {
                printf("step %s failed: the monitors config was not sent\n", name);
                return false;
        }
        ok = spice_client_wait_match(c, want, (int)w, (int)h, STEP_TIMEOUT_MS);
        if (!ok && spice_client_primary(c, &p)) {
                printf("# the client has %dx%d, %ld pixels off; %" G_GUINT64_FORMAT " invalidates and %"
                       G_GUINT64_FORMAT " bytes read since the config\n",
                       p.width, p.height, spice_client_diff(c, want, (int)w, (int)h),
                       spice_client_invalidates(c) - inv0, spice_client_bytes_read(c) - rd0);
                /* A few samples tell black, stale, shifted and scaled apart. */
                for (int i = 0; i < 5 && p.width > 0 && p.height > 0; i++) {
                        int x = (int)((int64_t)(p.width - 1) * i / 4), y = (int)((int64_t)(p.height - 1) * i / 4);
                        uint32_t v;
                        memcpy(&v, p.data + (size_t)y * (size_t)p.stride + (size_t)x * 4, 4);
                        printf("# pixel %d,%d: client %06x, want %06x\n", x, y, v & 0xffffffu,
                               x < (int)w && y < (int)h ? want[(size_t)y * w + x] & 0xffffffu : 0u);
                }
        }
        return step(name, ok, t0, c);
}

int main(int argc, char **argv)
{
        struct spice_client_opts o = { .host = "127.0.0.1" };
        struct spice_client *c;
        unsigned w, h;
        gint64 t0;
        bool ok;

        if (argc != 5 || sscanf(argv[4], "%ux%u", &w, &h) != 2 || w == 0 || h == 0 || w > 8192 || h > 8192) {
                fprintf(stderr, "usage: gpu-spice PORT PASSWORD CA WxH\n");
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
        ok = ok && resize(c, w, h);
        fflush(stdout);
        spice_client_free(c);
        return ok ? 0 : 1;
}
