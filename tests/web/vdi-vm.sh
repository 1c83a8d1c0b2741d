#!/bin/sh
# vdi-vm's web display options refused with clear words before any KVM is
# touched (runs without /dev/kvm): an --web-origin that is not an https
# origin, a web port shared with RDP, a web port without a framebuffer.
set -eu
top=${abs_top_builddir:?}
vm="$top/hostd/vdi-vm"
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$kernel" ] || { echo "no kernel in /boot; skipping"; exit 77; }
fail=0
expect() { # WANT_STDERR ARGS...
    want=$1
    shift
    rc=0
    err=$("$vm" "$@" 2>&1 >/dev/null) || rc=$?
    if [ "$rc" != 2 ] || ! printf '%s' "$err" | grep -qF -e "$want"; then
        echo "FAIL: vdi-vm $*: exit $rc, stderr: $err (wanted exit 2 and: $want)"
        fail=1
    else
        echo "ok: $want"
    fi
}
expect '--web-origin "http://portal" must be https://HOST[:PORT]' --web-origin http://portal
expect '--web-origin "https://portal/x" must be https://HOST[:PORT]' --web-origin https://portal/x
expect '--spice-port, --rdp-port and --web-port must differ' --kernel "$kernel" --cpus 1 --memory 64 \
    --framebuffer 640x480 --rdp-port 7000 --web-port 7000
expect '--web-port need --framebuffer' --kernel "$kernel" --cpus 1 --memory 64 --web-port 7000
exit $fail
