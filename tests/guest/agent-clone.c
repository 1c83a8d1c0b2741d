/*
 * The test guest's side of instant clones (issue 20): what a guest forked
 * from a snapshot learns and does. Used by the counter action (agent.c).
 *
 * - org.vdi.agent.0 (virtio-console): vdi-vm's one-line JSON messages
 *   (agent-msg.h). "cloned": set the host name, /etc/machine-id, the
 *   network card's MAC, then report
 *     AGENT cloned hostname=H machine_id=M mac=MAC vmgenid=ID time=S.NNNNNNNNN
 *   with what the guest now has (read back, not echoed), and set the clock
 *   (clone_set_clock). "resumed": "AGENT resumed", set the clock.
 * - the kernel's log (/dev/kmsg): each "crng reseeded due to virtual
 *   machine fork", which Linux's vmgenid driver causes when the VM
 *   generation ID changed, is reported as "AGENT vmgenid-changed n=N"; the
 *   driver's "NEW_VMGENID=1" uevents (netlink) as "AGENT vmgenid-uevent
 *   n=N" (the driver shows the ID itself nowhere).
 * - agent_clone_ident: "AGENT ident hostname=H machine_id=M mac=MAC
 *   carrier_changes=C vmgenid_events=N uevents=U random=HEX
 *   time=S.NNNNNNNNN",
 *   16 fresh bytes of /dev/urandom and the clock, for the host to compare
 *   clones.
 * The test guest runs no DHCP client: there is no lease to renew.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent-msg.h"

static unsigned clone_genid_events, clone_genid_uevents, clone_forks;
static char clone_vmgenid[33] = "-";
static char clone_line[1024];
static size_t clone_len;

/* The first network interface but lo, into name; -1 when there is none. */
static int clone_netif(char name[IFNAMSIZ])
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;
	int r = -1;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, "lo") != 0 && strlen(de->d_name) < IFNAMSIZ) {
			snprintf(name, IFNAMSIZ, "%s", de->d_name);
			r = 0;
			break;
		}
	if (d)
		closedir(d);
	return r;
}

/* /sys/class/net/IF/FILE's first line, or "-". */
static void clone_netif_attr(const char *file, char *out, size_t size)
{
	char ifn[IFNAMSIZ], path[128];
	FILE *f;

	snprintf(out, size, "-");
	if (clone_netif(ifn) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifn, file);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, (int)size, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* /etc/machine-id's first line, or "-". */
static void clone_machine_id(char *out, size_t size)
{
	int fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, size - 1) : -1;

	if (fd >= 0)
		close(fd);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (!out[0])
		snprintf(out, size, "-");
}

static int clone_set_mac(const char *mac)
{
	struct ifreq ifr;
	unsigned b[6];
	int fd, r;

	memset(&ifr, 0, sizeof(ifr));
	if (clone_netif(ifr.ifr_name) < 0)
		return -ENODEV;
	if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	for (int i = 0; i < 6; i++)
		ifr.ifr_hwaddr.sa_data[i] = (char)b[i];
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = ioctl(fd, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static double clone_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The nudge of the wall clock: the agent asks vdi-vm for the time
 * ({"event":"time?"}) and sets its clock to the answer plus half the round
 * trip, asking again (at most 5 times) while the round trip exceeds a
 * second: "AGENT clock-set step_ms=S rtt_ms=R" (the time in "cloned" may
 * have waited long for a busy guest). */
static int clone_vport_fd = -1, clone_time_tries;
static double clone_time_asked;

static double clone_mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void clone_ask_time(void)
{
	static const char req[] = "{\"event\":\"time?\"}\n";

	clone_time_tries++;
	clone_time_asked = clone_mono();
	if (write(clone_vport_fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		agent_error("vport-write", "org.vdi.agent.0", errno);
}

static void clone_set_clock(const struct agent_msg *m)
{
	double rtt = clone_mono() - clone_time_asked, host, before = clone_now();
	struct timespec t;

	if (!m->has_time || clone_time_asked == 0)
		return;
	if (rtt > 1.0 && clone_time_tries < 5) {
		clone_ask_time();
		return;
	}
	host = (double)m->time_sec + (double)m->time_nsec / 1e9 + rtt / 2;
	t.tv_sec = (time_t)host;
	t.tv_nsec = (long)((host - (double)t.tv_sec) * 1e9);
	if (clock_settime(CLOCK_REALTIME, &t) < 0)
		agent_error("clock_settime", "-", errno);
	else
		agent_report("clock-set", "step_ms=%ld rtt_ms=%ld", (long)((host - before) * 1000), (long)(rtt * 1000));
	clone_time_asked = 0;
}

static void clone_handle(const char *line, size_t len)
{
	struct agent_msg m;
	char host[65] = "-", mid[64], mac[32];
	struct timespec now;
	int fd, r;

	if (agent_msg_parse(line, len, &m) < 0) {
		agent_report("error", "what=agent-msg detail=malformed len=%zu", len);
		return;
	}
	if (strcmp(m.event, "time") == 0) {
		clone_set_clock(&m);
		return;
	}
	if (strcmp(m.event, "cloned") == 0 || strcmp(m.event, "resumed") == 0) {
		clone_time_tries = 0;
		clone_ask_time();
	}
	if (strcmp(m.event, "resumed") == 0) {
		agent_report("resumed", NULL);
		return;
	}
	if (strcmp(m.event, "cloned") != 0) {
		agent_report("agent-msg", "event=%s", m.event[0] ? m.event : "-");
		return;
	}
	if (m.hostname[0] && sethostname(m.hostname, strlen(m.hostname)) < 0)
		agent_error("sethostname", m.hostname, errno);
	if (m.machine_id[0]) {
		fd = open("/etc/machine-id", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
		if (fd < 0 || dprintf(fd, "%s\n", m.machine_id) < 0)
			agent_error("machine-id", "/etc/machine-id", errno);
		if (fd >= 0)
			close(fd);
	}
	if (m.mac[0] && (r = clone_set_mac(m.mac)) < 0)
		agent_error("SIOCSIFHWADDR", m.mac, -r);
	if (m.vmgenid[0])
		snprintf(clone_vmgenid, sizeof(clone_vmgenid), "%s", m.vmgenid);
	gethostname(host, sizeof(host) - 1);
	clone_machine_id(mid, sizeof(mid));
	clone_netif_attr("address", mac, sizeof(mac));
	clock_gettime(CLOCK_REALTIME, &now);
	agent_report("cloned", "hostname=%s machine_id=%s mac=%s vmgenid=%s time=%lld.%09ld", host, mid, mac,
		     clone_vmgenid, (long long)now.tv_sec, now.tv_nsec);
	clone_forks++;
}

unsigned agent_clone_forks(void)
{
	return clone_forks;
}

int agent_clone_open_uevents(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		agent_error("uevent-socket", "-", errno);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void agent_clone_uevents(int fd)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		/* "ACTION@DEVPATH\0KEY=VALUE\0..." */
		for (char *p = buf; p < buf + n; p += strlen(p) + 1)
			if (strcmp(p, "NEW_VMGENID=1") == 0)
				agent_report("vmgenid-uevent", "n=%u", ++clone_genid_uevents);
	}
}

int agent_clone_open_kmsg(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || lseek(fd, 0, SEEK_END) < 0) {
		agent_error("kmsg", "/dev/kmsg", errno);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void agent_clone_kmsg(int fd)
{
	char rec[2048];
	ssize_t n;

	/* One record per read; EPIPE: some were overwritten, go on. */
	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = '\0';
		if (strstr(rec, "crng reseeded due to virtual machine fork"))
			agent_report("vmgenid-changed", "n=%u", ++clone_genid_events);
	}
}

int agent_clone_vport(int fd)
{
	clone_vport_fd = fd;
	ssize_t n = read(fd, clone_line + clone_len, sizeof(clone_line) - clone_len);
	char *nl;

	if (n <= 0)
		return n < 0 && errno == EAGAIN ? 0 : -1;
	clone_len += (size_t)n;
	while ((nl = memchr(clone_line, '\n', clone_len))) {
		clone_handle(clone_line, (size_t)(nl - clone_line));
		clone_len -= (size_t)(nl + 1 - clone_line);
		memmove(clone_line, nl + 1, clone_len);
	}
	if (clone_len == sizeof(clone_line)) {
		agent_report("error", "what=agent-msg detail=line-too-long");
		clone_len = 0;
	}
	return 0;
}

void agent_clone_ident(void)
{
	char host[65] = "-", mid[64], mac[32], carrier[32], hex[33] = "-";
	unsigned char rnd[16];
	struct timespec t;
	int fd;

	gethostname(host, sizeof(host) - 1);
	clone_machine_id(mid, sizeof(mid));
	clone_netif_attr("address", mac, sizeof(mac));
	clone_netif_attr("carrier_changes", carrier, sizeof(carrier));
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, rnd, sizeof(rnd)) == (ssize_t)sizeof(rnd))
		for (int i = 0; i < 16; i++)
			sprintf(hex + 2 * i, "%02x", rnd[i]);
	if (fd >= 0)
		close(fd);
	clock_gettime(CLOCK_REALTIME, &t);
	agent_report("ident", "hostname=%s machine_id=%s mac=%s carrier_changes=%s vmgenid_events=%u uevents=%u "
		     "random=%s time=%lld.%09ld", host, mid, mac, carrier, clone_genid_events, clone_genid_uevents, hex,
		     (long long)t.tv_sec, t.tv_nsec);
}
