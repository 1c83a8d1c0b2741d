#!/bin/sh
# hostd/hostd.conf.example is what `vdi-hostd --print-example` prints (the
# [vm] binary default depends on the configured prefix and is not compared).
set -u
b=${abs_top_builddir:-.}
s=${abs_top_srcdir:-.}
"$b/hostd/vdi-hostd" --print-example | grep -v '^#binary=' >"${TMPDIR:-/tmp}/hostd-example.$$"
grep -v '^#binary=' "$s/hostd/hostd.conf.example" | diff -u - "${TMPDIR:-/tmp}/hostd-example.$$"
rc=$?
rm -f "${TMPDIR:-/tmp}/hostd-example.$$"
[ $rc = 0 ] || echo "regenerate: hostd/vdi-hostd --print-example > hostd/hostd.conf.example"
exit $rc
