/* A "hollow" vdi-vm for tests without /dev/kvm (kubemark's hollow node
 * idea): vdi-hostd starts and supervises it like the real one, and it
 * speaks vdi-vm's control socket (hostd/vmctl.h) but runs no guest.
 *
 *   hollow-vm --control SOCKET [any other vdi-vm option, ignored]
 *
 * It says "booted" to each control connection, answers every request
 * ok (status with "booted": true), and exits 0 after "stop". Each
 * set-ticket is appended to tickets.log in its working directory (the
 * VM's directory) as "PROTOCOL USER EXPIRY_S": the password never; each
 * reset is counted in resets.log. "screenshot" writes a real 640x480 P6
 * picture to the path asked for: a desktop-blue screen (30, 80, 160) with
 * an orange window (240, 140, 20) over its lower right quarter, so a
 * thumbnail can be checked by its pixels.
 *
 * A display client is played by the test: "hollow-connect" with protocol,
 * user and address makes it say "client-connected" to every control
 * connection as vdi-vm does when a client logs in; "disconnect" drops that
 * client ("client-disconnected", answer "sessions": 1) as vdi-vm's does. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PEERS 8
#define LINE_MAX_LEN 65536

struct peer {
        int fd;
        size_t len;
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

/* The hollow desktop's screen, as vdi-vm's screenshot writes it. */
static int write_screen(const char *path)
{
        enum { W = 640, H = 480 };
        static const unsigned char blue[3] = { 30, 80, 160 }, orange[3] = { 240, 140, 20 };
        FILE *f = path && path[0] == '/' ? fopen(path, "we") : NULL;

        if (!f)
                return -1;
        fprintf(f, "P6\n%d %d\n255\n", W, H);
        for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                        fwrite(x >= W / 2 && y >= H / 2 ? orange : blue, 1, 3, f);
        return fclose(f) == 0 ? 0 : -1;
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

/* One request line; true when the VM should exit. */
static bool handle(struct peer *peers, struct client *cl, int fd, const char *line)
{
        json_error_t jerr;
        json_t *req = json_loads(line, 0, &jerr), *reply;
        const char *cmd = json_string_value(json_object_get(req, "cmd"));
        json_t *id = json_object_get(req, "id");
        bool quit = false;

        if (!cmd || !id) {
                json_decref(req);
                return false;
        }
        reply = json_pack("{s:O, s:b}", "id", id, "ok", 1);
        if (!strcmp(cmd, "status")) {
                json_object_set_new(reply, "booted", json_true());
        } else if (!strcmp(cmd, "set-ticket")) {
                FILE *f = fopen("tickets.log", "a");
                if (f) {
                        fprintf(f, "%s %s %lld\n",
                                json_string_value(json_object_get(req, "protocol")),
                                json_string_value(json_object_get(req, "user")),
                                (long long)json_integer_value(json_object_get(req, "expiry_s")));
                        fclose(f);
                }
        } else if (!strcmp(cmd, "screenshot")) {
                if (write_screen(json_string_value(json_object_get(req, "path"))) < 0) {
                        json_decref(reply);
                        reply = json_pack("{s:O, s:b, s:s}", "id", id, "ok", 0, "error",
                                          "screenshot needs an absolute \"path\" it can write");
                }
        } else if (!strcmp(cmd, "hollow-connect") || !strcmp(cmd, "disconnect")) {
                client_cmd(peers, cl, cmd, req, reply);
        } else if (!strcmp(cmd, "reset")) {
                count_line("resets.log", "reset");
        } else if (!strcmp(cmd, "stop")) {
                quit = true;
        }
        send_line(fd, reply);
        if (quit)
                send_line(fd, json_pack("{s:s}", "event", "powered_off"));
        json_decref(req);
        return quit;
}

int main(int argc, char **argv)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct peer *peers;
        struct client cl = { 0 };
        const char *control = NULL;
        int lfd;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--help")) {
                        /* vdi-hostd reads what we understand from here. */
                        printf("Usage: hollow-vm --kernel K --control SOCKET --spice-port P "
                               "--rdp-port P\n");
                        return 0;
                }
                if (!strcmp(argv[i], "--control") && i + 1 < argc)
                        control = argv[++i];
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
        for (int i = 0; i < MAX_PEERS; i++)
                peers[i].fd = -1;
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
                        }
                }
                for (int i = 0; i < MAX_PEERS; i++) {
                        struct peer *p = &peers[i];
                        if (p->fd < 0 || !(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        ssize_t n = read(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
                        if (n <= 0) {
                                close(p->fd);
                                p->fd = -1;
                                continue;
                        }
                        p->len += (size_t)n;
                        p->buf[p->len] = 0;
                        char *nl;
                        while ((nl = strchr(p->buf, '\n'))) {
                                *nl = 0;
                                if (handle(peers, &cl, p->fd, p->buf)) {
                                        unlink(control);
                                        free(peers);
                                        return 0;
                                }
                                p->len -= (size_t)(nl + 1 - p->buf);
                                memmove(p->buf, nl + 1, p->len + 1);
                        }
                        if (p->len >= sizeof(p->buf) - 1) {
                                close(p->fd);
                                p->fd = -1;
                        }
                }
        }
}
