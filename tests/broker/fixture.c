/* Broker test fixture (tests/broker/fixture.h). */
#include "config.h"

#include "fixture.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

int bfx_free_port(void)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        return ntohs(sa.sin_port);
}

struct bfx *bfx_start(const char *extra_ini)
{
        struct bfx *f = g_new0(struct bfx, 1);
        g_autoptr(GError) gerr = NULL;
        char *err = NULL;

        log_setup("test", LOG_LEVEL_WARNING);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        ck_assert_int_eq(harness_pg_start(&f->pg), 0);
        ck_assert_int_eq(harness_ldap_start(&f->ldap), 0);
        f->pki = g_dir_make_tmp("vdi-broker-XXXXXX", &gerr);
        ck_assert_ptr_nonnull(f->pki);
        g_autofree char *cmd = g_strdup_printf("%s/make-pki %s", HARNESS_DIR, f->pki);
        ck_assert_int_eq(system(cmd), 0);
        f->ca = g_build_filename(f->pki, "ca.pem", NULL);
        f->dead_port[0] = bfx_free_port();
        f->dead_port[1] = bfx_free_port();

        f->ini = g_strdup_printf(
                "[http]\nlisten = 127.0.0.1\nport = 0\ncert = %1$s/server.pem\n"
                "key = %1$s/server.key\nthreads = 4\nmax_body = 4096\n"
                "[database]\nconninfo = %2$s\npool_size = 4\nauto_migrate = true\n"
                "[ldap]\nuri = %3$s\nbase_dn = %4$s\nbind_dn = %5$s\nbind_password = %6$s\n"
                "ca_file = %7$s\n"
                "[local-admin]\nuser = " BFX_LOCAL_ADMIN "\n"
                "password_hash = $6$vdisaltx$oJKoSfQSu4BcJUjKSkvnsr.P97ckRzqhdqYv3vNW3986f02M3"
                "juQvKK5jgdoL3Fgx/69G2/fZVoEtEfoQAyV81\n"
                "[session]\nidle_timeout_s = 600\nabsolute_timeout_s = 3600\n"
                "[throttle]\naccount_failures = 3\naddress_failures = 10\nwindow_s = 60\n"
                "[admin]\ngroups = cn=vdi-admins,ou=groups,dc=example,dc=org\n"
                "[hosts]\nclient_cert = %1$s/client.pem\nclient_key = %1$s/client.key\n"
                "ca_file = %1$s/ca.pem\nconnect_timeout_ms = 1000\ntimeout_ms = 3000\n"
                "[portal]\nassets = %8$s\n"
                "%9$s",
                f->pki, f->pg->conninfo, f->ldap->ldaps_uri, f->ldap->base_dn,
                f->ldap->service_dn, f->ldap->service_pw, f->ldap->ca_file, PORTAL_SRC_DIR,
                extra_ini ? extra_ini : "");
        ck_assert_msg(conf_load_data("test-broker.conf", f->ini, broker_conf_options,
                                     broker_conf_options_count, &f->cfg, &err) == 0,
                      "config: %s", err);
        ck_assert_msg(broker_new(&f->cfg, &f->b, &err) == 0, "broker_new: %s", err);
        ck_assert_msg(db_migrate(f->b->db, true, &err) == 0, "migrate: %s", err);
        ck_assert_msg(broker_start(f->b, &err) == 0, "broker_start: %s", err);
        snprintf(f->base, sizeof(f->base), "https://127.0.0.1:%u", broker_port(f->b));
        return f;
}

void bfx_stop(struct bfx *f)
{
        if (!f)
                return;
        broker_free(f->b);
        conf_free(broker_conf_options, broker_conf_options_count, &f->cfg);
        harness_ldap_stop(f->ldap);
        harness_pg_stop(f->pg);
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->pki);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", f->pki);
        g_free(f->pki);
        g_free(f->ca);
        g_free(f->ini);
        g_free(f);
        curl_global_cleanup();
}

static PGresult *run(struct bfx *f, const char *sql)
{
        PGconn *c = PQconnectdb(f->pg->conninfo);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
        PGresult *res = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK ||
                              PQresultStatus(res) == PGRES_TUPLES_OK,
                      "%s: %s", sql, PQerrorMessage(c));
        PQfinish(c);
        return res;
}

void bfx_exec(struct bfx *f, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *sql = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        PQclear(run(f, sql));
}

long bfx_long(struct bfx *f, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *sql = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        PGresult *res = run(f, sql);
        ck_assert_msg(PQntuples(res) == 1, "%s: %d rows", sql, PQntuples(res));
        long v = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
        return v;
}

char *bfx_str(struct bfx *f, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *sql = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        PGresult *res = run(f, sql);
        char *v = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? g_strdup(PQgetvalue(res, 0, 0))
                                                                  : NULL;
        PQclear(res);
        return v;
}

void bfx_reset(struct bfx *f)
{
        bfx_exec(f, "TRUNCATE hosts, images, image_versions, pools, pool_entitlements, desktops,"
                    " assignments, portal_sessions, desktop_sessions, tickets, audit_events,"
                    " login_timings, login_failures RESTART IDENTITY CASCADE");
        bfx_exec(f,
                 "INSERT INTO images (name) VALUES ('deb12');"
                 "INSERT INTO image_versions (image_id, version, path, state)"
                 " VALUES (1, 1, '/var/lib/vdi/images/deb12-1.qcow2', 'published');"
                 "INSERT INTO hosts (name, address, port) VALUES ('h1', '127.0.0.1', %d),"
                 " ('h2', '127.0.0.1', %d);"
                 "INSERT INTO pools (name, display_name, description, kind, image_version_id,"
                 " min_size, max_size, ready_size, protocols, enabled) VALUES"
                 " ('office', 'Office desktop', 'Debian 12 with LibreOffice', 'floating', 1,"
                 "  0, 10, 2, '{rdp,spice}', true),"
                 " ('design', 'Design studio', '', 'dedicated', 1, 0, 5, 1, '{spice}', true),"
                 " ('eng', 'Engineering', '', 'floating', 1, 0, 5, 1, '{rdp}', true),"
                 " ('lab', 'Alice''s lab', '', 'floating', 1, 0, 5, 1, '{rdp,spice}', true),"
                 " ('full', 'Always full', '', 'floating', 1, 0, 5, 0, '{rdp,spice}', true),"
                 " ('off', 'Switched off', '', 'floating', 1, 0, 5, 1, '{rdp,spice}', false);"
                 "INSERT INTO pool_entitlements (pool_id, kind, subject) VALUES"
                 " (1, 'group', 'cn=staff,ou=groups,dc=example,dc=org'),"
                 " (2, 'group', 'cn=designers,ou=groups,dc=example,dc=org'),"
                 " (3, 'group', 'CN=Engineering,ou=groups,dc=example,dc=org'),"
                 " (4, 'user', 'alice'),"
                 " (5, 'group', 'cn=staff,ou=groups,dc=example,dc=org'),"
                 " (6, 'group', 'cn=staff,ou=groups,dc=example,dc=org');"
                 "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state) VALUES"
                 " (1, 1, 1, 'office-1', 'ready'), (1, 1, 1, 'office-2', 'ready'),"
                 " (1, 1, 1, 'office-3', 'ready'), (2, 1, 1, 'design-1', 'ready'),"
                 " (3, 2, 1, 'eng-1', 'ready'), (4, 1, 1, 'lab-1', 'ready'),"
                 " (6, 1, 1, 'off-1', 'ready');",
                 f->dead_port[0], f->dead_port[1]);
}

struct bclient *bclient_new(struct bfx *f)
{
        struct bclient *c = g_new0(struct bclient, 1);
        c->f = f;
        c->curl = curl_easy_init();
        curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, ""); /* in-memory cookie jar */
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, f->ca);
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 20L);
        return c;
}

void bclient_free(struct bclient *c)
{
        if (!c)
                return;
        curl_easy_cleanup(c->curl);
        g_free(c->csrf);
        g_free(c);
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
        g_string_append_len(ud, p, (gssize)(sz * n));
        return sz * n;
}

struct breply bclient_req(struct bclient *c, const char *method, const char *path,
                          const char *body, const char *ctype, bool csrf)
{
        struct breply r = { .body = g_string_new(NULL), .headers = g_string_new(NULL) };
        g_autofree char *url = g_strdup_printf("%s%s", c->f->base, path);
        struct curl_slist *hdrs = NULL;
        CURL *h = c->curl;

        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_NOBODY, !strcmp(method, "HEAD") ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, r.body);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, r.headers);
        if (body) {
                g_autofree char *ct = g_strdup_printf("Content-Type: %s",
                                                      ctype ? ctype : "application/json");
                hdrs = curl_slist_append(hdrs, ct);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        } else {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
                if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
                else
                        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
        if (csrf && c->csrf) {
                g_autofree char *x = g_strdup_printf("X-CSRF-Token: %s", c->csrf);
                hdrs = curl_slist_append(hdrs, x);
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        CURLcode rc = curl_easy_perform(h);
        ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdrs);
        r.json = json_loadb(r.body->str, r.body->len, JSON_DECODE_ANY, NULL);
        return r;
}

long bclient_login(struct bclient *c, const char *user, const char *password)
{
        json_t *b = json_pack("{s:s, s:s}", "username", user, "password", password);
        g_autofree char *text = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        struct breply r = bclient_req(c, "POST", "/api/v1/login", text, NULL, false);
        long st = r.status;
        if (st == 200) {
                g_free(c->csrf);
                c->csrf = g_strdup(json_string_value(json_object_get(r.json, "csrf_token")));
        }
        breply_free(&r);
        return st;
}

void breply_free(struct breply *r)
{
        g_string_free(r->body, TRUE);
        g_string_free(r->headers, TRUE);
        json_decref(r->json);
        memset(r, 0, sizeof(*r));
}

char *breply_header(const struct breply *r, const char *name)
{
        g_auto(GStrv) lines = g_strsplit(r->headers->str, "\r\n", -1);
        size_t n = strlen(name);
        for (size_t i = 0; lines[i]; i++)
                if (!g_ascii_strncasecmp(lines[i], name, n) && lines[i][n] == ':')
                        return g_strstrip(g_strdup(lines[i] + n + 1));
        return NULL;
}

/* Whether GET base/healthz answers 200 (no abort: the daemon may still
 * be starting). */
static bool healthy(const struct bfx *f, const char *base)
{
        g_autofree char *url = g_strdup_printf("%s/healthz", base);
        CURL *c = curl_easy_init();
        long status = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CAINFO, f->ca);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        return status == 200;
}

/* In the daemon's child: go when the test process goes. */
static void die_with_parent(gpointer unused)
{
        (void)unused;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

void bfx_daemon_start(struct bfx *f, const char *extra_ini, struct bfx_daemon *d)
{
        g_autoptr(GError) gerr = NULL;
        const char *top = getenv("abs_top_builddir");
        int port = bfx_free_port();
        g_autofree char *bin = g_strdup_printf("%s/broker/vdi-brokerd", top && *top ? top : ".");
        g_autofree char *conf = g_strdup_printf("%s/brokerd-%d.conf", f->pki, port);
        /* A group given twice is merged and a key's last value wins. */
        g_autofree char *ini = g_strdup_printf("%s\n[http]\nport = %d\n%s", f->ini, port,
                                               extra_ini ? extra_ini : "");

        *d = (struct bfx_daemon){ .view = *f };
        d->log = g_strdup_printf("%s/brokerd-%d.log", f->pki, port);
        ck_assert(g_file_set_contents(conf, ini, -1, NULL));
        int log_fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        ck_assert_int_ge(log_fd, 0);
        char *argv[] = { bin, "--config", conf, "--foreground", NULL };
        gboolean ok = g_spawn_async_with_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                             die_with_parent, NULL, &d->pid, -1, log_fd, log_fd, &gerr);
        close(log_fd);
        ck_assert_msg(ok, "%s: %s", bin, gerr ? gerr->message : "");
        snprintf(d->view.base, sizeof(d->view.base), "https://127.0.0.1:%d", port);
        /* ASan start-up on a loaded machine: give it a minute. */
        for (int i = 0; i < 600 && !healthy(f, d->view.base); i++) {
                if (waitpid(d->pid, NULL, WNOHANG) != 0)
                        break;
                g_usleep(100000);
        }
        if (!healthy(f, d->view.base)) {
                g_autofree char *text = NULL;
                g_file_get_contents(d->log, &text, NULL, NULL);
                ck_abort_msg("vdi-brokerd did not answer; its log:\n%s", text ? text : "");
        }
}

void bfx_terminate(GPid pid, unsigned timeout_ms)
{
        int status;
        kill(pid, SIGTERM);
        for (unsigned i = 0; i < timeout_ms / 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
                g_usleep(100000);
        if (waitpid(pid, &status, WNOHANG) == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
        }
}

void bfx_daemon_stop(struct bfx_daemon *d)
{
        if (d->pid <= 0)
                return;
        bfx_terminate(d->pid, 10000);
        g_spawn_close_pid(d->pid);
        d->pid = 0;
        g_clear_pointer(&d->log, g_free);
}
