#!/usr/bin/env bash
# bench/lua/run.sh -- what a Lua hook costs: examples/estimation/fit.qlx
# (FOCEI and its covariance step on 40 subjects) against
# examples/lua/fit_lua.qlx, the same fit with its body-weight ratio from a
# Lua function, and examples/lua/fit_derived.qlx, the same with the ratio
# a derived covariate of the subject hook; one thread, LUA_RUNS runs each
# (5) alternating, medians and their ratios (aim: within 5%).  Then each
# hook's own cost per call (bench_hook.c).
#
#   bash bench/lua/run.sh        (from the project root, after make)
set -u
QLXC=$(realpath "${QLXC:-build/qlxc}")
OUT=${LUA_OUT:-build/bench-lua}
RUNS=${LUA_RUNS:-5}
mkdir -p "$OUT"
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
secs() {   # wall seconds of a command, to the microsecond
    local t0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f\n", b - a }'
}
for r in $(seq "$RUNS"); do
    echo "qlx $(secs "$QLXC" run --threads 1 -o "$OUT/qlx" examples/estimation/fit.qlx)"
    echo "lua $(secs "$QLXC" run --threads 1 -o "$OUT/lua" examples/lua/fit_lua.qlx)"
    echo "sub $(secs "$QLXC" run --threads 1 -o "$OUT/sub" examples/lua/fit_derived.qlx)"
done >"$OUT/fit.txt"
a=$(awk '$1 == "qlx" { print $2 }' "$OUT/fit.txt" | median)
b=$(awk '$1 == "lua" { print $2 }' "$OUT/fit.txt" | median)
c=$(awk '$1 == "sub" { print $2 }' "$OUT/fit.txt" | median)
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "FOCEI fit, 40 subjects: %.2f s with WT/70 in .qlx; %.2f s from lua.wt_ratio(WT): %+.1f%%; %.2f s as a derived covariate: %+.1f%% (aim: within 5%%)\n", a, b, 100 * (b - a) / a, c, 100 * (c - a) / a }'

# each hook's own cost per call, against the same arithmetic in C
"$(dirname "$QLXC")/bench/bench_hook"
