#include "config.h"

#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"
#include "fdpass.h"
#include "macro.h"
#include "jail.h"

#define TICKET_FIELD_MAX 256
#define EXPIRY_MAX (24 * 3600)
#define WHEEL_MAX 1000

struct client {
        int fd;
        char *buf;        /* CONTROL_MAX_LINE + 1 */
        size_t len;
        bool skipping;    /* discarding the rest of an oversize line */
        struct fdpass_slot passed; /* what came for the line being read */
};

struct control {
        const struct control_handler *h;
        void *opaque;
        char *path;
        int listen_fd, wake_fd;
        int notify_fd;           /* control_event_later: an event to send */
        bool agent_ready_later;  /* (lock) the one such event so far */
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock; /* clients[].fd for writers, booted */
        bool booted, agent_ready; /* repeated to clients that connect later */
        struct client clients[CONTROL_MAX_CLIENTS];
};

/* One line to one client, never blocking (events come from the VM's own
 * threads): a client whose socket buffer is full is not reading, and is
 * dropped. */
static void send_line(struct control *c, int fd, json_t *msg)
{
        char *text = json_dumps(msg, JSON_COMPACT);
        size_t len, done = 0;

        if (!text)
                return;
        len = strlen(text);
        text[len] = '\n'; /* replaces the NUL; length tracked separately */
        while (done < len + 1) {
                ssize_t n = send(fd, text + done, len + 1 - done, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        shutdown(fd, SHUT_RDWR); /* the poll loop closes it */
                        break;
                }
                done += (size_t)n;
        }
        free(text);
}

/* {"id":…} first, then the members of msg (which is consumed). */
static void reply(struct control *c, int fd, json_t *id, json_t *msg)
{
        json_t *out = json_object();

        if (out && msg) {
                json_object_set(out, "id", id ? id : json_null());
                json_object_update(out, msg);
                pthread_mutex_lock(&c->lock);
                send_line(c, fd, out);
                pthread_mutex_unlock(&c->lock);
        }
        json_decref(out);
        json_decref(msg);
}

static void reply_error(struct control *c, int fd, json_t *id, const char *fmt, ...) _printf_(4, 5);
static void reply_error(struct control *c, int fd, json_t *id, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        reply(c, fd, id, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

static void reply_ok(struct control *c, int fd, json_t *id)
{
        reply(c, fd, id, json_pack("{s:b}", "ok", 1));
}

/* Integer member name of req within [min, max]. */
static bool get_int(json_t *req, const char *name, json_int_t min, json_int_t max, json_int_t *out)
{
        json_t *v = json_object_get(req, name);

        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return false;
        *out = json_integer_value(v);
        return true;
}

static const char *get_str(json_t *req, const char *name, size_t max)
{
        json_t *v = json_object_get(req, name);

        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
            strlen(json_string_value(v)) != json_string_length(v))
                return NULL;
        return json_string_value(v);
}

/* {"cmd":"migrate","to":"unix:/path"[,"downtime_ms":N]}: blocks this
 * thread until the target has the VM or the guest runs on here. */
static void handle_migrate(struct control *c, int fd, json_t *id, json_t *req)
{
        const char *to = get_str(req, "to", 4096);
        struct control_migrate m = { 0 };
        json_int_t downtime = 300;
        char err[512];

        if (!to)
                reply_error(c, fd, id, "migrate needs \"to\" (unix:/path/of/the/target's/socket)");
        else if (json_object_get(req, "downtime_ms") && !get_int(req, "downtime_ms", 1, 60000, &downtime))
                reply_error(c, fd, id, "migrate: \"downtime_ms\" must be between 1 and 60000");
        else if (c->h->migrate(c->opaque, to, (double)downtime, &m, err, sizeof(err)) < 0)
                reply_error(c, fd, id, "migrate to %s failed (the VM runs on here): %s", to, err);
        else
                reply(c, fd, id, json_pack("{s:b, s:i, s:I, s:I, s:I, s:I, s:f, s:f, s:f}", "ok", 1, "rounds",
                                           (int)m.rounds, "pages", (json_int_t)m.pages, "zero_pages",
                                           (json_int_t)m.zero_pages, "final_pages", (json_int_t)m.final_pages,
                                           "bytes", (json_int_t)m.bytes, "rate_mib_s", m.rate_mib_s, "total_ms",
                                           m.total_ms, "paused_ms", m.paused_ms));
}

/* Write a screenshot into out (the socket's checks, then the handler's);
 * 0, or -errno with err. */
static int shoot(struct control *c, int out, char *err, size_t n)
{
        int r = fdpass_check_file(out, err, n);

        return r < 0 ? r : c->h->screenshot(c->opaque, out, err, n);
}

/* {"cmd":"screenshot"} with a passed descriptor (hostd's form: a jailed
 * or unprivileged vdi-vm may open no path of hostd's), or with "path"
 * (tests and the CLI). The PPM is written at the descriptor's offset. The
 * descriptor is closed before the answer goes out: a client that has the
 * answer knows vdi-vm holds it no more. */
static void handle_screenshot(struct control *c, int fd, json_t *id, json_t *req, struct fdpass_slot *passed)
{
        const char *path = get_str(req, "path", 4096);
        int given = passed->fd, out, r;
        char err[256] = "";

        passed->fd = -1; /* ours now */
        if (given >= 0 && json_object_get(req, "path")) {
                close(given);
                reply_error(c, fd, id, "screenshot takes a \"path\" or a passed file descriptor, not both");
        } else if (given >= 0) {
                r = shoot(c, given, err, sizeof(err));
                close(given);
                if (r < 0)
                        reply_error(c, fd, id, "screenshot to the passed file descriptor failed: %s", err);
                else
                        reply_ok(c, fd, id);
        } else if (!path || path[0] != '/') {
                reply_error(c, fd, id, "screenshot needs an absolute \"path\" or a file descriptor passed with the request (SCM_RIGHTS)");
        } else if ((out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0666)) < 0) {
                reply_error(c, fd, id, "screenshot to %s failed: %s", path, strerror(errno));
        } else {
                r = shoot(c, out, err, sizeof(err));
                close(out);
                if (r < 0)
                        reply_error(c, fd, id, "screenshot to %s failed: %s", path, err);
                else
                        reply_ok(c, fd, id);
        }
}

/* The command of a parsed request line, checked with what came with it;
 * NULL with the reason in msg when it is refused. *id is the request's
 * id once known (NULL before). */
static const char *request_cmd(json_t *req, const json_error_t *jerr, const struct fdpass_slot *passed,
                               json_t **id, char *msg, size_t n)
{
        json_t *v = json_object_get(req, "id");
        const char *cmd;

        *id = NULL;
        if (!req) {
                snprintf(msg, n, "malformed JSON: %s (line %d, column %d)", jerr->text, jerr->line, jerr->column);
                return NULL;
        }
        if (!json_is_object(req) || (v && !json_is_integer(v))) {
                snprintf(msg, n, "%s", json_is_object(req) ? "\"id\" must be an integer" : "request must be a JSON object");
                return NULL;
        }
        *id = v;
        cmd = get_str(req, "cmd", 64);
        if (!cmd)
                snprintf(msg, n, "missing \"cmd\" (status, stop, reset, key, pointer, wheel, screenshot, disconnect, set-ticket, snapshot, suspend)");
        else if (fdpass_slot_check(passed, cmd, (const char *const[]){ "screenshot", "suspend", NULL }, msg, n) == 0)
                return cmd;
        return NULL;
}

/* Where a snapshot or suspend goes: "dir", an absolute path, or (a jailed
 * vdi-vm that cannot reach its VM's directory by path) a directory passed
 * with the request plus "name", a new entry in it, reached through
 * /proc/self/fd. NULL with msg when neither fits. */
static const char *state_target(json_t *req, int given, const char *cmd, char *buf, size_t size, char *msg,
                                size_t n)
{
        const char *dir = get_str(req, "dir", 4096), *name = get_str(req, "name", 255);
        struct stat st;

        if (given < 0) {
                if (dir && dir[0] == '/' && !name)
                        return dir;
                snprintf(msg, n, "%s needs an absolute \"dir\" (a directory that does not exist yet), or a "
                         "directory passed with the request and a \"name\" for the new entry in it", cmd);
        } else if (dir || !name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
                snprintf(msg, n, "%s with a passed directory needs a \"name\" (a new entry in it: no \"/\", "
                         "not . or ..) and no \"dir\"", cmd);
        } else if (fstat(given, &st) < 0 || !S_ISDIR(st.st_mode)) {
                snprintf(msg, n, "%s: the passed file descriptor is not a directory", cmd);
        } else {
                snprintf(buf, size, "/proc/self/fd/%d/%s", given, name);
                return buf;
        }
        return NULL;
}

/* "snapshot" and "suspend": the same request and answer. */
static void handle_snapshot(struct control *c, int fd, json_t *id, json_t *req, struct fdpass_slot *passed,
                            int (*take)(void *, const char *, struct control_snapshot *, char *, size_t),
                            const char *cmd)
{
        struct control_snapshot snap = { 0 };
        char err[512], msg[512], buf[300];
        const char *dir = state_target(req, passed->fd, cmd, buf, sizeof(buf), msg, sizeof(msg));

        if (!dir)
                reply_error(c, fd, id, "%s", msg);
        else if (take(c->opaque, dir, &snap, err, sizeof(err)) < 0)
                reply_error(c, fd, id, "%s to %s failed: %s", cmd, dir, err);
        else
                reply(c, fd, id, json_pack("{s:b, s:f, s:I, s:I}", "ok", 1, "paused_ms", snap.paused_ms, "ram_pages",
                                           (json_int_t)snap.ram_pages, "state_bytes", (json_int_t)snap.state_bytes));
}

/* One request line; passed is what came with it (always emptied). */
static void handle(struct control *c, int fd, const char *line, size_t len, struct fdpass_slot *passed)
{
        json_error_t jerr;
        json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *id;
        const struct control_handler *h = c->h;
        char err[256] = "", msg[512];
        const char *cmd = request_cmd(req, &jerr, passed, &id, msg, sizeof(msg));
        json_int_t a, b, d;

        if (!cmd) {
                fdpass_slot_clear(passed); /* closed before the answer, as below */
                reply_error(c, fd, id, "%s", msg);
                goto out;
        }

        if (strcmp(cmd, "status") == 0) {
                struct control_status st = { "running", 0, 0 };
                h->status(c->opaque, &st);
                reply(c, fd, id, json_pack("{s:b, s:s, s:I, s:I, s:I}", "ok", 1, "state", st.state, "cpus",
                                           (json_int_t)st.cpus, "memory_mb", (json_int_t)st.memory_mb, "pid",
                                           (json_int_t)getpid()));
        } else if (strcmp(cmd, "stop") == 0) {
                reply_ok(c, fd, id);
                h->stop(c->opaque);
        } else if (strcmp(cmd, "reset") == 0) {
                if (h->reset(c->opaque, err, sizeof(err)) < 0)
                        reply_error(c, fd, id, "reset failed: %s", err);
                else
                        reply_ok(c, fd, id);
        } else if (strcmp(cmd, "key") == 0) {
                json_t *p = json_object_get(req, "pressed");
                if (!get_int(req, "code", 1, 0x2ff, &a) || !json_is_boolean(p)) {
                        reply_error(c, fd, id, "key needs \"code\" (evdev key code 1..767) and \"pressed\" (true/false)");
                } else {
                        h->key(c->opaque, (uint16_t)a, json_is_true(p));
                        reply_ok(c, fd, id);
                }
        } else if (strcmp(cmd, "pointer") == 0) {
                if (!get_int(req, "x", 0, 32767, &a) || !get_int(req, "y", 0, 32767, &b) ||
                    !get_int(req, "buttons", 0, 7, &d)) {
                        reply_error(c, fd, id, "pointer needs \"x\" and \"y\" (0..32767) and \"buttons\" (0..7: 1 left, 2 middle, 4 right)");
                } else {
                        h->pointer(c->opaque, (uint32_t)a, (uint32_t)b, (uint32_t)d);
                        reply_ok(c, fd, id);
                }
        } else if (strcmp(cmd, "wheel") == 0) {
                if (!get_int(req, "delta", -WHEEL_MAX, WHEEL_MAX, &a) || a == 0) {
                        reply_error(c, fd, id, "wheel needs a non-zero \"delta\" between -%d and %d", WHEEL_MAX,
                                    WHEEL_MAX);
                } else {
                        h->wheel(c->opaque, (int32_t)a);
                        reply_ok(c, fd, id);
                }
        } else if (strcmp(cmd, "screenshot") == 0) {
                handle_screenshot(c, fd, id, req, passed);
        } else if (strcmp(cmd, "disconnect") == 0 && h->disconnect) {
                int n = h->disconnect(c->opaque, err, sizeof(err));
                if (n < 0)
                        reply_error(c, fd, id, "disconnect failed: %s", err);
                else
                        reply(c, fd, id, json_pack("{s:b, s:i}", "ok", 1, "sessions", n));
        } else if (strcmp(cmd, "set-ticket") == 0) {
                const char *proto = get_str(req, "protocol", 16);
                const char *user = get_str(req, "user", TICKET_FIELD_MAX);
                const char *pw = get_str(req, "password", TICKET_FIELD_MAX);
                if (!proto || (strcmp(proto, "spice") != 0 && strcmp(proto, "rdp") != 0 &&
                               strcmp(proto, "web") != 0))
                        reply_error(c, fd, id, "set-ticket needs \"protocol\": \"spice\", \"rdp\" or \"web\"");
                else if (!user || !pw)
                        reply_error(c, fd, id, "set-ticket needs non-empty \"user\" and \"password\" (at most %d bytes, no NUL)",
                                    TICKET_FIELD_MAX);
                else if (!get_int(req, "expiry_s", 1, EXPIRY_MAX, &a))
                        reply_error(c, fd, id, "set-ticket needs \"expiry_s\" between 1 and %d", EXPIRY_MAX);
                else if (h->set_ticket(c->opaque, proto, user, pw, (unsigned)a, err, sizeof(err)) < 0)
                        reply_error(c, fd, id, "set-ticket failed: %s", err);
                else
                        reply_ok(c, fd, id);
        } else if ((strcmp(cmd, "snapshot") == 0 && h->snapshot) || (strcmp(cmd, "suspend") == 0 && h->suspend)) {
                handle_snapshot(c, fd, id, req, passed, strcmp(cmd, "suspend") == 0 ? h->suspend : h->snapshot, cmd);
        } else if (strcmp(cmd, "migrate") == 0 && h->migrate) {
                handle_migrate(c, fd, id, req);
#ifdef VDI_TEST_COMMANDS
        } else if (strcmp(cmd, "jail-trip") == 0) {
                /* test builds only: seccomp kills vdi-vm here */
                const char *call = jail_debug_trip();
                reply_error(c, fd, id, "jail-trip: %s was let through (is seccomp off?)", call);
#endif
        } else if (strcmp(cmd, "damage") == 0 && h->damage) {
                struct display_rect rects[64];
                json_t *arr = json_array();
                int n = h->damage(c->opaque, rects, 64);
                if (n < 0) {
                        reply_error(c, fd, id, "no damage: %s", strerror(-n));
                        json_decref(arr);
                } else {
                        for (int i = 0; i < n; i++)
                                json_array_append_new(arr, json_pack("[I,I,I,I]", (json_int_t)rects[i].x,
                                                                     (json_int_t)rects[i].y, (json_int_t)rects[i].w,
                                                                     (json_int_t)rects[i].h));
                        reply(c, fd, id, json_pack("{s:b, s:o}", "ok", 1, "rects", arr));
                }
        } else {
                reply_error(c, fd, id,
                            "unknown command \"%s\" (use status, stop, reset, key, pointer, wheel, screenshot, disconnect, set-ticket, snapshot or suspend)",
                            cmd);
        }
out:
        fdpass_slot_clear(passed);
        json_decref(req);
}

static void client_close(struct control *c, struct client *cl)
{
        fdpass_slot_clear(&cl->passed); /* before the peer can see the hang-up */
        pthread_mutex_lock(&c->lock);
        close(cl->fd);
        cl->fd = -1;
        pthread_mutex_unlock(&c->lock);
        cl->len = 0;
        cl->skipping = false;
}

/* The end of one line (not empty unless what came with it is to be
 * refused): handle it, or drop it when it was oversize. */
static void client_line(struct control *c, struct client *cl, size_t start, size_t end)
{
        if (cl->skipping) {
                cl->skipping = false;
                fdpass_slot_clear(&cl->passed);
        } else if (end > start) {
                handle(c, cl->fd, cl->buf + start, end - start, &cl->passed);
        } else if (cl->passed.fd >= 0 || cl->passed.excess) {
                fdpass_slot_clear(&cl->passed);
                reply_error(c, cl->fd, NULL, "a file descriptor came without a command (it was closed)");
        }
}

/* Read what is there and handle each complete line. A descriptor that
 * came with the read belongs to the line holding its last byte
 * (lib/fdpass.h): the whole request when the sender put it in one
 * sendmsg, as vdi-hostd does. */
static void client_read(struct control *c, struct client *cl)
{
        int fds[1];
        size_t nfds, start = 0;
        bool extra;
        ssize_t n = fdpass_recv(cl->fd, cl->buf + cl->len, CONTROL_MAX_LINE + 1 - cl->len, fds, 1, &nfds, &extra);

        if (n == -EINTR || n == -EAGAIN)
                return;
        if (n <= 0) {
                client_close(c, cl);
                return;
        }
        cl->len += (size_t)n;
        for (size_t i = 0; i < cl->len; i++) {
                if (cl->buf[i] != '\n')
                        continue;
                if (i == cl->len - 1 && (nfds || extra)) {
                        fdpass_slot_add(&cl->passed, fds, nfds, extra);
                        nfds = 0;
                        extra = false;
                }
                client_line(c, cl, start, i);
                start = i + 1;
        }
        fdpass_slot_add(&cl->passed, fds, nfds, extra); /* the line still being read */
        memmove(cl->buf, cl->buf + start, cl->len - start);
        cl->len -= start;
        if (cl->len > CONTROL_MAX_LINE) {
                if (!cl->skipping)
                        reply_error(c, cl->fd, NULL, "request line longer than %d bytes", CONTROL_MAX_LINE);
                cl->skipping = true;
                cl->len = 0;
                fdpass_slot_clear(&cl->passed);
        }
}

static void client_accept(struct control *c)
{
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0)
                return;
        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
                if (c->clients[i].fd < 0) {
                        pthread_mutex_lock(&c->lock);
                        c->clients[i].fd = fd;
                        for (int k = 0; k < 2; k++) {
                                if (!(k ? c->agent_ready : c->booted))
                                        continue;
                                json_t *m = json_pack("{s:s}", "event", k ? "agent-ready" : "booted");
                                send_line(c, fd, m);
                                json_decref(m);
                        }
                        pthread_mutex_unlock(&c->lock);
                        c->clients[i].len = 0;
                        c->clients[i].skipping = false;
                        c->clients[i].passed = (struct fdpass_slot)FDPASS_SLOT_INIT;
                        return;
                }
        }
        {
                json_t *m = json_pack("{s:n, s:b, s:s}", "id", "ok", 0, "error", "too many control connections");
                send_line(c, fd, m);
                json_decref(m);
        }
        close(fd);
}

/* Start fn with every signal blocked: process-directed signals (SIGTERM,
 * SIGINT) must go to the thread the program chose for them, never here. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
        sigset_t all, old;
        int r;

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(t, NULL, fn, arg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -r;
}

static void *control_thread(void *arg)
{
        struct control *c = arg;

        jail_thread(JAIL_CONTROL);
        for (;;) {
                struct pollfd pfd[CONTROL_MAX_CLIENTS + 3];
                int idx[CONTROL_MAX_CLIENTS];
                unsigned n = 0;

                pfd[n++] = (struct pollfd){ .fd = c->wake_fd, .events = POLLIN };
                pfd[n++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
                pfd[n++] = (struct pollfd){ .fd = c->notify_fd, .events = POLLIN };
                for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
                        if (c->clients[i].fd < 0)
                                continue;
                        idx[n - 3] = (int)i;
                        pfd[n++] = (struct pollfd){ .fd = c->clients[i].fd, .events = POLLIN };
                }
                if (poll(pfd, n, -1) < 0)
                        continue;
                if (pfd[0].revents)
                        return NULL;
                if (pfd[1].revents & POLLIN)
                        client_accept(c);
                if (pfd[2].revents & POLLIN) {
                        uint64_t v;
                        bool agent_ready;
                        if (read(c->notify_fd, &v, sizeof(v)) < 0) {
                                /* counted again by the next write */
                        }
                        pthread_mutex_lock(&c->lock);
                        agent_ready = c->agent_ready_later;
                        c->agent_ready_later = false;
                        pthread_mutex_unlock(&c->lock);
                        if (agent_ready)
                                control_event(c, "agent-ready", NULL);
                }
                for (unsigned k = 3; k < n; k++)
                        if (pfd[k].revents)
                                client_read(c, &c->clients[idx[k - 3]]);
        }
}

int control_start(const char *path, const struct control_handler *h, void *opaque, struct control **out,
                  char **err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct control *c;
        struct stat st;
        mode_t old;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                if (asprintf(err, "control socket path %s is too long (at most %zu bytes)", path,
                             sizeof(sa.sun_path) - 1) < 0)
                        *err = NULL;
                return -ENAMETOOLONG;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->h = h;
        c->opaque = opaque;
        c->listen_fd = c->wake_fd = c->notify_fd = -1;
        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
                c->clients[i] = (struct client){ .fd = -1, .passed = FDPASS_SLOT_INIT };
        pthread_mutex_init(&c->lock, NULL);
        c->path = strdup(path);
        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
                if (!(c->clients[i].buf = malloc(CONTROL_MAX_LINE + 1)))
                        goto nomem;
        if (!c->path)
                goto nomem;
        strcpy(sa.sun_path, path);
        /* A socket left by an earlier vdi-vm is replaced; anything else is not. */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                unlink(path);
        c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        c->wake_fd = eventfd(0, EFD_CLOEXEC);
        c->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->listen_fd < 0 || c->wake_fd < 0 || c->notify_fd < 0)
                goto sys;
        old = umask(0077);
        r = bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0 || listen(c->listen_fd, 8) < 0)
                goto sys;
        r = -start_thread(&c->thread, control_thread, c);
        if (r) {
                errno = r;
                goto sys;
        }
        c->thread_started = true;
        *out = c;
        return 0;
sys:
        r = -errno;
        if (asprintf(err, "control socket %s: %s", path, strerror(-r)) < 0)
                *err = NULL;
        free(c->path);
        c->path = NULL; /* do not unlink what we may not have made */
        control_stop(c);
        return r;
nomem:
        control_stop(c);
        return -ENOMEM;
}

void control_event(struct control *c, const char *event, const char *reason)
{
        json_t *m;

        if (!c)
                return;
        m = reason ? json_pack("{s:s, s:s}", "event", event, "reason", reason) : json_pack("{s:s}", "event", event);
        if (!m)
                return;
        pthread_mutex_lock(&c->lock);
        if (strcmp(event, "booted") == 0)
                c->booted = true;
        if (strcmp(event, "agent-ready") == 0)
                c->agent_ready = true;
        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
                if (c->clients[i].fd >= 0)
                        send_line(c, c->clients[i].fd, m);
        pthread_mutex_unlock(&c->lock);
        json_decref(m);
}

void control_agent_ready_later(struct control *c)
{
        uint64_t one = 1;

        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->agent_ready_later = true;
        pthread_mutex_unlock(&c->lock);
        if (write(c->notify_fd, &one, sizeof(one)) < 0) {
                /* only at 2^64 - 1 pending: the thread has them anyway */
        }
}

void control_stop(struct control *c)
{
        uint64_t one = 1;

        if (!c)
                return;
        if (c->thread_started) {
                if (write(c->wake_fd, &one, sizeof(one)) < 0) {
                        /* a fresh eventfd does not fail */
                }
                pthread_join(c->thread, NULL);
        }
        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
                if (c->clients[i].fd >= 0)
                        close(c->clients[i].fd);
                fdpass_slot_clear(&c->clients[i].passed);
                free(c->clients[i].buf);
        }
        if (c->listen_fd >= 0)
                close(c->listen_fd);
        if (c->wake_fd >= 0)
                close(c->wake_fd);
        if (c->notify_fd >= 0)
                close(c->notify_fd);
        if (c->path)
                unlink(c->path);
        free(c->path);
        pthread_mutex_destroy(&c->lock);
        free(c);
}
