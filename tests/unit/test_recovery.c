/*
 * test_recovery.c -- simulation and re-estimation (issue 4), with a few
 * replicates; bench/est/bench_recovery runs the same scenarios with many.
 *
 * For each scenario of bench/est/recovery.h (a one-compartment oral model;
 * a two-compartment oral model with body weight on CL and V1), simulate
 * populations from known parameters, fit each by FOCEI from perturbed
 * initial values, run the sandwich covariance step, and check:
 *
 *   1. every replicate fits;
 *   2. every fit ends at an OFV no higher than the OFV at the true
 *      parameters (a maximum-likelihood fit is at least as good as the
 *      truth: higher means the optimiser stopped short);
 *   3. every fit's OFV is the objective at its estimates: evaluated again
 *      with each subject's inner problem started afresh from ETA = 0, it
 *      is not lower (lower means the fit carried some subject's mode
 *      into a worse local optimum, such as the flip-flop one of an oral
 *      model, and optimised the wrong function);
 *   4. the covariance step completes in all replicates but at most one
 *      (the bench sees it fail in 1 of 150, at a point where the outer
 *      search stopped with a small gradient: bench/README.md, "bench/est");
 *   5. the mean relative bias of each THETA on the natural scale (exp of a
 *      log THETA; an exponent as it is) is under 5%, and of each OMEGA
 *      variance under 20% -- the limits -- up to the Monte Carlo
 *      error of so few replicates (below);
 *   6. at least 85% of all (parameter, replicate) 95% intervals, estimate
 *      +- 1.96 SE on the estimation scale (THETAs as written, OMEGA and
 *      SIGMA variances), cover the truth.
 *
 * 1 to 3 hold replicate by replicate, so they mean the same whatever the
 * number of replicates.  Not so the bias: a mean over R replicates has a
 * Monte Carlo standard error SE/sqrt(R), with SE the estimate's standard
 * error within a replicate.  At 40 subjects that SE is 5-15% for the
 * typical values, about 30% for the exponents and 20-35% for the variances
 * (the bench's empirical SDs), so with 8 and 4 replicates the Monte Carlo
 * error alone is 2-7% on a typical value, 15% on an exponent and 8-17% on
 * a variance: a plain "under 5%" would fail on honest data and pass on a
 * biased engine by luck.  (The realised exponent of WT on CL, 0.75 plus
 * the slope of the drawn eta_cl on log WT, is 0.98, 0.91, 0.61 and 0.44
 * in the 2-cmt scenario's first four replicates.)  So a bias check fails
 * when the mean exceeds its limit by more than 2 Monte Carlo SEs, taking
 * SE as the mean SE of the covariance step (the replicates are too few
 * for an SD of their own): the replicates then show a bias beyond the
 * limit at about the 2.5% level.  That catches a gross error -- a subject
 * in the wrong mode, a wrong likelihood -- not a 5% one; measuring 5% is
 * the bench's job (100 and 50 replicates).  Coverage is pooled over
 * parameters and replicates (8 x 7 = 56 and 4 x 12 = 48 intervals): at a
 * true 95% the pooled rate falls below 85% with a probability under 1%
 * if the intervals were independent, more as those of one replicate err
 * together.  The bench shows what the pooled rate hides: bench/README.md.
 *
 * The seeds are fixed (recovery.h: the scenario's seed + the replicate),
 * so the test is deterministic; the replicates are the bench's first
 * ones.  57 s of CPU on two threads, 58 s wall on the shared development
 * VM (76 s with its other core busy).
 */
#include "../../bench/est/recovery.h"
#include "tap.h"

static void check(const RecScenario *sc, int nrep)
{
    RecModel rm;
    if (rec_open(&rm, sc) != 0) {
        ok(0, "%s: the model compiles", sc->name);
        rec_close(&rm);
        return;
    }
    RecRep reps[16];
    for (int i = 0; i < nrep; i++)
        rec_replicate(&rm, i, 2, 0, &reps[i]);
    rec_table(stdout, "# ", &rm, reps, nrep, 0);
    rec_problems(stdout, "# ", &rm, reps, nrep, 0);

    int ran = 0, below = 0, same = 0, cov = 0, nci = 0, ncover = 0;
    for (int i = 0; i < nrep; i++) {
        ran += reps[i].ran;
        below += reps[i].ran && reps[i].ofv <= reps[i].ofv_true + 1e-3;
        same += reps[i].ran && reps[i].ofv <= reps[i].ofv_fresh + 1e-3;
        cov += reps[i].cov_ok;
    }
    ok(ran == nrep, "%s: all %d replicates fit (%d did)", sc->name, nrep, ran);
    ok(below == nrep, "%s: every fit ends at an OFV no higher than the truth's (%d of %d do)",
       sc->name, below, nrep);
    ok(same == nrep, "%s: every fit's OFV is its objective, inner problems started afresh "
       "(%d of %d)", sc->name, same, nrep);
    ok(cov >= nrep - 1, "%s: the covariance step completes in all replicates but at most one "
       "(%d of %d)", sc->name, cov, nrep);
    if (nrep < 4) {   /* the sanitizer build: one replicate, no statistics */
        printf("# %s: %d replicate(s): bias and coverage not judged\n", sc->name, nrep);
        rec_close(&rm);
        return;
    }
    for (int k = 0; k < rm.n; k++) {
        RecSummary s = rec_summary(&rm, reps, nrep, k, 0);
        nci += s.nci;
        ncover += s.ncover;
        int theta = rm.kind[k] == 0, variance = rm.kind[k] == 1 && rm.ii[k] == rm.jj[k];
        if (!theta && !variance)
            continue;
        /* the relative Monte Carlo SE of the mean: a log THETA's SE is
         * already relative */
        double se = isfinite(s.mean_se) ? s.mean_se : s.sd;
        double mcse = (rm.logscale[k] ? se : se / fabs(rm.truth[k])) / sqrt(s.n);
        double limit = theta ? 0.05 : 0.20;
        ok(fabs(s.bias) < limit + 2 * mcse,
           "%s: %s%s%s mean relative bias %+.2f%% < %.0f%% + 2 Monte Carlo SEs (%.2f%%)",
           sc->name, rm.logscale[k] ? "exp(" : "", rm.names[k], rm.logscale[k] ? ")" : "",
           100 * s.bias, 100 * limit, 100 * mcse);
    }
    ok(nci > 0 && ncover >= 0.85 * nci,
       "%s: %d of %d 95%% intervals (%.1f%%) cover the truth, >= 85%%", sc->name, ncover, nci,
       nci ? 100.0 * ncover / nci : NAN);
    rec_close(&rm);
}

int main(void)
{
    double t0 = rec_now();
#ifdef QLX_FAULTS
    /* under the sanitizers (make test-san) a fit runs ten times slower:
     * one replicate each checks the memory and the per-replicate
     * properties; the statistics are the optimised build's */
    check(&rec_1cmt, 1);
    check(&rec_2cmt, 1);
#else
    check(&rec_1cmt, 8);
    check(&rec_2cmt, 4);
#endif
    printf("# %.1f s\n", rec_now() - t0);
    return tap_done();
}
