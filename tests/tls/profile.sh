#!/bin/sh
# Every TLS listener we own follows Mozilla's "intermediate" profile
# (lib/tls-policy.h): TLS 1.2 and 1.3 only, and for TLS 1.2 only ECDHE
# with AES-GCM or ChaCha20-Poly1305. Probed from outside with openssl
# s_client (and, for RDP, which starts with an X.224 exchange before TLS,
# Python's ssl module on top of OpenSSL) against the real servers:
#   - vdi-brokerd's portal (tests/harness/broker-start, real PostgreSQL
#     and slapd);
#   - vdi-hostd's API (mutual TLS);
#   - the SPICE server (tests/spice/serve) and the RDP server
#     (tests/rdp/serve) that vdi-vm runs, on the synthetic display.
set -u
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$top}
harness=$top/tests/harness
command -v openssl >/dev/null || { echo "openssl not found"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not found"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/tls-profile-XXXXXX")
[ "$(id -u)" != 0 ] || chmod go+x "$dir"
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    [ -f "$dir/broker/broker.pid" ] && kill "$(cat "$dir/broker/broker.pid")" 2>/dev/null
    "$harness/slapd-stop" "$dir/ldap" 2>/dev/null
    "$harness/pg-stop" "$dir/pg" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fail() { echo "not ok - $*"; exit 1; }

"$harness/pg-start" "$dir/pg" --fast --owner $$ >"$dir/pg.env" || fail "pg-start"
"$harness/slapd-start" "$dir/ldap" --owner $$ >"$dir/ldap.env" || fail "slapd-start"
"$harness/make-pki" "$dir/pki" || fail "make-pki"
pki=$dir/pki
"$harness/broker-start" "$dir/broker" --pg "$dir/pg.env" --ldap "$dir/ldap.env" \
    --pki "$pki" --owner $$ >"$dir/broker.env" || fail "broker-start"
. "$dir/broker.env"

# vdi-hostd: its API only (no KVM needed to serve it).
hostd_port=$(sh -c ". '$harness/common.sh'; pick_port")
mkdir -p "$dir/hostd/run"
cat >"$dir/hostd.conf" <<CONF
[hostd]
name = tls-probe
state_dir = $dir/hostd
runtime_dir = $dir/hostd/run
log_level = warning
[api]
listen = 127.0.0.1
port = $hostd_port
cert = $pki/server.pem
key = $pki/server.key
client_ca = $pki/ca.pem
public_address = 127.0.0.1
CONF
"$build/hostd/vdi-hostd" --config "$dir/hostd.conf" --foreground 2>"$dir/hostd.log" &
pids="$pids $!"

# The display servers: SPICE with the cluster PKI (EC key), RDP with an
# RSA key as stock RDP clients expect.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$dir/rdp.key" -out "$dir/rdp.pem" >/dev/null 2>&1 || fail "openssl req"
serve() { # NAME PROGRAM ARGS...: start, wait for its "port=N" line
    _name=$1
    shift
    mkfifo "$dir/$_name.out"
    "$@" >"$dir/$_name.out" 2>"$dir/$_name.err" &
    pids="$pids $!"
    exec 3<"$dir/$_name.out"
    _port=""
    while read -r _line <&3; do case $_line in port=*) _port=${_line#port=}; break ;; esac; done
    exec 3<&-
    [ -n "$_port" ] || { cat "$dir/$_name.err"; fail "$_name did not start"; }
    eval "${_name}_port=$_port"
}
serve spice "$build/tests/spice/serve" "$pki/server.pem" "$pki/server.key" "$pki/ca.pem"
WLOG_LEVEL=ERROR serve rdp "$build/tests/rdp/serve" "$dir/rdp.pem" "$dir/rdp.key" "u:p"

i=0
until openssl s_client -connect "127.0.0.1:$hostd_port" </dev/null >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { cat "$dir/hostd.log"; fail "vdi-hostd did not listen"; }
    sleep 0.1
done

# s_client PORT ARGS...: prints the negotiated "VERSION CIPHER", or
# nothing when the handshake failed. The client runs at security level 0
# so that it offers what we want to see the server refuse.
s_client() {
    _p=$1
    shift
    openssl s_client -connect "127.0.0.1:$_p" -servername localhost \
        -cert "$pki/client.pem" -key "$pki/client.key" "$@" </dev/null 2>/dev/null |
        sed -n 's/^New, \(TLSv1\.[0-9]\), Cipher is \(.*\)$/\1 \2/p' | grep -v '(NONE)$'
}
probe() { # NAME KIND PORT: KIND is ecdsa or rsa (the server key's type)
    _n=$1 _k=$2 _p=$3
    if [ "$_n" = rdp ]; then
        try() { "$top/tests/tls/rdp-tls-probe.py" "$_p" "$@" 2>/dev/null | sed -n 's/^accepted //p'; }
        t13() { try tls1.3; }
        t12() { try tls1.2 "$1"; }
        t11() { try tls1.1; }
    else
        t13() { s_client "$_p" -tls1_3; }
        t12() { s_client "$_p" -tls1_2 -cipher "$1:@SECLEVEL=0"; }
        t11() { s_client "$_p" -tls1_1 -cipher "DEFAULT:@SECLEVEL=0"; }
    fi
    K=$(echo "$_k" | tr a-z A-Z)
    out=$(t13)
    case $out in TLSv1.3*) ;; *) fail "$_n: TLS 1.3 refused" ;; esac
    for c in "ECDHE-$K-AES128-GCM-SHA256" "ECDHE-$K-AES256-GCM-SHA384" "ECDHE-$K-CHACHA20-POLY1305"; do
        out=$(t12 "$c")
        [ "$out" = "TLSv1.2 $c" ] || fail "$_n: TLS 1.2 with $c refused (got \"$out\")"
    done
    # CBC with SHA-1 (the issue's examples), CBC with SHA-2, static RSA.
    for c in "ECDHE-$K-AES256-SHA" "ECDHE-$K-AES128-SHA" "ECDHE-$K-AES128-SHA256" \
             "ECDHE-$K-AES256-SHA384" AES128-SHA AES256-SHA AES128-GCM-SHA256 \
             DHE-RSA-AES128-GCM-SHA256; do
        out=$(t12 "$c")
        [ -z "$out" ] || fail "$_n: TLS 1.2 accepted $c ($out)"
    done
    out=$(t11)
    [ -z "$out" ] || fail "$_n: TLS 1.1 accepted ($out)"
    echo "ok - $_n: TLS 1.3 and TLS 1.2 ECDHE-$K AEAD suites accepted; CBC, SHA-1, static RSA, DHE and TLS 1.1 refused"
}
probe portal ecdsa "$BROKER_PORT"
probe hostd-api ecdsa "$hostd_port"
probe spice ecdsa "$spice_port"
probe rdp rsa "$rdp_port"
exit 0
