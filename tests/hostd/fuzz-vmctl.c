/* libFuzzer target: bytes from a hostile vdi-vm on the control socket,
 * through hostd/vmctl.c's reader (line splitting, JSON, reply routing,
 * the line-length bound). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostd/vmctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        GPtrArray *events = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
        struct vmctl *c;
        int sv[2];
        size_t off = 0;
        int r = 0;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return 0;
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        c = vmctl_from_fd(sv[0]);
        while (r == 0) {
                if (off < size) {
                        ssize_t n = write(sv[1], data + off, size - off);
                        if (n > 0)
                                off += (size_t)n;
                }
                if (off == size && sv[1] >= 0) {
                        close(sv[1]);
                        sv[1] = -1;
                }
                r = vmctl_read(c, events);
        }
        if (sv[1] >= 0)
                close(sv[1]);
        vmctl_shutdown(c);
        vmctl_unref(c);
        g_ptr_array_unref(events);
        return 0;
}
