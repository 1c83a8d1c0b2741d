/* The reconcile loop's client for the vdi-hostd API (hostd/api.c):
 * HTTPS + JSON with mutual TLS through libcurl, bounded in time. */
#pragma once

#include <jansson.h>

struct hostapi_config {
        const char *cert_file, *key_file; /* this broker's client certificate */
        const char *ca_file;              /* cluster CA */
        unsigned connect_timeout_ms;      /* default 2000 */
};

struct hostapi_endpoint {
        const char *name, *address;
        int port;
};

/* One request; body may be NULL. On an HTTP exchange returns 0 with the
 * status in *status and the parsed JSON answer in *reply (may be NULL;
 * caller decrefs). -EHOSTUNREACH with *error when the host could not be
 * reached or did not answer within timeout_ms. */
int hostapi_call(const struct hostapi_config *cfg, const struct hostapi_endpoint *ep,
                 const char *method, const char *path, json_t *body, unsigned timeout_ms,
                 long *status, json_t **reply, char **error);

/* "HTTP 409: <message>" for a refused call's answer; malloc'd. */
char *hostapi_describe(long status, json_t *reply);
