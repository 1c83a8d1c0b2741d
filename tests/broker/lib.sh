# Shared by the shell tests against a real vdi-brokerd (sourced after
# setting top, the source tree, and test_name): a temporary directory
# $dir removed at exit with every server started in it (broker, hostd and
# its VMs, slapd, PostgreSQL and a replica), fail(), the harness's
# PostgreSQL, slapd and PKI (start_servers), and curl requests that keep a
# cookie jar and CSRF token per user (they need BROKER_URL).
harness=$top/tests/harness
command -v curl >/dev/null || { echo "curl not found"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/broker-$test_name-XXXXXX")
[ "$(id -u)" != 0 ] || chmod go+x "$dir"
cleanup() {
    [ -f "$dir/broker/broker.pid" ] && kill "$(cat "$dir/broker/broker.pid")" 2>/dev/null
    if [ -f "$dir/hostd/hostd.pid" ]; then
        kill "$(cat "$dir/hostd/hostd.pid")" 2>/dev/null
        for _r in "$dir"/hostd/state/vms/*/run.json; do
            [ -f "$_r" ] && kill -9 "$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$_r")" 2>/dev/null
        done
    fi
    "$harness/slapd-stop" "$dir/ldap" 2>/dev/null
    [ -d "$dir/replica" ] && "$harness/pg-stop" "$dir/replica" 2>/dev/null
    "$harness/pg-stop" "$dir/pg" 2>/dev/null
    # VMs outlive their vdi-hostd by design (hollow ones too): whatever
    # still runs from this test's directory (every host's VMs, as storm.sh's
    # two hosts have) goes with it. 150 a run were left behind before.
    pkill -9 -f -- "$dir/" 2>/dev/null
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT INT TERM
# fail MESSAGE: say "not ok", show the daemons' last log lines, exit 1.
fail() {
    echo "not ok - $*"
    for _f in "$dir/broker/broker.log" "$dir/hostd/hostd.log"; do
        [ -f "$_f" ] && { echo "--- $_f"; tail -n 20 "$_f"; }
    done
    exit 1
}

# bounded_db_ini: the broker.conf lines of the outage tests (short database
# timeouts so a dead server is noticed fast, a quick pool loop).
bounded_db_ini() {
    printf '%s\n' '[database]' 'connect_timeout_ms = 4000' 'statement_timeout_ms = 2000' \
        'acquire_timeout_ms = 2000' '[pools]' 'interval_ms = 500'
}

# start_servers: PostgreSQL ($dir/pg.env), slapd ($dir/ldap.env), a PKI
# ($dir/pki), each stopped when this shell exits.
start_servers() {
    "$harness/pg-start" "$dir/pg" --fast --owner $$ >"$dir/pg.env" || fail "pg-start"
    "$harness/slapd-start" "$dir/ldap" --owner $$ >"$dir/ldap.env" || fail "slapd-start"
    "$harness/make-pki" "$dir/pki" || fail "make-pki"
}

# req NAME JAR METHOD PATH [BODY]: status in $st, body in $dir/NAME.out,
# headers in $dir/NAME.hdr, seconds taken in $secs. A transport error or a
# request over 30 s fails the test.
req() {
    _n=$1 _jar=$2 _m=$3 _p=$4
    shift 4
    _csrf=""
    [ -f "$dir/$_jar.csrf" ] && _csrf=$(cat "$dir/$_jar.csrf")
    _out=$(curl -sS -m 30 --cacert "$dir/pki/ca.pem" -b "$dir/$_jar.jar" -c "$dir/$_jar.jar" \
        -X "$_m" -H 'Content-Type: application/json' -H "X-CSRF-Token: $_csrf" \
        ${1:+--data-binary "$1"} -D "$dir/$_n.hdr" -o "$dir/$_n.out" \
        -w '%{http_code} %{time_total}' "$BROKER_URL$_p") || fail "$_n: transport error or hang"
    st=${_out% *}
    secs=${_out#* }
}

# login JAR USER PASSWORD: sign in; on 200 the jar's CSRF token is kept.
login() {
    req "login-$1" "$1" POST /api/v1/login "{\"username\":\"$2\",\"password\":\"$3\"}"
    [ "$st" = 200 ] &&
        sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p' "$dir/login-$1.out" >"$dir/$1.csrf"
}

# healthy: /healthz answers 200.
healthy() { req healthz anon GET /healthz && [ "$st" = 200 ]; }

# retry TRIES MESSAGE COMMAND...: run COMMAND every 0.2 s until it
# succeeds; after TRIES failures, fail with MESSAGE and the last status.
retry() {
    # Names of its own: COMMAND is often req, which sets _n.
    _retry_n=$1 _retry_msg=$2 _retry_i=0
    shift 2
    until "$@"; do
        _retry_i=$((_retry_i + 1))
        [ "$_retry_i" -lt "$_retry_n" ] || fail "$_retry_msg (last HTTP status: ${st:-none})"
        sleep 0.2
    done
}

# under LIMIT SECONDS: true when SECONDS < LIMIT.
under() { awk -v lim="$1" -v t="$2" 'BEGIN { exit !(t < lim) }'; }
