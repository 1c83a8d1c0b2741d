/* A real vdi-hostd process for tests and benchmarks: config in a temporary
 * directory, port 0 (the daemon prints the one it got), mutual TLS with
 * the harness PKI (tests/harness/make-pki), and a libcurl client. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct hostd_proc {
        char *dir;       /* temporary directory: config, state, logs */
        char *state_dir;
        char *pki;       /* make-pki output */
        char *vm_binary; /* [vm] binary */
        char *conninfo;  /* [database] conninfo or NULL */
        char *name;      /* [hostd] name */
        pid_t pid;
        int port;
        int port_min;    /* [vm] port range start */
        const char *framebuffer; /* [vm] framebuffer WxH, or NULL for the default */
        int stop_timeout_s;      /* [vm] stop_timeout_s, 0 for 3 */
        const char *vm_user;     /* [vm] user, or NULL for the default */
        const char *vm_seccomp;  /* [vm] seccomp, or NULL for the default */
        int parent_ready_timeout_s; /* [vm] parent_ready_timeout_s, 0 for the default */
        const char *web_origin;  /* [vm] web_origin (then display_listen 127.0.0.1), or NULL */
};

/* Make the PKI in dir (make-pki) and, for client certificates signed by
 * an unrelated CA, other-client.pem/.key. 0 or -1. */
int hostd_proc_pki(const char *dir);

/* tests/hostd/hollow-vm in the build tree ($abs_top_builddir when set):
 * the control socket and displays of vdi-vm, no guest. g_free it. */
char *hostd_proc_hollow_vm(void);

/* Start vdi-hostd (built tree) with p's fields; p->dir is created when
 * NULL and kept across restarts (set p->dir and p->state_dir yourself to
 * keep the state elsewhere: the runtime sockets stay in p->dir/run).
 * 0 or -1 (daemon's log on stderr). */
int hostd_proc_start(struct hostd_proc *p);
/* SIGTERM the daemon and wait (VMs keep running). */
void hostd_proc_stop(struct hostd_proc *p);
/* SIGKILL the daemon and wait. */
void hostd_proc_kill(struct hostd_proc *p);
/* Stop the daemon, kill any VM processes it left (run.json), delete dir. */
void hostd_proc_destroy(struct hostd_proc *p);

enum hostd_cert { CERT_CLIENT, CERT_NONE, CERT_OTHER_CA };

struct hostd_reply {
        long status;     /* 0 when the TLS/HTTP exchange failed */
        json_t *json;    /* parsed body or NULL */
        char *raw;
};

/* One request; body (JSON text) may be NULL. */
int hostd_req(const struct hostd_proc *p, const char *method, const char *path, const char *body,
              enum hostd_cert cert, struct hostd_reply *out);
void hostd_reply_clear(struct hostd_reply *r);

/* The real uid of process pid (from /proc), or -1. */
long hostd_proc_uid(long pid);

/* Poll GET /api/v1/vms/{id} until field "state" equals state, at most
 * timeout_ms. true when reached. */
bool hostd_wait_state(const struct hostd_proc *p, const char *id, const char *state,
                      unsigned timeout_ms);
