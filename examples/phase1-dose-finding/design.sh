#!/usr/bin/env bash
# design.sh -- writes design.csv: the look-alike study's design, a study
# of its own with columns of its own (ID TIME DV AMT EVID MDV CMT DVID,
# then ARM, WT and CONMED; run.sh gives the models an $INPUT that names
# them, so pk.qlx, pd.qlx and questions.qlx read either study): 60
# subjects randomised in turn to placebo and 1, 3 and 10 mg once daily
# for 21 days (doses at 0, 24, ..., 480 h); concentrations (DVID 1, CMT 2)
# and the biomarker (DVID 2, CMT 3) on a schedule of its own, 26 times up
# to 1,200 h, dense after the first and the last dose; body weight from 50
# to 109 kg and concomitant medication in about half the subjects, both
# from a fixed linear congruential sequence (so the file is the same
# every time).  DV is '.': study.qlx simulates it.
#
#   bash examples/phase1-dose-finding/design.sh > examples/phase1-dose-finding/design.csv
awk 'BEGIN {
    OFS = ","
    print "ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "DVID", "ARM", "WT", "CONMED"
    nt = split("0.5 1.5 3 6 10 24 30 48 96 144 240 360 480.5 481.5 483 486 490 496 504 528 576 648 744 912 1200", t, " ")
    split("0 1 3 10", dose, " ")
    x = 20261124
    for (id = 1; id <= 60; id++) {
        x = (1103515245 * x + 12345) % 2147483648; wt = 50 + int(60 * x / 2147483648)
        x = (1103515245 * x + 12345) % 2147483648; comed = x / 2147483648 < 0.5 ? 1 : 0
        d = dose[(id - 1) % 4 + 1]
        # time 0: the first dose, then the baseline biomarker
        if (d > 0) print id, 0, ".", d, 1, 1, 1, 0, d, wt, comed
        print id, 0, ".", 0, 0, 0, 3, 2, d, wt, comed
        # the doses and the samples in time order, a dose first at a tie
        k = 1
        for (h = 24; h <= 1200 || k <= nt; h += 24) {
            while (k <= nt && t[k] < h) {
                if (d > 0) print id, t[k], ".", 0, 0, 0, 2, 1, d, wt, comed
                print id, t[k], ".", 0, 0, 0, 3, 2, d, wt, comed
                k++
            }
            if (d > 0 && h <= 480) print id, h, ".", d, 1, 1, 1, 0, d, wt, comed
            if (k <= nt && t[k] == h) {
                if (d > 0) print id, h, ".", 0, 0, 0, 2, 1, d, wt, comed
                print id, h, ".", 0, 0, 0, 3, 2, d, wt, comed
                k++
            }
        }
    }
}'
