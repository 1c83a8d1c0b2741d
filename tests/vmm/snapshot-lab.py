#!/usr/bin/python3
"""tests/vmm/snapshot-lab.py VDI_VM KERNEL INITRD OUTDIR — the snapshot
checks that need /dev/kvm (run by tests/vmm/snapshot.sh through
tests/lab/needs-kvm, all in one lab boot):

- a 2-vCPU guest with a virtio disk (a qcow2 overlay), keyboard and
  tablet, running the agent's "counter" action, is snapshotted through
  the control socket while it counts; its disk is captured: the overlay
  becomes the snapshot's read-only layer disk.0 and the running guest
  moves onto a fresh overlay on it (what it writes afterwards is not in
  the snapshot);
- a new vdi-vm --restore of that snapshot boots no kernel, continues the
  count from where the snapshot froze it, answers "ping" on its serial
  input and sees a key typed on its virtio keyboard; it is snapshotted in
  turn and that snapshot restores too; each restore reads from its disk
  what its parent had written at the snapshot, on a fresh overlay that
  vdi-vm made on the layer;
- a vdi-vm SIGKILLed while it writes a snapshot leaves only that
  snapshot's partial directory: the snapshot taken before still restores;
- damaged copies of the snapshot (and disks that are not an overlay on
  its layer) (state file bit flip, truncation, another
  format version, CPU features this host lacks, a missing or corrupt RAM
  file) are refused with their message before any vCPU runs, and so is a
  device set the snapshot does not have.
Prints TAP lines; exits 0 when all passed."""
import glob
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labtap import LIMIT, ask, check, counts, finish, text, wait_for  # noqa: E402

vm, kernel, initrd, out = sys.argv[1:5]
img = os.path.join(os.path.dirname(vm), "vdi-img")
procs = []


def say(p, line):
    try:
        p.stdin.write(line.encode() + b"\n")
        p.stdin.flush()
    except OSError:
        pass


def disk_op(p, name, word, timeout=60):
    """Write WORD to the guest's disk, or read it back (WORD "-"): what the
    guest reports."""
    seen = len(re.findall(r"^AGENT disk-(?:read|wrote) .*$", text(f"{out}/{name}.console"), re.M))
    say(p, f"disk {word}")
    got = []

    def done():
        got[:] = re.findall(r"^AGENT disk-(?:read|wrote) (.*)$", text(f"{out}/{name}.console"), re.M)[seen:]
        return bool(got)
    wait_for(done, p, timeout)
    return got[0] if got else None


def backing_of(path):
    """The backing file name in a qcow2 header."""
    with open(path, "rb") as f:
        h = f.read(4096)
    off, ln = struct.unpack_from(">QI", h, 8)
    return os.path.realpath(h[off:off + ln].decode(errors="replace")) if off else ""


def start(name, args, stdin=subprocess.PIPE):
    console = open(f"{out}/{name}.console", "wb")
    log = open(f"{out}/{name}.log", "wb")
    p = subprocess.Popen([vm] + args, stdin=stdin, stdout=console, stderr=log)
    procs.append(p)
    return p


def stop(p, sock):
    ask(sock, {"id": 99, "cmd": "stop"}, timeout=30)
    try:
        return p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


# Unix sockets and MAP_PRIVATE RAM files stay off the lab's 9p shares.
work = os.path.realpath(tempfile.mkdtemp(prefix="vdi-snap-"))
snap1 = f"{work}/snap1"
snap2 = f"{work}/snap2"

# ---- A: boot, count, snapshot ----
base_img = f"{work}/base_img.raw"  # the snapshot links the overlay: same file system
os.truncate(os.open(base_img, os.O_CREAT | os.O_WRONLY, 0o600), 16 << 20)
subprocess.run([img, "create", "-f", "qcow2", "-b", base_img, "-F", "raw", f"{work}/a.qcow2"], check=True)


def devices(disk):
    return ["--disk", f"{work}/{disk},format=qcow2", "--framebuffer", "640x480"]  # and the keyboard and tablet


sock_a = f"{work}/a.sock"
a = start("a", ["--kernel", kernel, "--initrd", initrd, "--cpus", "2", "--memory", "128",
                "--cmdline", "console=ttyS0 quiet agent.action=counter", "--control", sock_a] + devices("a.qcow2"))
booted = wait_for(lambda: len(counts(f"{out}/a.console")) >= 10 and "AGENT fb-drawn" in text(f"{out}/a.console"), a)
check("A: the guest boots and counts", booted, text(f"{out}/a.log")[-500:])
if not booted:
    a.kill()
    finish()
check("A: the guest writes alpha to its disk", disk_op(a, "a", "alpha") == "alpha")
ask(sock_a, {"id": 9, "cmd": "screenshot", "path": f"{work}/a.ppm"})
t0 = time.time()
rep = ask(sock_a, {"id": 1, "cmd": "snapshot", "dir": snap1})
snap_s = time.time() - t0
max_a = max(counts(f"{out}/a.console"))
check("A: snapshot answers ok", rep and rep.get("ok"), str(rep))
print(f"# snapshot: {snap_s:.1f} s, reply {rep}", flush=True)
check("A: snapshot directory holds state and ram", os.path.isfile(f"{snap1}/state") and os.path.isfile(f"{snap1}/ram"))
mode = os.stat(f"{snap1}/disk.0").st_mode & 0o777 if os.path.exists(f"{snap1}/disk.0") else None
check("A: the disk's overlay is the snapshot's read-only layer disk.0", mode == 0o400 and
      backing_of(f"{snap1}/disk.0") == base_img, f"mode {mode}")
check("A: A's disk is now a fresh overlay on that layer", backing_of(f"{work}/a.qcow2") == f"{snap1}/disk.0",
      backing_of(f"{work}/a.qcow2"))
check("A: after the snapshot A writes beta and reads it back",
      disk_op(a, "a", "beta") == "beta" and disk_op(a, "a", "-") == "beta")
if os.path.isfile(f"{snap1}/ram"):
    st = os.stat(f"{snap1}/ram")
    print(f"# ram file: {st.st_size >> 20} MiB, {st.st_blocks * 512 >> 20} MiB allocated", flush=True)
    pages = (rep or {}).get("ram_pages", 0)
    check("A: the RAM file is sparse: only the non-zero pages take space",
          st.st_blocks * 512 <= pages * 4096 + (1 << 20) and pages * 4096 < st.st_size,
          f"{st.st_blocks * 512} bytes allocated for {pages} pages")
rep = ask(sock_a, {"id": 2, "cmd": "snapshot", "dir": snap1})
check("A: a snapshot over an existing directory is refused",
      rep and not rep.get("ok") and "already exists" in rep.get("error", ""), str(rep))
rep = ask(sock_a, {"id": 3, "cmd": "snapshot", "dir": "relative"})
check("A: a relative snapshot path is refused", rep and not rep.get("ok"), str(rep))
base = len(counts(f"{out}/a.console"))
check("A: the source keeps counting after the snapshot",
      wait_for(lambda: len(counts(f"{out}/a.console")) >= base + 5, a, 120))
check("A: stops cleanly", stop(a, sock_a) == 0)
a_counts = set(counts(f"{out}/a.console"))

# ---- B: restore, count on, answer ----
sock_b = f"{work}/b.sock"
t0 = time.time()
b = start("b", ["--restore", snap1, "--control", sock_b] + devices("b.qcow2"))
ok = wait_for(lambda: len(counts(f"{out}/b.console")) >= 5, b, 180)
print(f"# restore to 5 counts: {time.time() - t0:.1f} s", flush=True)
check("B: the restored guest counts", ok, text(f"{out}/b.log")[-800:])
bc = counts(f"{out}/b.console")
if bc:
    first = bc[0]
    check(f"B: the count continues from the snapshot (first {first}, A reached {max_a} by the reply)",
          first >= 1 and first - 1 in a_counts and first <= max_a + 1)
    check("B: the count goes up by one", bc[:5] == list(range(first, first + 5)), str(bc[:5]))
rep = ask(sock_b, {"id": 7, "cmd": "screenshot", "path": f"{work}/b.ppm"})
try:
    pa, pb = open(f"{work}/a.ppm", "rb").read(), open(f"{work}/b.ppm", "rb").read()
    same = sum(1 for i in range(0, min(len(pa), len(pb)), 4) if pa[i:i + 4] == pb[i:i + 4]) * 4 / max(len(pa), 1)
    lit = sum(1 for x in pa[15:] if x) / max(len(pa), 1)
except OSError as e:
    same, lit, pa, pb = 0, 0, b"", b""
    print(f"# screenshots: {e}", flush=True)
print(f"# framebuffer: {lit:.1%} of A's bytes non-zero before the snapshot", flush=True)
check("B: the framebuffer shows what A's showed at the snapshot (the agent's red rectangle; 99% of pixels)",
      len(pa) == len(pb) and same >= 0.99 and lit > 0.001, f"{same:.3f} equal, {lit:.3%} lit")
check("B: no kernel boot (no AGENT ready line)", "AGENT ready" not in text(f"{out}/b.console"))
check("B: event restoring logged", "event=restoring" in text(f"{out}/b.log"), text(f"{out}/b.log")[-300:])
try:
    b.stdin.write(b"ping 4242\n")
    b.stdin.flush()
except OSError:
    pass
check("B: the guest answers on its serial input",
      wait_for(lambda: "AGENT pong 4242" in text(f"{out}/b.console"), b, 60))
ask(sock_b, {"id": 5, "cmd": "key", "code": 30, "pressed": True})
ask(sock_b, {"id": 6, "cmd": "key", "code": 30, "pressed": False})
check("B: reads alpha from its disk (the snapshot's, not A's later beta), on a fresh overlay vdi-vm made",
      disk_op(b, "b", "-") == "alpha" and backing_of(f"{work}/b.qcow2") == f"{snap1}/disk.0")
check("B: writes gamma", disk_op(b, "b", "gamma") == "gamma")
check("B: a key typed after the restore reaches the guest through virtio-input",
      wait_for(lambda: "AGENT key code=30 value=0" in text(f"{out}/b.console"), b, 60))
st = ask(sock_b, {"id": 1, "cmd": "status"})
check("B: status reports the snapshot's 2 vCPUs and 128 MiB",
      st and st.get("cpus") == 2 and st.get("memory_mb") == 128, str(st))
rep = ask(sock_b, {"id": 2, "cmd": "snapshot", "dir": snap2})
check("B: a restored VM snapshots too", rep and rep.get("ok"), str(rep))
max_b = max(counts(f"{out}/b.console") or [0])
check("B: stops cleanly", stop(b, sock_b) == 0)
b_counts = set(counts(f"{out}/b.console"))

# ---- C: restore of the restored VM's snapshot ----
sock_c = f"{work}/c.sock"
c = start("c", ["--restore", snap2, "--control", sock_c] + devices("c.qcow2"))
ok = wait_for(lambda: len(counts(f"{out}/c.console")) >= 3, c, 180)
cc = counts(f"{out}/c.console")
check("C: the second-generation restore counts on from B",
      ok and cc and cc[0] - 1 in b_counts and cc[0] <= max_b + 1, f"{cc[:3]} max_b={max_b}")
check("C: reads gamma, what B had written at its snapshot", disk_op(c, "c", "-") == "gamma")

# ---- a SIGKILL in the middle of a snapshot: the previous one stays usable ----
snap3 = f"{work}/snap3"
kill_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
kill_sock.connect(sock_c)
kill_sock.sendall(json.dumps({"id": 8, "cmd": "snapshot", "dir": snap3}).encode() + b"\n")
caught = None
end = time.time() + 120
while time.time() < end and caught is None and c.poll() is None:
    partial = glob.glob(f"{snap3}.partial-*")
    if partial and os.path.exists(f"{partial[0]}/ram"):
        caught = partial[0]
        c.kill()  # SIGKILL while it writes the RAM file
    else:
        time.sleep(0.001)
c.wait()
kill_sock.close()
check("C: killed (SIGKILL) while its snapshot was being written", caught is not None and c.returncode == -9,
      f"partial {caught}, status {c.returncode}")
check("C: the killed snapshot left no snap3, only its partial directory",
      not os.path.exists(snap3) and caught is not None and os.path.isdir(caught))
sock_e = f"{work}/e.sock"
e_ = start("e", ["--restore", snap2, "--control", sock_e] + devices("e.qcow2"))
ok = wait_for(lambda: len(counts(f"{out}/e.console")) >= 3, e_, 180)
check("E: the snapshot taken before (snap2) still restores and counts", ok, text(f"{out}/e.log")[-500:])
check("E: reads gamma from it", disk_op(e_, "e", "-", 180) == "gamma")
check("E: stops cleanly", stop(e_, sock_e) == 0)
sock_d = f"{work}/d.sock"
d_ = start("d", ["--restore", snap1, "--control", sock_d] + devices("d.qcow2"))
# (serial input sent before the restore completes is lost: wait for a count)
wait_for(lambda: len(counts(f"{out}/d.console")) >= 3, d_, 180)
check("D: another clone of the first snapshot reads alpha (B's gamma went to B's overlay, not the layer)",
      disk_op(d_, "d", "-", 180) == "alpha", text(f"{out}/d.log")[-500:])
check("D: stops cleanly", stop(d_, sock_d) == 0)


# ---- damaged snapshots: refused before any vCPU runs ----
def sections(data):
    off, out_ = 32, []
    for _ in range(struct.unpack_from("<Q", data, 16)[0]):
        name = data[off:off + 32].rstrip(b"\0").decode()
        ln = struct.unpack_from("<Q", data, off + 32)[0]
        out_.append([name, bytearray(data[off + 48:off + 48 + ln])])
        off += 48 + ln
    return out_


def build(secs, version=3):
    hdr = bytearray(b"VDIVMST\n" + struct.pack("<IIQI", version, 0, len(secs), 0))
    hdr += struct.pack("<I", zlib.crc32(hdr))
    for name, payload in secs:
        h = bytearray(name.encode().ljust(32, b"\0") + struct.pack("<QI", len(payload), zlib.crc32(payload)))
        h += struct.pack("<I", zlib.crc32(h))
        hdr += h + payload
    return bytes(hdr)


with open(f"{snap1}/state", "rb") as f:
    good = f.read()
check("a rebuilt state file equals the original (the test speaks the format)", build(sections(good)) == good)


def all_features(secs):
    for s in secs:
        if s[0] == "vcpu.0":
            p = s[1]
            for i in range(struct.unpack_from("<I", p, 0)[0]):
                e = 4 + 40 * i
                fn, idx = struct.unpack_from("<II", p, e)
                if fn == 7 and idx == 0:
                    struct.pack_into("<I", p, e + 16, 0xffffffff)  # ebx
    return secs


flip = bytearray(good)
flip[len(flip) // 2] ^= 0x10
cases = [
    ("a bit flipped in the state file", bytes(flip), "checksum mismatch"),
    ("a truncated state file", good[:len(good) - 100], "truncated"),
    ("another format version", build(sections(good), version=4), "format version 4 is not supported"),
    ("an empty state file", b"", "state file size 0 is out of range"),
    ("CPU features this host lacks", build(all_features(sections(good))), "features this host's KVM lacks"),
    ("a missing vCPU section", build([s for s in sections(good) if s[0] != "vcpu.1"]), "no \"vcpu.1\" section"),
]
for i, (desc, data, msg) in enumerate(cases):
    d = f"{work}/bad{i}"
    os.mkdir(d)
    os.link(f"{snap1}/ram", f"{d}/ram")
    os.link(f"{snap1}/disk.0", f"{d}/disk.0")
    with open(f"{d}/state", "wb") as f:
        f.write(data)
    cases[i] = (desc, d, msg, [])

d = f"{work}/noram"
os.mkdir(d)
shutil.copy(f"{snap1}/state", d)
os.link(f"{snap1}/disk.0", f"{d}/disk.0")
cases.append(("a missing RAM file", d, "snapshot RAM file ram: No such file", []))
d = f"{work}/badram"
os.mkdir(d)
shutil.copy(f"{snap1}/state", d)
os.link(f"{snap1}/disk.0", f"{d}/disk.0")
subprocess.run(["cp", "--sparse=always", f"{snap1}/ram", f"{d}/ram"], check=True)
with open(f"{d}/ram", "r+b") as f:
    f.seek(0x100000 + 123)  # the kernel's first page: never zero
    byte = f.read(1)
    f.seek(0x100000 + 123)
    f.write(bytes([byte[0] ^ 1]))
cases.append(("a corrupt RAM file", d, "snapshot RAM file ram is corrupt", []))
d = f"{work}/shortram"
os.mkdir(d)
shutil.copy(f"{snap1}/state", d)
os.link(f"{snap1}/disk.0", f"{d}/disk.0")
subprocess.run(["cp", "--sparse=always", f"{snap1}/ram", f"{d}/ram"], check=True)
os.truncate(f"{d}/ram", 64 << 20)
cases.append(("a truncated RAM file", d, "the snapshot says 134217728", []))
cases.append(("another device set (no input devices)", snap1, "differs from this VM's", ["--no-input"]))
disk2 = f"{out}/disk2.raw"
os.truncate(os.open(disk2, os.O_CREAT | os.O_WRONLY, 0o600), 16 << 20)
cases.append(("another device set (one more disk)", snap1, "the snapshot has 1 disks, this VM 2",
              ["--disk", f"{disk2},format=raw"]))
d = f"{work}/nolayer"
os.mkdir(d)
shutil.copy(f"{snap1}/state", d)
os.link(f"{snap1}/ram", f"{d}/ram")
cases.append(("a missing disk layer", d, "its disk layer " + d + "/disk.0 is missing", []))
subprocess.run([img, "create", "-f", "qcow2", "-b", base_img, "-F", "raw", f"{work}/other.qcow2"], check=True)
cases.append(("a disk that is not an overlay on the snapshot's layer", snap1, "is not an overlay on the snapshot's "
              "disk layer", ["--disk", f"{work}/other.qcow2,format=qcow2"]))
cases.append(("a raw disk where the snapshot captured one", snap1, "must be a writable qcow2 overlay",
              ["--disk", f"{base_img},format=raw"]))
cases.append(("another framebuffer size", snap1, "a 640x480 framebuffer in the snapshot, 800x600 here",
              ["--framebuffer", "800x600"]))
cases.append(("a virtio-gpu where the snapshot had the VESA framebuffer", snap1, "differs from this VM's",
              ["--display", "virtio-gpu"]))

for i, (desc, d, msg, extra) in enumerate(cases):
    dev = devices(f"bad{i}.qcow2")
    if extra[:1] == ["--disk"] and "one more" not in desc:
        dev = dev[2:]  # this disk instead
    args = ["--restore", d, "--console", f"{out}/bad.console"] + dev + extra
    r = subprocess.run([vm] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    err = r.stderr.decode(errors="replace")
    check(f"refused: {desc}", r.returncode == 1 and msg in err and "event=restoring" not in err,
          f"status {r.returncode}, stderr: {err.strip()[-400:]}")
    check(f"refused: {desc}: the guest never ran", text(f"{out}/bad.console") == "")

for p in procs:
    if p.poll() is None:
        p.kill()
shutil.rmtree(work, ignore_errors=True)
finish()
