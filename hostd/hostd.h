/* vdi-hostd: one host's images, linked clones, vdi-vm processes, ports and
 * tickets, behind an HTTPS + JSON API with mutual TLS (DESIGN.md §2, §4).
 *
 * State lives in files under state_dir, so a restarted daemon finds
 * everything again:
 *   images/ID/image.json   an imported golden image (read-only files beside it)
 *   vms/ID/vm.json         a VM: image, size, ports (written at create)
 *   vms/ID/disk.qcow2      its overlay over the image's disk (linked clone)
 *   vms/ID/run.json        present while its vdi-vm runs: pid, start time
 *   vms/ID/control.sock    vdi-vm's control socket (when vdi-vm has one)
 *   vms/ID/console.log     guest console; vdi-vm.log its own stderr
 *   parents/KEY/GEN/       an instant-clone parent (parent.c): parent.json,
 *                          vm/ (its disk at the snapshot, vm/state/NAME)
 *
 * Threads: HTTP handlers (lib/http.c pool), one monitor thread (process
 * exits and control-socket events), one reporter thread (PostgreSQL).
 * struct hostd.lock guards the image and VM tables and every field of the
 * objects in them; hostd.cond is broadcast whenever a VM changes state.
 * Slow file work (a create's or refresh's overlay and vm.json) runs
 * without the lock on a VM marked busy, which keeps other requests off it. */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "conf.h"
#include "disk.h"
#include "http.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

/* Longest image or VM id: the control socket path must fit sun_path. */
#define HOSTD_ID_MAX 48
/* Events kept per VM for GET /api/v1/vms/{id}. */
#define HOSTD_VM_EVENTS 16

struct hostd_config {
        char *name;          /* host name registered in the database */
        char *state_dir;
        char *log_level;
        char *listen;
        int64_t port;
        char *cert, *key, *client_ca;
        int64_t threads, max_body;
        char *public_address; /* where SPICE/RDP clients connect */
        char *vm_binary;
        char *vm_user;
        bool vm_seccomp; /* vdi-vm --seccomp on|off */
        int64_t port_min, port_max;
        char *framebuffer;
        char *display_listen;
        char *web_origin; /* NULL: VMs serve no web display */
        char *runtime_dir;
        int64_t stop_timeout_s;
        int64_t ticket_default_s, ticket_max_s;
        int64_t reserve_memory_mb;
        char *conninfo;
        int64_t heartbeat_s;
        char *mac_prefix;
        uint8_t mac_prefix_bytes[3]; /* parsed from mac_prefix at load */
        char *reconnect_key;          /* brokers' Ed25519 public key (PEM) or NULL */
        int64_t parent_ready_timeout_s; /* an instant-clone parent's boot to its agent */
};

extern const struct conf_option hostd_conf_options[];
extern const size_t hostd_conf_n_options;

/* Load and check the config (ranges, sun_path room, port range). 0 or
 * -EINVAL with a malloc'd message naming file, key and reason. */
int hostd_config_load(const char *path, struct hostd_config *cfg, char **error);
void hostd_config_free(struct hostd_config *cfg);

struct hostd_image {
        char *id;
        int version;
        char *kernel, *initrd, *disk; /* paths inside the store */
        enum disk_format format;
        char *cmdline;
        bool virtio_gpu; /* "display": "virtio-gpu" (the guest drives it), else VESA */
        json_t *source; /* the request as given: compared on a repeated PUT */
        uint64_t virtual_size;
        char *created_at;
};

enum hostd_vm_state {
        VM_STOPPED,  /* defined, no process */
        VM_RUNNING,  /* vdi-vm process alive */
        VM_CRASHED,  /* the process died without being asked to */
        VM_SUSPENDED, /* no process; a start resumes it from suspended_dir */
};

struct vmctl;

struct hostd_vm {
        char *id;
        char *image_id;
        int cpus;
        int64_t memory_mb;
        int spice_port, rdp_port, web_port; /* web_port 0: none */
        char *dir, *disk;
        char *created_at;
        char *bridge;         /* network: the pool's bridge, NULL for none */
        int vlan;             /* 0 or 1..4094: untagged VLAN on that bridge */
        uint8_t mac[6];       /* with bridge: deterministic (hostd/net.h) */
        char *clipboard;      /* vdi-vm --clipboard (the pool's policy); NULL: both */

        enum hostd_vm_state state;
        bool booted;          /* the guest reported "booted" (control socket) */
        bool stopping;        /* hostd asked it to stop: the exit is no crash */
        bool busy;            /* a create/refresh/delete works on its files */
        bool creating;        /* a PUT makes its files (without the lock): a PUT
                               * of the same id waits on cond for the outcome */
        bool exit_reported;   /* vdi-vm said powered_off: its exit is expected */
        bool adopted;         /* found running at hostd start; not our child */
        pid_t pid;
        unsigned long long starttime; /* /proc/PID/stat field 22: pid reuse check */
        int pidfd;
        struct vmctl *ctl;    /* NULL when vdi-vm has no control socket */
        char *last_error;     /* crash reason, spawn failure */
        json_t *events;       /* array of the last HOSTD_VM_EVENTS {event, at, ...} */
        int64_t tickets_since; /* Unix ms: reconnect tickets issued before are refused */
        char *suspended_dir;  /* the state a start resumes from (suspend.c), or NULL */
        bool resuming;        /* its process restores suspended_dir and has not
                               * yet opened its control socket */
        /* Instant clones (parent.c): */
        bool instant;         /* "clone": "instant": forked from its parent's state */
        char *fork_state;     /* the parent state its overlay belongs to, or NULL
                               * (none yet: made at the start, once the parent is ready) */
        char *fork_disk;      /* the parent's disk its overlay is on */
        bool fork_started;    /* it ran from fork_state: its disk is its own now */
        bool forking;         /* its process restores fork_state, control socket not yet open */
        bool start_pending;   /* started while its parent was not ready */
        bool hidden;          /* a parent being prepared: not listed, not reported */
        bool agent_ready;     /* the guest's agent opened its port ("agent-ready") */
};

/* What the installed vdi-vm understands (probed from its --help). */
struct hostd_vm_caps {
        bool disk, control, framebuffer, user, spice_port, rdp_port, web_port, tls, net, agent,
             virtio_gpu, clipboard, suspend, seccomp, clone_identity;
};

struct hostd_report;

struct hostd {
        struct hostd_config *cfg;
        struct hostd_vm_caps caps;
        int api_port; /* the port the API really listens on */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        GHashTable *images; /* id → struct hostd_image * */
        GHashTable *vms;    /* id → struct hostd_vm * */
        GHashTable *importing; /* image ids being imported (set) */
        GHashTable *parents;  /* key → struct hostd_parent * (parent.c) */
        int wake_fd[2];     /* pipe: poke the monitor to rebuild its poll set */
        bool quit;
        pthread_t monitor;
        struct hostd_report *report; /* NULL without [database] conninfo */
        EVP_PKEY *reconnect_key;     /* NULL: reconnect tickets refused */
        GHashTable *reconnect_used;  /* nonce → int64_t expiry (Unix s) */
};

/* ---- context (hostd.c) ---- */
int hostd_init(struct hostd *h, struct hostd_config *cfg, char **error);
void hostd_fini(struct hostd *h);
bool hostd_id_valid(const char *id);
char *hostd_now_iso(void);

/* ---- reconnect tickets (reconnect.c) ---- */
/* Load [reconnect] public_key when set. 0 or -errno with a message. */
int hostd_reconnect_init(struct hostd *h, char **error);
void hostd_reconnect_fini(struct hostd *h);
/* Check a reconnect ticket for a ticket request (VM, user, protocol) and
 * mark it used. 0 with *nonce (g_free) on success, else an HTTP status
 * with *code and *error. Takes the lock. */
unsigned hostd_reconnect_use(struct hostd *h, const char *ticket, const char *vm_id,
                             const char *user, const char *protocol, char **nonce,
                             const char **code, char **error);
/* Give a nonce back when no ticket came of it. Accepts NULL. */
void hostd_reconnect_unuse(struct hostd *h, const char *nonce);

/* ---- image store (store.c) ---- */
/* Load images/ at start. */
int hostd_images_load(struct hostd *h, char **error);
/* PUT /api/v1/images/{id}. Returns 201 (imported), 200 (identical exists),
 * or an HTTP error status with *code and *error set. *out (borrowed) on success. */
unsigned hostd_image_put(struct hostd *h, const char *id, json_t *body,
                         struct hostd_image **out, const char **code, char **error);
json_t *hostd_image_json(const struct hostd_image *img);
void hostd_image_free(struct hostd_image *img);

/* ---- VMs (vm.c); call with h->lock held unless noted ---- */
int hostd_vms_load(struct hostd *h, char **error);
/* PUT /api/v1/vms/{id}: as hostd_image_put. Takes the lock itself. */
unsigned hostd_vm_put(struct hostd *h, const char *id, json_t *body, json_t **out,
                      const char **code, char **error);
/* Drop the overlay and make a fresh one (VM must be stopped). Takes the lock. */
unsigned hostd_vm_refresh(struct hostd *h, const char *id, json_t **out, const char **code,
                          char **error);
/* Stop (if running) and remove. Takes the lock. */
unsigned hostd_vm_delete(struct hostd *h, const char *id, const char **code, char **error);
json_t *hostd_vm_json(const struct hostd_vm *vm);
const char *hostd_vm_state_name(enum hostd_vm_state s);
void hostd_vm_free(struct hostd_vm *vm);
/* Record an event on vm (log, memory, database). Lock held. extra may be NULL
 * (reference stolen otherwise). */
void hostd_vm_event(struct hostd *h, struct hostd_vm *vm, const char *event, json_t *extra);
int hostd_vm_save_run(struct hostd_vm *vm);
/* Write vm.json (no lock needed while vm is busy or the lock is held). */
int hostd_vm_save(const struct hostd_vm *vm, char **error);
/* An instant clone's fresh overlay over fork_disk, and vm.json (lock held). */
int hostd_vm_fork_files(struct hostd_vm *vm, char **error);
/* A parent VM (parent.c) in the table with its ports and MAC, creating and
 * busy, its files in dir; NULL with *code and *error. */
struct hostd_vm *hostd_vm_new_hidden(struct hostd *h, const char *id, const char *dir, const char *image,
                                     int cpus, int64_t memory_mb, const char *bridge, int vlan,
                                     const char **code, char **error);

/* ---- suspend and resume (suspend.c); lock held unless noted ---- */
/* POST /api/v1/vms/{id}/suspend. Takes the lock itself. */
unsigned hostd_vm_suspend(struct hostd *h, const char *id, json_t **out, const char **code, char **error);
/* A user is coming back (a ticket): resume VM id when it is suspended and
 * wait until its control socket is connected. Takes the lock. 0 (also
 * when there was nothing to resume) or -errno with *error. */
int hostd_vm_resume_if_suspended(struct hostd *h, const char *id, char **error);
/* At load, after hostd_vm_adopt: a suspended VM's state
 * (VMDIR/suspended.json), and whether its adopted process is restoring it
 * (run.json's "resuming"). */
void hostd_vm_suspend_load(struct hostd_vm *vm);
/* The process restoring suspended_dir got as far as its control socket
 * (the restore was accepted): the state is spent. */
void hostd_vm_resumed(struct hostd *h, struct hostd_vm *vm);
/* Forget the suspended state (stop, refresh): the next start boots. */
void hostd_vm_suspend_discard(struct hostd_vm *vm);
/* No process runs: remove every state but suspended_dir. */
void hostd_vm_state_gc(struct hostd_vm *vm);

/* ---- instant clones (parent.c); lock held unless noted ---- */
/* Load state_dir/parents at start (after the images): ready parents are
 * kept, half-made ones removed. */
int hostd_parents_load(struct hostd *h, char **error);
void hostd_parents_free(struct hostd *h);
/* Whether instant clone vm can be forked now: 1 with vm->fork_state and
 * fork_disk set to its parent's ready state; 0 when the parent is not
 * ready (its preparation is started if it was not running); -errno with
 * *error when it failed lately. */
int hostd_parent_fork_point(struct hostd *h, struct hostd_vm *vm, char **error);
/* Remove parent generations that are neither current nor used by a VM. */
void hostd_parents_gc(struct hostd *h);
/* GET /api/v1/parents. */
json_t *hostd_parents_json(struct hostd *h);
/* The forked process opened its control socket: it runs (booted). */
void hostd_vm_forked(struct hostd *h, struct hostd_vm *vm);
/* A fresh overlay at disk over backing (no lock needed). */
int hostd_make_overlay(const char *disk, const char *backing, enum disk_format format, char **error);

/* ---- supervision (supervise.c) ---- */
/* Field 22 of /proc/PID/stat (start time). 0 or -errno. */
int hostd_proc_starttime(pid_t pid, unsigned long long *out);
void hostd_probe_caps(const char *binary, struct hostd_vm_caps *caps);
int hostd_monitor_start(struct hostd *h, char **error);
void hostd_monitor_stop(struct hostd *h);
void hostd_monitor_wake(struct hostd *h);
/* Start vm's vdi-vm (lock held). 0 or -errno with *error. */
int hostd_vm_spawn(struct hostd *h, struct hostd_vm *vm, char **error);
/* Stop vm and wait for its exit, at most stop_timeout_s, then SIGKILL
 * (lock held; released while waiting). 0 or -ETIMEDOUT. */
int hostd_vm_halt(struct hostd *h, struct hostd_vm *vm);
/* Wait (lock held, released meanwhile) until vm has no process, at most
 * seconds. Whether it has none. */
bool hostd_vm_wait_exit(struct hostd *h, struct hostd_vm *vm, unsigned seconds);
/* Re-adopt a VM whose run.json names a live vdi-vm (at start, lock held). */
void hostd_vm_adopt(struct hostd *h, struct hostd_vm *vm);
/* Send one control command; reply object in *reply (caller decrefs).
 * Takes no hostd lock (call without it). */
int hostd_vm_command(struct hostd *h, const char *vm_id, json_t *cmd, json_t **reply,
                     char **error);
/* The same with fd passed to vdi-vm along with the command (SCM_RIGHTS);
 * the caller keeps its own fd. */
int hostd_vm_command_fd(struct hostd *h, const char *vm_id, json_t *cmd, int fd, json_t **reply,
                        char **error);

/* ---- the VM's network card (vmnet.c) ---- */
/* Make vm's tap on its bridge (and VLAN), owned by the VM process's user.
 * 0 and *fd (close-on-exec; the tap goes with its last fd) or -errno with
 * *error naming the VM, tap or bridge and the fix. */
int hostd_net_open_tap(struct hostd *h, struct hostd_vm *vm, int *fd, char **error);

/* ---- reporting to PostgreSQL (report.c) ---- */
int hostd_report_start(struct hostd *h, char **error);
void hostd_report_stop(struct hostd *h);
/* Queue a VM event for the database (no-op without one). Lock may be held. */
void hostd_report_event(struct hostd *h, const char *vm_id, const char *event,
                        const char *detail);

/* ---- host facts (hostd.c) ---- */
json_t *hostd_status_json(struct hostd *h);

/* ---- HTTP API (api.c) ---- */
extern const struct http_route hostd_routes[];
extern const size_t hostd_n_routes;

/* ---- files (fsutil.c) ---- */
int hostd_write_json(const char *path, json_t *v, char **error);
json_t *hostd_read_json(const char *path, char **error);
/* Copy src to dst (reflink when the file system can), mode 0444. */
int hostd_copy_file(const char *src, const char *dst, char **error);
int hostd_rm_rf(const char *path);
/* Create dir (0700, with parents) if needed and open it for listing. 0 and
 * *out, or -errno with a message naming the directory. */
int hostd_open_dir(const char *dir, GDir **out, char **error);
