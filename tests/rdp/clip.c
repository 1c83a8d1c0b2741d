/* tests/rdp/clip: an RDP client (FreeRDP's client library with its
 * cliprdr channel, tests/rdp/client.c) checks the clipboard through a
 * vdi-vm's guest agent, both ways, for the lab (tests/vmm/agent.sh).
 *
 *   clip --port P --user U --password PW --guest-text TEXT --client-text TEXT
 *        [--nothing S] [--timeout S]
 *
 * Connects with the clipboard channel, waits for the guest's text (UTF-8
 * in argv; it travels as CF_UNICODETEXT) and compares it, then copies
 * --client-text for the guest to paste (the guest reports what it got:
 * the caller checks that). With --nothing S (a pool with the clipboard
 * off) it copies --client-text at once and checks, S seconds later, that
 * no text arrived and the server never asked for ours. Prints TAP lines;
 * exit 0 when every check passed. */
#include "config.h"

#include <getopt.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "tests/rdp/client.h"
#include "tests/tap-check.h"

/* Wait until the server asked for our text (and had it). */
static bool asked(struct tclient *c, unsigned timeout_ms)
{
        struct tclient_clip_counts k;

        for (unsigned t = 0; t <= timeout_ms; t += 50) {
                g_free(tclient_clip_text(c, &k));
                if (k.server_requests)
                        return true;
                g_usleep(50000);
        }
        return false;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "port", required_argument, NULL, 'p' },       { "user", required_argument, NULL, 'u' },
                { "password", required_argument, NULL, 'w' },   { "guest-text", required_argument, NULL, 'g' },
                { "client-text", required_argument, NULL, 't' }, { "nothing", required_argument, NULL, 'n' },
                { "timeout", required_argument, NULL, 'T' },    {},
        };
        struct tclient_opts o = { .host = "127.0.0.1", .security = TCLIENT_NLA, .clipboard = true,
                                  .width = 640, .height = 480 };
        const char *guest = "", *client = "";
        unsigned timeout_ms = 60000, nothing_s = 0;
        struct tclient *c = NULL;
        int opt;

        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (opt) {
                case 'p': o.port = (uint16_t)atoi(optarg); break;
                case 'u': o.user = optarg; break;
                case 'w': o.password = optarg; break;
                case 'g': guest = optarg; break;
                case 't': client = optarg; break;
                case 'n': nothing_s = (unsigned)atoi(optarg); break;
                case 'T': timeout_ms = 1000u * (unsigned)atoi(optarg); break;
                default:
                        fprintf(stderr, "usage: clip --port P --user U --password PW --guest-text TEXT "
                                        "--client-text TEXT [--nothing S] [--timeout S]\n");
                        return 2;
                }
        }
        if (!check(tclient_connect(&o, &c) == 0, "RDP session up (NLA with the ticket)"))
                goto out;
        if (!check(tclient_clip_ready(c, (int)timeout_ms), "the server opened the clipboard channel"))
                goto out;
        if (nothing_s) {
                struct tclient_clip_counts k;
                g_autofree char *got = NULL;

                check(tclient_clip_set(c, client) == 0, "copied on the client");
                g_usleep(nothing_s * G_USEC_PER_SEC);
                got = tclient_clip_text(c, &k);
                check(!got && k.texts == 0, "no text from the guest in %u s (%u arrived)", nothing_s, k.texts);
                check(k.server_requests == 0, "the server never asked for the client's text (%u times)",
                      k.server_requests);
                goto out;
        }
        /* guest -> client: the guest grabs once the server announced itself */
        check(tclient_clip_wait_text(c, guest, (int)timeout_ms), "the guest's text arrived as CF_UNICODETEXT");
        /* client -> guest */
        check(tclient_clip_set(c, client) == 0, "copied on the client");
        check(asked(c, timeout_ms), "the server asked for the client's text");
        g_usleep(G_USEC_PER_SEC); /* let it reach the guest before we leave */
out:
        tclient_free(c);
        printf("1..%d\n", n_checks);
        return n_failed ? 1 : 0;
}
