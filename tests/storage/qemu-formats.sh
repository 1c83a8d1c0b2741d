#!/bin/sh
# qcow2 features qemu-img makes and vdi-img must read: zstd-compressed
# clusters, extended L2 entries (subclusters), internal snapshots (check).
# Every image is made by qemu-img/qemu-io; our reads are compared byte for
# byte with qemu-img convert's, our check verdicts with qemu-img check's.
set -eu
top=${abs_top_builddir:?}
img="$top/hostd/vdi-img"
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null && command -v python3 >/dev/null ||
    { echo "qemu-img/qemu-io/python3 not installed; skipping"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*"; exit 1; }
qio() { f=$1; shift; for c in "$@"; do set -- "$@" -c "$c"; shift; done; qemu-io -f qcow2 "$@" "$f" >/dev/null; }
same() { # IMAGE: our raw export = qemu-img's, and both checks agree it is clean
    "$img" convert -O raw "$1" "$1.ours.raw" || fail "$1: vdi-img cannot read it"
    qemu-img convert -O raw "$1" "$1.theirs.raw"
    cmp "$1.ours.raw" "$1.theirs.raw" || fail "$1: we read other bytes than qemu-img"
    qemu-img check "$1" >/dev/null || fail "$1: qemu-img check"
    "$img" check "$1" >"$1.check" || { cat "$1.check"; fail "$1: vdi-img check"; }
    "$img" convert -O qcow2 "$1" "$1.ours.qcow2"
    qemu-img check "$1.ours.qcow2" >/dev/null || fail "$1: our copy fails qemu-img check"
    qemu-img compare "$1" "$1.ours.qcow2" >/dev/null || fail "$1: our copy differs"
    echo "ok $1"
}

# zstd: written compressed by qemu-io, and a whole image by convert -c.
qemu-img create -q -f qcow2 -o compression_type=zstd z.qcow2 8M
qio z.qcow2 'write -c -P 0x61 0 64k' 'write -c -P 0x62 1M 64k' 'write -P 0x63 2M 100k'
same z.qcow2
"$img" info z.qcow2 | grep -q "^file format: qcow2$" || fail "info on a zstd image"
# random (incompressible: stored plain) and patterned clusters
truncate -s 8M plain.raw
head -c 2000000 /dev/urandom | dd of=plain.raw conv=notrunc 2>/dev/null
qemu-img convert -f raw -O qcow2 plain.raw plain.qcow2
qio plain.qcow2 'write -P 0x71 2M 1M' 'write -P 0 4M 1M' 'write -P 0x72 6M 5k'
qemu-img convert -c -O qcow2 -o compression_type=zstd plain.qcow2 zc.qcow2
qemu-img convert -c -O qcow2 -o compression_type=zstd,cluster_size=4096 plain.qcow2 zc4k.qcow2
same zc.qcow2
same zc4k.qcow2
qemu-img info zc.qcow2 | grep -q "compression type: zstd" || fail "not a zstd image"

# Extended L2: subclusters allocated, zero and unallocated (the backing
# file shows through) in the same cluster; 32 KiB to 2 MiB clusters.
qemu-img create -q -f qcow2 -o extended_l2=on -b plain.qcow2 -F qcow2 eb.qcow2
qio eb.qcow2 'write -P 0x81 4k 8k' 'write -z 64k 4k' 'write -P 0x82 130k 1k' 'write -z 3M 100k'
same eb.qcow2
qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=2M e2m.qcow2 16M
qio e2m.qcow2 'write -P 0x91 100k 70k' 'write -P 0x92 5M 64k' 'write -z 5M 16k'
same e2m.qcow2
qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=32k,compression_type=zstd ez.qcow2 4M
qio ez.qcow2 'write -c -P 0xa1 0 32k' 'write -P 0xa2 40k 2k'
same ez.qcow2
qemu-img info eb.qcow2 | grep -q "extended l2: true" || fail "not an extended-L2 image"
"$img" info eb.qcow2 | grep -q "^    extended l2: true$" || fail "info: extended l2"
"$img" info ez.qcow2 | grep -q "^    compression type: zstd$" || fail "info: zstd"

# Internal snapshots: checked (table, snapshot L1/L2 tables, shared data),
# and a broken refcount of a cluster only a snapshot uses is found.
cp plain.qcow2 s.qcow2
qemu-img snapshot -c one s.qcow2
qio s.qcow2 'write -P 0x99 0 128k' 'discard 6M 64k'
qemu-img snapshot -c two s.qcow2
qio s.qcow2 'write -P 0x98 1M 64k'
same s.qcow2
"$img" info s.qcow2 | grep -q "^    internal snapshots: 2$" || fail "info: snapshots"
grep -q "^Checked 2 internal snapshots" s.qcow2.check || fail "check does not say it checked snapshots"
# zero the refcount of snapshot "one"'s L1 table (16-bit refcounts)
python3 - s.qcow2 <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
h = f.read(104)
cb = struct.unpack('>I', h[20:24])[0]
rt, = struct.unpack('>Q', h[48:56]); snaps, = struct.unpack('>Q', h[64:72])
f.seek(snaps); l1, = struct.unpack('>Q', f.read(8))
f.seek(rt); rb, = struct.unpack('>Q', f.read(8))
f.seek(rb + 2 * (l1 >> cb)); f.write(b'\0\0')
PY
st=0; "$img" check s.qcow2 >out || st=$?
[ "$st" = 2 ] || { cat out; fail "corrupt snapshot refcount: exit $st, want 2"; }
grep -q "^ERROR cluster [0-9]* refcount=0 reference=1" out || { cat out; fail "corruption not named"; }
st=0; qemu-img check s.qcow2 >/dev/null 2>&1 || st=$?
[ "$st" = 2 ] || fail "qemu-img disagrees about the corrupt snapshot image: $st"
echo "qemu-formats: all good"
