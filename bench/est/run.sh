#!/usr/bin/env bash
# bench/est/run.sh -- simulation and re-estimation at scale (issue 4).
#
# Builds bench/est/bench_recovery.c against the library with the
# Makefile's rule for bench programs, then runs it: the scenarios of
# bench/est/recovery.h (see bench/README.md, "bench/est"), each with many
# replicates.  Run from the project root after `make` (bench/run does):
#
#   bash bench/est/run.sh
#
# Knobs (environment): BUILD (build), EST_REPS_1CMT (100) and EST_REPS_2CMT
# (50) replicates, EST_THREADS (2), EST_R=1 to add the R^-1 covariance
# step beside the sandwich (about a fifth longer), EST_OUT
# (BUILD/bench-est) for every replicate's estimates and SEs as CSV.
set -u
BUILD=${BUILD:-build}
bin=$BUILD/bench/est/bench_recovery
# -W: always rebuild it (the Makefile reads no dependency files from
# bench/est/, so it would not see recovery.h change); it takes a second.
# The environment of a calling make is not this make's business.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory BUILD="$BUILD" \
  -W bench/est/bench_recovery.c "$bin" || { echo "bench/est: cannot build $bin" >&2; exit 1; }
OUT=${EST_OUT:-$BUILD/bench-est}
mkdir -p "$OUT"
"$bin" "${EST_REPS_1CMT:-100}" "${EST_REPS_2CMT:-50}" "${EST_THREADS:-2}" "${EST_R:-0}" "$OUT/"
