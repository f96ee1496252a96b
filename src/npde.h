/*
 * npde.h -- normalised prediction distribution errors (Brendel et al.
 * 2006; Comets et al. 2008), by simulation from the fitted model.
 *
 * For each subject with observations y (n of them), K datasets are
 * simulated at the subject's own records with ETA ~ N(0, OMEGA) and
 * EPS ~ N(0, SIGMA): y_k, k = 1..K.  With E and V their mean and
 * covariance, the observations and every simulation are decorrelated by
 * the Cholesky factor V = L L':  y* = L^-1 (y - E), y*_k = L^-1 (y_k - E);
 * then pde_j = #{k : y*_kj < y*_j} / K, moved to 1/(2K) and 1 - 1/(2K)
 * when it is 0 or 1, and npde_j = Phi^-1(pde_j).  If the model is right,
 * the NPDE are independent N(0, 1), whatever the design.  EPRED is E.
 *
 * Every draw is rng.h's, keyed by (seed, subject, stream), so the result
 * does not depend on the number of threads.
 */
#ifndef QLX_NPDE_H
#define QLX_NPDE_H

#include "data.h"
#include "prog.h"
#include "sim.h"

typedef struct {
    int nsamples;         /* K; <= 0: 1000 */
    long seed;            /* < 0: 12345 */
    SimOpts sim;          /* solver and threads */
} NpdeOpts;

/* npde and epred: one value per dataset row, NaN off the observations
 * (either may be NULL).  omega and sigma are full matrices, row-major.
 * 0, or -1 after reporting (a simulation failure, a subject whose
 * simulated observations are degenerate, e.g. more observations than K). */
int npde_compute(const Prog *p, const Dataset *ds, const double *theta, const double *omega,
                 const double *sigma, const NpdeOpts *o, double *npde, double *epred, Diag *d);

#endif
