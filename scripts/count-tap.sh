#!/usr/bin/env bash
# Count TAP results in VM serial logs and print a summary ending in "N passed, N failed".
# Usage: count-tap.sh LOG...
# Counted: every unindented "ok N ..." / "not ok N ..." line (test binaries and the harness
# checks of tests/vm/init); "ok ... # SKIP" is a skip. Between "KQ_BIN_BEGIN b" and
# "KQ_BIN_END b rc=R" the lines belong to binary b, and a binary that exits non-zero without
# a "not ok" line, or that prints no result or fewer than its "1..N" plan, adds one failure,
# so a crash or a timeout never passes silently. A log without "KQ_END" (VM crashed or hung)
# adds one failure, and so does an unfinished binary. Exit status 0 only if nothing failed
# and something passed.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,3p' "$0" >&2; exit 2; }
awk '
function fail(msg, who) { nfail++; fails[nfail] = msg; sf[who]++ }
function endseg(rc,   r) {
  r = sp[cur] + sf[cur] + ss[cur]
  if (rc != 0 && sf[cur] == 0) fail(cur ": exited with status " rc " without a failing TAP line (crash or timeout)", cur)
  else if (rc == 0 && r == 0) fail(cur ": printed no TAP result", cur)
  else if (rc == 0 && plan[cur] != "" && r < plan[cur]) fail(cur ": planned " plan[cur] " results, printed " r, cur)
  rcs[cur] = rc; cur = ""
}
FNR == 1 { if (NR > 1) endfile(); file = FILENAME; seen[file] = 1; begun = 0; ended = 0; cur = "" }
function endfile() {
  if (cur != "") { fail(cur ": did not finish (" file ")", cur); rcs[cur] = "?"; cur = "" }
  if (!ended) fail("VM run did not complete: no KQ_END in " file, "harness")
}
/^KQ_BEGIN/ { begun = 1 }
/^KQ_END/   { ended = 1 }
/^KQ_BIN_BEGIN / { cur = $2; seg[++nseg] = cur; sp[cur] = sf[cur] = ss[cur] = 0; plan[cur] = ""; next }
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
