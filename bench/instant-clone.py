#!/usr/bin/python3
"""bench/instant-clone.py — the inner half of bench/instant-clone (runs
inside the KVM lab, one boot for everything; see bench/instant-clone for
what is measured). Options: --build DIR (the build tree: hostd/vdi-vm,
hostd/vdi-img, bench/first-frame, tests/harness/make-pki), --kernel,
--initrd, --ns "1 5 10 20", --mem MIB, --wave K, --cold-seq S, --qemu BIN,
--build-kind TEXT. Prints progress, a PSS table and RESULT lines."""
import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--build", required=True)
ap.add_argument("--src", required=True)
ap.add_argument("--kernel", required=True)
ap.add_argument("--initrd", required=True)
ap.add_argument("--ns", default="1 5 10 20")
ap.add_argument("--mem", default="128")
ap.add_argument("--wave", type=int, default=5)
ap.add_argument("--cold-ns", default=None)
ap.add_argument("--timed", type=int, default=3)
ap.add_argument("--qemu", default="qemu-system-x86_64")
ap.add_argument("--build-kind", default="unknown build")
opt = ap.parse_args()
sys.path.insert(0, f"{opt.src}/tests/vmm")
from labtap import ask  # noqa: E402  vdi-vm's control socket
NS = sorted({int(x) for x in opt.ns.replace(",", " ").split()})
COLD_NS = sorted({int(x) for x in (opt.cold_ns or opt.ns).replace(",", " ").split()})
if not NS or NS[0] < 1 or not COLD_NS or COLD_NS[0] < 1:
    raise SystemExit(f"bench/instant-clone: bad N list {opt.ns!r} / {opt.cold_ns!r}")
VM, IMG, CLIENT = f"{opt.build}/hostd/vdi-vm", f"{opt.build}/hostd/vdi-img", f"{opt.build}/bench/first-frame"
LIMIT = 1200  # seconds for any one milestone: the lab under load is slow
RESTORE_LIMIT = 300  # ... of a restored VM
APPEND = "console=ttyS0 quiet agent.action=counter"
FB = "1024x768"
# The same devices for the cold boots, the parent and its clones: what a
# desktop has (display, agent console, keyboard and tablet), no sound card.
DEVICES = ["--framebuffer", FB, "--agent", "--sound", "none"]
T_START = time.monotonic()
work = os.path.realpath(tempfile.mkdtemp(prefix="vdi-clone-bench-"))  # tmpfs, not the lab's 9p share

COUNT = re.compile(rb"^AGENT count \d+")
AGENT_COLD = re.compile(rb"^AGENT clone-listen vport=1")  # the agent opened org.vdi.agent.0
AGENT_CLONE = re.compile(rb"^AGENT cloned ")              # ... and took the clone's identity
BOOTED = re.compile(rb"^AGENT ready ")                    # printed once per kernel boot


def say(msg):
    print(f"[{time.monotonic() - T_START:6.0f} s] {msg}", flush=True)


used_ports = set()


def free_port():
    """A port no VM of this run was given yet."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in used_ports:
            used_ports.add(port)
            return port


def tail(path, n=600):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


class Machine:
    """One VM process (vdi-vm or QEMU) with its console in WORK/NAME.console;
    marks[milestone] = seconds from its start to the first console line of
    that milestone (or to the client's first frame)."""

    def __init__(self, name, argv, agent_re=None, client=None):
        self.name, self.agent_re, self.client = name, agent_re, client
        self.console = f"{work}/{name}.console"
        self.log = f"{work}/{name}.log"
        self.marks, self.counts, self.off, self.part = {}, 0, 0, b""
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(self.console, "wb"),
                                     stderr=open(self.log, "wb"))

    def poll(self):
        now = time.monotonic() - self.t0
        try:
            with open(self.console, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except OSError:
            data = b""
        self.off += len(data)
        lines = (self.part + data).split(b"\n")
        self.part = lines.pop()
        for line in lines:
            line = line.rstrip(b"\r")
            if COUNT.match(line):
                self.counts += 1
                self.marks.setdefault("count", now)
            if self.agent_re and self.agent_re.match(line):
                self.marks.setdefault("agent", now)
            if BOOTED.match(line):
                self.marks.setdefault("booted", now)
        if self.client:
            self.client.poll(self)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.client:
            self.client.stop()
        if self.alive():
            self.proc.terminate()

    def reap(self):
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Client:
    """bench/first-frame, started before its VM (a user's client is already
    running): it waits for the ticket on stdin, then connects."""

    def __init__(self, name, port):
        self.out = f"{work}/{name}.client"
        self.proc = subprocess.Popen([CLIENT, str(port), str(LIMIT)], stdin=subprocess.PIPE,
                                     stdout=open(self.out, "wb"), stderr=subprocess.STDOUT)

    def give(self, ticket):
        try:
            self.proc.stdin.write(ticket.encode() + b"\n")
            self.proc.stdin.close()
        except OSError:
            pass  # it died: its output says why

    def poll(self, m):
        for what, mono in re.findall(r"^(frame|nonblack|connected) mono=([\d.]+)", tail(self.out, 1 << 20), re.M):
            m.marks.setdefault(what, float(mono) - m.t0)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def qmp(path, *cmds, timeout=300):
    """QMP commands in one session (the socket is there: the VM runs);
    their replies."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        f = s.makefile("rwb")
        f.readline()  # greeting
        out = []
        for name, args in (("qmp_capabilities", {}),) + cmds:
            f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if "return" in msg or "error" in msg:
                    out.append(msg)
                    break
        return out[1:]


def wait(machines, want, timeout=LIMIT):
    """Poll until every machine has the milestones in want (a dict name ->
    number of count lines for "counts", else True); False if one died or
    the time ran out."""
    end = time.monotonic() + timeout
    while True:
        done = True
        for m in machines:
            m.poll()
            for k, v in want.items():
                have = m.counts >= v if k == "counts" else k in m.marks
                done = done and have
                if not have and not m.alive():
                    say(f"{m.name} died (status {m.proc.returncode}): {tail(m.log)}")
                    return False
                if not have and k == "frame" and m.client.proc.poll() is not None:
                    m.poll()  # it may have printed the frame just before it exited
                    if "frame" not in m.marks:
                        say(f"{m.name}: the client ended without the frame: {tail(m.client.out)}")
                        return False
        if done:
            return True
        if time.monotonic() > end:
            missing = {m.name: [k for k in want if k != "counts" and k not in m.marks] for m in machines}
            say(f"timed out after {timeout} s waiting for {want}: {missing}")
            for m in machines:
                if m.client:
                    say(f"{m.name} client: {tail(m.client.out, 300)}")
            return False
        time.sleep(0.05 if len(machines) == 1 else 0.5)  # timed starts are one at a time


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return int(re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M).group(1))


def measure(kind, machines, pss):
    """Let every VM count 5 more lines, then PSS of each: pss[N] = mean."""
    marks = {m.name: m.counts for m in machines}
    end = time.monotonic() + 300
    while time.monotonic() < end and not all(m.counts >= marks[m.name] + 5 or not m.alive() for m in machines):
        for m in machines:
            m.poll()
        time.sleep(0.5)  # no timing here: leave the lab's CPU to the VMs
    if not all(m.alive() for m in machines):
        say(f"{kind} N={len(machines)}: a VM died")
        return False
    vals = [pss_kib(m.proc.pid) for m in machines]
    pss[len(machines)] = sum(vals) / len(vals)
    say(f"{kind} N={len(machines)}: PSS per VM {pss[len(machines)] / 1024:.1f} MiB "
        f"(min {min(vals) / 1024:.1f}, max {max(vals) / 1024:.1f})")
    return True


def stop_all(machines):
    for m in machines:
        m.stop()
    for m in machines:
        m.reap()


def disk(name):
    """A qcow2 overlay of the shared base, as a linked clone's disk."""
    subprocess.run([IMG, "create", "-f", "qcow2", "-b", f"{work}/base.raw", "-F", "raw", f"{work}/{name}.qcow2"],
                   check=True, stdout=subprocess.DEVNULL)
    return ["--disk", f"{work}/{name}.qcow2,format=qcow2"]


def display(name, port):
    return ["--control", f"{work}/{name}.sock", "--rdp-port", str(port), "--display-listen", "127.0.0.1",
            "--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server.key"]


def start_ours(name, args, agent_re, with_client):
    """A vdi-vm; with a client, the ticket is set as soon as the control
    socket takes it and handed to the already running client."""
    port = free_port()
    client = Client(name, port) if with_client else None
    m = Machine(name, [VM] + args + DEVICES + display(name, port), agent_re, client)
    if client:
        ticket = secrets.token_urlsafe(18)
        end = time.monotonic() + 120
        while m.alive() and time.monotonic() < end:
            r = ask(f"{work}/{name}.sock", {"id": 1, "cmd": "set-ticket", "protocol": "rdp", "user": "bench",
                                            "password": ticket, "expiry_s": LIMIT})
            m.poll()
            if r.get("ok"):
                break
            time.sleep(0.02)
        else:
            say(f"{name}: set-ticket: {r if m.alive() else 'the VM died'}")
        client.give(ticket)
    return m


MILESTONES_OURS = {"count": True, "agent": True, "frame": True}
times = {"cold": {}, "clone": {}, "qemu": {}}
pss = {"cold": {}, "clone": {}, "qemu": {}}


def sample(kind, m):
    for k, v in m.marks.items():
        times[kind].setdefault(k, []).append(v)
    say(f"{m.name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(m.marks.items(), key=lambda kv: kv[1])))


def run_cold():
    """N cold boots of linked clones (an overlay each over the same base):
    the first `timed` one after the other, each with a client and timed
    to its count, agent and frame; the rest in waves of `wave` side by
    side to their first count (memory only)."""
    vms = []
    try:
        for n in COLD_NS:
            while len(vms) < n:
                if len(vms) < opt.timed:
                    name = f"cold{len(vms)}"
                    m = start_ours(name, ["--kernel", opt.kernel, "--initrd", opt.initrd, "--memory", opt.mem,
                                          "--cmdline", APPEND] + disk(name), AGENT_COLD, True)
                    vms.append(m)
                    if not wait([m], MILESTONES_OURS):
                        return
                    sample("cold", m)
                    m.client.stop()
                else:
                    k = min(opt.wave, n - len(vms))
                    wave = []
                    for _ in range(k):
                        name = f"cold{len(vms)}"
                        wave.append(start_ours(name, ["--kernel", opt.kernel, "--initrd", opt.initrd, "--memory",
                                                      opt.mem, "--cmdline", APPEND] + disk(name), AGENT_COLD, False))
                        vms.append(wave[-1])
                    if not wait(wave, {"count": True}):
                        return
                    say(f"cold wave of {k} side by side: first counts after "
                        + ", ".join(f"{m.marks['count']:.1f}" for m in wave) + " s")
            if not measure("cold", vms, pss["cold"]):
                return
    finally:
        stop_all(vms)


def make_parent():
    """Boot the parent to its agent, let it count, snapshot it. The
    snapshot directory, or None."""
    name = "parent"
    m = start_ours(name, ["--kernel", opt.kernel, "--initrd", opt.initrd, "--memory", opt.mem,
                          "--cmdline", APPEND] + disk(name), AGENT_COLD, False)
    try:
        if not wait([m], {"agent": True, "counts": 10}):
            return None
        t = time.monotonic()
        r = ask(f"{work}/{name}.sock", {"id": 2, "cmd": "snapshot", "dir": f"{work}/snap"}, timeout=LIMIT)
        say(f"parent booted in {m.marks['count']:.1f} s; snapshot {time.monotonic() - t:.1f} s: {r}")
        return f"{work}/snap" if r.get("ok") else None
    finally:
        stop_all([m])


def run_clones(snap):
    """Clones of the parent one after the other, side by side, the first
    `timed` with a client and timed to count, agent and frame, the rest
    to their first count; PSS at every N."""
    vms = []
    try:
        for n in NS:
            while len(vms) < n:
                i = len(vms)
                name = f"clone{i}"
                # vdi-vm makes the missing overlay on the snapshot's disk layer.
                timed = i < opt.timed
                m = start_ours(name, ["--restore", snap, "--clone-hostname", f"clone-{i}", "--clone-machine-id",
                                      secrets.token_hex(16), "--disk", f"{work}/{name}.qcow2,format=qcow2"],
                               AGENT_CLONE, timed)
                vms.append(m)
                if not wait([m], MILESTONES_OURS if timed else {"count": True}, RESTORE_LIMIT):
                    return
                if timed:
                    sample("clone", m)
                    m.client.stop()
                if "booted" in m.marks:
                    say(f"{name}: its console shows a kernel boot (AGENT ready): not a fork")
                    return
            if not measure("clone", vms, pss["clone"]):
                return
    finally:
        stop_all(vms)


def qemu_argv(name, drive, extra):
    return [opt.qemu, "-M", "pc", "-enable-kvm", "-cpu", "host", "-smp", "1", "-m", opt.mem, "-nodefaults",
            "-no-user-config", "-no-reboot", "-vga", "std", "-display", "none", "-vnc", f"unix:{work}/{name}.vnc",
            "-kernel", opt.kernel, "-initrd", opt.initrd, "-append", APPEND, "-drive",
            f"file={drive},format=qcow2,if=virtio", "-serial", f"file:{work}/{name}.console"] + extra


def run_qemu():
    """QEMU's way: boot the same guest on a qcow2 overlay of the same base,
    savevm through QMP, then VMs started with -loadvm one after the other
    (each on its own copy of that image: the internal snapshot lives in
    it), to their first count line (the first `timed` of them timed);
    PSS at every N."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", f"{work}/base.raw", "-F", "raw",
                    f"{work}/qparent.qcow2"], check=True)
    p = Machine("qparent", qemu_argv("qparent", f"{work}/qparent.qcow2",
                                     ["-qmp", f"unix:{work}/qparent.qmp,server=on,wait=off"]))
    try:
        if not wait([p], {"counts": 10}):
            return
        t = time.monotonic()
        try:
            r = qmp(f"{work}/qparent.qmp", ("human-monitor-command", {"command-line": "savevm bench"}),
                    timeout=LIMIT)[0]
        except (OSError, ValueError) as e:
            r = {"error": str(e)}
        say(f"QEMU parent booted in {p.marks['count']:.1f} s; savevm {time.monotonic() - t:.1f} s: {r}")
        if "error" in r or r.get("return"):  # HMP's errors come back as text
            return
    finally:
        stop_all([p])
    vms = []
    copy_s = []
    try:
        for n in NS:
            while len(vms) < n:
                name = f"qemu{len(vms)}"
                t = time.monotonic()
                subprocess.run(["cp", "--sparse=always", f"{work}/qparent.qcow2", f"{work}/{name}.qcow2"], check=True)
                copy_s.append(time.monotonic() - t)
                m = Machine(name, qemu_argv(name, f"{work}/{name}.qcow2", ["-loadvm", "bench"]))
                vms.append(m)
                if not wait([m], {"count": True}, RESTORE_LIMIT):
                    return
                if len(vms) <= opt.timed:
                    sample("qemu", m)
            if not measure("qemu", vms, pss["qemu"]):
                return
    finally:
        stop_all(vms)
        if copy_s:
            say(f"QEMU: each VM needs its own copy of the image holding the snapshot "
                f"({os.path.getsize(f'{work}/qparent.qcow2') >> 20} MiB): median cp {statistics.median(copy_s):.2f} s "
                "(not counted in its start)")


def med(kind, k):
    v = times[kind].get(k)
    return statistics.median(v) * 1000 if v else None


def result(name, ours, theirs, unit):
    if ours is None or theirs is None:
        print(f"RESULT {name} ours=none theirs=none ratio=none better=lower", flush=True)
    else:
        print(f"RESULT {name} ours={ours:.0f}{unit} theirs={theirs:.0f}{unit} ratio={ours / theirs:.3f} "
              "better=lower", flush=True)


def goal(what, ours, theirs, limit):
    if ours is None or theirs is None:
        print(f"GOAL {what} under {limit:.0%} of a cold boot's: not measured", flush=True)
    else:
        r = ours / theirs
        print(f"GOAL {what} under {limit:.0%} of a cold boot's: {r:.1%}, {'met' if r < limit else 'NOT met'}",
              flush=True)


pki = f"{work}/pki"
subprocess.run([f"{opt.src}/tests/harness/make-pki", pki], check=True)
os.truncate(os.open(f"{work}/base.raw", os.O_CREAT | os.O_WRONLY, 0o600), 64 << 20)
say(f"{opt.build_kind}; kernel {opt.kernel}, {opt.mem} MiB guests, 1 vCPU, {FB} VESA framebuffer; N = {NS} "
    f"(cold boots: {COLD_NS}); the first {opt.timed} of each kind timed one after the other, further cold boots "
    f"in waves of {opt.wave} side by side (memory only)")
# The quick halves first, the cold boots (most of the time) last; one
# kind at a time, each stopped before the next.
snap = make_parent()
if snap:
    run_clones(snap)
    shutil.rmtree(snap, ignore_errors=True)  # the lab's memory is for the next kind
run_qemu()
run_cold()

print("\nPSS per VM (MiB), N VMs side by side:", flush=True)
print(f"{'N':>4} {'clone':>8} {'cold':>8} {'QEMU':>8}  clone/cold clone/QEMU", flush=True)
for n in sorted(set(NS) | set(COLD_NS)):
    c, k, q = (pss[x].get(n) for x in ("clone", "cold", "qemu"))
    f = lambda v: f"{v / 1024:8.1f}" if v else f"{'-':>8}"  # noqa: E731
    r = lambda a, b: f"{a / b:10.3f}" if a and b else f"{'-':>10}"  # noqa: E731
    print(f"{n:>4} {f(c)} {f(k)} {f(q)}  {r(c, k)} {r(c, q)}", flush=True)
print("Medians of the timed starts (ms): " + "; ".join(
    f"{kind} {k} {med(kind, k):.0f} (n={len(times[kind][k])})" for kind in times for k in sorted(times[kind])),
    flush=True)
print("first frame: the client's first picture with the guest's red rectangle; agent ready: the console line "
      "'AGENT cloned' of a clone (its agent took the new identity vdi-vm sent on org.vdi.agent.0), "
      "'AGENT clone-listen vport=1' of a cold boot (its agent opened org.vdi.agent.0: vdi-vm's agent-ready event)",
      flush=True)
NR = 10 if 10 in NS and 10 in COLD_NS else max(set(NS) & set(COLD_NS), default=NS[-1])
result("instant-clone-first-frame", med("clone", "frame"), med("cold", "frame"), "ms")
result("instant-clone-agent-ready", med("clone", "agent"), med("cold", "agent"), "ms")
result("instant-clone-start", med("clone", "count"), med("cold", "count"), "ms")
result("instant-clone-start-qemu-loadvm", med("clone", "count"), med("qemu", "count"), "ms")
result(f"instant-clone-pss-n{NR}", pss["clone"].get(NR), pss["cold"].get(NR), "KiB")
result(f"instant-clone-pss-qemu-n{NR}", pss["clone"].get(NR), pss["qemu"].get(NR), "KiB")
goal("fork to first frame", med("clone", "frame"), med("cold", "frame"), 0.10)
goal("fork to agent ready", med("clone", "agent"), med("cold", "agent"), 0.10)
goal(f"PSS per desktop at N={NR}", pss["clone"].get(NR), pss["cold"].get(NR), 0.20)
say("done")
shutil.rmtree(work, ignore_errors=True)
