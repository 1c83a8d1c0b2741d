#!/bin/sh
# tests/vmm/gpu.sh — the guest's virtio_gpu driver follows an RDP client's
# window and a SPICE client's (issue 18), in ONE tests/lab/needs-kvm
# invocation of tests/vmm/gpu-lab.py: the test guest's gputest action
# drives virtio-gpu through DRM/KMS, FreeRDP's client library resizes
# through the display control channel, spice-client-glib through its
# monitors config, and the pictures they receive are checked pixel by
# pixel.
# Exit 0 pass, 1 fail (also when the KVM lab cannot run or dies), 77 skip (no
# kernel, no python3; a lab that cannot run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
vmm_suite_init gpu

vmm_python
if vmm_lab_initrd gpu; then
    vmm_lab_run "virtio-gpu layouts" "$src/tests/vmm/gpu-lab.py" "$vm" "$build/tests/vmm/gpu-client" \
        "$build/tests/vmm/gpu-spice" "$kernel" "$initrd" "$tmp"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
