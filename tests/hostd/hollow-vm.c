/* A "hollow" vdi-vm for tests without /dev/kvm (kubemark's hollow node
 * idea): vdi-hostd starts and supervises it like the real one, and it
 * speaks vdi-vm's control socket (hostd/vmctl.h) but runs no guest.
 *
 *   hollow-vm --control SOCKET [--user NAME] [any other vdi-vm option, ignored]
 *
 * It says "booted" to each control connection, answers every request
 * ok (status with "booted": true), and exits 0 after "stop". Each
 * set-ticket is appended to tickets.log in its working directory (the
 * VM's directory) as "PROTOCOL USER EXPIRY_S": the password never; each
 * reset is counted in resets.log. "screenshot" writes a real 640x480 P6
 * picture, as vdi-vm's does: into the file descriptor passed with the
 * request (SCM_RIGHTS, at most one, only with screenshot; a writable
 * regular file) or else to the absolute "path" asked for. The picture is
 * a desktop-blue screen (30, 80, 160) with an orange window (240, 140, 20)
 * over its lower right quarter, so a thumbnail can be checked by its
 * pixels.
 *
 * --user NAME drops to that user once the control socket is made, as
 * vdi-vm --user does. The option is offered in --help (which vdi-hostd
 * reads, and then passes [vm] user when it runs as root) only when
 * HOLLOW_VM_USER_OPTION=1 is in the environment: other tests keep their
 * hollow VMs as root, writing tickets.log into the VM's 0700 directory.
 *
 * --seccomp on|off (offered in --help, as vdi-vm's) is written to
 * seccomp.log in its working directory, so a test sees what vdi-hostd
 * asked for ([vm] seccomp).
 *
 * A display client is played by the test: "hollow-connect" with protocol,
 * user and address makes it say "client-connected" to every control
 * connection as vdi-vm does when a client logs in; "disconnect" drops that
 * client ("client-disconnected", answer "sessions": 1) as vdi-vm's does.
 *
 * With HOLLOW_VM_WEB=1 in the environment --help also offers --web-port,
 * --web-origin, --display-listen and --tls-cert/--tls-key (so vdi-hostd
 * with [vm] web_origin passes them), and --web-port serves the web display
 * (protocols/web) of the same 640x480 screen on a synthetic framebuffer;
 * a set-ticket for "web" is set on it as vdi-vm does. Tests of the browser
 * path (tests/web/gateway) then go through a real vdi-hostd without KVM.
 *
 * "suspend" with "dir" makes that directory holding a file "state" and
 * exits 0 (refused while a file suspend-refuse is in its working
 * directory); --restore DIR needs DIR/state, appends "restored DIR" to
 * restores.log, and runs on.
 *
 * A booted (not restored) hollow VM's guest agent is up at once: it says
 * "agent-ready" after "booted" (vdi-hostd's instant-clone parents wait for
 * it), unless its --cmdline holds "hollow.agent=no". A fork's
 * --clone-hostname and --clone-machine-id are appended to identity.log as
 * "hostname NAME" and "machine-id ID". */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <glib.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "display/testsrc.h"
#include "fdpass.h"
#include "protocols/web/web-server.h"

#define MAX_PEERS 8
#define LINE_MAX_LEN 65536

struct peer {
        int fd;
        size_t len;
        struct fdpass_slot passed; /* what came for the line being read */
        char buf[LINE_MAX_LEN];
};

static void send_line(int fd, json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT);
        if (s) {
                size_t n = strlen(s);
                s[n] = '\n'; /* json_dumps' NUL becomes the newline */
                if (write(fd, s, n + 1) < 0)
                        perror("hollow-vm: write");
                free(s);
        }
        json_decref(v);
}

enum { W = 640, H = 480 };

/* --web-port: the web display on its own thread and main context, as in
 * vdi-vm. */
static struct {
        struct web_server *srv;
        struct testsrc *src;
        GMainContext *ctx;
} web;

static gpointer web_thread(gpointer ctx)
{
        g_main_context_push_thread_default(ctx); /* soup's async work runs there */
        for (;;)
                g_main_context_iteration(ctx, TRUE);
        return NULL;
}

static int web_start(const char *port, const char *origin, const char *listen, const char *cert,
                     const char *key)
{
        struct web_server_config cfg = { .bind_address = listen, .port = (uint16_t)atoi(port),
                                         .cert_file = cert, .key_file = key, .origin = origin };
        char *err = NULL;

        web.src = testsrc_new(W, H);
        testsrc_fill(web.src, (struct display_rect){ 0, 0, W, H }, 0x001e50a0u);
        testsrc_fill(web.src, (struct display_rect){ W / 2, H / 2, W / 2, H / 2 }, 0x00f08c14u);
        web.ctx = g_main_context_new();
        if (web_server_start(&cfg, testsrc_source(web.src), web.ctx, &web.srv, &err) < 0) {
                fprintf(stderr, "hollow-vm: web display: %s\n", err ? err : "failed");
                return -1;
        }
        g_thread_unref(g_thread_new("web", web_thread, web.ctx));
        return 0;
}

/* The hollow desktop's screen into out, as vdi-vm's screenshot writes it. */
static int write_screen(int out)
{
        static const unsigned char blue[3] = { 30, 80, 160 }, orange[3] = { 240, 140, 20 };
        static unsigned char pic[32 + W * H * 3];
        int len = snprintf((char *)pic, 32, "P6\n%d %d\n255\n", W, H);
        unsigned char *p = pic + len;

        for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++, p += 3)
                        memcpy(p, x >= W / 2 && y >= H / 2 ? orange : blue, 3);
        for (unsigned char *q = pic; q < p;) {
                ssize_t n = write(out, q, (size_t)(p - q));
                if (n <= 0)
                        return -1;
                q += n;
        }
        return 0;
}

/* screenshot as vdi-vm answers it (hostd/vmm/control.c); NULL when ok,
 * else the error (static buffer). */
static const char *screenshot(json_t *req, int passed)
{
        static char err[512];
        const char *path = json_string_value(json_object_get(req, "path"));
        char why[256] = "";
        int out;

        if (passed >= 0 && json_object_get(req, "path"))
                return "screenshot takes a \"path\" or a passed file descriptor, not both";
        if (passed >= 0) {
                if (fdpass_check_file(passed, why, sizeof(why)) == 0 && write_screen(passed) < 0)
                        snprintf(why, sizeof(why), "%s", strerror(errno));
                else if (!*why)
                        return NULL;
                snprintf(err, sizeof(err), "screenshot to the passed file descriptor failed: %s", why);
                return err;
        }
        if (!path || path[0] != '/')
                return "screenshot needs an absolute \"path\" or a file descriptor passed with the "
                       "request (SCM_RIGHTS)";
        out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0666);
        if (out < 0 || write_screen(out) < 0) {
                snprintf(err, sizeof(err), "screenshot to %s failed: %s", path, strerror(errno));
                if (out >= 0)
                        close(out);
                return err;
        }
        close(out);
        return NULL;
}

static void count_line(const char *file, const char *line)
{
        FILE *f = fopen(file, "a");
        if (f) {
                fprintf(f, "%s\n", line);
                fclose(f);
        }
}

struct client {
        bool connected;
        char detail[512]; /* "protocol=P user=U address=A" */
};

/* An event to every control connection (hostd holds one of them). */
static void broadcast(struct peer *peers, const char *event, const char *detail)
{
        for (int i = 0; i < MAX_PEERS; i++)
                if (peers[i].fd >= 0)
                        send_line(peers[i].fd,
                                  json_pack("{s:s, s:s}", "event", event, "reason", detail));
}

static void client_cmd(struct peer *peers, struct client *cl, const char *cmd, json_t *req,
                       json_t *reply)
{
        if (!strcmp(cmd, "hollow-connect")) {
                snprintf(cl->detail, sizeof(cl->detail), "protocol=%s user=%s address=%s",
                         json_string_value(json_object_get(req, "protocol")),
                         json_string_value(json_object_get(req, "user")),
                         json_string_value(json_object_get(req, "address")));
                cl->connected = true;
                broadcast(peers, "client-connected", cl->detail);
        } else {
                json_object_set_new(reply, "sessions", json_integer(cl->connected));
                if (cl->connected)
                        broadcast(peers, "client-disconnected", cl->detail);
                cl->connected = false;
        }
}

/* {"id":id,"ok":false,"error":msg} */
static json_t *refusal(json_t *id, const char *msg)
{
        return json_pack("{s:O, s:b, s:s}", "id", id ? id : json_null(), "ok", 0, "error", msg);
}

/* What came with a request refused as vdi-vm refuses it (NULL: none). */
static json_t *refuse_passed(json_t *id, const char *cmd, const struct fdpass_slot *passed)
{
        char msg[256];

        return fdpass_slot_check(passed, cmd, (const char *const[]){ "screenshot", "suspend", NULL }, msg, sizeof(msg)) == 0 ? NULL : refusal(id, msg);
}

/* "suspend" into "name" of the directory passed with it (vdi-hostd's
 * form), else "dir": NULL, or why not. */
static const char *suspend(json_t *req, int given)
{
        const char *dir = json_string_value(json_object_get(req, "dir"));
        const char *name = json_string_value(json_object_get(req, "name"));
        g_autofree char *path = NULL, *state = NULL;

        if (access("suspend-refuse", F_OK) == 0)
                return "refused for the test (suspend-refuse)";
        if (given >= 0 && name && !strchr(name, '/'))
                path = g_strdup_printf("/proc/self/fd/%d/%s", given, name);
        else if (given < 0 && dir && dir[0] == '/')
                path = g_strdup(dir);
        if (!path || mkdir(path, 0700) < 0)
                return "suspend needs a passed directory and a \"name\", or an absolute \"dir\", that can be made";
        state = g_build_filename(path, "state", NULL);
        if (!g_file_set_contents(state, "hollow\n", -1, NULL))
                return "cannot write the state";
        return NULL;
}

/* --restore DIR: 0, or -1 with a message. */
static int restore(const char *dir)
{
        g_autofree char *state = g_build_filename(dir, "state", NULL);
        FILE *f;

        if (access(state, R_OK) < 0) {
                fprintf(stderr, "hollow-vm: --restore %s: no state there\n", dir);
                return -1;
        }
        f = fopen("restores.log", "a");
        if (f) {
                fprintf(f, "restored %s\n", dir);
                fclose(f);
        }
        return 0;
}

/* One request line and what came with it (closed here); true when the
 * VM should exit. */
static bool handle(struct peer *peers, struct client *cl, int fd, const char *line,
                   struct fdpass_slot *passed)
{
        json_error_t jerr;
        json_t *req = *line ? json_loads(line, 0, &jerr) : NULL, *reply = NULL;
        const char *cmd = json_string_value(json_object_get(req, "cmd"));
        json_t *id = json_object_get(req, "id");
        bool quit = false;

        if (!*line && (passed->fd >= 0 || passed->excess))
                send_line(fd, refusal(NULL, "a file descriptor came without a command (it was closed)"));
        if (!cmd || !id || (reply = refuse_passed(id, cmd, passed))) {
                if (cmd && id)
                        send_line(fd, reply);
                fdpass_slot_clear(passed);
                json_decref(req);
                return false;
        }
        reply = json_pack("{s:O, s:b}", "id", id, "ok", 1);
        if (!strcmp(cmd, "status")) {
                json_object_set_new(reply, "booted", json_true());
        } else if (!strcmp(cmd, "set-ticket")) {
                FILE *f = fopen("tickets.log", "a");
                const char *proto = json_string_value(json_object_get(req, "protocol"));
                if (web.srv && proto && !strcmp(proto, "web"))
                        web_server_set_ticket(web.srv, json_string_value(json_object_get(req, "user")),
                                              json_string_value(json_object_get(req, "password")),
                                              (unsigned)json_integer_value(json_object_get(req, "expiry_s")));
                if (f) {
                        fprintf(f, "%s %s %lld\n",
                                json_string_value(json_object_get(req, "protocol")),
                                json_string_value(json_object_get(req, "user")),
                                (long long)json_integer_value(json_object_get(req, "expiry_s")));
                        fclose(f);
                }
        } else if (!strcmp(cmd, "screenshot")) {
                const char *err = screenshot(req, passed->fd);
                if (err) {
                        json_decref(reply);
                        reply = refusal(id, err);
                }
        } else if (!strcmp(cmd, "hollow-connect") || !strcmp(cmd, "disconnect")) {
                client_cmd(peers, cl, cmd, req, reply);
        } else if (!strcmp(cmd, "reset")) {
                count_line("resets.log", "reset");
        } else if (!strcmp(cmd, "stop")) {
                quit = true;
        } else if (!strcmp(cmd, "suspend")) {
                const char *err = suspend(req, passed->fd);
                json_decref(reply);
                reply = err ? refusal(id, err)
                            : json_pack("{s:O, s:b, s:f, s:i, s:i}", "id", id, "ok", 1, "paused_ms", 1.5,
                                        "ram_pages", 0, "state_bytes", 7);
                quit = !err;
        }
        send_line(fd, reply);
        if (quit && !strcmp(cmd, "stop"))
                send_line(fd, json_pack("{s:s}", "event", "powered_off"));
        fdpass_slot_clear(passed);
        json_decref(req);
        return quit;
}

/* Read from peer p, handle each complete line; true when the VM should
 * exit. Descriptors go with the line holding the read's last byte, as in
 * vdi-vm (lib/fdpass.h). */
static bool peer_read(struct peer *peers, struct client *cl, struct peer *p)
{
        int fds[1];
        size_t nfds;
        bool extra;
        ssize_t n = fdpass_recv(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len, fds, 1, &nfds,
                                &extra);
        char *nl;

        if (n == -EAGAIN || n == -EINTR)
                return false;
        if (n <= 0) {
                close(p->fd);
                p->fd = -1;
                fdpass_slot_clear(&p->passed);
                return false;
        }
        p->len += (size_t)n;
        p->buf[p->len] = 0;
        while ((nl = strchr(p->buf, '\n'))) {
                *nl = 0;
                if (nl == p->buf + p->len - 1) {
                        fdpass_slot_add(&p->passed, fds, nfds, extra);
                        nfds = 0;
                        extra = false;
                }
                if (handle(peers, cl, p->fd, p->buf, &p->passed))
                        return true; /* the process exits */
                p->len -= (size_t)(nl + 1 - p->buf);
                memmove(p->buf, nl + 1, p->len + 1);
        }
        fdpass_slot_add(&p->passed, fds, nfds, extra);
        if (p->len >= sizeof(p->buf) - 1) {
                close(p->fd);
                p->fd = -1;
                fdpass_slot_clear(&p->passed);
        }
        return false;
}

/* vdi-vm --user: become name (groups, group, user), for good. */
static int drop_to(const char *name)
{
        struct passwd *pw = getpwnam(name);

        if (!pw) {
                fprintf(stderr, "hollow-vm: --user %s: no such user\n", name);
                return -1;
        }
        if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
                fprintf(stderr, "hollow-vm: --user %s: %s\n", name, strerror(errno));
                return -1;
        }
        return 0;
}

/* Write text to the file name in the working directory; 0 or -1. */
static int note(const char *name, const char *text)
{
        FILE *f = fopen(name, "w");
        int r = f && fputs(text, f) >= 0 ? 0 : -1;

        if (f && fclose(f) != 0)
                r = -1;
        return r;
}

int main(int argc, char **argv)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct peer *peers;
        struct client cl = { 0 };
        const char *control = NULL, *user = NULL, *offer = getenv("HOLLOW_VM_USER_OPTION");
        bool agent = true;
        const char *offer_web = getenv("HOLLOW_VM_WEB");
        const char *web_port = NULL, *origin = NULL, *listen_on = "127.0.0.1", *cert = NULL, *key = NULL;
        int lfd;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--help")) {
                        /* vdi-hostd reads what we understand from here. */
                        printf("Usage: hollow-vm --kernel K --control SOCKET --spice-port P "
                               "--rdp-port P --seccomp on|off --restore DIR --agent --clone-hostname NAME "
                               "--clone-machine-id ID%s%s\n  {\"id\":N,\"cmd\":\"suspend\",\"dir\":D}\n",
                               offer && !strcmp(offer, "1") ? " --user NAME" : "",
                               offer_web && !strcmp(offer_web, "1")
                                       ? " --web-port P --web-origin URL --display-listen A --tls-cert F --tls-key F"
                                       : "");
                        return 0;
                }
                if (!strcmp(argv[i], "--control") && i + 1 < argc)
                        control = argv[++i];
                else if (!strcmp(argv[i], "--user") && i + 1 < argc)
                        user = argv[++i];
                else if (!strcmp(argv[i], "--web-port") && i + 1 < argc)
                        web_port = argv[++i];
                else if (!strcmp(argv[i], "--web-origin") && i + 1 < argc)
                        origin = argv[++i];
                else if (!strcmp(argv[i], "--display-listen") && i + 1 < argc)
                        listen_on = argv[++i];
                else if (!strcmp(argv[i], "--tls-cert") && i + 1 < argc)
                        cert = argv[++i];
                else if (!strcmp(argv[i], "--tls-key") && i + 1 < argc)
                        key = argv[++i];
                else if (!strcmp(argv[i], "--restore") && i + 1 < argc) {
                        if (restore(argv[++i]) < 0)
                                return 1;
                        agent = false; /* its agent's port was open before */
                } else if ((!strcmp(argv[i], "--clone-hostname") || !strcmp(argv[i], "--clone-machine-id")) &&
                           i + 1 < argc) {
                        /* identity.log: "hostname NAME" / "machine-id ID" lines */
                        FILE *f = fopen("identity.log", "a");
                        if (f) {
                                fprintf(f, "%s %s\n", argv[i] + 8, argv[i + 1]);
                                fclose(f);
                        }
                        i++;
                } else if (!strcmp(argv[i], "--cmdline") && i + 1 < argc) {
                        if (strstr(argv[++i], "hollow.agent=no"))
                                agent = false;
                } else if (!strcmp(argv[i], "--seccomp") && i + 1 < argc && note("seccomp.log", argv[++i]) < 0)
                        return 1;
        }
        if (!control || strlen(control) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "hollow-vm: --control SOCKET is required\n");
                return 2;
        }
        peers = calloc(MAX_PEERS, sizeof(*peers));
        if (!peers)
                return 1;
        signal(SIGPIPE, SIG_IGN);
        strcpy(sa.sun_path, control);
        unlink(control);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
                perror("hollow-vm: control socket");
                return 1;
        }
        if (web_port && web_start(web_port, origin, listen_on, cert, key) < 0)
                return 1;
        if (user && drop_to(user) < 0)
                return 1;
        for (int i = 0; i < MAX_PEERS; i++)
                peers[i] = (struct peer){ .fd = -1, .passed = FDPASS_SLOT_INIT };
        for (;;) {
                struct pollfd pf[MAX_PEERS + 1] = { { .fd = lfd, .events = POLLIN } };
                for (int i = 0; i < MAX_PEERS; i++)
                        pf[i + 1] = (struct pollfd){ .fd = peers[i].fd, .events = POLLIN };
                if (poll(pf, MAX_PEERS + 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                if (pf[0].revents & POLLIN) {
                        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        int slot = -1;
                        for (int i = 0; i < MAX_PEERS && fd >= 0; i++)
                                if (peers[i].fd < 0) {
                                        slot = i;
                                        break;
                                }
                        if (slot < 0) {
                                if (fd >= 0)
                                        close(fd);
                        } else {
                                peers[slot].fd = fd;
                                peers[slot].len = 0;
                                send_line(fd, json_pack("{s:s}", "event", "booted"));
                                if (agent)
                                        send_line(fd, json_pack("{s:s}", "event", "agent-ready"));
                        }
                }
                for (int i = 0; i < MAX_PEERS; i++) {
                        struct peer *p = &peers[i];
                        if (p->fd < 0 || !(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        if (peer_read(peers, &cl, p)) {
                                unlink(control);
                                free(peers);
                                return 0;
                        }
                }
        }
}
