/*
 * opt.h -- unconstrained quasi-Newton minimisation, and the helpers the
 * estimation engines put around it: bounds by reparametrisation, FIX
 * masks, a finite-difference Hessian, and a gradient checker.
 *
 * The minimiser is BFGS on the inverse Hessian (dense, for the tens of
 * THETAs, OMEGA and SIGMA elements of an outer problem and the few ETAs
 * of an inner one) or L-BFGS with m pairs (for large n), both with a
 * strong-Wolfe line search.  The objective supplies its exact gradient.
 * Bounds and FIX are not seen by the minimiser: OptBox maps the model's
 * external parameters to unconstrained internal ones and back, and hands
 * the minimiser only the free ones.  docs/optimizer.md has the maths.
 *
 * Ownership: opt_new() / opt_new_limited() allocate everything a run
 * needs, for problems of exactly n (internal) parameters; opt_free()
 * frees it.  Nothing allocates after that.  A workspace is used by one
 * thread at a time; it may run any number of minimisations in turn.  The
 * caller owns x, OptSettings, OptResult and every OptBox array.
 */
#ifndef QLX_OPT_H
#define QLX_OPT_H

/* The objective: f(x) and its gradient g (n) at x (n).  Returns 0 when
 * both are computed; > 0 when f cannot be evaluated at this x (the ODE
 * solver failed, a variance is not positive...): the line search backs
 * off toward the last good point; < 0 to abort the minimisation.  A
 * return of 0 with a non-finite f or g counts as > 0. */
typedef int (*OptFn)(void *ctx, const double *x, double *f, double *g);

typedef enum {
    OPT_CONVERGED_GRAD,     /* scaled gradient below gtol */
    OPT_CONVERGED_FTOL,     /* relative decrease of f below ftol */
    OPT_MAX_ITER,           /* max_iter iterations without converging */
    OPT_MAX_EVAL,           /* max_eval evaluations without converging */
    OPT_LINESEARCH_FAILED,  /* no step along the search direction lowers f */
    OPT_ABORTED,            /* the objective returned < 0 */
    OPT_STOPPED,            /* the per-iteration callback asked to stop */
    OPT_NONFINITE_START,    /* f or g not finite (or refused) at the start */
    OPT_BAD_INPUT           /* settings out of range, or x size mismatch */
} OptStatus;

/* What the per-iteration callback sees.  Iteration 0 is the start. */
typedef struct {
    int iter, nfev, n;
    double f;
    double gmax;            /* max |g_i| */
    double gscaled;         /* the convergence measure of gtol */
    double step;            /* step length alpha of the last line search */
    const double *x, *g;    /* n each; valid only during the call */
} OptIter;

/* Return 0 to go on, nonzero to stop (status OPT_STOPPED). */
typedef int (*OptCallback)(void *ctx, const OptIter *it);

typedef struct {
    int    max_iter;        /* iterations (line searches); default 1000 */
    int    max_eval;        /* objective evaluations; default 10000 */
    double gtol;            /* max_i |g_i| max(|x_i|, 1) / max(|f|, 1); 1e-6 */
    double ftol;            /* (f_prev - f) / max(|f_prev|, |f|, 1); 1e-12; 0: off */
    double fnoise;          /* relative accuracy of f (rounding, an ODE
                               solver's tolerance); 1e-13 */
    double c1, c2;          /* Wolfe constants, 0 < c1 < c2 < 1; 1e-4, 0.9 */
    double max_step;        /* cap on max_i |x_i step|; 0: none (default) */
    OptCallback callback;   /* optional, NULL by default */
    void  *callback_ctx;
} OptSettings;

typedef struct {
    OptStatus status;
    const char *message;    /* opt_message(status) */
    double f;               /* at the returned x */
    double gmax, gscaled;   /* as in OptIter, at the returned x */
    int    iterations, evaluations;
    int    fn_code;         /* the objective's code when status is OPT_ABORTED */
} OptResult;

typedef struct OptWork OptWork;

/* Dense BFGS for n parameters (n >= 0): O(n^2) memory and work per
 * iteration.  NULL when out of memory. */
OptWork *opt_new(int n);
/* L-BFGS keeping m >= 1 pairs: O(m n) memory and work per iteration. */
OptWork *opt_new_limited(int n, int m);
void     opt_free(OptWork **w);
int      opt_size(const OptWork *w);

void opt_defaults(OptSettings *s);

/* Minimise fn from x (n = opt_size(w)); x receives the last accepted
 * iterate whatever the status (the start when none was), and r
 * everything else.  s may be NULL for the
 * defaults.  Returns r->status. */
OptStatus opt_minimize(OptWork *w, OptFn fn, void *ctx, double *x,
                       const OptSettings *s, OptResult *r);

/* The gradient at the point opt_minimize returned (n). */
const double *opt_gradient(const OptWork *w);

/* A sentence for each status: "converged: gradient below tolerance". */
const char *opt_message(OptStatus st);

/* A ready-made callback printing one progress line per iteration to the
 * FILE * passed as callback_ctx. */
int opt_trace_print(void *file, const OptIter *it);

/* --- bounds and FIX ---------------------------------------------------
 *
 * One parameter with bounds lo < hi, either of which may be infinite
 * (-INFINITY, INFINITY for none):
 *     both finite   x = lo + (hi - lo) / (1 + e^-u)   (logistic)
 *     lo only       x = lo + e^u
 *     hi only       x = hi - e^u
 *     neither       x = u
 * opt_to_internal gives NaN unless lo < x < hi strictly. */
double opt_to_internal(double x, double lo, double hi);
/* x(u); *dxdu (may be NULL) gets the chain-rule factor dx/du, so that
 * df/du = df/dx * dx/du. */
double opt_to_external(double u, double lo, double hi, double *dxdu);

/* The map between the n external parameters the model sees and the
 * n_free internal ones the minimiser sees: FIXed parameters dropped,
 * bounded ones transformed.  lo, hi and fixed may each be NULL (no lower
 * bounds, no upper bounds, nothing fixed).  For opt_box_fn, fn/ctx is
 * the objective in external parameters and x, gx are caller scratch of n
 * doubles, x holding the FIXed values (opt_box_unpack writes only the
 * free entries). */
typedef struct {
    int n;
    const double *lo, *hi;
    const unsigned char *fixed;
    OptFn fn;
    void *ctx;
    double *x, *gx;
} OptBox;

int  opt_box_nfree(const OptBox *b);
/* u (n_free) from x (n).  Returns 0, or i + 1 for the first free x_i not
 * strictly inside its bounds (u_i is then NaN). */
int  opt_box_pack(const OptBox *b, const double *x, double *u);
/* The free entries of x (n) from u (n_free); FIXed entries untouched. */
void opt_box_unpack(const OptBox *b, const double *u, double *x);
/* gu (n_free) = the gradient in u from gx, the gradient in x (n). */
void opt_box_grad(const OptBox *b, const double *u, const double *gx, double *gu);
/* An OptFn over u, with the OptBox as its ctx: unpacks u into b->x,
 * calls b->fn on it and packs the gradient. */
int  opt_box_fn(void *box, const double *u, double *f, double *gu);

/* --- derivative helpers (use the workspace's scratch; n = opt_size) ---
 *
 * H (n x n, row-major) = the Hessian at x by central differences of the
 * gradient, step h_i = eps^(1/3) max(|x_i|, 1), symmetrised.  A step
 * that cannot be evaluated is halved, up to 8 times.  Returns 0, or the
 * objective's nonzero code. */
int opt_hessian(OptWork *w, OptFn fn, void *ctx, const double *x, double *H);

/* Compare fn's gradient at x with central differences of f: returns
 * max_i |g_i - d_i| / max(|g_i|, |d_i|, 1), and the index of that i in
 * *worst (may be NULL); -1 when fn cannot be evaluated near x. */
double opt_check_grad(OptWork *w, OptFn fn, void *ctx, const double *x, int *worst);

#endif
