/*
 * linpk.h -- exact solutions of linear compartment models.
 *
 * When the model's $DES is affine in the amounts with coefficients that
 * do not change between events (dA/dt = K A + b, K and b from the
 * individual parameters and any zero-order infusion rates), the solution
 * over dt is exact: A(t + dt) = e^{K dt} A(t) + (integral of e^{K s} ds) b.
 * Both terms come from one matrix exponential of the augmented matrix
 * [[K, b], [0, 0]] (Van Loan), computed by scaling and squaring with a
 * Pade approximant and LAPACK's dgesv, which stays exact where the
 * textbook formulas divide by zero (ka == ke).  This is Qlynix's
 * "closed-form" path for one-, two- and three-compartment models, and for
 * any other linear system the user writes.
 *
 * A step is also an affine map a -> M a + c, so a dosing interval is the
 * composition of its steps, and the periodic steady state is the
 * solution of (I - M) a = c (lin_fixed_point): solved for, not simulated.
 *
 * Ownership: lin_new() allocates the scratch for systems of up to n
 * states; lin_free() frees it.  Nothing allocates after lin_new().
 */
#ifndef QLX_LINPK_H
#define QLX_LINPK_H

typedef struct LinWork LinWork;

LinWork *lin_new(int n);
void     lin_free(LinWork **w);

/* E = e^{A} for an n x n row-major A (n <= the workspace's n).
 * Returns 0, or -1 when A is not finite. */
int lin_expm(LinWork *w, int n, const double *A, double *E);

/* Advance a (n) over dt under dA/dt = K A + b (K row-major n x n, b n;
 * b may be NULL for 0).  Returns 0, or -1 on non-finite input. */
int lin_advance(LinWork *w, int n, const double *K, const double *b, double dt, double *a);

/* The same step as an affine map: a(t + dt) = M a(t) + c. */
int lin_step_map(LinWork *w, int n, const double *K, const double *b, double dt,
                 double *M, double *c);

/* The a with a = M a + c: (I - M) a = c.  Returns 0, or -1 when I - M is
 * singular (no unique steady state, e.g. a compartment that never
 * empties). */
int lin_fixed_point(LinWork *w, int n, const double *M, const double *c, double *a);

#endif
