#!/usr/bin/env bash
# bench/pinn/run.sh -- the PI-HQNN examples (a)-(d) of examples/pi-hqnn,
# Qlynix beside the same architectures and losses in PyTorch
# (bench/pinn/pinn_torch.py), in one run: the time per Adam epoch, and the
# loss after the same number of epochs.
#
#   bash bench/pinn/run.sh        (from the project root, after make)
#
# PyTorch runs two ways: "vec", every point through the circuit in one
# batched call, and "loop", point by point in a Python loop as the
# prototype did.  Qlynix runs each example's Adam step alone (the L-BFGS
# step removed) and its time per epoch is the run time over the epochs.
# Each figure is the median of PINN_RUNS runs (3); the loop variant times
# PINN_LOOP_EPOCHS epochs (20), it being slow.  Needs Debian's
# python3-torch (make bench-deps); skips without it.
set -u
QLXC=$(realpath "${QLXC:-build/qlxc}")
OUT=${PINN_OUT:-build/bench-pinn}
RUNS=${PINN_RUNS:-3}
LOOP_EPOCHS=${PINN_LOOP_EPOCHS:-20}
PY=/usr/bin/python3          # Debian's, with torch (not a pyenv python3)
ex=examples/pi-hqnn
"$PY" -c 'import torch' 2>/dev/null || { echo "skipped: python3-torch is not installed (make bench-deps)"; exit 0; }
mkdir -p "$OUT" && OUT=$(realpath "$OUT")
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
json() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
jsonl() { "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }

printf '%-4s %8s | %12s %12s | %12s %12s %10s | %12s %10s\n' ex epochs \
    "qlxc s/ep" "qlxc loss" "torch vec" "vec loss" "ratio" "torch loop" "ratio"
for x in a b c d; do
    model=$ex/train_$x.qlx
    case $x in a) data=data_a.csv ;; b|d) data=data_b.csv ;; c) data=data_c.csv ;; esac
    # the Adam step alone, beside its data
    grep -v 'METHOD=LBFGS' "$model" >"$OUT/adam_$x.qlx"
    cp "$ex/$data" "$OUT/"
    epochs=$(sed -n 's/.*METHOD=ADAM.*EPOCHS=\([0-9]*\).*/\1/p' "$model")
    for r in $(seq "$RUNS"); do
        "$QLXC" run -o "$OUT/q_$x" "$OUT/adam_$x.qlx" >/dev/null 2>&1 || { echo "qlxc failed on $x"; exit 1; }
        "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["run_time_s"]/d["epochs"])' "$OUT/q_$x/results.json"
    done | median >"$OUT/q_$x.t"
    qloss=$(json "$OUT/q_$x/results.json" loss | "$PY" -c 'import sys,ast; print(ast.literal_eval(sys.stdin.read())["total"])')
    for r in $(seq "$RUNS"); do
        "$PY" bench/pinn/pinn_torch.py "$x" vec "$epochs" "$OUT/$data" >"$OUT/vec_$x.json" || exit 1
        jsonl sec_per_epoch <"$OUT/vec_$x.json"
    done | median >"$OUT/vec_$x.t"
    vloss=$(jsonl final_loss <"$OUT/vec_$x.json")
    "$PY" bench/pinn/pinn_torch.py "$x" loop "$LOOP_EPOCHS" "$OUT/$data" >"$OUT/loop_$x.json" || exit 1
    lt=$(jsonl sec_per_epoch <"$OUT/loop_$x.json")
    qt=$(cat "$OUT/q_$x.t"); vt=$(cat "$OUT/vec_$x.t")
    awk -v x="$x" -v e="$epochs" -v qt="$qt" -v ql="$qloss" -v vt="$vt" -v vl="$vloss" -v lt="$lt" 'BEGIN {
        printf "%-4s %8d | %12.3g %12.4g | %12.3g %12.4g %9.1fx | %12.3g %9.0fx\n",
               x, e, qt, ql, vt, vl, vt / qt, lt, lt / qt }'
done
echo "(s/ep: seconds per Adam epoch, median of $RUNS runs; ratio: PyTorch time over Qlynix's;"
echo " losses after the same epochs from the same kind of start, not the same numbers:"
echo " the initial weights come from different generators)"
