#!/usr/bin/env bash
# Build (or reuse) a Rust-enabled test kernel. Prints its build directory (KDIR) last.
# Usage: build-kernel.sh [debug|perf|perf-inline]
#   debug (default): tinyconfig + kernel/base.config + kernel/debug.config (lockdep, KASAN,
#                    kmemleak, ...): the kernel every test runs on.
#   perf:            tinyconfig + kernel/base.config + kernel/perf.config (-O2, tracepoints):
#                    for benchmarks against epoll.
#   perf-inline:     perf + kernel/perf-inline.config (Rust's C helpers inlined, experimental):
#                    only for `make profile KERNEL=perf-inline`, never built by `make check`.
# Both are built with clang-22 (LLVM=-22, required for KASAN with Rust). The build directory is
# cached under $KQ_CACHE/kbuild/<key>, where <key> hashes the kernel source version, the config
# fragments and every tool version that goes into the build, so a second run (or CI on the same
# machine) reuses it in a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(dirname "$here")
. "$here/env.sh"
export PATH=$KQ_KPATH
case ${1:-debug} in
  debug) FRAGS=("$top"/kernel/base.config "$top"/kernel/debug.config) ;;
  perf)  FRAGS=("$top"/kernel/base.config "$top"/kernel/perf.config) ;;
  perf-inline) FRAGS=("$top"/kernel/base.config "$top"/kernel/perf.config "$top"/kernel/perf-inline.config) ;;
  *) echo "usage: build-kernel.sh [debug|perf|perf-inline]" >&2; exit 2 ;;
esac
MAKEARGS=(ARCH=x86_64 LLVM="$KQ_LLVM")

key=$({ dpkg-query -W -f='${Version}\n' linux-source-7.2; cat "${FRAGS[@]}"; rustc -vV; bindgen --version
        "clang$KQ_LLVM" --version | head -1; echo "${MAKEARGS[*]}"; } | sha256sum | cut -c1-16)
KDIR=$KQ_CACHE/kbuild/7.2-$key
if [ -f "$KDIR/.kq-built" ]; then echo "[kernel] cached build $KDIR" >&2; echo "$KDIR"; exit 0; fi

echo "[kernel] building the ${1:-debug} test kernel into $KDIR (clang$KQ_LLVM; about 7 (perf) to 11 (debug) min on 2 cores)" >&2
rm -rf "$KDIR"; mkdir -p "$KDIR"
start=$(date +%s)
make -s -C "$KSRC" O="$KDIR" "${MAKEARGS[@]}" tinyconfig >/dev/null
"$KSRC"/scripts/kconfig/merge_config.sh -m -O "$KDIR" "$KDIR/.config" "${FRAGS[@]}" >/dev/null
make -s -C "$KSRC" O="$KDIR" "${MAKEARGS[@]}" olddefconfig >/dev/null
# Kconfig drops options whose dependencies fail (CONFIG_RUST above all) without a word: check.
bad=0
for f in "${FRAGS[@]}"; do
  while read -r l; do
    case "$l" in
      CONFIG_*) k=${l%%=*}; got=$(grep -E "^$k=" "$KDIR/.config" || true)
                [ "$got" = "$l" ] || { echo "[kernel] CONFIG MISMATCH: want $l, got '${got:-unset}'" >&2; bad=1; } ;;
      "# CONFIG_"*" is not set") k=${l#\# }; k=${k%% *}
                ! grep -q -E "^$k=" "$KDIR/.config" || { echo "[kernel] CONFIG MISMATCH: want $k unset" >&2; bad=1; } ;;
    esac
  done < "$f"
done
[ $bad = 0 ] || { echo "[kernel] requested options did not survive olddefconfig" >&2; exit 1; }

log=$KDIR/build.log
make -C "$KSRC" O="$KDIR" "${MAKEARGS[@]}" -j"$(nproc)" bzImage modules >"$log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
  sleep 30
  kill -0 $pid 2>/dev/null && echo "[kernel] $(( $(date +%s) - start )) s, $(find "$KDIR" -name '*.o' | wc -l) objects" >&2
done
if ! wait $pid; then tail -40 "$log" >&2; echo "[kernel] build failed, log: $log" >&2; exit 1; fi
touch "$KDIR/.kq-built"
echo "[kernel] built in $(( $(date +%s) - start )) s" >&2
echo "$KDIR"
