/* The devices of part 2 as one unit the engine (vm.c) drives: virtio-blk
 * disks, the virtio-input keyboard and tablet, the display (the VESA
 * framebuffer or a virtio-gpu), the network cards. Created
 * once with the VM; attached to every boot's KVM VM (memslot, ioeventfds,
 * screen_info), detached when it stops. Also the VM's display_source
 * (protocols/display.h). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "audio-file.h"
#include "audio-ring.h"
#include "fb.h"
#include "hda.h"
#include "hostd/storage/disk.h"
#include "mem.h"
#include "pci.h"
#include "protocols/display.h"
#include "virtio-devices.h"

#define VM_MAX_DISKS 6
#define VM_MAX_NICS 4

struct vm_net_config {
        char tap[16];           /* IFNAMSIZ: open this tap by name, or */
        int fd;                 /* use this tap fd (-1: by name) */
        uint8_t mac[6];
};

struct vm_disk_config {
        const char *path;
        enum disk_format format; /* always given: never probed */
        bool readonly;
};

enum vm_display {
        VM_DISPLAY_VESA,        /* framebuffer in screen_info, dirty-log damage */
        VM_DISPLAY_VIRTIO_GPU,  /* virtio-gpu; damage from the guest's flushes */
};

enum vm_sound {
        VM_SOUND_NONE,
        VM_SOUND_HDA,           /* Intel HD Audio controller + duplex codec (hw/hda.h) */
};

/* Parse "hda" or "none". 0 or -EINVAL. */
int vm_sound_parse(const char *s, enum vm_sound *out);

/* Parse "vesa" or "virtio-gpu". 0 or -EINVAL. */
int vm_display_parse(const char *s, enum vm_display *out);

/* The VM's display_source shows virtio-gpu scanout 0; shadow buffers it
 * handed out stay alive until this many newer ones were (display.h has no
 * release call yet: a reader must get_surface again on every tick). */
#define VM_GPU_HELD_VIEWS 4

/* The agent console's ports: spice-vdagent's (its name is what the
 * daemon opens) and our own guest agent's. */
#define VM_AGENT_PORT_SPICE 0
#define VM_AGENT_PORT_VDI 1
#define VM_AGENT_PORT_SPICE_NAME "com.redhat.spice.0"
#define VM_AGENT_PORT_VDI_NAME "org.vdi.agent.0"

struct vm_dev_config {
        struct vm_disk_config disks[VM_MAX_DISKS];
        unsigned ndisks;
        uint32_t fb_width, fb_height; /* 0 x 0: no display; with virtio-gpu the
                                       * size the first head asks for */
        enum vm_display display;
        unsigned gpu_heads;           /* virtio-gpu scanouts, 1..4 (0: 1) */
        bool no_input;                /* leave out keyboard and tablet */
        bool agent;                   /* a virtio-console with the agents' ports */
        struct vm_net_config nics[VM_MAX_NICS];
        unsigned nnics;
        enum vm_sound sound;
        const char *sound_out;        /* playback appended here (raw S16LE), or NULL */
        const char *sound_in;         /* capture read from here (raw S16LE, looped), or NULL */
};

struct vm_devices {
        struct disk *disk[VM_MAX_DISKS];
        struct virtio_blk *blk[VM_MAX_DISKS];
        unsigned ndisks;
        struct virtio_input *kbd, *tablet;
        struct virtio_net *net[VM_MAX_NICS];
        int net_fd[VM_MAX_NICS];      /* taps opened by name: ours to close */
        bool net_fd_owned[VM_MAX_NICS];
        unsigned nnics;
        struct fb fb;
        bool has_fb;
        struct virtio_gpu *gpu;
        struct virtio_console *con;   /* cfg->agent: VM_AGENT_PORT_* */
        pthread_mutex_t held_lock;    /* held[] */
        bool held_lock_init;
        struct vgpu_view held[VM_GPU_HELD_VIEWS]; /* newest first */
        struct hda *hda;              /* NULL: no sound card */
        struct audio_file *audio_file;
        struct audio_ring audio_out;  /* played, for the display servers' clients */
        const struct guest_mem *mem;
};

/* Parse a --disk argument "PATH,format=qcow2|raw[,ro]". 0 or -EINVAL with
 * the reason in err. PATH may not contain a comma. */
int vm_disk_parse(const char *arg, struct vm_disk_config *out, struct vm_err *err);

/* Parse a --net argument "tap=NAME[,mac=MAC]" or "fd=N[,mac=MAC]". Without
 * mac=, a random locally administered address is chosen. 0 or -EINVAL
 * with the reason in err. */
int vm_net_parse(const char *arg, struct vm_net_config *out, struct vm_err *err);

/* Open the disks, create the devices and put them on bus (slots 1...).
 * 0 or negative errno with err naming the disk or device. */
int vm_devices_create(struct vm_devices *d, const struct vm_dev_config *cfg, const struct guest_mem *mem,
                      struct pci_bus *bus, struct vm_err *err);

/* Per boot: bind to vm_fd and describe the framebuffer in the zero page
 * (boot_setup has filled it already). */
int vm_devices_attach(struct vm_devices *d, int vm_fd, uint8_t *zero_page, struct vm_err *err);
void vm_devices_detach(struct vm_devices *d);

/* Flush and close the disks, stop the device threads. */
void vm_devices_destroy(struct vm_devices *d);

/* Every network card's link goes down and up (virtio_net_link_change). */
void vm_devices_link_change(struct vm_devices *d);

/* Input for the guest (any thread); no-ops without input devices. */
void vm_devices_key(struct vm_devices *d, uint16_t evdev_code, bool pressed);
void vm_devices_pointer(struct vm_devices *d, uint32_t x, uint32_t y, uint32_t buttons);
void vm_devices_wheel(struct vm_devices *d, int32_t delta);

/* Write what the display shows to fd as a binary PPM (P6), at fd's
 * offset. 0 or -errno (-ENODEV: nothing shown). */
int vm_devices_screenshot(struct vm_devices *d, int fd);

/* The display_source for protocol servers (valid while d lives). */
struct display_source vm_devices_display(struct vm_devices *d);
