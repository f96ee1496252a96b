#!/usr/bin/python3
"""bench/sim: the summary of run.sh -- medians, ratios, agreement, memory.

usage: report.py OUTDIR N_QLYNIX N_DESOLVE N_SCIPY RTOL ATOL
Reads OUTDIR/times.txt (LABEL WALL_S MAXRSS_KB INNER_S per run) and the
tables the tools wrote.  Qlynix is timed end to end (its process: read
the dataset, simulate, write the table); the peers by their own clock
around the simulation loop only (no interpreter start-up, no reading,
no writing), which favours the peers.

Agreement: for every (subject, hour) that both tools computed, the error
|a - b| / max(|b|, FLOOR) of CP (mg/L) and R; FLOOR = 1e-3 keeps the
t = 0 values (CP = 0) and deep troughs from dividing by almost nothing.
It should be at most 1e-5.
"""
import os
import statistics
import sys

FLOOR = 1e-3
LIMIT = 1e-5


def times(path):
    runs = {}
    with open(path) as f:
        for line in f:
            label, wall, rss, inner = line.split()
            runs.setdefault(label, []).append(
                (float(wall), int(rss), None if inner == "-" else float(inner)))
    return runs


def load(path, nmax):
    """{(id, time): (CP, R or None)} of observation rows of subjects <= nmax."""
    d = {}
    with open(path) as f:
        h = f.readline().strip().split(",")
        iid, it, icp = h.index("ID"), h.index("TIME"), h.index("CP")
        ir = h.index("R") if "R" in h else None
        iev = h.index("EVID") if "EVID" in h else None
        for line in f:
            v = line.rstrip("\n").split(",")
            i = int(float(v[iid]))
            if i > nmax:
                break
            if iev is not None and v[iev] != "0":
                continue
            d[(i, float(v[it]))] = (float(v[icp]), float(v[ir]) if ir is not None else None)
    return d


def agree(a, b):
    """max relative error (floored) of CP and of R over the keys of b."""
    out = []
    for j in (0, 1):
        worst, at = 0.0, None
        for k, vb in b.items():
            if vb[j] is None:
                continue
            va = a[k][j]
            e = abs(va - vb[j]) / max(abs(vb[j]), FLOOR)
            if e > worst or at is None:
                worst, at = e, k
        out.append((worst, at) if at is not None else None)
    return out


def fmt_agree(name, res, npts):
    parts = []
    for q, r in zip(("CP", "R"), res):
        if r is None:
            continue
        e, (i, t) = r
        parts.append("%s %.2g (subject %d, t = %g h)" % (q, e, i, t))
    ok = all(r is None or r[0] <= LIMIT for r in res)
    print("  %-34s %s over %d points: %s" % (name, "ok  " if ok else "FAIL", npts,
                                            ", ".join(parts)))


def main():
    out, n, nr, ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rtol, atol = sys.argv[5], sys.argv[6]
    runs = times(os.path.join(out, "times.txt"))

    def med(label, which):
        xs = [r[which] for r in runs[label]]
        return statistics.median(xs)

    rows = [  # label, tool, subjects, timed by
        ("qlx_ode_t1", "Qlynix IDR, ODE (CVODES) --threads 1", n, 0),
        ("qlx_ode_t2", "Qlynix IDR, ODE (CVODES) --threads 2", n, 0),
        ("desolve_ode", "deSolve lsoda + compiled C, IDR", nr, 2),
        ("scipy_ode", "scipy solve_ivp LSODA, IDR", ns, 2),
        ("qlx_pk_t1", "Qlynix PK only, exact --threads 1", n, 0),
        ("qlx_pk_t2", "Qlynix PK only, exact --threads 2", n, 0),
        ("desolve_pk", "deSolve lsoda + compiled C, PK only", nr, 2),
    ]
    sps = {}
    print()
    print("bench/sim summary (rtol %s, atol %s; medians of %d runs)" %
          (rtol, atol, len(runs["qlx_ode_t1"])))
    print("  %-38s %8s %9s %12s %9s %10s" %
          ("tool", "subjects", "time (s)", "subjects/s", "wall (s)", "peak RSS"))
    for label, name, k, which in rows:
        t = med(label, which)
        sps[label] = k / t
        print("  %-38s %8d %9.3f %12.1f %9.3f %7.0f MB" %
              (name, k, t, k / t, med(label, 0), med(label, 1) / 1024))
    print("  (Qlynix: the whole process, reading %d rows and writing the table;"
          % (n * 1178))
    print("   peers: their simulation loop only; wall = the whole process)")
    print()
    print("ratios, Qlynix subjects/s over the peer's (the issue asks >= 10 vs deSolve on the ODE path):")
    for q in ("qlx_ode_t1", "qlx_ode_t2"):
        th = q[-1]
        print("  ODE path, --threads %s:  vs deSolve %6.2fx   vs scipy %7.2fx" %
              (th, sps[q] / sps["desolve_ode"], sps[q] / sps["scipy_ode"]))
    for q in ("qlx_pk_t1", "qlx_pk_t2"):
        print("  closed-form PK path, --threads %s:  vs deSolve (PK only) %6.2fx" %
              (q[-1], sps[q] / sps["desolve_pk"]))

    print()
    print("agreement (max |a-b|/max(|b|, %g); limit %g):" % (FLOOR, LIMIT))
    q = load(os.path.join(out, "qlx_ode", "sim.csv"), nr)
    dso = load(os.path.join(out, "desolve_ode.csv"), nr)
    sp = load(os.path.join(out, "scipy_ode.csv"), ns)
    ref = load(os.path.join(out, "ref.csv"), 3)
    fmt_agree("Qlynix vs deSolve (IDR)", agree(q, dso), len(dso))
    fmt_agree("Qlynix vs scipy (IDR)", agree(q, sp), len(sp))
    fmt_agree("deSolve vs scipy (IDR)", agree(dso, sp), len(sp))
    qp = load(os.path.join(out, "qlx_pk", "sim.csv"), nr)
    dsp = load(os.path.join(out, "desolve_pk.csv"), nr)
    fmt_agree("Qlynix exact vs deSolve (PK only)", agree(qp, dsp), len(dsp))
    print("accuracy against a reference (scipy LSODA, rtol 1e-12, atol 1e-14, subjects 1-3):")
    fmt_agree("Qlynix (IDR)", agree(q, ref), len(ref))
    fmt_agree("deSolve (IDR)", agree(dso, ref), len(ref))
    fmt_agree("scipy (IDR)", agree(sp, ref), len(ref))
    refpk = {k: (v[0], None) for k, v in ref.items()}
    fmt_agree("Qlynix exact (PK only, CP)", agree(qp, refpk), len(refpk))


if __name__ == "__main__":
    main()
