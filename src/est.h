/*
 * est.h -- population estimation: FO and FOCEI.
 *
 * est_run() maximises the population likelihood of a model over its
 * THETAs, OMEGA and SIGMA.  The objective is NONMEM's: -2 log likelihood
 * without the N log(2 pi) constant.
 *
 *   FO     the model linearised in the ETAs at ETA = 0:
 *          OFV_i = log|C_i| + r_i' C_i^-1 r_i,  C_i = A Omega A' + diag(V),
 *          r = y - f(0), A = df/deta, V = H' Sigma H at ETA = 0.
 *   FOCEI  the Laplace approximation at each subject's conditional mode
 *          eta_i (the inner problem), with the expected Hessian:
 *          L_i(eta) = sum_j (r_j^2/V_j + log V_j) + eta' Omega^-1 eta,
 *          OFV_i = L_i(eta_i) + log|Omega| + log|Omega^-1 + sum_j (a_j a_j'/V_j
 *                  + b_j b_j'/(2 V_j^2))|,  a = df/deta, b = dV/deta,
 *          so V may depend on the ETAs (the interaction).
 *
 * The inner problem is solved by BFGS (opt.h) with the exact gradient of
 * L_i from the model's sensitivities (sens.h), never finite differences.
 * The outer problem runs BFGS over the free THETAs (through their bound
 * transforms), and the Cholesky factors of the OMEGA and SIGMA blocks
 * (log-diagonal), FIX parameters held; its gradient is by central
 * differences of the objective, as NONMEM's is by forward ones.
 *
 * Ownership: the caller frees an EstResult with est_result_free().
 */
#ifndef QLX_EST_H
#define QLX_EST_H

#include <stdio.h>

#include "data.h"
#include "prog.h"
#include "sim.h"

typedef struct {
    EstMethod method;     /* EST_FO, EST_FOCE, EST_FOCEI, EST_LAPLACE (here); EST_SAEM (saem.h) */
    int interaction;      /* LAPLACE: V may depend on the ETAs (as FOCEI) */
    int maxeval;          /* outer iterations; <= 0: 500 */
    int eval_only;        /* NONMEM's MAXEVAL=0: the OFV and the conditional
                             modes at the initial estimates, nothing estimated */
    SimOpts sim;          /* solver tolerances, threads */
    FILE *log;            /* one line per outer iteration, or NULL */
    FILE *trace;          /* the iteration trace, in the spirit of NONMEM's
                             .ext: a CSV row per outer iteration (ITERATION,
                             the THETAs, the OMEGA and SIGMA lower
                             triangles, OBJ); the header comes from
                             est_trace_header().  NULL: none */
    /* SAEM and IMP (saem.h): the seed of every random draw (< 0: 12345),
     * exploration and smoothing iterations, importance samples per
     * subject (<= 0: 300, 200, 1000) */
    long seed;
    int nburn, niter, isample;
    /* where to start; NULL: the model's initial values (a second
     * $ESTIMATION step starts where the first ended) */
    const double *theta0, *omega0, *sigma0;
} EstOpts;

typedef struct {
    double ofv;           /* with $PRIOR, the MAP objective: includes prior */
    double prior;         /* -2 log prior density (no constants); 0 without */
    double ofv_se;        /* the Monte Carlo SE of an IMP objective; 0 otherwise */
    double *theta;        /* nthetas */
    double *omega;        /* omega.n^2, row-major */
    double *sigma;        /* sigma.n^2 */
    double *eta;          /* nsubjects x omega.n: conditional modes (FOCEI) */
    int nsubjects;
    int iterations, evaluations;
    int converged;
    char message[256];
} EstResult;

/* The covariance step ($COVARIANCE): the parameters are the free THETAs
 * and the free elements (lower triangle) of the OMEGA and SIGMA blocks, in
 * that order; R is half the Hessian of the OFV in them (central
 * differences), S the sum over subjects of the outer products of half the
 * subjects' OFV gradients, and the covariance R^-1 S R^-1 (SANDWICH,
 * NONMEM's default), R^-1 or S^-1. */
typedef struct {
    int n;                /* parameters */
    char **names;         /* "tcl", "OMEGA(eta_cl,eta_cl)", ... */
    double *estimate;     /* n */
    double *cov;          /* n x n */
    double *se;           /* n */
    double *corr;         /* n x n */
    double condition;     /* largest / smallest eigenvalue of corr */
    int ok;               /* 0: message says why (R not positive definite...) */
    char message[512];
} EstCov;

int  est_covariance(const Prog *p, const Dataset *ds, const EstOpts *o, const EstResult *r,
                    CovMatrix which, EstCov *c, Diag *d);
void est_cov_free(EstCov *c);

void est_trace_header(const Model *m, FILE *f);

/* Weighted residuals at the estimates, per dataset row (NaN off the
 * observations): WRES from the model linearised at ETA = 0, CWRES at each
 * subject's mode (Hooker et al. 2007), both whitened by the Cholesky
 * factor of A Omega A' + diag(V); IWRES = (DV - IPRED)/sqrt(V) at the
 * mode.  0, or -1 with a warning. */
int est_residuals(const Prog *p, const Dataset *ds, const EstOpts *o, const EstResult *r,
                  double *wres, double *cwres, double *iwres, Diag *d);

/* Starts from the model's initial values.  Returns 0 (converged or
 * stopped with a usable result; see converged and message), or -1 after
 * reporting why it could not run. */
int  est_run(const Prog *p, const Dataset *ds, const EstOpts *o, EstResult *r, Diag *d);
void est_result_free(EstResult *r);

/* Fills r's parameters with copies of theta, omega, sigma (full
 * matrices) and eta (nsubjects x omega.n; NULL: zeros), and its
 * nsubjects; the rest of r is left as it is.  0, or -1 when out of
 * memory (r then holds nothing). */
int est_result_set(EstResult *r, const Model *m, int nsubjects, const double *theta,
                   const double *omega, const double *sigma, const double *eta);

/* "FO", "FOCEI", ... as $ESTIMATION METHOD= spells it. */
const char *est_method_name(EstMethod m);

/* The objective at the given parameters (for tests and the covariance
 * step): OFV and, with eta not NULL, the conditional modes. */
int est_objective(const Prog *p, const Dataset *ds, const EstOpts *o, const double *theta,
                  const double *omega, const double *sigma, double *ofv, double *eta, Diag *d);

#endif
