/* vdi-hostd's control API against a real vdi-hostd process (mutual TLS,
 * certificates from tests/harness/make-pki), real images made by
 * qemu-img, clones checked with qemu-img and qemu-io. */
#include "config.h"

#include <curl/curl.h>
#include <glib.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostd-proc.h"
#include "check-main.h"

#ifndef QEMU_IMG
#define QEMU_IMG "qemu-img"
#endif

static char *fixdir; /* PKI and source images, shared by all cases */
static struct hostd_proc hp;

static char *run(const char *cmd, int *status)
{
        g_autofree char *out = NULL, *err = NULL;
        int st = -1;
        const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
        g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out, &err, &st, NULL);
        if (status)
                *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return g_strconcat(out ? out : "", err ? err : "", NULL);
}

static void fixture_up(void)
{
        g_autofree char *cmd = NULL, *o = NULL;
        int st;

        fixdir = g_dir_make_tmp("vdi-hostd-test-XXXXXX", NULL);
        ck_assert_ptr_nonnull(fixdir);
        ck_assert_int_eq(hostd_proc_pki(fixdir), 0);
        cmd = g_strdup_printf("cd %s && head -c 4096 /dev/urandom > vmlinuz && "
                              "head -c 2048 /dev/urandom > initrd.gz && "
                              "%s create -q -f qcow2 base.qcow2 64M && "
                              "%s create -q -f raw base.raw 16M && "
                              "%s create -q -f qcow2 -b base.qcow2 -F qcow2 layered.qcow2 && "
                              "head -c 65536 /dev/urandom > garbage.qcow2",
                              fixdir, QEMU_IMG, QEMU_IMG, QEMU_IMG);
        o = run(cmd, &st);
        ck_assert_msg(st == 0, "fixture: %s", o);
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void fixture_down(void)
{
        g_autofree char *cmd = g_strdup_printf("rm -rf %s", fixdir);
        (void)!system(cmd);
        g_free(fixdir);
}

static void hostd_up_with(const char *vm_binary)
{
        memset(&hp, 0, sizeof(hp));
        hp.pki = fixdir;
        hp.vm_binary = vm_binary ? g_strdup(vm_binary) : NULL;
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
}

static void hostd_up(void)
{
        hostd_up_with(NULL); /* the real vdi-vm of this tree */
}

static void hostd_down(void)
{
        hostd_proc_destroy(&hp);
}

/* Request with the good client certificate; body is printf-formatted. */
static struct hostd_reply call(const char *method, const char *path, const char *fmt, ...)
{
        struct hostd_reply r;
        g_autofree char *body = NULL;
        va_list ap;

        if (fmt) {
                va_start(ap, fmt);
                body = g_strdup_vprintf(fmt, ap);
                va_end(ap);
        }
        hostd_req(&hp, method, path, body, CERT_CLIENT, &r);
        return r;
}

static const char *jstr(json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

static void import_image(const char *id, const char *disk, const char *format, long expect)
{
        struct hostd_reply r;
        g_autofree char *path = g_strdup_printf("/api/v1/images/%s", id);

        r = call("PUT", path,
                 "{\"version\": 1, \"kernel\": \"%s/vmlinuz\", \"initrd\": \"%s/initrd.gz\", "
                 "\"disk\": \"%s/%s\", \"format\": \"%s\", \"cmdline\": \"console=ttyS0 quiet\"}",
                 fixdir, fixdir, fixdir, disk, format);
        ck_assert_msg(r.status == expect, "PUT %s: %ld %s", path, r.status, r.raw);
        hostd_reply_clear(&r);
}

/* An image whose guest drives virtio-gpu ("display"). */
static void import_gpu_image(const char *id, long expect, const char *error)
{
        struct hostd_reply r;
        g_autofree char *path = g_strdup_printf("/api/v1/images/%s", id);

        r = call("PUT", path,
                 "{\"version\": 4, \"kernel\": \"%s/vmlinuz\", \"disk\": \"%s/base.qcow2\", "
                 "\"display\": \"virtio-gpu\"}",
                 fixdir, fixdir);
        ck_assert_msg(r.status == expect, "PUT %s: %ld %s", path, r.status, r.raw);
        if (error) {
                ck_assert_str_eq(jstr(r.json, "error"), error);
                ck_assert_ptr_nonnull(strstr(jstr(r.json, "message"), "virtio-gpu"));
        } else {
                ck_assert_str_eq(jstr(r.json, "display"), "virtio-gpu");
        }
        hostd_reply_clear(&r);
}

static unsigned count_entries(const char *sub)
{
        g_autofree char *dir = g_build_filename(hp.state_dir, sub, NULL);
        GDir *d = g_dir_open(dir, 0, NULL);
        unsigned n = 0;
        const char *name;
        while (d && (name = g_dir_read_name(d)))
                n++;
        if (d)
                g_dir_close(d);
        return n;
}

START_TEST(test_mtls_required)
{
        struct hostd_reply r;

        hostd_req(&hp, "GET", "/api/v1/status", NULL, CERT_NONE, &r);
        /* Either the handshake fails or the request is refused: never served. */
        ck_assert_msg(r.status == 0 || r.status == 403, "no cert: %ld %s", r.status, r.raw);
        if (r.status == 403)
                ck_assert_str_eq(jstr(r.json, "error"), "client_certificate_required");
        hostd_reply_clear(&r);

        hostd_req(&hp, "GET", "/api/v1/status", NULL, CERT_OTHER_CA, &r);
        ck_assert_msg(r.status == 0 || r.status == 403, "wrong CA: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);

        /* A state-changing request without a certificate changes nothing. */
        g_autofree char *body = g_strdup_printf(
                "{\"version\":1,\"kernel\":\"%s/vmlinuz\",\"disk\":\"%s/base.qcow2\"}", fixdir,
                fixdir);
        hostd_req(&hp, "PUT", "/api/v1/images/sneaky", body, CERT_OTHER_CA, &r);
        ck_assert(r.status == 0 || r.status == 403);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(count_entries("images"), 0);

        hostd_req(&hp, "GET", "/api/v1/status", NULL, CERT_CLIENT, &r);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
}
END_TEST

START_TEST(test_image_import)
{
        struct hostd_reply r;
        struct stat st;
        g_autofree char *disk = g_build_filename(hp.state_dir, "images", "deb12-v1", "disk.qcow2",
                                                 NULL);
        g_autofree char *kernel = g_build_filename(hp.state_dir, "images", "deb12-v1", "kernel",
                                                   NULL);

        import_image("deb12-v1", "base.qcow2", "qcow2", 201);
        ck_assert_int_eq(stat(disk, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0444); /* read-only base */
        ck_assert_int_eq(stat(kernel, &st), 0);
        ck_assert_int_eq(st.st_size, 4096);
        /* Retried PUT of the same image: 200, nothing new. */
        import_image("deb12-v1", "base.qcow2", "qcow2", 200);
        /* Same id, different content: 409. */
        r = call("PUT", "/api/v1/images/deb12-v1",
                 "{\"version\": 2, \"kernel\": \"%s/vmlinuz\", \"disk\": \"%s/base.qcow2\"}",
                 fixdir, fixdir);
        ck_assert_int_eq(r.status, 409);
        ck_assert_str_eq(jstr(r.json, "error"), "conflict");
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "message"), "deb12-v1"));
        hostd_reply_clear(&r);
        /* A raw image by hard link. */
        r = call("PUT", "/api/v1/images/rawimg",
                 "{\"version\": 3, \"kernel\": \"%s/vmlinuz\", \"disk\": \"%s/base.raw\", "
                 "\"format\": \"raw\", \"mode\": \"link\"}",
                 fixdir, fixdir);
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "virtual_size")), 16 << 20);
        hostd_reply_clear(&r);

        /* A guest on virtio-gpu: this tree's vdi-vm has it. Retried: 200. */
        import_gpu_image("gpu", 201, NULL);
        import_gpu_image("gpu", 200, NULL);

        r = call("GET", "/api/v1/images", NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_uint_eq(json_array_size(json_object_get(r.json, "images")), 3);
        hostd_reply_clear(&r);
        r = call("GET", "/api/v1/images/deb12-v1", NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(jstr(r.json, "cmdline"), "console=ttyS0 quiet");
        ck_assert_str_eq(jstr(r.json, "disk"), disk);
        ck_assert_str_eq(jstr(r.json, "display"), "vesa");
        hostd_reply_clear(&r);
        r = call("GET", "/api/v1/images/nope", NULL);
        ck_assert_int_eq(r.status, 404);
        hostd_reply_clear(&r);

        /* Images survive a daemon restart, display and all. */
        hostd_proc_stop(&hp);
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        r = call("GET", "/api/v1/images", NULL);
        ck_assert_uint_eq(json_array_size(json_object_get(r.json, "images")), 3);
        hostd_reply_clear(&r);
        import_gpu_image("gpu", 200, NULL);
}
END_TEST

static void expect_refused(const char *ctype, const char *body, long status, const char *code,
                           const char *msg_part)
{
        struct hostd_reply r;

        if (ctype) {
                /* hostd_req always sends JSON; use curl directly for others. */
                CURL *c = curl_easy_init();
                g_autofree char *url = g_strdup_printf("https://127.0.0.1:%d/api/v1/images/bad",
                                                       hp.port);
                g_autofree char *ca = g_build_filename(fixdir, "ca.pem", NULL);
                g_autofree char *crt = g_build_filename(fixdir, "client.pem", NULL);
                g_autofree char *key = g_build_filename(fixdir, "client.key", NULL);
                g_autofree char *h = g_strdup_printf("Content-Type: %s", ctype);
                struct curl_slist *hdrs = curl_slist_append(NULL, h);
                long st = 0;
                curl_easy_setopt(c, CURLOPT_URL, url);
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
                curl_easy_setopt(c, CURLOPT_CAINFO, ca);
                curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
                curl_easy_setopt(c, CURLOPT_SSLKEY, key);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                FILE *sink = fopen("/dev/null", "w");
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
                ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
                curl_slist_free_all(hdrs);
                curl_easy_cleanup(c);
                fclose(sink);
                ck_assert_int_eq(st, status);
                return;
        }
        hostd_req(&hp, "PUT", "/api/v1/images/bad", body, CERT_CLIENT, &r);
        ck_assert_msg(r.status == status, "%s → %ld %s", body, r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "error"), code);
        if (msg_part)
                ck_assert_msg(strstr(jstr(r.json, "message"), msg_part), "message: %s",
                              jstr(r.json, "message"));
        hostd_reply_clear(&r);
}

START_TEST(test_image_bad_requests)
{
        g_autofree char *b = NULL;

        expect_refused(NULL, "{\"version\": 1, \"kernel\": ", 400, "bad_json", "malformed JSON");
        expect_refused(NULL, "[1,2]", 400, "bad_json", "object");
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\"}", fixdir);
        expect_refused(NULL, b, 400, "bad_request", "disk");
        g_free(b);
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", \"disk\": "
                            "\"%s/base.qcow2\", \"format\": \"vmdk\"}", fixdir, fixdir);
        expect_refused(NULL, b, 400, "bad_request", "vmdk");
        g_free(b);
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", \"disk\": "
                            "\"%s/base.qcow2\", \"colour\": \"red\"}", fixdir, fixdir);
        expect_refused(NULL, b, 400, "bad_request", "colour");
        g_free(b);
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/missing\", \"disk\": "
                            "\"%s/base.qcow2\"}", fixdir, fixdir);
        expect_refused(NULL, b, 422, "file_not_found", "missing");
        g_free(b);
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", \"disk\": "
                            "\"%s/garbage.qcow2\"}", fixdir, fixdir);
        expect_refused(NULL, b, 400, "bad_image", "garbage.qcow2");
        g_free(b);
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", \"disk\": "
                            "\"%s/layered.qcow2\"}", fixdir, fixdir);
        expect_refused(NULL, b, 400, "bad_image", "backing file");
        g_free(b);
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"vmlinuz\", \"disk\": "
                            "\"%s/base.qcow2\"}", fixdir);
        expect_refused(NULL, b, 400, "bad_request", "absolute");
        g_free(b);
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", \"disk\": "
                            "\"%s/base.qcow2\", \"display\": \"cirrus\"}", fixdir, fixdir);
        expect_refused(NULL, b, 400, "bad_request", "cirrus");
        g_free(b);
        b = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", \"disk\": "
                            "\"%s/base.qcow2\", \"display\": 2}", fixdir, fixdir);
        expect_refused(NULL, b, 400, "bad_request", "display");
        expect_refused("text/plain", "hello", 415, NULL, NULL);
        /* Nothing was written, and nothing is listed. */
        ck_assert_uint_eq(count_entries("images"), 0);
        struct hostd_reply r = call("GET", "/api/v1/images", NULL);
        ck_assert_uint_eq(json_array_size(json_object_get(r.json, "images")), 0);
        hostd_reply_clear(&r);
}
END_TEST

START_TEST(test_vm_linked_clone)
{
        struct hostd_reply r;
        g_autofree char *overlay = g_build_filename(hp.state_dir, "vms", "101", "disk.qcow2", NULL);
        g_autofree char *base = g_build_filename(hp.state_dir, "images", "deb12-v1", "disk.qcow2",
                                                 NULL);
        g_autofree char *cmd = NULL, *out = NULL;
        int st;

        import_image("deb12-v1", "base.qcow2", "qcow2", 201);
        r = call("PUT", "/api/v1/vms/101", "{\"image\": \"deb12-v1\", \"cpus\": 2, "
                 "\"memory_mb\": 256}");
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "state"), "stopped");
        ck_assert_str_eq(jstr(r.json, "disk"), overlay);
        int spice = (int)json_integer_value(json_object_get(r.json, "spice_port"));
        int rdp = (int)json_integer_value(json_object_get(r.json, "rdp_port"));
        ck_assert_int_ge(spice, 47000);
        ck_assert_int_ne(spice, rdp);
        hostd_reply_clear(&r);

        /* qemu-img sees a qcow2 overlay whose backing file is the base. */
        cmd = g_strdup_printf("%s info --output=json %s", QEMU_IMG, overlay);
        out = run(cmd, &st);
        ck_assert_int_eq(st, 0);
        json_t *info = json_loads(out, 0, NULL);
        ck_assert_ptr_nonnull(info);
        ck_assert_str_eq(jstr(info, "format"), "qcow2");
        ck_assert_str_eq(jstr(info, "backing-filename"), base);
        ck_assert_str_eq(jstr(info, "backing-filename-format"), "qcow2");
        ck_assert_int_eq(json_integer_value(json_object_get(info, "virtual-size")), 64 << 20);
        json_decref(info);
        g_free(cmd);
        g_free(out);
        cmd = g_strdup_printf("%s check %s", QEMU_IMG, overlay);
        out = run(cmd, &st);
        ck_assert_msg(st == 0, "qemu-img check: %s", out);

        /* Retry: same answer, same ports. */
        r = call("PUT", "/api/v1/vms/101", "{\"image\": \"deb12-v1\", \"cpus\": 2, "
                 "\"memory_mb\": 256}");
        ck_assert_int_eq(r.status, 200);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "spice_port")), spice);
        hostd_reply_clear(&r);
        /* Conflict. */
        r = call("PUT", "/api/v1/vms/101", "{\"image\": \"deb12-v1\", \"cpus\": 4}");
        ck_assert_int_eq(r.status, 409);
        ck_assert_str_eq(jstr(r.json, "error"), "conflict");
        hostd_reply_clear(&r);
        /* Unknown image, malformed JSON, bad fields, bad id: refused, no trace. */
        r = call("PUT", "/api/v1/vms/102", "{\"image\": \"nope\"}");
        ck_assert_int_eq(r.status, 422);
        ck_assert_str_eq(jstr(r.json, "error"), "unknown_image");
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "message"), "\"nope\""));
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/102", "{\"image\": \"deb12-v1\", ");
        ck_assert_int_eq(r.status, 400);
        ck_assert_str_eq(jstr(r.json, "error"), "bad_json");
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/102", "{\"cpus\": 2}");
        ck_assert_int_eq(r.status, 400);
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/102", "{\"image\": \"deb12-v1\", \"cpus\": 0}");
        ck_assert_int_eq(r.status, 400);
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/.hidden", "{\"image\": \"deb12-v1\"}");
        ck_assert_int_ge(r.status, 400);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(count_entries("vms"), 1);

        r = call("GET", "/api/v1/vms", NULL);
        ck_assert_uint_eq(json_array_size(json_object_get(r.json, "vms")), 1);
        hostd_reply_clear(&r);

        /* Delete: files gone; a retried delete still succeeds. */
        r = call("DELETE", "/api/v1/vms/101", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        ck_assert_int_ne(access(overlay, F_OK), 0);
        r = call("DELETE", "/api/v1/vms/101", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(count_entries("vms"), 0);
}
END_TEST

START_TEST(test_vm_refresh_drops_writes)
{
        struct hostd_reply r;
        g_autofree char *overlay = g_build_filename(hp.state_dir, "vms", "7", "disk.qcow2", NULL);
        g_autofree char *cmd = NULL, *out = NULL;
        int st;

        import_image("img", "base.qcow2", "qcow2", 201);
        r = call("PUT", "/api/v1/vms/7", "{\"image\": \"img\"}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);
        /* A user writes into the desktop's disk. */
        cmd = g_strdup_printf("qemu-io -f qcow2 -c 'write -P 0xab 1M 64k' %s", overlay);
        out = run(cmd, &st);
        ck_assert_msg(st == 0, "%s", out);
        g_free(cmd);
        g_free(out);
        cmd = g_strdup_printf("qemu-io -f qcow2 -c 'read -P 0xab 1M 64k' %s", overlay);
        out = run(cmd, &st);
        ck_assert_msg(st == 0 && !strstr(out, "fail"), "%s", out);
        g_free(out);

        r = call("POST", "/api/v1/vms/7/refresh", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        /* The write is gone: the base's zeros show through again. */
        g_free(cmd);
        cmd = g_strdup_printf("qemu-io -f qcow2 -c 'read -P 0 1M 64k' %s", overlay);
        out = run(cmd, &st);
        ck_assert_msg(st == 0 && !strstr(out, "fail"), "%s", out);
        g_free(out);
        g_free(cmd);
        cmd = g_strdup_printf("%s check %s", QEMU_IMG, overlay);
        out = run(cmd, &st);
        ck_assert_msg(st == 0, "%s", out);

        r = call("POST", "/api/v1/vms/404/refresh", NULL);
        ck_assert_int_eq(r.status, 404);
        hostd_reply_clear(&r);
}
END_TEST

START_TEST(test_tickets_and_status)
{
        struct hostd_reply r;

        import_image("img", "base.qcow2", "qcow2", 201);
        r = call("PUT", "/api/v1/vms/55", "{\"image\": \"img\", \"memory_mb\": 128}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);

        r = call("POST", "/api/v1/vms/55/tickets",
                 "{\"protocol\": \"spice\", \"user\": \"alice\", \"expiry_s\": 120}");
        ck_assert_int_eq(r.status, 409);
        ck_assert_str_eq(jstr(r.json, "error"), "vm_not_running");
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/56/tickets", "{\"protocol\": \"rdp\", \"user\": \"alice\"}");
        ck_assert_int_eq(r.status, 404);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/55/tickets", "{\"protocol\": \"vnc\", \"user\": \"alice\"}");
        ck_assert_int_eq(r.status, 400);
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "message"), "spice, rdp or web"));
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/55/tickets",
                 "{\"protocol\": \"rdp\", \"user\": \"alice\", \"expiry_s\": 999999}");
        ck_assert_int_eq(r.status, 400);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/55/tickets", "{\"protocol\": \"rdp\"}");
        ck_assert_int_eq(r.status, 400);
        hostd_reply_clear(&r);

        r = call("GET", "/api/v1/status", NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(jstr(r.json, "host"), "test-host");
        json_t *cpu = json_object_get(r.json, "cpu"), *mem = json_object_get(r.json, "memory_mb");
        ck_assert_int_ge(json_integer_value(json_object_get(cpu, "count")), 1);
        ck_assert_int_gt(json_integer_value(json_object_get(mem, "total")), 0);
        json_t *vms = json_object_get(r.json, "vms");
        ck_assert_uint_eq(json_array_size(vms), 1);
        ck_assert_str_eq(jstr(json_array_get(vms, 0), "id"), "55");
        ck_assert_str_eq(jstr(json_array_get(vms, 0), "state"), "stopped");
        hostd_reply_clear(&r);
}
END_TEST

/* The real vdi-vm without /dev/kvm exits with an error: hostd must report
 * that as a crash, never restart it. */
START_TEST(test_real_vdi_vm_failure_is_a_crash)
{
        struct hostd_reply r;

        if (access("/dev/kvm", R_OK | W_OK) == 0)
                return; /* it would boot: tests/hostd/lab.sh covers that */
        import_image("img", "base.qcow2", "qcow2", 201);
        r = call("PUT", "/api/v1/vms/9", "{\"image\": \"img\", \"memory_mb\": 128}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/9/start", NULL);
        /* Either it is seen starting, or dying at once. */
        ck_assert_msg(r.status == 200 || r.status == 500, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        ck_assert(hostd_wait_state(&hp, "9", "crashed", 10000) ||
                  hostd_wait_state(&hp, "9", "stopped", 100));
        r = call("GET", "/api/v1/vms/9", NULL);
        ck_assert_ptr_nonnull(jstr(r.json, "last_error"));
        hostd_reply_clear(&r);
        /* Not restarted behind our back. */
        g_usleep(500 * 1000);
        r = call("GET", "/api/v1/vms/9", NULL);
        ck_assert_str_ne(jstr(r.json, "state"), "running");
        hostd_reply_clear(&r);
}
END_TEST

static pid_t vm_pid(const char *id)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
        struct hostd_reply r = call("GET", path, NULL);
        pid_t pid = (pid_t)json_integer_value(json_object_get(r.json, "pid"));
        hostd_reply_clear(&r);
        return pid;
}

static bool has_event(const char *id, const char *event, const char *reason_part)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
        struct hostd_reply r = call("GET", path, NULL);
        json_t *evs = json_object_get(r.json, "events"), *ev;
        size_t i;
        bool found = false;

        json_array_foreach(evs, i, ev) {
                if (g_strcmp0(jstr(ev, "event"), event) == 0 &&
                    (!reason_part || (jstr(ev, "reason") && strstr(jstr(ev, "reason"),
                                                                   reason_part))))
                        found = true;
        }
        hostd_reply_clear(&r);
        return found;
}

/* Supervision with a process stand-in (no KVM here): start, argv, hostd
 * killed → VM survives and is re-adopted, VM killed → crash event, stop. */
/* The argv vdi-hostd gave VM id's vdi-vm (sleeper-vm wrote it), g_free. */
static char *vm_argv(const char *id)
{
        g_autofree char *path = g_build_filename(hp.state_dir, "vms", id, "argv", NULL);
        char *text = NULL;

        for (int i = 0; i < 50 && access(path, F_OK) != 0; i++)
                g_usleep(100 * 1000);
        ck_assert(g_file_get_contents(path, &text, NULL, NULL));
        return text;
}

/* A pool's clipboard policy: vdi-vm --clipboard; a new policy for an
 * existing VM is stored (200, no 409: a dedicated desktop keeps its disk)
 * and survives a restart of vdi-hostd; bad values are refused. */
static void check_clipboard_policy(void)
{
        struct hostd_reply r;
        g_autofree char *text = NULL;

        r = call("PUT", "/api/v1/vms/33", "{\"image\": \"gpu\", \"clipboard\": \"none\"}");
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "clipboard"), "none");
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/33/start", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        text = vm_argv("33");
        ck_assert_ptr_nonnull(strstr(text, "--clipboard\nnone\n"));
        r = call("PUT", "/api/v1/vms/33", "{\"image\": \"gpu\", \"clipboard\": \"guest-to-client\"}");
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "clipboard"), "guest-to-client");
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/33", "{\"image\": \"gpu\", \"clipboard\": \"sideways\"}");
        ck_assert_int_eq(r.status, 400);
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "message"), "sideways"));
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/34", "{\"image\": \"gpu\", \"clipboard\": 3}");
        ck_assert_int_eq(r.status, 400);
        hostd_reply_clear(&r);
        hostd_proc_stop(&hp);
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        r = call("GET", "/api/v1/vms/33", NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(jstr(r.json, "clipboard"), "guest-to-client");
        hostd_reply_clear(&r);
        /* "both" is the default: not stored, not passed. */
        r = call("PUT", "/api/v1/vms/33", "{\"image\": \"gpu\", \"clipboard\": \"both\"}");
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_null(json_object_get(r.json, "clipboard"));
        hostd_reply_clear(&r);
}

START_TEST(test_supervision_and_readoption)
{
        struct hostd_reply r;
        g_autofree char *argvf = NULL, *text = NULL;
        pid_t pid;

        hostd_down();
        g_autofree char *sleeper = g_strdup_printf("%s/tests/hostd/sleeper-vm",
                                                   getenv("abs_top_srcdir") ? getenv("abs_top_srcdir")
                                                                            : TOP_SRCDIR);
        hostd_up_with(sleeper);
        import_image("img", "base.qcow2", "qcow2", 201);
        r = call("PUT", "/api/v1/vms/31", "{\"image\": \"img\", \"cpus\": 2, \"memory_mb\": 300}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/31/start", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "state"), "running");
        hostd_reply_clear(&r);
        /* Idempotent start. */
        r = call("POST", "/api/v1/vms/31/start", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        pid = vm_pid("31");
        ck_assert_int_gt(pid, 1);

        /* The arguments vdi-hostd gave "vdi-vm". */
        argvf = g_build_filename(hp.state_dir, "vms", "31", "argv", NULL);
        for (int i = 0; i < 50 && access(argvf, F_OK) != 0; i++)
                g_usleep(100 * 1000);
        ck_assert(g_file_get_contents(argvf, &text, NULL, NULL));
        ck_assert_ptr_nonnull(strstr(text, "--kernel\n"));
        ck_assert_ptr_nonnull(strstr(text, "/images/img/kernel\n"));
        ck_assert_ptr_nonnull(strstr(text, "--initrd\n"));
        ck_assert_ptr_nonnull(strstr(text, "--cmdline\nconsole=ttyS0 quiet\n"));
        ck_assert_ptr_nonnull(strstr(text, "--cpus\n2\n--memory\n300\n"));
        ck_assert_ptr_nonnull(strstr(text, "--console\n"));
        ck_assert_ptr_null(strstr(text, "--display\n")); /* a VESA image */

        /* hostd dies hard: the VM lives on; a new hostd adopts it. */
        hostd_proc_kill(&hp);
        ck_assert_int_eq(kill(pid, 0), 0);
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        r = call("GET", "/api/v1/vms/31", NULL);
        ck_assert_str_eq(jstr(r.json, "state"), "running");
        ck_assert(json_is_true(json_object_get(r.json, "adopted")));
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "pid")), pid);
        hostd_reply_clear(&r);
        ck_assert(has_event("31", "adopted", NULL));
        /* Orderly hostd stop: VM lives on too. */
        hostd_proc_stop(&hp);
        ck_assert_int_eq(kill(pid, 0), 0);
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        ck_assert_int_eq(vm_pid("31"), pid);

        /* The VM process dies unasked: a crash, reported, not restarted. */
        kill(pid, SIGKILL);
        ck_assert(hostd_wait_state(&hp, "31", "crashed", 5000));
        ck_assert(has_event("31", "crashed", "vdi-vm exited"));
        g_usleep(300 * 1000);
        ck_assert(hostd_wait_state(&hp, "31", "crashed", 100));

        /* Started again by request; stopped by request: no crash. */
        r = call("POST", "/api/v1/vms/31/start", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        pid = vm_pid("31");
        r = call("POST", "/api/v1/vms/31/stop", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "state"), "stopped");
        hostd_reply_clear(&r);
        ck_assert(has_event("31", "stopped", NULL));
        ck_assert_int_ne(kill(pid, 0), 0);
        r = call("POST", "/api/v1/vms/31/stop", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        /* No control socket in the stand-in: tickets say so clearly. */
        r = call("POST", "/api/v1/vms/31/start", NULL);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/31/tickets", "{\"protocol\": \"spice\", \"user\": \"bob\"}");
        ck_assert_int_eq(r.status, 503);
        ck_assert_str_eq(jstr(r.json, "error"), "no_control");
        hostd_reply_clear(&r);
        /* Delete stops it first. */
        pid = vm_pid("31");
        r = call("DELETE", "/api/v1/vms/31", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        ck_assert_int_ne(kill(pid, 0), 0);

        /* A virtio-gpu image's desktop gets --display virtio-gpu. */
        import_gpu_image("gpu", 201, NULL);
        r = call("PUT", "/api/v1/vms/32", "{\"image\": \"gpu\"}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/32/start", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        g_free(argvf);
        g_free(text);
        text = NULL;
        argvf = g_build_filename(hp.state_dir, "vms", "32", "argv", NULL);
        for (int i = 0; i < 50 && access(argvf, F_OK) != 0; i++)
                g_usleep(100 * 1000);
        ck_assert(g_file_get_contents(argvf, &text, NULL, NULL));
        ck_assert_ptr_nonnull(strstr(text, "--display\nvirtio-gpu\n"));
        ck_assert_ptr_null(strstr(text, "--clipboard")); /* the default: both */
        check_clipboard_policy();
}
END_TEST


/* Pool networking on the host (issue 13): the VM's "network" (bridge,
 * VLAN), its MAC from [network] mac_prefix and the id, bad requests. The
 * tap itself is made on a real bridge in tests/vmm/net.sh's lab run. */
START_TEST(test_vm_network)
{
        struct hostd_reply r;
        g_autofree char *mac1 = NULL;
        json_t *net;

        import_image("img", "base.qcow2", "qcow2", 201);
        r = call("PUT", "/api/v1/vms/n1", "{\"image\": \"img\", \"network\": {\"bridge\": \"br/0\"}}");
        ck_assert_int_eq(r.status, 400);
        ck_assert_msg(strstr(r.raw, "bridge \\\"br/0\\\" is not a valid interface name"), "%s", r.raw);
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/n1", "{\"image\": \"img\", \"network\": {\"bridge\": \"br0\", \"vlan\": 4095}}");
        ck_assert_int_eq(r.status, 400);
        ck_assert_msg(strstr(r.raw, "vlan 4095 is out of range 1..4094"), "%s", r.raw);
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/n1",
                 "{\"image\": \"img\", \"network\": {\"bridge\": \"br0\", \"mac\": \"02:00:00:00:00:01\"}}");
        ck_assert_int_eq(r.status, 400);
        ck_assert_msg(strstr(r.raw, "mac is chosen by the host"), "%s", r.raw);
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/n1", "{\"image\": \"img\", \"network\": {\"brige\": \"br0\"}}");
        ck_assert_int_eq(r.status, 400);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(count_entries("vms"), 0);

        r = call("PUT", "/api/v1/vms/n1",
                 "{\"image\": \"img\", \"memory_mb\": 128, \"network\": {\"bridge\": \"vdinobr0\", \"vlan\": 10}}");
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        net = json_object_get(r.json, "network");
        ck_assert_str_eq(jstr(net, "bridge"), "vdinobr0");
        ck_assert_int_eq(json_integer_value(json_object_get(net, "vlan")), 10);
        ck_assert_int_eq(strncmp(jstr(net, "mac"), "02:56:44:", 9), 0);
        mac1 = g_strdup(jstr(net, "mac"));
        ck_assert_int_eq(strncmp(jstr(net, "tap"), "vdi", 3), 0);
        hostd_reply_clear(&r);
        /* idempotent repeat; a different network is a conflict */
        r = call("PUT", "/api/v1/vms/n1",
                 "{\"image\": \"img\", \"memory_mb\": 128, \"network\": {\"bridge\": \"vdinobr0\", \"vlan\": 10}}");
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(jstr(json_object_get(r.json, "network"), "mac"), mac1);
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/n1",
                 "{\"image\": \"img\", \"memory_mb\": 128, \"network\": {\"bridge\": \"vdinobr0\", \"vlan\": 11}}");
        ck_assert_int_eq(r.status, 409);
        hostd_reply_clear(&r);
        /* another desktop, another MAC */
        r = call("PUT", "/api/v1/vms/n2", "{\"image\": \"img\", \"memory_mb\": 128, \"network\": {\"bridge\": \"vdinobr0\"}}");
        ck_assert_int_eq(r.status, 201);
        ck_assert_str_ne(jstr(json_object_get(r.json, "network"), "mac"), mac1);
        ck_assert_ptr_null(json_object_get(json_object_get(r.json, "network"), "vlan"));
        hostd_reply_clear(&r);
        /* the same id gets the same MAC again after a delete */
        r = call("DELETE", "/api/v1/vms/n1", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/n1",
                 "{\"image\": \"img\", \"memory_mb\": 128, \"network\": {\"bridge\": \"vdinobr0\", \"vlan\": 10}}");
        ck_assert_int_eq(r.status, 201);
        ck_assert_str_eq(jstr(json_object_get(r.json, "network"), "mac"), mac1);
        hostd_reply_clear(&r);
        /* a start on a bridge that does not exist fails, naming it */
        r = call("POST", "/api/v1/vms/n1/start", NULL);
        ck_assert_int_eq(r.status, 500);
        ck_assert_msg(strstr(r.raw, "bridge vdinobr0 does not exist (create it: ip link add vdinobr0 type bridge)"),
                      "%s", r.raw);
        hostd_reply_clear(&r);
        r = call("GET", "/api/v1/vms/n1", NULL);
        ck_assert_str_eq(jstr(r.json, "state"), "stopped");
        hostd_reply_clear(&r);
}
END_TEST

/* A vdi-vm killed by its seccomp filter: vdi-hostd names the call and the
 * thread class in the crash (stand-in with the real filters, no KVM). */
START_TEST(test_seccomp_kill_reported)
{
        static const char *const cases[][2] = {
                { "display", "syscall socket from the display thread (rdp-peer)" },
                { "vcpu", "syscall openat from the vcpu thread (vcpu)" },
        };
        g_autofree char *stand_in = g_strdup_printf("%s/tests/hostd/jail-vm",
                                                    getenv("abs_top_builddir") ? getenv("abs_top_builddir")
                                                                               : TOP_BUILDDIR);

        hostd_down();
        hostd_up_with(stand_in);
        import_image("img", "base.qcow2", "qcow2", 201);
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *id = g_strdup_printf("%zu", 41 + i);
                g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
                g_autofree char *start = g_strdup_printf("/api/v1/vms/%s/start", id);
                g_autofree char *trip = g_build_filename(hp.state_dir, "vms", id, "trip", NULL);
                g_autofree char *want = NULL;
                struct hostd_reply r = call("PUT", path, "{\"image\": \"img\", \"cpus\": 1, \"memory_mb\": 128}");
                pid_t pid;

                ck_assert_int_eq(r.status, 201);
                hostd_reply_clear(&r);
                r = call("POST", start, NULL);
                ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
                hostd_reply_clear(&r);
                pid = vm_pid(id);
                ck_assert(g_file_set_contents(trip, cases[i][0], -1, NULL));
                ck_assert(hostd_wait_state(&hp, id, "crashed", 10000));
                want = g_strdup_printf("vdi-vm %d killed by seccomp: %s", (int)pid, cases[i][1]);
                ck_assert_msg(has_event(id, "crashed", want), "no crash event with \"%s\"", want);
                r = call("GET", path, NULL);
                ck_assert_str_eq(jstr(r.json, "last_error"), want);
                hostd_reply_clear(&r);
        }
}
END_TEST

/* [vm] seccomp reaches vdi-vm as --seccomp: on unless turned off (the
 * hollow VM writes what it was given to seccomp.log). */
START_TEST(test_seccomp_option)
{
        static const char *const cases[][2] = { { NULL, "on" }, { "false", "off" }, { "true", "on" } };
        g_autofree char *hollow = hostd_proc_hollow_vm();

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *id = g_strdup_printf("%zu", 61 + i);
                g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
                g_autofree char *start = g_strdup_printf("/api/v1/vms/%s/start", id);
                g_autofree char *log = NULL, *got = NULL;
                struct hostd_reply r;

                hostd_down();
                memset(&hp, 0, sizeof(hp));
                hp.pki = fixdir;
                hp.vm_binary = g_strdup(hollow);
                hp.vm_seccomp = cases[i][0];
                ck_assert_int_eq(hostd_proc_start(&hp), 0);
                import_image("img", "base.qcow2", "qcow2", 201);
                r = call("PUT", path, "{\"image\": \"img\", \"cpus\": 1, \"memory_mb\": 128}");
                ck_assert_int_eq(r.status, 201);
                hostd_reply_clear(&r);
                r = call("POST", start, NULL);
                ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
                hostd_reply_clear(&r);
                log = g_build_filename(hp.state_dir, "vms", id, "seccomp.log", NULL);
                for (int k = 0; k < 100 && !g_file_get_contents(log, &got, NULL, NULL); k++)
                        g_usleep(100 * 1000);
                ck_assert_msg(got, "[vm] seccomp=%s: no --seccomp given", cases[i][0] ? cases[i][0] : "(default)");
                ck_assert_str_eq(got, cases[i][1]);
        }
}
END_TEST

/* Files named screenshot-* left in a VM's directory. */
static unsigned screenshot_files(const char *id)
{
        g_autofree char *dir = g_build_filename(hp.state_dir, "vms", id, NULL);
        GDir *d = g_dir_open(dir, 0, NULL);
        const char *name;
        unsigned n = 0;
        while (d && (name = g_dir_read_name(d)))
                n += g_str_has_prefix(name, "screenshot-");
        if (d)
                g_dir_close(d);
        return n;
}

/* Start VM id (just made from image "img") and wait until it runs. */
static void start_running(const char *id)
{
        g_autofree char *start = g_strdup_printf("/api/v1/vms/%s/start", id);
        struct hostd_reply r = call("POST", start, NULL);

        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        ck_assert(hostd_wait_state(&hp, id, "running", 10000));
}

/* POST .../ACTION (with its query) of VM id, again while vdi-hostd has
 * no control connection yet (503: it may lag the start). */
static struct hostd_reply post_when_connected(const char *id, const char *action)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s/%s", id, action);
        struct hostd_reply r;

        for (int i = 0; i < 100; i++) {
                r = call("POST", path, NULL);
                if (r.status != 503)
                        break;
                hostd_reply_clear(&r);
                g_usleep(100000);
        }
        return r;
}

/* The admin console's thumbnail and "disconnect user" through the control
 * socket of the hollow VM (tests/hostd/hollow-vm draws a real picture). */
START_TEST(test_screenshot_and_disconnect)
{
        g_autofree char *hollow = hostd_proc_hollow_vm();
        struct hostd_reply r;

        hostd_down();
        hostd_up_with(hollow);
        import_image("img", "base.qcow2", "qcow2", 201);
        /* This stand-in has no --display virtio-gpu: such an image is
         * refused at import, not at the desktop's first start. */
        import_gpu_image("gpu", 400, "unsupported_display");
        ck_assert_uint_eq(count_entries("images"), 1);
        /* Nor --clipboard: a pool's policy is refused, not dropped. */
        r = call("PUT", "/api/v1/vms/62", "{\"image\": \"img\", \"clipboard\": \"none\"}");
        ck_assert_int_eq(r.status, 400);
        ck_assert_str_eq(jstr(r.json, "error"), "unsupported_clipboard");
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/61", "{\"image\": \"img\", \"memory_mb\": 128}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/61/screenshot", NULL);
        ck_assert_int_eq(r.status, 409);
        ck_assert_str_eq(jstr(r.json, "error"), "vm_not_running");
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/62/screenshot", NULL);
        ck_assert_int_eq(r.status, 404);
        hostd_reply_clear(&r);
        start_running("61");

        /* Default box 320 x 240: the 640 x 480 screen halved, as PNG. */
        r = post_when_connected("61", "screenshot");
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "width")), 320);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "height")), 240);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "source_width")), 640);
        gsize len = 0;
        g_autofree guchar *png = g_base64_decode(jstr(r.json, "png"), &len);
        ck_assert_uint_gt(len, 8);
        ck_assert_int_eq(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(screenshot_files("61"), 0);
        r = call("POST", "/api/v1/vms/61/screenshot?max_width=100&max_height=100", NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "height")), 75);
        hostd_reply_clear(&r);
        static const char *const bad[] = { "max_width=5", "max_width=abc", "max_height=",
                                           "max_height=99999", "max_width=-320" };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *path = g_strdup_printf("/api/v1/vms/61/screenshot?%s", bad[i]);
                r = call("POST", path, NULL);
                ck_assert_msg(r.status == 400 && strstr(jstr(r.json, "message"), "16-1920"),
                              "%s: %ld %s", bad[i], r.status, r.raw);
                hostd_reply_clear(&r);
        }

        /* Nobody is connected: nothing dropped; the VM runs on. */
        r = call("POST", "/api/v1/vms/61/disconnect", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "sessions")), 0);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/62/disconnect", NULL);
        ck_assert_int_eq(r.status, 404);
        hostd_reply_clear(&r);
        ck_assert(hostd_wait_state(&hp, "61", "running", 1000));
}
END_TEST

/* The thumbnail of a VM whose process is another user's ([vm] user =
 * nobody; the hollow VM drops to it after making its control socket, as
 * vdi-vm --user does) under a root vdi-hostd. vdi-vm cannot open anything
 * in the VM's 0700 directory then, so a screenshot only works with the
 * memfd hostd passes over the control socket. */
START_TEST(test_screenshot_vm_as_other_user)
{
        g_autofree char *hollow = hostd_proc_hollow_vm();
        struct passwd *nobody = getpwnam("nobody");
        struct hostd_reply r;

        if (getuid() != 0 || !nobody) {
                fprintf(stderr, "# SKIP test_screenshot_vm_as_other_user: needs root and user nobody\n");
                return;
        }
        hostd_down();
        memset(&hp, 0, sizeof(hp));
        hp.pki = fixdir;
        hp.vm_binary = g_strdup(hollow);
        hp.vm_user = "nobody";
        /* the hollow VM offers --user only with this (see hollow-vm.c) */
        ck_assert_int_eq(setenv("HOLLOW_VM_USER_OPTION", "1", 1), 0);
        int started = hostd_proc_start(&hp);
        unsetenv("HOLLOW_VM_USER_OPTION");
        ck_assert_int_eq(started, 0);
        import_image("img", "base.qcow2", "qcow2", 201);
        r = call("PUT", "/api/v1/vms/63", "{\"image\": \"img\", \"memory_mb\": 128}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);
        start_running("63");
        r = call("GET", "/api/v1/vms/63", NULL);
        long pid = (long)json_integer_value(json_object_get(r.json, "pid"));
        hostd_reply_clear(&r);
        ck_assert_int_gt(pid, 1);
        /* it drops right after its socket is made: wait for that */
        for (int i = 0; i < 100 && hostd_proc_uid(pid) != (long)nobody->pw_uid; i++)
                g_usleep(50000);
        ck_assert_int_eq(hostd_proc_uid(pid), (long)nobody->pw_uid);

        r = post_when_connected("63", "screenshot");
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "source_width")), 640);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "source_height")), 480);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "width")), 320);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(screenshot_files("63"), 0);
}
END_TEST

static unsigned count_lines(const char *text)
{
        unsigned n = 0;
        for (const char *p = text; (p = strchr(p, '\n')); p++)
                n++;
        return n;
}

/* Entries of the VM's state directory (suspend.c). */
static unsigned vm_states(const char *id)
{
        g_autofree char *sub = g_build_filename("vms", id, "state", NULL);
        return count_entries(sub);
}

static bool vm_has_event(const char *id, const char *event)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
        struct hostd_reply r = call("GET", path, NULL);
        json_t *ev;
        size_t i;
        bool seen = false;

        json_array_foreach (json_object_get(r.json, "events"), i, ev)
                seen |= !g_strcmp0(jstr(ev, "event"), event);
        hostd_reply_clear(&r);
        return seen;
}

/* Suspend and resume (issue 20) as vdi-hostd drives them, with the hollow
 * VM standing in for vdi-vm's "suspend" and --restore: the process goes
 * (its memory with it), the state outlives a hostd restart, a start
 * resumes from it, a stop or refresh forgets it, and a refused suspend
 * leaves the VM running. */
START_TEST(test_suspend_resume)
{
        g_autofree char *hollow = hostd_proc_hollow_vm();
        g_autofree char *vmdir = NULL, *refuse = NULL, *restores = NULL, *log = NULL;
        struct hostd_reply r;
        long pid;

        hostd_down();
        hostd_up_with(hollow);
        vmdir = g_build_filename(hp.state_dir, "vms", "64", NULL);
        refuse = g_build_filename(vmdir, "suspend-refuse", NULL);
        restores = g_build_filename(vmdir, "restores.log", NULL);
        import_image("img", "base.qcow2", "qcow2", 201);
        r = call("PUT", "/api/v1/vms/64", "{\"image\": \"img\", \"memory_mb\": 128}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/64/suspend", NULL);
        ck_assert_msg(r.status == 409, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "error"), "vm_not_running");
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/65/suspend", NULL);
        ck_assert_int_eq(r.status, 404);
        hostd_reply_clear(&r);
        start_running("64");

        /* vdi-vm refuses: the VM runs on, the same process, nothing kept. */
        ck_assert(g_file_set_contents(refuse, "", 0, NULL));
        r = post_when_connected("64", "suspend");
        ck_assert_msg(r.status == 502 && strstr(jstr(r.json, "message"), "suspend-refuse"), "%ld %s", r.status,
                      r.raw);
        hostd_reply_clear(&r);
        unlink(refuse);
        r = call("GET", "/api/v1/vms/64", NULL);
        ck_assert_str_eq(jstr(r.json, "state"), "running");
        pid = (long)json_integer_value(json_object_get(r.json, "pid"));
        hostd_reply_clear(&r);
        ck_assert_uint_eq(vm_states("64"), 0);

        r = post_when_connected("64", "suspend");
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "state"), "suspended");
        ck_assert_ptr_null(json_object_get(r.json, "pid"));
        hostd_reply_clear(&r);
        ck_assert_int_eq(kill((pid_t)pid, 0), -1);
        ck_assert_uint_eq(vm_states("64"), 1);
        ck_assert(vm_has_event("64", "suspended"));
        r = call("POST", "/api/v1/vms/64/suspend", NULL);
        ck_assert_int_eq(r.status, 409);
        hostd_reply_clear(&r);

        /* A restarted vdi-hostd still has it suspended. */
        hostd_proc_kill(&hp);
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        ck_assert(hostd_wait_state(&hp, "64", "suspended", 100));

        /* A restore that is refused (its state is damaged) leaves it
         * suspended, with the reason, and loses nothing. */
        g_autofree char *states = g_build_filename(vmdir, "state", NULL);
        GDir *sd = g_dir_open(states, 0, NULL);
        ck_assert_ptr_nonnull(sd);
        g_autofree char *statefile = g_build_filename(states, g_dir_read_name(sd), "state", NULL);
        g_dir_close(sd);
        g_autofree char *moved = g_strconcat(statefile, ".away", NULL);
        ck_assert_int_eq(rename(statefile, moved), 0);
        r = call("POST", "/api/v1/vms/64/start", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        for (int i = 0; i < 100 && !vm_has_event("64", "resume_failed"); i++)
                g_usleep(100000);
        ck_assert(hostd_wait_state(&hp, "64", "suspended", 5000));
        r = call("GET", "/api/v1/vms/64", NULL);
        ck_assert_msg(g_str_has_prefix(jstr(r.json, "last_error"), "resume failed: vdi-vm exited with status 1"),
                      "%s", r.raw);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(vm_states("64"), 1);
        ck_assert_int_eq(rename(moved, statefile), 0);

        /* A user coming back (a ticket) resumes it from that state... */
        r = call("POST", "/api/v1/vms/64/tickets", "{\"protocol\": \"spice\", \"user\": \"alice\"}");
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        ck_assert(hostd_wait_state(&hp, "64", "running", 100));
        ck_assert(vm_has_event("64", "resumed"));
        ck_assert(g_file_get_contents(restores, &log, NULL, NULL));
        ck_assert_msg(g_str_has_prefix(log, "restored ") && strstr(log, "/vms/64/state/") &&
                              strchr(log, '\n') && strchr(log, '\n')[1] == 0,
                      "%s", log);
        g_clear_pointer(&log, g_free);
        /* ...and so does a start (the pool loop's); once suspended again,
         * only the newest state is kept. */
        r = post_when_connected("64", "suspend");
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(vm_states("64"), 1);
        start_running("64");
        for (int i = 0; i < 100 && (!g_file_get_contents(restores, &log, NULL, NULL) || count_lines(log) < 2); i++) {
                g_clear_pointer(&log, g_free);
                g_usleep(100000);
        }
        ck_assert_int_eq(count_lines(log), 2);
        g_clear_pointer(&log, g_free);
        r = post_when_connected("64", "suspend");
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        ck_assert_uint_eq(vm_states("64"), 1);

        /* A stop forgets the state: the next start boots. */
        r = call("POST", "/api/v1/vms/64/stop", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "state"), "stopped");
        hostd_reply_clear(&r);
        ck_assert_uint_eq(vm_states("64"), 0);
        start_running("64");
        ck_assert(g_file_get_contents(restores, &log, NULL, NULL));
        ck_assert_msg(count_lines(log) == 2, "booted, not resumed: %s", log);

        /* So does a refresh (the state was of the old disk). */
        r = post_when_connected("64", "suspend");
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/64/refresh", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "state"), "stopped");
        hostd_reply_clear(&r);
        ck_assert_uint_eq(vm_states("64"), 0);
}
END_TEST

/* The lines of VM id's restores.log (the hollow VM's --restore), once
 * there are at least want of them (it writes them after its start), at
 * most 10 s. */
static unsigned vm_restores(const char *id, unsigned want, char **text)
{
        g_autofree char *path = g_build_filename(hp.state_dir, "vms", id, "restores.log", NULL);

        for (int i = 0;; i++) {
                *text = NULL;
                if (!g_file_get_contents(path, text, NULL, NULL))
                        *text = g_strdup("");
                if (count_lines(*text) >= want || i == 100)
                        return count_lines(*text);
                g_free(*text);
                g_usleep(100000);
        }
}

/* Entries of dir (0 when it does not exist). */
static unsigned dir_entries(const char *dir)
{
        GDir *d = g_dir_open(dir, 0, NULL);
        unsigned n = 0;

        while (d && g_dir_read_name(d))
                n++;
        if (d)
                g_dir_close(d);
        return n;
}

/* GET /api/v1/parents: the parent of image's clones (a new reference), or NULL. */
static json_t *parent_of(const char *image)
{
        struct hostd_reply r = call("GET", "/api/v1/parents", NULL);
        json_t *arr = json_object_get(r.json, "parents"), *p, *found = NULL;
        size_t i;

        ck_assert_msg(r.status == 200 && json_is_array(arr), "%ld %s", r.status, r.raw);
        json_array_foreach (arr, i, p)
                if (!g_strcmp0(jstr(p, "image"), image))
                        found = json_incref(p);
        hostd_reply_clear(&r);
        return found;
}

/* Instant clones (issue 20) as vdi-hostd drives them, with the hollow VM
 * standing in for vdi-vm: the first clone's start prepares its image's
 * parent (booted until its agent is up, then suspended), every clone forks
 * from that one state (--restore) on its own overlay over the parent's
 * disk, the parent outlives a vdi-hostd restart, a refresh forks again,
 * and a parent whose agent never comes up fails its waiting clones with
 * the reason. */
START_TEST(test_instant_clones)
{
        g_autofree char *hollow = hostd_proc_hollow_vm();
        g_autofree char *parents = NULL, *log = NULL, *state = NULL, *disk = NULL;
        struct hostd_reply r;
        struct stat st;
        json_t *p;

        hostd_down();
        memset(&hp, 0, sizeof(hp));
        hp.pki = fixdir;
        hp.vm_binary = g_strdup(hollow);
        hp.parent_ready_timeout_s = 10;
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        parents = g_build_filename(hp.state_dir, "parents", NULL);
        import_image("img", "base.qcow2", "qcow2", 201);

        r = call("PUT", "/api/v1/vms/i1", "{\"image\": \"img\", \"memory_mb\": 128, \"clone\": \"fork\"}");
        ck_assert_msg(r.status == 400 && strstr(jstr(r.json, "message"), "linked"), "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        /* No parent yet: the clone exists (its overlay comes with its start)
         * and the parent is being prepared. */
        r = call("PUT", "/api/v1/vms/i1", "{\"image\": \"img\", \"memory_mb\": 128, \"clone\": \"instant\"}");
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "clone"), "instant");
        ck_assert_ptr_null(json_object_get(r.json, "parent_state"));
        hostd_reply_clear(&r);
        p = parent_of("img");
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(!strcmp(jstr(p, "state"), "preparing") || !strcmp(jstr(p, "state"), "ready"), "%s",
                      jstr(p, "state"));
        json_decref(p);
        r = call("PUT", "/api/v1/vms/i1", "{\"image\": \"img\", \"memory_mb\": 128}");
        ck_assert_msg(r.status == 409 && strstr(jstr(r.json, "message"), "instant"), "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);

        /* Its start prepares the parent, then forks it from the parent's state. */
        start_running("i1");
        ck_assert_uint_eq(vm_restores("i1", 1, &log), 1);
        p = parent_of("img");
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(jstr(p, "state"), "ready");
        ck_assert_int_eq(json_integer_value(json_object_get(p, "clones")), 1);
        state = g_strdup(jstr(p, "state_dir"));
        json_decref(p);
        ck_assert_msg(g_str_has_prefix(state, parents), "%s", state);
        g_autofree char *want = g_strdup_printf("restored %s\n", state);
        ck_assert_str_eq(log, want);
        g_clear_pointer(&log, g_free);
        /* Booted once its control socket is open: no boot to wait for. */
        for (int i = 0; i < 100; i++) {
                r = call("GET", "/api/v1/vms/i1", NULL);
                if (json_is_true(json_object_get(r.json, "booted")))
                        break;
                hostd_reply_clear(&r);
                g_usleep(100000);
        }
        ck_assert_msg(json_is_true(json_object_get(r.json, "booted")), "%s", r.raw);
        ck_assert_str_eq(jstr(r.json, "parent_state"), state);
        hostd_reply_clear(&r);
        ck_assert(vm_has_event("i1", "booted"));
        /* Its own identity (its arguments were read before its control
         * socket came up): host name from its id, a fresh machine ID. */
        g_autofree char *idpath = g_build_filename(hp.state_dir, "vms", "i1", "identity.log", NULL);
        g_autofree char *ident = NULL;
        ck_assert(g_file_get_contents(idpath, &ident, NULL, NULL));
        ck_assert_msg(g_str_has_prefix(ident, "hostname vdi-i1\nmachine-id ") && strlen(ident) == 60, "%s", ident);
        /* The parent ran as a hidden VM: never listed, now gone; its disk
         * is read-only under every clone. */
        r = call("GET", "/api/v1/vms", NULL);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "vms")), 1);
        hostd_reply_clear(&r);
        g_autofree char *gen = g_path_get_dirname(state); /* GEN/vm/state */
        g_autofree char *vmdir = g_path_get_dirname(gen);
        disk = g_build_filename(vmdir, "disk.qcow2", NULL);
        ck_assert_int_eq(stat(disk, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0400);

        /* A second clone of the same shape forks from the same state at once. */
        r = call("PUT", "/api/v1/vms/i2", "{\"image\": \"img\", \"memory_mb\": 128, \"clone\": \"instant\"}");
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "parent_state"), state);
        hostd_reply_clear(&r);
        start_running("i2");
        ck_assert_uint_eq(vm_restores("i2", 1, &log), 1);
        ck_assert_str_eq(log, want);
        g_clear_pointer(&log, g_free);
        ck_assert_uint_eq(dir_entries(parents), 1);

        /* Parents outlive a vdi-hostd restart: no second parent. */
        hostd_proc_kill(&hp);
        ck_assert_int_eq(hostd_proc_start(&hp), 0);
        p = parent_of("img");
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(jstr(p, "state_dir"), state);
        ck_assert_int_eq(json_integer_value(json_object_get(p, "clones")), 2);
        json_decref(p);

        /* A clone that ran owns its disk: a stop and start boots it... */
        r = call("POST", "/api/v1/vms/i1/stop", NULL);
        ck_assert_int_eq(r.status, 200);
        hostd_reply_clear(&r);
        start_running("i1");
        hostd_reply_clear(&r);
        r = post_when_connected("i1", "disconnect"); /* its arguments are read by now */
        hostd_reply_clear(&r);
        ck_assert_uint_eq(vm_restores("i1", 1, &log), 1);
        g_clear_pointer(&log, g_free);
        /* ...and a refresh forks it afresh. */
        r = call("POST", "/api/v1/vms/i1/stop", NULL);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/i1/refresh", NULL);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.raw);
        ck_assert_str_eq(jstr(r.json, "parent_state"), state);
        hostd_reply_clear(&r);
        start_running("i1");
        ck_assert_uint_eq(vm_restores("i1", 2, &log), 2);
        g_clear_pointer(&log, g_free);

        /* A parent whose agent never comes up: the waiting clone crashes
         * with the reason, nothing of the parent is left, and the next
         * start within a minute is refused with it. */
        r = call("PUT", "/api/v1/images/noagent",
                 "{\"version\": 1, \"kernel\": \"%s/vmlinuz\", \"disk\": \"%s/base.qcow2\", "
                 "\"cmdline\": \"console=ttyS0 hollow.agent=no\"}",
                 fixdir, fixdir);
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        r = call("PUT", "/api/v1/vms/i3", "{\"image\": \"noagent\", \"memory_mb\": 128, \"clone\": \"instant\"}");
        ck_assert_int_eq(r.status, 201);
        hostd_reply_clear(&r);
        r = call("POST", "/api/v1/vms/i3/start", NULL);
        ck_assert_msg(r.status == 200 && json_is_true(json_object_get(r.json, "start_pending")), "%ld %s", r.status,
                      r.raw);
        hostd_reply_clear(&r);
        ck_assert(hostd_wait_state(&hp, "i3", "crashed", 30000));
        r = call("GET", "/api/v1/vms/i3", NULL);
        ck_assert_msg(strstr(jstr(r.json, "last_error"), "instant-clone parent: its guest agent did not come up"),
                      "%s", r.raw);
        hostd_reply_clear(&r);
        p = parent_of("noagent");
        ck_assert_str_eq(jstr(p, "state"), "failed");
        json_decref(p);
        ck_assert_uint_eq(dir_entries(parents), 1); /* img's only */
        r = call("POST", "/api/v1/vms/i3/start", NULL);
        ck_assert_msg(r.status == 500 && strstr(jstr(r.json, "message"), "failed"), "%ld %s", r.status, r.raw);
        hostd_reply_clear(&r);

        /* Deleting the last clones of an old generation keeps the current one. */
        r = call("DELETE", "/api/v1/vms/i1", NULL);
        hostd_reply_clear(&r);
        r = call("DELETE", "/api/v1/vms/i2", NULL);
        hostd_reply_clear(&r);
        ck_assert(g_file_test(state, G_FILE_TEST_IS_DIR));
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("hostd-api");
        TCase *tc = tcase_create("api");

        tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
        tcase_add_checked_fixture(tc, hostd_up, hostd_down);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_mtls_required);
        tcase_add_test(tc, test_image_import);
        tcase_add_test(tc, test_image_bad_requests);
        tcase_add_test(tc, test_vm_linked_clone);
        tcase_add_test(tc, test_vm_refresh_drops_writes);
        tcase_add_test(tc, test_tickets_and_status);
        tcase_add_test(tc, test_real_vdi_vm_failure_is_a_crash);
        tcase_add_test(tc, test_supervision_and_readoption);
        tcase_add_test(tc, test_vm_network);
        tcase_add_test(tc, test_seccomp_kill_reported);
        tcase_add_test(tc, test_seccomp_option);
        tcase_add_test(tc, test_screenshot_and_disconnect);
        tcase_add_test(tc, test_screenshot_vm_as_other_user);
        tcase_add_test(tc, test_suspend_resume);
        tcase_add_test(tc, test_instant_clones);
        suite_add_tcase(s, tc);
        return s;
}
