#!/bin/sh
# tests/vmm/snapshot.sh — vdi-vm snapshot and --restore end to end (issue 20).
#
# Argument checks of --restore run right here (no KVM needed: the snapshot
# is read before KVM is opened). The rest runs in ONE tests/lab/needs-kvm
# invocation of tests/vmm/snapshot-lab.py: a guest counting on its console
# is snapshotted, restored into a new vdi-vm (the count goes on, the guest
# answers on its serial input), the restored VM is snapshotted and restored
# again, and damaged copies of the snapshot are refused.
# Exit 0 pass, 1 fail (also when the KVM lab cannot run or dies), 77 skip (no
# kernel, no python3; a lab that cannot run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
vmm_suite_init snapshot

# --- bad inputs (no KVM needed) ---
expect "--help documents --restore" 0 "--restore DIR" -- --help
expect "--restore with --kernel" 2 "drop --kernel" -- --restore "$tmp" --kernel "$kernel"
expect "--restore with --memory" 2 "drop --kernel/--initrd/--cmdline/--cpus/--memory" -- --restore "$tmp" --memory 512
expect "--restore of a missing directory" 1 "snapshot $tmp/nope: No such file or directory" -- --restore "$tmp/nope"
expect "--restore of a directory without state" 1 "cannot open its state file" -- --restore "$tmp"
printf 'not a snapshot at all, just text\n' >"$tmp/state"
expect "--restore of a text file" 1 "not a vdi-vm state file (bad magic)" -- --restore "$tmp"

# --- a counting guest snapshotted and restored (needs /dev/kvm) ---
vmm_python
if vmm_lab_initrd snapshot; then
    vmm_lab_run "snapshot and restore" "$src/tests/vmm/snapshot-lab.py" "$vm" "$kernel" "$initrd" "$tmp"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
