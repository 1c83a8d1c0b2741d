/* The schema of /etc/vdi/broker.conf (broker/broker.h). broker.conf.example
 * is generated from this table (vdi-brokerd --print-example), so the
 * shipped example cannot drift from the code. */
#include "config.h"

#include <stddef.h>

#include "broker/broker.h"

#define C struct broker_config
#define O(f) offsetof(C, f)

const struct conf_option broker_conf_options[] = {
        { "http", "listen", CONF_STRING, O(listen), "::", 0, 0, 0,
          "address to listen on (IPv4 or IPv6 literal; :: for all)" },
        { "http", "port", CONF_INT, O(port), "443", 0, 65535, 0,
          "HTTPS port (0 picks a free port; tests only)" },
        { "http", "cert", CONF_PATH, O(cert), NULL, 0, 0, CONF_REQUIRED | CONF_FILE_EXISTS,
          "TLS certificate chain (PEM) served to browsers and vdictl" },
        { "http", "key", CONF_PATH, O(key), NULL, 0, 0, CONF_REQUIRED | CONF_FILE_EXISTS,
          "its private key (PEM)" },
        { "http", "threads", CONF_INT, O(threads), "8", 1, 256, 0,
          "request handler threads (each may wait on LDAP, PostgreSQL or a host)" },
        { "http", "max_body", CONF_INT, O(max_body), "65536", 1024, 16777216, 0,
          "largest request body in bytes; larger requests get 413" },
        { "http", "timeout_s", CONF_INT, O(timeout_s), "30", 1, 3600, 0,
          "idle connection timeout in seconds" },

        { "database", "conninfo", CONF_STRING, O(conninfo), NULL, 0, 0,
          CONF_REQUIRED | CONF_SECRET,
          "libpq connection string, e.g. host=db.example.org dbname=vdi user=vdi "
          "(prefer a ~/.pgpass or PGPASSFILE over a password here); with a streaming "
          "replica name both and only accept the writable one, e.g. host=db1,db2 "
          "target_session_attrs=read-write: after a promotion the broker follows by itself" },
        { "database", "pool_size", CONF_INT, O(db_pool_size), "8", 1, 256, 0,
          "PostgreSQL connections kept by this broker" },
        { "database", "connect_timeout_ms", CONF_INT, O(db_connect_timeout_ms), "5000", 100,
          120000, 0, "limit for opening one connection" },
        { "database", "statement_timeout_ms", CONF_INT, O(db_statement_timeout_ms), "10000", 100,
          600000, 0, "server-side limit for each statement" },
        { "database", "acquire_timeout_ms", CONF_INT, O(db_acquire_timeout_ms), "5000", 10,
          120000, 0, "how long a request waits for a free pooled connection" },
        { "database", "auto_migrate", CONF_BOOL, O(db_auto_migrate), "false", 0, 0, 0,
          "apply missing schema migrations at start (else run vdi-brokerd --migrate once)" },

        AUTH_LDAP_CONF_OPTIONS(C, ldap),
        AUTH_LOCAL_CONF_OPTIONS(C, local),

        { "session", "idle_timeout_s", CONF_INT, O(idle_timeout_s), "1800", 60, 604800, 0,
          "a portal session ends after this long without a request" },
        { "session", "absolute_timeout_s", CONF_INT, O(absolute_timeout_s), "43200", 300,
          2592000, 0, "a portal session ends this long after sign-in, whatever happens" },

        { "throttle", "account_failures", CONF_INT, O(account_failures), "5", 1, 1000, 0,
          "failed sign-ins per account within window_s before further attempts get 429" },
        { "throttle", "address_failures", CONF_INT, O(address_failures), "30", 1, 100000, 0,
          "failed sign-ins per client address within window_s before further attempts get 429" },
        { "throttle", "window_s", CONF_INT, O(throttle_window_s), "300", 10, 86400, 0,
          "length of the throttling window in seconds" },

        { "admin", "groups", CONF_STRING, O(admin_groups), NULL, 0, 0, 0,
          "group DNs, separated by ';' (as the directory spells them; compared case-insensitively) whose "
          "members may use the admin API; the local admin always may" },
        { "admin", "fresh_s", CONF_INT, O(admin_fresh_s), "3600", 60, 2592000, 0,
          "an admin's changes (not reads) need a sign-in at most this long ago; older sessions "
          "get 403 stale_session and sign in again" },

        { "hosts", "client_cert", CONF_PATH, O(host_cert), NULL, 0, 0,
          CONF_REQUIRED | CONF_FILE_EXISTS,
          "the broker's client certificate (PEM) for the hosts' API (mutual TLS)" },
        { "hosts", "client_key", CONF_PATH, O(host_key), NULL, 0, 0,
          CONF_REQUIRED | CONF_FILE_EXISTS, "its private key (PEM)" },
        { "hosts", "ca_file", CONF_PATH, O(host_ca), NULL, 0, 0,
          CONF_REQUIRED | CONF_FILE_EXISTS, "cluster CA that signed the hosts' certificates" },
        { "hosts", "connect_timeout_ms", CONF_INT, O(host_connect_timeout_ms), "2000", 50,
          60000, 0, "limit for connecting to a host" },
        { "hosts", "timeout_ms", CONF_INT, O(host_timeout_ms), "10000", 100, 120000, 0,
          "limit for a whole call to a host" },
        { "hosts", "ticket_ttl_s", CONF_INT, O(ticket_ttl_s), "120", 10, 3600, 0,
          "lifetime of one-time connection tickets" },

        { "reconnect", "key", CONF_PATH, O(reconnect_key), NULL, 0, 0, CONF_FILE_EXISTS,
          "Ed25519 private key (PEM; openssl genpkey -algorithm ed25519), the same on every "
          "broker: a launch then also gives a reconnect ticket signed with it, which gets the "
          "user back into the same desktop through POST /api/v1/reconnect even while the "
          "database is down (hosts check it with the public half, hostd.conf [reconnect] "
          "public_key); unset, there are none" },
        { "reconnect", "lifetime_s", CONF_INT, O(reconnect_lifetime_s), "900", 60, 86400, 0,
          "how long a reconnect ticket is good for; each reconnect hands out a new one" },

        { "pools", "enabled", CONF_BOOL, O(pools_enabled), "true", 0, 0, 0,
          "run the pool reconcile loop here; with several brokers exactly one reconciles at a time "
          "(PostgreSQL advisory lock) and the others take over if it dies" },
        { "pools", "interval_ms", CONF_INT, O(pools_interval_ms), "5000", 500, 600000, 0,
          "time between two reconcile passes" },
        { "pools", "release_idle_s", CONF_INT, O(pools_release_idle_s), "300", 1, 86400, 0,
          "floating pools: a claimed desktop without a connected client for this long is "
          "released and refreshed for the next user; counted from the latest disconnect or "
          "ticket (a reconnect is activity), and never while a ticket is still good" },
        { "pools", "heartbeat_timeout_s", CONF_INT, O(heartbeat_timeout_s), "30", 2, 86400, 0,
          "a host without a heartbeat for this long is down: the admin API shows it so, and the "
          "loop replaces its floating desktops elsewhere (hosts heartbeat every [database] "
          "heartbeat_s of hostd.conf)" },
        { "pools", "vcpu_overcommit", CONF_INT, O(pools_vcpu_overcommit), "4", 1, 64, 0,
          "desktops are placed on a host while their vCPUs fit in its CPUs times this" },

        { "portal", "assets", CONF_PATH, O(assets), PORTAL_ASSETS_DIR, 0, 0, 0,
          "directory with the portal's index.html, app.js and style.css" },
        { "portal", "name", CONF_STRING, O(portal_name), "Virtual desktops", 0, 0, 0,
          "the portal's title, shown on every page (branding)" },
        { "portal", "logo", CONF_STRING, O(portal_logo), "", 0, 0, 0,
          "file name of a logo (.svg or .png) in the assets directory, shown next to the name; "
          "empty: none" },
        { "portal", "help_url", CONF_STRING, O(portal_help_url), "", 0, 0, 0,
          "https:// address of the help page the portal links to; empty: no help link" },
        { "portal", "web_gateway_path", CONF_STRING, O(web_gateway_path), "/gateway/ws", 0, 0, 0,
          "path of vdi-gateway's WebSocket on the portal's own origin (the load balancer routes "
          "it to vdi-gateway); the \"web\" protocol's launches send the browser there" },

        { "log", "level", CONF_STRING, O(log_level), "info", 0, 0, 0,
          "error, warning, notice, info or debug" },
};
const size_t broker_conf_options_count = sizeof(broker_conf_options) / sizeof(broker_conf_options[0]);
