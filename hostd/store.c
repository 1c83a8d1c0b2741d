/* The image store: golden images (kernel, initrd, disk, command line) under
 * state_dir/images/ID, read-only once imported. An import is checked
 * completely (files exist, the disk opens in its declared format, a qcow2
 * base has no backing file and no corruption) before anything is written,
 * and lands by renaming a finished temporary directory, so a refused or
 * interrupted import leaves nothing behind. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "log.h"

void hostd_image_free(struct hostd_image *img)
{
        if (!img)
                return;
        g_free(img->id);
        g_free(img->kernel);
        g_free(img->initrd);
        g_free(img->disk);
        g_free(img->cmdline);
        g_free(img->created_at);
        json_decref(img->source);
        g_free(img);
}

json_t *hostd_image_json(const struct hostd_image *img)
{
        return json_pack("{s:s, s:i, s:s, s:s*, s:s, s:s, s:s, s:s, s:I, s:s, s:O}", "id",
                         img->id, "version", img->version, "kernel", img->kernel, "initrd",
                         img->initrd, "disk", img->disk, "format",
                         disk_format_to_string(img->format), "cmdline", img->cmdline,
                         "display", img->virtio_gpu ? "virtio-gpu" : "vesa", "virtual_size",
                         (json_int_t)img->virtual_size, "created_at", img->created_at, "source",
                         img->source);
}

/* The canonical source's display (image_source checked it). */
static bool source_virtio_gpu(json_t *source)
{
        const char *d = json_string_value(json_object_get(source, "display"));
        return d && strcmp(d, "virtio-gpu") == 0;
}

static struct hostd_image *image_from_json(json_t *v, char **error)
{
        const char *id, *kernel, *initrd = NULL, *disk, *format, *cmdline, *created;
        json_t *source;
        json_int_t version, vsize;
        struct hostd_image *img;
        enum disk_format fmt;

        if (json_unpack(v, "{s:s, s:I, s:s, s?s, s:s, s:s, s:s, s:I, s:s, s:o}", "id", &id,
                        "version", &version, "kernel", &kernel, "initrd", &initrd, "disk", &disk,
                        "format", &format, "cmdline", &cmdline, "virtual_size", &vsize,
                        "created_at", &created, "source", &source) != 0 ||
            disk_format_from_string(format, &fmt) < 0) {
                *error = g_strdup("missing or invalid fields");
                return NULL;
        }
        img = g_new0(struct hostd_image, 1);
        img->id = g_strdup(id);
        img->version = (int)version;
        img->kernel = g_strdup(kernel);
        img->initrd = g_strdup(initrd);
        img->disk = g_strdup(disk);
        img->format = fmt;
        img->cmdline = g_strdup(cmdline);
        img->virtual_size = (uint64_t)vsize;
        img->created_at = g_strdup(created);
        /* Stores older than "display" hold VESA images: say so, so that a
         * repeated PUT of the same body still compares equal. */
        if (!json_object_get(source, "display"))
                json_object_set_new(source, "display", json_string("vesa"));
        img->virtio_gpu = source_virtio_gpu(source);
        img->source = json_incref(source);
        return img;
}

int hostd_images_load(struct hostd *h, char **error)
{
        g_autofree char *dir = g_build_filename(h->cfg->state_dir, "images", NULL);
        g_autoptr(GDir) d = NULL;
        const char *name;
        int r = hostd_open_dir(dir, &d, error);

        if (r < 0)
                return r;
        while ((name = g_dir_read_name(d))) {
                g_autofree char *path = g_build_filename(dir, name, "image.json", NULL);
                g_autofree char *err = NULL;
                if (name[0] == '.') {
                        /* An import interrupted by a crash: nothing refers to it. */
                        g_autofree char *tmp = g_build_filename(dir, name, NULL);
                        hostd_rm_rf(tmp);
                        continue;
                }
                json_t *v = hostd_read_json(path, &err);
                struct hostd_image *img = v ? image_from_json(v, &err) : NULL;
                json_decref(v);
                if (!img) {
                        g_autofree char *quoted = log_quote(err);
                        log_warning("image_skipped", "path=%s error=%s", path, quoted);
                        continue;
                }
                g_hash_table_insert(h->images, img->id, img);
        }
        return 0;
}

/* Check that path is an absolute readable regular file. */
static bool file_ok(const char *field, const char *path, const char **code, char **error)
{
        struct stat st;

        if (path[0] != '/') {
                *code = "bad_request";
                *error = g_strdup_printf("\"%s\": \"%s\" is not an absolute path", field, path);
                return false;
        }
        if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
                *code = "file_not_found";
                *error = g_strdup_printf("\"%s\": %s: %s", field, path, g_strerror(errno));
                return false;
        }
        if (!S_ISREG(st.st_mode)) {
                *code = "bad_request";
                *error = g_strdup_printf("\"%s\": %s is not a regular file", field, path);
                return false;
        }
        return true;
}

/* Place src at dst by copy or hard link, read-only either way. */
static int place(const char *mode, const char *src, const char *dst, char **error)
{
        if (strcmp(mode, "link") == 0) {
                if (link(src, dst) < 0) {
                        int r = -errno;
                        *error = g_strdup_printf("cannot link %s into the image store (%s): "
                                                 "use \"mode\": \"copy\" across file systems",
                                                 src, g_strerror(errno));
                        return r;
                }
                /* The store never writes a base; neither may anyone else. */
                return chmod(dst, 0444) < 0 ? -errno : 0;
        }
        return hostd_copy_file(src, dst, error);
}

/* Validate a PUT body into the canonical source object. */
static json_t *image_source(json_t *body, const struct hostd_vm_caps *caps,
                            enum disk_format *fmt, uint64_t *vsize, const char **code,
                            char **error)
{
        const char *kernel = NULL, *initrd = NULL, *disk = NULL, *format = "qcow2",
                   *cmdline = "console=ttyS0", *mode = "copy", *display = "vesa";
        json_int_t version = 0;
        json_error_t jerr;
        _cleanup_disk_ struct disk *d = NULL;
        struct disk_info info;
        struct disk_check_result res;
        g_autofree char *derr = NULL;

        *code = "bad_request";
        if (json_unpack_ex(body, &jerr, JSON_STRICT,
                           "{s:I, s:s, s?s, s:s, s?s, s?s, s?s, s?s}", "version", &version,
                           "kernel", &kernel, "initrd", &initrd, "disk", &disk, "format",
                           &format, "cmdline", &cmdline, "mode", &mode, "display",
                           &display) != 0) {
                *error = g_strdup_printf("image: %s (fields: version, kernel, disk; optional "
                                         "initrd, format, cmdline, mode, display)",
                                         jerr.text);
                return NULL;
        }
        if (strcmp(display, "vesa") != 0 && strcmp(display, "virtio-gpu") != 0) {
                *error = g_strdup_printf("image: \"display\": \"%s\" is not vesa or virtio-gpu",
                                         display);
                return NULL;
        }
        if (strcmp(display, "virtio-gpu") == 0 && !caps->virtio_gpu) {
                *code = "unsupported_display";
                *error = g_strdup_printf("image: \"display\": \"virtio-gpu\", but this host's "
                                         "vdi-vm has no virtio-gpu (--display)");
                return NULL;
        }
        if (version < 1 || version > INT32_MAX) {
                *error = g_strdup_printf("image: \"version\" must be a positive integer");
                return NULL;
        }
        if (disk_format_from_string(format, fmt) < 0) {
                *error = g_strdup_printf("image: \"format\": \"%s\" is not qcow2 or raw", format);
                return NULL;
        }
        if (strcmp(mode, "copy") != 0 && strcmp(mode, "link") != 0) {
                *error = g_strdup_printf("image: \"mode\": \"%s\" is not copy or link", mode);
                return NULL;
        }
        if (strlen(cmdline) > 2048) {
                *error = g_strdup("image: \"cmdline\" is longer than 2048 bytes");
                return NULL;
        }
        if (!file_ok("kernel", kernel, code, error) ||
            (initrd && !file_ok("initrd", initrd, code, error)) ||
            !file_ok("disk", disk, code, error))
                return NULL;
        *code = "bad_image";
        if (disk_open(disk, *fmt, DISK_OPEN_READONLY, &d, &derr) < 0) {
                *error = g_strdup_printf("image: disk is not a valid %s image: %s", format, derr);
                return NULL;
        }
        if (disk_get_info(d, &info) < 0) {
                *error = g_strdup_printf("image: %s: cannot read its header", disk);
                return NULL;
        }
        if (info.backing_file) {
                *error = g_strdup_printf("image: %s has a backing file (%s); a golden image must "
                                         "stand alone (flatten it with qemu-img convert)",
                                         disk, info.backing_file);
                return NULL;
        }
        if (disk_check(d, &res, NULL, &derr) < 0 || res.corruptions > 0) {
                *error = g_strdup_printf("image: %s is corrupt (%s); repair it with qemu-img "
                                         "check -r all",
                                         disk, derr ? derr : "check found corruptions");
                return NULL;
        }
        *vsize = info.virtual_size;
        return json_pack("{s:I, s:s, s:s*, s:s, s:s, s:s, s:s, s:s}", "version", version,
                         "kernel", kernel, "initrd", initrd, "disk", disk, "format", format,
                         "cmdline", cmdline, "mode", mode, "display", display);
}

static unsigned import(struct hostd *h, const char *id, json_t *source, enum disk_format fmt,
                       uint64_t vsize, struct hostd_image **out, const char **code,
                       char **error)
{
        g_autofree char *root = g_build_filename(h->cfg->state_dir, "images", NULL);
        g_autofree char *tmpl = g_strdup_printf("%s/.import-%s-XXXXXX", root, id);
        g_autofree char *final = g_build_filename(root, id, NULL);
        g_autofree char *meta = NULL;
        const char *mode = json_string_value(json_object_get(source, "mode"));
        const char *initrd = json_string_value(json_object_get(source, "initrd"));
        struct hostd_image *img = g_new0(struct hostd_image, 1);
        json_t *v;
        int r;

        *code = "import_failed";
        if (!g_mkdtemp_full(tmpl, 0755)) {
                *error = g_strdup_printf("image store %s: %s", root, g_strerror(errno));
                hostd_image_free(img);
                return 500;
        }
        img->id = g_strdup(id);
        img->version = (int)json_integer_value(json_object_get(source, "version"));
        img->format = fmt;
        img->cmdline = g_strdup(json_string_value(json_object_get(source, "cmdline")));
        img->virtio_gpu = source_virtio_gpu(source);
        img->virtual_size = vsize;
        img->created_at = hostd_now_iso();
        img->source = json_incref(source);
        img->kernel = g_build_filename(final, "kernel", NULL);
        img->initrd = initrd ? g_build_filename(final, "initrd", NULL) : NULL;
        img->disk = g_strdup_printf("%s/disk.%s", final, disk_format_to_string(fmt));

        g_autofree char *t_kernel = g_build_filename(tmpl, "kernel", NULL);
        g_autofree char *t_initrd = g_build_filename(tmpl, "initrd", NULL);
        g_autofree char *t_disk = g_strdup_printf("%s/disk.%s", tmpl, disk_format_to_string(fmt));
        r = place(mode, json_string_value(json_object_get(source, "kernel")), t_kernel, error);
        if (r == 0 && initrd)
                r = place(mode, initrd, t_initrd, error);
        if (r == 0)
                r = place(mode, json_string_value(json_object_get(source, "disk")), t_disk,
                          error);
        if (r == 0) {
                meta = g_build_filename(tmpl, "image.json", NULL);
                v = hostd_image_json(img);
                r = hostd_write_json(meta, v, error);
                json_decref(v);
        }
        if (r == 0 && rename(tmpl, final) < 0) {
                r = -errno;
                *error = g_strdup_printf("%s: %s", final, g_strerror(errno));
        }
        if (r < 0) {
                hostd_rm_rf(tmpl);
                hostd_image_free(img);
                return 500;
        }
        *out = img;
        return 201;
}

unsigned hostd_image_put(struct hostd *h, const char *id, json_t *body,
                         struct hostd_image **out, const char **code, char **error)
{
        json_t *source;
        enum disk_format fmt;
        uint64_t vsize = 0;
        struct hostd_image *img;
        unsigned status;

        if (!hostd_id_valid(id)) {
                *code = "bad_request";
                *error = g_strdup_printf("image id \"%s\" is not valid (1-%d of A-Z a-z 0-9 . _ -)",
                                         id, HOSTD_ID_MAX);
                return 400;
        }
        source = image_source(body, &h->caps, &fmt, &vsize, code, error);
        if (!source)
                return strcmp(*code, "file_not_found") == 0 ? 422 : 400;

        pthread_mutex_lock(&h->lock);
        img = g_hash_table_lookup(h->images, id);
        if (img) {
                bool same = json_equal(img->source, source);
                pthread_mutex_unlock(&h->lock);
                json_decref(source);
                if (!same) {
                        *code = "conflict";
                        *error = g_strdup_printf("image \"%s\" already exists with different "
                                                 "content; images are immutable: import the new "
                                                 "version under a new id",
                                                 id);
                        return 409;
                }
                *out = img;
                return 200;
        }
        if (g_hash_table_contains(h->importing, id)) {
                pthread_mutex_unlock(&h->lock);
                json_decref(source);
                *code = "busy";
                *error = g_strdup_printf("image \"%s\" is being imported; retry shortly", id);
                return 409;
        }
        g_hash_table_add(h->importing, g_strdup(id));
        pthread_mutex_unlock(&h->lock);

        /* The copy runs without the lock: it may take a while. */
        status = import(h, id, source, fmt, vsize, &img, code, error);
        json_decref(source);

        pthread_mutex_lock(&h->lock);
        g_hash_table_remove(h->importing, id);
        if (status == 201) {
                g_hash_table_insert(h->images, img->id, img);
                *out = img;
                log_notice("image_imported", "image=%s version=%d format=%s size=%llu", img->id,
                           img->version, disk_format_to_string(img->format),
                           (unsigned long long)img->virtual_size);
        }
        pthread_mutex_unlock(&h->lock);
        return status;
}
