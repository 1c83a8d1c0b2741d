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
