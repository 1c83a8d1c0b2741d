# Shared by the shell tests against a real vdi-brokerd (sourced): curl
# requests that keep a cookie jar and CSRF token per user. The caller sets
# dir (its temporary directory, holding pki/ca.pem), BROKER_URL, and fail().

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

# under LIMIT SECONDS: true when SECONDS < LIMIT.
under() { awk -v lim="$1" -v t="$2" 'BEGIN { exit !(t < lim) }'; }
