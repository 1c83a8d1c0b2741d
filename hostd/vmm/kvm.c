#include "config.h"

#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "alloc.h"

static const struct {
        int cap;
        const char *name;
} required_caps[] = {
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
        { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
        { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
        { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
        { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

static int get_supported_cpuid(struct kvm *k, struct vm_err *err)
{
        for (unsigned n = 64; n <= 4096; n *= 2) {
                size_t sz;
                struct kvm_cpuid2 *c;

                if (!size_mul(n, sizeof(struct kvm_cpuid_entry2), &sz) || !size_add(sz, sizeof(*c), &sz))
                        break;
                c = calloc(1, sz);
                if (!c)
                        return vm_err_set(err, -ENOMEM, "out of memory");
                c->nent = n;
                if (ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
                        k->cpuid = c;
                        return 0;
                }
                free(c);
                if (errno != E2BIG)
                        return vm_err_set(err, -errno, "KVM_GET_SUPPORTED_CPUID: %m");
        }
        return vm_err_set(err, -E2BIG, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

int kvm_open(struct kvm *k, const char *path, struct vm_err *err)
{
        _cleanup_close_ int fd = -1;
        int v, r;

        memset(k, 0, sizeof(*k));
        k->fd = -1;
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT)
                        return vm_err_set(err, r, "KVM not available: %s missing — is the kvm module loaded?", path);
                if (r == -EACCES || r == -EPERM)
                        return vm_err_set(err, r, "KVM not available: no permission to open %s (run as root or join the kvm group)", path);
                return vm_err_set(err, r, "KVM not available: cannot open %s: %m", path);
        }
        v = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (v != KVM_API_VERSION)
                return vm_err_set(err, -ENOTSUP, "KVM API version %d is not supported (need %d)", v, KVM_API_VERSION);
        for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
                if (ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
                        return vm_err_set(err, -ENOTSUP, "KVM lacks %s (kernel too old?)", required_caps[i].name);
        }
        k->vcpu_mmap_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (k->vcpu_mmap_size < (int)sizeof(struct kvm_run))
                return vm_err_set(err, -ENOTSUP, "KVM_GET_VCPU_MMAP_SIZE: %m");
        k->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
        if (k->max_vcpus <= 0)
                k->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
        if (k->max_vcpus <= 0)
                k->max_vcpus = 4;
        k->tsc_deadline = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
        k->fd = TAKE_FD(fd);
        r = get_supported_cpuid(k, err);
        if (r < 0) {
                kvm_close(k);
                return r;
        }
        return 0;
}

int kvm_create_vm(const struct kvm *k, struct vm_err *err)
{
        int fd;

        do
                fd = ioctl(k->fd, KVM_CREATE_VM, 0);
        while (fd < 0 && errno == EINTR);
        if (fd < 0)
                return vm_err_set(err, -errno, "KVM_CREATE_VM: %m");
        return fd;
}

void kvm_close(struct kvm *k)
{
        if (k->fd >= 0)
                close(k->fd);
        k->fd = -1;
        free(k->cpuid);
        k->cpuid = NULL;
}
