#!/bin/sh
# Three real vdi-brokerd (tests/harness/broker-start) on one PostgreSQL
# and one slapd, behind HAProxy (tests/harness/haproxy-start: round robin,
# health checks on /healthz), as deployed:
#   - a portal session made through one broker is valid on every broker
#     (asked directly, and through HAProxy round robin);
#   - exactly one broker leads the pool loop (one advisory lock in
#     pg_locks); when the leader is SIGKILLed another takes over within a
#     few seconds, HAProxy marks the dead broker DOWN, and sign-in and
#     session checks through HAProxy keep working.
set -u
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
harness=$top/tests/harness
command -v curl >/dev/null || { echo "curl not found"; exit 77; }
command -v haproxy >/dev/null || { echo "haproxy not found (apt-get install haproxy)"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/broker-active-active-XXXXXX")
[ "$(id -u)" != 0 ] || chmod go+x "$dir"
cleanup() {
    [ -n "${HAPROXY_PID:-}" ] && kill "$HAPROXY_PID" 2>/dev/null
    for b in 1 2 3; do
        [ -f "$dir/b$b/broker.pid" ] && kill "$(cat "$dir/b$b/broker.pid")" 2>/dev/null
    done
    "$harness/slapd-stop" "$dir/ldap" 2>/dev/null
    "$harness/pg-stop" "$dir/pg" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fail() {
    echo "not ok - $*"
    for b in 1 2 3; do echo "== b$b"; tail -n 8 "$dir/b$b/broker.log" 2>/dev/null; done
    exit 1
}

"$harness/pg-start" "$dir/pg" --fast --owner $$ >"$dir/pg.env" || fail "pg-start"
"$harness/slapd-start" "$dir/ldap" --owner $$ >"$dir/ldap.env" || fail "slapd-start"
"$harness/make-pki" "$dir/pki" || fail "make-pki"
. "$dir/pg.env"
export PGPASSWORD
psql_() { psql -X -q -t -A -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" -c "$1"; }
printf '[pools]\ninterval_ms = 500\n' >"$dir/extra.ini"
. "$top/tests/broker/brokers.sh"
behind_haproxy "$dir/extra.ini"

# req JAR METHOD URL [BODY]: status in $st, body in $dir/out.
req() {
    _jar=$1 _m=$2 _u=$3
    shift 3
    _csrf=""
    [ -f "$dir/$_jar.csrf" ] && _csrf=$(cat "$dir/$_jar.csrf")
    st=$(curl -sS -m 30 --cacert "$dir/pki/ca.pem" -b "$dir/$_jar.jar" -c "$dir/$_jar.jar" \
        -X "$_m" -H 'Content-Type: application/json' -H "X-CSRF-Token: $_csrf" \
        ${1:+--data-binary "$1"} -o "$dir/out" -w '%{http_code}' "$_u") || st=000
}
login() { # JAR BASE_URL USER PASSWORD
    req "$1" POST "$2/api/v1/login" "{\"username\":\"$3\",\"password\":\"$4\"}"
    [ "$st" = 200 ] && sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p' "$dir/out" >"$dir/$1.csrf"
}
served() { grep -c "path=/api/v1/me status=200" "$dir/b$1/broker.log"; }

# A session made on broker 1 is valid on 2 and 3, asked directly.
login alice "$url1" alice alice-pw
[ "$st" = 200 ] || fail "alice signs in on b1: $st $(cat "$dir/out")"
for b in 2 3; do
    eval "u=\$url$b"
    req alice GET "$u/api/v1/me"
    [ "$st" = 200 ] && grep -q '"login":"alice"' "$dir/out" || fail "alice's session on b$b: $st $(cat "$dir/out")"
    req alice POST "$u/api/v1/launch" '{"pool":"none","protocol":"rdp"}'
    [ "$st" = 404 ] || fail "alice launches on b$b (CSRF token from b1): $st $(cat "$dir/out")"
done
echo "ok - a session made on b1 is valid on b2 and b3 (/me, and launch with b1's CSRF token)"

# Through HAProxy: sign in once, then round robin spreads /me over all three.
login bob "$HAPROXY_URL" bob bob-pw
[ "$st" = 200 ] || fail "bob signs in through HAProxy: $st $(cat "$dir/out")"
m1=$(served 1) m2=$(served 2) m3=$(served 3)
for i in $(seq 1 9); do
    req bob GET "$HAPROXY_URL/api/v1/me"
    [ "$st" = 200 ] || fail "bob's /me #$i through HAProxy: $st"
done
for b in 1 2 3; do
    eval "before=\$m$b"
    [ "$(served $b)" -gt "$before" ] || fail "b$b served none of bob's requests"
done
echo "ok - through HAProxy bob's one session was accepted by all three brokers (9 requests)"

# One leader, by the advisory lock in PostgreSQL and the brokers' logs.
locks() { psql_ "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"; }
i=0
until [ "$(locks)" = 1 ]; do i=$((i + 1)); [ "$i" -lt 50 ] || fail "no pool loop leader"; sleep 0.2; done
leader=""
for b in 1 2 3; do
    grep -q 'event=pools_leader' "$dir/b$b/broker.log" && leader="$leader$b"
done
[ ${#leader} = 1 ] || fail "leaders by the logs: '$leader' (want exactly one)"
holder=$(psql_ "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
echo "ok - one pool loop leader: b$leader (advisory lock held by backend $holder)"

eval "victim=\$pid$leader"
kill -9 "$victim"
t0=$(date +%s)
i=0
while :; do
    new=""
    for b in 1 2 3; do
        [ "$b" = "$leader" ] && continue
        grep -q 'event=pools_leader' "$dir/b$b/broker.log" && new="$new$b"
    done
    [ -n "$new" ] && [ "$(locks)" = 1 ] && break
    i=$((i + 1))
    [ "$i" -lt 100 ] || fail "no broker took the lead 20 s after b$leader was killed"
    sleep 0.2
done
[ ${#new} = 1 ] || fail "two new leaders: $new"
newholder=$(psql_ "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
[ "$newholder" != "$holder" ] || fail "the lock is still held by the dead broker's backend"
echo "ok - b$leader SIGKILLed: b$new leads within $(($(date +%s) - t0)) s (lock now held by backend $newholder)"

i=0
until curl -fsS "$HAPROXY_STATS;csv" | grep -q "^brokers,b$leader,.*DOWN"; do
    i=$((i + 1)); [ "$i" -lt 50 ] || fail "HAProxy did not mark b$leader DOWN"; sleep 0.2
done
for i in $(seq 1 6); do
    req bob GET "$HAPROXY_URL/api/v1/me"
    [ "$st" = 200 ] || fail "bob's /me #$i through HAProxy after the kill: $st"
done
login carol "$HAPROXY_URL" carol carol-pw
[ "$st" = 200 ] || fail "carol signs in through HAProxy after the kill: $st $(cat "$dir/out")"
[ "$(psql_ "SELECT count(*) FROM portal_sessions WHERE user_name IN ('alice','bob','carol')")" = 3 ] ||
    fail "sessions: $(psql_ "SELECT user_name FROM portal_sessions")"
echo "ok - after the kill: b$leader DOWN in HAProxy, bob's session and carol's sign-in work through it; one session row per user"
exit 0
