#!/bin/sh
# PostgreSQL goes away under a real vdi-brokerd (tests/harness/broker-start)
# and comes back:
#   - while it is stopped (pg_ctl stop), sign-in, launch, the session
#     check and /healthz answer 503 database_unavailable with Retry-After,
#     each within a bound (connect and statement timeouts; calls while the
#     server is known down fail at once: re-dial with backoff);
#   - the broker keeps running; once PostgreSQL is back (same data, same
#     port) sign-in and launch work again without restarting the broker,
#     and a portal session made before the outage is still valid;
#   - under continuous traffic (a session check and a sign-in loop), a
#     30 s outage: every answer is 200 or a 503 with Retry-After, none
#     takes over 5 s, 503s only while the database is away, and 200s again
#     within 10 s of its return.
set -u
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
test_name=db-outage
. "$top/tests/broker/lib.sh"
start_servers
bounded_db_ini >"$dir/extra.ini"
"$harness/broker-start" "$dir/broker" --pg "$dir/pg.env" --ldap "$dir/ldap.env" \
    --pki "$dir/pki" --extra "$dir/extra.ini" --owner $$ >"$dir/broker.env" || fail "broker-start"
. "$dir/pg.env"
. "$dir/broker.env"

launch_body='{"pool":"no-such-pool","protocol":"rdp"}'

login alice alice alice-pw
[ "$st" = 200 ] || fail "alice signs in before the outage: $st $(cat "$dir/login-alice.out")"
echo "ok - alice signed in before the outage"

"$harness/pg-stop" "$dir/pg" || fail "pg-stop"
t0=$(date +%s)
expect_503() { # NAME: the last request
    [ "$st" = 503 ] || fail "$1 during the outage: $st $(cat "$dir/$1.out")"
    grep -q '"error":"database_unavailable"' "$dir/$1.out" || fail "$1: $(cat "$dir/$1.out")"
    grep -q "database is not answering" "$dir/$1.out" || fail "$1 message: $(cat "$dir/$1.out")"
    grep -qi '^Retry-After: [0-9]' "$dir/$1.hdr" || fail "$1: no Retry-After"
    under 5 "$secs" ||
        fail "$1 took $secs s during the outage (bound: 5 s)"
}
for i in 1 2 3; do
    req login-bob bob POST /api/v1/login '{"username":"bob","password":"bob-pw"}'
    expect_503 login-bob
    req launch alice POST /api/v1/launch "$launch_body"
    expect_503 launch
    req me alice GET /api/v1/me
    expect_503 me
    req healthz alice GET /healthz
    [ "$st" = 503 ] || fail "healthz during the outage: $st"
done
echo "ok - during the outage: sign-in, launch, session check 503 database_unavailable + Retry-After, each under 5 s ($(cat "$dir/login-bob.out"))"

# Many at once: all bounded, none hangs.
for i in $(seq 1 16); do
    ( req "par$i" "par$i" POST /api/v1/login '{"username":"bob","password":"bob-pw"}'
      echo "$st $secs" >"$dir/par$i.res" ) &
done
wait
for i in $(seq 1 16); do
    read -r s t <"$dir/par$i.res" || fail "parallel sign-in $i: no answer"
    [ "$s" = 503 ] || fail "parallel sign-in $i: $s"
    under 5 "$t" ||
        fail "parallel sign-in $i took $t s"
done
echo "ok - 16 sign-ins at once during the outage: all 503 under 5 s"

kill -0 "$BROKER_PID" || fail "the broker died during the outage"
sleep 2 # an outage of some seconds, with the backoff growing
"$harness/pg-start" "$dir/pg" --port "$PGPORT" >/dev/null || fail "pg-start again"
t1=$(date +%s)
retry 50 "bob cannot sign in 10 s after PostgreSQL came back" login bob bob bob-pw
echo "ok - sign-in works again $(($(date +%s) - t1)) s after PostgreSQL came back (outage $((t1 - t0)) s), same broker process"
kill -0 "$BROKER_PID" || fail "broker restarted?"
req me alice GET /api/v1/me
[ "$st" = 200 ] || fail "alice's session after the outage: $st $(cat "$dir/me.out")"
req launch alice POST /api/v1/launch "$launch_body"
[ "$st" = 404 ] && grep -q '"error":"unknown_pool"' "$dir/launch.out" ||
    fail "launch after the outage: $st $(cat "$dir/launch.out")"
req healthz alice GET /healthz
[ "$st" = 200 ] || fail "healthz after the outage: $st"
echo "ok - after the outage: alice's session from before still valid, launch answers from the database, healthz 200"
grep -q 'pools_leader' "$BROKER_LOG" || fail "pool loop never led"

# traffic NAME JAR METHOD PATH [BODY]: requests one after another until
# $dir/stop exists; a line "STATUS SECONDS RETRY_AFTER(0/1) EPOCH" each in
# $dir/NAME.traffic (status 000: no answer within 30 s or none at all).
traffic() {
    _n=$1 _j=$2 _m=$3 _p=$4
    shift 4
    while [ ! -f "$dir/stop" ]; do
        _o=$(curl -sS -m 30 --cacert "$dir/pki/ca.pem" -b "$_j" -X "$_m" \
            -H 'Content-Type: application/json' ${1:+--data-binary "$1"} -D "$dir/$_n.thdr" \
            -o /dev/null -w '%{http_code} %{time_total}' "$BROKER_URL$_p" 2>/dev/null) || _o="000 30"
        _ra=0
        grep -qi '^Retry-After: [0-9]' "$dir/$_n.thdr" 2>/dev/null && _ra=1
        echo "$_o $_ra $(date +%s)"
    done >"$dir/$_n.traffic"
}
rm -f "$dir/stop"
traffic me "$dir/alice.jar" GET /api/v1/me &
traffic signin /dev/null POST /api/v1/login '{"username":"bob","password":"bob-pw"}' &
sleep 2
down=$(date +%s)
"$harness/pg-stop" "$dir/pg" || fail "pg-stop (second outage)"
sleep 30 # the outage itself
"$harness/pg-start" "$dir/pg" --port "$PGPORT" >/dev/null || fail "pg-start after 30 s"
up=$(date +%s)
until [ "$(awk -v up="$up" '$4 > up && $1 == 200' "$dir/me.traffic" | wc -l)" -ge 3 ] &&
    [ "$(awk -v up="$up" '$4 > up && $1 == 200' "$dir/signin.traffic" | wc -l)" -ge 1 ]; do
    [ $(($(date +%s) - up)) -lt 10 ] || { touch "$dir/stop"; wait; fail "no 200s 10 s after PostgreSQL came back"; }
    sleep 0.2
done
back=$(($(date +%s) - up))
touch "$dir/stop"
wait
for t in me signin; do
    # Answers: 200, or 503 with Retry-After; none over 5 s; a 503 only
    # between the stop and the start (plus the bound).
    awk -v down="$down" -v up="$up" '
        $1 != 200 && !($1 == 503 && $3 == 1) { print "bad answer: " $0; bad = 1 }
        $2 >= 5 { print "too slow: " $0; bad = 1 }
        $1 == 503 && ($4 < down || $4 > up + 10) { print "503 outside the outage: " $0; bad = 1 }
        $1 == 503 { n503++ } $1 == 200 { n200++ }
        END { printf "%d %d\n", n200, n503; exit bad }' "$dir/$t.traffic" >"$dir/$t.res" ||
        fail "$t traffic: $(head -3 "$dir/$t.res")"
    read -r n200 n503 <"$dir/$t.res"
    [ "$n503" -gt 0 ] || fail "$t traffic saw no 503 during a 30 s outage"
    echo "ok - 30 s outage under traffic ($t): $n200 answers 200, $n503 answers 503 with Retry-After, all under 5 s"
done
kill -0 "$BROKER_PID" || fail "the broker died in the 30 s outage"
echo "ok - 200s again within $back s of PostgreSQL's return, same broker process"
exit 0
