#!/bin/sh
# xfreerdp (a stock client) under Xvfb against our RDP server over TLS + NLA
# with one-time tickets: wrong password refused, right password admitted,
# the same ticket refused the second time, and a full session with the
# graphics pipeline in AVC420 (H.264) mode that stays up and gets frames.
# Exit 77 (skip) when xfreerdp or Xvfb is missing.
set -u
builddir=${abs_top_builddir:-$(pwd)}
command -v xfreerdp >/dev/null || { echo "xfreerdp not found (apt-get install freerdp2-x11)"; exit 77; }
command -v Xvfb >/dev/null || { echo "Xvfb not found (apt-get install xvfb)"; exit 77; }
command -v openssl >/dev/null || { echo "openssl not found"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/rdp-xfreerdp-XXXXXX")
srv_pid=""
x_pid=""
xf_pid=""
cleanup() {
    [ -n "$xf_pid" ] && kill "$xf_pid" 2>/dev/null
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
    [ -n "$x_pid" ] && kill "$x_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; [ -f "$dir/serve.err" ] && tail -20 "$dir/serve.err"; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1 || fail "openssl"

pa=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
pb=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
mkfifo "$dir/out"
WLOG_LEVEL=ERROR "$builddir/tests/rdp/serve" "$dir/cert.pem" "$dir/key.pem" "alice:$pa" "bob:$pb" \
    >"$dir/out" 2>"$dir/serve.err" &
srv_pid=$!
exec 3<"$dir/out"
# FreeRDP's own log lines go to stdout too: look for ours.
line=""
while read -r line <&3; do case $line in port=*) break ;; esac; done
port=${line#port=}
[ -n "$port" ] || fail "server did not start"

# A free display number.
n=90
while [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ]; do n=$((n + 1)); done
Xvfb ":$n" -screen 0 1024x768x24 -nolisten tcp >/dev/null 2>&1 &
x_pid=$!
for i in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
export DISPLAY=":$n"

xf() { timeout 20 xfreerdp /v:127.0.0.1:"$port" /cert:ignore /sec:nla "$@" >>"$dir/xf.log" 2>&1; }

xf /u:alice /p:wrong-password +auth-only && fail "wrong password admitted"
echo "ok - wrong password refused"
xf /u:alice /p:"$pa" +auth-only || fail "right password refused"
echo "ok - ticket admitted"
xf /u:alice /p:"$pa" +auth-only && fail "ticket admitted twice"
echo "ok - used ticket refused"
xf /u:bob /p:"$pb" /sec:rdp +auth-only && fail "RDP security admitted"
echo "ok - /sec:rdp refused"

# Full session with the H.264 graphics pipeline: wait (polling the
# server's counters) until AVC420 frames went out, with xfreerdp still up.
xfreerdp /v:127.0.0.1:"$port" /cert:ignore /sec:nla /u:bob /p:"$pb" \
    /gfx:avc420 /size:800x600 >>"$dir/xf.log" 2>&1 &
xf_pid=$!
h264=0
for i in $(seq 60); do
    sleep 0.5
    kill -0 "$xf_pid" 2>/dev/null || { tail -20 "$dir/xf.log"; fail "xfreerdp session ended"; }
    kill -USR1 "$srv_pid"
    stats=""
    while read -r stats <&3; do case $stats in frames=*) break ;; esac; done
    h264=$(echo "$stats" | sed -n 's/.* h264=\([0-9]*\).*/\1/p')
    [ "${h264:-0}" -ge 5 ] && break
done
kill "$xf_pid"
wait "$xf_pid" 2>/dev/null
xf_pid=""
echo "# server: $stats"
logons=$(echo "$stats" | sed -n 's/.* logons=\([0-9]*\).*/\1/p')
[ "${h264:-0}" -ge 5 ] || fail "no AVC420 frames sent to xfreerdp"
[ "${logons:-0}" -eq 2 ] || fail "expected 2 logons, got $logons"
echo "ok - xfreerdp session over AVC420 ($h264 frames)"

kill "$srv_pid"
wait "$srv_pid" || fail "server exited with an error (see $dir/serve.err)"
srv_pid=""
exit 0
