/* tests/spice/clip: a SPICE client (spice-client-glib) checks the
 * clipboard through the guest's agent, both ways.
 *
 *   clip --port P --ca FILE --password PW --guest-text HEX --client-text HEX
 *        [--timeout S]
 *
 * Waits for the agent, then for the guest's clipboard grab; asks for
 * UTF-8 text and compares it with --guest-text. Then grabs the clipboard
 * itself and answers the guest's request with --client-text (the guest
 * reports what it got: the caller checks that). Prints TAP lines; exit 0
 * when every check passed. Texts are hex so that any bytes pass argv. */
#include "config.h"

#include <getopt.h>
#include <glib.h>
#include <spice/vd_agent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/spice/client.h"
#include "tests/tap-check.h"

struct clip {
        SpiceMainChannel *main;
        GByteArray *guest_want, *client_text;
        GByteArray *got;
        bool got_done, requested;
};

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

static gboolean on_grab(SpiceMainChannel *main, guint selection, guint32 *types, guint ntypes, gpointer data)
{
        for (guint i = 0; i < ntypes; i++)
                if (types[i] == VD_AGENT_CLIPBOARD_UTF8_TEXT) {
                        spice_main_channel_clipboard_selection_request(main, selection, types[i]);
                        return TRUE;
                }
        return TRUE;
}

static void on_data(SpiceMainChannel *main, guint selection, guint type, const guchar *d, guint size, gpointer data)
{
        struct clip *c = data;

        if (type != VD_AGENT_CLIPBOARD_UTF8_TEXT)
                return;
        g_byte_array_set_size(c->got, 0);
        g_byte_array_append(c->got, d, size);
        c->got_done = true;
}

static gboolean on_request(SpiceMainChannel *main, guint selection, guint type, gpointer data)
{
        struct clip *c = data;

        if (type != VD_AGENT_CLIPBOARD_UTF8_TEXT)
                return FALSE;
        spice_main_channel_clipboard_selection_notify(main, selection, type, c->client_text->data,
                                                      c->client_text->len);
        c->requested = true;
        return TRUE;
}

static bool agent_up(void *data)
{
        struct clip *c = data;
        gboolean up = FALSE;

        g_object_get(c->main, "agent-connected", &up, NULL);
        return up;
}

static bool got_text(void *data)
{
        return ((struct clip *)data)->got_done;
}

static bool was_requested(void *data)
{
        return ((struct clip *)data)->requested;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "port", required_argument, NULL, 'p' },   { "ca", required_argument, NULL, 'c' },
                { "password", required_argument, NULL, 'w' }, { "guest-text", required_argument, NULL, 'g' },
                { "client-text", required_argument, NULL, 't' }, { "timeout", required_argument, NULL, 'T' },
                {},
        };
        struct spice_client_opts o = { .host = "127.0.0.1" };
        const char *guest = "", *client = "";
        unsigned timeout_ms = 60000;
        struct clip c = { 0 };
        guint32 utf8 = VD_AGENT_CLIPBOARD_UTF8_TEXT;
        int opt;

        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (opt) {
                case 'p': o.tls_port = (unsigned)atoi(optarg); break;
                case 'c': o.ca_file = optarg; break;
                case 'w': o.password = optarg; break;
                case 'g': guest = optarg; break;
                case 't': client = optarg; break;
                case 'T': timeout_ms = 1000u * (unsigned)atoi(optarg); break;
                default:
                        fprintf(stderr, "usage: clip --port P --ca FILE --password PW --guest-text HEX "
                                        "--client-text HEX [--timeout S]\n");
                        return 2;
                }
        }
        c.guest_want = unhex(guest);
        c.client_text = unhex(client);
        c.got = g_byte_array_new();

        struct spice_client *sc = spice_client_connect(&o);
        /* The handlers first: the guest grabs as soon as it saw our caps. */
        bool up = spice_client_wait_main(sc, timeout_ms);
        c.main = spice_client_main(sc);
        g_signal_connect(c.main, "main-clipboard-selection-grab", G_CALLBACK(on_grab), &c);
        g_signal_connect(c.main, "main-clipboard-selection", G_CALLBACK(on_data), &c);
        g_signal_connect(c.main, "main-clipboard-selection-request", G_CALLBACK(on_request), &c);
        check(up && spice_client_wait_primary(sc, timeout_ms), "SPICE main and display channels up");
        spice_client_run(timeout_ms, agent_up, &c);
        check(agent_up(&c), "the guest's agent is connected");

        /* guest -> client: the guest grabs when it has seen our caps */
        spice_client_run(timeout_ms, got_text, &c);
        check(c.got_done && c.got->len == c.guest_want->len &&
                          memcmp(c.got->data, c.guest_want->data, c.got->len) == 0,
                  "the guest's text arrived (%u bytes, want %u)", c.got->len, c.guest_want->len);

        /* client -> guest */
        spice_main_channel_clipboard_selection_grab(c.main, VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD, &utf8, 1);
        spice_client_run(timeout_ms, was_requested, &c);
        check(c.requested, "the guest asked for the client's text");
        spice_client_run(1000, NULL, NULL); /* let the text leave */

        spice_client_free(sc);
        g_byte_array_unref(c.guest_want);
        g_byte_array_unref(c.client_text);
        g_byte_array_unref(c.got);
        printf("1..%d\n", n_checks);
        return n_failed ? 1 : 0;
}
