#!/usr/bin/env bash
# bench/sim/run.sh -- population simulation, Qlynix beside scipy and deSolve.
#
# 1,000 subjects of a two-compartment oral PK model driving an indirect
# response model (IDR I), 49 daily doses, hourly output over 1,176 h (see
# bench/README.md, "bench/sim").  Run from the project root after `make`
# (bench/run does this when the peers are installed):
#
#   bash bench/sim/run.sh
#
# Knobs (environment): QLXC (build/qlxc), SIM_OUT (build/bench-sim),
# SIM_SUBJECTS (1000: Qlynix), SIM_DESOLVE_SUBJECTS (200),
# SIM_SCIPY_SUBJECTS (30), SIM_RUNS (3: each figure is the median),
# SIM_RTOL / SIM_ATOL (1e-6 / 1e-8, the same for all three tools).
# Everything generated goes under SIM_OUT; nothing is written in the repo.
set -u
here=$(cd "$(dirname "$0")" && pwd)
QLXC=$(realpath "${QLXC:-build/qlxc}")
OUT=${SIM_OUT:-build/bench-sim}
N=${SIM_SUBJECTS:-1000}
NR=${SIM_DESOLVE_SUBJECTS:-200}
NS=${SIM_SCIPY_SUBJECTS:-30}
RUNS=${SIM_RUNS:-3}
RTOL=${SIM_RTOL:-1e-6}
ATOL=${SIM_ATOL:-1e-8}
PY=/usr/bin/python3          # Debian's, with scipy (not a pyenv python3)
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
cd "$OUT" || exit 1

die() { echo "bench/sim: $*" >&2; exit 1; }
[ -x "$QLXC" ] || die "no $QLXC: run make first"

# ---- set-up: data, models, the compiled right-hand side for deSolve ----------
"$PY" "$here/gen.py" data.csv params.csv "$N" || die "gen.py failed"
for m in idr_2cmt pk_2cmt; do
  sed "s/RTOL=1e-6 ATOL=1e-8/RTOL=$RTOL ATOL=$ATOL/" "$here/$m.qlx" >"$m.qlx"
done
cp -f "$here/idr.c" idr.c
R CMD SHLIB -o idr.so idr.c >shlib.log 2>&1 || { cat shlib.log; die "R CMD SHLIB failed"; }

# ---- timing: wall time and peak RSS of one command ---------------------------
# appends "LABEL WALL_S MAXRSS_KB INNER_S" to times.txt; INNER_S is the
# peer's own timing of its simulation loop ("... in S s" on stdout), or -.
: >times.txt
if [ -x /usr/bin/time ]; then
  measure() {   # measure LABEL LOGFILE cmd...
    local label=$1 log=$2; shift 2
    /usr/bin/time -v -o tv.txt "$@" >"$log" 2>&1 || { cat "$log"; die "$label failed"; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, a, ":"); s = 0;
             for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s}' tv.txt)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' tv.txt)
    echo "$label $wall $rss $(inner "$log")" >>times.txt
  }
else
  echo "note: /usr/bin/time not found (Debian package 'time'): peak RSS from getrusage"
  measure() {
    local label=$1 log=$2; shift 2
    "$PY" - "$@" >tv.txt 2>"$log" <<'PYEOF' || { cat "$log"; die "$label failed"; }
import resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=sys.stderr, stderr=sys.stderr)
w = time.perf_counter() - t
print("%.3f %d" % (w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(r.returncode)
PYEOF
    echo "$label $(cat tv.txt) $(inner "$log")" >>times.txt
  }
fi
inner() { sed -n 's/.* subjects in \([0-9.]*\) s$/\1/p' "$1" | tail -1 | grep . || echo -; }

echo "bench/sim: $N subjects (Qlynix), $NR (deSolve), $NS (scipy); rtol $RTOL, atol $ATOL;" \
     "median of $RUNS runs; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$RUNS"); do
  echo "  run $r/$RUNS ..."
  measure qlx_ode_t1 qlx_t1.log "$QLXC" run idr_2cmt.qlx -o qlx_ode --threads 1
  measure qlx_ode_t2 qlx_t2.log "$QLXC" run idr_2cmt.qlx -o qlx_ode --threads 2
  measure qlx_pk_t1  qlx_pk1.log "$QLXC" run pk_2cmt.qlx -o qlx_pk --threads 1
  measure qlx_pk_t2  qlx_pk2.log "$QLXC" run pk_2cmt.qlx -o qlx_pk --threads 2
  measure desolve_ode ds.log Rscript "$here/desolve.R" "$OUT/idr.so" params.csv "$NR" desolve_ode.csv idr "$RTOL" "$ATOL"
  measure desolve_pk dspk.log Rscript "$here/desolve.R" "$OUT/idr.so" params.csv "$NR" desolve_pk.csv pk "$RTOL" "$ATOL"
  measure scipy_ode sp.log "$PY" "$here/scipy_lsoda.py" params.csv "$NS" scipy_ode.csv "$RTOL" "$ATOL"
done
# a reference for the accuracy check: scipy LSODA at rtol 1e-12, 3 subjects
"$PY" "$here/scipy_lsoda.py" params.csv 3 ref.csv 1e-12 1e-14 >ref.log 2>&1 || die "reference failed"

"$PY" "$here/report.py" "$OUT" "$N" "$NR" "$NS" "$RTOL" "$ATOL"
