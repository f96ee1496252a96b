# examples/phase1-dose-finding (its README): the look-alike study is what
# design.sh and study.qlx make; run.sh on it (every 5th subject, 100
# virtual subjects per dose, to keep the suite quick) fits the PK and the
# PD, recovers study.qlx's values, answers the five questions, and those
# answers agree with the answers at study.qlx's true values.
# Sourced by tests/run with QLXC and TMP set.  Skipped under the
# sanitizers (minutes there); the code it runs is theirs through
# test_sens (the partitioned path), test_sim and test_mc.
set -u
ok()  { echo "ok - phase1: $*"; }
bad() { echo "FAIL - phase1: $*"; }
ex=examples/phase1-dose-finding
case "$QLXC" in *build-san*) echo "skip - phase1: under the sanitizers the fits take minutes"; exit 0 ;; esac

bash $ex/design.sh >"$TMP/p1design.csv"
cmp -s "$TMP/p1design.csv" $ex/design.csv && ok "design.sh writes design.csv as shipped" ||
    bad "design.sh does not write design.csv as shipped"
"$QLXC" run -o "$TMP/p1study" $ex/study.qlx >"$TMP/p1study.log" 2>&1
cmp -s "$TMP/p1study/study.csv" $ex/study.csv && ok "study.qlx writes study.csv as shipped, byte for byte" ||
    bad "study.qlx does not write study.csv as shipped"

QLXC=$QLXC PHASE1_EVERY=5 PHASE1_N=100 bash $ex/run.sh -o "$TMP/p1" $ex/study.csv >"$TMP/p1.log" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q '^| 1, 2: 90% of a population like the study' "$TMP/p1.log" &&
   grep -q '^| 5: 75% of subjects' "$TMP/p1.log" && [ -f "$TMP/p1/report.md" ] &&
   grep -q '^## Assumptions' "$TMP/p1/report.md" && grep -q 'Residual error: out' "$TMP/p1/report.md" &&
   grep -q 'Parameter uncertainty: out' "$TMP/p1/report.md" &&
   [ "$(grep -c '^### q' "$TMP/p1/report.md")" = 8 ]; then
    ok "run.sh on the look-alike study: exit 0, the five answers printed, report.md with the model, the assumptions and eight attainment tables"
else
    bad "run.sh (exit $rc)"; tail -8 "$TMP/p1.log"
fi

# the fits recover study.qlx's values (12 subjects, 3 an arm: loose bounds)
est() { awk -F, -v k="$2" -v n="$3" '$1 == k && $2 == n { print $4 }' "$1"; }
near() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { exit !(a > 0 && a < b * (1 + r) && a > b * (1 - r)) }'; }
cl=$(est "$TMP/p1/pk/estimates.csv" THETA cl); v1=$(est "$TMP/p1/pk/estimates.csv" THETA v1)
base=$(est "$TMP/p1/pd/estimates.csv" THETA base); ic50=$(est "$TMP/p1/pd/estimates.csv" THETA ic50)
if near "$cl" 44.3 0.25 && near "$v1" 2700 0.3 && near "$base" 8.74 0.15 && near "$ic50" 1.04 0.4; then
    ok "the fits recover the truth: CL/F $cl (44.3), V1/F $v1 (2700), BASE $base (8.74), IC50 $ic50 (1.04)"
else
    bad "recovery: CL/F $cl (44.3), V1/F $v1 (2700), BASE $base (8.74), IC50 $ic50 (1.04)"
fi

# the same questions at the true values (study.qlx's $THETA and $OMEGA)
awk 'BEGIN { print "KIND,NAME,WITH,ESTIMATE,SE" }
     /^\$THETA/ { s = "T"; next } /^\$OMEGA/ { s = "O"; next } /^\$/ { s = ""; next }
     s == "T" && $2 == "=" { print "THETA," $1 ",," $3 "," }
     s == "O" && $2 == "~" { print "OMEGA," $1 "," $1 "," $3 "," }' $ex/study.qlx >"$TMP/p1truth.csv"
# (run.sh's questions.qlx: its $INPUT names the look-alike's columns)
sed "s|^\\\$DATA .*|\$DATA     $PWD/$ex/study.csv IGNORE=@|" "$TMP/p1/questions.qlx" >"$TMP/p1truth.qlx"
"$QLXC" run --init "$TMP/p1truth.csv" -o "$TMP/p1t" "$TMP/p1truth.qlx" >"$TMP/p1t.log" 2>&1; rc=$?
answers() { awk -F, '$8 == 1 && !($1 in a) { a[$1] = $2; print $1, $2 }' "$1" | sort; }
answers "$TMP/p1/questions/attainment.csv" >"$TMP/p1a"; answers "$TMP/p1t/attainment.csv" >"$TMP/p1b"
cmp_out=$(join "$TMP/p1a" "$TMP/p1b" | awk '{ step = $1 ~ /weekly/ ? 5 : 0.5; d = $2 - $3; if (d < 0) d = -d
    if (d > 2 * step && d > 0.35 * $3) bad = bad " " $1 "(" $2 " vs " $3 ")"; n++ }
    END { print n + 0, (bad == "" ? "ok" : bad) }')
if [ $rc = 0 ] && [ "$cmp_out" = "8 ok" ]; then
    ok "the eight answers from the fits agree with the answers at the true values (within two grid steps or 35%): $(tr '\n' ' ' <"$TMP/p1a")"
else
    bad "answers from the fits vs the truth: $cmp_out (exit $rc)"; paste "$TMP/p1a" "$TMP/p1b"
fi
# what must hold whatever the fit: 75% needs no more than 90%, and
# heavier subjects (70-140 kg against the study's 51-100 kg) need more
ans() { awk -v s="$1" '$1 == s { print $2 }' "$TMP/p1a"; }
if awk -v a="$(ans q5_daily_75)" -v b="$(ans q1_daily)" -v c="$(ans q5_weekly_75)" -v d="$(ans q2_weekly)" \
       -v e="$(ans q3_daily_bw70_140)" -v f="$(ans q3_weekly_bw70_140)" \
       'BEGIN { exit !(a <= b && c <= d && e >= b && f >= d && b > 0 && d > 0) }'; then
    ok "75% of subjects needs no more than 90%; 70-140 kg needs at least the study population's dose"
else
    bad "the answers' order"; cat "$TMP/p1a"
fi
true
