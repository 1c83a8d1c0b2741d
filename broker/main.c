/* vdi-brokerd: the portal, user and admin API (broker/broker.h).
 *
 *   vdi-brokerd [--config FILE] [--foreground] [--migrate] [--check-config]
 *               [--print-example]
 *
 * --migrate applies missing schema migrations and exits. Without it the
 * daemon refuses a database whose schema is older (unless [database]
 * auto_migrate) or newer than it knows. Without --foreground the daemon
 * detaches after it listens (stderr stays the log; under systemd use
 * --foreground). */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "log.h"
#include "pools/loop.h"

#define DEFAULT_CONFIG SYSCONFDIR "/vdi/broker.conf"

static void usage(FILE *f)
{
        fprintf(f, "usage: vdi-brokerd [--config FILE] [--foreground] [--migrate] "
                   "[--check-config] [--print-example]\n"
                   "  --config FILE     configuration (default " DEFAULT_CONFIG ")\n"
                   "  --foreground      do not detach (for systemd and development)\n"
                   "  --migrate         apply missing database migrations, then exit\n"
                   "  --check-config    load and validate the configuration, then exit\n"
                   "  --print-example   print a commented example configuration\n");
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "config", required_argument, NULL, 'c' },
                { "foreground", no_argument, NULL, 'f' },
                { "migrate", no_argument, NULL, 'm' },
                { "check-config", no_argument, NULL, 'k' },
                { "print-example", no_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config = DEFAULT_CONFIG;
        bool foreground = false, migrate = false, check = false;
        struct broker_config cfg = { 0 };
        struct broker *b = NULL;
        struct pool_loop *loop = NULL;
        char *err = NULL;
        enum log_level level = LOG_LEVEL_INFO;
        sigset_t sigs;
        int opt, sig, r, status = EXIT_FAILURE;

        while ((opt = getopt_long(argc, argv, "c:fmkph", longopts, NULL)) != -1) {
                switch (opt) {
                case 'c': config = optarg; break;
                case 'f': foreground = true; break;
                case 'm': migrate = true; break;
                case 'k': check = true; break;
                case 'p':
                        conf_print_example(broker_conf_options, broker_conf_options_count, stdout);
                        return EXIT_SUCCESS;
                case 'h': usage(stdout); return EXIT_SUCCESS;
                default: usage(stderr); return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        log_setup("vdi-brokerd", LOG_LEVEL_INFO);
        if (conf_load_file(config, broker_conf_options, broker_conf_options_count, &cfg, &err) <
            0) {
                fprintf(stderr, "vdi-brokerd: %s\n", err);
                goto out;
        }
        if (log_level_from_string(cfg.log_level, &level) < 0) {
                fprintf(stderr, "vdi-brokerd: %s: [log] level: \"%s\" is not one of error, "
                                "warning, notice, info, debug\n",
                        config, cfg.log_level);
                goto out;
        }
        log_set_level(level);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = broker_new(&cfg, &b, &err);
        if (r < 0) {
                fprintf(stderr, "vdi-brokerd: %s: %s\n", config, err);
                goto out;
        }
        if (check) {
                printf("%s: configuration is valid\n", config);
                status = EXIT_SUCCESS;
                goto out;
        }
        r = db_migrate(b->db, migrate || cfg.db_auto_migrate, &err);
        if (r < 0) {
                log_error("schema", "error=\"%s\"", err);
                fprintf(stderr, "vdi-brokerd: %s\n", err);
                goto out;
        }
        if (migrate) {
                log_notice("schema_current", "version=%u", db_schema_known_version());
                status = EXIT_SUCCESS;
                goto out;
        }

        /* Block the stop signals before threads start, then wait for them. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (!foreground && daemon(0, 1) < 0) {
                fprintf(stderr, "vdi-brokerd: cannot detach: %s\n", strerror(errno));
                goto out;
        }
        r = broker_start(b, &err);
        if (r < 0) {
                log_error("start_failed", "error=\"%s\"", err);
                fprintf(stderr, "vdi-brokerd: %s\n", err);
                goto out;
        }
        log_notice("started", "listen=%s port=%u schema=%u", cfg.listen, broker_port(b),
                   db_schema_known_version());
        if (cfg.pools_enabled) {
                struct pool_loop_config pcfg = {
                        .conninfo = cfg.conninfo,
                        .hosts = { .cert_file = cfg.host_cert,
                                   .key_file = cfg.host_key,
                                   .ca_file = cfg.host_ca,
                                   .connect_timeout_ms = (unsigned)cfg.host_connect_timeout_ms },
                        .interval_ms = (unsigned)cfg.pools_interval_ms,
                        .policy = { .release_idle_s = cfg.pools_release_idle_s,
                                    .heartbeat_timeout_s = cfg.heartbeat_timeout_s,
                                    .vcpu_overcommit = (int)cfg.pools_vcpu_overcommit },
                        .host_timeout_ms = (unsigned)cfg.host_timeout_ms,
                        .name = "vdi-brokerd",
                };
                r = pool_loop_start(&pcfg, &loop, &err);
                if (r < 0) {
                        log_error("pool_loop_failed", "error=\"%s\"", err);
                        fprintf(stderr, "vdi-brokerd: pool loop: %s\n", err);
                        goto out;
                }
        }
        for (;;) {
                if (sigwait(&sigs, &sig) != 0)
                        continue;
                if (sig == SIGHUP) {
                        log_info("sighup_ignored", "reason=\"restart to reload the config\"");
                        continue;
                }
                break;
        }
        log_notice("stopping", "signal=%d", sig);
        status = EXIT_SUCCESS;
out:
        pool_loop_stop(loop);
        broker_free(b);
        conf_free(broker_conf_options, broker_conf_options_count, &cfg);
        free(err);
        curl_global_cleanup();
        return status;
}
