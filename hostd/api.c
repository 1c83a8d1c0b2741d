/* The control API (DESIGN.md §4), HTTPS + JSON with mutual TLS:
 *
 *   GET    /api/v1/status                 host capacity, load, VMs and states
 *   GET    /api/v1/images                 {"images": [...]}
 *   GET    /api/v1/images/{id}
 *   PUT    /api/v1/images/{id}            import {version, kernel, initrd?, disk,
 *                                         format?, cmdline?, mode?: copy|link,
 *                                         display?: vesa|virtio-gpu}
 *   GET    /api/v1/vms                    {"vms": [...]}
 *   GET    /api/v1/vms/{id}
 *   PUT    /api/v1/vms/{id}               linked clone {image, cpus?, memory_mb?,
 *                                         network?, clipboard?, clone?: linked|instant}
 *          (instant: forked from the image's parent, booted once and
 *          suspended for all its clones: hostd/parent.c)
 *   GET    /api/v1/parents                {"parents": [...]}: instant-clone parents
 *   DELETE /api/v1/vms/{id}               stop and remove (200 also when absent)
 *   POST   /api/v1/vms/{id}/start|stop|reset|refresh
 *   POST   /api/v1/vms/{id}/tickets       {protocol, user, expiry_s?, reconnect_ticket?} →
 *          {protocol, host, port, password, username, routing_token, expires_in}
 *          (with reconnect_ticket, the host checks the brokers' signature and
 *          uses it up first: hostd/reconnect.c)
 *   POST   /api/v1/vms/{id}/disconnect    drop its display clients → {id, sessions}
 *   POST   /api/v1/vms/{id}/screenshot?max_width=W&max_height=H
 *          → {id, width, height, source_width, source_height, png (base64)}:
 *          the screen now, scaled down to fit W x H (default 320 x 240)
 *
 * Every call is idempotent under retry: ids are chosen by the client; a
 * PUT of an identical object answers 200 (201 when it made it), a
 * different one 409; start of a running VM and stop of a stopped one
 * answer 200. Errors are {"error": code, "message": text}; a refused
 * request changes nothing. Creates of different VMs run side by side; a
 * PUT of a VM being created waits for that create and then answers as
 * above, and other calls on it answer 409 busy (it is listed meanwhile
 * with "creating": true). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "hostd/thumb.h"
#include "http.h"
#include "log.h"
#include "token.h"

/* Ticket password: 18 random bytes = 144 bits (DESIGN.md asks >= 72). */
#define TICKET_BYTES 18
/* A screenshot larger than this is refused (4096 x 4096 RGB fits). */
#define SCREENSHOT_MAX_BYTES (64u << 20)

static void respond_status(struct http_response *resp, unsigned status, const char *code,
                           char *error, json_t *ok)
{
        if (status >= 400)
                http_respond_error(resp, status, code, "%s", error ? error : code);
        else
                http_respond_json(resp, status, ok ? ok : json_object());
        g_free(error);
}

static void h_status(void *ctx, const struct http_request *req, struct http_response *resp)
{
        http_respond_json(resp, 200, hostd_status_json(ctx));
}

static void h_images(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct hostd *h = ctx;
        json_t *arr = json_array();
        GHashTableIter it;
        struct hostd_image *img;

        pthread_mutex_lock(&h->lock);
        g_hash_table_iter_init(&it, h->images);
        while (g_hash_table_iter_next(&it, NULL, (void **)&img))
                json_array_append_new(arr, hostd_image_json(img));
        pthread_mutex_unlock(&h->lock);
        http_respond_json(resp, 200, json_pack("{s:o}", "images", arr));
}

static void h_image_get(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct hostd *h = ctx;
        struct hostd_image *img;
        json_t *v = NULL;

        pthread_mutex_lock(&h->lock);
        img = g_hash_table_lookup(h->images, req->params[0]);
        if (img)
                v = hostd_image_json(img);
        pthread_mutex_unlock(&h->lock);
        if (!v)
                http_respond_error(resp, 404, "not_found", "image \"%s\" is not on this host",
                                   req->params[0]);
        else
                http_respond_json(resp, 200, v);
}

static void h_image_put(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct hostd *h = ctx;
        g_autoptr(json_t) body = http_json_body(req, resp);
        struct hostd_image *img = NULL;
        const char *code = NULL;
        char *error = NULL;
        unsigned status;

        if (!body)
                return;
        status = hostd_image_put(h, req->params[0], body, &img, &code, &error);
        if (status >= 400) {
                g_autofree char *quoted = log_quote(error);
                log_warning("image_refused", "image=%s status=%u error=%s", req->params[0],
                            status, quoted);
        }
        /* Images are never freed while the daemon runs: img stays valid. */
        respond_status(resp, status, code, error, status < 400 ? hostd_image_json(img) : NULL);
}

static void h_vms(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct hostd *h = ctx;
        json_t *arr = json_array();
        GHashTableIter it;
        struct hostd_vm *vm;

        pthread_mutex_lock(&h->lock);
        g_hash_table_iter_init(&it, h->vms);
        while (g_hash_table_iter_next(&it, NULL, (void **)&vm))
                if (!vm->hidden)
                        json_array_append_new(arr, hostd_vm_json(vm));
        pthread_mutex_unlock(&h->lock);
        http_respond_json(resp, 200, json_pack("{s:o}", "vms", arr));
}

static void h_parents(void *ctx, const struct http_request *req, struct http_response *resp)
{
        (void)req;
        http_respond_json(resp, 200, hostd_parents_json(ctx));
}

static void h_vm_get(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct hostd *h = ctx;
        struct hostd_vm *vm;
        json_t *v = NULL;

        pthread_mutex_lock(&h->lock);
        vm = g_hash_table_lookup(h->vms, req->params[0]);
        if (vm)
                v = hostd_vm_json(vm);
        pthread_mutex_unlock(&h->lock);
        if (!v)
                http_respond_error(resp, 404, "not_found", "VM \"%s\" does not exist",
                                   req->params[0]);
        else
                http_respond_json(resp, 200, v);
}

static void h_vm_put(void *ctx, const struct http_request *req, struct http_response *resp)
{
        g_autoptr(json_t) body = http_json_body(req, resp);
        json_t *out = NULL;
        const char *code = NULL;
        char *error = NULL;
        unsigned status;

        if (!body)
                return;
        status = hostd_vm_put(ctx, req->params[0], body, &out, &code, &error);
        if (status >= 400) {
                g_autofree char *quoted = log_quote(error);
                log_warning("vm_refused", "vm=%s status=%u error=%s", req->params[0], status,
                            quoted);
        }
        respond_status(resp, status, code, error, out);
}

static void h_vm_delete(void *ctx, const struct http_request *req, struct http_response *resp)
{
        const char *code = NULL;
        char *error = NULL;
        unsigned status = hostd_vm_delete(ctx, req->params[0], &code, &error);

        respond_status(resp, status, code, error,
                       json_pack("{s:s, s:b}", "id", req->params[0], "deleted", 1));
}

static void h_vm_refresh(void *ctx, const struct http_request *req, struct http_response *resp)
{
        json_t *out = NULL;
        const char *code = NULL;
        char *error = NULL;
        unsigned status = hostd_vm_refresh(ctx, req->params[0], &out, &code, &error);

        respond_status(resp, status, code, error, out);
}

/* start/stop under the lock; the VM's JSON afterwards. */
static void power(struct hostd *h, const struct http_request *req, struct http_response *resp,
                  bool start)
{
        struct hostd_vm *vm;
        char *error = NULL;
        const char *code = NULL;
        unsigned status = 200;
        json_t *out = NULL;

        pthread_mutex_lock(&h->lock);
        vm = g_hash_table_lookup(h->vms, req->params[0]);
        if (!vm) {
                status = 404;
                code = "not_found";
                error = g_strdup_printf("VM \"%s\" does not exist", req->params[0]);
        } else if (vm->busy) {
                status = 409;
                code = "busy";
                error = g_strdup_printf("VM \"%s\" is being changed; retry shortly", vm->id);
        } else if (start && vm->state != VM_RUNNING) {
                if (hostd_vm_spawn(h, vm, &error) < 0) {
                        g_autofree char *quoted = log_quote(error);
                        log_error("vm_start_failed", "vm=%s error=%s", vm->id, quoted);
                        g_free(vm->last_error);
                        vm->last_error = g_strdup(error);
                        hostd_vm_event(h, vm, "start_failed", json_pack("{s:s}", "reason", error));
                        status = 500;
                        code = "start_failed";
                }
        } else if (!start && vm->start_pending) {
                vm->start_pending = false; /* its parent is not ready yet: it stays off */
        } else if (!start && vm->state == VM_RUNNING) {
                vm->busy = true;
                if (hostd_vm_halt(h, vm) < 0) {
                        status = 500;
                        code = "stop_failed";
                        error = g_strdup_printf("VM \"%s\" did not stop", vm->id);
                }
                vm->busy = false;
        } else if (!start && vm->state == VM_CRASHED) {
                /* Acknowledge the crash: a stopped VM again. */
                vm->state = VM_STOPPED;
        } else if (!start && vm->state == VM_SUSPENDED) {
                /* Power it off: the saved state goes, the next start boots. */
                hostd_vm_suspend_discard(vm);
                hostd_vm_event(h, vm, "stopped", NULL);
        }
        if (vm && status < 400)
                out = hostd_vm_json(vm);
        pthread_mutex_unlock(&h->lock);
        respond_status(resp, status, code, error, out);
}

static void h_vm_start(void *ctx, const struct http_request *req, struct http_response *resp)
{
        power(ctx, req, resp, true);
}

static void h_vm_stop(void *ctx, const struct http_request *req, struct http_response *resp)
{
        power(ctx, req, resp, false);
}

static void h_vm_suspend(void *ctx, const struct http_request *req, struct http_response *resp)
{
        const char *code = NULL;
        char *error = NULL;
        json_t *out = NULL;
        unsigned st = hostd_vm_suspend(ctx, req->params[0], &out, &code, &error);

        respond_status(resp, st, code, error, out);
}

static void command_error(struct http_response *resp, int r, char *error)
{
        switch (r) {
        case -ENOENT:
                http_respond_error(resp, 404, "not_found", "%s", error);
                break;
        case -ESRCH:
                http_respond_error(resp, 409, "vm_not_running", "%s", error);
                break;
        case -ENOTCONN:
                http_respond_error(resp, 503, "no_control", "%s", error);
                break;
        case -ETIMEDOUT:
                http_respond_error(resp, 504, "vm_timeout", "%s", error);
                break;
        default:
                http_respond_error(resp, 502, "vm_refused", "vdi-vm: %s", error);
        }
        g_free(error);
}

static void h_vm_reset(void *ctx, const struct http_request *req, struct http_response *resp)
{
        json_t *cmd = json_pack("{s:s}", "cmd", "reset"), *reply = NULL;
        char *error = NULL;
        int r = hostd_vm_command(ctx, req->params[0], cmd, &reply, &error);

        json_decref(cmd);
        json_decref(reply);
        if (r < 0) {
                command_error(resp, r, error);
                return;
        }
        http_respond_json(resp, 200, json_pack("{s:s, s:b}", "id", req->params[0], "reset", 1));
}

/* The VM's display clients are dropped (an admin's "disconnect user");
 * the guest keeps running. Answers how many sessions were dropped. */
static void h_vm_disconnect(void *ctx, const struct http_request *req,
                            struct http_response *resp)
{
        json_t *cmd = json_pack("{s:s}", "cmd", "disconnect"), *reply = NULL;
        char *error = NULL;
        int r = hostd_vm_command(ctx, req->params[0], cmd, &reply, &error);

        json_decref(cmd);
        if (r < 0) {
                command_error(resp, r, error);
                return;
        }
        json_int_t n = json_integer_value(json_object_get(reply, "sessions"));
        json_decref(reply);
        log_notice("vm_disconnect", "vm=%s sessions=%lld", req->params[0], (long long)n);
        http_respond_json(resp, 200, json_pack("{s:s, s:I}", "id", req->params[0], "sessions", n));
}

static bool user_ok(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 256)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

static void h_ticket(void *ctx, const struct http_request *req, struct http_response *resp)
{
        struct hostd *h = ctx;
        g_autoptr(json_t) body = http_json_body(req, resp);
        const char *protocol = NULL, *user = NULL, *reconnect = NULL;
        json_int_t expiry = h->cfg->ticket_default_s;
        json_error_t jerr;
        g_autofree char *routing = NULL, *nonce = NULL;
        char *password = NULL, *error = NULL;
        json_t *cmd, *reply = NULL;
        int port = 0, r;

        if (!body)
                return;
        if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s?I, s?s}", "protocol",
                           &protocol, "user", &user, "expiry_s", &expiry, "reconnect_ticket",
                           &reconnect) != 0) {
                http_respond_error(resp, 400, "bad_request",
                                   "ticket: %s (fields: protocol, user; optional expiry_s, "
                                   "reconnect_ticket)",
                                   jerr.text);
                return;
        }
        if (strcmp(protocol, "spice") != 0 && strcmp(protocol, "rdp") != 0 &&
            strcmp(protocol, "web") != 0) {
                http_respond_error(resp, 400, "bad_request",
                                   "ticket: \"protocol\" must be spice, rdp or web");
                return;
        }
        if (!user_ok(user)) {
                http_respond_error(resp, 400, "bad_request",
                                   "ticket: \"user\" must be 1-256 printable characters");
                return;
        }
        if (expiry < 1 || expiry > h->cfg->ticket_max_s) {
                http_respond_error(resp, 400, "bad_request",
                                   "ticket: \"expiry_s\" must be 1-%lld ([vm] ticket_max_s)",
                                   (long long)h->cfg->ticket_max_s);
                return;
        }
        if (reconnect) {
                const char *code = NULL;
                unsigned st = hostd_reconnect_use(h, reconnect, req->params[0], user, protocol,
                                                  &nonce, &code, &error);
                if (st) {
                        g_autofree char *quser = log_quote(user);
                        g_autofree char *why = log_quote(error);
                        log_warning("reconnect_refused", "vm=%s user=%s error=%s",
                                    req->params[0], quser, why);
                        http_respond_error(resp, st, code, "%s", error);
                        g_free(error);
                        return;
                }
        }
        pthread_mutex_lock(&h->lock);
        struct hostd_vm *vm = g_hash_table_lookup(h->vms, req->params[0]);
        if (vm)
                port = strcmp(protocol, "spice") == 0 ? vm->spice_port
                       : strcmp(protocol, "rdp") == 0 ? vm->rdp_port
                                                      : vm->web_port;
        pthread_mutex_unlock(&h->lock);

        /* A user coming back to a suspended desktop: resume it. */
        r = hostd_vm_resume_if_suspended(h, req->params[0], &error);
        if (r < 0) {
                hostd_reconnect_unuse(h, nonce);
                http_respond_error(resp, 500, "resume_failed", "%s", error);
                g_free(error);
                return;
        }
        r = token_new(TICKET_BYTES, &password);
        if (r < 0) {
                hostd_reconnect_unuse(h, nonce);
                http_respond_error(resp, 500, "internal", "no randomness for a ticket");
                return;
        }
        cmd = json_pack("{s:s, s:s, s:s, s:s, s:I}", "cmd", "set-ticket", "protocol", protocol,
                        "user", user, "password", password, "expiry_s", expiry);
        r = hostd_vm_command(h, req->params[0], cmd, &reply, &error);
        json_decref(cmd);
        json_decref(reply);
        if (r < 0) {
                hostd_reconnect_unuse(h, nonce);
                explicit_bzero(password, strlen(password));
                free(password);
                g_autofree char *quoted = log_quote(error);
                g_autofree char *quser = log_quote(user);
                log_warning("ticket_refused", "vm=%s protocol=%s user=%s error=%s",
                            req->params[0], protocol, quser, quoted);
                command_error(resp, r, error);
                return;
        }
        /* RDP load balancers route on this cookie (loadbalanceinfo). */
        routing = strcmp(protocol, "rdp") == 0 ? g_strdup_printf("vdi.%s.%s", h->cfg->name,
                                                                  req->params[0])
                                               : g_strdup("");
        g_autofree char *quser = log_quote(user);
        log_notice("ticket_issued", "vm=%s protocol=%s user=%s expires_in=%lld reconnect=%s",
                   req->params[0], protocol, quser, (long long)expiry, reconnect ? "yes" : "no");
        http_respond_json(resp, 200,
                          json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "protocol", protocol,
                                    "host", h->cfg->public_address, "port", port, "password",
                                    password, "username", user, "routing_token", routing,
                                    "expires_in", expiry));
        explicit_bzero(password, strlen(password));
        free(password);
}

/* Read back the screenshot vdi-vm wrote into our memfd: at most
 * SCREENSHOT_MAX_BYTES (vdi-vm is untrusted; it shares the file offset, so
 * read from 0 by position). */
static int read_screenshot(int fd, GByteArray *out, char **error)
{
        struct stat st;
        size_t got = 0;

        if (fstat(fd, &st) < 0) {
                *error = g_strdup_printf("screenshot: %s", g_strerror(errno));
                return -EIO;
        }
        if (st.st_size > (off_t)SCREENSHOT_MAX_BYTES) {
                *error = g_strdup_printf("screenshot of %lld bytes is over the limit of %u",
                                         (long long)st.st_size, SCREENSHOT_MAX_BYTES);
                return -EIO;
        }
        g_byte_array_set_size(out, (guint)st.st_size);
        while (got < out->len) {
                ssize_t n = pread(fd, out->data + got, out->len - got, (off_t)got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        *error = g_strdup_printf("screenshot: %s",
                                                 n < 0 ? g_strerror(errno) : "shorter than it was");
                        return -EIO;
                }
                got += (size_t)n;
        }
        return 0;
}

static bool query_side(const struct http_request *req, const char *key, unsigned def,
                       unsigned *out, struct http_response *resp)
{
        const char *v = http_query(req, key);
        char *end = NULL;
        unsigned long n = v ? strtoul(v, &end, 10) : def;

        if (v && (!*v || *end || n < 16 || n > 1920)) {
                http_respond_error(resp, 400, "bad_request", "screenshot: %s must be 16-1920",
                                   key);
                return false;
        }
        *out = (unsigned)n;
        return true;
}

static void h_vm_screenshot(void *ctx, const struct http_request *req,
                            struct http_response *resp)
{
        g_autoptr(GByteArray) ppm = g_byte_array_new(), png = g_byte_array_new();
        g_autofree char *error = NULL;
        struct thumb_ppm pic;
        unsigned max_w, max_h, w, h;
        json_t *reply = NULL;
        int r;

        if (!query_side(req, "max_width", 320, &max_w, resp) ||
            !query_side(req, "max_height", 240, &max_h, resp))
                return;
        /* vdi-vm writes into a memfd of ours passed over the control
         * socket: no path it would need to open (it may run as [vm] user,
         * or jailed with no file system). */
        _cleanup_close_ int fd = memfd_create("vdi-screenshot", MFD_CLOEXEC);
        if (fd < 0) {
                http_respond_error(resp, 500, "internal", "screenshot: memfd_create: %s",
                                   g_strerror(errno));
                return;
        }
        json_t *cmd = json_pack("{s:s}", "cmd", "screenshot");
        r = hostd_vm_command_fd(ctx, req->params[0], cmd, fd, &reply, &error);
        json_decref(cmd);
        json_decref(reply);
        if (r == 0)
                r = read_screenshot(fd, ppm, &error);
        if (r < 0) {
                command_error(resp, r, g_steal_pointer(&error));
                return;
        }
        if (thumb_ppm_parse(ppm->data, ppm->len, &pic, &error) < 0 ||
            thumb_png(&pic, max_w, max_h, png, &w, &h, &error) < 0) {
                g_autofree char *quoted = log_quote(error);
                log_warning("screenshot_refused", "vm=%s error=%s", req->params[0], quoted);
                http_respond_error(resp, 502, "bad_screenshot", "vdi-vm's %s", error);
                return;
        }
        g_autofree char *b64 = g_base64_encode(png->data, png->len);
        http_respond_json(resp, 200,
                          json_pack("{s:s, s:i, s:i, s:i, s:i, s:s}", "id", req->params[0],
                                    "width", w, "height", h, "source_width", pic.width,
                                    "source_height", pic.height, "png", b64));
}

const struct http_route hostd_routes[] = {
        { "GET", "/api/v1/status", h_status },
        { "GET", "/api/v1/images", h_images },
        { "GET", "/api/v1/images/{id}", h_image_get },
        { "PUT", "/api/v1/images/{id}", h_image_put },
        { "GET", "/api/v1/vms", h_vms },
        { "GET", "/api/v1/parents", h_parents },
        { "GET", "/api/v1/vms/{id}", h_vm_get },
        { "PUT", "/api/v1/vms/{id}", h_vm_put },
        { "DELETE", "/api/v1/vms/{id}", h_vm_delete },
        { "POST", "/api/v1/vms/{id}/start", h_vm_start },
        { "POST", "/api/v1/vms/{id}/stop", h_vm_stop },
        { "POST", "/api/v1/vms/{id}/suspend", h_vm_suspend },
        { "POST", "/api/v1/vms/{id}/reset", h_vm_reset },
        { "POST", "/api/v1/vms/{id}/refresh", h_vm_refresh },
        { "POST", "/api/v1/vms/{id}/tickets", h_ticket },
        { "POST", "/api/v1/vms/{id}/screenshot", h_vm_screenshot },
        { "POST", "/api/v1/vms/{id}/disconnect", h_vm_disconnect },
};
const size_t hostd_n_routes = sizeof(hostd_routes) / sizeof(hostd_routes[0]);
