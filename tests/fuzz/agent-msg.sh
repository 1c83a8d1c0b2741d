#!/bin/sh
# Short libFuzzer run over the test guest agent's parser of vdi-vm's
# messages (tests/guest/agent-msg.c), seeded with a "cloned" message.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/agent-msg-fuzz" ] || { echo "agent-msg-fuzz not built (no clang); skipping"; exit 77; }
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
printf '{"event":"cloned","vmgenid":"0123456789abcdeffedcba9876543210","mac":"02:56:44:00:00:0a","hostname":"clone-1","machine_id":"0123456789abcdef0123456789abcdef","time":1765123456.1234567}' >"$seeds/cloned"
printf '{"event":"resumed","time":5.5}' >"$seeds/resumed"
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/agent-msg-fuzz 10 "$seeds"
