#!/bin/bash
# tests/guest/agent-boot.sh — the test guest's boot material works: the
# Debian kernel with tests/guest/build-initrd's initramfs boots under plain
# QEMU TCG (no KVM needed), the agent loads the virtio drivers, reports
# "AGENT ready" and obeys agent.action.
#
# Two boots in parallel: the default action (poweroff) with a virtio disk,
# NIC and keyboard attached, and agent.action=reboot.  Exit 0 pass, 1 fail,
# 77 skip (no QEMU or no Debian kernel here).
# Bash-only below: re-run with bash if started by another shell ("sh script").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
qemu=${QEMU:-qemu-system-x86_64}

if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "SKIP: $qemu not found (apt-get install qemu-system-x86)"
    exit 77
fi
if ! kernel=$("$here/build-initrd" --print-kernel 2>&1); then
    echo "SKIP: $kernel"
    exit 77
fi
kver=${kernel#/boot/vmlinuz-}

work=$(mktemp -d "${TMPDIR:-/tmp}/agent-boot.XXXXXX")
pids=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The agent built by make (tests/guest/local.mk), else build-initrd compiles it.
agent_opt=()
for d in "${abs_top_builddir:-}" "${top_builddir:-}" "$PWD"; do
    if [ -n "$d" ] && [ -x "$d/tests/guest/agent" ]; then
        agent_opt=(--agent "$d/tests/guest/agent")
        break
    fi
done
"$here/build-initrd" "${agent_opt[@]}" "$work/initrd.gz"

# boot NAME APPEND [QEMU ARGS...]: boot in the background, console to
# $work/NAME.out, QEMU's exit status to $work/NAME.rc.
boot() {
    local name=$1 append=$2
    shift 2
    (
        rc=0
        timeout 120 "$qemu" -accel tcg -machine pc -cpu qemu64 -smp 2 -m 512 \
            -nodefaults -no-user-config -nographic -no-reboot -monitor none \
            -serial stdio -kernel "$kernel" -initrd "$work/initrd.gz" \
            -append "console=ttyS0 quiet panic=-1 no_timer_check $append" "$@" \
            </dev/null 2>"$work/$name.err" | tr -d '\r' >"$work/$name.out" || rc=$?
        echo "$rc" >"$work/$name.rc"
    ) &
    pids+=($!)
}

truncate -s 1M "$work/disk.img"
boot poweroff "" \
    -drive "if=none,id=d0,format=raw,file=$work/disk.img" -device virtio-blk-pci,drive=d0 \
    -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,romfile= \
    -device virtio-keyboard-pci
boot reboot "agent.action=reboot"
for p in "${pids[@]}"; do wait "$p" || true; done
pids=()

failed=0
# check WHAT NAME REGEX: the console of boot NAME has a line matching REGEX.
check() {
    if grep -Eq "$3" "$work/$2.out"; then
        printf 'PASS: %s\n' "$1"
    else
        printf 'FAIL: %s (no line matching /%s/)\n' "$1" "$3"
        failed=1
    fi
}
check "modules load" poweroff '^AGENT modules loaded=[1-9][0-9]* failed=0$'
check "AGENT ready line" poweroff "^AGENT ready cpus=2 mem_kb=[0-9]+ kernel=$kver\$"
check "virtio_blk bound" poweroff '^AGENT virtio dev=virtio[0-9]+ driver=virtio_blk$'
check "virtio_net bound" poweroff '^AGENT virtio dev=virtio[0-9]+ driver=virtio_net$'
check "virtio_input bound" poweroff '^AGENT virtio dev=virtio[0-9]+ driver=virtio_input$'
check "default action is poweroff" poweroff '^AGENT poweroff$'
check "agent.action=reboot" reboot '^AGENT action name=reboot$'
check "reboot happens" reboot '^AGENT reboot$'
for b in poweroff reboot; do
    rc=$(cat "$work/$b.rc")
    if [ "$rc" = 0 ]; then
        printf 'PASS: %s boot: QEMU exits by itself\n' "$b"
    else
        printf 'FAIL: %s boot: QEMU exit %s%s\n' "$b" "$rc" "$([ "$rc" = 124 ] && echo ' (timed out)')"
        failed=1
    fi
done
if [ "$failed" != 0 ]; then
    for b in poweroff reboot; do
        printf '# console of the %s boot:\n' "$b"
        sed 's/^/#   /' "$work/$b.out" "$work/$b.err"
    done
fi
exit "$failed"
