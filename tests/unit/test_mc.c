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

/* UNCERTAINTY=YES: tcl with SE 0.2 (10%), V fixed */
static const double tcov[4] = { 0.04, 0, 0, 0 };

static int run_model(const char *model_text, int threads, int uncertainty, McResult *r);

static int run(int threads, McResult *r)
{
    return run_model(model, threads, 0, r);
}

static int run_model(const char *model_text, int threads, int uncertainty, McResult *r)
{
    Arena *a = mem_arena_new();
    FILE *sink = tmpfile();
    Diag *d = diag_new(a, sink);
    Ast *t = parse_string(a, d, "t.qlx", model_text, strlen(model_text), NULL);
    Model *m = t ? sema_check(a, d, t) : NULL;
    Prog *p = m ? prog_compile(a, d, m) : NULL;
    Dataset *ds = p ? data_parse(a, d, m, "t.csv", data, strlen(data)) : NULL;
    int rc = -1;
    if (ds) {
        SimOpts o;
        memset(&o, 0, sizeof o);
        o.nthreads = threads;
        double theta[2] = { 2, 10 };
        rc = mc_run(p, ds, theta, uncertainty ? tcov : NULL, m->omega.cov, m->sigma.cov, &o, r, d,
                    NULL);
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

    /* With UNCERTAINTY=YES each trial draws tcl ~ N(2, 0.2^2): the pooled
     * attainment is E over tcl of Phi(log(CL*(dose) / tcl) / 0.3), and it
     * scatters between the 50 trials by their tcl; quadrature over tcl
     * gives the exact mean and the spread of a trial's own fraction. */
    char um[2048];
    const char *at = strstr(model, "RESIDUAL=NO");
    snprintf(um, sizeof um, "%.*sRESIDUAL=NO UNCERTAINTY=YES%s", (int)(at - model), model,
             at + strlen("RESIDUAL=NO"));
    McResult ru;
    int rcu = run_model(um, 2, 1, &ru);
    ok(rcu == 0 && ru.trials == 50 && ru.scen[0].tlo, "UNCERTAINTY=YES runs 50 trials");
    if (rcu == 0) {
        const McScenario *s = &ru.scen[0];
        double worst = 0;
        int wider = 1;
        for (int i = 0; i < s->ndose; i++) {
            /* CL*(dose): the clearance whose trough is 1 */
            double lo = 1e-6, hi = 1e3;
            for (int it = 0; it < 200; it++) {
                double mid = sqrt(lo * hi);
                if (trough(s->dose[i], mid) > 1)
                    lo = mid;
                else
                    hi = mid;
            }
            double m1 = 0, m2 = 0, wsum = 0;
            for (int k = -600; k <= 600; k++) {
                double z = k / 100.0, w = exp(-z * z / 2), tcl = 2 + 0.2 * z;
                double pz = tcl > 0 ? rng_pnorm(log(lo / tcl) / 0.3) : 1;
                m1 += w * pz, m2 += w * pz * pz, wsum += w;
            }
            m1 /= wsum, m2 /= wsum;
            double f = (double)s->met[i] / ru.n, between = m2 - m1 * m1;
            double se = sqrt(between / ru.trials + m1 * (1 - m1) / ru.n + 1e-8);
            worst = fmax(worst, fabs(f - m1) / se);
            /* the trials' 5-95% range is wider than the Wilson interval
             * where the THETA draws matter */
            if (between > 1e-3)
                wider &= s->thi[i] - s->tlo[i] > s->hi[i] - s->lo[i];
            printf("# uncertainty, dose %g: attained %.4f, exact mean %.4f (trial SD %.3f), "
                   "trials 5-95%% %.3f-%.3f\n", s->dose[i], f, m1, sqrt(between), s->tlo[i],
                   s->thi[i]);
        }
        ok(worst < 4, "UNCERTAINTY=YES: attainment within 4 SE of the exact predictive mean "
                      "(worst %.2f)", worst);
        ok(wider, "UNCERTAINTY=YES: the trials' 5-95%% range is wider than the Wilson interval");
    }
    mc_result_free(&ru);
    return tap_done();
}
