# Shared shell helpers for the harness scripts (sourced, not executed).

# die MESSAGE: print to stderr and exit 1.
die() {
    echo "harness: $*" >&2
    exit 1
}

# port_free PORT: true when nothing listens on 127.0.0.1:PORT.
port_free() {
    ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# pick_port: print a random free loopback port in 20000..59999. Servers that
# then fail to bind (a race with another test) are retried by the caller.
pick_port() {
    _i=0
    while [ "$_i" -lt 100 ]; do
        _p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
        if port_free "$_p"; then
            echo "$_p"
            return 0
        fi
        _i=$((_i + 1))
    done
    die "no free loopback port found"
}

# start_watchdog OWNER_PID COMMAND...: run COMMAND once OWNER_PID has exited.
# Detached from our stdout so callers reading it see EOF at once.
start_watchdog() {
    _owner=$1
    shift
    [ "$_owner" -gt 0 ] 2>/dev/null || return 0
    setsid sh -c 'while kill -0 "$0" 2>/dev/null; do sleep 1; done; "$@"' \
        "$_owner" "$@" </dev/null >/dev/null 2>&1 &
}
