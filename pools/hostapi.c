/* libcurl client for vdi-hostd (pools/hostapi.h). */
#include "config.h"

#include "pools/hostapi.h"

#include <curl/curl.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#define HOSTAPI_MAX_REPLY (1024 * 1024)

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
        GString *s = ud;
        if (s->len + sz * n > HOSTAPI_MAX_REPLY)
                return 0;
        g_string_append_len(s, p, (gssize)(sz * n));
        return sz * n;
}

int hostapi_call(const struct hostapi_config *cfg, const struct hostapi_endpoint *ep,
                 const char *method, const char *path, json_t *body, unsigned timeout_ms,
                 long *status, json_t **reply, char **error)
{
        g_autofree char *url = NULL, *text = NULL;
        g_autoptr(GString) got = g_string_new(NULL);
        struct curl_slist *hdrs = NULL;
        CURLcode rc;
        CURL *h = curl_easy_init();

        if (!h) {
                *error = g_strdup("cannot create a curl handle");
                return -ENOMEM;
        }
        if (strchr(ep->address, ':'))
                url = g_strdup_printf("https://[%s]:%d%s", ep->address, ep->port, path);
        else
                url = g_strdup_printf("https://%s:%d%s", ep->address, ep->port, path);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 2000));
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, got);
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
        } else if (strcmp(method, "POST") == 0) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        if (rc != CURLE_OK) {
                *error = g_strdup_printf("host %s (%s:%d) not reachable: %s", ep->name,
                                         ep->address, ep->port, curl_easy_strerror(rc));
                return -EHOSTUNREACH;
        }
        *reply = json_loadb(got->str, got->len, 0, NULL);
        return 0;
}

char *hostapi_describe(long status, json_t *reply)
{
        const char *msg = json_string_value(json_object_get(reply, "message"));
        return g_strdup_printf("HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
}
