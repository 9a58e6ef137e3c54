#!/usr/bin/env bash
# Build the test VM's initramfs (busybox-static, cpio newc, gzip).
# Usage: mk-initramfs.sh -o OUT.cpio.gz [-m kqueue.ko] [-x extra.ko]... [-t test-binary]...
#                        [-d demo-program]... [-u user-dir] [-c 'user command']
# Layout: /init (tests/vm/init), /lib/modules/kqueue.ko, /lib/modules/extra/*.ko,
#         /tests/bin/*, /bin/<demo> (e.g. /bin/kq-demo) with /kq/demos listing them in -d
#         order (demo mode runs them in turn), /mnt/user (copy of user-dir), /kq/cmd.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out="" mod="" udir="" cmd="" extra=() tests=() demos=()
while getopts o:m:x:t:d:u:c: opt; do
  case $opt in
    o) out=$OPTARG ;; m) mod=$OPTARG ;; x) extra+=("$OPTARG") ;; t) tests+=("$OPTARG") ;;
    d) demos+=("$OPTARG") ;; u) udir=$OPTARG ;; c) cmd=$OPTARG ;;
    *) sed -n '2,7p' "$0" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "mk-initramfs: -o OUT is required" >&2; exit 2; }

root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,kq,mnt/user,lib/modules/extra,tests/bin}
install -m 0755 /bin/busybox "$root/bin/busybox"          # busybox-static: no libraries needed
install -m 0755 "$top/tests/vm/init" "$root/init"
[ -z "$mod" ] || install -m 0644 "$mod" "$root/lib/modules/kqueue.ko"
for f in ${extra[@]+"${extra[@]}"}; do install -m 0644 "$f" "$root/lib/modules/extra/"; done
for f in ${tests[@]+"${tests[@]}"}; do install -m 0755 "$f" "$root/tests/bin/"; done
for f in ${demos[@]+"${demos[@]}"}; do
  install -m 0755 "$f" "$root/bin/" && echo "/bin/${f##*/}" >> "$root/kq/demos"
done
[ -z "$udir" ] || cp -a "$udir/." "$root/mnt/user/"
[ -z "$cmd" ] || printf '%s\n' "$cmd" > "$root/kq/cmd"
# /dev/console must exist before /init runs, or init's output goes nowhere. mknod needs root,
# so the node is written as its own small cpio archive (the kernel unpacks concatenated ones).
cpio_entry() { # name mode nlink rdevmajor rdevminor (newc header, name, pad to 4 bytes)
  local ns=$(( ${#1} + 1 ))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    0 "$2" 0 0 "$3" 0 0 0 0 "$4" "$5" $ns 0
  printf '%s\0' "$1"; printf '%*s' $(( (4 - (110 + ns) % 4) % 4 )) '' | tr ' ' '\0'
}
mkdir -p "$(dirname "$out")"
{ cpio_entry dev $((0040755)) 2 0 0; cpio_entry dev/console $((0020600)) 1 5 1
  cpio_entry TRAILER!!! 0 1 0 0
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
} | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
