#!/bin/sh
# Short libFuzzer run over the MBR/GPT parser, seeded with tables made by
# sfdisk and sgdisk when they are installed.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/partition-fuzz" ] || { echo "partition-fuzz not built (no clang); skipping"; exit 77; }
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cd "$seeds"
if command -v sfdisk >/dev/null; then
    truncate -s 8M mbr.img
    printf 'label: dos\n,2M,83\n,1M,82\n,,5\n,1M,83\n,,83\n' | sfdisk -q mbr.img >/dev/null 2>&1 || true
    head -c 65536 mbr.img > mbr.seed
fi
if command -v sgdisk >/dev/null; then
    truncate -s 8M gpt.img
    sgdisk -n 1:2048:+1M -t 1:ef02 -n 2:0:+2M -t 2:8300 -c 2:boot -n 3:0:0 -t 3:8304 gpt.img >/dev/null 2>&1 || true
    head -c 65536 gpt.img > gpt.seed
fi
rm -f ./*.img
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/partition-fuzz 15 "$seeds"
