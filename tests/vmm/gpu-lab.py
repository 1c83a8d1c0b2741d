#!/usr/bin/python3
"""tests/vmm/gpu-lab.py VDI_VM GPU_CLIENT GPU_SPICE KERNEL INITRD OUTDIR — the
virtio-gpu checks that need /dev/kvm (run by tests/vmm/gpu.sh through
tests/lab/needs-kvm, one lab boot):

- vdi-vm --display virtio-gpu --framebuffer 1024x768 with the RDP and
  SPICE servers (lossless) and the agent console boots the test guest's
  gputest action: virtio_gpu loads and its first head takes 1024x768
  through DRM/KMS; it holds the SPICE agent port open;
- FreeRDP's client library (tests/vmm/gpu-client) receives exactly the
  guest's picture, then resizes through the display control channel to
  1280x800 and to 1600x900: each time the guest reports the new mode and
  the client receives exactly the guest's picture of that size (the time
  from the request to that picture is printed);
- spice-client-glib (tests/vmm/gpu-spice) then sends the monitors config
  remote-viewer sends for a 1280x720 window: the guest takes 1280x720 and
  the SPICE client receives exactly its picture;
- vdi-vm's screenshot is the guest's last picture;
- a snapshot of that VM (issue 20: its virtio-gpu resources, scanout and
  layout) restores into a new vdi-vm, which shows the same picture at
  once (its screenshot, before any client and without the guest drawing
  again); an RDP client receives exactly that picture, then asks for
  1024x768, which the restored guest's driver takes and draws;
- each vdi-vm stops cleanly with no sanitizer report.
Prints TAP lines; exits 0 when all passed."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtap  # noqa: E402
from labtap import ask, check, finish, free_port, run_client, text  # noqa: E402

vm, client, spice, kernel, initrd, out = sys.argv[1:7]
LIMIT = int(os.environ.get("VMM_BOOT_TIMEOUT", "300"))
SIZES = ["1024x768", "1280x800", "1600x900"]
SPICE_SIZE = "1280x720"
LAST_W, LAST_H = 1280, 720
src = os.environ.get("abs_top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")


def pattern(x, y, w, h, head=0):
    """gpu_pattern() of tests/guest/gpu-pattern.h, as (r, g, b)."""
    return (x * 255 // (w - 1), y * 255 // (h - 1), 0x30 + 0x40 * (head & 3))


def modes(name="gpu"):
    return re.findall(r"^AGENT gpu-mode head=0 width=(\d+) height=(\d+)$", text(f"{out}/{name}.console"), re.M)


def check_screenshot(what, sock, w, h):
    shot = f"{out}/{what.split()[0]}.ppm"
    r = ask(sock, {"id": 2, "cmd": "screenshot", "path": shot})
    check(f"{what}: screenshot reply", r is not None and r.get("ok") is True, str(r))
    try:
        data = open(shot, "rb").read()
        hdr = f"P6\n{w} {h}\n255\n".encode()
        px = lambda x, y: tuple(data[len(hdr) + 3 * (y * w + x): len(hdr) + 3 * (y * w + x) + 3])
        ok = data.startswith(hdr) and len(data) == len(hdr) + 3 * w * h
        # Every 5th pixel of every 5th row and the last row and column (the
        # lab's Python is slow), which the pattern makes all distinct.
        spots = [(x, y) for y in list(range(0, h, 5)) + [h - 1] for x in list(range(0, w, 5)) + [w - 1]]
        bad = sum(px(x, y) != pattern(x, y, w, h) for x, y in spots) if ok else -1
        check(f"{what}: screenshot: the guest's {w}x{h} picture ({len(spots)} pixels checked)", bad == 0,
              f"{bad} pixels off the pattern" if ok else str(data[:20]))
    except OSError as e:
        check(f"{what}: screenshot: the guest's {w}x{h} picture", False, str(e))


def stop(what, proc, sock, name):
    ask(sock, {"id": 3, "cmd": "stop"}, timeout=30)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    log = text(f"{out}/{name}.log")
    check(f"{what}: vdi-vm exits 0 after a control stop (status {rc})", rc == 0)
    check(f"{what}: no sanitizer report from vdi-vm", "Sanitizer" not in log, log[-3000:])
    check(f"{what}: the tickets are not logged", "gpu-secret" not in log and "gpu-spice-secret" not in log)
    console = text(f"{out}/{name}.console")
    check(f"{what}: no agent errors", "AGENT error" not in console,
          "; ".join(l for l in console.splitlines() if "AGENT error" in l))


pki = f"{out}/pki"
r = subprocess.run([f"{src}/tests/harness/make-pki", pki], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
check("test PKI for the RDP server", r.returncode == 0, r.stdout)
port, spice_port = free_port(), free_port()
# Unix sockets cannot live on the lab's 9p shares.
sock = f"{tempfile.mkdtemp(prefix='vdi-gpu-')}/control.sock"
proc = subprocess.Popen(
    [vm, "--kernel", kernel, "--initrd", initrd, "--cpus", "1", "--memory", "256",
     "--cmdline", "console=ttyS0 quiet agent.action=gputest",
     "--display", "virtio-gpu", "--framebuffer", SIZES[0], "--control", sock,
     "--agent", "--log-level", "info",
     "--rdp-port", str(port), "--spice-port", str(spice_port), "--display-listen", "127.0.0.1", "--display-lossless",
     "--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server.key", "--tls-ca", f"{pki}/ca.pem"],
    stdin=subprocess.DEVNULL, stdout=open(f"{out}/gpu.console", "wb"), stderr=open(f"{out}/gpu.log", "wb"))

end = time.time() + LIMIT
while time.time() < end and proc.poll() is None and not modes():
    time.sleep(0.2)
console = text(f"{out}/gpu.console")
check("the guest loaded virtio_gpu and found its heads", re.search(r"^AGENT gpu-ready connectors=[1-9]", console, re.M)
      is not None, console[-2000:])
check("the guest's first head took 1024x768 (the --framebuffer size)", modes()[:1] == [("1024", "768")], str(modes()))

r = ask(sock, {"id": 1, "cmd": "set-ticket", "protocol": "rdp", "user": "alice", "password": "gpu-secret",
               "expiry_s": 600})
check("set-ticket rdp", r is not None and r.get("ok") is True, str(r))
steps, rc = run_client("client", [client, str(port), "alice", "gpu-secret"] + SIZES)
for i, size in enumerate(SIZES):
    m = re.search(rf"^step {size} ok ms=(\d+)$", steps, re.M)
    what = "the first picture" if i == 0 else f"after a resize to {size}"
    check(f"RDP client: {what}, exactly the guest's {size} picture" + (f" ({m.group(1)} ms)" if m else ""),
          m is not None, steps[-1500:])
check("the client exits 0", rc == 0, f"status {rc}")

r = ask(sock, {"id": 4, "cmd": "set-ticket", "protocol": "spice", "user": "alice", "password": "gpu-spice-secret",
               "expiry_s": 600})
check("set-ticket spice", r is not None and r.get("ok") is True, str(r))
steps, rc = run_client("SPICE client", [spice, str(spice_port), "gpu-spice-secret", f"{pki}/ca.pem", SPICE_SIZE])
check("SPICE client: TLS, the ticket and the guest's agent port",
      re.search(r"^step agent ok", steps, re.M) is not None, steps[-1500:])
m = re.search(rf"^step {SPICE_SIZE} ok ms=(\d+)$", steps, re.M)
check(f"SPICE client: after its monitors config, exactly the guest's {SPICE_SIZE} picture"
      + (f" ({m.group(1)} ms)" if m else ""), m is not None and rc == 0, steps[-1500:])
check("the guest took each mode in turn", [f"{w}x{h}" for w, h in modes()] == SIZES + [SPICE_SIZE], str(modes()))
check("vdi-vm logged the SPICE layout request",
      re.search(rf"spice_layout_request .*width={LAST_W} height={LAST_H} result=asked", text(f"{out}/gpu.log"))
      is not None)

check_screenshot("A", sock, LAST_W, LAST_H)

# ---- issue 20: snapshot the virtio-gpu VM, restore it into a new vdi-vm ----
snapdir = f"{tempfile.mkdtemp(prefix='vdi-gpusnap-')}/snap"  # MAP_PRIVATE RAM: off the 9p share
t0 = time.time()
r = ask(sock, {"id": 5, "cmd": "snapshot", "dir": snapdir})
check("snapshot of the virtio-gpu VM answers ok", r is not None and r.get("ok") is True, str(r))
print(f"# snapshot: {time.time() - t0:.1f} s, reply {r}", flush=True)
stop("A", proc, sock, "gpu")

sock_b = f"{tempfile.mkdtemp(prefix='vdi-gpu-')}/control.sock"
b = subprocess.Popen(
    [vm, "--restore", snapdir, "--display", "virtio-gpu", "--framebuffer", SIZES[0], "--control", sock_b,
     "--agent", "--log-level", "info",
     "--rdp-port", str(port), "--spice-port", str(spice_port), "--display-listen", "127.0.0.1", "--display-lossless",
     "--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server.key", "--tls-ca", f"{pki}/ca.pem"],
    stdin=subprocess.DEVNULL, stdout=open(f"{out}/gpu-restored.console", "wb"),
    stderr=open(f"{out}/gpu-restored.log", "wb"))
# A restore checks the RAM file before it starts (slow in the lab under
# load), and its control socket answers before the devices are loaded:
# wait for its vCPUs.
end = time.time() + LIMIT
while time.time() < end and b.poll() is None and "event=started" not in text(f"{out}/gpu-restored.log"):
    time.sleep(0.2)
check("B (restored): vdi-vm --restore resumed the guest", "event=started" in text(f"{out}/gpu-restored.log"),
      text(f"{out}/gpu-restored.log")[-1500:])
r = ask(sock_b, {"id": 1, "cmd": "set-ticket", "protocol": "rdp", "user": "alice", "password": "gpu-secret",
                 "expiry_s": 600})
check("B (restored): set-ticket rdp", r is not None and r.get("ok") is True,
      str(r) + " " + text(f"{out}/gpu-restored.log")[-1500:])
check_screenshot("B (restored, before any client or flush)", sock_b, LAST_W, LAST_H)
steps, rc = run_client("restored client", [client, str(port), "alice", "gpu-secret", SPICE_SIZE, SIZES[0]])
m = re.search(rf"^step {SPICE_SIZE} ok ms=(\d+)$", steps, re.M)
check(f"B (restored): RDP client: exactly the snapshot's {SPICE_SIZE} picture", m is not None, steps[-1500:])
m = re.search(rf"^step {SIZES[0]} ok ms=(\d+)$", steps, re.M)
check(f"B (restored): after a resize to {SIZES[0]}, exactly the restored guest's new picture"
      + (f" ({m.group(1)} ms)" if m else ""), m is not None and rc == 0, steps[-1500:])
check(f"B (restored): the restored guest's driver took {SIZES[0]}", modes("gpu-restored")[-1:] == [("1024", "768")],
      str(modes("gpu-restored")))
check_screenshot("B (restored, after the resize)", sock_b, 1024, 768)
stop("B (restored)", b, sock_b, "gpu-restored")
shutil.rmtree(os.path.dirname(snapdir), ignore_errors=True)
if labtap.failed:
    for name in ("gpu.log", "gpu.console", "gpu-restored.log", "gpu-restored.console"):
        print(f"# --- {name}")
        for line in text(f"{out}/{name}").splitlines()[-60:]:
            print(f"#   {line}")
finish()
