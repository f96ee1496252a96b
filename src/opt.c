/*
 * opt.c -- BFGS and L-BFGS with a strong-Wolfe line search; bounds, FIX,
 * a finite-difference Hessian and a gradient checker.
 *
 * Quasi-Newton.  At x_k with gradient g_k the search direction is
 * d_k = -H_k g_k, H_k an approximation of the inverse Hessian kept
 * symmetric positive definite.  After a step s = x_{k+1} - x_k with
 * y = g_{k+1} - g_k, BFGS replaces H by the nearest matrix (in a weighted
 * norm) that satisfies the secant equation H y = s:
 *
 *     H+ = (I - rho s y') H (I - rho y s') + rho s s',   rho = 1 / y's
 *        = H - rho (s (Hy)' + (Hy) s') + (rho^2 y'Hy + rho) s s'
 *
 * the second form costing one product Hy and a rank-two update, O(n^2).
 * H+ is positive definite iff y's > 0.  The strong Wolfe conditions
 * guarantee that in exact arithmetic; with rounding, or when the line
 * search settles for a point with sufficient decrease only, the update
 * is skipped when y's <= sqrt(eps) |s| |y|, so H stays positive definite.
 * H_0 = I until the first update, which starts from the Shanno-Phua
 * scaling H_0 = (y's / y'y) I: the Rayleigh quotient of the inverse
 * Hessian along the step, so that the first quasi-Newton step has the
 * right length whatever the units of x.
 *
 * L-BFGS keeps only the last m pairs (s, y) and forms H g by the
 * two-loop recursion (Nocedal & Wright, Numerical Optimization, 2nd ed.,
 * Alg. 7.4) from H_0 = gamma I, gamma = y's / y'y of the newest pair.
 *
 * Line search.  phi(a) = f(x + a d), phi'(a) = g(x + a d)' d < 0 at 0.
 * A step is accepted under the strong Wolfe conditions
 *
 *     phi(a) <= phi(0) + c1 a phi'(0)      (sufficient decrease)
 *     |phi'(a)| <= c2 |phi'(0)|            (curvature)
 *
 * found by N&W Alg. 3.5 (bracketing: extrapolate until a step is too
 * long, or the slope turns positive) and 3.6 (zoom: shrink the bracket
 * [lo, hi], lo always the best step with sufficient decrease), each new
 * trial the minimiser of the cubic through the two ends' values and
 * slopes, safeguarded to stay 10% away from either end and replaced by
 * bisection when the cubic has no minimiser there.  A trial where the
 * objective cannot be evaluated (code > 0, or non-finite) becomes the
 * upper end of the bracket and the next trial bisects toward lo: the
 * search backs off into the region where the model is defined.  When the
 * bracket collapses or the trials run out, lo is accepted if it lowered
 * f (sufficient decrease holds there), else the search has failed.
 * After a failure the direction is reset to steepest descent once
 * (H = gamma I, pairs dropped) before the minimiser gives up.
 *
 * Near the minimum the decrease Armijo asks for, c1 a |phi'(0)|, sinks
 * below the noise of f (rounding in a sum of thousands of terms, an ODE
 * solver's tolerance) and f can no longer rank the trials, while the
 * slope still can.  There a trial is also accepted under Hager & Zhang's
 * approximate Wolfe conditions: the curvature condition, and f no higher
 * than phi(0) plus its noise (fnoise max(|f|, 1)).  Without this, every
 * tight tolerance ends in "line search failed" at a point that is in fact
 * optimal to working accuracy.
 *
 * Convergence.  The gradient test is Dennis & Schnabel's relative
 * gradient, max_i |g_i| max(|x_i|, 1) / max(|f|, 1): invariant to the
 * scale of f (a -2 log likelihood of 10^4 and one of 10 converge alike)
 * and of large x.  The function test stops when an iteration lowers f by
 * less than ftol relative (ftol = 0 turns the test off).
 *
 * Bounds.  x = lo + (hi - lo) / (1 + e^-u) with two finite bounds,
 * lo + e^u or hi - e^u with one, and x = u with none, so the minimiser
 * runs unconstrained in u.  An optimum on a bound is approached as u
 * grows without limit; dx/du goes to zero there, and so does the
 * gradient in u, which is what stops the minimiser.
 *
 * Finite differences.  Central differences have truncation error
 * O(h^2) and rounding O(eps / h), balanced at h ~ eps^(1/3), the step
 * used both for the Hessian (from gradients) and the gradient check (from
 * f).  Each h is rounded so that x + h is exact: the quotient then
 * divides by the step actually taken.
 */
#include "opt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

#include "mem.h"

/* Line search: trials per search, and the safeguard margin of an
 * interpolated trial inside its bracket. */
#define LS_MAX_TRIALS 40
#define LS_MARGIN 0.1

struct OptWork {
    int n, m;                   /* m = 0: dense BFGS */
    double *g;                  /* gradient at the current x */
    double *d;                  /* search direction */
    double *xt, *gt;            /* line search trial */
    double *xb, *gb;            /* line search best step with decrease */
    double *s, *y, *hy;         /* last step, gradient change, H y */
    double *H;                  /* n x n inverse Hessian (dense) */
    double *S, *Y, *rho, *alf;  /* m pairs, m x n each (limited) */
    int npair, head;            /* pairs stored; where the next goes */
    double gamma;               /* y's / y'y of the newest pair; 0: none */
    int have_h;                 /* dense H updated since the last reset */
    double *block;              /* the one allocation behind the arrays */
};

/* --- workspace ------------------------------------------------------------ */

static OptWork *work_new(int n, int m)
{
    OptWork *w;
    size_t nn = n > 0 ? (size_t)n : 1, mm = (size_t)m, total;
    double *p;

    if (n < 0 || m < 0)
        return NULL;
    w = mem_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    total = 9 * nn + (m ? 2 * mm * nn + 2 * mm : nn * nn);
    w->block = mem_calloc(total, sizeof(double));
    if (!w->block) {
        mem_free(w);
        return NULL;
    }
    w->n = n;
    w->m = m;
    p = w->block;
    w->g = p;  p += nn;
    w->d = p;  p += nn;
    w->xt = p; p += nn;
    w->gt = p; p += nn;
    w->xb = p; p += nn;
    w->gb = p; p += nn;
    w->s = p;  p += nn;
    w->y = p;  p += nn;
    w->hy = p; p += nn;
    if (m) {
        w->S = p;   p += mm * nn;
        w->Y = p;   p += mm * nn;
        w->rho = p; p += mm;
        w->alf = p;
    } else {
        w->H = p;
    }
    return w;
}

OptWork *opt_new(int n) { return work_new(n, 0); }

OptWork *opt_new_limited(int n, int m)
{
    return m >= 1 ? work_new(n, m) : NULL;
}

void opt_free(OptWork **w)
{
    if (!w || !*w)
        return;
    mem_free((*w)->block);
    mem_free(*w);
    *w = NULL;
}

int opt_size(const OptWork *w) { return w->n; }

const double *opt_gradient(const OptWork *w) { return w->g; }

void opt_defaults(OptSettings *s)
{
    s->max_iter = 1000;
    s->max_eval = 10000;
    s->gtol = 1e-6;
    s->ftol = 1e-12;
    s->fnoise = 1e-13;
    s->c1 = 1e-4;
    s->c2 = 0.9;
    s->max_step = 0;
    s->callback = NULL;
    s->callback_ctx = NULL;
}

const char *opt_message(OptStatus st)
{
    switch (st) {
    case OPT_CONVERGED_GRAD: return "converged: gradient below tolerance";
    case OPT_CONVERGED_FTOL: return "converged: relative change of the objective below tolerance";
    case OPT_MAX_ITER: return "stopped: maximum number of iterations reached";
    case OPT_MAX_EVAL: return "stopped: maximum number of function evaluations reached";
    case OPT_LINESEARCH_FAILED: return "failed: the line search found no step that lowers the objective";
    case OPT_ABORTED: return "aborted by the objective function";
    case OPT_STOPPED: return "stopped by the iteration callback";
    case OPT_NONFINITE_START: return "failed: objective or gradient not finite at the starting point";
    case OPT_BAD_INPUT: return "failed: invalid optimizer settings";
    }
    return "unknown optimizer status";
}

int opt_trace_print(void *file, const OptIter *it)
{
    FILE *fp = file ? file : stdout;
    fprintf(fp, "iter %4d  eval %5d  f %.12g  max|g| %.3e  rel.grad %.3e  step %.3e\n",
            it->iter, it->nfev, it->f, it->gmax, it->gscaled, it->step);
    return 0;
}

/* --- small vector kernels --------------------------------------------------- */

static double dot(int n, const double *a, const double *b)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double norm_inf(int n, const double *a)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs(a[i]) > m)
            m = fabs(a[i]);
    return m;
}

static void copy(int n, double *dst, const double *src)
{
    for (int i = 0; i < n; i++)
        dst[i] = src[i];
}

static int all_finite(int n, const double *a)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return 0;
    return 1;
}

static double scaled_grad(int n, const double *x, const double *g, double f)
{
    double m = 0;
    for (int i = 0; i < n; i++) {
        double v = fabs(g[i]) * fmax(fabs(x[i]), 1.0);
        if (v > m)
            m = v;
    }
    return m / fmax(fabs(f), 1.0);
}

/* One call of the objective with its failure modes folded into the code:
 * < 0 abort, > 0 (or a non-finite result) cannot evaluate, 0 fine. */
static int call(OptFn fn, void *ctx, int n, const double *x, double *f, double *g)
{
    int rc = fn(ctx, x, f, g);
    if (rc < 0)
        return rc;
    if (rc > 0 || !isfinite(*f) || !all_finite(n, g))
        return 1;
    return 0;
}

/* --- the inverse Hessian ---------------------------------------------------- */

/* Forget the curvature: H = gamma I (gamma = 1 before any pair). */
static void hess_reset(OptWork *w)
{
    int n = w->n;
    w->npair = w->head = 0;
    w->have_h = 0;
    if (!w->m) {
        double gm = w->gamma > 0 ? w->gamma : 1.0;
        for (int i = 0; i < n * n; i++)
            w->H[i] = 0;
        for (int i = 0; i < n; i++)
            w->H[i * n + i] = gm;
    }
}

/* d = -H g. */
static void hess_direction(OptWork *w)
{
    int n = w->n;
    const double *g = w->g;
    double *d = w->d;

    if (!w->m) {
        for (int i = 0; i < n; i++)
            d[i] = -dot(n, w->H + (size_t)i * n, g);
        return;
    }
    /* Two-loop recursion, newest pair first, then oldest first. */
    copy(n, d, g);
    for (int k = 0; k < w->npair; k++) {
        int j = (w->head - 1 - k + w->m) % w->m;
        const double *sj = w->S + (size_t)j * n, *yj = w->Y + (size_t)j * n;
        double a = w->rho[j] * dot(n, sj, d);
        w->alf[j] = a;
        for (int i = 0; i < n; i++)
            d[i] -= a * yj[i];
    }
    {
        double gm = w->npair ? w->gamma : 1.0;
        for (int i = 0; i < n; i++)
            d[i] *= gm;
    }
    for (int k = w->npair - 1; k >= 0; k--) {
        int j = (w->head - 1 - k + w->m) % w->m;
        const double *sj = w->S + (size_t)j * n, *yj = w->Y + (size_t)j * n;
        double b = w->rho[j] * dot(n, yj, d);
        for (int i = 0; i < n; i++)
            d[i] += (w->alf[j] - b) * sj[i];
    }
    for (int i = 0; i < n; i++)
        d[i] = -d[i];
}

/* Take the pair (w->s, w->y) into H, unless it would break positive
 * definiteness.  Returns 1 when used. */
static int hess_update(OptWork *w)
{
    int n = w->n;
    const double *s = w->s, *y = w->y;
    double ys = dot(n, y, s), yy = dot(n, y, y), ss = dot(n, s, s);

    if (!(ys > sqrt(DBL_EPSILON) * sqrt(ss) * sqrt(yy)))
        return 0;
    w->gamma = ys / yy;
    if (w->m) {
        int j = w->head;
        copy(n, w->S + (size_t)j * n, s);
        copy(n, w->Y + (size_t)j * n, y);
        w->rho[j] = 1.0 / ys;
        w->head = (j + 1) % w->m;
        if (w->npair < w->m)
            w->npair++;
        return 1;
    }
    if (!w->have_h) {
        /* Shanno-Phua: start the first update from (y's / y'y) I. */
        for (int i = 0; i < n * n; i++)
            w->H[i] = 0;
        for (int i = 0; i < n; i++)
            w->H[i * n + i] = w->gamma;
        w->have_h = 1;
    }
    {
        double *H = w->H, *hy = w->hy, rho = 1.0 / ys, yhy, c;
        for (int i = 0; i < n; i++)
            hy[i] = dot(n, H + (size_t)i * n, y);
        yhy = dot(n, y, hy);
        c = rho * rho * yhy + rho;
        /* One triangle, mirrored: H stays exactly symmetric. */
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) {
                double v = H[(size_t)i * n + j] + c * s[i] * s[j] -
                           rho * (s[i] * hy[j] + hy[i] * s[j]);
                H[(size_t)i * n + j] = H[(size_t)j * n + i] = v;
            }
    }
    w->npair++;
    return 1;
}

/* --- line search ------------------------------------------------------------ */

typedef struct {
    double a, f, d;             /* step, phi(a), phi'(a) */
} LsPoint;

typedef enum { LS_OK, LS_FAIL, LS_ABORT, LS_MAXEVAL } LsCode;

typedef struct {
    OptWork *w;
    OptFn fn;
    void *ctx;
    const double *x;            /* the base point */
    double f0, d0;              /* phi(0), phi'(0) < 0 */
    double c1, c2;
    double epsf;                /* absolute noise of f near f0 */
    int *nfev, max_eval;
    int fn_code;                /* the objective's code on LS_ABORT */
    LsPoint lo;                 /* best step with sufficient decrease */
    int have_lo;                /* lo.a > 0, its x and g in w->xb, w->gb */
} LineSearch;

/* Evaluate phi at a into p (x, g in w->xt, w->gt).  0 fine, > 0 cannot
 * evaluate, < 0 abort. */
static int ls_eval(LineSearch *ls, double a, LsPoint *p)
{
    OptWork *w = ls->w;
    int n = w->n, rc;
    for (int i = 0; i < n; i++)
        w->xt[i] = ls->x[i] + a * w->d[i];
    (*ls->nfev)++;
    rc = call(ls->fn, ls->ctx, n, w->xt, &p->f, w->gt);
    if (rc < 0)
        ls->fn_code = rc;
    p->a = a;
    p->d = rc ? NAN : dot(n, w->gt, w->d);
    return rc;
}

/* The trial just evaluated (in xt, gt) becomes lo. */
static void ls_take(LineSearch *ls, const LsPoint *p)
{
    ls->lo = *p;
    ls->have_lo = 1;
    copy(ls->w->n, ls->w->xb, ls->w->xt);
    copy(ls->w->n, ls->w->gb, ls->w->gt);
}

/* The minimiser of the cubic through (a, fa, da) and (b, fb, db); NaN
 * when it has none (N&W eq. 3.59). */
static double cubic_min(double a, double fa, double da, double b, double fb, double db)
{
    double d1 = da + db - 3 * (fa - fb) / (a - b);
    double disc = d1 * d1 - da * db, d2, den;
    if (!(disc >= 0))
        return NAN;
    d2 = copysign(sqrt(disc), b - a);
    den = db - da + 2 * d2;
    if (den == 0)
        return NAN;
    return b - (b - a) * (db + d2 - d1) / den;
}

static int armijo(const LineSearch *ls, const LsPoint *p)
{
    return p->f <= ls->f0 + ls->c1 * p->a * ls->d0;
}

static int curvature(const LineSearch *ls, const LsPoint *p)
{
    return fabs(p->d) <= -ls->c2 * ls->d0;
}

/* Where the decrease Armijo asks for is below the noise of f, f cannot
 * tell a good step from a bad one but the slope still can (Hager & Zhang's
 * approximate Wolfe conditions): accept the curvature condition with f no
 * higher than the noise allows. */
static int approx_wolfe(const LineSearch *ls, const LsPoint *p)
{
    return -ls->c1 * p->a * ls->d0 <= ls->epsf && p->f <= ls->f0 + ls->epsf &&
           curvature(ls, p);
}

/* N&W Alg. 3.6 on the bracket [lo, hi] (either order); hi_ok == 0 when
 * hi could not be evaluated.  lo is ls->lo when have_lo, else step 0. */
static LsCode ls_zoom(LineSearch *ls, LsPoint hi, int hi_ok, int trials)
{
    for (; trials < LS_MAX_TRIALS; trials++) {
        LsPoint lo = ls->have_lo ? ls->lo : (LsPoint){0, ls->f0, ls->d0};
        double width = hi.a - lo.a, a = NAN, lim_lo, lim_hi;
        LsPoint p;
        int rc;

        /* The bracket has shrunk to rounding: no better step exists. */
        if (fabs(width) <= 4 * DBL_EPSILON * fmax(fabs(lo.a), fabs(hi.a)))
            break;
        if (*ls->nfev >= ls->max_eval)
            return ls->have_lo ? LS_OK : LS_MAXEVAL;
        if (hi_ok)
            a = cubic_min(lo.a, lo.f, lo.d, hi.a, hi.f, hi.d);
        lim_lo = fmin(lo.a + LS_MARGIN * width, hi.a - LS_MARGIN * width);
        lim_hi = fmax(lo.a + LS_MARGIN * width, hi.a - LS_MARGIN * width);
        if (!(a >= lim_lo && a <= lim_hi))
            a = lo.a + 0.5 * width;

        rc = ls_eval(ls, a, &p);
        if (rc < 0)
            return LS_ABORT;
        if (rc > 0) {
            hi = p;
            hi_ok = 0;
            continue;
        }
        if (approx_wolfe(ls, &p)) {
            ls_take(ls, &p);
            return LS_OK;
        }
        if (!armijo(ls, &p) || p.f >= lo.f) {
            hi = p;
            hi_ok = 1;
            continue;
        }
        if (curvature(ls, &p)) {
            ls_take(ls, &p);
            return LS_OK;
        }
        /* The new lo keeps the minimiser between itself and hi: when its
         * slope points away from hi, the old lo becomes hi. */
        if (p.d * width >= 0) {
            hi = lo;
            hi_ok = 1;
        }
        ls_take(ls, &p);
    }
    /* Sufficient decrease without curvature: accept lo if it is a step. */
    return ls->have_lo ? LS_OK : LS_FAIL;
}

/* N&W Alg. 3.5 from the first trial a1, never beyond amax.  On LS_OK the
 * accepted point is ls->lo, with x and g in w->xb, w->gb. */
static LsCode line_search(LineSearch *ls, double a1, double amax)
{
    LsPoint prev = {0, ls->f0, ls->d0}, p;
    double a = fmin(a1, amax);
    int trials;

    ls->have_lo = 0;
    ls->fn_code = 0;
    for (trials = 0; trials < LS_MAX_TRIALS; trials++) {
        int rc;
        if (*ls->nfev >= ls->max_eval)
            return ls->have_lo ? LS_OK : LS_MAXEVAL;
        rc = ls_eval(ls, a, &p);
        if (rc < 0)
            return LS_ABORT;
        if (rc > 0)
            return ls_zoom(ls, p, 0, trials + 1);
        if (approx_wolfe(ls, &p)) {
            ls_take(ls, &p);
            return LS_OK;
        }
        if (!armijo(ls, &p) || (trials > 0 && p.f >= prev.f))
            return ls_zoom(ls, p, 1, trials + 1);
        if (curvature(ls, &p)) {
            ls_take(ls, &p);
            return LS_OK;
        }
        if (p.d >= 0) {
            /* Minimum passed: zoom between this step and the last. */
            ls_take(ls, &p);
            return ls_zoom(ls, prev, 1, trials + 1);
        }
        ls_take(ls, &p);
        if (a >= amax)
            return LS_OK;       /* still descending at the step cap */
        {
            /* Extrapolate: the cubic's minimiser beyond a, kept within
             * [a + 1.1 (a - prev), a + 4 (a - prev)] (More-Thuente). */
            double span = a - prev.a;
            double t = cubic_min(prev.a, prev.f, prev.d, a, p.f, p.d);
            double tmin = a + 1.1 * span, tmax = a + 4 * span;
            if (!(t >= tmin && t <= tmax))
                t = tmax;
            prev = p;
            a = fmin(t, amax);
        }
    }
    return ls->have_lo ? LS_OK : LS_FAIL;
}

/* --- the minimiser ---------------------------------------------------------- */

static int settings_ok(const OptSettings *s)
{
    return s->max_iter >= 0 && s->max_eval >= 1 && s->gtol >= 0 && s->ftol >= 0 && s->fnoise >= 0 &&
           s->c1 > 0 && s->c1 < s->c2 && s->c2 < 1 && s->max_step >= 0 &&
           isfinite(s->gtol) && isfinite(s->ftol) && isfinite(s->fnoise) && isfinite(s->max_step);
}

static OptStatus finish(OptResult *r, OptStatus st, const OptWork *w, const double *x,
                        double f, int iter, int nfev)
{
    r->status = st;
    r->message = opt_message(st);
    r->f = f;
    r->iterations = iter;
    r->evaluations = nfev;
    if (st == OPT_NONFINITE_START || st == OPT_BAD_INPUT || !isfinite(f)) {
        r->gmax = r->gscaled = NAN;
    } else {
        r->gmax = norm_inf(w->n, w->g);
        r->gscaled = scaled_grad(w->n, x, w->g, f);
    }
    return st;
}

static int report(const OptSettings *s, const OptWork *w, const double *x, double f,
                  int iter, int nfev, double step)
{
    OptIter it;
    if (!s->callback)
        return 0;
    it.iter = iter;
    it.nfev = nfev;
    it.n = w->n;
    it.f = f;
    it.gmax = norm_inf(w->n, w->g);
    it.gscaled = scaled_grad(w->n, x, w->g, f);
    it.step = step;
    it.x = x;
    it.g = w->g;
    return s->callback(s->callback_ctx, &it);
}

OptStatus opt_minimize(OptWork *w, OptFn fn, void *ctx, double *x,
                       const OptSettings *s, OptResult *r)
{
    OptSettings def;
    LineSearch ls;
    int n = w->n, nfev = 0, iter = 0, rc;
    double f = NAN;

    if (!s) {
        opt_defaults(&def);
        s = &def;
    }
    r->fn_code = 0;
    if (!settings_ok(s) || !fn)
        return finish(r, OPT_BAD_INPUT, w, x, f, 0, 0);
    if (!all_finite(n, x))
        return finish(r, OPT_NONFINITE_START, w, x, f, 0, 0);

    nfev = 1;
    rc = call(fn, ctx, n, x, &f, w->g);
    if (rc < 0) {
        r->fn_code = rc;
        return finish(r, OPT_ABORTED, w, x, NAN, 0, nfev);
    }
    if (rc > 0)
        return finish(r, OPT_NONFINITE_START, w, x, f, 0, nfev);

    w->gamma = 0;
    hess_reset(w);
    if (report(s, w, x, f, 0, nfev, 0))
        return finish(r, OPT_STOPPED, w, x, f, 0, nfev);

    ls.w = w;
    ls.fn = fn;
    ls.ctx = ctx;
    ls.x = x;
    ls.c1 = s->c1;
    ls.c2 = s->c2;
    ls.nfev = &nfev;
    ls.max_eval = s->max_eval;

    for (;;) {
        double d0, a1, amax, dmax, fprev;
        int reset = 0;
        LsCode lc;

        if (scaled_grad(n, x, w->g, f) <= s->gtol)
            return finish(r, OPT_CONVERGED_GRAD, w, x, f, iter, nfev);
        if (iter >= s->max_iter)
            return finish(r, OPT_MAX_ITER, w, x, f, iter, nfev);
        if (nfev >= s->max_eval)
            return finish(r, OPT_MAX_EVAL, w, x, f, iter, nfev);

        for (;;) {
            hess_direction(w);
            d0 = dot(n, w->g, w->d);
            /* Rounding can cost H its definiteness: restart from gamma I. */
            if (!(d0 < 0) || !all_finite(n, w->d)) {
                if (w->npair == 0)
                    return finish(r, OPT_LINESEARCH_FAILED, w, x, f, iter, nfev);
                hess_reset(w);
                reset = 1;
                continue;
            }
            /* Without curvature information the unit step means nothing:
             * the first trial moves x by at most 1 in the max-norm. */
            dmax = norm_inf(n, w->d);
            a1 = w->npair ? 1.0 : fmin(1.0, 1.0 / dmax);
            amax = s->max_step > 0 ? s->max_step / dmax : HUGE_VAL;
            ls.f0 = f;
            ls.d0 = d0;
            ls.epsf = s->fnoise * fmax(fabs(f), 1.0);
            lc = line_search(&ls, a1, amax);
            if (lc == LS_FAIL && !reset && w->npair > 0) {
                /* Once: a stale H may point badly; try steepest descent. */
                hess_reset(w);
                reset = 1;
                continue;
            }
            break;
        }
        if (lc == LS_ABORT) {
            r->fn_code = ls.fn_code;
            return finish(r, OPT_ABORTED, w, x, f, iter, nfev);
        }
        if (lc == LS_MAXEVAL)
            return finish(r, OPT_MAX_EVAL, w, x, f, iter, nfev);
        if (lc == LS_FAIL)
            return finish(r, OPT_LINESEARCH_FAILED, w, x, f, iter, nfev);

        /* Accept the step and learn from it. */
        for (int i = 0; i < n; i++) {
            w->s[i] = w->xb[i] - x[i];
            w->y[i] = w->gb[i] - w->g[i];
        }
        copy(n, x, w->xb);
        copy(n, w->g, w->gb);
        fprev = f;
        f = ls.lo.f;
        iter++;
        hess_update(w);

        if (report(s, w, x, f, iter, nfev, ls.lo.a))
            return finish(r, OPT_STOPPED, w, x, f, iter, nfev);
        if (scaled_grad(n, x, w->g, f) <= s->gtol)
            return finish(r, OPT_CONVERGED_GRAD, w, x, f, iter, nfev);
        if (s->ftol > 0 && fprev - f <= s->ftol * fmax(fmax(fabs(fprev), fabs(f)), 1.0))
            return finish(r, OPT_CONVERGED_FTOL, w, x, f, iter, nfev);
    }
}

/* --- bounds and FIX ---------------------------------------------------------- */

/* 1 / (1 + e^-u) without overflow for either sign of u. */
static double logistic(double u)
{
    if (u >= 0)
        return 1.0 / (1.0 + exp(-u));
    double e = exp(u);
    return e / (1.0 + e);
}

double opt_to_internal(double x, double lo, double hi)
{
    int has_lo = isfinite(lo), has_hi = isfinite(hi);
    if (!isfinite(x) || !(x > lo && x < hi))
        return NAN;
    if (has_lo && has_hi)
        /* log((x - lo) / (hi - x)), from the nearer bound's side */
        return log(x - lo) - log(hi - x);
    if (has_lo)
        return log(x - lo);
    if (has_hi)
        return log(hi - x);
    return x;
}

double opt_to_external(double u, double lo, double hi, double *dxdu)
{
    int has_lo = isfinite(lo), has_hi = isfinite(hi);
    double x, dx;

    if (has_lo && has_hi) {
        double p = logistic(u), q = logistic(-u);   /* q = 1 - p, exact */
        /* Interpolate from the nearer bound, so that x stays within
         * [lo, hi] and reaches neither before rounding forces it. */
        x = p <= 0.5 ? lo + (hi - lo) * p : hi - (hi - lo) * q;
        dx = (hi - lo) * p * q;
    } else if (has_lo) {
        dx = exp(u);
        x = lo + dx;
    } else if (has_hi) {
        dx = -exp(u);
        x = hi + dx;
    } else {
        x = u;
        dx = 1;
    }
    if (dxdu)
        *dxdu = dx;
    return x;
}

static double box_lo(const OptBox *b, int i) { return b->lo ? b->lo[i] : -INFINITY; }
static double box_hi(const OptBox *b, int i) { return b->hi ? b->hi[i] : INFINITY; }
static int box_free(const OptBox *b, int i) { return !b->fixed || !b->fixed[i]; }

int opt_box_nfree(const OptBox *b)
{
    int k = 0;
    for (int i = 0; i < b->n; i++)
        k += box_free(b, i);
    return k;
}

int opt_box_pack(const OptBox *b, const double *x, double *u)
{
    int bad = 0;
    for (int i = 0, k = 0; i < b->n; i++) {
        if (!box_free(b, i))
            continue;
        u[k] = opt_to_internal(x[i], box_lo(b, i), box_hi(b, i));
        if (isnan(u[k]) && !bad)
            bad = i + 1;
        k++;
    }
    return bad;
}

void opt_box_unpack(const OptBox *b, const double *u, double *x)
{
    for (int i = 0, k = 0; i < b->n; i++)
        if (box_free(b, i))
            x[i] = opt_to_external(u[k++], box_lo(b, i), box_hi(b, i), NULL);
}

void opt_box_grad(const OptBox *b, const double *u, const double *gx, double *gu)
{
    for (int i = 0, k = 0; i < b->n; i++) {
        double dxdu;
        if (!box_free(b, i))
            continue;
        opt_to_external(u[k], box_lo(b, i), box_hi(b, i), &dxdu);
        gu[k] = gx[i] * dxdu;
        k++;
    }
}

int opt_box_fn(void *box, const double *u, double *f, double *gu)
{
    OptBox *b = box;
    int rc;
    opt_box_unpack(b, u, b->x);
    rc = b->fn(b->ctx, b->x, f, b->gx);
    if (rc == 0)
        opt_box_grad(b, u, b->gx, gu);
    return rc;
}

/* --- derivative helpers ---------------------------------------------------- */

/* The central-difference step for x_i (shrunk by the given factor),
 * rounded so that x + h is exact: the difference quotient then divides
 * by the step actually taken. */
static double fd_step(double xi, double shrink)
{
    double h = shrink * cbrt(DBL_EPSILON) * fmax(fabs(xi), 1.0);
    volatile double t = xi + h;    /* forces the rounding of x + h */
    return t - xi;
}

int opt_hessian(OptWork *w, OptFn fn, void *ctx, const double *x, double *H)
{
    int n = w->n;
    double *xt = w->xt, *gp = w->gt, *gm = w->gb, f;

    copy(n, xt, x);
    for (int i = 0; i < n; i++) {
        double h = 0;
        int rc = 1;
        for (int tries = 0; tries <= 8 && rc > 0; tries++) {
            h = fd_step(x[i], ldexp(1.0, -tries));
            xt[i] = x[i] + h;
            rc = call(fn, ctx, n, xt, &f, gp);
            if (rc == 0) {
                xt[i] = x[i] - h;
                rc = call(fn, ctx, n, xt, &f, gm);
            }
        }
        xt[i] = x[i];
        if (rc)
            return rc;
        for (int j = 0; j < n; j++)
            H[(size_t)i * n + j] = (gp[j] - gm[j]) / (2 * h);
    }
    /* Row i differentiates g, column i came from the step in x_i: the
     * two estimates of each mixed derivative are averaged. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double v = 0.5 * (H[(size_t)i * n + j] + H[(size_t)j * n + i]);
            H[(size_t)i * n + j] = H[(size_t)j * n + i] = v;
        }
    return 0;
}

double opt_check_grad(OptWork *w, OptFn fn, void *ctx, const double *x, int *worst)
{
    int n = w->n, iw = -1;
    double *xt = w->xt, *g = w->hy, *scratch = w->gt, f0, fp, fm, emax = 0;

    if (worst)
        *worst = -1;
    if (call(fn, ctx, n, x, &f0, g))
        return -1;
    copy(n, xt, x);
    for (int i = 0; i < n; i++) {
        double h = fd_step(x[i], 1.0), dfd, e;
        xt[i] = x[i] + h;
        if (call(fn, ctx, n, xt, &fp, scratch))
            return -1;
        xt[i] = x[i] - h;
        if (call(fn, ctx, n, xt, &fm, scratch))
            return -1;
        xt[i] = x[i];
        dfd = (fp - fm) / (2 * h);
        e = fabs(g[i] - dfd) / fmax(fmax(fabs(g[i]), fabs(dfd)), 1.0);
        if (e > emax || iw < 0) {
            emax = e;
            iw = i;
        }
    }
    if (worst)
        *worst = iw;
    return emax;
}
