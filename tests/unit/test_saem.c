/*
 * test_saem.c -- SAEM and the IMP objective against independent truth.
 *
 * 1. The one-way random-effects model y_ij = mu + eta_i + eps_ij has a
 *    Gaussian marginal likelihood, -2 log L_i = log|C_i| + r' C_i^-1 r
 *    with C_i = omega 11' + sigma I, written out here: IMP must equal it
 *    within its Monte Carlo error (and FOCEI exactly, a second check);
 *    IMP's conditional means must equal the closed-form posterior means;
 *    SAEM must find the maximum-likelihood estimates FOCEI finds (exact
 *    for this model).
 * 2. A one-compartment oral population with log-normal ETAs on KA, CL
 *    and V and proportional error, simulated from known parameters: SAEM
 *    agrees with FOCEI, and the IMP OFV at SAEM's estimates with FOCEI's.
 * 3. The same seed gives bit-identical results on 1 and 2 threads;
 *    another seed slightly different ones.  The trace has a row per
 *    iteration with est_trace_header's columns.
 * 4. From a bad start (CL 10 times too large) SAEM still gets there.
 *
 * The data are simulated with rng.h, so they are the same everywhere.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "est.h"
#include "parse.h"
#include "prog.h"
#include "rng.h"
#include "saem.h"
#include "sema.h"
#include "tap.h"

typedef struct {
    Arena *a;
    Diag *d;
    FILE *sink;
    Model *m;
    Prog *p;
    Dataset *ds;
} Fit;

static int setup(Fit *f, const char *model, const char *data)
{
    memset(f, 0, sizeof *f);
    f->a = mem_arena_new();
    f->sink = tmpfile();
    f->d = diag_new(f->a, f->sink);
    Ast *t = parse_string(f->a, f->d, "t.qlx", model, strlen(model), NULL);
    f->m = t ? sema_check(f->a, f->d, t) : NULL;
    f->p = f->m ? prog_compile(f->a, f->d, f->m) : NULL;
    f->ds = f->p ? data_parse(f->a, f->d, f->m, "t.csv", data, strlen(data)) : NULL;
    return f->ds ? 0 : -1;
}

static void dump(Fit *f)
{
    fflush(f->sink);
    rewind(f->sink);
    char line[512];
    while (fgets(line, sizeof line, f->sink))
        printf("# %s", line);
}

static void teardown(Fit *f)
{
    prog_free(f->p);
    if (f->sink)
        fclose(f->sink);
    mem_arena_free(&f->a);
}

static EstOpts opts(EstMethod method, int threads)
{
    EstOpts o;
    memset(&o, 0, sizeof o);
    o.method = method;
    o.sim.rtol = 1e-8;
    o.sim.atol = 1e-10;
    o.sim.nthreads = threads;
    o.seed = -1;
    return o;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- 1. the one-way random-effects model ------------------------------------------ */

enum { LIN_M = 40 };

static const char linear_model[] =
    "$PROBLEM one-way random effects\n$DATA t.csv IGNORE=@\n$INPUT ID TIME DV\n"
    "$THETA\n  mu = 3\n$OMEGA\n  eta ~ 1\n$SIGMA\n  eps ~ 1\n"
    "$PK\n  M = mu + eta\n$ERROR\n  Y = M + eps\n";

/* mu 5, omega 0.5, sigma 0.2; 2 to 6 observations per subject */
static size_t linear_data(char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "ID,TIME,DV\n");
    for (int i = 0; i < LIN_M; i++) {
        Rng r;
        rng_init(&r, 2024, (uint32_t)i, 0);
        double eta = sqrt(0.5) * rng_normal(&r);
        for (int j = 0; j < 2 + i % 5; j++)
            n += (size_t)snprintf(buf + n, cap - n, "%d,%d,%.15g\n", i + 1, j,
                                  5 + eta + sqrt(0.2) * rng_normal(&r));
    }
    return n;
}

/* -2 log L in closed form (NONMEM's convention: no 2 pi), and each
 * subject's posterior mean of eta. */
static double exact_m2ll(const Dataset *ds, double mu, double om, double s2, double *post)
{
    double total = 0;
    for (int s = 0; s < ds->nsubjects; s++) {
        const DataSubject *su = &ds->subjects[s];
        double n = su->n, sr = 0, srr = 0;
        for (int k = 0; k < su->n; k++) {
            double r = ds->rows[su->first + k].dv - mu;
            sr += r;
            srr += r * r;
        }
        total += (n - 1) * log(s2) + log(s2 + n * om) + (srr - om * sr * sr / (s2 + n * om)) / s2;
        if (post)
            post[s] = om * sr / (s2 + n * om);
    }
    return total;
}

static void test_linear(void)
{
    static char data[16384];
    linear_data(data, sizeof data);
    Fit f;
    if (setup(&f, linear_model, data) != 0) {
        dump(&f);
        ok(0, "the one-way model sets up");
        teardown(&f);
        return;
    }
    double theta[] = { 4.8 }, omega[] = { 0.6 }, sigma[] = { 0.25 }, post[LIN_M], mean[LIN_M];
    double want = exact_m2ll(f.ds, theta[0], omega[0], sigma[0], post);
    EstOpts o = opts(EST_SAEM, 2);
    double ofv = NAN, se = NAN;
    int rc = saem_imp_objective(f.p, f.ds, &o, theta, omega, sigma, &ofv, &se, mean, f.d);
    if (rc != 0)
        dump(&f);
    ok(rc == 0 && fabs(ofv - want) < 3 * se && fabs(ofv - want) < 0.05 && se < 0.05,
       "IMP equals the exact Gaussian -2 log L: %.4f vs %.4f (MC SE %.4f)", ofv, want, se);
    /* the conditional means: the posterior's SD over the root of the
     * samples is their Monte Carlo error */
    double worst = 0;
    for (int s = 0; rc == 0 && s < LIN_M; s++) {
        int n = f.ds->subjects[s].n;
        double sd = sqrt(omega[0] * sigma[0] / (sigma[0] + n * omega[0]));
        worst = fmax(worst, fabs(mean[s] - post[s]) / (sd / sqrt(1000.0)));
    }
    ok(rc == 0 && worst < 4,
       "IMP's conditional means equal the closed-form posterior means (worst error %.2f MC SEs)",
       worst);
    EstOpts of = opts(EST_FOCEI, 2);
    double fofv = NAN;
    rc = est_objective(f.p, f.ds, &of, theta, omega, sigma, &fofv, NULL, f.d);
    ok(rc == 0 && fabs(fofv - want) < 1e-8 * fabs(want),
       "FOCEI also equals it (the model is linear in eta): %.10g vs %.10g", fofv, want);

    /* the ML estimates: FOCEI is exact here */
    EstResult rf, rs;
    int rcf = est_run(f.p, f.ds, &of, &rf, f.d);
    double t0 = seconds();
    int rcs = saem_run(f.p, f.ds, &o, &rs, f.d);
    double dt = seconds() - t0;
    if (rcf != 0 || rcs != 0) {
        dump(&f);
        ok(0, "FOCEI and SAEM run on the one-way model");
    } else {
        double e_mu = fabs(rs.theta[0] - rf.theta[0]) / fabs(rf.theta[0]);
        double e_om = fabs(rs.omega[0] - rf.omega[0]) / rf.omega[0];
        double e_s2 = fabs(rs.sigma[0] - rf.sigma[0]) / rf.sigma[0];
        ok(e_mu < 0.02 && e_om < 0.12 && e_s2 < 0.12,
           "SAEM finds the ML estimates: mu %.4f (%.4f), omega %.4f (%.4f), sigma %.4f (%.4f) "
           "in %.1f s", rs.theta[0], rf.theta[0], rs.omega[0], rf.omega[0], rs.sigma[0],
           rf.sigma[0], dt);
        double at = exact_m2ll(f.ds, rs.theta[0], rs.omega[0], rs.sigma[0], NULL);
        ok(fabs(rs.ofv - at) < 0.01 && rs.ofv > rf.ofv - 0.01,
           "SAEM's IMP OFV is the exact -2LL at its estimates (%.4f vs %.4f), not below the "
           "maximum's (%.4f)", rs.ofv, at, rf.ofv);
        ok(rs.converged && rs.iterations == 500, "SAEM ran its 300 + 200 iterations: %s",
           rs.message);
        /* its ETAs: the chains' means over the last 100 iterations, against
         * the posterior means at its estimates */
        double pm[LIN_M], we = 0;
        exact_m2ll(f.ds, rs.theta[0], rs.omega[0], rs.sigma[0], pm);
        for (int s = 0; s < LIN_M; s++) {
            int n = f.ds->subjects[s].n;
            double sd = sqrt(rs.omega[0] * rs.sigma[0] / (rs.sigma[0] + n * rs.omega[0]));
            we = fmax(we, fabs(rs.eta[s] - pm[s]) / sd);
        }
        ok(we < 0.35, "SAEM's ETAs are the conditional means (worst error %.3f posterior SDs)", we);
    }
    if (rcf == 0)
        est_result_free(&rf);
    if (rcs == 0)
        est_result_free(&rs);
    teardown(&f);
}

/* ---- 2. a one-compartment oral population ----------------------------------------- */

enum { PK_M = 30 };

static const char oral_model[] =
    "$PROBLEM one compartment, oral\n$DATA t.csv IGNORE=@\n$INPUT ID TIME DV AMT EVID CMT\n"
    "$COMPARTMENTS depot(dose) central(observe)\n"
    "$THETA\n  tka = %g\n  tcl = %g\n  tv = %g\n"
    "$OMEGA\n  eta_ka ~ 0.2\n  eta_cl ~ 0.2\n  eta_v ~ 0.2\n$SIGMA\n  eps ~ 0.05\n"
    "$PK\n  KA = exp(tka + eta_ka)\n  CL = exp(tcl + eta_cl)\n  V = exp(tv + eta_v)\n"
    "$DES\n  d/dt(depot) = -KA*depot\n  d/dt(central) = KA*depot - CL/V*central\n"
    "$ERROR\n  IPRED = central/V\n  Y = IPRED*(1 + eps)\n";

static const double TKA = 0.4, TCL = 1.1, TV = 3.4;   /* log 1.5, 3, 30 */

static size_t oral_data(char *buf, size_t cap)
{
    static const double times[] = { 0.5, 1, 2, 4, 6, 8, 12, 24 };
    size_t n = (size_t)snprintf(buf, cap, "ID,TIME,DV,AMT,EVID,CMT\n");
    for (int i = 0; i < PK_M; i++) {
        Rng r;
        rng_init(&r, 99, (uint32_t)i, 0);
        double ka = exp(TKA + sqrt(0.16) * rng_normal(&r));
        double cl = exp(TCL + sqrt(0.09) * rng_normal(&r));
        double v = exp(TV + sqrt(0.04) * rng_normal(&r)), k = cl / v;
        n += (size_t)snprintf(buf + n, cap - n, "%d,0,.,100,1,1\n", i + 1);
        for (int j = 0; j < 8; j++) {
            double t = times[j];
            double c = 100 * ka / (v * (ka - k)) * (exp(-k * t) - exp(-ka * t));
            n += (size_t)snprintf(buf + n, cap - n, "%d,%g,%.10g,0,0,2\n", i + 1, t,
                                  c * (1 + 0.1 * rng_normal(&r)));
        }
    }
    return n;
}

static int oral_setup(Fit *f, double tka, double tcl, double tv)
{
    static char data[32768], model[2048];
    oral_data(data, sizeof data);
    snprintf(model, sizeof model, oral_model, tka, tcl, tv);
    if (setup(f, model, data) != 0) {
        dump(f);
        ok(0, "the oral model sets up");
        teardown(f);
        return -1;
    }
    return 0;
}

static EstResult focei_ref;
static int have_ref;

static void test_oral(void)
{
    Fit f;
    if (oral_setup(&f, 0.2, 1.5, 3.0) != 0)
        return;
    EstOpts of = opts(EST_FOCEI, 2), o = opts(EST_SAEM, 2);
    EstResult rs;
    int rcf = est_run(f.p, f.ds, &of, &focei_ref, f.d);
    double t0 = seconds();
    int rcs = saem_run(f.p, f.ds, &o, &rs, f.d);
    double dt = seconds() - t0;
    if (rcf != 0 || rcs != 0) {
        dump(&f);
        ok(0, "FOCEI and SAEM run on the oral model");
        teardown(&f);
        return;
    }
    have_ref = 1;
    const EstResult *rf = &focei_ref;
    double wt = 0, wv = 0;
    for (int k = 0; k < 3; k++) {
        wt = fmax(wt, fabs(rs.theta[k] - rf->theta[k]));
        wv = fmax(wv, fabs(rs.omega[k * 4] - rf->omega[k * 4]) / rf->omega[k * 4]);
    }
    wv = fmax(wv, fabs(rs.sigma[0] - rf->sigma[0]) / rf->sigma[0]);
    printf("# SAEM  THETA %.4f %.4f %.4f  OMEGA %.4f %.4f %.4f  SIGMA %.5f  OFV %.3f (%.1f s)\n",
           rs.theta[0], rs.theta[1], rs.theta[2], rs.omega[0], rs.omega[4], rs.omega[8],
           rs.sigma[0], rs.ofv, dt);
    printf("# FOCEI THETA %.4f %.4f %.4f  OMEGA %.4f %.4f %.4f  SIGMA %.5f  OFV %.3f\n",
           rf->theta[0], rf->theta[1], rf->theta[2], rf->omega[0], rf->omega[4], rf->omega[8],
           rf->sigma[0], rf->ofv);
    ok(wt < 0.05, "SAEM's THETAs (log scale) are within 0.05 of FOCEI's (worst %.4f)", wt);
    ok(wv < 0.25, "SAEM's variances are within 25%% of FOCEI's (worst %.3f)", wv);
    ok(fabs(rs.ofv - rf->ofv) < 3,
       "the IMP OFV at SAEM's estimates is within 3 of FOCEI's at its own: %.3f vs %.3f",
       rs.ofv, rf->ofv);
    /* IMP at FOCEI's estimates: the exact -2LL there, close to FOCEI's
     * Laplace-type approximation of it */
    double ofv = NAN, se = NAN;
    int rc = saem_imp_objective(f.p, f.ds, &o, rf->theta, rf->omega, rf->sigma, &ofv, &se, NULL,
                                f.d);
    ok(rc == 0 && fabs(ofv - rf->ofv) < 3 && se < 0.3,
       "IMP at FOCEI's estimates: %.3f (MC SE %.3f) vs FOCEI's %.3f", ofv, se, rf->ofv);
    est_result_free(&rs);
    teardown(&f);
}

/* ---- 3. determinism --------------------------------------------------------------------- */

static int same(const double *a, const double *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

static void test_determinism(void)
{
    static char data[16384];
    linear_data(data, sizeof data);
    Fit f;
    if (setup(&f, linear_model, data) != 0) {
        dump(&f);
        ok(0, "the one-way model sets up");
        teardown(&f);
        return;
    }
    EstResult r[3];
    int rc = 0;
    FILE *tr = tmpfile();
    for (int k = 0; k < 3; k++) {
        EstOpts o = opts(EST_SAEM, k == 1 ? 2 : 1);
        o.nburn = 40;
        o.niter = 30;
        o.isample = 300;
        o.seed = k == 2 ? 777 : 5;
        o.trace = k == 0 ? tr : NULL;
        if (k == 0)
            est_trace_header(f.m, tr);
        rc |= saem_run(f.p, f.ds, &o, &r[k], f.d);
    }
    if (rc != 0) {
        dump(&f);
        ok(0, "short SAEM runs");
        teardown(&f);
        return;
    }
    size_t ns = (size_t)f.ds->nsubjects;
    int same12 = same(r[0].theta, r[1].theta, 1) && same(r[0].omega, r[1].omega, 1) &&
                 same(r[0].sigma, r[1].sigma, 1) && same(r[0].eta, r[1].eta, ns) &&
                 same(&r[0].ofv, &r[1].ofv, 1);
    ok(same12, "1 and 2 threads give bit-identical results (OFV %.17g vs %.17g)", r[0].ofv,
       r[1].ofv);
    double dmu = fabs(r[2].theta[0] - r[0].theta[0]), dofv = fabs(r[2].ofv - r[0].ofv);
    ok(!same(r[0].theta, r[2].theta, 1) && dmu < 0.05 && dofv > 0 && dofv < 1,
       "another seed gives slightly different numbers: mu %.6f vs %.6f, OFV %.4f vs %.4f",
       r[0].theta[0], r[2].theta[0], r[0].ofv, r[2].ofv);
    /* the trace: a header and a row per iteration, as many columns */
    rewind(tr);
    char line[4096];
    int rows = 0, cols_ok = 1, hdr_cols = -1;
    while (fgets(line, sizeof line, tr)) {
        int c = 1;
        for (char *q = line; *q; q++)
            c += *q == ',';
        if (hdr_cols < 0)
            hdr_cols = c;
        else
            rows++, cols_ok &= c == hdr_cols && strstr(line, "nan") == NULL;
    }
    fclose(tr);
    ok(rows == 70 && cols_ok && hdr_cols == 5,
       "the trace has a row per iteration (%d) with the header's %d columns", rows, hdr_cols);
    for (int k = 0; k < 3; k++)
        est_result_free(&r[k]);
    teardown(&f);
}

/* ---- 4. a bad start ---------------------------------------------------------------------- */

static void test_bad_start(void)
{
    Fit f;
    if (oral_setup(&f, 0.4, 1.1 + log(10.0), 3.4) != 0)
        return;
    EstOpts o = opts(EST_SAEM, 2);
    EstResult r;
    int rc = saem_run(f.p, f.ds, &o, &r, f.d);
    if (rc != 0) {
        dump(&f);
        ok(0, "SAEM runs from a bad start");
        teardown(&f);
        return;
    }
    int finite = isfinite(r.ofv);
    for (int k = 0; k < 3; k++)
        finite &= isfinite(r.theta[k]) && isfinite(r.omega[k * 4]);
    double ref[3] = { TKA, TCL, TV }, worst = 0;
    for (int k = 0; k < 3; k++)
        worst = fmax(worst, fabs(r.theta[k] - (have_ref ? focei_ref.theta[k] : ref[k])));
    ok(finite && worst < 0.1 && (!have_ref || fabs(r.ofv - focei_ref.ofv) < 3),
       "from CL 10 times too large SAEM gets to the estimates: THETA %.4f %.4f %.4f (worst "
       "%.4f), OFV %.3f (%s)", r.theta[0], r.theta[1], r.theta[2], worst, r.ofv, r.message);
    est_result_free(&r);
    teardown(&f);
}

int main(void)
{
    double t0 = seconds();
    test_linear();
    test_oral();
    test_determinism();
    test_bad_start();
    if (have_ref)
        est_result_free(&focei_ref);
    printf("# test_saem: %.1f s\n", seconds() - t0);
    return tap_done();
}
