#!/bin/sh
# tests/web/lab.sh — issue 21's browser path through a real desktop host, in
# one KVM lab boot: tests/web/gateway's lab case (WEB_LAB=1). PostgreSQL,
# slapd, the broker, HAProxy, vdi-gateway and headless Chromium run here;
# vdi-hostd runs in the lab (scripts/lab-hostd; directly where
# tests/lab/kvm-direct says so), its API and display ports forwarded to this
# machine's loopback. It registers itself in the harness database, the test
# guest's image (tests/guest/initrd.gz, agent.action=gputest, display
# virtio-gpu) is imported and carol's floating desktop's VM started through
# its API. Carol signs in on the portal and presses "Open in browser": the
# broker asks vdi-hostd for the one-time web ticket, vdi-hostd sets it on
# vdi-vm, and the canvas must show the guest's picture (H.264 through
# WebCodecs, then, launched again, the PNG tiles exactly); typed keys and
# clicks come back as the guest's drawing; a smaller viewport changes the
# guest's mode. Screenshots: tests/e2e/browser-h264.png,
# tests/e2e/browser-tiles.png.
# Exit 0 pass, 1 fail (also when the lab cannot run, unless
# VMM_REQUIRE_KVM=0: then 77).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
if ! { [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null; } && ! "$src/tests/lab/run" --check >/dev/null 2>&1; then
    "$src/tests/lab/run" --check >&2 || true
    if [ "${VMM_REQUIRE_KVM:-1}" = 1 ]; then
        echo "Bail out! neither /dev/kvm nor the KVM lab works here (scripts/install-deps; VMM_REQUIRE_KVM=0 to skip)"
        exit 1
    fi
    echo "1..0 # SKIP neither /dev/kvm nor the KVM lab works here"
    exit 77
fi
WEB_LAB=1 exec "$build/tests/web/gateway"
