/* bench/display-rdp-shadow: FreeRDP's shadow server (libfreerdp-shadow2
 * with its X11 subsystem) exactly as freerdp-shadow-cli starts it, for
 * bench/display-rdp to compare against when the freerdp2-shadow-x11
 * package (which ships the CLI) is not installed. Arguments are the CLI's
 * (/port:N, -auth, /sec:tls, ...); it shares $DISPLAY. Runs until killed. */
#include "config.h"

#include <freerdp/server/shadow.h>
#include <stdio.h>
#include <winpr/synch.h>

int main(int argc, char **argv)
{
        rdpShadowServer *server;
        int status;

        shadow_subsystem_set_entry_builtin(NULL);
        server = shadow_server_new();
        if (!server)
                return 1;
        /* The CLI's defaults: TLS or RDP security, authentication through
         * the X11 subsystem unless -auth. */
        server->settings->NlaSecurity = FALSE;
        server->settings->TlsSecurity = TRUE;
        server->settings->RdpSecurity = TRUE;
        server->authentication = TRUE;
        status = shadow_server_parse_command_line(server, argc, argv);
        if (status < 0) {
                shadow_server_command_line_status_print(server, argc, argv, status);
        } else if ((status = shadow_server_init(server)) >= 0) {
                if ((status = shadow_server_start(server)) >= 0) {
                        printf("started\n");
                        fflush(stdout);
                        WaitForSingleObject(server->thread, INFINITE);
                }
                shadow_server_uninit(server);
        }
        shadow_server_free(server);
        return status < 0 ? 1 : 0;
}
