#!/usr/bin/python3
"""tests/vmm/net-lab.py VDI_VM KERNEL INITRD OUTDIR [TAP_HELPER]

The virtio-net checks of issue 13 that need /dev/kvm, run by
tests/vmm/net.sh through tests/lab/needs-kvm (one lab boot for all). In
network namespaces made here:

  ns vdinet-host: bridge br-a (with a veth to ns vdinet-peer, 10.77.1.1)
                  bridge br-b (nothing else on it)
  guest A  tap ta1 on br-a, opened by vdi-vm by name     10.77.1.10
  guest B  tap on br-a, created by vdi-hostd's code (TAP_HELPER) or by
           this script, passed as an fd                  10.77.1.20
  guest C  tap tc1 on br-b                               10.77.1.30

Checks: each guest sees eth0 with the MAC given; the link is up; A pings
the peer and B; B pings A; A sends 4 MiB over TCP to the peer and gets
3 MiB back, CRC-32 compared on both sides; B sends 2 MiB to A (A
listening), CRCs compared; C (same subnet, other bridge) reaches neither
the peer nor A. All guests power off by themselves (vdi-vm exits 0).

br-a filters VLANs: its ports are untagged members of VLAN 10 only.
With TAP_HELPER (tests/hostd/net-tap): B's tap is made by hostd/net.c
(on br-a, VLAN 10 untagged), and the helper checks it is gone after the
VM exits.

Prints TAP-ish "ok"/"not ok" lines; exit 0 when all passed.
"""
import fcntl
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib

vm, kernel, initrd, out = sys.argv[1:5]
helper = sys.argv[5] if len(sys.argv) > 5 else ""
LIMIT = int(os.environ.get("VMM_BOOT_TIMEOUT", "400"))
H, P = "vdinet-host", "vdinet-peer"
labtap_path = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, labtap_path)
import labtap  # noqa: E402
from labtap import check  # noqa: E402


def sh(*cmd, ns=None, check_rc=True):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stdout.strip()}")
    return r.stdout


# ---- peer mode: a TCP server in ns vdinet-peer ----
if len(sys.argv) > 1 and sys.argv[1] == "--peer":
    port, reply_mb, result = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    print("ready", flush=True)
    c, _ = srv.accept()
    t0 = time.time()
    crc, total = 0, 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        crc = zlib.crc32(b, crc)
        total += len(b)
    t1 = time.time()
    data = bytes((i * 13 + 7) & 0xFF for i in range(1 << 16)) * (reply_mb * 16)
    c.sendall(data)
    c.close()
    with open(result, "w") as f:
        f.write(f"recv={total} recv_crc={crc:08x} sent={len(data)} sent_crc={zlib.crc32(data):08x} "
                f"recv_s={t1 - t0:.3f}\n")
    sys.exit(0)

# ---- topology ----
# The lab's kernel has these as modules; request_module from inside a
# namespace is not reliable, so load them first.
for mod in ("tun", "bridge", "veth"):
    r = subprocess.run(["modprobe", mod], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"))
    if r.returncode != 0:
        print(f"# modprobe {mod}: {r.stdout.strip()}", flush=True)
for ns in (H, P):
    sh("ip", "netns", "del", ns, check_rc=False)
sh("ip", "netns", "add", H)
sh("ip", "netns", "add", P)
for br in ("br-a", "br-b"):
    sh("ip", "link", "add", br, "type", "bridge", ns=H)
    sh("ip", "link", "set", br, "up", ns=H)
sh("ip", "link", "add", "va", "type", "veth", "peer", "name", "eth0", "netns", P, ns=H)
sh("ip", "link", "set", "va", "master", "br-a", "up", ns=H)
sh("ip", "addr", "add", "10.77.1.1/24", "dev", "eth0", ns=P)
sh("ip", "link", "set", "eth0", "up", ns=P)
sh("ip", "link", "set", "lo", "up", ns=P)
for tap, br in (("ta1", "br-a"), ("tc1", "br-b")):
    sh("ip", "tuntap", "add", "dev", tap, "mode", "tap", ns=H)
    sh("ip", "link", "set", tap, "master", br, "up", ns=H)


def vlan10(port):
    """port: untagged member of VLAN 10 only (as hostd/net.c does)."""
    sh("bridge", "vlan", "add", "dev", port, "vid", "10", "pvid", "untagged", ns=H)
    sh("bridge", "vlan", "del", "dev", port, "vid", "1", ns=H)


# br-a carries the desktops' VLAN 10 untagged on every port.
sh("ip", "link", "set", "br-a", "type", "bridge", "vlan_filtering", "1", ns=H)
vlan10("va")
vlan10("ta1")
check("namespaces, bridges (br-a with VLAN 10), veth and taps made", True)

peer_result = f"{out}/peer.result"
peer = subprocess.Popen(["ip", "netns", "exec", P, sys.executable, sys.argv[0], "--peer", "5001", "3", peer_result],
                        stdout=subprocess.PIPE, text=True)
peer.stdout.readline()

MAC = {"a": "02:56:44:00:00:0a", "b": "02:56:44:00:00:0b", "c": "02:56:44:00:00:0c"}


def guest(name, net, params, pass_fds=(), prefix=()):
    cmdline = "console=ttyS0 quiet agent.action=nettest " + params
    console = open(f"{out}/{name}.console", "wb")
    err = open(f"{out}/{name}.err", "wb")
    args = list(prefix) + ["ip", "netns", "exec", H, vm, "--kernel", kernel, "--initrd", initrd, "--cpus", "1",
                           "--memory", "128", "--no-input", "--net", net, "--cmdline", cmdline]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=console, stderr=err, pass_fds=pass_fds)


procs = {}
procs["a"] = guest("a", f"tap=ta1,mac={MAC['a']}",
                   "agent.ip=10.77.1.10/24 agent.listen=6000 agent.ping=10.77.1.1,10.77.1.20 "
                   "agent.tcp=10.77.1.1:5001 agent.tcp_mb=4")
b_params = "agent.ip=10.77.1.20/24 agent.ping=10.77.1.10 agent.tcp=10.77.1.10:6000 agent.tcp_mb=2"
if helper:
    # hostd's code makes the tap on br-a and hands vdi-vm its fd.
    procs["b"] = guest("b", f"fd=3,mac={MAC['b']}", b_params,
                       prefix=["ip", "netns", "exec", H, helper, "tb1", "br-a", "10", "--"])
    # The bridge gives a new port VLAN 1 first; hostd's code then moves it
    # to VLAN 10 only: wait for that state, not for the first PVID seen.
    def vlan10_only(vl):
        return (re.search(r"\b10 PVID Egress Untagged", vl) is not None
                and not re.search(r"\s1( PVID|\s|$)", vl.split("tb1", 1)[-1]))
    vl = ""
    for _ in range(100):
        vl = sh("bridge", "vlan", "show", "dev", "tb1", ns=H, check_rc=False)
        if vlan10_only(vl):
            break
        time.sleep(0.1)
    check("hostd's tap: on br-a, untagged in VLAN 10 only", vlan10_only(vl), vl)
else:
    TUNSETIFF = 0x400454CA
    tfd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tfd, TUNSETIFF, struct.pack("16sH", b"", 0x0002 | 0x1000))  # IFF_TAP | IFF_NO_PI
    # The tap lives in the namespace that opened /dev/net/tun: the lab's root.
    name = struct.unpack("16sH", fcntl.ioctl(tfd, 0x800454D2, b"\0" * 18))[0].rstrip(b"\0").decode()
    sh("ip", "link", "set", name, "netns", H)
    sh("ip", "link", "set", name, "master", "br-a", "up", ns=H)
    vlan10(name)
    os.dup2(tfd, 3, inheritable=True)
    procs["b"] = guest("b", f"fd=3,mac={MAC['b']}", b_params, pass_fds=(3,))
    os.close(3)
    os.close(tfd)
procs["c"] = guest("c", f"tap=tc1,mac={MAC['c']}", "agent.ip=10.77.1.30/24 agent.noping=10.77.1.1,10.77.1.10")

end = time.time() + LIMIT
status = {}
for k, p in procs.items():
    try:
        status[k] = p.wait(timeout=max(1, end - time.time()))
    except subprocess.TimeoutExpired:
        p.kill()
        status[k] = "timeout"
try:
    peer.wait(timeout=5)
except subprocess.TimeoutExpired:
    peer.kill()


def console(name):
    with open(f"{out}/{name}.console", "rb") as f:
        return f.read().decode(errors="replace").replace("\r", "")


def field(text, pattern):
    m = re.search(pattern, text, re.M)
    return m.groups() if m else None


for k in "abc":
    t = console(k)
    check(f"guest {k}: vdi-vm exited 0 after the guest powered off", status[k] == 0,
          f"status {status[k]}; see {out}/{k}.err: " + open(f"{out}/{k}.err").read()[-800:])
    check(f"guest {k}: eth0 has the MAC given", f"AGENT net dev=eth0 present=1 mac={MAC[k]}" in t,
          "\n".join(l for l in t.splitlines() if l.startswith("AGENT"))[-600:])
    check(f"guest {k}: link up with its address", re.search(r"^AGENT net up ip=10\.77\.1\.\d+/24 carrier=1$", t, re.M)
          is not None)
    check(f"guest {k}: no agent errors", "AGENT error" not in t,
          "\n".join(l for l in t.splitlines() if "AGENT error" in l))

ta, tb, tc = console("a"), console("b"), console("c")
check("A pings the peer on its bridge", "AGENT net ping ip=10.77.1.1 reply=1" in ta)
check("A pings B (two desktops on one bridge)", "AGENT net ping ip=10.77.1.20 reply=1" in ta)
check("B pings A", "AGENT net ping ip=10.77.1.10 reply=1" in tb)
check("C (other bridge) does not reach the peer", "AGENT net ping ip=10.77.1.1 reply=0" in tc)
check("C (other bridge) does not reach A", "AGENT net ping ip=10.77.1.10 reply=0" in tc)

gtcp = field(ta, r"^AGENT net tcp peer=10\.77\.1\.1:5001 sent=(\d+) sent_crc=(\w+) recv=(-?\d+) recv_crc=(\w+) "
                 r"send_s=([\d.]+) mbs=([\d.]+)")
try:
    pres = dict(kv.split("=") for kv in open(peer_result).read().split())
except OSError:
    pres = {}
check("A -> peer: 4 MiB arrived intact (CRC-32 on both sides)",
      gtcp is not None and pres.get("recv") == gtcp[0] == str(4 << 20) and pres.get("recv_crc") == gtcp[1],
      f"guest {gtcp} peer {pres}")
check("peer -> A: 3 MiB arrived intact",
      gtcp is not None and pres.get("sent") == gtcp[2] == str(3 << 20) and pres.get("sent_crc") == gtcp[3],
      f"guest {gtcp} peer {pres}")
if gtcp:
    print(f"# A -> peer {gtcp[5]} MB/s round trip (nested KVM under TCG: relative only)")
btcp = field(tb, r"^AGENT net tcp peer=10\.77\.1\.10:6000 sent=(\d+) sent_crc=(\w+)")
acc = field(ta, r"^AGENT net accepted recv=(\d+) crc=(\w+)")
check("B -> A: 2 MiB over TCP between two desktops, intact",
      btcp is not None and acc is not None and btcp[0] == acc[0] == str(2 << 20) and btcp[1] == acc[1],
      f"B {btcp} A {acc}")

links = sh("ip", "-o", "link", "show", ns=H)
check("the tap passed as an fd is gone with its VM", "tb1" not in links and not re.search(r"\btap\d+", links), links)

for ns in (H, P):
    sh("ip", "netns", "del", ns, check_rc=False)
print(f"1..{labtap.count}")
sys.exit(1 if labtap.failed else 0)
