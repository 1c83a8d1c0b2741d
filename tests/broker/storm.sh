#!/bin/sh
# The login storm with a broker kill (issue 23). Real parts: PostgreSQL,
# slapd with generated users (one ldapadd), three vdi-brokerd behind
# HAProxy (tests/harness/haproxy-start), two vdi-hostd whose VMs are hollow
# (tests/hostd/hollow-vm: the control socket, no guest; no /dev/kvm here).
#
# The desktops are pre-registered, not made by the pool loop: the loop
# places by the hosts' real vCPU capacity (a few desktops per host here)
# and makes them a few per cycle. So the test does what the loop would do
# for each desktop (one per user): the VM is created and started on a
# host through its API, and the desktop is 'ready' in PostgreSQL. The brokers
# run with [pools] enabled = false so no loop undoes that.
#
# STORM_USERS (1000, the issue's figure: about two minutes on the shared
# 2-core machine at load 10-14, half of it making the hollow VMs)
# users; tests/broker/storm-driver signs each in and launches through
# HAProxy, STORM_CONCURRENCY (64) at once; once a third have finished,
# one broker is SIGKILLed. Then, from PostgreSQL:
#   - no desktop has two live assignments, no user two;
#   - every user the driver saw launch holds exactly the desktop the
#     broker answered (nothing lost), and holds nothing it was not told;
#   - sign-ins: per user, no fewer session rows than 200 answers (none
#     lost) and at most one orphan left by the kill (none duplicated);
#   - no launch answered host_unreachable;
#   - every user without a desktop got a clear error (an "error" and a
#     "message", or a transport error from the kill); a second pass for
#     exactly those users gives each a desktop.
# Counts are printed.
set -u
export LC_ALL=C
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$top}
test_name=storm
command -v haproxy >/dev/null || { echo "haproxy not found (apt-get install haproxy)"; exit 77; }
command -v ldapadd >/dev/null || { echo "ldapadd not found (apt-get install ldap-utils)"; exit 77; }
. "$top/tests/broker/lib.sh"
n=${STORM_USERS:-1000}
conc=${STORM_CONCURRENCY:-64}
hosts=2
t_start=$(date +%s)
start_servers
. "$dir/pg.env"
. "$dir/ldap.env"
export PGPASSWORD
psql_() { psql -X -q -t -A -h "$PGSOCKET" -p "$PGPORT" -U vdi vdi -c "$1"; }
fail() {
    echo "not ok - $*"
    for _f in "$dir"/b?/broker.log "$dir"/h?/hostd.log; do
        [ -f "$_f" ] && { echo "--- $_f"; tail -n 8 "$_f"; }
    done
    exit 1
}

printf '[pools]\nenabled = false\n' >"$dir/broker.ini"
. "$top/tests/broker/brokers.sh"
behind_haproxy "$dir/broker.ini"

# The users in one ldapadd: s0001 / pw-s0001 ...
seq -f '%04g' 1 "$n" | awk -v base="$LDAP_BASE" '{
    printf "dn: uid=s%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: s%s\ncn: Storm %s\nsn: %s\nuserPassword: pw-s%s\n\n", $1, base, $1, $1, $1, $1
}' >"$dir/users.ldif"
ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -w "$LDAP_ADMIN_PW" -f "$dir/users.ldif" >/dev/null ||
    fail "ldapadd of $n users"
seq 1 "$n" | awk '{ printf "s%04d pw-s%04d\n", NR, NR }' >"$dir/users.txt"
echo "ok - $n users added to slapd in one ldapadd"

# The image and a floating pool that entitles every storm user.
head -c 4096 /dev/urandom >"$dir/vmlinuz"
qemu-img create -q -f qcow2 "$dir/golden.qcow2" 32M || fail "qemu-img"
psql_ "WITH i AS (INSERT INTO images (name) VALUES ('deb12') RETURNING id)
  INSERT INTO image_versions (image_id, version, path, kernel_path, state)
  SELECT id, 1, '$dir/golden.qcow2', '$dir/vmlinuz', 'published' FROM i;
  INSERT INTO pools (name, kind, image_version_id, min_size, max_size, ready_size, vcpus, memory_mb)
  SELECT 'storm', 'floating', id, $n, $n, 0, 1, 128 FROM image_versions;
  INSERT INTO pool_entitlements (pool_id, kind, subject)
  SELECT p.id, 'user', 's' || lpad(g::text, 4, '0') FROM pools p, generate_series(1, $n) g" ||
    fail "pool"

# Two hosts, each with ports for its half of the desktops (hollow VMs
# listen on none of them).
per=$(((n + hosts - 1) / hosts))
for h in $(seq 1 $hosts); do
    lo=$((20000 + (h - 1) * (3 * per + 100)))
    printf '[api]\nthreads = 8\n[vm]\nport_min = %s\nport_max = %s\n' "$lo" $((lo + 3 * per + 50)) >"$dir/h$h.ini"
    "$harness/hostd-start" "$dir/h$h" --pki "$dir/pki" --name "host-$h" --pg "$dir/pg.env" \
        --extra "$dir/h$h.ini" --owner $$ >"$dir/h$h.env" || fail "hostd-start h$h"
    eval "hport$h=$(sed -n 's/^HOSTD_PORT=//p' "$dir/h$h.env")"
done

# on_hosts VERB: run VERB (create, start) for every desktop, all hosts at
# once (tests/harness/hostd-batch); fail unless every answer is 2xx.
on_hosts() {
    for h in $(seq 1 $hosts); do
        first=$(((h - 1) * per + 1)) last=$((h * per))
        [ "$last" -le "$n" ] || last=$n
        eval "_p=\$hport$h"
        seq "$first" "$last" | "$harness/hostd-batch" "$_p" "$dir/pki" "$1" 16 \
            >"$dir/$1-h$h.codes" 2>"$dir/$1-h$h.err" &
    done
    wait
    bad=$(cat "$dir/$1"-h*.codes | grep -vc ' 20[01]$')
    [ "$bad" = 0 ] && [ "$(cat "$dir/$1"-h*.codes | wc -l)" = "$n" ] ||
        fail "$1 on the hosts: $bad not 2xx: $(cut -d' ' -f2 "$dir/$1"-h*.codes | sort | uniq -c | tr '\n' ' ') $(head -c 300 "$dir/$1"-h1.err)"
}
for h in $(seq 1 $hosts); do
    eval "_p=\$hport$h"
    st=$(curl -sS -m 60 --cacert "$dir/pki/ca.pem" --cert "$dir/pki/client.pem" --key "$dir/pki/client.key" \
        -X PUT -H 'Content-Type: application/json' -o "$dir/image-h$h.out" -w '%{http_code}' \
        --data-binary "{\"version\":1,\"kernel\":\"$dir/vmlinuz\",\"disk\":\"$dir/golden.qcow2\",\"format\":\"qcow2\",\"cmdline\":\"\",\"mode\":\"copy\"}" \
        "https://127.0.0.1:$_p/api/v1/images/iv-1")
    case $st in 20?) ;; *) fail "image on h$h: $st $(cat "$dir/image-h$h.out")" ;; esac
done
t0=$(date +%s)
on_hosts create
on_hosts start
i=0
until [ "$(psql_ "SELECT count(*) FROM hosts WHERE name LIKE 'host-%'")" = "$hosts" ]; do
    i=$((i + 1)); [ "$i" -lt 100 ] || fail "the hosts did not register"; sleep 0.2
done
psql_ "INSERT INTO desktops (id, pool_id, host_id, image_version_id, name, state)
  OVERRIDING SYSTEM VALUE
  SELECT g, p.id, h.id, p.image_version_id, 'storm-' || g, 'ready'
  FROM pools p, generate_series(1, $n) g
  JOIN hosts h ON h.name = 'host-' || ((g - 1) / $per + 1)" || fail "desktops"
echo "ok - $n hollow VMs created and started on $hosts hosts in $(($(date +%s) - t0)) s; $n desktops ready"


# The storm; b2 is SIGKILLed once a third of the users are done.
driver=$build/tests/broker/storm-driver
t0=$(date +%s)
: >"$dir/pass1.txt"
"$driver" "$HAPROXY_URL" "$dir/pki/ca.pem" "$conc" storm <"$dir/users.txt" >"$dir/pass1.txt" &
dpid=$!
i=0
until [ "$(wc -l <"$dir/pass1.txt")" -ge $((n / 3)) ]; do
    kill -0 "$dpid" 2>/dev/null || fail "the driver ended before a third of the users were done"
    i=$((i + 1)); [ "$i" -lt 600 ] || fail "a third of the storm took over 120 s"
    sleep 0.2
done
kill -9 "$pid2"
killed_at=$(wc -l <"$dir/pass1.txt")
wait "$dpid" || fail "storm-driver failed"
secs=$(($(date +%s) - t0))
[ "$(wc -l <"$dir/pass1.txt")" = "$n" ] || fail "the driver answered for $(wc -l <"$dir/pass1.txt") of $n users"
ok1=$(awk '$3 == 200 && $4 > 0' "$dir/pass1.txt" | wc -l)
echo "ok - storm: $n users in $secs s, $conc at once; b2 SIGKILLed after $killed_at; $ok1 launched, $((n - ok1)) did not"
echo "#   errors: $(awk '$3 != 200 { print $5 " (login " $2 ", launch " $3 ")" }' "$dir/pass1.txt" | sort | uniq -c | tr '\n' ';')"

# No host_unreachable: the brokers keep their host connections
# (lib/hostd-client.h's hostd_conns) and vdi-hostd answers a ticket without
# waiting behind its other VMs, so no TLS handshake runs into the 2 s
# connect timeout (about 2% of launches did at 1,000 users before).
unreach=$(awk '$5 ~ /^host_unreachable/' "$dir/pass1.txt" | wc -l)
[ "$unreach" = 0 ] || fail "$unreach launches answered host_unreachable: $(grep -h 'launch_host_failed' "$dir"/b?/broker.log | head -3)"

# Clear errors only: a JSON error with a message, or the kill's transport error.
unclear=$(awk '$3 != 200 && $5 ~ /^(no-message|no-csrf-token)/' "$dir/pass1.txt" | wc -l)
[ "$unclear" = 0 ] || fail "$unclear users got an unclear error: $(awk '$5 ~ /^no-/' "$dir/pass1.txt" | head -3)"

# The retry: exactly the users without a desktop, once.
awk '$3 != 200 || $4 == 0 { printf "%s pw-%s\n", $1, $1 }' "$dir/pass1.txt" >"$dir/retry.txt"
"$driver" "$HAPROXY_URL" "$dir/pki/ca.pem" "$conc" storm <"$dir/retry.txt" >"$dir/pass2.txt" ||
    fail "storm-driver (retry)"
bad2=$(awk '$3 != 200 || $4 == 0' "$dir/pass2.txt" | wc -l)
[ "$bad2" = 0 ] || fail "$bad2 users still without a desktop after one retry: $(awk '$3 != 200' "$dir/pass2.txt" | head -3)"
echo "ok - retry: all $(wc -l <"$dir/retry.txt") users without a desktop got one on the first retry"

# From PostgreSQL. Each user's desktop as the driver was last told it...
cat "$dir/pass1.txt" "$dir/pass2.txt" | awk '$3 == 200 { d[$1] = $4 } END { for (u in d) print u, d[u] }' |
    sort >"$dir/told.txt"
psql_ "SELECT user_name || ' ' || desktop_id FROM assignments WHERE released_at IS NULL ORDER BY 1" \
    >"$dir/held.txt" || fail "psql"
twice=$(psql_ "SELECT count(*) FROM (SELECT desktop_id FROM assignments WHERE released_at IS NULL
  GROUP BY desktop_id HAVING count(*) > 1) x")
users_twice=$(psql_ "SELECT count(*) FROM (SELECT user_name FROM assignments WHERE released_at IS NULL
  GROUP BY pool_id, user_name HAVING count(*) > 1) x")
[ "$twice" = 0 ] && [ "$users_twice" = 0 ] ||
    fail "double assignment: $twice desktops with two live assignments, $users_twice users with two"
[ "$(wc -l <"$dir/told.txt")" = "$n" ] || fail "the driver saw $(wc -l <"$dir/told.txt") of $n users launch"
diff "$dir/told.txt" "$dir/held.txt" >"$dir/held.diff" ||
    fail "what the users were told differs from the live assignments: $(head -5 "$dir/held.diff")"
assigned=$(psql_ "SELECT count(*) FROM desktops WHERE state = 'assigned'")
[ "$assigned" = "$n" ] || fail "$assigned desktops in state assigned (want $n)"
echo "ok - PostgreSQL: $n live assignments, $n distinct desktops, 0 desktops held twice, 0 users holding two; each matches the desktop the user was answered"

# ...and their sign-ins. A sign-in committed by the killed broker whose
# answer was lost leaves a session row nobody holds (libcurl, as browsers
# do, sends a request again once when a reused connection dies unanswered,
# so the driver may not see it): per user at most one such orphan, and no
# more in all than requests in flight. Fewer rows than 200 answers is a
# lost session.
cat "$dir/pass1.txt" "$dir/pass2.txt" | awk '{ a[$1]++; if ($2 == 200) s[$1]++ }
    END { for (u in a) print u, s[u] + 0, a[u] }' | sort >"$dir/logins.txt"
psql_ "SELECT user_name || ' ' || count(*) FROM portal_sessions WHERE user_name LIKE 's%'
  GROUP BY user_name ORDER BY 1" >"$dir/sessions.txt" || fail "psql"
join -a 1 -e 0 -o 1.1,1.2,1.3,2.2 "$dir/logins.txt" "$dir/sessions.txt" |
    awk '$4 < $2 { lost++ } $4 > $3 + 1 { dup++ } $4 > $2 { orphans += $4 - $2 } { rows += $4 }
         END { printf "%d %d %d %d\n", lost, dup, orphans, rows }' >"$dir/sess.res"
read -r lost dup orphans rows <"$dir/sess.res"
[ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$orphans" -le "$conc" ] ||
    fail "sessions: $lost users with fewer rows than sign-ins answered 200 (lost), $dup with two or more extra (duplicated), $orphans orphans (at most $conc in flight)"
echo "ok - sessions: $rows rows for $(awk '{ a += $3; s += $2 } END { print s " sign-ins answered 200 of " a " attempts" }' "$dir/logins.txt"), $orphans orphaned by the kill; none lost, none duplicated"
echo "# total $(($(date +%s) - t_start)) s"
exit 0
