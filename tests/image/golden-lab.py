#!/usr/bin/python3
"""tests/image/golden-lab.py VDI_VM VDI_IMG BUNDLE OUTDIR

The part of tests/image/golden.sh that needs /dev/kvm (run through
tests/lab/needs-kvm). Boots the golden desktop image BUNDLE (made by
tools/image-build) on a linked clone (a qcow2 overlay made with vdi-img, so
the base stays clean) with a 1024x768 framebuffer and the control socket,
then checks through screenshots only:

- the desktop comes up: the background colour of desktop.txt (#205080)
  covers everything but the terminal, whose white 896x568 rectangle sits
  at (64,64) with a prompt in it (the pointer is parked in a corner first);
- keys typed through the control socket reach the shell in the terminal:
  "echo hi" + Enter adds text lines in the terminal (the command, its
  output, a new prompt); "xsetroot -solid red" + Enter turns the background
  red;
- the base image is unchanged (vdi-img check, same bytes as before).

Writes OUTDIR/desktop.png (the desktop once up), OUTDIR/typed.png (after
typing), OUTDIR/console.log (the guest's serial console) and prints
"# measured ..." lines: boot-to-desktop seconds. TAP-ish "ok"/"not ok"
lines; exit 0 when all passed, 1 otherwise.
"""
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

vm, img, bundle, out = sys.argv[1:5]
LIMIT = int(os.environ.get("GOLDEN_BOOT_TIMEOUT", "900"))
W, H = 1024, 768
BACKGROUND = (0x20, 0x50, 0x80)
TERM_X, TERM_Y = 64, 64  # desktop.txt: the terminal's top-left corner
n = 0
fails = 0


def check(desc, cond, detail=""):
    global n, fails
    n += 1
    if cond:
        print(f"ok {n} - {desc}", flush=True)
    else:
        fails += 1
        print(f"not ok {n} - {desc}" + (f": {detail}" if detail else ""), flush=True)
    return cond


def run(*args):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- pictures ----
class Picture:
    """A P6 PPM as written by vdi-vm's screenshot command."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        fields = []
        pos = 0
        while len(fields) < 4:
            while data[pos : pos + 1].isspace():
                pos += 1
            if data[pos : pos + 1] == b"#":
                pos = data.index(b"\n", pos) + 1
                continue
            end = pos
            while not data[end : end + 1].isspace():
                end += 1
            fields.append(data[pos:end])
            pos = end
        if fields[0] != b"P6" or fields[3] != b"255":
            raise ValueError(f"{path}: not an 8-bit P6 PPM")
        self.w, self.h = int(fields[1]), int(fields[2])
        self.rgb = data[pos + 1 : pos + 1 + self.w * self.h * 3]
        if len(self.rgb) != self.w * self.h * 3:
            raise ValueError(f"{path}: truncated")

    def px(self, x, y):
        i = (y * self.w + x) * 3
        return tuple(self.rgb[i : i + 3])

    def share(self, colour, step=4):
        """Fraction of sampled pixels of exactly this colour."""
        hit = total = 0
        for y in range(0, self.h, step):
            for x in range(0, self.w, step):
                total += 1
                hit += self.px(x, y) == colour
        return hit / total

    def terminal_box(self):
        """The white rectangle whose top-left corner is at (TERM_X, TERM_Y):
        (x0, y0, x1, y1) exclusive, or None."""
        white = (255, 255, 255)
        if self.px(TERM_X, TERM_Y) != white or self.px(TERM_X - 1, TERM_Y - 1) == white:
            return None
        x1 = TERM_X
        while x1 < self.w and self.px(x1, TERM_Y) == white:
            x1 += 1
        y1 = TERM_Y
        while y1 < self.h and self.px(TERM_X, y1) == white:
            y1 += 1
        if x1 - TERM_X < 200 or y1 - TERM_Y < 100:
            return None
        return (TERM_X, TERM_Y, x1, y1)

    def inked_rows(self, box):
        """Pixel rows inside box with dark (text) pixels."""
        x0, y0, x1, y1 = box
        rows = []
        for y in range(y0, y1):
            i0 = (y * self.w + x0) * 3
            line = self.rgb[i0 : i0 + (x1 - x0) * 3]
            if any(line[i] < 96 and line[i + 1] < 96 and line[i + 2] < 96 for i in range(0, len(line), 3)):
                rows.append(y)
        return rows

    def save_png(self, path):
        """Write an RGB PNG (filter 0 on every row, zlib)."""

        def chunk(kind, body):
            c = struct.pack(">I", len(body)) + kind + body
            return c + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

        stride = self.w * 3
        raw = b"".join(b"\0" + self.rgb[y * stride : (y + 1) * stride] for y in range(self.h))
        png = b"\x89PNG\r\n\x1a\n"
        png += chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
        png += chunk(b"IDAT", zlib.compress(raw, 6))
        png += chunk(b"IEND", b"")
        with open(path, "wb") as f:
            f.write(png)


def text_lines(rows):
    """Group inked pixel rows into text lines (runs of nearby rows)."""
    lines = 0
    last = None
    for y in rows:
        if last is None or y - last > 4:
            lines += 1
        last = y
    return lines


# ---- the control socket ----
class Control:
    def __init__(self, path, proc):
        self.replies = {}
        self.cv = threading.Condition()
        self.next_id = 1
        deadline = time.time() + 60
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        buf = b""
        while True:
            data = self.s.recv(65536)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                with self.cv:
                    if "id" in msg:
                        self.replies[msg["id"]] = msg
                    self.cv.notify_all()

    def __call__(self, cmd, **kw):
        rid = self.next_id
        self.next_id += 1
        self.s.sendall((json.dumps(dict(id=rid, cmd=cmd, **kw)) + "\n").encode())
        with self.cv:
            if not self.cv.wait_for(lambda: rid in self.replies, timeout=30):
                raise TimeoutError(f"no reply to {cmd}")
            return self.replies.pop(rid)


KEYS = {c: k for k, c in enumerate("1234567890", start=2)}
for row, first in (("qwertyuiop", 16), ("asdfghjkl", 30), ("zxcvbnm", 44)):
    for i, c in enumerate(row):
        KEYS[c] = first + i
KEYS.update({" ": 57, "-": 12, "\n": 28})


def type_text(ctl, text):
    for c in text:
        for pressed in (True, False):
            r = ctl("key", code=KEYS[c], pressed=pressed)
            if not r.get("ok"):
                raise RuntimeError(f"key {c!r}: {r}")
            time.sleep(0.03)


def shot(ctl, name):
    path = os.path.join(out, name)
    r = ctl("screenshot", path=path)
    if not r.get("ok"):
        raise RuntimeError(f"screenshot: {r}")
    return Picture(path)


class GiveUp(Exception):
    """A check failed that the later ones depend on."""


# ---- the clone ----
base = os.path.join(bundle, "disk.qcow2")
with open(os.path.join(bundle, "cmdline")) as f:
    cmdline = f.read().strip()
# Debugging: e.g. GOLDEN_CMDLINE_APPEND=systemd.journald.forward_to_console=1
if os.environ.get("GOLDEN_CMDLINE_APPEND"):
    cmdline += " " + os.environ["GOLDEN_CMDLINE_APPEND"]
base_hash = sha256(base)
clone = os.path.join(out, "clone.qcow2")
r = run(img, "create", "-f", "qcow2", "-b", base, "-F", "qcow2", clone)
if not check("vdi-img makes a linked clone of the golden base", r.returncode == 0, r.stdout):
    sys.exit(1)

# Not in OUTDIR: in the lab that is a 9p share, where sockets cannot live.
sock = os.path.join(tempfile.mkdtemp(prefix="golden-"), "control.sock")
console = os.path.join(out, "console.log")
cmd = [vm, "--kernel", os.path.join(bundle, "kernel"), "--initrd", os.path.join(bundle, "initrd"),
       "--cmdline", cmdline, "--cpus", os.environ.get("GOLDEN_CPUS", "2"),
       "--memory", os.environ.get("GOLDEN_MEMORY", "1024"), "--disk", clone + ",format=qcow2",
       "--framebuffer", f"{W}x{H}", "--control", sock, "--console", console]
print("# " + " ".join(cmd), flush=True)
t_start = time.time()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(out, "vdi-vm.err"), "w"))
try:
    ctl = Control(sock, proc)

    # ---- the desktop comes up ----
    up = None
    last_bg = 0.0
    while time.time() - t_start < LIMIT and proc.poll() is None:
        # The X pointer starts in the middle of the screen, over the
        # terminal: park it in the bottom-right corner, again and again as
        # moves before X reads the tablet are lost. Two positions: the
        # kernel's input core drops an absolute value equal to the last one.
        ctl("pointer", x=32000, y=32000, buttons=0)
        ctl("pointer", x=32767, y=32767, buttons=0)
        pic = shot(ctl, "poll.ppm")
        last_bg = pic.share(BACKGROUND)
        box = pic.terminal_box()
        if last_bg > 0.3 and box and pic.inked_rows(box):
            up = time.time() - t_start
            break
        time.sleep(1)
    if not check("the desktop is up: background #205080 and the terminal with a prompt at (64,64)",
                 up is not None,
                 f"after {time.time() - t_start:.0f} s: background share {last_bg:.2f}, "
                 f"vdi-vm {'exited ' + str(proc.returncode) if proc.poll() is not None else 'running'}"):
        if proc.poll() is None:
            shot(ctl, "failed.ppm").save_png(os.path.join(out, "failed.png"))
        raise GiveUp()
    print(f"# measured boot-to-desktop {up:.1f} s (vdi-vm start to background + terminal prompt)",
          flush=True)
    # Let the session settle (bash prompt, cursor) before the reference shot.
    time.sleep(3)
    before = shot(ctl, "desktop.ppm")
    before.save_png(os.path.join(out, "desktop.png"))
    box = before.terminal_box()
    # desktop.txt: 80x24 cells of 11x23 px plus an 8 px inner border.
    check("the terminal is 896x568 at (64,64)", box == (64, 64, 960, 632), f"box {box}")
    print(f"# terminal box {box}", flush=True)
    lines0 = text_lines(before.inked_rows(box))

    # ---- typing reaches the shell ----
    type_text(ctl, "echo hi\n")
    lines1 = 0
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(1)
        pic = shot(ctl, "typed.ppm")
        lines1 = text_lines(pic.inked_rows(box))
        if lines1 >= lines0 + 2:
            break
    pic.save_png(os.path.join(out, "typed.png"))
    check("typing \"echo hi\" + Enter adds the command's output and a new prompt in the terminal",
          lines1 >= lines0 + 2, f"text lines {lines0} before, {lines1} after")

    type_text(ctl, "xsetroot -solid red\n")
    red = 0.0
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(1)
        pic = shot(ctl, "red.ppm")
        red = pic.share((255, 0, 0))
        if red > 0.3:
            break
    pic.save_png(os.path.join(out, "red.png"))
    check("typing \"xsetroot -solid red\" + Enter turns the background red", red > 0.3,
          f"red share {red:.2f}")
    ctl("stop")
    proc.wait(timeout=30)
except GiveUp:
    pass
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()

check("vdi-vm ended with status 0 after stop", proc.returncode == 0, f"status {proc.returncode}")
r = run(img, "check", clone)
check("the clone passes vdi-img check", r.returncode == 0, r.stdout)
check("the golden base is unchanged", sha256(base) == base_hash)
print(f"1..{n}")
sys.exit(1 if fails else 0)
