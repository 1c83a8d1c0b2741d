/* The client side of tests/broker/storm.sh: many users sign in and launch
 * at once, on one thread with libcurl's multi interface.
 *
 *   storm-driver BASE_URL CA_FILE CONCURRENCY POOL < USERS
 *
 * USERS is one "NAME PASSWORD" per line. Each user, with a cookie jar of
 * its own: POST /api/v1/login, then (on 200, with the CSRF token it
 * answered) POST /api/v1/launch {pool, "rdp"}. One line per user on
 * stdout, flushed as it finishes:
 *
 *   NAME LOGIN_STATUS LAUNCH_STATUS DESKTOP_ID ERROR
 *
 * A status is 0 when there was no HTTP answer (ERROR is then curl's code
 * name, e.g. "curl-52"), LAUNCH_STATUS is 0 when sign-in failed;
 * DESKTOP_ID is 0 without a desktop; ERROR is the answer's "error" field,
 * "-" on success, "no-message" when an error answer had no "message" for
 * the user (not a clear error). Exits 0 when every line was written. */
#include "config.h"

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

enum stage { STAGE_LOGIN, STAGE_LAUNCH };

struct user {
        char *name, *password;
        enum stage stage;
        CURL *h;
        struct curl_slist *hdrs;
        GString *body;
        char *post;
        long login_status;
};

struct storm {
        const char *base, *ca, *pool;
        CURLM *multi;
};

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
        g_string_append_len(ud, p, (gssize)(sz * n));
        return sz * n;
}

/* Queue the user's next request (its stage) on the multi handle. */
static void send_request(struct storm *s, struct user *u, const char *csrf)
{
        g_autofree char *url = g_strdup_printf(
                "%s/api/v1/%s", s->base, u->stage == STAGE_LOGIN ? "login" : "launch");
        json_t *j = u->stage == STAGE_LOGIN
                            ? json_pack("{s:s, s:s}", "username", u->name, "password", u->password)
                            : json_pack("{s:s, s:s}", "pool", s->pool, "protocol", "rdp");

        g_free(u->post);
        u->post = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        curl_slist_free_all(u->hdrs);
        u->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        if (csrf) {
                g_autofree char *x = g_strdup_printf("X-CSRF-Token: %s", csrf);
                u->hdrs = curl_slist_append(u->hdrs, x);
        }
        g_string_truncate(u->body, 0);
        curl_easy_setopt(u->h, CURLOPT_URL, url);
        curl_easy_setopt(u->h, CURLOPT_HTTPHEADER, u->hdrs);
        curl_easy_setopt(u->h, CURLOPT_POSTFIELDS, u->post);
        curl_multi_add_handle(s->multi, u->h);
}

static void start_user(struct storm *s, struct user *u)
{
        u->h = curl_easy_init();
        u->body = g_string_new(NULL);
        curl_easy_setopt(u->h, CURLOPT_CAINFO, s->ca);
        curl_easy_setopt(u->h, CURLOPT_COOKIEFILE, ""); /* a jar of its own */
        curl_easy_setopt(u->h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(u->h, CURLOPT_WRITEDATA, u->body);
        curl_easy_setopt(u->h, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(u->h, CURLOPT_PRIVATE, u);
        u->stage = STAGE_LOGIN;
        send_request(s, u, NULL);
}

static void finish_user(struct user *u, long launch_status, json_int_t desktop, const char *err)
{
        printf("%s %ld %ld %lld %s\n", u->name, u->login_status, launch_status,
               (long long)desktop, err);
        fflush(stdout);
        curl_easy_cleanup(u->h);
        curl_slist_free_all(u->hdrs);
        g_string_free(u->body, TRUE);
        g_free(u->post);
        u->h = NULL;
        u->hdrs = NULL;
        u->body = NULL;
        u->post = NULL;
}

/* The "error" of an error answer, or "no-message" when it does not say
 * what happened in words; NULL for a 2xx answer. */
static char *answer_error(long status, json_t *j)
{
        const char *e = json_string_value(json_object_get(j, "error"));
        const char *m = json_string_value(json_object_get(j, "message"));

        if (status >= 200 && status < 300)
                return NULL;
        if (!e || !m || !*m)
                return g_strdup_printf("no-message-%ld", status);
        return g_strdup(e);
}

/* One request of u ended with code/status: next stage or the user's line. */
static void on_done(struct storm *s, struct user *u, CURLcode code)
{
        long status = 0;
        g_autofree char *err = NULL;
        g_autoptr(json_t) j = NULL;

        curl_multi_remove_handle(s->multi, u->h);
        if (code != CURLE_OK) {
                err = g_strdup_printf("curl-%d", (int)code);
        } else {
                curl_easy_getinfo(u->h, CURLINFO_RESPONSE_CODE, &status);
                j = json_loadb(u->body->str, u->body->len, 0, NULL);
                err = answer_error(status, j);
        }
        if (u->stage == STAGE_LOGIN) {
                u->login_status = status;
                const char *csrf = json_string_value(json_object_get(j, "csrf_token"));
                if (status != 200 || !csrf) {
                        finish_user(u, 0, 0, err ? err : "no-csrf-token");
                        return;
                }
                u->stage = STAGE_LAUNCH;
                send_request(s, u, csrf);
                return;
        }
        json_int_t desktop = json_integer_value(json_object_get(json_object_get(j, "desktop"), "id"));
        finish_user(u, status, status == 200 ? desktop : 0, err ? err : "-");
}

static GPtrArray *read_users(void)
{
        GPtrArray *users = g_ptr_array_new();
        char line[512];

        while (fgets(line, sizeof(line), stdin)) {
                g_auto(GStrv) f = g_strsplit_set(g_strstrip(line), " \t", 2);
                if (!f[0] || !f[1])
                        continue;
                struct user *u = g_new0(struct user, 1);
                u->name = g_strdup(f[0]);
                u->password = g_strdup(f[1]);
                g_ptr_array_add(users, u);
        }
        return users;
}

int main(int argc, char **argv)
{
        if (argc != 5) {
                fprintf(stderr, "usage: storm-driver BASE_URL CA_FILE CONCURRENCY POOL < USERS\n");
                return 2;
        }
        struct storm s = { .base = argv[1], .ca = argv[2], .pool = argv[4] };
        int concurrency = atoi(argv[3]);
        if (concurrency < 1 || concurrency > 1024) {
                fprintf(stderr, "storm-driver: CONCURRENCY must be 1-1024\n");
                return 2;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        s.multi = curl_multi_init();
        GPtrArray *users = read_users();
        guint next = 0, running = 0;

        do {
                int still = 0, left = 0;
                CURLMsg *m;

                for (; running < (guint)concurrency && next < users->len; next++, running++)
                        start_user(&s, users->pdata[next]);
                curl_multi_perform(s.multi, &still);
                while ((m = curl_multi_info_read(s.multi, &left))) {
                        struct user *u = NULL;
                        if (m->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&u);
                        on_done(&s, u, m->data.result);
                        if (!u->h)
                                running--;
                }
                if (running)
                        curl_multi_poll(s.multi, NULL, 0, 200, NULL);
        } while (running || next < users->len);

        for (guint i = 0; i < users->len; i++) {
                struct user *u = users->pdata[i];
                g_free(u->name);
                g_free(u->password);
                g_free(u);
        }
        g_ptr_array_free(users, TRUE);
        curl_multi_cleanup(s.multi);
        curl_global_cleanup();
        return 0;
}
