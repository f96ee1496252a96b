/*
 * la.c -- small dense linear algebra (see la.h).
 *
 * Cholesky, A = L L', is the one factorisation needed: every matrix here
 * is a covariance, and a failed factorisation is how a matrix that is not
 * positive definite is recognised.
 */
#include "la.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Lower Cholesky factor L of the n x n A (row-major, lower part read).
 * Returns 0, or -1 when A is not positive definite. */
int la_cholesky(int n, const double *A, double *L)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double s = A[i * n + j];
            for (int k = 0; k < j; k++)
                s -= L[i * n + k] * L[j * n + k];
            if (i == j) {
                if (!(s > 0))
                    return -1;
                L[i * n + i] = sqrt(s);
            } else {
                L[i * n + j] = s / L[j * n + j];
            }
        }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            L[i * n + j] = 0;
    return 0;
}

int la_cholesky_psd(int n, const double *A, double *L)
{
    /* a zero diagonal (a variance FIX at 0) is a zero row and column of
     * A; elsewhere the factor is la_cholesky's */
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double s = A[i * n + j];
            for (int k = 0; k < j; k++)
                s -= L[i * n + k] * L[j * n + k];
            if (i == j) {
                if (A[i * n + i] == 0) {
                    L[i * n + i] = 0;
                    continue;
                }
                if (!(s > 0))
                    return -1;
                L[i * n + i] = sqrt(s);
            } else {
                L[i * n + j] = L[j * n + j] > 0 ? s / L[j * n + j] : 0;
            }
        }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            L[i * n + j] = 0;
    for (int i = 0; i < n; i++)   /* a zero variance has no covariances */
        if (A[i * n + i] == 0)
            for (int k = 0; k < n; k++)
                if (A[i * n + k] != 0 || A[k * n + i] != 0)
                    return -1;
    return 0;
}

double la_chol_logdet(int n, const double *L)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += 2 * log(L[i * n + i]);
    return s;
}

/* x <- A^-1 b, with A = L L'. */
void la_chol_solve(int n, const double *L, double *x)
{
    for (int i = 0; i < n; i++) {
        double s = x[i];
        for (int k = 0; k < i; k++)
            s -= L[i * n + k] * x[k];
        x[i] = s / L[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = x[i];
        for (int k = i + 1; k < n; k++)
            s -= L[k * n + i] * x[k];
        x[i] = s / L[i * n + i];
    }
}

/* The inverse of an n x n SPD matrix by Cholesky; -1 if not SPD. */
int la_spd_inverse(int n, const double *A, double *inv, double *L)
{
    if (la_cholesky(n, A, L) != 0)
        return -1;
    double *col = inv + (size_t)n * (size_t)n;   /* n extra doubles */
    for (int i = 0; i < n; i++) {
        memset(col, 0, sizeof *col * (size_t)n);
        col[i] = 1;
        la_chol_solve(n, L, col);
        for (int j = 0; j < n; j++)
            inv[j * n + i] = col[j];
    }
    return 0;
}

void la_matmul(int n, const double *A, const double *B, double *C)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += A[i * n + k] * B[k * n + j];
            C[i * n + j] = s;
        }
}
