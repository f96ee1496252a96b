/*
 * saem.h -- SAEM estimation, and the objective by importance sampling
 * (NONMEM 7's METHOD=SAEM, then METHOD=IMP EONLY=1; Monolix; nlmixr2).
 *
 * The model.  For subject i with ETAs eta ~ N(0, Omega), the data term
 * is NONMEM's residual model, Y = F + sum_k H_k EPS_k:
 *
 *   D_i(eta) = -2 log p(y_i | eta) = sum_j (y_ij - f_ij)^2 / V_ij + log V_ij,
 *   V = H' Sigma H,
 *
 * without the 2 pi, so the OFV below is NONMEM's.  ETAs may enter the
 * model anywhere; nothing needs to be mu-referenced.
 *
 * SAEM (Delyon, Lavielle and Moulines 1999; Kuhn and Lavielle 2004).
 * Each subject has L = min(10, ceil(50 / N)) Markov chains of its ETAs
 * (Monolix's rule: 50 subjects' worth of samples, so that a small
 * study's statistics are not all noise); a subject's terms below are the
 * means over its chains.  Each iteration k:
 *
 *   E   every chain moves by Metropolis-Hastings with Monolix's kernels:
 *       proposals from the prior N(0, Omega), a random walk on all ETAs
 *       (covariance s^2 Omega), and component-wise random walks, each
 *       repeated twice; the scales s adapt toward 35% acceptance before
 *       and during the exploration phase and are frozen after.  Only the
 *       model's values are computed here (sim.h), never sensitivities.
 *   M   with the step gamma_k = 1 during the NBURN exploration iterations
 *       and 1 / (k - NBURN) during the NITER smoothing ones:
 *       - x = the free THETAs (through their bound transforms, opt.h) and
 *         the Cholesky factors of the free SIGMA blocks (log diagonal)
 *         have no closed-form M-step in general, so SA is applied to the
 *         score instead:  x <- x + gamma_k Ibar_k^-1 g_k,  where g_k is
 *         the gradient of the complete-data log-likelihood log p(y, eta;
 *         x) at the current samples, summed over subjects, and Ibar_k the
 *         SA of its expected (Gauss-Newton) information sum_j a a'/V + b
 *         b'/(2 V^2), a = df/dx, b = dV/dx, from the exact sensitivities
 *         (sens.h).  By Fisher's identity E[g_k] is the gradient of the
 *         marginal log-likelihood, so this is a Robbins-Monro search for
 *         its root: Delyon-Lavielle-Moulines SA applied to the M-step's
 *         score.
 *       - Omega = S_k, the SA of the sufficient statistic mean(eta eta')
 *         over the chains' states: S_k = S_k-1 + gamma_k (s(eta) -
 *         S_k-1), kept to the $OMEGA block structure (zero between
 *         blocks, the diagonal alone for diagonal entries, FIX blocks
 *         held): the centred EM step.
 *       - then a non-centred step for Omega: with zeta = L^-1 eta held
 *         (Omega = L L'), eta = L zeta moves with L and the complete-data
 *         likelihood p(y | L zeta) N(zeta; 0, I) depends on L through the
 *         data alone; L's free entries (log diagonal) take the same
 *         scoring step as x, with the data term's score and Gauss-Newton
 *         information in eta chained through d eta / dL, and S follows.
 *         The centred step is fast where the data pin the ETAs down, the
 *         non-centred one where they do not (a variance the data barely
 *         inform, a correlation near +-1, where EM crawls); alternating
 *         them is at least as fast as the better (Yu and Meng 2011,
 *         "interweaving").
 *
 *   The missing data for the step in x are psi_i = eta_i + B_i x, with
 *   B_i = H_ee^-1 H_ex the regression of the conditional mode on x (H the
 *   expected information of the subject's complete-data likelihood, H_ee
 *   including Omega^-1): any fixed B gives a valid complete-data model
 *   (the shift has unit Jacobian), and this one makes the information in
 *   x at fixed psi the Schur complement H_xx - H_xe H_ee^-1 H_ex, the
 *   Laplace approximation of the observed information.  For a
 *   mu-referenced parameter (CL = exp(tcl + eta)) it turns the step into
 *   Monolix's tcl <- tcl + mean(eta); in general it removes the slow
 *   convergence that the plain complete-data score has when the ETAs
 *   carry most of the information.  B_i is recomputed at each
 *   exploration iteration and frozen for the smoothing phase, and after
 *   a step each chain moves to eta - B_i dx (where psi stays).
 *
 *   Safeguards: during the first half of the exploration the diagonals of
 *   Omega and SIGMA shrink by at most 5% per iteration (Monolix's
 *   simulated annealing); every step is scaled down to a cap (a factor e
 *   on a log-scale parameter; ten standard errors while smoothing), and
 *   during the exploration it is halved until the complete-data -2
 *   log-likelihood at the current samples does not increase, so a bad
 *   sample never throws the estimates away.  After NITER smoothing
 *   iterations the run is done (NONMEM's convergence: the SA has run its
 *   course).
 *
 * IMP (importance sampling).  For each subject the proposal is the
 * defensive mixture q = 0.9 N(mu_i, Sigma_i) + 0.1 t_4(mu_i, Sigma_i)
 * (Hesterberg 1995): as efficient as a normal proposal when the
 * conditional distribution is nearly Gaussian, with weights bounded by
 * the t's heavy tails when it is not.  mu_i and Sigma_i start as the mean
 * and covariance of the chain's states (the second half of the smoothing
 * phase; in saem_imp_objective, a short chain at the given parameters;
 * the inverse expected Hessian at the mean when the states are
 * degenerate) and are refined twice, from the importance-weighted
 * moments of ISAMPLE/2 draws each (pooled by effective sample size),
 * before the ISAMPLE draws that give
 *
 *   OFV_i = -2 log mean_k w_k,   w_k = p(y_i | eta_k) p(eta_k) / q(eta_k),
 *
 * in logarithms (log-sum-exp), with p(eta) the normalised N(0, Omega)
 * density and p(y | eta) = exp(-D_i / 2), so OFV = sum_i OFV_i is -2 log L
 * without N_obs log(2 pi): comparable to est_objective's FOCEI and
 * LAPLACE.  The mean of the w_k is taken with control variates (Owen and
 * Zhou 2000): with u = L^-1 (eta - mu) and r = q_N / q, the functions
 * (r - 1, u r, (u u' - I) r) have mean 0 under q, and regressing w on
 * them removes what in w is linear or quadratic in u -- nearly all of
 * its variance when the conditional distribution is close to Gaussian.
 * The OFV's Monte Carlo standard error is sqrt(sum_i se_i^2), se_i the
 * delete-a-group jackknife's (20 groups) of the subject's -2 log of the
 * regression estimate, or, when the regression does not help, the delta
 * method's 4 var(w) / (K mean(w)^2).  The conditional means are the
 * weighted means of the final draws.
 *
 * Random numbers come from rng.h keyed by (seed, subject, stream), the
 * stream naming the iteration and the kernel, and the subjects' terms
 * are summed in subject order: results are bit-identical for any thread
 * count.
 *
 * Not supported: the M-step's sensitivities refuse what sens.h refuses
 * (SS records, modelled rates and durations, lag times with a THETA or
 * an ETA); $PRIOR is ignored with a warning.
 */
#ifndef QLX_SAEM_H
#define QLX_SAEM_H

#include "est.h"

/* SAEM from o->theta0/omega0/sigma0 (NULL: the model's initial values),
 * then IMP at the final estimates.  Fills r as est_run does: theta,
 * omega, sigma; eta (nsubjects x omega.n) each subject's conditional mean
 * of the ETAs over the second half of the smoothing phase; ofv the IMP
 * objective; iterations NBURN + NITER; evaluations the model evaluations
 * divided by the number of subjects; converged 1 when every iteration
 * ran; message says what was done and the OFV's Monte Carlo SE.
 * Options: o->seed (< 0: 12345), o->nburn (<= 0: 300), o->niter (<= 0:
 * 200), o->isample (<= 0: 1000), o->sim.nthreads, o->log (a line every
 * 10 iterations), o->trace (a row per iteration, est_trace_header's
 * columns, OBJ the complete-data -2LL).  Returns 0, or -1 after
 * reporting why it could not run; the caller frees r with
 * est_result_free(). */
int saem_run(const Prog *p, const Dataset *ds, const EstOpts *o, EstResult *r, Diag *d);

/* The IMP objective alone (NONMEM's METHOD=IMP EONLY=1) at theta, omega,
 * sigma: *ofv in NONMEM's convention, *ofv_se its Monte Carlo standard
 * error (may be NULL), eta_mean (nsubjects x omega.n, may be NULL) the
 * conditional means.  Uses o->seed, o->isample and o->sim.  0, or -1
 * after reporting why. */
int saem_imp_objective(const Prog *p, const Dataset *ds, const EstOpts *o, const double *theta,
                       const double *omega, const double *sigma, double *ofv, double *ofv_se,
                       double *eta_mean, Diag *d);

#endif
