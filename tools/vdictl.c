/* vdictl: the admin CLI over vdi-brokerd's admin API (HTTPS + JSON).
 *
 *   vdictl [--url URL] [--ca FILE] [--user NAME] [--json] COMMAND [ARGS]
 *
 * Signs in like the portal does (session cookie + CSRF token), runs one
 * command, signs out. The password comes from VDICTL_PASSWORD or is
 * prompted for on the terminal. Output is a table, or the API's JSON with
 * --json. Exit status: 0 ok, 1 the broker refused or failed, 2 usage. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

struct ctl {
        char *url;
        const char *ca;
        const char *user;
        bool json;
        CURL *curl;
        char *csrf;
};

struct reply {
        long status;
        json_t *json;
};

static void usage(FILE *f)
{
        fputs("usage: vdictl [--url URL] [--ca FILE] [--user NAME] [--json] COMMAND [ARGS]\n"
              "\n"
              "  pools                              list pools\n"
              "  pool NAME                          show one pool\n"
              "  pool-delete NAME                   delete a pool without desktops\n"
              "  apply FILE                         create or update the pools in FILE\n"
              "                                     (INI, one [pool NAME] section per pool)\n"
              "  images                             list golden images and versions\n"
              "  image-add NAME [DESCRIPTION]       register a golden image\n"
              "  image-version NAME VERSION PATH [format=qcow2|raw] [state=published|importing]\n"
              "                [kernel=PATH] [initrd=PATH] [cmdline=TEXT]   (how hosts boot it)\n"
              "                [display=vesa|virtio-gpu]   (the guests' display device)\n"
              "  hosts                              list hosts\n"
              "  desktops [pool=P] [state=S] [user=U] [q=TEXT] [history=yes]\n"
              "                                     (deleted desktops only with history=yes)\n"
              "  desktop-refresh ID | desktop-delete ID   ask the reconcile loop to act\n"
              "  desktop-suspend ID | desktop-resume ID   save a desktop to disk (its memory\n"
              "                                     freed) or bring it back where it stood\n"
              "  sessions                           list portal sessions\n"
              "  session-end ID                     sign a user out\n"
              "  audit [actor=A] [action=X] [outcome=ok|denied|failed] [pool=P]\n"
              "        [since=TIME] [until=TIME] [limit=N]\n"
              "  timings [window_s=SECONDS]         sign-in and launch latency per phase\n"
              "\n"
              "Environment: VDICTL_URL (default https://localhost), VDICTL_CA (CA file),\n"
              "VDICTL_USER (default $USER), VDICTL_PASSWORD (else prompted).\n",
              f);
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
        g_string_append_len(ud, p, (gssize)(sz * n));
        return sz * n;
}

/* One request; exits on transport errors. */
static struct reply call(struct ctl *c, const char *method, const char *path, json_t *body)
{
        g_autofree char *url = g_strdup_printf("%s%s", c->url, path);
        g_autofree char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        struct curl_slist *hdrs = NULL;
        struct reply r = { 0 };
        char errbuf[CURL_ERROR_SIZE] = "";

        curl_easy_setopt(c->curl, CURLOPT_URL, url);
        curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        if (c->csrf) {
                g_autofree char *h = g_strdup_printf("X-CSRF-Token: %s", c->csrf);
                hdrs = curl_slist_append(hdrs, h);
        }
        if (text) {
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
                curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
        } else if (strcmp(method, "GET")) {
                curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
        } else {
                curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
        }
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
        CURLcode rc = curl_easy_perform(c->curl);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdrs);
        if (text)
                explicit_bzero(text, strlen(text));
        if (rc != CURLE_OK) {
                fprintf(stderr, "vdictl: cannot reach the broker at %s: %s\n", c->url,
                        errbuf[0] ? errbuf : curl_easy_strerror(rc));
                exit(1);
        }
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r.status);
        r.json = json_loadb(out->str, out->len, 0, NULL);
        return r;
}

/* Print the broker's error for a failed reply; returns 1. */
static int fail(const char *what, struct reply *r)
{
        const char *m = json_string_value(json_object_get(r->json, "message"));
        fprintf(stderr, "vdictl: %s%s%s (HTTP %ld)\n", what ? what : "", what ? ": " : "",
                m ? m : "the broker gave no explanation", r->status);
        json_decref(r->json);
        return 1;
}

static char *read_password(const char *user)
{
        const char *env = getenv("VDICTL_PASSWORD");
        struct termios old, noecho;
        char buf[1024];

        if (env)
                return g_strdup(env);
        if (!isatty(STDIN_FILENO)) {
                fprintf(stderr, "vdictl: no terminal to ask for %s's password: set "
                                "VDICTL_PASSWORD\n", user);
                exit(2);
        }
        fprintf(stderr, "Password for %s: ", user);
        tcgetattr(STDIN_FILENO, &old);
        noecho = old;
        noecho.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &noecho);
        char *ok = fgets(buf, sizeof(buf), stdin);
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fputc('\n', stderr);
        if (!ok)
                exit(2);
        buf[strcspn(buf, "\r\n")] = '\0';
        char *pw = g_strdup(buf);
        explicit_bzero(buf, sizeof(buf));
        return pw;
}

static int sign_in(struct ctl *c)
{
        g_autofree char *pw = read_password(c->user);
        json_t *body = json_pack("{s:s, s:s}", "username", c->user, "password", pw);
        struct reply r = call(c, "POST", "/api/v1/login", body);
        explicit_bzero(pw, strlen(pw));
        json_decref(body);
        if (r.status != 200)
                return fail("sign-in failed", &r);
        c->csrf = g_strdup(json_string_value(json_object_get(r.json, "csrf_token")));
        bool admin = json_is_true(json_object_get(json_object_get(r.json, "user"), "admin"));
        json_decref(r.json);
        if (!admin) {
                fprintf(stderr, "vdictl: user %s is not an administrator (admins are members "
                                "of the broker's [admin] groups)\n", c->user);
                return 1;
        }
        return 0;
}

static void sign_out(struct ctl *c)
{
        if (!c->csrf)
                return;
        struct reply r = call(c, "POST", "/api/v1/logout", NULL);
        json_decref(r.json);
}

/* ---- tables ---- */

struct column {
        const char *key;
        const char *title;
};

static char *cell(json_t *v, const char *key)
{
        size_t i;
        const char *k;
        json_t *x;

        if (!v || json_is_null(v))
                return g_strdup("-");
        if (json_is_string(v))
                return g_strdup(json_string_value(v));
        if (json_is_integer(v))
                return g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        if (json_is_boolean(v))
                return g_strdup(json_is_true(v) ? "yes" : "no");
        GString *s = g_string_new(NULL);
        if (json_is_array(v)) {
                json_array_foreach (v, i, x) {
                        if (s->len)
                                g_string_append(s, !strcmp(key, "entitlements") ? "; " : ",");
                        if (json_is_object(x) && json_object_get(x, "subject"))
                                g_string_append_printf(
                                        s, "%s:%s", json_string_value(json_object_get(x, "kind")),
                                        json_string_value(json_object_get(x, "subject")));
                        else if (json_is_object(x) && json_object_get(x, "version"))
                                g_string_append_printf(
                                        s, "v%" JSON_INTEGER_FORMAT "(%s)",
                                        json_integer_value(json_object_get(x, "version")),
                                        json_string_value(json_object_get(x, "state")));
                        else if (json_is_object(x) && json_object_get(x, "desktop"))
                                g_string_append_printf(
                                        s, "%s/%s", json_string_value(json_object_get(x, "desktop")),
                                        json_string_value(json_object_get(x, "protocol")));
                        else {
                                g_autofree char *c = cell(x, key);
                                g_string_append(s, c);
                        }
                }
        } else if (json_is_object(v)) {
                json_object_foreach (v, k, x) {
                        g_autofree char *c = cell(x, k);
                        g_string_append_printf(s, "%s%s=%s", s->len ? " " : "", k, c);
                }
        }
        if (!s->len)
                g_string_append(s, "-");
        return g_string_free(s, FALSE);
}

static void print_table(json_t *rows, const struct column *cols, size_t ncols)
{
        size_t n = json_array_size(rows);
        g_autofree size_t *w = g_new0(size_t, ncols);
        char ***cells = g_new0(char **, n);

        for (size_t c = 0; c < ncols; c++)
                w[c] = strlen(cols[c].title);
        for (size_t r = 0; r < n; r++) {
                cells[r] = g_new0(char *, ncols);
                for (size_t c = 0; c < ncols; c++) {
                        cells[r][c] = cell(json_object_get(json_array_get(rows, r), cols[c].key),
                                           cols[c].key);
                        w[c] = MAX(w[c], (size_t)g_utf8_strlen(cells[r][c], -1));
                }
        }
        for (size_t c = 0; c < ncols; c++)
                printf("%-*s%s", c + 1 < ncols ? (int)w[c] : 0, cols[c].title,
                       c + 1 < ncols ? "  " : "\n");
        for (size_t r = 0; r < n; r++) {
                for (size_t c = 0; c < ncols; c++) {
                        size_t len = (size_t)g_utf8_strlen(cells[r][c], -1);
                        printf("%s%*s%s", cells[r][c],
                               c + 1 < ncols ? (int)(w[c] - len) : 0, "",
                               c + 1 < ncols ? "  " : "\n");
                        g_free(cells[r][c]);
                }
                g_free(cells[r]);
        }
        g_free(cells);
        if (n == 0)
                printf("(none)\n");
}

/* GET path and show the array under key. */
static int list(struct ctl *c, const char *path, const char *key, const struct column *cols,
                size_t ncols)
{
        struct reply r = call(c, "GET", path, NULL);
        if (r.status != 200)
                return fail(NULL, &r);
        if (c->json) {
                json_dumpf(r.json, stdout, JSON_INDENT(2));
                putchar('\n');
        } else {
                print_table(json_object_get(r.json, key), cols, ncols);
        }
        json_decref(r.json);
        return 0;
}

static const struct column pool_cols[] = {
        { "name", "POOL" },       { "kind", "KIND" },         { "image", "IMAGE" },
        { "image_version", "V" }, { "min_size", "MIN" },      { "max_size", "MAX" },
        { "ready_size", "READY" }, { "protocols", "PROTOCOLS" }, { "enabled", "ENABLED" },
        { "desktops", "DESKTOPS" }, { "entitlements", "ENTITLED" },
};

/* "k=v" arguments as a query string, only for the allowed keys. */
static char *query(int argc, char **argv, const char *const *allowed)
{
        GString *q = g_string_new(NULL);
        for (int i = 0; i < argc; i++) {
                const char *eq = strchr(argv[i], '=');
                bool ok = false;
                g_autofree char *k = eq ? g_strndup(argv[i], (gsize)(eq - argv[i])) : NULL;
                for (size_t a = 0; k && allowed[a]; a++)
                        ok |= !strcmp(k, allowed[a]);
                if (!ok) {
                        g_autofree char *list = g_strjoinv(", ", (char **)allowed);
                        fprintf(stderr, "vdictl: unexpected argument \"%s\" (filters: %s, as "
                                        "name=value)\n", argv[i], list);
                        exit(2);
                }
                g_autofree char *v = g_uri_escape_string(eq + 1, NULL, FALSE);
                g_string_append_printf(q, "%c%s=%s", q->len ? '&' : '?', k, v);
        }
        return g_string_free(q, FALSE);
}

/* ---- apply ---- */

static const char *const pool_keys[] = { "display_name", "description", "kind", "image",
                                         "image_version", "min_size", "max_size", "ready_size",
                                         "protocols", "vcpus", "memory_mb", "enabled", "groups",
                                         "users", "bridge", "vlan", "user_actions", "clipboard",
                                         "provisioning", "suspend_after_disconnect_s", NULL };

static bool is_int_key(const char *k)
{
        return !strcmp(k, "image_version") || !strcmp(k, "min_size") || !strcmp(k, "max_size") ||
               !strcmp(k, "ready_size") || !strcmp(k, "vcpus") || !strcmp(k, "memory_mb") ||
               !strcmp(k, "vlan") || !strcmp(k, "suspend_after_disconnect_s");
}

/* One [pool NAME] section as an API body; NULL with a message on errors. */
static json_t *pool_from_section(GKeyFile *kf, const char *file, const char *group)
{
        g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
        json_t *body = json_object(), *ents = json_array();

        for (size_t i = 0; keys && keys[i]; i++) {
                const char *k = keys[i];
                g_autofree char *v = g_key_file_get_string(kf, group, k, NULL);
                bool known = false;
                for (size_t a = 0; pool_keys[a]; a++)
                        known |= !strcmp(pool_keys[a], k);
                if (!known) {
                        fprintf(stderr, "vdictl: %s: [%s] %s: unknown key\n", file, group, k);
                        goto bad;
                }
                g_strstrip(v);
                if (is_int_key(k)) {
                        char *end = NULL;
                        long long n = g_ascii_strtoll(v, &end, 10);
                        if (!*v || *end) {
                                fprintf(stderr, "vdictl: %s: [%s] %s: \"%s\" is not a number\n",
                                        file, group, k, v);
                                goto bad;
                        }
                        json_object_set_new(body, k, json_integer(n));
                } else if (!strcmp(k, "enabled")) {
                        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
                                json_object_set_new(body, k, json_true());
                        else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
                                json_object_set_new(body, k, json_false());
                        else {
                                fprintf(stderr, "vdictl: %s: [%s] enabled: \"%s\" is not true "
                                                "or false\n", file, group, v);
                                goto bad;
                        }
                } else if (!strcmp(k, "protocols") || !strcmp(k, "user_actions")) {
                        g_auto(GStrv) parts = g_strsplit_set(v, ";, ", -1);
                        json_t *a = json_array();
                        for (size_t p = 0; parts[p]; p++)
                                if (*parts[p])
                                        json_array_append_new(a, json_string(parts[p]));
                        json_object_set_new(body, k, a);
                } else if (!strcmp(k, "groups") || !strcmp(k, "users")) {
                        /* ';' only: group DNs contain commas. */
                        g_auto(GStrv) parts = g_strsplit(v, ";", -1);
                        for (size_t p = 0; parts[p]; p++) {
                                g_strstrip(parts[p]);
                                if (*parts[p])
                                        json_array_append_new(
                                                ents, json_pack("{s:s, s:s}", "kind",
                                                                k[0] == 'g' ? "group" : "user",
                                                                "subject", parts[p]));
                        }
                } else {
                        json_object_set_new(body, k, json_string(v));
                }
        }
        json_object_set_new(body, "entitlements", ents);
        return body;
bad:
        json_decref(body);
        json_decref(ents);
        return NULL;
}

static int apply(struct ctl *c, const char *file)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) gerr = NULL;
        g_auto(GStrv) groups = NULL;
        GPtrArray *bodies = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
        GPtrArray *names = g_ptr_array_new();
        int status = 0;

        if (!g_key_file_load_from_file(kf, file, G_KEY_FILE_NONE, &gerr)) {
                fprintf(stderr, "vdictl: %s: %s\n", file, gerr->message);
                return 1;
        }
        groups = g_key_file_get_groups(kf, NULL);
        /* Check the whole file before changing anything. */
        for (size_t i = 0; groups[i]; i++) {
                if (!g_str_has_prefix(groups[i], "pool ") || !groups[i][5]) {
                        fprintf(stderr, "vdictl: %s: [%s]: sections must be [pool NAME]\n", file,
                                groups[i]);
                        status = 1;
                        continue;
                }
                json_t *b = pool_from_section(kf, file, groups[i]);
                if (!b) {
                        status = 1;
                        continue;
                }
                g_ptr_array_add(bodies, b);
                g_ptr_array_add(names, groups[i] + 5);
        }
        if (status == 0 && names->len == 0) {
                fprintf(stderr, "vdictl: %s: no [pool NAME] sections\n", file);
                status = 1;
        }
        for (guint i = 0; status == 0 && i < names->len; i++) {
                const char *name = g_ptr_array_index(names, i);
                json_t *b = g_ptr_array_index(bodies, i);
                g_autofree char *esc = g_uri_escape_string(name, NULL, FALSE);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/pools/%s", esc);
                struct reply r = call(c, "GET", path, NULL);
                bool exists = r.status == 200;
                json_decref(r.json);
                if (!exists) {
                        json_object_set_new(b, "name", json_string(name));
                        r = call(c, "POST", "/api/v1/admin/pools", b);
                } else {
                        r = call(c, "PUT", path, b);
                }
                if (r.status != 200 && r.status != 201) {
                        g_autofree char *what = g_strdup_printf("%s: [pool %s]", file, name);
                        status = fail(what, &r);
                        break;
                }
                json_decref(r.json);
                printf("%s pool %s\n", exists ? "updated" : "created", name);
        }
        g_ptr_array_free(bodies, TRUE);
        g_ptr_array_free(names, TRUE);
        return status;
}

/* ---- simple changes ---- */

static int change(struct ctl *c, const char *method, const char *path, json_t *body,
                  const char *done)
{
        struct reply r = call(c, method, path, body);
        json_decref(body);
        if (r.status < 200 || r.status > 299)
                return fail(NULL, &r);
        if (c->json && r.json) {
                json_dumpf(r.json, stdout, JSON_INDENT(2));
                putchar('\n');
        } else {
                printf("%s\n", done);
        }
        json_decref(r.json);
        return 0;
}

static int need_args(int argc, int min, int max)
{
        if (argc < min || argc > max) {
                usage(stderr);
                exit(2);
        }
        return 0;
}

static int run(struct ctl *c, int argc, char **argv)
{
        const char *cmd = argv[0];
        argc--;
        argv++;

        if (!strcmp(cmd, "pools")) {
                need_args(argc, 0, 0);
                return list(c, "/api/v1/admin/pools", "pools", pool_cols, G_N_ELEMENTS(pool_cols));
        }
        if (!strcmp(cmd, "pool") || !strcmp(cmd, "pool-delete")) {
                need_args(argc, 1, 1);
                g_autofree char *esc = g_uri_escape_string(argv[0], NULL, FALSE);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/pools/%s", esc);
                if (cmd[4] == '-') {
                        g_autofree char *done = g_strdup_printf("deleted pool %s", argv[0]);
                        return change(c, "DELETE", path, NULL, done);
                }
                struct reply r = call(c, "GET", path, NULL);
                if (r.status != 200)
                        return fail(NULL, &r);
                if (c->json) {
                        json_dumpf(r.json, stdout, JSON_INDENT(2));
                        putchar('\n');
                } else {
                        const char *k;
                        json_t *v;
                        json_object_foreach (json_object_get(r.json, "pool"), k, v) {
                                g_autofree char *s = cell(v, k);
                                printf("%-16s %s\n", k, s);
                        }
                }
                json_decref(r.json);
                return 0;
        }
        if (!strcmp(cmd, "apply")) {
                need_args(argc, 1, 1);
                return apply(c, argv[0]);
        }
        if (!strcmp(cmd, "images")) {
                static const struct column cols[] = { { "name", "IMAGE" },
                                                      { "description", "DESCRIPTION" },
                                                      { "versions", "VERSIONS" } };
                need_args(argc, 0, 0);
                return list(c, "/api/v1/admin/images", "images", cols, G_N_ELEMENTS(cols));
        }
        if (!strcmp(cmd, "image-add")) {
                need_args(argc, 1, 2);
                g_autofree char *done = g_strdup_printf("registered image %s", argv[0]);
                return change(c, "POST", "/api/v1/admin/images",
                              json_pack("{s:s, s:s}", "name", argv[0], "description",
                                        argc > 1 ? argv[1] : ""),
                              done);
        }
        if (!strcmp(cmd, "image-version")) {
                /* KEY=VALUE arguments, the admin API's field names. */
                static const char *const version_keys[] = { "format", "state",   "kernel",
                                                            "initrd", "cmdline", "display",
                                                            NULL };
                need_args(argc, 3, 3 + (int)G_N_ELEMENTS(version_keys) - 1);
                char *end = NULL;
                long v = strtol(argv[1], &end, 10);
                if (!*argv[1] || *end) {
                        fprintf(stderr, "vdictl: version \"%s\" is not a number\n", argv[1]);
                        return 2;
                }
                json_t *body = json_pack("{s:i, s:s}", "version", (int)v, "path", argv[2]);
                for (int i = 3; i < argc; i++) {
                        const char *eq = strchr(argv[i], '=');
                        g_autofree char *key = eq ? g_strndup(argv[i], eq - argv[i]) : NULL;
                        if (!key || !g_strv_contains(version_keys, key)) {
                                json_decref(body);
                                fprintf(stderr, "vdictl: unexpected argument \"%s\"\n", argv[i]);
                                return 2;
                        }
                        json_object_set_new(body, key, json_string(eq + 1));
                }
                g_autofree char *esc = g_uri_escape_string(argv[0], NULL, FALSE);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/images/%s/versions", esc);
                g_autofree char *done = g_strdup_printf("registered %s version %ld", argv[0], v);
                return change(c, "POST", path, body, done);
        }
        if (!strcmp(cmd, "hosts")) {
                static const struct column cols[] = {
                        { "name", "HOST" },   { "address", "ADDRESS" },     { "port", "PORT" },
                        { "state", "STATE" }, { "desktops", "DESKTOPS" },
                        { "last_heartbeat", "LAST HEARTBEAT" }, { "down_reason", "WHY DOWN" },
                };
                need_args(argc, 0, 0);
                return list(c, "/api/v1/admin/hosts", "hosts", cols, G_N_ELEMENTS(cols));
        }
        if (!strcmp(cmd, "desktops")) {
                static const struct column cols[] = {
                        { "id", "ID" },       { "name", "DESKTOP" }, { "pool", "POOL" },
                        { "host", "HOST" },   { "state", "STATE" },  { "assigned_to", "USER" },
                        { "pending_action", "PENDING" },
                };
                static const char *const f[] = { "pool", "state", "user", "q", "history", NULL };
                g_autofree char *q = query(argc, argv, f);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/desktops%s", q);
                return list(c, path, "desktops", cols, G_N_ELEMENTS(cols));
        }
        if (!strcmp(cmd, "desktop-refresh") || !strcmp(cmd, "desktop-delete")) {
                need_args(argc, 1, 1);
                bool refresh = !strcmp(cmd, "desktop-refresh");
                g_autofree char *esc = g_uri_escape_string(argv[0], NULL, FALSE);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/desktops/%s%s", esc,
                                                        refresh ? "/refresh" : "");
                g_autofree char *done = g_strdup_printf("desktop %s marked for %s", argv[0],
                                                        refresh ? "refresh" : "deletion");
                return change(c, refresh ? "POST" : "DELETE", path, NULL, done);
        }
        if (!strcmp(cmd, "desktop-suspend") || !strcmp(cmd, "desktop-resume")) {
                need_args(argc, 1, 1);
                const char *op = cmd + strlen("desktop-");
                g_autofree char *esc = g_uri_escape_string(argv[0], NULL, FALSE);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/desktops/%s/%s", esc, op);
                g_autofree char *done = g_strdup_printf("desktop %s %s", argv[0],
                                                        !strcmp(op, "suspend") ? "suspended" : "resumed");
                return change(c, "POST", path, NULL, done);
        }
        if (!strcmp(cmd, "sessions")) {
                static const struct column cols[] = {
                        { "id", "ID" },           { "user_name", "USER" },
                        { "is_admin", "ADMIN" },  { "remote_addr", "FROM" },
                        { "created_at", "SIGNED IN" }, { "last_seen_at", "LAST SEEN" },
                        { "desktop_sessions", "CONNECTED TO" },
                };
                need_args(argc, 0, 0);
                return list(c, "/api/v1/admin/sessions", "sessions", cols, G_N_ELEMENTS(cols));
        }
        if (!strcmp(cmd, "session-end")) {
                need_args(argc, 1, 1);
                g_autofree char *esc = g_uri_escape_string(argv[0], NULL, FALSE);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/sessions/%s", esc);
                g_autofree char *done = g_strdup_printf("session %s ended", argv[0]);
                return change(c, "DELETE", path, NULL, done);
        }
        if (!strcmp(cmd, "audit")) {
                static const struct column cols[] = {
                        { "at", "AT" },          { "actor", "ACTOR" },   { "action", "ACTION" },
                        { "outcome", "OUTCOME" }, { "pool_name", "POOL" },
                        { "desktop_name", "DESKTOP" }, { "remote_addr", "FROM" },
                        { "detail", "DETAIL" },
                };
                static const char *const f[] = { "actor", "action", "outcome", "pool", "since",
                                                 "until", "limit", NULL };
                g_autofree char *q = query(argc, argv, f);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/audit%s", q);
                return list(c, path, "events", cols, G_N_ELEMENTS(cols));
        }
        if (!strcmp(cmd, "timings")) {
                static const struct column cols[] = {
                        { "phase", "PHASE" }, { "count", "COUNT" }, { "p50_ms", "P50 MS" },
                        { "p99_ms", "P99 MS" }, { "max_ms", "MAX MS" },
                };
                static const char *const f[] = { "window_s", NULL };
                g_autofree char *q = query(argc, argv, f);
                g_autofree char *path = g_strdup_printf("/api/v1/admin/timings%s", q);
                return list(c, path, "phases", cols, G_N_ELEMENTS(cols));
        }
        fprintf(stderr, "vdictl: unknown command \"%s\"\n", cmd);
        usage(stderr);
        return 2;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "url", required_argument, NULL, 'u' }, { "ca", required_argument, NULL, 'c' },
                { "user", required_argument, NULL, 'U' }, { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },      {},
        };
        struct ctl c = { 0 };
        const char *url = getenv("VDICTL_URL");
        int opt, status;

        c.ca = getenv("VDICTL_CA");
        c.user = getenv("VDICTL_USER") ? getenv("VDICTL_USER") : getenv("USER");
        while ((opt = getopt_long(argc, argv, "+u:c:U:jh", longopts, NULL)) != -1) {
                switch (opt) {
                case 'u': url = optarg; break;
                case 'c': c.ca = optarg; break;
                case 'U': c.user = optarg; break;
                case 'j': c.json = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        if (!c.user || !*c.user) {
                fprintf(stderr, "vdictl: no user name: use --user or VDICTL_USER\n");
                return 2;
        }
        c.url = g_strdup(url ? url : "https://localhost");
        while (g_str_has_suffix(c.url, "/"))
                c.url[strlen(c.url) - 1] = '\0';
        if (!g_str_has_prefix(c.url, "https://")) {
                fprintf(stderr, "vdictl: --url must start with https:// (the API is HTTPS only)\n");
                return 2;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        c.curl = curl_easy_init();
        curl_easy_setopt(c.curl, CURLOPT_COOKIEFILE, "");
        curl_easy_setopt(c.curl, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(c.curl, CURLOPT_CONNECTTIMEOUT, 10L);
        if (c.ca)
                curl_easy_setopt(c.curl, CURLOPT_CAINFO, c.ca);
        status = sign_in(&c);
        if (status == 0)
                status = run(&c, argc - optind, argv + optind);
        sign_out(&c);
        curl_easy_cleanup(c.curl);
        curl_global_cleanup();
        g_free(c.csrf);
        g_free(c.url);
        return status;
}
