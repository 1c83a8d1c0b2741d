#!/bin/sh
# PostgreSQL failover (issue 23): a primary and a streaming replica
# (tests/harness/pg-replica-start), a real vdi-brokerd whose conninfo
# names both with target_session_attrs=read-write. The primary is
# stopped; while no server takes writes, requests get bounded 503s; the
# replica is promoted (pg_ctl promote, tests/harness/pg-promote) and the
# same broker processes (two, as brokers run active-active) follow it:
# sign-in and launch work on each, a session made on the old primary is
# still valid on both, and new rows land on the new primary.
set -u
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
test_name=failover
. "$top/tests/broker/lib.sh"
start_servers
"$harness/pg-replica-start" "$dir/replica" --primary "$dir/pg.env" --owner $$ >"$dir/replica.env" ||
    fail "pg-replica-start"
. "$dir/replica.env"
r_port=$PGPORT r_sock=$PGSOCKET
. "$dir/pg.env"
p_port=$PGPORT p_sock=$PGSOCKET
sql() { # SOCKET SQL
    psql -X -q -t -A -h "$1" -p "$([ "$1" = "$p_sock" ] && echo "$p_port" || echo "$r_port")" \
        -U vdi vdi -c "$2"
}
[ "$(sql "$r_sock" 'SELECT pg_is_in_recovery()')" = t ] || fail "the replica is not in recovery"
echo "ok - a primary (port $p_port) and a streaming replica (port $r_port)"

{
    bounded_db_ini
    echo "[database]"
    echo "conninfo = host=127.0.0.1,127.0.0.1 port=$p_port,$r_port user=vdi password=$PGPASSWORD dbname=vdi target_session_attrs=read-write"
} >"$dir/extra.ini"
"$harness/broker-start" "$dir/broker" --pg "$dir/pg.env" --ldap "$dir/ldap.env" \
    --pki "$dir/pki" --extra "$dir/extra.ini" --owner $$ >"$dir/broker.env" || fail "broker-start"
"$harness/broker-start" "$dir/broker2" --pg "$dir/pg.env" --ldap "$dir/ldap.env" \
    --pki "$dir/pki" --extra "$dir/extra.ini" --owner $$ >"$dir/broker2.env" || fail "broker-start (second)"
url2=$(sed -n 's/^BROKER_URL=//p' "$dir/broker2.env")
pid2=$(sed -n 's/^BROKER_PID=//p' "$dir/broker2.env")
. "$dir/broker.env"
url1=$BROKER_URL
# on2 COMMAND...: COMMAND against the second broker.
on2() {
    BROKER_URL=$url2
    "$@"
    _on2_rc=$?
    BROKER_URL=$url1
    return $_on2_rc
}
launch_body='{"pool":"no-such-pool","protocol":"rdp"}'

login alice alice alice-pw || fail "alice signs in on the primary: $st $(cat "$dir/login-alice.out")"
i=0
until [ "$(sql "$r_sock" "SELECT count(*) FROM portal_sessions WHERE user_name = 'alice'")" = 1 ]; do
    i=$((i + 1))
    [ "$i" -lt 50 ] || fail "alice's session did not reach the replica in 10 s"
    sleep 0.2
done
echo "ok - alice signed in; her session is on the replica too"

"$harness/pg-stop" "$dir/pg" || fail "pg-stop primary"
t0=$(date +%s.%N)
for i in 1 2 3; do
    req login-bob bob POST /api/v1/login '{"username":"bob","password":"bob-pw"}'
    [ "$st" = 503 ] && grep -q '"error":"database_unavailable"' "$dir/login-bob.out" ||
        fail "sign-in with the primary gone and the replica read-only: $st $(cat "$dir/login-bob.out")"
    under 5 "$secs" || fail "sign-in took $secs s with no writable server"
done
on2 req login-carol carol POST /api/v1/login '{"username":"carol","password":"carol-pw"}'
[ "$st" = 503 ] && under 5 "$secs" ||
    fail "sign-in on the second broker with no writable server: $st in $secs s"
echo "ok - primary stopped, replica still read-only: sign-in 503 database_unavailable under 5 s on both brokers (they do not write to the standby)"

"$harness/pg-promote" "$dir/replica" || fail "pg-promote"
[ "$(sql "$r_sock" 'SELECT pg_is_in_recovery()')" = f ] || fail "the replica is still in recovery"
t1=$(date +%s.%N)
retry 50 "bob cannot sign in 10 s after the promotion" login bob bob bob-pw
t2=$(date +%s.%N)
retry 50 "carol cannot sign in on the second broker 10 s after the promotion" on2 login carol carol carol-pw
kill -0 "$BROKER_PID" && kill -0 "$pid2" || fail "a broker died"
echo "ok - promoted: bob signs in $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s after the promotion ($(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s after the primary stopped), carol on the second broker too; same broker processes"

[ "$(sql "$r_sock" "SELECT count(*) FROM portal_sessions WHERE user_name = 'bob'")" = 1 ] ||
    fail "bob's session is not on the promoted server"
req me alice GET /api/v1/me
[ "$st" = 200 ] || fail "alice's session from the old primary: $st $(cat "$dir/me.out")"
on2 req me alice GET /api/v1/me
[ "$st" = 200 ] || fail "alice's session from the old primary on the second broker: $st $(cat "$dir/me.out")"
[ "$(sql "$r_sock" "SELECT count(*) FROM portal_sessions WHERE user_name = 'carol'")" = 1 ] ||
    fail "carol's session is not on the promoted server"
req launch alice POST /api/v1/launch "$launch_body"
[ "$st" = 404 ] && grep -q '"error":"unknown_pool"' "$dir/launch.out" ||
    fail "launch after the failover: $st $(cat "$dir/launch.out")"
retry 25 "healthz after the failover" healthy
echo "ok - on the promoted server: bob's and carol's new sessions written there, alice's replicated session valid on both brokers, launch answers, healthz 200"

# The pool loop leads again on the new primary (its advisory lock went
# with the old server).
n=$(grep -c 'event=pools_leader' "$BROKER_LOG")
i=0
until [ "$(grep -c 'event=pools_leader' "$BROKER_LOG")" -gt "$n" ] ||
    [ "$(sql "$r_sock" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" -ge 1 ]; do
    i=$((i + 1))
    [ "$i" -lt 50 ] || fail "the pool loop does not hold its lock on the promoted server"
    sleep 0.2
done
echo "ok - the pool loop holds its advisory lock on the promoted server"
exit 0
