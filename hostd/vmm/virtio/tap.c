#include "config.h"

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"

int tap_open(const char *name, int *out, struct vm_err *err)
{
        struct ifreq ifr = { 0 };
        int fd, r, hdr = 12;

        if (!name[0] || strlen(name) >= IFNAMSIZ || strchr(name, '/') || strchr(name, ' '))
                return vm_err_set(err, -EINVAL, "invalid tap name \"%s\" (1-%d characters, no '/' or blank)", name,
                                  IFNAMSIZ - 1);
        fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                return vm_err_set(err, r, "cannot open %s: %s (load the tun module; in a container, pass the device)",
                                  TUN_PATH, strerror(-r));
        }
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                r = -errno;
                close(fd);
                if (r == -EPERM)
                        return vm_err_set(err, r,
                                          "tap %s: permission denied (create it for this user first: ip tuntap add dev %s mode tap user USER)",
                                          name, name);
                if (r == -EBUSY)
                        return vm_err_set(err, r, "tap %s: in use by another process, or not a tap (a tun?)", name);
                if (r == -EINVAL)
                        return vm_err_set(err, r, "tap %s: an interface of that name exists and is not a tap", name);
                return vm_err_set(err, r, "tap %s: TUNSETIFF: %s", name, strerror(-r));
        }
        /* virtio_net_hdr_v1 is 12 bytes; no offloads until a driver asks. */
        if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
                r = -errno;
                close(fd);
                return vm_err_set(err, r, "tap %s: cannot set its vnet header: %s", name, strerror(-r));
        }
        *out = fd;
        return 0;
}

int tap_check_fd(int fd, bool *vnet_hdr, char name[IFNAMSIZ], struct vm_err *err)
{
        struct ifreq ifr = { 0 };
        int fl, hdr = 12;

        if (fcntl(fd, F_GETFD) < 0)
                return vm_err_set(err, -EBADF, "fd %d is not open (the parent must pass the tap fd)", fd);
        if (ioctl(fd, TUNGETIFF, &ifr) < 0)
                return vm_err_set(err, -EINVAL, "fd %d is not an attached tap device (TUNGETIFF: %s)", fd,
                                  strerror(errno));
        if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP)
                return vm_err_set(err, -EINVAL, "fd %d is a tun (layer 3) device, not a tap", fd);
        if (ifr.ifr_flags & IFF_VNET_HDR) {
                /* Our header is virtio_net_hdr_v1; offloads stay off
                 * until a driver negotiates them (virtio-net.c). */
                if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0)
                        return vm_err_set(err, -errno, "tap %.*s: cannot set its vnet header: %s", IFNAMSIZ,
                                          ifr.ifr_name, strerror(errno));
        }
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return vm_err_set(err, -errno, "fd %d: fcntl: %s", fd, strerror(errno));
        *vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
        memcpy(name, ifr.ifr_name, IFNAMSIZ);
        name[IFNAMSIZ - 1] = '\0';
        return 0;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int mac_parse(const char *s, uint8_t mac[6])
{
        uint8_t m[6];

        for (int i = 0; i < 6; i++) {
                int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
                if (hi < 0 || lo < 0 || s[2] != (i == 5 ? '\0' : ':'))
                        return -EINVAL;
                m[i] = (uint8_t)(hi << 4 | lo);
                s += 3;
        }
        if ((m[0] & 1) || !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
                return -EADDRNOTAVAIL;
        memcpy(mac, m, 6);
        return 0;
}
