#!/bin/sh
# tests/vmm/devices.sh — the devices of vdi-vm (issue 5) end to end.
#
# Bad --disk/--framebuffer/--control arguments are checked right here (no
# KVM needed). Everything that boots a guest — disks, framebuffer and
# damage, input, the control socket — runs in ONE tests/lab/needs-kvm
# invocation of tests/vmm/devices-lab.py (see there).
# Exit 0 pass, 1 fail (also when the KVM lab cannot run or dies), 77 skip (no
# kernel, no python3; a lab that cannot run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
img=$build/hostd/vdi-img
vmm_suite_init devices
truncate -s 1M "$tmp/d.raw"

# --- bad inputs (no KVM needed: disks are opened before KVM) ---
expect "--help documents --disk" 0 "--disk PATH,format=qcow2|raw[,ro]" -- --help
expect "--help documents the control socket" 0 '{"id":N,"cmd":"set-ticket"' -- --help
expect "--disk without a format" 2 "the format must be given (format=qcow2 or format=raw); it is never guessed" -- \
    --kernel "$kernel" --disk "$tmp/d.raw"
expect "--disk with an unknown format" 2 'unknown format "vmdk"' -- --kernel "$kernel" --disk "$tmp/d.raw,format=vmdk"
expect "--disk with an unknown option" 2 'unknown option "cache=none"' -- \
    --kernel "$kernel" --disk "$tmp/d.raw,format=raw,cache=none"
expect "--disk missing file" 1 "disk $tmp/nope" -- --kernel "$kernel" --disk "$tmp/nope,format=raw"
expect "--disk raw file given as qcow2" 1 "$tmp/d.raw" -- --kernel "$kernel" --disk "$tmp/d.raw,format=qcow2"
expect "--framebuffer garbage" 2 'invalid --framebuffer "big"' -- --kernel "$kernel" --framebuffer big
expect "--framebuffer too large" 2 'invalid --framebuffer "9000x9000"' -- --kernel "$kernel" --framebuffer 9000x9000
expect "--framebuffer too small" 2 'invalid --framebuffer "10x10"' -- --kernel "$kernel" --framebuffer 10x10

# --- a guest with every device (needs /dev/kvm) ---
vmm_python
if vmm_lab_initrd devices; then
    LAB_OPTS=${LAB_OPTS:---timeout 1500}
    export LAB_OPTS
    "$src/tests/lab/needs-kvm" "$py" "$src/tests/vmm/devices-lab.py" "$vm" "$img" "$kernel" "$initrd" "$tmp"
    vmm_lab_status $? devices
fi

echo "1..$n"
[ "$fails" -eq 0 ]
