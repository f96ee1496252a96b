#!/usr/bin/python3
"""bench/sim peer: scipy.integrate.solve_ivp(method="LSODA").

Run with Debian's /usr/bin/python3 (python3-scipy).  Each subject is
integrated one dosing interval at a time, [24k, 24k + 24], with t_eval
at the hours of the interval; between intervals 100 mg is added to the
depot (the dose at 0 is the initial depot amount).  The right-hand side
is the $DES of bench/sim/idr_2cmt.qlx (R = R0 + dev), in Python.

usage: scipy_lsoda.py PARAMS.csv N OUT.csv [RTOL ATOL]
Prints "scipy: N subjects in S s" (the loop only: not the imports, not
reading PARAMS.csv, not writing OUT.csv), then writes OUT.csv
(ID,TIME,CP,R) for the agreement check.
"""
import csv
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp

KA, Q, V2 = 1.0, 10.0, 100.0
KIN, KOUT, IMAX = 10.0, 0.1, 0.9
R0 = KIN / KOUT
DOSE, II, NDOSE = 100.0, 24.0, 49


def rhs(t, y, cl, v1, ic50):
    depot, central, periph, dev = y
    c = central / v1
    return [
        -KA * depot,
        KA * depot - (cl + Q) / v1 * central + Q / V2 * periph,
        Q / v1 * central - Q / V2 * periph,
        KIN * (1.0 - IMAX * c / (ic50 + c)) - KOUT * (R0 + dev),
    ]


def subject(cl, v1, ic50, rtol, atol):
    y = np.array([DOSE, 0.0, 0.0, 0.0])
    ts, ys = [], []
    for k in range(NDOSE):
        t0, t1 = k * II, (k + 1) * II
        te = np.arange(t0, t1 + 1.0, 1.0)          # t0, t0 + 1, ..., t1
        sol = solve_ivp(rhs, (t0, t1), y, method="LSODA", t_eval=te,
                        args=(cl, v1, ic50), rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(sol.message)
        keep = len(te) if k == NDOSE - 1 else len(te) - 1   # t1: next interval's
        ts.append(sol.t[:keep])
        ys.append(sol.y[:, :keep])
        y = sol.y[:, -1].copy()
        y[0] += DOSE                                # the next dose
    return np.concatenate(ts), np.concatenate(ys, axis=1)


def main():
    pfile, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rtol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-6
    atol = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-8
    with open(pfile) as f:
        rows = list(csv.DictReader(f))[:n]
    res = []
    t0 = time.perf_counter()
    for r in rows:
        res.append(subject(float(r["CLI"]), float(r["V1I"]), float(r["IC50I"]),
                           rtol, atol))
    el = time.perf_counter() - t0
    print("scipy: %d subjects in %.4f s" % (len(rows), el))
    with open(out, "w") as f:
        f.write("ID,TIME,CP,R\n")
        for i, (r, (t, y)) in enumerate(zip(rows, res), 1):
            v1 = float(r["V1I"])
            for j in range(len(t)):
                f.write("%d,%.0f,%.12g,%.12g\n" % (i, t[j], y[1, j] / v1, R0 + y[3, j]))


if __name__ == "__main__":
    main()
