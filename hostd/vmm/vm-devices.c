#include "config.h"

#include "vm-devices.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include "tap.h"

/* ISA IRQs left for INTx (COM1 has 4, the ACPI SCI 9): one per device,
 * since KVM_IRQ_LINE levels from user space cannot be shared. MSI-X is
 * what Linux uses; these only matter for drivers without it. */
static const unsigned intx_irqs[] = { 10, 11, 5, 6, 7, 12, 14, 15, 3 };
#define N_INTX (sizeof(intx_irqs) / sizeof(intx_irqs[0]))

int vm_net_parse(const char *arg, struct vm_net_config *out, struct vm_err *err)
{
        char *copy = strdup(arg), *save = NULL, *tok;
        struct vm_net_config c = { .fd = -1 };
        bool have_dev = false, have_mac = false;
        int r = 0;

        if (!copy)
                return vm_err_set(err, -ENOMEM, "out of memory");
        for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (strncmp(tok, "tap=", 4) == 0 && !have_dev) {
                        if (!tok[4] || strlen(tok + 4) >= sizeof(c.tap)) {
                                r = vm_err_set(err, -EINVAL, "invalid --net \"%s\": tap name must be 1-%zu characters",
                                               arg, sizeof(c.tap) - 1);
                                goto out;
                        }
                        snprintf(c.tap, sizeof(c.tap), "%s", tok + 4);
                        have_dev = true;
                } else if (strncmp(tok, "fd=", 3) == 0 && !have_dev) {
                        char *end;
                        long v;
                        errno = 0;
                        v = strtol(tok + 3, &end, 10);
                        if (errno || end == tok + 3 || *end || v < 3 || v > INT_MAX) {
                                r = vm_err_set(err, -EINVAL, "invalid --net \"%s\": fd must be a number >= 3", arg);
                                goto out;
                        }
                        c.fd = (int)v;
                        have_dev = true;
                } else if (strncmp(tok, "mac=", 4) == 0 && !have_mac) {
                        int m = mac_parse(tok + 4, c.mac);
                        if (m == -EADDRNOTAVAIL) {
                                r = vm_err_set(err, -EINVAL,
                                               "invalid --net \"%s\": %s is a multicast or zero address (the first byte must be even, e.g. 02:...)",
                                               arg, tok + 4);
                                goto out;
                        }
                        if (m < 0) {
                                r = vm_err_set(err, -EINVAL, "invalid --net \"%s\": bad MAC \"%s\" (expected xx:xx:xx:xx:xx:xx)",
                                               arg, tok + 4);
                                goto out;
                        }
                        have_mac = true;
                } else {
                        r = vm_err_set(err, -EINVAL,
                                       "invalid --net \"%s\": unexpected \"%s\" (expected tap=NAME or fd=N, and optionally mac=MAC, once each)",
                                       arg, tok);
                        goto out;
                }
        }
        if (!have_dev) {
                r = vm_err_set(err, -EINVAL, "invalid --net \"%s\": give tap=NAME or fd=N", arg);
                goto out;
        }
        if (!have_mac) {
                if (getrandom(c.mac, 6, 0) != 6) {
                        r = vm_err_set(err, -EIO, "no random bytes for a MAC address");
                        goto out;
                }
                c.mac[0] = (uint8_t)((c.mac[0] & 0xfc) | 0x02); /* unicast, locally administered */
        }
        *out = c;
out:
        free(copy);
        return r;
}

int vm_disk_parse(const char *arg, struct vm_disk_config *out, struct vm_err *err)
{
        char *copy = strdup(arg), *save = NULL, *tok;
        struct vm_disk_config c = { 0 };
        bool have_format = false;
        int r = 0;

        if (!copy)
                return vm_err_set(err, -ENOMEM, "out of memory");
        tok = strtok_r(copy, ",", &save);
        if (!tok || arg[0] == ',') {
                r = vm_err_set(err, -EINVAL, "invalid --disk \"%s\": expected PATH,format=qcow2|raw[,ro]", arg);
                goto out;
        }
        /* The path is the first field of arg itself (copy is freed). */
        c.path = arg;
        while ((tok = strtok_r(NULL, ",", &save))) {
                if (strncmp(tok, "format=", 7) == 0) {
                        if (disk_format_from_string(tok + 7, &c.format) < 0) {
                                r = vm_err_set(err, -EINVAL, "invalid --disk \"%s\": unknown format \"%s\" (qcow2 or raw)",
                                               arg, tok + 7);
                                goto out;
                        }
                        have_format = true;
                } else if (strcmp(tok, "ro") == 0) {
                        c.readonly = true;
                } else {
                        r = vm_err_set(err, -EINVAL, "invalid --disk \"%s\": unknown option \"%s\" (format=, ro)", arg,
                                       tok);
                        goto out;
                }
        }
        if (!have_format) {
                r = vm_err_set(err, -EINVAL,
                               "invalid --disk \"%s\": the format must be given (format=qcow2 or format=raw); it is never guessed",
                               arg);
                goto out;
        }
        *out = c;
out:
        free(copy);
        return r;
}

int vm_display_parse(const char *s, enum vm_display *out)
{
        if (strcmp(s, "vesa") == 0)
                *out = VM_DISPLAY_VESA;
        else if (strcmp(s, "virtio-gpu") == 0)
                *out = VM_DISPLAY_VIRTIO_GPU;
        else
                return -EINVAL;
        return 0;
}

int vm_sound_parse(const char *s, enum vm_sound *out)
{
        if (strcmp(s, "hda") == 0)
                *out = VM_SOUND_HDA;
        else if (strcmp(s, "none") == 0)
                *out = VM_SOUND_NONE;
        else
                return -EINVAL;
        return 0;
}

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
        return guest_mem_ptr(opaque, gpa, len);
}

/* Disk paths in out->disks point into the caller's strings up to the
 * first comma: make each a separate string. */
static int open_disk(const struct vm_disk_config *c, struct disk **out, struct vm_err *err)
{
        size_t len = strcspn(c->path, ",");
        char *path = strndup(c->path, len), *msg = NULL;
        int r;

        if (!path)
                return vm_err_set(err, -ENOMEM, "out of memory");
        r = disk_open(path, c->format, c->readonly ? DISK_OPEN_READONLY : 0, out, &msg);
        if (r < 0)
                vm_err_set(err, r, "disk %s", msg ? msg : path);
        free(msg);
        free(path);
        return r;
}

/* What the guest plays goes to the --sound-out file and to the clients;
 * the microphone is the --sound-in file. On the card's device thread. */
static void sound_play(void *opaque, const struct hda_pcm_format *f, const uint8_t *pcm, size_t len)
{
        struct vm_devices *d = opaque;

        audio_file_ops.play(d->audio_file, f, pcm, len);
        audio_ring_push(&d->audio_out, f, pcm, len);
}

static void sound_record(void *opaque, const struct hda_pcm_format *f, uint8_t *pcm, size_t len)
{
        struct vm_devices *d = opaque;

        audio_file_ops.record(d->audio_file, f, pcm, len);
}

static const struct hda_audio_ops sound_ops = { .play = sound_play, .record = sound_record };

/* 1 s of 48 kHz stereo queued for slow clients, then the oldest goes. */
#define AUDIO_OUT_BYTES 192000

/* The HD Audio card, its samples to and from cfg's files and clients. */
static int create_sound(struct vm_devices *d, const struct vm_dev_config *cfg, const struct vq_mem *vmem,
                        struct pci_bus *bus, unsigned slot, unsigned gsi, struct vm_err *err)
{
        int r = audio_file_open(cfg->sound_out, cfg->sound_in, &d->audio_file, err);

        if (r < 0)
                return r;
        if (audio_ring_init(&d->audio_out, AUDIO_OUT_BYTES) < 0 || !(d->hda = calloc(1, sizeof(*d->hda))))
                return vm_err_set(err, -ENOMEM, "out of memory");
        r = hda_init(d->hda, gsi, vmem, &sound_ops, d, true);
        if (r < 0) {
                free(d->hda);
                d->hda = NULL;
                return vm_err_set(err, r, "cannot create the HD Audio device");
        }
        r = pci_bus_add(bus, &d->hda->pci, slot);
        if (r < 0)
                return vm_err_set(err, r, "no PCI slot for the HD Audio device");
        return 0;
}

static int add_agent_console(struct vm_devices *d, struct pci_bus *bus, const struct vq_mem *vmem, unsigned gsi,
                             unsigned slot, struct vm_err *err)
{
        static const char *const names[] = { VM_AGENT_PORT_SPICE_NAME, VM_AGENT_PORT_VDI_NAME };
        int r = virtio_console_create(names, 2, NULL, NULL, gsi, vmem, &d->con);

        if (r < 0)
                return vm_err_set(err, r, "cannot create the agent console (virtio-console)");
        r = pci_bus_add(bus, &virtio_console_dev(d->con)->pci, slot);
        if (r < 0)
                return vm_err_set(err, r, "no PCI slot for the agent console");
        return 0;
}

int vm_devices_create(struct vm_devices *d, const struct vm_dev_config *cfg, const struct guest_mem *mem,
                      struct pci_bus *bus, struct vm_err *err)
{
        const struct vq_mem vmem = { translate, (void *)mem };
        bool gpu = cfg->fb_width && cfg->display == VM_DISPLAY_VIRTIO_GPU;
        unsigned slot = 1, irq = 0;
        int r;

        memset(d, 0, sizeof(*d));
        d->fb.fd = -1;
        pthread_mutex_init(&d->held_lock, NULL);
        d->held_lock_init = true;
        if (cfg->nnics > VM_MAX_NICS)
                return vm_err_set(err, -EINVAL, "too many network cards: at most %d", VM_MAX_NICS);
        if (cfg->ndisks + cfg->nnics + (cfg->no_input ? 0 : 2) + gpu + (cfg->sound == VM_SOUND_HDA) + cfg->agent >
            N_INTX)
                return vm_err_set(err, -EINVAL,
                                  "too many devices: disks + network cards + 2 input devices + the GPU + the "
                                  "sound card + the agent console must be at most %zu",
                                  N_INTX);
        if (gpu && cfg->gpu_heads > VGPU_MAX_SCANOUTS)
                return vm_err_set(err, -EINVAL, "too many display heads: at most %d", VGPU_MAX_SCANOUTS);
        d->mem = mem;
        if (cfg->ndisks > VM_MAX_DISKS)
                return vm_err_set(err, -EINVAL, "too many disks: at most %d", VM_MAX_DISKS);
        for (unsigned i = 0; i < cfg->ndisks; i++) {
                char serial[21];

                r = open_disk(&cfg->disks[i], &d->disk[i], err);
                if (r < 0)
                        return r;
                d->ndisks = i + 1;
                snprintf(serial, sizeof(serial), "vdi-disk-%u", i);
                r = virtio_blk_create(d->disk[i], cfg->disks[i].readonly, serial, intx_irqs[irq++], &vmem, &d->blk[i]);
                if (r < 0)
                        return vm_err_set(err, r, "cannot create the virtio-blk device for %s", cfg->disks[i].path);
                r = pci_bus_add(bus, &virtio_blk_dev(d->blk[i])->pci, slot++);
                if (r < 0)
                        return vm_err_set(err, r, "no PCI slot for disk %u", i);
        }
        if (!cfg->no_input) {
                r = virtio_input_create(VIRTIO_INPUT_KEYBOARD, intx_irqs[irq++], &vmem, &d->kbd);
                if (r >= 0)
                        r = pci_bus_add(bus, &virtio_input_dev(d->kbd)->pci, slot++);
                if (r >= 0)
                        r = virtio_input_create(VIRTIO_INPUT_TABLET, intx_irqs[irq++], &vmem, &d->tablet);
                if (r >= 0)
                        r = pci_bus_add(bus, &virtio_input_dev(d->tablet)->pci, slot++);
                if (r < 0)
                        return vm_err_set(err, r, "cannot create the virtio-input devices");
        }
        for (unsigned i = 0; i < cfg->nnics; i++) {
                const struct vm_net_config *c = &cfg->nics[i];
                char name[IFNAMSIZ];
                bool vnet_hdr = false;
                int fd = c->fd;

                if (fd < 0) {
                        r = tap_open(c->tap, &d->net_fd[i], err);
                        if (r < 0)
                                return r;
                        d->net_fd_owned[i] = true;
                        fd = d->net_fd[i];
                        vnet_hdr = true;
                } else {
                        r = tap_check_fd(fd, &vnet_hdr, name, err);
                        if (r < 0)
                                return r;
                }
                r = virtio_net_create(fd, vnet_hdr, c->mac, intx_irqs[irq++], &vmem, &d->net[i]);
                if (r < 0)
                        return vm_err_set(err, r, "cannot create the virtio-net device %u", i);
                d->nnics = i + 1;
                r = pci_bus_add(bus, &virtio_net_dev(d->net[i])->pci, slot++);
                if (r < 0)
                        return vm_err_set(err, r, "no PCI slot for network card %u", i);
        }
        if (gpu) {
                r = virtio_gpu_create(cfg->gpu_heads ? cfg->gpu_heads : 1, cfg->fb_width, cfg->fb_height, 0,
                                      intx_irqs[irq++], &vmem, &d->gpu);
                if (r < 0)
                        return vm_err_set(err, r, "cannot create the virtio-gpu device");
                r = pci_bus_add(bus, &virtio_gpu_dev(d->gpu)->pci, slot++);
                if (r < 0)
                        return vm_err_set(err, r, "no PCI slot for the virtio-gpu device");
        } else if (cfg->fb_width) {
                r = fb_create(&d->fb, cfg->fb_width, cfg->fb_height, err);
                if (r < 0)
                        return r;
                d->has_fb = true;
        }
        if (cfg->agent) {
                r = add_agent_console(d, bus, &vmem, intx_irqs[irq++], slot++, err);
                if (r < 0)
                        return r;
        }
        if (cfg->sound == VM_SOUND_HDA)
                return create_sound(d, cfg, &vmem, bus, slot, intx_irqs[irq], err);
        return 0;
}

int vm_devices_attach(struct vm_devices *d, int vm_fd, uint8_t *zero_page, struct vm_err *err)
{
        for (unsigned i = 0; i < d->ndisks; i++)
                virtio_pci_attach(virtio_blk_dev(d->blk[i]), vm_fd);
        if (d->kbd)
                virtio_pci_attach(virtio_input_dev(d->kbd), vm_fd);
        if (d->tablet)
                virtio_pci_attach(virtio_input_dev(d->tablet), vm_fd);
        for (unsigned i = 0; i < d->nnics; i++)
                virtio_pci_attach(virtio_net_dev(d->net[i]), vm_fd);
        if (d->gpu)
                virtio_pci_attach(virtio_gpu_dev(d->gpu), vm_fd);
        if (d->hda)
                hda_attach(d->hda, vm_fd);
        if (d->con)
                virtio_pci_attach(virtio_console_dev(d->con), vm_fd);
        if (d->has_fb) {
                int r = fb_attach(&d->fb, vm_fd, err);
                if (r < 0)
                        return r;
                fb_fill_screen_info(&d->fb, zero_page);
        }
        return 0;
}

void vm_devices_detach(struct vm_devices *d)
{
        for (unsigned i = 0; i < d->ndisks; i++)
                virtio_pci_detach(virtio_blk_dev(d->blk[i]));
        if (d->kbd)
                virtio_pci_detach(virtio_input_dev(d->kbd));
        if (d->tablet)
                virtio_pci_detach(virtio_input_dev(d->tablet));
        for (unsigned i = 0; i < d->nnics; i++)
                virtio_pci_detach(virtio_net_dev(d->net[i]));
        if (d->gpu)
                virtio_pci_detach(virtio_gpu_dev(d->gpu));
        if (d->hda)
                hda_detach(d->hda);
        if (d->con)
                virtio_pci_detach(virtio_console_dev(d->con));
        if (d->has_fb)
                fb_detach(&d->fb);
}

void vm_devices_link_change(struct vm_devices *d)
{
        for (unsigned i = 0; i < d->nnics; i++)
                virtio_net_link_change(d->net[i]);
}

void vm_devices_destroy(struct vm_devices *d)
{
        for (unsigned i = 0; i < d->ndisks; i++) {
                virtio_blk_free(d->blk[i]);
                if (d->disk[i])
                        disk_flush(d->disk[i]);
                disk_close(d->disk[i]);
        }
        virtio_input_free(d->kbd);
        virtio_input_free(d->tablet);
        virtio_console_free(d->con);
        for (unsigned i = 0; i < VM_MAX_NICS; i++) {
                virtio_net_free(d->net[i]);
                if (d->net_fd_owned[i])
                        close(d->net_fd[i]);
        }
        if (d->has_fb)
                fb_destroy(&d->fb);
        for (unsigned i = 0; i < VM_GPU_HELD_VIEWS; i++)
                vgpu_view_release(&d->held[i]);
        virtio_gpu_free(d->gpu);
        if (d->hda)
                hda_destroy(d->hda);
        free(d->hda);
        audio_file_close(d->audio_file);
        audio_ring_destroy(&d->audio_out);
        if (d->held_lock_init)
                pthread_mutex_destroy(&d->held_lock);
        memset(d, 0, sizeof(*d));
}

void vm_devices_key(struct vm_devices *d, uint16_t evdev_code, bool pressed)
{
        if (d->kbd)
                virtio_input_key(d->kbd, evdev_code, pressed);
}

void vm_devices_pointer(struct vm_devices *d, uint32_t x, uint32_t y, uint32_t buttons)
{
        if (d->tablet)
                virtio_input_pointer(d->tablet, x, y, buttons);
}

void vm_devices_wheel(struct vm_devices *d, int32_t delta)
{
        if (d->tablet)
                virtio_input_wheel(d->tablet, delta);
}

/* ---- display_source ---- */

/* virtio-gpu scanout 0 as a display_surface. Its pixels are the guest's
 * backing (in place) or the device's shadow; a shadow handed out is kept
 * (held[]) until VM_GPU_HELD_VIEWS newer ones were, since display.h
 * readers do not release surfaces. */
static int gpu_surface(struct vm_devices *d, struct display_surface *out)
{
        struct vgpu_view v;
        int r = virtio_gpu_scanout(d->gpu, 0, &v);

        if (r < 0)
                return r;
        if (v.format != VGPU_FORMAT_B8G8R8X8 && v.format != VGPU_FORMAT_B8G8R8A8) {
                vgpu_view_release(&v); /* Linux uses XRGB8888 = B8G8R8X8 on x86 */
                return -ENOTSUP;
        }
        *out = (struct display_surface){
                .pixels = v.pixels,
                .width = v.width,
                .height = v.height,
                .stride = v.stride,
                .format = DISPLAY_FORMAT_XRGB8888,
                .generation = v.generation,
        };
        pthread_mutex_lock(&d->held_lock);
        if (v.ref && v.ref != d->held[0].ref) {
                vgpu_view_release(&d->held[VM_GPU_HELD_VIEWS - 1]);
                memmove(&d->held[1], &d->held[0], sizeof(d->held[0]) * (VM_GPU_HELD_VIEWS - 1));
                d->held[0] = v;
        } else {
                vgpu_view_release(&v);
        }
        pthread_mutex_unlock(&d->held_lock);
        return 0;
}

static int ds_get_surface(void *opaque, struct display_surface *out)
{
        struct vm_devices *d = opaque;

        if (d->gpu)
                return gpu_surface(d, out);
        if (!d->has_fb)
                return -ENODEV;
        return fb_get_surface(&d->fb, out);
}

static int ds_collect_damage(void *opaque, struct display_rect *rects, size_t max)
{
        struct vm_devices *d = opaque;

        if (d->gpu)
                return virtio_gpu_collect_damage(d->gpu, 0, rects, max);
        if (!d->has_fb)
                return -ENODEV;
        return fb_collect_damage(&d->fb, rects, max);
}

int vm_devices_screenshot(struct vm_devices *d, int fd)
{
        struct display_surface s;
        int r = ds_get_surface(d, &s); /* virtio-gpu's held[] keeps the pixels alive meanwhile */

        return r < 0 ? r : fb_surface_write_ppm(&s, fd);
}

static void ds_key(void *opaque, uint16_t code, bool pressed)
{
        vm_devices_key(opaque, code, pressed);
}

static void ds_pointer(void *opaque, uint32_t x, uint32_t y, uint32_t buttons)
{
        vm_devices_pointer(opaque, x, y, buttons);
}

static void ds_wheel(void *opaque, int32_t delta)
{
        vm_devices_wheel(opaque, delta);
}

/* A client's layout: virtio-gpu tells the guest (its display config
 * event); VESA cannot change mode from outside. No heads: the probe. */
static int ds_request_layout(void *opaque, const struct display_head *heads, unsigned n)
{
        struct vm_devices *d = opaque;
        struct vgpu_head h[VGPU_MAX_SCANOUTS] = { { 0 } };

        if (!d->gpu)
                return -ENOTSUP;
        if (!heads && n == 0)
                return 0;
        if (n == 0 || n > VGPU_MAX_SCANOUTS)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++)
                h[i] = (struct vgpu_head){ true, heads[i].x, heads[i].y, heads[i].width, heads[i].height };
        return virtio_gpu_set_layout(d->gpu, h, n);
}

/* virtio-gpu's cursor when it is on the first head (the one the display
 * servers show); a guest cursor elsewhere is hidden there. */
static int ds_get_cursor(void *opaque, struct display_cursor *out)
{
        struct vm_devices *d = opaque;
        struct vgpu_cursor *c;

        if (!d->gpu)
                return -ENODEV;
        c = malloc(sizeof(*c));
        if (!c)
                return -ENOMEM;
        virtio_gpu_cursor(d->gpu, c);
        out->visible = c->visible && c->scanout == 0 && c->width && c->height;
        out->x = c->x;
        out->y = c->y;
        out->width = c->width;
        out->height = c->height;
        out->hot_x = c->hot_x < c->width ? c->hot_x : 0;
        out->hot_y = c->hot_y < c->height ? c->hot_y : 0;
        /* Moving to another head hides it here: count that as a change. */
        out->serial = c->shape_serial * 2 + out->visible;
        _Static_assert(DISPLAY_CURSOR_MAX == VGPU_CURSOR_DIM, "cursor rows of the same length");
        memcpy(out->pixels, c->pixels, sizeof(out->pixels));
        free(c);
        return 0;
}

/* Sound for the clients: what the card played since the last call. */
static size_t ds_audio_read(void *opaque, struct display_audio_format *fmt, uint8_t *buf, size_t max)
{
        struct vm_devices *d = opaque;
        struct hda_pcm_format f;
        size_t n = audio_ring_pop(&d->audio_out, &f, buf, max);

        *fmt = (struct display_audio_format){ .rate = f.rate, .channels = f.channels };
        return n;
}

#define DS_OPS_COMMON                                  \
        .get_surface = ds_get_surface,                 \
        .collect_damage = ds_collect_damage,           \
        .input_key = ds_key,                           \
        .input_pointer = ds_pointer,                   \
        .input_wheel = ds_wheel,                       \
        .request_layout = ds_request_layout,           \
        .get_cursor = ds_get_cursor

static const struct display_source_ops ds_ops = { DS_OPS_COMMON };
/* With a sound card: clients get an audio channel. */
static const struct display_source_ops ds_ops_sound = { DS_OPS_COMMON, .audio_read = ds_audio_read };

struct display_source vm_devices_display(struct vm_devices *d)
{
        return (struct display_source){ .ops = d->hda ? &ds_ops_sound : &ds_ops, .opaque = d };
}
