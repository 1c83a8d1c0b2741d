#include "config.h"

#include "identity.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "vmgenid.h"

int identity_check_hostname(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '-'))
                        return -EINVAL;
        return 0;
}

int identity_check_machine_id(const char *s)
{
        bool any = false;

        if (!s || strlen(s) != 32)
                return -EINVAL;
        for (size_t i = 0; i < 32; i++) {
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return -EINVAL;
                any |= s[i] != '0';
        }
        return any ? 0 : -EINVAL;
}

char *identity_message(enum vm_origin origin, const uint8_t *vmgenid, const struct identity *id,
                       const struct timespec *now)
{
        double t = (double)now->tv_sec + (double)now->tv_nsec / 1e9;
        json_t *o;
        char *out, hex[2 * VMGENID_LEN + 1], mac[18];
        int r = 0;

        if (origin == VM_ORIGIN_BOOT)
                return NULL;
        o = json_object();
        if (!o)
                return NULL;
        r |= json_object_set_new(o, "event", json_string(origin == VM_ORIGIN_FORK ? "cloned" : "resumed"));
        if (origin == VM_ORIGIN_FORK) {
                if (vmgenid_present(vmgenid)) {
                        vmgenid_format(vmgenid, hex);
                        r |= json_object_set_new(o, "vmgenid", json_string(hex));
                }
                if (id->mac) {
                        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", id->mac[0], id->mac[1],
                                 id->mac[2], id->mac[3], id->mac[4], id->mac[5]);
                        r |= json_object_set_new(o, "mac", json_string(mac));
                }
                if (id->hostname)
                        r |= json_object_set_new(o, "hostname", json_string(id->hostname));
                if (id->machine_id)
                        r |= json_object_set_new(o, "machine_id", json_string(id->machine_id));
        }
        r |= json_object_set_new(o, "time", json_real(t));
        out = r ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        json_decref(o);
        return out;
}

char *identity_time_reply(const char *line, size_t len, const struct timespec *now)
{
        json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL), *o;
        const char *ev = json_string_value(json_object_get(req, "event"));
        char *out = NULL;

        if (ev && strcmp(ev, "time?") == 0) {
                o = json_pack("{s:s,s:f}", "event", "time", "time",
                              (double)now->tv_sec + (double)now->tv_nsec / 1e9);
                out = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
                json_decref(o);
        }
        json_decref(req);
        return out;
}
