/* A file descriptor passed with a line over a unix stream socket
 * (SCM_RIGHTS, unix(7)): vdi-hostd hands vdi-vm a file to write a
 * screenshot into, so vdi-vm needs no path it could not open (a jailed or
 * unprivileged VM process; DESIGN.md §4).
 *
 * The kernel attaches passed descriptors to the first byte of the
 * sendmsg that carried them, and a recvmsg that returns them returns no
 * bytes sent after that sendmsg. So a sender that puts one whole line and
 * its descriptor in one sendmsg lets the reader attach what a read brought
 * to the line that holds the last byte of that read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Send len bytes of buf on sock, fd (>= 0) riding with the first byte.
 * Blocks until all is sent. 0 or -errno (-EPIPE when the peer is gone). */
int fdpass_send(int sock, const void *buf, size_t len, int fd);

/* The descriptors waiting for the line being read: at most one is kept. */
struct fdpass_slot {
        int fd;      /* -1 when none */
        bool excess; /* more than one came for this line (all closed) */
};

#define FDPASS_SLOT_INIT { .fd = -1, .excess = false }

/* recv() into buf (non-blocking), also taking the descriptors that came
 * with the bytes (close-on-exec). Bytes read, 0 at EOF, or -errno. The
 * descriptors are returned in fds, their number in n_fds (at most max; any more, and any
 * the kernel had to drop for want of room, set *truncated and are closed). */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds, size_t max, size_t *n_fds, bool *truncated);

/* Give slot the n descriptors (and truncated) that came for its line:
 * a second one, or a truncated batch, closes them all and marks excess. */
void fdpass_slot_add(struct fdpass_slot *s, const int *fds, size_t n, bool truncated);

/* May what slot holds come with command cmd, when only the commands in
 * fd_cmds (NULL-terminated) take a descriptor (one at most)? 0, or -EINVAL
 * with the refusal, as the control socket answers it, in msg. */
int fdpass_slot_check(const struct fdpass_slot *s, const char *cmd, const char *const *fd_cmds, char *msg,
                      size_t n);

/* Is fd a regular file (a memfd is one) open for writing, fit to be
 * written into? 0, or -errno with the reason in err. */
int fdpass_check_file(int fd, char *err, size_t errlen);

/* Close what slot holds and clear it. */
void fdpass_slot_clear(struct fdpass_slot *s);
