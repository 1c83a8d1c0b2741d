#!/bin/sh
# Concurrent desktop creation on one vdi-hostd (issue 23). A real
# vdi-hostd (tests/harness/hostd-start) with the hollow VM
# (tests/hostd/hollow-vm: the control socket, no guest; no /dev/kvm here)
# gets CREATE_VMS (60) VM creates at once, every id twice (the pool loop
# and a retry racing), and then as many starts:
#   - each id answers 201 once and 200 once: one VM per name;
#   - a create of an existing id with another size is refused (409);
#   - all VMs run, and no two share a SPICE, RDP or web port;
#   - each VM directory holds vm.json and its overlay, nothing half-made;
#   - a restarted vdi-hostd finds the same VMs on the same ports.
# Prints the wall time of the creates and of the starts.
set -u
export LC_ALL=C
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$top}
harness=$top/tests/harness
n=${CREATE_VMS:-60}
par=${CREATE_PARALLEL:-32}
command -v curl >/dev/null || { echo "curl not found"; exit 77; }
command -v qemu-img >/dev/null || { echo "qemu-img not found"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/hostd-create-XXXXXX")
cleanup() {
    [ -f "$dir/h/hostd.pid" ] && kill "$(cat "$dir/h/hostd.pid")" 2>/dev/null
    for _r in "$dir"/h/state/vms/*/run.json; do
        [ -f "$_r" ] && kill -9 "$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$_r")" 2>/dev/null
    done
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fail() {
    echo "not ok - $*"
    [ -f "$dir/h/hostd.log" ] && { echo "--- hostd.log"; tail -n 20 "$dir/h/hostd.log"; }
    exit 1
}
now_ms() { date +%s%3N; }
. "$harness/common.sh"

"$harness/make-pki" "$dir/pki" || fail "make-pki"
lo=$(pick_port)
[ "$lo" -lt 50000 ] || lo=$((lo - 10000))
printf '[api]\nthreads = 8\n[vm]\nport_min = %s\nport_max = %s\n' "$lo" $((lo + 3 * n + 20)) >"$dir/extra.ini"
start_hostd() {
    "$harness/hostd-start" "$dir/h" --pki "$dir/pki" --extra "$dir/extra.ini" --owner $$ \
        >"$dir/hostd.env" || fail "hostd-start"
    . "$dir/hostd.env"
}
start_hostd
api() { # METHOD PATH [BODY]: status in $st, body in $dir/api.out
    st=$(curl -sS -m 60 --cacert "$dir/pki/ca.pem" --cert "$dir/pki/client.pem" \
        --key "$dir/pki/client.key" -X "$1" -H 'Content-Type: application/json' \
        ${3:+--data-binary "$3"} -o "$dir/api.out" -w '%{http_code}' \
        "https://127.0.0.1:$HOSTD_PORT$2")
}
head -c 4096 /dev/urandom >"$dir/vmlinuz"
qemu-img create -q -f qcow2 "$dir/golden.qcow2" 32M || fail "qemu-img"
api PUT /api/v1/images/iv-1 "{\"version\":1,\"kernel\":\"$dir/vmlinuz\",\"disk\":\"$dir/golden.qcow2\",\"format\":\"qcow2\",\"cmdline\":\"\",\"mode\":\"copy\"}"
[ "$st" = 201 ] || fail "image: $st $(cat "$dir/api.out")"

seq -f 'vm%03g' 1 "$n" >"$dir/ids"
# Every id twice, the twins far apart in the batch and close in time.
cat "$dir/ids" "$dir/ids" >"$dir/ids2"
t0=$(now_ms)
"$harness/hostd-batch" "$HOSTD_PORT" "$dir/pki" create "$par" <"$dir/ids2" >"$dir/create.codes" \
    2>"$dir/create.err" || fail "create batch: $(head -c 300 "$dir/create.err")"
t_create=$(($(now_ms) - t0))
[ "$(wc -l <"$dir/create.codes")" = $((2 * n)) ] || fail "$(wc -l <"$dir/create.codes") answers to $((2 * n)) creates"
sort "$dir/create.codes" | awk '{ c[$1] = c[$1] " " $2 } END { for (i in c) print i c[i] }' |
    awk '!(($2 == 201 && $3 == 200) || ($2 == 200 && $3 == 201))' >"$dir/create.bad"
[ -s "$dir/create.bad" ] && fail "ids not answered 201 once and 200 once: $(head -5 "$dir/create.bad" | tr '\n' ';')"
echo "ok - $((2 * n)) concurrent creates ($par at once) of $n VMs in $t_create ms: each id 201 once, 200 once"

head -n 5 "$dir/ids" | "$harness/hostd-batch" "$HOSTD_PORT" "$dir/pki" create 5 \
    '{"image":"iv-1","cpus":2,"memory_mb":128}' >"$dir/conflict.codes" || fail "conflict batch"
[ "$(grep -c ' 409$' "$dir/conflict.codes")" = 5 ] || fail "creates with another size: $(tr '\n' ' ' <"$dir/conflict.codes")"
echo "ok - a create of an existing VM with another size is refused (409)"

t0=$(now_ms)
"$harness/hostd-batch" "$HOSTD_PORT" "$dir/pki" start "$par" <"$dir/ids" >"$dir/start.codes" \
    2>"$dir/start.err" || fail "start batch: $(head -c 300 "$dir/start.err")"
t_start=$(($(now_ms) - t0))
bad=$(grep -vc ' 200$' "$dir/start.codes")
[ "$bad" = 0 ] || fail "$bad starts not 200: $(grep -v ' 200$' "$dir/start.codes" | head -3 | tr '\n' ';')"
echo "ok - $n concurrent starts in $t_start ms"

# check_vms WHAT: every VM listed once, running, ports all distinct.
check_vms() {
    api GET /api/v1/vms
    [ "$st" = 200 ] || fail "list: $st"
    jq -r '.vms[] | "\(.id) \(.state) \(.spice_port) \(.rdp_port)"' "$dir/api.out" | sort >"$dir/vms.$1" ||
        fail "list: $(head -c 300 "$dir/api.out")"
    [ "$(wc -l <"$dir/vms.$1")" = "$n" ] || fail "$1: $(wc -l <"$dir/vms.$1") VMs listed (want $n)"
    [ "$(awk '$2 != "running"' "$dir/vms.$1" | wc -l)" = 0 ] ||
        fail "$1: not running: $(awk '$2 != "running"' "$dir/vms.$1" | head -3 | tr '\n' ';')"
    dups=$(awk '{ print $3; print $4 }' "$dir/vms.$1" | sort | uniq -d | wc -l)
    [ "$dups" = 0 ] || fail "$1: $dups ports used by two VMs"
}
check_vms before
for id in $(cat "$dir/ids"); do
    [ -f "$HOSTD_STATE/vms/$id/vm.json" ] && [ -f "$HOSTD_STATE/vms/$id/disk.qcow2" ] ||
        fail "$id: vm.json or disk.qcow2 missing"
done
left=$(find "$HOSTD_STATE/vms" -name '*.new' -o -name '*.tmp' | wc -l)
[ "$left" = 0 ] || fail "$left half-made files left: $(find "$HOSTD_STATE/vms" -name '*.new' -o -name '*.tmp' | head -3)"
echo "ok - $n VMs running on $((2 * n)) distinct ports; every VM has vm.json and its overlay, nothing half-made"

kill "$HOSTD_PID"
i=0
while kill -0 "$HOSTD_PID" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 100 ] || fail "vdi-hostd did not stop"; sleep 0.1
done
start_hostd
check_vms after
cmp -s "$dir/vms.before" "$dir/vms.after" || fail "after a restart: $(diff "$dir/vms.before" "$dir/vms.after" | head -5)"
echo "ok - a restarted vdi-hostd finds the same $n VMs, running, on the same ports"
echo "# RESULT create_ms=$t_create start_ms=$t_start vms=$n parallel=$par"
