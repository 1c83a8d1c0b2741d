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
 *
 * Report lines are "AGENT <event> key=value ..." so that host-side tests can
 * match them; errors are "AGENT error what=... errno=...".  New checks (disk,
 * framebuffer, input) become new actions in agent_actions[] or new probes in
 * agent_probes[].
 *
 * Built static (-static -O2) without sanitizers: the initramfs has no libc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define AGENT_MODULE_LIST "/etc/agent/modules"
#define AGENT_MODULE_DIR  "/lib/modules"
#define AGENT_SHELL       "/bin/sh"

/* Print one report line on the console, unbuffered so that nothing is lost
 * when the machine powers off right after.  fmt may be NULL. */
__attribute__((format(printf, 2, 3)))
static void agent_report(const char *event, const char *fmt, ...)
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

static void agent_error(const char *what, const char *detail, int err)
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

static const struct agent_probe agent_probes[] = {
	{ .name = "virtio", .run = agent_probe_virtio },
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

static const struct agent_action agent_actions[] = {
	{ .name = "poweroff", .run = agent_act_poweroff },
	{ .name = "reboot", .run = agent_act_reboot },
	{ .name = "shell", .run = agent_act_shell },
	{ .name = "sleep", .run = agent_act_sleep },
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
		agent_report("error", "what=action detail=%s (use poweroff, reboot, shell or sleep)", name);
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
