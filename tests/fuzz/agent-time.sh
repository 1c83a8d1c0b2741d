#!/bin/sh
# Short libFuzzer run over vdi-vm's answer to the guest agent's lines
# (identity_time_reply), seeded with a time request.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/agent-time-fuzz" ] || { echo "agent-time-fuzz not built (no clang); skipping"; exit 77; }
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
printf '{"event":"time?"}' >"$seeds/time"
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/agent-time-fuzz 10 "$seeds"
