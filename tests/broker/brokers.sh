# Sourced by the shell tests that run several brokers (active-active.sh,
# storm.sh); they set harness and dir, define fail, and have started
# PostgreSQL, slapd and the PKI in $dir (pg.env, ldap.env, pki).

# behind_haproxy EXTRA_INI: three real vdi-brokerd (b1..b3 in $dir) with
# EXTRA_INI appended to their config, and HAProxy in front of them (once
# all are UP). Sets url1..url3 and pid1..pid3 and HAProxy's variables.
behind_haproxy() {
    _servers=""
    for _b in 1 2 3; do
        "$harness/broker-start" "$dir/b$_b" --pg "$dir/pg.env" --ldap "$dir/ldap.env" \
            --pki "$dir/pki" --extra "$1" --owner $$ >"$dir/b$_b.env" || fail "broker-start b$_b"
        . "$dir/b$_b.env"
        eval "url$_b=\$BROKER_URL pid$_b=\$BROKER_PID"
        _servers="$_servers --server b$_b=127.0.0.1:$BROKER_PORT"
    done
    # shellcheck disable=SC2086
    "$harness/haproxy-start" "$dir/haproxy" --ca "$dir/pki/ca.pem" $_servers --owner $$ \
        >"$dir/haproxy.env" || fail "haproxy-start"
    . "$dir/haproxy.env"
    echo "ok - three brokers UP behind HAProxy"
}
