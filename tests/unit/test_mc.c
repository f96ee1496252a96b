/*
 * test_mc.c -- Monte Carlo trials (mc.c) against closed forms.
 *
 * A one-compartment IV bolus model at steady state, with log-normal
 * clearance: the trough is D/V e^{-k tau} / (1 - e^{-k tau}), k = CL/V,
 * falling in CL, so P(trough > c) = P(CL < CL*) = Phi(log(CL* / CL_typ) /
 * omega) with trough(CL*) = c.  Attainment must agree within Monte Carlo
 * error at every dose of a grid, and FIND must return the grid's smallest
 * dose whose exact attainment reaches P.  The same run with 1 and 2
 * threads gives the same counts.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data.h"
#include "mc.h"
#include "parse.h"
#include "prog.h"
#include "rng.h"
#include "sema.h"
#include "tap.h"

static const char *model =
    "$PROBLEM mc\n$DATA t.csv IGNORE=@\n$INPUT ID TIME DV AMT EVID CMT WT\n"
    "$COMPARTMENTS central(dose, observe)\n"
    "$THETA\n  tcl = 2\n  tv = 10\n"
    "$OMEGA\n  eta_cl ~ 0.09\n"
    "$SIGMA\n  eps ~ 0.01\n"
    "$PK\n  CL = tcl*exp(eta_cl)\n  V = tv\n"
    "$DES\n  d/dt(central) = -CL/V*central\n"
    "$ERROR\n  IPRED = central/V\n  Y = IPRED*(1 + eps)\n"
    "$SIMULATION N=4000 SEED=5 RESIDUAL=NO\n"
    "  REGIMEN  CMT=1 II=12 SS=1 DOSE=seq(100, 600, 100)\n"
    "  ENDPOINT trough(IPRED) OVER (0, 12)\n"
    "  TARGET   ENDPOINT > 1 P=0.9\n"
    "  FIND     smallest DOSE\n";

static const char *data = "ID,TIME,DV,AMT,EVID,CMT,WT\n1,0,.,100,1,1,70\n1,1,1,0,0,1,70\n";

static double trough(double dose, double cl)
{
    double k = cl / 10, e = exp(-k * 12);
    return dose / 10 * e / (1 - e);
}

/* P(trough > c) exactly: CL* by bisection, then the normal CDF. */
static double exact(double dose, double c)
{
    double lo = 1e-6, hi = 1e3;
    for (int i = 0; i < 200; i++) {
        double mid = sqrt(lo * hi);
        if (trough(dose, mid) > c)
            lo = mid;
        else
            hi = mid;
    }
    return rng_pnorm(log(lo / 2) / 0.3);
}

static int run(int threads, McResult *r)
{
    Arena *a = mem_arena_new();
    FILE *sink = tmpfile();
    Diag *d = diag_new(a, sink);
    Ast *t = parse_string(a, d, "t.qlx", model, strlen(model), NULL);
    Model *m = t ? sema_check(a, d, t) : NULL;
    Prog *p = m ? prog_compile(a, d, m) : NULL;
    Dataset *ds = p ? data_parse(a, d, m, "t.csv", data, strlen(data)) : NULL;
    int rc = -1;
    if (ds) {
        SimOpts o;
        memset(&o, 0, sizeof o);
        o.nthreads = threads;
        double theta[2] = { 2, 10 };
        rc = mc_run(p, ds, theta, m->omega.cov, m->sigma.cov, &o, r, d, NULL);
    }
    if (rc != 0) {
        fflush(sink);
        rewind(sink);
        char line[512];
        while (fgets(line, sizeof line, sink))
            printf("# %s", line);
    }
    prog_free(p);
    fclose(sink);
    mem_arena_free(&a);
    return rc;
}

int main(void)
{
    McResult r1, r2;
    int rc1 = run(1, &r1), rc2 = run(2, &r2);
    ok(rc1 == 0 && rc2 == 0 && r1.nscen == 1 && r1.scen[0].ndose == 6, "the trials run");
    if (rc1 == 0) {
        const McScenario *s = &r1.scen[0];
        double worst = 0;
        int expect = -1;
        for (int i = 0; i < s->ndose; i++) {
            double p = exact(s->dose[i], 1), f = (double)s->met[i] / r1.n;
            double se = sqrt(fmax(p * (1 - p), 1e-4) / r1.n);
            worst = fmax(worst, fabs(f - p) / se);
            if (expect < 0 && p >= 0.9)
                expect = i;
            printf("# dose %g: attained %.4f, exact %.4f\n", s->dose[i], f, p);
        }
        ok(worst < 4, "attainment within 4 Monte Carlo SEs of the exact fraction at every dose "
                      "(worst %.2f)", worst);
        /* the exact answer must not sit on the edge, or the test would be luck */
        double pe = exact(s->dose[expect], 1), pb = expect > 0 ? exact(s->dose[expect - 1], 1) : 0;
        ok(pe - 0.9 > 3 * sqrt(0.09 / r1.n) && 0.9 - pb > 3 * sqrt(0.09 / r1.n),
           "the grid's answer is clear of Monte Carlo error (%.3f and %.3f around 0.9)", pb, pe);
        ok(s->found == expect, "FIND returns the smallest dose whose exact attainment reaches 90%% "
                               "(%g, expected %g)",
           s->found >= 0 ? s->dose[s->found] : -1, s->dose[expect]);
        int lo_ok = 1;
        for (int i = 0; i < s->ndose; i++) {
            double p = exact(s->dose[i], 1);
            lo_ok &= s->lo[i] <= (double)s->met[i] / r1.n && s->hi[i] >= (double)s->met[i] / r1.n;
            (void)p;
        }
        ok(lo_ok, "each Wilson interval holds its fraction");
        /* the bands at the trough (the window's end): the trough falls in
         * CL, so its p-quantile is the trough at CL's (1 - p)-quantile,
         * 2 exp(z_{1-p} 0.3) */
        int d4 = 3, q = s->ntime - 1;
        const double *b = s->band + ((size_t)d4 * s->ntime + q) * 3;
        const double zs[3] = { 1.6448536269514722, 0, -1.6448536269514722 };
        double worst_b = 0;
        for (int j = 0; j < 3; j++) {
            double want = trough(s->dose[d4], 2 * exp(zs[j] * 0.3));
            worst_b = fmax(worst_b, fabs(b[j] / want - 1));
            printf("# dose %g, trough percentile %d: %.4f, exact %.4f\n", s->dose[d4],
                   j == 0 ? 5 : j == 1 ? 50 : 95, b[j], want);
        }
        ok(s->ntime > 1 && fabs(s->time[q] - 12) < 1e-12 && worst_b < 0.05,
           "the 5/50/95th percentile bands at the trough within 5%% of the exact quantiles "
           "(worst %.1f%%)", 100 * worst_b);
    }
    if (rc1 == 0 && rc2 == 0) {
        int same = 1;
        for (int i = 0; i < r1.scen[0].ndose; i++)
            same &= r1.scen[0].met[i] == r2.scen[0].met[i];
        ok(same, "the same counts with 1 and 2 threads");
    }
    mc_result_free(&r1);
    mc_result_free(&r2);
    return tap_done();
}
