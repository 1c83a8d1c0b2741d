/* File descriptors passed with lines over unix sockets (lib/fdpass.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdpass.h"

int fdpass_send(int sock, const void *buf, size_t len, int fd)
{
        union {
                struct cmsghdr h;
                char space[CMSG_SPACE(sizeof(int))];
        } ctl;
        const char *p = buf;
        size_t off = 0;

        while (off < len) {
                struct iovec iov = { .iov_base = (void *)(p + off), .iov_len = len - off };
                struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n;

                if (off == 0 && fd >= 0) {
                        memset(&ctl, 0, sizeof(ctl));
                        m.msg_control = ctl.space;
                        m.msg_controllen = sizeof(ctl.space);
                        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(c), &fd, sizeof(int));
                }
                n = sendmsg(sock, &m, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == ECONNRESET ? -EPIPE : -errno;
                off += (size_t)n;
        }
        return 0;
}

/* Room for a few: a hostile sender's extra descriptors are received (and
 * closed) rather than left to be dropped by the kernel unseen. */
#define FDPASS_CMSG_FDS 8

ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds, size_t max, size_t *n_fds, bool *truncated)
{
        union {
                struct cmsghdr h;
                char space[CMSG_SPACE(sizeof(int) * FDPASS_CMSG_FDS)];
        } ctl;
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                            .msg_controllen = sizeof(ctl.space) };
        ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        *n_fds = 0;
        *truncated = false;
        if (n < 0)
                return -errno;
        *truncated = (m.msg_flags & MSG_CTRUNC) != 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (*n_fds < max) {
                                fds[(*n_fds)++] = fd;
                        } else {
                                close(fd);
                                *truncated = true;
                        }
                }
        }
        return n;
}

void fdpass_slot_add(struct fdpass_slot *s, const int *fds, size_t n, bool truncated)
{
        for (size_t i = 0; i < n; i++) {
                if (s->fd < 0 && !s->excess) {
                        s->fd = fds[i];
                        continue;
                }
                close(fds[i]);
                s->excess = true;
        }
        if (truncated)
                s->excess = true;
        if (s->excess && s->fd >= 0) {
                close(s->fd);
                s->fd = -1;
        }
}

void fdpass_slot_clear(struct fdpass_slot *s)
{
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        s->excess = false;
}

int fdpass_slot_check(const struct fdpass_slot *s, const char *cmd, const char *const *fd_cmds, char *msg,
                      size_t n)
{
        size_t i;

        if (s->excess) {
                snprintf(msg, n, "\"%s\": more than one file descriptor came with it (at most one "
                         "per command; all were closed)", cmd);
                return -EINVAL;
        }
        if (s->fd < 0)
                return 0;
        for (i = 0; fd_cmds[i]; i++)
                if (strcmp(cmd, fd_cmds[i]) == 0)
                        return 0;
        size_t len = (size_t)snprintf(msg, n, "\"%s\" takes no file descriptor (only ", cmd);
        for (i = 0; fd_cmds[i] && len < n; i++)
                len += (size_t)snprintf(msg + len, n - len, "%s%s", i ? " and " : "", fd_cmds[i]);
        if (len < n)
                snprintf(msg + len, n - len, " %s; it was closed)", i > 1 ? "do" : "does");
        return -EINVAL;
}

int fdpass_check_file(int fd, char *err, size_t errlen)
{
        struct stat st;
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0 || fstat(fd, &st) < 0) {
                int r = -errno;
                snprintf(err, errlen, "%s", strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "it is not a regular file or memfd");
                return -EINVAL;
        }
        if ((fl & O_PATH) || (fl & O_ACCMODE) == O_RDONLY) {
                snprintf(err, errlen, "it is not open for writing");
                return -EBADF;
        }
        return 0;
}
