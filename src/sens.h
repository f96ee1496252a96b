/*
 * sens.h -- exact first derivatives of every record's prediction with
 * respect to the THETAs and ETAs, for the estimation engines.
 *
 * The parameter vector is pi = (THETA_1..THETA_nt, ETA_1..ETA_ne), np =
 * nt + ne (Prog.np).  The derivatives are the model's own, never finite
 * differences: $PK and the prediction are differentiated symbolically
 * (prog.h: pk_d, pred_d), the amounts by CVODES forward sensitivities
 * (ode.h) with the symbolic Jacobian and df/dpi (des_d), and each dose
 * adds its jump to the sensitivities.  When prog->linear, the amounts and
 * their sensitivities are instead advanced exactly between events, by
 * matrix exponentials (linpk.h), unless SimOpts.force_ode (SOLVER=ODE).
 *
 * The events are sim.h's (PREDPP), and the predictions equal
 * sim_subject's within the solver tolerance.  Refused, with an error
 * naming the record, because their derivatives are not implemented yet:
 * SS > 0 records, modelled rates and durations (RATE = -1, -2) and lag
 * times ALAGn that depend on a THETA or an ETA.
 *
 * Ownership: sens_work_new() allocates a workspace for one thread (the
 * Prog is shared, read-only); sens_work_free() frees it.  The caller owns
 * every output array.
 */
#ifndef QLX_SENS_H
#define QLX_SENS_H

#include "data.h"
#include "prog.h"
#include "sim.h"

typedef struct SensWork SensWork;

/* NULL when out of memory.  SimOpts: force_ode (CVODES even for a linear
 * model), and the tolerances and integrator of CVODES; nthreads is
 * ignored (one thread). */
SensWork *sens_work_new(const Prog *p, const SimOpts *o);
void      sens_work_free(SensWork **w);

/* One subject at theta (Model.nthetas) and eta (omega.n; NULL: zeros).
 * pred gets the prediction of each of the subject's records (IPRED, else
 * Y at EPS 0; NaN without either), dpred the rows x np matrix of its
 * derivatives, row-major, dpred[r*np + k] = d pred_r / d pi_k; row r is
 * the subject's r-th record.  Returns 0, or -1 with sens_error(). */
int sens_subject(SensWork *w, const Dataset *ds, int subject, const double *theta,
                 const double *eta, double *pred, double *dpred);

/* What sens_subject2() fills for the subject's records, row r the r-th;
 * a NULL pointer is an output not wanted.  With neps = Prog.neps
 * (sigma.n), and NONMEM's residual model Y = F + sum_k H_k EPS_k:
 *
 *   pred, dpred   as sens_subject: rows; rows x np
 *   y, dy         F = Y at EPS 0, and dF/dpi: rows; rows x np.  Not
 *                 pred when the model has IPRED and transforms it (Y =
 *                 log(IPRED) + EPS): the estimation engines want y
 *   h             H_k = dY/dEPS_k at EPS 0, rows x neps: h[r*neps + k]
 *   dh            dH_k/dpi_j, rows x neps x np: dh[(r*neps + k)*np + j]
 *
 * All symbolic: H is the graph derivative of Y by each EPS, itself
 * differentiated and chained like the prediction (prog.h: res_d).  y, dy,
 * h and dh are NaN when the model has no Y. */
typedef struct {
    double *pred, *dpred;
    double *y, *dy;
    double *h, *dh;
} SensOut;

/* sens_subject with the outputs of o.  0, or -1 with sens_error(). */
int sens_subject2(SensWork *w, const Dataset *ds, int subject, const double *theta,
                  const double *eta, const SensOut *o);

/* One record's residual variance V = H' Sigma H and, when dv is not
 * NULL, dV/dpi_j = dH_j' Sigma H + H' Sigma dH_j (np values).  h and dh
 * are the record's slices of SensOut (h + r*neps, dh + r*neps*np); sigma
 * is the full neps x neps matrix, row-major.  FOCEI's other derivative,
 * dV/dSigma_kl = H_k H_l, is the caller's.  Returns V (NaN without Y). */
double sens_resvar(int neps, int np, const double *sigma, const double *h, const double *dh,
                   double *dv);

/* With on, the sensitivities are advanced by the ETAs only (the exact
 * path's pairs, or CVODES's sensitivity systems), and the THETA columns
 * of every output are not to be read: what the inner problems of
 * estimation need, at about ne/np of the cost.  Off by default.  0, or
 * -1 when out of memory (all columns are then computed, as off). */
int sens_etas_only(SensWork *w, int on);

/* After a failure: "subject ID 7, TIME 12.5 (row 40): ..." */
const char *sens_error(const SensWork *w);

#endif
