#!/bin/sh
# Reconnect tickets (issue 23): a user with a live desktop gets back into
# it while PostgreSQL is down. Real parts: PostgreSQL, slapd, vdi-brokerd
# (tests/harness/broker-start) with [reconnect] key, and vdi-hostd
# (tests/harness/hostd-start) with the public half and the hollow VM
# (tests/hostd/hollow-vm: the control socket, no guest, since there is no
# /dev/kvm here); the pool loop makes the desktop on the host.
#   - a launch answers a reconnect ticket;
#   - with PostgreSQL stopped, POST /api/v1/reconnect with it gives a new
#     one-time connection ticket from the host (seen by the VM) and a new
#     reconnect ticket, in bounded time; the used one is refused (409) by
#     the host, an altered one (403) and garbage (400) too; the new one works;
#   - with PostgreSQL back, a desktop no longer assigned to the user is
#     refused by the broker, and a ticket issued before the desktop was
#     refreshed is refused by the host itself;
#   - no ticket appears in any log.
set -u
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
test_name=reconnect
. "$top/tests/broker/lib.sh"
start_servers
openssl genpkey -algorithm ed25519 -out "$dir/reconnect.key" 2>/dev/null &&
    openssl pkey -in "$dir/reconnect.key" -pubout -out "$dir/reconnect.pub" || fail "openssl genpkey"
. "$dir/pg.env"
psql_() { psql -X -q -t -A -h "$PGSOCKET" -p "$PGPORT" -U vdi vdi -c "$1"; }

printf '[reconnect]\npublic_key = %s\n' "$dir/reconnect.pub" >"$dir/hostd-extra.ini"
{ bounded_db_ini; printf '[reconnect]\nkey = %s\n' "$dir/reconnect.key"; } >"$dir/broker-extra.ini"
"$harness/broker-start" "$dir/broker" --pg "$dir/pg.env" --ldap "$dir/ldap.env" \
    --pki "$dir/pki" --extra "$dir/broker-extra.ini" --owner $$ >"$dir/broker.env" ||
    fail "broker-start"
. "$dir/broker.env"
"$harness/hostd-start" "$dir/hostd" --pki "$dir/pki" --name host-a --pg "$dir/pg.env" \
    --extra "$dir/hostd-extra.ini" --owner $$ >"$dir/hostd.env" || fail "hostd-start"
. "$dir/hostd.env"

# An image, a floating pool of one desktop for alice, made by the pool loop.
head -c 4096 /dev/urandom >"$dir/vmlinuz"
qemu-img create -q -f qcow2 "$dir/golden.qcow2" 32M || fail "qemu-img"
psql_ "WITH i AS (INSERT INTO images (name) VALUES ('deb12') RETURNING id),
  v AS (INSERT INTO image_versions (image_id, version, path, kernel_path, state)
        SELECT id, 1, '$dir/golden.qcow2', '$dir/vmlinuz', 'published' FROM i RETURNING id),
  p AS (INSERT INTO pools (name, kind, image_version_id, min_size, max_size, ready_size,
        vcpus, memory_mb) SELECT 'eng', 'floating', id, 1, 1, 1, 1, 128 FROM v RETURNING id)
  INSERT INTO pool_entitlements (pool_id, kind, subject) SELECT id, 'user', 'alice' FROM p" ||
    fail "pool"
i=0
until [ "$(psql_ "SELECT count(*) FROM desktops WHERE state = 'ready'")" = 1 ]; do
    i=$((i + 1))
    [ "$i" -lt 150 ] || fail "the pool loop made no ready desktop in 30 s: $(psql_ 'SELECT id, state, last_error FROM desktops')"
    sleep 0.2
done
did=$(psql_ "SELECT id FROM desktops")
echo "ok - the pool loop made desktop $did on the host (hollow VM)"

field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$dir/$2.out"; }
reconnect() { # NAME TICKET
    req "$1" anon POST /api/v1/reconnect "{\"reconnect_ticket\":\"$2\"}"
}
tickets_seen() { cat "$HOSTD_STATE/vms/$did/tickets.log" 2>/dev/null | wc -l; }

login alice alice alice-pw || fail "alice signs in: $st $(cat "$dir/login-alice.out")"
req launch alice POST /api/v1/launch '{"pool":"eng","protocol":"rdp"}'
[ "$st" = 200 ] || fail "alice launches: $st $(cat "$dir/launch.out")"
t1=$(field reconnect_ticket launch)
[ -n "$t1" ] || fail "the launch gave no reconnect_ticket: $(cat "$dir/launch.out")"
grep -q '"reconnect_expires_in":900' "$dir/launch.out" || fail "reconnect_expires_in: $(cat "$dir/launch.out")"
[ "$(tickets_seen)" = 1 ] || fail "the VM saw $(tickets_seen) set-ticket after the launch"
echo "ok - alice's launch answers a reconnect ticket (${#t1} characters)"

"$harness/pg-stop" "$dir/pg" || fail "pg-stop"
req me alice GET /api/v1/me
[ "$st" = 503 ] || fail "the database should be down: /me answered $st"

reconnect rc1 "$t1"
[ "$st" = 200 ] || fail "reconnect during the outage: $st $(cat "$dir/rc1.out")"
under 5 "$secs" || fail "reconnect during the outage took $secs s"
grep -q '"reconnected":true' "$dir/rc1.out" && grep -q "\"id\":$did" "$dir/rc1.out" &&
    grep -q '"password":"' "$dir/rc1.out" && grep -q 'full address:s:127.0.0.1' "$dir/rc1.out" ||
    fail "reconnect answer: $(cat "$dir/rc1.out")"
t2=$(field reconnect_ticket rc1)
[ -n "$t2" ] && [ "$t2" != "$t1" ] || fail "no new reconnect ticket: $(cat "$dir/rc1.out")"
[ "$(tickets_seen)" = 2 ] || fail "the VM saw $(tickets_seen) set-ticket after the reconnect"
tail -n 1 "$HOSTD_STATE/vms/$did/tickets.log" | grep -q '^rdp alice ' ||
    fail "set-ticket: $(tail -n 1 "$HOSTD_STATE/vms/$did/tickets.log")"
grep -q 'event=reconnect .*database=down' "$BROKER_LOG" || fail "broker log: no reconnect database=down"
echo "ok - PostgreSQL down: alice reconnects in $secs s; the host checked the ticket and set a new one-time password in her VM"

reconnect rc-again "$t1"
[ "$st" = 409 ] && grep -q '"error":"reconnect_used"' "$dir/rc-again.out" &&
    grep -q 'used already' "$dir/rc-again.out" || fail "a used ticket again: $st $(cat "$dir/rc-again.out")"
# Another user's name in the claims, alice's signature kept.
body=${t2%%.*} sig=${t2#*.}
forged=$(printf '%s' "$body" | tr -- '-_' '+/' | awk '{ n = length($0) % 4; if (n) $0 = $0 substr("==", 1, 4 - n); print }' |
    base64 -d 2>/dev/null | sed 's/"user":"alice"/"user":"bob"/' | base64 -w0 | tr -- '+/' '-_' | tr -d '=')
reconnect rc-forged "$forged.$sig"
[ "$st" = 403 ] && grep -q '"error":"reconnect_refused"' "$dir/rc-forged.out" &&
    grep -q 'signature does not match' "$dir/rc-forged.out" || fail "forged ticket: $st $(cat "$dir/rc-forged.out")"
reconnect rc-garbage "not-a-ticket"
[ "$st" = 400 ] && grep -q '"error":"bad_reconnect_ticket"' "$dir/rc-garbage.out" ||
    fail "garbage: $st $(cat "$dir/rc-garbage.out")"
req rc-missing anon POST /api/v1/reconnect '{}'
[ "$st" = 400 ] && grep -q 'reconnect_ticket' "$dir/rc-missing.out" || fail "no field: $st $(cat "$dir/rc-missing.out")"
[ "$(tickets_seen)" = 2 ] || fail "a refused reconnect reached the VM"
echo "ok - during the outage: used ticket 409 reconnect_used, forged 403, garbage 400; none reached the VM"

reconnect rc2 "$t2"
[ "$st" = 200 ] || fail "the second ticket during the outage: $st $(cat "$dir/rc2.out")"
t3=$(field reconnect_ticket rc2)
echo "ok - the reconnect's new ticket works once more during the outage"

"$harness/pg-start" "$dir/pg" --port "$PGPORT" >/dev/null || fail "pg-start again"
retry 50 "the broker does not see PostgreSQL back after 10 s" healthy
reconnect rc3 "$t3"
[ "$st" = 200 ] || fail "reconnect after the outage: $st $(cat "$dir/rc3.out")"
grep -q 'event=reconnect .*database=up' "$BROKER_LOG" || fail "broker log: no reconnect database=up"
[ "$(psql_ "SELECT count(*) FROM audit_events WHERE action = 'desktop.reconnect'")" -ge 1 ] ||
    fail "no desktop.reconnect audit row with the database up"
t4=$(field reconnect_ticket rc3)
echo "ok - PostgreSQL back: reconnect checks the assignment and writes an audit row"

# The desktop is released and refreshed: the old ticket is refused by the
# broker (assignment gone) and, asked directly, by the host (refreshed).
psql_ "UPDATE assignments SET released_at = now() WHERE desktop_id = $did AND released_at IS NULL" ||
    fail "release"
reconnect rc-released "$t4"
[ "$st" = 403 ] && grep -q 'no longer assigned to you' "$dir/rc-released.out" ||
    fail "released desktop: $st $(cat "$dir/rc-released.out")"
# The pool loop wipes it for the next user (stop, refresh, start).
psql_ "UPDATE desktops SET state = 'refreshing' WHERE id = $did" || fail "refreshing"
i=0
until [ "$(psql_ "SELECT count(*) FROM desktop_events WHERE vm_id = '$did' AND event = 'refreshed'")" -ge 1 ]; do
    i=$((i + 1))
    [ "$i" -lt 150 ] || fail "the pool loop did not refresh desktop $did in 30 s"
    sleep 0.2
done
st=$(curl -sS -m 10 --cacert "$dir/pki/ca.pem" --cert "$dir/pki/client.pem" --key "$dir/pki/client.key" \
    -X POST -H 'Content-Type: application/json' \
    --data-binary "{\"protocol\":\"rdp\",\"user\":\"alice\",\"reconnect_ticket\":\"$t4\"}" \
    -o "$dir/host-direct.out" -w '%{http_code}' "https://127.0.0.1:$HOSTD_PORT/api/v1/vms/$did/tickets")
[ "$st" = 403 ] && grep -q 'before this desktop was refreshed' "$dir/host-direct.out" ||
    fail "the host after a refresh: $st $(cat "$dir/host-direct.out")"
echo "ok - released: the broker refuses (403); refreshed: the host itself refuses a ticket from before"

for t in "$t1" "$t2" "$t3" "$t4"; do
    ! grep -rqF -- "${t#*.}" "$dir/broker" "$dir/hostd" || fail "a reconnect ticket is in a log"
done
echo "ok - no reconnect ticket in the broker's or host's logs"
exit 0
