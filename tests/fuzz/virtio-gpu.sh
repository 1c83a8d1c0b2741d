#!/bin/sh
# Short libFuzzer run over virtio-gpu's command handling
# (hostd/vmm/virtio/virtio-gpu-proto.c): hostile command streams and rings.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/virtio-gpu-fuzz" ] || { echo "virtio-gpu-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/virtio-gpu-fuzz 20
