#!/bin/sh
# tests/vmm/net.sh — virtio-net of vdi-vm (issue 13) end to end.
#
# Bad --net arguments are checked right here (no KVM needed). Everything
# that boots guests — three desktops on two bridges in network namespaces,
# pings, TCP transfers with CRCs, the tap fd from hostd's code — runs in
# ONE tests/lab/needs-kvm invocation of tests/vmm/net-lab.py.
# Exit 0 pass, 1 fail (also when the KVM lab cannot run or dies), 77 skip (no
# kernel, no python3; a lab that cannot run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
vmm_suite_init net

# --- bad inputs (no KVM needed: parsed and opened before KVM) ---
expect "--help documents --net" 0 "--net tap=NAME[,mac=MAC] | fd=N[,mac=MAC]" -- --help
expect "--net without tap= or fd=" 2 'invalid --net "mac=02:00:00:00:00:01": give tap=NAME or fd=N' -- \
    --kernel "$kernel" --net mac=02:00:00:00:00:01
expect "--net with an unknown option" 2 'unexpected "model=e1000"' -- --kernel "$kernel" --net tap=t0,model=e1000
expect "--net with a multicast MAC" 2 "01:00:5e:00:00:01 is a multicast or zero address" -- \
    --kernel "$kernel" --net tap=t0,mac=01:00:5e:00:00:01
expect "--net with a malformed MAC" 2 'bad MAC "02:00:00:00:00"' -- --kernel "$kernel" --net tap=t0,mac=02:00:00:00:00
expect "--net with a too long tap name" 2 "tap name must be 1-15 characters" -- \
    --kernel "$kernel" --net tap=abcdefghijklmnopq
expect "--net fd= that is not open" 1 "fd 9 is not open" -- --kernel "$kernel" --net fd=9
expect "--net fd= that is not a tap" 1 "fd 3 is not an attached tap device" -- --kernel "$kernel" --net fd=3 3</dev/null
expect "five --net options" 2 "too many --net options (at most 4)" -- --kernel "$kernel" --net tap=a --net tap=b \
    --net tap=c --net tap=d --net tap=e

# --- guests on bridges (needs /dev/kvm and root for namespaces) ---
py=$(command -v /usr/bin/python3 || command -v python3)
if [ -z "$py" ] || ! command -v ip >/dev/null || ! command -v bridge >/dev/null; then
    echo "# python3 or iproute2 missing: lab checks skipped"
    echo "1..$n"
    [ "$fails" -eq 0 ] && exit 77
    exit 1
fi
initrd=$build/tests/vmm/net-initrd.gz
agent_opt=
[ -x "$build/tests/guest/agent" ] && agent_opt="--agent $build/tests/guest/agent"
helper=
[ -x "$build/tests/hostd/net-tap" ] && helper=$build/tests/hostd/net-tap
# shellcheck disable=SC2086 # optional pair of words
if ! "$src/tests/guest/build-initrd" $agent_opt "$initrd" >"$tmp/initrd.log" 2>&1; then
    bad "build the test initramfs"
    sed 's/^/#   /' "$tmp/initrd.log"
else
    LAB_OPTS=${LAB_OPTS:---timeout 1500}
    export LAB_OPTS
    "$src/tests/lab/needs-kvm" "$py" "$src/tests/vmm/net-lab.py" "$vm" "$kernel" "$initrd" "$tmp" $helper
    vmm_lab_status $? virtio-net
fi

echo "1..$n"
[ "$fails" -eq 0 ]
