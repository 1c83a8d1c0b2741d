"""TAP lines for the Python halves of the tests/vmm lab suites
(snapshot-lab.py): check() prints one "ok"/"not ok" line, finish()
prints the plan and exits 0 when every check passed."""
import sys

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
