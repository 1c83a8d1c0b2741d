/* A stand-alone web display server on the synthetic display, with the
 * portal's desktop page served same-origin, for trying the browser client
 * by hand and for shell tests:
 *
 *   serve CERT KEY TICKET [--tiles]
 *
 * Prints "port=N" once listening; serves until SIGTERM or SIGINT; prints
 * the input events that arrive ("key code=30 pressed=1", ...). */
#include "config.h"

#include <glib-unix.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "display/testsrc.h"
#include "log.h"
#include "protocols/web/web-server.h"

static gboolean on_signal(gpointer loop)
{
        g_main_loop_quit(loop);
        return G_SOURCE_REMOVE;
}

static gboolean print_events(gpointer data)
{
        struct testsrc_event ev[64];
        size_t n = testsrc_take_events(data, ev, G_N_ELEMENTS(ev));

        for (size_t i = 0; i < n; i++) {
                if (ev[i].type == TESTSRC_KEY)
                        printf("key code=%u pressed=%d\n", ev[i].code, ev[i].pressed);
                else if (ev[i].type == TESTSRC_POINTER)
                        printf("pointer x=%u y=%u buttons=%u\n", ev[i].x, ev[i].y, ev[i].buttons);
                else
                        printf("wheel delta=%d\n", ev[i].delta);
        }
        fflush(stdout);
        return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
        struct web_server_config cfg = { 0 };
        struct web_server *srv;
        struct testsrc *t;
        GMainLoop *loop;
        char *err = NULL;

        if (argc < 4) {
                fprintf(stderr, "usage: serve CERT KEY TICKET [--tiles]\n");
                return 2;
        }
        log_set_level(getenv("WEB_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
        t = testsrc_new(800, 600);
        testsrc_fill(t, (struct display_rect){ 0, 0, 800, 600 }, 0x00204060u);
        testsrc_pattern(t, (struct display_rect){ 200, 250, 300, 200 }, 5);
        cfg.cert_file = argv[1];
        cfg.key_file = argv[2];
        cfg.static_dir = PORTAL_SRC_DIR;
        cfg.force_tiles = argc > 4 && strcmp(argv[4], "--tiles") == 0;
        if (web_server_start(&cfg, testsrc_source(t), NULL, &srv, &err) < 0) {
                fprintf(stderr, "serve: %s\n", err ? err : "cannot start");
                return 1;
        }
        if (web_server_set_ticket(srv, "tester", argv[3], 3600) < 0)
                return 1;
        loop = g_main_loop_new(NULL, FALSE);
        g_unix_signal_add(SIGTERM, on_signal, loop);
        g_unix_signal_add(SIGINT, on_signal, loop);
        g_timeout_add(100, print_events, t);
        printf("port=%u\n", web_server_port(srv));
        fflush(stdout);
        g_main_loop_run(loop);
        web_server_stop(srv);
        g_main_loop_unref(loop);
        testsrc_free(t);
        return 0;
}
