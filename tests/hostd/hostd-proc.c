/* Test helper: a real vdi-hostd process (tests/hostd/hostd-proc.h). */
#include "config.h"

#include "hostd-proc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TOP_BUILDDIR
#define TOP_BUILDDIR "."
#endif
#ifndef HARNESS_DIR
#define HARNESS_DIR "tests/harness"
#endif

static const char *builddir(void)
{
        const char *b = getenv("abs_top_builddir");
        return b && *b ? b : TOP_BUILDDIR;
}

int hostd_proc_pki(const char *dir)
{
        g_autofree char *cmd = g_strdup_printf(
                "%s/make-pki %s && cd %s && [ -f other-client.pem ] || ( cd %s && "
                "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                "-subj /CN=intruder -keyout other-client.key -out other-client.csr 2>/dev/null && "
                "printf 'extendedKeyUsage=clientAuth\\n' > other-client.ext && "
                "openssl x509 -req -in other-client.csr -CA other-ca.pem -CAkey other-ca.key "
                "-CAcreateserial -days 30 -extfile other-client.ext -out other-client.pem "
                "2>/dev/null )",
                HARNESS_DIR, dir, dir, dir);
        return system(cmd) == 0 ? 0 : -1;
}

static int write_config(struct hostd_proc *p, const char *path)
{
        g_autoptr(GString) s = g_string_new(NULL);

        g_string_append_printf(s,
                               "[hostd]\nname=%s\nstate_dir=%s\nruntime_dir=%s/run\nlog_level=debug\n"
                               "[api]\nlisten=127.0.0.1\nport=0\ncert=%s/server.pem\n"
                               "key=%s/server.key\nclient_ca=%s/ca.pem\npublic_address=127.0.0.1\n"
                               "[vm]\nbinary=%s\nport_min=%d\nport_max=%d\nstop_timeout_s=%d\n",
                               p->name ? p->name : "test-host", p->state_dir, p->dir, p->pki, p->pki,
                               p->pki, p->vm_binary, p->port_min ? p->port_min : 47000,
                               (p->port_min ? p->port_min : 47000) + 199,
                               p->stop_timeout_s ? p->stop_timeout_s : 3);
        if (p->framebuffer)
                g_string_append_printf(s, "framebuffer=%s\n", p->framebuffer);
        if (p->vm_user)
                g_string_append_printf(s, "user=%s\n", p->vm_user);
        if (p->vm_seccomp)
                g_string_append_printf(s, "seccomp=%s\n", p->vm_seccomp);
        if (p->parent_ready_timeout_s)
                g_string_append_printf(s, "parent_ready_timeout_s=%d\n", p->parent_ready_timeout_s);
        if (p->web_origin)
                g_string_append_printf(s, "web_origin=%s\ndisplay_listen=127.0.0.1\n", p->web_origin);
        if (p->conninfo)
                g_string_append_printf(s, "[database]\nconninfo=%s\nheartbeat_s=1\n", p->conninfo);
        return g_file_set_contents(path, s->str, (gssize)s->len, NULL) ? 0 : -1;
}

int hostd_proc_start(struct hostd_proc *p)
{
        g_autofree char *conf = NULL, *log = NULL, *bin = NULL;
        int out[2];
        char buf[256];
        size_t got = 0;

        if (!p->dir) {
                const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
                p->dir = g_strdup_printf("%s/vdi-hostd-XXXXXX", base);
                if (!g_mkdtemp(p->dir))
                        return -1;
                p->state_dir = g_build_filename(p->dir, "state", NULL);
        }
        if (!p->vm_binary)
                p->vm_binary = g_strdup_printf("%s/hostd/vdi-vm", builddir());
        conf = g_build_filename(p->dir, "hostd.conf", NULL);
        log = g_build_filename(p->dir, "hostd.log", NULL);
        bin = g_strdup_printf("%s/hostd/vdi-hostd", builddir());
        if (write_config(p, conf) < 0 || pipe(out) < 0)
                return -1;
        p->pid = fork();
        if (p->pid < 0)
                return -1;
        if (p->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                /* Never outlive the test. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                dup2(out[1], 1);
                dup2(fd, 2);
                close(out[0]);
                execl(bin, bin, "--config", conf, (char *)NULL);
                _exit(127);
        }
        close(out[1]);
        /* "listening port=N" on stdout once the API is up. */
        while (got < sizeof(buf) - 1) {
                struct pollfd pf = { .fd = out[0], .events = POLLIN };
                /* Slow under a loaded lab: ASan start-up under TCG. */
                if (poll(&pf, 1, 120000) <= 0)
                        break;
                ssize_t n = read(out[0], buf + got, sizeof(buf) - 1 - got);
                if (n <= 0)
                        break;
                got += (size_t)n;
                buf[got] = 0;
                if (strchr(buf, '\n'))
                        break;
        }
        close(out[0]);
        buf[got] = 0;
        if (sscanf(buf, "listening port=%d", &p->port) != 1) {
                g_autofree char *text = NULL;
                g_file_get_contents(log, &text, NULL, NULL);
                fprintf(stderr, "vdi-hostd did not start; its log:\n%s\n", text ? text : "");
                hostd_proc_kill(p);
                return -1;
        }
        return 0;
}

static void wait_pid(struct hostd_proc *p, int sig)
{
        if (p->pid <= 0)
                return;
        kill(p->pid, sig);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
}

void hostd_proc_stop(struct hostd_proc *p)
{
        wait_pid(p, SIGTERM);
}

void hostd_proc_kill(struct hostd_proc *p)
{
        wait_pid(p, SIGKILL);
}

void hostd_proc_destroy(struct hostd_proc *p)
{
        g_autofree char *vms = NULL;
        GDir *d;
        const char *name;

        hostd_proc_stop(p);
        if (!p->dir)
                return;
        vms = g_build_filename(p->state_dir, "vms", NULL);
        d = g_dir_open(vms, 0, NULL);
        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *run = g_build_filename(vms, name, "run.json", NULL);
                g_autofree char *text = NULL;
                json_t *v;
                if (!g_file_get_contents(run, &text, NULL, NULL))
                        continue;
                v = json_loads(text, 0, NULL);
                json_int_t pid = json_integer_value(json_object_get(v, "pid"));
                if (pid > 1)
                        kill((pid_t)pid, SIGKILL);
                json_decref(v);
        }
        if (d)
                g_dir_close(d);
        if (!getenv("VDI_KEEP_TEST_DIRS")) {
                g_autofree char *cmd = g_strdup_printf("chmod -R u+w %s; rm -rf %s", p->dir,
                                                       p->dir);
                (void)!system(cmd);
        } else {
                fprintf(stderr, "kept %s\n", p->dir);
        }
        g_free(p->dir);
        g_free(p->state_dir);
        g_free(p->vm_binary);
        p->dir = p->state_dir = p->vm_binary = NULL;
}

static size_t collect(char *ptr, size_t sz, size_t n, void *ud)
{
        g_string_append_len(ud, ptr, (gssize)(sz * n));
        return sz * n;
}

int hostd_req(const struct hostd_proc *p, const char *method, const char *path, const char *body,
              enum hostd_cert cert, struct hostd_reply *out)
{
        g_autofree char *url = g_strdup_printf("https://127.0.0.1:%d%s", p->port, path);
        g_autofree char *ca = g_build_filename(p->pki, "ca.pem", NULL);
        g_autofree char *crt = NULL, *key = NULL;
        GString *s = g_string_new(NULL);
        struct curl_slist *hdrs = NULL;
        CURL *c = curl_easy_init();
        CURLcode rc;

        memset(out, 0, sizeof(*out));
        if (cert == CERT_CLIENT) {
                crt = g_build_filename(p->pki, "client.pem", NULL);
                key = g_build_filename(p->pki, "client.key", NULL);
        } else if (cert == CERT_OTHER_CA) {
                crt = g_build_filename(p->pki, "other-client.pem", NULL);
                key = g_build_filename(p->pki, "other-client.key", NULL);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        if (crt) {
                curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
                curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        }
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        if (body) {
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        } else if (strcmp(method, "POST") == 0) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        }
        rc = curl_easy_perform(c);
        if (rc == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        out->raw = g_string_free(s, FALSE);
        out->json = json_loads(out->raw, 0, NULL);
        return rc == CURLE_OK ? 0 : -1;
}

void hostd_reply_clear(struct hostd_reply *r)
{
        json_decref(r->json);
        g_free(r->raw);
        memset(r, 0, sizeof(*r));
}

bool hostd_wait_state(const struct hostd_proc *p, const char *id, const char *state,
                      unsigned timeout_ms)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
        gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

        do {
                struct hostd_reply r;
                bool ok;
                hostd_req(p, "GET", path, NULL, CERT_CLIENT, &r);
                ok = r.status == 200 &&
                     g_strcmp0(json_string_value(json_object_get(r.json, "state")), state) == 0;
                hostd_reply_clear(&r);
                if (ok)
                        return true;
                g_usleep(100 * 1000);
        } while (g_get_monotonic_time() < end);
        return false;
}

long hostd_proc_uid(long pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%ld/status", pid), *text = NULL;
        const char *uid;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(uid = strstr(text, "\nUid:")))
                return -1;
        return strtol(uid + 5, NULL, 10);
}

char *hostd_proc_hollow_vm(void)
{
        const char *top = getenv("abs_top_builddir");

        return g_strdup_printf("%s/tests/hostd/hollow-vm", top ? top : TOP_BUILDDIR);
}
