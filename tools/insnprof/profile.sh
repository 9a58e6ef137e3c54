#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
# Instruction profile of a kqueue workload and its epoll counterpart (make profile MODE=...).
# Usage: profile.sh MODE [N]
#   MODE: pending | pending8 | pipe | pipe8 | rt | trigger | create | adddel | regclose | otherpipe | pingpong | register: kq_prof's kq_MODE and ep_MODE (kq_prof.c)
#   N:    iterations (default 100000; 20000 for create, adddel, regclose, otherpipe, pingpong, register)
# Builds (or reuses) the perf kernel, this tree's module for it, libkqueue.a, kq_prof and the
# QEMU plugin insnprof.so (fetching QEMU's qemu-plugin.h once into $KQ_CACHE/qemu-plugin/);
# boots the VM (TCG, one vCPU, -icount) for `kq_prof none 0` (the baseline, once per build of
# module, driver, plugin and kernel), `kq_prof kq_MODE N` and `kq_prof ep_MODE N`, and prints
# analyze.py's table: kernel instructions per iteration by function, minus the baseline.
# The table goes to stdout, progress to stderr. Outputs: $KQ_OUT/profile (build/profile):
# runs/<key>/{none,kq_MODE,ep_MODE}.{tb,out,log} (plugin counts, command output, console log)
# for analyze.py, e.g. its --fn option; logs/ (the build steps).
# Env: KQ_OUT; KQ_PROFILE_KERNEL (perf, or perf-inline: the perf kernel with Rust's C helpers
# inlined, kernel/perf-inline.config); KQ_APPEND (more guest command line); KQ_QEMU_PLUGIN_H=/path/to/qemu-plugin.h
# (a header of the installed QEMU's version, instead of the download); KQ_QEMU_SRC_URL (the
# source tarball to take it from).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd); cd "$top"
here=$top/tools/insnprof
. scripts/env.sh
# MODE=/N= given to the top-level make must not reach the sub-makes (userspace, kq_prof).
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL

usage() { sed -n '4,6p' "$here/profile.sh" | sed 's/^# \{0,1\}//' >&2; exit 2; }
mode=${1:-} n=${2:-}
case $mode in
  pending|pending8|pipe|pipe8|rt|trigger) n=${n:-100000} ;;
  create|adddel|regclose|otherpipe|pingpong|register) n=${n:-20000} ;;
  *) usage ;;
esac
[[ $n =~ ^[1-9][0-9]{0,9}$ ]] || { echo "profile: N must be a positive integer (got '$n')" >&2; exit 2; }

out=${KQ_OUT:-$top/build}/profile
logs=$out/logs
case $out in *[,\ ]*) echo "profile: the output directory $out has a comma or a space (QEMU's -plugin argument)" >&2; exit 2 ;; esac
mkdir -p "$out/bin" "$logs"

say() { echo "[profile] $*" >&2; }
fail() { echo "[profile] $*" >&2; exit 1; }
step() { # step NAME CMD...: run a build step with its output in logs/NAME.log
  local name=$1 t0=$SECONDS; shift
  printf '[profile] %s ... ' "$name" >&2
  if "$@" > "$logs/$name.log" 2>&1; then
    echo "ok ($((SECONDS - t0)) s)" >&2
  else
    echo "FAILED" >&2
    tail -n 30 "$logs/$name.log" >&2
    fail "$name failed (log: $logs/$name.log)"
  fi
}

# The installed QEMU's include/qemu/qemu-plugin.h, without its #include <glib.h> (insnprof.c
# declares the two glib types it names). Prints the directory holding it.
plugin_header() {
  local line ver debver orig dir url tmp
  line=$(qemu-system-x86_64 --version | head -n1)
  ver=$(sed -n 's/^QEMU emulator version \([0-9][0-9.]*\).*/\1/p' <<<"$line")
  [ -n "$ver" ] || fail "cannot read the QEMU version from '$line'"
  dir=$KQ_CACHE/qemu-plugin/$ver
  if [ -f "$dir/qemu-plugin.h" ]; then echo "$dir"; return; fi
  mkdir -p "$dir"; tmp=$dir/.fetch.$$
  if [ -n "${KQ_QEMU_PLUGIN_H:-}" ]; then
    say "qemu-plugin.h: taking $KQ_QEMU_PLUGIN_H (for QEMU $ver)"
    cp "$KQ_QEMU_PLUGIN_H" "$tmp.h" || fail "cannot read KQ_QEMU_PLUGIN_H=$KQ_QEMU_PLUGIN_H"
  else
    # Debian's source tarball of that QEMU: qemu_<upstream version of the package>.orig.tar.xz,
    # e.g. "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1" -> qemu_10.0.2+ds.orig.tar.xz.
    debver=$(sed -n 's/.*(Debian \([^)]*\)).*/\1/p' <<<"$line")
    orig=${debver#*:}; orig=${orig%-*}
    case $orig in "$ver"|"$ver"+*) ;; *) orig=$ver+ds ;; esac
    url=${KQ_QEMU_SRC_URL:-http://deb.debian.org/debian/pool/main/q/qemu/qemu_$orig.orig.tar.xz}
    say "qemu-plugin.h: fetching QEMU $ver's source from $url (about 40 MB, once)"
    if ! curl -fsSL --retry 2 -o "$tmp.tar.xz" "$url"; then
      rm -f "$tmp.tar.xz"
      fail "cannot download $url: no qemu-plugin.h for QEMU $ver. Give one with
[profile] KQ_QEMU_PLUGIN_H=/path/to/qemu-$ver/include/qemu/qemu-plugin.h, or a tarball with KQ_QEMU_SRC_URL=..."
    fi
    tar -xJf "$tmp.tar.xz" -O --wildcards '*/include/qemu/qemu-plugin.h' > "$tmp.h" 2>/dev/null || {
      rm -f "$tmp.tar.xz" "$tmp.h"; fail "no include/qemu/qemu-plugin.h in $url"; }
    rm -f "$tmp.tar.xz"
  fi
  sed -i '/^#include <glib\.h>/d' "$tmp.h"
  if ! grep -q '^#define QEMU_PLUGIN_VERSION' "$tmp.h" || grep -q '#include <glib' "$tmp.h"; then
    rm -f "$tmp.h"; fail "the qemu-plugin.h obtained is not a usable QEMU plugin header"
  fi
  mv "$tmp.h" "$dir/qemu-plugin.h"
  say "qemu-plugin.h: $dir/qemu-plugin.h (QEMU_PLUGIN_VERSION $(sed -n 's/^#define QEMU_PLUGIN_VERSION //p' "$dir/qemu-plugin.h"))"
  echo "$dir"
}

# The module of this tree for the perf kernel, in a copy (kbuild builds M= in place), as
# pipeline.sh's perf module; rebuilt only when Kbuild, rust/ or the kernel changed.
build_module() {
  local m=$out/mod
  rm -rf "$m" && mkdir -p "$m/rust" && cp Kbuild "$m/" && cp rust/*.rs rust/*.c rust/*.h "$m/rust/" &&
    scripts/kmake.sh "$m" "$KDIR" && test -f "$m/kqueue.ko" && echo "$src_key" > "$m/.src-key"
}

t_start=$SECONDS
step setup scripts/setup.sh
kernel=${KQ_PROFILE_KERNEL:-perf}
case $kernel in perf|perf-inline) ;; *) fail "KQ_PROFILE_KERNEL must be perf or perf-inline" ;; esac
build_kernel() { scripts/build-kernel.sh "$kernel" > "$out/kdir-perf"; }   # cached, else 7-20 min
step kernel-$kernel build_kernel
KDIR=$(tail -n1 "$out/kdir-perf"); bzimage=$KDIR/arch/x86/boot/bzImage
[ -f "$bzimage" ] && [ -f "$KDIR/System.map" ] || fail "no bzImage or System.map in $KDIR"
src_key=$({ echo "$KDIR"; sha256sum Kbuild rust/*.rs rust/*.c rust/*.h; } | sha256sum | cut -c1-16)
if [ -f "$out/mod/kqueue.ko" ] && [ "$(cat "$out/mod/.src-key" 2>/dev/null)" = "$src_key" ]; then
  say "module: unchanged sources, reusing $out/mod/kqueue.ko"
else
  step module-perf build_module
fi
step userspace make -C userspace clib
step kq_prof make -C "$here" KSRC="$KSRC" KQ_INC="$top/userspace/include" \
  KQ_LIB="$top/userspace/target/release" OUT="$out/bin"
hdr=$(plugin_header)
step plugin make -C "$here" plugin QEMU_PLUGIN_INC="$hdr" OUT="$out/bin"

# The guest's command line: norandmaps, or user-space address randomisation changes the page
# tables (and the pages cleared for them) from boot to boot: two baseline boots then differ
# by 100 000-250 000 instructions, against about 100 with it.
append="${KQ_APPEND:+$KQ_APPEND }norandmaps"
# One directory per build of what runs in the VM: its baseline is computed once.
key=$({ cat "$out/mod/kqueue.ko" "$out/bin/kq_prof" "$out/bin/insnprof.so" "$bzimage"; echo "$append"; } |
  sha256sum | cut -c1-16)
runs=$out/runs/$key
mkdir -p "$runs"

vm_run() { # vm_run NAME ITER: boot the VM for `kq_prof NAME ITER`; $runs/NAME.{tb,out,log,err}
  local name=$1 iter=$2 u=$runs/$1.d rc=0
  rm -rf "$u" "$runs/$name".{tb,out,log,err} && mkdir -p "$u" && cp "$out/bin/kq_prof" "$u/" &&
    scripts/mk-initramfs.sh -o "$runs/$name.cpio.gz" -m "$out/mod/kqueue.ko" -u "$u" \
      -c "./kq_prof $name $iter && grep '\[kqueue\]' /proc/kallsyms" || return 1
  # TCG (plugins and -icount need it), one vCPU; stdout: the command's output only.
  KQ_APPEND=$append KQ_ACCEL=tcg KQ_SMP=1 KQ_QUIET=1 KQ_ICOUNT=1 KQ_QEMU_ARGS="-plugin $out/bin/insnprof.so,out=$runs/$name.tb" \
    scripts/run-vm.sh "$bzimage" "$runs/$name.cpio.gz" run "$runs/$name.log" \
    > "$runs/$name.out" 2> "$runs/$name.err" || rc=$?
  rm -rf "$u" "$runs/$name.cpio.gz"
  [ "$rc" = 0 ] && grep -qx "done $name $iter" "$runs/$name.out" && [ -s "$runs/$name.tb" ]
}

# The three VMs run at once: with -icount the counts do not depend on the host's load.
names=(kq_$mode ep_$mode) iters=("$n" "$n")
if [ -s "$runs/none.tb" ] && grep -qx 'done none 0' "$runs/none.out" 2>/dev/null; then
  say "baseline: cached ($runs/none.tb)"
else
  names+=(none) iters+=(0)
fi
say "VM runs (TCG, 1 vCPU, -icount): ${names[*]} with N=$n, about 15-60 s"
t0=$SECONDS pids=()
for i in "${!names[@]}"; do vm_run "${names[$i]}" "${iters[$i]}" & pids+=($!); done
bad=0
for i in "${!names[@]}"; do
  if wait "${pids[$i]}"; then continue; fi
  bad=1; name=${names[$i]}
  echo "[profile] VM run '$name' failed: log $runs/$name.log; its output and errors:" >&2
  tail -n 20 "$runs/$name.out" "$runs/$name.err" >&2 2>/dev/null || true
done
[ $bad = 0 ] || fail "no profile"
say "VM runs: ok ($((SECONDS - t0)) s; total $((SECONDS - t_start)) s)"

echo "make profile MODE=$mode N=$n: kq_$mode against ep_$mode (tools/insnprof/kq_prof.c)"
echo "perf kernel $KDIR, runs in $runs"
echo
python3 "$here/analyze.py" --map "$KDIR/System.map" --base "$runs/none" -n "$n" \
  "$runs/kq_$mode" "$runs/ep_$mode"
