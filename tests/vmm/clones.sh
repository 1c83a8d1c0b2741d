#!/bin/sh
# tests/vmm/clones.sh — ten instant clones of one parent, each with its own
# identity (issue 20: "Ten clones from one parent").
#
# Argument checks of the identity options run right here (no KVM needed).
# The rest runs in ONE tests/lab/needs-kvm invocation of
# tests/vmm/clones-lab.py: a counting parent with a network card and the
# agent console is snapshotted, ten clones are restored from it side by
# side with their own MAC, host name and machine ID, and each must show no
# boot, its own identity, its own VM generation ID and RNG output, the
# right time, no soft lockup, and share its memory with the others. With
# VDI_CLONES_RDP=1 an RDP client (tests/vmm/clone-client) then visits
# each: its own picture, its own typing, no cross-talk (off by default:
# ten RDP logons take 9-15 min in the nested lab).
# Exit 0 pass, 1 fail (also when the KVM lab cannot run or dies), 77 skip (no
# kernel, no python3; a lab that cannot run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
vmm_suite_init clones

# --- bad inputs (no KVM needed) ---
expect "--help documents --vmgenid" 0 "--vmgenid HEX" -- --help
expect "--help documents --clone-hostname" 0 "--clone-hostname NAME" -- --help
expect "--vmgenid of 31 digits" 2 "invalid --vmgenid \"0123456789abcdef0123456789abcde\": expected 32 hex digits" \
    -- --vmgenid 0123456789abcdef0123456789abcde
expect "--vmgenid of zeros" 2 "not all zero" -- --vmgenid 00000000000000000000000000000000
expect "--clone-hostname with a dot" 2 "invalid --clone-hostname \"a.b\"" -- --clone-hostname a.b
expect "--clone-machine-id in capitals" 2 "invalid --clone-machine-id" \
    -- --clone-machine-id 0123456789ABCDEF0123456789ABCDEF
expect "--clone-hostname without --restore" 2 "add --restore DIR and --agent" \
    -- --kernel "$kernel" --agent --clone-hostname h1
expect "--clone-hostname without --agent" 2 "add --restore DIR and --agent" \
    -- --restore "$tmp" --clone-hostname h1

# --- ten clones of a counting parent (needs /dev/kvm) ---
vmm_python
if vmm_lab_initrd clones; then
    # VDI_CLONES_RDP=1 (the lab passes VDI_* on) adds ten RDP logons, about
    # a minute of the lab's vCPU each: more than vmm_lab_run's 1200 s.
    if [ "${VDI_CLONES_RDP:-0}" = 1 ]; then
        LAB_OPTS=${LAB_OPTS:---timeout 4800}
        export LAB_OPTS
    fi
    vmm_lab_run "ten clones from one parent" "$src/tests/vmm/clones-lab.py" "$vm" "$build/tests/vmm/clone-client" \
        "$kernel" "$initrd" "$tmp"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
