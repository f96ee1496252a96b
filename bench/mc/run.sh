#!/usr/bin/env bash
# bench/mc/run.sh -- virtual subjects per second for the Phase 1 PK/PD
# model (bench/mc/pkpd_ss.qlx: two-compartment PK, indirect-response PD,
# to steady state under once-daily dosing), at 1 and 2 threads, with the
# scaling efficiency.  Each figure is the median of MC_RUNS runs (3).
#
#   bash bench/mc/run.sh        (from the project root, after make)
set -u
QLXC=$(realpath "${QLXC:-build/qlxc}")
OUT=${MC_OUT:-build/bench-mc}
RUNS=${MC_RUNS:-3}
mkdir -p "$OUT"
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for th in 1 2; do
    for r in $(seq "$RUNS"); do
        "$QLXC" run --threads "$th" -o "$OUT/t$th" bench/mc/pkpd_ss.qlx >"$OUT/log$th.txt" 2>&1 ||
            { echo "qlxc failed"; tail -3 "$OUT/log$th.txt"; exit 1; }
        sed -n 's/.*: \([0-9]*\) virtual subjects in \([0-9.]*\) s$/\1 \2/p' "$OUT/log$th.txt" |
            awk '{ print $1 / $2 }'
    done | median >"$OUT/rate$th"
done
r1=$(cat "$OUT/rate1"); r2=$(cat "$OUT/rate2")
awk -v a="$r1" -v b="$r2" 'BEGIN {
    printf "1 thread:  %.0f virtual subjects/s (%.0f a minute)\n", a, 60 * a
    printf "2 threads: %.0f virtual subjects/s (%.0f a minute); scaling efficiency %.0f%%\n", b, 60 * b, 100 * b / (2 * a)
    printf "aim: 1,000,000 a minute on this machine (%.1f%% of it at 2 threads)\n", 100 * 60 * b / 1e6 }'
