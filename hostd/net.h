/* Desktop networking on the host (issue 13): deterministic MAC addresses
 * per desktop, and the tap device each desktop's vdi-vm gets on its pool's
 * bridge (optionally as an untagged member of one VLAN). vdi-hostd runs as
 * root: it makes the tap, attaches it and passes the open fd to vdi-vm
 * (--net fd=N), so vdi-vm needs no network privileges. The tap is not
 * persistent: it disappears with the last fd, i.e. when the VM goes.
 *
 * Plain C (no GLib) so that tests link it alone. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "xx:xx:xx": a 3-byte MAC prefix. 0, -EINVAL (syntax) or -EADDRNOTAVAIL
 * (not locally administered, i.e. bit 1 of the first byte clear, or
 * multicast: bit 0 set). A vendor OUI such as 00:16:3e is refused: it
 * belongs to someone. (52:54:00, QEMU's default, is locally administered
 * and accepted, but would mix with QEMU guests on the same LAN.) */
int net_mac_prefix_parse(const char *s, uint8_t prefix[3]);

/* Is this MAC taken by another live desktop? */
typedef bool (*net_mac_in_use_fn)(const uint8_t mac[6], void *opaque);

/* The MAC of desktop id: prefix + 24 bits of a hash of the id. When a
 * live desktop already has it (in_use may be NULL), the next candidate
 * hashes "id#1", "id#2"... so the result is still a pure function of the
 * id and the addresses in use. 0 and *out, or -EADDRINUSE after 256
 * candidates. */
int net_mac_for(const uint8_t prefix[3], const char *id, net_mac_in_use_fn in_use, void *opaque,
                uint8_t out[6]);

/* "xx:xx:xx:xx:xx:xx" (lower case) into out[18]; parse it back. */
void net_mac_format(const uint8_t mac[6], char out[18]);
int net_mac_parse(const char *s, uint8_t mac[6]);

/* The tap name of a desktop with this MAC: "vdi" and the last three bytes
 * in hex ("vdi3fa01c"); unique among a host's desktops as the MACs are. */
void net_tap_name(const uint8_t mac[6], char out[IFNAMSIZ]);

/* Make tap name (IFF_TAP, no packet info, vnet header, not persistent, owned by
 * uid:gid), bring it up, make it a port of bridge and, with vlan 1..4094,
 * an untagged member of that VLAN only (PVID; the bridge needs
 * vlan_filtering on). 0 and *fd (close-on-exec) or negative errno with a
 * message in err naming the tap or bridge and the fix. Needs
 * CAP_NET_ADMIN. */
int net_tap_create(const char *name, const char *bridge, int vlan, uid_t uid, gid_t gid, int *fd, char *err,
                   size_t errlen);

/* Valid bridge name for a pool (1-15 characters, no '/', blank, ':'). */
bool net_ifname_valid(const char *name);
