/* tests/vmm/display-probe: a real client against a running vdi-vm's display
 * server, for the lab scripts (tests/vmm/devices-lab.py):
 *
 *   display-probe rdp PORT USER PASSWORD [h264]
 *   display-probe spice PORT PASSWORD CA_FILE
 *
 * RDP: FreeRDP's client library (tests/rdp/client.h, TLS + NLA, graphics
 * pipeline, AVC420 with "h264") connects to 127.0.0.1:PORT and waits for
 * frames with picture data. SPICE: spice-client-glib (tests/spice/client.h)
 * waits for the primary surface and a picture that is not all black.
 * Prints one "frames=.. bytes=.." or "width=.. height=.." line; exit 0 when
 * pictures arrived within 60 s, 1 otherwise, 2 on bad arguments. */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/rdp/client.h"
#include "tests/spice/client.h"

#define TIMEOUT_S 60

static int probe_rdp(uint16_t port, const char *user, const char *password, bool h264)
{
        struct tclient_opts o = { .host = "127.0.0.1", .port = port, .user = user, .password = password,
                                  .security = TCLIENT_NLA, .gfx = true, .h264 = h264,
                                  .width = 1024, .height = 768 };
        struct tclient *c = NULL;
        struct tclient_counts n = { 0 };
        int r = tclient_connect(&o, &c);

        if (r < 0) {
                printf("rdp: connect failed: %s\n", strerror(-r));
                return 1;
        }
        for (int i = 0; i < TIMEOUT_S * 10; i++) {
                tclient_counts(c, &n);
                if (n.frames_ended + n.surface_frames + n.bitmap_updates >= 1 && n.picture_bytes > 0)
                        break;
                if (!tclient_connected(c))
                        break;
                g_usleep(100 * 1000);
        }
        printf("frames=%u avc420=%u planar=%u bytes=%llu connected=%d\n", n.frames_ended + n.surface_frames,
               n.avc420, n.planar, (unsigned long long)n.picture_bytes, tclient_connected(c));
        r = n.picture_bytes > 0 && (!h264 || n.avc420 > 0) && tclient_connected(c) ? 0 : 1;
        tclient_free(c);
        return r;
}

static int probe_spice(unsigned port, const char *password, const char *ca)
{
        struct spice_client_opts o = { .host = "127.0.0.1", .tls_port = port, .password = password, .ca_file = ca };
        struct spice_client *c = spice_client_connect(&o);
        SpiceDisplayPrimary p = { 0 };
        bool ok = spice_client_wait_primary(c, TIMEOUT_S * 1000) && spice_client_primary(c, &p);

        printf("width=%d height=%d error=%d\n", ok ? p.width : 0, ok ? p.height : 0, spice_client_error(c));
        spice_client_free(c);
        return ok && p.width > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
        long port = argc > 2 ? strtol(argv[2], NULL, 10) : 0;

        if (port <= 0 || port > 65535)
                goto usage;
        if (argc >= 5 && strcmp(argv[1], "rdp") == 0)
                return probe_rdp((uint16_t)port, argv[3], argv[4], argc > 5 && strcmp(argv[5], "h264") == 0);
        if (argc == 5 && strcmp(argv[1], "spice") == 0)
                return probe_spice((unsigned)port, argv[3], argv[4]);
usage:
        fprintf(stderr, "usage: display-probe rdp PORT USER PASSWORD [h264] | spice PORT PASSWORD CA_FILE\n");
        return 2;
}
