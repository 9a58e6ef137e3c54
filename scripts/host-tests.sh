#!/usr/bin/env bash
# Host-side tests (no kernel needed): `make -C userspace test` (cargo test: ABI header check,
# C-API tests, safe-API unit tests, doctests; then userspace/tests/c/check-lib.sh: the C
# library's sizes, exported and used symbols, SONAME and version, pkg-config output, static and
# shared links without warnings, DESTDIR install/uninstall, man-page lint), turned into a log
# that count-tap.sh counts like a VM log: one TAP line per cargo test and per library check.
# Usage: host-tests.sh LOG
set -uo pipefail
log=${1:?usage: host-tests.sh LOG}
top=$(cd "$(dirname "$0")/.." && pwd)
raw=$log.raw
make -C "$top/userspace" test >"$raw" 2>&1; rc=$?
{
  echo "KQ_BEGIN mode=host"
  echo "KQ_BIN_BEGIN host-cargo-test"
  awk '/^test .* \.\.\. (ok|FAILED|ignored)$/ {
         n++; name = $0; sub(/^test /, "", name); sub(/ \.\.\. [a-zA-Z]+$/, "", name)
         if ($NF == "ok") print "ok " n " " name
         else if ($NF == "ignored") print "ok " n " " name " # SKIP ignored"
         else print "not ok " n " " name }
       /^check: ok / { n++; sub(/^check: ok /, ""); print "ok " n " lib: " $0 }
       /^check: FAILED / { n++; sub(/^check: FAILED /, ""); print "not ok " n " lib: " $0 }
       /^# (size|shared|static|a static)/ { print }' "$raw"
  echo "KQ_BIN_END host-cargo-test rc=$rc"
  echo "KQ_END"
} >"$log"
[ $rc = 0 ] || tail -30 "$raw"
exit $rc
