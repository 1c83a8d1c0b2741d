#!/usr/bin/python3
"""bench/instant-clone.py HOSTD_DIR KERNEL INITRD N MEM_MIB — the inner half
of bench/instant-clone (runs inside the KVM lab): N cold boots side by
side, then one parent snapshotted and N clones of it side by side; start
times (medians) and PSS per VM; RESULT lines with the ratios."""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

hostd, kernel, initrd, n, mem = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
vm, img = f"{hostd}/vdi-vm", f"{hostd}/vdi-img"
work = os.path.realpath(tempfile.mkdtemp(prefix="vdi-clone-bench-"))  # not the lab's 9p share
COUNT = re.compile(rb"^AGENT count (\d+)", re.M)
LIMIT = 600


def counts(path):
    try:
        with open(path, "rb") as f:
            return [int(x) for x in COUNT.findall(f.read())]
    except OSError:
        return []


def start(name, args):
    """A vdi-vm with its console in WORK/NAME.console; (process, start time)."""
    con = open(f"{work}/{name}.console", "wb")
    log = open(f"{work}/{name}.log", "wb")
    t0 = time.monotonic()
    return subprocess.Popen([vm] + args, stdin=subprocess.DEVNULL, stdout=con, stderr=log), t0


def wait_counts(name, p, want):
    """Seconds until WORK/NAME.console has want count lines (None: never)."""
    end = time.monotonic() + LIMIT
    while time.monotonic() < end and p.poll() is None:
        if len(counts(f"{work}/{name}.console")) >= want:
            return time.monotonic()
        time.sleep(0.02)
    return None


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return int(re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M).group(1))


def ask(path, req):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(300)
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        for line in s.makefile("rb"):
            msg = json.loads(line)
            if msg.get("id") == req["id"]:
                return msg
    return {}


def stop_all(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def overlay(name):
    subprocess.run([img, "create", "-f", "qcow2", "-b", f"{work}/base.raw", "-F", "raw", f"{work}/{name}"],
                   check=True, stdout=subprocess.DEVNULL)
    return ["--disk", f"{work}/{name},format=qcow2"]


def boot_args(name, extra=()):
    return ["--kernel", kernel, "--initrd", initrd, "--memory", mem, "--cmdline",
            "console=ttyS0 quiet agent.action=counter"] + overlay(name) + list(extra)


def run_side_by_side(label, starts):
    """Start the VMs one after the other (each to its first count), let
    them all count 5 more, then PSS. (start seconds, PSS KiB) lists."""
    procs, secs, pss = [], [], []
    for i, (name, args, seen) in enumerate(starts):
        p, t0 = start(name, args)
        procs.append(p)
        t = wait_counts(name, p, seen + 1)
        if t is None:
            print(f"{label} {i}: never counted; log: {open(f'{work}/{name}.log').read()[-400:]}", flush=True)
            stop_all(procs)
            return None, None
        secs.append(t - t0)
        print(f"{label} {i}: counting after {t - t0:.2f} s", flush=True)
    for (name, _, seen), p in zip(starts, procs):
        wait_counts(name, p, seen + 6)
    pss = [pss_kib(p.pid) for p in procs]
    print(f"{label}: PSS per VM (KiB) {pss}", flush=True)
    stop_all(procs)
    return secs, pss


def result(name, ours, theirs, unit):
    if ours is None or theirs is None:
        print(f"RESULT {name} ours=none theirs=none ratio=none better=lower")
    else:
        print(f"RESULT {name} ours={ours:.0f}{unit} theirs={theirs:.0f}{unit} ratio={ours / theirs:.3f} better=lower")


os.truncate(os.open(f"{work}/base.raw", os.O_CREAT | os.O_WRONLY, 0o600), 64 << 20)
print(f"kernel {kernel}, {mem} MiB, N={n}", flush=True)
cold_s, cold_pss = run_side_by_side("cold boot", [(f"cold{i}", boot_args(f"cold{i}.qcow2"), 0) for i in range(n)])

# The parent: boot, count, snapshot (its disk becomes the snapshot's layer).
sock = f"{work}/parent.sock"
p, _ = start("parent", boot_args("parent.qcow2", ["--control", sock]))
clone_s = clone_pss = None
if wait_counts("parent", p, 10):
    rep = ask(sock, {"id": 1, "cmd": "snapshot", "dir": f"{work}/snap"})
    print(f"snapshot: {rep}", flush=True)
    stop_all([p])
    if rep.get("ok"):
        # A clone's console is its own file: its first count line is the
        # first thing the forked guest prints.
        clone_s, clone_pss = run_side_by_side(
            "clone", [(f"clone{i}", ["--restore", f"{work}/snap", "--disk", f"{work}/clone{i}.qcow2,format=qcow2"], 0)
                      for i in range(n)])
else:
    print(f"parent never counted: {open(f'{work}/parent.log').read()[-400:]}", flush=True)
    stop_all([p])

med = statistics.median
result("instant-clone-start", clone_s and med(clone_s) * 1000, cold_s and med(cold_s) * 1000, "ms")
result(f"instant-clone-pss-n{n}", clone_pss and sum(clone_pss) / n, cold_pss and sum(cold_pss) / n, "KiB")
shutil.rmtree(work, ignore_errors=True)
