/* A stand-alone SPICE server on the synthetic display, for probing it
 * from shell tests (tests/tls-profile.sh):
 *
 *   serve CERT KEY CA [TICKET]
 *
 * Listens on a free loopback TLS port, prints "port=N" once listening and
 * serves until SIGTERM or SIGINT. Without TICKET every session is refused
 * after the TLS handshake, which is all the probes need. With
 * VDI_SECCOMP=1 in the environment the server runs under vdi-vm's display
 * filter (hostd/vmm/jail.h) from before it starts, as in vdi-vm. */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "display/testsrc.h"
#include "jail.h"
#include "log.h"
#include "protocols/spice/spice-display.h"

static gboolean on_signal(gpointer loop)
{
        g_main_loop_quit(loop);
        return G_SOURCE_REMOVE;
}

static uint16_t free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        uint16_t port = 0;

        if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
                port = ntohs(a.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

int main(int argc, char **argv)
{
        struct display_server *srv = NULL;
        struct testsrc *t;
        GMainLoop *loop;
        char *err = NULL;
        int r = -EADDRINUSE;

        if (argc != 4 && argc != 5) {
                fprintf(stderr, "usage: serve CERT KEY CA [TICKET]\n");
                return 2;
        }
        log_set_level(LOG_LEVEL_WARNING);
        signal(SIGPIPE, SIG_IGN); /* a client that leaves is no reason to die */
        if (getenv("VDI_SECCOMP") && (jail_arm(false) < 0 || jail_enter(JAIL_DISPLAY) < 0)) {
                fprintf(stderr, "serve: cannot install the display filter\n");
                return 1;
        }
        t = testsrc_new(640, 480);
        testsrc_fill(t, (struct display_rect){ 0, 0, 640, 480 }, 0x00204060u);
        struct display_server_config cfg = {
                .listen_address = "127.0.0.1",
                .cert_file = argv[1],
                .key_file = argv[2],
                .ca_file = argv[3],
                .fps = 30,
        };
        /* Another process may take the port between the probe and the bind. */
        for (int attempt = 0; attempt < 5 && r == -EADDRINUSE; attempt++) {
                cfg.tls_port = free_port();
                g_clear_pointer(&err, g_free);
                r = spice_display_start(&cfg, testsrc_source(t), g_main_context_default(), &srv,
                                        &err);
        }
        if (r < 0) {
                fprintf(stderr, "serve: %s\n", err ? err : "cannot start");
                return 1;
        }
        if (argc == 5 && spice_display_set_ticket(srv, "user", argv[4], 300) < 0)
                return 1;
        loop = g_main_loop_new(NULL, FALSE);
        g_unix_signal_add(SIGTERM, on_signal, loop);
        g_unix_signal_add(SIGINT, on_signal, loop);
        printf("port=%u\n", cfg.tls_port);
        fflush(stdout);
        g_main_loop_run(loop);
        spice_display_stop(srv);
        g_main_loop_unref(loop);
        testsrc_free(t);
        return 0;
}
