/*
 * test_opt.c -- the optimizer: BFGS and L-BFGS on Rosenbrock and a
 * 50-dimensional quadratic, a line search backing off from where the
 * objective cannot be evaluated, bounds and FIX through OptBox, every
 * status, the finite-difference Hessian and the gradient checker.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "opt.h"
#include "tap.h"

/* --- test functions ---------------------------------------------------- */

typedef struct {
    int n;
    int calls, refused;
    int abort_after;        /* return -2 from this call on; 0: never */
    double *A, *b;          /* quadratic: 0.5 x'Ax - b'x */
    const double *c;        /* barrier: sum c_i x_i - log x_i */
} Ctx;

/* Chained Rosenbrock: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2. */
static int rosen(void *vctx, const double *x, double *f, double *g)
{
    Ctx *c = vctx;
    int n = c->n;
    c->calls++;
    if (c->abort_after && c->calls >= c->abort_after)
        return -2;
    *f = 0;
    for (int i = 0; i < n; i++)
        g[i] = 0;
    for (int i = 0; i + 1 < n; i++) {
        double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
        *f += 100 * t * t + u * u;
        g[i] += -400 * t * x[i] - 2 * u;
        g[i + 1] += 200 * t;
    }
    return 0;
}

static int quad(void *vctx, const double *x, double *f, double *g)
{
    Ctx *c = vctx;
    int n = c->n;
    c->calls++;
    *f = 0;
    for (int i = 0; i < n; i++) {
        double ax = 0;
        for (int j = 0; j < n; j++)
            ax += c->A[i * n + j] * x[j];
        g[i] = ax - c->b[i];
        *f += 0.5 * x[i] * ax - c->b[i] * x[i];
    }
    return 0;
}

/* sum c_i x_i - log x_i: minimum at 1/c_i, undefined for x_i <= 0, where
 * a full quasi-Newton step from far away lands. */
static int barrier(void *vctx, const double *x, double *f, double *g)
{
    Ctx *c = vctx;
    c->calls++;
    *f = 0;
    for (int i = 0; i < c->n; i++) {
        if (x[i] <= 0) {
            c->refused++;
            return 1;
        }
        *f += c->c[i] * x[i] - log(x[i]);
        g[i] = c->c[i] - 1 / x[i];
    }
    return 0;
}

/* (x0-1)^2 + (x1-2)^2 + (x2-3)^2 + x0 x1 + x1 x2 */
static int coupled(void *vctx, const double *x, double *f, double *g)
{
    Ctx *c = vctx;
    c->calls++;
    *f = (x[0] - 1) * (x[0] - 1) + (x[1] - 2) * (x[1] - 2) + (x[2] - 3) * (x[2] - 3) +
         x[0] * x[1] + x[1] * x[2];
    g[0] = 2 * (x[0] - 1) + x[1];
    g[1] = 2 * (x[1] - 2) + x[0] + x[2];
    g[2] = 2 * (x[2] - 3) + x[1];
    return 0;
}

/* Unconstrained optimum (3, -1, 1, 10) outside the box of test_bounds. */
static int boxed(void *vctx, const double *x, double *f, double *g)
{
    Ctx *c = vctx;
    c->calls++;
    *f = (x[0] - 3) * (x[0] - 3) + (x[1] + 1) * (x[1] + 1) + (x[2] - 1) * (x[2] - 1) +
         (x[3] - 10) * (x[3] - 10);
    g[0] = 2 * (x[0] - 3);
    g[1] = 2 * (x[1] + 1);
    g[2] = 2 * (x[2] - 1);
    g[3] = 2 * (x[3] - 10);
    return 0;
}

/* exp(x0 x1) + x0^2 x2^3 + sin(x1) x2, with its exact Hessian below. */
static int smooth3(void *vctx, const double *x, double *f, double *g)
{
    Ctx *c = vctx;
    double e = exp(x[0] * x[1]);
    c->calls++;
    *f = e + x[0] * x[0] * pow(x[2], 3) + sin(x[1]) * x[2];
    g[0] = x[1] * e + 2 * x[0] * pow(x[2], 3);
    g[1] = x[0] * e + cos(x[1]) * x[2];
    g[2] = 3 * x[0] * x[0] * x[2] * x[2] + sin(x[1]);
    return 0;
}

static void smooth3_hess(const double *x, double *H)
{
    double e = exp(x[0] * x[1]);
    H[0] = x[1] * x[1] * e + 2 * pow(x[2], 3);
    H[1] = H[3] = e + x[0] * x[1] * e;
    H[2] = H[6] = 6 * x[0] * x[2] * x[2];
    H[4] = x[0] * x[0] * e - sin(x[1]) * x[2];
    H[5] = H[7] = cos(x[1]);
    H[8] = 6 * x[0] * x[0] * x[2];
}

/* smooth3 with d/dx1 off by 1%. */
static int smooth3_wrong(void *vctx, const double *x, double *f, double *g)
{
    int rc = smooth3(vctx, x, f, g);
    g[1] *= 1.01;
    return rc;
}

/* A gradient pointing uphill: no step along -H g can lower f. */
static int uphill(void *vctx, const double *x, double *f, double *g)
{
    Ctx *c = vctx;
    c->calls++;
    *f = x[0] * x[0] + x[1] * x[1];
    g[0] = -2 * x[0];
    g[1] = -2 * x[1];
    return 0;
}

/* sum w_i (x_i - 1)^2 + 10, with f (not g) carrying noise of 1e-9
 * relative: a stand-in for an objective computed through an ODE solver. */
static int noisy(void *vctx, const double *x, double *f, double *g)
{
    Ctx *c = vctx;
    c->calls++;
    *f = 10;
    for (int i = 0; i < c->n; i++) {
        double wi = 1 + i;
        *f += wi * (x[i] - 1) * (x[i] - 1);
        g[i] = 2 * wi * (x[i] - 1);
    }
    *f *= 1 + 1e-9 * sin(1e7 * x[0] + 3e6 * x[1]);
    return 0;
}

static int nan_f(void *vctx, const double *x, double *f, double *g)
{
    (void)vctx;
    *f = NAN;
    g[0] = x[0];
    return 0;
}

static int refuse(void *vctx, const double *x, double *f, double *g)
{
    (void)vctx, (void)x, (void)f, (void)g;
    return 1;
}

static int abort3(void *vctx, const double *x, double *f, double *g)
{
    (void)vctx, (void)x, (void)f, (void)g;
    return -3;
}

static OptSettings tight(void)
{
    OptSettings s;
    opt_defaults(&s);
    s.gtol = 1e-10;
    s.ftol = 0;
    return s;
}

static double max_dev(int n, const double *x, const double *ref)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs(x[i] - ref[i]));
    return m;
}

/* --- the tests ----------------------------------------------------------- */

static void test_rosenbrock(void)
{
    static const double ones[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    OptSettings s = tight();
    OptResult r;

    for (int lim = 0; lim <= 1; lim++) {
        const char *kind = lim ? "L-BFGS" : "BFGS";
        OptWork *w = lim ? opt_new_limited(2, 5) : opt_new(2);
        Ctx c = {.n = 2};
        double x[2] = {-1.2, 1};
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_CONVERGED_GRAD, "%s rosenbrock 2: converged on gradient (%s)", kind,
           r.message);
        ok(max_dev(2, x, ones) < 1e-6, "%s rosenbrock 2: x = (%.10f, %.10f) after %d iterations, %d evaluations",
           kind, x[0], x[1], r.iterations, r.evaluations);
        ok(r.evaluations == c.calls, "%s rosenbrock 2: evaluations counted (%d)", kind, c.calls);
        opt_free(&w);
        ok(w == NULL, "%s: opt_free clears the pointer", kind);
    }
    for (int lim = 0; lim <= 1; lim++) {
        const char *kind = lim ? "L-BFGS" : "BFGS";
        OptWork *w = lim ? opt_new_limited(10, 7) : opt_new(10);
        Ctx c = {.n = 10};
        double x[10];
        for (int i = 0; i < 10; i++)
            x[i] = i % 2 ? 1 : -1.2;
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_CONVERGED_GRAD, "%s rosenbrock 10: %s", kind, r.message);
        ok(max_dev(10, x, ones) < 1e-6, "%s rosenbrock 10: max |x - 1| = %.2e after %d iterations",
           kind, max_dev(10, x, ones), r.iterations);
        ok(fabs(r.f) < 1e-12 && r.gmax < 1e-9, "%s rosenbrock 10: f = %.2e, max|g| = %.2e", kind,
           r.f, r.gmax);
        opt_free(&w);
    }
}

/* Cholesky solve of the SPD system A x = b (n x n, row-major), in place
 * in a copy: the exact minimiser of 0.5 x'Ax - b'x. */
static void spd_solve(int n, const double *A, const double *b, double *L, double *x)
{
    memcpy(L, A, sizeof(double) * n * n);
    for (int j = 0; j < n; j++) {
        for (int k = 0; k < j; k++)
            L[j * n + j] -= L[j * n + k] * L[j * n + k];
        L[j * n + j] = sqrt(L[j * n + j]);
        for (int i = j + 1; i < n; i++) {
            for (int k = 0; k < j; k++)
                L[i * n + j] -= L[i * n + k] * L[j * n + k];
            L[i * n + j] /= L[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) {
        double v = b[i];
        for (int k = 0; k < i; k++)
            v -= L[i * n + k] * x[k];
        x[i] = v / L[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double v = x[i];
        for (int k = i + 1; k < n; k++)
            v -= L[k * n + i] * x[k];
        x[i] = v / L[i * n + i];
    }
}

static void test_quadratic(void)
{
    enum { N = 50 };
    static double A[N * N], B[N * N], L[N * N], b[N], xs[N], x[N];
    unsigned long seed = 12345;
    OptSettings s = tight();
    OptResult r;
    double scale = 0;

    /* A = B'B / N + diag(0.1 .. 5.0): SPD, condition number in the hundreds. */
    for (int i = 0; i < N * N; i++) {
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        B[i] = (double)(seed >> 11) / 9007199254740992.0 - 0.5;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double v = 0;
            for (int k = 0; k < N; k++)
                v += B[k * N + i] * B[k * N + j];
            A[i * N + j] = v / N + (i == j ? 0.1 + 4.9 * i / (N - 1) : 0);
        }
    for (int i = 0; i < N; i++)
        b[i] = sin(i + 1.0) * 3;
    spd_solve(N, A, b, L, xs);
    for (int i = 0; i < N; i++)
        scale = fmax(scale, fabs(xs[i]));

    for (int lim = 0; lim <= 1; lim++) {
        const char *kind = lim ? "L-BFGS" : "BFGS";
        OptWork *w = lim ? opt_new_limited(N, 10) : opt_new(N);
        Ctx c = {.n = N, .A = A, .b = b};
        for (int i = 0; i < N; i++)
            x[i] = 0;
        opt_minimize(w, quad, &c, x, &s, &r);
        ok(r.status == OPT_CONVERGED_GRAD, "%s quadratic 50: %s", kind, r.message);
        ok(max_dev(N, x, xs) < 1e-8 * scale,
           "%s quadratic 50: max |x - A\\b| = %.2e (|x*| %.2f) in %d iterations", kind,
           max_dev(N, x, xs), scale, r.iterations);
        ok(r.iterations <= (lim ? 200 : 80), "%s quadratic 50: %d iterations", kind, r.iterations);
        opt_free(&w);
    }

    /* The function-change test alone. */
    {
        OptWork *w = opt_new(N);
        Ctx c = {.n = N, .A = A, .b = b};
        for (int i = 0; i < N; i++)
            x[i] = 0;
        s.gtol = 0;
        s.ftol = 1e-9;
        opt_minimize(w, quad, &c, x, &s, &r);
        ok(r.status == OPT_CONVERGED_FTOL, "ftol: %s", r.message);
        ok(max_dev(N, x, xs) < 1e-3 * scale, "ftol: near the minimiser (%.2e)", max_dev(N, x, xs));
        opt_free(&w);
    }
}

static void test_unevaluable(void)
{
    static const double cc[2] = {1, 2};
    double x[2] = {10, 10}, xs[2] = {1, 0.5};
    OptSettings s = tight();
    OptResult r;
    for (int lim = 0; lim <= 1; lim++) {
        const char *kind = lim ? "L-BFGS" : "BFGS";
        OptWork *w = lim ? opt_new_limited(2, 3) : opt_new(2);
        Ctx c = {.n = 2, .c = cc};
        x[0] = x[1] = 10;
        opt_minimize(w, barrier, &c, x, &s, &r);
        ok(c.refused > 0, "%s barrier: %d trial points refused", kind, c.refused);
        ok(r.status == OPT_CONVERGED_GRAD && max_dev(2, x, xs) < 1e-8,
           "%s barrier: backed off and converged to (%.10f, %.10f): %s", kind, x[0], x[1],
           r.message);
        opt_free(&w);
    }
}

static void test_noisy(void)
{
    static const double ones[4] = {1, 1, 1, 1};
    OptSettings s = tight();
    OptResult r;
    s.gtol = 1e-9;
    s.fnoise = 1e-8;
    for (int lim = 0; lim <= 1; lim++) {
        const char *kind = lim ? "L-BFGS" : "BFGS";
        OptWork *w = lim ? opt_new_limited(4, 3) : opt_new(4);
        Ctx c = {.n = 4};
        double x[4] = {-3, 4, 0.5, 2};
        opt_minimize(w, noisy, &c, x, &s, &r);
        ok(r.status == OPT_CONVERGED_GRAD && max_dev(4, x, ones) < 1e-8,
           "%s noisy f: the slope leads where f cannot (%s, |x - 1| %.1e)", kind, r.message,
           max_dev(4, x, ones));
        opt_free(&w);
    }
}

static void test_transforms(void)
{
    static const double lo[] = {-INFINITY, 0, -INFINITY, -2, 1e-3};
    static const double hi[] = {INFINITY, INFINITY, 5, 3, 1e3};
    static const double xv[] = {-7.5, 0.25, 4.9, 2.999, 0.0011};
    int good = 1, inside = 1;
    for (int k = 0; k < 5; k++) {
        double u = opt_to_internal(xv[k], lo[k], hi[k]), d, dp, dm, h = 1e-6;
        double x = opt_to_external(u, lo[k], hi[k], &d);
        double xp = opt_to_external(u + h, lo[k], hi[k], &dp);
        double xm = opt_to_external(u - h, lo[k], hi[k], &dm);
        double fd = (xp - xm) / (2 * h);
        if (!(fabs(x - xv[k]) <= 1e-12 * fmax(1, fabs(xv[k]))) ||
            !(fabs(fd - d) <= 1e-6 * fmax(1, fabs(d)))) {
            good = 0;
            printf("# transform %d: x %g -> u %g -> %g, dx/du %g vs %g\n", k, xv[k], u, x, d, fd);
        }
        for (double uu = -800; uu <= 800; uu += 50) {
            double xe = opt_to_external(uu, lo[k], hi[k], NULL);
            if (!(xe >= lo[k] && xe <= hi[k]))
                inside = 0;
        }
    }
    ok(good, "transforms: round trip and dx/du against central differences");
    ok(inside, "transforms: x within its bounds for every u, however large");
    ok(isnan(opt_to_internal(0, 0, 1)) && isnan(opt_to_internal(1, 0, 1)) &&
           isnan(opt_to_internal(-1, 0, INFINITY)) && isnan(opt_to_internal(NAN, -INFINITY, INFINITY)),
       "transforms: NaN for x on or outside a bound");
}

static void test_bounds(void)
{
    /* x0 in (0, 2), x1 > -0.5, x2 in (-5, 5), x3 < 4: optimum (2, -0.5, 1, 4). */
    static const double lo[4] = {0, -0.5, -5, -INFINITY};
    static const double hi[4] = {2, INFINITY, 5, 4};
    double x[4] = {1, 0, 0, 0}, u[4], ex[4], gx[4];
    Ctx c = {.n = 4};
    OptBox b = {.n = 4, .lo = lo, .hi = hi, .fn = boxed, .ctx = &c, .x = ex, .gx = gx};
    OptWork *w;
    OptSettings s = tight();
    OptResult r;

    s.gtol = 1e-9;
    ok(opt_box_nfree(&b) == 4, "bounds: 4 free");
    ok(opt_box_pack(&b, x, u) == 0, "bounds: start inside the box");
    memcpy(ex, x, sizeof x);
    w = opt_new(4);
    ok(opt_check_grad(w, opt_box_fn, &b, u, NULL) < 1e-7, "bounds: chain-rule gradient in u is right");
    opt_minimize(w, opt_box_fn, &b, u, &s, &r);
    opt_box_unpack(&b, u, x);
    ok(r.status == OPT_CONVERGED_GRAD || r.status == OPT_CONVERGED_FTOL, "bounds: %s", r.message);
    /* The logistic may round onto the bound itself, never past it. */
    ok(x[0] <= 2 && 2 - x[0] < 1e-6, "bounds: x0 = 2 - %.2e, at the upper bound", 2 - x[0]);
    ok(x[1] > -0.5 && x[1] + 0.5 < 1e-6, "bounds: x1 = -0.5 + %.2e, on the lower bound", x[1] + 0.5);
    ok(fabs(x[2] - 1) < 1e-7, "bounds: interior x2 = %.10f", x[2]);
    ok(x[3] <= 4 && 4 - x[3] < 1e-6, "bounds: x3 = 4 - %.2e, at the upper-only bound", 4 - x[3]);
    opt_free(&w);

    x[0] = 2;
    ok(opt_box_pack(&b, x, u) == 1, "bounds: pack names parameter 1 on its bound");
}

static void test_fix(void)
{
    static const unsigned char fixed[3] = {0, 1, 0};
    static const double lo[3] = {-INFINITY, -INFINITY, 0};
    double x[3] = {0, 5, 1}, u[2], ex[3], gx[3], H[4];
    Ctx c = {.n = 3};
    OptBox b = {.n = 3, .lo = lo, .fixed = fixed, .fn = coupled, .ctx = &c, .x = ex, .gx = gx};
    OptWork *w;
    OptSettings s = tight();
    OptResult r;
    int rc;

    ok(opt_box_nfree(&b) == 2, "FIX: 2 of 3 parameters free");
    rc = opt_box_pack(&b, x, u);
    ok(rc == 0 && u[0] == 0 && fabs(u[1]) < 1e-15, "FIX: pack skips the fixed one (u = %g, %g)",
       u[0], u[1]);
    memcpy(ex, x, sizeof x);
    w = opt_new(2);
    opt_minimize(w, opt_box_fn, &b, u, &s, &r);
    opt_box_unpack(&b, u, x);
    ok(r.status == OPT_CONVERGED_GRAD, "FIX: %s", r.message);
    ok(x[1] == 5 && ex[1] == 5, "FIX: the fixed parameter kept its value exactly");
    ok(fabs(x[0] + 1.5) < 1e-8 && fabs(x[2] - 0.5) < 1e-8,
       "FIX: conditional optimum (-1.5, 5, 0.5), got (%.10f, %g, %.10f)", x[0], x[1], x[2]);

    /* The Hessian in u of the free pair at the optimum: d2f/dx0^2 = 2,
     * and for x2 = e^u2, d2f/du2^2 = 2 x2^2 + g2 x2 = 2 * 0.25. */
    rc = opt_hessian(w, opt_box_fn, &b, u, H);
    ok(rc == 0 && fabs(H[0] - 2) < 1e-6 &&
           fabs(H[3] - 0.5) < 1e-6 && fabs(H[1]) < 1e-6,
       "FIX: Hessian of the free parameters in u (%g %g; %g %g)", H[0], H[1], H[2], H[3]);
    opt_free(&w);
}

static int count_cb(void *vctx, const OptIter *it)
{
    int *k = vctx;
    if (it->iter != *k)
        *k = -1000;     /* iterations must come in order from 0 */
    else
        (*k)++;
    return it->iter == 7;
}

typedef struct {
    double prev[2], worst;
    int have;
} StepLog;

static int step_cb(void *vctx, const OptIter *it)
{
    StepLog *l = vctx;
    if (l->have)
        l->worst = fmax(l->worst, fmax(fabs(it->x[0] - l->prev[0]), fabs(it->x[1] - l->prev[1])));
    l->prev[0] = it->x[0];
    l->prev[1] = it->x[1];
    l->have = 1;
    return 0;
}

static void test_statuses(void)
{
    OptWork *w = opt_new(2);
    OptSettings s = tight();
    OptResult r;
    double x[2];

    {
        Ctx c = {.n = 2};
        x[0] = -1.2, x[1] = 1;
        s.max_iter = 5;
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_MAX_ITER && r.iterations == 5, "max_iter: %s after %d", r.message,
           r.iterations);
        ok(r.f < 24.2 && isfinite(r.f), "max_iter: x is the last iterate, f = %g < f(x0)", r.f);
        s = tight();
    }
    {
        Ctx c = {.n = 2};
        x[0] = -1.2, x[1] = 1;
        s.max_eval = 12;
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_MAX_EVAL && r.evaluations <= 12 && c.calls <= 12,
           "max_eval: %s after %d evaluations", r.message, r.evaluations);
        s = tight();
    }
    {
        Ctx c = {.n = 2};
        double f;
        double g[2];
        x[0] = -1.2, x[1] = 1;
        c.abort_after = 9;
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_ABORTED && r.fn_code == -2, "abort mid-run: %s (code %d)", r.message,
           r.fn_code);
        c.abort_after = 0;
        rosen(&c, x, &f, g);
        ok(f == r.f && f < 24.2, "abort mid-run: x and f are the last accepted point (%g)", f);
    }
    {
        Ctx c = {.n = 2};
        x[0] = NAN, x[1] = 1;
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_NONFINITE_START && c.calls == 0, "non-finite x: %s", r.message);
        x[0] = 1;
        opt_minimize(w, nan_f, &c, x, &s, &r);
        ok(r.status == OPT_NONFINITE_START, "non-finite f at the start: %s", r.message);
        opt_minimize(w, refuse, &c, x, &s, &r);
        ok(r.status == OPT_NONFINITE_START, "refused at the start: %s", r.message);
        opt_minimize(w, abort3, &c, x, &s, &r);
        ok(r.status == OPT_ABORTED && r.fn_code == -3 && r.evaluations == 1,
           "abort at the start: code %d", r.fn_code);
    }
    {
        Ctx c = {.n = 2};
        x[0] = 1, x[1] = -2;
        opt_minimize(w, uphill, &c, x, &s, &r);
        ok(r.status == OPT_LINESEARCH_FAILED && x[0] == 1 && x[1] == -2 && r.f == 5,
           "wrong-sign gradient: %s, x unchanged", r.message);
    }
    {
        Ctx c = {.n = 2};
        int k = 0;
        x[0] = -1.2, x[1] = 1;
        s.callback = count_cb;
        s.callback_ctx = &k;
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_STOPPED && r.iterations == 7 && k == 8,
           "callback: called for iterations 0..7 in order, stop honoured (%s)", r.message);
        s = tight();
    }
    {
        Ctx c = {.n = 2};
        StepLog l = {{0, 0}, 0, 0};
        x[0] = -1.2, x[1] = 1;
        s.max_step = 0.05;
        s.callback = step_cb;
        s.callback_ctx = &l;
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_CONVERGED_GRAD && l.worst <= 0.05 * (1 + 1e-12) && fabs(x[0] - 1) < 1e-6,
           "max_step 0.05: largest step %.4f, %s", l.worst, r.message);
        s = tight();
    }
    {
        Ctx c = {.n = 2};
        FILE *fp = tmpfile();
        char line[256] = "";
        x[0] = -1.2, x[1] = 1;
        s.callback = opt_trace_print;
        s.callback_ctx = fp;
        s.max_iter = 3;
        opt_minimize(w, rosen, &c, x, &s, &r);
        rewind(fp);
        ok(fp && fgets(line, sizeof line, fp) && strncmp(line, "iter    0", 9) == 0,
           "trace: first line \"%.40s...\"", line);
        fclose(fp);
        s = tight();
    }
    {
        Ctx c = {.n = 2};
        x[0] = -1.2, x[1] = 1;
        s.c1 = 0.95;
        OptStatus st = opt_minimize(w, rosen, &c, x, &s, &r);
        ok(st == OPT_BAD_INPUT && r.status == st && c.calls == 0, "c1 > c2: %s", r.message);
        s = tight();
    }
    {
        int distinct = 1;
        for (int a = OPT_CONVERGED_GRAD; a <= OPT_BAD_INPUT; a++)
            for (int b = a + 1; b <= OPT_BAD_INPUT; b++)
                if (strcmp(opt_message((OptStatus)a), opt_message((OptStatus)b)) == 0)
                    distinct = 0;
        ok(distinct, "every status has its own message");
    }
    {
        Ctx c = {.n = 2};
        x[0] = 1, x[1] = 1;
        opt_minimize(w, rosen, &c, x, &s, &r);
        ok(r.status == OPT_CONVERGED_GRAD && r.iterations == 0 && r.evaluations == 1,
           "start at the optimum: converged after 1 evaluation, 0 iterations");
    }
    {
        /* Everything FIXed: nothing to optimise, f evaluated once. */
        static const unsigned char all[3] = {1, 1, 1};
        double ex[3] = {1, 2, 3}, gx[3], u[1];
        Ctx c = {.n = 3};
        OptBox b = {.n = 3, .fixed = all, .fn = coupled, .ctx = &c, .x = ex, .gx = gx};
        OptWork *w0 = opt_new(opt_box_nfree(&b));
        opt_minimize(w0, opt_box_fn, &b, u, &s, &r);
        ok(w0 && opt_size(w0) == 0 && r.status == OPT_CONVERGED_GRAD && c.calls == 1 && r.f == 8,
           "all FIXed: n = 0, one evaluation, f = %g", r.f);
        opt_free(&w0);
    }
    ok(opt_new_limited(3, 0) == NULL && opt_new(-1) == NULL, "workspace: invalid sizes refused");
    opt_free(&w);
}

static void test_derivatives(void)
{
    static const double pts[3][3] = {{0.3, -0.7, 1.2}, {-1.1, 0.4, 0.8}, {2.0, 1.5, -0.6}};
    OptWork *w = opt_new(3);
    Ctx c = {.n = 3};
    double H[9], Hx[9], worst_h = 0;
    int sym = 1, worst;

    for (int p = 0; p < 3; p++) {
        ok(opt_hessian(w, smooth3, &c, pts[p], H) == 0, "hessian: evaluated at point %d", p);
        smooth3_hess(pts[p], Hx);
        for (int i = 0; i < 9; i++)
            worst_h = fmax(worst_h, fabs(H[i] - Hx[i]) / fmax(fabs(Hx[i]), 1));
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                if (H[i * 3 + j] != H[j * 3 + i])
                    sym = 0;
    }
    ok(worst_h < 1e-7, "hessian: central differences match the analytic Hessian (%.2e)", worst_h);
    ok(sym, "hessian: exactly symmetric");
    opt_free(&w);

    {
        static const double x1[2] = {1, 1};
        Ctx c2 = {.n = 2};
        w = opt_new(2);
        opt_hessian(w, rosen, &c2, x1, H);
        ok(fabs(H[0] - 802) < 1e-5 && fabs(H[1] + 400) < 1e-5 && fabs(H[3] - 200) < 1e-5,
           "hessian: rosenbrock at (1,1) = [802 -400; -400 200]: %.8g %.8g %.8g", H[0], H[1], H[3]);
        opt_free(&w);
    }

    w = opt_new(3);
    {
        double e = opt_check_grad(w, smooth3, &c, pts[1], &worst);
        ok(e >= 0 && e < 1e-8, "gradient check: exact gradient passes (%.2e)", e);
        e = opt_check_grad(w, smooth3_wrong, &c, pts[0], &worst);
        ok(e > 1e-3 && worst == 1, "gradient check: 1%% error in d/dx1 caught (%.2e at %d)", e, worst);
        e = opt_check_grad(w, refuse, &c, pts[1], &worst);
        ok(e == -1, "gradient check: -1 when f cannot be evaluated");
    }
    opt_free(&w);
}

int main(void)
{
    test_rosenbrock();
    test_quadratic();
    test_unevaluable();
    test_noisy();
    test_transforms();
    test_bounds();
    test_fix();
    test_statuses();
    test_derivatives();
    return tap_done();
}
