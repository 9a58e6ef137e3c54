#!/usr/bin/env bash
# Build the out-of-tree kernel module(s) in MODDIR against KDIR.
# Usage: kmake.sh MODDIR [KDIR] [make args...]     (default target: modules)
# Without KDIR, the cached test kernel of scripts/build-kernel.sh is used (built if missing).
# The test kernel is a clang-22 build with Debian's rustc: its modules need LLVM=-22 and the
# rustc/bindgen shim first on PATH (env.sh's KQ_KPATH). Any other KDIR is the user's own kernel:
# it is built with the caller's PATH and the caller's LLVM (e.g. `make KDIR=... LLVM=1`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
moddir=$(cd "$1" && pwd); kdir=${2:-}; shift $(( $# < 2 ? $# : 2 ))
[ -f "$moddir/Kbuild" ] || { echo "kmake: no Kbuild in $moddir (module source missing)" >&2; exit 1; }
if [ -z "$kdir" ]; then
  [ -x "$KQ_TOOLS/bin/bindgen" ] || { echo "kmake: no toolchain for the test kernel yet: run 'make setup' (or pass KDIR=)" >&2; exit 1; }
  kdir=$("$here/build-kernel.sh" | tail -n1)
fi
kdir=$(cd "$kdir" && pwd)
case $kdir/ in
  "$KQ_CACHE"/kbuild/*) export PATH=$KQ_KPATH LLVM=$KQ_LLVM ;;
esac
[ $# -gt 0 ] || set -- modules
exec make -C "$kdir" M="$moddir" ${LLVM:+LLVM="$LLVM"} "$@"
