/* vdi-gateway's configuration schema (gateway/gateway.conf.example is
 * what vdi-gateway --print-example prints). */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "gateway/gateway.h"

#define O(f) offsetof(struct gateway_config, f)

const struct conf_option gateway_conf_options[] = {
        { "gateway", "listen", CONF_STRING, O(listen), "127.0.0.1", 0, 0, 0,
          "address to listen on (the load balancer in front connects here)" },
        { "gateway", "port", CONF_INT, O(port), "8444", 0, 65535, 0,
          "TCP port (HTTPS and WebSocket)" },
        { "gateway", "cert", CONF_PATH, O(cert), NULL, 0, 0, CONF_REQUIRED | CONF_FILE_EXISTS,
          "server certificate (PEM), signed by the deployment CA" },
        { "gateway", "key", CONF_PATH, O(key), NULL, 0, 0, CONF_REQUIRED | CONF_FILE_EXISTS,
          "its private key (PEM)" },
        { "gateway", "origin", CONF_STRING, O(origin), NULL, 0, 0, CONF_REQUIRED,
          "the portal's origin (https://HOST[:PORT]), as browsers send it: every other Origin "
          "is refused (403); hosts' [vm] web_origin must be the same" },
        { "gateway", "path", CONF_STRING, O(path), "/gateway/ws", 0, 0, 0,
          "path of the WebSocket; the brokers' [portal] web_gateway_path" },
        { "gateway", "broker_url", CONF_STRING, O(broker_url), NULL, 0, 0, CONF_REQUIRED,
          "https://HOST:PORT of the brokers (or their load balancer), asked to redeem tickets" },
        { "gateway", "ca_file", CONF_PATH, O(ca_file), NULL, 0, 0,
          CONF_REQUIRED | CONF_FILE_EXISTS,
          "deployment CA (PEM) that signed the brokers' and the hosts' certificates" },

        { "limits", "max_sessions", CONF_INT, O(max_sessions), "1000", 1, 100000, 0,
          "relays at once; more are refused (close 4006, try again later)" },
        { "limits", "max_pending", CONF_INT, O(max_pending), "64", 1, 10000, 0,
          "connections at once that are not relaying yet (no HELLO, redeeming, connecting)" },
        { "limits", "hello_timeout_s", CONF_INT, O(hello_timeout_s), "10", 1, 300, 0,
          "a connection must send its HELLO within this long" },
        { "limits", "connect_timeout_s", CONF_INT, O(connect_timeout_s), "10", 1, 300, 0,
          "limit for the broker's answer and for connecting to the desktop's display" },
        { "limits", "max_input_bytes_per_s", CONF_INT, O(max_input_bytes_per_s), "1048576", 65536,
          1073741824, 0, "a browser sending faster than this (bytes, any one second) is closed "
          "(1008): input is small, nothing queues without bound towards the host" },
        { "limits", "max_frames_ahead", CONF_INT, O(max_frames_ahead), "8", 2, 64, 0,
          "frames sent to a browser that it has not acknowledged, at most (the display keeps "
          "2): a host going further is closed (1011), so nothing queues without bound "
          "towards a slow browser" },

        { "log", "level", CONF_STRING, O(log_level), "info", 0, 0, 0,
          "error, warning, notice, info or debug" },
};
const size_t gateway_conf_options_count = sizeof(gateway_conf_options) / sizeof(gateway_conf_options[0]);

static bool is_origin(const char *s)
{
        /* https://HOST[:PORT], no path, as a browser's Origin header. */
        return g_str_has_prefix(s, "https://") && s[8] && !strpbrk(s + 8, "/ \t\r\n\"<>?#");
}

int gateway_config_check(const struct gateway_config *cfg, char **error)
{
        if (!is_origin(cfg->origin)) {
                *error = g_strdup_printf("[gateway] origin: \"%s\" is not an origin like "
                                         "https://portal.example.com", cfg->origin);
                return -EINVAL;
        }
        if (cfg->path[0] != '/' || strpbrk(cfg->path, " \t\r\n\"<>?#")) {
                *error = g_strdup_printf("[gateway] path: \"%s\" is not a path like /gateway/ws",
                                         cfg->path);
                return -EINVAL;
        }
        if (!is_origin(cfg->broker_url)) {
                *error = g_strdup_printf("[gateway] broker_url: \"%s\" is not like "
                                         "https://broker.example.com:8443 (no path)",
                                         cfg->broker_url);
                return -EINVAL;
        }
        return 0;
}
