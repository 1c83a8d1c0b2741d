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
- vdi-vm's screenshot is the guest's last picture, and vdi-vm stops
  cleanly with no sanitizer report.
Prints TAP lines; exits 0 when all passed."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtap  # noqa: E402
from labtap import ask, check, finish, text  # noqa: E402

vm, client, spice, kernel, initrd, out = sys.argv[1:7]
LIMIT = int(os.environ.get("VMM_BOOT_TIMEOUT", "300"))
SIZES = ["1024x768", "1280x800", "1600x900"]
SPICE_SIZE = "1280x720"
LAST_W, LAST_H = 1280, 720
src = os.environ.get("abs_top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")


def pattern(x, y, w, h, head=0):
    """gpu_pattern() of tests/guest/gpu-pattern.h, as (r, g, b)."""
    return (x * 255 // (w - 1), y * 255 // (h - 1), 0x30 + 0x40 * (head & 3))


def modes():
    return re.findall(r"^AGENT gpu-mode head=0 width=(\d+) height=(\d+)$", text(f"{out}/gpu.console"), re.M)


def run_client(name, argv):
    """Run a client program; its step lines and exit status (-1: timeout)."""
    t0 = time.time()
    try:
        c = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        steps, rc = c.stdout, c.returncode
    except subprocess.TimeoutExpired as e:
        steps, rc = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), -1
    print(f"# {name} ran {time.time() - t0:.1f} s", flush=True)
    for line in steps.splitlines():
        print(f"# {name}: {line}", flush=True)
    return steps, rc


pki = f"{out}/pki"
r = subprocess.run([f"{src}/tests/harness/make-pki", pki], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
check("test PKI for the RDP server", r.returncode == 0, r.stdout)
ports = []
for _ in range(2):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
port, spice_port = ports
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

shot = f"{out}/screen.ppm"
r = ask(sock, {"id": 2, "cmd": "screenshot", "path": shot})
check("screenshot reply", r is not None and r.get("ok") is True, str(r))
try:
    data = open(shot, "rb").read()
    hdr = f"P6\n{LAST_W} {LAST_H}\n255\n".encode()
    px = lambda x, y: tuple(data[len(hdr) + 3 * (y * LAST_W + x): len(hdr) + 3 * (y * LAST_W + x) + 3])
    spots = [(0, 0), (LAST_W - 1, 0), (0, LAST_H - 1), (LAST_W - 1, LAST_H - 1), (640, 360), (123, 456)]
    check(f"screenshot: the guest's {SPICE_SIZE} picture", data.startswith(hdr)
          and all(px(x, y) == pattern(x, y, LAST_W, LAST_H) for x, y in spots),
          str([(px(x, y), pattern(x, y, LAST_W, LAST_H)) for x, y in spots]) if data.startswith(hdr) else str(data[:20]))
except OSError as e:
    check(f"screenshot: the guest's {SPICE_SIZE} picture", False, str(e))

ask(sock, {"id": 3, "cmd": "stop"}, timeout=30)
try:
    rc = proc.wait(timeout=60)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = proc.wait()
log = text(f"{out}/gpu.log")
check(f"vdi-vm exits 0 after a control stop (status {rc})", rc == 0)
check("no sanitizer report from vdi-vm", "Sanitizer" not in log, log[-3000:])
check("the tickets are not logged", "gpu-secret" not in log and "gpu-spice-secret" not in log)
console = text(f"{out}/gpu.console")
check("no agent errors", "AGENT error" not in console,
      "; ".join(l for l in console.splitlines() if "AGENT error" in l))
if labtap.failed:
    for name in ("gpu.log", "gpu.console"):
        print(f"# --- {name}")
        for line in text(f"{out}/{name}").splitlines()[-60:]:
            print(f"#   {line}")
finish()
