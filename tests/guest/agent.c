/*
 * agent — PID 1 of the test guest booted by our VMM (and by plain QEMU when
 * the tests check the guest material itself).
 *
 * It mounts proc, sys and dev, loads the kernel modules listed in
 * /etc/agent/modules (built by tests/guest/build-initrd, dependencies
 * first), reports on the serial console in lines that start with "AGENT ":
 *
 *   AGENT ready cpus=2 mem_kb=1010580 kernel=6.1.0-56-amd64
 *
 * then does what the kernel command line asks with agent.action=:
 *
 *   poweroff  (default) sync and power the machine off
 *   reboot    sync and reboot
 *   shell     run busybox sh on the console, power off when it exits
 *   sleep     stay up, reaping orphans, until the VMM stops the guest
 *   devtest   exercise our VMM's devices (disks, /dev/fb0, input), then
 *             echo input events until the host presses KEY_F3 (see
 *             agent_act_devtest)
 *   diskbench time sequential and 4 KiB random I/O on /dev/vda (bench/disk),
 *             then power off
 *   desktop   a tiny "desktop" for end-to-end tests: a known picture on
 *             /dev/fb0 that typing and clicking change (agent_act_desktop)
 *   nettest   configure eth0, ping, TCP transfers with CRC-32s (virtio-net
 *             tests and bench/net; see agent_act_nettest), then power off
 *   soundtest play a known pattern on the first sound card and record from
 *             it through ALSA's ioctls (agent_act_soundtest), power off
 *   cliptest  the guest side of the SPICE agent's clipboard over the
 *             virtio-console port com.redhat.spice.0 (agent_act_cliptest)
 *   gputest   drive virtio-gpu through DRM/KMS: each head takes its
 *             preferred mode and shows gpu_pattern() (agent-gpu.c)
 *
 * Report lines are "AGENT <event> key=value ..." so that host-side tests can
 * match them; errors are "AGENT error what=... errno=...".  New checks (disk,
 * framebuffer, input) become new actions in agent_actions[] or new probes in
 * agent_probes[].
 *
 * Built static (-static -O2) without sanitizers: the initramfs has no libc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <linux/fs.h>
#include <linux/input.h>
#include <linux/kd.h>
#include <sound/asound.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "clone-pattern.h"

#define AGENT_MODULE_LIST "/etc/agent/modules"
#define AGENT_MODULE_DIR  "/lib/modules"
#define AGENT_SHELL       "/bin/sh"

/* Print one report line on the console, unbuffered so that nothing is lost
 * when the machine powers off right after.  fmt may be NULL. */
void agent_report(const char *event, const char *fmt, ...)
{
	char line[512];
	int n;
	va_list ap;

	n = snprintf(line, sizeof(line), "AGENT %s", event);
	if (fmt && n >= 0 && (size_t)n < sizeof(line)) {
		line[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	fprintf(stdout, "%s\n", line);
	fflush(stdout);
}

void agent_error(const char *what, const char *detail, int err)
{
	agent_report("error", "what=%s detail=%s errno=%d (%s)", what, detail ? detail : "-", err,
		     strerror(err));
}

/* Read a whole small file into buf (NUL-terminated, trailing newline
 * dropped).  Returns 0 or a negative errno. */
static int agent_read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

/* Look up "key=value" on the kernel command line; copies the value into
 * out (empty for a bare "key").  Returns 0, -ENOENT when absent. */
static int agent_param(const char *key, char *out, size_t size)
{
	char cmdline[4096];
	size_t klen = strlen(key);
	char *tok, *save = NULL;
	int r;

	r = agent_read_file("/proc/cmdline", cmdline, sizeof(cmdline));
	if (r < 0)
		return r;
	for (tok = strtok_r(cmdline, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (strncmp(tok, key, klen) != 0 || (tok[klen] != '=' && tok[klen] != '\0'))
			continue;
		snprintf(out, size, "%s", tok[klen] == '=' ? tok + klen + 1 : "");
		return 0;
	}
	return -ENOENT;
}

/* Mount the pseudo file systems; an already mounted one is fine. */
static void agent_mount_basics(void)
{
	static const struct {
		const char *source, *target, *type;
		unsigned long flags;
	} mounts[] = {
		{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC },
		{ "sys", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC },
		{ "dev", "/dev", "devtmpfs", MS_NOSUID },
		{ "tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV },
	};
	size_t i;

	for (i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		mkdir(mounts[i].target, 0755);
		if (mount(mounts[i].source, mounts[i].target, mounts[i].type, mounts[i].flags, NULL) < 0 &&
		    errno != EBUSY)
			agent_error("mount", mounts[i].target, errno);
	}
}

/* Load the modules in AGENT_MODULE_LIST, one path (relative to
 * AGENT_MODULE_DIR) per line, in order.  Returns the number that failed. */
static int agent_load_modules(void)
{
	char line[512], path[600];
	int failed = 0, loaded = 0;
	FILE *list;

	list = fopen(AGENT_MODULE_LIST, "re");
	if (!list) {
		if (errno != ENOENT)
			agent_error("modules", AGENT_MODULE_LIST, errno);
		return errno == ENOENT ? 0 : 1;
	}
	while (fgets(line, sizeof(line), list)) {
		int fd;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		snprintf(path, sizeof(path), "%s/%s", AGENT_MODULE_DIR, line);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) {
			agent_error("module", line, errno);
			failed++;
		} else {
			loaded++;
		}
		if (fd >= 0)
			close(fd);
	}
	fclose(list);
	agent_report("modules", "loaded=%d failed=%d", loaded, failed);
	return failed;
}

/* Total memory as the kernel sees it, in KiB; 0 when unknown. */
static unsigned long agent_mem_kb(void)
{
	char buf[4096];
	const char *p;

	if (agent_read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "MemTotal:");
	return p ? strtoul(p + strlen("MemTotal:"), NULL, 10) : 0;
}

/* -------------------------------------------------------------- probes -- */

/* A probe reports one fact about the machine at boot, after "ready". */
struct agent_probe {
	const char *name;
	void (*run)(void);
};

/* Count the virtio devices the kernel bound a driver to. */
static void agent_probe_virtio(void)
{
	char path[128], drv[64];
	int i, found = 0;

	for (i = 0; i < 64; i++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/virtio%d/driver", i);
		n = readlink(path, drv, sizeof(drv) - 1);
		if (n < 0)
			continue;
		drv[n] = '\0';
		found++;
		agent_report("virtio", "dev=virtio%d driver=%s", i, strrchr(drv, '/') ? strrchr(drv, '/') + 1 : drv);
	}
	agent_report("virtio", "count=%d", found);
}

/* Report every virtio disk: its size in 512-byte sectors and whether the
 * kernel sees it read-only. */
static void agent_probe_disks(void)
{
	char path[128], buf[64], ro[8];
	struct dirent *de;
	DIR *d;

	d = opendir("/sys/block");
	if (!d) {
		agent_error("opendir", "/sys/block", errno);
		return;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vd", 2) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%.32s/size", de->d_name);
		if (agent_read_file(path, buf, sizeof(buf)) < 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%.32s/ro", de->d_name);
		if (agent_read_file(path, ro, sizeof(ro)) < 0)
			snprintf(ro, sizeof(ro), "?");
		agent_report("disk", "dev=%s sectors=%s ro=%s", de->d_name, buf, ro);
	}
	closedir(d);
}

/* How the virtio devices interrupt (MSI-X per queue, or INTx): their
 * lines of /proc/interrupts, the per-CPU counts left out. */
static void agent_probe_interrupts(void)
{
	char line[512];
	FILE *f = fopen("/proc/interrupts", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *name, *type;

		if (!strstr(line, "virtio"))
			continue;
		line[strcspn(line, "\n")] = '\0';
		/* "  24:  5  PCI-MSIX-0000:00:01.0  0-edge  virtio0-config" */
		name = strrchr(p, ' ');
		while (*p == ' ')
			p++;
		type = strstr(p, "PCI-") ? strstr(p, "PCI-") : strstr(p, "IO-APIC");
		if (!name || !type)
			continue;
		agent_report("irq", "irq=%.*s chip=%.*s name=%s", (int)strcspn(p, ":"), p, (int)strcspn(type, " "), type,
			     name + 1);
	}
	fclose(f);
}

static const struct agent_probe agent_probes[] = {
	{ .name = "virtio", .run = agent_probe_virtio },
	{ .name = "disks", .run = agent_probe_disks },
	{ .name = "interrupts", .run = agent_probe_interrupts },
};

/* ------------------------------------------------------------- actions -- */

/* An action runs last and decides how the guest ends.  It returns the
 * reboot(2) command to finish with. */
struct agent_action {
	const char *name;
	int (*run)(void);
};

static int agent_act_poweroff(void)
{
	return RB_POWER_OFF;
}

static int agent_act_reboot(void)
{
	return RB_AUTOBOOT;
}

/* Run a shell on the console, for people debugging the guest by hand. */
static int agent_act_shell(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd;

		/* A new session opening the console makes it the controlling
		 * terminal, so that ^C reaches the shell's children. */
		setsid();
		fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		execl(AGENT_SHELL, "sh", (char *)NULL);
		agent_error("exec", AGENT_SHELL, errno);
		_exit(127);
	}
	if (pid < 0) {
		agent_error("fork", "shell", errno);
		return RB_POWER_OFF;
	}
	/* PID 1 also inherits orphans: reap until the shell itself exits. */
	while (waitpid(-1, NULL, 0) != pid)
		;
	return RB_POWER_OFF;
}

/* Stay up until the host stops the machine. */
static int agent_act_sleep(void)
{
	for (;;) {
		if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
			pause();
	}
	return RB_POWER_OFF;
}

/* ----------------------------------------------------- device tests -- */

#define AGENT_DISK_OFFSET  (1024 * 1024)
#define AGENT_DISK_LEN     (64 * 1024)
#define AGENT_IO_ALIGN     4096

/* FNV-1a, to report what a disk holds in a few characters. */
static uint32_t agent_fnv1a(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* The pattern the agent writes to disk DEV: host-side tests compute the
 * same bytes (tests/vmm/devices-lab.py). */
static void agent_disk_pattern(uint8_t *buf, size_t len, const char *dev)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + (unsigned char)dev[2] + i / 4096);
	snprintf((char *)buf, 32, "VDI-GUEST-WROTE-%.8s", dev);
}

/* One disk: report a checksum of its first 4 KiB (the host filled them),
 * then write a pattern at 1 MiB and read it back, with O_DIRECT so that
 * the bytes really go through the device. A read-only disk is made
 * writable in the kernel (BLKROSET) so that the write reaches the device,
 * which must refuse it. */
static void agent_disk_test(const char *dev, int ro)
{
	char path[64];
	uint8_t *buf = NULL, *want = NULL;
	ssize_t n;
	int fd, zero = 0;

	snprintf(path, sizeof(path), "/dev/%.32s", dev);
	if (posix_memalign((void **)&buf, AGENT_IO_ALIGN, AGENT_DISK_LEN) ||
	    posix_memalign((void **)&want, AGENT_IO_ALIGN, AGENT_DISK_LEN)) {
		agent_error("memalign", dev, ENOMEM);
		goto out;
	}
	fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		agent_error("open", path, errno);
		goto out;
	}
	n = pread(fd, buf, 4096, 0);
	if (n != 4096)
		agent_error("disk-read", dev, n < 0 ? errno : EIO);
	else
		agent_report("disk-read", "dev=%s offset=0 len=4096 fnv=%08x", dev, agent_fnv1a(buf, 4096));

	agent_disk_pattern(want, AGENT_DISK_LEN, dev);
	if (ro) {
		if (ioctl(fd, BLKROSET, &zero) < 0)
			agent_error("blkroset", dev, errno);
		n = pwrite(fd, want, AGENT_DISK_LEN, AGENT_DISK_OFFSET);
		agent_report("disk-ro", "dev=%s write=%s errno=%d", dev, n < 0 ? "refused" : "accepted",
			     n < 0 ? errno : 0);
		close(fd);
		goto out;
	}
	n = pwrite(fd, want, AGENT_DISK_LEN, AGENT_DISK_OFFSET);
	if (n != AGENT_DISK_LEN || fsync(fd) < 0) {
		agent_error("disk-write", dev, n < 0 ? errno : EIO);
		close(fd);
		goto out;
	}
	memset(buf, 0, AGENT_DISK_LEN);
	n = pread(fd, buf, AGENT_DISK_LEN, AGENT_DISK_OFFSET);
	agent_report("disk-write", "dev=%s offset=%d len=%d readback=%s", dev, AGENT_DISK_OFFSET, AGENT_DISK_LEN,
		     n == AGENT_DISK_LEN && memcmp(buf, want, AGENT_DISK_LEN) == 0 ? "ok" : "mismatch");
	close(fd);
out:
	free(buf);
	free(want);
}

static void agent_disks_test(void)
{
	char path[128], ro[8];
	struct dirent *de;
	DIR *d = opendir("/sys/block");

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vd", 2) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%.32s/ro", de->d_name);
		if (agent_read_file(path, ro, sizeof(ro)) < 0)
			continue;
		agent_disk_test(de->d_name, strcmp(ro, "1") == 0);
	}
	closedir(d);
}

struct agent_fb {
	uint8_t *pixels;
	uint32_t width, height, stride;
	size_t size;
};

/* Map /dev/fb0, stop the console drawing on it (KD_GRAPHICS, as X does)
 * and clear it to black.  Returns 0 or a negative errno. */
static int agent_fb_open(struct agent_fb *fb)
{
	struct fb_var_screeninfo var;
	struct fb_fix_screeninfo fix;
	int fd, tty;

	fd = open("/dev/fb0", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		agent_error("open", "/dev/fb0", errno);
		return -errno;
	}
	if (ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0 || ioctl(fd, FBIOGET_FSCREENINFO, &fix) < 0) {
		agent_error("fbioget", "/dev/fb0", errno);
		close(fd);
		return -EIO;
	}
	agent_report("fb", "dev=fb0 id=%.16s width=%u height=%u bpp=%u stride=%u base=0x%lx", fix.id, var.xres,
		     var.yres, var.bits_per_pixel, fix.line_length, fix.smem_start);
	fb->width = var.xres;
	fb->height = var.yres;
	fb->stride = fix.line_length;
	fb->size = (size_t)fix.line_length * var.yres;
	fb->pixels = mmap(NULL, fb->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (fb->pixels == MAP_FAILED) {
		agent_error("mmap", "/dev/fb0", errno);
		return -errno;
	}
	tty = open("/dev/tty0", O_RDWR | O_CLOEXEC);
	if (tty < 0 || ioctl(tty, KDSETMODE, KD_GRAPHICS) < 0)
		agent_error("kdsetmode", "/dev/tty0", errno);
	if (tty >= 0)
		close(tty);
	memset(fb->pixels, 0, fb->size);
	return 0;
}

static void agent_fb_fill(struct agent_fb *fb, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t color)
{
	uint32_t i, j;

	for (j = y; j < y + h && j < fb->height; j++)
		for (i = x; i < x + w && i < fb->width; i++)
			memcpy(fb->pixels + (size_t)j * fb->stride + 4 * i, &color, 4);
}

/* Open every evdev device the kernel made (virtio-input binds shortly
 * after the module loads: wait up to 5 s for want of them). */
int agent_input_open(int *fds, int max, int want)
{
	char path[64], name[128];
	int n = 0, tries, i;

	for (tries = 0; tries < 50; tries++) {
		for (i = 0; i < n; i++)
			close(fds[i]);
		n = 0;
		for (i = 0; i < 32 && n < max; i++) {
			snprintf(path, sizeof(path), "/dev/input/event%d", i);
			fds[n] = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			if (fds[n] >= 0)
				n++;
		}
		if (n >= want)
			break;
		usleep(100000);
	}
	for (i = 0; i < n; i++) {
		if (ioctl(fds[i], EVIOCGNAME(sizeof(name)), name) < 0)
			snprintf(name, sizeof(name), "?");
		agent_report("input-dev", "index=%d name=\"%s\"", i, name);
	}
	return n;
}

/* "disk WORD": WORD (up to 64 bytes) into /dev/vda's first sector, "disk
 * -": that sector back, both with O_DIRECT (so the disk answers, not the
 * guest's page cache); "AGENT disk-wrote WORD" / "AGENT disk-read WORD". */
static void agent_counter_disk(const char *word)
{
	static char sector[4096] __attribute__((aligned(4096)));
	int fd = open("/dev/vda", O_RDWR | O_DIRECT | O_CLOEXEC);
	int rd = strcmp(word, "-") == 0;

	if (fd < 0) {
		agent_error("open", "/dev/vda", errno);
		return;
	}
	if (rd) {
		if (pread(fd, sector, 512, 0) != 512)
			agent_error("pread", "/dev/vda", errno);
		sector[64] = '\0';
		agent_report("disk-read", "%s", sector);
	} else {
		memset(sector, 0, 512);
		memcpy(sector, word, strnlen(word, 64));
		if (pwrite(fd, sector, 512, 0) != 512 || fdatasync(fd) < 0)
			agent_error("pwrite", "/dev/vda", errno);
		else
			agent_report("disk-wrote", "%s", word);
	}
	close(fd);
}

/* Snapshot tests (tests/vmm/snapshot-lab.py): "AGENT count N" about five
 * times a second, forever; a console input line "ping WORD" is answered
 * with "AGENT pong WORD", "disk WORD" as agent_counter_disk says, "ident"
 * with agent_clone_ident's report, "quiet" stops the count and wall lines
 * ("AGENT quiet": in the nested lab every console line of ten guests costs
 * the lab dearly), and a key on a virtio keyboard with "AGENT key
 * code=C value=V", so a restored guest shows that its clock, its timer
 * and serial interrupts and its virtio queues all work. The messages of
 * org.vdi.agent.0 and the kernel's vmgenid news are handled as agent-clone.c
 * says ("AGENT clone-listen vport=1" once the port is open). With a
 * framebuffer, a red 100x50 rectangle at 10,10 is drawn first (restored
 * pixels are then visible in a screenshot), and each clone shows its host
 * name's colour and the keys pressed since it was cloned as
 * clone-pattern.h says ("AGENT clone-drawn host=H color=RRGGBB"). */
/* agent.dirty_mb=N (bench/migrate): the counter also keeps rewriting an
 * N MiB buffer, one byte per 4 KiB page, an eighth of it per count (about
 * N * 5/8 MiB of RAM dirtied per second). */
static unsigned char *counter_dirty;
static size_t counter_dirty_len, counter_dirty_pos;

static void counter_dirty_init(void)
{
	char val[16];

	if (agent_param("agent.dirty_mb", val, sizeof(val)) != 0)
		return;
	counter_dirty_len = (size_t)strtoul(val, NULL, 10) << 20;
	counter_dirty = counter_dirty_len ? malloc(counter_dirty_len) : NULL;
	if (!counter_dirty)
		counter_dirty_len = 0;
}

static void counter_dirty_step(void)
{
	for (size_t i = 0; i < counter_dirty_len / 8; i += 4096) {
		counter_dirty[counter_dirty_pos]++;
		counter_dirty_pos = (counter_dirty_pos + 4096) % counter_dirty_len;
	}
}

static int agent_act_counter(void)
{
	struct pollfd p[12];
	struct input_event ev;
	unsigned long n = 0;
	char line[128];
	size_t len = 0;
	struct agent_fb fb = { 0 };
	int fds[8], nin, i, np, vport = -1, vport_tries = 0, uev, kmsg;
	unsigned forks = 0, keys = 0;
	bool have_fb = false, quiet = false;

	if (agent_fb_open(&fb) == 0) {
		have_fb = true;
		agent_fb_fill(&fb, 10, 10, 100, 50, 0x00ff0000);
		agent_report("fb-drawn", NULL);
	}
	nin = agent_input_open(fds, 8, 2);
	counter_dirty_init();
	uev = agent_clone_open_uevents();
	kmsg = agent_clone_open_kmsg();
	for (;;) {
		/* Our port of the agent console, when the VM has one: its
		 * driver may still be probing, so a few tries a second apart. */
		if (vport < 0 && vport_tries < 10 && n % 5 == 0) {
			vport_tries++;
			vport = agent_vport_open("org.vdi.agent.0");
			if (vport >= 0 || vport_tries == 10)
				agent_report("clone-listen", "vport=%d uevents=%d kmsg=%d", vport >= 0, uev >= 0,
					     kmsg >= 0);
		}
		/* Every second or so the guest's time of day, to check a
		 * restored guest's wall clock. */
		if (n % 5 == 0 && !quiet)
			agent_report("wall", "%lld", (long long)time(NULL));
		if (!quiet)
			agent_report("count", "%lu", n);
		n++;
		counter_dirty_step();
		p[0] = (struct pollfd){ .fd = 0, .events = POLLIN };
		for (i = 0; i < nin; i++)
			p[1 + i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		np = 1 + nin;
		p[np++] = (struct pollfd){ .fd = vport, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = uev, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = kmsg, .events = POLLIN };
		if (poll(p, (nfds_t)np, 200) <= 0)
			continue;
		for (i = 0; i < nin; i++)
			while ((p[1 + i].revents & POLLIN) && read(fds[i], &ev, sizeof(ev)) == (ssize_t)sizeof(ev)) {
				if (ev.type != EV_KEY)
					continue;
				agent_report("key", "code=%u value=%d", ev.code, ev.value);
				if (have_fb && forks && ev.value == 1 && ev.code < BTN_MISC && keys < CLONE_KEY_CELLS)
					agent_fb_fill(&fb, CLONE_KEY_X + keys * CLONE_KEY_STEP, CLONE_KEY_Y, CLONE_KEY_W,
						      CLONE_KEY_H, clone_key_color(ev.code));
				keys += forks && ev.value == 1 && ev.code < BTN_MISC;
			}
		if ((p[np - 3].revents & (POLLIN | POLLHUP | POLLERR)) && agent_clone_vport(vport) < 0) {
			agent_error("vport-read", "org.vdi.agent.0", errno);
			close(vport);
			vport = -1;
		}
		if (have_fb && agent_clone_forks() != forks) {
			char host[65] = "";

			forks = agent_clone_forks();
			keys = 0;
			gethostname(host, sizeof(host) - 1);
			agent_fb_fill(&fb, CLONE_KEY_X, CLONE_KEY_Y, CLONE_KEY_CELLS * CLONE_KEY_STEP, CLONE_KEY_H, 0);
			agent_fb_fill(&fb, CLONE_ID_X, CLONE_ID_Y, CLONE_ID_W, CLONE_ID_H, clone_ident_color(host));
			agent_report("clone-drawn", "host=%s color=%06x", host, clone_ident_color(host));
		}
		if (p[np - 2].revents & POLLIN)
			agent_clone_uevents(uev);
		if (p[np - 1].revents & POLLIN)
			agent_clone_kmsg(kmsg);
		if (p[0].revents & POLLIN) {
			ssize_t r = read(0, line + len, sizeof(line) - 1 - len);
			if (r <= 0) {
				usleep(200000);
				continue;
			}
			len += (size_t)r;
			line[len] = '\0';
			for (char *nl; (nl = strchr(line, '\n'));) {
				*nl = '\0';
				if (strncmp(line, "ping ", 5) == 0)
					agent_report("pong", "%s", line + 5);
				else if (strncmp(line, "disk ", 5) == 0)
					agent_counter_disk(line + 5);
				else if (strcmp(line, "ident") == 0)
					agent_clone_ident();
				else if (strcmp(line, "quiet") == 0 && !quiet)
					quiet = true, agent_report("quiet", NULL);
				len -= (size_t)(nl + 1 - line);
				memmove(line, nl + 1, len + 1);
			}
			if (len == sizeof(line) - 1)
				len = 0;
		}
	}
	return RB_POWER_OFF;
}

/* The device test: disks, then the framebuffer, then input.  The host
 * drives the rest through the keyboard:
 *   KEY_F1  draw two rectangles (red 200x50 at 100,100; green 64x64 at
 *           400,300), then report "AGENT fb-drawn"
 *   KEY_F3  power off
 * and every other input event is echoed as
 *   AGENT input type=T code=C value=V
 * (SYN_REPORT omitted). */
static int agent_act_devtest(void)
{
	struct agent_fb fb = { 0 };
	struct input_event ev;
	struct pollfd pfd[8];
	int fds[8], n, i;
	int have_fb;

	agent_disks_test();
	have_fb = agent_fb_open(&fb) == 0;
	n = agent_input_open(fds, 8, 2);
	agent_report("devtest-ready", "fb=%d inputs=%d", have_fb, n);
	for (i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			while (read(fds[i], &ev, sizeof(ev)) == sizeof(ev)) {
				if (ev.type == EV_SYN)
					continue;
				agent_report("input", "dev=%d type=%u code=%u value=%d", i, ev.type, ev.code, ev.value);
				if (ev.type == EV_KEY && ev.code == KEY_F1 && ev.value == 1 && have_fb) {
					agent_fb_fill(&fb, 100, 100, 200, 50, 0x00ff0000);
					agent_fb_fill(&fb, 400, 300, 64, 64, 0x0000ff00);
					agent_report("fb-drawn", NULL);
				}
				if (ev.type == EV_KEY && ev.code == KEY_F3 && ev.value == 1)
					return RB_POWER_OFF;
			}
		}
	}
}

/* The desktop of the end-to-end tests (tests/e2e): the whole framebuffer
 * DESKTOP_BG with a DESKTOP_BAR strip DESKTOP_BAR_H pixels high on top.
 * Each key press of KEY_1..KEY_SLASH (letters, digits, punctuation) draws
 * a DESKTOP_CELL_W x DESKTOP_CELL_H block in desktop_color(code) at the
 * next cell of the text line (x = DESKTOP_MARGIN + n * DESKTOP_CELL_W,
 * y = DESKTOP_TEXT_Y); BACKSPACE erases the last one; a left click draws
 * a DESKTOP_MARK x DESKTOP_MARK white square centred on the pointer.
 * Reports "AGENT desktop-ready", "AGENT desktop-key code=C n=N" and
 * "AGENT desktop-click x=X y=Y". Runs until the VM is stopped. */
#define DESKTOP_BG 0x00204060u
#define DESKTOP_BAR 0x00c0c0c0u
#define DESKTOP_BAR_H 24
#define DESKTOP_MARGIN 16
#define DESKTOP_TEXT_Y 48
#define DESKTOP_CELL_W 24
#define DESKTOP_CELL_H 32
#define DESKTOP_MARK 8

static uint32_t desktop_color(unsigned code)
{
	static const uint32_t palette[7] = { 0x00ff2020, 0x0020e020, 0x002040ff, 0x00ffff20,
					     0x00ff20ff, 0x0020ffff, 0x00ff9000 };

	return palette[code % 7];
}

static int agent_act_desktop(void)
{
	struct agent_fb fb = { 0 };
	struct input_event ev;
	struct pollfd pfd[8];
	int32_t ax = 0, ay = 0;
	unsigned cells = 0, max_cells;
	int fds[8], n, i;

	if (agent_fb_open(&fb) < 0)
		return RB_POWER_OFF;
	agent_fb_fill(&fb, 0, 0, fb.width, fb.height, DESKTOP_BG);
	agent_fb_fill(&fb, 0, 0, fb.width, DESKTOP_BAR_H, DESKTOP_BAR);
	max_cells = (fb.width - 2 * DESKTOP_MARGIN) / DESKTOP_CELL_W;
	n = agent_input_open(fds, 8, 2);
	agent_report("desktop-ready", "width=%u height=%u inputs=%d", fb.width, fb.height, n);
	for (i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			while (read(fds[i], &ev, sizeof(ev)) == sizeof(ev)) {
				if (ev.type == EV_ABS && ev.code == ABS_X)
					ax = ev.value;
				else if (ev.type == EV_ABS && ev.code == ABS_Y)
					ay = ev.value;
				if (ev.type != EV_KEY || ev.value != 1)
					continue;
				if (ev.code == BTN_LEFT) {
					uint32_t x = (uint32_t)((int64_t)ax * (fb.width - 1) / 32767);
					uint32_t y = (uint32_t)((int64_t)ay * (fb.height - 1) / 32767);
					agent_fb_fill(&fb, x >= DESKTOP_MARK / 2 ? x - DESKTOP_MARK / 2 : 0,
						      y >= DESKTOP_MARK / 2 ? y - DESKTOP_MARK / 2 : 0, DESKTOP_MARK,
						      DESKTOP_MARK, 0x00ffffff);
					agent_report("desktop-click", "x=%u y=%u", x, y);
				} else if (ev.code == KEY_BACKSPACE && cells > 0) {
					cells--;
					agent_fb_fill(&fb, DESKTOP_MARGIN + cells * DESKTOP_CELL_W, DESKTOP_TEXT_Y,
						      DESKTOP_CELL_W, DESKTOP_CELL_H, DESKTOP_BG);
					agent_report("desktop-key", "code=%u n=%u", ev.code, cells);
				} else if (ev.code >= KEY_1 && ev.code <= KEY_SLASH && cells < max_cells) {
					agent_fb_fill(&fb, DESKTOP_MARGIN + cells * DESKTOP_CELL_W + 2, DESKTOP_TEXT_Y,
						      DESKTOP_CELL_W - 4, DESKTOP_CELL_H, desktop_color(ev.code));
					cells++;
					agent_report("desktop-key", "code=%u n=%u", ev.code, cells);
				}
			}
		}
	}
}

static double agent_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Queue depth 1, O_DIRECT (no guest page cache): sequential writes and
 * reads of agent.bench_mb MiB (default 32) in 1 MiB requests, then
 * agent.bench_ios (default 2000) random 4 KiB reads and as many writes
 * inside that range.  One result line:
 *   AGENT diskbench seq_write_mbs=.. seq_read_mbs=.. rand_read_iops=.. rand_write_iops=.. */
static int agent_act_diskbench(void)
{
	char val[32];
	unsigned long mb = 32, ios = 2000, i;
	uint32_t lcg = 12345;
	double t, seq_w, seq_r, rnd_r, rnd_w;
	uint8_t *buf = NULL;
	int fd;

	if (agent_param("agent.bench_mb", val, sizeof(val)) == 0)
		mb = strtoul(val, NULL, 10);
	if (agent_param("agent.bench_ios", val, sizeof(val)) == 0)
		ios = strtoul(val, NULL, 10);
	if (mb == 0 || ios == 0 || posix_memalign((void **)&buf, AGENT_IO_ALIGN, 1 << 20)) {
		agent_error("diskbench", "parameters", EINVAL);
		return RB_POWER_OFF;
	}
	memset(buf, 0x5a, 1 << 20);
	fd = open("/dev/vda", O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		agent_error("open", "/dev/vda", errno);
		free(buf);
		return RB_POWER_OFF;
	}
	t = agent_now();
	for (i = 0; i < mb; i++)
		if (pwrite(fd, buf, 1 << 20, (off_t)i << 20) != 1 << 20)
			goto fail;
	if (fsync(fd) < 0)
		goto fail;
	seq_w = (double)mb / (agent_now() - t);
	t = agent_now();
	for (i = 0; i < mb; i++)
		if (pread(fd, buf, 1 << 20, (off_t)i << 20) != 1 << 20)
			goto fail;
	seq_r = (double)mb / (agent_now() - t);
	t = agent_now();
	for (i = 0; i < ios; i++) {
		lcg = lcg * 1103515245u + 12345u;
		if (pread(fd, buf, 4096, (off_t)(lcg % (mb * 256)) * 4096) != 4096)
			goto fail;
	}
	rnd_r = (double)ios / (agent_now() - t);
	t = agent_now();
	for (i = 0; i < ios; i++) {
		lcg = lcg * 1103515245u + 12345u;
		if (pwrite(fd, buf, 4096, (off_t)(lcg % (mb * 256)) * 4096) != 4096)
			goto fail;
	}
	if (fsync(fd) < 0)
		goto fail;
	rnd_w = (double)ios / (agent_now() - t);
	agent_report("diskbench", "seq_write_mbs=%.1f seq_read_mbs=%.1f rand_read_iops=%.0f rand_write_iops=%.0f",
		     seq_w, seq_r, rnd_r, rnd_w);
	close(fd);
	free(buf);
	return RB_POWER_OFF;
fail:
	agent_error("diskbench", "/dev/vda", errno);
	close(fd);
	free(buf);
	return RB_POWER_OFF;
}


/* ------------------------------------------------------------ network -- */

/* CRC-32 (zlib's polynomial): the host side checks transfers with
 * Python's zlib.crc32, which runs at C speed even inside the lab. */
static uint32_t agent_crc32(uint32_t crc, const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	size_t i;

	if (!table[1])
		for (i = 0; i < 256; i++) {
			uint32_t c = (uint32_t)i;
			int k;

			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	crc = ~crc;
	for (i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* Run a busybox applet (argv[0] found in /bin); its exit status or -1. */
static int agent_run(char *const argv[], int quiet)
{
	char path[64];
	int st;
	pid_t pid;

	snprintf(path, sizeof(path), "/bin/%s", argv[0]);
	pid = fork();
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		execv(path, argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int agent_sockaddr(const char *spec, struct sockaddr_in *sa)
{
	char host[256], *colon;

	snprintf(host, sizeof(host), "%s", spec);
	colon = strchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* Receive until EOF; bytes and CRC out. */
static long long agent_recv_all(int fd, uint32_t *crc)
{
	static uint8_t buf[65536];
	long long total = 0;
	ssize_t n;

	*crc = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		*crc = agent_crc32(*crc, buf, (size_t)n);
		total += n;
	}
	return n < 0 ? -1 : total;
}

/* agent.listen=PORT: accept one connection, receive until EOF. Runs in a
 * child so that the other checks go on meanwhile. */
static pid_t agent_net_listen(const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1, s, c;
	pid_t pid;

	sa.sin_port = htons((uint16_t)atoi(port));
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0) {
		agent_error("listen", port, errno);
		return -1;
	}
	agent_report("net", "listening port=%s", port);
	pid = fork();
	if (pid == 0) {
		uint32_t crc;
		long long n;

		c = accept(s, NULL, NULL);
		if (c < 0) {
			agent_error("accept", port, errno);
			_exit(1);
		}
		n = agent_recv_all(c, &crc);
		agent_report("net", "accepted recv=%lld crc=%08x", n, crc);
		close(c);
		_exit(0);
	}
	close(s);
	return pid;
}

/* agent.tcp=IP:PORT: connect (retrying while refused), send agent.tcp_mb
 * MiB (default 4) of a fixed pseudo-random stream, half-close, receive
 * until EOF. One line with both CRCs and the send rate. */
static void agent_net_tcp(const char *spec)
{
	static uint8_t buf[65536];
	struct sockaddr_in sa;
	char val[32];
	unsigned long mb = 4, left;
	uint32_t lcg = 0x1234567u, crc = 0, rcrc;
	long long rn;
	double t0, t1, t2;
	int s = -1, i;

	if (agent_param("agent.tcp_mb", val, sizeof(val)) == 0)
		mb = strtoul(val, NULL, 10);
	if (agent_sockaddr(spec, &sa) < 0) {
		agent_error("tcp", spec, EINVAL);
		return;
	}
	for (i = 0; i < 300; i++) {
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (s >= 0)
			close(s);
		s = -1;
		usleep(200000);
	}
	if (s < 0) {
		agent_error("connect", spec, errno);
		return;
	}
	t0 = agent_now();
	for (left = mb << 20; left;) {
		size_t chunk = left < sizeof(buf) ? left : sizeof(buf), k, off = 0;

		for (k = 0; k < chunk; k++) {
			lcg = lcg * 1103515245u + 12345u;
			buf[k] = (uint8_t)(lcg >> 16);
		}
		crc = agent_crc32(crc, buf, chunk);
		while (off < chunk) {
			ssize_t w = write(s, buf + off, chunk - off);

			if (w <= 0) {
				agent_error("send", spec, errno);
				close(s);
				return;
			}
			off += (size_t)w;
		}
		left -= chunk;
	}
	t1 = agent_now();
	shutdown(s, SHUT_WR);
	rn = agent_recv_all(s, &rcrc);
	t2 = agent_now();
	close(s);
	agent_report("net", "tcp peer=%s sent=%lu sent_crc=%08x recv=%lld recv_crc=%08x send_s=%.3f mbs=%.2f", spec,
		     mb << 20, crc, rn, rcrc, t1 - t0, (double)mb / (t2 - t0));
}

/* Ping each address in a comma list: want_reply says whether it should
 * answer (tries up to 20 one-second pings) or must not (3 pings). */
static void agent_net_pings(const char *list, int want_reply)
{
	char copy[256], *save = NULL, *ip;

	snprintf(copy, sizeof(copy), "%s", list);
	for (ip = strtok_r(copy, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
		char *ok_argv[] = { "ping", "-c", "1", "-W", "1", ip, NULL };
		char *no_argv[] = { "ping", "-c", "3", "-W", "1", ip, NULL };
		int tries = 0, r = -1;

		if (want_reply) {
			while (tries++ < 20 && (r = agent_run(ok_argv, 1)) != 0)
				;
			agent_report("net", "ping ip=%s reply=%d tries=%d", ip, r == 0, tries > 20 ? 20 : tries);
		} else {
			r = agent_run(no_argv, 1);
			agent_report("net", "ping ip=%s reply=%d tries=3", ip, r == 0);
		}
	}
}

/* The guest side of the virtio-net tests (tests/vmm/net-lab.py) and of
 * bench/net. Parameters (kernel command line): agent.ip=A.B.C.D/N for
 * eth0; agent.listen=PORT; agent.ping=IP,...; agent.noping=IP,...;
 * agent.tcp=IP:PORT with agent.tcp_mb=MiB. Lines "AGENT net ...". */
static int agent_act_nettest(void)
{
	char ip[64], val[256], mac[32] = "", carrier[8] = "";
	char *addr_argv[] = { "ip", "addr", "add", ip, "dev", "eth0", NULL };
	char *up_argv[] = { "ip", "link", "set", "eth0", "up", NULL };
	char *lo_argv[] = { "ip", "link", "set", "lo", "up", NULL };
	pid_t listener = -1;
	int i;

	for (i = 0; i < 100 && access("/sys/class/net/eth0", F_OK) != 0; i++)
		usleep(100000);
	agent_read_file("/sys/class/net/eth0/address", mac, sizeof(mac));
	agent_report("net", "dev=eth0 present=%d mac=%s", access("/sys/class/net/eth0", F_OK) == 0, mac);
	agent_run(lo_argv, 1);
	if (agent_param("agent.ip", ip, sizeof(ip)) == 0) {
		if (agent_run(addr_argv, 0) != 0 || agent_run(up_argv, 0) != 0)
			agent_error("ip", ip, EIO);
	}
	for (i = 0; i < 100; i++) {
		if (agent_read_file("/sys/class/net/eth0/carrier", carrier, sizeof(carrier)) == 0 &&
		    strcmp(carrier, "1") == 0)
			break;
		usleep(100000);
	}
	agent_report("net", "up ip=%s carrier=%s", ip, carrier);
	if (agent_param("agent.listen", val, sizeof(val)) == 0)
		listener = agent_net_listen(val);
	if (agent_param("agent.ping", val, sizeof(val)) == 0)
		agent_net_pings(val, 1);
	if (agent_param("agent.noping", val, sizeof(val)) == 0)
		agent_net_pings(val, 0);
	if (agent_param("agent.tcp", val, sizeof(val)) == 0)
		agent_net_tcp(val);
	if (listener > 0) {
		for (i = 0; i < 1200 && waitpid(listener, NULL, WNOHANG) == 0; i++)
			usleep(100000);
		if (i == 1200)
			agent_report("net", "listen timeout");
	}
	agent_report("net", "done");
	return RB_POWER_OFF;
}

/* ------------------------------------------------------------ sound -- */

/* The patterns of tests/vmm/sound-lab.py: what the guest plays (48 kHz
 * stereo) and what the host's microphone file holds (44.1 kHz stereo; the
 * generic codec driver offers stereo only). */
#define AGENT_PLAY_RATE    48000
#define AGENT_PLAY_FRAMES  48000
#define AGENT_REC_RATE     44100
#define AGENT_REC_FRAMES   22050
#define AGENT_PCM_PERIOD   2048
#define AGENT_PCM_PERIODS  8 /* 340 ms at 48 kHz: a nested lab's guest stalls */

static int16_t agent_play_sample(uint32_t frame, int right)
{
	return right ? (int16_t)(frame ^ 0x5a5a) : (int16_t)(frame * 7919u);
}

static int16_t agent_rec_sample(uint32_t frame, int right)
{
	return right ? (int16_t)~(frame * 5u + 3u) : (int16_t)(frame * 5u + 3u);
}

static void agent_hw_mask(struct snd_pcm_hw_params *p, int param, unsigned bit)
{
	struct snd_mask *m = &p->masks[param - SNDRV_PCM_HW_PARAM_FIRST_MASK];

	memset(m, 0, sizeof(*m));
	m->bits[bit >> 5] = 1u << (bit & 31);
}

static void agent_hw_int(struct snd_pcm_hw_params *p, int param, unsigned v)
{
	struct snd_interval *i = &p->intervals[param - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL];

	memset(i, 0, sizeof(*i));
	i->min = i->max = v;
	i->integer = 1;
}

/* Open /dev/snd/pcmC0D0p or ...c (waiting for the driver's asynchronous
 * probe) for S16_LE interleaved at rate and channels, prepared. */
static int agent_pcm_open(char dir, unsigned rate, unsigned channels)
{
	struct snd_pcm_hw_params p;
	char path[32];
	unsigned i;
	int fd = -1;

	snprintf(path, sizeof(path), "/dev/snd/pcmC0D0%c", dir);
	for (i = 0; i < 600 && fd < 0; i++) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			usleep(100000);
	}
	if (fd < 0) {
		agent_error("pcm-open", path, errno);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	memset(p.masks, 0xff, sizeof(p.masks));
	for (i = 0; i <= SNDRV_PCM_HW_PARAM_LAST_INTERVAL - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL; i++)
		p.intervals[i].max = ~0u;
	p.rmask = ~0u;
	agent_hw_mask(&p, SNDRV_PCM_HW_PARAM_ACCESS, SNDRV_PCM_ACCESS_RW_INTERLEAVED);
	agent_hw_mask(&p, SNDRV_PCM_HW_PARAM_FORMAT, SNDRV_PCM_FORMAT_S16_LE);
	agent_hw_mask(&p, SNDRV_PCM_HW_PARAM_SUBFORMAT, SNDRV_PCM_SUBFORMAT_STD);
	agent_hw_int(&p, SNDRV_PCM_HW_PARAM_CHANNELS, channels);
	agent_hw_int(&p, SNDRV_PCM_HW_PARAM_RATE, rate);
	agent_hw_int(&p, SNDRV_PCM_HW_PARAM_PERIOD_SIZE, AGENT_PCM_PERIOD);
	agent_hw_int(&p, SNDRV_PCM_HW_PARAM_PERIODS, AGENT_PCM_PERIODS);
	if (ioctl(fd, SNDRV_PCM_IOCTL_HW_PARAMS, &p) < 0) {
		agent_error("pcm-hw-params", path, errno);
		close(fd);
		return -1;
	}
	if (ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0) {
		agent_error("pcm-prepare", path, errno);
		close(fd);
		return -1;
	}
	return fd;
}

static void agent_sound_play(void)
{
	static int16_t buf[AGENT_PLAY_FRAMES * 2];
	struct snd_xferi x = { 0 };
	uint32_t i, done = 0, xruns = 0;
	double t0;
	int fd = agent_pcm_open('p', AGENT_PLAY_RATE, 2);

	if (fd < 0)
		return;
	for (i = 0; i < AGENT_PLAY_FRAMES; i++) {
		buf[2 * i] = agent_play_sample(i, 0);
		buf[2 * i + 1] = agent_play_sample(i, 1);
	}
	t0 = agent_now();
	while (done < AGENT_PLAY_FRAMES) {
		x.buf = buf + 2 * done;
		x.frames = AGENT_PLAY_FRAMES - done;
		if (ioctl(fd, SNDRV_PCM_IOCTL_WRITEI_FRAMES, &x) < 0) {
			/* An underrun (the guest was not scheduled in time):
			 * recover and go on, as aplay does. */
			if (errno == EPIPE && xruns++ < 100 && ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) == 0)
				continue;
			agent_error("pcm-write", "play", errno);
			close(fd);
			return;
		}
		done += (uint32_t)x.result;
	}
	if (ioctl(fd, SNDRV_PCM_IOCTL_DRAIN) < 0)
		agent_error("pcm-drain", "play", errno);
	agent_report("sound", "play frames=%u xruns=%u seconds=%.3f", done, xruns, agent_now() - t0);
	close(fd);
}

static void agent_sound_record(void)
{
	static int16_t buf[AGENT_REC_FRAMES * 2];
	struct snd_xferi x = { 0 };
	uint32_t i, done = 0, bad = 0;
	long first_bad = -1;
	double t0;
	int fd = agent_pcm_open('c', AGENT_REC_RATE, 2);

	if (fd < 0)
		return;
	t0 = agent_now();
	while (done < AGENT_REC_FRAMES) {
		x.buf = buf + 2 * done;
		x.frames = AGENT_REC_FRAMES - done;
		if (ioctl(fd, SNDRV_PCM_IOCTL_READI_FRAMES, &x) < 0) {
			agent_error("pcm-read", "record", errno);
			close(fd);
			return;
		}
		done += (uint32_t)x.result;
	}
	for (i = 0; i < 2 * done; i++)
		if (buf[i] != agent_rec_sample(i / 2, i & 1)) {
			if (first_bad < 0)
				first_bad = (long)i;
			bad++;
		}
	agent_report("sound", "record frames=%u bad=%u first_bad=%ld seconds=%.3f", done, bad, first_bad,
		     agent_now() - t0);
	close(fd);
}

/* The HD Audio controller's BAR 0 (8086:2668) mapped through sysfs, its
 * driver unbound first (the kernel refuses to map a claimed region). */
static volatile uint32_t *agent_hda_map(void)
{
	char path[300], id[16];
	int ufd;
	struct dirent *e;
	void *p = MAP_FAILED;
	DIR *d = opendir("/sys/bus/pci/devices");
	int fd;

	while (d && p == MAP_FAILED && (e = readdir(d))) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
		if (agent_read_file(path, id, sizeof(id)) < 0 || strcmp(id, "0x2668") != 0)
			continue;
		ufd = open("/sys/bus/pci/drivers/snd_hda_intel/unbind", O_WRONLY | O_CLOEXEC);
		if (ufd >= 0) {
			if (write(ufd, e->d_name, strlen(e->d_name)) < 0)
				agent_error("hda-unbind", e->d_name, errno);
			close(ufd);
		}
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", e->d_name);
		fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
		if (fd >= 0) {
			p = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			close(fd);
		}
	}
	if (d)
		closedir(d);
	return p == MAP_FAILED ? NULL : p;
}

/* A hostile driver: streams whose lists point past RAM, huge lengths,
 * a CORB outside RAM, then random writes all over the registers. The
 * VMM must flag it and keep running (the host checks it powers off). */
static void agent_sound_hostile(void)
{
	volatile uint32_t *r = agent_hda_map();
	uint32_t x = 12345, i;

	if (!r) {
		agent_error("hda-map", "resource0", errno);
		return;
	}
	for (i = 0; i < 8; i++) {
		volatile uint32_t *sd = r + (0x80 + 0x20 * i) / 4;
		sd[0] = 0;               /* stop */
		sd[0x18 / 4] = 0xffffff80u; /* BDL at the top of the address space */
		sd[0x1c / 4] = 0xffffffffu;
		sd[0x08 / 4] = 0xffffffffu; /* CBL */
		sd[0x0c / 4] = 0xff;     /* LVI */
		sd[0x10 / 4] = 0x11u << 16; /* FMT 48 kHz stereo */
		sd[0] = 0x1e | (i + 1) << 20;
	}
	r[0x44 / 4] = 0xffffffffu;       /* CORB, RIRB, position buffer outside RAM */
	r[0x54 / 4] = 0xffffffffu;
	r[0x74 / 4] = 0xffffffffu;
	r[0x48 / 4] = 0x20;
	usleep(100000);
	/* Random values everywhere but the DMA addresses, which stay outside
	 * RAM, and GCTL, whose reset would put them at 0: a device told to
	 * DMA into the guest's RAM does it, as hardware does. */
	for (i = 0; i < 20000; i++) {
		unsigned off;

		x = x * 1103515245u + 12345u;
		off = ((x >> 8) % 0x4000) & ~3u;
		if (off == 0x08 || off == 0x40 || off == 0x44 || off == 0x50 || off == 0x54 || off == 0x70 || off == 0x74 ||
		    (off >= 0x80 && off < 0x180 && (off & 0x1f) >= 0x18))
			continue;
		r[off / 4] = x * 2654435761u;
	}
	usleep(100000);
	agent_report("sound", "hostile done");
}

/* Play agent_play_sample's 1 s pattern, then record 0.5 s and compare it
 * with agent_rec_sample's (the host's --sound-in file); then program the
 * controller as a hostile driver would. */
static int agent_act_soundtest(void)
{
	char cards[256] = "";

	agent_sound_play();
	agent_sound_record();
	agent_read_file("/proc/asound/cards", cards, sizeof(cards));
	cards[strcspn(cards, "\n")] = '\0';
	agent_report("sound", "card=\"%s\"", cards);
	agent_sound_hostile();
	agent_report("sound", "done");
	return RB_POWER_OFF;
}

/* ---- cliptest: the guest side of the SPICE agent protocol ----
 *
 * What spice-vdagent does for the clipboard, in miniature, over the
 * virtio-console port com.redhat.spice.0 (found by name in
 * /sys/class/virtio-ports): messages are a VDIChunkHeader {port, size}
 * then a VDAgentMessage {protocol, type, opaque, size} and its data
 * (spice-protocol's vd_agent.h; its numbers are copied here because the
 * guest build has no spice headers). agent.clip=HEX is the text the guest
 * "copies": it grabs the clipboard once the client announced itself and
 * answers the client's request with it. When the client grabs, the agent
 * asks for UTF-8 text and reports it as "AGENT clip-received hex=...".
 * Stays up until the VMM stops the guest. */
#define VDA_PROTOCOL 1
#define VDA_CLIENT_PORT 1
#define VDA_ANNOUNCE_CAPABILITIES 6
#define VDA_CLIPBOARD 4
#define VDA_CLIPBOARD_GRAB 7
#define VDA_CLIPBOARD_REQUEST 8
#define VDA_CLIPBOARD_RELEASE 9
#define VDA_CAP_CLIPBOARD_BY_DEMAND 5
#define VDA_UTF8_TEXT 1
#define VDA_HDR 20

static void agent_put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t agent_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static int agent_vda_send(int fd, uint32_t type, const void *data, uint32_t len)
{
	uint8_t msg[8 + VDA_HDR + 1024];

	if (len > 1024)
		return -1;
	agent_put32(msg, VDA_CLIENT_PORT);
	agent_put32(msg + 4, VDA_HDR + len);
	agent_put32(msg + 8, VDA_PROTOCOL);
	agent_put32(msg + 12, type);
	memset(msg + 16, 0, 8);
	agent_put32(msg + 24, len);
	memcpy(msg + 28, data, len);
	return write(fd, msg, 28 + len) == (ssize_t)(28 + len) ? 0 : -1;
}

int agent_vport_open(const char *want)
{
	char path[300], name[128];
	struct dirent *de;
	DIR *d = opendir("/sys/class/virtio-ports");
	int fd = -1;

	while (d && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
		if (de->d_name[0] == '.' || agent_read_file(path, name, sizeof(name)) < 0)
			continue;
		agent_report("vport", "dev=%s name=%s", de->d_name, name);
		if (fd >= 0 || strcmp(name, want) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			agent_error("vport-open", path, errno);
	}
	if (d)
		closedir(d);
	return fd;
}

static void agent_hex(const uint8_t *p, size_t n, char *out, size_t size)
{
	size_t i;

	for (i = 0; i < n && 2 * i + 2 < size; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * i] = '\0';
}

static size_t agent_unhex(const char *s, uint8_t *out, size_t size)
{
	size_t n = 0;
	unsigned v;

	while (n < size && sscanf(s + 2 * n, "%2x", &v) == 1)
		out[n++] = (uint8_t)v;
	return n;
}

/* One whole message from the client. */
static void agent_vda_handle(int fd, uint32_t type, const uint8_t *data, uint32_t len,
			     const uint8_t *clip, size_t clip_len)
{
	static const uint32_t text = VDA_UTF8_TEXT;
	char hex[2 * 1024 + 1];

	switch (type) {
	case VDA_ANNOUNCE_CAPABILITIES: {
		uint8_t caps[8] = { 0 };
		agent_put32(caps + 4, 1u << VDA_CAP_CLIPBOARD_BY_DEMAND);
		agent_report("clip-client", "caps_len=%u", len);
		if (len >= 4 && agent_get32(data)) /* request: answer with ours */
			agent_vda_send(fd, VDA_ANNOUNCE_CAPABILITIES, caps, sizeof(caps));
		if (clip_len && agent_vda_send(fd, VDA_CLIPBOARD_GRAB, &text, 4) == 0)
			agent_report("clip-grabbed", "len=%zu", clip_len);
		break;
	}
	case VDA_CLIPBOARD_REQUEST:
		if (len >= 4 && agent_get32(data) == VDA_UTF8_TEXT && clip_len) {
			uint8_t m[4 + 1024];
			agent_put32(m, VDA_UTF8_TEXT);
			memcpy(m + 4, clip, clip_len);
			agent_vda_send(fd, VDA_CLIPBOARD, m, (uint32_t)(4 + clip_len));
			agent_report("clip-sent", "len=%zu", clip_len);
		}
		break;
	case VDA_CLIPBOARD_GRAB:
		agent_report("clip-grab", "types_len=%u", len);
		agent_vda_send(fd, VDA_CLIPBOARD_REQUEST, &text, 4);
		break;
	case VDA_CLIPBOARD:
		if (len >= 4) {
			agent_hex(data + 4, len - 4, hex, sizeof(hex));
			agent_report("clip-received", "type=%u hex=%s", agent_get32(data), hex);
		}
		break;
	default:
		agent_report("clip-msg", "type=%u len=%u", type, len);
	}
}

static int agent_act_cliptest(void)
{
	static uint8_t buf[65536];
	char param[2 * 1024 + 1] = "";
	uint8_t clip[1024];
	size_t have = 0, clip_len;
	ssize_t n;
	int fd = -1;

	agent_param("agent.clip", param, sizeof(param));
	clip_len = agent_unhex(param, clip, sizeof(clip));
	for (int i = 0; i < 100 && fd < 0; i++) {
		fd = agent_vport_open("com.redhat.spice.0");
		if (fd < 0)
			usleep(100000);
	}
	if (fd < 0) {
		agent_report("error", "what=vport detail=com.redhat.spice.0-not-found");
		return agent_act_sleep();
	}
	agent_report("clip-open", "clip_len=%zu", clip_len);
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)n;
		/* Whole chunks; each of our messages fits one (< 2 KiB). */
		while (have >= 8 + VDA_HDR && have >= 8 + agent_get32(buf + 4)) {
			uint32_t chunk = agent_get32(buf + 4), mlen = agent_get32(buf + 8 + 16);
			if (chunk >= VDA_HDR && mlen <= chunk - VDA_HDR)
				agent_vda_handle(fd, agent_get32(buf + 12), buf + 8 + VDA_HDR, mlen, clip, clip_len);
			else
				agent_report("error", "what=vdagent-chunk size=%u msg=%u", chunk, mlen);
			memmove(buf, buf + 8 + chunk, have - 8 - chunk);
			have -= 8 + chunk;
		}
		if (have == sizeof(buf))
			have = 0;
	}
	agent_error("vport-read", "com.redhat.spice.0", n < 0 ? errno : 0);
	return agent_act_sleep();
}

static const struct agent_action agent_actions[] = {
	{ .name = "poweroff", .run = agent_act_poweroff },
	{ .name = "reboot", .run = agent_act_reboot },
	{ .name = "shell", .run = agent_act_shell },
	{ .name = "sleep", .run = agent_act_sleep },
	{ .name = "counter", .run = agent_act_counter },
	{ .name = "devtest", .run = agent_act_devtest },
	{ .name = "diskbench", .run = agent_act_diskbench },
	{ .name = "desktop", .run = agent_act_desktop },
	{ .name = "nettest", .run = agent_act_nettest },
	{ .name = "soundtest", .run = agent_act_soundtest },
	{ .name = "cliptest", .run = agent_act_cliptest },
	{ .name = "gputest", .run = agent_act_gputest },
};

static const struct agent_action *agent_find_action(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(agent_actions) / sizeof(agent_actions[0]); i++)
		if (strcmp(agent_actions[i].name, name) == 0)
			return &agent_actions[i];
	return NULL;
}

int main(void)
{
	const struct agent_action *action;
	char name[64] = "poweroff";
	struct utsname uts;
	long cpus;
	size_t i;
	int how;

	/* It mounts over /dev and powers the machine off: never on a host. */
	if (getpid() != 1) {
		fprintf(stderr, "agent: must run as PID 1 of a test guest (see tests/guest/build-initrd)\n");
		return 2;
	}

	/* The firmware may have left a partial line on the console. */
	fputs("\n", stdout);
	agent_mount_basics();
	agent_load_modules();

	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&uts) < 0)
		snprintf(uts.release, sizeof(uts.release), "unknown");
	agent_report("ready", "cpus=%ld mem_kb=%lu kernel=%s", cpus, agent_mem_kb(), uts.release);

	for (i = 0; i < sizeof(agent_probes) / sizeof(agent_probes[0]); i++)
		agent_probes[i].run();

	agent_param("agent.action", name, sizeof(name));
	action = agent_find_action(name);
	if (!action) {
		agent_report("error", "what=action detail=%s (use poweroff, reboot, shell, sleep, counter, devtest, diskbench, nettest, soundtest, cliptest, gputest or desktop)", name);
		action = agent_find_action("poweroff");
	}
	agent_report("action", "name=%s", action->name);
	how = action->run();

	sync();
	agent_report(how == RB_AUTOBOOT ? "reboot" : "poweroff", NULL);
	reboot(how);
	/* Still here: PID 1 must not exit, or the kernel panics. */
	agent_error("reboot", name, errno);
	for (;;)
		pause();
}
