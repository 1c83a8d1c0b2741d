#!/bin/sh
# broker/broker.conf.example must be what the daemon's schema prints, so
# the shipped example documents every key with its real default.
set -eu
top=${abs_top_srcdir:-.}
build=${abs_top_builddir:-.}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$build/broker/vdi-brokerd" --print-example >"$tmp"
if ! sed '1,/^$/d' "$top/broker/broker.conf.example" | diff -u - "$tmp"; then
    echo "broker/broker.conf.example is stale: regenerate it from vdi-brokerd --print-example" >&2
    exit 1
fi
# A config missing required keys fails with file, group, key and reason.
"$build/broker/vdi-brokerd" --config "$top/broker/broker.conf.example" --check-config 2>"$tmp" && exit 1
grep -q 'broker.conf.example: \[' "$tmp" || { cat "$tmp"; exit 1; }
exit 0
