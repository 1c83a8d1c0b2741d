#!/usr/bin/python3
"""tests/vmm/clones-lab.py VDI_VM CLONE_CLIENT KERNEL INITRD OUTDIR — "Ten
clones from one parent" (issue 20), the checks that need /dev/kvm, in one
lab boot (run by tests/vmm/clones.sh through tests/lab/needs-kvm):

- a parent guest (the agent's "counter" action, a virtio-net card on a tap,
  the agent console) counts, reports its identity ("ident") and is
  snapshotted, then stopped;
- ten clones are restored from that snapshot side by side, each with its
  own --net MAC, --clone-hostname and --clone-machine-id (clone 0 also
  with an explicit --vmgenid, the others with vdi-vm's random one);
- each clone: boots no kernel (no "Linux version", no "AGENT ready" on its
  console), counts on from the parent, reports "AGENT cloned" with the
  host name, machine ID and MAC it was given (read back in the guest),
  hears the VM generation ID change (the kernel logs that it reseeded its
  RNG for a VM fork; the agent sees that in /dev/kmsg; the driver's
  NEW_VMGENID uevents are counted and printed, not required), sees its
  link go down and up, and once the agent has set its clock from vdi-vm's
  answer to its time request, the wall clock is right within 1 s (the
  parent's offset from the lab's clock is printed: the nested lab's
  guests come up tens of seconds off, and a fork keeps its parent's);
- the ten have distinct MACs, VM generation IDs, host names, machine IDs
  and /dev/urandom output, and none logs a soft lockup;
- their memory is shared: the sum of their guest-RAM PSS is below 3x one
  clone's guest-RAM RSS (whole-process figures printed);
- with VDI_CLONES_RDP=1, each serves its own pixels over RDP and takes its own typing, with no
  cross-talk: FreeRDP's client library (tests/vmm/clone-client) visits the
  ten, five at a time (a ticket each), sees that clone's own colour band (its host
  name's, tests/guest/clone-pattern.h) on the 640x480 VESA framebuffer,
  types a key of its own and sees it drawn; afterwards every clone's
  console shows exactly one key press, its own, and its screenshot its
  own band and that one key cell.
Prints TAP lines; exits 0 when all passed."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labtap import LIMIT, ask, check, counts, finish, free_port, run_client, text, wait_for  # noqa: E402

vm, client, kernel, initrd, out = sys.argv[1:6]
# The RDP half only with VDI_CLONES_RDP=1: in the nested lab each RDP logon
# costs about a minute of the lab's one vCPU (ASan FreeRDP on both sides
# under TCG), ten of them 9-15 min at the loads seen so far, more than the
# test command's time budget allows until that cost comes down.
RDP = os.environ.get("VDI_CLONES_RDP") == "1"
src = os.environ.get("abs_top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
N = 10
procs = []
work = os.path.realpath(tempfile.mkdtemp(prefix="vdi-clones-"))  # sockets and RAM off 9p
snap = f"{work}/snap"


def start(name, args):
    console = open(f"{out}/{name}.console", "wb")
    log = open(f"{out}/{name}.log", "wb")
    p = subprocess.Popen([vm] + args, stdin=subprocess.PIPE, stdout=console, stderr=log)
    procs.append(p)
    return p


def say(p, line):
    try:
        p.stdin.write(line.encode() + b"\n")
        p.stdin.flush()
    except OSError:
        pass


def idents(name):
    return [dict(re.findall(r"(\w+)=(\S+)", m)) for m in
            re.findall(r"^AGENT ident (.*)$", text(f"{out}/{name}.console"), re.M)]


def ident(p, name, timeout=120):
    """Ask the guest for "AGENT ident": (its fields, host time sent, host
    time seen) or (None, ...)."""
    seen = len(idents(name))
    t_send = time.time()
    say(p, "ident")
    ok = wait_for(lambda: len(idents(name)) > seen, p, timeout)
    t_seen = time.time()
    return (idents(name)[seen] if ok else None), t_send, t_seen


def devices(i):
    return ["--agent", "--framebuffer", "640x480", "--sound", "none", "--net", f"tap=vc{i},mac={mac(i)}"]


def fnv_color(host):
    """clone_ident_color() of tests/guest/clone-pattern.h."""
    h = 2166136261
    for b in host.encode():
        h = ((h ^ b) * 16777619) & 0xffffffff
    return (h & 0xffffff) | 0x404040


def key_code(i):
    return 16 + i  # KEY_Q, KEY_W, ... : set-1 scancodes of the same numbers


def key_color(code):
    return 0xe00060 | (code & 0xff) << 8


def mac(i):
    return "02:56:44:00:01:%02x" % (i if i >= 0 else 0xff)


def machine_id(i):
    return hashlib.md5(f"clone-{i}".encode()).hexdigest()


def rss_pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        s = f.read()
    return (int(re.search(r"^Rss:\s+(\d+) kB", s, re.M).group(1)),
            int(re.search(r"^Pss:\s+(\d+) kB", s, re.M).group(1)))


def ram_rss_pss_kib(pid):
    """Rss and Pss of the guest's RAM: the mapping of the snapshot's RAM
    file (the pages the clone only read are the file's, shared; those it
    wrote are its own copies, in the same mapping)."""
    rss = pss = 0
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = line.rstrip().endswith(f"{snap}/ram")
            elif inside and line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif inside and line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss, pss


# The lab's kernel has tun as a module.
r = subprocess.run(["modprobe", "tun"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                   env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"))
if r.returncode != 0:
    print(f"# modprobe tun: {r.stdout.strip()}", flush=True)

# ---- the parent ----
sock_p = f"{work}/p.sock"
parent = start("parent", ["--kernel", kernel, "--initrd", initrd, "--cpus", "1", "--memory", "128",
                          "--cmdline", "console=ttyS0 agent.action=counter", "--control", sock_p] + devices(-1))
ready = wait_for(lambda: "AGENT clone-listen vport=1" in text(f"{out}/parent.console") and
                 len(counts(f"{out}/parent.console")) >= 5, parent)
check("parent: boots, counts and opens org.vdi.agent.0", ready,
      text(f"{out}/parent.console")[-800:] + text(f"{out}/parent.log")[-400:])
if not ready:
    parent.kill()
    finish()
pid_, pt_send, pt_seen = ident(parent, "parent")
check("parent: reports its identity", pid_ is not None, text(f"{out}/parent.console")[-400:])
pid_ = pid_ or {}
print(f"# parent: guest clock {float(pid_.get('time', 0)) - pt_send:+.1f}..{float(pid_.get('time', 0)) - pt_seen:+.1f} "
      "s off the lab's", flush=True)
min_p = max(counts(f"{out}/parent.console"))
rep = ask(sock_p, {"id": 1, "cmd": "snapshot", "dir": snap})
check("parent: snapshot", rep.get("ok"), str(rep))
ask(sock_p, {"id": 2, "cmd": "stop"}, timeout=60)
parent.wait(timeout=120)
# Read once the parent is gone: its last lines may still have been on their
# way to the file when the snapshot answered.
max_p = max(counts(f"{out}/parent.console"))
if not rep.get("ok"):
    finish()

# ---- ten clones side by side ----
given_genid = "0123456789abcdef" + os.urandom(8).hex()
pki = f"{out}/pki"
rdp_ports = [free_port() for _ in range(N)]
if RDP:
    r = subprocess.run([f"{src}/tests/harness/make-pki", pki], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    check("test PKI for the clones' RDP servers", r.returncode == 0, r.stdout)
else:
    print("# the RDP half (own pixels and typing per clone) is off: VDI_CLONES_RDP=1 runs it", flush=True)
clones = []
t0 = time.time()
for i in range(N):
    extra = ["--vmgenid", given_genid] if i == 0 else []
    clones.append(start(f"c{i}", ["--restore", snap, "--control", f"{work}/c{i}.sock",
                                  "--clone-hostname", f"clone-{i}", "--clone-machine-id", machine_id(i)]
                        + (["--rdp-port", str(rdp_ports[i]), "--display-listen", "127.0.0.1",
                            "--display-lossless", "--tls-cert", f"{pki}/server.pem",
                            "--tls-key", f"{pki}/server.key", "--tls-ca", f"{pki}/ca.pem"] if RDP else [])
                        + devices(i) + extra))
cloned = {}
for i, p in enumerate(clones):
    name = f"c{i}"
    ok = wait_for(lambda: re.search(r"^AGENT cloned ", text(f"{out}/{name}.console"), re.M) and
                  "AGENT vmgenid-changed n=1" in text(f"{out}/{name}.console") and
                  "AGENT clock-set " in text(f"{out}/{name}.console"), p, 2 * LIMIT)  # ten restore at once
    m = re.search(r"^AGENT cloned (.*)$", text(f"{out}/{name}.console"), re.M)
    cloned[i] = dict(re.findall(r"(\w+)=(\S+)", m.group(1))) if m else {}
    check(f"{name}: reports cloned, a changed VM generation ID and a clock set", ok,
          text(f"{out}/{name}.console")[-600:] + text(f"{out}/{name}.log")[-600:])
print(f"# ten clones reported cloned {time.time() - t0:.1f} s after the first start", flush=True)

ids, genids, randoms = {}, {}, {}
for i, p in enumerate(clones):
    name = f"c{i}"
    con = text(f"{out}/{name}.console")
    log = text(f"{out}/{name}.log")
    cc = counts(f"{out}/{name}.console")
    check(f"{name}: no kernel boot (no 'Linux version', no 'AGENT ready' on its console)",
          "Linux version" not in con and "AGENT ready" not in con)
    check(f"{name}: counts on from the parent's snapshot", cc and min_p <= cc[0] <= max_p + 1 and len(cc) >= 2,
          f"{cc[:3]} parent had counted {min_p} before the snapshot, {max_p} at its stop")
    c = cloned.get(i, {})
    check(f"{name}: the guest took its host name, machine ID and MAC",
          c.get("hostname") == f"clone-{i}" and c.get("machine_id") == machine_id(i) and c.get("mac") == mac(i),
          str(c))
    print(f"# {name}: uevents "
          f"{len(re.findall(r'^AGENT vmgenid-uevent ', con, re.M))}", flush=True)
    m = re.search(r"event=started .*origin=fork vmgenid=([0-9a-f]{32})", log)
    genids[i] = m.group(1) if m else None
    check(f"{name}: vdi-vm forked it with a new VM generation ID, the one the agent was told",
          genids[i] and genids[i] == c.get("vmgenid") and (i != 0 or genids[i] == given_genid),
          f"log {genids[i]} agent {c.get('vmgenid')}")
    check(f"{name}: the kernel reseeded its RNG (vmgenid driver)",
          "crng reseeded due to virtual machine fork" in con, con[-400:])
    # The link went down and up (two more carrier changes than the parent's).
    want = int(pid_["carrier_changes"]) + 2 if pid_.get("carrier_changes", "-").isdigit() else 2
    got, t_send, t_seen = None, 0, 0
    end = time.time() + LIMIT
    while time.time() < end:
        got, t_send, t_seen = ident(p, name)
        if not got or not got.get("carrier_changes", "-").isdigit() or int(got["carrier_changes"]) >= want:
            break
        time.sleep(1)
    got = got or {}
    ids[i] = got
    randoms[i] = got.get("random")
    check(f"{name}: its link went down and up (carrier changes {got.get('carrier_changes')}, "
          f"parent {pid_.get('carrier_changes')})",
          got.get("carrier_changes", "-").isdigit() and int(got["carrier_changes"]) >= want)
    gt = float(got.get("time", "0"))
    cs = re.search(r"^AGENT clock-set (.*)$", con, re.M)
    print(f"# {name}: {cs.group(1) if cs else 'no clock-set'}", flush=True)
    check(f"{name}: wall clock right within 1 s (guest {gt:.3f}, host {t_send:.3f}..{t_seen:.3f})",
          t_send - 1 <= gt <= t_seen + 1)
    check(f"{name}: ident still shows the new identity",
          got.get("hostname") == f"clone-{i}" and got.get("mac") == mac(i) and got.get("vmgenid_events") == "1",
          str(got))

check("all ten have distinct MACs", len({ids[i].get("mac") for i in ids}) == N)
check("all ten have distinct host names and machine IDs",
      len({ids[i].get("hostname") for i in ids}) == N and len({ids[i].get("machine_id") for i in ids}) == N)
check("all ten have distinct VM generation IDs", None not in genids.values() and len(set(genids.values())) == N,
      str(genids))
check("all ten read distinct /dev/urandom bytes, none the parent's",
      None not in randoms.values() and len(set(randoms.values())) == N and pid_.get("random") not in randoms.values(),
      str(randoms))
stall = [f"c{i}" for i in range(N) if "rcu: INFO" in text(f"{out}/c{i}.console")]
print(f"# RCU stall warnings (a starved nested lab) in {stall or 'none'}", flush=True)
lock = [f"c{i}" for i in range(N) if "soft lockup" in text(f"{out}/c{i}.console")]
lock += ["parent"] if "soft lockup" in text(f"{out}/parent.console") else []
check("no soft lockup in any console", not lock, str(lock))

# The guest's memory is what clones share. The whole process is printed
# too, but not checked: this vdi-vm is built with ASan, whose shadow and
# allocator add tens of MiB of private memory to every process (with its
# RDP server about 38 MiB here; bench/instant-clone gives release figures).
mem = [rss_pss_kib(p.pid) for p in clones if p.poll() is None]
ram = [ram_rss_pss_kib(p.pid) for p in clones if p.poll() is None]
if len(mem) == N and len(ram) == N:
    for what, m in (("process", mem), ("guest RAM", ram)):
        print(f"# {what}: RSS per clone (KiB) {[r for r, _ in m]}; PSS per clone {[p_ for _, p_ in m]}; "
              f"sum of PSS {sum(p_ for _, p_ in m)} KiB, one clone's (median) RSS {sorted(r for r, _ in m)[N // 2]} "
              f"KiB, ratio {sum(p_ for _, p_ in m) / max(1, sorted(r for r, _ in m)[N // 2]):.2f}", flush=True)
    pss = sum(p_ for _, p_ in ram)
    one = sorted(r for r, _ in ram)[N // 2]
    check(f"shared memory: the sum of the clones' guest-RAM PSS ({pss >> 10} MiB) is below 3x one clone's "
          f"guest-RAM RSS ({one >> 10} MiB)", one > 0 and pss < 3 * one)
else:
    check("shared memory: all ten clones still run", False, f"{len(mem)} running")

def shot_px(path, x, y, w=640):
    data = open(path, "rb").read()
    hdr = f"P6\n{w} 480\n255\n".encode()
    if not data.startswith(hdr):
        return None
    o = len(hdr) + 3 * (y * w + x)
    return data[o] << 16 | data[o + 1] << 8 | data[o + 2]


# ---- each clone's own pixels and typing over RDP, no cross-talk ----
if RDP:
    # The guests stop printing their counts first: ten guests' console lines
    # (an exit per character, nested under TCG) leave the lab's one vCPU
    # little time for the RDP logons.
    for i, p in enumerate(clones):
        say(p, "quiet")
    for i, p in enumerate(clones):
        check(f"c{i}: goes quiet", wait_for(lambda: "AGENT quiet" in text(f"{out}/c{i}.console"), p),
              text(f"{out}/c{i}.console")[-300:])
    for i in range(N):
        r = ask(f"{work}/c{i}.sock", {"id": 5, "cmd": "set-ticket", "protocol": "rdp", "user": "alice",
                                      "password": "clone-secret", "expiry_s": 3600})
        check(f"c{i}: set-ticket rdp", r.get("ok") is True, str(r))
    steps, rc = run_client("RDP client", [client, "alice", "clone-secret"] +
                           [f"{rdp_ports[i]}:clone-{i}:{key_code(i)}" for i in range(N)], timeout=300 + 150 * N)
    for i in range(N):
        m = re.search(rf"^clone {rdp_ports[i]} (ok .*|failed.*)$", steps, re.M)
        check(f"c{i}: an RDP client sees its own band, types its own key and sees it drawn",
              m is not None and m.group(1).startswith("ok "), (m.group(1) if m else steps[-600:]) +
              text(f"{out}/c{i}.log")[-600:])
    for i in range(N):
        con = text(f"{out}/c{i}.console")
        presses = [int(c) for c in re.findall(r"^AGENT key code=(\d+) value=1$", con, re.M)]
        check(f"c{i}: its guest saw exactly one key press, its own ({key_code(i)}; no cross-talk)",
              presses == [key_code(i)], str(presses))
        shot = f"{out}/c{i}.ppm"
        r = ask(f"{work}/c{i}.sock", {"id": 6, "cmd": "screenshot", "path": shot})
        try:
            got = (shot_px(shot, 160 + 160, 200 + 20), shot_px(shot, 160 + 12, 280 + 16),
                   shot_px(shot, 160 + 32 + 12, 280 + 16))
        except OSError as e:
            got = str(e)
        want = (fnv_color(f"clone-{i}"), key_color(key_code(i)), 0)
        check(f"c{i}: its screenshot shows its own band and one key cell", r.get("ok") is True and got == want,
              f"{r} got {got} want {want}")
    for i in range(N):
        check(f"c{i}: the ticket is not logged", "clone-secret" not in text(f"{out}/c{i}.log"))

for i, p in enumerate(clones):
    ask(f"{work}/c{i}.sock", {"id": 9, "cmd": "stop"}, timeout=30)
for p in procs:
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
shutil.rmtree(work, ignore_errors=True)
finish()
