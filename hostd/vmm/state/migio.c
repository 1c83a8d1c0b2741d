/* The migration stream on a socket: whole frames out and in. */
#include "config.h"

#include "migio.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "alloc.h"
#include "state.h"

int mig_send_iov(int fd, struct iovec *iov, int n)
{
        while (n > 0) {
                struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
                ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return -ETIMEDOUT; /* SO_SNDTIMEO: the peer stopped reading */
                if (w < 0)
                        return -errno;
                while (n > 0 && (size_t)w >= iov->iov_len) {
                        w -= (ssize_t)iov->iov_len;
                        iov++;
                        n--;
                }
                if (n > 0) {
                        iov->iov_base = (uint8_t *)iov->iov_base + w;
                        iov->iov_len -= (size_t)w;
                }
        }
        return 0;
}

/* One frame: header, then the payload in two parts (either may be empty). */
int mig_send_frame(int fd, enum mig_type type, const void *a, size_t alen, const void *b, size_t blen)
{
        uint8_t h[MIG_FRAME_HEADER_SIZE];
        uint32_t crc = state_crc(state_crc(0, a, alen), b, blen);
        struct iovec iov[3] = {
                { h, sizeof(h) }, { (void *)a, alen }, { (void *)b, blen },
        };

        mig_frame_build(h, type, (uint32_t)(alen + blen), crc);
        return mig_send_iov(fd, iov, 3);
}

/* Read exactly n bytes, waiting at most timeout_s for each part. */
int mig_recv_all(int fd, void *p, size_t n, unsigned timeout_s)
{
        uint8_t *b = p;

        while (n) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int pr = poll(&pfd, 1, (int)timeout_s * 1000);
                ssize_t r;
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr == 0)
                        return -ETIMEDOUT;
                r = recv(fd, b, n, 0);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ENODATA; /* the peer closed: cut short */
                b += r;
                n -= (size_t)r;
        }
        return 0;
}

/* A whole checked frame; *payload is malloc'd (NULL when empty). */
int mig_recv_frame(int fd, unsigned timeout_s, struct mig_frame *f, uint8_t **payload, struct vm_err *err)
{
        uint8_t h[MIG_FRAME_HEADER_SIZE];
        _cleanup_free_ uint8_t *p = NULL;
        int r = mig_recv_all(fd, h, sizeof(h), timeout_s);

        if (r < 0)
                return vm_err_set(err, r, "migration stream cut short: %s", mig_io_strerror(r));
        r = mig_frame_parse(h, f, err);
        if (r < 0)
                return r;
        if (f->len) {
                p = malloc(f->len);
                if (!p)
                        return vm_err_set(err, -ENOMEM, "out of memory");
                r = mig_recv_all(fd, p, f->len, timeout_s);
                if (r < 0)
                        return vm_err_set(err, r, "migration stream cut short in a frame: %s",
                                          mig_io_strerror(r));
        }
        r = mig_payload_check(f, p, err);
        if (r < 0)
                return r;
        *payload = TAKE_PTR(p);
        return 0;
}

const char *mig_io_strerror(int r)
{
        if (r == -ENODATA)
                return "the connection closed";
        if (r == -ETIMEDOUT)
                return "the peer went silent (timed out)";
        return strerror(-r);
}

void mig_linger(int fd, unsigned timeout_s)
{
        uint8_t buf[4096];

        shutdown(fd, SHUT_WR);
        while (mig_recv_all(fd, buf, sizeof(buf), timeout_s) == 0)
                ;
}
