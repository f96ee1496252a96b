/*
 * evq.c -- a subject's queue of implied events and its infusions (see
 * evq.h).
 *
 * The idea: PREDPP's event order is one piece of logic however the state
 * between events is carried (amounts alone in sim.c, amounts and their
 * sensitivities in sens.c), so it lives here once and the engines plug in
 * how to advance and what else an event changes.
 *
 * The queue is a sorted array: a push inserts after every event at the
 * same time made before it, a pop takes the front.  A subject's pending
 * events are few (the doses in flight), so the linear moves cost less
 * than a heap's bookkeeping, and (time, seq) is a total order, so the
 * order of events never depends on how the queue is kept.  The arrays
 * grow by doubling and are kept across subjects: after the first few
 * subjects nothing allocates.
 */
#include "evq.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int id, cmt;
    double rate;
} Infusion;

struct Evq {
    int nc;
    double *A;               /* the caller's amounts */
    EvqHooks h;
    double t;                /* the time the caller's state is at */
    double id;               /* the subject's ID */
    const DataRow *row;      /* the current record, or NULL before the first */
    char err[320];
    double *rates;           /* nc: the sum of the active infusions */
    EvqEvent *q;
    int nq, capq;
    long seq;
    Infusion *inf;
    int ninf, capinf, next_id;
};

Evq *evq_new(int ncmt, double *A, const EvqHooks *h)
{
    Evq *q = mem_calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->nc = ncmt;
    q->A = A;
    q->h = *h;
    q->rates = mem_calloc((size_t)ncmt + 1, sizeof(double));
    if (!q->rates)
        evq_free(&q);
    return q;
}

void evq_free(Evq **pq)
{
    Evq *q = pq ? *pq : NULL;
    if (!q)
        return;
    mem_free(q->rates);
    mem_free(q->q);
    mem_free(q->inf);
    mem_free(q);
    *pq = NULL;
}

const double *evq_rates(const Evq *q)
{
    return q->rates;
}

int evq_fail(Evq *q, const char *what)
{
    snprintf(q->err, sizeof q->err, "subject ID %g, TIME %g (row %d): %s", q->id, q->t,
             q->row ? q->row->row : 0, what);
    return -1;
}

const char *evq_error(const Evq *q)
{
    return q->err;
}

static void recompute_rates(Evq *q)
{
    memset(q->rates, 0, sizeof *q->rates * (size_t)q->nc);
    for (int i = 0; i < q->ninf; i++)
        q->rates[q->inf[i].cmt] += q->inf[i].rate;
}

void evq_reset(Evq *q)
{
    memset(q->A, 0, sizeof *q->A * (size_t)q->nc);
    q->ninf = 0;
    q->nq = 0;
    recompute_rates(q);
}

void evq_start(Evq *q, double id, double t)
{
    q->id = id;
    q->row = NULL;
    q->err[0] = '\0';
    q->t = t;
    q->seq = 0;
    q->next_id = 0;
    evq_reset(q);
}

/* Advance to t1 (nothing when t1 <= t). */
static int advance(Evq *q, double t1)
{
    if (!(t1 > q->t))
        return 0;
    if (q->h.advance(q->h.ctx, q->t, t1) != 0)
        return -1;
    q->t = t1;
    return 0;
}

/* ---- applying events ------------------------------------------------------- */

static int push(Evq *q, EvqEvent e)
{
    if (q->nq == q->capq) {
        int nc = q->capq ? 2 * q->capq : 16;
        EvqEvent *nq = mem_realloc(q->q, sizeof *nq * (size_t)nc);
        if (!nq)
            return evq_fail(q, "out of memory");
        q->q = nq;
        q->capq = nc;
    }
    e.seq = q->seq++;
    int i = q->nq++;
    while (i > 0 && (q->q[i - 1].t > e.t || (q->q[i - 1].t == e.t && q->q[i - 1].seq > e.seq))) {
        q->q[i] = q->q[i - 1];
        i--;
    }
    q->q[i] = e;
    return 0;
}

static int start_infusion(Evq *q, const EvqEvent *e)
{
    if (q->ninf == q->capinf) {
        int nc = q->capinf ? 2 * q->capinf : 8;
        Infusion *ni = mem_realloc(q->inf, sizeof *ni * (size_t)nc);
        if (!ni)
            return evq_fail(q, "out of memory");
        q->inf = ni;
        q->capinf = nc;
    }
    q->inf[q->ninf++] = (Infusion){ e->id, e->cmt, e->rate };
    recompute_rates(q);
    return 0;
}

static void stop_infusion(Evq *q, int id)
{
    for (int i = 0; i < q->ninf; i++)
        if (q->inf[i].id == id) {
            q->inf[i] = q->inf[--q->ninf];
            break;
        }
    recompute_rates(q);
}

static int apply(Evq *q, const EvqEvent *e)
{
    switch (e->kind) {
    case EVQ_BOLUS:
        q->A[e->cmt] += e->amount;
        break;
    case EVQ_INF_ON:
        if (start_infusion(q, e) != 0)
            return -1;
        break;
    case EVQ_INF_OFF:
        stop_infusion(q, e->id);
        break;
    }
    if (q->h.applied)
        q->h.applied(q->h.ctx, e);
    return 0;
}

/* The implied events before t (inclusive: at t too). */
static int run(Evq *q, double t, int inclusive)
{
    while (q->nq > 0 && (q->q[0].t < t || (inclusive && q->q[0].t == t))) {
        EvqEvent e = q->q[0];
        memmove(q->q, q->q + 1, sizeof *q->q * (size_t)(q->nq - 1));
        q->nq--;
        if (advance(q, e.t) != 0 || apply(q, &e) != 0)
            return -1;
    }
    return 0;
}

int evq_enter(Evq *q, const DataRow *r)
{
    q->row = r;
    return run(q, r->time, 0) != 0 || advance(q, r->time) != 0 ? -1 : 0;
}

int evq_leave(Evq *q, const DataRow *r)
{
    return run(q, r->time, 1);
}

/* ---- doses ------------------------------------------------------------------- */

/* Queue a dose given at time t; with now, a part that starts at the
 * current time is applied at once. */
static int schedule(Evq *q, const EvqDose *d, double t, int now)
{
    double t0 = t + d->lag;
    /* at the current time with now: applied before the record's
     * observation, unlike a queued event at the same time */
    int at_once = now && t0 == q->t;
    if (d->rate > 0) {
        EvqEvent on = { t0, 0, EVQ_INF_ON, d->cmt, 0, d->rate, ++q->next_id, d->tag };
        if ((at_once ? apply(q, &on) : push(q, on)) != 0)
            return -1;
        if (isfinite(d->dur))
            return push(q, (EvqEvent){ t0 + d->dur, 0, EVQ_INF_OFF, d->cmt, 0, 0, on.id, d->tag });
        return 0;
    }
    EvqEvent bolus = { t0, 0, EVQ_BOLUS, d->cmt, d->amount, 0, 0, d->tag };
    return at_once ? apply(q, &bolus) : push(q, bolus);
}

int evq_give(Evq *q, const EvqDose *d, const DataRow *r)
{
    if (schedule(q, d, r->time, 1) != 0)
        return -1;
    for (int k = 1; k <= r->addl; k++)
        if (schedule(q, d, r->time + k * r->ii, 0) != 0)
            return -1;
    return 0;
}

static double var_or(const double *vars, int v, double dflt)
{
    return v >= 0 ? vars[v] : dflt;
}

const char *evq_dose(const Prog *p, const double *vars, const DataRow *r, EvqDose *d)
{
    int c = r->cmt - 1;
    if (c < 0 || c >= p->ncmt)
        return "the dose's compartment does not exist";
    double f = var_or(vars, p->f_var[c], 1.0);
    d->cmt = c;
    d->lag = var_or(vars, p->alag_var[c], 0.0);
    d->amount = f * r->amt;
    d->rate = 0;
    d->dur = 0;
    d->tag = -1;
    if (!(f >= 0) || !(d->lag >= 0))
        return "bioavailability F and lag time ALAG must be >= 0";
    if (r->rate > 0) {
        d->rate = r->rate;
        d->dur = r->amt > 0 ? d->amount / d->rate : INFINITY;
    } else if (r->rate == -1) {
        if (p->r_var[c] < 0)
            return "RATE=-1 asks for a modelled rate: define R<n> in $PK";
        d->rate = vars[p->r_var[c]];
        if (!(d->rate > 0))
            return "the modelled rate R<n> must be > 0";
        d->dur = d->amount / d->rate;
    } else if (r->rate == -2) {
        if (p->d_var[c] < 0)
            return "RATE=-2 asks for a modelled duration: define D<n> in $PK";
        d->dur = vars[p->d_var[c]];
        if (!(d->dur > 0))
            return "the modelled duration D<n> must be > 0";
        d->rate = d->amount / d->dur;
    }
    return NULL;
}
