/* libcurl client for the vdi-hostd API (lib/hostd-client.h). */
#include "config.h"

#include "hostd-client.h"

#include <curl/curl.h>
#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <string.h>

/* Largest answer we accept from a host (a VM list of a full host). */
#define HOSTD_MAX_REPLY (1024 * 1024)
/* An idle kept connection older than this is not reused: below vdi-hostd's
 * 30 s idle timeout, so we never send on one the host is closing. */
#define HOSTD_CONN_MAX_IDLE_S 20

struct hostd_conns {
        CURLSH *share;
        pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

struct hostd_client {
        struct hostd_client_config cfg; /* strings and conns owned */
};

static void conns_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
        struct hostd_conns *c = ud;
        (void)h;
        (void)access;
        pthread_mutex_lock(&c->locks[data]);
}

static void conns_unlock(CURL *h, curl_lock_data data, void *ud)
{
        struct hostd_conns *c = ud;
        (void)h;
        pthread_mutex_unlock(&c->locks[data]);
}

int hostd_conns_new(struct hostd_conns **out, char **error)
{
        struct hostd_conns *c = g_new0(struct hostd_conns, 1);

        c->share = curl_share_init();
        if (!c->share) {
                g_free(c);
                *error = g_strdup("hostd client: cannot create a curl share");
                return -ENOMEM;
        }
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_init(&c->locks[i], NULL);
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, conns_lock);
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, conns_unlock);
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        *out = c;
        return 0;
}

void hostd_conns_free(struct hostd_conns *c)
{
        if (!c)
                return;
        curl_share_cleanup(c->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_destroy(&c->locks[i]);
        g_free(c);
}

int hostd_client_new(const struct hostd_client_config *cfg, struct hostd_client **out,
                     char **error)
{
        struct hostd_client *c;

        if (!cfg->ca_file || !cfg->cert_file || !cfg->key_file) {
                *error = g_strdup("hostd client: [hosts] client_cert, client_key and ca_file "
                                  "are all required (mutual TLS)");
                return -EINVAL;
        }
        c = g_new0(struct hostd_client, 1);
        c->cfg = (struct hostd_client_config){
                .cert_file = g_strdup(cfg->cert_file),
                .key_file = g_strdup(cfg->key_file),
                .ca_file = g_strdup(cfg->ca_file),
                .connect_timeout_ms = cfg->connect_timeout_ms,
                .timeout_ms = cfg->timeout_ms,
        };
        int r = hostd_conns_new(&c->cfg.conns, error);
        if (r < 0) {
                hostd_client_free(c);
                return r;
        }
        *out = c;
        return 0;
}

void hostd_client_free(struct hostd_client *c)
{
        if (!c)
                return;
        g_free((char *)c->cfg.cert_file);
        g_free((char *)c->cfg.key_file);
        g_free((char *)c->cfg.ca_file);
        hostd_conns_free(c->cfg.conns);
        g_free(c);
}

void hostd_ticket_clear(struct hostd_ticket *t)
{
        if (!t)
                return;
        if (t->password)
                explicit_bzero(t->password, strlen(t->password));
        g_free(t->protocol);
        g_free(t->host);
        g_free(t->password);
        g_free(t->username);
        g_free(t->routing_token);
        memset(t, 0, sizeof(*t));
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
        GString *s = ud;
        size_t len = sz * n;
        if (s->len + len > HOSTD_MAX_REPLY)
                return 0; /* makes curl fail with CURLE_WRITE_ERROR */
        g_string_append_len(s, p, (gssize)len);
        return len;
}

int hostd_request(const struct hostd_client_config *cfg, const struct hostd_endpoint *host,
                  const char *method, const char *path, json_t *body, unsigned timeout_ms,
                  long *status, json_t **reply, char **error)
{
        g_autofree char *url = NULL, *text = NULL;
        g_autoptr(GString) got = g_string_new(NULL);
        struct curl_slist *hdrs = NULL;
        long st = 0;
        CURLcode rc;
        CURL *h;

        /* IPv6 literals need brackets in a URL. */
        if (strchr(host->address, ':'))
                url = g_strdup_printf("https://[%s]:%d%s", host->address, host->port, path);
        else
                url = g_strdup_printf("https://%s:%d%s", host->address, host->port, path);
        h = curl_easy_init();
        if (!h) {
                *error = g_strdup("hostd client: cannot create a curl handle");
                return -ENOMEM;
        }
        if (!timeout_ms)
                timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 2000));
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, got);
        if (cfg->conns) {
                curl_easy_setopt(h, CURLOPT_SHARE, cfg->conns->share);
                curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, (long)HOSTD_CONN_MAX_IDLE_S);
        }
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
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        /* The body may carry a reconnect ticket, the answer a password. */
        if (text)
                explicit_bzero(text, strlen(text));
        if (rc != CURLE_OK) {
                explicit_bzero(got->str, got->len);
                *error = g_strdup_printf("desktop host %s is not reachable (%s:%d: %s)",
                                         host->name, host->address, host->port,
                                         curl_easy_strerror(rc));
                return -EHOSTUNREACH;
        }
        *reply = json_loadb(got->str, got->len, 0, NULL);
        explicit_bzero(got->str, got->len);
        *status = st;
        return 0;
}

char *hostd_reply_describe(long status, json_t *reply)
{
        const char *msg = json_string_value(json_object_get(reply, "message"));
        return g_strdup_printf("HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
}

/* hostd_request, with the status mapped to the errors of hostd-client.h;
 * on 2xx the JSON object in *out. */
static int call_within(struct hostd_client *c, const struct hostd_endpoint *host, const char *method,
                       const char *path, json_t *body, unsigned timeout_ms, json_t **out, char **error)
{
        json_t *v = NULL;
        long status = 0;
        int r = hostd_request(&c->cfg, host, method, path, body, timeout_ms, &status, &v, error);

        if (r < 0)
                return r;
        const char *msg = json_string_value(json_object_get(v, "message"));
        const char *code = json_string_value(json_object_get(v, "error"));
        if (status == 403 || (status == 409 && code && !strcmp(code, "reconnect_used"))) {
                *error = g_strdup_printf("desktop host %s: %s", host->name,
                                         msg ? msg : "refused");
                r = status == 403 ? -EACCES : -EALREADY;
        } else if (status == 404) {
                *error = g_strdup_printf("desktop host %s: %s", host->name,
                                         msg ? msg : "not found");
                r = -ENOENT;
        } else if (status < 200 || status > 299) {
                *error = g_strdup_printf("desktop host %s refused: HTTP %ld%s%s", host->name,
                                         status, msg ? ": " : "", msg ? msg : "");
                r = -EIO;
        } else if (!json_is_object(v)) {
                *error = g_strdup_printf("desktop host %s answered %s, not a JSON object",
                                         host->name, v ? "JSON" : "malformed JSON");
                r = -EPROTO;
        }
        if (r < 0) {
                json_decref(v);
                return r;
        }
        *out = v;
        return 0;
}

static int call(struct hostd_client *c, const struct hostd_endpoint *host, const char *method,
                const char *path, json_t *body, json_t **out, char **error)
{
        return call_within(c, host, method, path, body, 0, out, error);
}

int hostd_ticket_request(struct hostd_client *c, const struct hostd_endpoint *host,
                         const char *vm_id, const char *protocol, const char *user,
                         int expiry_s, const char *reconnect, struct hostd_ticket *out,
                         char **error)
{
        g_autofree char *esc = g_uri_escape_string(vm_id, NULL, FALSE);
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s/tickets", esc);
        json_t *body = json_pack("{s:s, s:s, s:i}", "protocol", protocol, "user", user,
                                 "expiry_s", expiry_s);
        json_t *v = NULL;
        const char *proto, *addr, *pw, *uname, *rt;
        json_int_t port, expires;
        int r;

        if (!body) {
                *error = g_strdup("hostd client: out of memory");
                return -ENOMEM;
        }
        if (reconnect)
                json_object_set_new(body, "reconnect_ticket", json_string(reconnect));
        r = call(c, host, "POST", path, body, &v, error);
        json_decref(body);
        if (r < 0)
                return r;
        if (json_unpack(v, "{s:s, s:s, s:I, s:s, s?s, s?s, s:I}", "protocol", &proto, "host",
                        &addr, "port", &port, "password", &pw, "username", &uname,
                        "routing_token", &rt, "expires_in", &expires) != 0 ||
            port < 1 || port > 65535 || expires < 1 || strcmp(proto, protocol) != 0 ||
            strlen(pw) == 0) {
                json_decref(v);
                *error = g_strdup_printf("desktop host %s: ticket answer lacks protocol, host, "
                                         "port, password or expires_in", host->name);
                return -EPROTO;
        }
        uname = json_string_value(json_object_get(v, "username"));
        rt = json_string_value(json_object_get(v, "routing_token"));
        *out = (struct hostd_ticket){
                .protocol = g_strdup(proto),
                .host = g_strdup(addr),
                .port = (int)port,
                .password = g_strdup(pw),
                .username = g_strdup(uname ? uname : user),
                .routing_token = g_strdup(rt ? rt : ""),
                .expires_in = (int)expires,
        };
        json_decref(v);
        return 0;
}

int hostd_status(struct hostd_client *c, const struct hostd_endpoint *host, json_t **out,
                 char **error)
{
        return call(c, host, "GET", "/api/v1/status", NULL, out, error);
}

#define HOSTD_SUSPEND_TIMEOUT_MS (300 * 1000)

int hostd_vm_action(struct hostd_client *c, const struct hostd_endpoint *host,
                    const char *vm_id, const char *action, char **error)
{
        g_autofree char *esc = g_uri_escape_string(vm_id, NULL, FALSE);
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s/%s", esc, action);
        json_t *body = json_object(), *v = NULL;
        /* A suspend writes the guest's memory to disk before it answers. */
        int r = call_within(c, host, "POST", path, body,
                            strcmp(action, "suspend") == 0 ? HOSTD_SUSPEND_TIMEOUT_MS : 0, &v, error);
        json_decref(body);
        json_decref(v);
        return r;
}

int hostd_vm_screenshot(struct hostd_client *c, const struct hostd_endpoint *host,
                        const char *vm_id, unsigned max_w, unsigned max_h, GBytes **png,
                        char **error)
{
        static const guchar magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
        g_autofree char *esc = g_uri_escape_string(vm_id, NULL, FALSE);
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s/screenshot?max_width=%u&"
                                                "max_height=%u", esc, max_w, max_h);
        json_t *v = NULL;
        int r = call(c, host, "POST", path, NULL, &v, error);
        gsize len = 0;

        if (r < 0)
                return r;
        const char *b64 = json_string_value(json_object_get(v, "png"));
        g_autofree guchar *bytes = b64 ? g_base64_decode(b64, &len) : NULL;
        json_decref(v);
        if (len < sizeof(magic) || memcmp(bytes, magic, sizeof(magic)) != 0) {
                *error = g_strdup_printf("desktop host %s: screenshot answer has no PNG",
                                         host->name);
                return -EPROTO;
        }
        *png = g_bytes_new_take(g_steal_pointer(&bytes), len);
        return 0;
}
