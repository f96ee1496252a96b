/*
 * la.h -- small dense linear algebra: Cholesky and what it gives.
 *
 * For the matrices of a model: OMEGA and SIGMA blocks, a subject's
 * observation covariance, the covariance step's R and S (tens of rows at
 * most).  Row-major n x n arrays; nothing allocates.  The larger systems
 * of the exact linear path go through LAPACK in linpk.c.
 */
#ifndef QLX_LA_H
#define QLX_LA_H

/* Lower Cholesky factor L of A (its lower triangle is read); the upper
 * triangle of L is zeroed.  0, or -1 when A is not positive definite. */
int    la_cholesky(int n, const double *A, double *L);
/* The same for a covariance whose zero variances (FIX at 0: no
 * variability in that direction) give zero rows of L; -1 when A is not
 * positive semi-definite in that sense. */
int    la_cholesky_psd(int n, const double *A, double *L);
/* log|A| from its factor. */
double la_chol_logdet(int n, const double *L);
/* x <- A^-1 x, with A = L L'. */
void   la_chol_solve(int n, const double *L, double *x);
/* inv <- A^-1 for a positive definite A; inv has n*n + n doubles (the last
 * n are scratch), L n*n.  0, or -1 when A is not positive definite. */
int    la_spd_inverse(int n, const double *A, double *inv, double *L);
/* C <- A B. */
void   la_matmul(int n, const double *A, const double *B, double *C);

#endif
