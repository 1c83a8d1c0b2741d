#!/bin/sh
# tests/vmm/boot.sh — vdi-vm end to end.
#
# Bad inputs are checked right here (no KVM needed). The boots of the host's
# Debian kernel with the test initramfs (tests/guest) — 1 and 2 vCPUs,
# poweroff, reboot, --no-reboot — run in ONE tests/lab/needs-kvm invocation
# of tests/vmm/boot-lab.sh: directly where /dev/kvm works, else in the lab.
# Exit 0 pass, 1 fail (also when the KVM lab cannot run or dies), 77 skip (no
# kernel; a lab that cannot run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
vmm_suite_init boot

# --- bad inputs (no KVM needed) ---
expect "--help documents the options" 0 "--no-reboot" -- --help
expect "unknown option" 2 "Usage:" -- --bogus
expect "no kernel" 2 "no kernel given" -- --memory 256
expect "--memory 0" 2 "invalid memory size 0 MiB" -- --kernel "$kernel" --memory 0
expect "--memory absurd" 2 "invalid memory size 99999999 MiB" -- --kernel "$kernel" --memory 99999999
expect "--memory not a number" 2 'invalid --memory "lots"' -- --kernel "$kernel" --memory lots
expect "--cpus 0" 2 "invalid vCPU count 0" -- --kernel "$kernel" --cpus 0
expect "--cpus over the limit" 2 "invalid vCPU count 65: must be between 1 and 64" -- --kernel "$kernel" --cpus 65
expect "--cpus negative" 2 'invalid --cpus "-1"' -- --kernel "$kernel" --cpus -1
expect "missing kernel" 1 "kernel $tmp/nope: No such file or directory" -- --kernel "$tmp/nope"
head -c 300000 "$kernel" >"$tmp/truncated"
expect "truncated kernel" 1 "truncated" -- --kernel "$tmp/truncated"
head -c 4096 /dev/zero >"$tmp/zeros"
expect "not a bzImage" 1 "not a Linux bzImage" -- --kernel "$tmp/zeros"
expect "kernel is a directory" 1 "not a regular file" -- --kernel "$tmp"
truncate -s 300M "$tmp/huge-initrd"
expect "initrd larger than memory" 1 "is larger than guest memory (256 MiB)" -- \
    --kernel "$kernel" --initrd "$tmp/huge-initrd" --memory 256
expect "missing initrd" 1 "initrd $tmp/nope: No such file or directory" -- --kernel "$kernel" --initrd "$tmp/nope"
expect "memory too small for the kernel" 1 "guest memory too small" -- --kernel "$kernel" --memory 48
expect "no KVM device" 1 "KVM not available: $tmp/kvm missing — is the kvm module loaded?" -- \
    --kernel "$kernel" --kvm "$tmp/kvm"
if [ ! -e /dev/kvm ]; then
    expect "no /dev/kvm" 1 "KVM not available: /dev/kvm missing — is the kvm module loaded?" -- --kernel "$kernel"
fi

# --- boots (need /dev/kvm) ---
initrd=$build/tests/vmm/guest-initrd.gz
if ! "$src/tests/guest/build-initrd" "$initrd" >"$tmp/initrd.log" 2>&1; then
    bad "build the test initramfs"
    sed 's/^/#   /' "$tmp/initrd.log"
else
    # 240 s here normally; tests/lab/run boots the lab once more when its
    # own kernel dies or freezes (issue 17).
    LAB_OPTS=${LAB_OPTS:---timeout 1200}
    export LAB_OPTS
    "$src/tests/lab/needs-kvm" "$src/tests/vmm/boot-lab.sh" "$vm" "$kernel" "$initrd" "$tmp"
    vmm_lab_status $? boot
fi

echo "1..$n"
[ "$fails" -eq 0 ]
