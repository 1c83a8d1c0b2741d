#!/bin/sh
# Short libFuzzer run over virtio-gpu's snapshot section loader
# (hostd/vmm/virtio/virtio-gpu-state.c): damaged and hostile sections.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/virtio-gpu-state-fuzz" ] || { echo "virtio-gpu-state-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/virtio-gpu-state-fuzz 20
