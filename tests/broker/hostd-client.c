/* broker/hostd-client against a TLS server that demands client
 * certificates (lib/http with client_ca_file), on loopback: the broker's
 * certificate is presented and checked, the host's is verified against
 * the cluster CA, answers are parsed strictly, errors map to the codes the
 * launch handler relies on, and a hung host fails within the timeout.
 * This is a test of the client's side of the contract only; the broker's
 * launch path is tested against unreachable hosts in api.c until a real
 * vdi-hostd exists. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <time.h>

#include "hostd-client.h"
#include "http.h"
#define CHECK_NOFORK
#include "check-main.h"

static struct http_server *srv;
static char *pki;
static int port;
static int mode; /* what the ticket route answers */
static char seen[512];

enum { ANSWER_OK, ANSWER_GARBAGE, ANSWER_NO_PASSWORD, ANSWER_404, ANSWER_SLOW };

static void h_ticket(void *ctx, const struct http_request *req, struct http_response *resp)
{
        json_t *b = http_json_body(req, resp);
        if (!b)
                return;
        g_autofree char *text = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(seen, sizeof(seen), "cn=%s vm=%s body=%s", req->peer_cn ? req->peer_cn : "-",
                 req->params[0], text);
        json_decref(b);
        switch (mode) {
        case ANSWER_OK:
                http_respond_json(resp, 200,
                                  json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:i}", "protocol",
                                            "rdp", "host", "10.1.2.3", "port", 3390, "password",
                                            "one-time", "username", "alice", "routing_token",
                                            "vdi.7", "expires_in", 120));
                break;
        case ANSWER_GARBAGE:
                http_respond_bytes(resp, 200, "application/json", "{\"protocol\":", 12);
                break;
        case ANSWER_NO_PASSWORD:
                http_respond_json(resp, 200,
                                  json_pack("{s:s, s:s, s:i, s:i}", "protocol", "rdp", "host",
                                            "10.1.2.3", "port", 3390, "expires_in", 120));
                break;
        case ANSWER_404:
                http_respond_error(resp, 404, "not_found", "no vm %s", req->params[0]);
                break;
        case ANSWER_SLOW:
                g_usleep(1500000);
                http_respond_error(resp, 500, "late", "too late");
                break;
        }
}

static void h_status(void *ctx, const struct http_request *req, struct http_response *resp)
{
        http_respond_json(resp, 200, json_pack("{s:s, s:i}", "state", "up", "vms", 3));
}

static const struct http_route routes[] = {
        { "POST", "/api/v1/vms/{id}/tickets", h_ticket },
        { "GET", "/api/v1/status", h_status },
};

static void setup(void)
{
        g_autoptr(GError) err = NULL;
        char *msg = NULL;
        pki = g_dir_make_tmp("vdi-hostd-client-XXXXXX", &err);
        g_autofree char *cmd = g_strdup_printf("%s/make-pki %s", HARNESS_DIR, pki);
        ck_assert_int_eq(system(cmd), 0);
        g_autofree char *cert = g_build_filename(pki, "server.pem", NULL);
        g_autofree char *key = g_build_filename(pki, "server.key", NULL);
        g_autofree char *ca = g_build_filename(pki, "ca.pem", NULL);
        struct http_config cfg = { .listen_addr = "127.0.0.1", .cert_file = cert, .key_file = key,
                                   .client_ca_file = ca, .threads = 2, .max_body = 4096 };
        ck_assert_int_eq(http_server_start(&cfg, routes, G_N_ELEMENTS(routes), NULL, &srv, &msg),
                         0);
        port = http_server_port(srv);
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
        http_server_stop(srv);
        g_autofree char *cmd = g_strdup_printf("rm -rf %s", pki);
        ck_assert_int_eq(system(cmd), 0);
        g_free(pki);
        curl_global_cleanup();
}

/* A client with the given client cert name ("client") and CA file. */
static struct hostd_client *client(const char *who, const char *ca, unsigned timeout_ms)
{
        g_autofree char *cert = g_strdup_printf("%s/%s.pem", pki, who);
        g_autofree char *key = g_strdup_printf("%s/%s.key", pki, who);
        g_autofree char *cafile = g_strdup_printf("%s/%s", pki, ca);
        struct hostd_client_config cfg = { .cert_file = cert, .key_file = key, .ca_file = cafile,
                                           .connect_timeout_ms = 1000, .timeout_ms = timeout_ms };
        struct hostd_client *c = NULL;
        char *err = NULL;
        ck_assert_int_eq(hostd_client_new(&cfg, &c, &err), 0);
        return c;
}

static int ticket(struct hostd_client *c, const char *address, struct hostd_ticket *t,
                  char **err)
{
        struct hostd_endpoint ep = { .name = "h1", .address = address, .port = port };
        return hostd_ticket_request(c, &ep, "42", "rdp", "alice", 120, NULL, t, err);
}

START_TEST(test_ticket_ok_with_mutual_tls)
{
        struct hostd_client *c = client("client", "ca.pem", 3000);
        struct hostd_ticket t = { 0 };
        char *err = NULL;
        mode = ANSWER_OK;
        /* "localhost" is in the server certificate's names. */
        ck_assert_msg(ticket(c, "localhost", &t, &err) == 0, "%s", err);
        ck_assert_str_eq(seen, "cn=vdi-test-client vm=42 "
                               "body={\"expiry_s\":120,\"protocol\":\"rdp\",\"user\":\"alice\"}");
        ck_assert_str_eq(t.host, "10.1.2.3");
        ck_assert_int_eq(t.port, 3390);
        ck_assert_str_eq(t.password, "one-time");
        ck_assert_str_eq(t.routing_token, "vdi.7");
        ck_assert_int_eq(t.expires_in, 120);
        hostd_ticket_clear(&t);

        json_t *st = NULL;
        struct hostd_endpoint ep = { .name = "h1", .address = "127.0.0.1", .port = port };
        ck_assert_int_eq(hostd_status(c, &ep, &st, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "up");
        json_decref(st);
        hostd_client_free(c);
}
END_TEST

START_TEST(test_tls_refusals)
{
        struct hostd_ticket t = { 0 };
        char *err = NULL;
        mode = ANSWER_OK;
        /* The host's certificate is not from the CA we trust. */
        struct hostd_client *c = client("client", "other-ca.pem", 3000);
        ck_assert_int_eq(ticket(c, "127.0.0.1", &t, &err), -EHOSTUNREACH);
        ck_assert_msg(g_str_has_prefix(err, "desktop host h1 is not reachable"), "%s", err);
        g_free(err);
        err = NULL;
        hostd_client_free(c);
        /* Nothing listens at the host's address. */
        c = client("client", "ca.pem", 3000);
        struct hostd_endpoint ep = { .name = "h9", .address = "127.0.0.2", .port = port };
        ck_assert_int_eq(hostd_ticket_request(c, &ep, "42", "rdp", "alice", 120, NULL, &t, &err),
                         -EHOSTUNREACH);
        ck_assert_msg(g_str_has_prefix(err, "desktop host h9 is not reachable"), "%s", err);
        g_free(err);
        hostd_client_free(c);
        /* (A client without a certificate is refused by lib/http itself:
         * tests/lib/http.c.) */
}
END_TEST

START_TEST(test_bad_answers)
{
        struct hostd_client *c = client("client", "ca.pem", 3000);
        struct hostd_ticket t = { 0 };
        char *err = NULL;

        mode = ANSWER_GARBAGE;
        ck_assert_int_eq(ticket(c, "127.0.0.1", &t, &err), -EPROTO);
        ck_assert_str_eq(err, "desktop host h1 answered malformed JSON, not a JSON object");
        g_clear_pointer(&err, g_free);
        mode = ANSWER_NO_PASSWORD;
        ck_assert_int_eq(ticket(c, "127.0.0.1", &t, &err), -EPROTO);
        ck_assert_ptr_nonnull(strstr(err, "ticket answer lacks"));
        g_clear_pointer(&err, g_free);
        mode = ANSWER_404;
        ck_assert_int_eq(ticket(c, "127.0.0.1", &t, &err), -ENOENT);
        g_clear_pointer(&err, g_free);
        hostd_client_free(c);

        /* A host that hangs fails within the timeout. */
        c = client("client", "ca.pem", 500);
        mode = ANSWER_SLOW;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        ck_assert_int_eq(ticket(c, "127.0.0.1", &t, &err), -EHOSTUNREACH);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ck_assert_int_lt((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, 1400);
        g_clear_pointer(&err, g_free);
        hostd_client_free(c);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("hostd-client");
        TCase *tc = tcase_create("client");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_ticket_ok_with_mutual_tls);
        tcase_add_test(tc, test_tls_refusals);
        tcase_add_test(tc, test_bad_answers);
        suite_add_tcase(s, tc);
        return s;
}
