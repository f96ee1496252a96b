/*
 * tape.c -- a graph compiled to straight-line code over a work array.
 *
 * Compilation:
 *
 *   1. Mark the nodes reachable from the requested outputs, walking the
 *      node array backwards (arguments precede their nodes, so one pass
 *      suffices).  Index order is then already a topological order.
 *   2. Fuse: a product used once, by a sum or difference, becomes part of
 *      it (a*b + c, a*b - c, a - b*c), as does a negation used once by a
 *      difference (-a - b).  Model right-hand sides and Jacobians are made
 *      of little else, and every instruction saved is a dispatch saved.
 *      The fused forms round exactly as the separate operations do.
 *   3. Give slots.  The constants come first, copied from the tape by one
 *      loop; the inputs next, sorted by (kind, index) so that THETA 0..4
 *      load as one run; then the computed nodes.  A computed node's slot
 *      is released after its last use and reused by a later node (linear
 *      scan register allocation on a straight line), so the work array is
 *      the width of the graph, not its length.
 *   4. Emit one instruction per remaining node.  An instruction whose node
 *      is an output and nothing else writes straight into out[]; the other
 *      outputs (constants, inputs, values also used later) are copied
 *      after the run.  A power with an integer constant exponent becomes
 *      SQR or POWI with the exponent as an immediate.
 *
 * Evaluation is one loop over the instructions, threaded with computed
 * goto where the compiler has it (GCC, Clang: each handler ends with its
 * own indirect jump, which predicts far better than a switch's single
 * one, and there is no bounds check), a switch otherwise.  The frequent
 * operators are inlined with the same expressions graph_apply() uses, so
 * the tape and graph_eval_direct() agree bit for bit; the rare ones (erfc,
 * logit...) call graph_apply(), whose cost dwarfs the call.
 */
#include "tape.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fused forms must round like the separate operations: no a*b+c -> fma.
 * (GCC leaves contraction off in ISO C mode, -std=c11.) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__GNUC__) && !defined(QLX_TAPE_SWITCH)
#define TAPE_THREADED 1
#else
#define TAPE_THREADED 0
#endif

/*
 * The tape's operators: name and value, in terms of the operands A, B, C
 * (work slots) and the instruction ip.  Each has a second opcode, offset
 * by T_NBASE, that stores into out[d] instead of work[d].
 */
#define TAPE_OPS(X)                       \
    X(ADD,    A + B)                      \
    X(SUB,    A - B)                      \
    X(MUL,    A * B)                      \
    X(DIV,    A / B)                      \
    X(NEG,    -A)                         \
    X(EXP,    exp(A))                     \
    X(LOG,    log(A))                     \
    X(SQRT,   sqrt(A))                    \
    X(SQR,    A * A)                      \
    X(POWI,   graph_powi(A, ip->b))       \
    X(SELECT, A != 0.0 ? B : C)           \
    X(MULADD, A * B + C)                  \
    X(MULSUB, A * B - C)                  \
    X(SUBMUL, A - B * C)                  \
    X(NEGSUB, -A - B)                     \
    X(CALL,   call(ip, w))

#define X_ENUM(name, e) T_##name,
enum { TAPE_OPS(X_ENUM) T_NBASE };
#define T_END (2 * T_NBASE)

typedef struct {
    int32_t op, d, a, b, c;   /* POWI: b = exponent; CALL: c = GOp */
} TInstr;

typedef struct {
    int32_t slot, kind, index, n;   /* work[slot + j] = in->v[kind][index + j] */
} TRun;

typedef struct {
    int32_t out, slot;              /* out[out] = work[slot] */
} TFix;

/* One malloc: this header, then konst[], ins[], run[], fix[]. */
struct Tape {
    int nconst, nins, nrun, nfix, nout;
    size_t nwork;
    double *konst;
    TInstr *ins;      /* nins instructions, then T_END */
    TRun *run;
    TFix *fix;
};

/* ---------------------------------------------------------------------
 * Compilation
 * ------------------------------------------------------------------- */

/* What one node becomes; top < 0: nothing (a leaf, or fused away). */
typedef struct {
    int32_t top;
    int32_t nops;
    GNode op[3];
    int32_t imm;
} Emit;

typedef struct {
    int32_t kind, index;
    GNode n;
} InputRef;

static int is_leaf(const GNodeInfo *k)
{
    return k->op == G_CONST || k->op == G_INPUT;
}

/* The instruction a computed node maps to before fusion. */
static Emit basic_emit(const Graph *g, const GNodeInfo *k)
{
    Emit e = { T_CALL, k->nargs, { k->a[0], k->a[1], k->a[2] }, (int32_t)k->op };
    switch (k->op) {
    case G_ADD:  e.top = T_ADD; break;
    case G_SUB:  e.top = T_SUB; break;
    case G_MUL:  e.top = T_MUL; break;
    case G_DIV:  e.top = T_DIV; break;
    case G_NEG:  e.top = T_NEG; break;
    case G_EXP:  e.top = T_EXP; break;
    case G_LOG:  e.top = T_LOG; break;
    case G_SQRT: e.top = T_SQRT; break;
    case G_SELECT: e.top = T_SELECT; break;
    case G_POW: {
        /* an integer constant exponent goes in the instruction */
        const GNodeInfo *y = graph_node(g, k->a[1]);
        if (y->op == G_CONST && fabs(y->value) <= 1 << 20 && y->value == (int)y->value) {
            e.imm = (int32_t)y->value;
            e.top = e.imm == 2 ? T_SQR : T_POWI;
            e.nops = 1;
        }
        break;
    }
    default:
        break;
    }
    return e;
}

/* Can m, an operand, be folded into its only user as a `top`? */
static int fusable(const Graph *g, const Emit *em, const int32_t *uses,
                   const int32_t *outcnt, GNode m, int top)
{
    return !is_leaf(graph_node(g, m)) && em[m].top == top && uses[m] == 1 && outcnt[m] == 0;
}

static void fuse(const Graph *g, Emit *em, const int32_t *uses, const int32_t *outcnt, GNode i)
{
    Emit *e = &em[i];
    GNode x = e->op[0], y = e->op[1];
    if (e->top == T_ADD) {
        GNode m = fusable(g, em, uses, outcnt, x, T_MUL) ? x
                : fusable(g, em, uses, outcnt, y, T_MUL) ? y : G_NONE;
        if (m == G_NONE)
            return;
        /* x + y*z == y*z + x exactly: IEEE addition commutes */
        *e = (Emit){ T_MULADD, 3, { em[m].op[0], em[m].op[1], m == x ? y : x }, 0 };
        em[m].top = -1;
    } else if (e->top == T_SUB) {
        if (fusable(g, em, uses, outcnt, y, T_MUL)) {
            *e = (Emit){ T_SUBMUL, 3, { x, em[y].op[0], em[y].op[1] }, 0 };
            em[y].top = -1;
        } else if (fusable(g, em, uses, outcnt, x, T_MUL)) {
            *e = (Emit){ T_MULSUB, 3, { em[x].op[0], em[x].op[1], y }, 0 };
            em[x].top = -1;
        } else if (fusable(g, em, uses, outcnt, x, T_NEG)) {
            *e = (Emit){ T_NEGSUB, 2, { em[x].op[0], y, G_NONE }, 0 };
            em[x].top = -1;
        }
    }
}

static int cmp_input(const void *p, const void *q)
{
    const InputRef *a = p, *b = q;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

Tape *tape_compile(const Graph *g, const GNode *outs, int nout)
{
    int n = graph_size(g);
    size_t nn = n ? (size_t)n : 1;
    Tape *t = NULL;
    Emit *em = mem_malloc(nn * sizeof *em);
    unsigned char *live = mem_calloc(nn, 1);
    int32_t *uses = mem_calloc(nn, sizeof *uses);
    int32_t *outcnt = mem_calloc(nn, sizeof *outcnt);
    int32_t *opos = mem_malloc(nn * sizeof *opos);     /* first output position */
    int32_t *last = mem_malloc(nn * sizeof *last);
    int32_t *slot = mem_malloc(nn * sizeof *slot);
    int32_t *freel = mem_malloc(nn * sizeof *freel);
    InputRef *inp = mem_malloc(nn * sizeof *inp);
    if (!em || !live || !uses || !outcnt || !opos || !last || !slot || !freel || !inp)
        goto done;

    /* 1. live nodes and their instructions */
    for (int p = nout - 1; p >= 0; p--) {
        assert(outs[p] >= 0 && outs[p] < n);
        live[outs[p]] = 1;
        outcnt[outs[p]]++;
        opos[outs[p]] = p;
    }
    int nconst = 0, ninput = 0, nins = 0;
    for (GNode i = n - 1; i >= 0; i--) {
        if (!live[i])
            continue;
        const GNodeInfo *k = graph_node(g, i);
        em[i].top = -1;
        if (k->op == G_CONST) {
            nconst++;
        } else if (k->op == G_INPUT) {
            inp[ninput++] = (InputRef){ (int32_t)k->in_kind, k->in_index, i };
        } else {
            em[i] = basic_emit(g, k);
            for (int j = 0; j < em[i].nops; j++) {
                live[em[i].op[j]] = 1;
                uses[em[i].op[j]]++;
            }
        }
    }

    /* 2. fusion, then last uses (in node-index time) */
    for (GNode i = 0; i < n; i++)
        if (live[i] && em[i].top >= 0)
            fuse(g, em, uses, outcnt, i);
    for (GNode i = 0; i < n; i++) {
        last[i] = -1;
        if (live[i] && em[i].top >= 0) {
            nins++;
            for (int j = 0; j < em[i].nops; j++)
                last[em[i].op[j]] = i;
        }
    }

    size_t sz = round8(sizeof *t) + (size_t)nconst * sizeof(double)
              + (size_t)(nins + 1) * sizeof(TInstr) + (size_t)ninput * sizeof(TRun)
              + (size_t)nout * sizeof(TFix);
    t = mem_malloc(sz);
    if (!t)
        goto done;
    char *p = (char *)t + round8(sizeof *t);
    t->konst = (double *)p;
    p += (size_t)nconst * sizeof(double);
    t->ins = (TInstr *)p;
    p += (size_t)(nins + 1) * sizeof(TInstr);
    t->run = (TRun *)p;
    p += (size_t)ninput * sizeof(TRun);
    t->fix = (TFix *)p;
    t->nconst = t->nins = t->nrun = t->nfix = 0;
    t->nout = nout;

    /* 3. slots: constants, then inputs in runs */
    int32_t next = 0;
    for (GNode i = 0; i < n; i++)
        if (live[i] && graph_node(g, i)->op == G_CONST) {
            slot[i] = next++;
            t->konst[t->nconst++] = graph_node(g, i)->value;
        }
    qsort(inp, (size_t)ninput, sizeof *inp, cmp_input);
    for (int j = 0; j < ninput; j++) {
        slot[inp[j].n] = next;
        TRun *r = t->nrun ? &t->run[t->nrun - 1] : NULL;
        if (r && r->kind == inp[j].kind && r->index + r->n == inp[j].index)
            r->n++;
        else
            t->run[t->nrun++] = (TRun){ next, inp[j].kind, inp[j].index, 1 };
        next++;
    }

    /* 4. computed nodes.  Operands released at their last use before the
     * destination is chosen: an instruction reads all its operands before
     * it writes, so d may equal one of them. */
    int nfree = 0;
    for (GNode i = 0; i < n; i++) {
        if (!live[i] || em[i].top < 0)
            continue;
        const Emit *e = &em[i];
        for (int j = 0; j < e->nops; j++) {
            GNode a = e->op[j];
            int dup = 0;
            for (int m = 0; m < j; m++)
                dup |= e->op[m] == a;
            if (!dup && last[a] == i && !outcnt[a] && !is_leaf(graph_node(g, a)))
                freel[nfree++] = slot[a];
        }
        TInstr in = { e->top, 0, slot[e->op[0]], 0, 0 };
        if (outcnt[i] == 1 && uses[i] == 0) {
            in.op += T_NBASE;          /* an output and nothing else */
            in.d = opos[i];
            slot[i] = -1;
        } else {
            in.d = slot[i] = nfree ? freel[--nfree] : next++;
        }
        if (e->top == T_POWI)
            in.b = e->imm;
        else
            in.b = e->nops > 1 ? slot[e->op[1]] : in.a;   /* CALL reads b always */
        if (e->top == T_CALL)
            in.c = e->imm;
        else if (e->nops > 2)
            in.c = slot[e->op[2]];
        t->ins[t->nins++] = in;
    }
    t->ins[t->nins] = (TInstr){ T_END, 0, 0, 0, 0 };
    t->nwork = (size_t)next;

    /* 5. outputs not written by their instruction */
    for (int q = 0; q < nout; q++) {
        GNode o = outs[q];
        if (slot[o] >= 0)
            t->fix[t->nfix++] = (TFix){ q, slot[o] };
    }

done:
    mem_free(em);
    mem_free(live);
    mem_free(uses);
    mem_free(outcnt);
    mem_free(opos);
    mem_free(last);
    mem_free(slot);
    mem_free(freel);
    mem_free(inp);
    return t;
}

void tape_free(Tape **t)
{
    if (t) {
        mem_free(*t);
        *t = NULL;
    }
}

size_t tape_work_size(const Tape *t)
{
    /* never 0, so a caller may always malloc it */
    return t->nwork ? t->nwork : 1;
}

int tape_ninstr(const Tape *t)
{
    return t->nins;
}

int tape_noutputs(const Tape *t)
{
    return t->nout;
}

/* ---------------------------------------------------------------------
 * Evaluation
 * ------------------------------------------------------------------- */

static double call(const TInstr *ip, const double *w)
{
    double v[2] = { w[ip->a], w[ip->b] };
    return graph_apply((GOp)ip->c, v);
}

/* work, out and the inputs must not overlap (restrict): the loads and
 * stores of one instruction can then be scheduled freely. */
void tape_eval(const Tape *t, const GInputs *in, double *restrict w, double *restrict out)
{
    for (int i = 0; i < t->nconst; i++)
        w[i] = t->konst[i];
    for (int i = 0; i < t->nrun; i++) {
        const TRun *r = &t->run[i];
        const double *restrict src = in->v[r->kind] + r->index;
        double *restrict dst = w + r->slot;
        for (int j = 0; j < r->n; j++)
            dst[j] = src[j];
    }

    const TInstr *ip = t->ins;
#define A w[ip->a]
#define B w[ip->b]
#define C w[ip->c]
#if TAPE_THREADED
#define X_LABEL(name, e)  &&L_##name,
#define X_OLABEL(name, e) &&O_##name,
    static const void *const disp[2 * T_NBASE + 1] = {
        TAPE_OPS(X_LABEL) TAPE_OPS(X_OLABEL) &&L_END
    };
#define X_HANDLER(name, e) \
    L_##name: w[ip->d] = (e);   ip++; goto *disp[ip->op]; \
    O_##name: out[ip->d] = (e); ip++; goto *disp[ip->op];
    goto *disp[ip->op];
    TAPE_OPS(X_HANDLER)
L_END:
#else
#define X_CASE(name, e) \
    case T_##name:           w[ip->d] = (e); break; \
    case T_##name + T_NBASE: out[ip->d] = (e); break;
    for (; ip->op != T_END; ip++) {
        switch (ip->op) {
        TAPE_OPS(X_CASE)
        }
    }
#endif
#undef A
#undef B
#undef C

    for (int i = 0; i < t->nfix; i++)
        out[t->fix[i].out] = w[t->fix[i].slot];
}
