#!/bin/sh
# Short libFuzzer run over the live migration stream's receiving side,
# seeded with valid streams (right checksums) made here.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/migrate-fuzz" ] || { echo "migrate-fuzz not built (no clang); skipping"; exit 77; }
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
# MIGRATION.md: header; frames of u32 type, u32 length, u32 payload CRC,
# u32 header CRC, payload.
python3 - "$seeds" <<'PY'
import struct, sys, zlib
def header(ram):
    h = b"VDIVMMG\n" + struct.pack("<IIQ", 1, 0, ram)
    return h + struct.pack("<I", zlib.crc32(h))
def frame(t, p=b""):
    h = struct.pack("<III", t, len(p), zlib.crc32(p))
    return h + struct.pack("<I", zlib.crc32(h)) + p
def state(secs):
    h = bytearray(b"VDIVMST\n" + struct.pack("<IIQI", 2, 0, len(secs), 0))  # SNAPSHOT.md format version 2
    h += struct.pack("<I", zlib.crc32(h))
    for name, p in secs:
        s = bytearray(name.encode().ljust(32, b"\0") + struct.pack("<QI", len(p), zlib.crc32(p)))
        h += s + struct.pack("<I", zlib.crc32(s)) + p
    return bytes(h)
ram = 1 << 20
st = state([("machine", struct.pack("<IQ", 1, ram)), ("ram", struct.pack("<QQI", ram, 0, 0))])
pages = frame(1, struct.pack("<QII", 2, 1, 0) + bytes([7]) * 4096)
zero = frame(1, struct.pack("<QII", 3, 4, 1))
seeds = {
    "whole": header(ram) + pages + zero + frame(2, st) + frame(3),
    "cut": header(ram) + pages[:100],
    "nostate": header(ram) + zero + frame(3),
    "error": header(ram) + frame(17, b"refused"),
}
for name, b in seeds.items():
    open(f"{sys.argv[1]}/{name}", "wb").write(b)
PY
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/migrate-fuzz 20 "$seeds"
