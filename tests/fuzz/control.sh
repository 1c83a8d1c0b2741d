#!/bin/sh
# Short libFuzzer run over vdi-vm's control socket with passed descriptors
# (hostd/vmm/control.c, lib/fdpass.c).
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/control-fuzz" ] || { echo "control-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/control-fuzz 20
