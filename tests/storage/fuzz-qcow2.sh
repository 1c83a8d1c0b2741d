#!/bin/sh
# Short libFuzzer run over the qcow2 parser, seeded with small valid images
# made at test time (ours, and QEMU's when qemu-img/qemu-io are installed).
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/qcow2-fuzz" ] || { echo "qcow2-fuzz not built (no clang); skipping"; exit 77; }
img="$top/hostd/vdi-img"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cd "$seeds"
"$img" create -f qcow2 -o cluster_size=512 empty.qcow2 64K
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "%c", 65 + i % 26 }' > pattern.raw
truncate -s 16K pattern.raw
"$img" convert -f raw -O qcow2 -o cluster_size=512 pattern.raw data.qcow2
"$img" create -f qcow2 -o cluster_size=512 -b data.qcow2 -F qcow2 overlay.qcow2
"$img" create -f qcow2 -o cluster_size=4096 small4k.qcow2 1M
if command -v qemu-img >/dev/null && command -v qemu-io >/dev/null; then
    qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=512 v2.qcow2 32K
    qemu-io -f qcow2 -c 'write -P 0x5a 1k 2k' v2.qcow2 >/dev/null
    qemu-img create -q -f qcow2 -o cluster_size=512 v3.qcow2 32K
    qemu-io -f qcow2 -c 'write -P 0x11 0 1k' -c 'write -z 4k 1k' v3.qcow2 >/dev/null
    qemu-img convert -c -O qcow2 -o cluster_size=512 v3.qcow2 z.qcow2
    qemu-img convert -c -O qcow2 -o cluster_size=512,compression_type=zstd v3.qcow2 zstd.qcow2
    qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=16k extl2.qcow2 64K
    qemu-io -f qcow2 -c 'write -P 0x22 1k 2k' -c 'write -z 8k 1k' extl2.qcow2 >/dev/null
    qemu-img create -q -f qcow2 -o cluster_size=512 snap.qcow2 16K
    qemu-io -f qcow2 -c 'write -P 0x33 0 1k' snap.qcow2 >/dev/null
    qemu-img snapshot -c s1 snap.qcow2
    qemu-io -f qcow2 -c 'write -P 0x44 512 1k' snap.qcow2 >/dev/null
fi
rm -f pattern.raw
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/qcow2-fuzz 20 "$seeds"
