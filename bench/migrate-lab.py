#!/usr/bin/python3
"""bench/migrate-lab.py VDI_VM QEMU KERNEL INITRD DIRTY_MB — the inner half
of bench/migrate, run where /dev/kvm works (the KVM lab): for an idle
guest and one dirtying DIRTY_MB MiB, migrate a counting guest with vdi-vm
and with QEMU and print RESULT lines (downtime, total time, bytes)."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

vm, qemu, kernel, initrd, dirty_mb = sys.argv[1:6]
work = tempfile.mkdtemp(prefix="bench-mig-")
APPEND = "console=ttyS0 quiet agent.action=counter"


def counts(path):
    try:
        with open(path, "rb") as f:
            return [int(x) for x in re.findall(rb"^AGENT count (\d+)", f.read(), re.M)]
    except OSError:
        return []


def wait(pred, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def connect(path, timeout=60):
    end = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.1)


def finish(*procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def ours(tag, append):
    con_a, con_b = f"{work}/{tag}-a.console", f"{work}/{tag}-b.console"
    ctl, inc = f"{work}/{tag}-a.sock", f"{work}/{tag}-b.in"
    log = open(f"{work}/{tag}.log", "wb")
    a = subprocess.Popen([vm, "--kernel", kernel, "--initrd", initrd, "--cpus", "2", "--memory", "128",
                          "--no-input", "--cmdline", append, "--console", con_a, "--control", ctl],
                         stdout=log, stderr=log)
    b = subprocess.Popen([vm, "--incoming", f"unix:{inc}", "--no-input", "--console", con_b],
                         stdout=log, stderr=log, env=dict(os.environ, TMPDIR=work))
    try:
        if not wait(lambda: len(counts(con_a)) >= 10) or not wait(lambda: os.path.exists(inc)):
            return None
        s = connect(ctl)
        s.settimeout(300)
        s.sendall(json.dumps({"id": 1, "cmd": "migrate", "to": f"unix:{inc}", "downtime_ms": 300}).encode() + b"\n")
        rep = None
        for line in s.makefile("rb"):
            msg = json.loads(line)
            if msg.get("id") == 1:
                rep = msg
                break
        s.close()
        base = len(counts(con_b))
        if not rep or not rep.get("ok") or not wait(lambda: len(counts(con_b)) >= base + 3, 120):
            print(f"# vdi-vm {tag}: {rep}", flush=True)
            return None
        return rep["paused_ms"], rep["total_ms"], rep["bytes"], rep["rounds"]
    finally:
        finish(a, b)


def qmp(path):
    s = connect(path)
    f = s.makefile("rwb")
    f.readline()  # greeting

    def cmd(name, args=None):
        f.write(json.dumps({"execute": name, "arguments": args or {}}).encode() + b"\n")
        f.flush()
        while True:
            msg = json.loads(f.readline())
            if "return" in msg or "error" in msg:
                return msg
    cmd("qmp_capabilities")
    return cmd


def theirs(tag, append):
    con_a, con_b = f"{work}/{tag}-qa.console", f"{work}/{tag}-qb.console"
    qa, qb, inc = f"{work}/{tag}-qa.qmp", f"{work}/{tag}-qb.qmp", f"{work}/{tag}-qb.in"
    base = [qemu, "-M", "pc", "-enable-kvm", "-cpu", "host", "-m", "128", "-smp", "2", "-nodefaults",
            "-no-user-config", "-display", "none", "-kernel", kernel, "-initrd", initrd, "-append", append]
    log = open(f"{work}/{tag}-q.log", "wb")
    a = subprocess.Popen(base + ["-serial", f"file:{con_a}", "-qmp", f"unix:{qa},server=on,wait=off"],
                         stdout=log, stderr=log)
    b = subprocess.Popen(base + ["-serial", f"file:{con_b}", "-qmp", f"unix:{qb},server=on,wait=off",
                                 "-incoming", f"unix:{inc}"], stdout=log, stderr=log)
    try:
        if not wait(lambda: len(counts(con_a)) >= 10) or not wait(lambda: os.path.exists(inc)):
            return None
        cmd = qmp(qa)
        cmd("migrate-set-parameters", {"max-bandwidth": 100 << 30, "downtime-limit": 300})
        r = cmd("migrate", {"uri": f"unix:{inc}"})
        if "error" in r:
            print(f"# qemu {tag}: {r}", flush=True)
            return None
        end = time.time() + 240
        while time.time() < end:
            info = cmd("query-migrate")["return"]
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        else:
            cmd("migrate_cancel")  # did not converge
        nb = len(counts(con_b))
        if info.get("status") != "completed" or not wait(lambda: len(counts(con_b)) >= nb + 3, 120):
            print(f"# qemu {tag}: {info}", flush=True)
            return None
        return info["downtime"], info["total-time"], info["ram"]["transferred"], info["ram"].get("dirty-sync-count")
    finally:
        finish(a, b)


def ratio(o, t):
    return f"{o / t:.2f}" if t else "none"


cases = [("idle", APPEND), (f"dirty{dirty_mb}", f"{APPEND} agent.dirty_mb={dirty_mb}")]
for tag, append in cases:
    o, t = ours(tag, append), theirs(tag, append)
    print(f"# {tag}: vdi-vm (paused_ms, total_ms, bytes, rounds) = {o}; "
          f"qemu (downtime, total-time, transferred, dirty syncs) = {t}", flush=True)
    if not o or not t:
        for name in ("downtime", "total", "bytes"):
            print(f"RESULT migrate-{tag}-{name} ours=none theirs=none ratio=none better=lower", flush=True)
        continue
    print(f"RESULT migrate-{tag}-downtime ours={o[0]:.0f}ms theirs={t[0]}ms ratio={ratio(o[0], t[0])} better=lower")
    print(f"RESULT migrate-{tag}-total ours={o[1]:.0f}ms theirs={t[1]}ms ratio={ratio(o[1], t[1])} better=lower")
    print(f"RESULT migrate-{tag}-bytes ours={o[2]} theirs={t[2]} ratio={ratio(o[2], t[2])} better=lower",
          flush=True)
