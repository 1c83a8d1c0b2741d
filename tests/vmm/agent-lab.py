#!/usr/bin/python3
"""tests/vmm/agent-lab.py VDI_VM CLIP KERNEL INITRD OUTDIR — the agent
console with a real Linux guest (run by tests/vmm/agent.sh through
tests/lab/needs-kvm, one lab boot):

- vdi-vm --agent gives the guest a virtio-console; Linux's virtio_console
  driver does the multiport handshake and names its ports
  com.redhat.spice.0 and org.vdi.agent.0 (/sys/class/virtio-ports);
- the agent's "cliptest" action (tests/guest/agent.c) opens
  com.redhat.spice.0 and speaks the guest side of the SPICE agent
  protocol; vdi-vm serves the port as SPICE's vdagent device;
- a real SPICE client (tests/spice/clip, spice-client-glib) sees the agent,
  receives the text the guest copied, and the guest receives the text the
  client copied; both texts are not ASCII;
- vdi-vm (ASan build) stops cleanly.
Prints TAP lines; exits 0 when all passed."""
import os
import re
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labtap import LIMIT, ask, check, finish, text, wait_for  # noqa: E402

vm, clip, kernel, initrd, out = sys.argv[1:6]
src = os.environ.get("abs_top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
GUEST_TEXT = "Ticket #4711 – Grüße aus dem Gast ✓".encode()
CLIENT_TEXT = "vom Client: żółw, 日本語, ½".encode()

pki = f"{out}/pki"
r = subprocess.run([f"{src}/tests/harness/make-pki", pki], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
check("test PKI for the SPICE server", r.returncode == 0, r.stdout)

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
work = tempfile.mkdtemp(prefix="vdi-agent-")  # Unix sockets stay off 9p
sock = f"{work}/control.sock"
console_path = f"{out}/agent.console"
log_path = f"{out}/agent.log"
proc = subprocess.Popen(
    [vm, "--kernel", kernel, "--initrd", initrd, "--cpus", "1", "--memory", "256",
     "--cmdline", f"console=ttyS0 quiet agent.action=cliptest agent.clip={GUEST_TEXT.hex()}",
     "--framebuffer", "640x480", "--agent", "--control", sock, "--log-level", "info",
     "--spice-port", str(port), "--display-listen", "127.0.0.1",
     "--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server.key", "--tls-ca", f"{pki}/ca.pem"],
    stdin=subprocess.DEVNULL, stdout=open(console_path, "wb"), stderr=open(log_path, "wb"))


def console_has(pattern):
    return re.search(pattern, text(console_path), re.M) is not None


opened = wait_for(lambda: console_has(r"^AGENT clip-open ") or console_has(r"^AGENT error what=vport"), proc)
check("the guest names the agent ports (virtio_console multiport handshake)",
      console_has(r"^AGENT vport dev=vport\d+p0 name=com\.redhat\.spice\.0$")
      and console_has(r"^AGENT vport dev=vport\d+p1 name=org\.vdi\.agent\.0$"),
      "\n".join(re.findall(r"^AGENT .*$", text(console_path), re.M)[-8:]))
check("the guest's agent opened com.redhat.spice.0", opened and console_has(r"^AGENT clip-open "))

reply = ask(sock, {"id": 1, "cmd": "set-ticket", "protocol": "spice", "user": "u", "password": "clip-ticket",
                   "expiry_s": 300})
check("set-ticket spice", reply is not None and reply.get("ok") is True, str(reply))
try:
    c = subprocess.run([clip, "--port", str(port), "--ca", f"{pki}/ca.pem", "--password", "clip-ticket",
                        "--guest-text", GUEST_TEXT.hex(), "--client-text", CLIENT_TEXT.hex(), "--timeout", "120"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=400)
    clip_out, clip_rc = c.stdout, c.returncode
except subprocess.TimeoutExpired as e:
    clip_out, clip_rc = str(e.stdout), -1
for line in clip_out.splitlines():
    print(f"#   clip: {line}", flush=True)
check("SPICE client: agent connected, the guest's text arrived, the guest asked for the client's", clip_rc == 0)
want = f"^AGENT clip-received type=1 hex={CLIENT_TEXT.hex()}$"
check("the client's text arrived in the guest, byte for byte",
      wait_for(lambda: console_has(want), proc, timeout=60),
      "\n".join(re.findall(r"^AGENT clip.*$", text(console_path), re.M)))
check("the guest agent saw no malformed chunk", not console_has(r"^AGENT error what=vdagent"))

ask(sock, {"id": 2, "cmd": "stop"}, timeout=30)
try:
    rc = proc.wait(timeout=120)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = proc.wait()
log = text(log_path)
check(f"vdi-vm stops cleanly (status {rc})", rc == 0 and "Sanitizer" not in log, log[-2000:])
check("the SPICE server served the agent", "spice_agent_attached" in log, log[-2000:])
finish()
