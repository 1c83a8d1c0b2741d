/* Linux tap devices for virtio-net: open one by name, or check an fd that
 * the privileged side (vdi-hostd) opened and passed down. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Attach to tap NAME (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, header size 12,
 * offloads off until virtio-net turns them on). An existing
 * persistent tap must be usable by this user (ip tuntap add ... user U);
 * a missing one is created (needs CAP_NET_ADMIN) and vanishes with the fd.
 * The fd is non-blocking and close-on-exec. 0 and *fd, or negative errno
 * with err naming the tap and the fix. */
int tap_open(const char *name, int *fd, struct vm_err *err);

/* Check that fd is an attached tap (not a tun, not some other file) and
 * make it non-blocking. *vnet_hdr says whether it was opened with
 * IFF_VNET_HDR (its header length is then set to 12 and offloads off);
 * name receives the interface name. 0 or negative errno with err. */
int tap_check_fd(int fd, bool *vnet_hdr, char name[IFNAMSIZ], struct vm_err *err);

/* Parse "xx:xx:xx:xx:xx:xx" (hex, either case). 0, or -EINVAL for bad
 * syntax, -EADDRNOTAVAIL for a multicast or all-zero address. */
int mac_parse(const char *s, uint8_t mac[6]);
