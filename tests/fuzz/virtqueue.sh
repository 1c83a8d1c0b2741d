#!/bin/sh
# Short libFuzzer run over the split-virtqueue code (hostd/vmm/virtio/virtqueue.c)
# with hostile descriptor chains over a fake guest RAM.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/virtqueue-fuzz" ] || { echo "virtqueue-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/virtqueue-fuzz 20
