#!/usr/bin/env bash
# bench/theo/run.sh -- the theophylline FOCEI fit with its covariance step,
# Qlynix at 1 and 2 threads beside R nlme's Lindstrom-Bates fit of the same
# model in closed form, in one run (bench/README.md, "bench/theo").
#
#   bash bench/theo/run.sh        (from the project root, after make)
#
# Knobs: QLXC (build/qlxc), THEO_OUT (build/bench-theo), THEO_RUNS (5: each
# figure is the median), THEO_DATA (../shared/data/theo_sd.csv).
set -u
QLXC=$(realpath "${QLXC:-build/qlxc}")
OUT=${THEO_OUT:-build/bench-theo}
RUNS=${THEO_RUNS:-5}
DATA=${THEO_DATA:-../shared/data/theo_sd.csv}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$DATA" ] || { echo "skipped: no $DATA (the shared theophylline data)"; exit 0; }
DATA=$(realpath "$DATA")
mkdir -p "$OUT" && OUT=$(realpath "$OUT")
sed "s|^\$DATA .*|\$DATA $DATA IGNORE=@|" examples/theophylline/theo.qlx >"$OUT/theo.qlx"

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }

for th in 1 2; do
  : >"$OUT/t$th.txt"
  : >"$OUT/f$th.txt"
  for i in $(seq "$RUNS"); do
    t0=$(now)
    "$QLXC" run --threads "$th" -o "$OUT/out$th" "$OUT/theo.qlx" >"$OUT/log$th.txt" 2>&1 ||
      { cat "$OUT/log$th.txt"; exit 1; }
    echo "$(now) - $t0" | bc -l >>"$OUT/t$th.txt"
    awk '/^run time/ { print $3 }' "$OUT/out$th/summary.txt" >>"$OUT/f$th.txt"
  done
  evals=$(grep -o '[0-9]* objective evaluations' "$OUT/out$th/summary.txt" | cut -d' ' -f1)
  ofv=$(awk '/^OFV/ { print $2 }' "$OUT/out$th/summary.txt")
  printf 'qlxc FOCEI + covariance, %d thread(s): median %.3f s (the whole run with NPDE, tables and plots: %.3f s) over %d runs, OFV %s, %s objective evaluations (estimation)\n' \
    "$th" "$(median <"$OUT/f$th.txt")" "$(median <"$OUT/t$th.txt")" "$RUNS" "$ofv" "$evals"
done
grep -A4 '^THETA' "$OUT/out1/summary.txt"
cmp -s <(grep -v 'run time' "$OUT/out1/summary.txt") <(grep -v 'run time' "$OUT/out2/summary.txt") &&
  echo "qlxc: summary.txt identical with 1 and 2 threads" || echo "qlxc: summary.txt DIFFERS between 1 and 2 threads"

if command -v Rscript >/dev/null && Rscript -e 'library(nlme)' >/dev/null 2>&1; then
  Rscript "$here/nlme.R" "$DATA" "$RUNS" >"$OUT/nlme.txt" 2>&1 || { cat "$OUT/nlme.txt"; exit 1; }
  nl=$(awk '/run [0-9]+ in/ { print $5 }' "$OUT/nlme.txt" | median)
  grep -v 'run [0-9]* in' "$OUT/nlme.txt"
  q=$(median <"$OUT/f1.txt")
  printf 'nlme (Lindstrom-Bates, closed form, no separate covariance step): median %.4f s; qlxc/nlme time ratio %.1f\n' \
    "$nl" "$(echo "$q / $nl" | bc -l)"
else
  echo "nlme: not installed (r-cran-nlme; make bench-deps)"
fi
