/*
 * test_linpk.c -- linpk.c against closed forms derived here.
 *
 * Prints one TAP line per check ("ok N - ..." / "not ok N - ...") and
 * exits 1 if any failed.  Each check reports the largest relative error
 * it saw.  The references are the textbook solutions, written
 * independently of linpk.c (Laplace transforms and partial fractions):
 *
 *   1-cmt     bolus, infusion (during and after), first-order absorption
 *             (Bateman, the ka == k limit, and ka within 1e-6 of k through
 *             a cancellation-free form);
 *   2-cmt     bolus (alpha, beta), infusion, oral (three exponentials);
 *   3-cmt     bolus, eigenvalues as roots of the characteristic cubic
 *             (trigonometric formula, polished by Newton in long double);
 *   doses     superposition of unit responses vs repeated lin_advance;
 *   steady    lin_step_map + lin_fixed_point vs closed-form accumulation
 *             (bolus, oral, infusion shorter than the interval) and vs the
 *             200th dose of repeated dosing;
 *   affine    indirect-response turnover dR/dt = kin - kout R;
 *   transit   chains of 10 and 40 compartments (Erlang densities; the
 *             dgemm, dgesv and LAPACK steady-state paths);
 *   expm      Taylor series in long double for small norms (every Pade
 *             degree, orders 2..12), rotations (cos, sin), nilpotent and
 *             Jordan blocks;
 *   errors    singular steady states, non-finite input, overflow, dt == 0;
 *   cache     remembered steps equal fresh ones bit for bit.
 *
 * Micro-benchmark lines (lin_advance calls per second, n = 2, 3, 4, with
 * every step new and with a regimen's repeating steps) are printed as
 * comments and not checked.
 *
 * Random numbers come from a local splitmix64 with a fixed seed.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linpk.h"

#define TOL 1e-10  /* relative; the issue asks for 1e-6 */

#include "tap.h"

/* Relative error of x against the reference r (absolute below 1e-300). */
static double rel(double x, double r)
{
    double d = fabs(x - r), s = fabs(r);
    if (isnan(x) || isnan(r))
        return INFINITY;
    return s > 1e-300 ? d / s : d;
}

/* Worst error of a group of comparisons. */
typedef struct {
    double worst;
} Err;

static void see(Err *e, double x, double r)
{
    double d = rel(x, r);
    if (!(d <= e->worst))
        e->worst = d;
}

static void verdict(const Err *e, double tol, const char *what)
{
    ok(e->worst <= tol, "%s (max rel err %.1e)", what, e->worst);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double urand(void)  /* splitmix64, uniform in [0, 1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* ---- models --------------------------------------------------------------- */

/* Two compartments, central 0 and peripheral 1. */
static void k_2cmt(double k10, double k12, double k21, double *K)
{
    K[0] = -(k10 + k12); K[1] = k21;
    K[2] = k12;          K[3] = -k21;
}

/* Depot 0 -> central 1 <-> peripheral 2. */
static void k_2cmt_oral(double ka, double k10, double k12, double k21, double *K)
{
    memset(K, 0, 9 * sizeof *K);
    K[0] = -ka;
    K[3] = ka; K[4] = -(k10 + k12); K[5] = k21;
    K[7] = k12; K[8] = -k21;
}

/* alpha >= beta, the roots of s^2 - (k10+k12+k21) s + k10 k21; beta from
 * the product of the roots, which has no cancellation. */
static void ab_2cmt(double k10, double k12, double k21, double *al, double *be)
{
    double s = k10 + k12 + k21;
    *al = 0.5 * (s + sqrt(s * s - 4.0 * k10 * k21));
    *be = k10 * k21 / *al;
}

/* Unit bolus response of the 2-cmt central and peripheral amounts:
 * A1(s) = (s + k21)/((s + a)(s + b)), A2(s) = k12/((s + a)(s + b)). */
static void resp_2cmt(double k10, double k12, double k21, double t, double *a1, double *a2)
{
    double al, be;
    ab_2cmt(k10, k12, k21, &al, &be);
    *a1 = ((al - k21) * exp(-al * t) + (k21 - be) * exp(-be * t)) / (al - be);
    *a2 = k12 * (exp(-be * t) - exp(-al * t)) / (al - be);
}

/* ---- one compartment ---------------------------------------------------- */

static void t_onecmt(LinWork *w)
{
    const double D = 100, V = 12.5, k = 0.173, R = 40, Tinf = 2.5;
    double ts[] = { 0.01, 0.5, 1, 2.5, 6, 12, 24, 48 };
    int nt = (int)(sizeof ts / sizeof *ts);
    Err e = { 0 };

    /* IV bolus: C = D/V e^{-kt}, advancing from 0 each time and also in
     * consecutive steps. */
    double K[1] = { -k }, a = D, ac = D, tprev = 0;
    int rc = 0;
    for (int i = 0; i < nt; i++) {
        a = D;
        rc |= lin_advance(w, 1, K, NULL, ts[i], &a);
        see(&e, a / V, D / V * exp(-k * ts[i]));
        rc |= lin_advance(w, 1, K, NULL, ts[i] - tprev, &ac);
        tprev = ts[i];
        see(&e, ac / V, D / V * exp(-k * ts[i]));
    }
    ok(rc == 0, "1-cmt bolus: lin_advance succeeds");
    verdict(&e, TOL, "1-cmt IV bolus C = D/V e^{-kt}");

    /* Infusion R over Tinf: A = R/k (1 - e^{-kt}), then decay. */
    e.worst = 0;
    double b[1] = { R };
    for (int i = 0; i < nt; i++) {
        double t = ts[i], ref;
        a = 0;
        if (t <= Tinf) {
            lin_advance(w, 1, K, b, t, &a);
            ref = R / k * -expm1(-k * t);  /* 1 - e^{-kt} without cancellation */
        } else {
            lin_advance(w, 1, K, b, Tinf, &a);
            lin_advance(w, 1, K, NULL, t - Tinf, &a);
            ref = R / k * -expm1(-k * Tinf) * exp(-k * (t - Tinf));
        }
        see(&e, a / V, ref / V);
    }
    verdict(&e, TOL, "1-cmt infusion R/k (1 - e^{-kt}), then decay");

    /* The same infusion with an uncoupled second state, so that it goes
     * through the augmented Pade path rather than the scalar one. */
    e.worst = 0;
    double K2[4] = { -k, 0, 0, -0.05 }, b2[2] = { R, 0 };
    for (int i = 0; i < nt; i++) {
        double t = ts[i], a2[2] = { 0, 3 };
        double tin = t < Tinf ? t : Tinf;
        lin_advance(w, 2, K2, b2, tin, a2);
        lin_advance(w, 2, K2, NULL, t - tin, a2);
        see(&e, a2[0], R / k * -expm1(-k * tin) * exp(-k * (t - tin)));
        see(&e, a2[1], 3 * exp(-0.05 * t));
    }
    verdict(&e, TOL, "1-cmt infusion through the augmented (n+1) path");
}

static void t_oral(LinWork *w)
{
    const double D = 320, F = 0.85, V = 30, ka = 1.5, k = 0.1;
    double ts[] = { 0.05, 0.5, 1, 2, 4, 8, 12, 24, 36 };
    int nt = (int)(sizeof ts / sizeof *ts);
    Err e = { 0 };

    double K[4] = { -ka, 0, ka, -k };
    for (int i = 0; i < nt; i++) {
        double t = ts[i], a[2] = { F * D, 0 };
        lin_advance(w, 2, K, NULL, t, a);
        see(&e, a[1] / V, F * D * ka / (V * (ka - k)) * (exp(-k * t) - exp(-ka * t)));
        see(&e, a[0], F * D * exp(-ka * t));
    }
    verdict(&e, TOL, "1-cmt oral, Bateman F D ka/(V(ka-k)) (e^{-kt} - e^{-ka t})");

    /* ka == k: the Bateman formula is 0/0; the limit is F D k t e^{-kt}. */
    e.worst = 0;
    double Kq[4] = { -k, 0, k, -k };
    for (int i = 0; i < nt; i++) {
        double t = ts[i], a[2] = { F * D, 0 };
        lin_advance(w, 2, Kq, NULL, t, a);
        see(&e, a[1] / V, F * D / V * k * t * exp(-k * t));
    }
    verdict(&e, TOL, "1-cmt oral, ka == k limit F D/V k t e^{-kt}");

    /* ka = k (1 + 1e-6): e^{-kt} - e^{-ka t} = -e^{-kt} expm1(-(ka - k) t)
     * has no cancellation; the textbook form loses ~6 digits here. */
    e.worst = 0;
    double ka2 = k * (1 + 1e-6), Kn[4] = { -ka2, 0, ka2, -k };
    for (int i = 0; i < nt; i++) {
        double t = ts[i], a[2] = { F * D, 0 };
        lin_advance(w, 2, Kn, NULL, t, a);
        double ref = F * D * ka2 / (V * (ka2 - k)) * -exp(-k * t) * expm1(-(ka2 - k) * t);
        see(&e, a[1] / V, ref);
    }
    verdict(&e, TOL, "1-cmt oral, ka = k (1 + 1e-6) vs cancellation-free Bateman");

    /* Fast absorption over long steps: ka dt up to 250000, so up to 16
     * squarings, each of which doubles the relative error of the slow
     * mode (the worst case seen is ~5e-12). */
    e.worst = 0;
    double kfs[] = { 50, 500 }, tl[] = { 0.02, 0.3, 3, 24, 240, 500 };
    for (int j = 0; j < 2; j++) {
        double kf = kfs[j], Kf[4] = { -kf, 0, kf, -k };
        for (int i = 0; i < 6; i++) {
            double t = tl[i], a[2] = { D, 0 };
            lin_advance(w, 2, Kf, NULL, t, a);
            see(&e, a[1], D * kf / (kf - k) * (exp(-k * t) - exp(-kf * t)));
        }
    }
    verdict(&e, TOL, "1-cmt oral, ka = 50 and 500/h, steps up to 500 h");
}

/* ---- two and three compartments ----------------------------------------- */

static void t_twocmt(LinWork *w)
{
    const double k10 = 0.15, k12 = 0.6, k21 = 0.25, D = 500, V = 20;
    double ts[] = { 0.1, 0.5, 1, 3, 8, 12, 24, 48, 96 };
    int nt = (int)(sizeof ts / sizeof *ts);
    double K[4];
    Err e = { 0 };

    k_2cmt(k10, k12, k21, K);
    for (int i = 0; i < nt; i++) {
        double a[2] = { D, 0 }, r1, r2;
        lin_advance(w, 2, K, NULL, ts[i], a);
        resp_2cmt(k10, k12, k21, ts[i], &r1, &r2);
        see(&e, a[0] / V, D * r1 / V);
        see(&e, a[1], D * r2);
    }
    verdict(&e, TOL, "2-cmt IV bolus, biexponential (alpha, beta)");

    /* Infusion: the unit response integrated,
     * A1 = R sum C_i (1 - e^{-l_i t})/l_i, then each term decays. */
    e.worst = 0;
    double al, be, R = 75, Tinf = 1.5, b[2] = { R, 0 };
    ab_2cmt(k10, k12, k21, &al, &be);
    double Ca = (al - k21) / (al - be), Cb = (k21 - be) / (al - be);
    for (int i = 0; i < nt; i++) {
        double t = ts[i], tin = t < Tinf ? t : Tinf, a[2] = { 0, 0 };
        lin_advance(w, 2, K, b, tin, a);
        lin_advance(w, 2, K, NULL, t - tin, a);
        double ref = R * (Ca * (-expm1(-al * tin)) / al * exp(-al * (t - tin)) +
                          Cb * (-expm1(-be * tin)) / be * exp(-be * (t - tin)));
        see(&e, a[0], ref);
    }
    verdict(&e, TOL, "2-cmt infusion, during and after");

    /* Oral: A_c(s) = F D ka (s + k21)/((s + ka)(s + a)(s + b)). */
    e.worst = 0;
    const double ka = 0.9, F = 0.7;
    double Ko[9];
    k_2cmt_oral(ka, k10, k12, k21, Ko);
    for (int i = 0; i < nt; i++) {
        double t = ts[i], a[3] = { F * D, 0, 0 };
        lin_advance(w, 3, Ko, NULL, t, a);
        double ref = F * D * ka *
                     ((k21 - al) / ((ka - al) * (be - al)) * exp(-al * t) +
                      (k21 - be) / ((ka - be) * (al - be)) * exp(-be * t) +
                      (k21 - ka) / ((al - ka) * (be - ka)) * exp(-ka * t));
        see(&e, a[1] / V, ref / V);
    }
    verdict(&e, TOL, "2-cmt oral, triexponential");
}

/* Roots l1 > l2 > l3 > 0 of l^3 - a2 l^2 + a1 l - a0 (the eigenvalues of
 * -K): Viete's trigonometric form, then Newton in long double. */
static void cubic_roots(double a2, double a1, double a0, long double *l)
{
    /* l = y + a2/3: y^3 + p y + q = 0 */
    double p = a1 - a2 * a2 / 3, q = -2 * a2 * a2 * a2 / 27 + a2 * a1 / 3 - a0;
    double r = 2 * sqrt(-p / 3), phi = acos(3 * q / (p * r)) / 3;
    for (int i = 0; i < 3; i++) {
        long double x = r * cos(phi - 2 * acos(-1.0) * i / 3) + a2 / 3;
        for (int it = 0; it < 8; it++) {
            long double f = ((x - a2) * x + a1) * x - a0;
            long double df = (3 * x - 2 * a2) * x + a1;
            x -= f / df;
        }
        l[i] = x;
    }
}

static void t_threecmt(LinWork *w)
{
    const double k10 = 0.2, k12 = 0.5, k21 = 0.3, k13 = 0.1, k31 = 0.02, D = 1000;
    double K[9] = { -(k10 + k12 + k13), k21, k31, k12, -k21, 0, k13, 0, -k31 };
    /* det(sI - K) = (s + k21)(s + k31)(s + k10 + k12 + k13)
     *               - k12 k21 (s + k31) - k13 k31 (s + k21), roots -l_i */
    double a2 = k10 + k12 + k13 + k21 + k31;
    double a1 = k10 * k21 + k10 * k31 + k12 * k31 + k13 * k21 + k21 * k31;
    double a0 = k10 * k21 * k31;
    long double l[3];
    cubic_roots(a2, a1, a0, l);
    double ts[] = { 0.1, 1, 4, 12, 24, 72, 168 };
    Err e = { 0 };
    for (int i = 0; i < 7; i++) {
        double t = ts[i], a[3] = { D, 0, 0 };
        lin_advance(w, 3, K, NULL, t, a);
        /* A1(s) = D (s+k21)(s+k31)/prod(s+l), A2(s) = D k12 (s+k31)/prod,
         * A3(s) = D k13 (s+k21)/prod: residues at s = -l_i. */
        long double r1 = 0, r2 = 0, r3 = 0;
        for (int j = 0; j < 3; j++) {
            long double den = 1, ex = expl(-l[j] * t);
            for (int m = 0; m < 3; m++)
                if (m != j)
                    den *= l[m] - l[j];
            r1 += (k21 - l[j]) * (k31 - l[j]) / den * ex;
            r2 += k12 * (k31 - l[j]) / den * ex;
            r3 += k13 * (k21 - l[j]) / den * ex;
        }
        see(&e, a[0], (double)(D * r1));
        see(&e, a[1], (double)(D * r2));
        see(&e, a[2], (double)(D * r3));
    }
    verdict(&e, TOL, "3-cmt IV bolus, eigenvalues from the cubic, all compartments");
}

/* ---- multiple doses --------------------------------------------------- */

static void t_multidose(LinWork *w)
{
    /* 2-cmt oral, irregular doses, observations between them: repeated
     * lin_advance from event to event vs the sum of unit responses. */
    const double ka = 1.1, k10 = 0.12, k12 = 0.4, k21 = 0.2;
    double dose_t[] = { 0, 7.5, 12, 30 }, dose_a[] = { 100, 50, 200, 80 };
    double obs_t[] = { 1, 7.5, 9, 12, 20, 30, 31, 55 };
    double K[9], al, be;
    k_2cmt_oral(ka, k10, k12, k21, K);
    ab_2cmt(k10, k12, k21, &al, &be);
    Err e = { 0 };

    double a[3] = { 0, 0, 0 }, t = 0;
    int id = 0;
    for (int io = 0; io < 8; io++) {
        /* events up to and including this time, doses first */
        while (id < 4 && dose_t[id] <= obs_t[io]) {
            lin_advance(w, 3, K, NULL, dose_t[id] - t, a);
            t = dose_t[id];
            a[0] += dose_a[id++];
        }
        lin_advance(w, 3, K, NULL, obs_t[io] - t, a);
        t = obs_t[io];
        double ref = 0;
        for (int j = 0; j < id; j++) {
            double s = t - dose_t[j];
            ref += dose_a[j] * ka *
                   ((k21 - al) / ((ka - al) * (be - al)) * exp(-al * s) +
                    (k21 - be) / ((ka - be) * (al - be)) * exp(-be * s) +
                    (k21 - ka) / ((al - ka) * (be - ka)) * exp(-ka * s));
        }
        see(&e, a[1], ref);
    }
    verdict(&e, TOL, "multiple doses: repeated lin_advance == superposition");
}

/* ---- steady state ------------------------------------------------------- */

/* One dosing interval as an affine map: dose d at its start, then the
 * step (M, c): a -> M (a + d) + c = M a + (M d + c). */
static void dose_then(int n, const double *M, double *c, const double *d)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            c[i] += M[i * n + j] * d[j];
}

static void t_steady(LinWork *w)
{
    Err e = { 0 };
    /* 1-cmt bolus: trough D e^{-k tau}/(1 - e^{-k tau}), peak D/(1 - ...). */
    {
        const double D = 100, V = 10, k = 0.1, tau = 12;
        double K[1] = { -k }, M[1], c[1], d[1] = { D }, a[1];
        int rc = lin_step_map(w, 1, K, NULL, tau, M, c);
        dose_then(1, M, c, d);
        rc |= lin_fixed_point(w, 1, M, c, a);
        double f = -expm1(-k * tau);
        see(&e, a[0] / V, D / V * exp(-k * tau) / f);
        see(&e, (a[0] + D) / V, D / V / f);
        /* and mid-interval, C_ss(t) = D/V e^{-kt}/(1 - e^{-k tau}) */
        double am[1] = { a[0] + D };
        rc |= lin_advance(w, 1, K, NULL, 5, am);
        see(&e, am[0] / V, D / V * exp(-k * 5) / f);
        /* the 200th dose */
        double r[1] = { 0 };
        for (int i = 0; i < 200; i++) {
            r[0] += D;
            rc |= lin_advance(w, 1, K, NULL, tau, r);
        }
        see(&e, r[0], a[0]);
        ok(rc == 0, "1-cmt bolus steady state: calls succeed");
        verdict(&e, TOL, "1-cmt bolus SS trough/peak/mid == closed form == dose 200");
    }
    /* 2-cmt bolus: each exponential accumulates by 1/(1 - e^{-l tau}). */
    {
        const double D = 250, k10 = 0.15, k12 = 0.6, k21 = 0.25, tau = 8;
        double K[4], M[4], c[2], d[2] = { D, 0 }, a[2], al, be;
        k_2cmt(k10, k12, k21, K);
        ab_2cmt(k10, k12, k21, &al, &be);
        e.worst = 0;
        int rc = lin_step_map(w, 2, K, NULL, tau, M, c);
        dose_then(2, M, c, d);
        rc |= lin_fixed_point(w, 2, M, c, a);
        double fa = -expm1(-al * tau), fb = -expm1(-be * tau);
        double tr = D * ((al - k21) * exp(-al * tau) / fa + (k21 - be) * exp(-be * tau) / fb) /
                    (al - be);
        double tp = D * k12 * (exp(-be * tau) / fb - exp(-al * tau) / fa) / (al - be);
        see(&e, a[0], tr);
        see(&e, a[1], tp);
        double r[2] = { 0, 0 };
        for (int i = 0; i < 200; i++) {
            r[0] += D;
            rc |= lin_advance(w, 2, K, NULL, tau, r);
        }
        see(&e, r[0], a[0]);
        see(&e, r[1], a[1]);
        ok(rc == 0, "2-cmt bolus steady state: calls succeed");
        verdict(&e, TOL, "2-cmt bolus SS trough, both compartments == closed form == dose 200");
    }
    /* 1-cmt oral: Bateman with each exponential accumulated. */
    {
        const double D = 400, F = 0.9, ka = 1.2, k = 0.08, tau = 24;
        double K[4] = { -ka, 0, ka, -k }, M[4], c[2], d[2] = { F * D, 0 }, a[2];
        e.worst = 0;
        int rc = lin_step_map(w, 2, K, NULL, tau, M, c);
        dose_then(2, M, c, d);
        rc |= lin_fixed_point(w, 2, M, c, a);
        double A = F * D * ka / (ka - k);
        double ts[] = { 0.5, 2, 6, 24 };
        for (int i = 0; i < 4; i++) {
            double t = ts[i], s[2] = { a[0] + d[0], a[1] };
            rc |= lin_advance(w, 2, K, NULL, t, s);
            see(&e, s[1], A * (exp(-k * t) / -expm1(-k * tau) - exp(-ka * t) / -expm1(-ka * tau)));
        }
        double r[2] = { 0, 0 };
        for (int i = 0; i < 200; i++) {
            r[0] += F * D;
            rc |= lin_advance(w, 2, K, NULL, tau, r);
        }
        see(&e, r[1], a[1]);
        ok(rc == 0, "1-cmt oral steady state: calls succeed");
        verdict(&e, TOL, "1-cmt oral SS (two accumulation factors) == closed form == dose 200");
    }
    /* Infusion shorter than tau: on-step then off-step, composed. */
    {
        const double R = 50, Tinf = 2, tau = 12, k = 0.2;
        double K[1] = { -k }, b[1] = { R }, M1[1], c1[1], M2[1], c2[1], M[1], c[1], a[1];
        e.worst = 0;
        int rc = lin_step_map(w, 1, K, b, Tinf, M1, c1);
        rc |= lin_step_map(w, 1, K, NULL, tau - Tinf, M2, c2);
        M[0] = M2[0] * M1[0];
        c[0] = M2[0] * c1[0] + c2[0];
        rc |= lin_fixed_point(w, 1, M, c, a);
        double aend = R / k * -expm1(-k * Tinf) / -expm1(-k * tau);
        see(&e, a[0], aend * exp(-k * (tau - Tinf)));
        double r[1] = { 0 };
        for (int i = 0; i < 200; i++) {
            rc |= lin_advance(w, 1, K, b, Tinf, r);
            if (i == 199)
                see(&e, r[0], aend);
            rc |= lin_advance(w, 1, K, NULL, tau - Tinf, r);
        }
        see(&e, r[0], a[0]);
        ok(rc == 0, "1-cmt infusion steady state: calls succeed");
        verdict(&e, TOL, "1-cmt infusion (Tinf < tau) SS: on/off maps composed, end and trough");
    }
    /* The same for 2 compartments (augmented Pade path):
     * A1 at the end of the infusion = R sum C_l (1 - e^{-l T})/l/(1 - e^{-l tau}). */
    {
        const double k10 = 0.15, k12 = 0.6, k21 = 0.25, R = 80, Tinf = 3, tau = 12;
        double K[4], b[2] = { R, 0 }, M1[4], c1[2], M2[4], c2[2], M[4], c[2], a[2], al, be;
        k_2cmt(k10, k12, k21, K);
        ab_2cmt(k10, k12, k21, &al, &be);
        e.worst = 0;
        int rc = lin_step_map(w, 2, K, b, Tinf, M1, c1);
        rc |= lin_step_map(w, 2, K, NULL, tau - Tinf, M2, c2);
        for (int i = 0; i < 2; i++) {
            c[i] = c2[i];
            for (int j = 0; j < 2; j++) {
                M[i * 2 + j] = 0;
                for (int l = 0; l < 2; l++)
                    M[i * 2 + j] += M2[i * 2 + l] * M1[l * 2 + j];
                c[i] += M2[i * 2 + j] * c1[j];
            }
        }
        rc |= lin_fixed_point(w, 2, M, c, a);
        double Ca = (al - k21) / (al - be), Cb = (k21 - be) / (al - be);
        double ea = R * Ca * -expm1(-al * Tinf) / al / -expm1(-al * tau);
        double eb = R * Cb * -expm1(-be * Tinf) / be / -expm1(-be * tau);
        see(&e, a[0], ea * exp(-al * (tau - Tinf)) + eb * exp(-be * (tau - Tinf)));
        double r[2] = { 0, 0 };
        for (int i = 0; i < 200; i++) {
            rc |= lin_advance(w, 2, K, b, Tinf, r);
            rc |= lin_advance(w, 2, K, NULL, tau - Tinf, r);
        }
        see(&e, r[0], a[0]);
        see(&e, r[1], a[1]);
        ok(rc == 0, "2-cmt infusion steady state: calls succeed");
        verdict(&e, TOL, "2-cmt infusion (Tinf < tau) SS trough == closed form == dose 200");
    }
}

/* ---- affine turnover ------------------------------------------------------ */

static void t_turnover(LinWork *w)
{
    const double kin = 12, kout = 0.3, R0 = 5;
    double ts[] = { 0.1, 1, 5, 10, 30, 100 };
    Err e = { 0 };
    for (int i = 0; i < 6; i++) {
        double t = ts[i], K[1] = { -kout }, b[1] = { kin }, r[1] = { R0 };
        lin_advance(w, 1, K, b, t, r);
        /* kin/kout + (R0 - kin/kout) e^{-kout t}, as a sum of positive terms */
        double ref = R0 * exp(-kout * t) - kin / kout * expm1(-kout * t);
        see(&e, r[0], ref);
        /* as state 1 of a 2-state system beside an unrelated decay */
        double K2[4] = { -0.7, 0, 0, -kout }, b2[2] = { 0, kin }, r2[2] = { 2, R0 };
        lin_advance(w, 2, K2, b2, t, r2);
        see(&e, r2[1], ref);
        see(&e, r2[0], 2 * exp(-0.7 * t));
    }
    /* a huge production rate must not cost accuracy (b column scaled) */
    double K[4] = { -0.7, 0, 0, -kout }, b[2] = { 0, 1e9 }, r[2] = { 0, 0 };
    lin_advance(w, 2, K, b, 2.0, r);
    see(&e, r[1], 1e9 / kout * -expm1(-kout * 2.0));
    /* no elimination at all: R = R0 + kin t, exactly */
    double Z[4] = { 0, 0, 0, 0 }, bz[2] = { kin, 1 }, z[2] = { R0, 0 };
    lin_advance(w, 2, Z, bz, 3.5, z);
    see(&e, z[0], R0 + kin * 3.5);
    see(&e, z[1], 3.5);
    verdict(&e, TOL, "indirect-response turnover R(t) = kin/kout + (R0 - kin/kout) e^{-kout t}");
}

/* ---- transit chains: larger orders -------------------------------------- */

/* dA_0 = -ktr A_0, dA_k = ktr (A_{k-1} - A_k): after a bolus D into A_0,
 * A_k(t) = D (ktr t)^k / k! e^{-ktr t} (Erlang densities).  n = 10 takes
 * the dgemm products, n = 40 dgesv and the LAPACK fixed point too. */
static void transit_K(int n, double ktr, double *K)
{
    memset(K, 0, (size_t)n * n * sizeof *K);
    for (int k = 0; k < n; k++) {
        K[k * n + k] = -ktr;
        if (k > 0)
            K[k * n + k - 1] = ktr;
    }
}

static double erlang(int k, double x)  /* x^k / k! e^{-x} in logs */
{
    return exp(k * log(x) - lgamma(k + 1.0) - x);
}

static void t_transit(LinWork *big)
{
    static double K[1600], M[1600], c[40], a[40], r[40];
    int ns[2] = { 10, 40 };
    for (int in = 0; in < 2; in++) {
        int n = ns[in];
        double ktr = 2.0, D = 100;
        transit_K(n, ktr, K);
        Err e = { 0 };
        double ts[] = { 0.3, 2, 7, 15 };
        int rc = 0;
        for (int i = 0; i < 4; i++) {
            memset(a, 0, sizeof a);
            a[0] = D;
            rc |= lin_advance(big, n, K, NULL, ts[i], a);
            /* normwise: the far end of the chain is tiny early on */
            double mx = 0, err = 0;
            for (int k = 0; k < n; k++) {
                double ref = D * erlang(k, ktr * ts[i]);
                mx = ref > mx ? ref : mx;
                err = fabs(a[k] - ref) > err ? fabs(a[k] - ref) : err;
            }
            see(&e, mx + err, mx);
        }
        /* an infusion R into A_0 (the augmented path): each A_k is R/ktr
         * times the chance that an Erlang(k + 1) time is below t,
         * sum_{j > k} x^j/j! e^{-x}, summed without cancellation */
        double b[40] = { 30 };
        for (int i = 0; i < 4; i++) {
            memset(a, 0, sizeof a);
            rc |= lin_advance(big, n, K, b, ts[i], a);
            double mx = 0, err = 0, x = ktr * ts[i];
            for (int k = 0; k < n; k++) {
                double p = 0;
                for (int j = k + 1; j < k + 400; j++)
                    p += erlang(j, x);
                double ref = b[0] / ktr * p;
                mx = ref > mx ? ref : mx;
                err = fabs(a[k] - ref) > err ? fabs(a[k] - ref) : err;
            }
            see(&e, mx + err, mx);
        }
        ok(rc == 0, "transit chain n=%d: lin_advance succeeds", n);
        verdict(&e, 1e-12, n == 10 ? "transit chain n=10 bolus and infusion == Erlang (normwise)"
                                   : "transit chain n=40 bolus and infusion == Erlang (normwise)");

        /* steady state of a bolus every tau into A_0: the fixed point vs
         * the sum of the shifted single-dose responses */
        double tau = 6;
        e.worst = 0;
        double d[40] = { D };
        rc = lin_step_map(big, n, K, NULL, tau, M, c);
        dose_then(n, M, c, d);
        rc |= lin_fixed_point(big, n, M, c, a);
        double mx = 0, err = 0;
        for (int k = 0; k < n; k++) {
            double ref = 0;
            for (int j = 1; j < 400; j++)
                ref += D * erlang(k, ktr * tau * j);
            r[k] = ref;
            mx = ref > mx ? ref : mx;
        }
        for (int k = 0; k < n; k++)
            err = fabs(a[k] - r[k]) > err ? fabs(a[k] - r[k]) : err;
        see(&e, mx + err, mx);
        ok(rc == 0, "transit chain n=%d: steady state found", n);
        verdict(&e, 1e-12, n == 10 ? "transit chain n=10 SS == sum of dose responses"
                                   : "transit chain n=40 SS == sum of dose responses");

        /* without elimination from the last compartment: no steady state */
        K[n * n - 1] = 0;
        lin_step_map(big, n, K, NULL, tau, M, c);
        dose_then(n, M, c, d);
        ok(lin_fixed_point(big, n, M, c, a) == -1,
           "transit chain n=%d without elimination: SS -> -1", n);
    }
}

/* ---- the exponential itself ----------------------------------------------- */

/* e^A by Taylor series in long double; fine for ||A|| <= ~6. */
static void taylor_expm(int n, const double *A, long double *E)
{
    long double term[144], nt[144];  /* n <= 12 */
    for (int i = 0; i < n * n; i++)
        E[i] = term[i] = (i % (n + 1) == 0);
    for (int k = 1; k < 120; k++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                long double s = 0;
                for (int l = 0; l < n; l++)
                    s += term[i * n + l] * A[l * n + j];
                nt[i * n + j] = s / k;
            }
        for (int i = 0; i < n * n; i++)
            E[i] += term[i] = nt[i];
    }
}

static void t_expm(LinWork *w, LinWork *big)
{
    /* every Pade degree: norms just under each theta and between */
    double norms[] = { 0.01, 0.2, 0.9, 2.0, 5.0, 6.0 };
    Err e = { 0 };
    for (int in = 0; in < 6; in++) {
        for (int rep = 0; rep < 20; rep++) {
            int n = 2 + rep % 4;
            double A[25], E[25];
            long double R[25];
            for (int i = 0; i < n * n; i++)
                A[i] = 2 * urand() - 1;
            /* scale to the 1-norm wanted */
            double nr = 0;
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int i = 0; i < n; i++)
                    s += fabs(A[i * n + j]);
                if (s > nr)
                    nr = s;
            }
            for (int i = 0; i < n * n; i++)
                A[i] *= norms[in] / nr;
            taylor_expm(n, A, R);
            lin_expm(w, n, A, E);
            /* normwise: an entry may be near zero */
            double mx = 0, err = 0;
            for (int i = 0; i < n * n; i++) {
                if (fabsl(R[i]) > mx)
                    mx = (double)fabsl(R[i]);
                double d = (double)fabsl(E[i] - R[i]);
                if (d > err)
                    err = d;
            }
            see(&e, mx + err, mx);
        }
    }
    verdict(&e, 1e-14, "lin_expm == long-double Taylor, ||A|| 0.01..6, n 2..5 (normwise)");

    /* orders 6..12: the dgemm products */
    e.worst = 0;
    for (int rep = 0; rep < 14; rep++) {
        int n = 6 + rep % 7;
        double A[144], E[144], nr = 0;
        long double R[144];
        for (int i = 0; i < n * n; i++)
            A[i] = 2 * urand() - 1;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int i = 0; i < n; i++)
                s += fabs(A[i * n + j]);
            nr = s > nr ? s : nr;
        }
        for (int i = 0; i < n * n; i++)
            A[i] *= (rep < 7 ? 1.5 : 5.0) / nr;
        taylor_expm(n, A, R);
        lin_expm(big, n, A, E);
        double bg = 0, err = 0;
        for (int i = 0; i < n * n; i++) {
            bg = fabsl(R[i]) > bg ? (double)fabsl(R[i]) : bg;
            err = fabsl(E[i] - R[i]) > err ? (double)fabsl(E[i] - R[i]) : err;
        }
        see(&e, bg + err, bg);
    }
    verdict(&e, 1e-14, "lin_expm == long-double Taylor, n 6..12 (dgemm path, normwise)");

    /* rotation generator: e^{[[0,-t],[t,0]]} = [[cos, -sin], [sin, cos]] */
    e.worst = 0;
    double th[] = { 1e-8, 0.1, 1, 3, 10, 100 };
    for (int i = 0; i < 6; i++) {
        double A[4] = { 0, -th[i], th[i], 0 }, E[4];
        lin_expm(w, 2, A, E);
        double cs = cos(th[i]), sn = sin(th[i]);
        /* against the norm (1): cos and sin pass through zero */
        see(&e, 1 + fabs(E[0] - cs), 1);
        see(&e, 1 + fabs(E[1] + sn), 1);
        see(&e, 1 + fabs(E[2] - sn), 1);
        see(&e, 1 + fabs(E[3] - cs), 1);
    }
    verdict(&e, 1e-13, "lin_expm rotation generator -> cos/sin, theta up to 100 (abs)");

    /* nilpotent: e^N = I + N + N^2/2, and a Jordan block l I + N */
    e.worst = 0;
    {
        double a = 3.5, b = -1.25, c = 7;
        double N[9] = { 0, a, b, 0, 0, c, 0, 0, 0 }, E[9];
        double R[9] = { 1, a, b + a * c / 2, 0, 1, c, 0, 0, 1 };
        lin_expm(w, 3, N, E);
        for (int i = 0; i < 9; i++)
            see(&e, E[i], R[i]);
        double l = -3, J[16] = { l, 1, 0, 0, 0, l, 1, 0, 0, 0, l, 1, 0, 0, 0, l }, EJ[16];
        lin_expm(w, 4, J, EJ);
        double f[4] = { 1, 1, 0.5, 1.0 / 6 };
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                see(&e, EJ[i * 4 + j], j >= i ? exp(l) * f[j - i] : 0);
    }
    verdict(&e, 1e-14, "lin_expm nilpotent and Jordan blocks");

    /* zero, and 1 x 1 */
    double Z[4] = { 0 }, EZ[4], one[1] = { -2.5 }, E1[1];
    ok(lin_expm(w, 2, Z, EZ) == 0 && EZ[0] == 1 && EZ[1] == 0 && EZ[2] == 0 && EZ[3] == 1,
       "lin_expm(0) == I exactly");
    ok(lin_expm(w, 1, one, E1) == 0 && E1[0] == exp(-2.5), "lin_expm 1 x 1 == exp");
}

/* ---- errors and edges ------------------------------------------------------ */

static void t_errors(LinWork *w)
{
    double M[4], c[2], a[2];
    /* no elimination from the central compartment: the dose accumulates */
    double ka = 0.8, K[4] = { -ka, 0, ka, 0 }, d[2] = { 100, 0 };
    lin_step_map(w, 2, K, NULL, 12, M, c);
    dose_then(2, M, c, d);
    ok(lin_fixed_point(w, 2, M, c, a) == -1, "SS with a compartment that never empties -> -1");
    double K1[1] = { 0 }, M1[1], c1[1], a1[1];
    lin_step_map(w, 1, K1, NULL, 12, M1, c1);
    c1[0] = 10;
    ok(lin_fixed_point(w, 1, M1, c1, a1) == -1, "SS with k = 0 (I - M == 0) -> -1");
    double K3[9] = { -0.5, 0, 0, 0.5, -0.1, 0, 0, 0, 0 }, M3[9], c3[3], a3[3];
    lin_step_map(w, 3, K3, NULL, 24, M3, c3);
    c3[0] = 1;
    ok(lin_fixed_point(w, 3, M3, c3, a3) == -1, "SS with a disconnected inert state -> -1");

    double nan = NAN, inf = INFINITY;
    double Kn[4] = { -1, 0, nan, -1 }, bn[2] = { inf, 0 }, Kg[4] = { -1, 0, 1, -1 };
    double aa[2] = { 1, 2 }, E[4];
    ok(lin_expm(w, 2, Kn, E) == -1, "lin_expm non-finite -> -1");
    ok(lin_advance(w, 2, Kn, NULL, 1, aa) == -1, "lin_advance NaN in K -> -1");
    ok(lin_advance(w, 2, Kg, bn, 1, aa) == -1, "lin_advance inf in b -> -1");
    ok(lin_advance(w, 2, Kg, NULL, nan, aa) == -1, "lin_advance NaN dt -> -1");
    ok(lin_step_map(w, 2, Kg, NULL, 1e308, M, c) == -1, "lin_step_map K dt overflow -> -1");
    double Kp[4] = { 800, 0, 0, 1 };
    ok(lin_step_map(w, 2, Kp, NULL, 1, M, c) == -1, "lin_step_map e^{K dt} overflow -> -1");
    ok(lin_advance(w, 5, Kg, NULL, 1, aa) == -1, "lin_advance n beyond workspace -> -1");

    double b[2] = { 3, 4 }, a0[2] = { 1, 2 };
    int rc = lin_step_map(w, 2, Kg, b, 0, M, c);
    ok(rc == 0 && M[0] == 1 && M[1] == 0 && M[2] == 0 && M[3] == 1 && c[0] == 0 && c[1] == 0,
       "dt == 0: identity map");
    rc = lin_advance(w, 2, Kg, b, 0, a0);
    ok(rc == 0 && a0[0] == 1 && a0[1] == 2, "dt == 0: state unchanged");
    double pos[2] = { 1, 2 };
    lin_advance(w, 2, Kg, b, 1.7, pos);
    lin_advance(w, 2, Kg, b, -1.7, pos);
    ok(rel(pos[0], 1) < 1e-14 && rel(pos[1], 2) < 1e-14, "forward then backward step returns");
}

/* ---- the step cache --------------------------------------------------- */

static int same(int n, const double *x, const double *y)
{
    return memcmp(x, y, (size_t)n * sizeof *x) == 0;
}

static void t_cache(LinWork *w)
{
    /* Results through a warm cache equal a fresh workspace's bit for bit,
     * however the keys change between calls. */
    LinWork *f = lin_new(4);
    double K[9], b[3] = { 5, 0, 0 }, bz[3] = { 0, 0, 0 };
    k_2cmt_oral(1.1, 0.12, 0.4, 0.2, K);
    double dts[] = { 1, 2, 1, 3, 5, 7, 1, 2, 11, 1 };
    int good = 1;
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < 10; i++) {
            double a[3] = { 10, 20, 30 }, af[3] = { 10, 20, 30 };
            const double *bb = (i % 3 == 0) ? b : (i % 3 == 1) ? bz : NULL;
            if (rep == 2)
                K[4] = nextafter(K[4], 0);  /* one ulp: a new key */
            lin_advance(w, 3, K, bb, dts[i], a);
            LinWork *g = lin_new(4);
            lin_advance(g, 3, K, bb, dts[i], af);
            lin_free(&g);
            good &= same(3, a, af);
            double M[9], c[3], Mf[9], cf[3];
            lin_step_map(w, 3, K, bb, dts[i], M, c);
            lin_step_map(f, 3, K, bb, dts[i], Mf, cf);
            good &= same(9, M, Mf) && same(3, c, cf);
        }
    }
    ok(good, "cached steps equal fresh computations bit for bit (K, b, dt varied)");
    double a1[3] = { 1, 2, 3 }, a2[3] = { 1, 2, 3 };
    lin_advance(w, 3, K, bz, 4.5, a1);
    lin_advance(w, 3, K, NULL, 4.5, a2);
    ok(same(3, a1, a2), "b of zeros == b NULL");
    /* a failed step is not remembered */
    double Kbad[9];
    memcpy(Kbad, K, sizeof Kbad);
    Kbad[0] = 900;
    double a3[3] = { 1, 2, 3 };
    int r1 = lin_advance(w, 3, Kbad, NULL, 1, a3);
    int r2 = lin_advance(w, 3, Kbad, NULL, 1, a3);
    ok(r1 == -1 && r2 == -1, "an overflowing step fails every time");
    lin_free(&f);
}

/* ---- benchmark -------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Calls per second of lin_advance over a cycle of step lengths; the best
 * of five 50 ms trials, since the machine may be shared. */
static double rate(LinWork *w, int n, const double *K, const double *b, const double *dts,
                   int ndt)
{
    double best = 0, sink = 0;
    for (int trial = 0; trial < 5; trial++) {
        double a[4] = { 100, 0, 0, 0 }, t0 = now(), t1;
        long calls = 0;
        do {
            for (int i = 0; i < 1000; i++) {
                lin_advance(w, n, K, b, dts[i % ndt], a);
                sink += a[0];
                a[0] += 100;
            }
            calls += 1000;
            t1 = now();
        } while (t1 - t0 < 0.05);
        if (calls / (t1 - t0) > best)
            best = calls / (t1 - t0);
    }
    return sink < 0 ? -best : best;
}

static void bench(LinWork *w)
{
    /* 2-cmt IV (n 2), 2-cmt oral (3), 3-cmt with a depot (4) */
    double K2[4], K3[9];
    k_2cmt(0.15, 0.6, 0.25, K2);
    k_2cmt_oral(1.2, 0.15, 0.6, 0.25, K3);
    double K4[16] = { -1.2, 0, 0, 0,  1.2, -0.8, 0.3, 0.02,  0, 0.5, -0.3, 0,  0, 0.1, 0, -0.02 };
    const double *Ks[3] = { K2, K3, K4 };
    double b[4] = { 10, 0, 0, 0 };
    /* cold: 48 distinct steps, 0.25 .. 23.75 h, every one computed */
    double cold[48];
    for (int i = 0; i < 48; i++)
        cold[i] = 0.25 + 0.5 * i;
    printf("# lin_advance calls/s, distinct steps:");
    for (int with_b = 0; with_b < 2; with_b++)
        for (int n = 2; n <= 4; n++)
            printf(" n=%d%s %.2fM", n, with_b ? "+b" : "",
                   rate(w, n, Ks[n - 2], with_b ? b : NULL, cold, 48) / 1e6);
    printf("\n");
    /* a q12h regimen sampled at 1, 2, 4 and 12 h: four step lengths */
    double reg[4] = { 1, 1, 2, 8 };
    printf("# lin_advance calls/s, q12h regimen (cached steps):");
    for (int n = 2; n <= 4; n++)
        printf(" n=%d %.2fM", n, rate(w, n, Ks[n - 2], NULL, reg, 4) / 1e6);
    printf("\n");
}

int main(void)
{
    LinWork *w = lin_new(4);
    ok(w != NULL, "lin_new(4)");
    if (!w)
        return 1;
    t_onecmt(w);
    t_oral(w);
    t_twocmt(w);
    t_threecmt(w);
    t_multidose(w);
    t_steady(w);
    t_turnover(w);
    LinWork *big = lin_new(40);
    ok(big != NULL, "lin_new(40)");
    if (!big)
        return 1;
    t_transit(big);
    t_expm(w, big);
    t_errors(w);
    t_cache(w);
    bench(w);
    lin_free(&w);
    lin_free(&big);
    ok(w == NULL && big == NULL, "lin_free sets the handle to NULL");
    printf("# %d checks, %d failed\n", n_test, n_fail);
    return n_fail ? 1 : 0;
}
