#!/usr/bin/env bash
# Count TAP results in VM serial logs and print a summary ending in "N passed, N failed".
# Usage: count-tap.sh LOG...
#        count-tap.sh --crash LOG   (what the kernel said when a VM run did not complete)
# Counted: every unindented "ok N ..." / "not ok N ..." line (test binaries and the harness
# checks of tests/vm/init); "ok ... # SKIP" is a skip. Between "KQ_BIN_BEGIN b" and
# "KQ_BIN_END b rc=R" the lines belong to binary b, and a binary that exits non-zero without
# a "not ok" line, or that prints no result or fewer than its "1..N" plan, adds one failure,
# so a crash or a timeout never passes silently. A log without "KQ_END" (VM crashed or hung)
# adds one failure, and so does an unfinished binary; for such a log the summary first shows
# the crash (below). A binary that ran in an earlier log too is listed as "name (log file)".
# Exit status 0 only if nothing failed and something passed.
#
# Crash report of a log without KQ_END: the binary that was running (the last KQ_BIN_BEGIN
# without its KQ_BIN_END, or the vm-run command, or the harness), the first kernel report
# (BUG, Oops, KASAN, lockup, hung task, RCU stall, lockdep, WARNING, panic; up to 40 lines with
# its call trace) and, if elsewhere, the lines before "Kernel panic - not syncing". A panic
# replays the kernel log (panic_console_replay, see run-vm.sh): that copy has the traces the
# console loglevel hid, so the report is looked for there first (where the timestamps restart).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,4p' "$0" >&2; exit 2; }

crash_awk='
function ts(line) {   # the printk timestamp of a console line, or -1
  if (match(line, /^\[ *[0-9]+\.[0-9]+\]/)) return substr(line, RSTART + 1, RLENGTH - 2) + 0
  return -1
}
function splat(line) {
  return line ~ /BUG:|Oops|general protection fault|KASAN:|UBSAN:|kernel BUG at|Unable to handle|soft lockup|blocked for more than|detected stall|self-detected stall|WARNING:|Kernel panic - not syncing|list_(add|del) corruption|refcount_t:|Invalid wait context|possible (circular|recursive) locking|inconsistent lock state|sleeping function called from invalid context|scheduling while atomic/
}
# Lines that begin a kernel report.
BEGIN { START = "BUG:|Oops:|general protection fault|KASAN:|UBSAN:|kernel BUG at|soft lockup|blocked for more than|detected stall|self-detected stall|WARNING:" }
function crash_report(file, L, n,   i, t, maxts, panic, rstart, s, k, cur, last, shown, w) {
  cur = "the harness (before or after the tests)"
  for (i = 1; i <= n; i++) {
    if (L[i] ~ /^KQ_BIN_BEGIN /) { split(L[i], w, " "); cur = w[2] }
    else if (L[i] ~ /^KQ_BIN_END /) cur = "the harness (between or after the test binaries)"
    else if (L[i] ~ /^KQ_OUT_BEGIN/) cur = "the command (KQ_OUT_BEGIN)"
    else if (L[i] ~ /^KQ_OUT_END/) cur = "the harness (after the command)"
    else if (L[i] ~ /^KQ_BOOT_SPLAT/) cur = "nothing: the kernel reported during boot, before any module was loaded"
  }
  maxts = -1; panic = 0; rstart = 0
  for (i = 1; i <= n; i++) {
    if (!panic && L[i] ~ /Kernel panic - not syncing/) panic = i
    t = ts(L[i])
    if (t < 0) continue
    if (panic && i > panic && !rstart && t < maxts) rstart = i
    if (t > maxts) maxts = t
  }
  s = 0
  if (rstart) for (i = rstart; i <= n && !s; i++) if (splat(L[i])) s = i
  if (!s) for (i = 1; i <= n && !s; i++) if (splat(L[i])) s = i
  crash_first = s ? L[s] : ""
  print "== Crash: " file " =="
  print "  VM run did not complete; running: " cur
  if (!s) { print "  no kernel report in the log (guest hung, killed at the timeout, or init died)"; return }
  print "  kernel report" (rstart && s >= rstart ? " (from the panic'"'"'s replay of the kernel log)" : "") ":"
  for (i = s; i <= n && i < s + 60; i++) {
    print "  | " L[i]; shown[L[i]] = 1
    if (L[i] ~ /Kernel panic - not syncing|---\[ end trace/) break
  }
  if (!panic) return
  # The report that led to the panic, if that was not the one above (e.g. a harmless boot
  # report came first): the nearest report start before the (first) panic line.
  for (k = panic - 1; k > 0 && L[k] !~ START; k--) ;
  while (k > 1 && L[k - 1] ~ START) k--
  if (k > 0 && !(L[k] in shown)) {
    print "  the report that ended in the panic:"
    for (i = k; i <= panic && i < k + 60; i++) { print "  | " L[i]; shown[L[i]] = 1 }
    if (i <= panic) print "  | ..."
  }
  if (!(L[panic] in shown)) print "  | " L[panic]
}'

if [ "$1" = --crash ]; then
  [ $# = 2 ] || { sed -n '2,4p' "$0" >&2; exit 2; }
  exec awk "$crash_awk"'
  { L[++n] = $0 }
  END { crash_report(FILENAME, L, n) }' "$2"
fi

awk "$crash_awk"'
function fail(msg, who) { nfail++; fails[nfail] = msg; sf[who]++ }
function endseg(rc,   r) {
  r = sp[cur] + sf[cur] + ss[cur]
  if (rc != 0 && sf[cur] == 0) fail(cur ": exited with status " rc " without a failing TAP line (crash or timeout)", cur)
  else if (rc == 0 && r == 0) fail(cur ": printed no TAP result", cur)
  else if (rc == 0 && plan[cur] != "" && r < plan[cur]) fail(cur ": planned " plan[cur] " results, printed " r, cur)
  rcs[cur] = rc; cur = ""
}
FNR == 1 { if (NR > 1) endfile(); file = FILENAME; seen[file] = 1; begun = 0; ended = 0; cur = ""; nl = 0 }
{ if (!ended) L[++nl] = $0 }   # kept for the crash report
function endfile(   first) {
  if (!ended) { crash_report(file, L, nl); first = crash_first }
  if (cur != "") { fail(cur ": did not finish (" file ")" (first != "" ? ": " first : ""), cur); rcs[cur] = "?"; cur = "" }
  if (!ended) fail("VM run did not complete: no KQ_END in " file, "harness")
  delete L
}
/^KQ_BEGIN/ { begun = 1 }
/^KQ_END/   { ended = 1 }
# A binary run again in another log (the perf runs: wall-clock, then instruction-counted) is
# its own segment, named after that log.
/^KQ_BIN_BEGIN / { cur = $2; if (cur in rcs || cur in sp) { nw = split(file, lw, "/"); cur = cur " (" lw[nw] ")" }
                   seg[++nseg] = cur; sp[cur] = sf[cur] = ss[cur] = 0; plan[cur] = ""; next }
/^KQ_BIN_END /   { if (cur != "") { rc = $3; sub(/^rc=/, "", rc); endseg(rc + 0) }; next }
/^1\.\.[0-9]+/   { if (cur != "") { p = $0; sub(/^1\.\./, "", p); plan[cur] = p + 0 }; next }
/^(not ok|ok)( |$)/ {
  who = (cur != "") ? cur : "harness"
  if (/^not ok/) fail(who ": " $0, who)
  else if (tolower($0) ~ /#[ \t]*skip/) { ss[who]++; nskip++ }
  else { sp[who]++; npass++ }
}
END {
  if (NR > 0) endfile()
  for (i = 1; i < ARGC; i++) if (!(ARGV[i] in seen)) fail("VM run did not complete: empty log " ARGV[i], "harness")
  print "== Test summary =="
  printf "  %-24s %d passed, %d failed, %d skipped\n", "harness checks", sp["harness"], sf["harness"], ss["harness"]
  for (i = 1; i <= nseg; i++) { b = seg[i]
    printf "  %-24s %d passed, %d failed, %d skipped (exit %s)\n", b, sp[b], sf[b], ss[b], rcs[b] }
  if (nfail) { print "== Failures =="; for (i = 1; i <= nfail; i++) print "  " fails[i] }
  printf "%d passed, %d failed", npass, nfail
  if (nskip) printf ", %d skipped", nskip
  printf "\n"
  exit (nfail == 0 && npass > 0) ? 0 : 1
}' "$@"
