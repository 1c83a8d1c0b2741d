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

# Set py to python3 for the lab half of a suite, or end the suite: the
# plan, then exit 77 (skip) when nothing failed so far, else 1.
vmm_python() {
    py=$(command -v /usr/bin/python3 || command -v python3)
    if [ -z "$py" ]; then
        echo "# python3 missing: lab checks skipped"
        echo "1..$n"
        [ "$fails" -eq 0 ] && exit 77
        exit 1
    fi
}

# Build the test initramfs $build/tests/vmm/NAME-initrd.gz (with the
# agent of the build tree when there is one, and the extra MODULES) and set
# initrd to it. On failure: a "not ok" line with the build log, status 1.
# Needs build, src and tmp (vmm_suite_init).
vmm_lab_initrd() { # NAME [MODULES]
    initrd=$build/tests/vmm/$1-initrd.gz
    _agent_opt=
    [ -x "$build/tests/guest/agent" ] && _agent_opt="--agent $build/tests/guest/agent"
    # shellcheck disable=SC2086 # optional pair of words
    if ! "$src/tests/guest/build-initrd" $_agent_opt --modules "${2:-}" "$initrd" >"$tmp/initrd.log" 2>&1; then
        bad "build the test initramfs"
        sed 's/^/#   /' "$tmp/initrd.log"
        return 1
    fi
}

# One TAP line for the lab half of a suite that tests/lab/needs-kvm ran
# with status RC: ok, not ok, or (a lab that could not run, 125, with
# VMM_REQUIRE_KVM=0) a skip of the whole suite when nothing else failed.
vmm_lab_status() { # RC WHAT
    case $1 in
    0) ok "$2 in the KVM lab" ;;
    125)
        if [ "${VMM_REQUIRE_KVM:-1}" = 1 ]; then
            bad "the KVM lab could not run (status 125)"
        else
            echo "# the KVM lab could not run (status 125): $2 checks skipped"
            [ "$fails" -gt 0 ] || { echo "1..$n"; exit 77; }
        fi
        ;;
    *) bad "$2 in the KVM lab (status $1; outputs kept in $tmp)" ;;
    esac
}

# The lab half of a suite: SCRIPT [ARGS...] run with python3 through
# tests/lab/needs-kvm (LAB_OPTS defaulting to --timeout 1200), its wall
# time, then vmm_lab_status's TAP line for WHAT. Needs py (vmm_python).
vmm_lab_run() { # WHAT SCRIPT [ARGS...]
    _what=$1
    shift
    LAB_OPTS=${LAB_OPTS:---timeout 1200}
    export LAB_OPTS
    _start=$(date +%s)
    "$src/tests/lab/needs-kvm" "$py" "$@"
    _rc=$?
    echo "# lab run took $(($(date +%s) - _start)) s"
    vmm_lab_status "$_rc" "$_what"
}
