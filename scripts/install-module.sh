#!/usr/bin/env bash
# Install kqueue.ko for a kernel: `make modules_install` / `make install-module` (and, with
# -u, `make uninstall-module`).
# Usage: install-module.sh [-u] KDIR [DESTDIR]
#   KDIR:    the kernel's build tree (default of the Makefile: /lib/modules/$(uname -r)/build)
#   DESTDIR: staging root (empty: the running system)
# Builds the module against KDIR (scripts/kmake.sh), installs it with kbuild's modules_install
# into DESTDIR/lib/modules/RELEASE/updates/kqueue.ko, runs depmod for RELEASE (kbuild skips it
# when the build tree has no System.map, as distribution header packages do), and installs
# dist/60-kqueue.rules into DESTDIR/etc/udev/rules.d/ so that /dev/kqueue is mode 0666 after
# `modprobe kqueue` whatever the distribution's default udev rules. -u removes both and runs
# depmod again.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
uninstall=0; [ "${1:-}" != -u ] || { uninstall=1; shift; }
kdir=${1:?usage: install-module.sh [-u] KDIR [DESTDIR]}; dest=${2:-}
[ -d "$kdir" ] || { echo "install-module: no kernel build tree at $kdir (install your distribution's kernel headers, or pass KDIR=)" >&2; exit 1; }
rel_file=$kdir/include/config/kernel.release
[ -r "$rel_file" ] || { echo "install-module: $rel_file missing: $kdir is not a configured kernel build tree" >&2; exit 1; }
release=$(cat "$rel_file")
moddir=$dest/lib/modules/$release/updates
rules=$dest/etc/udev/rules.d/60-kqueue.rules
say() { printf '[install-module] %s\n' "$*"; }
depmod_run() {
  local depmod; depmod=$(PATH=$PATH:/sbin:/usr/sbin command -v depmod || true)
  if [ -z "$depmod" ]; then say "depmod not found (package kmod): run 'depmod $release' yourself"; return 0; fi
  [ -d "${dest:-/}/lib/modules/$release" ] || return 0
  say "depmod -a ${dest:+-b $dest }$release"
  "$depmod" -a ${dest:+-b "$dest"} "$release"
}
if [ $uninstall = 1 ]; then
  say "removing $moddir/kqueue.ko and $rules"
  rm -f "$moddir/kqueue.ko" "$moddir/kqueue.ko.xz" "$moddir/kqueue.ko.zst" "$moddir/kqueue.ko.gz" "$rules"
  depmod_run
  exit 0
fi
say "building kqueue.ko for $release ($kdir)"
"$top/scripts/kmake.sh" "$top" "$kdir" modules
say "installing into $moddir"
"$top/scripts/kmake.sh" "$top" "$kdir" modules_install ${dest:+INSTALL_MOD_PATH="$dest"} INSTALL_MOD_DIR=updates
depmod_run
install -D -m 0644 "$top/dist/60-kqueue.rules" "$rules"
say "installed $rules"
if [ -z "$dest" ] && command -v udevadm >/dev/null && [ -d /run/udev ]; then udevadm control --reload-rules || true; fi
say "done: 'modprobe kqueue' creates /dev/kqueue (mode 0666); 'echo kqueue > /etc/modules-load.d/kqueue.conf' loads it at boot"
