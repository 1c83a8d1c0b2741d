#!/bin/sh
# Short libFuzzer run over the web display protocol's inbound parser
# (protocols/web/proto.c) on hostile client messages.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/web-proto-fuzz" ] || { echo "web-proto-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/web-proto-fuzz 20
