#!/usr/bin/python3
"""tests/vmm/migrate-lab.py VDI_VM KERNEL INITRD OUTDIR — live migration
between two vdi-vm in one KVM lab boot (run by tests/vmm/migrate.sh):

- a 2-vCPU guest with a disk, framebuffer, keyboard and tablet counts on
  its console (the agent's "counter" action, one line per 200 ms);
- a target with another device set refuses the VM: the source is told
  why and counts on, the target exits 1 and leaves nothing;
- a target killed (SIGKILL) while the stream runs, through a relay that
  then drops the link: the source counts on;
- a good target takes the VM while it counts: the source exits 0, the
  count continues on the target with no number lost or repeated, the
  gap on the console and the source's paused time are printed, a key
  typed on the target reaches the guest, and the killed target's
  leftovers are gone.
Prints TAP lines; exits 0 when all passed."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labtap import ask, check, counts, finish, text, wait_for  # noqa: E402

vm, kernel, initrd, out = sys.argv[1:5]
procs = []


def start(name, args, env=None):
    console = open(f"{out}/{name}.console", "wb")
    log = open(f"{out}/{name}.log", "wb")
    p = subprocess.Popen([vm] + args, stdin=subprocess.DEVNULL, stdout=console, stderr=log, env=env)
    procs.append(p)
    return p


def exit_status(p, timeout=120):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def wait_path(path, p, timeout=120):
    return wait_for(lambda: os.path.exists(path), p, timeout)


class Stamps(threading.Thread):
    """When each count first appeared on a console (polled every 10 ms)."""

    def __init__(self, paths):
        super().__init__(daemon=True)
        self.paths, self.seen, self.stop = paths, {}, False

    def run(self):
        while not self.stop:
            for name, path in self.paths.items():
                for c in counts(path):
                    self.seen.setdefault((name, c), time.time())
            time.sleep(0.01)


def relay_then_kill(listen_path, target_path, target, limit):
    """Accept the source, relay to the target; after limit bytes SIGKILL
    the target and drop both connections (a target that dies mid-way)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen_path)
    srv.listen(1)
    relayed = [0]

    def run():
        src, _ = srv.accept()
        dst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dst.connect(target_path)
        try:
            while relayed[0] < limit:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
                relayed[0] += len(b)
        finally:
            target.send_signal(signal.SIGKILL)
            src.close()
            dst.close()
            srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, relayed


# Unix sockets and RAM files stay off the lab's 9p shares.
work = tempfile.mkdtemp(prefix="vdi-mig-")
tmpd = f"{work}/tmp"  # the targets' TMPDIR: where incoming RAM lands
os.mkdir(tmpd)
tenv = dict(os.environ, TMPDIR=tmpd)
disk = f"{out}/disk.raw"
os.truncate(os.open(disk, os.O_CREAT | os.O_WRONLY, 0o600), 16 << 20)
DEVICES = ["--disk", f"{disk},format=raw", "--framebuffer", "640x480"]  # and the keyboard and tablet
sock_a = f"{work}/a.sock"
a = start("a", ["--kernel", kernel, "--initrd", initrd, "--cpus", "2", "--memory", "128",
                "--cmdline", "console=ttyS0 quiet agent.action=counter", "--control", sock_a] + DEVICES)
booted = wait_for(lambda: len(counts(f"{out}/a.console")) >= 10, a)
check("source: the guest boots and counts", booted, text(f"{out}/a.log")[-500:])
if not booted:
    a.kill()
    finish()


def source_counts_on(what, more=5):
    base = len(counts(f"{out}/a.console"))
    check(f"source: still running and counting after {what}",
          wait_for(lambda: len(counts(f"{out}/a.console")) >= base + more, a, 120) and a.poll() is None,
          text(f"{out}/a.log")[-400:])


def leftovers():
    return sorted(os.listdir(tmpd))


# ---- 1: a target with another device set (no disk) refuses ----
t1 = start("t1", ["--incoming", f"unix:{work}/t1.in"] + DEVICES[2:], env=tenv)  # no disk
wait_path(f"{work}/t1.in", t1)
rep = ask(sock_a, {"id": 1, "cmd": "migrate", "to": f"unix:{work}/t1.in"})
# A target without the disk is refused on the snapshot's disk count (the
# "disks" section) before the device sections are compared.
check("refusing target: the source is told why (the disks)",
      not rep.get("ok") and "refused the VM" in rep.get("error", "") and "1 disks, this VM 0" in rep.get("error", ""),
      str(rep))
check("refusing target: it exits 1 naming the problem",
      exit_status(t1) == 1 and "1 disks, this VM 0" in text(f"{out}/t1.log"), text(f"{out}/t1.log")[-400:])
check("refusing target: nothing left in its TMPDIR", leftovers() == [], str(leftovers()))
source_counts_on("a refused migration")

# ---- 2: the target killed mid-stream, the link dropped ----
t2 = start("t2", ["--incoming", f"unix:{work}/t2.in"] + DEVICES, env=tenv)
wait_path(f"{work}/t2.in", t2)
relay, relayed = relay_then_kill(f"{work}/relay.sock", f"{work}/t2.in", t2, 4 << 20)
t0 = time.time()
rep = ask(sock_a, {"id": 2, "cmd": "migrate", "to": f"unix:{work}/relay.sock"})
relay.join(30)
print(f"# killed target: {relayed[0] >> 10} KiB relayed, source answered in {time.time() - t0:.1f} s: {rep}",
      flush=True)
check("killed target: the migration fails on the source",
      not rep.get("ok") and "runs on here" in rep.get("error", ""), str(rep))
check("killed target: it died of SIGKILL", exit_status(t2) == -signal.SIGKILL)
source_counts_on("the target died")
stale = leftovers()
check("killed target: it left its partial directory (removed by the next target)",
      len(stale) == 1 and stale[0].startswith(f"vdi-vm-incoming-{t2.pid}-"), str(stale))

# ---- 3: a live migration that works ----
sock_b = f"{work}/b.sock"
stamps = Stamps({"a": f"{out}/a.console", "b": f"{out}/b.console"})
stamps.start()
b = start("b", ["--incoming", f"unix:{work}/b.in", "--control", sock_b] + DEVICES, env=tenv)
wait_path(f"{work}/b.in", b)
t0 = time.time()
rep = ask(sock_a, {"id": 3, "cmd": "migrate", "to": f"unix:{work}/b.in", "downtime_ms": 300})
total_s = time.time() - t0
check("migration: the source answers ok", rep.get("ok"), str(rep))
print(f"# migration: {total_s:.2f} s by the test's clock; reply {rep}", flush=True)
check("migration: the source exits 0", exit_status(a) == 0, text(f"{out}/a.log")[-400:])
ok = wait_for(lambda: len(counts(f"{out}/b.console")) >= 5, b, 120)
check("migration: the guest counts on the target", ok, text(f"{out}/b.log")[-800:])
ac, bc = counts(f"{out}/a.console"), counts(f"{out}/b.console")
if ac and bc:
    check(f"migration: the count continues with no number lost or repeated (source ended at {ac[-1]}, "
          f"target began at {bc[0]})", bc[0] == ac[-1] + 1 and bc[:5] == list(range(bc[0], bc[0] + 5)),
          f"{ac[-3:]} {bc[:5]}")
    ta, tb = stamps.seen.get(("a", ac[-1])), stamps.seen.get(("b", bc[0]))
    if ta and tb:
        # The counter prints every 200 ms: the gap beyond that is the downtime as the guest saw it.
        print(f"# downtime: source paused {rep.get('paused_ms', 0):.1f} ms; console gap {1000 * (tb - ta):.0f} ms "
              f"between count {ac[-1]} and {bc[0]} (200 ms of it the counter's own period)", flush=True)
        # paused_ms runs from the pause to the target's READY, sent once its
        # vCPUs run; the guest then first touches RAM mapped from the received
        # file (nested under TCG: slow faults). Measured in the lab: gap 2.7 s
        # for a 1.2 s pause; a loaded machine stretches both. A guest that
        # hangs after the switch fails this (the bound is a sanity bound:
        # the downtime figures come from bench/migrate).
        check("migration: the console gap is the pause plus 15 s of lab slack at most",
              1000 * (tb - ta) <= rep.get("paused_ms", 0) + 15000, f"{1000 * (tb - ta):.0f} ms")
stamps.stop = True
check("migration: the source paused within 20 s (the 300 ms budget, the target's restore and a loaded lab)",
      rep.get("ok") and rep.get("paused_ms", 1e9) < 20000, str(rep.get("paused_ms")))
check("migration: zero pages were not sent as data in round 1 (128 MiB guest, fewer data pages)",
      rep.get("ok") and rep.get("pages", 0) < 128 * 256 and rep.get("rounds", 0) >= 1, str(rep))
ask(sock_b, {"id": 5, "cmd": "key", "code": 30, "pressed": True})
ask(sock_b, {"id": 6, "cmd": "key", "code": 30, "pressed": False})
check("migration: a key typed on the target reaches the guest through virtio-input",
      wait_for(lambda: "AGENT key code=30 value=0" in text(f"{out}/b.console"), b, 60))
st = ask(sock_b, {"id": 7, "cmd": "status"})
check("migration: the target reports 2 vCPUs and 128 MiB", st.get("cpus") == 2 and st.get("memory_mb") == 128,
      str(st))
check("migration: no leftovers (the received files and the killed target's are gone)",
      leftovers() == [], str(leftovers()) + text(f"{out}/b.log")[-300:])
ask(sock_b, {"id": 8, "cmd": "stop"})
check("migration: the target stops cleanly", exit_status(b) == 0)
for p in procs:
    if p.poll() is None:
        p.kill()
finish()
