# qlxc run: determinism across thread counts, clean stops, no partial output.
# Sourced by tests/run with QLXC and TMP set; prints "ok - ..." / "FAIL - ...".
set -u
ok()  { echo "ok - run: $*"; }
bad() { echo "FAIL - run: $*"; }
export QLX_STDLIB=${QLX_STDLIB:-$PWD/stdlib}

m=examples/simulation/oral_2cmt.qlx
"$QLXC" run --threads 1 -o "$TMP/t1" "$m" >/dev/null 2>&1
"$QLXC" run --threads 2 -o "$TMP/t2" "$m" >/dev/null 2>&1
cmp -s "$TMP/t1/sim.csv" "$TMP/t2/sim.csv" && ok "1 and 2 threads write identical tables" \
    || bad "tables differ between 1 and 2 threads"

# the exact path and CVODES agree to 1e-6 on the example
sed 's/^\$TABLE/$SOLVER SOLVER=ODE RTOL=1e-10 ATOL=1e-12\n$TABLE/' "$m" >"$TMP/ode.qlx"
cp examples/simulation/design.csv "$TMP/"
"$QLXC" run -o "$TMP/ode" "$TMP/ode.qlx" >"$TMP/ode.log" 2>&1
if grep -q 'CVODES' "$TMP/ode.log" && awk -F, 'NR == FNR { if (FNR > 1) a[FNR] = $8; next }
        FNR > 1 { d = $8 - a[FNR]; if (d < 0) d = -d; s = a[FNR] < 0 ? -a[FNR] : a[FNR];
                  if (d > 1e-6 * (s > 1e-3 ? s : 1e-3)) bad = 1 }
        END { exit bad }' "$TMP/t1/sim.csv" "$TMP/ode/sim.csv"; then
    ok "SOLVER=ODE (CVODES) agrees with the exact path to 1e-6"
else
    bad "CVODES and the exact path disagree"; cat "$TMP/ode.log"
fi

# a blow-up stops cleanly: exit 3, subject and time named, nothing written
cat >"$TMP/blow.qlx" <<'QLX'
$PROBLEM blows up
$DATA blow.csv
$INPUT ID TIME DV AMT EVID CMT
$COMPARTMENTS central(dose, observe)
$THETA
  k = 1
$DES
  d/dt(central) = k*central*central
$ERROR
  Y = central
QLX
printf 'ID,TIME,DV,AMT,EVID,CMT\n3,0,.,100,1,1\n3,5,.,0,0,1\n' >"$TMP/blow.csv"
sed -i 's/^\$DATA blow.csv/$DATA blow.csv IGNORE=@/' "$TMP/blow.qlx"
"$QLXC" run -o "$TMP/blowout" "$TMP/blow.qlx" >"$TMP/blow.log" 2>&1
rc=$?
if [ $rc = 3 ] && grep -q 'subject ID 3' "$TMP/blow.log" && [ -z "$(ls -A "$TMP/blowout" 2>/dev/null)" ]; then
    ok "a solver failure exits 3, names the subject and time, and writes nothing"
else
    bad "solver failure handling (exit $rc)"; cat "$TMP/blow.log"
fi

# bad data stops before anything is simulated or written
printf 'ID,TIME,DV,AMT,EVID,CMT\n3,0,.,100,1,1\n3,abc,.,0,0,1\n' >"$TMP/blow.csv"
"$QLXC" run -o "$TMP/badout" "$TMP/blow.qlx" >"$TMP/bad.log" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q 'blow.csv:3:' "$TMP/bad.log" && [ ! -e "$TMP/badout" ]; then
    ok "bad data is reported at file:row:col and nothing is written"
else
    bad "bad data handling (exit $rc)"; cat "$TMP/bad.log"
fi
true

# estimation end to end: summary.txt, results.json (valid JSON), the table
cat >"$TMP/est.qlx" <<'QLX'
$PROBLEM one-way random effects, estimated
$DATA est.csv IGNORE=@
$INPUT ID TIME DV
$THETA
  mu = 3
$OMEGA
  eta ~ 1
$SIGMA
  eps ~ 1
$PK
  M = mu + eta
$ERROR
  Y = M + eps
$ESTIMATION METHOD=FOCEI
$COVARIANCE
$TABLE ID TIME DV PRED IPRED ETAS FILE=sdtab.csv
QLX
awk 'BEGIN { print "ID,TIME,DV"; for (i = 1; i <= 12; i++) for (j = 0; j < 4; j++)
             printf "%d,%d,%.6f\n", i, j, 5 + sin(i * 1.7) + 0.4 * cos(i * 3.1 + j * 2.3) }' >"$TMP/est.csv"
"$QLXC" run -o "$TMP/estout" "$TMP/est.qlx" >"$TMP/est.log" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q '^OFV' "$TMP/estout/summary.txt" && grep -q 'covariance step completed' "$TMP/estout/summary.txt" &&
   python3 -c 'import json, math, sys; d = json.load(open(sys.argv[1])); assert math.isfinite(d["ofv"]) and d["covariance_step"]["ok"] and len(d["subjects"]) == 12' "$TMP/estout/results.json" &&
   [ "$(wc -l <"$TMP/estout/sdtab.csv")" = 49 ] &&
   head -1 "$TMP/estout/trace.csv" | grep -q '^ITERATION,mu,OMEGA(1.1),SIGMA(1.1),OBJ$' &&
   [ "$(wc -l <"$TMP/estout/trace.csv")" -gt 2 ]; then
    ok "estimation writes summary.txt, a valid results.json, the trace and the table"
else
    bad "estimation outputs (exit $rc)"; cat "$TMP/est.log"
fi
true

# the default table after estimation carries the diagnostics, and the
# diagnostic plots are SVG with one marker per observation
grep -v '^\$TABLE' "$TMP/est.qlx" >"$TMP/est2.qlx"
"$QLXC" run -o "$TMP/estout2" "$TMP/est2.qlx" >"$TMP/est2.log" 2>&1
rc=$?
if [ $rc = 0 ] &&
   head -1 "$TMP/estout2/sdtab.csv" | grep -q '^ID,TIME,DV,EVID,MDV,PRED,IPRED,RES,WRES,CWRES,IWRES,NPDE,eta$' &&
   python3 - "$TMP/estout2" <<'PY'
import sys, xml.etree.ElementTree as ET
d = sys.argv[1]
ns = '{http://www.w3.org/2000/svg}'
for f in ['dv_pred', 'dv_ipred', 'cwres_time', 'cwres_pred', 'npde_time', 'indiv_fits_01']:
    root = ET.parse(f'{d}/{f}.svg').getroot()
    assert root.tag == ns + 'svg', f
    if f != 'indiv_fits_01':
        assert len(root.findall('.//' + ns + 'circle')) >= 48, f
PY
then
    ok "the default table after estimation has RES WRES CWRES IWRES NPDE and the ETAs; the six diagnostic plots are valid SVG"
    # shrinkage recomputed from the table: 1 - SD(eta)/omega, 1 - SD(IWRES)
    if python3 - "$TMP/estout2" <<'PY'
import csv, json, math, statistics as st, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(f'{d}/sdtab.csv')))
eta = {}
for r in rows:
    eta.setdefault(r['ID'], float(r['eta']))
iw = [float(r['IWRES']) for r in rows if r['IWRES'] != '.']
j = json.load(open(f'{d}/results.json'))
om = j['omega']['matrix'][0][0]
want_eta = 1 - st.stdev(eta.values()) / math.sqrt(om)
want_eps = 1 - st.stdev(iw)
assert abs(j['omega']['shrinkage'][0] - want_eta) < 1e-6, (j['omega']['shrinkage'], want_eta)
assert abs(j['sigma']['eps_shrinkage'] - want_eps) < 1e-6, (j['sigma']['eps_shrinkage'], want_eps)
PY
    then
        ok "ETA and EPS shrinkage in results.json equal 1 - SD(eta)/omega and 1 - SD(IWRES) from the table"
    else
        bad "shrinkage disagrees with the table"
    fi
else
    bad "default diagnostics table and plots (exit $rc)"; cat "$TMP/est2.log"
fi
true

# --etas: the subjects' ETAs from a table; the same predictions as the
# ETA written into the model as a data column (SHIFT), and a subject
# without a row is an error at the table's place
cat >"$TMP/etas.qlx" <<'QLX'
$PROBLEM given ETAs
$DATA etas.csv IGNORE=@
$INPUT ID TIME DV AMT EVID CMT SHIFT
$COMPARTMENTS depot(dose) central(observe)
$THETA
  tka = 0.4
  tcl = 1.0
  tv = 3.4
$OMEGA
  eta_cl ~ 0.1
  eta_v ~ 0.05
$SIGMA
  eps ~ 0.01
$PK
  KA = exp(tka)
  CL = exp(tcl + eta_cl + SHIFT)
  V = exp(tv + eta_v)
$DES
  d/dt(depot) = -KA*depot
  d/dt(central) = KA*depot - CL/V*central
$ERROR
  IPRED = central/V
  Y = IPRED*(1 + eps)
$TABLE ID TIME PRED IPRED FILE=t.csv
QLX
awk 'BEGIN { print "ID,TIME,DV,AMT,EVID,CMT,SHIFT"
             for (i = 1; i <= 3; i++) { s = (i == 1) ? 0.3 : (i == 2) ? -0.25 : 0.7
               printf "%d,0,.,100,1,1,0\n", i
               for (t = 1; t <= 12; t *= 2) printf "%d,%d,.,0,0,2,0\n", i, t } }' >"$TMP/etas.csv"
printf 'ID TIME eta_v eta_cl\n1 0 0 0.3\n1 1 9 9\n2 0 0 -0.25\n3 0 0 0.7\n' >"$TMP/given.txt"
awk -F, 'NR == 1 { print; next } { s = ($1 == 1) ? 0.3 : ($1 == 2) ? -0.25 : 0.7; $7 = s; print }' OFS=, \
    "$TMP/etas.csv" >"$TMP/etas_shift.csv"
sed 's/etas.csv/etas_shift.csv/' "$TMP/etas.qlx" >"$TMP/etas_shift.qlx"
"$QLXC" run -o "$TMP/eg" --etas "$TMP/given.txt" "$TMP/etas.qlx" >"$TMP/eg.log" 2>&1
rc1=$?
"$QLXC" run -o "$TMP/es" "$TMP/etas_shift.qlx" >/dev/null 2>&1
if [ $rc1 = 0 ] && cmp -s <(cut -d, -f1,2,4 "$TMP/eg/t.csv") <(cut -d, -f1,2,4 "$TMP/es/t.csv") &&
   ! cmp -s <(cut -d, -f3 "$TMP/eg/t.csv") <(cut -d, -f4 "$TMP/eg/t.csv"); then
    ok "--etas: IPRED at the given ETAs equals the model with them written in (the first row of an ID counts)"
else
    bad "--etas predictions (exit $rc1)"; cat "$TMP/eg.log"
fi
printf 'ID,eta_cl,eta_v\n1,0.3,0\n2,-0.25,0\n' >"$TMP/short.csv"
"$QLXC" run -o "$TMP/eshort" --etas "$TMP/short.csv" "$TMP/etas.qlx" >"$TMP/eshort.log" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q 'short.csv:1:1: error: no ETAs for subject ID 3' "$TMP/eshort.log" &&
   [ ! -e "$TMP/eshort" ]; then
    ok "--etas: a subject without a row is an error at the table's place, nothing written"
else
    bad "--etas missing subject (exit $rc)"; cat "$TMP/eshort.log"
fi
true

# examples/estimation: simulate.qlx still makes the shipped data.csv byte
# for byte, and fit.qlx recovers the truth of simulate.qlx: every
# estimate within 3 standard errors of it
"$QLXC" run -o "$TMP/exsim" examples/estimation/simulate.qlx >"$TMP/exsim.log" 2>&1
if cmp -s "$TMP/exsim/data.csv" examples/estimation/data.csv; then
    ok "examples/estimation/simulate.qlx makes the shipped data.csv again, byte for byte"
else
    bad "examples/estimation/data.csv is not what simulate.qlx makes"; cat "$TMP/exsim.log"
fi
"$QLXC" run --threads 2 -o "$TMP/exfit" examples/estimation/fit.qlx >"$TMP/exfit.log" 2>&1
rc=$?
if [ $rc = 0 ] && python3 - "$TMP/exfit/results.json" examples/estimation/simulate.qlx <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
truth = {}
for line in open(sys.argv[2]):
    m = re.match(r'\s+(\w+)\s*(=|~)\s*([-0-9.]+)', line)
    if m:
        key = m.group(1) if m.group(2) == '=' else \
              ('OMEGA' if m.group(1).startswith('eta') else 'SIGMA') + f'({m.group(1)},{m.group(1)})'
        truth[key] = float(m.group(3))
c = d['covariance_step']
assert c['ok'], c['message']
worst = 0
for name, se in zip(c['parameters'], c['se']):
    if name in ('tka', 'tcl', 'tv1', 'tq', 'tv2', 'wt_cl'):
        est = next(t['estimate'] for t in d['theta'] if t['name'] == name)
    else:
        block = d['omega'] if name.startswith('OMEGA') else d['sigma']
        k = block['names'].index(name.split('(')[1].split(',')[0])
        est = block['matrix'][k][k]
    z = abs(est - truth[name]) / se
    worst = max(worst, z)
    print(f'# {name}: estimate {est:.4g} truth {truth[name]:.4g} SE {se:.3g} z {z:.2f}')
assert len(truth) == 11 and worst < 3, worst
PY
then
    ok "examples/estimation/fit.qlx: every estimate within 3 SE of the simulated truth"
else
    bad "examples/estimation/fit.qlx (exit $rc)"; cat "$TMP/exfit.log"
fi
true

# MAXEVAL=0 estimates nothing: the THETAs stay at their initial values and
# the OFV is the one the full fit reports at its iteration 0 (its start)
sed 's/^\$ESTIMATION METHOD=FOCEI.*/$ESTIMATION METHOD=FOCEI MAXEVAL=0/' examples/estimation/fit.qlx \
    >"$TMP/eval0.qlx"
cp examples/estimation/data.csv "$TMP/"
"$QLXC" run -o "$TMP/eval0" "$TMP/eval0.qlx" >"$TMP/eval0.log" 2>&1
rc=$?
start=$(sed -n 's/.*iteration *0 *OFV *\([-0-9.]*\).*/\1/p' "$TMP/exfit.log" | head -1)
if [ $rc = 0 ] && [ -n "$start" ] && python3 - "$TMP/eval0/results.json" "$TMP/eval0.qlx" "$start" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
init = {}
for line in open(sys.argv[2]):
    m = re.match(r'\s+(\w+)\s*=\s*([-0-9.]+)', line)
    if m:
        init[m.group(1)] = float(m.group(2))
for t in d['theta']:
    assert abs(t['estimate'] - init[t['name']]) < 1e-12, t
assert 'MAXEVAL=0' in d['message'], d['message']
assert abs(d['ofv'] - float(sys.argv[3])) < 1e-5, (d['ofv'], sys.argv[3])
PY
then
    ok "MAXEVAL=0: nothing estimated, the OFV at the initial estimates is the fit's starting OFV ($start)"
else
    bad "MAXEVAL=0 (exit $rc, starting OFV '$start')"; cat "$TMP/eval0.log"
fi

# SAEM then IMP, end to end, on the one-way model (whose FOCEI objective
# is exact): the IMP objective agrees with FOCEI's within 0.5, with its
# Monte Carlo SE written; the tables and the covariance step follow
sed 's/^\$ESTIMATION.*/$ESTIMATION METHOD=SAEM SEED=3 NBURN=150 NITER=100\n$ESTIMATION METHOD=IMP ISAMPLE=2000/' \
    "$TMP/est.qlx" >"$TMP/saem.qlx"
"$QLXC" run -o "$TMP/saemout" "$TMP/saem.qlx" >"$TMP/saem.log" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q '^method      SAEM then IMP' "$TMP/saemout/summary.txt" &&
   python3 - "$TMP/saemout/results.json" "$TMP/estout/results.json" <<'PY'
import json, math, sys
s, f = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert math.isfinite(s['ofv']) and s['ofv_mc_se'] > 0 and s['covariance_step']['ok']
assert abs(s['ofv'] - f['ofv']) < 0.5, (s['ofv'], f['ofv'])
PY
then
    ok "SAEM then IMP: the IMP objective is within 0.5 of FOCEI's exact one, with its Monte Carlo SE; covariance step and tables written"
else
    bad "SAEM then IMP (exit $rc)"; cat "$TMP/saem.log"
fi
true
