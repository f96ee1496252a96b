#!/usr/bin/env python3
"""Generate the dataset of the simulation benchmark (bench/sim).

N subjects of a two-compartment oral PK model driving an indirect
response (IDR I) model.  Each subject gets 100 mg into the depot once a
day for 49 days (one dose record with ADDL=48 II=24) and an observation
every hour from 0 to 1176 h (1,177 records).  CL, V1 and IC50 are drawn
here once, log-normal with a fixed seed, and written as covariate
columns (CLI, V1I, IC50I), so every tool simulates exactly the same
subjects.  Only the standard library is used (random.Random is the
Mersenne Twister, reproducible across Python versions for gauss()).

It also writes PARAMS.csv beside OUT.csv (ID,CLI,V1I,IC50I): the same
three values of each subject, as the same text, so that the peers need
not parse the 1.2-million-row dataset to find them.

usage: gen.py OUT.csv PARAMS.csv [N] [SEED]
"""
import math
import random
import sys

TCL, TV1, TIC50 = 5.0, 50.0, 0.5     # typical values: L/h, L, mg/L
OMEGA_SD = 0.3                        # SD of log(param): about 30% CV
DOSE, II, ADDL = 100.0, 24, 48        # mg, h; 49 doses in all
TEND = II * (ADDL + 1)                # 1176 h, hourly output 0..1176


def main():
    out, pout = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 20240603
    rng = random.Random(seed)
    with open(out, "w") as f, open(pout, "w") as fp:
        fp.write("ID,CLI,V1I,IC50I\n")
        f.write("ID,TIME,DV,AMT,EVID,CMT,II,ADDL,CLI,V1I,IC50I\n")
        for i in range(1, n + 1):
            cl = TCL * math.exp(rng.gauss(0.0, OMEGA_SD))
            v1 = TV1 * math.exp(rng.gauss(0.0, OMEGA_SD))
            ic50 = TIC50 * math.exp(rng.gauss(0.0, OMEGA_SD))
            cov = "%.17g,%.17g,%.17g" % (cl, v1, ic50)
            fp.write("%d,%s\n" % (i, cov))
            rows = ["%d,0,.,%g,1,1,%d,%d,%s" % (i, DOSE, II, ADDL, cov)]
            for t in range(TEND + 1):
                rows.append("%d,%d,.,0,0,2,0,0,%s" % (i, t, cov))
            f.write("\n".join(rows))
            f.write("\n")


if __name__ == "__main__":
    main()
