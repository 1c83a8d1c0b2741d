/* vdi-hostd with the real vdi-vm on /dev/kvm: run through
 * tests/lab/needs-kvm (tests/hostd/lab.sh), all cases in one lab boot.
 * The guest is tests/guest's initramfs (agent as PID 1) on the Debian
 * kernel; its console (a file vdi-hostd hands to vdi-vm) shows it booted.
 *
 *   - a VM started through the API boots (AGENT ready on its console) and
 *     is reported running; its thumbnail comes back although vdi-vm runs
 *     as [vm] user (the PPM goes into a memfd vdi-hostd passes);
 *   - vdi-hostd killed: the VM keeps running; a restarted vdi-hostd
 *     re-adopts it (same pid, state running);
 *   - vdi-vm killed: a "crashed" event, not restarted;
 *   - a guest that powers off: "powered_off", state stopped;
 *   - stop through the API: "stopped";
 *   - a VM with a network (issue 13): vdi-hostd makes its tap on a bridge,
 *     passes it to vdi-vm; the guest sees its MAC and pings the bridge's
 *     address; the tap goes with the VM. The whole test runs in a network
 *     namespace of its own (unshare at start), so no bridge of the machine
 *     running it is touched.
 * When this tree's vdi-vm has --control / --disk (engine part 2), the
 * booted event and the disk are checked too; else those cases say so. */
#include "config.h"


#include <curl/curl.h>
#include <errno.h>
#include <glib.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CHECK_NOFORK
#include <freerdp/input.h>

#include "check-main.h"
#include "hostd-proc.h"
#include "tests/rdp/client.h"

#ifndef QEMU_IMG
#define QEMU_IMG "qemu-img"
#endif

/* How long a nested guest may take to boot or power off: the KVM lab has
 * one TCG vCPU (issue 17) and CI runs two labs side by side; a guest that
 * is done sooner ends the wait at once. */
#define BOOT_S 600

static struct hostd_proc hp;
static char *work, *kernel, *initrd;
static bool has_control, has_disk, has_netns;

static void setup(void)
{
        g_autofree char *out = NULL, *cmd = NULL, *help = NULL;
        const char *top = getenv("abs_top_builddir") ? getenv("abs_top_builddir") : TOP_BUILDDIR;
        const char *src = getenv("abs_top_srcdir") ? getenv("abs_top_srcdir") : TOP_SRCDIR;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        work = g_dir_make_tmp("vdi-hostd-lab-XXXXXX", NULL);
        ck_assert_ptr_nonnull(work);
        ck_assert_int_eq(hostd_proc_pki(work), 0);
        initrd = g_strdup_printf("%s/tests/guest/initrd.gz", top);
        ck_assert_msg(access(initrd, R_OK) == 0, "%s missing: make tests/guest/initrd.gz", initrd);
        cmd = g_strdup_printf("%s/tests/guest/build-initrd --print-kernel", src);
        ck_assert(g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL));
        kernel = g_strdup(g_strstrip(out));
        g_free(cmd);
        cmd = g_strdup_printf("%s create -q -f qcow2 %s/golden.qcow2 64M", QEMU_IMG, work);
        ck_assert_int_eq(system(cmd), 0);
        g_free(cmd);
        cmd = g_strdup_printf("%s/hostd/vdi-vm --help", top);
        g_spawn_command_line_sync(cmd, &help, NULL, NULL, NULL);
        has_control = help && strstr(help, "--control");
        has_disk = help && strstr(help, "--disk");
        printf("# vdi-vm: control socket %s, disk %s\n", has_control ? "yes" : "PENDING (part 2)",
               has_disk ? "yes" : "PENDING (part 2)");

        /* A network namespace of our own (vdi-hostd and its VMs inherit it)
         * with lo up, for the bridge of test_network. */
        (void)!system("PATH=$PATH:/usr/sbin:/sbin; modprobe tun; modprobe bridge");
        has_netns = getuid() == 0 && unshare(CLONE_NEWNET) == 0 && system("ip link set lo up") == 0;
        printf("# network namespace: %s\n", has_netns ? "yes" : "no (not root?): network case skipped");
        hp.pki = work;
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
}

static void teardown(void)
{
        g_autofree char *cmd = g_strdup_printf("rm -rf %s", work);
        hostd_proc_destroy(&hp);
        (void)!system(cmd);
}

static struct hostd_reply call(const char *method, const char *path, const char *body)
{
        struct hostd_reply r;
        hostd_req(&hp, method, path, body, CERT_CLIENT, &r);
        return r;
}

static void import(const char *id, const char *action)
{
        g_autofree char *body = g_strdup_printf(
                "{\"version\": 1, \"kernel\": \"%s\", \"initrd\": \"%s\", \"disk\": "
                "\"%s/golden.qcow2\", \"cmdline\": \"console=ttyS0 quiet agent.action=%s\"}",
                kernel, initrd, work, action);
        g_autofree char *path = g_strdup_printf("/api/v1/images/%s", id);
        struct hostd_reply r = call("PUT", path, body);
        ck_assert_msg(r.status == 201 || r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
}

static void create_start(const char *id, const char *image)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
        g_autofree char *start = g_strdup_printf("/api/v1/vms/%s/start", id);
        g_autofree char *body = g_strdup_printf("{\"image\": \"%s\", \"cpus\": 1, "
                                                "\"memory_mb\": 256}", image);
        struct hostd_reply r = call("PUT", path, body);
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        r = call("POST", start, NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
}

/* The end of VM ID's console on stderr, for a check that failed. */
static void console_tail(const char *id)
{
        g_autofree char *path = g_build_filename(hp.state_dir, "vms", id, "console.log", NULL);
        g_autofree char *c = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &c, &len, NULL)) {
                fprintf(stderr, "# VM %s: no console at %s\n", id, path);
                return;
        }
        const char *from = len > 1500 ? c + len - 1500 : c;
        fprintf(stderr, "# VM %s: the end of its console:\n%s\n", id, from);
}

static bool console_contains(const char *id, const char *text)
{
        g_autofree char *path = g_build_filename(hp.state_dir, "vms", id, "console.log", NULL);
        g_autofree char *c = NULL;

        return g_file_get_contents(path, &c, NULL, NULL) && strstr(c, text);
}

static bool console_has(const char *id, const char *text, unsigned seconds)
{
        for (unsigned i = 0; i < seconds * 4; i++) {
                if (console_contains(id, text))
                        return true;
                g_usleep(250 * 1000);
        }
        fprintf(stderr, "# VM %s: no \"%s\" on its console in %u s\n", id, text, seconds);
        console_tail(id);
        return false;
}

/* VM ID stops by itself (the guest powered off) within BOOT_S; else fail
 * with the end of its console. */
static void wait_powered_off(const char *id)
{
        if (!hostd_wait_state(&hp, id, "stopped", BOOT_S * 1000)) {
                console_tail(id);
                ck_abort_msg("guest did not power off in %d s", BOOT_S);
        }
}

static json_t *vm(const char *id)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
        struct hostd_reply r = call("GET", path, NULL);
        json_t *v = json_incref(r.json);
        hostd_reply_clear(&r);
        return v;
}

static bool has_event(json_t *v, const char *event)
{
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(v, "events"), i, e)
                if (g_strcmp0(json_string_value(json_object_get(e, "event")), event) == 0)
                        return true;
        return false;
}

/* Field NAME of /proc/PID/status (its value, trimmed), or "" (freed by
 * the caller). */
static char *status_field(pid_t pid, const char *name)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
        g_autofree char *text = NULL;
        g_autofree char *key = g_strdup_printf("\n%s:", name);
        const char *at;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(at = strstr(text, key)))
                return g_strdup("");
        at += strlen(key);
        return g_strstrip(g_strndup(at, strcspn(at, "\n")));
}

/* Issue 22's jail state of a running vdi-vm: seccomp filter mode, no
 * capabilities, no_new_privs. */
static void assert_jailed(pid_t pid)
{
        static const char *const want[][2] = {
                { "Seccomp", "2" },
                { "NoNewPrivs", "1" },
                { "CapEff", "0000000000000000" },
                { "CapPrm", "0000000000000000" },
                { "CapBnd", "0000000000000000" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
                g_autofree char *v = status_field(pid, want[i][0]);
                ck_assert_msg(strcmp(v, want[i][1]) == 0, "vdi-vm %d: %s is \"%s\", want %s", (int)pid, want[i][0],
                              v, want[i][1]);
        }
}

#ifdef VDI_TEST_COMMANDS
/* Send one line to VM ID's control socket (hostd's runtime_dir); the
 * connection is left open (the command may kill vdi-vm). */
static int control_send(const char *id, const char *line)
{
        g_autofree char *path = g_strdup_printf("%s/run/%s.sock", hp.dir, id);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        /* a vdi-vm just started may not listen yet */
        for (int i = 0; i < 300 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; i++) {
                ck_assert_msg(i < 299, "%s: %s", path, g_strerror(errno));
                g_usleep(100 * 1000);
        }
        ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
        return fd;
}
#endif

START_TEST(test_boot_adopt_crash)
{
        json_t *v;
        pid_t pid;

        import("agent-sleep", "sleep");
        create_start("1", "agent-sleep");
        ck_assert_msg(console_has("1", "AGENT ready", BOOT_S), "guest did not boot");
        v = vm("1");
        ck_assert_str_eq(json_string_value(json_object_get(v, "state")), "running");
        pid = (pid_t)json_integer_value(json_object_get(v, "pid"));
        json_decref(v);
        if (has_disk)
                ck_assert(console_has("1", "driver=virtio_blk", 30));
        if (has_control) {
                for (int i = 0; i < 100; i++) {
                        v = vm("1");
                        bool booted = json_is_true(json_object_get(v, "booted"));
                        json_decref(v);
                        if (booted)
                                break;
                        g_usleep(200 * 1000);
                }
                v = vm("1");
                ck_assert(json_is_true(json_object_get(v, "booted")));
                ck_assert(has_event(v, "booted"));
                json_decref(v);
                /* A ticket reaches vdi-vm and comes back in the broker's shape. */
                struct hostd_reply r = call("POST", "/api/v1/vms/1/tickets",
                                            "{\"protocol\": \"spice\", \"user\": \"alice\", "
                                            "\"expiry_s\": 120}");
                ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
                ck_assert_uint_ge(strlen(json_string_value(json_object_get(r.json, "password"))),
                                  12);
                ck_assert_int_eq(json_integer_value(json_object_get(r.json, "expires_in")), 120);
                ck_assert_str_eq(json_string_value(json_object_get(r.json, "host")), "127.0.0.1");
                hostd_reply_clear(&r);
                /* The thumbnail (issue 24) of a vdi-vm that dropped to [vm]
                 * user under this root vdi-hostd: it opens no path of
                 * hostd's, it writes into the memfd hostd passes. */
                if (getuid() == 0) {
                        ck_assert_int_gt(hostd_proc_uid(pid), 0);
                        assert_jailed(pid); /* [vm] seccomp is on by default */
                }
                r = call("POST", "/api/v1/vms/1/screenshot", NULL);
                ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
                ck_assert_int_eq(json_integer_value(json_object_get(r.json, "source_width")), 1280);
                ck_assert_int_eq(json_integer_value(json_object_get(r.json, "source_height")), 800);
                hostd_reply_clear(&r);
                /* Reset through the control socket: the guest boots again. */
                r = call("POST", "/api/v1/vms/1/reset", NULL);
                ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
                hostd_reply_clear(&r);
                for (int i = 0; i < 100; i++) {
                        v = vm("1");
                        bool seen = has_event(v, "reset");
                        json_decref(v);
                        if (seen)
                                break;
                        g_usleep(100 * 1000);
                }
                v = vm("1");
                ck_assert(has_event(v, "reset"));
                ck_assert_int_eq(json_integer_value(json_object_get(v, "pid")), pid);
                json_decref(v);
        }

        /* hostd dies: the VM does not. */
        hostd_proc_kill(&hp);
        ck_assert_int_eq(kill(pid, 0), 0);
        g_usleep(500 * 1000);
        ck_assert_int_eq(kill(pid, 0), 0);
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        v = vm("1");
        ck_assert_str_eq(json_string_value(json_object_get(v, "state")), "running");
        ck_assert_int_eq(json_integer_value(json_object_get(v, "pid")), pid);
        ck_assert(json_is_true(json_object_get(v, "adopted")));
        json_decref(v);
        if (has_control) {
                /* vdi-vm repeats "booted" to a client that connects later. */
                bool booted = false;
                for (int i = 0; i < 100 && !booted; i++) {
                        v = vm("1");
                        booted = json_is_true(json_object_get(v, "booted"));
                        json_decref(v);
                        if (!booted)
                                g_usleep(100 * 1000);
                }
                ck_assert_msg(booted, "re-adopted VM not seen booted");
        }

        /* vdi-vm dies: reported as a crash, left alone. */
        kill(pid, SIGKILL);
        ck_assert(hostd_wait_state(&hp, "1", "crashed", 10000));
        v = vm("1");
        ck_assert(has_event(v, "crashed"));
        json_decref(v);
        g_usleep(500 * 1000);
        ck_assert(hostd_wait_state(&hp, "1", "crashed", 100));

        /* Started again (by request) and stopped through the API. */
        struct hostd_reply r = call("POST", "/api/v1/vms/1/start", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
#ifdef VDI_TEST_COMMANDS
        /* A forbidden call (the test build's control command jail-trip):
         * seccomp kills vdi-vm, and vdi-hostd names the call and thread. */
        {
                g_autofree char *want = NULL;
                const char *err;
                int fd;

                v = vm("1");
                pid = (pid_t)json_integer_value(json_object_get(v, "pid"));
                json_decref(v);
                fd = control_send("1", "{\"id\":1,\"cmd\":\"jail-trip\"}\n");
                ck_assert(hostd_wait_state(&hp, "1", "crashed", 30000));
                close(fd);
                want = g_strdup_printf("vdi-vm %d killed by seccomp: syscall personality from the control thread",
                                       (int)pid);
                v = vm("1");
                err = json_string_value(json_object_get(v, "last_error"));
                ck_assert_msg(err && g_str_has_prefix(err, want), "last_error \"%s\", want \"%s...\"", err, want);
                json_decref(v);
                r = call("POST", "/api/v1/vms/1/start", NULL);
                ck_assert_int_eq(r.status, 200);
                hostd_reply_clear(&r);
        }
#endif
        r = call("POST", "/api/v1/vms/1/stop", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "stopped");
        hostd_reply_clear(&r);
}
END_TEST

START_TEST(test_guest_poweroff)
{
        json_t *v;

        import("agent-off", "poweroff");
        create_start("2", "agent-off");
        wait_powered_off("2");
        ck_assert(console_has("2", "AGENT poweroff", 5));
        v = vm("2");
        ck_assert(has_event(v, "powered_off"));
        ck_assert(!has_event(v, "crashed"));
        json_decref(v);
}
END_TEST

START_TEST(test_network)
{
        g_autofree char *mac_line = NULL, *port_cmd = NULL, *gone_cmd = NULL;
        struct hostd_reply r;
        const char *tap, *mac;
        json_t *v, *net;

        if (!has_netns)
                return;
        ck_assert_int_eq(system("ip link add vdilabbr0 type bridge && ip link set vdilabbr0 up && "
                                "ip addr add 10.79.0.1/24 dev vdilabbr0"), 0);
        import("agent-net", "nettest agent.ip=10.79.0.2/24 agent.ping=10.79.0.1");
        r = call("PUT", "/api/v1/vms/3",
                 "{\"image\": \"agent-net\", \"memory_mb\": 256, \"network\": {\"bridge\": \"vdilabbr0\"}}");
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/3/start", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        v = vm("3");
        net = json_object_get(v, "network");
        tap = json_string_value(json_object_get(net, "tap"));
        mac = json_string_value(json_object_get(net, "mac"));
        ck_assert_ptr_nonnull(tap);
        ck_assert_ptr_nonnull(mac);
        /* (ip, not /sys: sysfs shows the lab's first namespace.) */
        port_cmd = g_strdup_printf("ip -o link show dev %s | grep -q 'master vdilabbr0'", tap);
        gone_cmd = g_strdup_printf("ip link show dev %s >/dev/null 2>&1", tap);
        mac_line = g_strdup_printf("AGENT net dev=eth0 present=1 mac=%s", mac);
        /* The tap is a port of the bridge while the VM runs. */
        ck_assert_msg(system(port_cmd) == 0, "%s is not a port of vdilabbr0", tap);
        ck_assert_msg(console_has("3", mac_line, BOOT_S), "guest did not see %s", mac_line);
        ck_assert_msg(console_has("3", "AGENT net ping ip=10.79.0.1 reply=1", 120), "guest did not reach the bridge");
        wait_powered_off("3");
        /* Gone with the VM. */
        for (int i = 0; i < 40 && system(gone_cmd) == 0; i++)
                g_usleep(100 * 1000);
        ck_assert_msg(system(gone_cmd) != 0, "%s still there", tap);
        json_decref(v);
}
END_TEST

/* The first or last number of the lines "PREFIX N" on VM id's console,
 * or -1. */
static long console_number_at(const char *path, const char *prefix, bool first)
{
        g_autofree char *c = NULL;
        long n = -1;

        if (!g_file_get_contents(path, &c, NULL, NULL))
                return -1;
        for (char *p = c; (p = strstr(p, prefix)); p += strlen(prefix))
                if ((p == c || p[-1] == '\n') && g_ascii_isdigit(p[strlen(prefix)])) {
                        n = strtol(p + strlen(prefix), NULL, 10);
                        if (first)
                                break;
                }
        return n;
}

static long console_number(const char *id, const char *prefix, bool first)
{
        g_autofree char *path = g_build_filename(hp.state_dir, "vms", id, "console.log", NULL);

        return console_number_at(path, prefix, first);
}

static long console_last(const char *id, const char *prefix)
{
        return console_number(id, prefix, false);
}

/* An RDP client on VM id with a ticket from vdi-hostd (which resumes a
 * suspended desktop first, as for a user coming back), once it shows the
 * counting guest's red rectangle at 10,10 (tests/guest/agent.c). */
static struct tclient *rdp_session(const char *id)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s/tickets", id);
        struct hostd_reply r = { 0 };
        struct tclient_opts o = { .security = TCLIENT_NLA, .user = "alice", .width = 1024, .height = 768 };
        struct tclient *c = NULL;
        gint64 end = g_get_monotonic_time() + BOOT_S * G_USEC_PER_SEC;
        bool red = false;
        int rc;

        /* A resume on a loaded lab can outlast one request's 60 s; the
         * desktop is running by the next try. */
        for (int i = 0; i < 10; i++) {
                r = call("POST", path, "{\"protocol\": \"rdp\", \"user\": \"alice\"}");
                if (r.status != 0 && r.status != 503)
                        break;
                hostd_reply_clear(&r);
                g_usleep(G_USEC_PER_SEC);
        }
        ck_assert_msg(r.status == 200, "ticket: %ld %s", r.status, r.raw);
        o.port = (uint16_t)json_integer_value(json_object_get(r.json, "port"));
        o.password = json_string_value(json_object_get(r.json, "password"));
        rc = tclient_connect(&o, &c);
        hostd_reply_clear(&r);
        ck_assert_msg(rc == 0, "RDP connect to VM %s: %d", id, rc);
        while (!red && tclient_connected(c) && g_get_monotonic_time() < end) {
                uint32_t w, h, stride;
                const uint8_t *px;

                tclient_lock(c);
                px = tclient_pixels(c, &w, &h, &stride);
                red = px && w > 60 && h > 40 && px[30 * stride + 4 * 60 + 2] == 0xff &&
                      px[30 * stride + 4 * 60 + 1] == 0 && px[30 * stride + 4 * 60] == 0;
                tclient_unlock(c);
                if (!red)
                        g_usleep(50 * 1000);
        }
        ck_assert_msg(red, "VM %s: the RDP client never saw the red rectangle", id);
        return c;
}

/* Suspend and resume on the real engine (issue 20) with a user connected:
 * the suspend drops her RDP session; while suspended no process holds the
 * desktop's memory; her next ticket resumes it and she is back on the
 * same picture; the guest's counter goes on from where it stood (no
 * boot), and its agent has set its clock from vdi-vm's time (the
 * "resumed" message, then a time? round trip), so its wall clock is right
 * after the time spent suspended. */
START_TEST(test_suspend_resume)
{
        struct hostd_reply r;
        long before, after = -1, wall = -1;
        struct tclient *c;
        json_t *v;
        pid_t pid;

        if (!has_control)
                return;
        import("agent-count", "counter");
        create_start("4", "agent-count");
        ck_assert_msg(console_has("4", "AGENT count 10", BOOT_S), "guest did not count");
        c = rdp_session("4");
        v = vm("4");
        pid = (pid_t)json_integer_value(json_object_get(v, "pid"));
        json_decref(v);
        for (int i = 0; i < 100; i++) {
                r = call("POST", "/api/v1/vms/4/suspend", NULL);
                if (r.status != 503)
                        break;
                hostd_reply_clear(&r);
                g_usleep(200 * 1000);
        }
        /* Saving the state on a loaded lab can outlast the request's 60 s
         * (status 0): then the state says when it is done. */
        ck_assert_msg(r.status == 200 || (r.status == 0 && hostd_wait_state(&hp, "4", "suspended", BOOT_S * 1000)),
                      "%ld %s", r.status, r.raw);
        if (r.status == 200)
                ck_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "suspended");
        hostd_reply_clear(&r);
        ck_assert_msg(kill(pid, 0) < 0 && errno == ESRCH, "vdi-vm %d still there", (int)pid);
        for (int i = 0; i < 600 && tclient_connected(c); i++)
                g_usleep(100 * 1000);
        ck_assert_msg(!tclient_connected(c), "the RDP session outlived the suspend");
        tclient_free(c);
        before = console_last("4", "AGENT count ");
        ck_assert_int_ge(before, 10);
        /* Time passes while it is suspended; the guest must not miss it. */
        g_usleep(8 * G_USEC_PER_SEC);
        /* She comes back: her ticket resumes the desktop. */
        c = rdp_session("4");
        v = vm("4");
        ck_assert_str_eq(json_string_value(json_object_get(v, "state")), "running");
        json_decref(v);
        /* A restore maps and checks the saved RAM: in the nested lab with
         * an ASan vdi-vm, as slow as a boot's start. */
        /* The resumed vdi-vm starts its console afresh: a count above the
         * last one means the file is the new one, and so is its wall line. */
        for (int i = 0; i < BOOT_S * 4 && (after <= before || wall < 0); i++) {
                g_usleep(250 * 1000);
                after = console_last("4", "AGENT count ");
                wall = after > before ? console_last("4", "AGENT wall ") : -1;
        }
        if (after <= before || wall < 0)
                console_tail("4");
        ck_assert_msg(after > before, "no count after the resume (last before: %ld)", before);
        ck_assert_msg(!console_contains("4", "AGENT ready"), "the resumed guest booted again");
        /* The first number the resumed guest printed follows the last one. */
        long first = console_number("4", "AGENT count ", true);
        ck_assert_msg(first == before + 1, "the count went on from %ld, not %ld", first, before);
        ck_assert_msg(console_contains("4", "AGENT resumed"), "the guest's agent heard no \"resumed\"");
        ck_assert_msg(console_has("4", "AGENT clock-set ", BOOT_S),
                      "the guest's agent did not set its clock after the resume");
        wall = console_last("4", "AGENT wall ");
        long now = (long)time(NULL);
        ck_assert_msg(labs(now - wall) <= 4, "guest wall clock %ld, host %ld", wall, now);
        ck_assert_msg(tclient_connected(c), "the RDP session dropped after the resume");
        tclient_free(c);
        r = call("POST", "/api/v1/vms/4/stop", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
}
END_TEST

/* Field KEY (kB) of /proc/PID/smaps_rollup, or -1. */
static long smaps_kb(pid_t pid, const char *key)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/smaps_rollup", (int)pid);
        g_autofree char *text = NULL;
        g_autofree char *want = g_strdup_printf("\n%s:", key);
        const char *at;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(at = strstr(text, want)))
                return -1;
        return strtol(at + strlen(want), NULL, 10);
}

/* Instant clones on the real engine (issue 20): the first clone's start
 * boots the counting guest once, as the parent, until its agent opens
 * org.vdi.agent.0; vdi-hostd suspends it and every clone restores that
 * state on its own overlay: each counts on from the parent's last count,
 * and none boots a kernel. A refresh forks the clone again. */
#define CLONES 3
START_TEST(test_instant_clones)
{
        static const char *const ids[CLONES] = { "ic1", "ic2", "ic3" };
        g_autofree char *parent_console = NULL;
        long parent_last, pss_sum = 0, rss_one = 0;
        struct hostd_reply r;

        if (!has_control)
                return;
        import("agent-count", "counter");
        for (int i = 0; i < CLONES; i++) {
                g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", ids[i]);
                r = call("PUT", path, "{\"image\": \"agent-count\", \"cpus\": 1, \"memory_mb\": 256, "
                                      "\"clone\": \"instant\"}");
                ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
                hostd_reply_clear(&r);
                g_autofree char *start = g_strdup_printf("/api/v1/vms/%s/start", ids[i]);
                r = call("POST", start, NULL);
                ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
                hostd_reply_clear(&r);
        }
        /* The first waits for the parent's boot as well. */
        for (int i = 0; i < CLONES; i++) {
                if (!hostd_wait_state(&hp, ids[i], "running", (i ? 1 : 2) * BOOT_S * 1000) ||
                    !console_has(ids[i], "AGENT count", BOOT_S)) {
                        g_autofree char *cmd = g_strdup_printf("find %s/parents -name '*.log' -exec tail -n 30 {} +",
                                                               hp.state_dir);
                        (void)!system(cmd);
                        ck_abort_msg("clone %s did not run and count", ids[i]);
                }
        }
        r = call("GET", "/api/v1/parents", NULL);
        json_t *p = json_array_get(json_object_get(r.json, "parents"), 0);
        ck_assert_msg(p && !strcmp(json_string_value(json_object_get(p, "state")), "ready"), "%s", r.raw);
        ck_assert_int_eq(json_integer_value(json_object_get(p, "clones")), CLONES);
        g_autofree char *sdir = g_path_get_dirname(json_string_value(json_object_get(p, "state_dir")));
        g_autofree char *pdir = g_path_get_dirname(sdir);
        parent_console = g_build_filename(pdir, "console.log", NULL);
        hostd_reply_clear(&r);
        /* The parent booted; it was suspended once its agent held the port,
         * which the counter opens before it counts (-1: no count yet). */
        g_autofree char *pc = NULL;
        ck_assert_msg(g_file_get_contents(parent_console, &pc, NULL, NULL) && strstr(pc, "AGENT ready") &&
                              strstr(pc, "AGENT vport dev=") && strstr(pc, "name=org.vdi.agent.0"),
                      "the parent did not boot to its agent (%s)", parent_console);
        parent_last = console_number_at(parent_console, "AGENT count ", false);
        for (int i = 0; i < CLONES; i++) {
                json_t *v = vm(ids[i]);
                pid_t pid = (pid_t)json_integer_value(json_object_get(v, "pid"));
                long first = console_number(ids[i], "AGENT count ", true);
                long pss = smaps_kb(pid, "Pss"), rss = smaps_kb(pid, "Rss");

                json_decref(v);
                ck_assert_msg(!console_contains(ids[i], "AGENT ready"), "clone %s booted", ids[i]);
                ck_assert_msg(first == parent_last + 1, "clone %s counted on from %ld, the parent stopped at %ld",
                              ids[i], first - 1, parent_last);
                printf("# clone %s: vdi-vm %d, Pss %ld kB, Rss %ld kB\n", ids[i], (int)pid, pss, rss);
                pss_sum += pss;
                rss_one = rss > rss_one ? rss : rss_one;
        }
        printf("# %d clones: Pss sum %ld kB, one clone's Rss at most %ld kB\n", CLONES, pss_sum, rss_one);

        /* A refresh forks it again: the count restarts from the parent's. */
        r = call("POST", "/api/v1/vms/ic1/stop", NULL);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/ic1/refresh", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        g_autofree char *console = g_build_filename(hp.state_dir, "vms", "ic1", "console.log", NULL);
        unlink(console);
        r = call("POST", "/api/v1/vms/ic1/start", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        ck_assert(console_has("ic1", "AGENT count", BOOT_S));
        ck_assert_int_eq(console_number("ic1", "AGENT count ", true), parent_last + 1);
        ck_assert(!console_contains("ic1", "AGENT ready"));
        for (int i = 0; i < CLONES; i++) {
                g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", ids[i]);
                r = call("DELETE", path, NULL);
                ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
                hostd_reply_clear(&r);
        }
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("hostd-lab");
        TCase *tc = tcase_create("lab");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_boot_adopt_crash);
        tcase_add_test(tc, test_guest_poweroff);
        tcase_add_test(tc, test_network);
        tcase_add_test(tc, test_suspend_resume);
        tcase_add_test(tc, test_instant_clones);
        suite_add_tcase(s, tc);
        return s;
}
