#!/bin/sh
# Short libFuzzer run over the HD Audio controller (hostd/vmm/hw/hda.c):
# hostile register programming, BDLs, CORB commands and codec verbs.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/hda-fuzz" ] || { echo "hda-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/hda-fuzz 20
