/* vdi-brokerd: the configuration, the broker context every HTTP handler
 * receives, and its lifecycle. The broker is stateless (DESIGN.md §2):
 * sessions, throttling counters, assignments and timings live in
 * PostgreSQL, so any number of brokers can serve the same users. Only
 * the Prometheus counters (broker/metrics.h) are per process. */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "auth/ldap.h"
#include "auth/local-admin.h"
#include "hostd-client.h"
#include "broker/metrics.h"
#include "conf.h"
#include "http.h"
#include "sql/db.h"

/* Name of the session cookie. The __Host- prefix makes browsers insist on
 * Secure, Path=/ and no Domain attribute. */
#define BROKER_SESSION_COOKIE "__Host-vdi_session"

/* /etc/vdi/broker.conf, loaded with broker_conf_options (conf.h). */
struct broker_config {
        /* [http] */
        char *listen;
        int64_t port;
        char *cert;
        char *key;
        int64_t threads;
        int64_t max_body;
        int64_t timeout_s;
        /* [database] */
        char *conninfo;
        int64_t db_pool_size;
        int64_t db_connect_timeout_ms;
        int64_t db_statement_timeout_ms;
        int64_t db_acquire_timeout_ms;
        bool db_auto_migrate;
        /* [ldap], [local-admin] */
        struct auth_ldap_config ldap;
        struct auth_local_config local;
        /* [session] */
        int64_t idle_timeout_s;
        int64_t absolute_timeout_s;
        /* [throttle] */
        int64_t account_failures;
        int64_t address_failures;
        int64_t throttle_window_s;
        /* [admin] */
        char *admin_groups; /* ';'-separated: DNs contain commas */
        int64_t admin_fresh_s; /* admin changes need a sign-in this recent */
        /* [hosts]: the client side of the hostd API (mutual TLS) */
        char *host_cert;
        char *host_key;
        char *host_ca;
        int64_t host_connect_timeout_ms;
        int64_t host_timeout_ms;
        int64_t ticket_ttl_s;
        /* [reconnect] */
        char *reconnect_key; /* Ed25519 private key (PEM) or NULL: no reconnect tickets */
        int64_t reconnect_lifetime_s;
        /* [pools]: the reconcile loop (pools/loop.h) */
        bool pools_enabled;
        int64_t pools_interval_ms;
        int64_t pools_release_idle_s;
        int64_t heartbeat_timeout_s; /* a host silent for longer is down */
        int64_t pools_vcpu_overcommit;
        /* [portal] */
        char *assets;
        char *portal_name;
        char *portal_logo;     /* a file of assets, or "" */
        char *portal_help_url; /* https://..., or "" */
        char *web_gateway_path; /* vdi-gateway's WebSocket on the portal's origin */
        /* [log] */
        char *log_level;
};

extern const struct conf_option broker_conf_options[];
extern const size_t broker_conf_options_count;

/* One static file of the portal, read at start. */
struct broker_asset {
        char *name; /* "app.js" */
        char *content_type;
        char *data;
        size_t len;
};

struct broker {
        const struct broker_config *cfg;
        struct db *db;
        void *ldap;  /* auth_ldap_backend state */
        void *local; /* auth_local_backend state, NULL when not configured */
        struct hostd_client *hosts;
        EVP_PKEY *reconnect_key; /* [reconnect] key, NULL when unset */
        char *cluster_ca_pem; /* [hosts] ca_file, for .vv files */
        char **admin_groups;  /* [admin] groups, split */
        struct broker_metrics metrics;
        struct broker_asset *assets;
        size_t n_assets;
        struct http_server *http;
};

/* Prepare a broker from cfg (which must outlive it): database pool, auth
 * backends, hostd client, portal assets. No network traffic yet. 0 or
 * -errno with a malloc'd message in *error. */
int broker_new(const struct broker_config *cfg, struct broker **out, char **error);

/* Serve HTTPS. 0 or -errno with a message. */
int broker_start(struct broker *b, char **error);

/* The port actually bound (useful with port = 0). */
uint16_t broker_port(const struct broker *b);

/* Stop serving and free everything. Accepts NULL. */
void broker_free(struct broker *b);
