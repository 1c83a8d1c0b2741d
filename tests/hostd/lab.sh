#!/bin/sh
# Everything of vdi-hostd and pools/ that needs /dev/kvm, in ONE KVM lab
# boot (tests/lab/README.md):
#   tests/hostd/lab                       the real vdi-vm under vdi-hostd
#   VDI_POOLS_REAL_VM=1 tests/pools/loop  the reconcile loop with real guests
# A lab that cannot run or dies twice is a failure (exit 1), never a skip.
set -u
b=${abs_top_builddir:-$(pwd)}
s=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
LAB_OPTS="${LAB_OPTS:-} --timeout 1500 --mem 4096"
export LAB_OPTS
run() {
    "$s/tests/lab/needs-kvm" sh -c '
        st=0
        echo "# tests/hostd/lab"
        "$1/tests/hostd/lab" || st=1
        echo "# tests/pools/loop with real guests"
        VDI_POOLS_REAL_VM=1 "$1/tests/pools/loop" || st=1
        exit $st' sh "$b"
}
run
rc=$?
# 125: the KVM lab itself died. Its kernel still panics now and then
# ("corrupted stack end detected inside scheduler" in vdi-vm, seen in a CI run
# here: issue 17, not yet root-caused); tests/lab/run printed the console's end
# and kept all of it under tests/lab/logs/. One more try, said out loud; a
# second death is a failure, never a skip. Remove the retry once that is fixed.
if [ "$rc" = 125 ]; then
    echo "# the KVM lab died (status 125; console kept in tests/lab/logs/): one more try (issue 17)"
    run
    rc=$?
fi
if [ "$rc" = 125 ]; then
    echo "not ok - the KVM lab died (status 125): see the guest console above and in tests/lab/logs/"
    exit 1
fi
exit "$rc"
