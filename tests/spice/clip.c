/* tests/spice/clip: a SPICE client (spice-client-glib) checks the
 * clipboard through the guest's agent, both ways.
 *
 *   clip --port P --ca FILE --password PW --guest-text HEX --client-text HEX
 *        [--nothing S] [--timeout S]
 *
 * Waits for the agent, then for the guest's clipboard grab; asks for
 * UTF-8 text and compares it with --guest-text. Then grabs the clipboard
 * itself and answers the guest's request with --client-text (the guest
 * reports what it got: the caller checks that). Prints TAP lines; exit 0
 * when every check passed. Texts are hex so that any bytes pass argv.
 * With --nothing S (a pool with the clipboard off) it offers its text at
 * once and checks, S seconds later, that no text came from the guest and
 * the guest never asked for the client's. */
#include "config.h"

#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/spice/client.h"
#include "tests/tap-check.h"

static GByteArray *unhex(const char *s)
{
        GByteArray *b = g_byte_array_new();
        unsigned v;

        for (; s[0] && s[1] && sscanf(s, "%2x", &v) == 1; s += 2) {
                guint8 c = (guint8)v;
                g_byte_array_append(b, &c, 1);
        }
        return b;
}

static bool agent_up(void *data)
{
        gboolean up = FALSE;

        g_object_get(data, "agent-connected", &up, NULL);
        return up;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "port", required_argument, NULL, 'p' },   { "ca", required_argument, NULL, 'c' },
                { "password", required_argument, NULL, 'w' }, { "guest-text", required_argument, NULL, 'g' },
                { "client-text", required_argument, NULL, 't' }, { "timeout", required_argument, NULL, 'T' },
                { "nothing", required_argument, NULL, 'n' }, {},
        };
        struct spice_client_opts o = { .host = "127.0.0.1" };
        const char *guest = "", *client = "";
        unsigned timeout_ms = 60000, nothing_s = 0;
        struct spice_clip c;
        GByteArray *want, *offer;
        int opt;

        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (opt) {
                case 'p': o.tls_port = (unsigned)atoi(optarg); break;
                case 'c': o.ca_file = optarg; break;
                case 'w': o.password = optarg; break;
                case 'g': guest = optarg; break;
                case 't': client = optarg; break;
                case 'T': timeout_ms = 1000u * (unsigned)atoi(optarg); break;
                case 'n': nothing_s = (unsigned)atoi(optarg); break;
                default:
                        fprintf(stderr, "usage: clip --port P --ca FILE --password PW --guest-text HEX "
                                        "--client-text HEX [--nothing S] [--timeout S]\n");
                        return 2;
                }
        }
        want = unhex(guest);
        offer = unhex(client);

        struct spice_client *sc = spice_client_connect(&o);
        /* The handlers first: the guest grabs as soon as it saw our caps. */
        bool up = spice_client_wait_main(sc, timeout_ms);
        SpiceMainChannel *main_ch = spice_client_main(sc);
        spice_clip_attach(sc, &c);
        check(up && spice_client_wait_primary(sc, timeout_ms), "SPICE main and display channels up");
        spice_client_run(timeout_ms, agent_up, main_ch);
        check(agent_up(main_ch), "the guest's agent is connected");

        if (nothing_s) {
                spice_clip_offer(sc, &c, offer->data, offer->len);
                spice_client_run(nothing_s * 1000u, NULL, NULL);
                check(!c.got_done && c.got->len == 0, "no text from the guest in %u s (%u bytes)", nothing_s,
                      c.got->len);
                check(!c.requested, "the guest never asked for the client's text");
                goto out;
        }
        /* guest -> client: the guest grabs when it has seen our caps */
        spice_client_run(timeout_ms, spice_clip_got, &c);
        check(c.got_done && c.got->len == want->len && memcmp(c.got->data, want->data, c.got->len) == 0,
              "the guest's text arrived (%u bytes, want %u)", c.got->len, want->len);

        /* client -> guest */
        spice_clip_offer(sc, &c, offer->data, offer->len);
        spice_client_run(timeout_ms, spice_clip_requested, &c);
        check(c.requested, "the guest asked for the client's text");
        spice_client_run(1000, NULL, NULL); /* let the text leave */
out:
        spice_clip_detach(sc, &c);
        spice_client_free(sc);
        g_byte_array_unref(want);
        g_byte_array_unref(offer);
        printf("1..%d\n", n_checks);
        return n_failed ? 1 : 0;
}
