#!/bin/sh
# vdi-vm's display seccomp filter (hostd/vmm/jail.c, the widest class)
# with real clients, without KVM: the stand-alone RDP and SPICE servers on
# the synthetic display (tests/rdp/serve, tests/spice/serve) run under it
# (VDI_SECCOMP=1) from before they start, as vdi-vm's display thread does,
# and FreeRDP's client library (H.264 over the graphics pipeline, then
# planar) and spice-client-glib (tests/vmm/display-probe) must get pictures
# while the servers live on with no seccomp report.
set -u
b=${abs_top_builddir:-$(pwd)}
s=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
dir=$(mktemp -d "${TMPDIR:-/tmp}/jail-display-XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
n=0
st=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; st=1; }
"$s/tests/harness/make-pki" "$dir/pki" >/dev/null 2>&1 || { echo "Bail out! make-pki"; exit 1; }
port_of() { # OUTFILE PID
    i=0
    while [ $i -lt 300 ]; do
        p=$(sed -n 's/^port=//p' "$1")
        [ -n "$p" ] && { echo "$p"; return 0; }
        kill -0 "$2" 2>/dev/null || return 1
        i=$((i + 1))
        sleep 0.1
    done
    return 1
}
alive_clean() { # NAME PID ERRFILE
    if kill -0 "$2" 2>/dev/null && ! grep -q seccomp_violation "$3"; then
        ok "$1: the confined server lives on, no seccomp report"
    else
        nok "$1: the confined server died or reported: $(grep -a seccomp_violation "$3")"
    fi
}

VDI_SECCOMP=1 "$b/tests/rdp/serve" "$dir/pki/server.pem" "$dir/pki/server.key" alice:pw1 bob:pw2 \
    >"$dir/rdp.out" 2>"$dir/rdp.err" &
rpid=$!
pids="$pids $rpid"
if port=$(port_of "$dir/rdp.out" $rpid); then
    # A ticket admits one session: one user each.
    for mode in h264 planar; do
        [ $mode = h264 ] && login="alice pw1" || login="bob pw2"
        "$b/tests/vmm/display-probe" rdp "$port" $login $mode >"$dir/probe-$mode.out" 2>"$dir/probe-$mode.err"
        rc=$?
        out=$(grep -v '^\[' "$dir/probe-$mode.out")
        echo "# rdp $mode: $out"
        [ $rc = 0 ] && ok "RDP ($mode) to the confined server: pictures arrive" ||
            nok "RDP ($mode) to the confined server: $out $(tail -3 "$dir/probe-$mode.err")"
    done
    out=$("$b/tests/vmm/display-probe" rdp "$port" alice wrong 2>/dev/null | grep -v '^\[')
    case "$out" in
    *"connect failed: Permission denied"*) ok "RDP with a wrong password is refused" ;;
    *) nok "RDP with a wrong password: $out" ;;
    esac
else
    nok "the confined RDP server did not start: $(tail -3 "$dir/rdp.err")"
fi
alive_clean RDP $rpid "$dir/rdp.err"

VDI_SECCOMP=1 "$b/tests/spice/serve" "$dir/pki/server.pem" "$dir/pki/server.key" "$dir/pki/ca.pem" tkt1 \
    >"$dir/spice.out" 2>"$dir/spice.err" &
spid=$!
pids="$pids $spid"
if port=$(port_of "$dir/spice.out" $spid); then
    out=$("$b/tests/vmm/display-probe" spice "$port" tkt1 "$dir/pki/ca.pem" 2>"$dir/probe-spice.err")
    rc=$?
    echo "# spice: $out"
    [ $rc = 0 ] && ok "SPICE to the confined server: the primary surface arrives" ||
        nok "SPICE to the confined server: $out $(tail -3 "$dir/probe-spice.err")"
else
    nok "the confined SPICE server did not start: $(tail -3 "$dir/spice.err")"
fi
alive_clean SPICE $spid "$dir/spice.err"

# SIGTERM ends both confined servers. In sanitizer builds the exit runs
# LeakSanitizer, whose ptrace-ing clone died on a missing allowance and left
# the process spinning in sched_yield for ever (found in CI as orphans).
exits_clean() { # NAME PID ERRFILE
    kill -TERM "$2" 2>/dev/null
    i=0
    while kill -0 "$2" 2>/dev/null && [ $i -lt 600 ]; do
        i=$((i + 1))
        sleep 0.1
    done
    if kill -0 "$2" 2>/dev/null; then
        nok "$1: the confined server still runs 60 s after SIGTERM"
    elif wait "$2"; then
        ok "$1: the confined server exits cleanly on SIGTERM"
    else
        nok "$1: the confined server exited with status $? on SIGTERM: $(tail -3 "$3")"
    fi
}
exits_clean RDP $rpid "$dir/rdp.err"
exits_clean SPICE $spid "$dir/spice.err"
echo "1..$n"
exit $st
