/* vdi-gateway: the browsers' WebSocket relay (gateway/gateway.h).
 *
 *   vdi-gateway [--config FILE] [--check-config] [--print-example]
 *
 * Runs in the foreground (systemd's Type=simple); prints "port=N" on
 * stdout once listening, for tests and scripts; stops on SIGTERM/SIGINT. */
#include "config.h"

#include <getopt.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>

#include "gateway/gateway.h"
#include "log.h"

#define DEFAULT_CONFIG SYSCONFDIR "/vdi/gateway.conf"

static void usage(FILE *f)
{
        fprintf(f, "usage: vdi-gateway [--config FILE] [--check-config] [--print-example]\n"
                   "  --config FILE     configuration (default " DEFAULT_CONFIG ")\n"
                   "  --check-config    load and validate the configuration, then exit\n"
                   "  --print-example   print a commented example configuration\n");
}

static gboolean on_signal(gpointer loop)
{
        g_main_loop_quit(loop);
        return G_SOURCE_REMOVE;
}

static int run(const struct gateway_config *cfg)
{
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        struct gateway *g = NULL;
        struct gateway_stats st;
        g_autofree char *err = NULL;

        if (gateway_start(cfg, &g, &err) < 0) {
                log_error("gateway_start_failed", "error=\"%s\"", err);
                return EXIT_FAILURE;
        }
        g_unix_signal_add(SIGTERM, on_signal, loop);
        g_unix_signal_add(SIGINT, on_signal, loop);
        printf("port=%u\n", gateway_port(g));
        fflush(stdout);
        g_main_loop_run(loop);
        gateway_get_stats(g, &st);
        log_info("gateway_stop", "relays_opened=%" G_GUINT64_FORMAT " refused=%" G_GUINT64_FORMAT,
                 st.relays_opened, st.refused);
        gateway_stop(g);
        return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, 'k' },
                { "print-example", no_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config = DEFAULT_CONFIG;
        struct gateway_config cfg = { 0 };
        enum log_level level;
        bool check = false;
        char *err = NULL;
        int opt, status;

        while ((opt = getopt_long(argc, argv, "c:kph", longopts, NULL)) != -1) {
                switch (opt) {
                case 'c': config = optarg; break;
                case 'k': check = true; break;
                case 'p':
                        conf_print_example(gateway_conf_options, gateway_conf_options_count, stdout);
                        return EXIT_SUCCESS;
                case 'h': usage(stdout); return EXIT_SUCCESS;
                default: usage(stderr); return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        log_setup("vdi-gateway", LOG_LEVEL_INFO);
        if (conf_load_file(config, gateway_conf_options, gateway_conf_options_count, &cfg, &err) < 0 ||
            gateway_config_check(&cfg, &err) < 0) {
                fprintf(stderr, "vdi-gateway: %s\n", err);
                free(err);
                conf_free(gateway_conf_options, gateway_conf_options_count, &cfg);
                return EXIT_FAILURE;
        }
        if (log_level_from_string(cfg.log_level, &level) < 0) {
                fprintf(stderr, "vdi-gateway: %s: [log] level: \"%s\" is not error, warning, "
                                "notice, info or debug\n", config, cfg.log_level);
                conf_free(gateway_conf_options, gateway_conf_options_count, &cfg);
                return EXIT_FAILURE;
        }
        log_set_level(level);
        status = check ? EXIT_SUCCESS : run(&cfg);
        conf_free(gateway_conf_options, gateway_conf_options_count, &cfg);
        return status;
}
