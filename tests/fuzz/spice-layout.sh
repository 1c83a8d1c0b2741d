#!/bin/sh
# Short libFuzzer run over the SPICE client's monitors config as a layout
# request (protocols/spice/layout.c).
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/spice-layout-fuzz" ] || { echo "spice-layout-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/spice-layout-fuzz 20
