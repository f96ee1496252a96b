/*
 * sens.h -- exact first derivatives of every record's prediction with
 * respect to the THETAs and ETAs, for the estimation engines.
 *
 * The parameter vector is pi = (THETA_1..THETA_nt, ETA_1..ETA_ne), np =
 * nt + ne (Prog.np).  The derivatives are the model's own, never finite
 * differences: $PK and the prediction are differentiated symbolically
 * (prog.h: pk_d, pred_d), the amounts by CVODES forward sensitivities
 * (ode.h) with the symbolic Jacobian and df/dpi (des_d), and each dose
 * adds its jump to the sensitivities.  The system always runs on CVODES,
 * even when prog->linear.
 *
 * The events are sim.h's (PREDPP), and the predictions equal
 * sim_subject's within the solver tolerance.  Refused, with an error
 * naming the record, because their derivatives are not implemented yet:
 * SS > 0 records, modelled rates and durations (RATE = -1, -2) and lag
 * times ALAGn that depend on a THETA or an ETA.
 *
 * Ownership: sens_work_new() allocates a workspace for one thread (the
 * Prog is shared, read-only); sens_work_free() frees it.  The caller owns
 * pred and dpred.
 */
#ifndef QLX_SENS_H
#define QLX_SENS_H

#include "data.h"
#include "prog.h"
#include "sim.h"

typedef struct SensWork SensWork;

/* NULL when out of memory.  SimOpts: tolerances and integrator; force_ode
 * and nthreads are ignored (always CVODES, one thread). */
SensWork *sens_work_new(const Prog *p, const SimOpts *o);
void      sens_work_free(SensWork **w);

/* One subject at theta (Model.nthetas) and eta (omega.n; NULL: zeros).
 * pred gets the prediction of each of the subject's records (IPRED, else
 * Y at EPS 0; NaN without either), dpred the rows x np matrix of its
 * derivatives, row-major, dpred[r*np + k] = d pred_r / d pi_k; row r is
 * the subject's r-th record.  Returns 0, or -1 with sens_error(). */
int sens_subject(SensWork *w, const Dataset *ds, int subject, const double *theta,
                 const double *eta, double *pred, double *dpred);

/* After a failure: "subject ID 7, TIME 12.5 (row 40): ..." */
const char *sens_error(const SensWork *w);

#endif
