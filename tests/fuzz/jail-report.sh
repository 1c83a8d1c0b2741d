#!/bin/sh
# Short libFuzzer run over vdi-hostd's reading of seccomp reports in
# vdi-vm.log (hostd/jail-report.c).
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/jail-report-fuzz" ] || { echo "jail-report-fuzz not built (no clang); skipping"; exit 77; }
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/jail-report-fuzz 10
