#!/usr/bin/python3
"""tests/vmm/sound-lab.py VDI_VM KERNEL INITRD OUTDIR

The HD Audio checks of issue 19 that need /dev/kvm, run by
tests/vmm/sound.sh through tests/lab/needs-kvm (one guest boot). The test
guest (agent.action=soundtest, with snd_hda_intel and the generic codec
driver) plays 1 s of a known 48 kHz stereo pattern through ALSA, records
0.5 s at 44.1 kHz stereo, then programs the controller as a hostile driver.
Checks:

- Linux binds snd_hda_intel and a codec to the card (/proc/asound/cards);
- the --sound-out file holds the guest's pattern, every frame, in order
  (exactly, without a gap, when the guest had no underrun; after an
  underrun the card replays stale buffer contents until the driver stops
  it, as hardware does, so then every frame in order among others), and
  vdi-vm logged its format (48000 Hz, 2 channels);
- playing 1 s took the guest at least 0.85 s (the device paces the DMA at
  the stream's rate: not faster than real time, less the last period the
  driver does not wait for);
- the guest recorded the --sound-in file's samples, unchanged;
- after the hostile programming, the guest still powers off and vdi-vm
  (built with ASan) ends with status 0 and no sanitizer report.
"""
import os
import re
import struct
import subprocess
import sys

vm, kernel, initrd, out = sys.argv[1:5]
LIMIT = int(os.environ.get("VMM_BOOT_TIMEOUT", "300"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtap  # noqa: E402
from labtap import check  # noqa: E402

PLAY_FRAMES = 48000
REC_FRAMES = 44100


def s16(v):
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def play_pattern():
    """agent_play_sample() of tests/guest/agent.c."""
    return b"".join(struct.pack("<hh", s16(i * 7919), s16(i ^ 0x5A5A)) for i in range(PLAY_FRAMES))


mic = os.path.join(out, "mic.raw")
with open(mic, "wb") as f:
    # agent_rec_sample() of tests/guest/agent.c
    f.write(b"".join(struct.pack("<hh", s16(i * 5 + 3), s16(~(i * 5 + 3))) for i in range(REC_FRAMES)))
played = os.path.join(out, "played.raw")
console_path = os.path.join(out, "sound-console.log")
err_path = os.path.join(out, "sound-vdi-vm.err")
args = [vm, "--kernel", kernel, "--initrd", initrd, "--memory", "256", "--no-input",
        "--cmdline", "console=ttyS0 agent.action=soundtest", "--sound", "hda",
        "--sound-out", played, "--sound-in", mic, "--console", console_path]
with open(err_path, "wb") as err:
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        rc = proc.wait(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
        check("the sound guest finished in time", False, f"killed after {LIMIT} s")

console = open(console_path, errors="replace").read()
stderr = open(err_path, errors="replace").read()
agent = "\n".join(line for line in console.splitlines() if "AGENT" in line)
print("# " + agent.replace("\n", "\n# "))

check("vdi-vm ended with status 0 after the guest powered off", rc == 0 and "AGENT poweroff" in console,
      f"status {rc}; stderr tail: {stderr[-800:]!r}")
check("no sanitizer report from vdi-vm", "Sanitizer" not in stderr and "runtime error" not in stderr,
      stderr[-2000:])
m = re.search(r'AGENT sound card="([^"]*)"', console)
check("Linux bound snd_hda_intel to the card", bool(m) and "HDA" in m.group(1), agent)
check("no agent errors", "AGENT error" not in console, agent)

def in_order(data, want):
    """Is every 4-byte frame of want in data, in order (a subsequence)?"""
    pos = 0
    for i in range(0, len(want), 4):
        pos = data.find(want[i:i + 4], pos)
        while pos > 0 and pos % 4:
            pos = data.find(want[i:i + 4], pos + 1)
        if pos < 0:
            return False
        pos += 4
    return True


data = open(played, "rb").read() if os.path.exists(played) else b""
want = play_pattern()
start = data.find(want[:64])
xr = re.search(r"AGENT sound play frames=\d+ xruns=(\d+)", console)
exact = start >= 0 and data[start:start + len(want)] == want
print(f"# --sound-out: {len(data)} bytes, pattern at {start}, guest underruns "
      f"{xr.group(1) if xr else '?'}, exact={exact}")
check("the guest's pattern arrived in --sound-out, every frame in order",
      exact or (bool(xr) and xr.group(1) != "0" and in_order(data, want)),
      f"{len(data)} bytes, pattern found at {start}")
check("vdi-vm logged the playback format", "event=sound-out rate=48000 channels=2 bits=16" in stderr, stderr[-800:])
m = re.search(r"AGENT sound play frames=(\d+) xruns=\d+ seconds=([\d.]+)", console)
check("the guest played 1 s of audio in real time (>= 0.85 s)",
      bool(m) and int(m.group(1)) == PLAY_FRAMES and float(m.group(2)) >= 0.85, m.group(0) if m else agent)
m = re.search(r"AGENT sound record frames=(\d+) bad=(\d+) first_bad=(-?\d+) seconds=([\d.]+)", console)
check("the guest recorded the --sound-in samples unchanged",
      bool(m) and int(m.group(1)) == 22050 and m.group(2) == "0" and float(m.group(4)) >= 0.4,
      m.group(0) if m else agent)
check("the hostile driver ran and the guest survived it",
      "AGENT sound hostile done" in console and "AGENT sound done" in console, agent)
labtap.finish()
