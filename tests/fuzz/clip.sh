#!/bin/sh
# Short libFuzzer run over the clipboard bridge to the guest agent
# (protocols/agent/clip.c): hostile guest streams, client text and UTF-16.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/clip-fuzz" ] || { echo "clip-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/clip-fuzz 20
