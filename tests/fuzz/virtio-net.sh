#!/bin/sh
# Short libFuzzer run over virtio-net's request parsing
# (hostd/vmm/virtio/virtio-net-proto.c) on hostile descriptor chains.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/virtio-net-fuzz" ] || { echo "virtio-net-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/virtio-net-fuzz 20
