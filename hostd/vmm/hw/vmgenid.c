#include "config.h"

#include "vmgenid.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <linux/kvm.h>

#include "layout.h"

bool vmgenid_present(const uint8_t id[VMGENID_LEN])
{
        uint8_t any = 0;

        for (unsigned i = 0; i < VMGENID_LEN; i++)
                any |= id[i];
        return any != 0;
}

int vmgenid_parse(const char *s, uint8_t id[VMGENID_LEN])
{
        char hex[2 * VMGENID_LEN + 1];
        uint8_t v[VMGENID_LEN];
        size_t n = 0;

        if (!s)
                return -EINVAL;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                s += 2;
        for (; *s; s++) {
                if (*s == '-')
                        continue;
                if (!isxdigit((unsigned char)*s) || n == 2 * VMGENID_LEN)
                        return -EINVAL;
                hex[n++] = *s;
        }
        if (n != 2 * VMGENID_LEN)
                return -EINVAL;
        hex[n] = '\0';
        for (unsigned i = 0; i < VMGENID_LEN; i++)
                if (sscanf(hex + 2 * i, "%2hhx", &v[i]) != 1)
                        return -EINVAL;
        if (!vmgenid_present(v))
                return -EINVAL;
        memcpy(id, v, VMGENID_LEN);
        return 0;
}

void vmgenid_format(const uint8_t id[VMGENID_LEN], char out[2 * VMGENID_LEN + 1])
{
        for (unsigned i = 0; i < VMGENID_LEN; i++)
                snprintf(out + 2 * i, 3, "%02x", id[i]);
}

int vmgenid_random(uint8_t id[VMGENID_LEN])
{
        uint8_t v[VMGENID_LEN];

        do {
                if (getrandom(v, sizeof(v), 0) != (ssize_t)sizeof(v))
                        return errno ? -errno : -EIO;
        } while (!vmgenid_present(v));
        memcpy(id, v, VMGENID_LEN);
        return 0;
}

int vmgenid_store(const struct guest_mem *m, const uint8_t id[VMGENID_LEN])
{
        return guest_mem_write(m, LAYOUT_VMGENID, id, VMGENID_LEN) < 0 ? -EFAULT : 0;
}

int vmgenid_load(const struct guest_mem *m, uint8_t id[VMGENID_LEN])
{
        const uint8_t *p = guest_mem_ptr(m, LAYOUT_VMGENID, VMGENID_LEN);

        if (!p)
                return -EFAULT;
        memcpy(id, p, VMGENID_LEN);
        return 0;
}

int vmgenid_notify(int vm_fd)
{
        struct kvm_irq_level up = { .irq = IRQ_GED, .level = 1 }, down = { .irq = IRQ_GED, .level = 0 };

        if (ioctl(vm_fd, KVM_IRQ_LINE, &up) < 0 || ioctl(vm_fd, KVM_IRQ_LINE, &down) < 0)
                return -errno;
        return 0;
}
