/* The broker's HTTPS layer against a real client (libcurl) over TLS:
 * routing, parameters, JSON errors, size limits, security headers. */
#include "config.h"

#include <curl/curl.h>
#include <glib.h>
#include <string.h>

#include "http.h"
#define CHECK_NOFORK
#include "check-main.h"

static struct http_server *srv;
static char *pki;
static char url_base[64];

static void h_echo(void *ctx, const struct http_request *req, struct http_response *resp)
{
        http_respond_json(resp, 200,
                          json_pack("{s:s, s:s, s:s?}", "id", req->params[0], "method",
                                    req->method, "cookie", http_cookie(req, "sid")));
}

static void h_post(void *ctx, const struct http_request *req, struct http_response *resp)
{
        json_t *body = http_json_body(req, resp);
        if (!body)
                return;
        json_object_set_new(body, "seen", json_true());
        http_add_header(resp, "Set-Cookie", "sid=x; Secure; HttpOnly; SameSite=Strict");
        http_respond_json(resp, 201, body);
}

/* A handler that waits (at most 5 s) until another request releases it. */
static GMutex gate_lock;
static GCond gate_cond;
static bool gate_waiting, gate_open;

static void h_block(void *ctx, const struct http_request *req, struct http_response *resp)
{
        gint64 deadline = g_get_monotonic_time() + 5 * G_TIME_SPAN_SECOND;

        g_mutex_lock(&gate_lock);
        gate_waiting = true;
        g_cond_broadcast(&gate_cond);
        while (!gate_open && g_cond_wait_until(&gate_cond, &gate_lock, deadline))
                ;
        bool opened = gate_open;
        g_mutex_unlock(&gate_lock);
        http_respond_json(resp, 200, json_pack("{s:b}", "released", opened));
}

static void h_release(void *ctx, const struct http_request *req, struct http_response *resp)
{
        g_mutex_lock(&gate_lock);
        gate_open = true;
        g_cond_broadcast(&gate_cond);
        g_mutex_unlock(&gate_lock);
        http_respond_json(resp, 200, json_pack("{s:b}", "released", true));
}

static const struct http_route routes[] = {
        { "GET", "/api/v1/block", h_block },
        { "POST", "/api/v1/release", h_release },
        { "GET", "/api/v1/things/{id}", h_echo },
        { "DELETE", "/api/v1/things/{id}", h_echo },
        { "POST", "/api/v1/things", h_post },
};

static void setup(void)
{
        g_autoptr(GError) err = NULL;
        pki = g_dir_make_tmp("vdi-http-XXXXXX", &err);
        g_autofree char *cmd = g_strdup_printf("%s/make-pki %s", HARNESS_DIR, pki);
        ck_assert_int_eq(system(cmd), 0);
        g_autofree char *cert = g_build_filename(pki, "server.pem", NULL);
        g_autofree char *key = g_build_filename(pki, "server.key", NULL);
        struct http_config cfg = { .listen_addr = "127.0.0.1", .cert_file = cert,
                                   .key_file = key, .threads = 2, .max_body = 1024 };
        char *msg = NULL;
        ck_assert_int_eq(http_server_start(&cfg, routes, G_N_ELEMENTS(routes), NULL, &srv, &msg),
                         0);
        snprintf(url_base, sizeof(url_base), "https://127.0.0.1:%u", http_server_port(srv));
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
        http_server_stop(srv);
        g_autofree char *cmd = g_strdup_printf("rm -rf %s", pki);
        ck_assert_int_eq(system(cmd), 0);
        g_free(pki);
}

struct reply {
        long status;
        GString *body;
        GString *headers;
        CURLcode rc;
};

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
        g_string_append_len(ud, p, (gssize)(sz * n));
        return sz * n;
}

static struct reply request(const char *method, const char *path, const char *ctype,
                            const char *body, size_t body_len, const char *ca)
{
        struct reply r = { .body = g_string_new(NULL), .headers = g_string_new(NULL) };
        g_autofree char *url = g_strdup_printf("%s%s", url_base, path);
        g_autofree char *cafile = g_build_filename(pki, ca ? ca : "ca.pem", NULL);
        struct curl_slist *hdrs = NULL;
        CURL *c = curl_easy_init();

        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r.body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r.headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_COOKIE, "sid=abc123");
        if (ctype) {
                g_autofree char *h = g_strdup_printf("Content-Type: %s", ctype);
                hdrs = curl_slist_append(hdrs, h);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        }
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
        }
        r.rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        return r;
}

static void reply_free(struct reply *r)
{
        g_string_free(r->body, TRUE);
        g_string_free(r->headers, TRUE);
}

START_TEST(test_route_params_and_headers)
{
        struct reply r = request("GET", "/api/v1/things/pool-7", NULL, NULL, 0, NULL);
        ck_assert_int_eq(r.rc, CURLE_OK);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body->str, "{\"id\":\"pool-7\",\"method\":\"GET\",\"cookie\":\"abc123\"}");
        ck_assert_ptr_nonnull(strcasestr(r.headers->str, "strict-transport-security: max-age="));
        ck_assert_ptr_nonnull(strcasestr(r.headers->str, "x-frame-options: DENY"));
        ck_assert_ptr_nonnull(strcasestr(r.headers->str, "content-security-policy: default-src 'self'"));
        ck_assert_ptr_nonnull(strcasestr(r.headers->str, "cache-control: no-store"));
        ck_assert_ptr_nonnull(strcasestr(r.headers->str, "content-type: application/json"));
        reply_free(&r);
}
END_TEST

START_TEST(test_not_found_and_method)
{
        struct reply r = request("GET", "/api/v1/nothing", NULL, NULL, 0, NULL);
        ck_assert_int_eq(r.status, 404);
        ck_assert_str_eq(r.body->str,
                         "{\"error\":\"not_found\",\"message\":\"no such resource: /api/v1/nothing\"}");
        reply_free(&r);
        r = request("PUT", "/api/v1/things/x", NULL, NULL, 0, NULL);
        ck_assert_int_eq(r.status, 405);
        ck_assert_ptr_nonnull(strcasestr(r.headers->str, "allow: GET, DELETE"));
        reply_free(&r);
        /* Path parameters never match traversal or odd characters. */
        r = request("GET", "/api/v1/things/..", NULL, NULL, 0, NULL);
        ck_assert_int_eq(r.status, 404);
        reply_free(&r);
        r = request("GET", "/api/v1/things/a%20b", NULL, NULL, 0, NULL);
        ck_assert_int_eq(r.status, 404);
        reply_free(&r);
}
END_TEST

START_TEST(test_json_bodies)
{
        struct reply r = request("POST", "/api/v1/things", "application/json", "{\"a\":1}", 7, NULL);
        ck_assert_int_eq(r.status, 201);
        ck_assert_str_eq(r.body->str, "{\"a\":1,\"seen\":true}");
        ck_assert_ptr_nonnull(strcasestr(r.headers->str, "set-cookie: sid=x; Secure; HttpOnly"));
        reply_free(&r);

        r = request("POST", "/api/v1/things", "application/json", "{\"a\":", 5, NULL);
        ck_assert_int_eq(r.status, 400);
        ck_assert_ptr_nonnull(strstr(r.body->str, "\"error\":\"bad_json\""));
        ck_assert_ptr_nonnull(strstr(r.body->str, "malformed JSON at line 1"));
        reply_free(&r);

        r = request("POST", "/api/v1/things", "application/json", "[1,2]", 5, NULL);
        ck_assert_int_eq(r.status, 400);
        ck_assert_ptr_nonnull(strstr(r.body->str, "must be a JSON object"));
        reply_free(&r);

        r = request("POST", "/api/v1/things", "application/json", "{\"a\":1,\"a\":2}", 13, NULL);
        ck_assert_int_eq(r.status, 400);
        reply_free(&r);

        r = request("POST", "/api/v1/things", "text/plain", "{}", 2, NULL);
        ck_assert_int_eq(r.status, 415);
        reply_free(&r);
}
END_TEST

START_TEST(test_oversize_body)
{
        char big[4096];
        memset(big, ' ', sizeof(big));
        big[0] = '{';
        big[sizeof(big) - 1] = '}';
        struct reply r = request("POST", "/api/v1/things", "application/json", big, sizeof(big), NULL);
        ck_assert_int_eq(r.status, 413);
        ck_assert_ptr_nonnull(strstr(r.body->str, "larger than 1024 bytes"));
        reply_free(&r);
}
END_TEST

START_TEST(test_tls_required_and_verified)
{
        /* A client that trusts another CA refuses the server. */
        struct reply r = request("GET", "/api/v1/things/x", NULL, NULL, 0, "other-ca.pem");
        ck_assert_int_eq(r.rc, CURLE_PEER_FAILED_VERIFICATION);
        reply_free(&r);
        /* Plain HTTP on the TLS port gets no HTTP answer. */
        char plain[80];
        snprintf(plain, sizeof(plain), "http://127.0.0.1:%u/api/v1/things/x", http_server_port(srv));
        CURL *c = curl_easy_init();
        GString *b = g_string_new(NULL);
        curl_easy_setopt(c, CURLOPT_URL, plain);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        ck_assert(rc != CURLE_OK || status != 200);
        ck_assert_ptr_null(strstr(b->str, "\"id\""));
        curl_easy_cleanup(c);
        g_string_free(b, TRUE);
}
END_TEST

START_TEST(test_bad_config)
{
        struct http_server *s = NULL;
        char *msg = NULL;
        struct http_config cfg = { .listen_addr = "127.0.0.1", .cert_file = "/nonexistent.pem",
                                   .key_file = "/nonexistent.key" };
        ck_assert_int_eq(http_server_start(&cfg, routes, 1, NULL, &s, &msg), -ENOENT);
        ck_assert_ptr_nonnull(strstr(msg, "cannot read TLS certificate or key"));
        g_free(msg);
        g_autofree char *cert = g_build_filename(pki, "server.pem", NULL);
        g_autofree char *key = g_build_filename(pki, "server.key", NULL);
        cfg = (struct http_config){ .listen_addr = "localhost", .cert_file = cert, .key_file = key };
        ck_assert_int_eq(http_server_start(&cfg, routes, 1, NULL, &s, &msg), -EINVAL);
        ck_assert_str_eq(msg, "listen address \"localhost\" is not an IP address");
        g_free(msg);
        ck_assert_ptr_null(s);
}
END_TEST

static void h_whoami(void *ctx, const struct http_request *req, struct http_response *resp)
{
        http_respond_json(resp, 200, json_pack("{s:s?}", "cn", req->peer_cn));
}

static const struct http_route mtls_routes[] = { { "GET", "/whoami", h_whoami } };

/* GET url with an optional client certificate; returns status (0 on a TLS
 * failure) and the body in *body. */
static long get_with_client(const char *url, const char *cert, const char *key, GString *body)
{
        g_autofree char *ca = g_build_filename(pki, "ca.pem", NULL);
        CURL *c = curl_easy_init();
        long status = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        if (cert) {
                curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
                curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        }
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        return status;
}

START_TEST(test_mutual_tls)
{
        g_autofree char *cert = g_build_filename(pki, "server.pem", NULL);
        g_autofree char *key = g_build_filename(pki, "server.key", NULL);
        g_autofree char *ca = g_build_filename(pki, "ca.pem", NULL);
        g_autofree char *ccert = g_build_filename(pki, "client.pem", NULL);
        g_autofree char *ckey = g_build_filename(pki, "client.key", NULL);
        g_autofree char *other = g_build_filename(pki, "other", NULL);
        struct http_config cfg = { .listen_addr = "127.0.0.1", .cert_file = cert,
                                   .key_file = key, .client_ca_file = ca, .threads = 1 };
        struct http_server *m = NULL;
        char *msg = NULL, url[80];
        GString *body = g_string_new(NULL);

        ck_assert_int_eq(http_server_start(&cfg, mtls_routes, 1, NULL, &m, &msg), 0);
        snprintf(url, sizeof(url), "https://127.0.0.1:%u/whoami", http_server_port(m));

        ck_assert_int_eq(get_with_client(url, ccert, ckey, body), 200);
        ck_assert_str_eq(body->str, "{\"cn\":\"vdi-test-client\"}");

        /* No client certificate: refused before any handler runs. */
        g_string_truncate(body, 0);
        long st = get_with_client(url, NULL, NULL, body);
        ck_assert(st == 0 || st == 403);
        ck_assert_ptr_null(strstr(body->str, "vdi-test-client"));

        /* A certificate from another CA: refused. */
        g_autofree char *cmd = g_strdup_printf("%s/make-pki %s >/dev/null", HARNESS_DIR, other);
        ck_assert_int_eq(system(cmd), 0);
        g_autofree char *ocert = g_build_filename(other, "client.pem", NULL);
        g_autofree char *okey = g_build_filename(other, "client.key", NULL);
        g_string_truncate(body, 0);
        st = get_with_client(url, ocert, okey, body);
        ck_assert(st == 0 || st == 403);
        ck_assert_ptr_null(strstr(body->str, "\"cn\""));

        http_server_stop(m);
        g_string_free(body, TRUE);
}
END_TEST

/* GET or POST path on c, an easy handle kept between requests (its
 * connection too, as browsers keep theirs); the status, body in body. */
static long keepalive_request(CURL *c, const char *method, const char *path, GString *body)
{
        g_autofree char *url = g_strdup_printf("%s%s", url_base, path);
        long status = 0;

        g_string_truncate(body, 0);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        return status;
}

struct blocked {
        CURL *c;
        GString *body;
        long status;
};

static gpointer blocked_request(gpointer data)
{
        struct blocked *b = data;
        b->status = keepalive_request(b->c, "GET", "/api/v1/block", b->body);
        return NULL;
}

/* A handler that waits holds up no other connection while handler
 * threads are free (setup: 2). Two connections opened while the server is
 * idle; one request waits in its handler, the other's must be answered
 * meanwhile. With handlers run on the event thread that accepted the
 * connection, both connections share a thread about every other round and
 * the release waits behind the blocked handler. */
START_TEST(test_waiting_handler_blocks_nobody)
{
        g_autofree char *ca = g_build_filename(pki, "ca.pem", NULL);
        GString *body = g_string_new(NULL);

        for (int round = 0; round < 6; round++) {
                CURL *a = curl_easy_init(), *b = curl_easy_init();
                struct blocked blocked = { .c = a, .body = g_string_new(NULL) };
                curl_easy_setopt(a, CURLOPT_CAINFO, ca);
                curl_easy_setopt(b, CURLOPT_CAINFO, ca);
                ck_assert_int_eq(keepalive_request(a, "GET", "/api/v1/things/a", body), 200);
                ck_assert_int_eq(keepalive_request(b, "GET", "/api/v1/things/b", body), 200);
                g_mutex_lock(&gate_lock);
                gate_waiting = gate_open = false;
                g_mutex_unlock(&gate_lock);

                GThread *t = g_thread_new("blocked", blocked_request, &blocked);
                gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
                g_mutex_lock(&gate_lock);
                while (!gate_waiting && g_cond_wait_until(&gate_cond, &gate_lock, deadline))
                        ;
                ck_assert_msg(gate_waiting, "round %d: the blocking request never arrived", round);
                g_mutex_unlock(&gate_lock);
                gint64 t0 = g_get_monotonic_time();
                ck_assert_int_eq(keepalive_request(b, "POST", "/api/v1/release", body), 200);
                ck_assert_msg(g_get_monotonic_time() - t0 < 4 * G_TIME_SPAN_SECOND,
                              "round %d: the release waited for the blocked handler", round);
                g_thread_join(t);
                ck_assert_int_eq(blocked.status, 200);
                ck_assert_msg(strstr(blocked.body->str, "\"released\":true"),
                              "round %d: the blocked handler was not released: %s", round,
                              blocked.body->str);
                long reused = 0;
                curl_easy_getinfo(b, CURLINFO_NUM_CONNECTS, &reused);
                ck_assert_int_eq(reused, 0); /* the release came on the kept connection */
                g_string_free(blocked.body, TRUE);
                curl_easy_cleanup(a);
                curl_easy_cleanup(b);
        }
        g_string_free(body, TRUE);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("broker-http");
        TCase *tc = tcase_create("https");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_route_params_and_headers);
        tcase_add_test(tc, test_not_found_and_method);
        tcase_add_test(tc, test_json_bodies);
        tcase_add_test(tc, test_oversize_body);
        tcase_add_test(tc, test_tls_required_and_verified);
        tcase_add_test(tc, test_bad_config);
        tcase_add_test(tc, test_mutual_tls);
        tcase_add_test(tc, test_waiting_handler_blocks_nobody);
        suite_add_tcase(s, tc);
        return s;
}
