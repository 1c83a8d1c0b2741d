/* vdi-vm: run one virtual machine on the built-in KVM engine until it
 * stops. A thin main around libvmm (hostd/vmm/vm.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib.h>

#include "control.h"
#include "fb.h"
#include "jail.h"
#include "log.h"
#include "agent-link.h"
#include "identity.h"
#include "vmgenid.h"
#include "protocols/agent/clip.h"
#include "migrate-addr.h"
#include "migrate.h"
#include "remote.h"
#include "vm.h"

/* Exit statuses (documented in --help). */
enum {
        EXIT_POWEROFF = 0,
        EXIT_ERROR = 1,
        EXIT_USAGE = 2,
        EXIT_RESET = 3,
        EXIT_STOPPED = 4,
};

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: vdi-vm --kernel BZIMAGE [OPTIONS]\n"
                "Run one virtual machine on the built-in KVM engine until it stops.\n"
                "\n"
                "  -k, --kernel PATH     Linux bzImage to boot (64-bit boot protocol 2.12+)\n"
                "  -i, --initrd PATH     initramfs to load\n"
                "  -a, --cmdline TEXT    kernel command line (default \"console=ttyS0\")\n"
                "  -c, --cpus N          number of vCPUs, 1-%d (default 1)\n"
                "  -m, --memory MIB      guest RAM in MiB, %d-%d (default 256); RAM above 3 GiB\n"
                "                        is placed above 4 GiB (the PCI hole)\n"
                "      --console FILE    write the guest serial console (COM1) to FILE instead of\n"
                "                        stdout; \"-\" is stdout, \"none\" discards it. With\n"
                "                        stdout, stdin is the console's input\n"
                "      --no-reboot       when the guest resets, stop instead of rebooting it\n"
                "  -d, --disk PATH,format=qcow2|raw[,ro]\n"
                "                        attach a virtio-blk disk (repeatable, at most %d; the\n"
                "                        first is /dev/vda). The format is required and never\n"
                "                        guessed; ro makes the guest's writes fail (and the\n"
                "                        image is opened read-only)\n"
                "      --framebuffer WxH a WxH XRGB8888 framebuffer (e.g. 1024x768, 1920x1080)\n"
                "                        that the guest's vesafb shows as /dev/fb0\n"
                "      --display vesa|virtio-gpu\n"
                "                        how the guest gets the --framebuffer display: vesa\n"
                "                        (default) is the VESA framebuffer above, for guests\n"
                "                        without a driver; virtio-gpu is a 2D virtio-gpu on PCI\n"
                "                        (the guest loads virtio_gpu) whose first head asks for\n"
                "                        WxH, with damage from the guest's own flushes\n"
                "      --no-input        no virtio keyboard and tablet (present by default)\n"
                "      --sound hda|none  the sound card: hda (default) is an Intel HD Audio\n"
                "                        controller (ICH6) with a duplex codec, one output and one\n"
                "                        input (Linux: snd_hda_intel; Windows: in-box driver)\n"
                "      --sound-out FILE  append what the guest plays to FILE (raw S16LE in the\n"
                "                        guest's rate and channels, logged as event=sound-out)\n"
                "      --sound-in FILE   the guest's microphone records FILE (raw S16LE, looped;\n"
                "                        silence without it)\n"
                "      --agent           the agent console: a virtio-console with the port\n"
                "                        com.redhat.spice.0, which the guest's spice-vdagent opens\n"
                "                        (SPICE clients then get clipboard and send their monitors\n"
                "                        config: virtio-gpu takes it, with VESA the agent does),\n"
                "                        and org.vdi.agent.0 (the guest needs virtio_console)\n"
                "      --clipboard both|guest-to-client|client-to-guest|none\n"
                "                        which way text may pass through the agent's clipboard\n"
                "                        (the pool's policy; default both). Enforced here for SPICE\n"
                "                        and RDP; the agent port serves SPICE, or RDP when there\n"
                "                        is no --spice-port\n"
                "  -n, --net tap=NAME[,mac=MAC] | fd=N[,mac=MAC]\n"
                "                        attach a virtio-net card (repeatable, at most %d) on the\n"
                "                        Linux tap NAME (an existing tap this user may use, e.g.\n"
                "                        \"ip tuntap add dev NAME mode tap user USER\", or a new one\n"
                "                        with CAP_NET_ADMIN) or on tap fd N inherited from the\n"
                "                        parent (how vdi-hostd passes it). MAC like 02:56:44:00:00:01\n"
                "                        (unicast); without it a random locally administered one.\n"
                "                        Link up, mergeable receive buffers, checksum and TSO\n"
                "                        offloads (when the tap has IFF_VNET_HDR, as taps\n"
                "                        vdi-vm or vdi-hostd open do)\n"
                "      --control PATH    serve the JSON control socket at PATH (see below)\n"
                "      --spice-port PORT serve the framebuffer and input over SPICE (TLS only) on\n"
                "                        PORT; clients need a ticket (set-ticket below)\n"
                "      --rdp-port PORT   the same over RDP (TLS + NLA against the ticket)\n"
                "      --web-port PORT   the same over WebSocket for browsers (protocols/web/\n"
                "                        PROTOCOL.md: H.264 for WebCodecs, PNG tiles otherwise;\n"
                "                        the ticket in the first message)\n"
                "      --web-origin URL  the only Origin a browser's WebSocket may carry (the\n"
                "                        portal's, e.g. https://vdi.example.com); default\n"
                "                        https://ADDR:PORT of --display-listen and --web-port\n"
                "      --display-listen ADDR  address both listen on (default 127.0.0.1)\n"
                "      --tls-cert PEM    certificate chain of the display servers\n"
                "      --tls-key PEM     its private key (read before --user takes effect)\n"
                "      --tls-ca PEM      CA that signed it (SPICE clients verify against it)\n"
                "      --display-lossless never use lossy encodings (pixel-exact tests)\n"
                "      --user NAME       after opening /dev/kvm, the disks, the sockets and the\n"
                "                        key files, switch to this user (needs root) and forbid\n"
                "                        regaining privileges\n"
                "      --seccomp on|off  confine every thread to its class's system calls\n"
                "                        (vCPU, device, display, control; default on). A call\n"
                "                        outside them kills vdi-vm with SIGSYS after the line\n"
                "                        \"event=seccomp_violation syscall=NAME class=CLASS\"\n"
                "      --kvm PATH        KVM device (default /dev/kvm)\n"
                "      --restore DIR     resume the snapshot in DIR (written by the control socket's\n"
                "                        snapshot command) instead of booting: vCPUs, memory and\n"
                "                        kernel come from it (no --kernel/--cpus/--memory); give the\n"
                "                        device options the snapshot's VM had. Its RAM is mapped\n"
                "                        copy-on-write from DIR/ram, so DIR must outlive this VM.\n"
                "                        A guest reset then stops it (status 3)\n"
                "      --vmgenid HEX     the VM generation ID (32 hex digits; ACPI device VGEN,\n"
                "                        Linux's vmgenid driver) of this boot or restore; default a\n"
                "                        random one at every boot and every --restore but that of\n"
                "                        a suspend (which keeps the guest's)\n"
                "      --clone-hostname NAME  with --restore: the forked guest's host name and\n"
                "      --clone-machine-id ID  machine ID (32 lowercase hex digits), told to our\n"
                "                        guest agent in the \"cloned\" event on org.vdi.agent.0\n"
                "                        (needs --agent) with the VM generation ID, the first\n"
                "                        --net card's MAC and the host's time. Every restore\n"
                "                        but a suspend's is a fork: new generation ID, and each\n"
                "                        network card's link goes down and up\n"
                "      --incoming ADDR   receive a live migration (hostd/vmm/MIGRATION.md) on\n"
                "                        unix:PATH, tcp:HOST:PORT (one connection) or fd:N (a\n"
                "                        connected socket) instead of booting; give the device\n"
                "                        options the source VM has\n"
                "      --log-level LVL   error|warning|notice|info|debug (default notice)\n"
                "  -h, --help            show this help\n"
                "\n"
                "Events (booting, reset, powered_off, stopped) are logged on stderr as\n"
                "\"level=notice event=NAME key=value...\" lines.\n"
                "\n"
                "Control socket: one JSON object per line (at most 64 KiB). Requests\n"
                "  {\"id\":N,\"cmd\":\"status\"}      -> {\"id\":N,\"ok\":true,\"state\":\"running\",\"cpus\":C,\"memory_mb\":M,\"pid\":P}\n"
                "  {\"id\":N,\"cmd\":\"stop\"}        hard stop; vdi-vm exits 0 after the reply\n"
                "  {\"id\":N,\"cmd\":\"reset\"}       the guest reboots\n"
                "  {\"id\":N,\"cmd\":\"key\",\"code\":EVDEV,\"pressed\":true|false}\n"
                "  {\"id\":N,\"cmd\":\"pointer\",\"x\":0-32767,\"y\":0-32767,\"buttons\":0-7}\n"
                "  {\"id\":N,\"cmd\":\"wheel\",\"delta\":D}\n"
                "  {\"id\":N,\"cmd\":\"screenshot\",\"path\":\"/abs/file.ppm\"}   binary PPM (P6)\n"
                "  {\"id\":N,\"cmd\":\"screenshot\"} with one file descriptor (SCM_RIGHTS) in the\n"
                "                        same sendmsg: the PPM goes into it (a memfd or regular\n"
                "                        file open for writing), no path needed\n"
                "  {\"id\":N,\"cmd\":\"disconnect\"}   drop the display clients, void unused tickets\n"
                "  {\"id\":N,\"cmd\":\"set-ticket\",\"protocol\":\"spice\"|\"rdp\"|\"web\",\"user\":U,\"password\":P,\"expiry_s\":S}\n"
                "  {\"id\":N,\"cmd\":\"snapshot\",\"dir\":\"/abs/new-dir\"}  pause, save the whole VM\n"
                "                        (hostd/vmm/SNAPSHOT.md) into the new directory, resume;\n"
                "                        answers paused_ms, ram_pages, state_bytes\n"
                "  {\"id\":N,\"cmd\":\"suspend\",\"dir\":\"/abs/new-dir\"}   the same, but the disks\n"
                "                        are kept as they are and the VM stops (exit 0) once dir\n"
                "                        is written; --restore dir with the same --disk resumes it\n"
                "  {\"id\":N,\"cmd\":\"migrate\",\"to\":\"unix:PATH\"|\"tcp:HOST:PORT\"[,\"downtime_ms\":300]}\n"
                "                        live migration to a vdi-vm --incoming; on success this\n"
                "                        VM stops (exit 0), on failure it runs on here\n"
                "  {\"id\":N,\"cmd\":\"damage\"}      (tests) rectangles changed since the last call\n"
                "answer {\"id\":N,\"ok\":true,...} or {\"id\":N,\"ok\":false,\"error\":\"...\"}. Events\n"
                "without id: {\"event\":\"booted\"} (first byte on the serial console; repeated\n"
                "to clients that connect later), {\"event\":\"reset\"}, {\"event\":\"powered_off\"},\n"
                "{\"event\":\"crashed\",\"reason\":\"...\"}, {\"event\":\"agent-ready\"} (the guest's\n"
                "agent opened org.vdi.agent.0; repeated like booted), and with display servers\n"
                "{\"event\":\"client-connected\"|\"client-disconnected\",\n"
                " \"reason\":\"protocol=P user=U address=A\"} (U percent-encoded).\n"
                "\n"
                "The guest has: COM1 16550A at 0x3f8/IRQ 4, ACPI tables (MADT with every\n"
                "vCPU; PM1 registers for S5 poweroff; a reset register), a PCI host bridge\n"
                "(config ports 0xCF8/0xCFC), in-kernel LAPIC/IOAPIC/PIC/PIT; on PCI the\n"
                "virtio 1.x (modern, MSI-X) disks in --disk order, then a virtio keyboard\n"
                "and an absolute tablet (0..32767, 3 buttons, wheel), then the network cards\n"
                "in --net order (eth0, eth1...); with --framebuffer a\n"
                "VESA linear framebuffer at 0xe0000000 (boot_params.screen_info), or with\n"
                "--display virtio-gpu a virtio-gpu after the network cards; then the HD Audio\n"
                "controller (INTx; unless --sound none). A guest reset\n"
                "(ACPI reset, i8042 0xFE, port 0xCF9, triple fault) reboots the VM from\n"
                "scratch unless --no-reboot.\n"
                "\n"
                "With --spice-port/--rdp-port/--web-port the guest's framebuffer is sent to clients as it\n"
                "changes (damage from the dirty log) and their keyboard and pointer go to the\n"
                "virtio keyboard and tablet. A ticket admits one client session once.\n"
                "\n"
                "Exit status: 0 guest powered off or stopped by the control socket; 1 error\n"
                "(message on stderr); 2 bad arguments; 3 guest reset with --no-reboot;\n"
                "4 stopped by SIGINT/SIGTERM.\n",
                VM_MAX_CPUS, VM_MIN_MEM_MIB, VM_MAX_MEM_MIB, VM_MAX_DISKS, VM_MAX_NICS);
}

static int parse_uint(const char *opt, const char *s, unsigned long long max, unsigned long long *out)
{
        char *end;
        unsigned long long v;

        errno = 0;
        if (!s || !*s || *s == '-')
                goto bad;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                goto bad;
        *out = v;
        return 0;
bad:
        fprintf(stderr, "vdi-vm: invalid %s \"%s\": expected a number up to %llu\n", opt, s ? s : "", max);
        return -EINVAL;
}

/* What the control socket needs besides the VM.  Control requests and
 * signals may arrive while main tears the VM down: they go through the
 * gate (vm_enter/vm_leave) and find vm and remote gone once it is shut. */
struct app {
        pthread_rwlock_t gate;
        struct vm *vm;
        struct control *ctl;
        unsigned cpus;
        uint64_t memory_mb;
        atomic_bool stop_requested; /* by the control socket: exit 0 */
        struct remote *remote;      /* SPICE/RDP servers, or NULL */
        pthread_mutex_t users_lock;
        char *spice_user, *rdp_user, *web_user; /* of the last ticket: named in client events */
        /* Console tee: the guest's serial output goes through a pipe so that
         * its first byte can be reported as "booted". */
        int console_out, pipe_rd;
        pthread_t tee;
        /* --incoming: the source's socket until READY (-1 after), and the
         * received directory. */
        int mig_fd;
        const char *mig_dir;
        /* The agent console's host side, and the identity a forked guest
         * is told there. */
        struct agent_link link;
        struct identity id;
};

/* The VM while the gate is open, else NULL; vm_leave() either way. */
static struct vm *vm_enter(struct app *a)
{
        pthread_rwlock_rdlock(&a->gate);
        return a->vm;
}

static void vm_leave(struct app *a)
{
        pthread_rwlock_unlock(&a->gate);
}

static void request_stop(struct app *a)
{
        struct vm *vm = vm_enter(a);

        if (vm)
                vm_request_stop(vm);
        vm_leave(a);
}

static void incoming_answer(int fd, const char *dir, const char *why);

/* A restored guest runs: its agent hears who it is now (identity.h). */
static void tell_identity(struct app *a)
{
        uint8_t id[VMGENID_LEN];
        enum vm_origin origin = vm_generation(a->vm, id);
        struct timespec now;
        char *msg;
        int r;

        clock_gettime(CLOCK_REALTIME, &now);
        msg = identity_message(origin, id, &a->id, &now);
        if (!msg) {
                if (origin != VM_ORIGIN_BOOT)
                        log_warning("identity", "cannot build the agent message: out of memory");
                return;
        }
        if ((r = agent_link_send(&a->link, msg)) < 0)
                log_warning("identity", "cannot queue the agent message: %s", strerror(-r));
        else
                log_notice("identity", "origin=%s sent=org.vdi.agent.0", origin == VM_ORIGIN_FORK ? "fork" : "resume");
        free(msg);
}

static void on_event(void *opaque, const char *event, const char *detail)
{
        struct app *a = opaque;

        log_notice(event, "%s", detail);
        if (strcmp(event, "reset") == 0 || strcmp(event, "powered_off") == 0)
                control_event(a->ctl, event, NULL);
        /* A migrated guest runs here now: the source may stop (its pause
         * ends with this READY, so it measures the whole downtime). */
        if (strcmp(event, "started") == 0 && a->mig_fd >= 0) {
                incoming_answer(a->mig_fd, a->mig_dir, NULL);
                a->mig_fd = -1;
        }
        if (strcmp(event, "started") == 0 && a->link.c)
                tell_identity(a);
}

/* The guest's agent opened its port: vdi-hostd's instant-clone parents
 * wait for this (the desktop is up) before they are suspended. Called on
 * the agent console's device thread, whose seccomp filter allows no
 * socket writes: the control thread sends the event. */
static void on_agent_ready(void *ctx)
{
        struct app *a = ctx;

        control_agent_ready_later(a->ctl);
}

static void *console_tee(void *arg)
{
        struct app *a = arg;
        char buf[4096];
        bool first = true;

        jail_thread(JAIL_CONTROL);
        for (;;) {
                ssize_t n = read(a->pipe_rd, buf, sizeof(buf)), done = 0;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return NULL;
                if (first) {
                        control_event(a->ctl, "booted", NULL);
                        first = false;
                }
                while (a->console_out >= 0 && done < n) {
                        ssize_t w = write(a->console_out, buf + done, (size_t)(n - done));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0)
                                break;
                        done += w;
                }
        }
}

static void h_status(void *o, struct control_status *st)
{
        struct app *a = o;

        st->state = "running";
        st->cpus = a->cpus;
        st->memory_mb = a->memory_mb;
}

static void h_stop(void *o)
{
        struct app *a = o;

        atomic_store(&a->stop_requested, true);
        request_stop(a);
}

static int h_reset(void *o, char *err, size_t n)
{
        struct vm *vm = vm_enter(o);

        if (vm)
                vm_request_reset(vm);
        else
                snprintf(err, n, "the VM is stopping");
        vm_leave(o);
        return vm ? 0 : -ESHUTDOWN;
}

static void h_key(void *o, uint16_t code, bool pressed)
{
        struct vm *vm = vm_enter(o);

        if (vm)
                vm_input_key(vm, code, pressed);
        vm_leave(o);
}

static void h_pointer(void *o, uint32_t x, uint32_t y, uint32_t buttons)
{
        struct vm *vm = vm_enter(o);

        if (vm)
                vm_input_pointer(vm, x, y, buttons);
        vm_leave(o);
}

static void h_wheel(void *o, int32_t delta)
{
        struct vm *vm = vm_enter(o);

        if (vm)
                vm_input_wheel(vm, delta);
        vm_leave(o);
}

static int h_screenshot(void *o, int fd, char *err, size_t n)
{
        struct vm *vm = vm_enter(o);
        int r = vm ? vm_screenshot(vm, fd) : -ESHUTDOWN;

        vm_leave(o);
        if (r == -ESHUTDOWN)
                snprintf(err, n, "the VM is stopping");
        else if (r == -ENODEV)
                snprintf(err, n, "this VM shows nothing: no framebuffer (start vdi-vm with --framebuffer WxH), "
                                 "or the guest's virtio-gpu driver has not set a scanout yet");
        else if (r < 0)
                snprintf(err, n, "%s", strerror(-r));
        return r;
}

/* Where the user of protocol's last ticket is kept. */
static char **user_slot(struct app *a, const char *protocol)
{
        if (strcmp(protocol, "spice") == 0)
                return &a->spice_user;
        return strcmp(protocol, "rdp") == 0 ? &a->rdp_user : &a->web_user;
}

static int h_disconnect(void *o, char *err, size_t n)
{
        struct app *a = o;
        int r = -ESHUTDOWN;

        if (vm_enter(a))
                r = remote_disconnect(a->remote, err, n);
        else
                snprintf(err, n, "the VM is stopping");
        vm_leave(a);
        if (r >= 0)
                log_notice("clients_disconnected", "sessions=%d", r);
        return r;
}

/* The password is never logged. */
static int h_set_ticket(void *o, const char *protocol, const char *user, const char *password, unsigned expiry_s,
                        char *err, size_t n)
{
        struct app *a = o;
        int r;

        if (vm_enter(a))
                r = remote_set_ticket(a->remote, protocol, user, password, expiry_s, err, n);
        else {
                snprintf(err, n, "the VM is stopping");
                r = -ESHUTDOWN;
        }
        vm_leave(a);

        if (r == 0) {
                char **slot = user_slot(a, protocol);
                pthread_mutex_lock(&a->users_lock);
                free(*slot);
                *slot = strdup(user);
                pthread_mutex_unlock(&a->users_lock);
                log_info("ticket_set", "protocol=%s expiry_s=%u", protocol, expiry_s);
        }
        return r;
}

/* A client session of a display server started or ended: an event on
 * the control socket, "client-connected" or "client-disconnected", with
 * reason "protocol=P user=U address=A" (U percent-encoded: the user of
 * the protocol's last ticket, which is the one that admitted it). */
static void on_client(void *opaque, const char *protocol, bool connected, const char *peer)
{
        struct app *a = opaque;
        char *user, *detail;

        pthread_mutex_lock(&a->users_lock);
        user = *user_slot(a, protocol);
        user = g_uri_escape_string(user ? user : "", NULL, FALSE);
        pthread_mutex_unlock(&a->users_lock);
        detail = g_strdup_printf("protocol=%s user=%s address=%s", protocol, user ? user : "",
                                 peer);
        log_notice(connected ? "client_connected" : "client_disconnected", "%s", detail);
        control_event(a->ctl, connected ? "client-connected" : "client-disconnected", detail);
        g_free(user);
        g_free(detail);
}

static int h_damage(void *o, struct display_rect *rects, size_t max)
{
        struct vm *vm = vm_enter(o);
        int r = -ESHUTDOWN;

        if (vm) {
                struct display_source ds = vm_display_source(vm);
                r = ds.ops->collect_damage(ds.opaque, rects, max);
        }
        vm_leave(o);
        return r;
}

static int take_state(void *o, const char *dir, bool suspend, struct control_snapshot *out, char *err, size_t n)
{
        struct vm_snapshot_info info;
        struct vm_err e = { "the VM is stopping" };
        struct vm *vm = vm_enter(o);
        int r = !vm ? -ESHUTDOWN : suspend ? vm_suspend(vm, dir, &info, &e) : vm_snapshot(vm, dir, &info, &e);

        if (r == 0 && suspend)
                atomic_store(&((struct app *)o)->stop_requested, true); /* exit 0: it goes on from dir */
        vm_leave(o);
        if (r < 0) {
                snprintf(err, n, "%s", e.msg);
                return r;
        }
        out->paused_ms = info.paused_ms;
        out->ram_pages = info.ram_pages;
        out->state_bytes = info.state_bytes;
        log_notice(suspend ? "suspended" : "snapshot", "dir=%s paused_ms=%.1f ram_pages=%llu state_bytes=%llu", dir,
                   info.paused_ms, (unsigned long long)info.ram_pages, (unsigned long long)info.state_bytes);
        return 0;
}

static int h_snapshot(void *o, const char *dir, struct control_snapshot *out, char *err, size_t n)
{
        return take_state(o, dir, false, out, err, n);
}

static int h_suspend(void *o, const char *dir, struct control_snapshot *out, char *err, size_t n)
{
        return take_state(o, dir, true, out, err, n);
}

static int h_migrate(void *o, const char *to, double downtime_ms, struct control_migrate *out, char *err, size_t n)
{
        struct vm_migrate_opts opts = { .downtime_ms = downtime_ms };
        struct vm_migrate_info info;
        struct vm_err e = { "the VM is stopping" };
        struct vm *vm = vm_enter(o);
        int fd = vm ? migrate_connect(to, &e) : -ESHUTDOWN;
        int r = fd < 0 ? fd : vm_migrate_send(vm, fd, &opts, &info, &e);

        if (r == 0)
                atomic_store(&((struct app *)o)->stop_requested, true); /* exit 0: the guest lives on there */
        vm_leave(o);
        if (fd >= 0)
                close(fd);
        if (r < 0) {
                log_warning("migrate", "to=%s error=\"%s\"", to, e.msg);
                snprintf(err, n, "%s", e.msg);
                return r;
        }
        *out = (struct control_migrate){ .rounds = info.rounds, .pages = info.pages, .zero_pages = info.zero_pages,
                                         .final_pages = info.final_pages, .bytes = info.bytes,
                                         .rate_mib_s = info.rate_mib_s, .total_ms = info.total_ms,
                                         .paused_ms = info.paused_ms };
        log_notice("migrated", "to=%s rounds=%u pages=%llu final_pages=%llu total_ms=%.1f paused_ms=%.1f%s", to,
                   info.rounds, (unsigned long long)info.pages, (unsigned long long)info.final_pages,
                   info.total_ms, info.paused_ms,
                   info.unsettled ? " warning=\"a device kept chains taken before dirty logging\"" : "");
        return 0;
}

static const struct control_handler control_handler = {
        .migrate = h_migrate,
        .snapshot = h_snapshot,
        .suspend = h_suspend,
        .status = h_status,
        .stop = h_stop,
        .reset = h_reset,
        .key = h_key,
        .pointer = h_pointer,
        .wheel = h_wheel,
        .screenshot = h_screenshot,
        .disconnect = h_disconnect,
        .set_ticket = h_set_ticket,
        .damage = h_damage,
};

/* Become user for good: supplementary groups, gid, uid, and no way back
 * (no setuid binaries, no file capabilities) for this process or its
 * threads (glibc applies set*id to every thread). */
static int drop_privileges(const char *user)
{
        struct passwd *pw = getpwnam(user);

        if (!pw) {
                fprintf(stderr, "vdi-vm: --user %s: no such user (create it: useradd --system %s)\n", user,
                        user);
                return -ENOENT;
        }
        if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
                goto done;
        if (geteuid() != 0) {
                fprintf(stderr, "vdi-vm: --user %s needs root (running as uid %u)\n", user, (unsigned)geteuid());
                return -EPERM;
        }
        if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
                fprintf(stderr, "vdi-vm: cannot switch to user %s: %s\n", user, strerror(errno));
                return -errno;
        }
        if (setresuid(0, 0, 0) == 0) {
                fprintf(stderr, "vdi-vm: could regain root after switching to %s; refusing to run\n", user);
                return -EPERM;
        }
done:
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                fprintf(stderr, "vdi-vm: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
                return -errno;
        }
        log_info("privileges_dropped", "user=%s uid=%u gid=%u", user, (unsigned)pw->pw_uid,
                 (unsigned)pw->pw_gid);
        return 0;
}

/* With --user, root's capabilities go with the switch of users, but the
 * bounding set stays full unless emptied. It is per thread: empty it
 * before any thread exists, while CAP_SETPCAP is still effective (the
 * effective set, needed until the switch, is not touched). */
static int drop_bounding_set(void)
{
        for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
                        fprintf(stderr, "vdi-vm: cannot drop capability %d from the bounding set: %s\n", cap,
                                strerror(errno));
                        return -errno;
                }
        return 0;
}

static int parse_port(const char *opt, const char *s, uint16_t *out)
{
        unsigned long long v;

        if (parse_uint(opt, s, 65535, &v) < 0)
                return -EINVAL;
        if (v == 0) {
                fprintf(stderr, "vdi-vm: invalid %s 0: expected a port 1-65535\n", opt);
                return -EINVAL;
        }
        *out = (uint16_t)v;
        return 0;
}

struct sigwaiter {
        struct app *app;
        sigset_t set;
        volatile sig_atomic_t got;
        atomic_bool done; /* main is past the VM: the next signal ends the thread */
};

static void *signal_thread(void *arg)
{
        struct sigwaiter *w = arg;
        int sig;

        jail_thread(JAIL_CONTROL);

        while (sigwait(&w->set, &sig) == 0 && !atomic_load(&w->done)) {
                w->got = sig;
                request_stop(w->app);
        }
        return NULL;
}

/* What an incoming vdi-vm killed while receiving left in tmp: directories
 * vdi-vm-incoming-PID-* of processes that are gone. */
static void incoming_remove_stale(const char *tmp)
{
        DIR *d = opendir(tmp);
        struct dirent *e;
        char path[PATH_MAX];
        int pid;

        if (!d)
                return;
        while ((e = readdir(d))) {
                if (sscanf(e->d_name, "vdi-vm-incoming-%d-", &pid) != 1 || pid <= 0 ||
                    (kill(pid, 0) == 0 || errno != ESRCH))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
                vm_migrate_cleanup(path);
                log_notice("incoming", "removed=%s (left by a vdi-vm that died receiving)", path);
        }
        closedir(d);
}

/* --incoming: take one migration stream into a new directory that
 * vm_create then restores from. */
static int incoming_receive(const char *addr, int *fd, char *dir, size_t n)
{
        const char *tmp = getenv("TMPDIR");
        struct vm_err err;
        int r;

        tmp = tmp && *tmp ? tmp : "/tmp";
        incoming_remove_stale(tmp);
        snprintf(dir, n, "%s/vdi-vm-incoming-%d-XXXXXX", tmp, (int)getpid());
        if (!mkdtemp(dir)) {
                fprintf(stderr, "vdi-vm: cannot create %s: %s\n", dir, strerror(errno));
                return -errno;
        }
        *fd = migrate_accept(addr, &err);
        r = *fd < 0 ? *fd : vm_migrate_receive(*fd, dir, 120, &err);
        if (r < 0) {
                fprintf(stderr, "vdi-vm: incoming migration refused: %s\n", err.msg);
                if (*fd >= 0)
                        vm_migrate_reply(*fd, err.msg);
                vm_migrate_cleanup(dir);
                if (*fd >= 0)
                        close(*fd);
                return r;
        }
        log_notice("incoming", "from=%s dir=%s", addr, dir);
        return 0;
}

/* Tell the source whether this VM took over (why NULL) and remove the
 * received files: the RAM stays mapped, nothing else needs them. */
static void incoming_answer(int fd, const char *dir, const char *why)
{
        if (vm_migrate_reply(fd, why) < 0 && !why)
                log_warning("incoming", "the source did not get READY: %s", strerror(errno));
        vm_migrate_cleanup(dir);
        close(fd);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "kernel", required_argument, NULL, 'k' },
                { "initrd", required_argument, NULL, 'i' },
                { "cmdline", required_argument, NULL, 'a' },
                { "cpus", required_argument, NULL, 'c' },
                { "memory", required_argument, NULL, 'm' },
                { "console", required_argument, NULL, 'C' },
                { "no-reboot", no_argument, NULL, 'R' },
                { "kvm", required_argument, NULL, 'K' },
                { "disk", required_argument, NULL, 'd' },
                { "framebuffer", required_argument, NULL, 'F' },
                { "no-input", no_argument, NULL, 'I' },
                { "agent", no_argument, NULL, 'g' },
                { "clipboard", required_argument, NULL, 'B' },
                { "display", required_argument, NULL, 'G' },
                { "sound", required_argument, NULL, 's' },
                { "sound-out", required_argument, NULL, 'o' },
                { "sound-in", required_argument, NULL, 'j' },
                { "net", required_argument, NULL, 'n' },
                { "control", required_argument, NULL, 'S' },
                { "log-level", required_argument, NULL, 'L' },
                { "spice-port", required_argument, NULL, 'P' },
                { "rdp-port", required_argument, NULL, 'Q' },
                { "web-port", required_argument, NULL, 'W' },
                { "web-origin", required_argument, NULL, 'O' },
                { "display-listen", required_argument, NULL, 'D' },
                { "tls-cert", required_argument, NULL, 'T' },
                { "tls-key", required_argument, NULL, 'Y' },
                { "tls-ca", required_argument, NULL, 'A' },
                { "display-lossless", no_argument, NULL, 'l' },
                { "user", required_argument, NULL, 'U' },
                { "restore", required_argument, NULL, 'r' },
                { "incoming", required_argument, NULL, 'M' },
                { "vmgenid", required_argument, NULL, 'V' },
                { "clone-hostname", required_argument, NULL, 'H' },
                { "clone-machine-id", required_argument, NULL, 'E' },
                { "seccomp", required_argument, NULL, 'X' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct vm_config cfg = {
                .cmdline = "console=ttyS0",
                .ncpus = 1,
                .mem_mib = 256,
                .console_fd = STDOUT_FILENO,
                .console_input = true,
                .console_in_fd = STDIN_FILENO,
                .event = on_event,
                .devices.sound = VM_SOUND_HDA,
        };
        const char *console = NULL, *control_path = NULL, *user = NULL, *incoming = NULL;
        char mig_dir[PATH_MAX];
        int mig_fd = -1;
        struct remote_options ropt = { 0 };
        static struct app app = { .console_out = -1, .pipe_rd = -1, .mig_fd = -1 };
        bool tee_started = false, boot_opts_given = false, seccomp = true;
        enum log_level level = LOG_LEVEL_NOTICE;
        unsigned long long n;
        struct vm_err err = { "" };
        struct vm *vm = NULL;
        struct sigwaiter w = { 0 };
        pthread_t sigthr;
        enum vm_stop why = VM_STOP_NONE;
        int c, r, console_fd = -1;
        uint8_t vmgenid[VMGENID_LEN];

        while ((c = getopt_long(argc, argv, "k:i:a:c:m:d:n:h", opts, NULL)) != -1) {
                switch (c) {
                case 'k':
                        cfg.kernel = optarg;
                        break;
                case 'i':
                        cfg.initrd = optarg;
                        break;
                case 'a':
                        boot_opts_given = true;
                        cfg.cmdline = optarg;
                        break;
                case 'c':
                        if (parse_uint("--cpus", optarg, UINT_MAX, &n) < 0)
                                return EXIT_USAGE;
                        cfg.ncpus = (unsigned)n;
                        boot_opts_given = true;
                        break;
                case 'm':
                        if (parse_uint("--memory", optarg, UINT64_MAX >> 20, &n) < 0)
                                return EXIT_USAGE;
                        cfg.mem_mib = n;
                        boot_opts_given = true;
                        break;
                case 'C':
                        console = optarg;
                        break;
                case 'R':
                        cfg.no_reboot = true;
                        break;
                case 'K':
                        cfg.kvm_path = optarg;
                        break;
                case 'd':
                        if (cfg.devices.ndisks == VM_MAX_DISKS) {
                                fprintf(stderr, "vdi-vm: too many --disk options (at most %d)\n", VM_MAX_DISKS);
                                return EXIT_USAGE;
                        }
                        if (vm_disk_parse(optarg, &cfg.devices.disks[cfg.devices.ndisks], &err) < 0) {
                                fprintf(stderr, "vdi-vm: %s\n", err.msg);
                                return EXIT_USAGE;
                        }
                        cfg.devices.ndisks++;
                        break;
                case 'F':
                        if (fb_parse_size(optarg, &cfg.devices.fb_width, &cfg.devices.fb_height) < 0) {
                                fprintf(stderr,
                                        "vdi-vm: invalid --framebuffer \"%s\": expected WIDTHxHEIGHT between %ux%u and %ux%u (e.g. 1920x1080)\n",
                                        optarg, FB_MIN_WIDTH, FB_MIN_HEIGHT, FB_MAX_DIM, FB_MAX_DIM);
                                return EXIT_USAGE;
                        }
                        break;
                case 'I':
                        cfg.devices.no_input = true;
                        break;
                case 's':
                        if (vm_sound_parse(optarg, &cfg.devices.sound) < 0) {
                                fprintf(stderr, "vdi-vm: invalid --sound \"%s\": expected hda or none\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'o':
                        cfg.devices.sound_out = optarg;
                        break;
                case 'j':
                        cfg.devices.sound_in = optarg;
                        break;
                case 'g':
                        cfg.devices.agent = true;
                        break;
                case 'B': {
                        enum agent_clip_policy policy;
                        if (agent_clip_policy_parse(optarg, &policy) < 0) {
                                fprintf(stderr, "vdi-vm: invalid --clipboard \"%s\": expected both, "
                                                "guest-to-client, client-to-guest or none\n", optarg);
                                return EXIT_USAGE;
                        }
                        ropt.clipboard = optarg;
                        break;
                }
                case 'G':
                        if (vm_display_parse(optarg, &cfg.devices.display) < 0) {
                                fprintf(stderr, "vdi-vm: invalid --display \"%s\": expected vesa or virtio-gpu\n",
                                        optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'n':
                        if (cfg.devices.nnics == VM_MAX_NICS) {
                                fprintf(stderr, "vdi-vm: too many --net options (at most %d)\n", VM_MAX_NICS);
                                return EXIT_USAGE;
                        }
                        if (vm_net_parse(optarg, &cfg.devices.nics[cfg.devices.nnics], &err) < 0) {
                                fprintf(stderr, "vdi-vm: %s\n", err.msg);
                                return EXIT_USAGE;
                        }
                        cfg.devices.nnics++;
                        break;
                case 'S':
                        control_path = optarg;
                        break;
                case 'L':
                        if (log_level_from_string(optarg, &level) < 0) {
                                fprintf(stderr, "vdi-vm: invalid --log-level \"%s\"\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'P':
                        if (parse_port("--spice-port", optarg, &ropt.spice_port) < 0)
                                return EXIT_USAGE;
                        break;
                case 'Q':
                        if (parse_port("--rdp-port", optarg, &ropt.rdp_port) < 0)
                                return EXIT_USAGE;
                        break;
                case 'W':
                        if (parse_port("--web-port", optarg, &ropt.web_port) < 0)
                                return EXIT_USAGE;
                        break;
                case 'O':
                        if (strncmp(optarg, "https://", 8) != 0 || strchr(optarg + 8, '/')) {
                                fprintf(stderr, "vdi-vm: --web-origin \"%s\" must be https://HOST[:PORT] "
                                                "(an origin, no path)\n", optarg);
                                return EXIT_USAGE;
                        }
                        ropt.web_origin = optarg;
                        break;
                case 'D':
                        ropt.listen = optarg;
                        break;
                case 'T':
                        ropt.cert_file = optarg;
                        break;
                case 'Y':
                        ropt.key_file = optarg;
                        break;
                case 'A':
                        ropt.ca_file = optarg;
                        break;
                case 'l':
                        ropt.lossless = true;
                        break;
                case 'U':
                        user = optarg;
                        break;
                case 'r':
                        cfg.restore_dir = optarg;
                        break;
                case 'M':
                        incoming = optarg;
                        break;
                case 'V':
                        if (vmgenid_parse(optarg, vmgenid) < 0) {
                                fprintf(stderr, "vdi-vm: invalid --vmgenid \"%s\": expected 32 hex digits, not all "
                                                "zero\n", optarg);
                                return EXIT_USAGE;
                        }
                        cfg.vmgenid = vmgenid;
                        break;
                case 'H':
                        if (identity_check_hostname(optarg) < 0) {
                                fprintf(stderr, "vdi-vm: invalid --clone-hostname \"%s\": expected 1-63 letters, "
                                                "digits and dashes (not first or last)\n", optarg);
                                return EXIT_USAGE;
                        }
                        app.id.hostname = optarg;
                        break;
                case 'E':
                        if (identity_check_machine_id(optarg) < 0) {
                                fprintf(stderr, "vdi-vm: invalid --clone-machine-id \"%s\": expected 32 lowercase "
                                                "hex digits, not all zero\n", optarg);
                                return EXIT_USAGE;
                        }
                        app.id.machine_id = optarg;
                        break;
                case 'X':
                        if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
                                fprintf(stderr, "vdi-vm: invalid --seccomp \"%s\": expected on or off\n", optarg);
                                return EXIT_USAGE;
                        }
                        seccomp = strcmp(optarg, "on") == 0;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "vdi-vm: unexpected argument \"%s\" (see --help)\n", argv[optind]);
                return EXIT_USAGE;
        }
        log_setup("vdi-vm", level);
        if (incoming && (cfg.restore_dir || cfg.kernel || cfg.initrd || boot_opts_given)) {
                fprintf(stderr, "vdi-vm: --incoming takes the whole VM from the migration stream: drop "
                                "--restore/--kernel/--initrd/--cmdline/--cpus/--memory\n");
                return EXIT_USAGE;
        }
        if ((app.id.hostname || app.id.machine_id) && (!cfg.restore_dir || incoming || !cfg.devices.agent)) {
                fprintf(stderr, "vdi-vm: --clone-hostname and --clone-machine-id are for a guest forked with "
                                "--restore, told through the agent console: add --restore DIR and --agent\n");
                return EXIT_USAGE;
        }
        if (cfg.vmgenid && incoming) {
                fprintf(stderr, "vdi-vm: a migrated guest keeps its VM generation ID: drop --vmgenid\n");
                return EXIT_USAGE;
        }
        if (incoming && incoming_receive(incoming, &mig_fd, mig_dir, sizeof(mig_dir)) < 0)
                return EXIT_ERROR;
        if (incoming)
                cfg.restore_dir = mig_dir;
        if (cfg.devices.nnics)
                app.id.mac = cfg.devices.nics[0].mac;
        if (cfg.restore_dir && (cfg.kernel || cfg.initrd || boot_opts_given)) {
                fprintf(stderr, "vdi-vm: --restore takes the kernel, command line, vCPUs and memory from the "
                                "snapshot: drop --kernel/--initrd/--cmdline/--cpus/--memory\n");
                return EXIT_USAGE;
        }
        if (vm_config_check(&cfg, &err) < 0) {
                fprintf(stderr, "vdi-vm: %s\n", err.msg);
                return EXIT_USAGE;
        }
        if (cfg.devices.sound == VM_SOUND_NONE && (cfg.devices.sound_out || cfg.devices.sound_in)) {
                fprintf(stderr, "vdi-vm: --sound-out and --sound-in need a sound card (not --sound none)\n");
                return EXIT_USAGE;
        }
        if (cfg.devices.display == VM_DISPLAY_VIRTIO_GPU && !cfg.devices.fb_width) {
                fprintf(stderr, "vdi-vm: --display virtio-gpu needs --framebuffer WxH (the size its first head "
                                "asks the guest for)\n");
                return EXIT_USAGE;
        }
        if ((ropt.spice_port || ropt.rdp_port || ropt.web_port) && (!cfg.devices.fb_width || cfg.devices.no_input)) {
                fprintf(stderr, "vdi-vm: --spice-port/--rdp-port/--web-port need --framebuffer and the input devices "
                                "(drop --no-input)\n");
                return EXIT_USAGE;
        }
        if ((ropt.spice_port && (ropt.spice_port == ropt.rdp_port || ropt.spice_port == ropt.web_port)) ||
            (ropt.rdp_port && ropt.rdp_port == ropt.web_port)) {
                fprintf(stderr, "vdi-vm: --spice-port, --rdp-port and --web-port must differ\n");
                return EXIT_USAGE;
        }
        if (console && strcmp(console, "none") == 0) {
                cfg.console_fd = -1;
                cfg.console_input = false;
        } else if (console && strcmp(console, "-") != 0) {
                console_fd = open(console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0640);
                if (console_fd < 0) {
                        fprintf(stderr, "vdi-vm: cannot open console file %s: %s\n", console, strerror(errno));
                        return EXIT_ERROR;
                }
                cfg.console_fd = console_fd;
                cfg.console_input = false;
        }
        if (user && geteuid() == 0 && drop_bounding_set() < 0)
                return EXIT_ERROR;
        signal(SIGPIPE, SIG_IGN);
        /* SIGINT/SIGTERM go to one thread that asks the VM to stop: block
         * them before any thread exists (devices, vCPUs and the console
         * tee inherit the mask), so none of those dies of them. */
        sigemptyset(&w.set);
        sigaddset(&w.set, SIGINT);
        sigaddset(&w.set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &w.set, NULL);
        cfg.event_opaque = &app;
        pthread_mutex_init(&app.users_lock, NULL);
        pthread_rwlock_init(&app.gate, NULL);
        if (control_path) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0) {
                        fprintf(stderr, "vdi-vm: pipe: %s\n", strerror(errno));
                        return EXIT_ERROR;
                }
                app.console_out = cfg.console_fd;
                app.pipe_rd = p[0];
                cfg.console_fd = p[1];
        }

        /* Threads confine themselves as they start (jail.h); main once
         * everything is open and the user switched. */
        if (seccomp && (r = jail_arm(user != NULL)) < 0) {
                fprintf(stderr, "vdi-vm: cannot set up seccomp: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        r = vm_create(&cfg, &vm, &err);
        if (incoming && r < 0)
                incoming_answer(mig_fd, mig_dir, err.msg);
        else if (incoming) {
                app.mig_dir = mig_dir;
                app.mig_fd = mig_fd; /* READY when the vCPUs run (on_event) */
        }
        if (r < 0) {
                fprintf(stderr, "vdi-vm: %s\n", err.msg);
                return EXIT_ERROR;
        }
        app.vm = vm;
        app.cpus = vm_cpus(vm);
        app.memory_mb = vm_memory_mib(vm);
        if (ropt.spice_port || ropt.rdp_port || ropt.web_port) {
                char *msg = NULL;
                ropt.client_event = on_client;
                ropt.client_event_opaque = &app;
                if (remote_start(&ropt, vm_display_source(vm), &app.remote, &msg) < 0) {
                        fprintf(stderr, "vdi-vm: %s\n", msg ? msg : "cannot start the display servers");
                        free(msg);
                        vm_free(vm);
                        return EXIT_ERROR;
                }
        }
        if (control_path) {
                char *msg = NULL;
                if (control_start(control_path, &control_handler, &app, &app.ctl, &msg) < 0) {
                        fprintf(stderr, "vdi-vm: %s\n", msg ? msg : "cannot start the control socket");
                        free(msg);
                        remote_stop(app.remote);
                        vm_free(vm);
                        return EXIT_ERROR;
                }
                if (app.pipe_rd >= 0) {
                        if (pthread_create(&app.tee, NULL, console_tee, &app) != 0) {
                                fprintf(stderr, "vdi-vm: cannot start the console thread\n");
                                control_stop(app.ctl);
                                remote_stop(app.remote);
                                vm_free(vm);
                                return EXIT_ERROR;
                        }
                        tee_started = true;
                }
        }

        if (user && drop_privileges(user) < 0) {
                control_stop(app.ctl);
                remote_stop(app.remote);
                vm_free(vm);
                return EXIT_ERROR;
        }
        if (seccomp) {
                jail_privileges_dropped();
                r = jail_enter(JAIL_CONTROL);
                if (r < 0) {
                        fprintf(stderr, "vdi-vm: cannot install the seccomp filter: %s\n", strerror(-r));
                        control_stop(app.ctl);
                        remote_stop(app.remote);
                        vm_free(vm);
                        return EXIT_ERROR;
                }
        }
        w.app = &app;
        if (pthread_create(&sigthr, NULL, signal_thread, &w) != 0) {
                fprintf(stderr, "vdi-vm: cannot start the signal thread\n");
                control_stop(app.ctl);
                remote_stop(app.remote);
                vm_free(vm);
                return EXIT_ERROR;
        }

        agent_link_on_ready(&app.link, on_agent_ready, &app);
        agent_link_start(&app.link, vm_agent_console(vm), app.remote);
        r = vm_run(vm, &why, &err);
        if (app.mig_fd >= 0)
                incoming_answer(app.mig_fd, mig_dir, r < 0 ? err.msg : "the VM stopped before it ran");
        if (r < 0)
                control_event(app.ctl, "crashed", err.msg);
        /* Shut the gate: control requests and signals from now on find no
         * VM (a SIGTERM during a slow stop used to reach a freed one). */
        pthread_rwlock_wrlock(&app.gate);
        app.vm = NULL;
        struct remote *remote = app.remote;
        app.remote = NULL;
        pthread_rwlock_unlock(&app.gate);
        atomic_store(&w.done, true);
        pthread_kill(sigthr, SIGTERM);
        pthread_join(sigthr, NULL);
        /* The servers read the framebuffer: stop them before it goes. */
        agent_link_stop(&app.link);
        remote_stop(remote);
        vm_free(vm);
        if (tee_started) {
                /* vm_free closed nothing of ours: end the tee by closing
                 * the pipe's write end after the guest is gone. */
                close(cfg.console_fd);
                pthread_join(app.tee, NULL);
                close(app.pipe_rd);
        }
        control_stop(app.ctl);
        if (console_fd >= 0)
                close(console_fd);
        if (r < 0) {
                fprintf(stderr, "vdi-vm: %s\n", err.msg);
                return EXIT_ERROR;
        }
        switch (why) {
        case VM_STOP_POWEROFF:
                return EXIT_POWEROFF;
        case VM_STOP_RESET:
                return EXIT_RESET;
        default:
                return atomic_load(&app.stop_requested) ? EXIT_POWEROFF : EXIT_STOPPED;
        }
}
