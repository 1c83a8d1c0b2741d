/* vdi-gateway (gateway/) between browsers and a web display, with real
 * parts around it: PostgreSQL and slapd from the harness, the broker
 * in-process (tests/broker/fixture.h), HAProxy in front routing the
 * portal's /gateway/ path to the vdi-gateway daemon (this tree's binary,
 * its own process) and everything else to the broker, so the page and
 * the WebSocket share one origin, and the web display server
 * (protocols/web) on the synthetic framebuffer as the desktop. No KVM:
 * the host's ticket is recorded by the broker's own launch code
 * (launch_record_ticket) and set on the display as vdi-vm's control
 * socket would.
 *   - headless Chromium signs in on the portal through HAProxy, finds
 *     "Open in browser" (the launch reaches the broker's host call), and
 *     the desktop page shows the framebuffer through the gateway; keys
 *     and clicks come back as input events;
 *   - with libsoup's WebSocket client, straight to the gateway: a foreign
 *     or missing Origin, no session cookie, another user's cookie, a
 *     reused ticket, HELLO not first, text, an oversize and a malformed
 *     message, a silent connection, too many waiting connections: each
 *     refused with its close code, and the next good client still gets
 *     through.
 * WEB_LAB=1 (tests/web/lab.sh) runs test_lab_browser instead: the desktop
 * is a VM of a real vdi-hostd in the KVM lab (scripts/lab-hostd), see
 * "the lab" below. */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <linux/input-event-codes.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/internal.h"
#include "display/testsrc.h"
#include "fixture.h"
#include "hostd-proc.h"
#include "log.h"
#include "protocols/web/proto.h"
#include "protocols/web/web-server.h"
#include "tests/guest/gpu-pattern.h"
#include "webtest.h"
#define CHECK_NOFORK
#include "check-main.h"

#define W 640
#define H 480
#define HELLO_TIMEOUT_S 20 /* long enough to open MAX_PENDING + 1 on a loaded machine */
#define MAX_PENDING 3
/* Input bytes a second: the lowest allowed, one largest message. */
#define INPUT_PER_S 65536

static const char *chromium;
/* WEB_LAB=1 (tests/web/lab.sh): the desktop is a real VM of a real
 * vdi-hostd (in the KVM lab), not the synthetic framebuffer. */
static bool lab;

static struct {
        struct bfx *f;
        char *dir, *ca;
        struct testsrc *src;
        struct webtest_loop lp; /* the display's context and thread */
        GThread *loop;
        struct web_server *srv;
        GPid gateway, haproxy;
        uint16_t gateway_port, front_port;
        char *origin; /* https://127.0.0.1:FRONT_PORT, the portal's */
        int64_t desktop_id;
        /* lab: scripts/lab-hostd start while it runs; the host's
         * directory (shared with the lab), log and API (port and PKI for
         * hostd_req); the image's disk; the VM's id, console and log;
         * the tickets the test saw (never in a log) */
        GPid host_start;
        gint64 host_t0; /* when scripts/lab-hostd started */
        char *host_dir, *host_log, *disk;
        struct hostd_proc host;
        char *vm_id, *console, *vm_log;
        GPtrArray *tickets;
} F;

static void start_display(void)
{
        g_autofree char *cert = g_build_filename(F.f->pki, "server.pem", NULL);
        g_autofree char *key = g_build_filename(F.f->pki, "server.key", NULL);
        struct web_server_config cfg = { .cert_file = cert, .key_file = key, .origin = F.origin };
        char *err = NULL;

        F.src = testsrc_new(W, H);
        testsrc_fill(F.src, (struct display_rect){ 0, 0, W, H }, 0x00204060u);
        testsrc_fill(F.src, (struct display_rect){ 40, 40, 160, 120 }, 0x00ff0000u);
        testsrc_fill(F.src, (struct display_rect){ 240, 40, 160, 120 }, 0x0000ff00u);
        testsrc_fill(F.src, (struct display_rect){ 440, 40, 160, 120 }, 0x000000ffu);
        F.lp.ctx = g_main_context_new();
        ck_assert_msg(web_server_start(&cfg, testsrc_source(F.src), F.lp.ctx, &F.srv, &err) == 0, "%s",
                      err ? err : "");
        F.loop = g_thread_new("display", webtest_loop_thread, &F.lp);
}

/* vdi-gateway, its own process; its port from the "port=N" it prints. */
static void start_gateway(void)
{
        g_autofree char *conf = g_build_filename(F.dir, "gateway.conf", NULL);
        g_autofree char *ini = g_strdup_printf(
                "[gateway]\nlisten = 127.0.0.1\nport = 0\ncert = %s/server.pem\nkey = %s/server.key\n"
                "origin = %s\nbroker_url = %s\nca_file = %s\n"
                "[limits]\nhello_timeout_s = %d\nmax_pending = %d\nmax_input_bytes_per_s = %d\n"
                "[log]\nlevel = %s\n",
                F.f->pki, F.f->pki, F.origin, F.f->base, F.ca, HELLO_TIMEOUT_S, MAX_PENDING, INPUT_PER_S,
                getenv("WEB_DEBUG") ? "debug" : "info");
        g_autofree char *bin = g_build_filename(ABS_TOP_BUILDDIR, "gateway", "vdi-gateway", NULL);
        char *argv[] = { bin, "--config", conf, NULL };
        g_autoptr(GError) gerr = NULL;
        char line[64] = "";
        int out;

        ck_assert(g_file_set_contents(conf, ini, -1, NULL));
        ck_assert_msg(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                               NULL, &F.gateway, NULL, &out, NULL, &gerr),
                      "vdi-gateway: %s", gerr ? gerr->message : "");
        FILE *f = fdopen(out, "r");
        ck_assert_msg(fgets(line, sizeof(line), f) && sscanf(line, "port=%hu", &F.gateway_port) == 1,
                      "vdi-gateway did not start (printed \"%s\")", line);
        fclose(f);
}

/* HAProxy terminating TLS for the portal's origin: /gateway/ to the
 * gateway, the rest to the broker, both over TLS verified with the CA. */
static void start_haproxy(void)
{
        g_autofree char *front = g_build_filename(F.dir, "front.pem", NULL);
        g_autofree char *cfgfile = g_build_filename(F.dir, "haproxy.cfg", NULL);
        g_autofree char *cert = NULL, *key = NULL, *pem = NULL, *cfg = NULL;
        g_autofree char *certf = g_build_filename(F.f->pki, "server.pem", NULL);
        g_autofree char *keyf = g_build_filename(F.f->pki, "server.key", NULL);
        g_autoptr(GError) gerr = NULL;

        ck_assert(g_file_get_contents(certf, &cert, NULL, NULL));
        ck_assert(g_file_get_contents(keyf, &key, NULL, NULL));
        pem = g_strconcat(cert, key, NULL);
        ck_assert(g_file_set_contents(front, pem, -1, NULL));
        cfg = g_strdup_printf(
                "global\n    log stderr format short local0 warning\n"
                "defaults\n    mode http\n    log global\n    timeout connect 5s\n"
                "    timeout client 60s\n    timeout server 60s\n    timeout tunnel 1h\n"
                "frontend portal\n    bind 127.0.0.1:%u ssl crt %s\n"
                "    use_backend gateway if { path_beg /gateway/ }\n    default_backend brokers\n"
                "backend brokers\n    server b1 127.0.0.1:%s ssl verify required ca-file %s\n"
                "backend gateway\n    server g1 127.0.0.1:%u ssl verify required ca-file %s\n",
                F.front_port, front, strrchr(F.f->base, ':') + 1, F.ca, F.gateway_port, F.ca);
        ck_assert(g_file_set_contents(cfgfile, cfg, -1, NULL));
        char *argv[] = { "haproxy", "-db", "-f", cfgfile, NULL };
        ck_assert_msg(g_spawn_async(NULL, argv, NULL,
                                    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL, NULL,
                                    &F.haproxy, &gerr),
                      "haproxy: %s (apt-get install haproxy)", gerr ? gerr->message : "");
        /* Ready when the portal answers through it. */
        g_autofree char *url = g_strdup_printf("%s/healthz", F.origin);
        g_autofree char *cmd = g_strdup_printf("curl -sf --cacert %s -o /dev/null %s", F.ca, url);
        for (int i = 0; i < 200 && system(cmd) != 0; i++)
                g_usleep(100 * 1000);
        ck_assert_msg(system(cmd) == 0, "HAProxy does not answer %s", url);
}

/* ---- the lab: a real vdi-hostd and its vdi-vm ---- */

#define LAB_W 640
#define LAB_H 480
#define LAB_WAIT_MS (600 * 1000) /* the lab's boot and the guest's, on a loaded machine */
#define LAB_PIXEL_MS (120 * 1000) /* a frame through x264 under TCG */
#define LAB_HOST "lab-host"

/* A file the lab wrote, without the serial console's carriage returns. */
static char *lab_text(const char *path)
{
        char *t = NULL;

        if (!g_file_get_contents(path, &t, NULL, NULL))
                return g_strdup("");
        char *w = t;
        for (char *r = t; *r; r++)
                if (*r != '\r')
                        *w++ = *r;
        *w = 0;
        return t;
}

/* The last 3000 characters of t: enough of a console or log for a message. */
static const char *lab_tail(const char *t)
{
        return t + MAX(0, (long)strlen(t) - 3000);
}

/* The host's log, the guest's console and vdi-vm's log, for a message. */
static char *lab_logs(void)
{
        g_autofree char *h = lab_text(F.host_log), *c = lab_text(F.console), *v = lab_text(F.vm_log);

        return g_strdup_printf("vdi-hostd (%s):\n%s\nthe guest's console:\n%s\nvdi-vm:\n%s", F.host_log,
                               lab_tail(h), lab_tail(c), lab_tail(v));
}

/* vdi-hostd (or the lab it runs in) has exited: scripts/lab-hostd wrote
 * its status. */
static bool lab_exited(void)
{
        g_autofree char *exit = g_build_filename(F.host_dir, "hostd.exit", NULL);

        return g_file_test(exit, G_FILE_TEST_EXISTS);
}

/* Until the guest's console (console.log in the VM's directory, which
 * the lab shares with us) has the whole line. */
static bool lab_wait_line(const char *line, unsigned timeout_ms)
{
        g_autofree char *want = g_strdup_printf("\n%s\n", line);
        gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

        for (;;) {
                g_autofree char *t = lab_text(F.console);
                g_autofree char *all = g_strconcat("\n", t, NULL);
                if (strstr(all, want))
                        return true;
                if (lab_exited() || g_get_monotonic_time() > end)
                        return false;
                g_usleep(200 * 1000);
        }
}

/* n consecutive free loopback ports: the first. */
static int free_ports(int n)
{
        for (;;) {
                int p = bfx_free_port(), k = 1;
                for (; k < n; k++) {
                        g_autoptr(GSocket) sk = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                                             G_SOCKET_PROTOCOL_TCP, NULL);
                        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
                        g_autoptr(GSocketAddress) a = g_inet_socket_address_new(lo, (guint16)(p + k));
                        if (!sk || p + k > 65535 || !g_socket_bind(sk, a, FALSE, NULL))
                                break;
                }
                if (k == n)
                        return p;
        }
}

/* vdi-hostd as production runs it, through scripts/lab-hostd: in the KVM
 * lab (tests/lab/run) with its API and display ports forwarded to this
 * machine's loopback, or directly where tests/lab/kvm-direct says so
 * (never with LAB_FORCE=1, as tests/lab/needs-kvm); registered as
 * LAB_HOST in the harness PostgreSQL (10.0.2.2 from the lab), the VMs'
 * web display on for the portal's origin. Started here in the background
 * (the lab's boot overlaps the rest of the setup); lab_host_up waits. */
static void start_lab_host(void)
{
        const char *src = getenv("abs_top_srcdir") ? getenv("abs_top_srcdir") : ABS_TOP_BUILDDIR;
        g_autofree char *script = g_build_filename(src, "scripts", "lab-hostd", NULL);
        g_autofree char *pw = g_build_filename(F.dir, "pg-password", NULL);
        g_autofree char *out = g_build_filename(F.dir, "lab-hostd.out", NULL);
        g_autofree char *img = g_build_filename(ABS_TOP_BUILDDIR, "hostd", "vdi-img", NULL);
        g_autofree char *api = NULL, *ports = NULL, *pg_port = g_strdup_printf("%d", F.f->pg->port);
        g_autoptr(GError) gerr = NULL;
        int port_min = free_ports(3), fd;

        F.host_dir = g_build_filename(F.dir, "host", NULL);
        F.host_log = g_build_filename(F.host_dir, "hostd.log", NULL);
        F.disk = g_build_filename(F.host_dir, "gputest.qcow2", NULL);
        ck_assert_int_eq(g_mkdir(F.host_dir, 0755), 0);
        ck_assert(g_file_set_contents(pw, F.f->pg->password, -1, NULL));
        /* The image's (empty) disk: in the host's directory, which the lab
         * shares; vdi-hostd copies it into its store. */
        g_autofree char *mk = g_strdup_printf("%s create -f qcow2 %s 16M >/dev/null", img, F.disk);
        ck_assert_int_eq(system(mk), 0);
        do
                F.host.port = bfx_free_port();
        while (F.host.port >= port_min && F.host.port < port_min + 3);
        F.host.pki = F.f->pki;
        api = g_strdup_printf("%d", F.host.port);
        ports = g_strdup_printf("%d-%d", port_min, port_min + 2);
        char *argv[] = { script, "start", F.host_dir, "--pki", F.f->pki, "--api-port", api, "--display-ports",
                         ports, "--db-port", pg_port, "--db-user", F.f->pg->user, "--db-name",
                         F.f->pg->dbname, "--db-password-file", pw, "--name", LAB_HOST, "--mem", "2048",
                         "--framebuffer", "640x480", "--wait", "900", "--share", F.f->pki, "--web-origin",
                         F.origin, "--lab-timeout", "1500", NULL };
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert(fd >= 0);
        F.host_t0 = g_get_monotonic_time();
        ck_assert_msg(g_spawn_async_with_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                             &F.host_start, -1, fd, fd, &gerr),
                      "scripts/lab-hostd: %s", gerr ? gerr->message : "");
        close(fd);
}

/* The host answers (scripts/lab-hostd start returned) and registered
 * itself; the test guest's image (agent.action=gputest on virtio-gpu) is
 * imported and desktop vm_id's VM made and started; returns once the
 * guest shows its first mode. */
static void lab_host_up(const char *vm_id)
{
        const char *src = getenv("abs_top_srcdir") ? getenv("abs_top_srcdir") : ABS_TOP_BUILDDIR;
        g_autofree char *print = g_strdup_printf("%s/tests/guest/build-initrd --print-kernel", src);
        g_autofree char *initrd = g_build_filename(ABS_TOP_BUILDDIR, "tests", "guest", "initrd.gz", NULL);
        g_autofree char *out = g_build_filename(F.dir, "lab-hostd.out", NULL);
        g_autofree char *kernel = NULL, *text = NULL, *img = NULL, *path = NULL;
        gint64 end = g_get_monotonic_time() + (gint64)LAB_WAIT_MS * 1000;
        struct hostd_reply r;
        int st = -1;

        while (waitpid(F.host_start, &st, WNOHANG) == 0) {
                ck_assert_msg(g_get_monotonic_time() < end, "scripts/lab-hostd start did not return:\n%s",
                              lab_text(out));
                g_usleep(200 * 1000);
        }
        g_spawn_close_pid(F.host_start);
        F.host_start = 0;
        text = lab_text(out);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "scripts/lab-hostd start (status %d):\n%s", st,
                      text);
        printf("# vdi-hostd answers after %.1f s (%s)\n", (double)(g_get_monotonic_time() - F.host_t0) / 1e6,
               strstr(text, "(direct)") ? "directly" : "in the KVM lab");
        /* Registered by its own heartbeat, with the API port we gave it. */
        for (int i = 0; i < 600 && bfx_long(F.f, "SELECT count(*) FROM hosts WHERE name = '" LAB_HOST "' AND "
                                                 "state = 'up' AND port = %d", F.host.port) != 1; i++)
                g_usleep(100 * 1000);
        ck_assert_msg(bfx_long(F.f, "SELECT count(*) FROM hosts WHERE name = '" LAB_HOST "' AND state = 'up' "
                                    "AND port = %d", F.host.port) == 1,
                      "vdi-hostd did not register as " LAB_HOST ":\n%s", lab_text(F.host_log));

        ck_assert_msg(g_spawn_command_line_sync(print, &kernel, NULL, NULL, NULL) && kernel && *kernel,
                      "no kernel for the test guest (%s)", print);
        g_strstrip(kernel);
        img = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s\", \"initrd\": \"%s\", \"disk\": \"%s\", "
                              "\"cmdline\": \"console=ttyS0 quiet agent.action=gputest\", "
                              "\"display\": \"virtio-gpu\"}",
                              kernel, initrd, F.disk);
        hostd_req(&F.host, "PUT", "/api/v1/images/gputest", img, CERT_CLIENT, &r);
        ck_assert_msg(r.status == 201, "image: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        path = g_strdup_printf("/api/v1/vms/%s", vm_id);
        hostd_req(&F.host, "PUT", path, "{\"image\": \"gputest\", \"cpus\": 1, \"memory_mb\": 256}", CERT_CLIENT,
                  &r);
        ck_assert_msg(r.status == 201, "vm: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        F.vm_id = g_strdup(vm_id);
        F.console = g_build_filename(F.host_dir, "state", "vms", vm_id, "console.log", NULL);
        F.vm_log = g_build_filename(F.host_dir, "state", "vms", vm_id, "vdi-vm.log", NULL);
        g_autofree char *start = g_strdup_printf("%s/start", path);
        hostd_req(&F.host, "POST", start, NULL, CERT_CLIENT, &r);
        ck_assert_msg(r.status == 200, "start: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        g_autofree char *first = g_strdup_printf("AGENT gpu-mode head=0 width=%u height=%u", LAB_W, LAB_H);
        bool up = lab_wait_line(first, LAB_WAIT_MS);
        g_autofree char *logs = lab_logs();
        ck_assert_msg(up, "the guest did not show %ux%u (%s):\n%s", LAB_W, LAB_H,
                      lab_exited() ? "vdi-hostd or the lab exited" : "timed out", logs);
        printf("# the guest's first mode after %.1f s\n", (double)(g_get_monotonic_time() - F.host_t0) / 1e6);
        fflush(stdout);
}

/* The VM stopped through its host (vdi-vm exits: its sanitizers report),
 * then vdi-hostd and the lab. No ticket in any log. */
static void stop_lab_host(void)
{
        const char *src = getenv("abs_top_srcdir") ? getenv("abs_top_srcdir") : ABS_TOP_BUILDDIR;
        struct hostd_reply r;

        if (F.host_start > 0) { /* the test failed before the host was up */
                kill(F.host_start, SIGTERM);
                waitpid(F.host_start, NULL, 0);
                g_spawn_close_pid(F.host_start);
                F.host_start = 0;
        }
        if (F.vm_id && !lab_exited()) {
                g_autofree char *stop = g_strdup_printf("/api/v1/vms/%s/stop", F.vm_id);
                hostd_req(&F.host, "POST", stop, NULL, CERT_CLIENT, &r);
                long status = r.status;
                hostd_reply_clear(&r);
                ck_assert_msg(status == 200 && hostd_wait_state(&F.host, F.vm_id, "stopped", 120000),
                              "the VM did not stop (%ld):\n%s", status, lab_logs());
        }
        g_autofree char *stop = g_strdup_printf("%s/scripts/lab-hostd stop %s", src, F.host_dir);
        ck_assert_int_eq(system(stop), 0);
        if (F.vm_id) {
                g_autofree char *h = lab_text(F.host_log), *c = lab_text(F.console), *v = lab_text(F.vm_log);
                ck_assert_msg(!strstr(v, "Sanitizer") && !strstr(h, "Sanitizer"),
                              "sanitizer report from vdi-vm or vdi-hostd:\n%s\n%s", lab_tail(v), lab_tail(h));
                ck_assert_msg(!strstr(c, "AGENT error"), "the guest reported an error:\n%s", lab_tail(c));
                for (guint i = 0; i < F.tickets->len; i++)
                        ck_assert_msg(!strstr(h, g_ptr_array_index(F.tickets, i)) &&
                                      !strstr(v, g_ptr_array_index(F.tickets, i)),
                                      "a ticket was logged");
        }
        g_clear_pointer(&F.vm_id, g_free);
        g_clear_pointer(&F.console, g_free);
        g_clear_pointer(&F.vm_log, g_free);
        g_clear_pointer(&F.host_log, g_free);
        g_clear_pointer(&F.host_dir, g_free);
        g_clear_pointer(&F.disk, g_free);
}

static void reset(void)
{
        bfx_reset(F.f);
        bfx_exec(F.f, "UPDATE pools SET protocols = '{rdp,spice,web}' WHERE name = 'office'");
        F.desktop_id = bfx_long(F.f, "SELECT id FROM desktops WHERE name = 'office-1'");
}

static void setup(void)
{
        log_set_level(getenv("WEB_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
        /* vdi-hostd with ASan on a loaded machine may take more than the
         * fixture's 3 s for a ticket. */
        F.f = bfx_start("[hosts]\ntimeout_ms = 60000\n");
        F.dir = g_dir_make_tmp("vdi-gateway-XXXXXX", NULL);
        F.ca = g_build_filename(F.f->pki, "ca.pem", NULL);
        F.front_port = (uint16_t)bfx_free_port();
        F.origin = g_strdup_printf("https://127.0.0.1:%u", F.front_port);
        if (lab) {
                reset();
                F.tickets = g_ptr_array_new_with_free_func(g_free);
                start_lab_host();
        } else {
                start_display();
        }
        start_gateway();
        start_haproxy();
}

static void stop_child(GPid pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        g_spawn_close_pid(pid);
}

static void teardown(void)
{
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", F.dir);

        stop_child(F.haproxy);
        stop_child(F.gateway);
        if (lab) {
                stop_lab_host();
                g_ptr_array_unref(F.tickets);
        } else {
                webtest_loop_join(&F.lp, F.loop);
                web_server_stop(F.srv);
                g_main_context_unref(F.lp.ctx);
                testsrc_free(F.src);
        }
        bfx_stop(F.f);
        ck_assert_int_eq(system(cmd), 0);
        g_free(F.dir);
        g_free(F.ca);
        g_free(F.origin);
        webtest_quiet_thread_pool();
}

/* What the broker's launch does with the host's answer for a web ticket,
 * and what vdi-hostd does with it on the VM: ticket t of user for the
 * display. */
static void issue_ticket(const char *user, const char *t)
{
        struct hostd_ticket ht = { .protocol = "web", .host = "127.0.0.1", .port = web_server_port(F.srv),
                                   .password = (char *)t, .username = (char *)user, .expires_in = 120 };

        launch_record_ticket(F.f->b, &ht, F.desktop_id, user, "web", "office-1");
        ck_assert_int_eq(web_server_set_ticket(F.srv, user, t, 120), 0);
}

/* ---- in the browser ---- */

static void sign_in(struct cdp *c, const char *user, const char *password)
{
        g_autofree char *url = g_strdup_printf("%s/", F.origin);
        g_autofree char *js = g_strdup_printf(
                "document.getElementById('username').value = '%s';"
                "document.getElementById('password').value = '%s';"
                "document.getElementById('signin-button').click(); true",
                user, password);

        json_decref(cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", url)));
        cdp_wait_for(c, "!!document.getElementById('signin') && "
                        "!document.getElementById('signin').hidden");
        json_decref(cdp_eval(c, js));
        cdp_wait_for(c, "document.querySelectorAll('#desktop-list .desktop').length > 0");
}

static void check_canvas(struct cdp *c)
{
        static const unsigned points[][2] = { { 10, 10 }, { 120, 100 }, { 320, 100 }, { 520, 100 },
                                              { 620, 460 } };

        for (size_t i = 0; i < G_N_ELEMENTS(points); i++) {
                uint32_t want = testsrc_pixel(F.src, points[i][0], points[i][1]) & 0xffffff;
                uint32_t got = webtest_canvas_pixel(c, points[i][0], points[i][1]);
                ck_assert_msg(webtest_channel_diff(want, got) <= 24,
                              "canvas (%u,%u) = %06x, framebuffer %06x", points[i][0],
                              points[i][1], got, want);
        }
}

/* A key typed on the page arrives at the display's input side. */
static void check_key(struct cdp *c)
{
        struct testsrc_event ev[64];
        bool down = false, up = false;

        testsrc_take_events(F.src, ev, G_N_ELEMENTS(ev));
        json_decref(cdp_eval(c, "document.getElementById('screen').focus(); true"));
        for (int i = 0; i < 2; i++)
                json_decref(cdp_call(c, "Input.dispatchKeyEvent",
                                     json_pack("{s:s, s:s, s:s, s:i}", "type",
                                               i ? "keyUp" : "keyDown", "code", "KeyQ", "key",
                                               "q", "windowsVirtualKeyCode", 81)));
        for (int tries = 0; tries < 200 && !(down && up); tries++) {
                size_t n = testsrc_take_events(F.src, ev, G_N_ELEMENTS(ev));
                for (size_t k = 0; k < n; k++)
                        if (ev[k].type == TESTSRC_KEY && ev[k].code == KEY_Q)
                                *(ev[k].pressed ? &down : &up) = true;
                g_usleep(50 * 1000);
        }
        ck_assert_msg(down && up, "KEY_Q through the gateway: down %d up %d", down, up);
}

START_TEST(test_browser_through_gateway)
{
        struct cdp c = { 0 };

        reset();
        cdp_start(&c, chromium);
        sign_in(&c, "alice", "alice-pw");
        /* The portal offers the browser next to the native clients; its
         * launch asks the desktop's host (here nobody listens, so the
         * broker says so in plain words). */
        g_autofree char *label = cdp_eval_str(
                &c, "[...document.querySelectorAll('#desktop-list button[data-protocol=web]')]"
                    ".map(b => b.textContent).join('|')");
        ck_assert_str_eq(label, "Open in browser");
        json_decref(cdp_eval(&c, "document.querySelector('button[data-protocol=web]').click(); true"));
        cdp_wait_for(&c, "document.getElementById('status').textContent.includes('not reachable')");
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = "
                                       "'desktop.launch' AND outcome = 'failed'"), 1);

        /* With the host's ticket: what openInBrowser() hands over. */
        issue_ticket("alice", "browser-ticket-0123456789abcdef");
        json_decref(cdp_eval(&c, "sessionStorage.setItem('vdi-web-launch', JSON.stringify("
                                 "{path: '/gateway/ws', ticket: 'browser-ticket-0123456789abcdef'}));"
                                 "location.assign('/portal/desktop.html'); true"));
        cdp_wait_for(&c, "document.body.dataset.state === 'connected' && "
                         "Number(document.body.dataset.frames || 0) >= 1");
        g_autofree char *enc = cdp_eval_str(&c, "document.body.dataset.encoding");
        ck_assert_str_eq(enc, "h264");
        g_autofree char *where = cdp_eval_str(&c, "location.origin");
        ck_assert_str_eq(where, F.origin);
        check_canvas(&c);
        check_key(&c);
        cdp_wait_for(&c, "(document.body.dataset.rtt || '') !== ''");
        cdp_screenshot(&c, "tests/web/gateway-h264.png");
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = "
                                       "'desktop.web_redeem' AND outcome = 'ok' AND actor = 'alice'"),
                         1);
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM tickets WHERE protocol = 'web' AND "
                                       "used_at IS NOT NULL"), 1);
        cdp_stop(&c);
}
END_TEST

/* vdi-hostd as h1 with the hollow VM (tests/hostd/hollow-vm) serving the
 * web display of its synthetic screen, running lab-1 (alice's pool "lab",
 * which now offers the browser): the portal's launch reaches a real host. */
static void hostd_with_web_vm(struct hostd_proc *hp)
{
        struct hostd_reply r;

        *hp = (struct hostd_proc){ .pki = F.f->pki, .name = "h1", .conninfo = F.f->pg->conninfo,
                                   .port_min = 30000 + (int)(getpid() % 20000), .web_origin = F.origin };
        hp->vm_binary = g_build_filename(ABS_TOP_BUILDDIR, "tests", "hostd", "hollow-vm", NULL);
        g_setenv("HOLLOW_VM_WEB", "1", TRUE); /* inherited by vdi-hostd, which asks the VM's --help */
        ck_assert_int_eq(hostd_proc_start(hp), 0);
        g_autofree char *mk = g_strdup_printf("cd %s && head -c 4096 /dev/urandom > vmlinuz && "
                                              "qemu-img create -q -f qcow2 base.qcow2 32M", hp->dir);
        ck_assert_int_eq(system(mk), 0);
        g_autofree char *img = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", "
                                               "\"disk\": \"%s/base.qcow2\"}", hp->dir, hp->dir);
        ck_assert_int_eq(hostd_req(hp, "PUT", "/api/v1/images/deb12", img, CERT_CLIENT, &r), 0);
        ck_assert_msg(r.status == 201, "image: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        hostd_req(hp, "PUT", "/api/v1/vms/6", "{\"image\": \"deb12\", \"memory_mb\": 128}", CERT_CLIENT, &r);
        ck_assert_msg(r.status == 201, "vm: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        hostd_req(hp, "POST", "/api/v1/vms/6/start", NULL, CERT_CLIENT, &r);
        ck_assert_msg(r.status == 200, "start: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        ck_assert(hostd_wait_state(hp, "6", "running", 30000));
        bfx_exec(F.f, "UPDATE hosts SET port = %d, last_heartbeat = now() WHERE name = 'h1'", hp->port);
        bfx_exec(F.f, "UPDATE pools SET protocols = '{rdp,spice,web}' WHERE name = 'lab'");
}

/* Until the canvas shows the hollow VM's screen: its blue desktop and its
 * orange window in the lower right quarter. */
static void wait_hollow_screen(struct cdp *c)
{
        cdp_wait_for_ms(c, "(() => { const g = document.getElementById('screen').getContext('2d');"
                           " const near = (x, y, r, gg, b) => { const d = g.getImageData(x, y, 1, 1).data;"
                           " return Math.abs(d[0] - r) <= 24 && Math.abs(d[1] - gg) <= 24 && Math.abs(d[2] - b) <= 24; };"
                           " return near(10, 10, 30, 80, 160) && near(600, 400, 240, 140, 20); })()",
                        30000);
}

/* A network blip: the page's WebSocket drops when HAProxy restarts; the
 * page launches again with the portal session it still has and connects
 * with that fresh ticket, with no new sign-in. A user's Disconnect is
 * final. */
START_TEST(test_browser_reconnects)
{
        struct cdp c = { 0 };
        struct hostd_proc hp;

        reset();
        hostd_with_web_vm(&hp);
        cdp_start(&c, chromium);
        sign_in(&c, "alice", "alice-pw");
        /* Open in browser, all the way: broker, vdi-hostd, the VM's ticket. */
        json_decref(cdp_eval(&c, "document.querySelector('button[data-protocol=web]').click(); true"));
        cdp_wait_for_ms(&c, "location.pathname === '/portal/desktop.html' && "
                            "document.body.dataset.state === 'connected' && "
                            "Number(document.body.dataset.frames || 0) >= 1", 30000);
        wait_hollow_screen(&c);

        /* The blip: the load balancer goes away and comes back. */
        stop_child(F.haproxy);
        F.haproxy = 0;
        cdp_wait_for(&c, "document.body.dataset.state !== 'connected'");
        start_haproxy();
        cdp_wait_for_ms(&c, "document.body.dataset.reconnects === '1' && "
                            "document.body.dataset.state === 'connected'", 60000);
        wait_hollow_screen(&c); /* the new session's first picture */
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = 'desktop.web_redeem' "
                                       "AND outcome = 'ok' AND actor = 'alice'"),
                         2);
        /* One sign-in: the page reused its session. */
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM portal_sessions WHERE user_name = 'alice'"), 1);
        cdp_screenshot(&c, "tests/web/gateway-reconnected.png");

        /* Disconnect is the user's: closed (1000) and no new launch. */
        json_decref(cdp_eval(&c, "document.getElementById('disconnect').click(); true"));
        cdp_wait_for(&c, "document.body.dataset.closeCode === '1000'");
        g_usleep(2 * 1000 * 1000);
        g_autofree char *st = cdp_eval_str(&c, "document.body.dataset.state + ' ' + document.body.dataset.reconnects");
        ck_assert_str_eq(st, "closed 1");
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM tickets WHERE protocol = 'web'"), 2);
        cdp_stop(&c);
        hostd_proc_destroy(&hp);
        g_free(hp.vm_binary);
}
END_TEST

/* ---- with libsoup's WebSocket client ---- */

/* user's session cookie, as a Cookie header. */
static char *session_cookie(const char *user, const char *password)
{
        struct bclient *bc = bclient_new(F.f);
        g_autofree char *body = g_strdup_printf("{\"username\":\"%s\",\"password\":\"%s\"}", user,
                                                password);
        struct breply r = bclient_req(bc, "POST", "/api/v1/login", body, NULL, false);
        g_autofree char *set = breply_header(&r, "Set-Cookie");
        char *cookie;

        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(set);
        cookie = g_strndup(set, strcspn(set, ";"));
        breply_free(&r);
        bclient_free(bc);
        return cookie;
}

static bool gw_open(struct wsc *w, const char *origin, const char *cookie)
{
        return wsc_open(w, F.ca, F.gateway_port, "/gateway/ws", origin, cookie);
}

/* HELLO with ticket t from cookie's browser: the close code it gets, or
 * 0 when the desktop's LAYOUT arrived (then the connection is closed). */
static int hello_outcome(const char *cookie, const char *t)
{
        struct wsc w;
        int code = 0;

        ck_assert_msg(gw_open(&w, F.origin, cookie), "handshake: %s",
                      w.error ? w.error->message : "");
        wsc_send_hello(&w, t, 0);
        wsc_wait_message(&w);
        if (w.messages)
                ck_assert_int_eq(w.first_type, WEB_OUT_LAYOUT);
        else
                code = wsc_wait_closed(&w);
        wsc_close(&w);
        return code;
}

/* Open, send len bytes of msg (none when len is 0), wait for the close. */
static int refused_with(const char *cookie, const char *admit, const void *msg, size_t len,
                        bool text)
{
        struct wsc w;
        int code;

        ck_assert(gw_open(&w, F.origin, cookie));
        if (admit) {
                wsc_send_hello(&w, admit, 0);
                wsc_wait_message(&w);
                ck_assert_int_eq(w.first_type, WEB_OUT_LAYOUT);
        }
        if (text)
                soup_websocket_connection_send_text(w.conn, msg);
        else if (len)
                wsc_send(&w, msg, len);
        code = wsc_wait_closed(&w);
        wsc_close(&w);
        return code;
}

static void raw_tls_event(GSocketClient *cl, GSocketClientEvent ev, GSocketConnectable *to, GIOStream *conn,
                          gpointer db)
{
        if (ev == G_SOCKET_CLIENT_TLS_HANDSHAKING)
                g_tls_connection_set_database(G_TLS_CONNECTION(conn), db);
}

/* A WebSocket frame written by hand (what libsoup's client never sends):
 * upgrade with cookie, then frame; the first bytes the gateway answers
 * with once upgraded (a close frame is 0x88, len, code). */
static GBytes *raw_frame(const char *cookie, const guint8 *frame, size_t len)
{
        g_autoptr(GError) gerr = NULL;
        g_autoptr(GTlsDatabase) db = g_tls_file_database_new(F.ca, &gerr);
        g_autoptr(GSocketClient) cl = g_socket_client_new();
        g_autoptr(GSocketConnection) conn = NULL;
        g_autofree char *req = g_strdup_printf(
                "GET /gateway/ws HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\nCookie: %s\r\n\r\n",
                F.gateway_port, F.origin, cookie);
        GString *got = g_string_new(NULL);
        char buf[512], *end;
        gssize n;

        ck_assert_msg(db, "CA: %s", gerr ? gerr->message : "");
        g_socket_client_set_tls(cl, TRUE);
        g_socket_client_set_timeout(cl, 20);
        g_signal_connect(cl, "event", G_CALLBACK(raw_tls_event), db);
        conn = g_socket_client_connect_to_host(cl, "127.0.0.1", F.gateway_port, NULL, &gerr);
        ck_assert_msg(conn, "TLS to the gateway: %s", gerr ? gerr->message : "");
        GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
        GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
        ck_assert(g_output_stream_write_all(out, req, strlen(req), NULL, NULL, NULL));
        while (!(end = strstr(got->str, "\r\n\r\n")) && (n = g_input_stream_read(in, buf, sizeof(buf), NULL, NULL)) > 0)
                g_string_append_len(got, buf, n);
        ck_assert_msg(end && g_str_has_prefix(got->str, "HTTP/1.1 101"), "upgrade: %s", got->str);
        g_string_erase(got, 0, end + 4 - got->str);
        ck_assert(g_output_stream_write_all(out, frame, len, NULL, NULL, NULL));
        while (got->len < 4 && (n = g_input_stream_read(in, buf, sizeof(buf), NULL, NULL)) > 0)
                g_string_append_len(got, buf, n);
        return g_string_free_to_bytes(got);
}

/* The gateway answers a malformed frame with a close frame of 1002. */
static void check_bad_frame(const char *cookie, const guint8 *frame, size_t len, const char *what)
{
        g_autoptr(GBytes) b = raw_frame(cookie, frame, len);
        size_t n;
        const guint8 *d = g_bytes_get_data(b, &n);

        ck_assert_msg(n >= 4 && d[0] == 0x88 && (d[2] << 8 | d[3]) == SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                      "%s: the gateway answered %zu bytes (%02x %02x %02x %02x), not a close with 1002", what, n,
                      n > 0 ? d[0] : 0, n > 1 ? d[1] : 0, n > 2 ? d[2] : 0, n > 3 ? d[3] : 0);
}

START_TEST(test_gateway_refusals)
{
        g_autofree char *alice = NULL, *bob = NULL;
        g_autofree uint8_t *big = g_malloc0(WEB_MAX_IN_MESSAGE + 100);
        uint8_t bad_key[] = { WEB_IN_KEY, 1, 40, 'K', 'e', 'y' }; /* length says 40 */
        struct web_server_stats before, after;
        struct wsc w, waiting[MAX_PENDING];

        reset();
        alice = session_cookie("alice", "alice-pw");
        bob = session_cookie("bob", "bob-pw");
        web_server_get_stats(F.srv, &before);

        /* Another site's page, or no Origin: 403 before the upgrade. */
        ck_assert(!gw_open(&w, "https://evil.example", alice));
        ck_assert_uint_eq(w.status, SOUP_STATUS_FORBIDDEN);
        wsc_close(&w);
        ck_assert(!gw_open(&w, NULL, alice));
        ck_assert_uint_eq(w.status, SOUP_STATUS_FORBIDDEN);
        wsc_close(&w);

        /* Not signed in, or someone else's session: refused, and the
         * ticket stays good for its owner. */
        issue_ticket("alice", "alice-ticket-0123456789abcdef");
        ck_assert_int_eq(hello_outcome(NULL, "alice-ticket-0123456789abcdef"), 4005);
        ck_assert_int_eq(hello_outcome(bob, "alice-ticket-0123456789abcdef"), 4001);
        ck_assert_int_eq(hello_outcome(alice, "wrong-ticket-0123456789abcdef"), 4001);
        ck_assert_int_eq(hello_outcome(alice, "alice-ticket-0123456789abcdef"), 0);
        /* Used once: a second use is refused. */
        ck_assert_int_eq(hello_outcome(alice, "alice-ticket-0123456789abcdef"), 4001);
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = "
                                       "'desktop.web_redeem' AND outcome = 'denied'"), 3);

        /* Bad messages, before and after admission. */
        ck_assert_int_eq(refused_with(alice, NULL, (uint8_t[]){ WEB_IN_PING, 1, 2, 3, 4 }, 5, false),
                         SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR);
        ck_assert_int_eq(refused_with(alice, NULL, "hello", 0, true),
                         SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA);
        big[0] = WEB_IN_CLIPBOARD;
        memset(big + 1, 'x', WEB_MAX_IN_MESSAGE + 99);
        int code = refused_with(alice, NULL, big, WEB_MAX_IN_MESSAGE + 100, false);
        ck_assert_msg(code == 0 || code == SOUP_WEBSOCKET_CLOSE_TOO_BIG, "oversize: close %d", code);
        issue_ticket("alice", "malformed-ticket-0123456789abcdef");
        ck_assert_int_eq(refused_with(alice, "malformed-ticket-0123456789abcdef", bad_key,
                                      sizeof(bad_key), false),
                         SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR);
        issue_ticket("alice", "text-ticket-0123456789abcdef");
        ck_assert_int_eq(refused_with(alice, "text-ticket-0123456789abcdef", "hi", 0, true),
                         SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA);

        /* Malformed WebSocket frames (RFC 6455 §5.1, §5.2): a client frame
         * without a mask, one with a reserved bit, a reserved opcode. */
        static const guint8 unmasked[] = { 0x82, 0x05, WEB_IN_PING, 1, 2, 3, 4 };
        static const guint8 rsv[] = { 0xc2, 0x85, 1, 2, 3, 4, WEB_IN_PING ^ 1, 1 ^ 2, 2 ^ 3, 3 ^ 4, 4 ^ 1 };
        static const guint8 opcode[] = { 0x83, 0x85, 1, 2, 3, 4, WEB_IN_PING ^ 1, 1 ^ 2, 2 ^ 3, 3 ^ 4, 4 ^ 1 };
        check_bad_frame(alice, unmasked, sizeof(unmasked), "an unmasked frame");
        check_bad_frame(alice, rsv, sizeof(rsv), "a frame with RSV1");
        check_bad_frame(alice, opcode, sizeof(opcode), "a frame with opcode 3");

        /* Input faster than allowed: closed (1008); the largest message
         * alone is fine. */
        issue_ticket("alice", "flood-ticket-0123456789abcdef");
        ck_assert(gw_open(&w, F.origin, alice));
        wsc_send_hello(&w, "flood-ticket-0123456789abcdef", 0);
        wsc_wait_message(&w);
        ck_assert_int_eq(w.first_type, WEB_OUT_LAYOUT);
        g_usleep(1100 * 1000); /* a fresh one-second window */
        memset(big + 1, 'f', WEB_MAX_CLIPBOARD);
        for (int i = 0; i < 4; i++)
                wsc_send(&w, big, WEB_MAX_IN_MESSAGE);
        ck_assert_int_eq(wsc_wait_closed(&w), SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
        wsc_close(&w);

        /* Silent connections: closed after the HELLO timeout; while
         * MAX_PENDING of them wait, one more is turned away (4006). */
        for (int i = 0; i < MAX_PENDING; i++)
                ck_assert(gw_open(&waiting[i], F.origin, alice));
        ck_assert_int_eq(refused_with(alice, NULL, NULL, 0, false), 4006);
        /* Last opened first: each pushed its own thread-default context. */
        for (int i = MAX_PENDING - 1; i >= 0; i--) {
                int silent = -1; /* each wait is 10 s, the timeout longer */
                for (int k = 0; k < 4 && silent == -1; k++)
                        silent = wsc_wait_closed(&waiting[i]);
                ck_assert_int_eq(silent, 4003);
                wsc_close(&waiting[i]);
        }

        /* After all that, the gateway is alive and the next client gets in. */
        issue_ticket("alice", "after-ticket-0123456789abcdef");
        ck_assert_int_eq(hello_outcome(alice, "after-ticket-0123456789abcdef"), 0);
        ck_assert_int_eq(waitpid(F.gateway, NULL, WNOHANG), 0);

        /* The malformed message stopped at the gateway: the display never
         * saw a bad one, and admitted exactly the four good HELLOs. */
        web_server_get_stats(F.srv, &after);
        ck_assert_uint_eq(after.bad_messages, before.bad_messages);
        ck_assert_uint_eq(after.logons - before.logons, 5);
}
END_TEST

/* ---- through a real vdi-vm in the KVM lab ---- */

/* Poll the canvas pixel (x, y) until it is within tol of want. */
static void lab_wait_pixel(struct cdp *c, unsigned x, unsigned y, uint32_t want, int tol, const char *what)
{
        uint32_t got = 0;
        gint64 end = g_get_monotonic_time() + (gint64)LAB_PIXEL_MS * 1000;

        do {
                got = webtest_canvas_pixel(c, x, y);
                if (webtest_channel_diff(got, want & 0xffffff) <= tol)
                        return;
                g_usleep(250 * 1000);
        } while (g_get_monotonic_time() < end);
        g_autofree char *logs = lab_logs();
        ck_assert_msg(0, "%s: canvas (%u,%u) = %06x, want %06x (within %d); %s", what, x, y, got, want & 0xffffff,
                      tol, logs);
}

/* The canvas shows gpu_pattern() of w x h (within tol per channel) on a
 * grid, away from what input drew (the key cells' row, the click). */
static void lab_check_pattern(struct cdp *c, unsigned w, unsigned h, int tol, const char *what)
{
        g_autofree char *size = cdp_eval_str(c, "String(document.getElementById('screen').width) + 'x' + "
                                                "document.getElementById('screen').height");
        g_autofree char *want_size = g_strdup_printf("%ux%u", w, h);

        ck_assert_msg(!strcmp(size, want_size), "%s: the canvas is %s, not %s", what, size, want_size);
        for (unsigned gy = 0; gy < 6; gy++)
                for (unsigned gx = 0; gx < 8; gx++) {
                        unsigned x = gx * (w - 1) / 7, y = gy * (h - 1) / 5;
                        if (gy == 0 && gx > 0) /* row 0 away from the corner: near the key cells */
                                y = GPU_CELL_Y + GPU_CELL_H + 20;
                        if (gx == 4 && gy == 3)
                                continue; /* where the click goes */
                        uint32_t want = gpu_pattern(x, y, w, h, 0);
                        uint32_t got = webtest_canvas_pixel(c, x, y);
                        ck_assert_msg(webtest_channel_diff(want, got) <= tol,
                                      "%s: canvas (%u,%u) = %06x, the guest's %06x (tolerance %d)", what, x, y,
                                      got, want, tol);
                }
}

/* Key code (KeyboardEvent.code) with evdev number ev, typed on the page:
 * the guest draws its cell number n, which comes back to the canvas. */
static void lab_type(struct cdp *c, const char *code, const char *k, unsigned ev, unsigned n, int tol)
{
        g_autofree char *what = g_strdup_printf("%s (evdev %u), key %u since the mode was set", code, ev, n);

        json_decref(cdp_eval(c, "document.getElementById('screen').focus(); true"));
        for (int i = 0; i < 2; i++)
                json_decref(cdp_call(c, "Input.dispatchKeyEvent",
                                     json_pack("{s:s, s:s, s:s}", "type", i ? "keyUp" : "keyDown", "code", code,
                                               "key", k)));
        lab_wait_pixel(c, GPU_CELL_X + n * GPU_CELL_W + GPU_CELL_W / 2, GPU_CELL_Y + GPU_CELL_H / 2,
                       gpu_key_color(ev), tol, what);
}

/* A left click at framebuffer (x, y): the guest's white mark comes back. */
static void lab_click(struct cdp *c, unsigned x, unsigned y, unsigned w, unsigned h, int tol)
{
        json_t *r = cdp_eval(c, "(() => { const b = document.getElementById('screen')"
                                ".getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; })()");
        double v[4];

        for (int i = 0; i < 4; i++)
                v[i] = json_number_value(json_array_get(r, (size_t)i));
        json_decref(r);
        double px = v[0] + (x + 0.25) * v[2] / w, py = v[1] + (y + 0.25) * v[3] / h;
        for (int i = 0; i < 2; i++)
                json_decref(cdp_call(c, "Input.dispatchMouseEvent",
                                     json_pack("{s:s, s:f, s:f, s:s, s:i, s:i}", "type",
                                               i ? "mouseReleased" : "mousePressed", "x", px, "y", py, "button",
                                               "left", "buttons", i ? 0 : 1, "clickCount", 1)));
        lab_wait_pixel(c, x, y, GPU_MARK_COLOR, tol, "the click's mark");
}

/* The page's quality indicator shows the session (frames/s, its
 * encoding), then the screenshot. */
static void lab_screenshot(struct cdp *c, const char *path, const char *encoding)
{
        g_autofree char *js = g_strdup_printf("document.getElementById('quality-text').textContent"
                                              ".endsWith(' · %s')", encoding);

        cdp_wait_for_ms(c, js, LAB_PIXEL_MS);
        cdp_screenshot(c, path);
}

/* The desktop page is connected with the encoding it should have. */
static void lab_wait_connected(struct cdp *c, bool tiles)
{
        cdp_wait_for_ms(c, "location.pathname === '/portal/desktop.html' && "
                           "document.body.dataset.state === 'connected' && "
                           "Number(document.body.dataset.frames || 0) >= 1", LAB_PIXEL_MS);
        g_autofree char *enc = cdp_eval_str(c, "document.body.dataset.encoding");
        ck_assert_str_eq(enc, tiles ? "png" : "h264");
}

START_TEST(test_lab_browser)
{
        struct cdp c = { 0 };
        unsigned keys = 0, w2, h2;
        g_autofree char *vm_id = NULL;

        /* carol's floating desktop eng-1 lives on the lab's vdi-hostd
         * (setup reset the database and started it). */
        bfx_exec(F.f, "UPDATE pools SET protocols = '{rdp,web}' WHERE name = 'eng'");
        F.desktop_id = bfx_long(F.f, "SELECT id FROM desktops WHERE name = 'eng-1'");
        vm_id = g_strdup_printf("%" G_GINT64_FORMAT, F.desktop_id);
        cdp_start(&c, chromium);
        sign_in(&c, "carol", "carol-pw");
        lab_host_up(vm_id);
        bfx_exec(F.f, "UPDATE desktops SET host_id = (SELECT id FROM hosts WHERE name = '" LAB_HOST "') "
                      "WHERE id = %" G_GINT64_FORMAT, F.desktop_id);

        /* Open in browser: the broker claims eng-1 and asks its host for a
         * web ticket, vdi-hostd sets it on the VM; the page connects
         * through HAProxy and vdi-gateway. H.264 through WebCodecs: the
         * guest's picture, keys, a click. */
        json_decref(cdp_eval(&c, "document.querySelector('button[data-protocol=web]').click(); true"));
        lab_wait_connected(&c, false);
        g_autofree char *where = cdp_eval_str(&c, "location.origin");
        ck_assert_str_eq(where, F.origin);
        lab_check_pattern(&c, LAB_W, LAB_H, 24, "H.264, first picture");
        lab_type(&c, "KeyA", "a", KEY_A, keys++, 24);
        lab_type(&c, "Digit5", "5", KEY_5, keys++, 24);
        lab_click(&c, 4 * (LAB_W - 1) / 7, 3 * (LAB_H - 1) / 5, LAB_W, LAB_H, 24);
        ck_assert(lab_wait_line("AGENT gpu-key code=30 n=1", 10000));
        lab_screenshot(&c, "tests/e2e/browser-h264.png", "H.264");

        /* The viewport shrinks: the page asks for its new size, virtio-gpu
         * offers it, the guest takes it, the canvas follows. */
        json_decref(cdp_call(&c, "Emulation.setDeviceMetricsOverride",
                             json_pack("{s:i, s:i, s:f, s:b}", "width", 720, "height", 560,
                                       "deviceScaleFactor", 1.0, "mobile", 0)));
        json_t *m = cdp_eval(&c, "(() => { const e = document.querySelector('.desktop-main');"
                                 " return [e.clientWidth, e.clientHeight]; })()");
        w2 = (unsigned)json_integer_value(json_array_get(m, 0)) & ~1u;
        h2 = (unsigned)json_integer_value(json_array_get(m, 1));
        json_decref(m);
        ck_assert_msg(w2 >= 320 && w2 < 720 && h2 >= 200 && h2 < 560, "the page's area is %ux%u", w2, h2);
        g_autofree char *mode = g_strdup_printf("AGENT gpu-mode head=0 width=%u height=%u", w2, h2);
        g_autofree char *size_js = g_strdup_printf("document.getElementById('screen').width === %u && "
                                                   "document.getElementById('screen').height === %u",
                                                   w2, h2);
        ck_assert_msg(lab_wait_line(mode, LAB_PIXEL_MS), "the guest did not take %ux%u:\n%s", w2, h2,
                      lab_text(F.console));
        cdp_wait_for_ms(&c, size_js, LAB_PIXEL_MS);
        keys = 0;
        lab_wait_pixel(&c, w2 - 1, h2 - 1, gpu_pattern(w2 - 1, h2 - 1, w2, h2, 0), 24, "the new mode's corner");
        lab_check_pattern(&c, w2, h2, 24, "H.264 after the resize");

        /* The tile fallback (the page's test switch): the page launches
         * again as its reconnect does (POST /api/v1/launch with the
         * portal session: a fresh ticket from vdi-hostd; again after a
         * failure, as the page does, for a host slow under load) and
         * opens the desktop with tiles forced. Exact pixels. The outcome
         * waits in sessionStorage, which outlives the navigation. */
        json_decref(cdp_eval(
                &c, "(async () => { let err = '';"
                    " for (let i = 0; i < 5; i++) {"
                    "  if (i) await new Promise((ok) => setTimeout(ok, 2000));"
                    "  try { const me = await (await fetch('/api/v1/me')).json();"
                    "   const resp = await fetch('/api/v1/launch', { method: 'POST', headers: {"
                    "    'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },"
                    "    body: JSON.stringify({ pool: 'eng', protocol: 'web' }) });"
                    "   const r = await resp.json();"
                    "   if (resp.ok && r.web) {"
                    "    sessionStorage.setItem('vdi-web-launch', JSON.stringify({ path: r.web.path,"
                    "     ticket: r.web.ticket, pool: 'eng', tiles: true }));"
                    "    sessionStorage.setItem('lab-ticket', r.web.ticket);"
                    "    location.assign('/portal/desktop.html'); return; }"
                    "   err += resp.status + ' ' + JSON.stringify(r) + '; ';"
                    "  } catch (e) { err += String(e) + '; '; } }"
                    " sessionStorage.setItem('lab-ticket', ''); sessionStorage.setItem('lab-error', err); })(); true"));
        cdp_wait_for_ms(&c, "sessionStorage.getItem('lab-ticket') !== null", 5 * LAB_PIXEL_MS);
        g_autofree char *t = cdp_eval_str(&c, "sessionStorage.getItem('lab-ticket')");
        g_autofree char *launch_err = cdp_eval_str(&c, "sessionStorage.getItem('lab-error') || ''");
        ck_assert_msg(t && strlen(t) >= 16, "the second launch: %s", launch_err);
        g_ptr_array_add(F.tickets, g_strdup(t));
        lab_wait_connected(&c, true);
        lab_check_pattern(&c, w2, h2, 0, "PNG tiles");
        lab_type(&c, "KeyD", "d", KEY_D, keys++, 0);
        lab_click(&c, 4 * (w2 - 1) / 7, 3 * (h2 - 1) / 5, w2, h2, 0);
        lab_screenshot(&c, "tests/e2e/browser-tiles.png", "tiles");
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = 'desktop.launch' "
                                       "AND outcome = 'ok' AND actor = 'carol' AND host_name = '" LAB_HOST "'"),
                         2);
        ck_assert_int_eq(bfx_long(F.f, "SELECT count(*) FROM audit_events WHERE action = "
                                       "'desktop.web_redeem' AND outcome = 'ok' AND actor = 'carol'"),
                         2);
        cdp_stop(&c);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("gateway");
        TCase *tc = tcase_create("gateway");
        const char *want_lab = getenv("WEB_LAB");

        lab = want_lab && !strcmp(want_lab, "1");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, lab ? 3000 : 180);
        chromium = cdp_require_chromium();
        if (lab) {
                tcase_add_test(tc, test_lab_browser);
        } else {
                tcase_add_test(tc, test_gateway_refusals);
                tcase_add_test(tc, test_browser_through_gateway);
                tcase_add_test(tc, test_browser_reconnects);
        }
        suite_add_tcase(s, tc);
        return s;
}
