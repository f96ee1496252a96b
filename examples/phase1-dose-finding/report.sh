#!/usr/bin/env bash
# report.sh OUT SOURCE N -- report.md (on standard output) from run.sh's
# folder OUT: the data, the model and its estimates, every assumption,
# the five answers and the attainment tables around them.
set -u
OUT=$1 SOURCE=$2 N=$3
att=$OUT/questions/attainment.csv
[ -f "$att" ] || { echo "report.sh: no $att" >&2; exit 1; }
json_top() {   # json_top FILE KEY: a top-level value of results.json
    awk -v k="\"$2\":" '$1 == k { v = $0; sub(/^[^:]*: /, "", v); sub(/,$/, "", v); gsub(/"/, "", v); print v; exit }' "$1"
}
ofv() { json_top "$1" ofv | awk '{ printf "%.4f", $1 }'; }
cov_status() {
    awk '/"covariance_step":/ { if ($0 ~ /"ok": true/) print "completed"; else print "failed"; exit }' "$1"
}
chosen() {     # chosen SCENARIO: the smallest dose meeting the target, or "none"
    awk -F, -v s="$1" '$1 == s && $8 == 1 { print $2; f = 1; exit } END { if (!f) print "none on the grid" }' "$att"
}
est_table() {  # est_table ESTIMATES.CSV: a markdown table of the estimates
    echo "| parameter | estimate | RSE |"
    echo "|---|---|---|"
    awk -F, 'NR > 1 {
        name = $1 == "THETA" ? $2 : $1 "(" $2 ($3 != $2 ? "," $3 : "") ")"
        rse = $5 != "" && $4 != 0 ? sprintf("%.1f%%", 100 * $5 / ($4 < 0 ? -$4 : $4)) : "."
        printf "| %s | %.4g | %s |\n", name, $4, rse }' "$1"
}
window() {     # window SCENARIO: the attainment table from 4 grid steps below the answer to 2 above
    awk -F, -v s="$1" '
        $1 == s { n++; d[n] = $2; f[n] = $5; lo[n] = $6; hi[n] = $7; m[n] = $8; if ($8 == 1 && !k) k = n }
        END {
            if (!k) k = n
            a = k - 4 < 1 ? 1 : k - 4; b = k + 2 > n ? n : k + 2
            print "| dose (mg) | subjects meeting the target | 95% CI (Wilson) |"
            print "|---|---|---|"
            for (i = a; i <= b; i++)
                printf "| %s%s | %.1f%% | %.1f%% - %.1f%% |\n", d[i], i == k && m[i] ? " (answer)" : "",
                    100 * f[i], 100 * lo[i], 100 * hi[i]
        }' "$att"
}
lower() {      # lower A B: how much lower B is than A
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%g mg lower (%.0f%%)", a - b, 100 * (a - b) / a; else print "." }'
}
nsub=$(awk -F, 'NR > 1 { s[$1] = 1 } END { n = 0; for (i in s) n++; print n }' "$OUT/study_ipp.csv")
tmax=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "TIME") c = i; next }
                $c + 0 > m { m = $c + 0 } END { print m + 0 }' "$OUT/study_ipp.csv")
q1=$(chosen q1_daily) q2=$(chosen q2_weekly)
q3d=$(chosen q3_daily_bw70_140) q3w=$(chosen q3_weekly_bw70_140)
q4d=$(chosen q4_daily_no_comed) q4w=$(chosen q4_weekly_no_comed)
q5d=$(chosen q5_daily_75) q5w=$(chosen q5_weekly_75)
cat <<MD
# Phase 1 dose finding: report

Written by \`examples/phase1-dose-finding/run.sh\` from the runs in
\`$OUT\`.

## Data

$SOURCE: $nsub subjects; placebo and 1, 3 and 10 mg once daily for 21
days; concentrations (DVID 1) and the biomarker (DVID 2) up to $tmax h.

## Model

- **PK** (\`pk.qlx\`): two compartments, first-order absorption;
  CL/F, V1/F, Q/F and V2/F scaled by body weight (exponents 0.75 and 1
  at 70 kg), CL/F multiplied by \`fcom\` with the comedication;
  log-normal BSV on KA, CL/F and V1/F; proportional residual error.
  FOCEI: OFV $(ofv "$OUT/pk/results.json"), $(json_top "$OUT/pk/results.json" message);
  covariance step $(cov_status "$OUT/pk/results.json").
- **PD** (\`pd.qlx\`): indirect response, inhibition of the biomarker's
  production, IMAX·C/(IC50 + C), driven by each subject's PK from the
  fit above (IPP); log-normal BSV on the baseline and IC50;
  proportional residual error. FOCEI: OFV $(ofv "$OUT/pd/results.json"),
  $(json_top "$OUT/pd/results.json" message); covariance step $(cov_status "$OUT/pd/results.json").

PK estimates:

$(est_table "$OUT/pk/estimates.csv")

PD estimates:

$(est_table "$OUT/pd/estimates.csv")

## Assumptions

- The trials use the joint model (\`questions.qlx\`) at the two fits'
  estimates: the typical values and the OMEGAs, with new ETAs for
  every virtual subject.
- **Residual error: out.** The target is on each subject's true
  biomarker level, not on a measurement of it (\`RESIDUAL=NO\`).
- **Parameter uncertainty: out.** The trials use the point estimates;
  the PK and PD were fitted in two stages, which gives no joint
  covariance matrix to draw from.
- **Population.** Questions 1, 2 and 5: body weight and comedication
  resampled together from the study's subjects. Question 3: body weight
  uniform on 70-140 kg (comedication resampled). Question 4: no
  comedication (body weight resampled).
- **Regimens.** Once daily (every 24 h) in 0.5 mg steps from 0.5 to
  20 mg; once weekly (every 168 h) in 5 mg steps from 5 to 150 mg; each
  at the exact periodic steady state.
- **Endpoint.** The biomarker's largest value over the whole dosing
  interval at steady state, sampled at 193 evenly spaced times; the
  target is that it stays below 3.3 ng/mL.
- **Monte Carlo.** $N virtual subjects per dose and scenario, the same
  subjects at every dose (common random numbers), seed 2026; 95%
  Wilson intervals. The answer is the smallest dose on the grid whose
  attainment reaches the target.

## The five answers

| question | once daily | once weekly |
|---|---|---|
| 1, 2: 90% of a population like the study's | **$q1 mg** | **$q2 mg** |
| 3: body weight 70-140 kg | $q3d mg | $q3w mg |
| 4: no concomitant medication | $q4d mg | $q4w mg |
| 5: 75% of subjects instead of 90% | $q5d mg, $(lower "$q1" "$q5d") | $q5w mg, $(lower "$q2" "$q5w") |

## Attainment around each answer

The full tables, every dose of every grid, are
\`questions/attainment.csv\` and \`questions/attainment.txt\`. Where
the interval at an answer reaches below the target, or the one at the
dose below reaches above it, the answer is one grid step from its
neighbour within Monte Carlo error: more virtual subjects (\`PHASE1_N\`)
would settle it.

MD
for s in q1_daily q2_weekly q3_daily_bw70_140 q3_weekly_bw70_140 q4_daily_no_comed \
         q4_weekly_no_comed q5_daily_75 q5_weekly_75; do
    printf '### %s\n\n' "$s"
    window "$s"
    echo
done
