/*
 * graph.c -- expressions as a hash-consed DAG, with folding and symbolic
 * derivatives.
 *
 * Nodes live in one append-only array and are named by their index.  A
 * node's arguments always have smaller indices than the node itself, so the
 * array is already in topological order: the tape compiles it front to
 * back, and a node created before an input x cannot depend on x.
 *
 * Every constructor goes through three steps:
 *
 *   1. fold: an operator whose arguments are all constants becomes the
 *      constant graph_apply() gives, so a folded graph and an evaluated one
 *      agree bit for bit;
 *   2. simplify: a few identities (x+0, x*1, x*0, x^1, x^0, 0-x, --x,
 *      select on a constant or between equal branches) return an existing
 *      node instead of making a new one;
 *   3. intern: an open-addressing hash of (op, args, constant bits, input
 *      kind and index) returns the node that already has that content, if
 *      any.  Commutative operators order their arguments by index first, so
 *      a+b and b+a are one node.
 *
 * Derivatives are forward symbolic differentiation over the DAG: d(f)/d(x)
 * is built from the derivatives of f's arguments by the usual rules and
 * memoised per (f, x), so a shared subexpression is differentiated once.
 * The rules only ever call the constructors above, so d/dx of a term that
 * does not involve x folds away to 0 and a Jacobian stays sparse.
 */
#include "graph.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LN10        2.30258509299404568402
#define SQRT1_2     0.70710678118654752440   /* 1/sqrt(2) */
#define INV_SQRT2PI 0.39894228040143267794   /* 1/sqrt(2*pi) */

typedef struct {
    GNode f, x, d;        /* d = d f / d x; f = G_NONE marks an empty slot */
} DiffMemo;

typedef struct {
    const char *name;
    GNode n;
} Output;

struct Graph {
    Arena *arena;
    GNodeInfo *node;
    int n, cap;
    GNode *hash;          /* node indices; G_NONE = empty; hcap a power of 2 */
    int hcap;
    DiffMemo *memo;       /* open addressing on (f, x); mcap a power of 2 */
    int nmemo, mcap;
    GNode *stk;           /* graph_diff's explicit stack, reused across calls */
    int nstk, stkcap;
    Output *out;
    int nout, outcap;
};

Graph *graph_new(Arena *a)
{
    Graph *g = mem_alloc(a, sizeof *g);
    g->arena = a;
    return g;
}

int graph_size(const Graph *g)
{
    return g->n;
}

const GNodeInfo *graph_node(const Graph *g, GNode n)
{
    assert(n >= 0 && n < g->n);
    return &g->node[n];
}

/* ---------------------------------------------------------------------
 * Operators
 * ------------------------------------------------------------------- */

static const char *const op_names[G_NOPS] = {
    "const", "input",
    "neg", "not",
    "exp", "log", "log10", "sqrt", "abs", "sin", "cos", "tanh",
    "logit", "expit", "softplus", "phi",
    "add", "sub", "mul", "div", "pow", "min", "max",
    "lt", "le", "gt", "ge", "eq", "ne", "and", "or",
    "select",
};

const char *graph_op_name(GOp op)
{
    return (unsigned)op < G_NOPS ? op_names[op] : "?";
}

int graph_op_arity(GOp op)
{
    if (op == G_CONST || op == G_INPUT)
        return 0;
    if (op < G_ADD)
        return 1;
    if (op < G_SELECT)
        return 2;
    return op == G_SELECT ? 3 : -1;
}

static int is_commutative(GOp op)
{
    switch (op) {
    case G_ADD: case G_MUL: case G_MIN: case G_MAX:
    case G_EQ: case G_NE: case G_AND: case G_OR:
        return 1;
    default:
        return 0;
    }
}

/*
 * Integer powers by binary powering: log2|n| squarings and popcount(n)
 * products, against a pow() call that costs tens of them.  Each squaring
 * doubles the relative error carried, so x^n is within about |n| ulps;
 * beyond POWI_MAX that would be worse than pow()'s half ulp, and we call
 * pow().  This is what Fortran compilers do for X**3, which is what
 * NONMEM users expect.  Same results as pow() for 0, -0, inf and NaN.
 */
#define POWI_MAX 16

double graph_powi(double x, int n)
{
    if (n > POWI_MAX || n < -POWI_MAX)
        return pow(x, n);
    unsigned m = n < 0 ? -(unsigned)n : (unsigned)n;
    double r = 1.0;
    while (m) {
        if (m & 1)
            r *= x;
        m >>= 1;
        if (m)
            x *= x;
    }
    return n < 0 ? 1.0 / r : r;
}

/* The one definition of every operator; the tape inlines the hot ones with
 * exactly these expressions, and calls this for the rest. */
double graph_apply(GOp op, const double *a)
{
    double x = a[0];
    switch (op) {
    case G_NEG:   return -x;
    case G_NOT:   return x == 0.0 ? 1.0 : 0.0;
    case G_EXP:   return exp(x);
    case G_LOG:   return log(x);
    case G_LOG10: return log10(x);
    case G_SQRT:  return sqrt(x);
    case G_ABS:   return fabs(x);
    case G_SIN:   return sin(x);
    case G_COS:   return cos(x);
    case G_TANH:  return tanh(x);
    case G_LOGIT: return log(x / (1.0 - x));
    case G_EXPIT:
        /* exp of a negative number only, so neither tail overflows */
        if (x >= 0.0)
            return 1.0 / (1.0 + exp(-x));
        else {
            double e = exp(x);
            return e / (1.0 + e);
        }
    case G_SOFTPLUS:
        /* log(1 + e^x) = x + log(1 + e^-x): keeps e^x from overflowing */
        return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case G_PHI:   return 0.5 * erfc(-x * SQRT1_2);
    case G_ADD:   return x + a[1];
    case G_SUB:   return x - a[1];
    case G_MUL:   return x * a[1];
    case G_DIV:   return x / a[1];
    case G_POW:
        if (fabs(a[1]) <= POWI_MAX && a[1] == (int)a[1])
            return graph_powi(x, (int)a[1]);
        return pow(x, a[1]);
    case G_MIN:   return fmin(x, a[1]);
    case G_MAX:   return fmax(x, a[1]);
    case G_LT:    return x <  a[1] ? 1.0 : 0.0;
    case G_LE:    return x <= a[1] ? 1.0 : 0.0;
    case G_GT:    return x >  a[1] ? 1.0 : 0.0;
    case G_GE:    return x >= a[1] ? 1.0 : 0.0;
    case G_EQ:    return x == a[1] ? 1.0 : 0.0;
    case G_NE:    return x != a[1] ? 1.0 : 0.0;
    case G_AND:   return x != 0.0 && a[1] != 0.0 ? 1.0 : 0.0;
    case G_OR:    return x != 0.0 || a[1] != 0.0 ? 1.0 : 0.0;
    case G_SELECT: return x != 0.0 ? a[1] : a[2];
    case G_CONST: case G_INPUT: case G_NOPS:
        break;
    }
    return NAN;
}

/* ---------------------------------------------------------------------
 * Interning
 * ------------------------------------------------------------------- */

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9e3779b97f4a7c15u;
    return h ^ (h >> 31);
}

static uint64_t node_hash(const GNodeInfo *k)
{
    uint64_t h = mix(0x243f6a8885a308d3u, (uint64_t)k->op);
    for (int i = 0; i < k->nargs; i++)
        h = mix(h, (uint64_t)(uint32_t)k->a[i]);
    if (k->op == G_CONST)
        h = mix(h, dbits(k->value));
    else if (k->op == G_INPUT)
        h = mix(h, (uint64_t)k->in_kind << 32 | (uint32_t)k->in_index);
    return h;
}

/* Constants compare by bits, so 0.0 and -0.0 stay apart (1/x tells them
 * apart) and a NaN constant still finds itself. */
static int node_same(const GNodeInfo *p, const GNodeInfo *q)
{
    if (p->op != q->op || p->nargs != q->nargs)
        return 0;
    for (int i = 0; i < p->nargs; i++)
        if (p->a[i] != q->a[i])
            return 0;
    if (p->op == G_CONST)
        return dbits(p->value) == dbits(q->value);
    if (p->op == G_INPUT)
        return p->in_kind == q->in_kind && p->in_index == q->in_index;
    return 1;
}

static void hash_insert(GNode *tab, int cap, const GNodeInfo *k, GNode n)
{
    size_t mask = (size_t)cap - 1;
    size_t i = (size_t)node_hash(k) & mask;
    while (tab[i] != G_NONE)
        i = (i + 1) & mask;
    tab[i] = n;
}

/* Keep the load factor under 1/2 so linear probing stays short. */
static void hash_grow(Graph *g)
{
    int cap = g->hcap ? 2 * g->hcap : 256;
    GNode *tab = mem_alloc(g->arena, (size_t)cap * sizeof *tab);
    for (int i = 0; i < cap; i++)
        tab[i] = G_NONE;
    for (GNode n = 0; n < g->n; n++)
        hash_insert(tab, cap, &g->node[n], n);
    g->hash = tab;
    g->hcap = cap;
}

static GNode intern(Graph *g, const GNodeInfo *k)
{
    if (2 * (g->n + 1) > g->hcap)
        hash_grow(g);
    size_t mask = (size_t)g->hcap - 1;
    size_t i = (size_t)node_hash(k) & mask;
    for (GNode m; (m = g->hash[i]) != G_NONE; i = (i + 1) & mask)
        if (node_same(&g->node[m], k))
            return m;
    GNode n = g->n;
    MEM_PUSH(g->arena, g->node, g->n, g->cap, *k);
    g->hash[i] = n;
    return n;
}

static GNodeInfo blank(GOp op, int nargs)
{
    GNodeInfo k;
    memset(&k, 0, sizeof k);   /* padding too: nodes are compared by field */
    k.op = op;
    k.nargs = nargs;
    k.a[0] = k.a[1] = k.a[2] = G_NONE;
    return k;
}

/* ---------------------------------------------------------------------
 * Constructors
 * ------------------------------------------------------------------- */

static int is_const(const Graph *g, GNode n)
{
    return g->node[n].op == G_CONST;
}

/* True for -0.0 as well as 0.0: x + -0 is x, and x * -0 is as good as 0. */
static int is_value(const Graph *g, GNode n, double v)
{
    return g->node[n].op == G_CONST && g->node[n].value == v;
}

static int valid(const Graph *g, GNode n)
{
    return n >= 0 && n < g->n;
}

GNode graph_const(Graph *g, double v)
{
    GNodeInfo k = blank(G_CONST, 0);
    k.value = v;
    return intern(g, &k);
}

GNode graph_input(Graph *g, GInKind kind, int index)
{
    assert((unsigned)kind < GIN_NKINDS && index >= 0);
    GNodeInfo k = blank(G_INPUT, 0);
    k.in_kind = kind;
    k.in_index = index;
    return intern(g, &k);
}

GNode graph_unary(Graph *g, GOp op, GNode x)
{
    assert(graph_op_arity(op) == 1 && valid(g, x));
    if (is_const(g, x))
        return graph_const(g, graph_apply(op, &g->node[x].value));
    if (op == G_NEG && g->node[x].op == G_NEG)
        return g->node[x].a[0];
    GNodeInfo k = blank(op, 1);
    k.a[0] = x;
    return intern(g, &k);
}

GNode graph_binary(Graph *g, GOp op, GNode x, GNode y)
{
    assert(graph_op_arity(op) == 2 && valid(g, x) && valid(g, y));
    if (is_const(g, x) && is_const(g, y)) {
        double v[2] = { g->node[x].value, g->node[y].value };
        return graph_const(g, graph_apply(op, v));
    }
    if (is_commutative(op) && x > y) {
        GNode t = x;
        x = y;
        y = t;
    }
    switch (op) {
    case G_ADD:
        if (is_value(g, x, 0.0)) return y;
        if (is_value(g, y, 0.0)) return x;
        break;
    case G_SUB:
        if (is_value(g, y, 0.0)) return x;
        if (is_value(g, x, 0.0)) return graph_unary(g, G_NEG, y);
        break;
    case G_MUL:
        /* x*0 -> 0 is not IEEE (inf*0 and NaN*0 are NaN), but it is what
         * keeps derivatives sparse: every rule multiplies by d(arg), and
         * most of those are 0.  A model whose value is inf or NaN is
         * broken anyway. */
        if (is_value(g, x, 0.0) || is_value(g, y, 0.0))
            return graph_const(g, 0.0);
        if (is_value(g, x, 1.0)) return y;
        if (is_value(g, y, 1.0)) return x;
        break;
    case G_DIV:
        if (is_value(g, y, 1.0)) return x;
        break;
    case G_POW:
        if (is_value(g, y, 1.0)) return x;
        if (is_value(g, y, 0.0)) return graph_const(g, 1.0);  /* pow(x, 0) = 1 */
        break;
    default:
        break;
    }
    GNodeInfo k = blank(op, 2);
    k.a[0] = x;
    k.a[1] = y;
    return intern(g, &k);
}

GNode graph_select(Graph *g, GNode cond, GNode then_, GNode else_)
{
    assert(valid(g, cond) && valid(g, then_) && valid(g, else_));
    if (is_const(g, cond))
        return g->node[cond].value != 0.0 ? then_ : else_;
    if (then_ == else_)
        return then_;
    GNodeInfo k = blank(G_SELECT, 3);
    k.a[0] = cond;
    k.a[1] = then_;
    k.a[2] = else_;
    return intern(g, &k);
}

/* ---------------------------------------------------------------------
 * Derivatives
 * ------------------------------------------------------------------- */

static size_t memo_slot(const DiffMemo *tab, int cap, GNode f, GNode x)
{
    size_t mask = (size_t)cap - 1;
    size_t i = (size_t)mix(mix(0x13198a2e03707344u, (uint32_t)f), (uint32_t)x) & mask;
    while (tab[i].f != G_NONE && (tab[i].f != f || tab[i].x != x))
        i = (i + 1) & mask;
    return i;
}

/* d f / d x if already known, else G_NONE.  A node older than x cannot
 * depend on x (arguments precede their node), so its derivative is 0
 * without a look at its subgraph. */
static GNode memo_get(Graph *g, GNode f, GNode x)
{
    if (f < x)
        return graph_const(g, 0.0);
    if (!g->mcap)
        return G_NONE;
    const DiffMemo *e = &g->memo[memo_slot(g->memo, g->mcap, f, x)];
    return e->f == G_NONE ? G_NONE : e->d;
}

static void memo_put(Graph *g, GNode f, GNode x, GNode d)
{
    if (2 * (g->nmemo + 1) > g->mcap) {
        int cap = g->mcap ? 2 * g->mcap : 256;
        DiffMemo *tab = mem_alloc(g->arena, (size_t)cap * sizeof *tab);
        for (int i = 0; i < cap; i++)
            tab[i].f = G_NONE;
        for (int i = 0; i < g->mcap; i++)
            if (g->memo[i].f != G_NONE)
                tab[memo_slot(tab, cap, g->memo[i].f, g->memo[i].x)] = g->memo[i];
        g->memo = tab;
        g->mcap = cap;
    }
    DiffMemo *e = &g->memo[memo_slot(g->memo, g->mcap, f, x)];
    if (e->f == G_NONE)
        g->nmemo++;
    e->f = f;
    e->x = x;
    e->d = d;
}

static int is_zero(const Graph *g, GNode n)
{
    return is_value(g, n, 0.0);
}

/* Shorthands for the rules below; each goes through folding and interning. */
static GNode num(Graph *g, double v)                  { return graph_const(g, v); }
static GNode un(Graph *g, GOp op, GNode x)            { return graph_unary(g, op, x); }
static GNode bin(Graph *g, GOp op, GNode x, GNode y)  { return graph_binary(g, op, x, y); }
static GNode mul(Graph *g, GNode x, GNode y)          { return graph_binary(g, G_MUL, x, y); }

/* d n / d x from the derivatives da[] of n's arguments.  k is a copy of
 * n's node: the constructors may move the node array. */
static GNode diff_rule(Graph *g, GNode n, GNodeInfo k, const GNode *da, GNode x)
{
    GNode u = k.a[0], v = k.a[1], du = da[0], dv = da[1];
    GNode zero = num(g, 0.0);

    if (k.op == G_CONST)
        return zero;
    if (k.op == G_INPUT)
        return n == x ? num(g, 1.0) : zero;
    /* No argument moves with x: the common case, and it must not leave
     * dead nodes behind. */
    int moves = 0;
    for (int i = 0; i < k.nargs; i++)
        moves |= !is_zero(g, da[i]);
    if (!moves)
        return zero;

    switch (k.op) {
    case G_NEG:   return un(g, G_NEG, du);
    case G_EXP:   return mul(g, n, du);
    case G_LOG:   return bin(g, G_DIV, du, u);
    case G_LOG10: return bin(g, G_DIV, du, mul(g, u, num(g, LN10)));
    case G_SQRT:  return bin(g, G_DIV, du, mul(g, num(g, 2.0), n));
    case G_ABS:
        /* sign(u) du; at u = 0 we take +du, a valid subgradient */
        return graph_select(g, bin(g, G_LT, u, zero), un(g, G_NEG, du), du);
    case G_SIN:   return mul(g, un(g, G_COS, u), du);
    case G_COS:   return un(g, G_NEG, mul(g, un(g, G_SIN, u), du));
    case G_TANH:  return mul(g, bin(g, G_SUB, num(g, 1.0), mul(g, n, n)), du);
    case G_LOGIT: /* d log(p/(1-p)) = dp / (p (1-p)) */
        return bin(g, G_DIV, du, mul(g, u, bin(g, G_SUB, num(g, 1.0), u)));
    case G_EXPIT: /* e' = e (1 - e) */
        return mul(g, mul(g, n, bin(g, G_SUB, num(g, 1.0), n)), du);
    case G_SOFTPLUS:
        return mul(g, un(g, G_EXPIT, u), du);
    case G_PHI:   /* the standard normal density exp(-u^2/2) / sqrt(2 pi) */
        return mul(g, mul(g, num(g, INV_SQRT2PI),
                          un(g, G_EXP, mul(g, num(g, -0.5), mul(g, u, u)))), du);
    case G_ADD:   return bin(g, G_ADD, du, dv);
    case G_SUB:   return bin(g, G_SUB, du, dv);
    case G_MUL:   return bin(g, G_ADD, mul(g, du, v), mul(g, u, dv));
    case G_DIV:   /* (u/v)' = (du - (u/v) dv) / v: reuses n, one division */
        return bin(g, G_DIV, bin(g, G_SUB, du, mul(g, n, dv)), v);
    case G_POW: {
        /* d u^v = v u^(v-1) du + u^v log(u) dv.  With v constant only the
         * first term exists, and it alone stays finite for u <= 0 with an
         * integer exponent, where log(u) is not. */
        GNode t1 = zero, t2 = zero;
        if (!is_zero(g, du)) {
            GNode vm1 = bin(g, G_SUB, v, num(g, 1.0));
            t1 = mul(g, mul(g, v, bin(g, G_POW, u, vm1)), du);
        }
        if (!is_const(g, v) && !is_zero(g, dv))
            t2 = mul(g, mul(g, n, un(g, G_LOG, u)), dv);
        return bin(g, G_ADD, t1, t2);
    }
    /* min and max follow the branch fmin/fmax picks; on a tie, the first */
    case G_MIN:   return graph_select(g, bin(g, G_LE, u, v), du, dv);
    case G_MAX:   return graph_select(g, bin(g, G_GE, u, v), du, dv);
    case G_SELECT: return graph_select(g, u, da[1], da[2]);
    default:      /* comparisons and logic: piecewise constant */
        return zero;
    }
}

/*
 * Depth-first over f's subgraph with an explicit stack rather than
 * recursion, so a long chain (a sum of a thousand terms, a deep nest of
 * ifs) cannot overflow the C stack.  A node stays on the stack until the
 * derivatives of all its arguments are memoised; a node reached twice is
 * differentiated once.
 */
GNode graph_diff(Graph *g, GNode f, GNode x)
{
    assert(valid(g, f) && valid(g, x) && g->node[x].op == G_INPUT);
    GNode d = memo_get(g, f, x);
    if (d != G_NONE)
        return d;
    int base = g->nstk;   /* graph_diff is not reentrant, but be tidy */
    MEM_PUSH(g->arena, g->stk, g->nstk, g->stkcap, f);
    while (g->nstk > base) {
        GNode n = g->stk[g->nstk - 1];
        if (memo_get(g, n, x) != G_NONE) {
            g->nstk--;
            continue;
        }
        GNodeInfo k = g->node[n];
        GNode da[3] = { G_NONE, G_NONE, G_NONE };
        int pending = 0;
        for (int i = 0; i < k.nargs; i++) {
            da[i] = memo_get(g, k.a[i], x);
            if (da[i] == G_NONE) {
                MEM_PUSH(g->arena, g->stk, g->nstk, g->stkcap, k.a[i]);
                pending = 1;
            }
        }
        if (pending)
            continue;
        memo_put(g, n, x, diff_rule(g, n, k, da, x));
        g->nstk--;
    }
    return memo_get(g, f, x);
}

/* ---------------------------------------------------------------------
 * Evaluation, outputs
 * ------------------------------------------------------------------- */

/* Deliberately naive: exponential in the amount of sharing, and the
 * simplest possible statement of what a graph means, to test the tape
 * against. */
int graph_depends(const Graph *g, GNode n, GInKind kind, unsigned char *mark)
{
    if (n < 0 || n >= g->n)
        return 0;
    memset(mark, 0, (size_t)n + 1);
    mark[n] = 1;
    for (GNode i = n; i >= 0; i--) {
        if (!mark[i])
            continue;
        const GNodeInfo *k = &g->node[i];
        if (k->op == G_INPUT && k->in_kind == kind)
            return 1;
        for (int j = 0; j < k->nargs; j++)
            mark[k->a[j]] = 1;
    }
    return 0;
}

double graph_eval_direct(const Graph *g, GNode n, const GInputs *in)
{
    const GNodeInfo *k = graph_node(g, n);
    double v[3];
    switch (k->op) {
    case G_CONST: return k->value;
    case G_INPUT: return in->v[k->in_kind][k->in_index];
    default:
        for (int i = 0; i < k->nargs; i++)
            v[i] = graph_eval_direct(g, k->a[i], in);
        return graph_apply(k->op, v);
    }
}

void graph_add_output(Graph *g, const char *name, GNode n)
{
    assert(valid(g, n));
    Output o = { mem_strdup(g->arena, name), n };
    MEM_PUSH(g->arena, g->out, g->nout, g->outcap, o);
}

int graph_noutputs(const Graph *g)
{
    return g->nout;
}

const char *graph_output_name(const Graph *g, int i)
{
    assert(i >= 0 && i < g->nout);
    return g->out[i].name;
}

GNode graph_output(const Graph *g, int i)
{
    assert(i >= 0 && i < g->nout);
    return g->out[i].n;
}

/* ---------------------------------------------------------------------
 * Graphviz
 * ------------------------------------------------------------------- */

static const char *const kind_names[GIN_NKINDS] = {
    "THETA", "ETA", "EPS", "STATE", "DATA", "PARAM", "TIME", "NET", "HYB",
};

static void dot_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* Nodes in index order, then the output boxes in output order: the same
 * graph always prints the same text. */
void graph_dot(const Graph *g, FILE *out, GInputNamer namer, void *ctx)
{
    /* A scratch mark array; without one (out of memory) we print every
     * node, which is still a correct picture, only a busier one. */
    unsigned char *live = mem_calloc((size_t)g->n, 1);
    if (live) {
        for (int i = 0; i < g->nout; i++)
            live[g->out[i].n] = 1;
        for (GNode n = g->n - 1; n >= 0; n--)
            if (live[n])
                for (int i = 0; i < g->node[n].nargs; i++)
                    live[g->node[n].a[i]] = 1;
    }
    fputs("digraph qlx {\n  node [fontname=\"Helvetica\"];\n", out);
    for (GNode n = 0; n < g->n; n++) {
        if (live && !live[n])
            continue;
        const GNodeInfo *k = &g->node[n];
        char buf[64];
        const char *label = buf;
        if (k->op == G_CONST) {
            snprintf(buf, sizeof buf, "%g", k->value);
        } else if (k->op == G_INPUT) {
            label = namer ? namer(ctx, k->in_kind, k->in_index) : NULL;
            if (!label) {
                snprintf(buf, sizeof buf, "%s[%d]", kind_names[k->in_kind], k->in_index);
                label = buf;
            }
        } else {
            label = op_names[k->op];
        }
        fprintf(out, "  n%d [label=", (int)n);
        dot_string(out, label);
        fputs(k->op == G_CONST ? ", shape=plaintext];\n"
              : k->op == G_INPUT ? ", shape=ellipse, style=bold];\n" : "];\n", out);
        /* operand order matters for sub, div, pow, comparisons and select */
        int ordered = k->nargs > 1 && !is_commutative(k->op);
        for (int i = 0; i < k->nargs; i++) {
            fprintf(out, "  n%d -> n%d", (int)k->a[i], (int)n);
            if (ordered)
                fprintf(out, " [label=\"%d\"]", i);
            fputs(";\n", out);
        }
    }
    for (int i = 0; i < g->nout; i++) {
        fprintf(out, "  o%d [shape=box, label=", i);
        dot_string(out, g->out[i].name);
        fprintf(out, "];\n  n%d -> o%d;\n", (int)g->out[i].n, i);
    }
    fputs("}\n", out);
    mem_free(live);
}
