/*
 * npde.c -- NPDE and EPRED by simulation (see npde.h).
 *
 * Subjects are split over threads in a fixed assignment; a subject's
 * draws come from its own streams (ETAs on stream 0, EPSs on stream 1),
 * so which thread simulates it does not matter.
 */
#include "npde.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "par.h"
#include "la.h"
#include "rng.h"


typedef struct {
    const Prog *p;
    const Dataset *ds;
    const double *theta;
    const NpdeOpts *o;
    int K;
    uint64_t seed;
    double Lom[64 * 64], Lsig[64 * 64];   /* Cholesky factors of OMEGA, SIGMA */
    double *npde, *epred;
} Job;

typedef struct {
    Job *job;
    int thread, nthreads;
    SimWork *sim;
    SimOut out;
    double *eta, *eps;        /* ne; nrows x neps */
    double *ys;               /* K x nobs: the simulated observations */
    double *E, *V, *L, *ystar;
    int *rows;                /* the subject's observation rows */
    int *below;               /* per observation: simulations below it */
    int failed;               /* the subject that failed + 1, or 0 */
    char err[320];
} Worker;

/* The subject's K simulated observation vectors into w->ys. */
static int simulate(Worker *w, int s, int n)
{
    Job *j = w->job;
    const Prog *p = j->p;
    const DataSubject *su = &j->ds->subjects[s];
    int ne = p->m->omega.n, neps = p->m->sigma.n;
    Rng re, rs;
    rng_init(&re, j->seed, (uint32_t)s, 0);
    rng_init(&rs, j->seed, (uint32_t)s, 1);
    for (int k = 0; k < j->K; k++) {
        rng_mvnormal(&re, ne, j->Lom, w->eta);
        for (int r = 0; r < su->n; r++)
            rng_mvnormal(&rs, neps, j->Lsig, w->eps + (size_t)(su->first + r) * (size_t)neps);
        if (sim_subject(w->sim, j->ds, s, j->theta, w->eta, w->eps, &w->out) != 0) {
            snprintf(w->err, sizeof w->err, "NPDE simulation: %s", sim_error(w->sim));
            return -1;
        }
        for (int i = 0; i < n; i++)
            w->ys[(size_t)k * (size_t)n + (size_t)i] = w->out.y[w->rows[i]];
    }
    return 0;
}

/* x <- L^-1 x (forward substitution). */
static void lower_solve(int n, const double *L, double *x)
{
    for (int i = 0; i < n; i++) {
        double v = x[i];
        for (int k = 0; k < i; k++)
            v -= L[i * n + k] * x[k];
        x[i] = v / L[i * n + i];
    }
}

static int subject(Worker *w, int s)
{
    Job *j = w->job;
    const DataSubject *su = &j->ds->subjects[s];
    int n = 0, K = j->K;
    for (int r = 0; r < su->n; r++)
        if (data_is_obs(&j->ds->rows[su->first + r]))
            w->rows[n++] = su->first + r;
    if (n == 0)
        return 0;
    if (simulate(w, s, n) != 0)
        return -1;
    double *E = w->E, *V = w->V;
    memset(E, 0, sizeof *E * (size_t)n);
    memset(V, 0, sizeof *V * (size_t)n * (size_t)n);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < n; i++)
            E[i] += w->ys[(size_t)k * n + i] / K;
    for (int k = 0; k < K; k++) {
        const double *y = w->ys + (size_t)k * n;
        for (int a = 0; a < n; a++)
            for (int b = 0; b <= a; b++)
                V[a * n + b] += (y[a] - E[a]) * (y[b] - E[b]) / (K - 1);
    }
    if (la_cholesky(n, V, w->L) != 0) {
        snprintf(w->err, sizeof w->err,
                 "NPDE: subject ID %g: the simulated observations' covariance is singular (%d "
                 "observations, %d simulations; raise ESAMPLE, or check for observations the "
                 "model predicts without variability)",
                 su->id, n, K);
        return -1;
    }
    double *ystar = w->ystar;
    for (int i = 0; i < n; i++)
        ystar[i] = j->ds->rows[w->rows[i]].dv - E[i];
    lower_solve(n, w->L, ystar);
    /* ys is decorrelated in place */
    int *below = w->below;
    memset(below, 0, sizeof *below * (size_t)n);
    for (int k = 0; k < K; k++) {
        double *y = w->ys + (size_t)k * n;
        for (int i = 0; i < n; i++)
            y[i] -= E[i];
        lower_solve(n, w->L, y);
        for (int i = 0; i < n; i++)
            below[i] += y[i] < ystar[i];
    }
    for (int i = 0; i < n; i++) {
        double pde = (double)below[i] / K;
        if (below[i] == 0)
            pde = 0.5 / K;
        else if (below[i] == K)
            pde = 1 - 0.5 / K;
        if (j->npde)
            j->npde[w->rows[i]] = rng_qnorm(pde);
        if (j->epred)
            j->epred[w->rows[i]] = E[i];
    }
    return 0;
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    for (int s = w->thread; s < w->job->ds->nsubjects && !w->failed; s += w->nthreads)
        if (subject(w, s) != 0)
            w->failed = s + 1;
    return NULL;
}

static int worker_init(Worker *w, Job *j, int maxobs)
{
    const Prog *p = j->p;
    size_t n = (size_t)maxobs + 1;
    memset(w, 0, sizeof *w);
    w->job = j;
    w->sim = sim_work_new(p, &j->o->sim);
    w->eta = mem_calloc((size_t)p->m->omega.n + 1, sizeof(double));
    w->eps = mem_calloc((size_t)j->ds->nrows * ((size_t)p->m->sigma.n + 1), sizeof(double));
    w->ys = mem_calloc((size_t)j->K * n, sizeof(double));
    w->E = mem_calloc(n, sizeof(double));
    w->V = mem_calloc(n * n, sizeof(double));
    w->L = mem_calloc(n * n, sizeof(double));
    w->ystar = mem_calloc(n, sizeof(double));
    w->rows = mem_calloc(n, sizeof(int));
    w->below = mem_calloc(n, sizeof(int));
    return w->sim && sim_out_alloc(&w->out, p, j->ds) == 0 && w->eta && w->eps && w->ys &&
                   w->E && w->V && w->L && w->ystar && w->rows && w->below
               ? 0
               : -1;
}

static void worker_free(Worker *w)
{
    sim_work_free(&w->sim);
    sim_out_free(&w->out);
    double *arr[] = { w->eta, w->eps, w->ys, w->E, w->V, w->L, w->ystar };
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
        mem_free(arr[i]);
    mem_free(w->rows);
    mem_free(w->below);
}

int npde_compute(const Prog *p, const Dataset *ds, const double *theta, const double *omega,
                 const double *sigma, const NpdeOpts *o, double *npde, double *epred, Diag *d)
{
    const Model *m = p->m;
    Job j;
    memset(&j, 0, sizeof j);
    j.p = p, j.ds = ds, j.theta = theta, j.o = o, j.npde = npde, j.epred = epred;
    j.K = o->nsamples > 0 ? o->nsamples : 1000;
    j.seed = (uint64_t)(o->seed >= 0 ? o->seed : 12345);
    if (m->omega.n > 64 || m->sigma.n > 64 || la_cholesky_psd(m->omega.n, omega, j.Lom) != 0 ||
        la_cholesky_psd(m->sigma.n, sigma, j.Lsig) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL,
                    "NPDE: OMEGA or SIGMA is not positive semi-definite");
        return -1;
    }
    for (int i = 0; i < ds->nrows; i++) {
        if (npde)
            npde[i] = NAN;
        if (epred)
            epred[i] = NAN;
    }
    int maxobs = 0;
    for (int s = 0; s < ds->nsubjects; s++)
        if (ds->subjects[s].n > maxobs)
            maxobs = ds->subjects[s].n;
    int nt = o->sim.nthreads > 0 ? o->sim.nthreads : 1;
    nt = nt > PAR_MAX ? PAR_MAX : nt > ds->nsubjects ? (ds->nsubjects ? ds->nsubjects : 1)
                                                          : nt;
    Worker *w = mem_calloc((size_t)nt, sizeof *w);
    int rc = w ? 0 : -1;
    for (int t = 0; rc == 0 && t < nt; t++) {
        rc = worker_init(&w[t], &j, maxobs);
        w[t].thread = t, w[t].nthreads = nt;
    }
    if (rc == 0) {
        par_run(nt, worker_main, w, sizeof w[0]);
        /* the failure of the lowest subject, whatever the timing */
        int worst = -1;
        for (int t = 0; t < nt; t++)
            if (w[t].failed && (worst < 0 || w[t].failed < w[worst].failed))
                worst = t;
        if (worst >= 0) {
            diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "%s", w[worst].err);
            rc = -1;
        }
    } else {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "NPDE: out of memory");
    }
    for (int t = 0; w && t < nt; t++)
        worker_free(&w[t]);
    mem_free(w);
    return rc;
}
