/*
 * agent-gpu.c — the test guest's "gputest" action: virtio-gpu driven
 * through DRM/KMS (libdrm, linked statically) as a desktop's display
 * server does it.
 *
 * Every head (connector) that is connected takes its preferred mode (the
 * size the host asks for: the layout of the display config event, through
 * GET_DISPLAY_INFO or EDID) on a dumb buffer showing gpu_pattern(); a
 * head that goes away is turned off. The connectors are probed again
 * every GPU_POLL_MS, so a new layout is on screen within about that long
 * after the kernel has it. When the VMM has an agent console (vdi-vm
 * --agent), the port com.redhat.spice.0 is held open (what comes in is
 * dropped), as a desktop's spice-vdagent holds it: SPICE clients send
 * their monitors config only while an agent is there. Keys and left
 * clicks on the virtio keyboard and tablet draw on head 0 (gpu-pattern.h
 * says where), flushed with DIRTYFB as a compositor flushes damage, so a
 * client sees its input come back as pixels. Reports
 *
 *   AGENT gpu-ready connectors=N
 *   AGENT gpu-mode head=I width=W height=H
 *   AGENT gpu-off head=I
 *   AGENT gpu-agent-port open
 *   AGENT gpu-key code=C n=N
 *   AGENT gpu-click x=X y=Y
 *
 * and runs until the VMM stops the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "agent.h"
#include "gpu-pattern.h"

#define GPU_CARD "/dev/dri/card0"
#define GPU_MAX_HEADS 4
#define GPU_POLL_MS 200
#define GPU_WAIT_CARD_S 60

struct gpu_head {
	uint32_t width, height; /* 0: off */
	uint32_t fb_id, handle, pitch;
	uint64_t size;
	uint8_t *map; /* the dumb buffer, mapped while the head shows it */
	unsigned keys; /* keys drawn since the mode was set */
};

/* A dumb buffer of w x h with the head's pattern, as a framebuffer. */
static int gpu_head_buffer(int fd, struct gpu_head *h, uint32_t w, uint32_t hgt, unsigned head)
{
	uint32_t handle, pitch, fb_id;
	uint64_t size, offset;
	uint8_t *map;
	int r;

	r = drmModeCreateDumbBuffer(fd, w, hgt, 32, 0, &handle, &pitch, &size);
	if (r < 0)
		return r;
	r = drmModeMapDumbBuffer(fd, handle, &offset);
	map = r < 0 ? MAP_FAILED : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (map == MAP_FAILED) {
		r = r < 0 ? r : -errno;
		drmModeDestroyDumbBuffer(fd, handle);
		return r;
	}
	for (uint32_t y = 0; y < hgt; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint32_t px = gpu_pattern(x, y, w, hgt, head);
			memcpy(map + (size_t)y * pitch + 4 * (size_t)x, &px, 4);
		}
	r = drmModeAddFB(fd, w, hgt, 24, 32, pitch, handle, &fb_id);
	if (r < 0) {
		munmap(map, size);
		drmModeDestroyDumbBuffer(fd, handle);
		return r;
	}
	*h = (struct gpu_head){ .width = w, .height = hgt, .fb_id = fb_id, .handle = handle, .pitch = pitch,
				.size = size, .map = map };
	return 0;
}

static void gpu_head_release(int fd, struct gpu_head *h)
{
	if (h->map)
		munmap(h->map, h->size);
	if (h->fb_id)
		drmModeRmFB(fd, h->fb_id);
	if (h->handle)
		drmModeDestroyDumbBuffer(fd, h->handle);
	*h = (struct gpu_head){ 0 };
}

static const drmModeModeInfo *gpu_preferred(const drmModeConnector *c)
{
	for (int i = 0; i < c->count_modes; i++)
		if (c->modes[i].type & DRM_MODE_TYPE_PREFERRED)
			return &c->modes[i];
	return c->count_modes > 0 ? &c->modes[0] : NULL;
}

/* Bring head i (connector conn, CRTC crtc: virtio-gpu pairs them by
 * index) to what the connector now prefers. */
static void gpu_head_update(int fd, struct gpu_head *h, unsigned i, uint32_t conn, uint32_t crtc)
{
	drmModeConnector *c = drmModeGetConnector(fd, conn); /* probes again */
	const drmModeModeInfo *m = NULL;
	struct gpu_head next = { 0 };
	int r;

	if (!c)
		return;
	if (c->connection == DRM_MODE_CONNECTED)
		m = gpu_preferred(c);
	if (!m && h->width) {
		drmModeSetCrtc(fd, crtc, 0, 0, 0, NULL, 0, NULL);
		gpu_head_release(fd, h);
		agent_report("gpu-off", "head=%u", i);
	} else if (m && (m->hdisplay != h->width || m->vdisplay != h->height)) {
		r = gpu_head_buffer(fd, &next, m->hdisplay, m->vdisplay, i);
		if (r == 0 && (r = drmModeSetCrtc(fd, crtc, next.fb_id, 0, 0, &conn, 1, (drmModeModeInfo *)m)) < 0)
			gpu_head_release(fd, &next);
		if (r < 0) {
			agent_error("gpu-mode", m->name, -r);
		} else {
			gpu_head_release(fd, h);
			*h = next;
			agent_report("gpu-mode", "head=%u width=%u height=%u", i, h->width, h->height);
		}
	}
	drmModeFreeConnector(c);
}

static int gpu_open(void)
{
	for (int i = 0; i < GPU_WAIT_CARD_S * 10; i++) {
		int fd = open(GPU_CARD, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		usleep(100000);
	}
	agent_error("open", GPU_CARD, errno);
	return -1;
}

/* Fill a rectangle of head h (clipped) and flush it to the host. */
static void gpu_head_fill(int fd, struct gpu_head *h, uint32_t x, uint32_t y, uint32_t w, uint32_t hgt,
			  uint32_t color)
{
	drmModeClip clip;

	if (!h->map || x >= h->width || y >= h->height)
		return;
	w = w < h->width - x ? w : h->width - x;
	hgt = hgt < h->height - y ? hgt : h->height - y;
	for (uint32_t j = y; j < y + hgt; j++)
		for (uint32_t i = x; i < x + w; i++)
			memcpy(h->map + (size_t)j * h->pitch + 4 * (size_t)i, &color, 4);
	clip = (drmModeClip){ (uint16_t)x, (uint16_t)y, (uint16_t)(x + w), (uint16_t)(y + hgt) };
	if (drmModeDirtyFB(fd, h->fb_id, &clip, 1) < 0)
		agent_error("dirtyfb", "head0", errno);
}

/* Drain one input device: keys and left clicks draw on head 0. */
static void gpu_input(int fd, struct gpu_head *h, int dev, int32_t *ax, int32_t *ay)
{
	struct input_event ev;

	while (read(dev, &ev, sizeof(ev)) == sizeof(ev)) {
		if (ev.type == EV_ABS && ev.code == ABS_X)
			*ax = ev.value;
		else if (ev.type == EV_ABS && ev.code == ABS_Y)
			*ay = ev.value;
		if (ev.type != EV_KEY || ev.value != 1 || !h->width)
			continue;
		if (ev.code == BTN_LEFT) {
			uint32_t x = (uint32_t)((int64_t)*ax * (h->width - 1) / 32767);
			uint32_t y = (uint32_t)((int64_t)*ay * (h->height - 1) / 32767);

			gpu_head_fill(fd, h, x >= GPU_MARK / 2 ? x - GPU_MARK / 2 : 0,
				      y >= GPU_MARK / 2 ? y - GPU_MARK / 2 : 0, GPU_MARK, GPU_MARK, GPU_MARK_COLOR);
			agent_report("gpu-click", "x=%u y=%u", x, y);
		} else if (ev.code < BTN_MISC) {
			gpu_head_fill(fd, h, GPU_CELL_X + h->keys * GPU_CELL_W + 2, GPU_CELL_Y, GPU_CELL_W - 4,
				      GPU_CELL_H, gpu_key_color(ev.code));
			h->keys++;
			agent_report("gpu-key", "code=%u n=%u", ev.code, h->keys);
		}
	}
}

static uint64_t gpu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Hold the SPICE agent port open once it exists; drop what it brings. */
static void gpu_agent_port(int *fd)
{
	static char buf[4096];

	if (*fd < 0) {
		*fd = agent_vport_open("com.redhat.spice.0");
		if (*fd < 0)
			return;
		fcntl(*fd, F_SETFL, O_NONBLOCK);
		agent_report("gpu-agent-port", "open");
	}
	while (read(*fd, buf, sizeof(buf)) > 0)
		;
}

int agent_act_gputest(void)
{
	struct gpu_head heads[GPU_MAX_HEADS] = { { 0 } };
	struct pollfd pfd[8];
	drmModeRes *res;
	unsigned n;
	int fd, port = -1, inputs[8], nin;
	int32_t ax = 0, ay = 0;
	uint64_t probed = 0;

	fd = gpu_open();
	if (fd < 0)
		return RB_POWER_OFF;
	/* The first opener of a card is its DRM master: the modes set here
	 * stay, and the kernel's fbdev console keeps off them. */
	res = drmModeGetResources(fd);
	if (!res) {
		agent_error("drm-resources", GPU_CARD, errno);
		return RB_POWER_OFF;
	}
	n = (unsigned)(res->count_connectors < res->count_crtcs ? res->count_connectors : res->count_crtcs);
	if (n > GPU_MAX_HEADS)
		n = GPU_MAX_HEADS;
	agent_report("gpu-ready", "connectors=%d", res->count_connectors);
	nin = agent_input_open(inputs, 8, 2);
	if (nin < 2)
		agent_report("input-missing", "found=%d", nin);
	for (int i = 0; i < nin; i++)
		pfd[i] = (struct pollfd){ .fd = inputs[i], .events = POLLIN };
	for (;;) {
		if (gpu_now_ms() - probed >= GPU_POLL_MS) {
			for (unsigned i = 0; i < n; i++)
				gpu_head_update(fd, &heads[i], i, res->connectors[i], res->crtcs[i]);
			gpu_agent_port(&port);
			/* Input devices that were not there yet (a loaded lab
			 * can take longer than agent_input_open's 5 s). */
			if (nin < 2) {
				for (int i = 0; i < nin; i++)
					close(inputs[i]);
				nin = agent_input_open(inputs, 8, 0); /* one look */
				for (int i = 0; i < nin; i++)
					pfd[i] = (struct pollfd){ .fd = inputs[i], .events = POLLIN };
			}
			probed = gpu_now_ms();
		}
		if (poll(pfd, (nfds_t)nin, GPU_POLL_MS) <= 0)
			continue;
		for (int i = 0; i < nin; i++)
			if (pfd[i].revents & POLLIN)
				gpu_input(fd, &heads[0], inputs[i], &ax, &ay);
	}
}
