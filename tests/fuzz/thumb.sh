#!/bin/sh
# Short libFuzzer run over vdi-hostd's reading of vdi-vm's PPM screenshots
# and the thumbnail made from them (hostd/thumb.c), from a small valid seed.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/thumb-fuzz" ] || { echo "thumb-fuzz not built (no clang); skipping"; exit 77; }
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
printf 'P6\n# seed\n4 3\n255\n' >"$seeds/ppm"
head -c 36 /dev/zero | tr '\0' '\200' >>"$seeds/ppm"
cd "$top"
"$src/tests/fuzz/run" tests/fuzz/thumb-fuzz 10 "$seeds"
