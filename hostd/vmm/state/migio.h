/* The migration stream (migstream.h) on a connected socket. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "err.h"
#include "migstream.h"

/* Send every byte of iov (changed on the way); 0 or -errno. No SIGPIPE. */
int mig_send_iov(int fd, struct iovec *iov, int n);
/* One frame of type whose payload is a then b (either may be empty). */
int mig_send_frame(int fd, enum mig_type type, const void *a, size_t alen, const void *b, size_t blen);
/* Exactly n bytes, waiting at most timeout_s for each part: 0, -ETIMEDOUT,
 * -ENODATA (the peer closed first) or -errno. */
int mig_recv_all(int fd, void *p, size_t n, unsigned timeout_s);
/* One whole checked frame (header, length bound for its type, payload
 * CRC); *payload is malloc'd, NULL when empty. 0 or -errno with err. */
int mig_recv_frame(int fd, unsigned timeout_s, struct mig_frame *f, uint8_t **payload, struct vm_err *err);
/* Words for an error of the functions above. */
const char *mig_io_strerror(int r);
/* After a last frame: close our direction and read what the peer still
 * sends until it closes (at most timeout_s per read), so that the frame
 * reaches it instead of a reset for unread data. */
void mig_linger(int fd, unsigned timeout_s);
