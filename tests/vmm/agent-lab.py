#!/usr/bin/python3
"""tests/vmm/agent-lab.py VDI_VM CLIP RDP_CLIP KERNEL INITRD OUTDIR — the
agent console with a real Linux guest (run by tests/vmm/agent.sh through
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
- then a real RDP client (tests/rdp/clip, FreeRDP's client library with
  cliprdr) connects to the same vdi-vm: the agent port moves to RDP, the
  guest's text arrives as CF_UNICODETEXT and the client's reaches the
  guest, non-ASCII both ways;
- vdi-vm (ASan build) stops cleanly;
- a second guest under vdi-vm --clipboard none (a pool with the clipboard
  off): the SPICE client and then the RDP client get nothing from the
  guest, and the guest nothing from either.
Prints TAP lines; exits 0 when all passed."""
import os
import re
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labtap import LIMIT, ask, check, finish, text, wait_for  # noqa: E402

vm, clip, rdp_clip, kernel, initrd, out = sys.argv[1:7]
src = os.environ.get("abs_top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
GUEST_TEXT = "Ticket #4711 – Grüße aus dem Gast ✓".encode()
CLIENT_TEXT = "vom Client: żółw, 日本語, ½".encode()
RDP_TEXT = "über RDP: Ærø ✓ 𝄞 日本"

pki = f"{out}/pki"
r = subprocess.run([f"{src}/tests/harness/make-pki", pki], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
check("test PKI for the SPICE and RDP servers", r.returncode == 0, r.stdout)



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_vm(tag, *extra, spice=True):
    """A vdi-vm with the agent, SPICE (unless spice is False) and RDP; (proc, control socket, console, log,
    spice port, rdp port)."""
    port, rdp_port = free_port(), free_port()
    work = tempfile.mkdtemp(prefix="vdi-agent-")  # Unix sockets stay off 9p
    sock = f"{work}/control.sock"
    console_path, log_path = f"{out}/{tag}.console", f"{out}/{tag}.log"
    proc = subprocess.Popen(
        [vm, "--kernel", kernel, "--initrd", initrd, "--cpus", "1", "--memory", "256",
         "--cmdline", f"console=ttyS0 quiet agent.action=cliptest agent.clip={GUEST_TEXT.hex()}",
         "--framebuffer", "640x480", "--agent", "--control", sock, "--log-level", "info",
         *(["--spice-port", str(port)] if spice else []), "--rdp-port", str(rdp_port), "--display-listen", "127.0.0.1",
         "--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server.key", "--tls-ca", f"{pki}/ca.pem",
         *extra],
        stdin=subprocess.DEVNULL, stdout=open(console_path, "wb"), stderr=open(log_path, "wb"))
    return proc, sock, console_path, log_path, port, rdp_port


def run_client(tag, argv):
    try:
        c = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=400)
        output, rc = c.stdout, c.returncode
    except subprocess.TimeoutExpired as e:
        output, rc = str(e.stdout), -1
    for line in output.splitlines():
        if "[WARN]" not in line and "[INFO]" not in line:
            print(f"#   {tag}: {line}", flush=True)
    return rc


def stop_vm(proc, sock, log_path):
    ask(sock, {"id": 99, "cmd": "stop"}, timeout=30)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    log = text(log_path)
    check(f"vdi-vm stops cleanly (status {rc})", rc == 0 and "Sanitizer" not in log, log[-2000:])
    return log


def rdp_ticket(sock, password):
    reply = ask(sock, {"id": 3, "cmd": "set-ticket", "protocol": "rdp", "user": "u", "password": password,
                       "expiry_s": 300})
    check("set-ticket rdp", reply is not None and reply.get("ok") is True, str(reply))


def console_has(pattern):
    return re.search(pattern, text(console_path), re.M) is not None


def clip_lines():
    return "\n".join(re.findall(r"^AGENT clip.*$", text(console_path), re.M))


def guest_received(what, data):
    """The guest reported data (bytes) as pasted, and no malformed chunk."""
    want = f"^AGENT clip-received type=1 hex={data.hex()}$"
    check(f"{what} arrived in the guest, byte for byte", wait_for(lambda: console_has(want), proc, timeout=60),
          clip_lines())
    check("the guest agent saw no malformed chunk", not console_has(r"^AGENT error what=vdagent"))


proc, sock, console_path, log_path, port, rdp_port = start_vm("agent")
opened = wait_for(lambda: console_has(r"^AGENT clip-open ") or console_has(r"^AGENT error what=vport"), proc)
check("the guest names the agent ports (virtio_console multiport handshake)",
      console_has(r"^AGENT vport dev=vport\d+p0 name=com\.redhat\.spice\.0$")
      and console_has(r"^AGENT vport dev=vport\d+p1 name=org\.vdi\.agent\.0$"),
      "\n".join(re.findall(r"^AGENT .*$", text(console_path), re.M)[-8:]))
check("the guest's agent opened com.redhat.spice.0", opened and console_has(r"^AGENT clip-open "))

reply = ask(sock, {"id": 1, "cmd": "set-ticket", "protocol": "spice", "user": "u", "password": "clip-ticket",
                   "expiry_s": 300})
check("set-ticket spice", reply is not None and reply.get("ok") is True, str(reply))
clip_rc = run_client("clip", [clip, "--port", str(port), "--ca", f"{pki}/ca.pem", "--password", "clip-ticket",
                             "--guest-text", GUEST_TEXT.hex(), "--client-text", CLIENT_TEXT.hex(), "--timeout", "120"])
check("SPICE client: agent connected, the guest's text arrived, the guest asked for the client's", clip_rc == 0)
guest_received("the client's text", CLIENT_TEXT)

log = stop_vm(proc, sock, log_path)
check("the SPICE server served the agent", "spice_agent_attached" in log, log[-2000:])

# RDP serves the agent port of a vdi-vm without SPICE (with SPICE, SPICE keeps it).
proc, sock, console_path, log_path, port, rdp_port = start_vm("agent-rdp", spice=False)
check("the RDP-only guest's agent opened com.redhat.spice.0",
      wait_for(lambda: console_has(r"^AGENT clip-open ") or console_has(r"^AGENT error what=vport"), proc)
      and console_has(r"^AGENT clip-open "))
rdp_ticket(sock, "rdp-clip-ticket")
rc = run_client("rdp", [rdp_clip, "--port", str(rdp_port), "--user", "u", "--password", "rdp-clip-ticket",
                        "--guest-text", GUEST_TEXT.decode(), "--client-text", RDP_TEXT, "--timeout", "120"])
check("RDP client: the guest's text arrived, the server asked for the client's", rc == 0)
guest_received("the RDP client's text", RDP_TEXT.encode())

log = stop_vm(proc, sock, log_path)
check("the RDP server served the agent", "rdp_agent_attached" in log, log[-2000:])

# A pool with the clipboard off: nothing either way.
proc, sock, console_path, log_path, port, rdp_port = start_vm("agent-none", "--clipboard", "none")
check("the second guest's agent opened com.redhat.spice.0",
      wait_for(lambda: console_has(r"^AGENT clip-open ") or console_has(r"^AGENT error what=vport"), proc)
      and console_has(r"^AGENT clip-open "))
reply = ask(sock, {"id": 4, "cmd": "set-ticket", "protocol": "spice", "user": "u", "password": "none-ticket",
                   "expiry_s": 300})
check("set-ticket spice (second guest)", reply is not None and reply.get("ok") is True, str(reply))
rc = run_client("clip-none", [clip, "--port", str(port), "--ca", f"{pki}/ca.pem", "--password", "none-ticket",
                              "--client-text", CLIENT_TEXT.hex(), "--nothing", "8", "--timeout", "120"])
check("clipboard none: the SPICE client got nothing and was asked for nothing", rc == 0)
rdp_ticket(sock, "rdp-none-ticket")
rc = run_client("rdp-none", [rdp_clip, "--port", str(rdp_port), "--user", "u", "--password", "rdp-none-ticket",
                             "--client-text", RDP_TEXT, "--nothing", "8", "--timeout", "120"])
check("clipboard none: the RDP client got nothing and was asked for nothing", rc == 0)
check("clipboard none: the guest's grab was offered (the agent was served)",
      console_has(r"^AGENT clip-grabbed ") and "spice_agent_attached" in text(log_path), clip_lines())
check("clipboard none: nothing reached the guest, not even a request for its text",
      not console_has(r"^AGENT clip-received ") and not console_has(r"^AGENT clip-sent "), clip_lines())
stop_vm(proc, sock, log_path)
finish()
