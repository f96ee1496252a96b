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
 *      difference (-a - b), and a sum or difference used once by another
 *      ((a +- b) +- c, a compartment's balance of flows).  Model
 *      right-hand sides and Jacobians are made of little else, and every
 *      instruction saved is a dispatch saved.  The fused forms round
 *      exactly as the separate operations do.  An output -x used by
 *      nothing else (-ka in a Jacobian) is no instruction at all: the
 *      output copy flips x's sign bit.
 *   3. Chain: every instruction leaves its value in a register, `acc`, as
 *      well as in memory.  When the next instruction's first operand is
 *      that value it reads acc instead (commutative operands are swapped
 *      to make this so), and when that is the value's only use it is not
 *      stored at all.  A chain a*b - c + d ... then runs in registers,
 *      without a store-to-load round trip (~7 cycles) per link.
 *   4. Operands are (base, index): base 0 the work array, 1 the tape's
 *      constants, 2 + kind the caller's in->v[kind].  Inputs and constants
 *      are read where they are, so there is no copy pass.  A computed
 *      node's work slot is released after its last use and reused by a
 *      later node (linear-scan register allocation on a straight line), so
 *      the work array is the width of the graph, not its length.
 *   5. Emit one instruction per remaining node.  An instruction whose node
 *      is an output writes straight into out[] (and into work too when the
 *      value is used later); only outputs that are inputs, constants,
 *      negations or repeats are copied after the run.  A power with an
 *      integer constant exponent becomes SQR or POWI with the exponent as
 *      an immediate.
 *
 * Evaluation fills the small base-pointer table, then runs the
 * instructions, threaded with computed goto where the compiler
 * has it (GCC, Clang: each handler ends in its own indirect jump, which
 * predicts better than a switch's single one, and there is no bounds
 * check), with a switch otherwise.  The frequent operators are inlined
 * with the same expressions graph_apply() uses, so the tape and
 * graph_eval_direct() agree bit for bit; the rare ones (erfc, logit...)
 * call graph_apply(), whose cost dwarfs the call.
 */
#include "tape.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fused forms must round like the separate operations, and like
 * graph_apply(): no a*b + c -> fma.  Clang honours the standard pragma.
 * GCC ignores it, but keeps contraction off in ISO mode (-std=c11); in
 * GNU mode on a machine with FMA it would contract, so turn it off. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__) && !defined(__STRICT_ANSI__) && defined(__FP_FAST_FMA)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__GNUC__) && !defined(QLX_TAPE_SWITCH)
#define TAPE_THREADED 1
#else
#define TAPE_THREADED 0
#endif

/*
 * The tape's operators: name and value, in terms of the operands A, B, C
 * and the instruction ip.  B and C are work slots; A is a work slot or acc
 * (see tape_eval).  Each operator has eight opcodes:
 *
 *     op + T_NBASE * (4*src + dst)    src: 0 = A in memory, 1 = A in acc
 *                                     dst: 0 = work[d], 1 = out[o],
 *                                          2 = acc only, 3 = both work[d] and out[o]
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
    X(RSUB,   B - A)                      \
    X(RDIV,   B / A)                      \
    X(ADDMUL, A + B * C)                  \
    X(RMULSUB, B * C - A)                 \
    X(RSUBMUL, C - A * B)                 \
    X(ADDADD, A + B + C)                  \
    X(ADDSUB, A + B - C)                  \
    X(SUBADD, A - B + C)                  \
    X(SUBSUB, A - B - C)                  \
    X(CALL1,  call(ip->c, A, A))          \
    X(CALL2,  call(ip->c, A, B))

#define X_ENUM(name, e) T_##name,
enum { TAPE_OPS(X_ENUM) T_NBASE };

enum { D_WORK, D_OUT, D_ACC, D_BOTH };
#define T_NVAR 8          /* 2 sources x 4 destinations */
#define T_END (T_NVAR * T_NBASE)

/* Operands name a base and an index in it, base[k][i]: base 0 is the work
 * array, 1 the tape's constants, 2 + kind the caller's in->v[kind].  So
 * inputs and constants are read where they are, with no copy pass. */
enum { K_WORK, K_KONST, K_INPUT };
#define T_NBASES (K_INPUT + GIN_NKINDS)

typedef struct {
    int32_t op;
    uint8_t ka, kb, kc, pad;   /* bases of a, b, c */
    int32_t a, b, c;           /* POWI: b = exponent; CALL: c = GOp */
    int32_t d, o;              /* work[d], out[o] */
} TInstr;

typedef struct {
    int32_t out, k, i, neg;   /* out[out] = base[k][i], negated if neg */
} TFix;

/* One malloc: this header, then konst[], ins[], fix[]. */
struct Tape {
    int nins, nfix, nout;
    size_t nwork;
    double *konst;
    TInstr *ins;      /* nins instructions, then T_END */
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

/* Per-node scratch of tape_compile, one malloc'd array each. */
typedef struct {
    Emit *em;
    unsigned char *live;
    unsigned char *from_acc;   /* first operand is the previous instruction's value */
    unsigned char *acc_only;   /* value is consumed from acc and never stored */
    unsigned char *negout;     /* an output -x computed by the output copy */
    unsigned char *keep;       /* its x: keeps its slot to the end */
    int32_t *uses;             /* operand references by instructions */
    int32_t *outcnt;           /* times it is an output */
    int32_t *opos;             /* its first output position */
    int32_t *last;             /* node index of its last use */
    int32_t *slot;             /* work slot, -1 none */
    int32_t *kidx;             /* a constant's index in Tape.konst */
    int32_t *freel;            /* released slots, a stack */
} Scratch;

static int is_leaf(const GNodeInfo *k)
{
    return k->op == G_CONST || k->op == G_INPUT;
}

/* The instruction a computed node maps to before fusion. */
static Emit basic_emit(const Graph *g, const GNodeInfo *k)
{
    /* the inlined operators, as 1 + opcode; 0: through graph_apply() */
    static const unsigned char inlined[G_NOPS] = {
        [G_ADD] = 1 + T_ADD, [G_SUB] = 1 + T_SUB, [G_MUL] = 1 + T_MUL,
        [G_DIV] = 1 + T_DIV, [G_NEG] = 1 + T_NEG, [G_EXP] = 1 + T_EXP,
        [G_LOG] = 1 + T_LOG, [G_SQRT] = 1 + T_SQRT, [G_SELECT] = 1 + T_SELECT,
    };
    Emit e = { inlined[k->op] - 1, k->nargs, { k->a[0], k->a[1], k->a[2] }, 0 };
    if (!inlined[k->op]) {
        e.top = k->nargs == 1 ? T_CALL1 : T_CALL2;
        e.imm = (int32_t)k->op;
    }
    if (k->op == G_POW) {
        /* an integer constant exponent goes in the instruction */
        const GNodeInfo *y = graph_node(g, k->a[1]);
        if (y->op == G_CONST && fabs(y->value) <= 1 << 20 && y->value == (int)y->value) {
            e.imm = (int32_t)y->value;
            e.top = e.imm == 2 ? T_SQR : T_POWI;
            e.nops = 1;
        }
    }
    return e;
}

/* Can m, an operand, be folded into its only user as a `top`? */
static int fusable(const Graph *g, const Scratch *s, GNode m, int top)
{
    return !is_leaf(graph_node(g, m)) && s->em[m].top == top && s->uses[m] == 1
        && s->outcnt[m] == 0 && !s->keep[m];
}

static void fuse(const Graph *g, Scratch *s, GNode i)
{
    Emit *e = &s->em[i], *em = s->em;
    GNode x = e->op[0], y = e->op[1];
    if (e->top == T_ADD) {
        GNode m = fusable(g, s, x, T_MUL) ? x : fusable(g, s, y, T_MUL) ? y : G_NONE;
        if (m != G_NONE) {
            /* x + y*z == y*z + x exactly: IEEE addition commutes */
            *e = (Emit){ T_MULADD, 3, { em[m].op[0], em[m].op[1], m == x ? y : x }, 0 };
            em[m].top = -1;
        }
    } else if (e->top == T_SUB) {
        if (fusable(g, s, y, T_MUL)) {
            *e = (Emit){ T_SUBMUL, 3, { x, em[y].op[0], em[y].op[1] }, 0 };
            em[y].top = -1;
        } else if (fusable(g, s, x, T_MUL)) {
            *e = (Emit){ T_MULSUB, 3, { em[x].op[0], em[x].op[1], y }, 0 };
            em[x].top = -1;
        } else if (fusable(g, s, x, T_NEG)) {
            *e = (Emit){ T_NEGSUB, 2, { em[x].op[0], y, G_NONE }, 0 };
            em[x].top = -1;
        }
    }
    /* (a +- b) +- c, left to right as written: a sum of terms, such as a
     * compartment's balance of flows */
    if (e->top == T_ADD || e->top == T_SUB) {
        int add = e->top == T_ADD;
        GNode m = fusable(g, s, x, T_ADD) || fusable(g, s, x, T_SUB) ? x
                : add && (fusable(g, s, y, T_ADD) || fusable(g, s, y, T_SUB)) ? y
                : G_NONE;
        if (m != G_NONE) {
            /* x + (a - b) == (a - b) + x exactly, as above */
            int top = em[m].top == T_ADD ? (add ? T_ADDADD : T_ADDSUB)
                                         : (add ? T_SUBADD : T_SUBSUB);
            *e = (Emit){ top, 3, { em[m].op[0], em[m].op[1], m == x ? y : x }, 0 };
            em[m].top = -1;
        }
    }
}

/*
 * Rewrite e so that its first operand is p, if an equivalent form allows:
 * commuted operands, or the reversed operators (b - a as RSUB(a, b)...).
 * Every rewrite is exact: IEEE + and * commute, and (-a) - b = (-b) - a.
 */
static int bring_to_front(Emit *e, GNode p)
{
    GNode a = e->op[0], b = e->op[1], c = e->op[2];
    if (a == p)
        return 1;
    switch (e->top) {
    case T_ADD: case T_MUL: case T_NEGSUB:
        if (b != p)
            return 0;
        *e = (Emit){ e->top, 2, { b, a, G_NONE }, 0 };
        return 1;
    case T_SUB: case T_DIV:
        if (b != p)
            return 0;
        *e = (Emit){ e->top == T_SUB ? T_RSUB : T_RDIV, 2, { b, a, G_NONE }, 0 };
        return 1;
    case T_MULADD:   /* a*b + c */
        if (b == p)
            *e = (Emit){ T_MULADD, 3, { b, a, c }, 0 };
        else if (c == p)
            *e = (Emit){ T_ADDMUL, 3, { c, a, b }, 0 };
        return b == p || c == p;
    case T_MULSUB:   /* a*b - c */
        if (b == p)
            *e = (Emit){ T_MULSUB, 3, { b, a, c }, 0 };
        else if (c == p)
            *e = (Emit){ T_RMULSUB, 3, { c, a, b }, 0 };
        return b == p || c == p;
    case T_SUBMUL:   /* a - b*c */
        if (b == p || c == p)
            *e = (Emit){ T_RSUBMUL, 3, { p, b == p ? c : b, a }, 0 };
        return b == p || c == p;
    default:
        return 0;
    }
}

/* Step 3: which instructions take their first operand from acc. */
static void chain(const Graph *g, Scratch *s)
{
    GNode prev = G_NONE;
    for (GNode i = 0; i < graph_size(g); i++) {
        Emit *e = &s->em[i];
        if (!s->live[i] || e->top < 0)
            continue;
        if (prev != G_NONE && bring_to_front(e, prev)) {
            s->from_acc[i] = 1;
            if (s->uses[prev] == 1 && s->outcnt[prev] == 0 && !s->keep[prev])
                s->acc_only[prev] = 1;
        }
        prev = i;
    }
}

/* Where node m's value is read from: (base, index). */
static void operand(const Graph *g, const Scratch *s, GNode m, uint8_t *k, int32_t *i)
{
    const GNodeInfo *x = graph_node(g, m);
    if (x->op == G_CONST) {
        *k = K_KONST;
        *i = s->kidx[m];
    } else if (x->op == G_INPUT) {
        *k = (uint8_t)(K_INPUT + x->in_kind);
        *i = x->in_index;
    } else {
        *k = K_WORK;
        *i = s->slot[m];
    }
}

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static void scratch_free(Scratch *s)
{
    mem_free(s->em);
    mem_free(s->live);
    mem_free(s->from_acc);
    mem_free(s->acc_only);
    mem_free(s->negout);
    mem_free(s->keep);
    mem_free(s->uses);
    mem_free(s->outcnt);
    mem_free(s->opos);
    mem_free(s->last);
    mem_free(s->slot);
    mem_free(s->kidx);
    mem_free(s->freel);
}

Tape *tape_compile(const Graph *g, const GNode *outs, int nout)
{
    int n = graph_size(g);
    size_t nn = n ? (size_t)n : 1;
    Tape *t = NULL;
    Scratch s;
    s.em = mem_malloc(nn * sizeof *s.em);
    s.live = mem_calloc(nn, 1);
    s.from_acc = mem_calloc(nn, 1);
    s.acc_only = mem_calloc(nn, 1);
    s.negout = mem_calloc(nn, 1);
    s.keep = mem_calloc(nn, 1);
    s.uses = mem_calloc(nn, sizeof *s.uses);
    s.outcnt = mem_calloc(nn, sizeof *s.outcnt);
    s.opos = mem_malloc(nn * sizeof *s.opos);
    s.last = mem_malloc(nn * sizeof *s.last);
    s.slot = mem_malloc(nn * sizeof *s.slot);
    s.kidx = mem_malloc(nn * sizeof *s.kidx);
    s.freel = mem_malloc(nn * sizeof *s.freel);
    if (!s.em || !s.live || !s.from_acc || !s.acc_only || !s.negout || !s.keep || !s.uses || !s.outcnt || !s.opos
        || !s.last || !s.slot || !s.kidx || !s.freel)
        goto done;

    /* 1. live nodes and their instructions */
    for (int p = nout - 1; p >= 0; p--) {
        assert(outs[p] >= 0 && outs[p] < n);
        s.live[outs[p]] = 1;
        s.outcnt[outs[p]]++;
        s.opos[outs[p]] = p;
    }
    int nconst = 0, nins = 0;
    for (GNode i = n - 1; i >= 0; i--) {
        if (!s.live[i])
            continue;
        const GNodeInfo *k = graph_node(g, i);
        s.em[i].top = -1;
        s.slot[i] = -1;
        if (k->op == G_CONST) {
            nconst++;
        } else if (k->op != G_INPUT) {
            s.em[i] = basic_emit(g, k);
            for (int j = 0; j < s.em[i].nops; j++) {
                s.live[s.em[i].op[j]] = 1;
                s.uses[s.em[i].op[j]]++;
            }
        }
    }

    /* An output -x and nothing else (a Jacobian has many: -ka, -k21) is
     * no instruction: the output copy flips x's sign bit, which is what
     * negation does, NaN included. */
    for (GNode i = 0; i < n; i++) {
        GNode x = s.em[i].op[0];
        if (s.live[i] && s.em[i].top == T_NEG && s.uses[i] == 0 && !s.negout[x]) {
            s.negout[i] = 1;
            s.keep[x] = 1;
            s.em[i].top = -1;
        }
    }

    /* 2, 3. fusion and chaining, then last uses (in node-index time) */
    for (GNode i = 0; i < n; i++)
        if (s.live[i] && s.em[i].top >= 0)
            fuse(g, &s, i);
    chain(g, &s);
    for (GNode i = 0; i < n; i++) {
        s.last[i] = -1;
        if (s.live[i] && s.em[i].top >= 0) {
            nins++;
            for (int j = 0; j < s.em[i].nops; j++)
                s.last[s.em[i].op[j]] = i;
        }
    }

    size_t sz = round8(sizeof *t) + (size_t)nconst * sizeof(double)
              + (size_t)(nins + 1) * sizeof(TInstr) + (size_t)nout * sizeof(TFix);
    t = mem_malloc(sz);
    if (!t)
        goto done;
    char *p = (char *)t + round8(sizeof *t);
    t->konst = (double *)p;
    p += (size_t)nconst * sizeof(double);
    t->ins = (TInstr *)p;
    p += (size_t)(nins + 1) * sizeof(TInstr);
    t->fix = (TFix *)p;
    t->nins = t->nfix = 0;
    t->nout = nout;

    /* 4. constants go in the tape; inputs stay where the caller has them */
    int32_t next = 0, nk = 0;
    for (GNode i = 0; i < n; i++)
        if (s.live[i] && graph_node(g, i)->op == G_CONST) {
            s.kidx[i] = nk;
            t->konst[nk++] = graph_node(g, i)->value;
        }

    /* 5. computed nodes.  Operands are released at their last use before
     * the destination is chosen: an instruction reads all its operands
     * before it writes, so d may equal one of them. */
    int nfree = 0;
    for (GNode i = 0; i < n; i++) {
        if (!s.live[i] || s.em[i].top < 0)
            continue;
        const Emit *e = &s.em[i];
        for (int j = 0; j < e->nops; j++) {
            GNode a = e->op[j];
            int dup = 0;
            for (int m = 0; m < j; m++)
                dup |= e->op[m] == a;
            /* an output at two positions keeps its slot for the copy */
            if (!dup && s.last[a] == i && s.slot[a] >= 0 && s.outcnt[a] <= 1 && !s.keep[a])
                s.freel[nfree++] = s.slot[a];
        }
        int src = s.from_acc[i], dst;
        TInstr in = { 0 };
        if (!src)
            operand(g, &s, e->op[0], &in.ka, &in.a);
        if (s.outcnt[i] == 1 && s.uses[i] == 0) {
            dst = D_OUT;               /* an output and nothing else */
        } else if (s.acc_only[i]) {
            dst = D_ACC;
        } else {
            dst = s.outcnt[i] ? D_BOTH : D_WORK;
            in.d = s.slot[i] = nfree ? s.freel[--nfree] : next++;
        }
        in.o = s.outcnt[i] ? s.opos[i] : 0;
        in.op = e->top + T_NBASE * (4 * src + dst);
        if (e->top == T_POWI)
            in.b = e->imm;
        else if (e->nops > 1)
            operand(g, &s, e->op[1], &in.kb, &in.b);
        if (e->top == T_CALL1 || e->top == T_CALL2)
            in.c = e->imm;
        else if (e->nops > 2)
            operand(g, &s, e->op[2], &in.kc, &in.c);
        t->ins[t->nins++] = in;
    }
    t->ins[t->nins] = (TInstr){ .op = T_END };
    t->nwork = (size_t)next;

    /* outputs not written by their instruction: leaves, and the second
     * and later positions of an output that appears twice */
    for (int q = 0; q < nout; q++) {
        GNode o = outs[q];
        if (is_leaf(graph_node(g, o)) || s.opos[o] != q || s.negout[o]) {
            TFix f = { q, 0, 0, s.negout[o] };
            uint8_t k;
            operand(g, &s, s.negout[o] ? s.em[o].op[0] : o, &k, &f.i);
            f.k = k;
            t->fix[t->nfix++] = f;
        }
    }

done:
    scratch_free(&s);
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

/* Out of line: inlined, GCC builds the argument pair in a vector
 * register in every handler, two extra instructions per dispatch. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static double call(int op, double x, double y)
{
    double v[2] = { x, y };
    return graph_apply((GOp)op, v);
}

/* Labels and cases of the 8 variants of each operator, and the dispatch
 * table in opcode order.  The dst digits 0, 1, 2, 3 are D_WORK, D_OUT,
 * D_ACC, D_BOTH; they are literals because they are pasted into label
 * names. */
#if TAPE_THREADED
#define VM_CASE(name, src, dst) L_##name##_##src##dst:
#define VM_NEXT                 ip++; goto *disp[ip->op]
#define X_L(name, src, dst)     &&L_##name##_##src##dst,
#define X_L00(name, e) X_L(name, 0, 0)
#define X_L01(name, e) X_L(name, 0, 1)
#define X_L02(name, e) X_L(name, 0, 2)
#define X_L03(name, e) X_L(name, 0, 3)
#define X_L10(name, e) X_L(name, 1, 0)
#define X_L11(name, e) X_L(name, 1, 1)
#define X_L12(name, e) X_L(name, 1, 2)
#define X_L13(name, e) X_L(name, 1, 3)
#else
#define VM_CASE(name, src, dst) case T_##name + T_NBASE * (4 * src + dst):
#define VM_NEXT                 continue
#endif

#define X_VARIANTS(name, e, src)                                     \
    VM_CASE(name, src, 0) acc = (e); w[ip->d] = acc;   VM_NEXT;      \
    VM_CASE(name, src, 1) acc = (e); out[ip->o] = acc; VM_NEXT;      \
    VM_CASE(name, src, 2) acc = (e);                   VM_NEXT;      \
    VM_CASE(name, src, 3) acc = (e); w[ip->d] = acc; out[ip->o] = acc; VM_NEXT;
#define X_FROM_WORK(name, e) X_VARIANTS(name, e, 0)
#define X_FROM_ACC(name, e)  X_VARIANTS(name, e, 1)

/* work, out and the inputs must not overlap (restrict): the loads and
 * stores of one instruction can then be scheduled freely. */
void tape_eval(const Tape *t, const GInputs *in, double *restrict w, double *restrict out)
{
    const double *base[T_NBASES];
    base[K_WORK] = w;
    base[K_KONST] = t->konst;
    if (in)   /* one block move, not a loop: it is half the cost of a small tape */
        memcpy(&base[K_INPUT], in->v, sizeof in->v);

    const TInstr *ip = t->ins;
    double acc = 0.0;
#define B base[ip->kb][ip->b]
#define C base[ip->kc][ip->c]
#if TAPE_THREADED
    static const void *const disp[T_NVAR * T_NBASE + 1] = {
        TAPE_OPS(X_L00) TAPE_OPS(X_L01) TAPE_OPS(X_L02) TAPE_OPS(X_L03)
        TAPE_OPS(X_L10) TAPE_OPS(X_L11) TAPE_OPS(X_L12) TAPE_OPS(X_L13)
        &&vm_end
    };
    goto *disp[ip->op];
#else
    for (;; ip++) {
        switch (ip->op) {
        case T_END:
            goto vm_end;
#endif
#define A base[ip->ka][ip->a]
        TAPE_OPS(X_FROM_WORK)
#undef A
#define A acc
        TAPE_OPS(X_FROM_ACC)
#undef A
#if !TAPE_THREADED
        }
    }
#endif
#undef B
#undef C
vm_end:
    for (int i = 0; i < t->nfix; i++) {
        const TFix *f = &t->fix[i];
        uint64_t bits;
        memcpy(&bits, &base[f->k][f->i], sizeof bits);
        bits ^= (uint64_t)f->neg << 63;
        memcpy(&out[f->out], &bits, sizeof bits);
    }
}
