#include "config.h"

#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "tls-policy.h"

/* A body that turns out too large only while it arrives (chunked, no
 * Content-Length) is read and thrown away so the client gets its 413;
 * past this many bytes the connection is simply closed. */
#define HTTP_DISCARD_MIN (16u << 20)

/* Threads: libmicrohttpd's few event threads do TLS and HTTP and never
 * wait on a handler. A complete request suspends its connection and goes
 * to the handler pool ([http] threads); the handler's answer resumes it.
 * With handlers in the event threads instead, a connection waited behind
 * whatever handler held the thread it was accepted on (LDAP, PostgreSQL,
 * a host) even with other threads idle. bench/login-storm, 8 browsers,
 * 8 threads, runs side by side on the shared 2-core machine at load 9-12:
 * 0.50-0.63 of the LDAP+SQL floor so, 0.64-0.95 with a thread per
 * connection, 0.84-1.00 with this pool. */
#define HTTP_EVENT_THREADS 2

struct http_server {
        struct MHD_Daemon *daemon;
        GThreadPool *handlers;
        const struct http_route *routes;
        size_t n_routes;
        void *ctx;
        size_t max_body;
        char *cert_pem, *key_pem, *trust_pem;
        uint16_t port;
};

/* Per-request state kept by MHD between calls of the access handler. */
struct pending {
        GString *body;
        size_t discarded; /* bytes dropped after the body went over max_body */
        bool too_large;
        struct timespec start;
        /* While in the handler pool: the request (its strings are MHD's or
         * this struct's, all stable while the connection is suspended) and,
         * once handled, the response to queue. */
        struct http_request req;
        char addr[INET6_ADDRSTRLEN + 1];
        char cn[256];
        struct http_response resp;
        bool handled;
};

const char *http_header(const struct http_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_cookie(const struct http_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

const char *http_query(const struct http_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_add_header(struct http_response *resp, const char *name, const char *value)
{
        if (resp->n_headers >= G_N_ELEMENTS(resp->headers))
                return;
        resp->headers[resp->n_headers].name = g_strdup(name);
        resp->headers[resp->n_headers].value = g_strdup(value);
        resp->n_headers++;
}

void http_respond_bytes(struct http_response *resp, unsigned status, const char *content_type,
                        const void *data, size_t len)
{
        g_free(resp->body);
        g_free(resp->content_type);
        resp->status = status;
        resp->body = g_memdup2(data, len);
        resp->body_len = len;
        resp->content_type = g_strdup(content_type);
}

void http_respond_json(struct http_response *resp, unsigned status, json_t *value)
{
        char *text = json_dumps(value, JSON_COMPACT);
        json_decref(value);
        if (!text) {
                http_respond_bytes(resp, 500, "application/json",
                                   "{\"error\":\"internal\"}", 20);
                return;
        }
        http_respond_bytes(resp, status, "application/json", text, strlen(text));
        free(text);
}

void http_respond_error(struct http_response *resp, unsigned status, const char *code,
                        const char *fmt, ...)
{
        va_list ap;
        g_autofree char *msg = NULL;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        http_respond_json(resp, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

json_t *http_json_body(const struct http_request *req, struct http_response *resp)
{
        const char *ct = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
        json_error_t err;
        json_t *v;

        if (!ct || g_ascii_strncasecmp(ct, "application/json", 16) != 0) {
                http_respond_error(resp, 415, "unsupported_media_type",
                                   "request body must be JSON (Content-Type: application/json)");
                return NULL;
        }
        if (req->body_len == 0) {
                http_respond_error(resp, 400, "bad_request", "request body is empty");
                return NULL;
        }
        v = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
        if (!v && (json_error_code(&err) == json_error_null_character ||
                   memchr(req->body, '\0', req->body_len))) {
                /* Say what is wrong with the input, not which parser flag
                 * would have let it through. */
                http_respond_error(resp, 400, "bad_json",
                                   "the request contains a NUL character (\\u0000) at line %d "
                                   "column %d; no field may contain one",
                                   err.line, err.column);
                return NULL;
        }
        if (!v) {
                http_respond_error(resp, 400, "bad_json", "malformed JSON at line %d column %d: %s",
                                   err.line, err.column, err.text);
                return NULL;
        }
        if (!json_is_object(v)) {
                json_decref(v);
                http_respond_error(resp, 400, "bad_json", "request body must be a JSON object");
                return NULL;
        }
        return v;
}

static bool segment_ok(const char *s, size_t len)
{
        if (len == 0 || len > 128)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (!g_ascii_isalnum(c) && c != '.' && c != '_' && c != '-' && c != '~')
                        return false;
        }
        /* "." and ".." are never identifiers. */
        return !(len <= 2 && s[0] == '.' && (len == 1 || s[1] == '.'));
}

/* Match path against pattern; on success store parameters (pointers into
 * the copies in storage) and return true. */
static bool route_match(const char *pattern, const char *path, GPtrArray *storage,
                        struct http_request *req)
{
        const char *p = pattern, *s = path;

        req->n_params = 0;
        while (*p && *s) {
                if (*p == '{' || (p[0] == '*' && p[1] == '\0')) {
                        bool rest = *p == '*';
                        const char *end = rest ? s + strlen(s) : strchrnul(s, '/');
                        if (!rest && !segment_ok(s, (size_t)(end - s)))
                                return false;
                        if (rest && strstr(s, ".."))
                                return false;
                        if (req->n_params >= HTTP_MAX_PARAMS)
                                return false;
                        char *v = g_strndup(s, (size_t)(end - s));
                        g_ptr_array_add(storage, v);
                        req->params[req->n_params++] = v;
                        s = end;
                        p = rest ? p + 1 : strchr(p, '}') + 1;
                        continue;
                }
                if (*p != *s)
                        return false;
                p++;
                s++;
        }
        return *p == '\0' && *s == '\0';
}

static void add_security_headers(struct MHD_Response *r, const char *content_type)
{
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'self'");
        if (content_type)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_response *resp)
{
        struct MHD_Response *r;
        enum MHD_Result ret;
        bool has_cache = false;

        r = MHD_create_response_from_buffer(resp->body_len, resp->body ? resp->body : (void *)"",
                                            MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        add_security_headers(r, resp->content_type);
        for (size_t i = 0; i < resp->n_headers; i++) {
                MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
                if (!g_ascii_strcasecmp(resp->headers[i].name, "Cache-Control"))
                        has_cache = true;
        }
        if (!has_cache)
                MHD_add_response_header(r, "Cache-Control", "no-store");
        ret = MHD_queue_response(conn, resp->status, r);
        MHD_destroy_response(r);
        return ret;
}

static void response_clear(struct http_response *resp)
{
        g_free(resp->body);
        g_free(resp->content_type);
        for (size_t i = 0; i < resp->n_headers; i++) {
                g_free(resp->headers[i].name);
                g_free(resp->headers[i].value);
        }
        memset(resp, 0, sizeof(*resp));
}

static void client_address(struct MHD_Connection *conn, char *buf, size_t len)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        snprintf(buf, len, "unknown");
        if (!ci || !ci->client_addr)
                return;
        if (ci->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, buf,
                          (socklen_t)len);
        else if (ci->client_addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr,
                          buf, (socklen_t)len);
}

/* Verify the client certificate against the trusted CA; on success store
 * its CN in cn (len bytes). */
static bool peer_verified(struct MHD_Connection *conn, char *cn, size_t len)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        gnutls_session_t session;
        const gnutls_datum_t *certs;
        unsigned int status = 0, n = 0;
        gnutls_x509_crt_t crt;
        size_t sz = len;
        bool ok;

        if (!ci || !ci->tls_session)
                return false;
        session = (gnutls_session_t)ci->tls_session;
        if (gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS || status)
                return false;
        certs = gnutls_certificate_get_peers(session, &n);
        if (!certs || n == 0 || gnutls_x509_crt_init(&crt) < 0)
                return false;
        ok = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
             gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &sz) >= 0;
        gnutls_x509_crt_deinit(crt);
        return ok;
}

static void dispatch(struct http_server *srv, struct http_request *req,
                     struct http_response *resp)
{
        g_autoptr(GPtrArray) storage = g_ptr_array_new_with_free_func(g_free);
        GString *allow = g_string_new(NULL);

        for (size_t i = 0; i < srv->n_routes; i++) {
                const struct http_route *rt = &srv->routes[i];
                g_ptr_array_set_size(storage, 0);
                if (!route_match(rt->pattern, req->path, storage, req))
                        continue;
                if (!strcmp(rt->method, req->method) ||
                    (!strcmp(req->method, "HEAD") && !strcmp(rt->method, "GET"))) {
                        g_string_free(allow, TRUE);
                        rt->handler(srv->ctx, req, resp);
                        return;
                }
                if (!strstr(allow->str, rt->method))
                        g_string_append_printf(allow, "%s%s", allow->len ? ", " : "",
                                               rt->method);
        }
        if (allow->len) {
                http_respond_error(resp, 405, "method_not_allowed", "%s is not allowed on %s",
                                   req->method, req->path);
                http_add_header(resp, "Allow", allow->str);
        } else {
                http_respond_error(resp, 404, "not_found", "no such resource: %s", req->path);
        }
        g_string_free(allow, TRUE);
}

static void log_request(const struct pending *p, const char *method, const char *url)
{
        struct timespec end;

        clock_gettime(CLOCK_MONOTONIC, &end);
        log_info("http_request", "method=%s path=%s status=%u client=%s ms=%.1f", method, url,
                 p->resp.status, p->addr,
                 (double)(end.tv_sec - p->start.tv_sec) * 1e3 +
                         (double)(end.tv_nsec - p->start.tv_nsec) / 1e6);
}

/* A handler pool thread: answer the request, then give the connection
 * back to its event thread, which calls on_request again to send it. */
static void handle(gpointer data, gpointer user_data)
{
        struct pending *p = data;
        struct http_server *srv = user_data;

        dispatch(srv, &p->req, &p->resp);
        if (p->resp.status == 0)
                http_respond_error(&p->resp, 500, "internal", "handler gave no response");
        p->handled = true;
        MHD_resume_connection(p->req.conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        struct http_server *srv = cls;
        struct pending *p = *con_cls;
        enum MHD_Result ret;

        if (!p) {
                const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
                p = g_new0(struct pending, 1);
                p->body = g_string_new(NULL);
                clock_gettime(CLOCK_MONOTONIC, &p->start);
                if (cl && g_ascii_strtoull(cl, NULL, 10) > srv->max_body)
                        p->too_large = true;
                *con_cls = p;
                /* A declared length over the limit is answered at once,
                 * before any of the body is read. */
                if (!p->too_large)
                        return MHD_YES;
        } else if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                *upload_data_size = 0;
                if (!p->too_large && p->body->len + n <= srv->max_body) {
                        g_string_append_len(p->body, upload_data, (gssize)n);
                        return MHD_YES;
                }
                /* Over the limit while it arrives (chunked): libmicrohttpd
                 * accepts a response only once the whole request is read,
                 * so drop the rest and answer 413 at the end. */
                if (!p->too_large) {
                        p->too_large = true;
                        g_string_truncate(p->body, 0);
                }
                p->discarded += n;
                if (p->discarded > MAX(HTTP_DISCARD_MIN, 4 * srv->max_body)) {
                        client_address(conn, p->addr, sizeof(p->addr));
                        log_notice("http_body_dropped",
                                   "method=%s path=%s client=%s reason=\"body over %zu bytes "
                                   "kept coming\"",
                                   method, url, p->addr, srv->max_body);
                        return MHD_NO;
                }
                return MHD_YES;
        }

        if (!p->handled) {
                client_address(conn, p->addr, sizeof(p->addr));
                if (p->too_large) {
                        /* At once for a declared length, after the last
                         * chunk otherwise; MHD closes the connection
                         * afterwards. */
                        http_respond_error(&p->resp, 413, "too_large",
                                           "request body larger than %zu bytes", srv->max_body);
                        /* The rest of an unread body must not be taken for
                         * the next request. */
                        http_add_header(&p->resp, MHD_HTTP_HEADER_CONNECTION, "close");
                } else if (srv->trust_pem && !peer_verified(conn, p->cn, sizeof(p->cn))) {
                        http_respond_error(&p->resp, 403, "client_certificate_required",
                                           "a client certificate signed by the cluster CA is "
                                           "required");
                } else {
                        p->req = (struct http_request){
                                .method = method,
                                .path = url,
                                .client_addr = p->addr,
                                .peer_cn = p->cn[0] ? p->cn : NULL,
                                .body = p->body->str,
                                .body_len = p->body->len,
                                .conn = conn,
                        };
                        MHD_suspend_connection(conn);
                        g_thread_pool_push(srv->handlers, p, NULL);
                        return MHD_YES;
                }
        }
        ret = send_response(conn, &p->resp);
        log_request(p, method, url);
        response_clear(&p->resp);
        p->handled = false;
        (void)version;
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct pending *p = *con_cls;
        if (p) {
                response_clear(&p->resp);
                g_string_free(p->body, TRUE);
                g_free(p);
                *con_cls = NULL;
        }
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
        char buf[512];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        g_strchomp(buf);
        log_debug("http_error", "reason=\"%s\"", buf);
}

int http_server_start(const struct http_config *cfg, const struct http_route *routes, size_t n,
                      void *ctx, struct http_server **out, char **error)
{
        g_autoptr(GError) gerr = NULL;
        struct sockaddr_storage ss = { 0 };
        struct http_server *srv;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        const union MHD_DaemonInfo *info;

        srv = g_new0(struct http_server, 1);
        srv->routes = routes;
        srv->n_routes = n;
        srv->ctx = ctx;
        srv->max_body = cfg->max_body ? cfg->max_body : 65536;
        srv->handlers = g_thread_pool_new(handle, srv, (gint)(cfg->threads ? cfg->threads : 4),
                                          FALSE, NULL);

        if (!g_file_get_contents(cfg->cert_file, &srv->cert_pem, NULL, &gerr) ||
            !g_file_get_contents(cfg->key_file, &srv->key_pem, NULL, &gerr)) {
                *error = g_strdup_printf("cannot read TLS certificate or key: %s", gerr->message);
                http_server_stop(srv);
                return -ENOENT;
        }
        if (cfg->client_ca_file &&
            !g_file_get_contents(cfg->client_ca_file, &srv->trust_pem, NULL, &gerr)) {
                *error = g_strdup_printf("cannot read client CA: %s", gerr->message);
                http_server_stop(srv);
                return -ENOENT;
        }

        if (inet_pton(AF_INET, cfg->listen_addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
                ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
                ((struct sockaddr_in *)&ss)->sin_port = htons(cfg->port);
        } else if (inet_pton(AF_INET6, cfg->listen_addr,
                             &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
                ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons(cfg->port);
                flags |= MHD_USE_IPv6;
        } else {
                *error = g_strdup_printf("listen address \"%s\" is not an IP address",
                                         cfg->listen_addr);
                http_server_stop(srv);
                return -EINVAL;
        }

        srv->daemon = MHD_start_daemon(
                flags, cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &ss,
                MHD_OPTION_HTTPS_MEM_CERT, srv->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, srv->key_pem,
                MHD_OPTION_HTTPS_PRIORITIES, TLS_POLICY_GNUTLS,
                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_EVENT_THREADS,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->timeout_s ? cfg->timeout_s : 30),
                MHD_OPTION_CONNECTION_LIMIT,
                (unsigned)(cfg->max_connections ? cfg->max_connections : 1024),
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_EXTERNAL_LOGGER,
                on_mhd_error, srv,
                /* Last, so that without a client CA the list simply ends here. */
                srv->trust_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, srv->trust_pem,
                MHD_OPTION_END);
        if (!srv->daemon) {
                *error = g_strdup_printf("cannot listen on %s port %u (in use, or a bad "
                                         "certificate/key?)",
                                         cfg->listen_addr, cfg->port);
                http_server_stop(srv);
                return -EADDRINUSE;
        }
        info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = info ? info->port : cfg->port;
        *out = srv;
        return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
        return srv->port;
}

void http_server_stop(struct http_server *srv)
{
        if (!srv)
                return;
        /* Handlers still running finish (and resume their connections)
         * before the daemon goes. */
        if (srv->handlers)
                g_thread_pool_free(srv->handlers, FALSE, TRUE);
        if (srv->daemon)
                MHD_stop_daemon(srv->daemon);
        if (srv->key_pem)
                memset(srv->key_pem, 0, strlen(srv->key_pem));
        g_free(srv->cert_pem);
        g_free(srv->key_pem);
        g_free(srv->trust_pem);
        g_free(srv);
}
