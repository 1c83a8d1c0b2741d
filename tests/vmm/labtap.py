"""TAP lines for the Python halves of the tests/vmm lab suites
(snapshot-lab.py, migrate-lab.py, gpu-lab.py, clones-lab.py): check() prints one "ok"/"not ok" line,
finish() prints the plan and exits 0 when every check passed; and what
they share about a counting guest's console."""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

LIMIT = int(os.environ.get("VMM_BOOT_TIMEOUT", "300"))

count = 0
failed = 0


def check(desc, cond, detail=""):
    global count, failed
    count += 1
    if cond:
        print(f"ok {count} - {desc}", flush=True)
    else:
        failed += 1
        print(f"not ok {count} - {desc}" + (f": {detail}" if detail else ""), flush=True)
    return cond


def finish():
    print(f"1..{count}", flush=True)
    sys.exit(1 if failed else 0)


def text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").replace("\r", "")
    except OSError:
        return ""


def counts(path):
    """The numbers of the agent's "AGENT count N" lines in a console file."""
    return [int(x) for x in re.findall(r"^AGENT count (\d+)$", text(path), re.M)]


def wait_for(pred, proc, timeout=LIMIT):
    """Poll pred until it holds, proc (a Popen) ends, or timeout s pass."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        if proc.poll() is not None:
            return pred()
        time.sleep(0.2)
    return False


def ask(path, req, timeout=120):
    """One request on a vdi-vm control socket; its reply (events skipped)."""
    try:
        return ask1(path, req, timeout) or {"ok": False, "error": f"control socket {path}: no reply"}
    except (OSError, ValueError) as e:
        return {"ok": False, "error": f"control socket {path}: {e}"}


def ask1(path, req, timeout):
    end = time.time() + 120  # the socket may be slow to appear on a loaded machine
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.1)
    with s:
        s.settimeout(timeout)
        s.sendall(json.dumps(req).encode() + b"\n")
        for line in s.makefile("rb"):
            msg = json.loads(line)
            if msg.get("id") == req.get("id"):
                return msg
    return None


def run_client(name, argv, timeout=600):
    """Run a client program; its step lines and exit status (-1: timeout).
    Each line is printed as it comes ("# NAME: line"), so a run the lab's
    own timeout cuts short still shows how far it got."""
    t0 = time.time()
    lines = []
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")

    def pump():
        for line in p.stdout:
            lines.append(line)
            print(f"# {name}: {line.rstrip()}", flush=True)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = -1
    t.join(timeout=10)
    print(f"# {name} ran {time.time() - t0:.1f} s", flush=True)
    return "".join(lines), rc


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
