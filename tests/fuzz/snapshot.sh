#!/bin/sh
# Short libFuzzer run over the snapshot state file parser and the device
# state loaders, seeded with valid files (right checksums) made here.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/snapshot-fuzz" ] || { echo "snapshot-fuzz not built (no clang); skipping"; exit 77; }
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
# SNAPSHOT.md "State file": header, then name[32] length crc header-crc payload.
python3 - "$seeds" <<'PY'
import struct, sys, zlib
def build(secs):
    h = bytearray(b"VDIVMST\n" + struct.pack("<IIQI", 2, 0, len(secs), 0))
    h += struct.pack("<I", zlib.crc32(h))
    for name, p in secs:
        s = bytearray(name.encode().ljust(32, b"\0") + struct.pack("<QI", len(p), zlib.crc32(p)))
        h += s + struct.pack("<I", zlib.crc32(s)) + p
    return bytes(h)
uart = bytes([5, 3, 0, 0x60, 0xb0, 0, 1, 0, 0]) + bytes([0, 0, 0, 2]) + b"ab" + bytes(14)
pci = struct.pack("<I", 0x80000000) + bytes([0]) + bytes(256)
cpuid = struct.pack("<I", 1) + struct.pack("<IIIIIIII", 1, 0, 0, 0, 0, 0, 0, 0) + bytes(8)
seeds = {
    "devices": [("dev.serial", uart), ("dev.power", struct.pack("<HHH", 0, 0x100, 1)), ("dev.pci", pci)],
    "vcpu": [("vcpu.0", cpuid + struct.pack("<I", 4) + bytes(4))],
    "misc": [("machine", struct.pack("<IQ", 2, 256 << 20)), ("ram", bytes(20)),
             ("disks", struct.pack("<IBQBQ", 2, 1, 16 << 20, 0, 1 << 30))],
}
for name, secs in seeds.items():
    open(f"{sys.argv[1]}/{name}", "wb").write(build(secs))
PY
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/snapshot-fuzz 20 "$seeds"
