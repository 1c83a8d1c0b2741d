/* Shared between pools/loop.c, snapshot.c and execute.c. */
#pragma once

#include <libpq-fe.h>

#include "pools/loop.h"

/* A snapshot and the memory behind its strings. */
struct snapshot_buf {
        struct pool_snapshot snap;
        struct pool_spec *pools;
        struct pool_host *hosts;
        struct pool_desktop *desktops;
        char **host_addr; /* parallel to hosts */
        int *host_port;
        PGresult *res[3];
};

int pool_snapshot_load(PGconn *c, struct snapshot_buf *b, char **error);
void pool_snapshot_free(struct snapshot_buf *b);

/* Execute one action. Failures of the action itself are recorded in the
 * database (desktop error, failures + 1) and logged; the return value is
 * -errno only when the database could not be written. imported (may be
 * NULL): the pass's set of "host/image version" already imported. */
int pool_execute(PGconn *c, const struct pool_loop_config *cfg, const struct snapshot_buf *b,
                 GHashTable *imported, const struct pool_action *a, char **error);

/* PQexecParams with text parameters; 0 with *out (PQclear it; may be NULL)
 * or -EIO with *error. */
int pool_sql(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out,
             char **error);

/* The body of vdi-hostd's image import (PUT /api/v1/images/iv-<iv>) for
 * image version iv: boot material, disk, command line and, unless it is
 * the default vesa, its display. 0 with *body (the caller's), -EINVAL when
 * the version is unknown or has no kernel, -EIO; both with *error. */
int pool_image_body(PGconn *c, int64_t iv, json_t **body, char **error);
