#!/bin/sh
# vdi-img convert against qemu-img convert on the same chains: the raw
# outputs are byte-identical (cmp), the qcow2 we write passes qemu-img check
# and exports to the same bytes, holes stay holes, and a 2 TiB sparse chain
# is converted by walking its allocation (seconds, not minutes).
set -eu
top=${abs_top_builddir:?}
img="$top/hostd/vdi-img"
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null ||
    { echo "qemu-img/qemu-io not installed; skipping"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*"; exit 1; }
qio() { f=$1; shift; for c in "$@"; do set -- "$@" -c "$c"; shift; done; qemu-io -f qcow2 "$@" "$f" >/dev/null; }

# Same guest bytes, both ways, and our qcow2 is clean for qemu-img.
same() { # SRC NAME
    "$img" convert -O raw "$1" "$2.ours.raw"
    qemu-img convert -O raw "$1" "$2.theirs.raw"
    cmp "$2.ours.raw" "$2.theirs.raw" || fail "$2: raw output differs from qemu-img's"
    "$img" convert -O qcow2 "$1" "$2.ours.qcow2"
    qemu-img check "$2.ours.qcow2" >/dev/null || fail "$2: qemu-img check on our qcow2"
    "$img" check "$2.ours.qcow2" >/dev/null || fail "$2: our check on our qcow2"
    qemu-img convert -O raw "$2.ours.qcow2" "$2.back.raw"
    cmp "$2.back.raw" "$2.theirs.raw" || fail "$2: our qcow2 holds other bytes"
    qemu-img info "$2.ours.qcow2" | grep -q "^backing file" && fail "$2: left a backing file"
    # holes are holes: not more blocks than qemu-img's output (+ 64 KiB slack)
    o=$(du -k "$2.ours.raw" | cut -f1); t=$(du -k "$2.theirs.raw" | cut -f1)
    [ "$o" -le $((t + 64)) ] || fail "$2: raw output not sparse ($o KiB vs qemu-img's $t KiB)"
    echo "ok $2 (raw ${o} KiB, qemu-img ${t} KiB)"
}

# 1. A chain with every kind of entry: a raw base with data and holes, a
# 4 KiB-cluster qcow2 over it (partial clusters, zero clusters hiding the
# base, discards), a compressed layer, a bigger top over a shorter chain.
truncate -s 48M base.raw
printf 'base-head' | dd of=base.raw conv=notrunc 2>/dev/null
head -c 3000000 /dev/urandom | dd of=base.raw bs=1M seek=5 conv=notrunc 2>/dev/null
head -c 70000 /dev/urandom | dd of=base.raw bs=4096 seek=9000 conv=notrunc 2>/dev/null
qemu-img create -q -f qcow2 -o cluster_size=4096 -b base.raw -F raw l1.qcow2
qio l1.qcow2 'write -P 0x11 1000 5000' 'write -z 5M 64k' 'discard 6M 128k' \
    'write -P 0x12 40M 1M' 'write -z 0 4096'
qemu-img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2-src.qcow2
qio l2-src.qcow2 'write -P 0x21 20M 256k' 'write -P 0x22 41M 64k'
qemu-img convert -c -O qcow2 -B l1.qcow2 -F qcow2 l2-src.qcow2 l2.qcow2
qemu-img create -q -f qcow2 -b l2.qcow2 -F qcow2 top.qcow2 64M
qio top.qcow2 'write -P 0x31 20M 512' 'write -P 0x32 50M 70k' 'write -z 41M 64k' \
    'write -P 0x33 67106816 512'
same top.qcow2 chain
same l1.qcow2 small-clusters
same base.raw raw-base

# 2. A 2 GiB-class image, half allocated, some clusters all zeros: the
# zero-filled allocated clusters become holes too.
qemu-img create -q -f qcow2 half.qcow2 256M
i=0; cmds=""
while [ $i -lt 256 ]; do
    if [ $((i % 4)) = 0 ]; then set -- -c "write -P $((i % 250 + 1)) ${i}M 1M"; else set --; fi
    [ $((i % 4)) = 1 ] && set -- -c "write -P 0 ${i}M 1M"
    [ $# -gt 0 ] && qemu-io -f qcow2 "$@" half.qcow2 >/dev/null
    i=$((i + 1))
done
same half.qcow2 half

# 3. A 4-deep chain over a 2 TiB sparse base: the allocation is walked, so
# this takes well under the timeout (the old loop over the virtual size
# took 70 s); qemu-img compare checks the content (it skips holes too).
truncate -s 2T big.raw
qemu-img create -q -f qcow2 -b big.raw -F raw b1.qcow2
qio b1.qcow2 'write -P 0x41 1G 1M' 'write -P 0x42 1T 64k'
qemu-img create -q -f qcow2 -b b1.qcow2 -F qcow2 b2.qcow2
qio b2.qcow2 'write -P 0x43 1G 4k' 'write -z 1T 4k'
qemu-img create -q -f qcow2 -b b2.qcow2 -F qcow2 b3.qcow2
qio b3.qcow2 'write -P 0x44 2047G 128k'
qemu-img create -q -f qcow2 -b b3.qcow2 -F qcow2 b4.qcow2
qio b4.qcow2 'write -P 0x45 5M 3k'
timeout 60 "$img" convert -O raw b4.qcow2 big.ours.raw || fail "2 TiB chain to raw (timeout?)"
[ "$(stat -c %s big.ours.raw)" = 2199023255552 ] || fail "2 TiB raw size"
[ "$(du -k big.ours.raw | cut -f1)" -lt 4096 ] || fail "2 TiB raw output is not sparse"
qemu-img compare -f raw -F qcow2 big.ours.raw b4.qcow2 >/dev/null || fail "2 TiB chain content"
timeout 60 "$img" convert -O qcow2 b4.qcow2 big.ours.qcow2 || fail "2 TiB chain to qcow2"
qemu-img check big.ours.qcow2 >/dev/null || fail "qemu-img check on the 2 TiB qcow2"
qemu-img compare big.ours.qcow2 b4.qcow2 >/dev/null || fail "2 TiB qcow2 content"
[ "$(stat -c %s big.ours.qcow2)" -lt 4194304 ] || fail "2 TiB qcow2 output is not sparse"
echo "ok 2 TiB chain"
echo "convert: all good"
