/* vdi-vm control socket client (hostd/vmctl.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "hostd/vmctl.h"

/* Longest line we accept from vdi-vm. */
#define VMCTL_MAX_LINE 65536

struct vmctl {
        int fd;
        int refs;
        bool dead;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        GString *buf;
        json_int_t next_id;
        json_int_t wait_id; /* id of the request in flight, 0 if none */
        json_t *reply;
};

int vmctl_connect(const char *path, struct vmctl **out)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        *out = vmctl_from_fd(fd);
        return 0;
}

struct vmctl *vmctl_from_fd(int fd)
{
        struct vmctl *c = g_new0(struct vmctl, 1);

        c->fd = fd;
        c->refs = 1;
        c->buf = g_string_new(NULL);
        pthread_mutex_init(&c->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cond, &ca);
        pthread_condattr_destroy(&ca);
        return c;
}

struct vmctl *vmctl_ref(struct vmctl *c)
{
        pthread_mutex_lock(&c->lock);
        c->refs++;
        pthread_mutex_unlock(&c->lock);
        return c;
}

void vmctl_unref(struct vmctl *c)
{
        bool last;

        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        last = --c->refs == 0;
        pthread_mutex_unlock(&c->lock);
        if (!last)
                return;
        close(c->fd);
        g_string_free(c->buf, TRUE);
        json_decref(c->reply);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        g_free(c);
}

int vmctl_fd(const struct vmctl *c)
{
        return c->fd;
}

void vmctl_shutdown(struct vmctl *c)
{
        pthread_mutex_lock(&c->lock);
        c->dead = true;
        shutdown(c->fd, SHUT_RDWR);
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

static void handle_line(struct vmctl *c, const char *line, size_t len, GPtrArray *events)
{
        json_t *v = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
        json_t *id;

        if (!json_is_object(v)) {
                json_decref(v);
                return; /* not ours to interpret */
        }
        id = json_object_get(v, "id");
        if (json_is_integer(id)) {
                pthread_mutex_lock(&c->lock);
                if (c->wait_id && json_integer_value(id) == c->wait_id && !c->reply) {
                        c->reply = v;
                        v = NULL;
                        pthread_cond_broadcast(&c->cond);
                }
                pthread_mutex_unlock(&c->lock);
                json_decref(v); /* a late reply to a request that gave up */
                return;
        }
        if (json_is_string(json_object_get(v, "event"))) {
                g_ptr_array_add(events, v);
                return;
        }
        json_decref(v);
}

int vmctl_read(struct vmctl *c, GPtrArray *events)
{
        char chunk[4096];
        ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        char *nl;

        if (n == 0)
                return -EPIPE;
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -EPIPE;
        g_string_append_len(c->buf, chunk, n);
        while ((nl = memchr(c->buf->str, '\n', c->buf->len))) {
                size_t len = (size_t)(nl - c->buf->str);
                handle_line(c, c->buf->str, len, events);
                g_string_erase(c->buf, 0, (gssize)len + 1);
        }
        if (c->buf->len > VMCTL_MAX_LINE)
                return -EPROTO;
        return 0;
}

int vmctl_request(struct vmctl *c, json_t *cmd, unsigned timeout_ms, json_t **reply,
                  char **error)
{
        return vmctl_request_fd(c, cmd, -1, timeout_ms, reply, error);
}

int vmctl_request_fd(struct vmctl *c, json_t *cmd, int fd, unsigned timeout_ms, json_t **reply,
                     char **error)
{
        struct timespec dl;
        char *text;
        size_t len;
        json_t *r;
        int ret = 0;

        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
        }

        pthread_mutex_lock(&c->lock);
        while (c->wait_id && !c->dead)
                if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT)
                        break;
        if (c->dead || c->wait_id) {
                ret = c->dead ? -EPIPE : -ETIMEDOUT;
                pthread_mutex_unlock(&c->lock);
                goto out;
        }
        c->wait_id = ++c->next_id;
        json_object_set_new(cmd, "id", json_integer(c->wait_id));
        text = json_dumps(cmd, JSON_COMPACT);
        len = text ? strlen(text) : 0;
        if (text) {
                text[len] = '\n'; /* the terminating NUL goes out as the newline */
                /* One sendmsg carries the line and fd (lib/fdpass.h). */
                if (fdpass_send(c->fd, text, len + 1, fd) < 0)
                        ret = -EPIPE;
        }
        if (text) {
                explicit_bzero(text, len + 1);
                free(text);
        } else {
                ret = -ENOMEM;
        }
        while (ret == 0 && !c->reply && !c->dead)
                if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT)
                        break;
        r = c->reply;
        c->reply = NULL;
        c->wait_id = 0;
        pthread_cond_broadcast(&c->cond);
        if (ret == 0 && !r)
                ret = c->dead ? -EPIPE : -ETIMEDOUT;
        pthread_mutex_unlock(&c->lock);
        if (r && !json_is_true(json_object_get(r, "ok"))) {
                const char *msg = json_string_value(json_object_get(r, "error"));
                *error = g_strdup(msg ? msg : "vdi-vm refused the command");
                json_decref(r);
                ret = -EIO;
        } else if (r) {
                *reply = r;
        }
out:
        /* Wipe secrets (set-ticket passwords) from the request. */
        {
                json_t *pw = json_object_get(cmd, "password");
                if (json_is_string(pw)) {
                        char *s = (char *)json_string_value(pw);
                        explicit_bzero(s, strlen(s));
                }
        }
        if (ret < 0 && ret != -EIO && !*error)
                *error = g_strdup(ret == -ETIMEDOUT ? "vdi-vm did not answer in time"
                                                    : "vdi-vm control connection closed");
        return ret;
}
