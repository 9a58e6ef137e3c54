#!/usr/bin/env bash
# The staged flows behind `make check`, `make demo` and `make vm-run`.
# Usage: pipeline.sh check | torture | fuzz | demo | run CMD [DIR] | shell [DIR]
#   check: setup, kernel, module, userspace, host tests, tests, VM test run + VM detector run
#          (debug kernel), benchmark VM runs (perf kernel: wall-clock, then instruction-counted),
#          count.
#          Always ends with the line "N passed, N failed" (a failed build stage = 1 failure).
#   torture: setup ... tests, then one VM run (debug kernel) of tests/stress's kq_stress_*
#          only, each for KQ_TORTURE_SECS (600) seconds; count (the same last line).
#   fuzz:  the same for tests/fuzz's kq_fuzz* with KQ_FUZZ_CALLS (1000000) ioctl calls per
#          fuzzer, KQ_FUZZ_SEED (random) and the limits test at the loaded caps; count.
#   demo:  setup, kernel, module, userspace, tests/fd's kq_echo_demo, tests/demo's kq_supervisor,
#          VM running /bin/kq-demo, /bin/kq_echo_demo and then /bin/kq_supervisor; exits with
#          the first failure's status (0 if all pass).
#   run:   setup, kernel, module, VM running CMD as root in /mnt/user (a copy of DIR); prints
#          CMD's output on stdout (everything else on stderr) and exits with CMD's status.
#   shell: setup, kernel, module, userspace, then an interactive root shell in the VM with the
#          module loaded, the Rust demos in /bin and a copy of DIR in /mnt/user.
# Env: KQ_OUT (build/), KQ_PERF_MEM (2G: the benchmark VM's memory, for kq_fd_bench's
#      100 000 pipes), KQ_TORTURE_SECS, KQ_FUZZ_CALLS, KQ_FUZZ_SEED (above), plus run-vm.sh's
#      KQ_ACCEL, KQ_MEM, KQ_VM_TIMEOUT, KQ_TEST_TIMEOUT, KQ_APPEND, ...
# The knobs reach the test binaries through the kernel command line: kq.env=NAME=VALUE words,
# which tests/vm/init exports.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd); cd "$top"
. scripts/env.sh
mode=${1:?usage: pipeline.sh check|torture|fuzz|demo|run CMD [DIR]|shell [DIR]}
out=${KQ_OUT:-$top/build}; logs=$out/logs
# Variables given to the top-level make (CMD=, DIR=, KDIR=...) must not leak into the
# sub-makes of userspace/ and tests/: they would override those Makefiles' own variables.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL
exec 3>&1                            # fd 3: the product's output (CMD's in run mode)
[ "$mode" = run ] && exec 1>&2       # run mode: all harness chatter on stderr
[ "$mode" != shell ] || [ -t 0 ] || { echo "pipeline: shell needs a terminal on stdin" >&2; exit 2; }
mkdir -p "$out/bin" "$logs"

timings=()
now() { date +%s.%N; }
timed() { # timed NAME CMD...: run one stage, record its wall time, return its status
  local name=$1 t0 dt rc=0; shift; t0=$(now)
  echo "==> [$name]"
  "$@" || rc=$?
  dt=$(printf '%.1f' "$(echo "$(now) - $t0" | bc)")
  timings+=("$(printf '  %-10s %7s s' "$name" "$dt")"); echo "<== [$name] $dt s (status $rc)"
  return $rc
}
stage() { # stage NAME CMD...: a stage that must succeed, else stop (check: counts 1 failure)
  timed "$@" && return 0
  echo "[$mode] stage '$1' failed"; show_timings
  [ "$mode" != check ] || echo "0 passed, 1 failed"
  exit 1
}
show_timings() { echo "== Stage times =="; printf '%s\n' "${timings[@]}"; }

build_kernel() { scripts/build-kernel.sh > "$out/kdir"; }
build_perf_kernel() { scripts/build-kernel.sh perf > "$out/kdir-perf" && perf_bzimage=$(tail -n1 "$out/kdir-perf")/arch/x86/boot/bzImage; }
build_perf_module() { # the same sources, copied (kbuild builds M= in place) and built for the perf kernel
  rm -rf "$out/perf-mod" && mkdir -p "$out/perf-mod/rust" &&
  cp "$top/Kbuild" "$out/perf-mod/" && cp "$top"/rust/*.rs "$top"/rust/*.c "$top"/rust/*.h "$out/perf-mod/rust/" &&
  scripts/kmake.sh "$out/perf-mod" "$(tail -n1 "$out/kdir-perf")" && test -f "$out/perf-mod/kqueue.ko"
}
build_module() { scripts/kmake.sh "$top" "$KDIR" && test -f "$top/kqueue.ko"; }
build_userspace() { # a fresh bin dir, so a test removed from the tree does not run from a stale copy
  rm -rf "$out/bin" && mkdir -p "$out/bin" &&
  make -C userspace && make -C userspace static-bins OUT="$out/bin"
}
build_tests() {
  local t libs=(KSRC="$KSRC" KQ_INC="$top/userspace/include" KQ_LIB="$top/userspace/target/release" OUT="$out/bin")
  for t in kqueue compat32 bench fd stress fuzz filters; do make -C tests/$t "${libs[@]}" || return; done
  make -C tests/splat KDIR="$KDIR"
}
build_echo_demo() { # tests/fd's kqueue-driven TCP echo server and client, for make demo
  make -C tests/fd KSRC="$KSRC" KQ_INC="$top/userspace/include" KQ_LIB="$top/userspace/target/release" \
    OUT="$out/bin" check-deps "$out/bin/kq_echo_demo"
}
build_supervisor_demo() { # tests/demo's process supervisor (EVFILT_PROC/VNODE/SIGNAL), for make demo
  make -C tests/demo KSRC="$KSRC" KQ_INC="$top/userspace/include" KQ_LIB="$top/userspace/target/release" \
    OUT="$out/bin" check-deps "$out/bin/kq_supervisor"
}

stage setup scripts/setup.sh
stage kernel build_kernel
KDIR=$(tail -n1 "$out/kdir"); bzimage=$KDIR/arch/x86/boot/bzImage
stage module build_module

case $mode in
check)
  rm -f "$logs"/check.log "$logs"/splat.log "$logs"/splat-verdict.log "$logs"/host.log   # never count a stale log
  stage userspace build_userspace
  # Host-side tests (ABI header check, C symbols, safe API): counted with the VM results.
  KQ_INSTALL_KDIR=$KDIR timed host-tests scripts/host-tests.sh "$logs/host.log" || true
  stage tests build_tests
  shopt -s nullglob
  tests=("$out"/bin/kq_test_* "$out"/bin/kq_fd_test_* "$out"/bin/kq_stress_* "$out"/bin/kq_fuzz* "$out/bin/kq-rs-tests" "$out/bin/kq-echo-server")
  shopt -u nullglob
  stage initramfs scripts/mk-initramfs.sh -o "$out/initramfs-check.cpio.gz" -m kqueue.ko \
    -x tests/splat/kq_splat.ko -d "$out/bin/kq-demo" "${tests[@]/#/-t}"
  # Run 1: the module and every test binary. Its status is in the counted TAP lines.
  timed vm-check scripts/run-vm.sh "$bzimage" "$out/initramfs-check.cpio.gz" check "$logs/check.log" || true
  # Run 2: a module that sleeps in atomic context; the kernel-log check MUST catch it.
  timed vm-splat scripts/run-vm.sh "$bzimage" "$out/initramfs-check.cpio.gz" splat "$logs/splat.log" || true
  { echo "KQ_BEGIN mode=splat-verdict"; echo "KQ_BIN_BEGIN splat-detector"
    if grep -q '^not ok .*harness: kernel log clean' "$logs/splat.log" &&
       grep -qE 'sleeping function called from invalid context|Invalid wait context' "$logs/splat.log"
    then echo "ok 1 detector catches sleeping in atomic context"
    else echo "not ok 1 detector catches sleeping in atomic context (see $logs/splat.log)"; fi
    echo "KQ_BIN_END splat-detector rc=0"; echo "KQ_END"; } > "$logs/splat-verdict.log"
  # Run 3: the benchmarks against epoll, on the perf kernel (no KASAN/lockdep/kmemleak), in
  # its own VM run. A failed build here counts as one failure instead of ending the check.
  # kq_fd_bench runs with its defaults (up to 100 000 idle pipes, 60 s to create them): the
  # VM gets KQ_PERF_MEM so that memory does not cap the count (~5 KiB and 2 fds per pipe;
  # the bench raises RLIMIT_NOFILE itself, fs.nr_open is 1048576).
  # Run 4: the same image once more with instruction-counted guest time (KQ_ICOUNT=1: QEMU's
  # -icount shift=0,sleep=off, 1 ns per instruction, so the figures do not move with the host's
  # load; TCG only, hence KQ_ACCEL=tcg even where KVM works). Every vCPU then runs in one host
  # thread: multi-thread figures count instructions, not parallel speed. Its TAP is counted
  # too (each log separately). Measured: about 95 s wall here, kq_fd_bench's 100 000 pipes
  # included, against 60-120 s for the wall-clock run.
  perf_log=$logs/perf.log icount_log=$logs/perf-icount.log; rm -f "$perf_log" "$icount_log"
  perf_logs=("$perf_log")
  if timed kernel-perf build_perf_kernel &&
     timed module-perf build_perf_module &&
     timed initramfs-perf scripts/mk-initramfs.sh -o "$out/initramfs-perf.cpio.gz" \
       -m "$out/perf-mod/kqueue.ko" -t "$out/bin/kq_bench_core" -t "$out/bin/kq_bench_scale" \
       -t "$out/bin/kq_fd_bench" -t "$out/bin/kq_bench_suite"; then
    KQ_MEM=${KQ_PERF_MEM:-2G} KQ_APPEND="${KQ_APPEND:+$KQ_APPEND }kq.env=KQ_BENCH_CLOCK=wall" \
      timed vm-perf scripts/run-vm.sh "$perf_bzimage" "$out/initramfs-perf.cpio.gz" check "$perf_log" || true
    touch "$perf_log"   # a VM that wrote nothing still leaves a log: counted as a failure
    KQ_ACCEL=tcg KQ_ICOUNT=1 KQ_MEM=${KQ_PERF_MEM:-2G} \
      KQ_APPEND="${KQ_APPEND:+$KQ_APPEND }kq.env=KQ_BENCH_CLOCK=icount" \
      timed vm-perf-icount scripts/run-vm.sh "$perf_bzimage" "$out/initramfs-perf.cpio.gz" check "$icount_log" || true
    touch "$icount_log"; perf_logs+=("$icount_log")
  else
    printf '%s\n' "KQ_BEGIN mode=perf-build" "not ok 1 perf kernel or module build" "KQ_END" > "$perf_log"
  fi
  show_timings
  # The figures for the README: timeout slack (debug kernel), then the benchmarks (perf kernel)
  # of each perf run, every line labelled with its clock.
  grep -hE '^# (bench|slack) ' "$logs/check.log" 2>/dev/null || true
  echo "== Benchmarks, perf kernel, guest wall-clock time (TCG on a shared host: noisy) =="
  grep -hE '^# (bench |\|)' "$perf_log" 2>/dev/null | sed 's/^/[wall] /' || true
  if [ -f "$icount_log" ]; then
    echo "== Benchmarks, perf kernel, instruction-counted (-icount: \"ns\" = instructions; multi-thread rows count instructions, not parallel speed) =="
    grep -hE '^# (bench |\|)' "$icount_log" 2>/dev/null | sed 's/^/[icount] /' || true
  fi
  exec scripts/count-tap.sh "$logs/host.log" "$logs/check.log" "$logs/splat-verdict.log" "${perf_logs[@]}" ;;
torture|fuzz)
  # The stress tests or the fuzzers alone, with long durations, in one VM run. Each binary
  # gets a timeout scaled to its duration; the VM the sum (a kernel panic ends it at once).
  log=$logs/$mode.log; rm -f "$log"
  stage userspace build_userspace
  stage tests build_tests
  shopt -s nullglob
  if [ "$mode" = torture ]; then
    secs=${KQ_TORTURE_SECS:-600}
    # every duration knob of tests/stress (kq_stress_epoll_cycle runs two cases of that length)
    envs="kq.env=KQ_TORTURE_SECS=$secs kq.env=KQ_STRESS_SECS=$secs kq.env=KQ_EPOLL_CYCLE_SECS=$secs"
    envs="$envs kq.env=KQ_FILTERS_SECS=$secs"   # kq_stress_filters: a sixth of it per case
    tests=("$out"/bin/kq_stress_*); per=$(( 2 * secs + 600 ))
  else
    calls=${KQ_FUZZ_CALLS:-1000000}
    # KQ_LIMITS_FULL: kq_fuzz_limits fills the loaded caps (262144 knotes), not lowered ones
    envs="kq.env=KQ_FUZZ_CALLS=$calls kq.env=KQ_LIMITS_FULL=1${KQ_FUZZ_SEED:+ kq.env=KQ_FUZZ_SEED=$KQ_FUZZ_SEED}"
    # measured under TCG with KASAN: 1400-4500 calls/s; allow 500/s
    tests=("$out"/bin/kq_fuzz*); per=$(( calls / 500 + 900 ))
  fi
  shopt -u nullglob
  [ ${#tests[@]} -gt 0 ] || { echo "[$mode] no test binary built"; echo "0 passed, 1 failed"; exit 1; }
  stage initramfs scripts/mk-initramfs.sh -o "$out/initramfs-$mode.cpio.gz" -m kqueue.ko "${tests[@]/#/-t}"
  KQ_APPEND="${KQ_APPEND:+$KQ_APPEND }$envs" KQ_TEST_TIMEOUT=${KQ_TEST_TIMEOUT:-$per} \
    KQ_VM_TIMEOUT=${KQ_VM_TIMEOUT:-$(( per * ${#tests[@]} + 600 ))} \
    timed vm-$mode scripts/run-vm.sh "$bzimage" "$out/initramfs-$mode.cpio.gz" check "$log" || true
  touch "$log"
  show_timings
  grep -hE '^# (fuzz|failnth|limits):' "$log" || true
  exec scripts/count-tap.sh "$log" ;;
demo)
  stage userspace build_userspace
  stage echo-demo build_echo_demo
  stage supervisor build_supervisor_demo
  stage initramfs scripts/mk-initramfs.sh -o "$out/initramfs-demo.cpio.gz" -m kqueue.ko -d "$out/bin/kq-demo" \
    -d "$out/bin/kq_echo_demo" -d "$out/bin/kq_supervisor"
  rc=0; timed vm-demo scripts/run-vm.sh "$bzimage" "$out/initramfs-demo.cpio.gz" demo "$logs/demo.log" || rc=$?
  show_timings; exit $rc ;;
run)
  cmd=${2:?run needs a command}; dir=${3:-}
  stage initramfs scripts/mk-initramfs.sh -o "$out/initramfs-run.cpio.gz" -m kqueue.ko -c "$cmd" ${dir:+-u "$dir"}
  vm_user() { KQ_QUIET=1 scripts/run-vm.sh "$bzimage" "$out/initramfs-run.cpio.gz" run "$logs/run.log" >&3; }
  rc=0; timed vm-run vm_user || rc=$?
  show_timings; exit $rc ;;
shell)
  dir=${2:-}
  stage userspace build_userspace
  stage initramfs scripts/mk-initramfs.sh -o "$out/initramfs-shell.cpio.gz" -m kqueue.ko \
    -d "$out/bin/kq-demo" -d "$out/bin/kq-echo-server" -d "$out/bin/kq-rs-tests" ${dir:+-u "$dir"}
  show_timings
  exec scripts/run-vm.sh "$bzimage" "$out/initramfs-shell.cpio.gz" shell /dev/null ;;
*) echo "pipeline: unknown mode $mode" >&2; exit 2 ;;
esac
