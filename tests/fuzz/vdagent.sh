#!/bin/sh
# Short libFuzzer run over the SPICE agent stream parser
# (protocols/agent/vdagent.c).
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/vdagent-fuzz" ] || { echo "vdagent-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/vdagent-fuzz 20
