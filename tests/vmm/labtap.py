"""TAP lines for the Python halves of the tests/vmm lab suites
(snapshot-lab.py, gpu-lab.py): check() prints one "ok"/"not ok" line,
finish() prints the plan and exits 0 when every check passed; ask() sends
one request on a vdi-vm control socket; text() reads a console."""
import json
import socket
import sys
import time

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
    """A console or log file as text ("" while it does not exist)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").replace("\r", "")
    except OSError:
        return ""


def ask(path, req, timeout=120):
    """One request on a vdi-vm control socket; its reply (events skipped)."""
    try:
        return ask1(path, req, timeout)
    except (OSError, ValueError) as e:
        return {"ok": False, "error": f"control socket {path}: {e}"}


def ask1(path, req, timeout):
    end = time.time() + 30
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
