/* HTTPS server for the broker and the host daemon: libmicrohttpd with TLS, a route table,
 * bounded request bodies, JSON helpers and security headers on every
 * response. Handlers run on the server's thread pool. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define HTTP_MAX_PARAMS 4

struct MHD_Connection;

struct http_request {
        const char *method;
        const char *path; /* without the query string */
        const char *client_addr;
        const char *peer_cn; /* verified client certificate CN (mutual TLS), else NULL */
        const char *body; /* NUL-terminated copy; body_len excludes the NUL */
        size_t body_len;
        const char *params[HTTP_MAX_PARAMS]; /* {name} segments of the route, in order */
        size_t n_params;
        struct MHD_Connection *conn;
};

struct http_header_pair {
        char *name, *value;
};

struct http_response {
        unsigned status;
        char *body; /* malloc'd */
        size_t body_len;
        char *content_type;
        struct http_header_pair headers[8];
        size_t n_headers;
};

/* Header, cookie and query lookups; NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);
const char *http_cookie(const struct http_request *req, const char *name);
const char *http_query(const struct http_request *req, const char *name);

/* Parse the body as a JSON object. On failure respond 400 (or 415 for a
 * wrong Content-Type) with a clear message and return NULL. */
json_t *http_json_body(const struct http_request *req, struct http_response *resp);

/* Respond with a JSON value (reference stolen). */
void http_respond_json(struct http_response *resp, unsigned status, json_t *value);
/* Respond {"error": code, "message": "..."} with status. */
void http_respond_error(struct http_response *resp, unsigned status, const char *code,
                        const char *fmt, ...) _printf_(4, 5);
/* Respond with bytes (copied). */
void http_respond_bytes(struct http_response *resp, unsigned status, const char *content_type,
                        const void *data, size_t len);
/* Add a response header (copied). Silently ignored past the limit. */
void http_add_header(struct http_response *resp, const char *name, const char *value);

typedef void (*http_handler)(void *ctx, const struct http_request *req,
                             struct http_response *resp);

/* A route: method ("GET", "POST", "PUT", "DELETE") and a path pattern whose
 * segments are literals or "{name}" (one segment of [A-Za-z0-9._~-]). A
 * pattern ending in "*" after a slash matches any remainder (given as the
 * last param; never containing ".."). */
struct http_route {
        const char *method;
        const char *pattern;
        http_handler handler;
};

struct http_config {
        const char *listen_addr; /* IPv4 or IPv6 literal */
        uint16_t port;           /* 0 = any free port (see http_server_port) */
        const char *cert_file;   /* PEM; TLS is mandatory */
        const char *key_file;
        /* Mutual TLS: when set (PEM CA file), every request must present a
         * client certificate signed by this CA, else it gets 403 before any
         * handler runs; the certificate's CN is in http_request.peer_cn. */
        const char *client_ca_file;
        unsigned threads;        /* thread pool size */
        size_t max_body;         /* bytes; larger requests get 413 */
        unsigned timeout_s;      /* idle connection timeout */
        unsigned max_connections;
};

struct http_server;

/* Start serving routes[0..n) with ctx passed to handlers. 0 or -errno with
 * a malloc'd message in *error. */
int http_server_start(const struct http_config *cfg, const struct http_route *routes, size_t n,
                      void *ctx, struct http_server **out, char **error);
uint16_t http_server_port(const struct http_server *srv);
/* Stop accepting, finish running handlers, free. Accepts NULL. */
void http_server_stop(struct http_server *srv);
