#!/bin/sh
# Edges of the portal's HTTP handling, probed with curl against a real
# vdi-brokerd (tests/harness/broker-start) on real PostgreSQL and slapd:
#   - a body over [http] max_body gets 413 too_large whether its size is
#     declared (Content-Length) or only known as it arrives (chunked);
#   - after a 413 the broker still serves (the connection was closed
#     cleanly, not reset);
#   - a NUL in the user name gets a 400 that names the NUL, not a flag of
#     the JSON parser, and nothing is written to the database.
set -u
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
test_name=edges
. "$top/tests/broker/lib.sh"
start_servers
"$harness/broker-start" "$dir/broker" --pg "$dir/pg.env" --ldap "$dir/ldap.env" \
    --pki "$dir/pki" --owner $$ >"$dir/broker.env" || fail "broker-start"
. "$dir/pg.env"
. "$dir/broker.env"
export PGPASSWORD
psql_() { psql -X -q -t -A -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" -c "$1"; }
c() { curl -sS --cacert "$dir/pki/ca.pem" "$@"; }

# 2 MB of JSON (the default max_body is 64 KiB).
python3 -c 'import sys; sys.stdout.write("{\"username\":\"" + "x" * (2 << 20) + "\",\"password\":\"p\"}")' \
    >"$dir/big.json"

st=$(c -o "$dir/out" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$dir/big.json" "$BROKER_URL/api/v1/login") || fail "Content-Length: transport error"
[ "$st" = 413 ] && grep -q '"error":"too_large"' "$dir/out" || fail "Content-Length: got $st $(cat "$dir/out")"
echo "ok - 2 MB with Content-Length: 413 too_large"

# curl sends a body read from stdin without a length as chunked.
st=$(c -o "$dir/out" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @- "$BROKER_URL/api/v1/login" <"$dir/big.json") ||
    fail "chunked: transport error (connection reset?)"
[ "$st" = 413 ] || fail "chunked: got $st $(cat "$dir/out")"
grep -q '"error":"too_large"' "$dir/out" && grep -q 'larger than 65536 bytes' "$dir/out" ||
    fail "chunked: body $(cat "$dir/out")"
echo "ok - 2 MB chunked: 413 too_large"

# A chunked body under the limit still works (a wrong password: 401).
printf '{"username":"alice","password":"wrong"}' >"$dir/small.json"
st=$(c -o "$dir/out" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @- "$BROKER_URL/api/v1/login" <"$dir/small.json")
[ "$st" = 401 ] || fail "small chunked body: got $st $(cat "$dir/out")"
st=$(c -o /dev/null -w '%{http_code}' "$BROKER_URL/healthz")
[ "$st" = 200 ] || fail "healthz after the 413s: $st"
echo "ok - small chunked body served, broker healthy after the 413s"

before=$(psql_ "SELECT (SELECT count(*) FROM login_failures) || '/' || (SELECT count(*) FROM audit_events) || '/' || (SELECT count(*) FROM portal_sessions)")
for body in '{"username":"al\u0000ice","password":"alice-pw"}' \
            '{"username":"alice\u0000","password":"x"}'; do
    st=$(c -o "$dir/out" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$body" "$BROKER_URL/api/v1/login")
    [ "$st" = 400 ] || fail "NUL in user name: got $st $(cat "$dir/out")"
    grep -q 'contains a NUL character' "$dir/out" || fail "NUL message: $(cat "$dir/out")"
    grep -q 'JSON_ALLOW_NUL' "$dir/out" && fail "NUL message names the parser flag: $(cat "$dir/out")"
done
# A raw NUL byte (not an escape) gets the same answer.
printf '{"username":"al\000ice","password":"x"}' >"$dir/nul.json"
st=$(c -o "$dir/out" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$dir/nul.json" "$BROKER_URL/api/v1/login")
[ "$st" = 400 ] && grep -q 'contains a NUL character' "$dir/out" || fail "raw NUL: $st $(cat "$dir/out")"
after=$(psql_ "SELECT (SELECT count(*) FROM login_failures) || '/' || (SELECT count(*) FROM audit_events) || '/' || (SELECT count(*) FROM portal_sessions)")
[ "$before" = "$after" ] || fail "NUL requests changed rows: $before -> $after"
echo "ok - NUL in the user name: 400 naming the NUL, no rows written ($(cat "$dir/out"))"
exit 0
