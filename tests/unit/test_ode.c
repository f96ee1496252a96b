/*
 * test_ode.c -- the CVODES wrapper against closed-form solutions.
 *
 * Models and their exact solutions (rate constants in 1/h):
 *
 * One compartment, y' = -k y:  y = y0 e^{-kt},  dy/dk = -t y0 e^{-kt}.
 *
 * Two compartments with first-order absorption (depot d, central c,
 * peripheral p):
 *     d' = -ka d
 *     c' =  ka d - (k10 + k12) c + k21 p
 *     p' =  k12 c - k21 p
 * In Laplace space, with d(0) = 1, c(0) = p(0) = 0 and
 * (s + alpha)(s + beta) = s^2 + (k10 + k12 + k21) s + k10 k21,
 *     C(s) = ka (s + k21) / ((s + ka)(s + alpha)(s + beta))
 *     P(s) = ka k12       / ((s + ka)(s + alpha)(s + beta))
 * and partial fractions (residue of N(s)/((s+a)(s+b)(s+c)) at -a is
 * N(-a)/((b-a)(c-a))) give the triexponential solution in two_cmt_oral().
 * Unit bolus into c or p gives the biexponential columns of e^{Kt}
 * (two_cmt_expm), used for the initial-state sensitivities.
 *
 * Parameter sensitivities of the closed form come from forward-mode dual
 * numbers run through the same formula (exact derivatives, no step size),
 * and are also checked against central differences of the ODE solution.
 *
 * Robertson's chemical kinetics problem is the stiff case; its reference
 * values at t = 40 are the published ones (Hairer & Wanner).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ode.h"

static int n_test, n_fail;

static int ok(int cond, const char *what)
{
    n_test++;
    if (!cond)
        n_fail++;
    printf("%s %d - %s\n", cond ? "ok" : "not ok", n_test, what);
    return cond;
}

/* |got - want| within rel of want, or within an absolute floor (values
 * that have decayed below the absolute tolerance cannot be relative). */
static int near(double got, double want, double rel, double floor_)
{
    return isfinite(got) && fabs(got - want) <= rel * fabs(want) + floor_;
}

/* Largest error of a check, for the diagnostic line of a failure. */
typedef struct {
    double worst;
    double at;
    int bad;
} Worst;

static void track(Worst *wo, double got, double want, double rel, double floor_, double t)
{
    double e = fabs(got - want) / (fabs(want) + floor_ / rel);
    if (!isfinite(got))
        e = INFINITY;
    if (e > wo->worst) {
        wo->worst = e;
        wo->at = t;
    }
    if (!near(got, want, rel, floor_))
        wo->bad++;
}

static int ok_worst(const Worst *wo, const char *what)
{
    if (wo->bad)
        printf("# %d values off; worst relative error %.3g at t = %g\n", wo->bad, wo->worst,
               wo->at);
    return ok(wo->bad == 0, what);
}

/* ---- dual numbers: exact derivatives of the closed forms ------------- */

typedef struct {
    double v, d;
} Dual;

static Dual dc(double v) { return (Dual){ v, 0.0 }; }
static Dual dadd(Dual a, Dual b) { return (Dual){ a.v + b.v, a.d + b.d }; }
static Dual dsub(Dual a, Dual b) { return (Dual){ a.v - b.v, a.d - b.d }; }
static Dual dmul(Dual a, Dual b) { return (Dual){ a.v * b.v, a.d * b.v + a.v * b.d }; }
static Dual ddiv(Dual a, Dual b)
{
    return (Dual){ a.v / b.v, (a.d * b.v - a.v * b.d) / (b.v * b.v) };
}
static Dual dexp(Dual a)
{
    double e = exp(a.v);
    return (Dual){ e, a.d * e };
}
static Dual dsqrt(Dual a)
{
    double s = sqrt(a.v);
    return (Dual){ s, a.d / (2 * s) };
}

/* The triexponential solution for a unit dose in the depot at t = 0;
 * p = (ka, k10, k12, k21). */
static void two_cmt_oral(const Dual p[4], double t, Dual a[3])
{
    Dual ka = p[0], k10 = p[1], k12 = p[2], k21 = p[3];
    Dual sum = dadd(dadd(k10, k12), k21);
    Dual disc = dsqrt(dsub(dmul(sum, sum), dmul(dc(4), dmul(k10, k21))));
    Dual al = dmul(dc(0.5), dadd(sum, disc));
    Dual be = dmul(dc(0.5), dsub(sum, disc));
    Dual mt = dc(-t);
    Dual ea = dexp(dmul(mt, al)), eb = dexp(dmul(mt, be)), ek = dexp(dmul(mt, ka));
    /* the three partial-fraction denominators */
    Dual ra = ddiv(ea, dmul(dsub(ka, al), dsub(be, al)));
    Dual rb = ddiv(eb, dmul(dsub(ka, be), dsub(al, be)));
    Dual rk = ddiv(ek, dmul(dsub(al, ka), dsub(be, ka)));
    a[0] = ek;
    a[1] = dmul(ka, dadd(dadd(dmul(dsub(k21, al), ra), dmul(dsub(k21, be), rb)),
                         dmul(dsub(k21, ka), rk)));
    a[2] = dmul(dmul(ka, k12), dadd(dadd(ra, rb), rk));
}

/* e^{Kt} of the two-compartment oral model, row-major 3 x 3: column j is
 * the solution for a unit amount in compartment j at t = 0. */
static void two_cmt_expm(const double p[4], double t, double E[9])
{
    double ka = p[0], k10 = p[1], k12 = p[2], k21 = p[3];
    Dual pd[4] = { dc(ka), dc(k10), dc(k12), dc(k21) }, a[3];
    double sum = k10 + k12 + k21, disc = sqrt(sum * sum - 4 * k10 * k21);
    double al = 0.5 * (sum + disc), be = 0.5 * (sum - disc);
    double ea = exp(-al * t), eb = exp(-be * t);
    two_cmt_oral(pd, t, a);
    E[0] = a[0].v, E[3] = a[1].v, E[6] = a[2].v;
    E[1] = 0, E[4] = ((k21 - al) * ea - (k21 - be) * eb) / (be - al);
    E[7] = k12 * (ea - eb) / (be - al);
    E[2] = 0, E[5] = k21 * (ea - eb) / (be - al);
    E[8] = ((k10 + k12 - al) * ea - (k10 + k12 - be) * eb) / (be - al);
}

/* ---- the systems ------------------------------------------------------ */

typedef struct {
    double k;
} One;

static int one_rhs(double t, const double *y, double *ydot, void *ctx)
{
    const One *m = ctx;
    (void)t;
    ydot[0] = -m->k * y[0];
    return 0;
}

static int one_jac(double t, const double *y, double *J, void *ctx)
{
    const One *m = ctx;
    (void)t, (void)y;
    J[0] = -m->k;
    return 0;
}

static int one_dfdp(double t, const double *y, double *P, void *ctx)
{
    (void)t, (void)ctx;
    P[0] = -y[0];
    return 0;
}

typedef struct {
    double p[4];   /* ka, k10, k12, k21 */
} Two;

static int two_rhs(double t, const double *y, double *ydot, void *ctx)
{
    const Two *m = ctx;
    double ka = m->p[0], k10 = m->p[1], k12 = m->p[2], k21 = m->p[3];
    (void)t;
    ydot[0] = -ka * y[0];
    ydot[1] = ka * y[0] - (k10 + k12) * y[1] + k21 * y[2];
    ydot[2] = k12 * y[1] - k21 * y[2];
    return 0;
}

static int two_jac(double t, const double *y, double *J, void *ctx)
{
    const Two *m = ctx;
    double ka = m->p[0], k10 = m->p[1], k12 = m->p[2], k21 = m->p[3];
    (void)t, (void)y;
    double K[9] = { -ka, 0, 0, ka, -(k10 + k12), k21, 0, k12, -k21 };
    memcpy(J, K, sizeof K);
    return 0;
}

/* P[i*4 + k] = d f_i / d p_k */
static int two_dfdp(double t, const double *y, double *P, void *ctx)
{
    (void)t, (void)ctx;
    double d = y[0], c = y[1], q = y[2];
    double D[12] = {
        -d, 0, 0, 0,
        d, -c, -c, q,
        0, 0, c, -q,
    };
    memcpy(P, D, sizeof D);
    return 0;
}

static const OdeSys one_sys = { 1, 0, one_rhs, one_jac, NULL };
static const OdeSys one_sens_sys = { 1, 1, one_rhs, one_jac, one_dfdp };
static const OdeSys two_sys = { 3, 0, two_rhs, two_jac, NULL };
static const OdeSys two_dq_sys = { 3, 0, two_rhs, NULL, NULL };
static const OdeSys two_sens_sys = { 3, 4, two_rhs, two_jac, two_dfdp };
static const OdeSys two_init_sys = { 3, 3, two_rhs, two_jac, NULL };

static const Two two_pk = { { 1.2, 0.15, 0.4, 0.25 } };
#define DOSE 100.0

static void two_closed(const double p[4], double t, double dose, double a[3])
{
    Dual pd[4] = { dc(p[0]), dc(p[1]), dc(p[2]), dc(p[3]) }, r[3];
    two_cmt_oral(pd, t, r);
    for (int i = 0; i < 3; i++)
        a[i] = dose * r[i].v;
}

/* S[i*4 + k] = d a_i / d p_k of the closed form */
static void two_closed_sens(const double p[4], double t, double dose, double S[12])
{
    for (int k = 0; k < 4; k++) {
        Dual pd[4] = { dc(p[0]), dc(p[1]), dc(p[2]), dc(p[3]) }, r[3];
        pd[k].d = 1.0;
        two_cmt_oral(pd, t, r);
        for (int i = 0; i < 3; i++)
            S[i * 4 + k] = dose * r[i].d;
    }
}

/* ---- accuracy --------------------------------------------------------- */

static void test_one_cmt(void)
{
    One m = { 0.3 };
    OdeOpts o = { 0, 0, 0, 0 };
    OdeWork *w = ode_new(&one_sys, &o);
    Worst wo = { 0, 0, 0 };
    int fails = 0;
    for (int i = 1; i <= 40; i++) {
        double t = 0.37 * i * i / 10, y = 50;
        fails += ode_advance(w, &m, 0, t, &y, NULL) != 0;
        track(&wo, y, 50 * exp(-m.k * t), 1e-6, 1e-9, t);
    }
    ok(w && fails == 0, "one compartment: 40 advances succeed");
    ok_worst(&wo, "one compartment, BDF: y0 e^{-kt} to 1e-6 at 40 times up to 59 h");
    ode_free(&w);
    ok(w == NULL, "ode_free sets the handle to NULL");
}

/* The 2-cmt oral model from 0 to each of 40 times up to 72 h. */
static void two_cmt_accuracy(const OdeSys *sys, int adams, const char *what)
{
    OdeOpts o = { 0, 0, adams, 0 };
    OdeWork *w = ode_new(sys, &o);
    Worst wo = { 0, 0, 0 };
    int fails = 0;
    char msg[200];
    if (!ok(w != NULL, "ode_new for the two-compartment model"))
        return;
    for (int i = 1; i <= 40; i++) {
        double t = 72.0 * i / 40 - 0.6 * (i % 3), y[3] = { DOSE, 0, 0 }, want[3];
        if (ode_advance(w, (void *)&two_pk, 0, t, y, NULL) != 0) {
            fails++;
            printf("# %s\n", ode_error(w));
        }
        two_closed(two_pk.p, t, DOSE, want);
        for (int j = 0; j < 3; j++)
            track(&wo, y[j], want[j], 1e-6, 1e-9, t);
    }
    snprintf(msg, sizeof msg, "two-compartment oral, %s: 40 advances succeed", what);
    ok(fails == 0, msg);
    snprintf(msg, sizeof msg,
             "two-compartment oral, %s: triexponential to 1e-6 (all states, 40 times)", what);
    ok_worst(&wo, msg);
    printf("# %s: %ld steps, %ld rhs evaluations for 40 integrations\n", what, ode_nsteps(w),
           ode_nrhs(w));
    ode_free(&w);
}

/* Doses every 12 h; samples between them.  Each dose restarts the
 * integrator; the answer is the superposition of the closed form. */
static void test_multiple_doses(void)
{
    OdeWork *w = ode_new(&two_sys, NULL);
    double y[3] = { 0, 0, 0 }, t = 0;
    Worst wo = { 0, 0, 0 };
    int fails = 0;
    for (int i = 0; i <= 40; i++) {
        double te = 1.7 * i;   /* samples: never on a dose time */
        /* doses at 0, 12, 24, 36 that come before this sample */
        for (double td = 12.0 * ceil(t / 12.0 + (i == 0 ? 0 : 1e-12)); td <= te && td <= 36;
             td += 12) {
            fails += ode_advance(w, (void *)&two_pk, t, td, y, NULL) != 0;
            y[0] += DOSE;
            t = td;
        }
        fails += ode_advance(w, (void *)&two_pk, t, te, y, NULL) != 0;
        t = te;
        double want[3] = { 0, 0, 0 }, a[3];
        for (double td = 0; td <= 36 && td <= te; td += 12) {
            two_closed(two_pk.p, te - td, DOSE, a);
            for (int j = 0; j < 3; j++)
                want[j] += a[j];
        }
        for (int j = 0; j < 3; j++)
            track(&wo, y[j], want[j], 1e-6, 1e-9, te);
    }
    ok(fails == 0, "four doses: every advance succeeds");
    ok_worst(&wo, "four doses 12 h apart, restarts at each: superposition to 1e-6");
    ode_free(&w);
}

/* One long advance against the same interval cut at 60 irregular event
 * times (with sensitivities, so their restart is checked too). */
static void test_split(void)
{
    OdeWork *w = ode_new(&two_sens_sys, NULL);
    double y1[3] = { DOSE, 0, 0 }, S1[12] = { 0 };
    double y2[3] = { DOSE, 0, 0 }, S2[12] = { 0 };
    int fails = ode_advance(w, (void *)&two_pk, 0, 48, y1, S1) != 0;
    double t = 0;
    for (int i = 1; i <= 60; i++) {
        double te = i == 60 ? 48 : 48.0 * (i + 0.3 * sin(7.0 * i)) / 60;
        fails += ode_advance(w, (void *)&two_pk, t, te, y2, S2) != 0;
        t = te;
    }
    double want[3];
    int same = 1;
    two_closed(two_pk.p, 48, DOSE, want);
    for (int j = 0; j < 3; j++)
        same &= near(y2[j], y1[j], 1e-6, 1e-9) && near(y2[j], want[j], 1e-6, 1e-9);
    ok(fails == 0 && same, "60 restarts equal one advance over 48 h and the closed form "
                           "(states, 1e-6)");
    same = 1;
    for (int m = 0; m < 12; m++)
        same &= near(S2[m], S1[m], 1e-6, 1e-8);
    ok(same, "60 restarts equal one advance (sensitivities, 1e-6)");
    ode_free(&w);
}

/* ---- stiffness -------------------------------------------------------- */

static int rob_rhs(double t, const double *y, double *ydot, void *ctx)
{
    (void)t, (void)ctx;
    ydot[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
    ydot[2] = 3e7 * y[1] * y[1];
    ydot[1] = -ydot[0] - ydot[2];
    return 0;
}

static int rob_jac(double t, const double *y, double *J, void *ctx)
{
    (void)t, (void)ctx;
    J[0] = -0.04, J[1] = 1e4 * y[2], J[2] = 1e4 * y[1];
    J[6] = 0, J[7] = 6e7 * y[1], J[8] = 0;
    for (int j = 0; j < 3; j++)
        J[3 + j] = -J[j] - J[6 + j];
    return 0;
}

static const OdeSys rob_sys = { 3, 0, rob_rhs, rob_jac, NULL };

static void test_stiff(void)
{
    OdeOpts o = { 1e-8, 1e-14, 0, 0 };
    OdeWork *w = ode_new(&rob_sys, &o);
    double y[3] = { 1, 0, 0 }, t = 0, y40[3] = { 0, 0, 0 };
    int fails = 0, conserved = 1;
    for (double te = 0.4; te <= 4.1e10; te *= 10) {
        fails += ode_advance(w, NULL, t, te, y, NULL) != 0;
        t = te;
        if (fabs(te - 40) < 1)
            memcpy(y40, y, sizeof y40);
        conserved &= fabs(y[0] + y[1] + y[2] - 1) < 1e-7;
    }
    ok(fails == 0, "Robertson, BDF: reaches t = 4e10");
    printf("# Robertson to 4e10: %ld steps, %ld rhs evaluations\n", ode_nsteps(w),
           ode_nrhs(w));
    ok(conserved, "Robertson: y1 + y2 + y3 = 1 to 1e-7 throughout");
    ok(near(y40[0], 0.7158270687193, 1e-6, 0) && near(y40[1], 9.185534764557e-6, 1e-5, 0) &&
           near(y40[2], 0.2841637457460, 1e-6, 0),
       "Robertson at t = 40 matches the reference solution");
    ok(ode_nsteps(w) < 5000, "Robertson: BDF needs few steps over 11 decades");
    ode_free(&w);

    /* Adams on the same problem runs into its stability limit: this is
     * also the step-limit test. */
    OdeOpts oa = { 1e-8, 1e-14, 1, 500 };
    w = ode_new(&rob_sys, &oa);
    double ya[3] = { 1, 0, 0 };
    int rc = ode_advance(w, NULL, 0, 4e5, ya, NULL);
    const char *e = ode_error(w);
    printf("# %s\n", e);
    ok(rc == -1, "Robertson with Adams and max_steps 500: fails");
    ok(strstr(e, "step limit (500 steps") && strstr(e, "CV_TOO_MUCH_WORK") &&
           strstr(e, "at t = ") && strstr(e, "to 400000"),
       "step-limit message names the limit, the time, the interval and the flag");
    ode_free(&w);
}

/* ---- sensitivities ----------------------------------------------------- */

static void test_sens_one(void)
{
    One m = { 0.3 };
    OdeWork *w = ode_new(&one_sens_sys, NULL);
    Worst wy = { 0, 0, 0 }, ws = { 0, 0, 0 };
    int fails = 0;
    for (int i = 1; i <= 30; i++) {
        double t = 0.8 * i, y = 50, S = 0;
        fails += ode_advance(w, &m, 0, t, &y, &S) != 0;
        track(&wy, y, 50 * exp(-m.k * t), 1e-6, 1e-9, t);
        track(&ws, S, -t * 50 * exp(-m.k * t), 1e-6, 1e-8, t);
    }
    ok(fails == 0, "one compartment with dy/dk: advances succeed");
    ok_worst(&wy, "one compartment with sensitivities: y still exact");
    ok_worst(&ws, "dy/dk = -t y0 e^{-kt} to 1e-6");
    ode_free(&w);
}

/* The ODE solution at tight tolerances, for central differences. */
static void two_solve_tight(const double p[4], double t, double a[3])
{
    OdeOpts o = { 1e-12, 1e-14, 0, 0 };
    OdeWork *w = ode_new(&two_sys, &o);
    Two m;
    memcpy(m.p, p, sizeof m.p);
    a[0] = DOSE, a[1] = a[2] = 0;
    if (ode_advance(w, &m, 0, t, a, NULL) != 0)
        a[0] = a[1] = a[2] = NAN;
    ode_free(&w);
}

static void test_sens_two(int adams, const char *what)
{
    OdeOpts o = { 0, 0, adams, 0 };
    OdeWork *w = ode_new(&two_sens_sys, &o);
    Worst wa = { 0, 0, 0 }, wf = { 0, 0, 0 };
    int fails = 0;
    char msg[200];
    for (int i = 1; i <= 12; i++) {
        double t = 2.0 * i - 0.3 * (i % 4), y[3] = { DOSE, 0, 0 }, S[12] = { 0 }, want[12];
        fails += ode_advance(w, (void *)&two_pk, 0, t, y, S) != 0;
        two_closed_sens(two_pk.p, t, DOSE, want);
        for (int m = 0; m < 12; m++)
            track(&wa, S[m], want[m], 1e-6, 1e-7, t);
        /* central differences of the ODE solution, h = 1e-4 p */
        if (i % 3 == 0 && !adams) {
            for (int k = 0; k < 4; k++) {
                double pp[4], pm[4], ap[3], am[3], h = 1e-4 * two_pk.p[k];
                memcpy(pp, two_pk.p, sizeof pp);
                memcpy(pm, two_pk.p, sizeof pm);
                pp[k] += h, pm[k] -= h;
                two_solve_tight(pp, t, ap);
                two_solve_tight(pm, t, am);
                for (int j = 0; j < 3; j++)
                    track(&wf, S[j * 4 + k], (ap[j] - am[j]) / (2 * h), 1e-5, 1e-6, t);
            }
        }
    }
    snprintf(msg, sizeof msg, "two-compartment sensitivities, %s: advances succeed", what);
    ok(fails == 0, msg);
    snprintf(msg, sizeof msg,
             "%s: dA/d(ka, k10, k12, k21) = exact derivative of the closed form to 1e-6",
             what);
    ok_worst(&wa, msg);
    if (!adams)
        ok_worst(&wf, "BDF: sensitivities = central differences of the solution to 1e-5");
    ode_free(&w);
}

/* np = n, dfdp NULL, S(t0) = I: S(t) = e^{Kt}. */
static void test_sens_initial(void)
{
    OdeWork *w = ode_new(&two_init_sys, NULL);
    Worst wo = { 0, 0, 0 };
    int fails = 0;
    for (int i = 1; i <= 20; i++) {
        double t = 1.5 * i, y[3] = { DOSE, 3, 7 }, E[9];
        double S[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
        fails += ode_advance(w, (void *)&two_pk, 0, t, y, S) != 0;
        two_cmt_expm(two_pk.p, t, E);
        for (int m = 0; m < 9; m++)
            track(&wo, S[m], E[m], 1e-6, 1e-10, t);
        /* and y(t) = e^{Kt} y(0): the bolus closed forms agree too */
        double y0[3] = { DOSE, 3, 7 };
        for (int r = 0; r < 3; r++)
            track(&wo, y[r], E[3 * r] * y0[0] + E[3 * r + 1] * y0[1] + E[3 * r + 2] * y0[2],
                  1e-6, 1e-9, t);
    }
    ok(fails == 0, "initial-state sensitivities: advances succeed");
    ok_worst(&wo, "S(0) = I, no df/dp: S(t) = e^{Kt} (bi/triexponential) to 1e-6");
    ode_free(&w);
}

/* ---- failures ----------------------------------------------------------- */

typedef struct {
    double tfail;   /* fail for t > tfail (>= when equal) */
    int rc;         /* status to return */
    int left;       /* recoverable: fail this many times, then succeed */
    int nan;        /* return NaN instead of a status */
} Bad;

static int bad_rhs(double t, const double *y, double *ydot, void *ctx)
{
    Bad *b = ctx;
    ydot[0] = -0.3 * y[0];
    if (t >= b->tfail) {
        if (b->nan) {
            ydot[0] = NAN;
            return 0;
        }
        if (b->left != 0) {
            if (b->left > 0)
                b->left--;
            return b->rc;
        }
    }
    return 0;
}

static int bad_jac(double t, const double *y, double *J, void *ctx)
{
    (void)t, (void)y, (void)ctx;
    J[0] = -0.3;
    return 0;
}

static const OdeSys bad_sys = { 1, 0, bad_rhs, bad_jac, NULL };

/* The number after the first "t = " in a message. */
static double msg_time(const char *e)
{
    const char *p = strstr(e, "t = ");
    return p ? strtod(p + 4, NULL) : NAN;
}

static void test_failures(void)
{
    OdeWork *w = ode_new(&bad_sys, NULL);
    double y = 1;
    Bad b = { 5.0, -1, -1, 0 };
    int rc = ode_advance(w, &b, 0, 10, &y, NULL);
    const char *e = ode_error(w);
    double tf = msg_time(e);
    printf("# %s\n", e);
    ok(rc == -1, "a right-hand side returning -1 makes ode_advance return -1");
    ok(strstr(e, "right-hand side failed (status -1)") && strstr(e, "CV_RHSFUNC_FAIL") &&
           tf >= 5.0 && tf < 10.0,
       "the message names the right-hand side, its status, the time and the flag");

    /* fails at the very first evaluation: the time is t0 itself */
    y = 1;
    rc = ode_advance(w, &b, 6.25, 8, &y, NULL);
    e = ode_error(w);
    printf("# %s\n", e);
    ok(rc == -1 && msg_time(e) == 6.25, "failure at the first evaluation names t0 = 6.25");

    /* the workspace is usable after a failure */
    y = 1;
    rc = ode_advance(w, &b, 0, 4, &y, NULL);
    ok(rc == 0 && near(y, exp(-1.2), 1e-7, 0), "the workspace works again after a failure");

    /* recoverable: three refusals beyond t = 2, then fine */
    Bad r = { 2.0, 1, 3, 0 };
    y = 1;
    rc = ode_advance(w, &r, 0, 10, &y, NULL);
    ok(rc == 0 && r.left == 0 && near(y, exp(-3.0), 1e-7, 0),
       "recoverable failures (status 1) are retried and the result is exact");

    /* NaN from the right-hand side: recoverable, then reported */
    Bad nb = { 5.0, 0, 0, 1 };
    y = 1;
    rc = ode_advance(w, &nb, 0, 10, &y, NULL);
    e = ode_error(w);
    printf("# %s\n", e);
    ok(rc == -1 && strstr(e, "right-hand side gave a non-finite value at t = 5"),
       "a non-finite right-hand side is reported with its time");

    y = NAN;
    ok(ode_advance(w, &b, 0, 1, &y, NULL) == -1 && strstr(ode_error(w), "not finite"),
       "a non-finite initial state is refused");
    ode_free(&w);
    ode_free(&w);   /* harmless on NULL */

    OdeSys no_jac = two_sens_sys;
    no_jac.jac = NULL;
    ok(ode_new(&no_jac, NULL) == NULL, "sensitivities without a Jacobian are refused");
    OdeSys empty = { 0, 0, one_rhs, NULL, NULL };
    ok(ode_new(&empty, NULL) == NULL, "n = 0 is refused");
}

/* ---- edges ------------------------------------------------------------ */

static void test_edges(void)
{
    One m = { 0.3 };
    OdeWork *w = ode_new(&one_sens_sys, NULL);
    double y = 5, S = 0.5;
    ok(ode_advance(w, &m, 3, 3, &y, &S) == 0 && y == 5 && S == 0.5 && ode_nsteps(w) == 0 &&
           ode_nrhs(w) == 0,
       "t1 == t0: returns at once, nothing changes, nothing evaluated");

    /* an interval of a few roundoffs (event times from arithmetic) */
    double t0 = 24.0, t1 = nextafter(nextafter(24.0, 25), 25);
    ok(ode_advance(w, &m, t0, t1, &y, &S) == 0 && near(y, 5, 1e-13, 0) &&
           near(S, 0.5, 1e-12, 0),
       "an interval of two ulps is taken without error");

    /* counters accumulate across restarts */
    y = 5, S = 0;
    ode_advance(w, &m, 0, 10, &y, &S);
    long n1 = ode_nsteps(w), r1 = ode_nrhs(w);
    y = 5, S = 0;
    ode_advance(w, &m, 0, 10, &y, &S);
    ok(n1 > 0 && ode_nsteps(w) == 2 * n1 && ode_nrhs(w) - r1 == r1 - 1,
       "step and rhs counts accumulate across restarts");
    ode_free(&w);

    /* backwards in time */
    w = ode_new(&one_sys, NULL);
    y = 1;
    ok(ode_advance(w, &m, 2, 0, &y, NULL) == 0 && near(y, exp(0.6), 1e-7, 0),
       "integrates backwards (t1 < t0)");
    ode_free(&w);
}

/* ---- threads: one workspace each, no shared state --------------------- */

typedef struct {
    Two m;
    int bad;
} Job;

static void *thread_main(void *arg)
{
    Job *j = arg;
    OdeWork *w = ode_new(&two_sens_sys, NULL);
    if (!w) {
        j->bad = 1;
        return NULL;
    }
    for (int i = 1; i <= 50; i++) {
        double t = 0.5 * i, y[3] = { DOSE, 0, 0 }, S[12] = { 0 }, want[3], ws[12];
        if (ode_advance(w, &j->m, 0, t, y, S) != 0) {
            j->bad++;
            continue;
        }
        two_closed(j->m.p, t, DOSE, want);
        two_closed_sens(j->m.p, t, DOSE, ws);
        for (int r = 0; r < 3; r++)
            j->bad += !near(y[r], want[r], 1e-6, 1e-9);
        for (int m = 0; m < 12; m++)
            j->bad += !near(S[m], ws[m], 1e-6, 1e-7);
    }
    ode_free(&w);
    return NULL;
}

static void test_threads(void)
{
    enum { NT = 4 };
    pthread_t th[NT];
    Job jobs[NT];
    int started = 0, bad = 0;
    for (int i = 0; i < NT; i++) {
        jobs[i].m = two_pk;
        jobs[i].m.p[0] *= 1 + 0.2 * i;   /* each thread its own subject */
        jobs[i].bad = 0;
        if (pthread_create(&th[i], NULL, thread_main, &jobs[i]) == 0)
            started++;
        else
            jobs[i].bad = 1;
    }
    for (int i = 0; i < NT; i++) {
        if (i < started)
            pthread_join(th[i], NULL);
        bad += jobs[i].bad;
    }
    ok(started == NT && bad == 0, "4 threads, one workspace each: all results exact");
}

/* ---- micro-benchmark (printed, not asserted) -------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void bench(const OdeSys *sys, const char *what)
{
    OdeWork *w = ode_new(sys, NULL);
    enum { N = 1000 };
    double S[12], sum = 0;
    double t0 = now();
    for (int i = 0; i < N; i++) {
        Two m = two_pk;
        m.p[0] *= 1 + 0.0005 * i;
        double y[3] = { DOSE, 0, 0 };
        memset(S, 0, sizeof S);
        if (ode_advance(w, &m, 0, 24, y, sys->np ? S : NULL) != 0)
            break;
        sum += y[1];
    }
    double dt = now() - t0;
    printf("# bench: %s: %.0f subjects/s (1000 advances over 24 h; %.1f steps, %.1f rhs "
           "each; checksum %.6g)\n",
           what, N / dt, (double)ode_nsteps(w) / N, (double)ode_nrhs(w) / N, sum);
    ode_free(&w);
}

int main(void)
{
    test_one_cmt();
    two_cmt_accuracy(&two_sys, 0, "BDF");
    two_cmt_accuracy(&two_sys, 1, "Adams");
    two_cmt_accuracy(&two_dq_sys, 0, "BDF with a difference-quotient Jacobian");
    test_multiple_doses();
    test_split();
    test_stiff();
    test_sens_one();
    test_sens_two(0, "BDF");
    test_sens_two(1, "Adams");
    test_sens_initial();
    test_failures();
    test_edges();
    test_threads();
    bench(&two_sys, "2-cmt oral, BDF");
    bench(&two_sens_sys, "2-cmt oral, BDF + 4 sensitivities");
    printf("# %d tests, %d failed\n", n_test, n_fail);
    return n_fail ? 1 : 0;
}
