#include "config.h"

#include "hostd/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAC_TRIES 256

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

/* n bytes "xx:xx..." exactly. */
static int parse_hex_bytes(const char *s, uint8_t *out, int n)
{
        for (int i = 0; i < n; i++) {
                int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
                if (hi < 0 || lo < 0 || s[2] != (i == n - 1 ? '\0' : ':'))
                        return -EINVAL;
                out[i] = (uint8_t)(hi << 4 | lo);
                s += 3;
        }
        return 0;
}

int net_mac_prefix_parse(const char *s, uint8_t prefix[3])
{
        uint8_t p[3];

        if (parse_hex_bytes(s, p, 3) < 0)
                return -EINVAL;
        /* IEEE 802: bit 0 of the first byte = group, bit 1 = local. */
        if ((p[0] & 1) || !(p[0] & 2))
                return -EADDRNOTAVAIL;
        memcpy(prefix, p, 3);
        return 0;
}

int net_mac_parse(const char *s, uint8_t mac[6])
{
        uint8_t m[6];

        if (parse_hex_bytes(s, m, 6) < 0)
                return -EINVAL;
        if (m[0] & 1)
                return -EADDRNOTAVAIL;
        memcpy(mac, m, 6);
        return 0;
}

void net_mac_format(const uint8_t mac[6], char out[18])
{
        snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* FNV-1a 64 over the id and, for retries, "#n". */
static uint64_t mac_hash(const char *id, unsigned attempt)
{
        uint64_t h = 14695981039346656037ull;
        char suffix[16] = "";

        for (const char *p = id; *p; p++)
                h = (h ^ (uint8_t)*p) * 1099511628211ull;
        if (attempt) {
                snprintf(suffix, sizeof(suffix), "#%u", attempt);
                for (const char *p = suffix; *p; p++)
                        h = (h ^ (uint8_t)*p) * 1099511628211ull;
        }
        /* Fold the high bits in: FNV's low bits alone mix poorly. */
        return h ^ (h >> 24) ^ (h >> 48);
}

int net_mac_for(const uint8_t prefix[3], const char *id, net_mac_in_use_fn in_use, void *opaque, uint8_t out[6])
{
        for (unsigned a = 0; a < MAC_TRIES; a++) {
                uint64_t h = mac_hash(id, a);
                uint8_t m[6] = { prefix[0], prefix[1], prefix[2], (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h };

                if (!in_use || !in_use(m, opaque)) {
                        memcpy(out, m, 6);
                        return 0;
                }
        }
        return -EADDRINUSE;
}

void net_tap_name(const uint8_t mac[6], char out[IFNAMSIZ])
{
        snprintf(out, IFNAMSIZ, "vdi%02x%02x%02x", mac[3], mac[4], mac[5]);
}

bool net_ifname_valid(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        for (const char *p = name; *p; p++)
                if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return r;
}

/* Is ifindex a Linux bridge, and does it filter VLANs? Asked over
 * rtnetlink (RTM_GETLINK, IFLA_LINKINFO), not sysfs: /sys shows the
 * network namespace it was mounted in, which need not be ours. 0 or
 * -errno. */
static int bridge_info(int ifindex, bool *is_bridge, bool *filtering)
{
        struct {
                struct nlmsghdr nh;
                struct ifinfomsg ifi;
        } req = { 0 };
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        static char reply[16384];
        struct nlmsghdr *h = (struct nlmsghdr *)reply;
        struct rtattr *a;
        ssize_t n;
        int fd, len;

        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
        req.nh.nlmsg_type = RTM_GETLINK;
        req.nh.nlmsg_flags = NLM_F_REQUEST;
        req.nh.nlmsg_seq = 1;
        req.ifi.ifi_family = AF_UNSPEC;
        req.ifi.ifi_index = ifindex;
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        do
                n = recv(fd, reply, sizeof(reply), 0);
        while (n < 0 && errno == EINTR);
        close(fd);
        if (n < 0 || !NLMSG_OK(h, (unsigned)n))
                return -EIO;
        if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr e;
                memcpy(&e, NLMSG_DATA(h), sizeof(e));
                return e.error ? e.error : -EIO;
        }
        if (h->nlmsg_type != RTM_NEWLINK)
                return -EIO;
        *is_bridge = *filtering = false;
        len = (int)IFLA_PAYLOAD(h);
        for (a = IFLA_RTA(NLMSG_DATA(h)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                struct rtattr *li;
                int llen;

                if ((a->rta_type & NLA_TYPE_MASK) != IFLA_LINKINFO)
                        continue;
                llen = (int)RTA_PAYLOAD(a);
                for (li = RTA_DATA(a); RTA_OK(li, llen); li = RTA_NEXT(li, llen)) {
                        unsigned t = li->rta_type & NLA_TYPE_MASK;
                        if (t == IFLA_INFO_KIND)
                                *is_bridge = RTA_PAYLOAD(li) >= 6 && memcmp(RTA_DATA(li), "bridge", 6) == 0 &&
                                             (RTA_PAYLOAD(li) == 6 || ((char *)RTA_DATA(li))[6] == '\0');
                        if (t == IFLA_INFO_DATA) {
                                struct rtattr *d;
                                int dlen = (int)RTA_PAYLOAD(li);
                                for (d = RTA_DATA(li); RTA_OK(d, dlen); d = RTA_NEXT(d, dlen))
                                        if ((d->rta_type & NLA_TYPE_MASK) == IFLA_BR_VLAN_FILTERING &&
                                            RTA_PAYLOAD(d) >= 1)
                                                *filtering = *(uint8_t *)RTA_DATA(d) != 0;
                        }
                }
        }
        return 0;
}

/* One RTM_SETLINK/RTM_DELLINK with a bridge VLAN entry for port ifindex
 * (what "bridge vlan add/del dev PORT vid V [pvid untagged]" sends). */
static int vlan_request(int ifindex, uint16_t type, uint16_t vid, uint16_t flags)
{
        struct {
                struct nlmsghdr nh;
                struct ifinfomsg ifi;
                char attrs[64];
        } req = { 0 };
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        struct rtattr *spec, *info;
        struct bridge_vlan_info vi = { .flags = flags, .vid = vid };
        char reply[1024];
        ssize_t n;
        int fd, r;

        req.nh.nlmsg_type = type;
        req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        req.nh.nlmsg_seq = 1;
        req.ifi.ifi_family = AF_BRIDGE;
        req.ifi.ifi_index = ifindex;
        spec = (struct rtattr *)req.attrs;
        spec->rta_type = IFLA_AF_SPEC | NLA_F_NESTED;
        info = (struct rtattr *)RTA_DATA(spec);
        info->rta_type = IFLA_BRIDGE_VLAN_INFO;
        info->rta_len = RTA_LENGTH(sizeof(vi));
        memcpy(RTA_DATA(info), &vi, sizeof(vi));
        spec->rta_len = RTA_LENGTH(RTA_ALIGN(info->rta_len));
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi)) + RTA_ALIGN(spec->rta_len);

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        do
                n = recv(fd, reply, sizeof(reply), 0);
        while (n < 0 && errno == EINTR);
        close(fd);
        if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                return -EIO;
        {
                struct nlmsghdr *h = (struct nlmsghdr *)reply;
                struct nlmsgerr e;
                if (h->nlmsg_type != NLMSG_ERROR)
                        return -EIO;
                memcpy(&e, NLMSG_DATA(h), sizeof(e));
                return e.error; /* 0 or -errno */
        }
}

int net_tap_create(const char *name, const char *bridge, int vlan, uid_t uid, gid_t gid, int *out, char *err,
                   size_t errlen)
{
        struct ifreq ifr = { 0 };
        int fd = -1, sk = -1, r, tap_index, br_index;
        bool is_bridge = false, filtering = false;

        if (!net_ifname_valid(name))
                return fail(err, errlen, -EINVAL, "invalid tap name \"%s\"", name);
        if (!net_ifname_valid(bridge))
                return fail(err, errlen, -EINVAL, "invalid bridge name \"%s\"", bridge);
        br_index = (int)if_nametoindex(bridge);
        if (!br_index)
                return fail(err, errlen, -ENODEV, "bridge %s does not exist (create it: ip link add %s type bridge)",
                            bridge, bridge);
        r = bridge_info(br_index, &is_bridge, &filtering);
        if (r < 0)
                return fail(err, errlen, r, "bridge %s: cannot read its settings: %s", bridge, strerror(-r));
        if (!is_bridge)
                return fail(err, errlen, -ENOTTY, "%s is not a bridge (its pool's bridge must be a Linux bridge)",
                            bridge);
        if (vlan && (vlan < 1 || vlan > 4094))
                return fail(err, errlen, -EINVAL, "VLAN %d out of range 1..4094", vlan);
        if (vlan && !filtering)
                return fail(err, errlen, -EOPNOTSUPP,
                            "bridge %s has VLAN filtering off, so VLAN %d cannot be set (ip link set %s type bridge vlan_filtering 1)",
                            bridge, vlan, bridge);

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return fail(err, errlen, -errno, "cannot open /dev/net/tun: %s (modprobe tun)", strerror(errno));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        /* vnet header: vdi-vm passes checksum/TSO offloads through. */
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                r = -errno;
                fail(err, errlen, r, "tap %s: cannot create it: %s%s", name, strerror(-r),
                     r == -EBUSY ? " (another process has it: is the desktop running twice?)" : "");
                goto out;
        }
        /* Not persistent: it goes with the last fd (vdi-vm's). */
        if (ioctl(fd, TUNSETPERSIST, 0) < 0 || ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ||
            ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0) {
                r = fail(err, errlen, -errno, "tap %s: cannot set its owner: %s", name, strerror(errno));
                goto out;
        }
        tap_index = (int)if_nametoindex(name);
        sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sk < 0 || !tap_index) {
                r = fail(err, errlen, -errno, "tap %s: %s", name, strerror(errno));
                goto out;
        }
        /* Port of the bridge (SIOCBRADDIF: "ip link set TAP master BR"). */
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
        ifr.ifr_ifindex = tap_index;
        if (ioctl(sk, SIOCBRADDIF, &ifr) < 0) {
                r = fail(err, errlen, -errno, "tap %s: cannot add it to bridge %s: %s", name, bridge, strerror(errno));
                goto out;
        }
        if (vlan) {
                r = vlan_request(tap_index, RTM_SETLINK, (uint16_t)vlan, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED);
                /* The bridge's default PVID (1, usually) came with the port: drop it. */
                if (r == 0 && vlan != 1)
                        r = vlan_request(tap_index, RTM_DELLINK, 1, 0);
                if (r < 0 && r != -ENOENT) {
                        fail(err, errlen, r, "tap %s: cannot set VLAN %d on bridge %s: %s", name, vlan, bridge,
                             strerror(-r));
                        goto out;
                }
        }
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(sk, SIOCSIFFLAGS, &ifr) < 0)) {
                r = fail(err, errlen, -errno, "tap %s: cannot bring it up: %s", name, strerror(errno));
                goto out;
        }
        close(sk);
        *out = fd;
        return 0;
out:
        if (sk >= 0)
                close(sk);
        close(fd); /* not persistent: the tap goes with it */
        return r;
}
