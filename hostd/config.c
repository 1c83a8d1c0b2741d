/* The schema of /etc/vdi/hostd.conf. hostd.conf.example is generated from
 * this table (vdi-hostd --print-example), so the shipped example cannot
 * drift from the code. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "hostd/net.h"

#define C struct hostd_config
#define O(f) offsetof(C, f)

const struct conf_option hostd_conf_options[] = {
        { "hostd", "name", CONF_STRING, O(name), NULL, 0, 0, 0,
          "this host's name in the database (default: the system host name)" },
        { "hostd", "state_dir", CONF_PATH, O(state_dir), "/var/lib/vdi-hostd", 0, 0, 0,
          "images, linked clones and per-VM directories (consoles, logs)" },
        { "hostd", "runtime_dir", CONF_PATH, O(runtime_dir), "/run/vdi-hostd", 0, 0, 0,
          "the VMs' control sockets (a local file system: not NFS or 9p); one per host daemon" },
        { "hostd", "log_level", CONF_STRING, O(log_level), "info", 0, 0, 0,
          "error|warning|notice|info|debug" },

        { "api", "listen", CONF_STRING, O(listen), "::", 0, 0, 0,
          "address the control API listens on (IPv4 or IPv6 literal)" },
        { "api", "port", CONF_INT, O(port), "8443", 0, 65535, 0,
          "HTTPS port of the control API (0 picks a free port; tests only)" },
        { "api", "cert", CONF_PATH, O(cert), NULL, 0, 0, CONF_REQUIRED | CONF_FILE_EXISTS,
          "this host's TLS certificate (PEM), signed by the cluster CA" },
        { "api", "key", CONF_PATH, O(key), NULL, 0, 0, CONF_REQUIRED | CONF_FILE_EXISTS,
          "its private key (PEM)" },
        { "api", "client_ca", CONF_PATH, O(client_ca), NULL, 0, 0,
          CONF_REQUIRED | CONF_FILE_EXISTS,
          "cluster CA (PEM): only clients (brokers) with a certificate it signed are served" },
        { "api", "threads", CONF_INT, O(threads), "4", 1, 64, 0, "request handler threads" },
        { "api", "max_body", CONF_INT, O(max_body), "65536", 1024, 1048576, 0,
          "largest request body in bytes; larger requests get 413" },
        { "api", "public_address", CONF_STRING, O(public_address), NULL, 0, 0, 0,
          "address SPICE/RDP clients connect to, returned with tickets (default: name)" },

        { "vm", "binary", CONF_PATH, O(vm_binary), BINDIR "/vdi-vm", 0, 0, 0,
          "the vdi-vm program started for each desktop" },
        { "vm", "user", CONF_STRING, O(vm_user), "vdi-vm", 0, 0, 0,
          "unprivileged user vdi-vm switches to after opening /dev/kvm, its disk and "
          "sockets (passed as --user when vdi-vm supports it; create it with "
          "useradd --system vdi-vm)" },
        { "vm", "seccomp", CONF_BOOL, O(vm_seccomp), "true", 0, 0, 0,
          "confine each vdi-vm's threads to their seccomp allowlists (vdi-vm --seccomp on); a "
          "forbidden call kills that desktop and its crash reason names the call. false only "
          "to rule the filters out when debugging" },
        { "vm", "port_min", CONF_INT, O(port_min), "5900", 1024, 65535, 0,
          "first TCP port handed to VMs' SPICE, RDP and web display servers" },
        { "vm", "port_max", CONF_INT, O(port_max), "6899", 1024, 65535, 0,
          "last such port (two per VM, three with web_origin)" },
        { "vm", "display_listen", CONF_STRING, O(display_listen), "0.0.0.0", 0, 0, 0,
          "address the VMs' SPICE and RDP servers listen on (they use the [api] certificate, "
          "key and CA)" },
        { "vm", "web_origin", CONF_STRING, O(web_origin), NULL, 0, 0, 0,
          "origin of the portal whose gateway relays browsers to the VMs' web display "
          "(https://HOST[:PORT]); unset: no web display" },
        { "vm", "framebuffer", CONF_STRING, O(framebuffer), "1280x800", 0, 0, 0,
          "guest framebuffer size WxH" },
        { "vm", "stop_timeout_s", CONF_INT, O(stop_timeout_s), "15", 1, 600, 0,
          "how long a stop waits for the guest before vdi-vm is killed" },
        { "vm", "ticket_default_s", CONF_INT, O(ticket_default_s), "120", 10, 3600, 0,
          "lifetime of a ticket when the request names none" },
        { "vm", "ticket_max_s", CONF_INT, O(ticket_max_s), "600", 10, 86400, 0,
          "longest ticket lifetime a broker may ask for" },
        { "vm", "parent_ready_timeout_s", CONF_INT, O(parent_ready_timeout_s), "900", 10, 86400, 0,
          "how long an instant-clone parent may take from its start until its guest agent is up "
          "(then it is suspended and its clones fork from it)" },
        { "vm", "reserve_memory_mb", CONF_INT, O(reserve_memory_mb), "1024", 0, 1 << 24, 0,
          "memory kept for the host itself; not offered to VMs in the status" },

        { "database", "conninfo", CONF_STRING, O(conninfo), NULL, 0, 0, CONF_SECRET,
          "libpq connection string; when set, hostd registers this host, heartbeats and "
          "writes VM events and desktop states there (prefer ~/.pgpass for the password)" },
        { "database", "heartbeat_s", CONF_INT, O(heartbeat_s), "10", 1, 3600, 0,
          "seconds between heartbeats" },

        { "network", "mac_prefix", CONF_STRING, O(mac_prefix), "02:56:44", 0, 0, 0,
          "first three bytes of desktops' MAC addresses (the rest hashes the VM id); must be "
          "locally administered and unicast (second-lowest bit of the first byte set, lowest "
          "clear), e.g. 02:xx:xx, 06:xx:xx, 0a:xx:xx" },

        { "reconnect", "public_key", CONF_PATH, O(reconnect_key), NULL, 0, 0, CONF_FILE_EXISTS,
          "the brokers' Ed25519 public key (PEM; openssl pkey -in KEY -pubout): reconnect "
          "tickets signed with it let users back into their desktop while the database is "
          "down; unset, they are refused" },
};
const size_t hostd_conf_n_options = sizeof(hostd_conf_options) / sizeof(hostd_conf_options[0]);

int hostd_config_load(const char *path, struct hostd_config *cfg, char **error)
{
        int r = conf_load_file(path, hostd_conf_options, hostd_conf_n_options, cfg, error);
        unsigned w, hgt;
        char c;

        if (r < 0)
                return r;
        if (!cfg->name || !*cfg->name) {
                char hn[256] = "";
                gethostname(hn, sizeof(hn) - 1);
                g_free(cfg->name);
                cfg->name = g_strdup(hn[0] ? hn : "localhost");
        }
        if (!cfg->public_address || !*cfg->public_address) {
                g_free(cfg->public_address);
                cfg->public_address = g_strdup(cfg->name);
        }
        if (cfg->port_max < cfg->port_min + 1) {
                *error = g_strdup_printf("%s: [vm] port_max: %lld must be above port_min (%lld)",
                                         path, (long long)cfg->port_max,
                                         (long long)cfg->port_min);
                return -EINVAL;
        }
        if (cfg->web_origin && !*cfg->web_origin)
                g_clear_pointer(&cfg->web_origin, g_free);
        if (cfg->web_origin &&
            (!g_str_has_prefix(cfg->web_origin, "https://") || !cfg->web_origin[8] ||
             strchr(cfg->web_origin + 8, '/'))) {
                *error = g_strdup_printf("%s: [vm] web_origin: \"%s\" is not an origin like "
                                         "https://vdi.example.com (https, no path)",
                                         path, cfg->web_origin);
                return -EINVAL;
        }
        if (sscanf(cfg->framebuffer, "%ux%u%c", &w, &hgt, &c) != 2 || w < 320 || hgt < 200 ||
            w > 8192 || hgt > 8192) {
                *error = g_strdup_printf("%s: [vm] framebuffer: \"%s\" is not WxH (320x200 to "
                                         "8192x8192)",
                                         path, cfg->framebuffer);
                return -EINVAL;
        }
        r = net_mac_prefix_parse(cfg->mac_prefix, cfg->mac_prefix_bytes);
        if (r < 0) {
                *error = g_strdup_printf(r == -EINVAL ? "%s: [network] mac_prefix: \"%s\" is not three hex bytes "
                                                        "like 02:56:44"
                                                      : "%s: [network] mac_prefix: \"%s\" is not a locally "
                                                        "administered unicast prefix (first byte with bit 1 set and "
                                                        "bit 0 clear, e.g. 02:56:44)",
                                         path, cfg->mac_prefix);
                return -EINVAL;
        }
        /* runtime_dir/ID.sock must fit sockaddr_un.sun_path. */
        if (strlen(cfg->runtime_dir) + strlen("/.sock") + HOSTD_ID_MAX >=
            sizeof(((struct sockaddr_un *)0)->sun_path)) {
                *error = g_strdup_printf("%s: [hostd] runtime_dir: \"%s\" is too long for VM "
                                         "control sockets (at most %zu characters)",
                                         path, cfg->runtime_dir,
                                         sizeof(((struct sockaddr_un *)0)->sun_path) - 1 -
                                                 strlen("/.sock") - HOSTD_ID_MAX);
                return -EINVAL;
        }
        return 0;
}

void hostd_config_free(struct hostd_config *cfg)
{
        conf_free(hostd_conf_options, hostd_conf_n_options, cfg);
}
