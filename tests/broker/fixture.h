/* Broker test fixture: real PostgreSQL and slapd from the harness, a test
 * PKI, and vdi-brokerd's broker running in this process on a free port;
 * plus an HTTPS client with its own cookie jar and raw SQL helpers for
 * asserting on rows. Used by tests/broker/api.c, portal.c and the
 * login-storm benchmark. */
#pragma once

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "broker/broker.h"
#include "harness/harness.h"

struct bfx {
        struct harness_pg *pg;
        struct harness_ldap *ldap;
        char *pki;
        struct broker_config cfg;
        struct broker *b;
        char base[64]; /* https://127.0.0.1:PORT */
        char *ca;      /* PKI/ca.pem */
        int dead_port[2]; /* loopback ports nobody listens on (the "hosts") */
        char *ini;        /* the broker's configuration (INI text) */
};

/* Bootstrap administrator of the fixture (local-admin backend). */
#define BFX_LOCAL_ADMIN "root-admin"
#define BFX_LOCAL_ADMIN_PW "admin-pw"

/* Start everything; extra_ini (may be NULL) is appended to the config.
 * Aborts the test on failure. */
struct bfx *bfx_start(const char *extra_ini);
void bfx_stop(struct bfx *f);

/* A loopback TCP port that was free a moment ago. */
int bfx_free_port(void);

/* Empty every table and load the sample inventory:
 *   image deb12 v1; hosts h1, h2 (loopback, nobody listening)
 *   pools  office  floating  rdp+spice  group staff        office-1..3 on h1
 *          design  dedicated spice      group designers    design-1 on h1
 *          eng     floating  rdp        group engineering  eng-1 on h2
 *          lab     floating  rdp+spice  user alice         lab-1 on h1
 *          full    floating  rdp+spice  group staff        (no desktops)
 *          off     floating  (disabled) group staff        off-1 on h1 */
void bfx_reset(struct bfx *f);

/* Raw SQL, independent of the code under test. */
void bfx_exec(struct bfx *f, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
long bfx_long(struct bfx *f, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
char *bfx_str(struct bfx *f, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* An HTTPS client with a cookie jar: one browser. */
struct bclient {
        struct bfx *f;
        CURL *curl;
        char *csrf; /* from the last sign-in or /me */
};

struct breply {
        long status;
        GString *body;
        GString *headers;
        json_t *json; /* parsed body, or NULL */
};

struct bclient *bclient_new(struct bfx *f);
void bclient_free(struct bclient *c);

/* Send a request. body (may be NULL) is sent as-is with Content-Type
 * ctype (default application/json). csrf adds X-CSRF-Token from c->csrf.
 * Aborts the test on a transport error. */
struct breply bclient_req(struct bclient *c, const char *method, const char *path,
                          const char *body, const char *ctype, bool csrf);
/* POST /api/v1/login; stores the CSRF token on success. Returns status. */
long bclient_login(struct bclient *c, const char *user, const char *password);
void breply_free(struct breply *r);
/* Value of a response header (first match, case-insensitive); malloc'd or NULL. */
char *breply_header(const struct breply *r, const char *name);

/* SIGTERM the child pid and wait for it at most timeout_ms, then SIGKILL
 * it and wait. */
void bfx_terminate(GPid pid, unsigned timeout_ms);

/* A real vdi-brokerd (broker/vdi-brokerd of the built tree) beside the
 * in-process broker: the same database, LDAP and PKI, f->ini plus
 * extra_ini (a [pools] section there starts its pool loop), on a free
 * port, its log in f->pki. view is a copy of f whose base is the
 * daemon's: bclient_new(&d->view) talks to it. Aborts the test when the
 * daemon does not answer /healthz within a minute. */
struct bfx_daemon {
        GPid pid;
        char *log;
        struct bfx view;
};
void bfx_daemon_start(struct bfx *f, const char *extra_ini, struct bfx_daemon *d);
/* SIGTERM it and wait (SIGKILL after 10 s). Accepts a stopped one. */
void bfx_daemon_stop(struct bfx_daemon *d);
