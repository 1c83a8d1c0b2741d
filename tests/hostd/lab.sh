#!/bin/sh
# Everything of vdi-hostd and pools/ that needs /dev/kvm, in ONE KVM lab
# boot (tests/lab/README.md):
#   tests/hostd/lab                       the real vdi-vm under vdi-hostd
#   VDI_POOLS_REAL_VM=1 tests/pools/loop  the reconcile loop with real guests
# A lab that cannot run, or dies on every boot, is a failure (exit 1), never a skip.
set -u
b=${abs_top_builddir:-$(pwd)}
s=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
LAB_OPTS="${LAB_OPTS:-} --timeout 2400 --mem 4096"
export LAB_OPTS
# tests/lab/run boots the lab once more when its own kernel dies (issue 17)
# and says so; a lab that dies on every boot comes back as 125, a failure,
# never a skip.
"$s/tests/lab/needs-kvm" sh -c '
    st=0
    echo "# tests/hostd/lab"
    "$1/tests/hostd/lab" || st=1
    echo "# tests/pools/loop with real guests"
    VDI_POOLS_REAL_VM=1 "$1/tests/pools/loop" || st=1
    exit $st' sh "$b"
rc=$?
if [ "$rc" = 125 ]; then
    echo "not ok - the KVM lab could not run, or died on every boot (status 125): see the guest console above and in tests/lab/logs/"
    exit 1
fi
exit "$rc"
