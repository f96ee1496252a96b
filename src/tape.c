/*
 * tape.c -- a graph compiled to straight-line code over a work array.
 *
 * Compilation:
 *
 *   1. Mark the nodes reachable from the requested outputs, walking the
 *      node array backwards (arguments precede their nodes, so one pass
 *      suffices).  Index order is then already a topological order.
 *   2. Give slots: the constants first, in one block the tape copies into
 *      the work array with one memcpy; the inputs next, loaded by a plain
 *      loop before the instructions run; then the computed nodes.  A
 *      computed node's slot is released after its last use and reused by
 *      a later node (linear-scan register allocation on a straight line),
 *      so the work array is the width of the graph, not its length; the
 *      slots of outputs are never released.
 *   3. Emit one 16-byte instruction per computed node.  A power with an
 *      integer constant exponent becomes SQR or POWI with the exponent as
 *      an immediate, so it is neither loaded nor tested at run time.
 *
 * Evaluation is one loop with a switch.  The frequent operators are
 * inlined with the same expressions graph_apply() uses (POWI calls
 * graph_powi(), as graph_apply() does), so the tape and
 * graph_eval_direct() agree bit for bit; the rare operators (erfc,
 * logit...) call graph_apply(), whose cost dwarfs the call.
 */
#include "tape.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* Opcodes are GOp values plus a few of the tape's own. */
enum {
    T_SQR = G_NOPS,   /* d = a*a */
    T_POWI,           /* d = graph_powi(a, b), b an int immediate */
    T_ARG             /* not executed: a = third operand of the ternary before it */
};

typedef struct {
    int32_t op, d, a, b;
} TInstr;

typedef struct {
    int32_t slot, kind, index;
} TLoad;

/* One block: this header, then konst[], ins[], load[], oslot[]. */
struct Tape {
    int nconst, nins, nload, nout;
    size_t nwork;
    double *konst;
    TInstr *ins;
    TLoad *load;
    int32_t *oslot;
};

/* If k is a power with an integer constant exponent, that exponent. */
static int int_exponent(const Graph *g, const GNodeInfo *k, int *e)
{
    if (k->op != G_POW)
        return 0;
    const GNodeInfo *y = graph_node(g, k->a[1]);
    if (y->op != G_CONST)
        return 0;
    double v = y->value;
    if (!(fabs(v) <= 1 << 20 && v == (int)v))
        return 0;
    *e = (int)v;
    return 1;
}

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

Tape *tape_compile(const Graph *g, const GNode *outs, int nout)
{
    int n = graph_size(g);
    Tape *t = NULL;
    /* Per node: live flag, then slot, then time of last use. */
    unsigned char *live = mem_calloc((size_t)n, 1);
    int32_t *slot = mem_malloc((size_t)n * sizeof *slot);
    int32_t *last = mem_malloc((size_t)n * sizeof *last);
    int32_t *freel = mem_malloc((size_t)n * sizeof *freel);
    if (!live || !slot || !last || !freel)
        goto done;

    for (int i = 0; i < nout; i++) {
        assert(outs[i] >= 0 && outs[i] < n);
        live[outs[i]] = 1;
    }
    int nconst = 0, nload = 0, nins = 0, e;
    for (GNode i = n - 1; i >= 0; i--) {
        if (!live[i])
            continue;
        const GNodeInfo *k = graph_node(g, i);
        int nargs = int_exponent(g, k, &e) ? 1 : k->nargs;
        for (int j = 0; j < nargs; j++)
            live[k->a[j]] = 1;
        if (k->op == G_CONST)
            nconst++;
        else if (k->op == G_INPUT)
            nload++;
        else
            nins += k->nargs == 3 ? 2 : 1;
    }

    /* Last uses, in node-index time; outputs live past the end. */
    for (GNode i = 0; i < n; i++) {
        last[i] = -1;
        if (!live[i])
            continue;
        const GNodeInfo *k = graph_node(g, i);
        int nargs = int_exponent(g, k, &e) ? 1 : k->nargs;
        for (int j = 0; j < nargs; j++)
            last[k->a[j]] = i;
    }
    for (int i = 0; i < nout; i++)
        last[outs[i]] = INT32_MAX;

    size_t sz = round8(sizeof *t) + (size_t)nconst * sizeof(double)
              + (size_t)nins * sizeof(TInstr) + (size_t)nload * sizeof(TLoad)
              + (size_t)nout * sizeof(int32_t);
    t = mem_malloc(sz);
    if (!t)
        goto done;
    char *p = (char *)t + round8(sizeof *t);
    t->konst = (double *)p;
    p += (size_t)nconst * sizeof(double);
    t->ins = (TInstr *)p;
    p += (size_t)nins * sizeof(TInstr);
    t->load = (TLoad *)p;
    p += (size_t)nload * sizeof(TLoad);
    t->oslot = (int32_t *)p;
    t->nconst = t->nload = t->nins = 0;
    t->nout = nout;

    /* Constants and inputs: fixed slots at the bottom of the work array. */
    int32_t next = 0;
    for (GNode i = 0; i < n; i++) {
        if (!live[i])
            continue;
        const GNodeInfo *k = graph_node(g, i);
        if (k->op == G_CONST) {
            slot[i] = next++;
            t->konst[t->nconst++] = k->value;
        }
    }
    for (GNode i = 0; i < n; i++) {
        if (!live[i])
            continue;
        const GNodeInfo *k = graph_node(g, i);
        if (k->op == G_INPUT) {
            slot[i] = next++;
            t->load[t->nload++] = (TLoad){ slot[i], (int32_t)k->in_kind, k->in_index };
        }
    }

    /* Computed nodes, releasing each argument's slot at its last use
     * before choosing the destination: an instruction reads all its
     * operands before it writes, so d may equal a or b. */
    int nfree = 0;
    for (GNode i = 0; i < n; i++) {
        if (!live[i])
            continue;
        const GNodeInfo *k = graph_node(g, i);
        if (k->op == G_CONST || k->op == G_INPUT)
            continue;
        int isint = int_exponent(g, k, &e);
        int nargs = isint ? 1 : k->nargs;
        for (int j = 0; j < nargs; j++) {
            GNode a = k->a[j];
            int dup = 0;
            for (int m = 0; m < j; m++)
                dup |= k->a[m] == a;
            const GNodeInfo *ka = graph_node(g, a);
            if (!dup && last[a] == i && ka->op != G_CONST && ka->op != G_INPUT)
                freel[nfree++] = slot[a];
        }
        slot[i] = nfree ? freel[--nfree] : next++;

        TInstr in = { (int32_t)k->op, slot[i], slot[k->a[0]], slot[k->a[0]] };
        if (isint) {
            in.op = e == 2 ? T_SQR : T_POWI;
            in.b = e;
        } else if (k->nargs >= 2) {
            in.b = slot[k->a[1]];
        }
        t->ins[t->nins++] = in;
        if (k->nargs == 3)
            t->ins[t->nins++] = (TInstr){ T_ARG, 0, slot[k->a[2]], 0 };
    }
    t->nwork = (size_t)next;
    for (int i = 0; i < nout; i++)
        t->oslot[i] = slot[outs[i]];

done:
    mem_free(live);
    mem_free(slot);
    mem_free(last);
    mem_free(freel);
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

void tape_eval(const Tape *t, const GInputs *in, double *w, double *out)
{
    if (t->nconst)
        memcpy(w, t->konst, (size_t)t->nconst * sizeof *w);
    for (int i = 0; i < t->nload; i++) {
        const TLoad *l = &t->load[i];
        w[l->slot] = in->v[l->kind][l->index];
    }
    const TInstr *ip = t->ins, *end = ip + t->nins;
    for (; ip < end; ip++) {
        double x = w[ip->a];
        switch (ip->op) {
        case G_ADD: w[ip->d] = x + w[ip->b]; break;
        case G_SUB: w[ip->d] = x - w[ip->b]; break;
        case G_MUL: w[ip->d] = x * w[ip->b]; break;
        case G_DIV: w[ip->d] = x / w[ip->b]; break;
        case G_NEG: w[ip->d] = -x; break;
        case G_EXP: w[ip->d] = exp(x); break;
        case G_LOG: w[ip->d] = log(x); break;
        case G_SQRT: w[ip->d] = sqrt(x); break;
        case T_SQR: w[ip->d] = x * x; break;
        case T_POWI: w[ip->d] = graph_powi(x, ip->b); break;
        case G_SELECT:
            w[ip->d] = x != 0.0 ? w[ip->b] : w[ip[1].a];
            ip++;
            break;
        default: {
            /* unary ops have b == a, so both reads are in bounds */
            double v[2] = { x, w[ip->b] };
            w[ip->d] = graph_apply((GOp)ip->op, v);
            break;
        }
        }
    }
    for (int i = 0; i < t->nout; i++)
        out[i] = w[t->oslot[i]];
}
