#!/bin/sh
# vdi-img command line: create, linked clone, info, check exit codes,
# convert, errors. Cross-checked with qemu-img when it is installed.
set -eu
top=${abs_top_builddir:?}
img="$top/hostd/vdi-img"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*"; exit 1; }

"$img" --help | grep -q "create -f qcow2 -b BACKING" || fail "--help"
"$img" create -f qcow2 base.qcow2 1G
"$img" create -f raw disk.raw 512M
[ "$(stat -c %s disk.raw)" = 536870912 ] || fail "raw size"
mkdir clones
"$img" create -f qcow2 -b ../base.qcow2 -F qcow2 clones/c1.qcow2
out=$("$img" info clones/c1.qcow2)
echo "$out"
echo "$out" | grep -q "^file format: qcow2$" || fail "info format"
echo "$out" | grep -q "^virtual size: 1 GiB (1073741824 bytes)$" || fail "info size"
echo "$out" | grep -q "^cluster_size: 65536$" || fail "info cluster size"
echo "$out" | grep -q "^backing file: ../base.qcow2 (actual path: clones/../base.qcow2)$" || fail "info backing"
echo "$out" | grep -q "^  1: clones/../base.qcow2 (qcow2, 1 GiB)$" || fail "info chain"
"$img" check clones/c1.qcow2 || fail "check clean"

# errors name the file and the reason; exit 1
if "$img" create -f qcow2 -b missing.qcow2 -F qcow2 x.qcow2 2>err; then fail "missing backing"; fi
grep -q "x.qcow2: cannot open backing file: missing.qcow2: cannot open: No such file or directory" err || { cat err; fail "missing backing message"; }
if "$img" create -f qcow2 -b base.qcow2 x.qcow2 2>err; then fail "-b without -F"; fi
grep -q "needs the backing format" err || fail "-F message"
if "$img" create -f qcow2 y.qcow2 10Q 2>err; then fail "bad size"; fi
grep -q "invalid size '10Q'" err || fail "size message"
st=0; "$img" check nonexistent.qcow2 2>/dev/null || st=$?
[ "$st" = 1 ] || fail "check error exit $st"

# leak → 3, corruption → 2 (same codes as qemu-img check)
"$img" create -f qcow2 l.qcow2 4M
truncate -s 393216 l.qcow2                      # one spare cluster (5)
printf '\000\001' | dd of=l.qcow2 bs=1 seek=$((131072 + 10)) conv=notrunc 2>/dev/null
st=0; "$img" check l.qcow2 >out || st=$?
[ "$st" = 3 ] || { cat out; fail "leak exit $st"; }
printf '\000\000' | dd of=l.qcow2 bs=1 seek=$((131072 + 6)) conv=notrunc 2>/dev/null  # L1 refcount 0
st=0; "$img" check l.qcow2 >out || st=$?
[ "$st" = 2 ] || { cat out; fail "corruption exit $st"; }
if command -v qemu-img >/dev/null; then
    st=0; qemu-img check l.qcow2 >/dev/null 2>&1 || st=$?
    [ "$st" = 2 ] || fail "qemu-img disagrees: $st"
fi

# convert a chain to standalone images
awk 'BEGIN { for (i = 0; i < 70000; i++) printf "%c", 97 + i % 26 }' > data.raw
truncate -s 1M data.raw
"$img" convert -f raw -O qcow2 data.raw data.qcow2
"$img" create -f qcow2 -b data.qcow2 -F qcow2 ov.qcow2 2M
"$img" convert -O raw ov.qcow2 flat.raw
"$img" convert -O qcow2 ov.qcow2 flat.qcow2
[ "$(stat -c %s flat.raw)" = 2097152 ] || fail "convert size"
cmp -n 1048576 data.raw flat.raw || fail "convert content"
"$img" info flat.qcow2 | grep -q "^backing file" && fail "convert left a backing file"
if command -v qemu-img >/dev/null; then
    qemu-img check flat.qcow2 >/dev/null || fail "qemu-img check flat.qcow2"
    qemu-img compare -f raw -F qcow2 flat.raw flat.qcow2 >/dev/null || fail "qemu-img compare"
    qemu-img compare ov.qcow2 flat.qcow2 >/dev/null || fail "qemu-img compare chain"
fi
echo "vdi-img: all good"
