/*
 * sens.c -- the predictions' derivatives by THETA and ETA (see sens.h).
 *
 * The maths.  With pi the parameters, P the $PK variables (constant
 * between records), A the amounts and S = dA/dpi (ncmt x np):
 *
 *   D     = dP/dpi                        symbolic, at each record (pk_d)
 *   dS/dt = J S + F_pi,   J = df/dA,      CVODES forward sensitivities
 *   F_pi  = (df/dP) D + df/dpi|direct     the dfdp callback (des_d)
 *   dpred = (dh/dP) D + (dh/dA) S + dh/dpi|direct     at each record (pred_d)
 *
 * Events whose effect depends on pi make S jump.  A bolus of F*AMT into
 * compartment c adds AMT dF/dpi to row c.  An infusion of F*AMT at a data
 * RATE R ends at t_e = t_0 + F*AMT/R; moving an event that switches the
 * right-hand side from f- to f+ moves the solution by (f- - f+) dt_e, and
 * here f- - f+ = R in row c, so the end adds R * AMT dF/dpi / R = AMT
 * dF/dpi -- the same jump as the bolus, at the end of the infusion.
 * Lags that depend on pi, modelled rates and durations and steady state
 * have their own jump terms (and, for SS, the derivative of a fixed
 * point); they are refused rather than left out.
 *
 * The event logic is sim.c's (PREDPP order: a record's parameters hold
 * since the previous record; implied events at a record's time come after
 * it), duplicated in the subset above rather than threaded through sim.c
 * behind a flag: sim.c's steady state, modelled rates and exact linear
 * path would each need a sensitivity branch, while this subset is a
 * queue of boluses and infusion switches.  tests/unit/test_sens.c checks
 * that the predictions here equal sim_subject's, so the two cannot drift
 * apart unnoticed.
 */
#include "sens.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ode.h"

typedef enum { Q_BOLUS, Q_INF_ON, Q_INF_OFF } QKind;

typedef struct {
    double t;
    long seq;            /* tie-break: the order the events were made in */
    QKind kind;
    int cmt;             /* 0-based */
    double amount;       /* Q_BOLUS */
    double rate;         /* Q_INF_ON */
    int id;              /* pairs an infusion's start and end */
    int jump;            /* Q_BOLUS, Q_INF_OFF: the jump of S, or -1 */
} QEvent;

typedef struct {
    int id, cmt;
    double rate;
} Infusion;

struct SensWork {
    const Prog *p;
    int nc, np, npk, wd;     /* wd = npk + np: a row of des_d */
    OdeWork *ode;
    double *A, *S, *vars, *work, *outb, *D, *G, *h, *zeros, *rates;
    int *pk_index;           /* Model.vars index -> pk output, or -1 */
    double *jumps;           /* pool of np-vectors that events point into */
    int njump, capjump;
    QEvent *q;
    int nq, capq;
    long seq;
    Infusion *inf;
    int ninf, capinf, next_id;
    GInputs in;
    double t, tin;
    const DataRow *row;
    const Dataset *ds;
    int subject;
    char err[320];
};

/* ---- workspace ---------------------------------------------------------- */

static int rhs_cb(double t, const double *y, double *ydot, void *ctx);
static int jac_cb(double t, const double *y, double *J, void *ctx);
static int dfdp_cb(double t, const double *y, double *P, void *ctx);

static size_t max_work(const Prog *p)
{
    const Tape *t[] = { p->pk, p->pk_d, p->des, p->jac, p->des_d, p->pred_d };
    size_t m = 0;
    for (int i = 0; i < 6; i++)
        if (t[i] && tape_work_size(t[i]) > m)
            m = tape_work_size(t[i]);
    return m;
}

SensWork *sens_work_new(const Prog *p, const SimOpts *o)
{
    SensWork *w = mem_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->p = p;
    int nc = w->nc = p->ncmt, np = w->np = p->np, npk = w->npk = p->npk;
    w->wd = npk + np;
    size_t n1 = (size_t)nc + 1;
    w->A = mem_calloc(n1, sizeof(double));
    w->S = mem_calloc(n1 * ((size_t)np + 1), sizeof(double));
    w->vars = mem_calloc((size_t)p->nvars + 1, sizeof(double));
    w->work = mem_calloc(max_work(p) + 1, sizeof(double));
    w->outb = mem_calloc((size_t)npk + 1, sizeof(double));
    w->D = mem_calloc((size_t)npk * (size_t)np + 1, sizeof(double));
    w->G = mem_calloc(n1 * ((size_t)w->wd + 1), sizeof(double));
    w->h = mem_calloc((size_t)(1 + w->wd + nc) + 1, sizeof(double));
    w->zeros = mem_calloc(n1 + (size_t)p->m->sigma.n + (size_t)p->m->omega.n, sizeof(double));
    w->rates = mem_calloc(n1, sizeof(double));
    w->pk_index = mem_calloc((size_t)p->nvars + 1, sizeof(int));
    int ok = w->A && w->S && w->vars && w->work && w->outb && w->D && w->G && w->h &&
             w->zeros && w->rates && w->pk_index;
    if (ok) {
        for (int i = 0; i < p->nvars; i++)
            w->pk_index[i] = -1;
        for (int j = 0; j < npk; j++)
            w->pk_index[p->pk_var[j]] = j;
    }
    if (ok && p->des && nc > 0) {
        OdeSys sys = { nc, np, rhs_cb, jac_cb, np > 0 ? dfdp_cb : NULL };
        OdeOpts oo = { o->rtol, o->atol, o->adams, o->maxsteps };
        ok = (w->ode = ode_new(&sys, &oo)) != NULL;
    }
    if (!ok)
        sens_work_free(&w);
    return w;
}

void sens_work_free(SensWork **pw)
{
    SensWork *w = pw ? *pw : NULL;
    if (!w)
        return;
    ode_free(&w->ode);
    double *arr[] = { w->A, w->S, w->vars, w->work, w->outb, w->D, w->G, w->h,
                      w->zeros, w->rates, w->jumps };
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
        mem_free(arr[i]);
    mem_free(w->pk_index);
    mem_free(w->q);
    mem_free(w->inf);
    mem_free(w);
    *pw = NULL;
}

const char *sens_error(const SensWork *w)
{
    return w->err;
}

static int fail(SensWork *w, const char *what)
{
    const DataSubject *s = &w->ds->subjects[w->subject];
    snprintf(w->err, sizeof w->err, "subject ID %g, TIME %g (row %d): %s", s->id, w->t,
             w->row ? w->row->row : 0, what);
    return -1;
}

/* ---- the tapes ------------------------------------------------------------ */

static int rhs_cb(double t, const double *y, double *ydot, void *ctx)
{
    SensWork *w = ctx;
    w->tin = t;
    w->in.v[GIN_STATE] = y;
    tape_eval(w->p->des, &w->in, w->work, ydot);
    for (int i = 0; i < w->nc; i++) {
        ydot[i] += w->rates[i];
        if (!isfinite(ydot[i]))
            return 1;
    }
    return 0;
}

static int jac_cb(double t, const double *y, double *J, void *ctx)
{
    SensWork *w = ctx;
    w->tin = t;
    w->in.v[GIN_STATE] = y;
    tape_eval(w->p->jac, &w->in, w->work, J);
    return 0;
}

/* P = (df/dP) D + df/dpi|direct; the infusion rates are data, so they
 * add nothing. */
static int dfdp_cb(double t, const double *y, double *P, void *ctx)
{
    SensWork *w = ctx;
    int nc = w->nc, np = w->np, npk = w->npk, wd = w->wd;
    w->tin = t;
    w->in.v[GIN_STATE] = y;
    tape_eval(w->p->des_d, &w->in, w->work, w->G);
    for (int i = 0; i < nc; i++) {
        const double *g = w->G + (size_t)i * (size_t)wd;
        double *pi = P + (size_t)i * (size_t)np;
        for (int k = 0; k < np; k++)
            pi[k] = g[npk + k];
        for (int j = 0; j < npk; j++) {
            if (g[j] == 0)
                continue;
            const double *dj = w->D + (size_t)j * (size_t)np;
            for (int k = 0; k < np; k++)
                pi[k] += g[j] * dj[k];
        }
    }
    return 0;
}

/* $PK and D = dP/dpi at a record. */
static void eval_pk(SensWork *w, const DataRow *r)
{
    const Prog *p = w->p;
    w->row = r;
    w->tin = r->time;
    w->in.v[GIN_DATA] = r->v;
    tape_eval(p->pk, &w->in, w->work, w->outb);
    for (int i = 0; i < p->npk; i++)
        w->vars[p->pk_var[i]] = w->outb[i];
    tape_eval(p->pk_d, &w->in, w->work, w->D);
}

/* The prediction and its gradient at the current state. */
static void eval_pred(SensWork *w, double *pred, double *dpred)
{
    const Prog *p = w->p;
    int np = w->np, npk = w->npk, nc = w->nc;
    if (!p->pred_d) {
        *pred = NAN;
        for (int k = 0; k < np; k++)
            dpred[k] = NAN;
        return;
    }
    w->tin = w->row->time;
    w->in.v[GIN_STATE] = w->A;
    tape_eval(p->pred_d, &w->in, w->work, w->h);
    const double *hP = w->h + 1, *hA = hP + npk, *hd = hA + nc;
    *pred = w->h[0];
    for (int k = 0; k < np; k++)
        dpred[k] = hd[k];
    for (int j = 0; j < npk; j++)
        if (hP[j] != 0)
            for (int k = 0; k < np; k++)
                dpred[k] += hP[j] * w->D[(size_t)j * (size_t)np + (size_t)k];
    for (int i = 0; i < nc; i++)
        if (hA[i] != 0)
            for (int k = 0; k < np; k++)
                dpred[k] += hA[i] * w->S[(size_t)i * (size_t)np + (size_t)k];
}

/* ---- advancing and events ---------------------------------------------------- */

static int advance_to(SensWork *w, double t1)
{
    if (t1 > w->t && w->ode) {
        if (ode_advance(w->ode, w, w->t, t1, w->A, w->np > 0 ? w->S : NULL) != 0)
            return fail(w, ode_error(w->ode));
    }
    if (t1 > w->t)
        w->t = t1;
    return 0;
}

static void recompute_rates(SensWork *w)
{
    memset(w->rates, 0, sizeof *w->rates * (size_t)w->nc);
    for (int i = 0; i < w->ninf; i++)
        w->rates[w->inf[i].cmt] += w->inf[i].rate;
}

static void add_jump(SensWork *w, int cmt, int jump)
{
    if (jump < 0)
        return;
    const double *j = w->jumps + (size_t)jump * (size_t)w->np;
    double *s = w->S + (size_t)cmt * (size_t)w->np;
    for (int k = 0; k < w->np; k++)
        s[k] += j[k];
}

/* A jump of AMT dF/dpi for a dose into cmt given now, or -1 when F is not
 * modelled (the jump is then zero). */
static int new_jump(SensWork *w, int cmt, double amt)
{
    int fv = w->p->f_var[cmt], np = w->np;
    if (fv < 0 || w->pk_index[fv] < 0 || np == 0)
        return -1;
    if (w->njump == w->capjump) {
        int nc = w->capjump ? 2 * w->capjump : 16;
        double *nj = mem_realloc(w->jumps, sizeof *nj * (size_t)nc * (size_t)np);
        if (!nj) {
            fail(w, "out of memory");
            return -2;
        }
        w->jumps = nj;
        w->capjump = nc;
    }
    const double *df = w->D + (size_t)w->pk_index[fv] * (size_t)np;
    double *j = w->jumps + (size_t)w->njump * (size_t)np;
    for (int k = 0; k < np; k++)
        j[k] = amt * df[k];
    return w->njump++;
}

static int push(SensWork *w, QEvent e)
{
    if (w->nq == w->capq) {
        int nc = w->capq ? 2 * w->capq : 16;
        QEvent *nq = mem_realloc(w->q, sizeof *nq * (size_t)nc);
        if (!nq)
            return fail(w, "out of memory");
        w->q = nq;
        w->capq = nc;
    }
    e.seq = w->seq++;
    int i = w->nq++;
    while (i > 0 && (w->q[i - 1].t > e.t || (w->q[i - 1].t == e.t && w->q[i - 1].seq > e.seq))) {
        w->q[i] = w->q[i - 1];
        i--;
    }
    w->q[i] = e;
    return 0;
}

static int start_infusion(SensWork *w, int id, int cmt, double rate)
{
    if (w->ninf == w->capinf) {
        int nc = w->capinf ? 2 * w->capinf : 8;
        Infusion *ni = mem_realloc(w->inf, sizeof *ni * (size_t)nc);
        if (!ni)
            return fail(w, "out of memory");
        w->inf = ni;
        w->capinf = nc;
    }
    w->inf[w->ninf++] = (Infusion){ id, cmt, rate };
    recompute_rates(w);
    return 0;
}

static void stop_infusion(SensWork *w, int id)
{
    for (int i = 0; i < w->ninf; i++)
        if (w->inf[i].id == id) {
            w->inf[i] = w->inf[--w->ninf];
            break;
        }
    recompute_rates(w);
}

static int apply(SensWork *w, const QEvent *e)
{
    switch (e->kind) {
    case Q_BOLUS:
        w->A[e->cmt] += e->amount;
        add_jump(w, e->cmt, e->jump);
        return 0;
    case Q_INF_ON:
        return start_infusion(w, e->id, e->cmt, e->rate);
    case Q_INF_OFF:
        stop_infusion(w, e->id);
        add_jump(w, e->cmt, e->jump);
        return 0;
    }
    return 0;
}

static int run_queue(SensWork *w, double t, int inclusive)
{
    while (w->nq > 0 && (w->q[0].t < t || (inclusive && w->q[0].t == t))) {
        QEvent e = w->q[0];
        memmove(w->q, w->q + 1, sizeof *w->q * (size_t)(w->nq - 1));
        w->nq--;
        if (advance_to(w, e.t) != 0 || apply(w, &e) != 0)
            return -1;
    }
    return 0;
}

static void reset(SensWork *w)
{
    memset(w->A, 0, sizeof *w->A * (size_t)w->nc);
    memset(w->S, 0, sizeof *w->S * (size_t)w->nc * (size_t)w->np);
    w->ninf = 0;
    w->nq = 0;
    recompute_rates(w);
}

/* ---- doses ------------------------------------------------------------------------ */

typedef struct {
    int cmt;
    double amount;       /* F * AMT */
    double rate, dur;    /* rate 0 for a bolus; dur INFINITY: constant */
    double lag;
    int jump;            /* AMT dF/dpi, or -1 */
} Dose;

/* Does $PK variable v (a Model.vars index, or -1) depend on pi here? */
static int varies(const SensWork *w, int v)
{
    int j = v >= 0 ? w->pk_index[v] : -1;
    if (j < 0)
        return 0;
    for (int k = 0; k < w->np; k++)
        if (w->D[(size_t)j * (size_t)w->np + (size_t)k] != 0)
            return 1;
    return 0;
}

/* sim.c's make_dose for the cases whose derivative is implemented. */
static int make_dose(SensWork *w, const DataRow *r, Dose *d)
{
    const Prog *p = w->p;
    int c = r->cmt - 1;
    char msg[160];
    if (r->ss > 0) {
        snprintf(msg, sizeof msg, "sensitivities with SS=%d records are not supported yet",
                 r->ss);
        return fail(w, msg);
    }
    if (r->rate < 0) {
        snprintf(msg, sizeof msg,
                 "sensitivities with modelled infusions (RATE=%g) are not supported yet",
                 r->rate);
        return fail(w, msg);
    }
    if (c < 0 || c >= w->nc)
        return fail(w, "the dose's compartment does not exist");
    if (varies(w, p->alag_var[c]))
        return fail(w, "sensitivities with a lag time ALAG that depends on a THETA or an ETA "
                       "are not supported yet");
    double f = p->f_var[c] >= 0 ? w->vars[p->f_var[c]] : 1.0;
    d->cmt = c;
    d->lag = p->alag_var[c] >= 0 ? w->vars[p->alag_var[c]] : 0.0;
    d->amount = f * r->amt;
    d->rate = 0;
    d->dur = 0;
    if (!(f >= 0) || !(d->lag >= 0))
        return fail(w, "bioavailability F and lag time ALAG must be >= 0");
    if (r->rate > 0) {
        d->rate = r->rate;
        d->dur = r->amt > 0 ? d->amount / d->rate : INFINITY;
    }
    /* a constant infusion (AMT 0) has no end to move */
    d->jump = d->rate > 0 && !isfinite(d->dur) ? -1 : new_jump(w, c, r->amt);
    return d->jump == -2 ? -1 : 0;
}

static int schedule(SensWork *w, const Dose *d, double t, int now)
{
    double t0 = t + d->lag;
    if (d->rate > 0) {
        int id = ++w->next_id;
        if (now && t0 == w->t) {
            if (start_infusion(w, id, d->cmt, d->rate) != 0)
                return -1;
        } else if (push(w, (QEvent){ t0, 0, Q_INF_ON, d->cmt, 0, d->rate, id, -1 }) != 0) {
            return -1;
        }
        if (isfinite(d->dur))
            return push(w, (QEvent){ t0 + d->dur, 0, Q_INF_OFF, d->cmt, 0, 0, id, d->jump });
        return 0;
    }
    if (now && t0 == w->t) {
        w->A[d->cmt] += d->amount;
        add_jump(w, d->cmt, d->jump);
        return 0;
    }
    return push(w, (QEvent){ t0, 0, Q_BOLUS, d->cmt, d->amount, 0, 0, d->jump });
}

static int dose_record(SensWork *w, const DataRow *r)
{
    Dose d;
    if (make_dose(w, r, &d) != 0 || schedule(w, &d, r->time, 1) != 0)
        return -1;
    for (int k = 1; k <= r->addl; k++)
        if (schedule(w, &d, r->time + k * r->ii, 0) != 0)
            return -1;
    return 0;
}

/* ---- a subject ---------------------------------------------------------------------- */

int sens_subject(SensWork *w, const Dataset *ds, int subject, const double *theta,
                 const double *eta, double *pred, double *dpred)
{
    const DataSubject *s = &ds->subjects[subject];
    int np = w->np;
    w->ds = ds;
    w->subject = subject;
    w->err[0] = '\0';
    w->row = NULL;
    w->t = s->n > 0 ? ds->rows[s->first].time : 0;
    w->in.v[GIN_THETA] = theta;
    w->in.v[GIN_ETA] = eta ? eta : w->zeros;
    w->in.v[GIN_EPS] = w->zeros;
    w->in.v[GIN_PARAM] = w->vars;
    w->in.v[GIN_TIME] = &w->tin;
    w->next_id = 0;
    w->seq = 0;
    w->njump = 0;
    memset(w->vars, 0, sizeof *w->vars * (size_t)w->p->nvars);
    reset(w);
    for (int k = 0; k < s->n; k++) {
        const DataRow *r = &ds->rows[s->first + k];
        eval_pk(w, r);
        if (run_queue(w, r->time, 0) != 0 || advance_to(w, r->time) != 0)
            return -1;
        if (r->evid == 3 || r->evid == 4)
            reset(w);
        if ((r->evid == 1 || r->evid == 4) && dose_record(w, r) != 0)
            return -1;
        for (int i = 0; i < w->nc * (np + 1); i++)
            if (!isfinite(i < w->nc ? w->A[i] : w->S[i - w->nc]))
                return fail(w, "an amount or its sensitivity is not finite");
        eval_pred(w, &pred[k], dpred + (size_t)k * (size_t)np);
        if (run_queue(w, r->time, 1) != 0)
            return -1;
    }
    return 0;
}
