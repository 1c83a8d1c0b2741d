/* vdi-brokerd's user API against real PostgreSQL and slapd (harness), the
 * broker in-process over HTTPS: sign-in, sessions, CSRF, throttling,
 * entitlements, launch up to the host call (no vdi-hostd exists yet: the
 * hosts in the fixture are loopback ports nobody listens on), bad input.
 * Every refusal is checked against the rows it must not have changed. */
#include "config.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "token.h"
#define CHECK_NOFORK
#include "check-main.h"

static struct bfx *f;

static void setup(void)
{
        f = bfx_start(NULL);
}

static void teardown(void)
{
        bfx_stop(f);
        f = NULL;
}

static const char *msg_of(const struct breply *r)
{
        const char *m = json_string_value(json_object_get(r->json, "message"));
        return m ? m : "";
}

static const char *code_of(const struct breply *r)
{
        const char *m = json_string_value(json_object_get(r->json, "error"));
        return m ? m : "";
}

#define expect_error(r, st, code, msg)                                                         \
        do {                                                                                   \
                ck_assert_msg((r).status == (st), "status %ld != %d: %s", (r).status, (st),    \
                              (r).body->str);                                                   \
                ck_assert_str_eq(code_of(&(r)), code);                                         \
                ck_assert_msg(strstr(msg_of(&(r)), msg), "message \"%s\" lacks \"%s\"",        \
                              msg_of(&(r)), msg);                                              \
        } while (0)

/* Rows a refused request must leave alone. */
static char *snapshot(void)
{
        return bfx_str(f, "SELECT (SELECT count(*) FROM assignments) || '/' ||"
                          " (SELECT string_agg(name || ':' || state, ',' ORDER BY id)"
                          "  FROM desktops) || '/' || (SELECT count(*) FROM tickets) || '/' ||"
                          " (SELECT count(*) FROM pools)");
}

START_TEST(test_portal_health_metrics)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        struct breply r = bclient_req(c, "GET", "/", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.body->str, "<title>Desktops</title>"));
        g_autofree char *csp = breply_header(&r, "Content-Security-Policy");
        ck_assert_ptr_nonnull(csp);
        breply_free(&r);
        r = bclient_req(c, "GET", "/portal/app.js", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        g_autofree char *ct = breply_header(&r, "Content-Type");
        ck_assert_str_eq(ct, "text/javascript; charset=utf-8");
        breply_free(&r);
        r = bclient_req(c, "GET", "/portal/secret.conf", NULL, NULL, false);
        expect_error(r, 404, "not_found", "no such file");
        breply_free(&r);
        r = bclient_req(c, "GET", "/healthz", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body->str, "{\"status\":\"ok\",\"database\":\"ok\"}");
        breply_free(&r);
        r = bclient_req(c, "GET", "/metrics", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.body->str, "vdi_desktops{state=\"ready\"} 7\n"));
        /* Every state has its series, a suspended desktop's too (sql/012). */
        ck_assert_ptr_nonnull(strstr(r.body->str, "vdi_desktops{state=\"suspended\"} 0\n"));
        ck_assert_ptr_nonnull(strstr(r.body->str, "# TYPE vdi_phase_duration_seconds histogram"));
        ck_assert_ptr_nonnull(strstr(r.body->str, "vdi_database_up 1\n"));
        breply_free(&r);
        bclient_free(c);
}
END_TEST

START_TEST(test_sign_in_me_sign_out)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        struct breply r = bclient_req(c, "POST", "/api/v1/login",
                                      "{\"username\":\"alice\",\"password\":\"alice-pw\"}", NULL,
                                      false);
        ck_assert_msg(r.status == 200, "%s", r.body->str);
        json_t *u = json_object_get(r.json, "user");
        ck_assert_str_eq(json_string_value(json_object_get(u, "login")), "alice");
        ck_assert(json_is_false(json_object_get(u, "admin")));
        ck_assert(json_string_length(json_object_get(u, "display_name")) > 0);
        c->csrf = g_strdup(json_string_value(json_object_get(r.json, "csrf_token")));
        ck_assert_ptr_nonnull(c->csrf);
        g_autofree char *cookie = breply_header(&r, "Set-Cookie");
        ck_assert_ptr_nonnull(cookie);
        ck_assert(g_str_has_prefix(cookie, BROKER_SESSION_COOKIE "="));
        ck_assert_ptr_nonnull(strstr(cookie, "; Path=/"));
        ck_assert_ptr_nonnull(strstr(cookie, "; Secure"));
        ck_assert_ptr_nonnull(strstr(cookie, "; HttpOnly"));
        ck_assert_ptr_nonnull(strstr(cookie, "; SameSite=Strict"));
        breply_free(&r);

        /* Only the hash of the session token is stored. */
        g_autofree char *token = g_strndup(cookie + strlen(BROKER_SESSION_COOKIE "="),
                                           strcspn(cookie + strlen(BROKER_SESSION_COOKIE "="),
                                                   ";"));
        g_autofree char *hash = NULL;
        ck_assert_int_eq(token_hash(token, &hash), 0);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions WHERE token_hash = '%s'"
                                     " AND user_name = 'alice' AND NOT is_admin", hash), 1);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions WHERE token_hash = '%s'"
                                     " OR csrf_hash = '%s'", token, c->csrf), 0);
        /* Groups were resolved at sign-in (nested included for carol; here staff, unix). */
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions WHERE"
                                     " 'cn=staff,ou=groups,dc=example,dc=org' = ANY(groups)"), 1);
        /* The phases before the session write, and the audit row, are
         * stored with the session (one statement); the write itself and the
         * total go to the /metrics histograms. */
        ck_assert_int_eq(bfx_long(f, "SELECT count(DISTINCT phase) FROM login_timings WHERE"
                                     " user_name = 'alice' AND phase IN ('throttle', 'ldap')"), 2);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM login_timings t JOIN audit_events a"
                                     " ON a.actor = t.user_name AND a.action = 'login' AND"
                                     " a.at = t.at JOIN portal_sessions s ON s.user_name ="
                                     " t.user_name AND s.created_at = t.at WHERE t.user_name ="
                                     " 'alice' AND t.phase = 'ldap'"), 1);
        ck_assert_uint_eq(f->b->metrics.phases[PHASE_SESSION].count, 1);
        ck_assert_uint_eq(f->b->metrics.phases[PHASE_TOTAL_LOGIN].count, 1);

        r = bclient_req(c, "GET", "/api/v1/me", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "csrf_token")), c->csrf);
        breply_free(&r);

        /* Signing in again in the same browser replaces the session id. */
        g_autofree char *first_csrf = g_strdup(c->csrf);
        ck_assert_int_eq(bclient_login(c, "alice", "alice-pw"), 200);
        ck_assert_str_ne(c->csrf, first_csrf);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 1);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions WHERE token_hash"
                                     " = '%s'", hash), 0);

        /* Sign-out without the CSRF header is refused and changes nothing. */
        r = bclient_req(c, "POST", "/api/v1/logout", NULL, NULL, false);
        expect_error(r, 403, "csrf", "X-CSRF-Token");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 1);
        g_free(c->csrf);
        c->csrf = g_strdup("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        r = bclient_req(c, "POST", "/api/v1/logout", NULL, NULL, true);
        expect_error(r, 403, "csrf", "X-CSRF-Token");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 1);

        r = bclient_req(c, "GET", "/api/v1/me", NULL, NULL, false);
        g_free(c->csrf);
        c->csrf = g_strdup(json_string_value(json_object_get(r.json, "csrf_token")));
        breply_free(&r);
        r = bclient_req(c, "POST", "/api/v1/logout", NULL, NULL, true);
        ck_assert_int_eq(r.status, 204);
        g_autofree char *cleared = breply_header(&r, "Set-Cookie");
        ck_assert_ptr_nonnull(strstr(cleared, "Max-Age=0"));
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 0);
        r = bclient_req(c, "GET", "/api/v1/me", NULL, NULL, false);
        expect_error(r, 401, "not_signed_in", "not signed in");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'alice'"
                                     " AND action IN ('login', 'logout') AND outcome = 'ok'"), 3);
        bclient_free(c);
}
END_TEST

START_TEST(test_identical_failures_and_admins)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        const char *bad[][2] = { { "alice", "wrong" }, { "zed", "alice-pw" }, { "alice", "" },
                                 { "alice*", "alice-pw" } };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                json_t *b = json_pack("{s:s, s:s}", "username", bad[i][0], "password", bad[i][1]);
                g_autofree char *text = json_dumps(b, JSON_COMPACT);
                json_decref(b);
                struct breply r = bclient_req(c, "POST", "/api/v1/login", text, NULL, false);
                ck_assert_int_eq(r.status, 401);
                ck_assert_str_eq(r.body->str, "{\"error\":\"invalid_credentials\","
                                              "\"message\":\"invalid user name or password\"}");
                g_autofree char *cookie = breply_header(&r, "Set-Cookie");
                ck_assert_ptr_null(cookie);
                breply_free(&r);
        }
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 0);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM login_failures"), 4);

        /* dave is in cn=vdi-admins; the local admin always is. */
        ck_assert_int_eq(bclient_login(c, "dave", "dave-pw"), 200);
        struct breply r = bclient_req(c, "GET", "/api/v1/me", NULL, NULL, false);
        ck_assert(json_is_true(json_object_get(json_object_get(r.json, "user"), "admin")));
        breply_free(&r);
        struct bclient *c2 = bclient_new(f);
        ck_assert_int_eq(bclient_login(c2, BFX_LOCAL_ADMIN, BFX_LOCAL_ADMIN_PW), 200);
        r = bclient_req(c2, "GET", "/api/v1/me", NULL, NULL, false);
        ck_assert(json_is_true(json_object_get(json_object_get(r.json, "user"), "admin")));
        breply_free(&r);
        ck_assert_int_eq(bclient_login(c2, BFX_LOCAL_ADMIN, "nope"), 401);
        bclient_free(c2);
        bclient_free(c);
}
END_TEST

START_TEST(test_throttling)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(bclient_login(c, "bob", "guess"), 401);
        /* Fourth attempt: refused before the directory is asked, even with
         * the right password. */
        struct breply r = bclient_req(c, "POST", "/api/v1/login",
                                      "{\"username\":\"Bob\",\"password\":\"bob-pw\"}", NULL,
                                      false);
        expect_error(r, 429, "throttled", "too many failed sign-ins");
        g_autofree char *ra = breply_header(&r, "Retry-After");
        ck_assert_ptr_nonnull(ra);
        ck_assert_int_ge(atoi(ra), 1);
        ck_assert_int_le(atoi(ra), 60);
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 0);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'bob'"
                                     " AND outcome = 'denied' AND detail = 'throttled'"), 1);
        /* Other accounts are unaffected... */
        ck_assert_int_eq(bclient_login(c, "alice", "alice-pw"), 200);
        /* ...and the window passing lets bob in again (shared state: rows). */
        bfx_exec(f, "UPDATE login_failures SET at = at - interval '61 seconds'");
        ck_assert_int_eq(bclient_login(c, "bob", "bob-pw"), 200);

        /* Per address: 10 failures over many names block everyone from it. */
        bfx_exec(f, "TRUNCATE login_failures");
        for (int i = 0; i < 10; i++) {
                g_autofree char *u = g_strdup_printf("nobody%d", i);
                ck_assert_int_eq(bclient_login(c, u, "x"), 401);
        }
        ck_assert_int_eq(bclient_login(c, "carol", "carol-pw"), 429);
        struct breply m = bclient_req(c, "GET", "/metrics", NULL, NULL, false);
        ck_assert_ptr_nonnull(strstr(m.body->str, "vdi_login_failures_total{reason=\"throttled\"} "));
        ck_assert_ptr_null(strstr(m.body->str, "vdi_login_failures_total{reason=\"throttled\"} 0\n"));
        breply_free(&m);
        bclient_free(c);
}
END_TEST

/* Names of the pools in GET /api/v1/desktops, comma-separated. */
static char *desktop_names(struct bclient *c, const char *state_of, char **state)
{
        struct breply r = bclient_req(c, "GET", "/api/v1/desktops", NULL, NULL, false);
        ck_assert_msg(r.status == 200, "%s", r.body->str);
        GString *s = g_string_new(NULL);
        size_t i;
        json_t *d;
        json_array_foreach (json_object_get(r.json, "desktops"), i, d) {
                const char *name = json_string_value(json_object_get(d, "name"));
                g_string_append_printf(s, "%s%s", s->len ? "," : "", name);
                if (state_of && !strcmp(state_of, name))
                        *state = g_strdup(json_string_value(json_object_get(d, "state")));
                ck_assert(json_is_integer(json_object_get(d, "pool_id")));
                ck_assert(json_is_array(json_object_get(d, "protocols")));
                ck_assert(json_is_string(json_object_get(d, "pool_name")));
        }
        breply_free(&r);
        return g_string_free(s, FALSE);
}

START_TEST(test_entitlements)
{
        const char *who[][2] = { { "alice", "full,lab,office" },
                                 { "bob", "design,full,office" },
                                 { "carol", "eng,full,office" }, /* staff via engineering */
                                 { "dave", "" } };
        bfx_reset(f);
        for (size_t i = 0; i < G_N_ELEMENTS(who); i++) {
                struct bclient *c = bclient_new(f);
                g_autofree char *body = g_strdup_printf(
                        "{\"username\":\"%s\",\"password\":\"%s-pw\"}", who[i][0], who[i][0]);
                struct breply login = bclient_req(c, "POST", "/api/v1/login", body, NULL, false);
                ck_assert_int_eq(login.status, 200);
                g_autofree char *state = NULL;
                g_autofree char *names = desktop_names(c, "office", &state);
                ck_assert_msg(!strcmp(names, who[i][1]), "%s sees %s, expected %s", who[i][0],
                              names, who[i][1]);
                if (*who[i][1])
                        ck_assert_str_eq(state, "ready");
                /* The sign-in's answer lists the same desktops. */
                struct breply list = bclient_req(c, "GET", "/api/v1/desktops", NULL, NULL, false);
                json_t *signed_in = json_object_get(login.json, "desktops");
                ck_assert(json_is_array(signed_in));
                ck_assert_msg(json_equal(signed_in, json_object_get(list.json, "desktops")),
                              "%s: sign-in answered %s, GET /desktops %s", who[i][0],
                              login.body->str, list.body->str);
                breply_free(&list);
                breply_free(&login);
                bclient_free(c);
        }
        struct bclient *c = bclient_new(f);
        struct breply r = bclient_req(c, "GET", "/api/v1/desktops", NULL, NULL, false);
        expect_error(r, 401, "not_signed_in", "not signed in");
        breply_free(&r);
        bclient_free(c);
}
END_TEST

START_TEST(test_launch_host_unreachable)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        ck_assert_int_eq(bclient_login(c, "alice", "alice-pw"), 200);
        g_autofree char *before = snapshot();
        const char *bodies[] = { "{\"pool\":1,\"protocol\":\"rdp\"}",
                                 "{\"pool\":\"office\",\"protocol\":\"spice\"}",
                                 "{\"pool\":\"lab\",\"protocol\":\"spice\"}" };
        for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++) {
                struct breply r = bclient_req(c, "POST", "/api/v1/launch", bodies[i], NULL, true);
                expect_error(r, 503, "host_unreachable", "desktop host h1 is not reachable");
                g_autofree char *ra = breply_header(&r, "Retry-After");
                ck_assert_ptr_nonnull(ra);
                breply_free(&r);
                /* The claim was given back: rows as before. */
                g_autofree char *after = snapshot();
                ck_assert_str_eq(after, before);
        }
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'alice'"
                                     " AND action = 'desktop.launch' AND outcome = 'failed'"
                                     " AND host_name = 'h1' AND pool_name IS NOT NULL"), 3);
        /* carol's pool lives on h2. */
        struct bclient *c2 = bclient_new(f);
        ck_assert_int_eq(bclient_login(c2, "carol", "carol-pw"), 200);
        struct breply r = bclient_req(c2, "POST", "/api/v1/launch",
                                      "{\"pool\":\"eng\",\"protocol\":\"rdp\"}", NULL, true);
        expect_error(r, 503, "host_unreachable", "desktop host h2 is not reachable");
        breply_free(&r);
        r = bclient_req(c2, "GET", "/metrics", NULL, NULL, false);
        ck_assert_ptr_nonnull(strstr(r.body->str, "vdi_launches_total{result=\"host_unreachable\"} "));
        ck_assert_ptr_nonnull(strstr(r.body->str, "vdi_desktops{state=\"assigned\"} 0\n"));
        breply_free(&r);
        bclient_free(c2);
        bclient_free(c);
}
END_TEST

START_TEST(test_launch_reconnects_first)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        /* alice already holds office-2, which lives on h2. */
        bfx_exec(f, "UPDATE desktops SET host_id = 2, state = 'assigned' WHERE name = 'office-2';"
                    "INSERT INTO assignments (pool_id, desktop_id, user_name)"
                    " VALUES (1, 2, 'alice')");
        struct breply login = bclient_req(c, "POST", "/api/v1/login",
                                          "{\"username\":\"alice\",\"password\":\"alice-pw\"}",
                                          NULL, false);
        ck_assert_int_eq(login.status, 200);
        g_free(c->csrf);
        c->csrf = g_strdup(json_string_value(json_object_get(login.json, "csrf_token")));
        g_autofree char *state = NULL;
        g_autofree char *names = desktop_names(c, "office", &state);
        ck_assert_str_eq(state, "assigned");
        /* The sign-in's answer already showed her desktop. */
        size_t i;
        json_t *d, *office = NULL;
        json_array_foreach (json_object_get(login.json, "desktops"), i, d)
                if (!g_strcmp0(json_string_value(json_object_get(d, "name")), "office"))
                        office = d;
        ck_assert_ptr_nonnull(office);
        ck_assert_str_eq(json_string_value(json_object_get(office, "state")), "assigned");
        ck_assert_str_eq(json_string_value(json_object_get(office, "desktop")), "office-2");
        breply_free(&login);
        g_autofree char *before = snapshot();
        struct breply r = bclient_req(c, "POST", "/api/v1/launch",
                                      "{\"pool\":\"office\",\"protocol\":\"rdp\"}", NULL, true);
        /* The ticket was asked of h2 (her desktop), not of h1 (the ready ones). */
        expect_error(r, 503, "host_unreachable", "desktop host h2 is not reachable");
        breply_free(&r);
        /* Her assignment stays: it existed before the request. */
        g_autofree char *after = snapshot();
        ck_assert_str_eq(after, before);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM assignments WHERE user_name = 'alice'"
                                     " AND desktop_id = 2 AND released_at IS NULL"), 1);
        bclient_free(c);
}
END_TEST

START_TEST(test_launch_bad_input_changes_nothing)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        ck_assert_int_eq(bclient_login(c, "bob", "bob-pw"), 200);
        g_autofree char *before = snapshot();
        long audit = bfx_long(f, "SELECT count(*) FROM audit_events");
        struct {
                const char *body, *ctype;
                bool csrf;
                int status;
                const char *code, *msg;
        } cases[] = {
                { "{\"pool\":1,\"protocol\":\"rdp\"}", NULL, false, 403, "csrf", "X-CSRF-Token" },
                { "{\"pool\":1,\"protocol\":", NULL, true, 400, "bad_json", "malformed JSON" },
                { "[1,2]", NULL, true, 400, "bad_json", "must be a JSON object" },
                { "pool=1", "application/x-www-form-urlencoded", true, 415,
                  "unsupported_media_type", "must be JSON" },
                { "{\"pool\":1}", NULL, true, 400, "missing_field", "missing field \"protocol\"" },
                { "{\"protocol\":\"rdp\"}", NULL, true, 400, "missing_field",
                  "missing field \"pool\"" },
                { "{\"pool\":true,\"protocol\":\"rdp\"}", NULL, true, 400, "wrong_type",
                  "\"pool\" must be a pool id" },
                { "{\"pool\":1,\"protocol\":7}", NULL, true, 400, "wrong_type",
                  "\"protocol\" must be a string" },
                { "{\"pool\":1,\"protocol\":\"vnc\"}", NULL, true, 400, "bad_protocol",
                  "\"rdp\", \"spice\" or \"web\"" },
                { "{\"pool\":1,\"protocol\":\"rdp\",\"force\":1}", NULL, true, 400,
                  "unknown_field", "unknown field \"force\"" },
                { "{\"pool\":999,\"protocol\":\"rdp\"}", NULL, true, 404, "unknown_pool",
                  "no desktop pool \"999\" is available to you" },
                { "{\"pool\":\"lab\",\"protocol\":\"rdp\"}", NULL, true, 404, "unknown_pool",
                  "no desktop pool \"lab\" is available to you" },
                { "{\"pool\":\"design\",\"protocol\":\"rdp\"}", NULL, true, 400,
                  "protocol_not_offered", "does not offer rdp; it offers: spice" },
                { "{\"pool\":\"design\",\"protocol\":\"web\"}", NULL, true, 400,
                  "protocol_not_offered", "does not offer web; it offers: spice" },
                { "{\"pool\":\"off\",\"protocol\":\"rdp\"}", NULL, true, 409, "pool_disabled",
                  "disabled by the administrator" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                struct breply r = bclient_req(c, "POST", "/api/v1/launch", cases[i].body,
                                              cases[i].ctype, cases[i].csrf);
                expect_error(r, cases[i].status, cases[i].code, cases[i].msg);
                breply_free(&r);
        }
        /* No ready desktop: 503 with a plain explanation, and an audit row. */
        struct breply r = bclient_req(c, "POST", "/api/v1/launch",
                                      "{\"pool\":\"full\",\"protocol\":\"rdp\"}", NULL, true);
        expect_error(r, 503, "no_desktop", "every desktop in \"Always full\" is in use");
        breply_free(&r);
        /* Oversize body: 413 before any handler. */
        GString *big = g_string_new("{\"pool\":\"office\",\"protocol\":\"rdp\",\"pad\":\"");
        for (int i = 0; i < 5000; i++)
                g_string_append_c(big, 'x');
        g_string_append(big, "\"}");
        r = bclient_req(c, "POST", "/api/v1/launch", big->str, NULL, true);
        expect_error(r, 413, "too_large", "larger than 4096 bytes");
        breply_free(&r);
        g_string_free(big, TRUE);

        g_autofree char *after = snapshot();
        ck_assert_str_eq(after, before);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events"), audit + 1);
        bclient_free(c);
}
END_TEST

START_TEST(test_login_bad_input)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        struct {
                const char *body;
                int status;
                const char *code, *msg;
        } cases[] = {
                { "{\"username\":\"alice\"", 400, "bad_json", "malformed JSON" },
                { "{\"username\":\"alice\"}", 400, "missing_field", "missing field \"password\"" },
                { "{\"username\":\"alice\",\"password\":42}", 400, "wrong_type",
                  "field \"password\" must be a string" },
                { "{\"username\":[],\"password\":\"x\"}", 400, "wrong_type",
                  "field \"username\" must be a string" },
                { "{\"username\":\"alice\",\"password\":\"alice-pw\",\"remember\":true}", 400,
                  "unknown_field", "unknown field \"remember\"" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                struct breply r = bclient_req(c, "POST", "/api/v1/login", cases[i].body, NULL,
                                              false);
                expect_error(r, cases[i].status, cases[i].code, cases[i].msg);
                breply_free(&r);
        }
        struct breply r = bclient_req(c, "GET", "/api/v1/login", NULL, NULL, false);
        expect_error(r, 405, "method_not_allowed", "GET is not allowed");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 0);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM login_failures"), 0);
        bclient_free(c);
}
END_TEST

START_TEST(test_session_expiry)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        ck_assert_int_eq(bclient_login(c, "alice", "alice-pw"), 200);
        struct breply r = bclient_req(c, "GET", "/api/v1/me", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        breply_free(&r);
        /* Used right after sign-in: not written (read-only requests). */
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"
                                     " WHERE last_seen_at = created_at"), 1);
        /* Last seen over 15 s ago: the next request writes it. */
        bfx_exec(f, "UPDATE portal_sessions SET last_seen_at = now() - interval '20 seconds'");
        r = bclient_req(c, "GET", "/api/v1/me", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"
                                     " WHERE last_seen_at > now() - interval '5 seconds'"), 1);
        /* Idle longer than idle_timeout_s (600). */
        bfx_exec(f, "UPDATE portal_sessions SET last_seen_at = now() - interval '601 seconds'");
        r = bclient_req(c, "GET", "/api/v1/desktops", NULL, NULL, false);
        expect_error(r, 401, "not_signed_in", "your session has ended");
        breply_free(&r);
        /* Past the absolute lifetime, although recently used. */
        ck_assert_int_eq(bclient_login(c, "alice", "alice-pw"), 200);
        bfx_exec(f, "UPDATE portal_sessions SET created_at = now() - interval '2 hours',"
                    " expires_at = now() - interval '1 second'");
        r = bclient_req(c, "POST", "/api/v1/launch", "{\"pool\":1,\"protocol\":\"rdp\"}", NULL,
                        true);
        expect_error(r, 401, "not_signed_in", "your session has ended");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM assignments"), 0);
        /* A new sign-in tidies the user's dead sessions. */
        ck_assert_int_eq(bclient_login(c, "alice", "alice-pw"), 200);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 1);

        /* ... without reading the live ones (sql/005): with 400 live
         * sessions and 3 dead, the prune reads only the dead rows. */
        bfx_exec(f, "INSERT INTO portal_sessions (token_hash, csrf_hash, user_name, expires_at,"
                    " last_seen_at, created_at)"
                    " SELECT md5(i::text) || md5(i::text), md5(i::text) || md5(i::text), 'alice',"
                    "  now() + interval '1 hour' - CASE WHEN i <= 3 THEN interval '2 hours'"
                    "  ELSE interval '0' END, now(), now() - interval '2 hours'"
                    " FROM generate_series(1, 400) AS i");
        bfx_exec(f, "ANALYZE portal_sessions");
        bfx_exec(f, "CREATE OR REPLACE FUNCTION prune_plan() RETURNS text LANGUAGE plpgsql AS $$"
                    " DECLARE l text; out text := ''; BEGIN"
                    " FOR l IN EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
                    "  DELETE FROM portal_sessions WHERE user_name = 'alice'"
                    "  AND (expires_at <= now() OR last_seen_at <= now() - interval '600 seconds')"
                    " LOOP out := out || l || E'\\n'; END LOOP; RETURN out; END $$");
        g_autofree char *plan = bfx_str(f, "SELECT prune_plan()");
        bfx_exec(f, "DROP FUNCTION prune_plan()");
        /* Index scans only, none of them reading the 398 live rows. */
        ck_assert_msg(!strstr(plan, "Seq Scan") && strstr(plan, "Index Scan on"), "%s", plan);
        for (const char *p = strstr(plan, "Index Scan on"); p; p = strstr(p + 1, "Index Scan on")) {
                const char *rows = strstr(p, "actual rows=");
                ck_assert_msg(rows && atol(rows + 12) < 50, "%s", plan);
        }
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM portal_sessions"), 398);
        bclient_free(c);
}
END_TEST

static struct breply post(struct bclient *c, const char *method, const char *path,
                          const char *body)
{
        return bclient_req(c, method, path, body, NULL, true);
}

START_TEST(test_admin_refused_for_users)
{
        struct bclient *c = bclient_new(f);
        bfx_reset(f);
        struct breply r = bclient_req(c, "GET", "/api/v1/admin/pools", NULL, NULL, false);
        expect_error(r, 401, "not_signed_in", "not signed in");
        breply_free(&r);
        ck_assert_int_eq(bclient_login(c, "alice", "alice-pw"), 200);
        r = bclient_req(c, "GET", "/api/v1/admin/pools", NULL, NULL, false);
        expect_error(r, 403, "not_admin", "user alice is not an administrator");
        breply_free(&r);
        r = post(c, "POST", "/api/v1/admin/pools",
                 "{\"name\":\"x\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1}");
        expect_error(r, 403, "not_admin", "not an administrator");
        breply_free(&r);
        r = post(c, "DELETE", "/api/v1/admin/desktops/1", NULL);
        expect_error(r, 403, "not_admin", "not an administrator");
        breply_free(&r);
        /* An admin without the CSRF header is refused too. */
        struct bclient *d = bclient_new(f);
        ck_assert_int_eq(bclient_login(d, "dave", "dave-pw"), 200);
        r = bclient_req(d, "POST", "/api/v1/admin/pools",
                        "{\"name\":\"x\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1}",
                        NULL, false);
        expect_error(r, 403, "csrf", "X-CSRF-Token");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools"), 6);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM desktops WHERE pending_action IS NOT NULL"), 0);
        bclient_free(d);
        bclient_free(c);
}
END_TEST

START_TEST(test_admin_pools)
{
        struct bclient *d = bclient_new(f);
        bfx_reset(f);
        ck_assert_int_eq(bclient_login(d, "dave", "dave-pw"), 200);
        struct breply r = bclient_req(d, "GET", "/api/v1/admin/pools", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        json_t *pools = json_object_get(r.json, "pools");
        ck_assert_int_eq(json_array_size(pools), 6);
        json_t *design = json_array_get(pools, 0);
        ck_assert_str_eq(json_string_value(json_object_get(design, "name")), "design");
        ck_assert_str_eq(json_string_value(json_object_get(design, "image")), "deb12");
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_object_get(design, "desktops"), "ready")), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(
                                 design, "entitlements"), 0), "subject")),
                         "cn=designers,ou=groups,dc=example,dc=org");
        breply_free(&r);

        g_autofree char *before = snapshot();
        struct {
                const char *body;
                int status;
                const char *code, *msg;
        } bad[] = {
                { "{\"name\":\"Dev!\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1}",
                  400, "bad_name", "pool name \"Dev!\" is not valid" },
                { "{\"name\":\"dev\",\"kind\":\"shared\",\"image\":\"deb12\",\"max_size\":1}", 400,
                  "bad_kind", "kind must be \"dedicated\" or \"floating\"" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"min_size\":2}", 400, "bad_sizes", "min_size (2) <= max_size (1)" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"ready_size\":2}", 400, "bad_sizes", "ready_size (2) <= max_size" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":\"ten\"}",
                  400, "wrong_type", "field \"max_size\" must be an integer" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":-1}",
                  400, "out_of_range", "\"max_size\" must be between 0 and" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\"}", 400,
                  "missing_field", "missing field \"max_size\"" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"protocols\":[\"vnc\"]}", 400, "bad_protocols", "\"rdp\" and/or \"spice\"" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"protocols\":[]}", 400, "bad_protocols", "non-empty list" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"protocols\":[\"rdp\",\"rdp\"]}", 400, "bad_protocols", "each once" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb13\",\"max_size\":1}",
                  400, "unknown_image", "golden image \"deb13\" has no published version" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"image_version\":9,"
                  "\"max_size\":1}", 400, "unknown_image", "\"deb12\" version 9 not found" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"entitlements\":[{\"kind\":\"role\",\"subject\":\"x\"}]}", 400,
                  "bad_entitlements", "entitlement 1 must be" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"size\":3}", 400, "unknown_field", "unknown field \"size\"" },
                { "{\"name\":\"office\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1}",
                  409, "exists", "pool \"office\" already exists" },
                { "{\"name\":\"dev\",", 400, "bad_json", "malformed JSON" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"bridge\":\"br/0\"}", 400, "bad_network", "bridge \"br/0\" is not a Linux interface name" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"vlan\":20}", 400, "bad_network", "vlan 20 needs a bridge" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"bridge\":\"br0\",\"vlan\":4095}", 400, "out_of_range", "field \"vlan\" must be between 1 and 4094" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"clipboard\":\"sideways\"}", 400, "bad_clipboard",
                  "clipboard \"sideways\" must be \"both\", \"guest-to-client\", \"client-to-guest\" or \"none\"" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"clipboard\":false}", 400, "wrong_type", "field \"clipboard\"" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"provisioning\":\"cold\"}", 400, "bad_provisioning",
                  "provisioning \"cold\" must be \"linked\"" },
                { "{\"name\":\"dev\",\"kind\":\"floating\",\"image\":\"deb12\",\"max_size\":1,"
                  "\"suspend_after_disconnect_s\":-5}", 400, "out_of_range", "field \"suspend_after_disconnect_s\"" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                r = post(d, "POST", "/api/v1/admin/pools", bad[i].body);
                expect_error(r, bad[i].status, bad[i].code, bad[i].msg);
                breply_free(&r);
        }
        g_autofree char *after = snapshot();
        ck_assert_str_eq(after, before);

        r = post(d, "POST", "/api/v1/admin/pools",
                 "{\"name\":\"dev\",\"display_name\":\"Developer VMs\",\"kind\":\"dedicated\","
                 "\"image\":\"deb12\",\"min_size\":1,\"max_size\":4,\"ready_size\":1,"
                 "\"protocols\":[\"spice\"],\"vcpus\":4,\"memory_mb\":8192,"
                 "\"bridge\":\"br-desk\",\"vlan\":20,\"clipboard\":\"none\","
                 "\"provisioning\":\"instant\",\"suspend_after_disconnect_s\":900,"
                 "\"entitlements\":[{\"kind\":\"group\","
                 "\"subject\":\"cn=staff,ou=groups,dc=example,dc=org\"}]}");
        ck_assert_msg(r.status == 201, "%s", r.body->str);
        json_t *p = json_object_get(r.json, "pool");
        ck_assert_str_eq(json_string_value(json_object_get(p, "bridge")), "br-desk");
        ck_assert_int_eq(json_integer_value(json_object_get(p, "vlan")), 20);
        ck_assert_str_eq(json_string_value(json_object_get(p, "clipboard")), "none");
        ck_assert_str_eq(json_string_value(json_object_get(p, "provisioning")), "instant");
        ck_assert_int_eq(json_integer_value(json_object_get(p, "suspend_after_disconnect_s")), 900);
        ck_assert_str_eq(json_string_value(json_object_get(p, "kind")), "dedicated");
        ck_assert_int_eq(json_integer_value(json_object_get(p, "vcpus")), 4);
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'dev' AND"
                                     " protocols = '{spice}' AND max_size = 4 AND enabled"), 1);
        struct bclient *a = bclient_new(f);
        ck_assert_int_eq(bclient_login(a, "alice", "alice-pw"), 200);
        g_autofree char *names = desktop_names(a, NULL, NULL);
        ck_assert_str_eq(names, "dev,full,lab,office");

        r = post(d, "PUT", "/api/v1/admin/pools/dev",
                 "{\"kind\":\"dedicated\",\"image\":\"deb12\",\"image_version\":1,\"max_size\":3,"
                 "\"enabled\":false,\"entitlements\":[{\"kind\":\"user\",\"subject\":\"bob\"}]}");
        ck_assert_msg(r.status == 200, "%s", r.body->str);
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'dev' AND"
                                     " max_size = 3 AND NOT enabled AND display_name = ''"
                                     " AND bridge IS NULL AND vlan IS NULL"
                                     " AND clipboard = 'none' AND provisioning = 'instant'"
                                     " AND suspend_after_disconnect_s = 900"), 1); /* kept when not given */
        r = post(d, "PUT", "/api/v1/admin/pools/dev",
                 "{\"kind\":\"dedicated\",\"image\":\"deb12\",\"max_size\":3,\"enabled\":false,"
                 "\"clipboard\":\"guest-to-client\",\"provisioning\":\"linked\","
                 "\"suspend_after_disconnect_s\":0}");
        ck_assert_msg(r.status == 200, "%s", r.body->str);
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'dev' AND provisioning = 'linked'"
                                     " AND suspend_after_disconnect_s IS NULL"), 1); /* 0: never */
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE clipboard = 'guest-to-client'"), 1);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE clipboard <> 'both'"), 1);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pool_entitlements e JOIN pools p ON"
                                     " p.id = e.pool_id WHERE p.name = 'dev'"), 1);
        r = post(d, "PUT", "/api/v1/admin/pools/dev",
                 "{\"name\":\"dev2\",\"kind\":\"dedicated\",\"image\":\"deb12\",\"max_size\":3}");
        expect_error(r, 400, "name_mismatch", "cannot be renamed");
        breply_free(&r);
        r = post(d, "PUT", "/api/v1/admin/pools/nope",
                 "{\"kind\":\"dedicated\",\"image\":\"deb12\",\"max_size\":3}");
        expect_error(r, 404, "unknown_pool", "no pool \"nope\"");
        breply_free(&r);
        r = post(d, "DELETE", "/api/v1/admin/pools/office", NULL);
        expect_error(r, 409, "pool_in_use", "still has 3 desktops");
        breply_free(&r);
        r = post(d, "DELETE", "/api/v1/admin/pools/dev", NULL);
        ck_assert_int_eq(r.status, 204);
        breply_free(&r);
        r = bclient_req(d, "GET", "/api/v1/admin/pools/dev", NULL, NULL, false);
        expect_error(r, 404, "unknown_pool", "no pool \"dev\"");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'dave'"
                                     " AND action LIKE 'pool.%%'"), 4);
        bclient_free(a);
        bclient_free(d);
}
END_TEST

START_TEST(test_admin_inventory)
{
        struct bclient *d = bclient_new(f);
        bfx_reset(f);
        /* The local admin may use the admin API too. */
        ck_assert_int_eq(bclient_login(d, BFX_LOCAL_ADMIN, BFX_LOCAL_ADMIN_PW), 200);
        struct breply r = post(d, "POST", "/api/v1/admin/images",
                               "{\"name\":\"win11\",\"description\":\"Windows 11\"}");
        ck_assert_msg(r.status == 201, "%s", r.body->str);
        breply_free(&r);
        r = post(d, "POST", "/api/v1/admin/images", "{\"name\":\"win11\"}");
        expect_error(r, 409, "exists", "image \"win11\" already exists");
        breply_free(&r);
        r = post(d, "POST", "/api/v1/admin/images", "{\"name\":\"../etc\"}");
        expect_error(r, 400, "bad_name", "is not valid");
        breply_free(&r);
        r = post(d, "POST", "/api/v1/admin/images/win11/versions",
                 "{\"version\":1,\"path\":\"/images/win11-1.qcow2\",\"size_bytes\":1024}");
        ck_assert_msg(r.status == 201, "%s", r.body->str);
        breply_free(&r);
        r = post(d, "POST", "/api/v1/admin/images/win11/versions",
                 "{\"version\":2,\"path\":\"images/x.qcow2\"}");
        expect_error(r, 400, "bad_path", "must be absolute");
        breply_free(&r);
        /* How hosts boot it: kernel, initrd, command line. */
        r = post(d, "POST", "/api/v1/admin/images/win11/versions",
                 "{\"version\":2,\"path\":\"/images/w2.qcow2\",\"kernel\":\"/images/vmlinuz\","
                 "\"initrd\":\"/images/initrd\",\"cmdline\":\"console=ttyS0 quiet\"}");
        ck_assert_msg(r.status == 201, "%s", r.body->str);
        json_t *v2 = json_object_get(r.json, "version");
        ck_assert_str_eq(json_string_value(json_object_get(v2, "kernel")), "/images/vmlinuz");
        ck_assert_str_eq(json_string_value(json_object_get(v2, "cmdline")), "console=ttyS0 quiet");
        /* No display given: vesa, the device every guest drives. */
        ck_assert_str_eq(json_string_value(json_object_get(v2, "display")), "vesa");
        breply_free(&r);
        r = post(d, "POST", "/api/v1/admin/images/win11/versions",
                 "{\"version\":3,\"path\":\"/images/w3.qcow2\",\"initrd\":\"/images/initrd\"}");
        expect_error(r, 400, "bad_boot", "an initrd needs a kernel");
        breply_free(&r);
        r = post(d, "POST", "/api/v1/admin/images/win11/versions",
                 "{\"version\":3,\"path\":\"/images/w3.qcow2\",\"kernel\":\"/k\","
                 "\"cmdline\":\"a\\nb\"}");
        expect_error(r, 400, "bad_cmdline", "one line");
        breply_free(&r);
        /* The display device: vesa or virtio-gpu, nothing else, and a
         * refused version is not stored. */
        static const struct {
                const char *display, *code, *msg;
        } bad_displays[] = {
                { "\"cirrus\"", "bad_display",
                  "display \"cirrus\" is not \"vesa\" or \"virtio-gpu\"" },
                { "\"VESA\"", "bad_display", "display \"VESA\" is not" },
                { "1", "wrong_type", "field \"display\" must be a string" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad_displays); i++) {
                g_autofree char *body = g_strdup_printf(
                        "{\"version\":3,\"path\":\"/images/w3.qcow2\",\"kernel\":\"/k\","
                        "\"display\":%s}",
                        bad_displays[i].display);
                r = post(d, "POST", "/api/v1/admin/images/win11/versions", body);
                expect_error(r, 400, bad_displays[i].code, bad_displays[i].msg);
                ck_assert_str_eq(json_string_value(json_object_get(r.json, "field")), "display");
                breply_free(&r);
        }
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM image_versions v JOIN images i ON"
                                     " i.id = v.image_id WHERE i.name = 'win11' AND v.version = 3"),
                         0);
        r = post(d, "POST", "/api/v1/admin/images/win11/versions",
                 "{\"version\":3,\"path\":\"/images/w3.qcow2\",\"kernel\":\"/k\","
                 "\"display\":\"virtio-gpu\"}");
        ck_assert_msg(r.status == 201, "%s", r.body->str);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "version"),
                                                           "display")),
                         "virtio-gpu");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM image_versions v JOIN images i ON"
                                     " i.id = v.image_id WHERE i.name = 'win11' AND"
                                     " v.version = 3 AND v.display = 'virtio-gpu'"),
                         1);
        r = post(d, "POST", "/api/v1/admin/images/nope/versions",
                 "{\"version\":1,\"path\":\"/x.qcow2\"}");
        expect_error(r, 404, "not_found", "the image does not exist");
        breply_free(&r);
        r = bclient_req(d, "GET", "/api/v1/admin/images", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        json_t *win = json_array_get(json_object_get(r.json, "images"), 1);
        ck_assert_str_eq(json_string_value(json_object_get(win, "name")), "win11");
        json_t *vs = json_object_get(win, "versions");
        ck_assert_int_eq(json_array_size(vs), 3);
        /* Listed in version order with their display. */
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 0), "display")),
                         "vesa");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 1), "display")),
                         "vesa");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 2), "display")),
                         "virtio-gpu");
        breply_free(&r);

        r = bclient_req(d, "GET", "/api/v1/admin/hosts", NULL, NULL, false);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "hosts")), 2);
        breply_free(&r);
        r = bclient_req(d, "GET", "/api/v1/admin/desktops?pool=office", NULL, NULL, false);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "desktops")), 3);
        breply_free(&r);
        r = post(d, "POST", "/api/v1/admin/desktops/1/refresh", NULL);
        ck_assert_int_eq(r.status, 202);
        breply_free(&r);
        r = post(d, "DELETE", "/api/v1/admin/desktops/2", NULL);
        ck_assert_int_eq(r.status, 202);
        breply_free(&r);
        r = post(d, "DELETE", "/api/v1/admin/desktops/999", NULL);
        expect_error(r, 404, "unknown_desktop", "no desktop with id 999");
        breply_free(&r);
        r = post(d, "POST", "/api/v1/admin/desktops/abc/refresh", NULL);
        expect_error(r, 400, "bad_id", "is not a number");
        breply_free(&r);
        g_autofree char *marks = bfx_str(f, "SELECT string_agg(name || '=' || pending_action, ','"
                                            " ORDER BY id) FROM desktops WHERE pending_action"
                                            " IS NOT NULL");
        ck_assert_str_eq(marks, "office-1=refresh,office-2=delete");
        bclient_free(d);
}
END_TEST

START_TEST(test_admin_sessions_audit_timings)
{
        struct bclient *a = bclient_new(f), *d = bclient_new(f);
        bfx_reset(f);
        ck_assert_int_eq(bclient_login(a, "alice", "alice-pw"), 200);
        ck_assert_int_eq(bclient_login(d, "dave", "dave-pw"), 200);
        struct breply r = bclient_req(d, "GET", "/api/v1/admin/sessions", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "sessions")), 2);
        breply_free(&r);
        long id = bfx_long(f, "SELECT id FROM portal_sessions WHERE user_name = 'alice'");
        g_autofree char *path = g_strdup_printf("/api/v1/admin/sessions/%ld", id);
        r = post(d, "DELETE", path, NULL);
        ck_assert_int_eq(r.status, 204);
        breply_free(&r);
        r = bclient_req(a, "GET", "/api/v1/me", NULL, NULL, false);
        ck_assert_int_eq(r.status, 401);
        breply_free(&r);

        r = bclient_req(d, "GET", "/api/v1/admin/audit?actor=alice&action=login&limit=5", NULL,
                        NULL, false);
        ck_assert_int_eq(r.status, 200);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "events")), 1);
        breply_free(&r);
        r = bclient_req(d, "GET", "/api/v1/admin/audit?action=session.end", NULL, NULL, false);
        json_t *ev = json_array_get(json_object_get(r.json, "events"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(ev, "actor")), "dave");
        ck_assert_str_eq(json_string_value(json_object_get(ev, "detail")), "alice");
        breply_free(&r);
        r = bclient_req(d, "GET", "/api/v1/admin/audit?limit=0", NULL, NULL, false);
        expect_error(r, 400, "bad_limit", "limit must be a number from 1 to 10000");
        breply_free(&r);
        r = bclient_req(d, "GET", "/api/v1/admin/audit?since=yesterday", NULL, NULL, false);
        expect_error(r, 400, "bad_time", "ISO 8601");
        breply_free(&r);
        r = bclient_req(d, "GET", "/api/v1/admin/audit?since=2026-13-45", NULL, NULL, false);
        expect_error(r, 400, "bad_time", "ISO 8601");
        breply_free(&r);
        r = bclient_req(d, "GET", "/api/v1/admin/timings", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        g_autofree char *t = json_dumps(r.json, JSON_COMPACT);
        ck_assert_msg(strstr(t, "\"phase\":\"ldap\",\"count\":2"), "%s", t);
        breply_free(&r);
        bclient_free(a);
        bclient_free(d);
}
END_TEST

/* A host that stopped heartbeating shows as down in the admin API, with
 * the reason, as soon as it is late ([pools] heartbeat_timeout_s, 30 s by
 * default): no pool loop runs here to mark it. One that heartbeats is up;
 * one in maintenance stays so; one the loop marked down keeps its reason. */
static json_t *host_named(json_t *hosts, const char *name)
{
        size_t i;
        json_t *h;
        json_array_foreach (hosts, i, h)
                if (!g_strcmp0(json_string_value(json_object_get(h, "name")), name))
                        return h;
        return NULL;
}

START_TEST(test_admin_hosts_heartbeat)
{
        struct bclient *d = bclient_new(f);
        bfx_reset(f);
        bfx_exec(f, "UPDATE hosts SET last_heartbeat = now() - interval '2 s' WHERE name = 'h1';"
                    "UPDATE hosts SET last_heartbeat = now() - interval '95 s' WHERE name = 'h2';"
                    "INSERT INTO hosts (name, address, state, last_heartbeat) VALUES"
                    " ('h3', '127.0.0.1', 'up', NULL),"
                    " ('h4', '127.0.0.1', 'maintenance', now() - interval '1 hour'),"
                    " ('h5', '127.0.0.1', 'up', now() - interval '31 s');"
                    "INSERT INTO hosts (name, address, state, down_reason, last_heartbeat) VALUES"
                    " ('h6', '127.0.0.1', 'down', 'host h6: no heartbeat for 40 s (limit 30 s)',"
                    "  now() - interval '10 minutes')");
        ck_assert_int_eq(bclient_login(d, BFX_LOCAL_ADMIN, BFX_LOCAL_ADMIN_PW), 200);
        struct breply r = bclient_req(d, "GET", "/api/v1/admin/hosts", NULL, NULL, false);
        ck_assert_int_eq(r.status, 200);
        json_t *hosts = json_object_get(r.json, "hosts");
        ck_assert_int_eq(json_array_size(hosts), 6);
        json_t *h1 = host_named(hosts, "h1"), *h2 = host_named(hosts, "h2"),
               *h3 = host_named(hosts, "h3"), *h4 = host_named(hosts, "h4"),
               *h5 = host_named(hosts, "h5"), *h6 = host_named(hosts, "h6");
        ck_assert(h1 && h2 && h3 && h4 && h5 && h6);
        ck_assert_str_eq(json_string_value(json_object_get(h1, "state")), "up");
        ck_assert(json_is_null(json_object_get(h1, "down_reason")));
        ck_assert_int_le(json_integer_value(json_object_get(h1, "heartbeat_age_s")), 5);
        ck_assert_str_eq(json_string_value(json_object_get(h2, "state")), "down");
        const char *why = json_string_value(json_object_get(h2, "down_reason"));
        ck_assert_msg(why && g_str_has_prefix(why, "no heartbeat for 9") && strstr(why, "(limit 30 s)"),
                      "h2: %s", why ? why : "(null)");
        ck_assert_str_eq(json_string_value(json_object_get(h3, "state")), "down");
        ck_assert_str_eq(json_string_value(json_object_get(h3, "down_reason")), "never sent a heartbeat");
        ck_assert(json_is_null(json_object_get(h3, "heartbeat_age_s")));
        ck_assert_str_eq(json_string_value(json_object_get(h4, "state")), "maintenance");
        ck_assert_str_eq(json_string_value(json_object_get(h5, "state")), "down");
        ck_assert_str_eq(json_string_value(json_object_get(h6, "state")), "down");
        ck_assert_str_eq(json_string_value(json_object_get(h6, "down_reason")),
                         "host h6: no heartbeat for 40 s (limit 30 s)");
        breply_free(&r);
        /* It heartbeats again (what vdi-hostd's heartbeat does): up. */
        bfx_exec(f, "UPDATE hosts SET last_heartbeat = now() WHERE name = 'h2'");
        r = bclient_req(d, "GET", "/api/v1/admin/hosts", NULL, NULL, false);
        ck_assert_str_eq(json_string_value(json_object_get(host_named(json_object_get(r.json, "hosts"), "h2"),
                                                           "state")),
                         "up");
        breply_free(&r);
        bclient_free(d);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("broker-api");
        TCase *tc = tcase_create("user");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_portal_health_metrics);
        tcase_add_test(tc, test_sign_in_me_sign_out);
        tcase_add_test(tc, test_identical_failures_and_admins);
        tcase_add_test(tc, test_throttling);
        tcase_add_test(tc, test_entitlements);
        tcase_add_test(tc, test_launch_host_unreachable);
        tcase_add_test(tc, test_launch_reconnects_first);
        tcase_add_test(tc, test_launch_bad_input_changes_nothing);
        tcase_add_test(tc, test_login_bad_input);
        tcase_add_test(tc, test_session_expiry);
        tcase_add_test(tc, test_admin_refused_for_users);
        tcase_add_test(tc, test_admin_pools);
        tcase_add_test(tc, test_admin_inventory);
        tcase_add_test(tc, test_admin_hosts_heartbeat);
        tcase_add_test(tc, test_admin_sessions_audit_timings);
        suite_add_tcase(s, tc);
        return s;
}
