/* Migration endpoints of vdi-vm (MIGRATION.md "Transport"). No TLS here:
 * unix sockets, or TCP on a trusted link. */
#pragma once

#include <stdbool.h>

#include "err.h"

/* Connect to unix:PATH or tcp:HOST:PORT. The socket, or -errno with err. */
int migrate_connect(const char *to, struct vm_err *err);

/* Listen on unix:PATH or tcp:HOST:PORT and accept one connection (the
 * listener is then closed), or take fd:N, an already connected socket.
 * The socket, or -errno with err. */
int migrate_accept(const char *addr, struct vm_err *err);
