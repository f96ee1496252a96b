/* test_nn: dense networks against independent truth -- a forward pass
 * worked by hand, the activations' derivatives and the tangent dY/dx
 * against central differences, the full reverse-mode gradient of a loss in
 * Y and dY against central differences in every parameter and input,
 * Xavier statistics and seeding, batches against rows one at a time, the
 * DENSE chain reader, and the error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"
#include "rng.h"
#include "tap.h"

/* The test's own allocations: a failure ends the run, not a check. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        printf("# out of memory\n");
        exit(2);
    }
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = xmalloc(n * sz);
    memset(p, 0, n * sz);
    return p;
}

static Nn *make(const char *chain)
{
    NnSpec s;
    Nn *nn = NULL;
    char err[NN_ERRLEN];
    if (nn_spec_parse(chain, &s, err) != NN_OK || nn_new(&s, &nn, err) != NN_OK) {
        printf("# %s: %s\n", chain, err);
        exit(2);
    }
    return nn;
}

static NnWork *work(const Nn *nn, int maxpoints)
{
    NnWork *w = NULL;
    char err[NN_ERRLEN];
    if (nn_work_new(nn, maxpoints, &w, err) != NN_OK) {
        printf("# workspace: %s\n", err);
        exit(2);
    }
    return w;
}

/* Xavier weights, then biases and X drawn so every path carries signal. */
static double *params_for(const Nn *nn, uint64_t seed)
{
    double *p = xmalloc((size_t)nn_nparams(nn) * sizeof *p);
    nn_init(nn, seed, 0, p);
    Rng r;
    rng_init(&r, seed, 1, 99);
    const NnSpec *s = nn_spec(nn);
    for (int l = 0; l < s->nlayers; l++)
        for (int j = 0; j < s->width[l + 1]; j++)
            p[nn_bias_offset(nn, l) + j] = 0.5 * rng_normal(&r);
    return p;
}

static double *points(int np, int nin, uint64_t seed)
{
    double *X = xmalloc((size_t)np * nin * sizeof *X);
    Rng r;
    rng_init(&r, seed, 2, 0);
    for (int i = 0; i < np * nin; i++)
        X[i] = 2 * rng_uniform(&r) - 1;
    return X;
}

static double relerr(double a, double b, double scale)
{
    return fabs(a - b) / fmax(fmax(fabs(a), fabs(b)), scale);
}

/* --- a 2 -> 2 tanh -> 1 network worked by hand ---------------------------------- */

static void hand(void)
{
    Nn *nn = make("2 -> 2 tanh -> 1");
    /* W0 = [[0.5, -0.25], [1, 0.75]], b0 = [0.1, -0.2], W1 = [[2, -1.5]], b1 = [0.3] */
    double p[] = { 0.5, -0.25, 1.0, 0.75, 0.1, -0.2, 2.0, -1.5, 0.3 };
    ok(nn_nparams(nn) == 9 && nn_weights_offset(nn, 0) == 0 && nn_bias_offset(nn, 0) == 4 &&
           nn_weights_offset(nn, 1) == 6 && nn_bias_offset(nn, 1) == 8,
       "2 -> 2 -> 1: 9 parameters, laid out W0 b0 W1 b1");
    double X[] = { 1, 2, -0.5, 0.4, 0, 0 }, Y[3], Yt[3], dY[3];
    /* row 1: z = (0.5 - 0.5 + 0.1, 1 + 1.5 - 0.2) = (0.1, 2.3);
     * row 2: (-0.25 - 0.1 + 0.1, -0.5 + 0.3 - 0.2) = (-0.25, -0.4);
     * row 3: the biases (0.1, -0.2) */
    double z[3][2] = { { 0.1, 2.3 }, { -0.25, -0.4 }, { 0.1, -0.2 } };
    NnWork *w = work(nn, 3);
    int rc = nn_forward(w, p, 3, X, Y);
    int rc2 = nn_forward_tangent(w, p, 3, X, 0, Yt, dY);
    double worst = 0, worstd = 0;
    for (int i = 0; i < 3; i++) {
        double t1 = tanh(z[i][0]), t2 = tanh(z[i][1]);
        double y = 0.3 + 2 * t1 - 1.5 * t2;
        /* dy/dx1 = 2 * 0.5 * (1 - t1^2) - 1.5 * 1 * (1 - t2^2) */
        double dy = 2 * 0.5 * (1 - t1 * t1) - 1.5 * 1.0 * (1 - t2 * t2);
        worst = fmax(worst, fmax(fabs(Y[i] - y), fabs(Yt[i] - y)));
        worstd = fmax(worstd, fabs(dY[i] - dy));
    }
    ok(rc == NN_OK && rc2 == NN_OK && worst < 1e-15, "hand-computed forward (max error %.1e)",
       worst);
    ok(worstd < 1e-15, "hand-computed dY/dx1 (max error %.1e)", worstd);
    nn_work_free(&w);
    nn_free(&nn);
    ok(w == NULL && nn == NULL, "the free functions set their handles to NULL");
}

/* --- activations ---------------------------------------------------------------- */

static void activations(void)
{
    static const double xs[] = { -30, -8, -2.5, -1.3, -0.2, -1e-3, 1e-7, 0.4, 1.7, 6, 19, 30 };
    for (int a = NN_IDENTITY; a <= NN_SOFTPLUS; a++) {
        double worst1 = 0, worst2 = 0;
        for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
            double x = xs[i], h = 1e-5 * fmax(1, fabs(x));
            if (a == NN_RELU && fabs(x) < 2 * h)
                continue;   /* the kink */
            double d1, d2, p1, m1;
            nn_act_eval((NnAct)a, x, &d1, &d2);
            double fd1 = (nn_act_eval((NnAct)a, x + h, NULL, NULL) -
                          nn_act_eval((NnAct)a, x - h, NULL, NULL)) / (2 * h);
            nn_act_eval((NnAct)a, x + h, &p1, NULL);
            nn_act_eval((NnAct)a, x - h, &m1, NULL);
            double fd2 = (p1 - m1) / (2 * h);
            worst1 = fmax(worst1, fabs(d1 - fd1) / fmax(1, fabs(fd1)));
            worst2 = fmax(worst2, fabs(d2 - fd2) / fmax(1, fabs(fd2)));
        }
        ok(worst1 < 1e-9 && worst2 < 1e-9,
           "%s: first and second derivatives match central differences (%.1e, %.1e)",
           nn_act_name((NnAct)a), worst1, worst2);
    }
    /* values against the textbook formulas, and the tails */
    double worst = 0;
    for (double x = -6; x <= 6; x += 0.37) {
        worst = fmax(worst, relerr(nn_act_eval(NN_TANH, x, NULL, NULL), tanh(x), 1e-300));
        worst = fmax(worst, relerr(nn_act_eval(NN_SIGMOID, x, NULL, NULL), 1 / (1 + exp(-x)), 0));
        worst = fmax(worst, relerr(nn_act_eval(NN_SOFTPLUS, x, NULL, NULL), log1p(exp(x)), 0));
        worst = fmax(worst, relerr(nn_act_eval(NN_RELU, x, NULL, NULL), x > 0 ? x : 0, 1e-300));
    }
    ok(worst < 1e-14, "tanh, sigmoid, softplus, relu agree with their formulas (%.1e)", worst);
    double d1t, d2t, d1s;
    nn_act_eval(NN_TANH, 20, &d1t, &d2t);
    double c = cosh(20.0), sech2 = 1 / (c * c);
    nn_act_eval(NN_SIGMOID, -40, &d1s, NULL);
    ok(relerr(d1t, sech2, 0) < 1e-13 && relerr(d2t, -2 * tanh(20.0) * sech2, 0) < 1e-13 &&
           relerr(d1s, exp(-40) / ((1 + exp(-40)) * (1 + exp(-40))), 0) < 1e-13,
       "tail derivatives keep their relative accuracy (tanh'(20), tanh''(20), sigmoid'(-40))");
    double sp = nn_act_eval(NN_SOFTPLUS, 800, &d1t, &d2t);
    double sg = nn_act_eval(NN_SIGMOID, -800, &d1s, NULL);
    ok(sp == 800 && d1t == 1 && d2t == 0 && sg == 0 && d1s == 0,
       "softplus(800) and sigmoid(-800) neither overflow nor give NaN");
    double r1, r2;
    nn_act_eval(NN_RELU, 0, &r1, &r2);
    ok(r1 == 0 && r2 == 0, "relu'(0) = relu''(0) = 0");
}

/* --- tangents ------------------------------------------------------------------- */

static void tangent_fd(const char *chain)
{
    Nn *nn = make(chain);
    int nin = nn_ninputs(nn), nout = nn_noutputs(nn), np = 7;
    double *p = params_for(nn, 11), *X = points(np, nin, 12);
    double *Y = xmalloc((size_t)np * nout * sizeof *Y), *dY = xmalloc((size_t)np * nout * sizeof *Y);
    double *Yp = xmalloc((size_t)np * nout * sizeof *Y), *Ym = xmalloc((size_t)np * nout * sizeof *Y);
    double *Y0 = xmalloc((size_t)np * nout * sizeof *Y);
    NnWork *w = work(nn, np);
    double worst = 0;
    int rc = nn_forward(w, p, np, X, Y0);
    for (int k = 0; k < nin; k++) {
        rc |= nn_forward_tangent(w, p, np, X, k, Y, dY);
        for (int i = 0; i < np * nout; i++)
            worst = fmax(worst, fabs(Y[i] - Y0[i]));
        const double h = 1e-5;
        for (int i = 0; i < np; i++)
            X[i * nin + k] += h;
        rc |= nn_forward(w, p, np, X, Yp);
        for (int i = 0; i < np; i++)
            X[i * nin + k] -= 2 * h;
        rc |= nn_forward(w, p, np, X, Ym);
        for (int i = 0; i < np; i++)
            X[i * nin + k] += h;
        for (int i = 0; i < np * nout; i++)
            worst = fmax(worst, relerr(dY[i], (Yp[i] - Ym[i]) / (2 * h), 1e-3));
    }
    ok(rc == NN_OK && worst < 1e-7, "%s: dY/dx_k matches central differences of the forward, "
       "every k (%.1e)", chain, worst);
    nn_work_free(&w);
    nn_free(&nn);
    free(p), free(X), free(Y), free(dY), free(Yp), free(Ym), free(Y0);
}

/* --- the full gradient ---------------------------------------------------------- */

/* L = sum a Y^2 + b Y dY + c dY^2, and its adjoints */
enum { LA, LB, LC };
static const double coef[] = { 0.7, -1.3, 0.9 };

static double loss(NnWork *w, const double *p, int np, int nout, const double *X, int k, double *Y,
                   double *dY, double *gY, double *gdY)
{
    if (nn_forward_tangent(w, p, np, X, k, Y, dY) != NN_OK)
        return NAN;
    double L = 0;
    for (int i = 0; i < np * nout; i++) {
        L += coef[LA] * Y[i] * Y[i] + coef[LB] * Y[i] * dY[i] + coef[LC] * dY[i] * dY[i];
        if (gY) {
            gY[i] = 2 * coef[LA] * Y[i] + coef[LB] * dY[i];
            gdY[i] = coef[LB] * Y[i] + 2 * coef[LC] * dY[i];
        }
    }
    return L;
}

static void gradient_fd(const char *chain, int k)
{
    Nn *nn = make(chain);
    int nin = nn_ninputs(nn), nout = nn_noutputs(nn), np = 9, npar = nn_nparams(nn);
    double *p = params_for(nn, 21), *X = points(np, nin, 22);
    size_t ny = (size_t)np * nout;
    double *Y = xmalloc(ny * sizeof *Y), *dY = xmalloc(ny * sizeof *Y);
    double *gY = xmalloc(ny * sizeof *Y), *gdY = xmalloc(ny * sizeof *Y);
    double *grad = xcalloc((size_t)npar, sizeof *grad), *fd = xmalloc((size_t)npar * sizeof *fd);
    double *gX = xmalloc((size_t)np * nin * sizeof *gX);
    NnWork *w = work(nn, np);
    loss(w, p, np, nout, X, k, Y, dY, gY, gdY);
    int rc = nn_backward(w, p, X, gY, gdY, grad, gX);

    const double h = 1e-5;
    double gmax = 0, worst = 0;
    for (int j = 0; j < npar; j++) {
        double pj = p[j];
        p[j] = pj + h;
        double Lp = loss(w, p, np, nout, X, k, Y, dY, NULL, NULL);
        p[j] = pj - h;
        double Lm = loss(w, p, np, nout, X, k, Y, dY, NULL, NULL);
        p[j] = pj;
        fd[j] = (Lp - Lm) / (2 * h);
        gmax = fmax(gmax, fabs(fd[j]));
    }
    for (int j = 0; j < npar; j++)
        worst = fmax(worst, relerr(grad[j], fd[j], 1e-2 * gmax));
    ok(rc == NN_OK && worst < 1e-6,
       "%s: dL/dparams of L = sum aY^2 + bY dY + c dY^2 (d/dx%d), all %d parameters, "
       "matches central differences (%.1e)", chain, k + 1, npar, worst);

    double xmax = 0, xworst = 0, *fx = xmalloc((size_t)np * nin * sizeof *fx);
    for (int j = 0; j < np * nin; j++) {
        double xj = X[j];
        X[j] = xj + h;
        double Lp = loss(w, p, np, nout, X, k, Y, dY, NULL, NULL);
        X[j] = xj - h;
        double Lm = loss(w, p, np, nout, X, k, Y, dY, NULL, NULL);
        X[j] = xj;
        fx[j] = (Lp - Lm) / (2 * h);
        xmax = fmax(xmax, fabs(fx[j]));
    }
    for (int j = 0; j < np * nin; j++)
        xworst = fmax(xworst, relerr(gX[j], fx[j], 1e-2 * xmax));
    ok(xworst < 1e-6, "%s: dL/dX matches central differences (%.1e)", chain, xworst);
    nn_work_free(&w);
    nn_free(&nn);
    free(p), free(X), free(Y), free(dY), free(gY), free(gdY), free(grad), free(fd), free(gX);
    free(fx);
}

/* A data loss (no tangent) through nn_forward, against central differences
 * and against the tangent pass with gdY = 0; and grad accumulates. */
static void gradient_plain(void)
{
    Nn *nn = make("3 -> 6 softplus -> 5 sigmoid -> 2");
    int nin = 3, nout = 2, np = 8, npar = nn_nparams(nn);
    double *p = params_for(nn, 31), *X = points(np, nin, 32);
    double Y[16], dY[16], gY[16], zero[16] = { 0 };
    double *g1 = xcalloc((size_t)npar, sizeof *g1), *g2 = xcalloc((size_t)npar, sizeof *g2);
    NnWork *w = work(nn, np);
    int rc = nn_forward(w, p, np, X, Y);
    for (int i = 0; i < np * nout; i++)
        gY[i] = 2 * Y[i];   /* L = sum Y^2 */
    rc |= nn_backward(w, p, X, gY, NULL, g1, NULL);
    rc |= nn_forward_tangent(w, p, np, X, 1, Y, dY);
    rc |= nn_backward(w, p, X, gY, zero, g2, NULL);
    double worst = 0, same = 0, gmax = 0;
    for (int j = 0; j < npar; j++)
        gmax = fmax(gmax, fabs(g1[j]));
    for (int j = 0; j < npar; j++) {
        double pj = p[j], Lp = 0, Lm = 0;
        p[j] = pj + 1e-5;
        rc |= nn_forward(w, p, np, X, Y);
        for (int i = 0; i < np * nout; i++)
            Lp += Y[i] * Y[i];
        p[j] = pj - 1e-5;
        rc |= nn_forward(w, p, np, X, Y);
        for (int i = 0; i < np * nout; i++)
            Lm += Y[i] * Y[i];
        p[j] = pj;
        worst = fmax(worst, relerr(g1[j], (Lp - Lm) / 2e-5, 1e-2 * gmax));
        same = fmax(same, relerr(g1[j], g2[j], 1e-2 * gmax));
    }
    ok(rc == NN_OK && worst < 1e-6, "data loss without a tangent: gradient matches central "
       "differences (%.1e)", worst);
    ok(same < 1e-14, "... and equals the tangent pass's with gdY = 0 (%.1e)", same);
    rc = nn_forward(w, p, np, X, Y);
    rc |= nn_backward(w, p, X, gY, NULL, g1, NULL);
    rc |= nn_backward(w, p, X, gY, NULL, g1, NULL);
    double acc = 0;
    for (int j = 0; j < npar; j++)
        acc = fmax(acc, relerr(g1[j], 3 * g2[j], 1e-2 * gmax));
    ok(rc == NN_OK && acc < 1e-13, "nn_backward adds into grad, and may run twice on one pass");
    nn_work_free(&w);
    nn_free(&nn);
    free(p), free(X), free(g1), free(g2);
}

/* --- initialisation ------------------------------------------------------------- */

static void xavier(void)
{
    Nn *nn = make("400 -> 600");
    int n = 400 * 600;
    double *p = xmalloc((size_t)nn_nparams(nn) * sizeof *p);
    for (int i = 0; i < nn_nparams(nn); i++)
        p[i] = NAN;
    nn_init(nn, 2024, 0, p);
    double a = sqrt(6.0 / 1000), var = 2.0 / 1000, s1 = 0, s2 = 0, amax = 0;
    for (int i = 0; i < n; i++)
        s1 += p[i], s2 += p[i] * p[i], amax = fmax(amax, fabs(p[i]));
    double m = s1 / n, v = s2 / n - m * m;
    /* U(-a, a): sd of w is sqrt(var), of w^2 sqrt(a^4/5 - a^4/9) */
    double se_m = sqrt(var / n), se_v = sqrt(4 * a * a * a * a / 45 / n);
    printf("# Xavier 400 -> 600: mean %.2e (se %.1e), variance %.6f (want %.6f, se %.1e)\n", m,
           se_m, v, var, se_v);
    ok(fabs(m) < 5 * se_m && fabs(v - var) < 5 * se_v,
       "Xavier uniform: mean 0 and variance 2/(fan_in + fan_out) within 5 SE");
    int zero = 1;
    for (int j = 0; j < 600; j++)
        zero &= p[n + j] == 0;
    ok(amax < a && zero, "weights inside (-a, a), a = sqrt(6/(fan_in + fan_out)); biases 0");
    nn_free(&nn);
    free(p);

    Nn *n1 = make("3 -> 8 tanh -> 5 tanh -> 1"), *n2 = make("3 -> 8 tanh -> 7 tanh -> 1");
    int np1 = nn_nparams(n1);
    double *p1 = xmalloc((size_t)np1 * sizeof *p1), *p2 = xmalloc((size_t)np1 * sizeof *p2);
    double *p3 = xmalloc((size_t)nn_nparams(n2) * sizeof *p3);
    nn_init(n1, 7, 3, p1);
    nn_init(n1, 7, 3, p2);
    ok(memcmp(p1, p2, (size_t)np1 * sizeof *p1) == 0, "the same seed gives the same weights");
    nn_init(n1, 8, 3, p2);
    int differ = memcmp(p1, p2, 24 * sizeof *p1) != 0;
    nn_init(n1, 7, 4, p2);
    differ &= memcmp(p1, p2, 24 * sizeof *p1) != 0;
    ok(differ, "another seed, or another unit, gives other weights");
    nn_init(n2, 7, 3, p3);
    ok(memcmp(p1, p3, 24 * sizeof *p1) == 0,
       "layer 1's weights do not depend on the width of layer 2 (one stream per layer)");
    nn_free(&n1);
    nn_free(&n2);
    free(p1), free(p2), free(p3);
}

/* --- batches -------------------------------------------------------------------- */

static void batches(void)
{
    Nn *nn = make("2 -> 16 tanh -> 16 sigmoid -> 3 softplus");
    int nin = 2, nout = 3, np = 37, npar = nn_nparams(nn);
    double *p = params_for(nn, 41), *X = points(np, nin, 42);
    size_t ny = (size_t)np * nout;
    double *Y = xmalloc(ny * sizeof *Y), *dY = xmalloc(ny * sizeof *Y), *gY = xmalloc(ny * sizeof *Y);
    double *gdY = xmalloc(ny * sizeof *Y), *gX = xmalloc((size_t)np * nin * sizeof *gX);
    double *gb = xcalloc((size_t)npar, sizeof *gb), *gr = xcalloc((size_t)npar, sizeof *gr);
    NnWork *wb = work(nn, np), *w1 = work(nn, 1);
    loss(wb, p, np, nout, X, 0, Y, dY, gY, gdY);
    int rc = nn_backward(wb, p, X, gY, gdY, gb, gX);
    double worst = 0, worstx = 0, gmax = 0;
    for (int i = 0; i < np; i++) {
        double y1[3], d1[3], gy1[3], gd1[3], gx1[2];
        loss(w1, p, 1, nout, X + i * nin, 0, y1, d1, gy1, gd1);
        rc |= nn_backward(w1, p, X + i * nin, gy1, gd1, gr, gx1);
        for (int j = 0; j < nout; j++)
            worst = fmax(worst, fmax(relerr(y1[j], Y[i * nout + j], 1e-12),
                                     relerr(d1[j], dY[i * nout + j], 1e-12)));
        for (int j = 0; j < nin; j++)
            worstx = fmax(worstx, relerr(gx1[j], gX[i * nin + j], 1e-12));
    }
    ok(rc == NN_OK && worst < 1e-13, "a batch of 37 gives the rows of 37 batches of one: Y, dY "
       "(%.1e)", worst);
    for (int j = 0; j < npar; j++)
        gmax = fmax(gmax, fabs(gb[j]));
    double worstg = 0;
    for (int j = 0; j < npar; j++)
        worstg = fmax(worstg, relerr(gb[j], gr[j], 1e-6 * gmax));
    ok(worstx < 1e-13 && worstg < 1e-12, "... and dL/dX row by row, and dL/dparams as the sum "
       "(%.1e, %.1e)", worstx, worstg);
    nn_work_free(&wb);
    nn_work_free(&w1);
    nn_free(&nn);
    free(p), free(X), free(Y), free(dY), free(gY), free(gdY), free(gX), free(gb), free(gr);
}

/* --- shapes and errors ---------------------------------------------------------- */

static void shapes(void)
{
    NnSpec s;
    char err[NN_ERRLEN], buf[128];
    int rc = nn_spec_parse("1 -> 16 tanh -> 16 tanh -> 1", &s, err);
    ok(rc == NN_OK && s.nlayers == 3 && s.width[0] == 1 && s.width[1] == 16 && s.width[2] == 16 &&
           s.width[3] == 1 && s.act[0] == NN_TANH && s.act[1] == NN_TANH &&
           s.act[2] == NN_IDENTITY,
       "DENSE 1 -> 16 tanh -> 16 tanh -> 1");
    Nn *nn = NULL;
    rc = nn_new(&s, &nn, err);
    nn_describe(nn, buf, sizeof buf);
    ok(rc == NN_OK && nn_nparams(nn) == 16 + 16 + 256 + 16 + 16 + 1 && nn_ninputs(nn) == 1 &&
           nn_noutputs(nn) == 1 && strcmp(buf, "1 -> 16 tanh -> 16 tanh -> 1") == 0,
       "321 parameters; described as '%s'", buf);
    nn_free(&nn);

    NnSpec d;
    int widths[] = { 2, 32, 32, 1 };
    rc = nn_spec_dense(&d, 4, widths, NN_RELU, err);
    rc |= nn_spec_parse("2->32 RELU->32 relu ->1", &s, err);
    ok(rc == NN_OK && memcmp(&d, &s, sizeof d) == 0,
       "nn_spec_dense gives what the chain gives; activations are case-insensitive");
    rc = nn_spec_parse("2 -> 8 -> 3 softplus", &s, err);
    nn_new(&s, &nn, err);
    int k = nn_describe(nn, buf, 8);
    ok(rc == NN_OK && s.act[0] == NN_TANH && s.act[1] == NN_SOFTPLUS &&
           k == (int)strlen("2 -> 8 tanh -> 3 softplus") && strcmp(buf, "2 -> 8 ") == 0,
       "an unmarked hidden layer is tanh; an output may have an activation; describe truncates as snprintf does");
    nn_free(&nn);

    static const char *const bad[] = { "1 -> foo -> 1", "1 tanh -> 4 -> 1", "16", "",
                                       "1 -> 0 -> 1", "1 -> 16 tanh ->", "1 16 -> 1",
                                       "1 -> 99999999999 -> 1" };
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        rc = nn_spec_parse(bad[i], &s, err);
        printf("# '%s': %s\n", bad[i], err);
        all &= rc == NN_EINVAL && err[0] != '\0';
    }
    ok(all, "malformed chains are NN_EINVAL with a message");
    s.nlayers = 0;
    ok(nn_new(&s, &nn, err) == NN_EINVAL && nn == NULL, "nn_new rejects an empty spec: %s", err);
    NnAct a;
    ok(nn_act_from_name("SoftPlus", &a) == NN_OK && a == NN_SOFTPLUS &&
           nn_act_from_name("gelu", &a) == NN_EINVAL && strcmp(nn_act_name(NN_SIGMOID),
                                                              "sigmoid") == 0,
       "activation names");
}

static void errors(void)
{
    Nn *nn = make("2 -> 4 tanh -> 1");
    double *p = params_for(nn, 51), X[6] = { 0 }, Y[3], dY[3], g[64] = { 0 };
    NnWork *w = work(nn, 2), *w2 = NULL;
    char err[NN_ERRLEN];
    ok(nn_backward(w, p, X, Y, NULL, g, NULL) == NN_EINVAL && *nn_work_error(w),
       "backward before any forward: %s", nn_work_error(w));
    ok(nn_forward(w, p, 3, X, Y) == NN_EINVAL, "a batch larger than the workspace: %s",
       nn_work_error(w));
    ok(nn_forward_tangent(w, p, 2, X, 2, Y, dY) == NN_EINVAL &&
           nn_forward_tangent(w, p, 2, X, -1, Y, dY) == NN_EINVAL,
       "a tangent input out of range: %s", nn_work_error(w));
    ok(nn_backward(w, p, X, Y, NULL, g, NULL) == NN_EINVAL,
       "a failed forward leaves nothing to differentiate");
    nn_forward(w, p, 2, X, Y);
    ok(nn_backward(w, p, X, Y, dY, g, NULL) == NN_EINVAL && *nn_work_error(w),
       "gdY after a forward pass without a tangent: %s", nn_work_error(w));
    ok(nn_forward(w, p, 0, X, Y) == NN_OK && nn_backward(w, p, X, NULL, NULL, g, NULL) == NN_OK,
       "an empty batch is no error");
    ok(nn_work_new(nn, 0, &w2, err) == NN_EINVAL && w2 == NULL, "maxpoints 0: %s", err);
    nn_work_free(&w);
    nn_free(&nn);
    free(p);

    /* a workspace whose size overflows size_t: refused before malloc */
    nn = make("1 -> 536870912 tanh -> 1");
    ok(nn_work_new(nn, (1 << 30) - 1, &w2, err) == NN_ENOMEM && w2 == NULL,
       "a workspace too large to address is NN_ENOMEM: %s", err);
    nn_free(&nn);
#ifdef QLX_FAULTS
    NnSpec s;
    nn_spec_parse("1 -> 4 tanh -> 1", &s, NULL);
    setenv("QLX_FAIL_ALLOC", "0", 1);
    int r1 = nn_new(&s, &nn, err);
    unsetenv("QLX_FAIL_ALLOC");
    Nn *good = NULL;
    nn_new(&s, &good, NULL);
    setenv("QLX_FAIL_ALLOC", "0", 1);
    int r2 = nn_work_new(good, 10, &w2, err);
    unsetenv("QLX_FAIL_ALLOC");
    ok(r1 == NN_ENOMEM && nn == NULL && r2 == NN_ENOMEM && w2 == NULL,
       "injected allocation failures are NN_ENOMEM: %s", err);
    nn_free(&good);
#endif
}

/* --- speed (a note, not a check) ------------------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void speed(void)
{
    Nn *nn = make("1 -> 16 tanh -> 16 tanh -> 16 tanh -> 1");
    int np = 60, npar = nn_nparams(nn), reps = 2000;
    double *p = params_for(nn, 61), *X = points(np, 1, 62), Y[60], dY[60], gY[60], gdY[60];
    double *g = xcalloc((size_t)npar, sizeof *g);
    NnWork *w = work(nn, np);
    for (int i = 0; i < np; i++)
        gY[i] = 1, gdY[i] = 0.5;
    int rc = 0;
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        rc |= nn_forward_tangent(w, p, np, X, 0, Y, dY);
        rc |= nn_backward(w, p, X, gY, gdY, g, NULL);
    }
    double us = (now() - t0) / reps * 1e6;
    printf("# speed: 1-16-16-16-1 (%d parameters), 60 points: forward+tangent+backward %.1f us "
           "(mean of %d)\n", npar, us, reps);
    if (rc != NN_OK)
        printf("# speed loop failed: %s\n", nn_work_error(w));
    nn_work_free(&w);
    nn_free(&nn);
    free(p), free(X), free(g);
}

int main(void)
{
    hand();
    activations();
    tangent_fd("2 -> 5 tanh -> 4 sigmoid -> 3 softplus -> 2");
    tangent_fd("3 -> 6 relu -> 2 tanh");
    gradient_fd("2 -> 5 tanh -> 4 sigmoid -> 3 softplus -> 2 tanh", 1);
    gradient_fd("2 -> 5 tanh -> 4 sigmoid -> 3 softplus -> 2 tanh", 0);
    gradient_fd("1 -> 16 tanh -> 16 tanh -> 1", 0);
    gradient_fd("2 -> 6 relu -> 4 identity -> 3", 0);
    gradient_plain();
    xavier();
    batches();
    shapes();
    errors();
    speed();
    return tap_done();
}
