/*
 * mc.h -- Monte Carlo trials: virtual populations, regimens, endpoints,
 * target attainment and dose finding ($SIMULATION N=..., docs/simulation.md).
 *
 * For each scenario and each dose of its grid, N virtual subjects are
 * built as a dataset -- covariates resampled from $DATA's subjects or
 * drawn from distributions, the regimen's dose records, observation
 * records over the endpoint's window -- and simulated by sim.c with ETAs
 * from OMEGA (and residual errors from SIGMA when RESIDUAL=YES).  Every
 * draw comes from the seed through rng.h keyed by the virtual subject, so
 * subject i has the same covariates and ETAs at every dose (common random
 * numbers: attainment is monotone in the dose when the model is) and for
 * any thread count.
 *
 * The endpoint is a statistic of a model variable over a time window
 * (min, max, mean, auc, trough, timeabove, timebelow), the target a
 * comparison of it with a level, attainment the fraction of subjects
 * meeting it (with a Wilson 95% interval), and FIND the smallest dose of
 * the grid whose attainment reaches P.
 */
#ifndef QLX_MC_H
#define QLX_MC_H

#include <stdio.h>

#include "data.h"
#include "prog.h"
#include "sim.h"

typedef struct {
    char name[64];
    int ndose;
    double *dose;            /* ndose: the grid */
    int *met;                /* ndose: subjects meeting the target */
    double *lo, *hi;         /* ndose: Wilson 95% interval of the fraction */
    double *tlo, *thi;       /* ndose, with UNCERTAINTY=YES: the 5th and 95th
                                percentiles of the trials' attainment (else NULL) */
    int found;               /* index of the smallest dose reaching P, or -1 */
    double p;                /* the attainment wanted */
    char regimen[320];       /* for the report */
    char endpoint[160];      /* as written, for the report */
    char target[160];
    char var[64];            /* the endpoint's variable */
    int ntime;               /* the window's grid */
    double *time;            /* ntime */
    double *band;            /* ndose x ntime x 3: its 5th, 50th, 95th percentiles */
    double level;            /* the target in the variable's units (NaN when the
                                endpoint is not: auc, time above...) */
} McScenario;

enum { MC_TRIALS = 50 };     /* trials with UNCERTAINTY=YES */

typedef struct {
    int n;                   /* virtual subjects per dose */
    int trials;              /* 0, or MC_TRIALS with UNCERTAINTY=YES */
    int nscen;
    McScenario *scen;
    double seconds;
    long subjects;           /* simulated in all */
} McResult;

/* Runs every scenario of m's $SIMULATION at the THETAs, OMEGA and SIGMA
 * given (the model's initial values, or a fit's estimates).  With
 * UNCERTAINTY=YES the subjects are split into MC_TRIALS trials, each with
 * THETAs drawn from N(theta, theta_cov) (the covariance step's THETA
 * block, nthetas x nthetas; required then).  ds is $DATA
 * (covariates to resample; may be NULL when nothing is resampled).  0;
 * 1 after reporting a mistake in the directive lines (at its line and
 * column); -1 after reporting a failure while simulating. */
int  mc_run(const Prog *p, const Dataset *ds, const double *theta, const double *theta_cov,
            const double *omega, const double *sigma, const SimOpts *o, McResult *r, Diag *d,
            FILE *log);
void mc_result_free(McResult *r);

/* The p[j]-quantiles (j < np) of v (n values; NaNs left out) by linear
 * interpolation between order statistics (R's type 7); scratch holds n. */
void mc_quantiles(const double *v, int n, double *scratch, int np, const double *p,
                  double *out);

/* attainment.csv, attainment.txt (the report), summary.txt (the fit's
 * summary text, when summary is not NULL, then the same report), bands.csv
 * (the variable's 5/50/95th percentiles over the window, per scenario and
 * dose) and bands_SCENARIO.svg (at the chosen dose, else the largest) into
 * dir, atomically (dir NULL: nothing, as on an MPI rank other than 0). */
int  mc_write(const McResult *r, const char *dir, const char *summary, Diag *d, FILE *log);

#endif
