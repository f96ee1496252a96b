#!/usr/bin/env bash
# run.sh -- the Phase 1 dose finding in one command:
#
#   bash examples/phase1-dose-finding/run.sh [-o OUT] [DATA]
#
# 1. pk.qlx: the two-compartment PK model fitted to the concentrations
#    (FOCEI, covariance step); its patab.csv has each subject's KA, CL,
#    V1, Q and V2.
# 2. ipp.sh: those beside every row of the dataset (the IPP approach).
# 3. pd.qlx: the indirect-response model of the biomarker fitted with each
#    subject's PK fixed.
# 4. questions.qlx, started from both fits' estimates (--init): the five
#    questions as eight Monte Carlo scenarios.
# 5. report.md: the model, every assumption, the five answers and their
#    attainment tables.
#
# DATA is ../shared/data/EstData.csv beside the checkout when it exists,
# else the bundled look-alike study.csv (simulated by study.qlx).  OUT is
# build/phase1-dose-finding for the look-alike; for the real study it
# must lie outside the checkout (the fits' tables carry its data), and
# defaults to a folder under ${TMPDIR:-/tmp}.  PHASE1_N sets the virtual
# subjects per dose (1000), PHASE1_THREADS the threads (all cores), and
# PHASE1_EVERY=k keeps every k-th subject of the dataset (the tests' quick
# run; default 1, all).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
QLXC=${QLXC:-$root/build/qlxc}
case "$QLXC" in /*) ;; *) QLXC=$PWD/$QLXC ;; esac
N=${PHASE1_N:-1000}
OUT=
while [ $# -gt 0 ]; do
    case "$1" in
    -o) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) break ;;
    esac
done
real=$root/../shared/data/EstData.csv
DATA=${1:-}
[ -n "$DATA" ] || { [ -f "$real" ] && DATA=$real || DATA=$here/study.csv; }
[ -f "$DATA" ] || { echo "run.sh: no dataset at $DATA" >&2; exit 2; }
DATA=$(realpath "$DATA")
if [ "$DATA" = "$here/study.csv" ]; then
    source_name="the look-alike study simulated by Qlynix (examples/phase1-dose-finding/study.csv)"
    OUT=${OUT:-$root/build/phase1-dose-finding}
else
    source_name="$DATA"
    OUT=${OUT:-${TMPDIR:-/tmp}/qlynix-phase1-dose-finding}
    case "$(realpath -m "$OUT")/" in
    "$root"/*) echo "run.sh: $OUT is inside the checkout, and the fits' tables hold the study's data; choose a folder outside it (-o)" >&2
               exit 2 ;;
    esac
fi
[ -x "$QLXC" ] || { echo "run.sh: no qlxc at $QLXC: run make first" >&2; exit 2; }
mkdir -p "$OUT" || exit 1
OUT=$(realpath "$OUT")
threads=()
[ -n "${PHASE1_THREADS:-}" ] && threads=(--threads "$PHASE1_THREADS")
say() { echo "phase1: $*"; }
step() {   # step NAME MODEL [qlxc options]: one qlxc run into OUT/NAME
    local name=$1 model=$2; shift 2
    say "$name: qlxc run${*:+ $*} $model"
    if ! "$QLXC" run "${threads[@]}" "$@" -o "$OUT/$name" "$model" >"$OUT/$name.log" 2>&1; then
        echo "run.sh: $name failed; the end of $OUT/$name.log:" >&2
        tail -5 "$OUT/$name.log" >&2
        exit 1
    fi
}
# each model reads the dataset by the path run.sh gives it, through an
# $INPUT made from the dataset's header: the look-alike's own column
# names (WT, CONMED, ARM) are aliases of the models' (BW, COMED, DOSE)
input_of() {
    head -1 "$1" | tr -d '\r' | awk -F, '{
        m["WT"] = "BW"; m["CONMED"] = "COMED"; m["ARM"] = "DOSE"
        for (i = 1; i <= NF; i++) printf "%s%s", (i > 1 ? " " : ""), (($i in m) ? m[$i] "=" $i : $i) }'
}
with_data() {
    sed -e "s|^\\\$DATA  *[^ ]*|\$DATA     $2|" -e "s|^\\\$INPUT .*|\$INPUT    $(input_of "$2")|" "$here/$1"
}

EVERY=${PHASE1_EVERY:-1}
if [ "$EVERY" != 1 ]; then   # every k-th subject, in a copy beside the outputs
    awk -F, -v k="$EVERY" 'NR == 1 { print; next }
        $1 != prev { n++; prev = $1 }
        (n - 1) % k == 0' "$DATA" >"$OUT/data.csv" || exit 1
    DATA=$OUT/data.csv
    source_name="$source_name, every $EVERY-th subject"
fi
say "data: $source_name"
with_data pk.qlx "$DATA" >"$OUT/pk.qlx"
step pk "$OUT/pk.qlx"
bash "$here/ipp.sh" "$OUT/pk/patab.csv" "$DATA" >"$OUT/study_ipp.csv" || exit 1
with_data pd.qlx "$OUT/study_ipp.csv" >"$OUT/pd.qlx"
step pd "$OUT/pd.qlx"
with_data questions.qlx "$DATA" | sed "s/^\\\$SIMULATION N=[0-9]*/\$SIMULATION N=$N/" >"$OUT/questions.qlx"
step questions "$OUT/questions.qlx" --init "$OUT/pk/estimates.csv" --init "$OUT/pd/estimates.csv"
bash "$here/report.sh" "$OUT" "$source_name" "$N" >"$OUT/report.md.tmp" &&
    mv "$OUT/report.md.tmp" "$OUT/report.md" || exit 1
sed -n '/^## The five answers/,/^## /p' "$OUT/report.md" | sed '$d'
say "wrote $OUT/report.md"
