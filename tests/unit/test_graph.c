/*
 * test_graph.c -- unit tests of graph.c and tape.c.
 *
 * Prints one TAP line per check ("ok N - ..." / "not ok N - ...") and
 * exits 1 if any failed.  What is checked:
 *
 *   derivatives  every operator's symbolic derivative, with respect to
 *                each argument, against a central finite difference at
 *                seeded random points of the operator's domain;
 *   tape         tape_eval() against graph_eval_direct() on hundreds of
 *                random DAGs and their derivatives, and on a
 *                two-compartment model's right-hand side and Jacobian;
 *   sharing      hash-consing and the canonical order of commutative ops;
 *   folding      constants and the identities of graph.h;
 *   dot          the shape of graph_dot()'s output.
 *
 * Random numbers come from a local splitmix64 with explicit seeds, so a
 * failure reproduces exactly.
 */
#include "graph.h"
#include "tape.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Harness
 * ------------------------------------------------------------------- */

typedef struct {
    int n, failed;
} T;

static void check(T *t, int ok, const char *fmt, ...)
{
    va_list ap;
    t->n++;
    if (!ok)
        t->failed++;
    printf("%s %d - ", ok ? "ok" : "not ok", t->n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

typedef struct {
    uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* uniform on [lo, hi) */
static double unif(Rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(rng_next(r) >> 11) * 0x1p-53;
}

static int below(Rng *r, int n)
{
    return (int)(rng_next(r) % (uint64_t)n);
}

/* Equal to a relative tolerance; NaN matches NaN, inf matches itself. */
static int close_rel(double a, double b, double tol)
{
    if (a == b || (isnan(a) && isnan(b)))
        return 1;
    return fabs(a - b) <= tol * fmax(fabs(a), fabs(b));
}

/* ---------------------------------------------------------------------
 * (a) Derivatives against finite differences
 * ------------------------------------------------------------------- */

#define NPOINTS 25

/* A point in the domain of op, with margins wide enough that x +- h never
 * crosses a kink (abs at 0, min/max and comparisons at ties, logic at 0)
 * or leaves the domain (log, sqrt, logit, the divisor of div). */
static void sample(Rng *r, GOp op, double v[3])
{
    for (int i = 0; i < 3; i++)
        v[i] = unif(r, -4.0, 4.0);
    switch (op) {
    case G_LOG: case G_LOG10: case G_SQRT:
        v[0] = unif(r, 0.1, 10.0);
        break;
    case G_LOGIT:
        v[0] = unif(r, 0.05, 0.95);
        break;
    case G_SOFTPLUS:
        v[0] = unif(r, -10.0, 10.0);   /* both branches of the stable form */
        break;
    case G_DIV:
        v[1] = (below(r, 2) ? 1.0 : -1.0) * unif(r, 0.5, 5.0);
        break;
    case G_POW:
        v[0] = unif(r, 0.1, 5.0);
        v[1] = unif(r, -3.0, 3.0);
        break;
    case G_SELECT:
        v[0] = below(r, 3) ? unif(r, -4.0, 4.0) : 0.0;   /* hit both branches */
        break;
    default:
        break;
    }
    /* keep away from kinks */
    if (op == G_ABS || op == G_NOT || op == G_AND || op == G_OR)
        for (int i = 0; i < 2; i++)
            if (fabs(v[i]) < 1e-3)
                v[i] = 0.5;
    if (op == G_MIN || op == G_MAX || (op >= G_LT && op <= G_NE))
        if (fabs(v[0] - v[1]) < 1e-3)
            v[1] = v[0] + 0.5;
    if ((op == G_EQ || op == G_NE) && below(r, 4) == 0)
        v[1] = v[0];          /* equality on purpose: still derivative 0 */
}

static GNode build_op(Graph *g, GOp op, const GNode *x)
{
    switch (graph_op_arity(op)) {
    case 1: return graph_unary(g, op, x[0]);
    case 2: return graph_binary(g, op, x[0], x[1]);
    default: return graph_select(g, x[0], x[1], x[2]);
    }
}

/*
 * Compare d f/d x_j with (f(x + h e_j) - f(x - h e_j)) / 2h at NPOINTS
 * points.  h = 1e-6 max(1, |x_j|) balances truncation (h^2 f'''/6) against
 * rounding (eps |f| / h), both ~1e-10 for the domains above.  Rule: the
 * difference must be within 1e-6 relative to the symbolic value, or 1e-6
 * absolute when that value is below 1 in magnitude (a derivative of 0
 * against an FD of 1e-11 is a pass).
 */
static int fd_agrees(const Graph *g, GNode f, GNode d, int j, const double v[3],
                     double *worst)
{
    double p[3];
    GInputs in = { { 0 } };
    in.v[GIN_PARAM] = p;
    memcpy(p, v, sizeof p);
    double ds = graph_eval_direct(g, d, &in);
    double h = 1e-6 * fmax(1.0, fabs(v[j]));
    p[j] = v[j] + h;
    double fp = graph_eval_direct(g, f, &in);
    p[j] = v[j] - h;
    double fm = graph_eval_direct(g, f, &in);
    double fd = (fp - fm) / (2.0 * h);
    double err = fabs(ds - fd) / fmax(1.0, fabs(ds));
    if (!(err <= *worst))
        *worst = err;
    return err <= 1e-6;
}

static void test_op_derivatives(T *t)
{
    for (GOp op = G_NEG; op < G_NOPS; op++) {
        Arena *a = mem_arena_new();
        Graph *g = graph_new(a);
        GNode x[3];
        for (int i = 0; i < 3; i++)
            x[i] = graph_input(g, GIN_PARAM, i);
        GNode f = build_op(g, op, x);
        for (int j = 0; j < graph_op_arity(op); j++) {
            GNode d = graph_diff(g, f, x[j]);
            Rng r = { 1000u * (unsigned)op + (unsigned)j };
            int good = 0;
            double worst = 0.0, v[3];
            for (int k = 0; k < NPOINTS; k++) {
                sample(&r, op, v);
                good += fd_agrees(g, f, d, j, v, &worst);
            }
            check(t, good == NPOINTS, "d %s/d arg%d matches FD at %d/%d points (worst %.1e)",
                  graph_op_name(op), j, good, NPOINTS, worst);
        }
        mem_arena_free(&a);
    }
}

/* x^k with k constant: the derivative must not involve log(x), so it is
 * finite for x < 0. */
static void test_pow_const(T *t)
{
    static const double ks[] = { 2, 3, -1, -2, 5, 0.5, 2.5 };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        Arena *a = mem_arena_new();
        Graph *g = graph_new(a);
        GNode x = graph_input(g, GIN_PARAM, 0);
        GNode f = graph_binary(g, G_POW, x, graph_const(g, ks[i]));
        GNode d = graph_diff(g, f, x);
        int integer = ks[i] == floor(ks[i]);
        Rng r = { 77 + i };
        int good = 0;
        double worst = 0.0, v[3] = { 0, 0, 0 };
        for (int k = 0; k < NPOINTS; k++) {
            /* negative bases only where the power is real */
            v[0] = integer && below(&r, 2) ? -unif(&r, 0.2, 3.0) : unif(&r, 0.2, 3.0);
            good += fd_agrees(g, f, d, 0, v, &worst);
        }
        check(t, good == NPOINTS, "d x^%g/dx matches FD at %d/%d points%s (worst %.1e)",
              ks[i], good, NPOINTS, integer ? ", x of both signs" : "", worst);
        mem_arena_free(&a);
    }
}

/* Shorthands for building test expressions. */
static GNode U(Graph *g, GOp op, GNode x)            { return graph_unary(g, op, x); }
static GNode B(Graph *g, GOp op, GNode x, GNode y)   { return graph_binary(g, op, x, y); }

/* A few compositions, to exercise the chain rule and the memo on shared
 * subexpressions. */
static void test_chain_rule(T *t)
{
    Arena *a = mem_arena_new();
    Graph *g = graph_new(a);
    GNode x = graph_input(g, GIN_PARAM, 0), y = graph_input(g, GIN_PARAM, 1),
          z = graph_input(g, GIN_PARAM, 2);
    GNode one = graph_const(g, 1.0);
    GNode s = U(g, G_SIN, B(g, G_MUL, x, y));   /* shared */
    GNode f[5];
    const char *name[5] = {
        "exp(sin(xy)) / (1 + x^2 + s^2)",
        "log(1 + y^2) * tanh(s + z)",
        "max(x, y) * min(s, z) - abs(x - z)",
        "select(x < y, expit(s), softplus(z)) * phi(y)",
        "((x^2 + 1)^(expit(y)))^(1 + z^2 / 4)",
    };
    f[0] = B(g, G_DIV, U(g, G_EXP, s),
             B(g, G_ADD, B(g, G_ADD, one, B(g, G_POW, x, graph_const(g, 2.0))), B(g, G_MUL, s, s)));
    f[1] = B(g, G_MUL, U(g, G_LOG, B(g, G_ADD, one, B(g, G_MUL, y, y))),
             U(g, G_TANH, B(g, G_ADD, s, z)));
    f[2] = B(g, G_SUB, B(g, G_MUL, B(g, G_MAX, x, y), B(g, G_MIN, s, z)),
             U(g, G_ABS, B(g, G_SUB, x, z)));
    f[3] = B(g, G_MUL,
             graph_select(g, B(g, G_LT, x, y), U(g, G_EXPIT, s), U(g, G_SOFTPLUS, z)),
             U(g, G_PHI, y));
    f[4] = B(g, G_POW, B(g, G_POW, B(g, G_ADD, B(g, G_MUL, x, x), one), U(g, G_EXPIT, y)),
             B(g, G_ADD, one, B(g, G_DIV, B(g, G_MUL, z, z), graph_const(g, 4.0))));
    GNode in[3] = { x, y, z };
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 3; j++) {
            GNode d = graph_diff(g, f[i], in[j]);
            Rng r = { 500u + 10u * (unsigned)i + (unsigned)j };
            int good = 0, n = 0;
            double worst = 0.0, v[3];
            while (n < NPOINTS) {
                for (int k = 0; k < 3; k++)
                    v[k] = unif(&r, -2.0, 2.0);
                /* stay off the kinks of max, min, abs and the select */
                if (fabs(v[0] - v[1]) < 1e-3 || fabs(v[0] - v[2]) < 1e-3
                    || fabs(sin(v[0] * v[1]) - v[2]) < 1e-3)
                    continue;
                n++;
                good += fd_agrees(g, f[i], d, j, v, &worst);
            }
            check(t, good == NPOINTS, "chain rule: d/d%c of %s matches FD (worst %.1e)",
                  "xyz"[j], name[i], worst);
        }
    }
    /* memo: asking again returns the same node and makes none */
    int size = graph_size(g);
    GNode d1 = graph_diff(g, f[0], x), d2 = graph_diff(g, f[0], x);
    check(t, d1 == d2 && graph_size(g) == size, "graph_diff is memoised per (f, x)");
    mem_arena_free(&a);
}

/* ---------------------------------------------------------------------
 * (b) Tape against the direct evaluator
 * ------------------------------------------------------------------- */

#define NIN 4
#define TREE_LIMIT 20000.0   /* keeps graph_eval_direct (no caching) cheap */

typedef struct {
    Graph *g;
    Rng *r;
    GNode in[NIN];
    GNode pool[512];
    double psize[512];        /* upper bound on the tree size of pool[i] */
    int npool;
} Gen;

static GNode leaf(Gen *G, double *size)
{
    *size = 1.0;
    if (below(G->r, 4) == 0)
        return graph_const(G->g, (double)(below(G->r, 9) - 4) * 0.5);
    return G->in[below(G->r, NIN)];
}

static GNode k(Gen *G, double v)
{
    return graph_const(G->g, v);
}

/*
 * A random expression of at most `depth` levels.  Operands are sometimes
 * taken from the pool of earlier results, which makes a DAG with sharing
 * across expressions.  Domains are guarded (log(|e| + 1), e / (|e| + 0.5),
 * exp(min(e, 5))...) so most values stay finite; those that do not are
 * still compared (NaN to NaN, inf to inf).
 */
static GNode gen(Gen *G, int depth, double *size)
{
    Graph *g = G->g;
    if (depth == 0 || below(G->r, 5) == 0)
        return leaf(G, size);
    if (G->npool && below(G->r, 4) == 0) {
        int i = below(G->r, G->npool);
        *size = G->psize[i];
        return G->pool[i];
    }
    double s1, s2, s3;
    GNode x = gen(G, depth - 1, &s1), y, z, n;
    int kind = below(G->r, 24);
    *size = s1 + 4.0;
    switch (kind) {
    case 0:  n = graph_unary(g, G_NEG, x); break;
    case 1:  n = graph_unary(g, G_NOT, x); break;
    case 2:  n = graph_unary(g, G_EXP, graph_binary(g, G_MIN, x, k(G, 5.0))); break;
    case 3:  n = U(g, G_LOG, B(g, G_ADD, U(g, G_ABS, x), k(G, 1.0))); break;
    case 4:  n = U(g, G_LOG10, B(g, G_ADD, U(g, G_ABS, x), k(G, 0.5))); break;
    case 5:  n = graph_unary(g, G_SQRT, graph_unary(g, G_ABS, x)); break;
    case 6:  n = graph_unary(g, below(G->r, 2) ? G_SIN : G_COS, x); break;
    case 7:  n = graph_unary(g, G_TANH, x); break;
    case 8:  n = graph_unary(g, G_LOGIT, graph_binary(g, G_ADD, k(G, 0.25),
                             graph_binary(g, G_MUL, k(G, 0.5), graph_unary(g, G_EXPIT, x)))); break;
    case 9:  n = graph_unary(g, G_SOFTPLUS, x); break;
    case 10: n = graph_unary(g, G_PHI, x); break;
    case 11: /* integer powers, for the tape's SQR and POWI */
        n = graph_binary(g, G_POW, x, k(G, (double)(below(G->r, 7) - 3)));
        break;
    default:
        y = gen(G, depth - 1, &s2);
        *size = s1 + s2 + 4.0;
        switch (kind) {
        case 12: n = graph_binary(g, G_ADD, x, y); break;
        case 13: n = graph_binary(g, G_SUB, x, y); break;
        case 14: n = graph_binary(g, G_MUL, x, y); break;
        case 15: n = B(g, G_DIV, x, B(g, G_ADD, U(g, G_ABS, y), k(G, 0.5))); break;
        case 16: n = B(g, G_POW, B(g, G_ADD, U(g, G_ABS, x), k(G, 0.5)),
                                  graph_unary(g, G_TANH, y)); break;
        case 17: n = graph_binary(g, G_MIN, x, y); break;
        case 18: n = graph_binary(g, G_MAX, x, y); break;
        case 19: n = graph_binary(g, (GOp)(G_LT + below(G->r, 6)), x, y); break;
        case 20: n = graph_binary(g, below(G->r, 2) ? G_AND : G_OR, x, y); break;
        default:
            z = gen(G, depth - 1, &s3);
            *size = s1 + s2 + s3 + 1.0;
            n = graph_select(g, kind == 21 ? graph_binary(g, G_LT, x, z) : x, y, z);
            break;
        }
    }
    if (*size > TREE_LIMIT)
        return leaf(G, size);
    if (G->npool < (int)(sizeof G->pool / sizeof G->pool[0])) {
        G->pool[G->npool] = n;
        G->psize[G->npool++] = *size;
    }
    return n;
}

/* Tree size (what graph_eval_direct visits), memoised over the DAG. */
static double tree_size(const Graph *g, GNode n, double *memo)
{
    if (memo[n] == 0.0) {
        const GNodeInfo *i = graph_node(g, n);
        double s = 1.0;
        for (int j = 0; j < i->nargs; j++)
            s += tree_size(g, i->a[j], memo);
        memo[n] = s;
    }
    return memo[n];
}

/* Evaluate outs with a fresh tape and directly; count disagreements. */
static int tape_vs_direct(const Graph *g, const GNode *outs, int nout, Rng *r,
                          int npoints, const GInputs *fixed, double *pin, int npin,
                          long *nvalues, long *nfinite, long *nbits)
{
    Tape *tp = tape_compile(g, outs, nout);
    if (!tp)
        return 1;
    int bad = 0;
    size_t nw = tape_work_size(tp);
    double *w = malloc(nw * sizeof *w), *out = malloc((size_t)(nout ? nout : 1) * sizeof *out);
    for (int p = 0; p < npoints; p++) {
        for (int i = 0; i < npin; i++)
            pin[i] = unif(r, -3.0, 3.0);
        for (size_t i = 0; i < nw; i++)
            w[i] = NAN;          /* the tape must not rely on old contents */
        tape_eval(tp, fixed, w, out);
        for (int i = 0; i < nout; i++) {
            double want = graph_eval_direct(g, outs[i], fixed);
            bad += !close_rel(out[i], want, 1e-14);
            *nbits += !(out[i] == want || (isnan(out[i]) && isnan(want)));
            ++*nvalues;
            *nfinite += isfinite(want) != 0;
        }
    }
    free(w);
    free(out);
    tape_free(&tp);
    return bad;
}

static void test_tape_random(T *t)
{
    Rng r = { 20240601u };
    int bad = 0, ngraphs = 300, maxinstr = 0;
    long nvalues = 0, nfinite = 0, nderiv = 0, nbits = 0;
    for (int gi = 0; gi < ngraphs; gi++) {
        Arena *a = mem_arena_new();
        Gen G = { graph_new(a), &r, { 0 }, { 0 }, { 0 }, 0 };
        double x[NIN];
        GInputs in = { { 0 } };
        in.v[GIN_STATE] = x;
        for (int i = 0; i < NIN; i++)
            G.in[i] = graph_input(G.g, GIN_STATE, i);
        GNode outs[64];
        int nout = 0, nexpr = 1 + below(&r, 8);
        for (int e = 0; e < nexpr; e++) {
            double size;
            outs[nout++] = gen(&G, 1 + below(&r, 9), &size);
        }
        /* and their gradients, where the tree stays small enough */
        for (int e = 0; e < nexpr; e++)
            for (int j = 0; j < NIN && nout < 64; j++) {
                GNode d = graph_diff(G.g, outs[e], G.in[j]);
                double *memo = calloc((size_t)graph_size(G.g), sizeof *memo);
                if (tree_size(G.g, d, memo) <= 50 * TREE_LIMIT) {
                    outs[nout++] = d;
                    nderiv++;
                }
                free(memo);
            }
        Tape *tp = tape_compile(G.g, outs, nout);
        if (tp && tape_ninstr(tp) > maxinstr)
            maxinstr = tape_ninstr(tp);
        tape_free(&tp);
        bad += tape_vs_direct(G.g, outs, nout, &r, 4, &in, x, NIN, &nvalues, &nfinite, &nbits);
        mem_arena_free(&a);
    }
    check(t, bad == 0, "tape == direct to 1e-14 on %d random DAGs (%ld values, %ld finite, "
          "%ld derivative outputs, up to %d instructions): %d differ",
          ngraphs, nvalues, nfinite, nderiv, maxinstr, bad);
    check(t, nbits == 0, "tape == direct bit for bit on the same values (%ld differ)", nbits);
    check(t, nfinite > nvalues * 9 / 10, "random DAG values are mostly finite (%ld of %ld)",
          nfinite, nvalues);
}

/* The right-hand side of a two-compartment model with first-order
 * absorption, states depot, central, periph; KA CL V1 Q V2 = PARAM 0..4. */
static void build_2cmt(Graph *g, GNode out[12])
{
    GNode ka = graph_input(g, GIN_PARAM, 0), cl = graph_input(g, GIN_PARAM, 1),
          v1 = graph_input(g, GIN_PARAM, 2), q = graph_input(g, GIN_PARAM, 3),
          v2 = graph_input(g, GIN_PARAM, 4);
    GNode s[3];
    for (int i = 0; i < 3; i++)
        s[i] = graph_input(g, GIN_STATE, i);
    GNode k10 = graph_binary(g, G_DIV, cl, v1), k12 = graph_binary(g, G_DIV, q, v1),
          k21 = graph_binary(g, G_DIV, q, v2);
    GNode absorb = graph_binary(g, G_MUL, ka, s[0]);
    GNode to_p = graph_binary(g, G_MUL, k12, s[1]), from_p = graph_binary(g, G_MUL, k21, s[2]);
    out[0] = graph_unary(g, G_NEG, absorb);
    out[1] = graph_binary(g, G_ADD,
                          graph_binary(g, G_SUB, graph_binary(g, G_SUB, absorb,
                                       graph_binary(g, G_MUL, k10, s[1])), to_p),
                          from_p);
    out[2] = graph_binary(g, G_SUB, to_p, from_p);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out[3 + 3 * i + j] = graph_diff(g, out[i], s[j]);
}

static void test_tape_2cmt(T *t)
{
    Arena *a = mem_arena_new();
    Graph *g = graph_new(a);
    GNode outs[12];
    build_2cmt(g, outs);
    double p[5], s[3];
    GInputs in = { { 0 } };
    in.v[GIN_PARAM] = p;
    in.v[GIN_STATE] = s;
    Tape *tp = tape_compile(g, outs, 12);
    int bad_direct = 0, bad_exact = 0;
    Rng r = { 42 };
    double w[64], out[12];
    int fits = tp && tape_work_size(tp) <= 64;
    check(t, fits, "2-cmt RHS + Jacobian compiles: %d instructions, %zu work slots",
          tp ? tape_ninstr(tp) : -1, tp ? tape_work_size(tp) : (size_t)0);
    for (int it = 0; fits && it < 100; it++) {
        for (int i = 0; i < 5; i++)
            p[i] = unif(&r, 0.1, 10.0);
        for (int i = 0; i < 3; i++)
            s[i] = unif(&r, 0.0, 100.0);
        tape_eval(tp, &in, w, out);
        for (int i = 0; i < 12; i++)
            bad_direct += !close_rel(out[i], graph_eval_direct(g, outs[i], &in), 1e-14);
        double ka = p[0], k10 = p[1] / p[2], k12 = p[3] / p[2], k21 = p[3] / p[4];
        double want[12] = {
            -ka * s[0], ka * s[0] - k10 * s[1] - k12 * s[1] + k21 * s[2], k12 * s[1] - k21 * s[2],
            -ka, 0, 0,
            ka, -k10 - k12, k21,
            0, k12, -k21,
        };
        for (int i = 0; i < 12; i++)
            bad_exact += !(fabs(out[i] - want[i]) <= 1e-13 * fmax(1.0, fabs(want[i])));
    }
    check(t, bad_direct == 0, "2-cmt: tape == direct to 1e-14 at 100 points (%d differ)",
          bad_direct);
    check(t, bad_exact == 0, "2-cmt: RHS and Jacobian equal the hand-derived ones (%d differ)",
          bad_exact);
    int zeros = 0;
    for (int i = 0; i < 12; i++) {
        const GNodeInfo *n = graph_node(g, outs[i]);
        zeros += n->op == G_CONST && n->value == 0.0;
    }
    check(t, zeros == 3, "2-cmt: the Jacobian's three structural zeros are constant 0");
    tape_free(&tp);
    mem_arena_free(&a);
}

/* Special tape cases: outputs that are inputs or constants, an output
 * twice, no outputs, and slot reuse on a long chain. */
static void test_tape_edges(T *t)
{
    Arena *a = mem_arena_new();
    Graph *g = graph_new(a);
    double x[3] = { 2.0, -3.0, 0.5 };
    GInputs in = { { 0 } };
    in.v[GIN_DATA] = x;
    GNode x0 = graph_input(g, GIN_DATA, 0), x1 = graph_input(g, GIN_DATA, 1);
    GNode c = graph_const(g, 7.5), s = graph_binary(g, G_ADD, x0, x1);
    GNode outs[5] = { x1, c, s, s, graph_select(g, x0, c, s) };
    Tape *tp = tape_compile(g, outs, 5);
    double w[16], out[5];
    tape_eval(tp, &in, w, out);
    check(t, out[0] == -3.0 && out[1] == 7.5 && out[2] == -1.0 && out[3] == -1.0 && out[4] == 7.5,
          "tape: outputs that are an input, a constant, the same node twice, a select");
    tape_free(&tp);

    tp = tape_compile(g, NULL, 0);
    check(t, tp && tape_ninstr(tp) == 0 && tape_noutputs(tp) == 0 && tape_work_size(tp) >= 1,
          "tape: no outputs compiles to an empty tape");
    if (tp)
        tape_eval(tp, &in, w, out);
    tape_free(&tp);
    check(t, tp == NULL, "tape_free sets the pointer to NULL");

    /* A recurrence a' = x2 sin(a) + x0 (x2 = 0.5: a contraction, so
     * rounding differences do not grow) unrolled 100000 times, and its
     * derivative in x0: a chain far deeper than a C stack would take
     * recursively, which graph_diff walks with its own stack.  Alone, the
     * chain needs a handful of slots, not 100000.  (With its derivative it
     * needs them all: the derivative's nodes come after the whole chain in
     * index order, and each uses cos(a_i).) */
    GNode x2 = graph_input(g, GIN_DATA, 2), acc = x0;
    for (int i = 0; i < 100000; i++)
        acc = graph_binary(g, G_ADD, graph_binary(g, G_MUL, x2, graph_unary(g, G_SIN, acc)), x0);
    GNode chain[2] = { acc, graph_diff(g, acc, x0) };
    double av = x[0], dv = 1.0, got[2];
    for (int i = 0; i < 100000; i++) {
        dv = x[2] * cos(av) * dv + 1.0;
        av = x[2] * sin(av) + x[0];
    }
    tp = tape_compile(g, chain, 1);
    double *wk = malloc(tape_work_size(tp) * sizeof *wk);
    tape_eval(tp, &in, wk, got);
    check(t, tape_work_size(tp) <= 6 && close_rel(got[0], av, 1e-12),
          "tape: slot reuse, a 100000-step chain in %zu slots (%d instructions)",
          tape_work_size(tp), tape_ninstr(tp));
    free(wk);
    tape_free(&tp);
    tp = tape_compile(g, chain, 2);
    wk = malloc(tape_work_size(tp) * sizeof *wk);
    tape_eval(tp, &in, wk, got);
    check(t, close_rel(got[0], av, 1e-12) && close_rel(got[1], dv, 1e-12),
          "tape: chain value %.6g and derivative %.6g match a C loop", got[0], got[1]);
    free(wk);
    tape_free(&tp);

    /* integer powers go through SQR / POWI, i.e. graph_powi() */
    int bad = 0, bits = 0;
    for (int e = -40; e <= 70; e++) {
        GNode o2[2] = { graph_binary(g, G_POW, x1, graph_const(g, e)),
                        graph_binary(g, G_POW, x0, graph_const(g, e)) };
        tp = tape_compile(g, o2, 2);
        double ww[8], oo[2];
        tape_eval(tp, &in, ww, oo);
        bad += !close_rel(oo[0], pow(x[1], e), 1e-14) || !close_rel(oo[1], pow(x[0], e), 1e-14);
        bits += oo[0] != graph_eval_direct(g, o2[0], &in)
              || oo[1] != graph_eval_direct(g, o2[1], &in);
        tape_free(&tp);
    }
    check(t, bad == 0, "tape: x^k, integer k in [-40, 70], within 1e-14 of pow() (%d differ)",
          bad);
    check(t, bits == 0, "tape: x^k, integer k in [-40, 70], bitwise equal to direct (%d differ)",
          bits);
    double sp[6] = { 0.0, -0.0, INFINITY, -INFINITY, NAN, -2.5 };
    int ks[7] = { -3, -2, -1, 0, 2, 3, 17 }, special = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 7; j++) {
            double want = pow(sp[i], ks[j]), have = graph_powi(sp[i], ks[j]);
            special += !(have == want ? signbit(have) == signbit(want)
                                      : isnan(have) && isnan(want));
        }
    check(t, special == 0, "graph_powi agrees with pow() on 0, -0, +-inf, NaN (%d differ)",
          special);
    mem_arena_free(&a);
}

/* ---------------------------------------------------------------------
 * (c) Hash-consing, (d) folding
 * ------------------------------------------------------------------- */

static GNode some_expr(Graph *g)
{
    GNode x = graph_input(g, GIN_THETA, 0), y = graph_input(g, GIN_ETA, 1);
    GNode e = graph_unary(g, G_EXP, graph_binary(g, G_ADD, x, y));
    return graph_binary(g, G_DIV, graph_binary(g, G_MUL, e, graph_const(g, 2.5)),
                        graph_select(g, graph_binary(g, G_GT, x, y), x, graph_unary(g, G_LOG, y)));
}

static void test_sharing(T *t)
{
    Arena *a = mem_arena_new();
    Graph *g = graph_new(a);
    GNode e1 = some_expr(g);
    int size = graph_size(g);
    GNode e2 = some_expr(g);
    check(t, e1 == e2 && graph_size(g) == size, "same expression twice is the same node");
    GNode x = graph_input(g, GIN_THETA, 0), y = graph_input(g, GIN_ETA, 1);
    static const GOp comm[] = { G_ADD, G_MUL, G_MIN, G_MAX, G_EQ, G_NE, G_AND, G_OR };
    int same = 0;
    for (size_t i = 0; i < sizeof comm / sizeof comm[0]; i++)
        same += graph_binary(g, comm[i], x, y) == graph_binary(g, comm[i], y, x);
    check(t, same == 8, "a op b == b op a for the 8 commutative ops");
    static const GOp noncomm[] = { G_SUB, G_DIV, G_POW, G_LT, G_LE, G_GT, G_GE };
    int differ = 0;
    for (size_t i = 0; i < sizeof noncomm / sizeof noncomm[0]; i++)
        differ += graph_binary(g, noncomm[i], x, y) != graph_binary(g, noncomm[i], y, x);
    check(t, differ == 7, "a op b != b op a for sub, div, pow and the orderings");
    check(t, graph_input(g, GIN_THETA, 0) != graph_input(g, GIN_ETA, 0)
          && graph_input(g, GIN_THETA, 0) != graph_input(g, GIN_THETA, 1),
          "inputs are keyed by kind and index");
    check(t, graph_const(g, 0.0) != graph_const(g, -0.0)
          && graph_const(g, NAN) == graph_const(g, NAN),
          "constants are keyed by their bits (0 != -0, NaN == NaN)");

    /* enough nodes to grow the hash table many times */
    GNode first[3], again[3];
    for (int pass = 0; pass < 2; pass++) {
        GNode acc = x;
        for (int i = 0; i < 50000; i++)
            acc = graph_binary(g, G_ADD, graph_binary(g, G_MUL, acc, graph_const(g, i)), y);
        (pass ? again : first)[0] = acc;
        (pass ? again : first)[1] = graph_size(g);
    }
    check(t, first[0] == again[0] && first[1] == again[1],
          "a 100000-node chain rebuilt is the same nodes (%d nodes)", (int)first[1]);
    mem_arena_free(&a);
}

static int is_const_node(const Graph *g, GNode n, double v)
{
    const GNodeInfo *i = graph_node(g, n);
    return i->op == G_CONST && (i->value == v || (isnan(v) && isnan(i->value)));
}

static void test_folding(T *t)
{
    Arena *a = mem_arena_new();
    Graph *g = graph_new(a);
    GNode two = graph_const(g, 2.0), three = graph_const(g, 3.0);
    GNode e = graph_binary(g, G_POW, graph_unary(g, G_EXP, graph_binary(g, G_SUB, three, two)),
                           graph_select(g, graph_binary(g, G_LT, two, three), two, three));
    e = B(g, G_ADD, U(g, G_PHI, U(g, G_LOG, e)), U(g, G_ABS, three));
    double want = 0.5 * erfc(-2.0 / sqrt(2.0)) + 3.0;
    check(t, is_const_node(g, e, want) && graph_size(g) < 12,
          "all-constant expression folds to one const (%g, graph of %d nodes)",
          graph_node(g, e)->value, graph_size(g));

    GNode x = graph_input(g, GIN_STATE, 0), y = graph_input(g, GIN_STATE, 1);
    GNode zero = graph_const(g, 0.0), one = graph_const(g, 1.0);
    int n0 = graph_size(g);
    check(t, is_const_node(g, graph_binary(g, G_MUL, x, zero), 0.0)
          && is_const_node(g, graph_binary(g, G_MUL, zero, x), 0.0), "x*0 and 0*x fold to 0");
    check(t, graph_binary(g, G_ADD, x, zero) == x && graph_binary(g, G_ADD, zero, x) == x
          && graph_binary(g, G_SUB, x, zero) == x, "x+0, 0+x, x-0 fold to x");
    check(t, graph_binary(g, G_MUL, x, one) == x && graph_binary(g, G_MUL, one, x) == x
          && graph_binary(g, G_DIV, x, one) == x && graph_binary(g, G_POW, x, one) == x,
          "x*1, 1*x, x/1, x^1 fold to x");
    check(t, is_const_node(g, graph_binary(g, G_POW, x, zero), 1.0), "x^0 folds to 1");
    check(t, graph_size(g) == n0, "the identities above made no node");
    GNode nx = graph_unary(g, G_NEG, x);
    check(t, graph_binary(g, G_SUB, zero, x) == nx, "0-x is neg x");
    check(t, graph_unary(g, G_NEG, nx) == x, "neg neg x is x");
    check(t, graph_select(g, one, x, y) == x && graph_select(g, zero, x, y) == y
          && graph_select(g, graph_const(g, NAN), x, y) == x,
          "select on a constant condition picks its branch (NaN counts as true, as != 0)");
    check(t, graph_select(g, graph_binary(g, G_LT, x, y), y, y) == y, "select(c, a, a) is a");
    GNode f = graph_binary(g, G_MUL, graph_unary(g, G_EXP, y), graph_unary(g, G_SIN, y));
    check(t, is_const_node(g, graph_diff(g, f, x), 0.0), "d/dx of an expression without x is 0");
    check(t, is_const_node(g, graph_binary(g, G_DIV, one, zero), INFINITY)
          && is_const_node(g, graph_unary(g, G_LOG, graph_const(g, -1.0)), NAN),
          "folding follows IEEE (1/0 = inf, log(-1) = NaN)");
    mem_arena_free(&a);
}

static void test_apply(T *t)
{
    int named = 0, ar = 0;
    for (GOp op = 0; op < G_NOPS; op++) {
        named += graph_op_name(op) && strcmp(graph_op_name(op), "?") != 0;
        int want = op <= G_INPUT ? 0 : op < G_ADD ? 1 : op < G_SELECT ? 2 : 3;
        ar += graph_op_arity(op) == want;
    }
    check(t, named == G_NOPS && ar == G_NOPS, "every op has a name and its arity");
    double big[1] = { 800.0 }, nbig[1] = { -800.0 }, half[1] = { 0.5 };
    check(t, graph_apply(G_SOFTPLUS, big) == 800.0 && graph_apply(G_SOFTPLUS, nbig) == 0.0
          && graph_apply(G_EXPIT, big) == 1.0 && graph_apply(G_EXPIT, nbig) == 0.0,
          "softplus and expit do not overflow at +-800");
    double p[1] = { 0.3 }, e = graph_apply(G_LOGIT, p);
    check(t, fabs(graph_apply(G_EXPIT, &e) - 0.3) < 1e-15 && graph_apply(G_LOGIT, half) == 0.0,
          "expit inverts logit");
    double z[1] = { 1.959963984540054 };
    check(t, fabs(graph_apply(G_PHI, z) - 0.975) < 1e-12, "phi(1.96) = 0.975");
}

/* ---------------------------------------------------------------------
 * (e) Graphviz
 * ------------------------------------------------------------------- */

static const char *namer(void *ctx, GInKind kind, int index)
{
    (void)ctx;
    if (kind == GIN_PARAM && index == 0)
        return "KA";
    return NULL;
}

static char *dot_text(const Graph *g, GInputNamer nm)
{
    FILE *f = tmpfile();
    if (!f)
        return NULL;
    graph_dot(g, f, nm, NULL);
    long n = ftell(f);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    rewind(f);
    if (s && fread(s, 1, (size_t)n, f) == (size_t)n)
        s[n] = '\0';
    else {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static void test_dot(T *t)
{
    Arena *a = mem_arena_new();
    Graph *g = graph_new(a);
    GNode outs[12];
    build_2cmt(g, outs);
    static const char *const names[12] = {
        "DADT_depot", "DADT_central", "DADT_periph",
        "J00", "J01", "J02", "J10", "J11", "J12", "J20", "J21", "J\"22\"",
    };
    for (int i = 0; i < 12; i++)
        graph_add_output(g, names[i], outs[i]);
    graph_unary(g, G_SQRT, graph_input(g, GIN_TIME, 0));   /* unreachable */
    check(t, graph_noutputs(g) == 12 && strcmp(graph_output_name(g, 1), "DADT_central") == 0
          && graph_output(g, 4) == outs[4], "outputs keep their names and nodes");

    char *s = dot_text(g, namer), *s2 = dot_text(g, namer);
    check(t, s != NULL, "graph_dot writes");
    if (!s)
        return;
    int depth = 0, mindepth = 0, opened = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '"') {            /* skip quoted strings */
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (!*p)
                break;
        } else if (*p == '{') {
            depth++;
            opened++;
        } else if (*p == '}') {
            depth--;
            mindepth = depth < mindepth ? depth : mindepth;
        }
    }
    size_t len = strlen(s);
    check(t, strncmp(s, "digraph qlx {", 13) == 0 && depth == 0 && mindepth == 0 && opened == 1
          && len > 2 && s[len - 2] == '}', "dot: digraph with balanced braces");
    int mentioned = 0;
    char q[64];
    for (int i = 0; i < 11; i++) {
        snprintf(q, sizeof q, "label=\"%s\"", names[i]);
        mentioned += strstr(s, q) != NULL;
    }
    mentioned += strstr(s, "label=\"J\\\"22\\\"\"") != NULL;   /* escaped quotes */
    check(t, mentioned == 12, "dot: every output name appears as a label (%d of 12)", mentioned);
    check(t, strstr(s, "\"KA\"") && strstr(s, "\"STATE[1]\"") && strstr(s, "\"div\"")
          && !strstr(s, "TIME") && !strstr(s, "sqrt"),
          "dot: namer and kind[index] labels, op names, nothing unreachable");
    check(t, s2 && strcmp(s, s2) == 0, "dot: output is deterministic");
    free(s);
    free(s2);
    mem_arena_free(&a);
}

int main(void)
{
    T t = { 0, 0 };
    test_op_derivatives(&t);
    test_pow_const(&t);
    test_chain_rule(&t);
    test_tape_random(&t);
    test_tape_2cmt(&t);
    test_tape_edges(&t);
    test_sharing(&t);
    test_folding(&t);
    test_apply(&t);
    test_dot(&t);
    printf("1..%d\n", t.n);
    if (t.failed)
        printf("# %d of %d failed\n", t.failed, t.n);
    return t.failed ? 1 : 0;
}
