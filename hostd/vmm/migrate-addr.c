/* vdi-vm's migration endpoints: unix:PATH, tcp:HOST:PORT or fd:N. */
#include "config.h"

#include "migrate-addr.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"

static int unix_addr(const char *path, struct sockaddr_un *sa, struct vm_err *err)
{
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        if (!*path || strlen(path) >= sizeof(sa->sun_path))
                return vm_err_set(err, -EINVAL, "unix socket path \"%s\" is empty or too long", path);
        strcpy(sa->sun_path, path);
        return 0;
}

/* tcp:HOST:PORT split at the last colon ([v6] brackets dropped). */
static int tcp_lookup(const char *hp, bool passive, struct addrinfo **out, struct vm_err *err)
{
        const char *colon = strrchr(hp, ':');
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
        _cleanup_free_ char *host = NULL;
        int r;

        if (!colon || !colon[1])
                return vm_err_set(err, -EINVAL, "\"tcp:%s\" needs HOST:PORT", hp);
        host = strndup(hp, (size_t)(colon - hp));
        if (!host)
                return vm_err_set(err, -ENOMEM, "out of memory");
        if (host[0] == '[' && host[strlen(host) - 1] == ']') {
                memmove(host, host + 1, strlen(host) - 2);
                host[strlen(host) - 2] = '\0';
        }
        r = getaddrinfo(*host ? host : NULL, colon + 1, &hints, out);
        if (r != 0)
                return vm_err_set(err, -EINVAL, "tcp:%s: %s", hp, gai_strerror(r));
        return 0;
}

int migrate_connect(const char *to, struct vm_err *err)
{
        struct addrinfo *ai = NULL;
        int fd = -1, r;

        if (strncmp(to, "unix:", 5) == 0) {
                struct sockaddr_un sa;
                if ((r = unix_addr(to + 5, &sa, err)) < 0)
                        return r;
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        goto fail;
                return fd;
        }
        if (strncmp(to, "tcp:", 4) != 0)
                return vm_err_set(err, -EINVAL, "migration target \"%s\": use unix:PATH or tcp:HOST:PORT", to);
        if ((r = tcp_lookup(to + 4, false, &ai, err)) < 0)
                return r;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        r = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (r < 0)
                goto fail;
        return fd;
fail:
        r = vm_err_set(err, -errno, "cannot connect to %s: %m", to);
        if (fd >= 0)
                close(fd);
        return r;
}

static int listen_on(const char *addr, struct vm_err *err)
{
        struct addrinfo *ai = NULL;
        int fd, r, one = 1;

        if (strncmp(addr, "unix:", 5) == 0) {
                struct sockaddr_un sa;
                if ((r = unix_addr(addr + 5, &sa, err)) < 0)
                        return r;
                unlink(sa.sun_path);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
                        goto fail;
                return fd;
        }
        if (strncmp(addr, "tcp:", 4) != 0)
                return vm_err_set(err, -EINVAL, "--incoming \"%s\": use unix:PATH, tcp:HOST:PORT or fd:N", addr);
        if ((r = tcp_lookup(addr + 4, true, &ai, err)) < 0)
                return r;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        r = fd < 0 ? -1 : setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (r == 0)
                r = bind(fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (r < 0 || listen(fd, 1) < 0)
                goto fail;
        return fd;
fail:
        r = vm_err_set(err, -errno, "cannot listen on %s: %m", addr);
        if (fd >= 0)
                close(fd);
        return r;
}

int migrate_accept(const char *addr, struct vm_err *err)
{
        char *end;
        long n;
        int lfd, fd, r;

        if (strncmp(addr, "fd:", 3) == 0) {
                errno = 0;
                n = strtol(addr + 3, &end, 10);
                if (errno || *end || end == addr + 3 || n < 3 || n > 65535)
                        return vm_err_set(err, -EINVAL, "--incoming \"%s\": fd:N needs a descriptor number >= 3",
                                          addr);
                return (int)n;
        }
        lfd = listen_on(addr, err);
        if (lfd < 0)
                return lfd;
        do
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        while (fd < 0 && errno == EINTR);
        r = fd < 0 ? vm_err_set(err, -errno, "--incoming %s: accept: %m", addr) : fd;
        close(lfd);
        if (strncmp(addr, "unix:", 5) == 0)
                unlink(addr + 5);
        return r;
}
