#!/usr/bin/env bash
# Boot the test kernel with an initramfs under QEMU and return the guest's exit status.
# Usage: run-vm.sh BZIMAGE INITRAMFS MODE LOG
#   MODE: check|demo|run|splat|shell (passed to tests/vm/init as kq.mode=MODE; shell is
#         interactive on this terminal, without timeout or log)
#   LOG:  serial console log (CR stripped)
# Env: KQ_ACCEL=auto|kvm|tcg (auto), KQ_ICOUNT=1 (TCG: instruction-counted guest time),
#      KQ_SMP (4), KQ_MEM (1G), KQ_VM_TIMEOUT seconds (1800),
#      KQ_TEST_TIMEOUT per test binary (300), KQ_APPEND extra cmdline, QEMU_CPU cpu model
#      (kvm: host; tcg: max,la57=off, see below),
#      KQ_QEMU_ARGS extra QEMU arguments (word-split; e.g. -plugin for an instruction profile),
#      KQ_QUIET=1: stdout gets only the command's output (KQ_OUT_BEGIN..KQ_OUT_END), stderr
#      the failed harness checks.
# No NIC: the guest only needs loopback (and iPXE would slow the boot).
# Exit: the guest's KQ_EXIT=<n>; 124 on timeout; 125 if QEMU failed or the guest never
# printed KQ_EXIT (crash, panic).
# A broken kernel ends the run at once instead of at the timeout: an Oops, a soft lockup, a hung
# task or an RCU stall panics, the panic reboots at once (panic=-1) and -no-reboot makes QEMU
# exit. The panic replays the whole kernel log on the console (panic_console_replay: the traces
# of hung tasks and stalls are below the console loglevel when first printed), and this script
# prints the splat and the test binary that was running (scripts/count-tap.sh --crash).
# panic_on_warn stays off: warnings (and the lockdep / atomic-sleep reports the splat run
# provokes on purpose) do not stop the run; the guest's kernel-log check fails it at the end.
set -euo pipefail
[ $# = 4 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
kernel=$1 initrd=$2 mode=$3 log=$4
accel=${KQ_ACCEL:-auto} tmo=${KQ_VM_TIMEOUT:-1800}

if [ "$accel" = auto ]; then
  # The nested "kvm_pvm" KVM of some cloud hosts opens fine but cannot boot a normal kernel.
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]
  then accel=kvm why="/dev/kvm usable"
  else accel=tcg why="no usable KVM: needs rw /dev/kvm, vmx/svm, and not kvm_pvm"; fi
else why="requested"; fi
case $accel in
  kvm) acc=(-accel kvm -cpu "${QEMU_CPU:-host}") ;;
  # TCG: every feature QEMU emulates, except 5-level paging. With LA57 the kernel uses it, and
  # a KASAN kernel can then report a false "BUG: KASAN: wild-memory-access in
  # do_raw_spin_lock" (handle_edge_irq, in identify_cpu): identify_boot_cpu() runs with
  # interrupts on and clears boot_cpu_data.x86_capability before refilling it; before the
  # alternatives are applied, pgtable_l5_enabled() reads X86_FEATURE_LA57 from there, so an
  # interrupt in that window sees __VIRTUAL_MASK_SHIFT 47, KASAN's addr_has_metadata() puts the
  # shadow above the 5-level direct map (0xff11...) and the irq_desc's spinlock atomics are
  # "wild". Seen once in a plain boot; not in 40 boots since (rare window). Not the module.
  tcg) acc=(-accel tcg -cpu "${QEMU_CPU:-max,la57=off}")
       # KQ_ICOUNT=1: guest time advances with instructions executed (1 ns each), not with the
       # host's clock, so benchmark figures do not depend on the host's load (one host thread
       # runs every vCPU then: scaling figures mean nothing in this mode).
       [ "${KQ_ICOUNT:-0}" != 1 ] || acc+=(-icount shift=0,sleep=off) ;;
  *) echo "run-vm: KQ_ACCEL must be auto, kvm or tcg" >&2; exit 2 ;;
esac
echo "[vm] mode=$mode accelerator=$accel${KQ_ICOUNT:+ icount=$KQ_ICOUNT} ($why) smp=${KQ_SMP:-4} mem=${KQ_MEM:-1G} timeout=${tmo}s" >&2

# Live view: everything, or in quiet mode only the command's output and failure lines. Both
# stop at a kernel panic (the log keeps the panic's replay of the kernel log; the crash report
# below shows what matters).
if [ "${KQ_QUIET:-0}" = 1 ]; then
  view() { awk 'p{next} /Kernel panic - not syncing/{p=1; print > "/dev/stderr"; next}
                /^KQ_OUT_END/{o=0} o{print; fflush(); next} /^KQ_OUT_BEGIN/{o=1}
                /^not ok|^# (dmesg|kmemleak):/{print > "/dev/stderr"; fflush("/dev/stderr")}'; }
else view() { awk 'p{next} {print; fflush()} /Kernel panic - not syncing/{p=1}'; }; fi

# Every parameter exists in Linux 7.2: oops= (kernel/panic.c), softlockup_panic=
# (kernel/watchdog.c), hung_task_panic= (a sysctl alias, fs/proc/proc_sysctl.c),
# sysctl.kernel.panic_on_rcu_stall (kernel/rcu/tree_stall.h), panic_console_replay (panic.c).
# The detectors' own ones only where the kernel has the detector (the perf kernel has neither;
# an unknown sysctl would be an error line in its log): read from the build tree's .config.
cfg=$(dirname "$kernel")/../../../.config
have() { [ ! -f "$cfg" ] || grep -q "^$1=y" "$cfg"; }
panic_args="panic=-1 oops=panic sysctl.kernel.panic_on_rcu_stall=1 panic_console_replay=1"
! have CONFIG_SOFTLOCKUP_DETECTOR || panic_args="$panic_args softlockup_panic=1"
! have CONFIG_DETECT_HUNG_TASK || panic_args="$panic_args hung_task_panic=1"

mkdir -p "$(dirname "$log")"
if [ "$mode" = shell ]; then
  # make vm-shell: the console is the user's terminal (Ctrl-A X quits QEMU); no timeout, no log.
  exec qemu-system-x86_64 "${acc[@]}" -smp "${KQ_SMP:-4}" -m "${KQ_MEM:-1G}" \
    -nographic -no-reboot -nic none -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 loglevel=4 $panic_args kq.mode=shell ${KQ_APPEND:-}"
fi
start=$(date +%s.%N)
boot() { # one boot of the guest into $log; sets qrc (QEMU's, or timeout's, status)
  set +e
  # shellcheck disable=SC2086 # KQ_QEMU_ARGS: several words on purpose
  timeout -k 10 "$tmo" qemu-system-x86_64 "${acc[@]}" ${KQ_QEMU_ARGS:-} -smp "${KQ_SMP:-4}" -m "${KQ_MEM:-1G}" \
    -nographic -no-reboot -nic none -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 loglevel=4 $panic_args kq.mode=$mode kq.timeout=${KQ_TEST_TIMEOUT:-300} ${KQ_APPEND:-}" \
    </dev/null 2>&1 | sed -u 's/\r$//' | tee "$log" | view
  qrc=${PIPESTATUS[0]}
  set -e
}
boot
# A kernel report during boot, before any module is loaded: tests/vm/init stops with KQ_EXIT=75
# (see there). Not the module's: keep the log, show the report, boot once more. A second one
# fails the run like any other.
if [ "$qrc" = 0 ] && grep -q '^KQ_EXIT=75$' "$log"; then
  mv "$log" "$log.boot-splat"
  echo "[vm] kernel report during boot, before any module was loaded (log: $log.boot-splat):" >&2
  grep '^# boot: ' "$log.boot-splat" | head -40 >&2
  echo "[vm] booting once more" >&2
  boot
fi
secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")

rc=$(sed -n 's/^KQ_EXIT=\([0-9]*\)$/\1/p' "$log" | tail -n1)
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  echo "[vm] TIMEOUT: guest still running after ${tmo}s" >&2; rc=124
elif [ "$qrc" != 0 ]; then
  echo "[vm] QEMU exited with status $qrc" >&2; rc=125
elif [ -z "$rc" ]; then
  echo "[vm] guest ended without KQ_EXIT (kernel panic or init crash), see $log" >&2; rc=125
fi
[ -n "$(sed -n '/^KQ_EXIT=/p' "$log")" ] && [ "$rc" != 75 ] ||
  "$(dirname "$0")/count-tap.sh" --crash "$log" >&2 || true
echo "[vm] mode=$mode accelerator=$accel wall=${secs}s exit=$rc log=$log" >&2
exit "$rc"
