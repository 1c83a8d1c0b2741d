/* A VM's network card on the host side: the tap vdi-hostd makes on the
 * VM's bridge before it spawns vdi-vm (hostd/net.c does the work). */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <unistd.h>

#include "hostd/hostd.h"
#include "hostd/net.h"
#include "log.h"

int hostd_net_open_tap(struct hostd *h, struct hostd_vm *vm, int *fd, char **error)
{
        char tap[IFNAMSIZ], mac[18], err[256];
        uid_t uid = getuid();
        gid_t gid = getgid();
        int r;

        if (!h->caps.net) {
                *error = g_strdup_printf("VM \"%s\" has a network but %s has no --net option (install a "
                                         "newer vdi-vm)",
                                         vm->id, h->cfg->vm_binary);
                return -ENOTSUP;
        }
        /* The VM process runs as [vm] user when vdi-vm can switch to it:
         * the tap is that user's then. */
        if (h->caps.user && uid == 0) {
                struct passwd *pw = getpwnam(h->cfg->vm_user);
                if (pw) {
                        uid = pw->pw_uid;
                        gid = pw->pw_gid;
                }
        }
        net_tap_name(vm->mac, tap);
        net_mac_format(vm->mac, mac);
        r = net_tap_create(tap, vm->bridge, vm->vlan, uid, gid, fd, err, sizeof(err));
        if (r < 0) {
                *error = g_strdup_printf("VM \"%s\": %s", vm->id, err);
                return r;
        }
        log_info("vm_tap", "vm=%s tap=%s bridge=%s vlan=%d mac=%s", vm->id, tap, vm->bridge, vm->vlan, mac);
        return 0;
}
