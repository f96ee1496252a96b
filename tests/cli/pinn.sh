# examples/pi-hqnn: the data are made by Qlynix again byte for byte, and
# physics-informed training recovers the rate constants they were made
# with (docs/pinn.md).  Sourced by tests/run with QLXC and TMP set.
set -u
ok()  { echo "ok - pinn: $*"; }
bad() { echo "FAIL - pinn: $*"; }
ex=examples/pi-hqnn

# theta NAME FILE: a learnt THETA from results.json
theta() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(t["estimate"] for t in d["theta"] if t["name"]==sys.argv[2]))' "$2" "$1"
}
within() {          # within X TRUTH REL: |X - TRUTH| <= REL * TRUTH
    awk -v x="$1" -v t="$2" -v r="$3" 'BEGIN { d = x - t; if (d < 0) d = -d; exit !(x != "" && d <= r * t) }'
}

# (a) one compartment, IV bolus: ke within 1%
mkdir -p "$TMP/pa_sim"
"$QLXC" run -o "$TMP/pa_sim" $ex/simulate_a.qlx >"$TMP/pa_sim.log" 2>&1
if cmp -s "$TMP/pa_sim/data_a.csv" $ex/data_a.csv; then
    ok "$ex/simulate_a.qlx makes the shipped data_a.csv again, byte for byte"
else
    bad "$ex/data_a.csv is not what simulate_a.qlx makes"; cat "$TMP/pa_sim.log"
fi
"$QLXC" run -o "$TMP/pa" $ex/train_a.qlx >"$TMP/pa.log" 2>&1
rc=$?
ke=$( [ $rc = 0 ] && theta ke "$TMP/pa/results.json")
if [ $rc = 0 ] && within "$ke" 0.2 0.01; then
    ok "example (a): ke $ke is within 1% of 0.2"
else
    bad "example (a): ke '$ke' (exit $rc)"; tail -5 "$TMP/pa.log"
fi
# one trace row per epoch and one at the end; the plots are SVG
n=$(($(wc -l <"$TMP/pa/training.csv" 2>/dev/null || echo 0) - 1))
if [ "$n" = 1001 ] && head -c 200 "$TMP/pa/fit.svg" | grep -q '<svg' &&
   head -c 200 "$TMP/pa/loss.svg" | grep -q '<svg' &&
   grep -q '^qlxc: ADAM epoch  100/800' "$TMP/pa.log"; then
    ok "example (a): training.csv has the 1001 rows of 800 + 200 epochs and the end; fit.svg, loss.svg; one progress line per 100 epochs"
else
    bad "example (a): training.csv has $n rows, or a plot or the progress lines are missing"
fi
true

# (b), (c), (d): the data again byte for byte; (b) and (d) recover ka and
# ke within 3%; (c) fits its three doses with a relative RMSE under 5%
for x in b c; do
    mkdir -p "$TMP/p${x}_sim"
    "$QLXC" run -o "$TMP/p${x}_sim" $ex/simulate_$x.qlx >"$TMP/p${x}_sim.log" 2>&1
    if cmp -s "$TMP/p${x}_sim/data_$x.csv" $ex/data_$x.csv; then
        ok "$ex/simulate_$x.qlx makes the shipped data_$x.csv again, byte for byte"
    else
        bad "$ex/data_$x.csv is not what simulate_$x.qlx makes"; cat "$TMP/p${x}_sim.log"
    fi
done
for x in b d; do
    "$QLXC" run -o "$TMP/p$x" $ex/train_$x.qlx >"$TMP/p$x.log" 2>&1
    rc=$?
    ka=$( [ $rc = 0 ] && theta ka "$TMP/p$x/results.json")
    ke=$( [ $rc = 0 ] && theta ke "$TMP/p$x/results.json")
    if [ $rc = 0 ] && within "$ka" 1 0.03 && within "$ke" 0.2 0.03; then
        ok "example ($x): ka $ka and ke $ke within 3% of 1 and 0.2"
    else
        bad "example ($x): ka '$ka', ke '$ke' (exit $rc)"; tail -5 "$TMP/p$x.log"
    fi
done
"$QLXC" run -o "$TMP/pc" $ex/train_c.qlx >"$TMP/pc.log" 2>&1
rc=$?
rr=$( [ $rc = 0 ] && python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["relative_rmse"])' "$TMP/pc/results.json")
if [ $rc = 0 ] && awk -v r="$rr" 'BEGIN { exit !(r != "" && r < 0.05) }'; then
    ok "example (c): three doses fitted with a relative RMSE of $rr (under 5%)"
else
    bad "example (c): relative RMSE '$rr' (exit $rc)"; tail -5 "$TMP/pc.log"
fi

# (e): the absorption as a network inside $DES.  From grid.csv, the input
# the network learnt: its integral over 0-24 h is the dose (100 mg, F = 1
# in simulate_b.qlx) within 5%, and its mean time (the mean absorption
# time, 1/ka = 1 h) within 10%
"$QLXC" run -o "$TMP/pe" $ex/train_e.qlx >"$TMP/pe.log" 2>&1
rc=$?
res=$( [ $rc = 0 ] && python3 - "$TMP/pe/grid.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
t = [float(r['TIME']) for r in rows]; u = [float(r['u']) for r in rows]
I = sum((t[i+1]-t[i])*(u[i+1]+u[i])/2 for i in range(len(t)-1))
M = sum((t[i+1]-t[i])*(t[i+1]*u[i+1]+t[i]*u[i])/2 for i in range(len(t)-1))
print(f"{I:.3f} {M/I:.4f}")
PY
)
if [ $rc = 0 ] && within "${res% *}" 100 0.05 && within "${res#* }" 1 0.10; then
    ok "example (e): the learnt input rate integrates to ${res% *} mg (dose 100) with mean absorption time ${res#* } h (1/ka = 1)"
else
    bad "example (e): integral and mean time '$res' (exit $rc)"; tail -5 "$TMP/pe.log"
fi

# a network inside $DES has no values until trained: simulating such a
# model stops at the record, saying what to add
sed -e '/^\$LOSS/,$d' $ex/train_e.qlx >"$TMP/ude_sim.qlx"
cp $ex/data_b.csv "$TMP/"
"$QLXC" run -o "$TMP/ude_sim" "$TMP/ude_sim.qlx" >"$TMP/ude_sim.log" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q "ude_sim.qlx:[0-9]*:[0-9]*: error: d/dt(depot) reads a network" "$TMP/ude_sim.log" &&
   grep -q "add \$LOSS" "$TMP/ude_sim.log" && [ ! -e "$TMP/ude_sim/sim.csv" ]; then
    ok "a network in \$DES without training: exit 1, the record named, nothing written"
else
    bad "a network in \$DES without training (exit $rc)"; cat "$TMP/ude_sim.log"
fi

# qlxc export --qasm: the trained circuit of (a) as OpenQASM 2.0, nothing else
"$QLXC" export --qasm -o "$TMP/px" $ex/train_a.qlx >"$TMP/px.log" 2>&1
rc=$?
if [ $rc = 0 ] && [ "$(ls "$TMP/px")" = q.qasm ] && head -1 "$TMP/px/q.qasm" | grep -q '^OPENQASM 2.0;' &&
   grep -q '^gate qlx_q(x0) q0' "$TMP/px/q.qasm" && cmp -s "$TMP/px/q.qasm" "$TMP/pa/q.qasm"; then
    ok "export --qasm writes q.qasm alone, the same circuit qlxc run writes"
else
    bad "export --qasm (exit $rc)"; ls "$TMP/px"; tail -3 "$TMP/px.log"
fi
"$QLXC" export -o "$TMP/px2" $ex/train_a.qlx >/dev/null 2>&1
[ $? = 2 ] && ok "export without a format is a usage error (exit 2)" || bad "export without --qasm"

# docs/pinn.md shows train_a.qlx as it is (without its opening comments)
awk '/^```qlx[ \t]*$/ { n++; inb = (n == 1); next } /^```/ { inb = 0 } inb' docs/pinn.md >"$TMP/pinn_doc.qlx"
sed '/^;/d' $ex/train_a.qlx | sed '/./,$!d' >"$TMP/pinn_ex.qlx"
if cmp -s "$TMP/pinn_doc.qlx" "$TMP/pinn_ex.qlx"; then
    ok "docs/pinn.md shows $ex/train_a.qlx as it is"
else
    bad "docs/pinn.md's example is not $ex/train_a.qlx"; diff "$TMP/pinn_doc.qlx" "$TMP/pinn_ex.qlx" | head
fi
true
