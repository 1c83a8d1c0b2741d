#!/bin/sh
# tests/vmm/migrate.sh — vdi-vm live migration end to end (issue 26).
#
# Here, without KVM (the stream is received before KVM is opened): option
# checks, and hostile or cut streams sent to vdi-vm --incoming are refused
# with their message, answered with an ERROR frame, and leave nothing in
# TMPDIR. The rest runs in ONE tests/lab/needs-kvm invocation of
# tests/vmm/migrate-lab.py: a counting guest migrates between two vdi-vm,
# a refusing and a killed target leave the source running.
# Exit 0 pass, 1 fail (also when the KVM lab cannot run or dies), 77 skip (no
# kernel, no python3; a lab that cannot run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
vmm_suite_init migrate

# --- bad inputs (no KVM needed) ---
expect "--help documents --incoming" 0 "--incoming ADDR" -- --help
expect "--incoming with --kernel" 2 "drop --restore/--kernel" -- --incoming unix:"$tmp/x" --kernel "$kernel"
expect "--incoming with --restore" 2 "drop --restore" -- --incoming unix:"$tmp/x" --restore "$tmp"
expect "--incoming on a bad address" 1 "use unix:PATH, tcp:HOST:PORT or fd:N" -- --incoming "http://x"
expect "--incoming fd: with a bad number" 1 "fd:N needs a descriptor number" -- --incoming fd:x

vmm_python
# Send STREAM (a python expression of bytes) to a vdi-vm --incoming; expect
# status 1, MESSAGE on its stderr, the same reason in an ERROR frame back,
# and an empty TMPDIR.
feed() { # DESC STREAM MESSAGE
    mkdir "$tmp/in" && rm -f "$tmp/in.sock"
    TMPDIR=$tmp/in "$vm" --incoming unix:"$tmp/in.sock" --no-input >"$tmp/out" 2>"$tmp/err" &
    _pid=$!
    _reply=$("$py" - "$tmp/in.sock" "$2" <<'PY'
import os, socket, struct, sys, time, zlib
path, expr = sys.argv[1], sys.argv[2]
def header(ram=128 << 20, version=1):
    h = b"VDIVMMG\n" + struct.pack("<IIQ", version, 0, ram)
    return h + struct.pack("<I", zlib.crc32(h))
def frame(t, p=b"", crc=None):
    h = struct.pack("<III", t, len(p), zlib.crc32(p) if crc is None else crc)
    return h + struct.pack("<I", zlib.crc32(h)) + p
data = eval(expr)
for _ in range(300):
    if os.path.exists(path):
        break
    time.sleep(0.1)
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
s.settimeout(60)
r = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    r += b
t = struct.unpack_from("<I", r, 0)[0] if len(r) >= 16 else 0
print(f"type={t} {r[16:].decode(errors='replace')}")
PY
)
    wait "$_pid"
    _rc=$?
    if [ "$_rc" = 1 ] && grep -qF -- "$3" "$tmp/err" && [ "${_reply#type=17 }" != "$_reply" ] &&
        printf '%s' "$_reply" | grep -qF -- "$3" && [ -z "$(ls -A "$tmp/in")" ]; then
        ok "$1"
    else
        bad "$1: status $_rc, reply \"$_reply\", left: $(ls -A "$tmp/in"), output:"
        sed 's/^/#   /' "$tmp/err"
    fi
    rm -rf "$tmp/in"
}
feed "a text stream is refused" 'b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"' "not a vdi-vm migration stream (bad magic)"
feed "another stream version is refused" 'header(version=9)' "migration stream version 9 (this vdi-vm reads 1)"
feed "a stream cut after its header is refused" 'header()' "migration stream cut short"
feed "a stream cut inside a page is refused" \
    'header() + frame(1, struct.pack("<QII", 0, 1, 0) + bytes(4096))[:2000]' "cut short in a frame"
feed "a page with a bad checksum is refused" \
    'header() + frame(1, struct.pack("<QII", 0, 1, 0) + bytes(4096), crc=1)' "payload checksum mismatch"
feed "pages beyond the RAM are refused" \
    'header() + frame(1, struct.pack("<QII", 32768, 1, 1))' "beyond RAM"
feed "a 4 GiB frame is refused before any allocation" \
    'header() + frame(2, b"")[:4] + struct.pack("<I", 0xffffffff) + frame(2, b"")[8:12] + struct.pack("<I", zlib.crc32(struct.pack("<III", 2, 0xffffffff, 0)))' \
    "is 4294967295 bytes (at most"
feed "END without a state is refused" 'header() + frame(3)' "unexpected migration frame of type 3"
feed "a state file that is not one is refused" 'header() + frame(2, b"junk" * 20) + frame(3)' "bad magic"

# The TCP endpoint: a stream that is not one, on a free loopback port.
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TMPDIR=$tmp "$vm" --incoming "tcp:127.0.0.1:$port" --no-input >"$tmp/out" 2>"$tmp/err" &
pid=$!
"$py" - "$port" <<'PY'
import socket, sys, time
for _ in range(300):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        break
    except OSError:
        time.sleep(0.1)
s.sendall(b"SSH-2.0-OpenSSH_9.2 hello there, not a VM\r\n")
s.shutdown(socket.SHUT_WR)
s.settimeout(60)
while s.recv(4096):
    pass
PY
wait "$pid"
rc=$?
if [ "$rc" = 1 ] && grep -qF "not a vdi-vm migration stream (bad magic)" "$tmp/err" &&
    [ -z "$(ls -d "$tmp"/vdi-vm-incoming-* 2>/dev/null)" ]; then
    ok "--incoming tcp: refuses a stream that is not one"
else
    bad "--incoming tcp: status $rc, output:"
    sed 's/^/#   /' "$tmp/err"
fi

# --- two vdi-vm migrating a counting guest (needs /dev/kvm) ---
if vmm_lab_initrd migrate; then
    vmm_lab_run "live migration" "$src/tests/vmm/migrate-lab.py" "$vm" "$kernel" "$initrd" "$tmp"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
