#!/bin/sh
# Short libFuzzer run over virtio-console's control messages and port
# FIFOs (hostd/vmm/virtio/virtio-console-proto.c).
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/virtio-console-fuzz" ] || { echo "virtio-console-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/virtio-console-fuzz 20
