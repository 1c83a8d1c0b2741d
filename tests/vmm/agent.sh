#!/bin/sh
# tests/vmm/agent.sh — the agent console (virtio-console, issue 19) with a
# real guest: its --help here (no KVM needed), then ONE
# tests/lab/needs-kvm run of tests/vmm/agent-lab.py: Linux's virtio_console
# names the ports, and the clipboard goes both ways between the guest's
# agent and a real SPICE client, then a real RDP client; a second guest
# with --clipboard none passes nothing either way.
# Exit 0 pass, 1 fail (also when the KVM lab cannot run or dies), 77 skip (no
# kernel, no python3; a lab that cannot run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
vmm_suite_init agent

expect "--help documents --agent" 0 "com.redhat.spice.0" -- --help
expect "--help documents --clipboard" 0 "guest-to-client|client-to-guest|none" -- --help
expect "a bad --clipboard is refused" 2 'invalid --clipboard "sideways"' -- --clipboard sideways

vmm_python
if vmm_lab_initrd agent; then
    vmm_lab_run "agent console and clipboard" "$src/tests/vmm/agent-lab.py" "$vm" "$build/tests/spice/clip" "$build/tests/rdp/clip" \
        "$kernel" "$initrd" "$tmp"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
