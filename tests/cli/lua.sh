# Lua hooks (docs/lua.md): a fit with its body-weight ratio from a Lua
# function equals the same fit with the ratio in .qlx, to every digit;
# a sandbox refusal stops the run with the script's file and line and the
# model's call; a missing function, a call on a THETA and a call in $DES
# are errors before anything runs; --lua-unsafe lifts the sandbox; 1 and
# 2 threads (a Lua state each) give the same table.
# Sourced by tests/run with QLXC and TMP set.
set -u
ok()  { echo "ok - lua: $*"; }
bad() { echo "FAIL - lua: $*"; }
mkdir -p "$TMP/lua/estimation" "$TMP/lua/lua"
cp examples/estimation/data.csv "$TMP/lua/estimation/"
cp examples/lua/covariates.lua "$TMP/lua/lua/"
first12() { sed -e 's/^\$DATA .*/& IGNORE=(ID.GT.12)/' "$1"; }
first12 examples/estimation/fit.qlx >"$TMP/lua/estimation/fit.qlx"
first12 examples/lua/fit_lua.qlx >"$TMP/lua/lua/fit_lua.qlx"
"$QLXC" run -o "$TMP/lua/a" "$TMP/lua/estimation/fit.qlx" >"$TMP/lua/a.log" 2>&1; ra=$?
"$QLXC" run -o "$TMP/lua/b" "$TMP/lua/lua/fit_lua.qlx" >"$TMP/lua/b.log" 2>&1; rb=$?
norun() { grep -v -e '"run_time_s"' -e '"problem"' "$1"; }
same_fit() {   # same_fit DIR-A DIR-B: every estimate, SE and ETA
    [ -s "$2/results.json" ] && diff <(norun "$1/results.json") <(norun "$2/results.json") >/dev/null &&
        cmp -s "$1/estimates.csv" "$2/estimates.csv"
}
if [ $ra = 0 ] && [ $rb = 0 ] && same_fit "$TMP/lua/a" "$TMP/lua/b"; then
    ok "a FOCEI fit with WT/70 from a Lua hook equals the fit with it in .qlx: every estimate, SE and ETA"
else
    bad "the Lua-covariate fit differs (exit $ra, $rb)"; tail -3 "$TMP/lua/b.log"
fi

# a small simulation model around one hook
mk() {   # mk NAME LUA-BODY PK-LINE [LUA-OPTIONS]
    printf '%s\n' "$2" >"$TMP/lua/$1.lua"
    printf '%s\n' '$PROBLEM hook' '$DATA d.csv IGNORE=@' '$INPUT ID TIME DV AMT EVID CMT WT' \
        "\$LUA $1.lua ${4:-}" '$COMPARTMENTS central(dose, observe)' '$THETA' '  tcl = 1' '$PK' \
        "$3" '  CL = exp(tcl)' '$DES' '  d/dt(central) = -CL/10*central' '$ERROR' \
        '  IPRED = central/10*X' '$TABLE ID TIME IPRED X FILE=t.csv' >"$TMP/lua/$1.qlx"
}
printf 'ID,TIME,DV,AMT,EVID,CMT,WT\n1,0,.,100,1,1,70\n1,1,.,0,0,1,70\n2,0,.,100,1,1,50\n2,2,.,0,0,1,50\n3,0,.,100,1,1,90\n3,4,.,0,0,1,90\n' \
    >"$TMP/lua/d.csv"
mk io 'function f(w) return io.open("/etc/passwd") and 1 or 0 end' '  X = lua.f(WT)'
"$QLXC" run -o "$TMP/lua/io" "$TMP/lua/io.qlx" >"$TMP/lua/io.log" 2>&1; rc=$?
if [ $rc = 3 ] && grep -q "io.lua:1: 'io' is not available to \$LUA scripts" "$TMP/lua/io.log" &&
   grep -q 'lua.f at .*io.qlx:9:7)' "$TMP/lua/io.log" && [ ! -e "$TMP/lua/io/t.csv" ]; then
    ok "io.open in a hook stops the run: exit 3, the script's line and the model's call, nothing written"
else
    bad "io.open in a hook (exit $rc)"; cat "$TMP/lua/io.log"
fi
"$QLXC" run --lua-unsafe -o "$TMP/lua/iou" "$TMP/lua/io.qlx" >"$TMP/lua/iou.log" 2>&1; rc=$?
if [ $rc = 0 ] && awk -F, 'NR > 1 && $4 != 1 { bad = 1 } END { exit bad || NR < 2 }' "$TMP/lua/iou/t.csv" &&
   grep -q 'lua-unsafe' "$TMP/lua/iou.log"; then
    ok "--lua-unsafe lifts the sandbox (io.open works) and says so"
else
    bad "--lua-unsafe (exit $rc)"; tail -3 "$TMP/lua/iou.log"; cat "$TMP/lua/iou/t.csv" 2>/dev/null
fi
mk none 'function g(w) return w end' '  X = lua.f(WT)'
"$QLXC" run -o "$TMP/lua/none" "$TMP/lua/none.qlx" >"$TMP/lua/none.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "define no function 'f' (lua.f at .*none.qlx:9:7)" "$TMP/lua/none.log" &&
    ok "a function the scripts lack: exit 1 before anything runs" ||
    { bad "a missing function (exit $rc)"; cat "$TMP/lua/none.log"; }
mk theta 'function f(w) return w end' '  X = lua.f(tcl)'
"$QLXC" run -o "$TMP/lua/theta" "$TMP/lua/theta.qlx" >"$TMP/lua/theta.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'theta.qlx:9:7: error: argument 1 of lua.f() reads a THETA' "$TMP/lua/theta.log" &&
    ok "a call on a THETA is an error at its line and column" ||
    { bad "a call on a THETA (exit $rc)"; cat "$TMP/lua/theta.log"; }

# 1 and 2 threads: the same table (a Lua state per thread), the hook
# from the standard library's clinical module
mk ratio 'local clin = stdlib("clinical") function f(w) return clin.allometric_cl(1, w) end' '  X = lua.f(WT)'
"$QLXC" run --threads 1 -o "$TMP/lua/r1" "$TMP/lua/ratio.qlx" >/dev/null 2>&1
"$QLXC" run --threads 2 -o "$TMP/lua/r2" "$TMP/lua/ratio.qlx" >/dev/null 2>&1
if cmp -s "$TMP/lua/r1/t.csv" "$TMP/lua/r2/t.csv" &&
   awk -F, 'NR == 4 { exit !($4 > 0.7768 && $4 < 0.7770) }' "$TMP/lua/r1/t.csv"; then
    ok "stdlib('clinical') in a hook; the same table with 1 and 2 threads; X = (50/70)^0.75 = 0.7769 for subject 2"
else
    bad "threads or the hook's value"; cat "$TMP/lua/r1/t.csv"
fi

# --- the subject hook: derived covariates ---------------------------------
first12 examples/lua/fit_derived.qlx >"$TMP/lua/lua/fit_derived.qlx"
"$QLXC" run -o "$TMP/lua/c" "$TMP/lua/lua/fit_derived.qlx" >"$TMP/lua/c.log" 2>&1; rc=$?
if [ $rc = 0 ] && [ $ra = 0 ] && same_fit "$TMP/lua/a" "$TMP/lua/c"; then
    ok "a FOCEI fit with WTR a derived covariate (SUBJECT=derive) equals the fit with WT/70 in .qlx: every estimate, SE and ETA"
else
    bad "the derived-covariate fit differs (exit $rc)"; tail -3 "$TMP/lua/c.log"
fi
# the table: WTR = WT/70 and WTCAT's bands on every row
if awk -F, 'NR > 1 { n++; w = $3; c = (w < 60) ? 1 : (w > 90 ? 3 : 2)
                     if (($4 - w / 70)^2 > 1e-16 || $5 != c) bad = 1 }
            END { exit bad || n < 100 }' "$TMP/lua/c/derived.csv"; then
    ok "derived.csv: WTR = WT/70 and WTCAT = the weight band on every record"
else
    bad "the derived columns in the table"; head -3 "$TMP/lua/c/derived.csv"
fi

# the subject hook on d.csv: X is a derived covariate
mk dmiss 'function derive(c) if c.WT > 60 then return { X = 1 } end return {} end' '  Z = 1' 'SUBJECT=derive DERIVED=(X)'
"$QLXC" run -o "$TMP/lua/dmiss" "$TMP/lua/dmiss.qlx" >"$TMP/lua/dmiss.log" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q 'd.csv:4:1: error: subject ID 2: derive did not set X to a finite number (SUBJECT=derive at .*dmiss.qlx:4:' "$TMP/lua/dmiss.log" &&
   [ ! -e "$TMP/lua/dmiss/t.csv" ]; then
    ok "a subject hook that leaves a derived covariate unset: the data row and the hook's place, nothing runs"
else
    bad "an unset derived covariate (exit $rc)"; cat "$TMP/lua/dmiss.log"
fi
mk dhalf 'function derive(c) return { X = 1 } end' '  Z = 1' 'SUBJECT=derive'
"$QLXC" run -o "$TMP/lua/dhalf" "$TMP/lua/dhalf.qlx" >"$TMP/lua/dhalf.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'dhalf.qlx:4:.*SUBJECT= and DERIVED= go together' "$TMP/lua/dhalf.log" &&
    ok "SUBJECT= without DERIVED=: an error at its line and column" ||
    { bad "SUBJECT= alone (exit $rc)"; cat "$TMP/lua/dhalf.log"; }
mk dclash 'function derive(c) return { WT = 1 } end' '  Z = 1' 'SUBJECT=derive DERIVED=(WT)'
"$QLXC" run -o "$TMP/lua/dclash" "$TMP/lua/dclash.qlx" >"$TMP/lua/dclash.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "dclash.qlx:4:.*'WT' is already declared" "$TMP/lua/dclash.log" &&
    ok "a derived covariate named like a column of \$INPUT: an error at its line and column" ||
    { bad "a derived name clash (exit $rc)"; cat "$TMP/lua/dclash.log"; }

# --- the covariate sampler: exact attainment ------------------------------
# CL = 2 WT/70, V = 10, no ETA: the steady-state trough D/V e^(-kt)/(1 - e^(-kt))
# (k = CL/V, t = 12) exceeds 1 exactly when WT < w*(D); WT ~ uniform(40, 120)
# from the sampler, so attainment is (w* - 40)/80, clipped to [0, 1]
cat >"$TMP/lua/samp.lua" <<'LUA'
function sample(cov, rng) return { WT = rng:uniform(40, 120) } end
LUA
cat >"$TMP/lua/samp.qlx" <<'QLX'
$PROBLEM sampler
$DATA d.csv IGNORE=@
$INPUT ID TIME DV AMT EVID CMT WT
$LUA samp.lua
$COMPARTMENTS central(dose, observe)
$THETA
  tcl = 2
$PK
  CL = tcl*WT/70
$DES
  d/dt(central) = -CL/10*central
$ERROR
  IPRED = central/10
$SIMULATION N=2000 SEED=3 RESIDUAL=NO
  POPULATION LUA=sample
  REGIMEN  CMT=1 II=12 SS=1 DOSE=(100, 150, 200, 300)
  ENDPOINT trough(IPRED) OVER (0, 12)
  TARGET   ENDPOINT > 1 P=0.5
QLX
"$QLXC" run --threads 1 -o "$TMP/lua/s1" "$TMP/lua/samp.qlx" >"$TMP/lua/s1.log" 2>&1; r1=$?
"$QLXC" run --threads 2 -o "$TMP/lua/s2" "$TMP/lua/samp.qlx" >/dev/null 2>&1
worst=$(awk -F, 'function tr(w, d,  k) { k = 2 * w / 70 / 10; return d / 10 * exp(-12 * k) / (1 - exp(-12 * k)) }
    NR > 1 { lo = 1; hi = 1000; for (i = 0; i < 200; i++) { m = (lo + hi) / 2; if (tr(m, $2) > 1) lo = m; else hi = m }
             p = (lo - 40) / 80; p = p < 0 ? 0 : (p > 1 ? 1 : p)
             z = ($5 - p) / sqrt(p * (1 - p) / $3 + 1e-12); z = z < 0 ? -z : z
             if (z > w) w = z; n++ }
    END { if (n != 4) print 99; else printf "%.2f", w }' "$TMP/lua/s1/attainment.csv")
if [ $r1 = 0 ] && awk -v w="$worst" 'BEGIN { exit !(w < 4) }' && cmp -s "$TMP/lua/s1/attainment.csv" "$TMP/lua/s2/attainment.csv" &&
   cmp -s "$TMP/lua/s1/bands.csv" "$TMP/lua/s2/bands.csv"; then
    ok "a Lua sampler (WT ~ rng:uniform(40, 120)): attainment within $worst SE of the exact fraction at every dose; the same outputs with 1 and 2 threads"
else
    bad "the Lua sampler (exit $r1, worst $worst SE)"; tail -3 "$TMP/lua/s1.log"; cat "$TMP/lua/s1/attainment.csv" 2>/dev/null
fi

# an endless loop in a sampler stops the trials cleanly at the instruction budget
printf '%s\n' 'function sample(cov, rng) while true do end end' >"$TMP/lua/spin.lua"
sed -e 's/samp.lua/spin.lua/' "$TMP/lua/samp.qlx" >"$TMP/lua/spin.qlx"
"$QLXC" run -o "$TMP/lua/spin" "$TMP/lua/spin.qlx" >"$TMP/lua/spin.log" 2>&1; rc=$?
[ $rc = 3 ] && grep -q 'spin.qlx:15:.*virtual subject 1: .*spin.lua:1: the script ran past its budget of 100000000 instructions' "$TMP/lua/spin.log" &&
    [ ! -e "$TMP/lua/spin/attainment.csv" ] &&
    ok "an endless loop in a sampler stops the run at its budget: exit 3, the script's line and the sampler's place, nothing written" ||
    { bad "an endless loop in a sampler (exit $rc)"; cat "$TMP/lua/spin.log"; }

# --- the dosing rule: the exact concentrations of the doses it chose ------
# CL = 0.5, V = 10, no ETA, a bolus every 12 h for 8 doses; before doses
# 1, 3, 5, 7 the rule halves the dose when the concentration is above 1.2.
# awk makes the same decisions from the closed form and predicts IPRED at
# each of the window's 193 times; bands.csv must match.
cat >"$TMP/lua/rule.lua" <<'LUA'
function halve(s)
  if s.IPRED > 1.2 then return s.dose / 2 end
  return s.dose
end
function negative(s) return -1 end
LUA
cat >"$TMP/lua/rule.qlx" <<'QLX'
$PROBLEM rule
$DATA d.csv IGNORE=@
$INPUT ID TIME DV AMT EVID CMT WT
$LUA rule.lua
$COMPARTMENTS central(dose, observe)
$THETA
  tcl = 0.5
$PK
  CL = tcl
$DES
  d/dt(central) = -CL/10*central
$ERROR
  IPRED = central/10
$SIMULATION N=3 SEED=3 RESIDUAL=NO
  POPULATION WT = 70
  REGIMEN  CMT=1 II=12 N=8 DOSE=(20, 40) RULE=halve EVERY=2
  ENDPOINT max(IPRED) OVER (0, 96)
  TARGET   ENDPOINT < 3 P=0.9
QLX
"$QLXC" run -o "$TMP/lua/rule" "$TMP/lua/rule.qlx" >"$TMP/lua/rule.log" 2>&1; rc=$?
dev=$(awk -F, 'function c(t, d,  j, s) { s = 0; for (j = 0; j < 8; j++) if (12 * j < t || (t == 0 && j == 0)) s += amt[d, j] / 10 * exp(-0.05 * (t - 12 * j)); return s }
    NR == 1 { next }
    { d = $2
      if (!(d in done)) { done[d] = 1; a = d
          for (j = 0; j < 8; j++) { if (j % 2 == 0 && j > 0) { if (c(12 * j, d) > 1.2) a = a / 2 }; amt[d, j] = a } }
      e = c($3, d); r = ($6 - e) / e; r = r < 0 ? -r : r; if (r > w) w = r
      if ($5 != $6 || $7 != $6) spread = 1; n++ }
    END { if (n != 386 || spread) print 99; else printf "%.1e", w }' "$TMP/lua/rule/bands.csv")
if [ $rc = 0 ] && awk -v w="$dev" 'BEGIN { exit !(w < 1e-6) }'; then
    ok "a dosing rule (halve above 1.2 mg/L, every 2nd dose): IPRED over 96 h matches the closed form of the doses it chose, worst relative error $dev"
else
    bad "the dosing rule (exit $rc, deviation $dev)"; tail -3 "$TMP/lua/rule.log"
fi
sed -e 's/RULE=halve/RULE=negative/' "$TMP/lua/rule.qlx" >"$TMP/lua/neg.qlx"
"$QLXC" run -o "$TMP/lua/neg" "$TMP/lua/neg.qlx" >"$TMP/lua/neg.log" 2>&1; rc=$?
[ $rc = 3 ] && grep -q 'neg.qlx:16:.*virtual subject 1, dose 1 at 0 h: negative returned -1' "$TMP/lua/neg.log" &&
    [ ! -e "$TMP/lua/neg/attainment.csv" ] &&
    ok "a rule returning a negative dose stops the trials: exit 3, the rule's place, the subject and the dose; nothing written" ||
    { bad "a negative dose from a rule (exit $rc)"; cat "$TMP/lua/neg.log"; }
sed -e 's/RULE=halve/RULE=nothing/' "$TMP/lua/rule.qlx" >"$TMP/lua/nof.qlx"
"$QLXC" run -o "$TMP/lua/nof" "$TMP/lua/nof.qlx" >"$TMP/lua/nof.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "nof.qlx:16:.*define no function 'nothing'" "$TMP/lua/nof.log" &&
    ok "a rule the scripts do not define: exit 1 at its line and column, before anything runs" ||
    { bad "an undefined rule (exit $rc)"; cat "$TMP/lua/nof.log"; }

# --- examples/lua/titration.qlx: the three hooks together -----------------
"$QLXC" run --threads 1 -o "$TMP/lua/t1" examples/lua/titration.qlx >"$TMP/lua/t1.log" 2>&1; r1=$?
"$QLXC" run --threads 2 -o "$TMP/lua/t2" examples/lua/titration.qlx >/dev/null 2>&1; r2=$?
# and 2 MPI ranks (as in mpi.sh: root needs OpenMPI's consent; no LeakSanitizer)
mpi_flags="--oversubscribe"
[ "$(id -u)" = 0 ] && mpi_flags="$mpi_flags --allow-run-as-root"
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 \
    mpirun $mpi_flags -np 2 "$QLXC" run --mpi --threads 1 -o "$TMP/lua/tm" examples/lua/titration.qlx \
    >"$TMP/lua/tm.log" 2>&1; r3=$?
if [ $r1 = 0 ] && [ $r2 = 0 ] && [ $r3 = 0 ] && cmp -s "$TMP/lua/t1/attainment.csv" "$TMP/lua/t2/attainment.csv" &&
   cmp -s "$TMP/lua/t1/bands.csv" "$TMP/lua/t2/bands.csv" &&
   cmp -s "$TMP/lua/t1/attainment.csv" "$TMP/lua/tm/attainment.csv" && cmp -s "$TMP/lua/t1/bands.csv" "$TMP/lua/tm/bands.csv" &&
   awk -F, '$1 == "titrated" && $8 == 1 { t++ } $1 == "fixed" { f += $5; n++ } $1 == "titrated" { g += $5 }
            END { exit !(t > 0 && g > f && n == 8) }' "$TMP/lua/t1/attainment.csv"; then
    ok "examples/lua/titration.qlx (sampler, subject hook, weekly rule): the same outputs with 1 thread, 2 threads and 2 MPI ranks; titration attains more than fixed dosing at every starting dose"
else
    bad "the titration example (exit $r1, $r2, $r3)"; tail -3 "$TMP/lua/t1.log"; tail -3 "$TMP/lua/tm.log"
fi
# docs/lua.md quotes its answers and shows renal.lua as it is
if awk -F, '$1 == "titrated" && $8 == 1 && !t { t = $2; tf = $5 } $1 == "fixed" && $8 == 1 { f = 1 }
            $1 == "fixed" && $2 == 400 { f4 = $5 }
            END { exit !(t == 150 && tf == 0.905 && !f && f4 == 0.892) }' "$TMP/lua/t1/attainment.csv" &&
   grep -q 'Titrated, 150 mg is the answer$' docs/lua.md && grep -q '^(90.5%); fixed, no dose up to 400 mg reaches 90% (89.2% at 400 mg), since$' docs/lua.md; then
    ok "docs/lua.md's titration answers are the example's: 150 mg titrated (90.5%), none fixed (89.2% at 400 mg)"
else
    bad "docs/lua.md's titration answers"; grep -E '^(titrated,150|fixed,400)' "$TMP/lua/t1/attainment.csv"
fi
awk '/^The whole script, `examples\/lua\/renal.lua`:$/ { f = 1; next } f && /^```lua$/ { inb = 1; next }
     inb && /^```$/ { exit } inb' docs/lua.md >"$TMP/lua/renal_doc.lua"
cmp -s "$TMP/lua/renal_doc.lua" examples/lua/renal.lua && ok "docs/lua.md shows examples/lua/renal.lua as it is" ||
    bad "docs/lua.md's renal.lua differs from examples/lua/renal.lua"
true
