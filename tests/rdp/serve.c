/* A stand-alone RDP server on the synthetic display, for driving external
 * clients (xfreerdp) from shell tests:
 *
 *   serve CERT KEY USER:PASSWORD [USER:PASSWORD...]
 *
 * Prints "port=N" once listening, serves until SIGTERM or SIGINT, and
 * prints "frames=… h264=… planar=… bitmap=… logons=… refused=…" on SIGUSR1
 * and at exit. With VDI_SECCOMP=1 in the environment the server runs
 * under vdi-vm's display filter (hostd/vmm/jail.h) from before it starts,
 * as in vdi-vm. */
#include "config.h"

#include <glib-unix.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "display/testsrc.h"
#include "jail.h"
#include "log.h"
#include "protocols/rdp/rdp-server.h"

static struct rdp_server *server;

static gboolean on_signal(gpointer loop)
{
        g_main_loop_quit(loop);
        return G_SOURCE_REMOVE;
}

static void print_stats(void)
{
        struct rdp_server_stats st;
        rdp_server_get_stats(server, &st);
        printf("frames=%" PRIu64 " h264=%" PRIu64 " planar=%" PRIu64 " bitmap=%" PRIu64
               " logons=%" PRIu64 " refused=%" PRIu64 "\n",
               st.frames, st.h264_frames, st.planar_frames, st.bitmap_frames, st.logons, st.refused);
        fflush(stdout); /* also before LeakSanitizer's exit, if it has something to say */
}

static gboolean on_usr1(gpointer unused)
{
        print_stats();
        return G_SOURCE_CONTINUE;
}

static gboolean animate(gpointer data)
{
        static uint32_t k;
        struct testsrc *t = data;
        k++;
        testsrc_fill(t, (struct display_rect){ (k * 7) % 600, 100, 40, 40 }, 0x00ffc000u);
        testsrc_fill(t, (struct display_rect){ ((k - 1) * 7) % 600, 100, 40, 40 }, 0x00204060u);
        return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
        struct rdp_server_config cfg = { 0 };
        struct rdp_server *srv;
        struct testsrc *t;
        GMainLoop *loop;
        char *err = NULL;

        if (argc < 4) {
                fprintf(stderr, "usage: serve CERT KEY USER:PASSWORD...\n");
                return 2;
        }
        log_set_level(getenv("RDP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
        t = testsrc_new(800, 600);
        testsrc_fill(t, (struct display_rect){ 0, 0, 800, 600 }, 0x00204060u);
        testsrc_pattern(t, (struct display_rect){ 200, 250, 300, 200 }, 5);
        if (getenv("VDI_SECCOMP") && (jail_arm(false) < 0 || jail_enter(JAIL_DISPLAY) < 0)) {
                fprintf(stderr, "serve: cannot install the display filter\n");
                return 1;
        }
        cfg.cert_file = argv[1];
        cfg.key_file = argv[2];
        if (rdp_server_start(&cfg, testsrc_source(t), NULL, &srv, &err) < 0) {
                fprintf(stderr, "serve: %s\n", err ? err : "cannot start");
                return 1;
        }
        for (int i = 3; i < argc; i++) {
                char *sep = strchr(argv[i], ':');
                if (!sep)
                        return 2;
                *sep = '\0';
                if (rdp_server_set_ticket(srv, argv[i], sep + 1, 120) < 0)
                        return 1;
        }
        loop = g_main_loop_new(NULL, FALSE);
        g_unix_signal_add(SIGTERM, on_signal, loop);
        g_unix_signal_add(SIGINT, on_signal, loop);
        g_unix_signal_add(SIGUSR1, on_usr1, NULL);
        g_timeout_add(50, animate, t);
        server = srv;
        printf("port=%u\n", rdp_server_port(srv));
        fflush(stdout);
        g_main_loop_run(loop);
        print_stats();
        rdp_server_stop(srv);
        g_main_loop_unref(loop);
        testsrc_free(t);
        return 0;
}
