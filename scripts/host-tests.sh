#!/usr/bin/env bash
# Host-side tests (no kernel needed): `make -C userspace test` (cargo test: ABI header check,
# C-symbol tests, safe-API unit tests, doctests; plus the installed-library smoke test), turned
# into a log that count-tap.sh counts like a VM log: one TAP line per cargo test.
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
         else print "not ok " n " " name }' "$raw"
  grep -E '^smoke' "$raw" | sed 's/^/# /'   # the C smoke test of the installed library
  echo "KQ_BIN_END host-cargo-test rc=$rc"
  echo "KQ_END"
} >"$log"
[ $rc = 0 ] || tail -30 "$raw"
exit $rc
