/* vdi-hostd: main() wiring. See hostd/hostd.h. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "hostd/hostd.h"
#include "http.h"
#include "log.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: vdi-hostd [OPTIONS]\n"
                "Serve one desktop host: images, linked clones, vdi-vm processes, tickets.\n"
                "\n"
                "  -c, --config PATH   configuration file (default /etc/vdi/hostd.conf)\n"
                "      --foreground    run in the foreground (it always does; for symmetry\n"
                "                      with the other daemons and systemd's Type=exec)\n"
                "      --check-config  load the configuration, report problems, exit\n"
                "      --print-example print a commented configuration file and exit\n"
                "  -h, --help          show this help\n"
                "\n"
                "SIGTERM/SIGINT stop the daemon but not the VMs: a restarted vdi-hostd\n"
                "re-adopts them from state_dir.\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "foreground", no_argument, NULL, 'F' },
                { "check-config", no_argument, NULL, 'C' },
                { "print-example", no_argument, NULL, 'P' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *path = "/etc/vdi/hostd.conf";
        bool check_only = false;
        struct hostd_config cfg = { 0 };
        struct hostd h;
        struct http_server *srv = NULL;
        struct http_config hc;
        g_autofree char *error = NULL;
        enum log_level level;
        sigset_t set;
        int c, sig, r;

        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case 'F':
                        break;
                case 'C':
                        check_only = true;
                        break;
                case 'P':
                        conf_print_example(hostd_conf_options, hostd_conf_n_options, stdout);
                        return 0;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "vdi-hostd: unexpected argument \"%s\" (see --help)\n",
                        argv[optind]);
                return 2;
        }
        if (hostd_config_load(path, &cfg, &error) < 0) {
                fprintf(stderr, "vdi-hostd: %s\n", error);
                hostd_config_free(&cfg);
                return 1;
        }
        if (log_level_from_string(cfg.log_level, &level) < 0) {
                fprintf(stderr, "vdi-hostd: %s: [hostd] log_level: \"%s\" is not one of "
                        "error|warning|notice|info|debug\n", path, cfg.log_level);
                hostd_config_free(&cfg);
                return 1;
        }
        if (check_only) {
                printf("%s: ok\n", path);
                hostd_config_free(&cfg);
                return 0;
        }
        log_setup("vdi-hostd", level);

        /* Signals are taken by sigwait below; threads inherit the mask. */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = hostd_init(&h, &cfg, &error);
        if (r < 0) {
                g_autofree char *quoted = log_quote(error);
                log_error("start_failed", "error=%s", quoted);
                goto out;
        }
        log_notice("vm_features", "binary=%s disk=%d control=%d framebuffer=%d user=%d",
                   cfg.vm_binary, h.caps.disk, h.caps.control, h.caps.framebuffer, h.caps.user);
        r = hostd_monitor_start(&h, &error);
        if (r < 0) {
                g_autofree char *quoted = log_quote(error);
                log_error("start_failed", "error=%s", quoted);
                goto out_fini;
        }
        hc = (struct http_config){
                .listen_addr = cfg.listen,
                .port = (uint16_t)cfg.port,
                .cert_file = cfg.cert,
                .key_file = cfg.key,
                .client_ca_file = cfg.client_ca,
                .threads = (unsigned)cfg.threads,
                .max_body = (size_t)cfg.max_body,
                .timeout_s = 60,
                .max_connections = 256,
        };
        r = http_server_start(&hc, hostd_routes, hostd_n_routes, &h, &srv, &error);
        if (r < 0) {
                g_autofree char *quoted = log_quote(error);
                log_error("start_failed", "error=%s", quoted);
                goto out_monitor;
        }
        h.api_port = http_server_port(srv);
        r = hostd_report_start(&h, &error);
        if (r < 0) {
                g_autofree char *quoted = log_quote(error);
                log_error("start_failed", "error=%s", quoted);
                goto out_http;
        }
        log_notice("started", "host=%s listen=%s port=%d state_dir=%s images=%u vms=%u database=%s",
                   cfg.name, cfg.listen, h.api_port, cfg.state_dir,
                   g_hash_table_size(h.images), g_hash_table_size(h.vms),
                   h.report ? "yes" : "no");
        /* Tests read the port from here when they asked for port 0. */
        printf("listening port=%d\n", h.api_port);
        fflush(stdout);

        do {
                if (sigwait(&set, &sig) != 0)
                        break;
        } while (sig == SIGHUP); /* nothing to reload yet */
        log_notice("stopping", "signal=%s vms_left_running=yes", strsignal(sig));
        r = 0;
        hostd_report_stop(&h);
out_http:
        http_server_stop(srv);
out_monitor:
        hostd_monitor_stop(&h);
out_fini:
        hostd_fini(&h);
out:
        hostd_config_free(&cfg);
        return r < 0 ? 1 : 0;
}
