/*
 * pinn.c -- physics-informed training of hybrid models (pinn.h).
 *
 * One evaluation of the loss runs every point -- the observations, the
 * collocation points and the initial time -- through each branch in one
 * batch, giving its output n(t) and dn/dt.  Then, point by point, three
 * levels of compiled expressions, each with its exact first derivatives:
 *
 *   $PK      the individual parameters, and d/d THETA (once an evaluation);
 *   $HYBRID  the amounts the networks give, A = H(n, a, b, THETA, t), and
 *            dA/dt = sum_j dH/dn_j dn_j/dt + dH/dt, both as functions of
 *            z = (n, dn/dt, linear() coefficients, THETA);
 *   model    the $DES right-hand sides at A and the prediction, with
 *            their derivatives by the amounts, the variables and THETA.
 *
 * The chain rule over these gives each loss term's gradient by z at each
 * point; its n and dn/dt parts go back through the branches (nn_backward,
 * and the adjoint and mixed derivatives of qc_eval).
 */
#include "pinn.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "graph.h"
#include "kw.h"
#include "lower.h"
#include "mem.h"
#include "nn.h"
#include "opt.h"
#include "plot.h"
#include "qasm.h"
#include "qc.h"
#include "rng.h"
#include "table.h"
#include "tape.h"

#define PINN_STREAM 0x50494E4Eu    /* rng stream of the circuits' initial angles */
#define PINN_PI 3.14159265358979323846

enum { PT_DATA, PT_COLL, PT_IC };

/* ---- branches ------------------------------------------------------------------ */

typedef struct {
    const ModelNet *net;
    QcCircuit *qc;
    QcWork *qw;
    Nn *nn;
    NnWork *nw;
    int np, off;           /* its parameters, from the start of a subject's branch part */
    double *dth, *dthd;    /* qc: npoints x np, d out and d (dout/dt) by its angles */
} Branch;

typedef struct {
    /* a function of the inputs of its level and its derivatives by them */
    int nf, nx;            /* functions; inputs each is differentiated by */
    Tape *tape;
    double *work, *out;    /* out: nf x (1 + nx) */
} Level;

typedef struct {
    const Model *m;
    const Dataset *ds;
    Diag *d;
    Arena *a;
    Graph *g;
    LowerInfo li;
    int nt, nb, nl, nv, nc;

    Branch *br;
    /* The trainable vector z: the free THETAs, then one block per subject:
     * its ETAs (population mode), its linear() coefficients, its branches'
     * parameters (every subject has networks of its own; the physics and
     * the population tie them together). */
    int nz;
    int *theta_slot;       /* nt: its index in z, -1 when FIX */
    int nsub, ne;          /* subjects; ETAs trained per subject (0 unless population) */
    int sub0, sb;          /* the first subject block in z, and its size */
    int hyb_rel, br_rel;   /* linear() and branches, from a block's start */
    double *omega;         /* ne: the ETA variances, learnt by EM updates unless FIX */
    int *omega_fix;        /* ne */
    double lw_prior;       /* $LOSS PRIOR */

    /* the points, in branch batch order: subject by subject, its data,
     * collocation points and initial time */
    int nd, ncol, npts;    /* data points and collocation points in all */
    double *t;             /* npts */
    const DataRow **row;   /* npts: the record a point reads data items from */
    int *psub, *pkind;     /* npts: its subject; PT_DATA, PT_COLL or PT_IC */
    int *sfirst, *scount;  /* nsub: each subject's points */
    double t0;
    double *a0;            /* nsub x nc: the amounts at t0 (the doses given then) */

    /* per-point branch outputs: nb x npts each */
    double *n, *ndot, *gn, *gndot;

    /* compartments the networks do not give but the physics reads: each
     * loses its amount at a first-order rate k (d/dt(depot) = -KA*depot),
     * so its amount is the sum over its doses of D exp(-k (t - t_dose)) */
    int *forced;                  /* nc: 1 for such a compartment */
    int *ndose;                   /* nsub x nc */
    double **dose_t, **dose_amt;  /* nsub x nc: the doses */
    Level frc;                    /* -J_cc of each compartment (its rate), by THETA, ETA, $PK */
    double *kc, *dk;              /* nc; nc x nte: the rates and d rate / d (THETA, ETA) */
    double *xf, *dxf;             /* nc amounts at the current point; nc d amount / d rate */

    /* levels */
    Level pk, hyb, mod;
    int *pk_vars;  int npk;       /* $PK variable indices */
    int *hyb_items; int nhi;      /* $HYBRID items: cmt c as -1-c, variable v as v */
    int *hyb_cmt;                 /* nc: its item index, -1 if the networks do not give it */
    int pred_var;                 /* IPRED of $ERROR, or the first $HYBRID variable */
    int pred_item;                /* in the model level: nc functions of $DES, then pred */
    double lw_data, lw_phys, lw_ic;
    double kscale;                /* amounts -> DV's units (0: not yet set) */

    /* scratch: the subject whose $PK is evaluated (cur), and its values */
    int cur, nem, nte;            /* nem: the model's ETAs; nte = nt + nem */
    double *theta, *eta, *dpk;    /* nt (+ nt: d theta / d u); ne_model; npk x nte */
    double *vars, *state;         /* nv; nc */
    double *zin;                  /* the hybrid level's inputs: 2nb + 2nl */
    double *dA, *dAdot, *dV;      /* nc x nzl, nc x nzl, nv x nzl */
    double *gz;                   /* nzl */
    int nzl;                      /* 2nb + 2nl + nte */
    double *grad;                 /* nz + nt */
    double *grad2;                /* nz + nt: L-BFGS's */
    double *zbuf;                 /* 2 x the most points of a subject */
    int brsize;                   /* the branches' parameters, per subject */
    int maxpts;                   /* the most points of one subject */
    char err[256];
} Pinn;

static const Directive *find_dir(const ModelNet *n, const char *name)
{
    for (int i = 0; i < n->ndirs; i++)
        if (kw_strcaseeq(n->dirs[i].name, name))
            return &n->dirs[i];
    return NULL;
}

static int dir_flag(const Directive *dir, const char *key)
{
    for (int i = 0; dir && i < dir->nitems; i++) {
        const DirItem *it = &dir->items[i];
        if (it->kind == DI_EXPR && it->expr && it->expr->kind == EX_NAME &&
            kw_strcaseeq(it->expr->text, key))
            return 1;
    }
    return 0;
}

static int fail(Pinn *P, Span at, const char *hint, const char *msg)
{
    diag_report(P->d, DIAG_ERROR, at, hint, "%s", msg);
    return -1;
}

/* The one input every branch reads is TIME. */
static int check_time_input(Pinn *P, const Expr *e)
{
    if (e && (e->kind == EX_NAME || e->kind == EX_INDEXED) && e->ref.kind == REF_TIME)
        return 0;
    return fail(P, e ? e->span : diag_nospan(),
                "covariates as network inputs come with population training",
                "a branch reads TIME only in this version");
}

/* MEASURE: a weighted sum of Pauli products, z(0) or 0.5*z(0)*z(1) + x(1). */
static int obs_terms(Pinn *P, QcCircuit *c, int o, const Expr *e, double coeff)
{
    if (e->kind == EX_BINARY && (e->op == OP_ADD || e->op == OP_SUB))
        return obs_terms(P, c, o, e->lhs, coeff) ||
               obs_terms(P, c, o, e->rhs, e->op == OP_SUB ? -coeff : coeff);
    if (e->kind == EX_UNARY && e->op == OP_NEG)
        return obs_terms(P, c, o, e->lhs, -coeff);
    /* a product: numbers and Pauli factors */
    const Expr *stack[32];
    int ns = 0, nf = 0, wires[32];
    char paulis[33];
    stack[ns++] = e;
    while (ns > 0) {
        const Expr *f = stack[--ns];
        if (f->kind == EX_BINARY && f->op == OP_MUL && ns < 30) {
            stack[ns++] = f->rhs;
            stack[ns++] = f->lhs;
        } else if (f->kind == EX_NUM) {
            coeff *= f->num;
        } else if (f->kind == EX_CALL && f->nargs == 1 && f->args[0]->kind == EX_NUM && nf < 32 &&
                   strlen(f->text) == 1 && strchr("xyzXYZ", f->text[0])) {
            paulis[nf] = (char)(f->text[0] & ~0x20);
            wires[nf++] = (int)f->args[0]->num;
        } else {
            return fail(P, f->span, "write a sum of products such as 0.5*z(0)*z(1) + x(1)",
                        "MEASURE takes Pauli observables x(i), y(i), z(i)");
        }
    }
    paulis[nf] = '\0';
    if (qc_obs_term(c, o, coeff, nf, paulis, wires) != QC_OK)
        return fail(P, e->span, NULL, qc_error(c));
    return 0;
}

static int build_quantum(Pinn *P, Branch *b)
{
    const ModelNet *net = b->net;
    const Directive *dq = find_dir(net, "QUBITS"), *de = find_dir(net, "ENCODE"),
                    *da = find_dir(net, "ANSATZ"), *dm = find_dir(net, "MEASURE");
    if (!dq || !da || !dm)
        return fail(P, net->span, "give QUBITS, ANSATZ and MEASURE",
                    "this $QUANTUM circuit lacks QUBITS, ANSATZ or MEASURE");
    if (find_dir(net, "SHOTS"))
        return fail(P, find_dir(net, "SHOTS")->span, "remove SHOTS to train",
                    "training with SHOTS (finite-sample expectations) is not built yet");
    char err[QC_ERRLEN] = "";
    int nq = (int)dq->items[0].expr->num;
    if (qc_new(nq, &b->qc, err) != QC_OK)
        return fail(P, dq->span, NULL, err);
    QcLayers L;
    memset(&L, 0, sizeof L);
    if (de) {
        const Expr *call = de->items[0].expr;
        if (call->kind != EX_CALL || call->nargs != 1 || strlen(call->text) != 2 ||
            call->text[0] != 'r')
            return fail(P, de->span, "write ENCODE ry(TIME) SCALE 0.1",
                        "only angle encoding (rx, ry, rz of TIME) is trained in this version");
        if (check_time_input(P, call->args[0]) != 0)
            return -1;
        const Expr *sc = ast_dir_value(de, "SCALE");
        L.embed = QC_EMBED_ANGLE;
        L.axis = call->text[1];
        L.scale = sc ? sc->num : 1;
        L.reupload = dir_flag(de, "REUPLOAD");
    }
    const Expr *an = da->items[0].expr, *nl = ast_dir_value(da, "LAYERS");
    L.nlayers = nl ? (int)nl->num : 1;
    char rots[16] = "";
    if (an->kind == EX_CALL && strcmp(an->text, "euler") == 0) {
        L.ansatz = QC_ANSATZ_EULER;
        for (int i = 0; i < an->nargs && i < 15; i++) {
            const Expr *r = an->args[i];
            if (r->kind != EX_NAME || strlen(r->text) != 2 || r->text[0] != 'r')
                return fail(P, r->span, "write euler(rz, rx, rz)", "euler() takes rx, ry, rz");
            rots[i] = r->text[1];
            rots[i + 1] = '\0';
        }
        L.rots = rots[0] ? rots : NULL;
    } else if (an->kind == EX_CALL && strcmp(an->text, "strongly_entangling") == 0) {
        L.ansatz = QC_ANSATZ_STRONGLY_ENTANGLING;
    } else if (an->kind == EX_CALL && strcmp(an->text, "basic_entangler") == 0) {
        L.ansatz = QC_ANSATZ_BASIC_ENTANGLER;
        if (an->nargs == 1 && an->args[0]->kind == EX_NAME && strlen(an->args[0]->text) == 2) {
            rots[0] = an->args[0]->text[1];
            rots[1] = '\0';
            L.rots = rots;
        }
    } else {
        return fail(P, an->span, NULL, "unknown ansatz");
    }
    int first = 0, o = 0;
    if (qc_build_layers(b->qc, &L, &first) != QC_OK || qc_obs_new(b->qc, &o) != QC_OK)
        return fail(P, da->span, NULL, qc_error(b->qc));
    if (obs_terms(P, b->qc, o, dm->items[0].expr, 1.0) != 0)
        return -1;
    if (qc_work_new(&b->qw, err) != QC_OK)
        return fail(P, net->span, NULL, err);
    b->np = qc_nparams(b->qc);
    return 0;
}

static int build_network(Pinn *P, Branch *b)
{
    const ModelNet *net = b->net;
    const Directive *dd = find_dir(net, "DENSE"), *di = find_dir(net, "INPUTS");
    if (!dd)
        return fail(P, net->span, "add DENSE 1 -> 16 tanh -> 1", "this $NETWORK has no DENSE");
    if (di && (di->nitems != 1 || check_time_input(P, di->items[0].expr) != 0))
        return di->nitems != 1 ? fail(P, di->span, NULL, "a branch reads TIME only in this version")
                               : -1;
    /* the chain as text, for nn_spec_parse */
    char chain[512] = "";
    size_t len = 0;
    for (int i = 0; i < dd->nitems && len < sizeof chain - 32; i++) {
        const DirItem *it = &dd->items[i];
        if (it->kind == DI_ARROW)
            len += (size_t)snprintf(chain + len, sizeof chain - len, " ->");
        else if (it->expr && it->expr->kind == EX_NUM)
            len += (size_t)snprintf(chain + len, sizeof chain - len, " %d", (int)it->expr->num);
        else if (it->expr && it->expr->kind == EX_NAME)
            len += (size_t)snprintf(chain + len, sizeof chain - len, " %s", it->expr->text);
    }
    NnSpec spec;
    char err[NN_ERRLEN] = "";
    if (nn_spec_parse(chain, &spec, err) != NN_OK || nn_new(&spec, &b->nn, err) != NN_OK)
        return fail(P, dd->span, NULL, err);
    if (nn_ninputs(b->nn) != 1 || nn_noutputs(b->nn) != 1)
        return fail(P, dd->span, "a branch maps TIME to one output: DENSE 1 -> ... -> 1",
                    "this version trains networks of one input and one output");
    if (nn_work_new(b->nn, P->maxpts, &b->nw, err) != NN_OK)
        return fail(P, net->span, NULL, err);
    b->np = nn_nparams(b->nn);
    return 0;
}

static double *block(const Pinn *P, double *z, int i);
static const double *cblock(const Pinn *P, const double *z, int i);

static int build_branches(Pinn *P)
{
    P->br = mem_alloc(P->a, sizeof *P->br * (size_t)(P->nb + 1));
    memset(P->br, 0, sizeof *P->br * (size_t)(P->nb + 1));
    for (int j = 0; j < P->nb; j++) {
        Branch *b = &P->br[j];
        b->net = &P->m->nets[j];
        int rc = b->net->kind == REC_QUANTUM ? build_quantum(P, b) : build_network(P, b);
        if (rc != 0)
            return -1;
        if (b->qc && qc_nobs(b->qc) != 1)
            return fail(P, b->net->span, NULL, "a circuit measures one observable per branch");
        b->off = P->brsize;
        P->brsize += b->np;
        if (b->qc) {
            b->dth = mem_alloc(P->a, sizeof(double) * ((size_t)P->npts * (size_t)b->np + 1));
            b->dthd = mem_alloc(P->a, sizeof(double) * ((size_t)P->npts * (size_t)b->np + 1));
        }
    }
    return 0;
}

/* What the arena does not own: the branches' and the tapes' memory. */
static void free_branches(Pinn *P)
{
    for (int j = 0; P->br && j < P->nb; j++) {
        qc_free(&P->br[j].qc);
        qc_work_free(&P->br[j].qw);
        nn_free(&P->br[j].nn);
        nn_work_free(&P->br[j].nw);
    }
    Level *levels[] = { &P->pk, &P->frc, &P->hyb, &P->mod };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        tape_free(&levels[i]->tape);
}

/* Initial values: Xavier for networks (nn_init), angles uniform on
 * [0, 2 pi) for circuits (PennyLane's usual start), a = 1 and b = 0 for
 * linear(), each from the seed. */
static void init_params(Pinn *P, double *z, uint64_t seed)
{
    for (int k = 0; k < P->nt; k++) {
        if (P->theta_slot[k] < 0)
            continue;
        const ModelTheta *th = &P->m->thetas[k];
        /* softplus(u) = theta: u = log(exp(theta) - 1) */
        z[P->theta_slot[k]] = th->transform == XF_SOFTPLUS ? log(expm1(th->init))
                              : th->transform == XF_LOG    ? log(th->init)
                                                           : th->init;
    }
    /* the first subject's block, copied to the others: every subject's
     * networks start the same, and its ETAs at 0 */
    double *b0 = block(P, z, 0);
    for (int k = 0; k < P->ne; k++)
        b0[k] = 0;
    for (int k = 0; k < P->nl; k++) {
        b0[P->hyb_rel + 2 * k] = 1;
        b0[P->hyb_rel + 2 * k + 1] = 0;
    }
    for (int j = 0; j < P->nb; j++) {
        Branch *b = &P->br[j];
        uint64_t s = seed;
        const Directive *ds = find_dir(b->net, "SEED");
        if (ds && ds->nitems > 0 && ds->items[0].expr)
            s = (uint64_t)ds->items[0].expr->num;
        double *bz = b0 + P->br_rel + b->off;
        if (b->nn) {
            nn_init(b->nn, s, (uint32_t)j, bz);
        } else {
            Rng r;
            rng_init(&r, s, (uint32_t)j, PINN_STREAM);
            for (int i = 0; i < b->np; i++)
                bz[i] = 2 * PINN_PI * rng_uniform(&r);
        }
    }
    for (int i = 1; i < P->nsub; i++)
        memcpy(block(P, z, i), b0, sizeof(double) * (size_t)P->sb);
}

/* THETA k and d theta / d u from the trainable u. */
static double theta_of(const ModelTheta *th, double u, double *dtdu)
{
    if (th->transform == XF_SOFTPLUS) {
        double s = 1 / (1 + exp(-u));
        *dtdu = s;
        return u > 30 ? u : log1p(exp(u));
    }
    if (th->transform == XF_LOG) {
        *dtdu = exp(u);
        return exp(u);
    }
    *dtdu = 1;
    return u;
}

/* ---- compiled levels ------------------------------------------------------------ */

/* fs[i] and d fs[i] / d xs[k] for every k, compiled into one tape. */
static int level_build(Pinn *P, Level *L, const GNode *fs, int nf, const GNode *xs, int nx)
{
    int nout = nf * (1 + nx);
    GNode *outs = mem_alloc(P->a, sizeof(GNode) * ((size_t)nout + 1));
    for (int i = 0; i < nf; i++) {
        outs[i * (1 + nx)] = fs[i];
        for (int k = 0; k < nx; k++)
            outs[i * (1 + nx) + 1 + k] = graph_diff(P->g, fs[i], xs[k]);
    }
    L->nf = nf;
    L->nx = nx;
    L->tape = tape_compile(P->g, outs, nout);
    if (!L->tape)
        return -1;
    L->work = mem_alloc(P->a, sizeof(double) * (tape_work_size(L->tape) + 1));
    L->out = mem_alloc(P->a, sizeof(double) * ((size_t)nout + 1));
    return 0;
}

static const double *lv(const Level *L, int f)
{
    return L->out + (size_t)f * (size_t)(1 + L->nx);
}

static int find_var(const Model *m, RecKind rec, const char *name)
{
    for (int v = 0; v < m->nvars; v++)
        if (m->vars[v].rec == rec && strcmp(m->vars[v].name, name) == 0)
            return v;
    return -1;
}

/* Inputs of the hybrid level: NET 0..2nb-1 (outputs, then their time
 * derivatives), HYB 0..2nl-1, THETA, and the $PK variables. */
static int build_levels(Pinn *P)
{
    const Model *m = P->m;
    Graph *g = P->g;
    int nt = P->nt, nb = P->nb, nl = P->nl, npk = 0;
    P->pk_vars = mem_alloc(P->a, sizeof(int) * ((size_t)m->nvars + 1));
    for (int v = 0; v < m->nvars; v++)
        if (m->vars[v].rec == REC_PK && P->li.var_out[v] >= 0)
            P->pk_vars[npk++] = v;
    P->npk = npk;

    /* $PK: the variables and d/d (THETA, ETA) */
    int nem = P->nem, nte = P->nte;
    GNode *fs = mem_alloc(P->a, sizeof(GNode) * ((size_t)(m->nvars + 2 * m->ncmts) + 2));
    GNode *xs = mem_alloc(P->a, sizeof(GNode) * ((size_t)(2 * nb + 2 * nl + nte + m->nvars +
                                                          m->ncmts) + 1));
    for (int i = 0; i < npk; i++)
        fs[i] = graph_output(g, P->li.var_out[P->pk_vars[i]]);
    for (int k = 0; k < nt; k++)
        xs[k] = graph_input(g, GIN_THETA, k);
    for (int k = 0; k < nem; k++)
        xs[nt + k] = graph_input(g, GIN_ETA, k);
    if (level_build(P, &P->pk, fs, npk, xs, nte) != 0)
        return -1;

    /* the depots' rates: -d f_c / d A_c, by THETA, ETA and the $PK variables */
    int nfc = 0;
    for (int c = 0; c < m->ncmts; c++)
        if (P->forced[c])
            fs[nfc++] = graph_unary(g, G_NEG, graph_output(g, P->li.jac_state[c * m->ncmts + c]));
    for (int i = 0; i < npk; i++)
        xs[nte + i] = graph_input(g, GIN_PARAM, P->pk_vars[i]);
    if (level_build(P, &P->frc, fs, nfc, xs, nte + npk) != 0)
        return -1;

    /* $HYBRID: amounts, their time derivatives, variables */
    int nhi = 0;
    P->hyb_items = mem_alloc(P->a, sizeof(int) * ((size_t)(m->ncmts + m->nvars) + 1));
    P->hyb_cmt = mem_alloc(P->a, sizeof(int) * ((size_t)m->ncmts + 1));
    GNode tnode = graph_input(g, GIN_TIME, 0);
    for (int c = 0; c < m->ncmts; c++) {
        P->hyb_cmt[c] = -1;
        if (P->li.hyb_out[c] < 0)
            continue;
        GNode h = graph_output(g, P->li.hyb_out[c]);
        GNode hdot = graph_diff(g, h, tnode);
        for (int j = 0; j < nb; j++) {
            GNode dh = graph_diff(g, h, graph_input(g, GIN_NET, j));
            hdot = graph_binary(g, G_ADD, hdot,
                                graph_binary(g, G_MUL, dh, graph_input(g, GIN_NET, nb + j)));
        }
        P->hyb_cmt[c] = nhi;
        P->hyb_items[nhi] = -1 - c;
        fs[2 * nhi] = h;
        fs[2 * nhi + 1] = hdot;
        nhi++;
    }
    int nhc = nhi;
    for (int v = 0; v < m->nvars; v++)
        if (m->vars[v].rec == REC_HYBRID && P->li.var_out[v] >= 0) {
            P->hyb_items[nhi] = v;
            fs[nhc + nhi] = graph_output(g, P->li.var_out[v]);
            nhi++;
        }
    P->nhi = nhi;
    int nx = 0;
    for (int j = 0; j < 2 * nb; j++)
        xs[nx++] = graph_input(g, GIN_NET, j);
    for (int k = 0; k < 2 * nl; k++)
        xs[nx++] = graph_input(g, GIN_HYB, k);
    for (int k = 0; k < nt; k++)
        xs[nx++] = graph_input(g, GIN_THETA, k);
    for (int i = 0; i < npk; i++)
        xs[nx++] = graph_input(g, GIN_PARAM, P->pk_vars[i]);
    /* functions: 2 per amount (A, dA/dt), then 1 per variable */
    if (level_build(P, &P->hyb, fs, nhc + nhi, xs, nx) != 0)
        return -1;

    /* the model: each $DES right-hand side, then the prediction */
    P->pred_var = m->error.rec ? find_var(m, REC_ERROR, "IPRED") : -1;
    if (P->pred_var < 0)
        for (int v = 0; v < m->nvars && P->pred_var < 0; v++)
            if (m->vars[v].rec == REC_HYBRID)
                P->pred_var = v;
    if (P->pred_var < 0 || P->li.var_out[P->pred_var] < 0)
        return fail(P, m->hybrid.rec ? m->hybrid.rec->name_span : diag_nospan(),
                    "assign IPRED in $ERROR, or a prediction such as C = ... in $HYBRID",
                    "nothing to compare with DV");
    int nf = 0;
    for (int c = 0; c < m->ncmts; c++)
        fs[nf++] = P->li.des_out[c] >= 0 ? graph_output(g, P->li.des_out[c]) : graph_const(g, 0);
    P->pred_item = nf;
    fs[nf++] = graph_output(g, P->li.var_out[P->pred_var]);
    nx = 0;
    for (int c = 0; c < m->ncmts; c++)
        xs[nx++] = graph_input(g, GIN_STATE, c);
    for (int v = 0; v < m->nvars; v++)
        xs[nx++] = graph_input(g, GIN_PARAM, v);
    for (int k = 0; k < nt; k++)
        xs[nx++] = graph_input(g, GIN_THETA, k);
    for (int k = 0; k < nem; k++)
        xs[nx++] = graph_input(g, GIN_ETA, k);
    for (int j = 0; j < nb; j++)     /* a branch as a term of $DES */
        xs[nx++] = graph_input(g, GIN_NET, j);
    return level_build(P, &P->mod, fs, nf, xs, nx);
}

/* ---- points ------------------------------------------------------------------- */

static int dose_error(Pinn *P, const DataRow *r, const char *msg)
{
    diag_report(P->d, DIAG_ERROR, diag_nospan(), NULL, "%s, row %d: %s", P->ds->path, r->row,
                msg);
    return -1;
}

static int add_dose(Pinn *P, int k, double t, double amt)
{
    int n = P->ndose[k];
    P->dose_t[k] = mem_grow(P->a, P->dose_t[k], (size_t)n, (size_t)n + 1, sizeof(double));
    P->dose_amt[k] = mem_grow(P->a, P->dose_amt[k], (size_t)n, (size_t)n + 1, sizeof(double));
    P->dose_t[k][n] = t;
    P->dose_amt[k][n] = amt;
    P->ndose[k] = n + 1;
    return 0;
}

/* Subject i's doses: into a depot the physics solves (any time, ADDL
 * expanded), or at t0 into a compartment the networks give (its initial
 * condition). */
static int subject_doses(Pinn *P, int i)
{
    const Model *m = P->m;
    const DataSubject *s = &P->ds->subjects[i];
    for (int k = 0; k < s->n; k++) {
        const DataRow *r = &P->ds->rows[s->first + k];
        if (r->evid != 1 && r->evid != 4)
            continue;
        int c = r->cmt - 1;
        if (c < 0 || c >= m->ncmts || r->rate != 0 || r->ss != 0)
            return dose_error(P, r, "an infusion or a steady-state dose is not built into "
                                    "the physics loss yet: give boluses");
        if (P->forced[c]) {
            for (int j = 0; j <= r->addl; j++)
                if (add_dose(P, i * m->ncmts + c, r->time + j * r->ii, r->amt) != 0)
                    return -1;
        } else if (r->time <= P->t0 && r->addl == 0) {
            P->a0[i * m->ncmts + c] += r->amt;
        } else {
            return dose_error(P, r, "a dose into a compartment the networks give can only "
                                    "be at the initial time (OVER's start); dose into a "
                                    "depot the physics solves instead");
        }
    }
    return 0;
}

/* The points, subject by subject: its observations, the collocation
 * points (evenly spaced over [t0, t1], both ends included) and t0. */
static int setup_points(Pinn *P)
{
    const Model *m = P->m;
    const Dataset *ds = P->ds;
    int ns = P->nsub = ds->nsubjects, nc = m->ncmts;
    double tmax = 0;
    P->nd = 0;
    for (int k = 0; k < ds->nrows; k++) {
        P->nd += data_is_obs(&ds->rows[k]);
        tmax = fmax(tmax, ds->rows[k].time);
    }
    P->t0 = isfinite(m->loss.over_lo) ? m->loss.over_lo : 0;
    double t1 = isfinite(m->loss.over_hi) ? m->loss.over_hi : tmax;
    int ncol1 = m->loss.physics > 0 ? (m->loss.collocation > 0 ? m->loss.collocation : 100) : 0;
    P->ncol = ncol1 * ns;
    P->npts = P->nd + P->ncol + ns;
    size_t np = (size_t)P->npts, nsc = (size_t)(ns * nc) + 1;
    P->t = mem_alloc(P->a, sizeof(double) * np);
    P->row = mem_alloc(P->a, sizeof *P->row * np);
    P->psub = mem_alloc(P->a, sizeof(int) * np);
    P->pkind = mem_alloc(P->a, sizeof(int) * np);
    P->sfirst = mem_alloc(P->a, sizeof(int) * ((size_t)ns + 1));
    P->scount = mem_alloc(P->a, sizeof(int) * ((size_t)ns + 1));
    P->a0 = mem_alloc(P->a, sizeof(double) * nsc);
    P->ndose = mem_alloc(P->a, sizeof(int) * nsc);
    P->dose_t = mem_alloc(P->a, sizeof(double *) * nsc);
    P->dose_amt = mem_alloc(P->a, sizeof(double *) * nsc);
    memset(P->ndose, 0, sizeof(int) * nsc);
    memset(P->dose_t, 0, sizeof(double *) * nsc);
    memset(P->dose_amt, 0, sizeof(double *) * nsc);
    memset(P->a0, 0, sizeof(double) * nsc);
    int p = 0;
    for (int i = 0; i < ns; i++) {
        const DataSubject *s = &ds->subjects[i];
        const DataRow *first = &ds->rows[s->first];
        P->sfirst[i] = p;
        for (int k = 0; k < s->n; k++) {
            const DataRow *r = &ds->rows[s->first + k];
            if (data_is_obs(r)) {
                P->t[p] = r->time, P->row[p] = r, P->pkind[p] = PT_DATA, P->psub[p++] = i;
            }
        }
        for (int k = 0; k < ncol1; k++) {
            P->t[p] = ncol1 > 1 ? P->t0 + (t1 - P->t0) * k / (ncol1 - 1) : P->t0;
            P->row[p] = first, P->pkind[p] = PT_COLL, P->psub[p++] = i;
        }
        P->t[p] = P->t0, P->row[p] = first, P->pkind[p] = PT_IC, P->psub[p++] = i;
        P->scount[i] = p - P->sfirst[i];
        if (subject_doses(P, i) != 0)
            return -1;
    }
    return 0;
}

/* ---- the loss ------------------------------------------------------------------- */

static double *block(const Pinn *P, double *z, int i)
{
    return z + P->sub0 + (size_t)i * (size_t)P->sb;
}

static const double *cblock(const Pinn *P, const double *z, int i)
{
    return z + P->sub0 + (size_t)i * (size_t)P->sb;
}

/* Branch outputs and time derivatives at every point, each subject with
 * its own parameters. */
static int run_branches(Pinn *P, const double *z)
{
    for (int i = 0; i < P->nsub; i++) {
        int p0 = P->sfirst[i], np = P->scount[i];
        const double *bz = cblock(P, z, i) + P->br_rel;
        for (int j = 0; j < P->nb; j++) {
            Branch *b = &P->br[j];
            double *n = P->n + (size_t)j * P->npts + p0, *nd = P->ndot + (size_t)j * P->npts + p0;
            if (b->nn) {
                if (nn_forward_tangent(b->nw, bz + b->off, np, P->t + p0, 0, n, nd) != NN_OK) {
                    snprintf(P->err, sizeof P->err, "%s", nn_work_error(b->nw));
                    return -1;
                }
                continue;
            }
            double one = 1;
            QcEval e;
            memset(&e, 0, sizeof e);
            e.npoints = np;
            e.x = P->t + p0;
            e.theta = bz + b->off;
            e.out = n;
            e.dtheta = b->dth + (size_t)p0 * b->np;
            e.dir = &one;
            e.dout_dir = nd;
            e.dtheta_dir = b->dthd + (size_t)p0 * b->np;
            if (qc_eval(b->qc, b->qw, &e) != QC_OK) {
                snprintf(P->err, sizeof P->err, "%s", qc_work_error(b->qw));
                return -1;
            }
        }
    }
    return 0;
}

/* The branch parts of the gradient (P->gn, P->gndot at every point) back
 * through each subject's branches into grad. */
static void branch_backward(Pinn *P, const double *z, double *grad)
{
    for (int i = 0; i < P->nsub; i++) {
        int p0 = P->sfirst[i], np = P->scount[i];
        const double *bz = cblock(P, z, i) + P->br_rel;
        double *bg = block(P, grad, i) + P->br_rel;
        for (int j = 0; j < P->nb; j++) {
            Branch *b = &P->br[j];
            const double *gn = P->gn + (size_t)j * P->npts + p0;
            const double *gd = P->gndot + (size_t)j * P->npts + p0;
            if (b->nn) {
                /* nn_backward reads the activations of its last forward
                 * pass: run this subject's again */
                if (P->nsub > 1)
                    nn_forward_tangent(b->nw, bz + b->off, np, P->t + p0, 0, P->zbuf,
                                       P->zbuf + np);
                nn_backward(b->nw, bz + b->off, P->t + p0, gn, gd, bg + b->off, NULL);
                continue;
            }
            for (int p = 0; p < np; p++)
                for (int k = 0; k < b->np; k++)
                    bg[b->off + k] += gn[p] * b->dth[(size_t)(p0 + p) * b->np + k] +
                                      gd[p] * b->dthd[(size_t)(p0 + p) * b->np + k];
        }
    }
}

/* Subject i's THETAs are shared; its ETAs are its block's (0 outside
 * population mode).  Then its $PK variables, their derivatives by the
 * THETAs and ETAs (P->dpk), and its depots' rates (P->kc, P->dk). */
static void eval_subject(Pinn *P, const double *z, int i)
{
    P->cur = i;
    for (int k = 0; k < P->nem; k++)
        P->eta[k] = P->ne > 0 ? cblock(P, z, i)[k] : 0;
    const DataRow *first = &P->ds->rows[P->ds->subjects[i].first];
    GInputs in = { { 0 } };
    in.v[GIN_THETA] = P->theta;
    in.v[GIN_ETA] = P->eta;
    in.v[GIN_DATA] = first->v;
    in.v[GIN_TIME] = &P->t0;
    in.v[GIN_PARAM] = P->vars;
    tape_eval(P->pk.tape, &in, P->pk.work, P->pk.out);
    int nte = P->nte;
    for (int k = 0; k < P->npk; k++) {
        P->vars[P->pk_vars[k]] = lv(&P->pk, k)[0];
        memcpy(P->dpk + (size_t)k * nte, lv(&P->pk, k) + 1, sizeof(double) * (size_t)nte);
    }
    tape_eval(P->frc.tape, &in, P->frc.work, P->frc.out);
    int f = 0;
    for (int c = 0; c < P->nc; c++) {
        if (!P->forced[c])
            continue;
        const double *row = lv(&P->frc, f++);
        P->kc[c] = row[0];
        for (int k = 0; k < nte; k++) {
            double d = row[1 + k];
            for (int j = 0; j < P->npk; j++)
                d += row[1 + nte + j] * P->dpk[(size_t)j * nte + k];
            P->dk[(size_t)c * nte + k] = d;
        }
    }
}

/* The depots' amounts at time t for the current subject: each dose
 * given by then, decayed. */
static void eval_forced(Pinn *P, double t)
{
    for (int c = 0; c < P->nc; c++) {
        if (!P->forced[c])
            continue;
        int k = P->cur * P->nc + c;
        double x = 0, dx = 0;
        for (int j = 0; j < P->ndose[k]; j++) {
            double s = t - P->dose_t[k][j];
            if (s < 0)
                continue;
            double e = P->dose_amt[k][j] * exp(-P->kc[c] * s);
            x += e;
            dx -= s * e;
        }
        P->xf[c] = x;
        P->dxf[c] = dx;
    }
}

/* Derivative of a hybrid-level function (row h, its 1 + nx entries) by the
 * local inputs z = (NET 2nb, HYB 2nl, THETA nt, ETA nem), $PK variables
 * folded in. */
static void hyb_grad(const Pinn *P, const double *h, double *dz)
{
    int nb2 = 2 * P->nb, nl2 = 2 * P->nl, nt = P->nt, nte = P->nte;
    memcpy(dz, h + 1, sizeof(double) * (size_t)(nb2 + nl2 + nt));
    memset(dz + nb2 + nl2 + nt, 0, sizeof(double) * (size_t)P->nem);
    const double *dp = h + 1 + nb2 + nl2 + nt;
    for (int i = 0; i < P->npk; i++)
        for (int k = 0; k < nte; k++)
            dz[nb2 + nl2 + k] += dp[i] * P->dpk[(size_t)i * nte + k];
}

/* At point p: the amounts, their time derivatives and the $HYBRID
 * variables, with their z-gradients (P->dA, P->dAdot, P->dV). */
static void eval_hybrid(Pinn *P, int p, const double *z)
{
    int nb = P->nb, nzl = P->nzl;
    for (int j = 0; j < nb; j++) {
        P->zin[j] = P->n[(size_t)j * P->npts + p];
        P->zin[nb + j] = P->ndot[(size_t)j * P->npts + p];
    }
    GInputs in = { { 0 } };
    in.v[GIN_NET] = P->zin;
    in.v[GIN_HYB] = cblock(P, z, P->psub[p]) + P->hyb_rel;
    in.v[GIN_THETA] = P->theta;
    in.v[GIN_ETA] = P->eta;
    in.v[GIN_PARAM] = P->vars;
    in.v[GIN_DATA] = P->row[p]->v;
    in.v[GIN_TIME] = &P->t[p];
    tape_eval(P->hyb.tape, &in, P->hyb.work, P->hyb.out);
    int nhc = 0;
    for (int c = 0; c < P->nc; c++)
        nhc += P->hyb_cmt[c] >= 0;
    memset(P->state, 0, sizeof(double) * (size_t)P->nc);
    eval_forced(P, P->t[p]);
    for (int c = 0; c < P->nc; c++)
        if (P->forced[c])
            P->state[c] = P->xf[c];
    for (int i = 0; i < P->nhi; i++) {
        int it = P->hyb_items[i];
        if (it < 0) {
            int c = -1 - it;
            P->state[c] = lv(&P->hyb, 2 * i)[0];
            hyb_grad(P, lv(&P->hyb, 2 * i), P->dA + (size_t)c * nzl);
            hyb_grad(P, lv(&P->hyb, 2 * i + 1), P->dAdot + (size_t)c * nzl);
        } else {
            const double *h = lv(&P->hyb, nhc + i);
            P->vars[it] = h[0];
            hyb_grad(P, h, P->dV + (size_t)it * nzl);
        }
    }
}

/* d F / dz for a model-level function (row f): through the amounts, the
 * variables ($PK and $HYBRID), THETA and ETA directly.  Into P->gz, scaled
 * by w and added. */
static void model_grad_add(Pinn *P, const double *f, double w)
{
    int nc = P->nc, nv = P->nv, nzl = P->nzl, th0 = 2 * P->nb + 2 * P->nl, nte = P->nte;
    const double *ds = f + 1, *dv = ds + nc, *dt = dv + nv;
    for (int c = 0; c < nc; c++) {
        if (ds[c] != 0 && P->hyb_cmt[c] >= 0)
            for (int k = 0; k < nzl; k++)
                P->gz[k] += w * ds[c] * P->dA[(size_t)c * nzl + k];
        if (ds[c] != 0 && P->forced[c])
            for (int k = 0; k < nte; k++)
                P->gz[th0 + k] += w * ds[c] * P->dxf[c] * P->dk[(size_t)c * nte + k];
    }
    for (int v = 0; v < nv; v++) {
        if (dv[v] == 0)
            continue;
        if (P->m->vars[v].rec == REC_HYBRID) {
            for (int k = 0; k < nzl; k++)
                P->gz[k] += w * dv[v] * P->dV[(size_t)v * nzl + k];
        } else if (P->m->vars[v].rec == REC_PK) {
            for (int i = 0; i < P->npk; i++)
                if (P->pk_vars[i] == v)
                    for (int k = 0; k < nte; k++)
                        P->gz[th0 + k] += w * dv[v] * P->dpk[(size_t)i * nte + k];
        }
    }
    for (int k = 0; k < nte; k++)    /* THETAs, then ETAs, read directly */
        P->gz[th0 + k] += w * dt[k];
    const double *dn = dt + nte;     /* the branches, where $DES reads them */
    for (int j = 0; j < P->nb; j++)
        P->gz[j] += w * dn[j];
}

/* Scatter P->gz of point p: branch parts to gn/gndot, the linear()
 * coefficients and ETAs to the subject's block, THETAs to grad[nz + k]
 * (mapped to the trained u later). */
static void scatter(Pinn *P, int p, double *grad)
{
    int nb = P->nb, th0 = 2 * nb + 2 * P->nl;
    double *bg = block(P, grad, P->psub[p]);
    for (int j = 0; j < nb; j++) {
        P->gn[(size_t)j * P->npts + p] += P->gz[j];
        P->gndot[(size_t)j * P->npts + p] += P->gz[nb + j];
    }
    for (int k = 0; k < 2 * P->nl; k++)
        bg[P->hyb_rel + k] += P->gz[2 * nb + k];
    for (int k = 0; k < P->nt; k++)
        grad[P->nz + k] += P->gz[th0 + k];
    for (int k = 0; k < P->ne; k++)
        bg[k] += P->gz[th0 + P->nt + k];
}

static void eval_model(Pinn *P, int p)
{
    GInputs in = { { 0 } };
    double zero_eps[64] = { 0 };
    in.v[GIN_STATE] = P->state;
    in.v[GIN_PARAM] = P->vars;
    in.v[GIN_THETA] = P->theta;
    in.v[GIN_ETA] = P->eta;
    in.v[GIN_EPS] = zero_eps;
    in.v[GIN_NET] = P->zin;          /* set by eval_hybrid for this point */
    in.v[GIN_DATA] = P->row[p]->v;
    in.v[GIN_TIME] = &P->t[p];
    tape_eval(P->mod.tape, &in, P->mod.work, P->mod.out);
}

/* The physics and initial-condition residuals are amounts (per time);
 * the data term is in DV's units.  So that the $LOSS weights compare
 * like with like, the residuals are put into DV's units by the factor
 * max_c |d pred / d A_c| (1/V for IPRED = central/V), taken once, at the
 * initial values and the first subject's initial time, and held fixed (a
 * factor that moved with the parameters would change the problem as it
 * is solved). */
static void set_scale(Pinn *P, const double *z)
{
    int p = P->sfirst[0] + P->scount[0] - 1;
    eval_subject(P, z, 0);
    eval_hybrid(P, p, z);
    eval_model(P, p);
    const double *f = lv(&P->mod, P->pred_item);
    double k = 0;
    for (int c = 0; c < P->nc; c++)
        k = fmax(k, fabs(f[1 + c]));
    P->kscale = k > 0 && isfinite(k) ? k : 1;
}

/* The THETAs from z (P->theta, and d theta / d u after them). */
static void set_thetas(Pinn *P, const double *z)
{
    double *dtdu = P->theta + P->nt;
    for (int k = 0; k < P->nt; k++) {
        dtdu[k] = 0;
        const ModelTheta *th = &P->m->thetas[k];
        P->theta[k] = P->theta_slot[k] < 0 ? th->init
                                           : theta_of(th, z[P->theta_slot[k]], &dtdu[k]);
    }
}

/* The population term: PRIOR / nsub * sum_i eta_i' Omega^-1 eta_i. */
static double prior_term(Pinn *P, const double *z, double *grad)
{
    double sum = 0, w = P->lw_prior / P->nsub;
    for (int i = 0; P->ne > 0 && i < P->nsub; i++) {
        const double *eta = cblock(P, z, i);
        for (int k = 0; k < P->ne; k++) {
            sum += w * eta[k] * eta[k] / P->omega[k];
            if (grad)
                block(P, grad, i)[k] += 2 * w * eta[k] / P->omega[k];
        }
    }
    return sum;
}

/* The loss at z and, with grad, its gradient (nz + nt: the THETA part
 * d/d theta at grad[nz..], folded into the trained u on the way out). */
static int loss(Pinn *P, const double *z, PinnLoss *L, double *grad)
{
    int nt = P->nt, nzl = P->nzl, nc = P->nc;
    set_thetas(P, z);
    if (run_branches(P, z) != 0)
        return -1;
    if (P->kscale == 0)
        set_scale(P, z);
    if (grad)
        memset(grad, 0, sizeof(double) * (size_t)(P->nz + nt));
    memset(P->gn, 0, sizeof(double) * (size_t)(P->nb * P->npts));
    memset(P->gndot, 0, sizeof(double) * (size_t)(P->nb * P->npts));
    memset(L, 0, sizeof *L);
    int nphys = 0, nic = 0;
    for (int c = 0; c < nc; c++) {
        nphys += P->hyb_cmt[c] >= 0 && P->li.des_out[c] >= 0;
        nic += P->hyb_cmt[c] >= 0;
    }
    double k2 = P->kscale * P->kscale;
    for (int p = 0; p < P->npts; p++) {
        if (p == P->sfirst[P->psub[p]])
            eval_subject(P, z, P->psub[p]);
        eval_hybrid(P, p, z);
        eval_model(P, p);
        memset(P->gz, 0, sizeof(double) * (size_t)nzl);
        if (P->pkind[p] == PT_DATA) {
            /* the data: (pred - DV)^2 over every observation */
            const double *f = lv(&P->mod, P->pred_item);
            double r = f[0] - P->row[p]->dv, w = P->lw_data / P->nd;
            L->data += w * r * r;
            if (grad)
                model_grad_add(P, f, 2 * w * r);
        } else if (P->pkind[p] == PT_COLL) {
            /* the physics: (dA/dt - f(A))^2 over amounts and points */
            double w = P->lw_phys * k2 / (P->ncol * (nphys > 0 ? nphys : 1));
            for (int c = 0; c < nc; c++) {
                if (P->hyb_cmt[c] < 0 || P->li.des_out[c] < 0)
                    continue;
                const double *f = lv(&P->mod, c);
                double r = lv(&P->hyb, 2 * P->hyb_cmt[c] + 1)[0] - f[0];
                L->physics += w * r * r;
                if (grad) {
                    for (int k = 0; k < nzl; k++)
                        P->gz[k] += 2 * w * r * P->dAdot[(size_t)c * nzl + k];
                    model_grad_add(P, f, -2 * w * r);
                }
            }
        } else {
            /* the initial condition: (A(t0) - doses at t0)^2 over amounts */
            double w = P->lw_ic * k2 / (P->nsub * (nic > 0 ? nic : 1));
            for (int c = 0; c < nc; c++) {
                if (P->hyb_cmt[c] < 0)
                    continue;
                double r = P->state[c] - P->a0[P->psub[p] * nc + c];
                L->initial += w * r * r;
                if (grad)
                    for (int k = 0; k < nzl; k++)
                        P->gz[k] += 2 * w * r * P->dA[(size_t)c * nzl + k];
            }
        }
        if (grad)
            scatter(P, p, grad);
    }
    L->prior = prior_term(P, z, grad);
    L->total = L->data + L->physics + L->initial + L->prior;
    if (grad) {
        branch_backward(P, z, grad);
        double *dtdu = P->theta + nt;
        for (int k = 0; k < nt; k++)
            if (P->theta_slot[k] >= 0)
                grad[P->theta_slot[k]] += grad[P->nz + k] * dtdu[k];
    }
    return isfinite(L->total) ? 0 : -1;
}

/* Population mode: each ETA variance becomes the mean square of the
 * subjects' ETAs (the M step of an EM iteration on the conditional
 * modes), unless FIX.  Not a gradient step: on a joint objective the
 * spread's gradient would drive it to zero with the ETAs. */
static void update_omega(Pinn *P, const double *z)
{
    for (int k = 0; k < P->ne; k++) {
        if (P->omega_fix[k])
            continue;
        double s = 0;
        for (int i = 0; i < P->nsub; i++)
            s += cblock(P, z, i)[k] * cblock(P, z, i)[k];
        P->omega[k] = fmax(s / P->nsub, 1e-6);
    }
}

/* ---- set-up and Adam -------------------------------------------------------------- */

/* A compartment the physics reads that no network gives must be a
 * depot: its d/dt reads no other compartment and is -k times its own
 * amount (checked symbolically for the coupling, and numerically for
 * the linearity at the initial THETAs, below in check_forced). */
static int find_forced(Pinn *P)
{
    const Model *m = P->m;
    int nc = P->nc;
    P->forced = mem_alloc(P->a, sizeof(int) * ((size_t)nc + 1));
    memset(P->forced, 0, sizeof(int) * ((size_t)nc + 1));
    if (!(m->loss.physics > 0))
        return 0;
    for (int c = 0; c < nc; c++) {
        if (P->li.hyb_out[c] >= 0)
            continue;
        int read = 0;
        for (int c2 = 0; c2 < nc; c2++)
            read |= P->li.hyb_out[c2] >= 0 && P->li.des_out[c2] >= 0 &&
                    P->li.jac_state[c2 * nc + c] >= 0;
        if (!read)
            continue;
        int coupled = P->li.des_out[c] < 0;
        for (int c2 = 0; c2 < nc; c2++)
            coupled |= c2 != c && P->li.jac_state[c * nc + c2] >= 0;
        if (coupled || P->li.jac_state[c * nc + c] < 0) {
            diag_report(P->d, DIAG_ERROR, m->cmts[c].span,
                        "give it in $HYBRID too, or write it as a depot: d/dt(depot) = -KA*depot",
                        "the physics reads compartment '%s', which no network gives and which "
                        "is not a depot with first-order loss", m->cmts[c].name);
            return -1;
        }
        unsigned char *scratch = mem_alloc(P->a, (size_t)graph_size(P->g) + 1);
        GNode j = graph_output(P->g, P->li.jac_state[c * nc + c]);
        GNode f = graph_output(P->g, P->li.des_out[c]);
        double zero[64] = { 0 }, x1[64] = { 0 };
        GInputs in = { { 0 } };
        in.v[GIN_STATE] = zero;
        /* linear and homogeneous in its amount: d f / d A free of amounts,
         * f(0) = 0 (checked where f reads nothing but THETAs and amounts) */
        int nonlinear = graph_depends(P->g, j, GIN_STATE, scratch);
        if (!nonlinear && !graph_depends(P->g, f, GIN_PARAM, scratch) &&
            !graph_depends(P->g, f, GIN_DATA, scratch) && !graph_depends(P->g, f, GIN_TIME, scratch)) {
            double th[256];
            for (int k = 0; k < m->nthetas && k < 256; k++)
                th[k] = m->thetas[k].init;
            in.v[GIN_THETA] = th;
            in.v[GIN_ETA] = x1;
            nonlinear = graph_eval_direct(P->g, f, &in) != 0;
        }
        if (nonlinear) {
            diag_report(P->d, DIAG_ERROR, m->cmts[c].span,
                        "write it as d/dt(depot) = -KA*depot, or give it in $HYBRID",
                        "d/dt(%s) is not first-order loss: the physics solves only such "
                        "depots for the networks", m->cmts[c].name);
            return -1;
        }
        P->forced[c] = 1;
    }
    return 0;
}

static int setup(Pinn *P)
{
    const Model *m = P->m;
    P->nt = m->nthetas;
    P->nb = m->nnets;
    P->nv = m->nvars;
    P->nc = m->ncmts;
    P->g = lower_model(P->a, m, &P->li);
    if (!P->g || lower_add_jacobian(P->g, m, &P->li) < 0)
        return fail(P, diag_nospan(), NULL, "the model could not be compiled");
    P->nl = P->li.nlinear;
    if (m->omega.n > 64)
        return fail(P, diag_nospan(), NULL, "too many ETAs");
    int given = 0;
    for (int c = 0; c < P->nc; c++)
        given += P->li.hyb_out[c] >= 0;
    if (m->loss.physics > 0 || m->loss.initial > 0) {
        if (given == 0)
            return fail(P, m->hybrid.rec ? m->hybrid.rec->name_span : diag_nospan(),
                        "assign the amounts the networks stand for, e.g. central = V*(linear(q) + c)",
                        "PHYSICS and INITIAL need $HYBRID to give compartment amounts");
    }
    if (m->loss.normalize)
        return fail(P, m->loss.rec->name_span, "remove NORMALIZE=YES; weight the terms instead",
                    "NORMALIZE=YES is not built yet");
    if (find_forced(P) != 0)
        return -1;
    if (setup_points(P) != 0)
        return -1;
    P->maxpts = 0;
    for (int i = 0; i < P->nsub; i++)
        P->maxpts = P->scount[i] > P->maxpts ? P->scount[i] : P->maxpts;
    P->nem = m->omega.n;
    P->nte = P->nt + P->nem;
    /* population mode: several subjects, each with ETAs of its own */
    P->ne = P->nsub > 1 ? P->nem : 0;
    P->omega = mem_alloc(P->a, sizeof(double) * ((size_t)P->nem + 1));
    P->omega_fix = mem_alloc(P->a, sizeof(int) * ((size_t)P->nem + 1));
    for (int k = 0; k < P->nem; k++) {
        P->omega[k] = m->omega.cov[k * P->nem + k];
        P->omega_fix[k] = m->omega.block_fix[m->omega.block[k]];
        if (P->ne > 0 && !(P->omega[k] > 0))
            return fail(P, m->omega.spans[k], "give it a positive initial variance",
                        "population training needs every ETA variance positive");
    }
    P->theta_slot = mem_alloc(P->a, sizeof(int) * ((size_t)P->nt + 1));
    for (int k = 0; k < P->nt; k++)
        P->theta_slot[k] = m->thetas[k].fix ? -1 : P->nz++;
    if (build_branches(P) != 0 || build_levels(P) != 0)
        return -1;
    P->hyb_rel = P->ne;
    P->br_rel = P->ne + 2 * P->nl;
    P->sb = P->br_rel + P->brsize;
    P->sub0 = P->nz;
    P->nz += P->nsub * P->sb;
    P->lw_data = m->loss.data;
    P->lw_phys = m->loss.physics;
    P->lw_ic = m->loss.initial;
    P->lw_prior = m->loss.prior;
    P->nzl = 2 * P->nb + 2 * P->nl + P->nte;
    size_t np = (size_t)P->npts, nb = (size_t)P->nb;
    double **bufs[] = { &P->n, &P->ndot, &P->gn, &P->gndot };
    for (size_t i = 0; i < 4; i++)
        *bufs[i] = mem_alloc(P->a, sizeof(double) * (nb * np + 1));
    P->theta = mem_alloc(P->a, sizeof(double) * (2 * (size_t)P->nt + 1));
    P->eta = mem_alloc(P->a, sizeof(double) * ((size_t)P->nem + 1));
    P->dpk = mem_alloc(P->a, sizeof(double) * ((size_t)(P->npk * P->nte) + 1));
    P->zbuf = mem_alloc(P->a, sizeof(double) * (2 * (size_t)P->maxpts + 1));
    P->vars = mem_alloc(P->a, sizeof(double) * ((size_t)P->nv + 1));
    memset(P->vars, 0, sizeof(double) * ((size_t)P->nv + 1));
    P->state = mem_alloc(P->a, sizeof(double) * ((size_t)P->nc + 1));
    P->zin = mem_alloc(P->a, sizeof(double) * ((size_t)(2 * P->nb + 2 * P->nl) + 1));
    P->dA = mem_alloc(P->a, sizeof(double) * ((size_t)(P->nc * P->nzl) + 1));
    P->dAdot = mem_alloc(P->a, sizeof(double) * ((size_t)(P->nc * P->nzl) + 1));
    P->dV = mem_alloc(P->a, sizeof(double) * ((size_t)(P->nv * P->nzl) + 1));
    P->gz = mem_alloc(P->a, sizeof(double) * ((size_t)P->nzl + 1));
    P->kc = mem_alloc(P->a, sizeof(double) * ((size_t)P->nc + 1));
    P->dk = mem_alloc(P->a, sizeof(double) * ((size_t)(P->nc * P->nte) + 1));
    P->xf = mem_alloc(P->a, sizeof(double) * ((size_t)P->nc + 1));
    P->dxf = mem_alloc(P->a, sizeof(double) * ((size_t)P->nc + 1));
    P->grad = mem_alloc(P->a, sizeof(double) * ((size_t)(P->nz + P->nt) + 1));
    P->grad2 = mem_alloc(P->a, sizeof(double) * ((size_t)(P->nz + P->nt) + 1));
    memset(P->dA, 0, sizeof(double) * ((size_t)(P->nc * P->nzl) + 1));
    memset(P->dAdot, 0, sizeof(double) * ((size_t)(P->nc * P->nzl) + 1));
    return 0;
}

static int step_epochs(const ModelEst *est)
{
    return est->epochs > 0 ? est->epochs : est->method == EST_LBFGS ? 500 : 1000;
}

static void record(Pinn *P, PinnResult *r, const PinnLoss *L)
{
    int e = r->epochs;
    r->trace[e] = *L;
    memcpy(r->theta_trace + (size_t)e * P->nt, P->theta, sizeof(double) * (size_t)P->nt);
}

static void progress(const Pinn *P, FILE *log, const char *method, int e, int epochs,
                     const PinnLoss *L, int tty)
{
    if (!log)
        return;
    if (!tty && e % 100 != 0 && e != epochs)
        return;
    fprintf(log, "%sqlxc: %s epoch %4d/%d  loss %.6g  (data %.4g  physics %.4g  initial %.4g",
            tty ? "\r" : "", method, e, epochs, L->total, L->data, L->physics, L->initial);
    if (P->ne > 0)
        fprintf(log, "  prior %.4g", L->prior);
    fputc(')', log);
    for (int k = 0; k < P->nt && k < 4; k++)
        if (P->theta_slot[k] >= 0)
            fprintf(log, "  %s %.5g", P->m->thetas[k].name, P->theta[k]);
    fputs(tty ? "" : "\n", log);
    fflush(log);
}

static int loss_failed(Pinn *P, const ModelEst *est, int e)
{
    diag_report(P->d, DIAG_ERROR, est->span, "lower LR, or check the model's scale",
                "the loss is not finite at epoch %d%s%s", e, P->err[0] ? ": " : "", P->err);
    return -1;
}

/* Adam (Kingma and Ba 2015), full batch, the defaults of PyTorch's. */
static int step_adam(Pinn *P, double *z, const ModelEst *est, FILE *log, PinnResult *r)
{
    int epochs = step_epochs(est);
    double lr = isfinite(est->lr) && est->lr > 0 ? est->lr : 1e-3;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    int n = P->nz;
    double *g = calloc((size_t)(n + P->nt) + 1, sizeof *g);
    double *mo = calloc((size_t)n + 1, sizeof *mo), *ve = calloc((size_t)n + 1, sizeof *ve);
    if (!g || !mo || !ve) {
        free(g), free(mo), free(ve);
        return fail(P, diag_nospan(), NULL, "out of memory");
    }
    int tty = log && isatty(fileno(log)), rc = 0;
    PinnLoss L;
    double b1t = 1, b2t = 1;
    for (int e = 0; e < epochs; e++) {
        if (loss(P, z, &L, g) != 0) {
            rc = loss_failed(P, est, e);
            break;
        }
        record(P, r, &L);
        progress(P, log, "ADAM", e, epochs, &L, tty);
        r->epochs++;
        b1t *= b1;
        b2t *= b2;
        for (int i = 0; i < n; i++) {
            mo[i] = b1 * mo[i] + (1 - b1) * g[i];
            ve[i] = b2 * ve[i] + (1 - b2) * g[i] * g[i];
            z[i] -= lr * (mo[i] / (1 - b1t)) / (sqrt(ve[i] / (1 - b2t)) + eps);
        }
    }
    /* OMEGA held during the step, then updated (an EM iteration whose E
     * step is the whole step: updating it every epoch, before the ETAs
     * have reached their modes, drives it and them to zero) */
    update_omega(P, z);
    free(g), free(mo), free(ve);
    return rc;
}

typedef struct {
    Pinn *P;
    PinnResult *r;
    const ModelEst *est;
    FILE *log;
    int tty, epochs, failed;
} LbfgsCtx;

static int lbfgs_fn(void *ctx, const double *z, double *f, double *g)
{
    LbfgsCtx *c = ctx;
    PinnLoss L;
    double *gg = c->P->grad2;
    if (loss(c->P, z, &L, g ? gg : NULL) != 0)
        return 1;
    if (g)
        memcpy(g, gg, sizeof(double) * (size_t)c->P->nz);
    *f = L.total;
    return 0;
}

/* One line per L-BFGS iteration: the loss terms at its point. */
static int lbfgs_iter(void *ctx, const OptIter *it)
{
    LbfgsCtx *c = ctx;
    PinnLoss L;
    if (it->iter == 0)
        return 0;
    if (loss(c->P, it->x, &L, NULL) != 0)
        return 1;
    record(c->P, c->r, &L);
    progress(c->P, c->log, "LBFGS", it->iter - 1, c->epochs, &L, c->tty);
    c->r->epochs++;
    return 0;
}

/* L-BFGS (opt.c: ten pairs, a Wolfe line search), EPOCHS iterations at most. */
static int step_lbfgs(Pinn *P, double *z, const ModelEst *est, FILE *log, PinnResult *r)
{
    LbfgsCtx c = { P, r, est, log, log && isatty(fileno(log)), step_epochs(est), 0 };
    OptWork *w = opt_new_limited(P->nz > 0 ? P->nz : 1, 10);
    if (!w)
        return fail(P, diag_nospan(), NULL, "out of memory");
    OptSettings st;
    opt_defaults(&st);
    st.max_iter = c.epochs;
    st.max_eval = 20 * c.epochs;
    st.gtol = 1e-12;
    st.ftol = 0;
    st.callback = lbfgs_iter;
    st.callback_ctx = &c;
    OptResult res;
    /* OMEGA held during the step (L-BFGS needs one objective), then updated */
    OptStatus s = opt_minimize(w, lbfgs_fn, &c, z, &st, &res);
    opt_free(&w);
    update_omega(P, z);
    if (s == OPT_NONFINITE_START || s == OPT_ABORTED || s == OPT_BAD_INPUT)
        return loss_failed(P, est, r->epochs);
    if (log)
        fprintf(log, "%sqlxc: LBFGS stopped after %d iterations: %s\n", c.tty ? "\n" : "",
                res.iterations, res.message);
    return 0;
}

/* Every ADAM and LBFGS step of the model in order, each from where the
 * last ended; the trace holds the loss before each epoch, then at the end. */
static int train(Pinn *P, double *z, const PinnOpts *o, PinnResult *r)
{
    const Model *m = P->m;
    int total = 0;
    for (int i = 0; i < m->nests; i++)
        if (m->ests[i].method == EST_ADAM || m->ests[i].method == EST_LBFGS)
            total += step_epochs(&m->ests[i]);
    r->trace = calloc((size_t)total + 1, sizeof *r->trace);
    r->theta_trace = calloc(((size_t)total + 1) * (size_t)(P->nt + 1), sizeof(double));
    if (!r->trace || !r->theta_trace)
        return fail(P, diag_nospan(), NULL, "out of memory");
    r->epochs = 0;
    for (int i = 0; i < m->nests; i++) {
        const ModelEst *est = &m->ests[i];
        int rc = est->method == EST_ADAM    ? step_adam(P, z, est, o->log, r)
                 : est->method == EST_LBFGS ? step_lbfgs(P, z, est, o->log, r)
                                            : 0;
        if (rc != 0)
            return -1;
    }
    PinnLoss L;
    if (loss(P, z, &L, NULL) != 0)
        return fail(P, diag_nospan(), NULL, "the loss is not finite after the last epoch");
    record(P, r, &L);
    progress(P, o->log, "end:", r->epochs, r->epochs, &L, 0);
    r->loss = L;
    return 0;
}

/* Subject i's predictions at n times (out), at z: its points' times are
 * replaced batch by batch, the branches run, and put back. */
static int predict_at(Pinn *P, const double *z, int i, const double *t, int n, double *out,
                      double *items)
{
    int p0 = P->sfirst[i], cap = P->scount[i], done = 0;
    double *tsave = malloc(sizeof(double) * (size_t)cap);
    const DataRow **rsave = malloc(sizeof *rsave * (size_t)cap);
    if (!tsave || !rsave) {
        free(tsave), free(rsave);
        return -1;
    }
    memcpy(tsave, P->t + p0, sizeof(double) * (size_t)cap);
    memcpy(rsave, P->row + p0, sizeof *rsave * (size_t)cap);
    const DataRow *first = &P->ds->rows[P->ds->subjects[i].first];
    int rc = 0;
    while (done < n && rc == 0) {
        int nb = n - done < cap ? n - done : cap;
        for (int p = 0; p < cap; p++) {
            P->t[p0 + p] = t[done + (p < nb ? p : nb - 1)];
            P->row[p0 + p] = first;
        }
        if (run_branches(P, z) != 0) {
            rc = -1;
            break;
        }
        eval_subject(P, z, i);
        for (int p = 0; p < nb; p++) {
            eval_hybrid(P, p0 + p, z);
            eval_model(P, p0 + p);
            out[done + p] = lv(&P->mod, P->pred_item)[0];
            double *row = items + (size_t)(done + p) * (size_t)(P->nhi + P->nb);
            for (int h = 0; h < P->nhi; h++) {
                int it = P->hyb_items[h];
                row[h] = it < 0 ? P->state[-1 - it] : P->vars[it];
            }
            for (int j = 0; j < P->nb; j++)
                row[P->nhi + j] = P->n[(size_t)j * P->npts + p0 + p];
        }
        done += nb;
    }
    memcpy(P->t + p0, tsave, sizeof(double) * (size_t)cap);
    memcpy(P->row + p0, rsave, sizeof *rsave * (size_t)cap);
    free(tsave), free(rsave);
    return rc;
}

/* Predictions at the data and on a grid of each subject, at z; the ETAs
 * and the OMEGA of population mode. */
static int predictions(Pinn *P, const double *z, PinnResult *r)
{
    int nd = P->nd, ns = P->nsub, g1 = 200;
    r->ndata = nd;
    r->ngrid = g1 * ns;
    r->nsub = ns;
    r->ne = P->ne;
    r->data_id = calloc((size_t)nd + 1, sizeof(double));
    r->data_time = calloc((size_t)nd + 1, sizeof(double));
    r->data_dv = calloc((size_t)nd + 1, sizeof(double));
    r->data_pred = calloc((size_t)nd + 1, sizeof(double));
    r->grid_id = calloc((size_t)r->ngrid + 1, sizeof(double));
    r->grid_time = calloc((size_t)r->ngrid + 1, sizeof(double));
    r->grid_pred = calloc((size_t)r->ngrid + 1, sizeof(double));
    r->sub_id = calloc((size_t)ns + 1, sizeof(double));
    r->eta = calloc((size_t)(ns * P->ne) + 1, sizeof(double));
    r->omega = calloc((size_t)P->ne + 1, sizeof(double));
    /* the grid's columns: what $HYBRID gives, then each branch */
    r->nitems = P->nhi + P->nb;
    r->item_names = calloc((size_t)r->nitems + 1, sizeof *r->item_names);
    r->grid_items = calloc((size_t)r->ngrid * (size_t)r->nitems + 1, sizeof(double));
    if (!r->item_names || !r->grid_items)
        return -1;
    for (int h = 0; h < P->nhi; h++) {
        int it = P->hyb_items[h];
        r->item_names[h] = it < 0 ? P->m->cmts[-1 - it].name : P->m->vars[it].name;
    }
    for (int j = 0; j < P->nb; j++)
        r->item_names[P->nhi + j] = P->m->nets[j].name;
    if (!r->data_id || !r->data_time || !r->data_dv || !r->data_pred || !r->grid_id ||
        !r->grid_time || !r->grid_pred || !r->sub_id || !r->eta || !r->omega)
        return -1;
    PinnLoss L;
    if (loss(P, z, &L, NULL) != 0)
        return -1;
    int k = 0;
    for (int p = 0; p < P->npts; p++) {
        if (p == P->sfirst[P->psub[p]])
            eval_subject(P, z, P->psub[p]);
        if (P->pkind[p] != PT_DATA)
            continue;
        eval_hybrid(P, p, z);
        eval_model(P, p);
        r->data_id[k] = P->ds->subjects[P->psub[p]].id;
        r->data_time[k] = P->t[p];
        r->data_dv[k] = P->row[p]->dv;
        r->data_pred[k++] = lv(&P->mod, P->pred_item)[0];
    }
    for (int i = 0; i < ns; i++) {
        const DataSubject *s = &P->ds->subjects[i];
        double t1 = P->t0;
        for (int j = 0; j < s->n; j++)
            t1 = fmax(t1, P->ds->rows[s->first + j].time);
        double *gt = r->grid_time + (size_t)i * g1;
        for (int j = 0; j < g1; j++) {
            gt[j] = P->t0 + (t1 - P->t0) * j / (g1 - 1);
            r->grid_id[(size_t)i * g1 + j] = s->id;
        }
        if (predict_at(P, z, i, gt, g1, r->grid_pred + (size_t)i * g1,
                       r->grid_items + (size_t)i * g1 * (size_t)r->nitems) != 0)
            return -1;
        r->sub_id[i] = s->id;
        for (int e = 0; e < P->ne; e++)
            r->eta[(size_t)i * P->ne + e] = cblock(P, z, i)[e];
    }
    memcpy(r->omega, P->omega, sizeof(double) * (size_t)P->ne);
    return 0;
}

/* Each branch's output at the data, and each circuit as OpenQASM with
 * its trained angles (the input, TIME, left as the gate's parameter). */
static int branch_results(Pinn *P, const double *z, PinnResult *r)
{
    r->nbranch = P->nb;
    r->qasm = calloc((size_t)P->nb + 1, sizeof *r->qasm);
    r->branch_out = calloc((size_t)(P->nb * P->nd) + 1, sizeof(double));
    if (!r->qasm || !r->branch_out)
        return fail(P, diag_nospan(), NULL, "out of memory");
    PinnLoss L;
    if (loss(P, z, &L, NULL) != 0)
        return fail(P, diag_nospan(), NULL, "the loss is not finite after training");
    for (int j = 0; j < P->nb; j++) {
        for (int p = 0, k = 0; p < P->npts; p++)
            if (P->pkind[p] == PT_DATA)
                r->branch_out[(size_t)j * P->nd + k++] = P->n[(size_t)j * P->npts + p];
        const Branch *b = &P->br[j];
        if (!b->qc)
            continue;
        char *text = NULL, err[QASM_ERRLEN] = "";
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        /* the gate is named apart from the register q and qelib1's gates */
        char gname[160];
        snprintf(gname, sizeof gname, "qlx_%s", b->net->name);
        double x0 = P->t0;
        /* a circuit per subject: the first subject's is written */
        int rc = f ? qasm_write(b->qc, cblock(P, z, 0) + P->br_rel + b->off, &x0, gname, f, err)
                   : QC_ENOMEM;
        if (f)
            fclose(f);
        if (rc != QC_OK) {
            free(text);
            diag_report(P->d, DIAG_ERROR, b->net->span, NULL, "cannot write circuit '%s' as "
                        "OpenQASM: %s", b->net->name, err[0] ? err : "out of memory");
            return -1;
        }
        r->qasm[j] = text;
    }
    return 0;
}

int pinn_train(const Model *m, const Dataset *ds, const PinnOpts *o, PinnResult *r, Diag *d)
{
    memset(r, 0, sizeof *r);
    Pinn P;
    memset(&P, 0, sizeof P);
    P.m = m;
    P.ds = ds;
    P.d = d;
    P.a = mem_arena_new();
    if (!P.a) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory");
        return -1;
    }
    jmp_buf jb;
    int rc = -1;
    double *z = NULL;
    if (setjmp(jb) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory setting up training");
        goto done;
    }
    mem_arena_on_oom(P.a, &jb);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (setup(&P) != 0)
        goto done;
    z = calloc((size_t)P.nz + 1, sizeof *z);
    if (!z)
        goto done;
    uint64_t seed = o->est->seed >= 0 ? (uint64_t)o->est->seed : 2025;
    init_params(&P, z, seed);
    if (o->log)
        fprintf(o->log, "qlxc: training: %d trainable numbers (%d branches, %d THETAs), %d data, "
                        "%d collocation points\n",
                P.nz, P.nb, P.nt, P.nd, P.ncol);
    if (train(&P, z, o, r) != 0 || predictions(&P, z, r) != 0)
        goto done;
    if (branch_results(&P, z, r) != 0)
        goto done;
    r->nthetas = P.nt;
    r->theta = calloc((size_t)P.nt + 1, sizeof(double));
    if (!r->theta)
        goto done;
    memcpy(r->theta, P.theta, sizeof(double) * (size_t)P.nt);
    r->nparams = P.nz;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    rc = 0;
done:
    free(z);
    free_branches(&P);
    mem_arena_free(&P.a);
    if (rc != 0)
        pinn_result_free(r);
    return rc;
}

int pinn_gradient_check(const Model *m, const Dataset *ds, const PinnOpts *o, double *max_err,
                        Diag *d)
{
    Pinn P;
    memset(&P, 0, sizeof P);
    P.m = m;
    P.ds = ds;
    P.d = d;
    P.a = mem_arena_new();
    if (!P.a)
        return -1;
    jmp_buf jb;
    int rc = -1;
    double *z = NULL, *g = NULL;
    if (setjmp(jb) != 0)
        goto done;
    mem_arena_on_oom(P.a, &jb);
    if (setup(&P) != 0)
        goto done;
    z = calloc((size_t)P.nz + 1, sizeof *z);
    g = calloc((size_t)(P.nz + P.nt) + 1, sizeof *g);
    if (!z || !g)
        goto done;
    init_params(&P, z, o->est->seed >= 0 ? (uint64_t)o->est->seed : 2025);
    PinnLoss L, Lp, Lm;
    if (loss(&P, z, &L, g) != 0)
        goto done;
    *max_err = 0;
    for (int i = 0; i < P.nz; i++) {
        double x = z[i], h = 1e-6 * fmax(1, fabs(x));
        z[i] = x + h;
        int bad = loss(&P, z, &Lp, NULL);
        z[i] = x - h;
        bad |= loss(&P, z, &Lm, NULL);
        z[i] = x;
        if (bad)
            goto done;
        double fd = (Lp.total - Lm.total) / (2 * h);
        double e = fabs(fd - g[i]) / fmax(1e-3 * fmax(1, fabs(L.total)), fabs(fd));
        *max_err = fmax(*max_err, e);
    }
    rc = 0;
done:
    free(z);
    free(g);
    free_branches(&P);
    mem_arena_free(&P.a);
    return rc;
}

void pinn_result_free(PinnResult *r)
{
    if (!r)
        return;
    free(r->trace);
    free(r->theta_trace);
    free(r->theta);
    free(r->data_time);
    free(r->data_dv);
    free(r->data_pred);
    free(r->grid_time);
    free(r->grid_pred);
    free(r->data_id);
    free(r->grid_id);
    free(r->grid_items);
    free(r->item_names);
    free(r->sub_id);
    free(r->eta);
    free(r->omega);
    for (int j = 0; r->qasm && j < r->nbranch; j++)
        free(r->qasm[j]);
    free(r->qasm);
    free(r->branch_out);
    memset(r, 0, sizeof *r);
}

/* ---- outputs ------------------------------------------------------------------------ */

/* Text for one output file, gathered in a memory stream opened on the
 * first write; put() hands it to tab_put and starts afresh. */
typedef struct {
    FILE *f;
    char *s;
    size_t n;
} Buf;

static void bprintf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(Buf *b, const char *fmt, ...)
{
    if (!b->f)
        b->f = open_memstream(&b->s, &b->n);
    if (!b->f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(b->f, fmt, ap);
    va_end(ap);
}

static int put(const char *dir, const char *name, Buf *b, Diag *d, FILE *log)
{
    int bad = !b->f || fclose(b->f) != 0;
    int rc = tab_put(dir, name, bad ? NULL : b->s, b->n, d, log);
    free(b->s);
    memset(b, 0, sizeof *b);
    return rc;
}

static void json_num(Buf *b, double x)
{
    if (isfinite(x))
        bprintf(b, "%.17g", x);
    else
        bprintf(b, "null");
}

int pinn_write_qasm(const Model *m, const PinnResult *r, const char *dir, Diag *d, FILE *log)
{
    int rc = 0;
    for (int j = 0; j < r->nbranch; j++) {
        if (!r->qasm[j])
            continue;
        char name[256];
        snprintf(name, sizeof name, "%s.qasm", m->nets[j].name);
        rc |= tab_put(dir, name, r->qasm[j], strlen(r->qasm[j]), d, log);
    }
    return rc ? -1 : 0;
}

int pinn_write(const Model *m, const PinnResult *r, const char *dir, Diag *d, FILE *log)
{
    int rc = 0;
    Buf b = { 0 };
    /* training.csv: every epoch's loss terms and THETAs */
    bprintf(&b, "EPOCH,LOSS,DATA,PHYSICS,INITIAL,PRIOR");
    for (int k = 0; k < r->nthetas; k++)
        bprintf(&b, ",%s", m->thetas[k].name);
    bprintf(&b, "\n");
    for (int e = 0; e <= r->epochs; e++) {
        const PinnLoss *L = &r->trace[e];
        bprintf(&b, "%d,%.10g,%.10g,%.10g,%.10g,%.10g", e, L->total, L->data, L->physics,
                L->initial, L->prior);
        for (int k = 0; k < r->nthetas; k++)
            bprintf(&b, ",%.10g", r->theta_trace[(size_t)e * r->nthetas + k]);
        bprintf(&b, "\n");
    }
    rc |= put(dir, "training.csv", &b, d, log);

    /* fit.csv: the data and the prediction there */
    bprintf(&b, "ID,TIME,DV,PRED\n");
    for (int i = 0; i < r->ndata; i++)
        bprintf(&b, "%.10g,%.10g,%.10g,%.10g\n", r->data_id[i], r->data_time[i], r->data_dv[i],
                r->data_pred[i]);
    rc |= put(dir, "fit.csv", &b, d, log);

    /* grid.csv: each subject on a fine grid: the prediction, what $HYBRID
     * gives (amounts and variables) and each branch's output */
    bprintf(&b, "ID,TIME,PRED");
    for (int h = 0; h < r->nitems; h++)
        bprintf(&b, ",%s", r->item_names[h]);
    bprintf(&b, "\n");
    for (int g = 0; g < r->ngrid; g++) {
        bprintf(&b, "%.10g,%.10g,%.10g", r->grid_id[g], r->grid_time[g], r->grid_pred[g]);
        for (int h = 0; h < r->nitems; h++)
            bprintf(&b, ",%.10g", r->grid_items[(size_t)g * r->nitems + h]);
        bprintf(&b, "\n");
    }
    rc |= put(dir, "grid.csv", &b, d, log);

    /* summary.txt */
    double ss = 0, sd = 0;
    for (int i = 0; i < r->ndata; i++) {
        ss += (r->data_pred[i] - r->data_dv[i]) * (r->data_pred[i] - r->data_dv[i]);
        sd += r->data_dv[i] * r->data_dv[i];
    }
    double rrmse = sd > 0 ? sqrt(ss / sd) : NAN;
    bprintf(&b, "%s\n\n", m->title ? m->title : "(no $PROBLEM)");
    bprintf(&b, "method      ");
    for (int i = 0, k = 0; i < m->nests; i++)
        if (m->ests[i].method == EST_ADAM || m->ests[i].method == EST_LBFGS)
            bprintf(&b, "%s%s", k++ ? " then " : "", m->ests[i].method == EST_ADAM ? "ADAM" : "LBFGS");
    bprintf(&b, ", %d epochs in all, %d trainable numbers\n", r->epochs, r->nparams);
    bprintf(&b, "loss        %.6g   (data %.6g + physics %.6g + initial %.6g", r->loss.total,
            r->loss.data, r->loss.physics, r->loss.initial);
    if (r->ne > 0)
        bprintf(&b, " + prior %.6g", r->loss.prior);
    bprintf(&b, ", each weighted by $LOSS)\n");
    if (r->nsub > 1)
        bprintf(&b, "subjects    %d, each with networks of its own%s\n", r->nsub,
                r->ne > 0 ? " and ETAs (population mode)" : "");
    bprintf(&b, "fit         relative RMSE %.4g%% over %d observations\n", 100 * rrmse,
            r->ndata);
    bprintf(&b, "run time    %.2f s\n\n", r->seconds);
    bprintf(&b, "THETA                learned      initial\n");
    for (int k = 0; k < r->nthetas; k++)
        bprintf(&b, "%-16s %12.6g %12.6g%s\n", m->thetas[k].name, r->theta[k],
                m->thetas[k].init, m->thetas[k].fix ? "  FIX" : "");
    if (r->ne > 0) {
        bprintf(&b, "\nOMEGA              variance  SD of the ETAs (EM updates on their modes)\n");
        for (int k = 0; k < r->ne; k++)
            bprintf(&b, "%-16s %12.6g %12.6g\n", m->omega.names[k], r->omega[k],
                    sqrt(r->omega[k]));
        bprintf(&b, "\n%-10s", "ID");
        for (int k = 0; k < r->ne; k++)
            bprintf(&b, " %12s", m->omega.names[k]);
        bprintf(&b, "\n");
        for (int i = 0; i < r->nsub; i++) {
            bprintf(&b, "%-10g", r->sub_id[i]);
            for (int k = 0; k < r->ne; k++)
                bprintf(&b, " %12.6g", r->eta[(size_t)i * r->ne + k]);
            bprintf(&b, "\n");
        }
    }
    rc |= put(dir, "summary.txt", &b, d, log);

    /* results.json */
    bprintf(&b, "{\n  \"methods\": [");
    for (int i = 0, k = 0; i < m->nests; i++)
        if (m->ests[i].method == EST_ADAM || m->ests[i].method == EST_LBFGS)
            bprintf(&b, "%s\"%s\"", k++ ? ", " : "", m->ests[i].method == EST_ADAM ? "ADAM" : "LBFGS");
    bprintf(&b, "],\n  \"epochs\": %d,\n  \"parameters\": %d,\n", r->epochs, r->nparams);
    bprintf(&b, "  \"loss\": {\"total\": ");
    json_num(&b, r->loss.total);
    bprintf(&b, ", \"data\": ");
    json_num(&b, r->loss.data);
    bprintf(&b, ", \"physics\": ");
    json_num(&b, r->loss.physics);
    bprintf(&b, ", \"initial\": ");
    json_num(&b, r->loss.initial);
    bprintf(&b, "},\n  \"relative_rmse\": ");
    json_num(&b, rrmse);
    bprintf(&b, ",\n  \"run_time_s\": %.3f,\n  \"theta\": [\n", r->seconds);
    for (int k = 0; k < r->nthetas; k++) {
        bprintf(&b, "    {\"name\": \"%s\", \"estimate\": ", m->thetas[k].name);
        json_num(&b, r->theta[k]);
        bprintf(&b, ", \"fixed\": %s}%s\n", m->thetas[k].fix ? "true" : "false",
                k + 1 < r->nthetas ? "," : "");
    }
    bprintf(&b, "  ]");
    if (r->ne > 0) {
        bprintf(&b, ",\n  \"omega\": {");
        for (int k = 0; k < r->ne; k++) {
            bprintf(&b, "%s\"%s\": ", k ? ", " : "", m->omega.names[k]);
            json_num(&b, r->omega[k]);
        }
        bprintf(&b, "},\n  \"eta\": [\n");
        for (int i = 0; i < r->nsub; i++) {
            bprintf(&b, "    {\"id\": %.10g", r->sub_id[i]);
            for (int k = 0; k < r->ne; k++) {
                bprintf(&b, ", \"%s\": ", m->omega.names[k]);
                json_num(&b, r->eta[(size_t)i * r->ne + k]);
            }
            bprintf(&b, "}%s\n", i + 1 < r->nsub ? "," : "");
        }
        bprintf(&b, "  ]");
    }
    bprintf(&b, "\n}\n");
    rc |= put(dir, "results.json", &b, d, log);

    /* fit.svg (fit_01.svg ... with several subjects, 16 a page): each
     * subject's data as points, its prediction on a grid as a line */
    int n = r->ndata + r->ngrid, ns = r->nsub, g1 = ns > 0 ? r->ngrid / ns : 0;
    double *t = malloc(sizeof(double) * ((size_t)n + 1)), *dv = malloc(sizeof(double) * ((size_t)n + 1));
    double *pr = malloc(sizeof(double) * ((size_t)n + 1)), *id = malloc(sizeof(double) * ((size_t)ns + 1));
    int *obs = malloc(sizeof(int) * ((size_t)n + 1));
    int *first = malloc(sizeof(int) * ((size_t)ns + 1)), *count = malloc(sizeof(int) * ((size_t)ns + 1));
    if (t && dv && pr && obs && id && first && count) {
        int i = 0, k = 0;
        for (int sj = 0; sj < ns; sj++) {
            /* merge the subject's two time-ordered series */
            int j = sj * g1, jend = j + g1;
            first[sj] = k;
            id[sj] = r->sub_id[sj];
            while ((i < r->ndata && r->data_id[i] == r->sub_id[sj]) || j < jend) {
                int take_data = i < r->ndata && r->data_id[i] == r->sub_id[sj] &&
                                (j >= jend || r->data_time[i] <= r->grid_time[j]);
                if (take_data) {
                    t[k] = r->data_time[i], dv[k] = r->data_dv[i], pr[k] = r->data_pred[i];
                    obs[k++] = 1, i++;
                } else {
                    t[k] = r->grid_time[j], dv[k] = NAN, pr[k] = r->grid_pred[j], obs[k++] = 0;
                    j++;
                }
            }
            count[sj] = k - first[sj];
        }
        size_t len;
        for (int pg = 0; pg * PLOT_PER_PAGE < ns; pg++) {
            int n1 = ns - pg * PLOT_PER_PAGE < PLOT_PER_PAGE ? ns - pg * PLOT_PER_PAGE : PLOT_PER_PAGE;
            char name[32];
            snprintf(name, sizeof name, ns == 1 ? "fit.svg" : "fit_%02d.svg", pg + 1);
            rc |= plot_put(dir, name,
                          plot_indiv_svg(id + pg * PLOT_PER_PAGE, t, dv, pr, NULL, obs,
                                         first + pg * PLOT_PER_PAGE, count + pg * PLOT_PER_PAGE, n1,
                                         "the data (points) and the trained hybrid model (line)",
                                         &len), d, log);
        }
    } else {
        rc = -1;
    }
    free(t), free(dv), free(pr), free(obs), free(id), free(first), free(count);

    /* loss.svg: the total loss by epoch, log scale */
    double *ep = malloc(sizeof(double) * ((size_t)r->epochs + 2));
    double *lo = malloc(sizeof(double) * ((size_t)r->epochs + 2));
    if (ep && lo) {
        for (int e = 0; e <= r->epochs; e++)
            ep[e] = e, lo[e] = r->trace[e].total;
        PlotOpts po;
        memset(&po, 0, sizeof po);
        po.title = "training loss";
        po.xlabel = "epoch";
        po.ylabel = "loss (log scale)";
        po.logy = 1;
        size_t len;
        rc |= plot_put(dir, "loss.svg", plot_scatter_svg(ep, lo, r->epochs + 1, &po, &len), d, log);
    } else {
        rc = -1;
    }
    free(ep), free(lo);
    rc |= pinn_write_qasm(m, r, dir, d, log);
    return rc ? -1 : 0;
}
