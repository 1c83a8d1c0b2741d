/* Client of one vdi-vm control socket: line-delimited JSON (DESIGN.md §4).
 *   request  {"id":N,"cmd":"status"|"stop"|"reset"|"set-ticket"|...}
 *   reply    {"id":N,"ok":true,...} or {"id":N,"ok":false,"error":"..."}
 *   event    {"event":"booted"|"powered_off"|"reset"|"crashed",...} (no id)
 *
 * One connection per VM. The monitor thread owns reading (vmctl_read);
 * any thread may send a request (vmctl_request), which waits for the reply
 * the monitor routes to it. The object is reference-counted so a request
 * in flight never writes to a descriptor that was closed and reused.
 * Lines from vdi-vm are untrusted (it runs unprivileged, next to a guest):
 * they are bounded and parsed as data only. */
#pragma once

#include <jansson.h>
#include <glib.h>

struct vmctl;

/* Connect to the socket at path. 0 or -errno. */
int vmctl_connect(const char *path, struct vmctl **out);
/* Wrap a connected stream socket (ownership moves in). */
struct vmctl *vmctl_from_fd(int fd);
struct vmctl *vmctl_ref(struct vmctl *c);
void vmctl_unref(struct vmctl *c);
int vmctl_fd(const struct vmctl *c);

/* Mark dead (wakes waiting requests with -EPIPE); the fd closes with the
 * last reference. */
void vmctl_shutdown(struct vmctl *c);

/* Read what is available; event objects are appended to events (new
 * references). Replies go to the waiting request. 0, or -EPIPE at EOF,
 * -EPROTO for a line over the limit. */
int vmctl_read(struct vmctl *c, GPtrArray *events);

/* Send cmd (an object without "id"; one is added) and wait up to
 * timeout_ms for its reply. 0 with *reply (caller decrefs) when ok is
 * true; -EIO with *error carrying the VM's error text when false;
 * -ETIMEDOUT, -EPIPE otherwise. cmd may hold a secret: it is wiped. */
int vmctl_request(struct vmctl *c, json_t *cmd, unsigned timeout_ms, json_t **reply,
                  char **error);
/* The same with fd passed along (SCM_RIGHTS, in the sendmsg that carries
 * the line; vdi-vm gets its own copy). fd < 0 sends none. */
int vmctl_request_fd(struct vmctl *c, json_t *cmd, int fd, unsigned timeout_ms, json_t **reply,
                     char **error);
