/*
 * idr.c -- the right-hand sides of bench/sim for R deSolve (compiled code,
 * deSolve's documented interface: an initialiser that receives the
 * parameter vector, and derivative functions of the odepack form).
 * run.sh builds it with `R CMD SHLIB` into build/bench-sim/.
 *
 * Parameters (parms in R, in this order): CL, V1, IC50 of the subject.
 * The rest are the constants of bench/sim/idr_2cmt.qlx.
 *
 * derivs:    depot, central, periph, dev  (2-cmt oral PK + IDR I, with
 *            R = R0 + dev, exactly the $DES of idr_2cmt.qlx)
 * derivs_pk: depot, central, periph       (the PK alone, pk_2cmt.qlx)
 */
#include <R.h>

static double parms[3];
#define CL   parms[0]
#define V1   parms[1]
#define IC50 parms[2]

static const double KA = 1.0, Q = 10.0, V2 = 100.0;
static const double KIN = 10.0, KOUT = 0.1, IMAX = 0.9;

void initmod(void (*odeparms)(int *, double *));
void derivs(int *neq, double *t, double *y, double *ydot, double *yout, int *ip);
void derivs_pk(int *neq, double *t, double *y, double *ydot, double *yout, int *ip);

void initmod(void (*odeparms)(int *, double *))
{
    int n = 3;
    odeparms(&n, parms);
}

void derivs_pk(int *neq, double *t, double *y, double *ydot, double *yout, int *ip)
{
    (void)neq; (void)t; (void)yout; (void)ip;
    ydot[0] = -KA * y[0];
    ydot[1] = KA * y[0] - (CL + Q) / V1 * y[1] + Q / V2 * y[2];
    ydot[2] = Q / V1 * y[1] - Q / V2 * y[2];
}

void derivs(int *neq, double *t, double *y, double *ydot, double *yout, int *ip)
{
    derivs_pk(neq, t, y, ydot, yout, ip);
    double c = y[1] / V1;
    double r0 = KIN / KOUT;
    ydot[3] = KIN * (1.0 - IMAX * c / (IC50 + c)) - KOUT * (r0 + y[3]);
}
