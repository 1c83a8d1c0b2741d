# Shared helpers for tests/vmm/*.sh and bench/boot (POSIX sh).

# The Debian kernel the test guest's modules match (empty when none).
vmm_kernel() {
    "$1/tests/guest/build-initrd" --print-kernel 2>/dev/null || true
}

# Wait until FILE has COUNT lines matching PATTERN (grep -E) or PID exits
# or SECONDS pass; returns 0 when the count was reached.
vmm_wait_lines() {
    _file=$1 _pattern=$2 _count=$3 _pid=$4 _secs=$5
    _i=0
    while [ "$_i" -lt $((_secs * 4)) ]; do
        _n=$(grep -cE "$_pattern" "$_file" 2>/dev/null || true)
        [ "${_n:-0}" -ge "$_count" ] && return 0
        kill -0 "$_pid" 2>/dev/null || return 1
        sleep 0.25
        _i=$((_i + 1))
    done
    return 1
}

# The shared start of tests/vmm/*.sh suites: TAP helpers ok/bad/expect, the
# counters n and fails, tmp (a fresh directory under the build tree, kept
# only when something failed) and kernel; exits 77 when there is no Debian
# kernel to boot. Needs src, build and vm set.
vmm_suite_init() { # NAME
    fails=0 n=0
    tmp=$(mktemp -d "$build/tests/vmm/$1-out.XXXXXX")
    trap '[ "$fails" -gt 0 ] || rm -rf "$tmp"' EXIT
    kernel=$(vmm_kernel "$src")
    if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
        echo "# no readable Debian kernel in /boot: skipped"
        exit 77
    fi
}

ok() { n=$((n + 1)); echo "ok $n - $*"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }

# expect DESC STATUS PATTERN -- vdi-vm args: the exit status and a message
# (on stderr or stdout) of one vdi-vm run.
expect() {
    _d=$1 _want=$2 _pat=$3; shift 4
    "$vm" "$@" >"$tmp/out" 2>"$tmp/err"
    _rc=$?
    if [ "$_rc" = "$_want" ] && grep -qF -- "$_pat" "$tmp/err" "$tmp/out"; then
        ok "$_d"
    else
        bad "$_d: status $_rc (want $_want), output:"
        sed 's/^/#   /' "$tmp/err" "$tmp/out"
    fi
}
