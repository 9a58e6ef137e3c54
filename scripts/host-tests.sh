#!/usr/bin/env bash
# Host-side tests (no kernel needed): `make -C userspace test` (cargo test: ABI header check,
# C-API tests, safe-API unit tests, doctests; then userspace/tests/c/check-lib.sh: the C
# library's sizes, exported and used symbols, SONAME and version, pkg-config output, static and
# shared links without warnings, DESTDIR install/uninstall, man-page lint), turned into a log
# that count-tap.sh counts like a VM log: one TAP line per cargo test and per library check.
# With KQ_INSTALL_KDIR=<kernel build tree> (make check passes the test kernel's), also
# `make modules_install` into a DESTDIR: kqueue.ko under lib/modules/RELEASE/updates, depmod's
# modules.dep naming it, the udev rule; then `make uninstall-module` removes them.
# Usage: host-tests.sh LOG
set -uo pipefail
log=${1:?usage: host-tests.sh LOG}
top=$(cd "$(dirname "$0")/.." && pwd)
raw=$log.raw
make -C "$top/userspace" test >"$raw" 2>&1; rc=$?
if [ -n "${KQ_INSTALL_KDIR:-}" ]; then
  dest=$(mktemp -d); release=$(cat "$KQ_INSTALL_KDIR/include/config/kernel.release" 2>/dev/null)
  check() { if eval "$2"; then echo "check: ok $1"; else echo "check: FAILED $1 ($3)"; rc=1; fi; }
  {
    make -s -C "$top" modules_install KDIR="$KQ_INSTALL_KDIR" DESTDIR="$dest" >"$dest.log" 2>&1
    check "make modules_install: kqueue.ko under lib/modules/$release/updates" \
      '[ -f "$dest/lib/modules/$release/updates/kqueue.ko" ]' "$(tail -3 "$dest.log" | xargs)"
    check "make modules_install: depmod lists it in modules.dep" \
      'grep -q "^updates/kqueue.ko:" "$dest/lib/modules/$release/modules.dep"' "no modules.dep entry"
    check "make modules_install: udev rule for mode 0666" \
      'grep -q "KERNEL==\"kqueue\".*MODE=\"0666\"" "$dest/etc/udev/rules.d/60-kqueue.rules"' "no rule"
    make -s -C "$top" uninstall-module KDIR="$KQ_INSTALL_KDIR" DESTDIR="$dest" >>"$dest.log" 2>&1
    check "make uninstall-module removes the module and the rule" \
      '[ ! -e "$dest/lib/modules/$release/updates/kqueue.ko" ] && [ ! -e "$dest/etc/udev/rules.d/60-kqueue.rules" ] && ! grep -q kqueue "$dest/lib/modules/$release/modules.dep"' "left over"
  } >>"$raw" 2>&1
  rm -rf "$dest" "$dest.log"
fi
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
