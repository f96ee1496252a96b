/*
 * nn.c -- dense networks with a forward tangent and an exact reverse pass.
 *
 * Layer l:  z = W h + b,  h' = s(z).  Seeding the tangent dh_0 = e_k (the
 * unit vector of input k) and pushing it through
 *
 *     dz = W dh,   dh' = s'(z) dz
 *
 * gives dY = dY/dx_k at the output.  The forward pass is then a function
 * of the parameters with two outputs, (Y, dY), and its reverse mode, from
 * adjoints gh' and gdh' of a layer's outputs, is
 *
 *     gz  = gh' s'(z) + gdh' s''(z) dz      (dh' depends on z through s')
 *     gdz = gdh' s'(z)
 *     gW += gz h^T + gdz dh^T,   gb += gz,   gh = W^T gz,   gdh = W^T gdz
 *
 * Rows are points.  A layer's primal and tangent rows sit one above the
 * other in one array, [h; dh] (2 npoints rows), so that z and dz, which
 * are both linear in W, come from one dgemm, and so do gW and [gh; gdh]
 * in the reverse pass.  At the input dh_0 = e_k is constant: dz_0 is
 * column k of W_0, its gradient a column sum, and dL/dX = gz_0 W_0 alone.
 *
 * The forward pass keeps s'(z) and s''(z) beside z and h, so the reverse
 * pass evaluates no activation (they are most of a small network's cost).
 * An identity layer stores h as z (the same array), keeps no s', s'' and
 * skips its loops.
 */
#include "nn.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "rng.h"

struct Nn {
    NnSpec s;
    int nparams;
    int woff[NN_MAXLAYERS], boff[NN_MAXLAYERS];
    int maxwidth;
};

struct NnWork {
    const Nn *nn;
    int maxpoints;
    /* the last forward pass: its rows, and its tangent column or -1;
     * npoints < 0 until one succeeds */
    int npoints, k;
    /* z[l], h[l]: layer l's [z; dz] and [h; dh], 2*maxpoints rows of
     * width[l+1] (tangent rows from npoints on); d[l]: [s'(z); s''(z)]
     * alike.  For identity h[l] == z[l] and d[l] is NULL. */
    double *z[NN_MAXLAYERS], *h[NN_MAXLAYERS], *d[NN_MAXLAYERS];
    double *g[2];          /* reverse-pass adjoints, ping-pong */
    char err[NN_ERRLEN];
    double buf[];
};

static void seterr(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void seterr(char *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, NN_ERRLEN, fmt, ap);
    va_end(ap);
}

/* An Nn or NnWork is one block: one allocation, one failure point. */
static void *alloc_block(size_t n)
{
#ifdef QLX_FAULTS
    const char *f = getenv("QLX_FAIL_ALLOC");
    if (f && *f && strtol(f, NULL, 10) == 0)
        return NULL;
#endif
    return mem_malloc(n);
}

/* --- activations ------------------------------------------------------------ */

static const char *const act_names[] = { "identity", "tanh", "relu", "sigmoid", "softplus" };
enum { NACT = (int)(sizeof act_names / sizeof act_names[0]) };

const char *nn_act_name(NnAct a)
{
    return (int)a >= 0 && (int)a < NACT ? act_names[a] : "?";
}

static int streq_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int ca = (unsigned char)a[i], cb = (unsigned char)b[i];
        if (ca >= 'A' && ca <= 'Z')
            ca += 'a' - 'A';
        if (ca != cb)
            return 0;
    }
    return b[n] == '\0';
}

static int act_lookup(const char *name, size_t n, NnAct *a)
{
    for (int i = 0; i < NACT; i++)
        if (streq_nocase(name, act_names[i], n)) {
            *a = (NnAct)i;
            return NN_OK;
        }
    return NN_EINVAL;
}

int nn_act_from_name(const char *name, NnAct *a)
{
    return act_lookup(name, strlen(name), a);
}

/* e = e^{-x} and em = e - 1 for x >= 0, each to full relative accuracy:
 * near 0 em needs expm1, far out e needs exp (1 + expm1 rounds to 0). */
static inline void expm(double x, double *e, double *em)
{
    if (x < 0.5) {
        *em = expm1(-x);
        *e = 1 + *em;
    } else {
        *e = exp(-x);
        *em = *e - 1;
    }
}

/*
 * s, s', s'' at x, all three from one transcendental call, in forms that
 * keep their relative accuracy in the tails (where 1 - tanh^2 computed
 * from tanh would lose it) and near 0.
 */
static inline double act3(NnAct a, double x, double *d1, double *d2)
{
    double y, s1, s2;
    switch (a) {
    case NN_TANH: {
        /* e = e^{-2|x|}, em = e - 1: tanh|x| = -em/(1 + e), sech^2 = 4e/(1 + e)^2 */
        double e, em, ax = 2 * fabs(x);
        expm(ax, &e, &em);
        double r = 1 / (1 + e);
        y = copysign(-em * r, x);
        s1 = 4 * e * r * r;
        s2 = -2 * y * s1;
        break;
    }
    case NN_SIGMOID: {
        /* e = e^{-|x|}: s(|x|) = 1/(1+e), s' = e/(1+e)^2,
         * s'' = s' (1 - 2 s) = -s' tanh(x/2), tanh(|x|/2) = -em/(1 + e) */
        double e, em;
        expm(fabs(x), &e, &em);
        double r = 1 / (1 + e);
        y = x >= 0 ? r : e * r;
        s1 = e * r * r;
        s2 = -s1 * copysign(-em * r, x);
        break;
    }
    case NN_SOFTPLUS: {
        /* log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}): no overflow; s' is
         * the sigmoid and s'' its derivative */
        double e = exp(-fabs(x)), r = 1 / (1 + e);
        y = fmax(x, 0) + log1p(e);
        s1 = x >= 0 ? r : e * r;
        s2 = e * r * r;
        break;
    }
    case NN_RELU:
        y = x > 0 ? x : 0;
        s1 = x > 0 ? 1 : 0;
        s2 = 0;
        break;
    default:
        y = x, s1 = 1, s2 = 0;
        break;
    }
    *d1 = s1;
    *d2 = s2;
    return y;
}

double nn_act_eval(NnAct a, double x, double *d1, double *d2)
{
    double s1, s2, y = act3(a, x, &s1, &s2);
    if (d1)
        *d1 = s1;
    if (d2)
        *d2 = s2;
    return y;
}

/* --- shape ------------------------------------------------------------------ */

static int spec_check(const NnSpec *s, char *err)
{
    if (s->nlayers < 1 || s->nlayers > NN_MAXLAYERS) {
        seterr(err, "a network has 1 to %d layers, not %d", NN_MAXLAYERS, s->nlayers);
        return NN_EINVAL;
    }
    for (int l = 0; l <= s->nlayers; l++)
        if (s->width[l] < 1) {
            seterr(err, "layer width %d is %d; widths are positive", l, s->width[l]);
            return NN_EINVAL;
        }
    for (int l = 0; l < s->nlayers; l++)
        if ((int)s->act[l] < 0 || (int)s->act[l] >= NACT) {
            seterr(err, "layer %d has an unknown activation (%d)", l + 1, (int)s->act[l]);
            return NN_EINVAL;
        }
    return NN_OK;
}

int nn_spec_dense(NnSpec *s, int nwidths, const int *widths, NnAct hidden, char *err)
{
    memset(s, 0, sizeof *s);
    if (nwidths < 2 || nwidths > NN_MAXLAYERS + 1) {
        seterr(err, "a network has 2 to %d widths, not %d", NN_MAXLAYERS + 1, nwidths);
        return NN_EINVAL;
    }
    s->nlayers = nwidths - 1;
    for (int l = 0; l < nwidths; l++)
        s->width[l] = widths[l];
    for (int l = 0; l < s->nlayers; l++)
        s->act[l] = l + 1 < s->nlayers ? hidden : NN_IDENTITY;
    return spec_check(s, err);
}

/* chain = int [act] { "->" int [act] } */
int nn_spec_parse(const char *chain, NnSpec *s, char *err)
{
    const char *p = chain;
    int n = 0, given[NN_MAXLAYERS + 1] = { 0 };
    memset(s, 0, sizeof *s);
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9') {
            seterr(err, "expected a layer width at '%s'", *p ? p : "the end");
            return NN_EINVAL;
        }
        if (n > NN_MAXLAYERS) {
            seterr(err, "more than %d layers", NN_MAXLAYERS);
            return NN_EINVAL;
        }
        char *end;
        long v = strtol(p, &end, 10);
        if (v < 1 || v > INT_MAX) {
            seterr(err, "layer width %.*s is not a positive int", (int)(end - p), p);
            return NN_EINVAL;
        }
        s->width[n] = (int)v;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *w = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            p++;
        if (p > w) {
            NnAct a;
            if (act_lookup(w, (size_t)(p - w), &a) != NN_OK) {
                seterr(err, "unknown activation '%.*s' (tanh relu sigmoid softplus identity)",
                       (int)(p - w), w);
                return NN_EINVAL;
            }
            if (n == 0) {
                seterr(err, "the input width takes no activation ('%.*s')", (int)(p - w), w);
                return NN_EINVAL;
            }
            s->act[n - 1] = a;
            given[n] = 1;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        n++;
        if (*p == '\0')
            break;
        if (p[0] != '-' || p[1] != '>') {
            seterr(err, "layers are joined by ->, not '%s'", p);
            return NN_EINVAL;
        }
        p += 2;
    }
    if (n < 2) {
        seterr(err, "a network needs an input and an output width");
        return NN_EINVAL;
    }
    s->nlayers = n - 1;
    /* tanh, not identity, for an unmarked hidden layer: a stack of linear
     * layers is one linear map, and PINNs want s'' != 0 */
    for (int l = 1; l < n; l++)
        if (!given[l])
            s->act[l - 1] = l < n - 1 ? NN_TANH : NN_IDENTITY;
    return spec_check(s, err);
}

int nn_new(const NnSpec *spec, Nn **out, char *err)
{
    *out = NULL;
    if (spec_check(spec, err) != NN_OK)
        return NN_EINVAL;
    long long np = 0;
    int off[NN_MAXLAYERS][2], maxw = 0;
    for (int l = 0; l < spec->nlayers; l++) {
        long long nin = spec->width[l], nout = spec->width[l + 1];
        off[l][0] = (int)np;
        np += nin * nout;
        off[l][1] = (int)np;
        np += nout;
        /* offsets are ints (cblas takes ints): stop before they wrap */
        if (np > INT_MAX) {
            seterr(err, "the network has more than %d parameters", INT_MAX);
            return NN_EINVAL;
        }
    }
    for (int l = 0; l <= spec->nlayers; l++)
        if (spec->width[l] > maxw)
            maxw = spec->width[l];
    Nn *nn = alloc_block(sizeof *nn);
    if (!nn) {
        seterr(err, "out of memory for a network");
        return NN_ENOMEM;
    }
    nn->s = *spec;
    nn->nparams = (int)np;
    nn->maxwidth = maxw;
    for (int l = 0; l < spec->nlayers; l++)
        nn->woff[l] = off[l][0], nn->boff[l] = off[l][1];
    *out = nn;
    return NN_OK;
}

void nn_free(Nn **nn)
{
    if (!nn || !*nn)
        return;
    mem_free(*nn);
    *nn = NULL;
}

const NnSpec *nn_spec(const Nn *nn) { return &nn->s; }
int nn_nparams(const Nn *nn) { return nn->nparams; }
int nn_ninputs(const Nn *nn) { return nn->s.width[0]; }
int nn_noutputs(const Nn *nn) { return nn->s.width[nn->s.nlayers]; }

int nn_weights_offset(const Nn *nn, int layer)
{
    return layer >= 0 && layer < nn->s.nlayers ? nn->woff[layer] : -1;
}

int nn_bias_offset(const Nn *nn, int layer)
{
    return layer >= 0 && layer < nn->s.nlayers ? nn->boff[layer] : -1;
}

int nn_describe(const Nn *nn, char *buf, size_t n)
{
    size_t used = 0;
    int total = 0;
    for (int l = 0; l <= nn->s.nlayers; l++) {
        const char *act = "";
        /* the output's identity is the default and goes unsaid */
        if (l > 0 && !(l == nn->s.nlayers && nn->s.act[l - 1] == NN_IDENTITY))
            act = nn_act_name(nn->s.act[l - 1]);
        int k = snprintf(buf ? buf + used : NULL, used < n ? n - used : 0, "%s%d%s%s",
                         l ? " -> " : "", nn->s.width[l], *act ? " " : "", act);
        if (k < 0)
            return k;
        total += k;
        used = used + (size_t)k < n ? used + (size_t)k : n;
    }
    return total;
}

void nn_init(const Nn *nn, uint64_t seed, uint32_t unit, double *params)
{
    for (int l = 0; l < nn->s.nlayers; l++) {
        int nin = nn->s.width[l], nout = nn->s.width[l + 1];
        double a = sqrt(6.0 / (nin + nout)), *W = params + nn->woff[l];
        Rng r;
        rng_init(&r, seed, unit, NN_STREAM + (uint32_t)l);
        for (long i = 0; i < (long)nin * nout; i++)
            W[i] = a * (2 * rng_uniform(&r) - 1);
        memset(params + nn->boff[l], 0, (size_t)nout * sizeof *params);
    }
}

/* --- batches ---------------------------------------------------------------- */

/* *acc += a*b doubles, 0 on size_t overflow. */
static int add_size(size_t *acc, size_t a, size_t b)
{
    if (b && a > SIZE_MAX / b)
        return 0;
    if (*acc > SIZE_MAX - a * b)
        return 0;
    *acc += a * b;
    return 1;
}

int nn_work_new(const Nn *nn, int maxpoints, NnWork **out, char *err)
{
    *out = NULL;
    /* 2*maxpoints rows go to dgemm as an int */
    if (maxpoints < 1 || maxpoints > INT_MAX / 2) {
        seterr(err, "a batch holds 1 to %d points, not %d", INT_MAX / 2, maxpoints);
        return NN_EINVAL;
    }
    size_t rows = 2 * (size_t)maxpoints, nd = 0;
    int ok = 1;
    for (int l = 0; l < nn->s.nlayers; l++) {
        ok = ok && add_size(&nd, rows, (size_t)nn->s.width[l + 1]);
        if (nn->s.act[l] != NN_IDENTITY)
            ok = ok && add_size(&nd, 2 * rows, (size_t)nn->s.width[l + 1]);
    }
    ok = ok && add_size(&nd, 2 * rows, (size_t)nn->maxwidth);
    ok = ok && nd <= (SIZE_MAX - sizeof(NnWork)) / sizeof(double);
    NnWork *w = ok ? alloc_block(sizeof *w + nd * sizeof(double)) : NULL;
    if (!w) {
        seterr(err, "out of memory for a workspace of %d points", maxpoints);
        return NN_ENOMEM;
    }
    memset(w, 0, sizeof *w);
    w->nn = nn;
    w->maxpoints = maxpoints;
    w->npoints = -1;
    double *p = w->buf;
    for (int l = 0; l < nn->s.nlayers; l++) {
        size_t sz = rows * (size_t)nn->s.width[l + 1];
        w->z[l] = p, p += sz;
        if (nn->s.act[l] != NN_IDENTITY) {
            w->h[l] = p, p += sz;
            w->d[l] = p, p += sz;
        } else {
            w->h[l] = w->z[l];
            w->d[l] = NULL;
        }
    }
    w->g[0] = p, p += rows * (size_t)nn->maxwidth;
    w->g[1] = p;
    *out = w;
    return NN_OK;
}

void nn_work_free(NnWork **w)
{
    if (!w || !*w)
        return;
    mem_free(*w);
    *w = NULL;
}

const char *nn_work_error(const NnWork *w)
{
    return w->err;
}

/* The forward pass into the workspace; k < 0: no tangent. */
static int forward(NnWork *w, const double *params, int np, const double *X, int k)
{
    const Nn *nn = w->nn;
    w->npoints = -1;
    w->err[0] = '\0';
    if (np < 0 || np > w->maxpoints) {
        seterr(w->err, "a batch of %d points in a workspace for %d", np, w->maxpoints);
        return NN_EINVAL;
    }
    if (k >= nn->s.width[0]) {
        seterr(w->err, "tangent input %d of a network with %d inputs", k, nn->s.width[0]);
        return NN_EINVAL;
    }
    int rows = k >= 0 ? 2 * np : np;
    for (int l = 0; l < nn->s.nlayers && np > 0; l++) {
        int nin = nn->s.width[l], nout = nn->s.width[l + 1];
        const double *W = params + nn->woff[l], *b = params + nn->boff[l];
        double *Z = w->z[l], *H = w->h[l], *D = w->d[l];
        for (int i = 0; i < np; i++)
            memcpy(Z + (size_t)i * nout, b, (size_t)nout * sizeof *Z);
        if (l == 0) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, np, nout, nin, 1.0, X, nin, W,
                        nin, 1.0, Z, nout);
            /* dz_0 = W_0 e_k: the same column k of W_0 on every row */
            for (int i = 0; k >= 0 && i < np; i++)
                for (int j = 0; j < nout; j++)
                    Z[(size_t)(np + i) * nout + j] = W[(size_t)j * nin + k];
        } else {
            if (k >= 0)
                memset(Z + (size_t)np * nout, 0, (size_t)np * nout * sizeof *Z);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nout, nin, 1.0,
                        w->h[l - 1], nin, W, nin, 1.0, Z, nout);
        }
        NnAct a = nn->s.act[l];
        if (a == NN_IDENTITY)
            continue;
        size_t n = (size_t)np * nout;
        if (k >= 0)
            for (size_t i = 0; i < n; i++) {
                H[i] = act3(a, Z[i], &D[i], &D[n + i]);
                H[n + i] = D[i] * Z[n + i];
            }
        else
            for (size_t i = 0; i < n; i++) {
                double d2;
                H[i] = act3(a, Z[i], &D[i], &d2);
            }
    }
    w->npoints = np;
    w->k = k;
    return NN_OK;
}

int nn_forward(NnWork *w, const double *params, int npoints, const double *X, double *Y)
{
    int rc = forward(w, params, npoints, X, -1);
    if (rc == NN_OK && npoints > 0) {
        const Nn *nn = w->nn;
        memcpy(Y, w->h[nn->s.nlayers - 1], (size_t)npoints * nn_noutputs(nn) * sizeof *Y);
    }
    return rc;
}

int nn_forward_tangent(NnWork *w, const double *params, int npoints, const double *X, int k,
                       double *Y, double *dY)
{
    if (k < 0) {
        w->npoints = -1;
        seterr(w->err, "tangent input %d is negative", k);
        return NN_EINVAL;
    }
    int rc = forward(w, params, npoints, X, k);
    if (rc == NN_OK && npoints > 0) {
        const Nn *nn = w->nn;
        size_t n = (size_t)npoints * nn_noutputs(nn);
        const double *H = w->h[nn->s.nlayers - 1];
        memcpy(Y, H, n * sizeof *Y);
        memcpy(dY, H + n, n * sizeof *dY);
    }
    return rc;
}

int nn_backward(NnWork *w, const double *params, const double *X, const double *gY,
                const double *gdY, double *grad, double *gX)
{
    const Nn *nn = w->nn;
    int np = w->npoints, k = w->k, L = nn->s.nlayers;
    w->err[0] = '\0';
    if (np < 0) {
        seterr(w->err, "nn_backward without a forward pass");
        return NN_EINVAL;
    }
    if (gdY && k < 0) {
        seterr(w->err, "a gradient for dY after a forward pass without a tangent");
        return NN_EINVAL;
    }
    if (np == 0)
        return NN_OK;
    int tan = k >= 0, rows = tan ? 2 * np : np, cur = 0;
    /* the adjoints of [Y; dY] */
    size_t n = (size_t)np * nn->s.width[L];
    double *G = w->g[0];
    if (gY)
        memcpy(G, gY, n * sizeof *G);
    else
        memset(G, 0, n * sizeof *G);
    if (tan && gdY)
        memcpy(G + n, gdY, n * sizeof *G);
    else if (tan)
        memset(G + n, 0, n * sizeof *G);

    for (int l = L - 1; l >= 0; l--) {
        int nin = nn->s.width[l], nout = nn->s.width[l + 1];
        const double *W = params + nn->woff[l], *Z = w->z[l], *D = w->d[l];
        double *gW = grad + nn->woff[l], *gb = grad + nn->boff[l];
        NnAct a = nn->s.act[l];
        G = w->g[cur];
        n = (size_t)np * nout;
        /* [gh; gdh] -> [gz; gdz]; identity leaves them as they are */
        if (a != NN_IDENTITY && tan)
            for (size_t i = 0; i < n; i++) {
                double gdh = G[n + i];
                G[i] = G[i] * D[i] + gdh * D[n + i] * Z[n + i];
                G[n + i] = gdh * D[i];
            }
        else if (a != NN_IDENTITY)
            for (size_t i = 0; i < n; i++)
                G[i] *= D[i];
        for (int i = 0; i < np; i++)
            for (int j = 0; j < nout; j++)
                gb[j] += G[(size_t)i * nout + j];
        if (l == 0) {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nout, nin, np, 1.0, G, nout, X,
                        nin, 1.0, gW, nin);
            /* dh_0 = e_k: gW_0 += gdz e_k^T, a column sum into column k */
            for (int i = 0; tan && i < np; i++)
                for (int j = 0; j < nout; j++)
                    gW[(size_t)j * nin + k] += G[n + (size_t)i * nout + j];
            /* e_k is constant, so X's adjoint comes from gz alone */
            if (gX)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, np, nin, nout, 1.0, G,
                            nout, W, nin, 0.0, gX, nin);
        } else {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nout, nin, rows, 1.0, G, nout,
                        w->h[l - 1], nin, 1.0, gW, nin);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, nin, nout, 1.0, G, nout,
                        W, nin, 0.0, w->g[1 - cur], nin);
            cur = 1 - cur;
        }
    }
    return NN_OK;
}
