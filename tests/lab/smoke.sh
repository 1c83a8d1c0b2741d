#!/bin/bash
# tests/lab/smoke.sh — the KVM lab works: kvm-smoke passes under
# tests/lab/needs-kvm, and tests/lab/run passes exit status, stdout, stderr,
# environment and a port forward through, and enforces --timeout.
#
# Lab boots cost seconds of CPU under TCG, so they run two at a time: one
# carries every check of a command that completes, one a command that hangs,
# then a kernel that panics (booted twice) and one that stops answering.  Exit 0 pass, 1 fail, 77 skip (no lab possible here).
# Bash-only below: re-run with bash if started by another shell ("sh script").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
run=$here/run
needs_kvm=$here/needs-kvm

# kvm-smoke is built by make in the build tree; tests run from its top.
smoke=
for d in "${abs_top_builddir:-}" "${top_builddir:-}" "${builddir:-}" "$PWD" "$here/../.."; do
    if [ -n "$d" ] && [ -x "$d/tests/lab/kvm-smoke" ]; then
        smoke_dir=$(cd "$d/tests/lab" && pwd)
        smoke=$smoke_dir/kvm-smoke
        break
    fi
done
if [ -z "$smoke" ]; then
    echo "FAIL: tests/lab/kvm-smoke is not built (make check builds it; or set abs_top_builddir)" >&2
    exit 99
fi

failed=0
pass() { printf 'PASS: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*"
    failed=1
}
# expect WHAT EXPECTED ACTUAL
expect() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1: expected [$2], got [$3]"
    fi
}

# On a machine with a usable /dev/kvm, kvm-smoke also runs directly.
if [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null; then
    if "$needs_kvm" "$smoke" >/dev/null; then pass "kvm-smoke, direct"; else fail "kvm-smoke, direct"; fi
fi

if ! msg=$("$run" --check 2>&1); then
    echo "SKIP: the KVM lab cannot run here: $msg"
    [ "$failed" = 0 ] && exit 77
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lab-smoke.XXXXXX")
bg_pid=
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    if [ -n "$bg_pid" ]; then kill "$bg_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# A free host port for the forward: probe upwards from a per-process start.
port=$((20000 + $$ % 20000))
while (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

# Boot 2, in the background: a command that hangs must be cut by --timeout.
start=$EPOCHREALTIME
"$run" --timeout 20 -- sleep 1000 >"$work/hang.out" 2>"$work/hang.err" &
bg_pid=$!

# Boot 1: kvm-smoke, then stdout/stderr/env, then an HTTP server reached
# through --fwd, then a distinctive exit status.  The guest waits for the
# host's fetch through a file on the shared work directory.
value="a 'quoted' \$value"
# shellcheck disable=SC2016 # expanded by the guest's shell
guest_script='
    "$1" || exit 90
    echo to-stderr >&2
    printf "env=%s\n" "$LAB_SMOKE_VALUE"
    mkdir -p /tmp/www && echo lab-http-ok >/tmp/www/index.html
    busybox httpd -p 8080 -h /tmp/www || exit 91
    : >"$2/listening"
    i=0
    while [ ! -e "$2/fetched" ]; do
        i=$((i + 1)); [ $i -lt 600 ] || exit 92
        sleep 0.1
    done
    exit 7'
rc=0
# Shared: the work directory, the current one and kvm-smoke's (any of them
# may be under the host's /tmp, which the lab does not see otherwise).
LAB_FORCE=1 LAB_OPTS="--share $work --share $PWD --share $smoke_dir --fwd $port:8080 --env LAB_SMOKE_VALUE" \
    LAB_SMOKE_VALUE=$value \
    "$needs_kvm" sh -c "$guest_script" sh "$smoke" "$work" \
    >"$work/out" 2>"$work/err" &
main_pid=$!

# http_get PORT PATH: the body of an HTTP/1.0 GET on 127.0.0.1, with
# nothing but bash (busybox's static wget crashes on some hosts).
# shellcheck disable=SC2016 # expanded by the inner bash
http_get() {
    timeout 20 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1"
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
        tr -d "\r" <&3 | sed "1,/^\$/d"' http_get "$1" "$2"
}

# Host side of the port forward.
body=
for _ in $(seq 1 1200); do
    if [ -e "$work/listening" ]; then
        body=$(http_get "$port" /index.html 2>&1 || true)
        : >"$work/fetched"
        break
    fi
    kill -0 "$main_pid" 2>/dev/null || break
    sleep 0.1
done
wait "$main_pid" || rc=$?
main_time=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

expect "exit status of the command comes back" 7 "$rc"
if [ "$rc" = 90 ] || grep -q '^not ok' "$work/out"; then
    fail "kvm-smoke in the lab"
else
    expect "kvm-smoke in the lab: 6 checks pass" 6 "$(grep -c '^ok ' "$work/out" || true)"
fi
expect "environment passes through --env, quoting intact" "env=$value" "$(tail -n 1 "$work/out")"
expect "stderr is exactly the command's" to-stderr "$(cat "$work/err")"
if LC_ALL=C grep -q $'\r' "$work/out" "$work/err"; then fail "no CR in the output"; else pass "no CR in the output"; fi
expect "port forward 127.0.0.1:$port -> guest 8080" lab-http-ok "$body"

rc=0
wait "$bg_pid" || rc=$?
bg_pid=
hang_time=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
expect "--timeout: exit 124" 124 "$rc"
expect "--timeout: says so" "lab: timed out after 20 s running: sleep 1000" "$(head -n 1 "$work/hang.err")"
kept=$(sed -n 's/^lab: guest console kept in //p' "$work/hang.err")
expect "--timeout: the guest console is kept" "yes" "$([ -n "$kept" ] && [ -e "$kept" ] && echo yes || echo "no (${kept:-no path})")"
[ -z "$kept" ] || rm -f "$kept"

# Boots 3 to 5, two at a time: a lab whose kernel dies is booted once more
# for the same command, said out loud and listed in the deaths file; a lab
# whose kernel stops answering (its heartbeat stopped) is stopped within
# LAB_STALL seconds instead of running into --timeout.
start=$EPOCHREALTIME
LAB_LOG_DIR=$work/logs LAB_RETRY=1 "$run" --timeout 300 -- \
    sh -c 'echo c >/proc/sysrq-trigger; sleep 60' >"$work/panic.out" 2>"$work/panic.err" &
bg_pid=$!
rc=0
LAB_LOG_DIR=$work/logs-stall LAB_STALL=20 LAB_RETRY=0 "$run" --timeout 300 -- \
    sh -c 'pkill -STOP -f "[l]ab-heartbeat"; sleep 250' >"$work/stall.out" 2>"$work/stall.err" || rc=$?
stall_time=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
expect "a frozen lab: exit 125" 125 "$rc"
expect "a frozen lab: stopped by its heartbeat, not by --timeout" "yes" \
    "$(awk -v t="$stall_time" 'BEGIN { print (t < 240 ? "yes" : "no (" t " s)") }')"
expect "a frozen lab: says so" 1 \
    "$(grep -c "^lab: the lab froze (no heartbeat from the lab's kernel for [0-9]* s) after .* s, on boot 1 of 1: a failure" "$work/stall.err" || true)"
rc=0
wait "$bg_pid" || rc=$?
bg_pid=
expect "a lab whose kernel panics: exit 125 after two boots" 125 "$rc"
expect "a lab whose kernel panics: booted once more, said out loud" 1 \
    "$(grep -c '^lab: ===== the lab died (Kernel panic - not syncing: sysrq triggered crash) after .* s; booting it once more' "$work/panic.err" || true)"
expect "a lab whose kernel panics: both deaths listed" 2 "$(wc -l <"$work/logs/deaths" 2>/dev/null || echo 0)"
expect "a lab whose kernel panics: both consoles kept" 2 "$(find "$work/logs" -name 'console-*.log' | wc -l)"
# The dump of the panicking task's stack bottom: a healthy stack (sysrq's
# crash) still holds the end marker, STACK_END_MAGIC, in its first word.
expect "a lab whose kernel panics: the stack's end marker is dumped" 0x0000000057ac6e9d \
    "$(grep -h -A1 'x /32gx' "$work"/logs/console-*.log | grep -m1 -oE ': 0x[0-9a-f]{16}' | cut -c3-)"

echo "# lab boot with kvm-smoke and checks: ${main_time} s; timeout check: ${hang_time} s; stall check: ${stall_time} s"
if [ "$failed" != 0 ]; then
    echo "# stdout of the lab command:"
    sed 's/^/#   /' "$work/out"
    echo "# stderr of the lab command:"
    sed 's/^/#   /' "$work/err"
fi
exit "$failed"
