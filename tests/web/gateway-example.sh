#!/bin/sh
# gateway/gateway.conf.example is what `vdi-gateway --print-example` prints,
# and vdi-gateway refuses a bad configuration with the key and the fix.
set -u
b=${abs_top_builddir:-.}
s=${abs_top_srcdir:-.}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
"$b/gateway/vdi-gateway" --print-example | diff -u "$s/gateway/gateway.conf.example" - ||
    { echo "regenerate: gateway/vdi-gateway --print-example > gateway/gateway.conf.example"; exit 1; }
touch "$t/c.pem" "$t/k.pem"
bad() { # EXPECTED-MESSAGE INI
    printf '%s\n' "$2" >"$t/g.conf"
    out=$("$b/gateway/vdi-gateway" --config "$t/g.conf" --check-config 2>&1) && {
        echo "FAIL: accepted: $2"; exit 1; }
    case $out in *"$1"*) ;; *) echo "FAIL: for [$2] expected '$1', got: $out"; exit 1 ;; esac
}
base="[gateway]
cert = $t/c.pem
key = $t/k.pem
ca_file = $t/c.pem"
bad 'origin: "http://x" is not an origin' "$base
origin = http://x
broker_url = https://b:8443"
bad 'origin: "https://x/path" is not an origin' "$base
origin = https://x/path
broker_url = https://b:8443"
bad 'broker_url: "https://b:8443/api" is not like' "$base
origin = https://x
broker_url = https://b:8443/api"
bad 'path: "gateway" is not a path' "$base
origin = https://x
broker_url = https://b:8443
path = gateway"
bad 'broker_url' "$base
origin = https://x"
printf '%s\n' "$base
origin = https://portal.example
broker_url = https://b:8443" >"$t/g.conf"
"$b/gateway/vdi-gateway" --config "$t/g.conf" --check-config || { echo "FAIL: good config refused"; exit 1; }
echo "ok: example matches, 5 bad configurations refused, a good one accepted"
