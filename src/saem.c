/*
 * saem.c -- SAEM estimation and the IMP objective (see saem.h for the
 * maths).
 *
 * The state of a run is a few Markov chains per subject (their ETAs, the
 * data term there, their proposal scales) and the population parameters.
 * Each iteration is parallel passes over the subjects with serial steps
 * between them:
 *
 *   E-step pass   every chain moves (values only, sim.h), then the score
 *                 and information of its complete-data likelihood at the
 *                 new state come from one sensitivity run (sens.h);
 *   step in x     the scores and informations are summed in subject
 *                 order, the step for the THETAs and SIGMA is solved for
 *                 and capped;
 *   trial pass    every chain's data term at the trial parameters, moved
 *                 to eta - B dx; the step is halved until it is
 *                 acceptable, and the trial's data terms become the
 *                 chains' (so the next E-step needs no re-evaluation);
 *   Omega         the centred SA step, then the non-centred one with its
 *                 own trial passes (eta = L_try L^-1 eta).
 *
 * A subject's numbers depend only on the shared parameters and its own
 * random streams, so the thread count changes nothing.
 *
 * The model's values in the E-step: sim_subject() gives the amounts and
 * the $PK variables after each record; Y = F and NONMEM's H_k = dY/dEPS_k
 * at EPS = 0 then come from the res_d tape (prog.h) at that record, so V
 * = H' Sigma H is exactly what FOCEI uses, for any residual model.  A
 * sensitivity run would cost far more (20 times on the exact linear path,
 * 8 on CVODES, for a one-compartment oral model): sens_subject2() always
 * carries dA/dpi, whatever outputs are asked for.
 */
#include "saem.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "par.h"
#include "la.h"
#include "opt.h"
#include "rng.h"
#include "sens.h"
#include "tape.h"

#define MAXE 64            /* ETAs and EPSs, as est.c */
#define LOG2PI 1.8378770664093454836
#define PI 3.14159265358979323846

/* Monolix's kernels and their repetitions per iteration */
enum { NK1 = 2, NK2 = 2, NK3 = 2 };
#define TARGET_ACC 0.35
#define NWARM 20           /* E-steps at the initial estimates before the exploration */
#define ANNEAL 0.95        /* at most this shrinkage per iteration, early on */
#define MIX_T 0.1          /* the t_4 share of the IMP proposal */
#define T_DF 4.0
#define NREFINE 2          /* IMP rounds that only improve the proposal */
#define IMP_WARM 40        /* saem_imp_objective's chain: adapting iterations, */
#define IMP_KEEP 60        /* then iterations whose states give the proposal */
#define MAX_ITER 1000000

/* Random streams of a subject's unit: base + 4 (L iteration + chain) +
 * kernel for the chains (L chains per subject), STREAM_IMP + round for
 * IMP, so no two uses share a stream. */
#define STREAM_SAEM 0u
#define STREAM_MCMC 0x40000000u
#define STREAM_IMP 0x7F000000u

typedef enum { TASK_INIT, TASK_ESTEP, TASK_TRY, TASK_IMP } Task;

typedef struct Saem Saem;

/* Sums over draws for the control-variate regression (see imp_estimate). */
#define MAXCV 21
#define NJACK 20
typedef struct {
    double n, sw, sw2, Sh[MAXCV], Shw[MAXCV], Shh[MAXCV * MAXCV];
} CvSums;

/* One of a subject's chains and what the passes leave for the serial steps. */
typedef struct {
    double *eta, *eta_try;    /* ne: the state, and the state at the trial step */
    double D, D_try;          /* the data term at each */
    int ok_try;
    double s2, *s3;           /* proposal scales: kernel 2; kernel 3 per ETA */
    double *m1, *m2;          /* this iteration's states: sums of eta, eta eta' */
    int nst;
    double *g, *I, *B;        /* nx; nx x nx; ne x nx (see saem.h: psi) */
    double *gd, *Hd;          /* ne; ne x ne: the data term's score and information
                                 in eta, for Omega's non-centred step */
    double *cm1, *cm2;        /* sums over the collected states, for IMP */
    double cn;
    double ofv, se2;          /* IMP: the subject's OFV and its MC variance */
    double *mu, *cov;         /* ne; ne x ne: IMP's proposal, then mu its mean */
} Chain;

typedef struct {
    Saem *e;
    int thread;
    SimWork *sim;
    SimOut so;
    SensWork *sens;
    SensOut out;
    double *tw, *tout;        /* the res_d tape's work and outputs */
    double *dv;               /* np: dV/dpi of a record */
    double *prop, *z, *ae, *be, *ge, *Hee, *L, *ev;   /* ne, ne x ne */
    double *ax, *bx, *Hex, *tmp;                      /* nx, ne x nx */
    double *samp, *lw, *u;    /* IMP: the draws (isample x ne), their weights,
                                 and (isample x (ne + 1)) L^-1 (eta - mu) and
                                 q_N / q for the control variates */
    CvSums *cv;               /* NJACK + 1 */
    long evals;
    int failed, fail_subject;
    char err[320];            /* why a subject failed fatally */
    char last[320];           /* why the last evaluation was refused */
} Worker;

struct Saem {
    const Prog *p;
    const Dataset *ds;
    const EstOpts *o;
    const Model *m;
    int nt, ne, neps, np, nsub, nobs, nthreads;
    int nch;                  /* chains per subject */
    int nxt, nx;              /* free THETAs; all of x (with SIGMA's factors) */
    int nvars, ncmt, wr;      /* res_d's row width */
    uint64_t seed;
    int isample;
    double t_const;           /* the t_4 density's constant (lgamma is not
                                 thread-safe: it sets signgam) */
    double *theta, *omega, *sigma;
    double *omega_L, *omega_inv;
    double logdet_omega;
    double *theta_try, *sigma_try;
    double *sigL;             /* Cholesky factors of the free SIGMA blocks */
    int *xt;                  /* nxt: the THETA of each free one */
    double *dtdu;             /* nxt: d theta / d u at the current x */
    double *x, *xtry, *dx, *dstep, *g, *I, *Ibar, *Lx, *S, *stat, *zeros;
    /* Omega's non-centred step: the free entries (row, column) of its
     * Cholesky factor, and the trial's map eta -> L_try L^-1 eta */
    int nxo, *oa, *ob;
    double *go, *Io, *Lo, *dxo, *Ltry, *Mo;
    int try_omega;
    Chain *ch;
    double *blk;              /* the chains' arrays */
    /* the pass: what it does, and its iteration's stream and switches */
    Task task;
    uint32_t stream;
    int adapt, score, collect, freeze_b;
    Worker w[PAR_MAX];
    char err[400];
};

/* ---- parameters ---------------------------------------------------------------- */

/* Omega's factor, inverse and log-determinant; -1 when not positive definite. */
static int omega_factor(Saem *e)
{
    int ne = e->ne;
    if (ne == 0) {
        e->logdet_omega = 0;
        return 0;
    }
    if (la_cholesky(ne, e->omega, e->omega_L) != 0)
        return -1;
    e->logdet_omega = la_chol_logdet(ne, e->omega_L);
    for (int i = 0; i < ne; i++) {
        double col[MAXE];
        memset(col, 0, sizeof col);
        col[i] = 1;
        la_chol_solve(ne, e->omega_L, col);
        for (int j = 0; j < ne; j++)
            e->omega_inv[j * ne + i] = col[j];
    }
    return 0;
}

static double quad_omega(const Saem *e, const double *eta)
{
    double q = 0;
    for (int i = 0; i < e->ne; i++) {
        double s = 0;
        for (int j = 0; j < e->ne; j++)
            s += e->omega_inv[i * e->ne + j] * eta[j];
        q += eta[i] * s;
    }
    return q;
}

/* x from the current THETAs and SIGMA, and sigL; -1 when a free SIGMA
 * block is not positive definite or a THETA is not inside its bounds. */
static int pack_x(Saem *e)
{
    int n = 0, dim = e->neps;
    for (int k = 0; k < e->nxt; k++) {
        const ModelTheta *t = &e->m->thetas[e->xt[k]];
        e->x[n] = opt_to_internal(e->theta[e->xt[k]], t->lo, t->hi);
        (void)opt_to_external(e->x[n], t->lo, t->hi, &e->dtdu[k]);
        if (!isfinite(e->x[n++]))
            return -1;
    }
    const ModelRandom *r = &e->m->sigma;
    memset(e->sigL, 0, sizeof *e->sigL * (size_t)(dim * dim));
    for (int b = 0; b < r->nblocks; b++) {
        if (r->block_fix[b])
            continue;
        int s0 = r->block_start[b], m = r->block_size[b];
        double A[MAXE * MAXE], L[MAXE * MAXE];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                A[i * m + j] = e->sigma[(s0 + i) * dim + s0 + j];
        if (la_cholesky(m, A, L) != 0)
            return -1;
        for (int i = 0; i < m; i++)
            for (int j = 0; j <= i; j++) {
                e->sigL[(s0 + i) * dim + s0 + j] = L[i * m + j];
                e->x[n++] = i == j ? log(L[i * m + i]) : L[i * m + j];
            }
    }
    return 0;
}

/* THETAs and SIGMA at x (the fixed ones as they are now). */
static void unpack_x(const Saem *e, const double *x, double *theta, double *sigma)
{
    int n = 0, dim = e->neps;
    memcpy(theta, e->theta, sizeof *theta * (size_t)e->nt);
    memcpy(sigma, e->sigma, sizeof *sigma * (size_t)(dim * dim));
    for (int k = 0; k < e->nxt; k++) {
        const ModelTheta *t = &e->m->thetas[e->xt[k]];
        theta[e->xt[k]] = opt_to_external(x[n++], t->lo, t->hi, NULL);
    }
    const ModelRandom *r = &e->m->sigma;
    for (int b = 0; b < r->nblocks; b++) {
        if (r->block_fix[b])
            continue;
        int s0 = r->block_start[b], m = r->block_size[b];
        double L[MAXE * MAXE];
        memset(L, 0, sizeof(double) * (size_t)(m * m));
        for (int i = 0; i < m; i++)
            for (int j = 0; j <= i; j++) {
                double v = x[n++];
                L[i * m + j] = i == j ? exp(v) : v;
            }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int k = 0; k <= (i < j ? i : j); k++)
                    s += L[i * m + k] * L[j * m + k];
                sigma[(s0 + i) * dim + s0 + j] = s;
            }
    }
}

/* dV/dx for the SIGMA part of x at a record with weights h: V = sum over
 * blocks |L' h|^2, so dV/dL_ij = 2 (L'h)_j h_i, times L_ii on the log
 * diagonal. */
static void sigma_dv(const Saem *e, const double *h, double *out)
{
    int n = 0, dim = e->neps;
    const ModelRandom *r = &e->m->sigma;
    for (int b = 0; b < r->nblocks; b++) {
        if (r->block_fix[b])
            continue;
        int s0 = r->block_start[b], m = r->block_size[b];
        for (int i = 0; i < m; i++)
            for (int j = 0; j <= i; j++) {
                double wj = 0;
                for (int a = j; a < m; a++)
                    wj += e->sigL[(s0 + a) * dim + s0 + j] * h[s0 + a];
                double d = 2 * wj * h[s0 + i];
                out[n++] = i == j ? d * e->sigL[(s0 + i) * dim + s0 + i] : d;
            }
    }
}

/* ---- one subject: the data term --------------------------------------------------- */

/* D = sum_j (y_j - F_j)^2 / V_j + log V_j at theta, sigma, eta, from the
 * simulator's values and the res_d tape.  0, or 1 (with w->last) when the
 * model cannot be evaluated there. */
static int data_term(Worker *w, int s, const double *theta, const double *sigma,
                     const double *eta, double *D)
{
    Saem *e = w->e;
    const DataSubject *su = &e->ds->subjects[s];
    w->evals++;
    if (sim_subject(w->sim, e->ds, s, theta, eta, NULL, &w->so) != 0) {
        snprintf(w->last, sizeof w->last, "%s", sim_error(w->sim));
        return 1;
    }
    GInputs in;
    in.v[GIN_THETA] = theta;
    in.v[GIN_ETA] = eta ? eta : e->zeros;
    in.v[GIN_EPS] = e->zeros;
    double sum = 0;
    for (int k = 0; k < su->n; k++) {
        int ri = su->first + k;
        const DataRow *r = &e->ds->rows[ri];
        if (!data_is_obs(r))
            continue;
        in.v[GIN_PARAM] = w->so.vars + (size_t)ri * (size_t)e->nvars;
        in.v[GIN_STATE] = w->so.amt + (size_t)ri * (size_t)e->ncmt;
        in.v[GIN_DATA] = r->v;
        in.v[GIN_TIME] = &r->time;
        tape_eval(e->p->res_d, &in, w->tw, w->tout);
        double f = w->tout[0], h[MAXE];
        for (int q = 0; q < e->neps; q++)
            h[q] = w->tout[(size_t)(1 + q) * (size_t)e->wr];
        double V = sens_resvar(e->neps, 0, sigma, h, NULL, NULL);
        if (!(V > 0) || !isfinite(f) || !isfinite(V)) {
            snprintf(w->last, sizeof w->last, "subject ID %g, TIME %g: the prediction is %g and "
                     "the residual variance %g", su->id, r->time, f, V);
            return 1;
        }
        double res = r->dv - f;
        sum += res * res / V + log(V);
    }
    *D = sum;
    if (!isfinite(sum)) {
        snprintf(w->last, sizeof w->last, "subject ID %g: the data term is not finite", su->id);
        return 1;
    }
    return 0;
}

/* ---- one subject: the E-step --------------------------------------------------------- */

static void record_state(const Saem *e, Chain *c)
{
    int ne = e->ne;
    for (int i = 0; i < ne; i++) {
        c->m1[i] += c->eta[i];
        for (int j = 0; j < ne; j++)
            c->m2[i * ne + j] += c->eta[i] * c->eta[j];
    }
    c->nst++;
    if (!e->collect)
        return;
    for (int i = 0; i < ne; i++) {
        c->cm1[i] += c->eta[i];
        for (int j = 0; j < ne; j++)
            c->cm2[i * ne + j] += c->eta[i] * c->eta[j];
    }
    c->cn++;
}

/* One Metropolis-Hastings step to w->prop: the target is exp(-(D + Q)/2),
 * and with prior proposals (kernel 1) the prior cancels.  Returns 1 when
 * accepted. */
static int mh_step(Worker *w, int s, Chain *c, double *Q, double u, int prior_proposal)
{
    Saem *e = w->e;
    double Dp;
    if (data_term(w, s, e->theta, e->sigma, w->prop, &Dp) != 0)
        return 0;
    double Qp = quad_omega(e, w->prop);
    double delta = prior_proposal ? Dp - c->D : (Dp + Qp) - (c->D + *Q);
    if (!(log(u) < -0.5 * delta))
        return 0;
    memcpy(c->eta, w->prop, sizeof *c->eta * (size_t)e->ne);
    c->D = Dp;
    *Q = Qp;
    return 1;
}

/* Move a scale toward the target acceptance (Monolix's rule, on a log
 * scale so it stays positive). */
static double adapt_scale(double s, double rate)
{
    s *= exp(0.4 * (rate - TARGET_ACC));
    return s < 1e-3 ? 1e-3 : s > 10 ? 10 : s;
}

static void mcmc(Worker *w, int s, int l, Chain *c)
{
    Saem *e = w->e;
    int ne = e->ne;
    c->nst = 0;
    memset(c->m1, 0, sizeof *c->m1 * (size_t)ne);
    memset(c->m2, 0, sizeof *c->m2 * (size_t)(ne * ne));
    if (ne == 0)
        return;
    double Q = quad_omega(e, c->eta);
    int acc2 = 0, acc3[MAXE] = { 0 };
    Rng r;
    /* 1: independent draws from the prior */
    uint32_t st = e->stream + 4u * (uint32_t)l;
    rng_init(&r, e->seed, (uint32_t)s, st);
    for (int k = 0; k < NK1; k++) {
        rng_mvnormal(&r, ne, e->omega_L, w->prop);
        mh_step(w, s, c, &Q, rng_uniform(&r), 1);
        record_state(e, c);
    }
    /* 2: a random walk on all the ETAs, shaped like Omega */
    rng_init(&r, e->seed, (uint32_t)s, st + 1);
    for (int k = 0; k < NK2; k++) {
        rng_mvnormal(&r, ne, e->omega_L, w->z);
        for (int i = 0; i < ne; i++)
            w->prop[i] = c->eta[i] + c->s2 * w->z[i];
        acc2 += mh_step(w, s, c, &Q, rng_uniform(&r), 0);
        record_state(e, c);
    }
    /* 3: one ETA at a time */
    rng_init(&r, e->seed, (uint32_t)s, st + 2);
    for (int k = 0; k < NK3; k++) {
        for (int j = 0; j < ne; j++) {
            memcpy(w->prop, c->eta, sizeof *w->prop * (size_t)ne);
            w->prop[j] += c->s3[j] * sqrt(e->omega[j * ne + j]) * rng_normal(&r);
            acc3[j] += mh_step(w, s, c, &Q, rng_uniform(&r), 0);
        }
        record_state(e, c);
    }
    if (e->adapt) {
        c->s2 = adapt_scale(c->s2, (double)acc2 / NK2);
        for (int j = 0; j < ne; j++)
            c->s3[j] = adapt_scale(c->s3[j], (double)acc3[j] / NK3);
    }
}

/* A x = b for a symmetric positive semi-definite A (n x n), with a ridge
 * when A is singular; rows whose diagonal is 0 get x = 0.  L has 2 n^2
 * doubles of scratch, and holds the factor after.  -1 when nothing
 * works. */
static int spd_solve(int n, const double *A, const double *b, double *x, double *L)
{
    double *M = L + (size_t)n * (size_t)n, dmax = 0;
    for (int i = 0; i < n; i++)
        dmax = fmax(dmax, A[i * n + i]);
    if (!(dmax > 0) || !isfinite(dmax))
        return -1;
    for (double ridge = 0; ridge < dmax; ridge = ridge > 0 ? ridge * 100 : 1e-12 * dmax) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int dead = !(A[i * n + i] > 0) || !(A[j * n + j] > 0);
                M[i * n + j] = dead ? (i == j) : A[i * n + j] + (i == j ? ridge : 0);
            }
        if (la_cholesky(n, M, L) != 0)
            continue;
        for (int i = 0; i < n; i++)
            x[i] = A[i * n + i] > 0 ? b[i] : 0;
        la_chol_solve(n, L, x);
        return 0;
    }
    return -1;
}

/* The score and expected information of the subject's complete-data
 * log-likelihood in x at fixed psi = eta + B x (see saem.h), at the
 * chain's state; B itself too unless frozen.  With a = df/dx, b =
 * dV/dx (the same for the ETAs: ae, be) and l = -(r^2/V + log V)/2 per
 * observation:
 *   g_x = sum r a/V + (r^2/V^2 - 1/V) b/2,   g_e likewise - Omega^-1 eta
 *   H_xx = sum a a'/V + b b'/(2V^2), H_ex, H_ee (+ Omega^-1) likewise
 *   g = g_x - B' g_e,   I = H_xx - B' H_ex - H_ex' B + B' H_ee B. */
static int subject_score(Worker *w, int s, Chain *c)
{
    Saem *e = w->e;
    int ne = e->ne, nx = e->nx, nt = e->nt, np = e->np, neps = e->neps, nxt = e->nxt;
    const DataSubject *su = &e->ds->subjects[s];
    w->evals++;
    if (sens_subject2(w->sens, e->ds, s, e->theta, c->eta, &w->out) != 0) {
        snprintf(w->err, sizeof w->err, "the sensitivities of subject ID %g cannot be computed: %.240s",
                 su->id, sens_error(w->sens));
        return -1;
    }
    double *g = c->g, *I = c->I;
    memset(g, 0, sizeof *g * (size_t)nx);
    memset(I, 0, sizeof *I * (size_t)(nx * nx));
    memset(w->ge, 0, sizeof *w->ge * (size_t)ne);
    memset(w->Hee, 0, sizeof *w->Hee * (size_t)(ne * ne));
    memset(w->Hex, 0, sizeof *w->Hex * (size_t)(ne * nx));
    for (int k = 0; k < su->n; k++) {
        const DataRow *row = &e->ds->rows[su->first + k];
        if (!data_is_obs(row))
            continue;
        const double *h = w->out.h + (size_t)k * (size_t)neps;
        double V = sens_resvar(neps, np, e->sigma, h, w->out.dh + (size_t)k * (size_t)(neps * np),
                               w->dv);
        double f = w->out.y[k], res = row->dv - f;
        if (!(V > 0) || !isfinite(f)) {
            snprintf(w->err, sizeof w->err, "subject ID %g, TIME %g: the residual variance is %g",
                     su->id, row->time, V);
            return -1;
        }
        const double *dy = w->out.dy + (size_t)k * (size_t)np;
        for (int j = 0; j < nxt; j++) {
            w->ax[j] = dy[e->xt[j]] * e->dtdu[j];
            w->bx[j] = w->dv[e->xt[j]] * e->dtdu[j];
        }
        for (int j = nxt; j < nx; j++)
            w->ax[j] = 0;
        sigma_dv(e, h, w->bx + nxt);
        for (int i = 0; i < ne; i++) {
            w->ae[i] = dy[nt + i];
            w->be[i] = w->dv[nt + i];
        }
        double c1 = res / V, c2 = 0.5 * (res * res / (V * V) - 1 / V);
        double wa = 1 / V, wb = 1 / (2 * V * V);
        for (int i = 0; i < nx; i++) {
            g[i] += c1 * w->ax[i] + c2 * w->bx[i];
            for (int j = 0; j < nx; j++)
                I[i * nx + j] += wa * w->ax[i] * w->ax[j] + wb * w->bx[i] * w->bx[j];
        }
        for (int i = 0; i < ne; i++) {
            w->ge[i] += c1 * w->ae[i] + c2 * w->be[i];
            for (int j = 0; j < ne; j++)
                w->Hee[i * ne + j] += wa * w->ae[i] * w->ae[j] + wb * w->be[i] * w->be[j];
            for (int j = 0; j < nx; j++)
                w->Hex[i * nx + j] += wa * w->ae[i] * w->ax[j] + wb * w->be[i] * w->bx[j];
        }
    }
    memcpy(c->gd, w->ge, sizeof *c->gd * (size_t)ne);
    memcpy(c->Hd, w->Hee, sizeof *c->Hd * (size_t)(ne * ne));
    for (int i = 0; i < ne; i++)
        for (int j = 0; j < ne; j++) {
            w->ge[i] -= e->omega_inv[i * ne + j] * c->eta[j];
            w->Hee[i * ne + j] += e->omega_inv[i * ne + j];
        }
    if (ne == 0 || nx == 0)
        return 0;
    if (!e->freeze_b) {
        if (la_cholesky(ne, w->Hee, w->L) != 0) {
            snprintf(w->err, sizeof w->err, "subject ID %g: the information of the ETAs is not "
                     "positive definite", su->id);
            return -1;
        }
        for (int j = 0; j < nx; j++) {
            for (int i = 0; i < ne; i++)
                w->ev[i] = w->Hex[i * nx + j];
            la_chol_solve(ne, w->L, w->ev);
            for (int i = 0; i < ne; i++)
                c->B[i * nx + j] = w->ev[i];
        }
    }
    const double *B = c->B;
    /* tmp = H_ee B (ne x nx) */
    for (int i = 0; i < ne; i++)
        for (int j = 0; j < nx; j++) {
            double v = 0;
            for (int k = 0; k < ne; k++)
                v += w->Hee[i * ne + k] * B[k * nx + j];
            w->tmp[i * nx + j] = v;
        }
    for (int a = 0; a < nx; a++) {
        for (int i = 0; i < ne; i++)
            g[a] -= B[i * nx + a] * w->ge[i];
        for (int b = 0; b < nx; b++) {
            double v = 0;
            for (int i = 0; i < ne; i++)
                v += -B[i * nx + a] * w->Hex[i * nx + b] - w->Hex[i * nx + a] * B[i * nx + b] +
                     B[i * nx + a] * w->tmp[i * nx + b];
            I[a * nx + b] += v;
        }
    }
    return 0;
}

/* ---- one subject: the importance sampler -------------------------------------------- */

/* The proposal's start: the collected states' mean and covariance, or the
 * inverse expected Hessian at the mean when they are degenerate, or
 * Omega. */
static void imp_start(Worker *w, int s, Chain *c)
{
    Saem *e = w->e;
    int ne = e->ne;
    double n = 0;
    memset(c->mu, 0, sizeof *c->mu * (size_t)ne);
    memset(c->cov, 0, sizeof *c->cov * (size_t)(ne * ne));
    for (int l = 0; l < e->nch; l++) {   /* the subject's chains, pooled */
        n += c[l].cn;
        for (int i = 0; i < ne; i++) {
            c->mu[i] += c[l].cm1[i];
            for (int j = 0; j < ne; j++)
                c->cov[i * ne + j] += c[l].cm2[i * ne + j];
        }
    }
    if (n > 0)
        for (int i = 0; i < ne; i++)
            c->mu[i] /= n;
    else
        memcpy(c->mu, c->eta, sizeof *c->mu * (size_t)ne);
    if (n >= 2 * ne + 2) {
        for (int i = 0; i < ne; i++)
            for (int j = 0; j < ne; j++)
                c->cov[i * ne + j] = c->cov[i * ne + j] / n - c->mu[i] * c->mu[j];
        if (la_cholesky(ne, c->cov, w->L) == 0)
            return;
    }
    if (sens_subject2(w->sens, e->ds, s, e->theta, c->mu, &w->out) == 0) {
        const DataSubject *su = &e->ds->subjects[s];
        memcpy(w->Hee, e->omega_inv, sizeof *w->Hee * (size_t)(ne * ne));
        for (int k = 0; k < su->n; k++) {
            if (!data_is_obs(&e->ds->rows[su->first + k]))
                continue;
            double V = sens_resvar(e->neps, e->np, e->sigma, w->out.h + (size_t)k * (size_t)e->neps,
                                   w->out.dh + (size_t)k * (size_t)(e->neps * e->np), w->dv);
            const double *a = w->out.dy + (size_t)k * (size_t)e->np + e->nt, *b = w->dv + e->nt;
            for (int i = 0; i < ne; i++)
                for (int j = 0; j < ne; j++)
                    w->Hee[i * ne + j] += a[i] * a[j] / V + b[i] * b[j] / (2 * V * V);
        }
        double *inv = w->samp;   /* ne*ne + ne of scratch, before the draws */
        if (la_spd_inverse(ne, w->Hee, inv, w->L) == 0) {
            memcpy(c->cov, inv, sizeof *c->cov * (size_t)(ne * ne));
            return;
        }
    }
    memcpy(c->cov, e->omega, sizeof *c->cov * (size_t)(ne * ne));
}

/* log q(eta) of the mixture, with d2 the squared Mahalanobis distance
 * from mu in the proposal's covariance (log-determinant ld). */
static double log_mix(const Saem *e, double d2, double ld)
{
    int ne = e->ne;
    double ln = -0.5 * (ne * LOG2PI + ld + d2);
    double lt = e->t_const - 0.5 * ld - 0.5 * (T_DF + ne) * log1p(d2 / T_DF);
    double a = log(1 - MIX_T) + ln, b = log(MIX_T) + lt, mx = fmax(a, b);
    return mx + log(exp(a - mx) + exp(b - mx));
}

/* One round of K draws from the proposal (c->mu, c->cov): the log
 * weights in w->lw, the draws in w->samp.  The largest log weight, or
 * -INFINITY when no draw could be evaluated. */
static double imp_draws(Worker *w, int s, Chain *c, int K, uint32_t stream)
{
    Saem *e = w->e;
    int ne = e->ne;
    if (la_cholesky(ne, c->cov, w->L) != 0)
        return NAN;
    double ld = la_chol_logdet(ne, w->L), mx = -INFINITY;
    Rng r;
    rng_init(&r, e->seed, (uint32_t)s, stream);
    for (int k = 0; k < K; k++) {
        double scale = 1, d2 = 0, *eta = w->samp + (size_t)k * (size_t)ne, D;
        if (rng_uniform(&r) < MIX_T) {
            double u1 = rng_uniform(&r), u2 = rng_uniform(&r);
            scale = sqrt(T_DF / (-2 * log(u1 * u2)));   /* chi^2_4 = -2 log(u1 u2) */
        }
        for (int i = 0; i < ne; i++) {
            w->z[i] = scale * rng_normal(&r);
            d2 += w->z[i] * w->z[i];
        }
        for (int i = 0; i < ne; i++) {
            double v = c->mu[i];
            for (int j = 0; j <= i; j++)
                v += w->L[i * ne + j] * w->z[j];
            eta[i] = v;
        }
        double lq = log_mix(e, d2, ld), *u = w->u + (size_t)k * (size_t)(ne + 1);
        memcpy(u, w->z, sizeof *u * (size_t)ne);
        u[ne] = exp(-0.5 * (ne * LOG2PI + ld + d2) - lq);   /* q_N / q */
        w->lw[k] = -INFINITY;
        if (data_term(w, s, e->theta, e->sigma, eta, &D) != 0)
            continue;
        double lw = -0.5 * (D + ne * LOG2PI + e->logdet_omega + quad_omega(e, eta)) - lq;
        if (isfinite(lw)) {
            w->lw[k] = lw;
            mx = fmax(mx, lw);
        }
    }
    return mx;
}

/* The regression estimate of mean(w) from sums over n draws:
 * mean(w) - beta' mean(h), beta by least squares on the centred sums.
 * NAN when the regression cannot be solved. */
static double cv_mean(int p, const CvSums *t)
{
    double C[MAXCV * MAXCV] = { 0 }, c[MAXCV] = { 0 }, beta[MAXCV], L[2 * MAXCV * MAXCV], adj = 0;
    for (int a = 0; a < p; a++) {
        c[a] = t->Shw[a] - t->Sh[a] * t->sw / t->n;
        for (int b = 0; b <= a; b++)
            C[a * p + b] = C[b * p + a] = t->Shh[a * p + b] - t->Sh[a] * t->Sh[b] / t->n;
    }
    if (spd_solve(p, C, c, beta, L) != 0)
        return NAN;
    for (int a = 0; a < p; a++)
        adj += beta[a] * t->Sh[a] / t->n;
    return t->sw / t->n - adj;
}

/* The subject's OFV and its MC variance from the final round's weights
 * w_k (scaled by e^-mx, in w->lw), with control variates (Owen and Zhou
 * 2000): with u = L^-1 (eta - mu) and r = q_N / q (at most 1/0.9), h =
 * (r - 1, u r, (u u' - I) r) has mean 0 under q, so the regression
 * estimate mean(w) - beta' mean(h) is unbiased to O(1/K) and removes what
 * in w is linear or quadratic in u: nearly all of it when the
 * conditional distribution is close to Gaussian.  Only the diagonal of u
 * u' above 5 ETAs.  Its standard error is the delete-a-group jackknife's
 * (NJACK groups), which sees the noise of beta too; without control
 * variates, the delta method's 4 var(w) / (K mean(w)^2). */
static void imp_estimate(Worker *w, Chain *c, int K, double mx)
{
    int ne = w->e->ne, full = ne <= 5;
    int p = 1 + ne + (full ? ne * (ne + 1) / 2 : ne);
    CvSums *g = w->cv, *tot = &w->cv[NJACK];
    memset(w->cv, 0, sizeof *w->cv * (NJACK + 1));
    for (int k = 0; k < K; k++) {
        const double *u = w->u + (size_t)k * (size_t)(ne + 1);
        double r = u[ne], h[MAXCV], wk = w->lw[k];
        int n = 0;
        h[n++] = r - 1;
        for (int i = 0; i < ne; i++)
            h[n++] = u[i] * r;
        for (int i = 0; i < ne; i++)
            for (int j = full ? 0 : i; j <= i; j++)
                h[n++] = (u[i] * u[j] - (i == j)) * r;
        CvSums *t = &g[k % NJACK];
        t->n++;
        t->sw += wk;
        t->sw2 += wk * wk;
        for (int a = 0; a < p; a++) {
            t->Sh[a] += h[a];
            t->Shw[a] += h[a] * wk;
            for (int b = 0; b <= a; b++)
                t->Shh[a * p + b] += h[a] * h[b];
        }
    }
    for (int j = 0; j < NJACK; j++) {
        tot->n += g[j].n;
        tot->sw += g[j].sw;
        tot->sw2 += g[j].sw2;
        for (int a = 0; a < p; a++) {
            tot->Sh[a] += g[j].Sh[a];
            tot->Shw[a] += g[j].Shw[a];
            for (int b = 0; b <= a; b++)
                tot->Shh[a * p + b] += g[j].Shh[a * p + b];
        }
    }
    double wbar = tot->sw / K, var = (tot->sw2 / K - wbar * wbar) * K / (K - 1.0);
    c->ofv = -2 * (mx + log(wbar));
    c->se2 = 4 * fmax(var, 0) / (K * wbar * wbar);
    if (K < 10 * p * NJACK / (NJACK - 1))
        return;
    double est = cv_mean(p, tot), jk[NJACK], jm = 0, jv = 0;
    if (!(est > 0.5 * wbar))
        return;   /* the regression went wild: keep the plain mean */
    for (int j = 0; j < NJACK; j++) {
        CvSums *t = &g[j];   /* becomes the sums without group j */
        t->n = tot->n - t->n;
        t->sw = tot->sw - t->sw;
        for (int a = 0; a < p; a++) {
            t->Sh[a] = tot->Sh[a] - t->Sh[a];
            t->Shw[a] = tot->Shw[a] - t->Shw[a];
            for (int b = 0; b <= a; b++)
                t->Shh[a * p + b] = tot->Shh[a * p + b] - t->Shh[a * p + b];
        }
        double m = cv_mean(p, t);
        if (!(m > 0))
            return;
        jk[j] = -2 * log(m);
        jm += jk[j] / NJACK;
    }
    for (int j = 0; j < NJACK; j++)
        jv += (jk[j] - jm) * (jk[j] - jm) * (NJACK - 1.0) / NJACK;
    if (!(jv < c->se2))
        return;   /* no better than the plain mean */
    c->ofv = -2 * (mx + log(est));
    c->se2 = jv;
}

/* NREFINE rounds that move the proposal to the importance-weighted
 * moments (pooled over the rounds, each by its effective sample size),
 * then the round that gives OFV_i, its MC variance and the conditional
 * mean (in c->mu). */
static int imp_subject(Worker *w, int s, Chain *c)
{
    Saem *e = w->e;
    int ne = e->ne;
    const DataSubject *su = &e->ds->subjects[s];
    if (ne == 0) {
        c->se2 = 0;
        if (data_term(w, s, e->theta, e->sigma, NULL, &c->ofv) != 0) {
            snprintf(w->err, sizeof w->err, "%s", w->last);
            return -1;
        }
        return 0;
    }
    imp_start(w, s, c);
    double pool = 0, p1[MAXE] = { 0 }, P2[MAXE * MAXE] = { 0 };   /* ESS-weighted moments */
    for (int round = 0; round <= NREFINE; round++) {
        int K = round < NREFINE ? (e->isample / 2 > 100 ? e->isample / 2 : 100) : e->isample;
        double mx = imp_draws(w, s, c, K, STREAM_IMP + (uint32_t)round);
        if (isnan(mx)) {
            snprintf(w->err, sizeof w->err, "subject ID %g: the importance sampler's covariance "
                     "is not positive definite", su->id);
            return -1;
        }
        if (!isfinite(mx)) {
            snprintf(w->err, sizeof w->err, "subject ID %g: no importance sample could be "
                     "evaluated (%.200s)", su->id, w->last);
            return -1;
        }
        double sw = 0, sw2 = 0, mean[MAXE] = { 0 }, *cv = w->Hee;
        for (int k = 0; k < K; k++) {
            double wk = exp(w->lw[k] - mx);
            w->lw[k] = wk;
            sw += wk;
            sw2 += wk * wk;
            for (int i = 0; i < ne; i++)
                mean[i] += wk * w->samp[(size_t)k * (size_t)ne + (size_t)i];
        }
        for (int i = 0; i < ne; i++)
            mean[i] /= sw;
        if (round == NREFINE) {
            imp_estimate(w, c, K, mx);
            memcpy(c->mu, mean, sizeof *c->mu * (size_t)ne);
            break;
        }
        /* the next proposal: the weighted moments, when enough samples count */
        double ess = sw * sw / sw2;
        if (ess < fmax(20, 2 * ne + 2))
            continue;
        memset(cv, 0, sizeof *cv * (size_t)(ne * ne));
        for (int k = 0; k < K; k++) {
            const double *eta = w->samp + (size_t)k * (size_t)ne;
            for (int i = 0; i < ne; i++)
                for (int j = 0; j < ne; j++)
                    cv[i * ne + j] += w->lw[k] * eta[i] * eta[j] / sw;
        }
        pool += ess;
        for (int i = 0; i < ne; i++) {
            p1[i] += ess * mean[i];
            for (int j = 0; j < ne; j++)
                P2[i * ne + j] += ess * cv[i * ne + j];
        }
        for (int i = 0; i < ne; i++)
            mean[i] = p1[i] / pool;
        for (int i = 0; i < ne; i++)
            for (int j = 0; j < ne; j++)
                cv[i * ne + j] = P2[i * ne + j] / pool - mean[i] * mean[j];
        if (la_cholesky(ne, cv, w->L) == 0) {
            memcpy(c->mu, mean, sizeof *c->mu * (size_t)ne);
            memcpy(c->cov, cv, sizeof *c->cov * (size_t)(ne * ne));
        }
    }
    return 0;
}

/* ---- the passes ---------------------------------------------------------------------- */

static int do_task(Worker *w, int s)
{
    Saem *e = w->e;
    Chain *c0 = &e->ch[(size_t)s * (size_t)e->nch];
    if (e->task == TASK_IMP)
        return imp_subject(w, s, c0);
    for (int l = 0; l < e->nch; l++) {
        Chain *c = c0 + l;
        switch (e->task) {
        case TASK_INIT:
            if (data_term(w, s, e->theta, e->sigma, c->eta, &c->D) != 0) {
                snprintf(w->err, sizeof w->err, "the model cannot be evaluated at the initial "
                         "estimates: %.250s", w->last);
                return -1;
            }
            break;
        case TASK_ESTEP:
            mcmc(w, s, l, c);
            if (e->score && subject_score(w, s, c) != 0)
                return -1;
            break;
        case TASK_TRY:
            for (int i = 0; i < e->ne; i++) {
                double v = 0;
                if (e->try_omega) {   /* eta = L_try zeta */
                    for (int j = 0; j < e->ne; j++)
                        v += e->Mo[i * e->ne + j] * c->eta[j];
                } else {              /* psi = eta + B x stays */
                    v = c->eta[i];
                    for (int j = 0; j < e->nx; j++)
                        v -= c->B[i * e->nx + j] * e->dstep[j];
                }
                c->eta_try[i] = v;
            }
            c->ok_try = data_term(w, s, e->theta_try, e->sigma_try, c->eta_try, &c->D_try) == 0;
            break;
        case TASK_IMP:
            break;
        }
    }
    return 0;
}

/* Subjects thread, thread + nthreads, ...: a fixed assignment. */
static void *worker_main(void *arg)
{
    Worker *w = arg;
    Saem *e = w->e;
    w->failed = 0;
    w->err[0] = '\0';
    for (int s = w->thread; s < e->nsub; s += e->nthreads)
        if (do_task(w, s) != 0) {
            w->failed = 1;
            w->fail_subject = s;
            break;
        }
    return NULL;
}

/* Runs the pass on every subject; -1 with e->err (the failure of the
 * lowest-numbered subject, whatever the timing). */
static int run_pass(Saem *e, Task task)
{
    e->task = task;
    par_run(e->nthreads, worker_main, e->w, sizeof e->w[0]);
    int worst = -1;
    for (int t = 0; t < e->nthreads; t++)
        if (e->w[t].failed && (worst < 0 || e->w[t].fail_subject < e->w[worst].fail_subject))
            worst = t;
    if (worst >= 0) {
        snprintf(e->err, sizeof e->err, "%s", e->w[worst].err);
        return -1;
    }
    return 0;
}

/* ---- the M-step ------------------------------------------------------------------------ */

/* The complete-data objective at the chains' states: sum D + Q, each
 * subject's the mean over its chains. */
static double complete_obj(const Saem *e)
{
    double f = 0;
    for (int c = 0; c < e->nsub * e->nch; c++)
        f += e->ch[c].D + quad_omega(e, e->ch[c].eta);
    return f / e->nch;
}

/* The step in x: gamma Ibar^-1 g, capped; then halved until the trial
 * pass accepts it (all subjects evaluable and, while exploring, the
 * complete-data objective not worse).  The chains move with the step. */
static int step_x(Saem *e, double gamma, int exploring, int anneal)
{
    int nx = e->nx, ns = e->nsub * e->nch;
    if (nx == 0)
        return 0;
    memset(e->g, 0, sizeof *e->g * (size_t)nx);
    memset(e->I, 0, sizeof *e->I * (size_t)(nx * nx));
    for (int s = 0; s < ns; s++)
        for (int i = 0; i < nx; i++) {
            e->g[i] += e->ch[s].g[i] / e->nch;
            for (int j = 0; j < nx; j++)
                e->I[i * nx + j] += e->ch[s].I[i * nx + j] / e->nch;
        }
    for (int k = 0; k < nx * nx; k++)
        e->Ibar[k] = gamma >= 1 ? e->I[k] : e->Ibar[k] + gamma * (e->I[k] - e->Ibar[k]);
    if (spd_solve(nx, e->Ibar, e->g, e->dx, e->Lx) != 0)
        return 0;   /* no information this iteration: no step */
    /* caps: a factor of e on a log-scale THETA; in the smoothing phase,
     * ten standard errors (the diagonal of Ibar^-1), against a rogue
     * sample's score.  The whole step shrinks, so it stays a direction of
     * ascent. */
    double shrink = 1;
    for (int i = 0; i < nx; i++) {
        double cap = fmax(1, 0.5 * fabs(e->x[i]));
        if (!exploring) {
            double *col = e->xtry;
            memset(col, 0, sizeof *col * (size_t)nx);
            col[i] = 1;
            la_chol_solve(nx, e->Lx, col);
            if (col[i] > 0)
                cap = fmin(cap, 10 * sqrt(col[i]));
        }
        shrink = fmin(shrink, cap / fmax(fabs(e->dx[i]), 1e-300));
    }
    for (int i = 0; i < nx; i++)
        e->dx[i] *= gamma * shrink;
    /* annealing: the SIGMA variances shrink by ANNEAL at most */
    const ModelRandom *r = &e->m->sigma;
    for (int b = 0, n = e->nxt; b < r->nblocks; b++) {
        if (r->block_fix[b])
            continue;
        int m = r->block_size[b];
        for (int i = 0; i < m; i++)
            for (int j = 0; j <= i; j++, n++)
                if (anneal && i == j)
                    e->dx[n] = fmax(e->dx[n], 0.5 * log(ANNEAL));
    }
    double f0 = complete_obj(e);
    for (int half = 0; half < 12; half++) {
        double t = ldexp(1.0, -half);
        for (int i = 0; i < nx; i++) {
            e->dstep[i] = t * e->dx[i];
            e->xtry[i] = e->x[i] + e->dstep[i];
        }
        unpack_x(e, e->xtry, e->theta_try, e->sigma_try);
        e->try_omega = 0;
        run_pass(e, TASK_TRY);
        int ok = 1;
        double f = 0;
        for (int s = 0; s < ns && ok; s++) {
            ok = e->ch[s].ok_try;
            f += e->ch[s].D_try + quad_omega(e, e->ch[s].eta_try);
        }
        f /= e->nch;
        if (!ok || !isfinite(f) || (exploring && f > f0 + 1e-10 * fabs(f0)))
            continue;
        memcpy(e->theta, e->theta_try, sizeof *e->theta * (size_t)e->nt);
        memcpy(e->sigma, e->sigma_try, sizeof *e->sigma * (size_t)(e->neps * e->neps));
        if (pack_x(e) != 0)
            return -1;
        /* the chains follow: eta - B dx, and this iteration's moments with them */
        int ne = e->ne;
        for (int s = 0; s < ns; s++) {
            Chain *c = &e->ch[s];
            double sh[MAXE];
            for (int i = 0; i < ne; i++)
                sh[i] = c->eta[i] - c->eta_try[i];
            for (int i = 0; i < ne; i++)
                for (int j = 0; j < ne; j++)
                    c->m2[i * ne + j] += -sh[i] * c->m1[j] - c->m1[i] * sh[j] +
                                         c->nst * sh[i] * sh[j];
            for (int i = 0; i < ne; i++)
                c->m1[i] -= c->nst * sh[i];
            memcpy(c->eta, c->eta_try, sizeof *c->eta * (size_t)ne);
            c->D = c->D_try;
        }
        return 0;
    }
    return 0;   /* no acceptable step: the estimates stay */
}

/* Omega from the SA of mean_i(eta eta'), to the $OMEGA block structure. */
static void step_omega(Saem *e, double gamma, int anneal)
{
    int ne = e->ne;
    if (ne == 0)
        return;
    memset(e->stat, 0, sizeof *e->stat * (size_t)(ne * ne));
    for (int s = 0; s < e->nsub * e->nch; s++) {
        const Chain *c = &e->ch[s];
        for (int k = 0; k < ne * ne; k++)
            e->stat[k] += c->m2[k] / (c->nst * (double)(e->nsub * e->nch));
    }
    for (int k = 0; k < ne * ne; k++)
        e->S[k] = gamma >= 1 ? e->stat[k] : e->S[k] + gamma * (e->stat[k] - e->S[k]);
    if (anneal)
        for (int i = 0; i < ne; i++)
            e->S[i * ne + i] = fmax(e->S[i * ne + i], ANNEAL * e->omega[i * ne + i]);
    double *old = e->stat;   /* the statistic is spent: keep Omega there */
    memcpy(old, e->omega, sizeof *old * (size_t)(ne * ne));
    const ModelRandom *r = &e->m->omega;
    for (int b = 0; b < r->nblocks; b++) {
        if (r->block_fix[b])
            continue;
        int s0 = r->block_start[b], m = r->block_size[b];
        for (int i = s0; i < s0 + m; i++)
            for (int j = s0; j < s0 + m; j++)
                if (i == j || r->block_full[b])
                    e->omega[i * ne + j] = e->S[i * ne + j];
    }
    if (omega_factor(e) != 0) {   /* too few subjects for a full block: keep the last */
        memcpy(e->omega, old, sizeof *old * (size_t)(ne * ne));
        omega_factor(e);
    }
}

/* Omega's non-centred step (saem.h).  With zeta = L^-1 eta held, eta =
 * L zeta moves with Omega's Cholesky factor L, and p(y | L zeta) N(zeta;
 * 0, I) depends on L through the data term alone: its score in the free
 * entries x of L (log diagonal) is J' g_d and its Gauss-Newton
 * information J' H_d J, with J = d eta / dx (column m: the entry's unit
 * vector times zeta_b, times L_aa on the diagonal) and g_d, H_d the data
 * term's from the E-step.  x <- x + gamma I^-1 g, capped and halved as
 * the step in THETA; S follows, so the next SA step starts from here. */
static void step_omega_nc(Saem *e, double gamma, int exploring, int anneal)
{
    int ne = e->ne, n = e->nxo, nc = e->nsub * e->nch;
    if (n == 0)
        return;
    const double *L = e->omega_L;
    memset(e->go, 0, sizeof *e->go * (size_t)n);
    memset(e->Io, 0, sizeof *e->Io * (size_t)(n * n));
    for (int k = 0; k < nc; k++) {
        const Chain *c = &e->ch[k];
        double z[MAXE], f[MAXE * (MAXE + 1) / 2];
        for (int i = 0; i < ne; i++) {   /* zeta = L^-1 eta */
            double v = c->eta[i];
            for (int j = 0; j < i; j++)
                v -= L[i * ne + j] * z[j];
            z[i] = v / L[i * ne + i];
        }
        for (int m = 0; m < n; m++)
            f[m] = z[e->ob[m]] * (e->oa[m] == e->ob[m] ? L[e->oa[m] * ne + e->oa[m]] : 1);
        for (int m = 0; m < n; m++) {
            e->go[m] += c->gd[e->oa[m]] * f[m] / e->nch;
            for (int q = 0; q < n; q++)
                e->Io[m * n + q] += c->Hd[e->oa[m] * ne + e->oa[q]] * f[m] * f[q] / e->nch;
        }
    }
    if (spd_solve(n, e->Io, e->go, e->dxo, e->Lo) != 0)
        return;
    double shrink = 1;
    for (int m = 0; m < n; m++) {
        double cap = 1;
        if (!exploring) {
            double col[MAXE * (MAXE + 1) / 2];
            memset(col, 0, sizeof(double) * (size_t)n);
            col[m] = 1;
            la_chol_solve(n, e->Lo, col);
            if (col[m] > 0)
                cap = fmin(cap, 10 * sqrt(col[m]));
        }
        shrink = fmin(shrink, cap / fmax(fabs(e->dxo[m]), 1e-300));
    }
    for (int m = 0; m < n; m++) {
        e->dxo[m] *= gamma * shrink;
        if (anneal && e->oa[m] == e->ob[m])
            e->dxo[m] = fmax(e->dxo[m], 0.5 * log(ANNEAL));
    }
    double f0 = 0;
    for (int k = 0; k < nc; k++)
        f0 += e->ch[k].D;
    for (int half = 0; half < 12; half++) {
        double t = ldexp(1.0, -half), *Lt = e->Ltry, *Om = e->stat;
        memcpy(Lt, L, sizeof *Lt * (size_t)(ne * ne));
        for (int m = 0; m < n; m++) {
            int a = e->oa[m], b = e->ob[m];
            Lt[a * ne + b] = a == b ? L[a * ne + a] * exp(t * e->dxo[m]) : L[a * ne + b] + t * e->dxo[m];
        }
        /* Mo = L_try L^-1, a row at a time: L' (row j of Mo)' = (row j of
         * L_try)', by back substitution */
        for (int j = 0; j < ne; j++)
            for (int i = ne - 1; i >= 0; i--) {
                double v = Lt[j * ne + i];
                for (int k = i + 1; k < ne; k++)
                    v -= L[k * ne + i] * e->Mo[j * ne + k];
                e->Mo[j * ne + i] = v / L[i * ne + i];
            }
        e->try_omega = 1;
        run_pass(e, TASK_TRY);
        e->try_omega = 0;
        int ok = 1;
        double f = 0;
        for (int k = 0; k < nc && ok; k++) {
            ok = e->ch[k].ok_try;
            f += e->ch[k].D_try;
        }
        if (!ok || !isfinite(f) || (exploring && f > f0 + 1e-10 * fabs(f0)))
            continue;
        for (int i = 0; i < ne; i++)
            for (int j = 0; j < ne; j++) {
                double v = 0;
                for (int k = 0; k < ne; k++)
                    v += Lt[i * ne + k] * Lt[j * ne + k];
                Om[i * ne + j] = v;
            }
        double keep[MAXE * MAXE];
        memcpy(keep, e->omega, sizeof keep[0] * (size_t)(ne * ne));
        memcpy(e->omega, Om, sizeof *Om * (size_t)(ne * ne));
        if (omega_factor(e) != 0) {
            memcpy(e->omega, keep, sizeof keep[0] * (size_t)(ne * ne));
            omega_factor(e);
            return;
        }
        memcpy(e->S, e->omega, sizeof *e->S * (size_t)(ne * ne));
        for (int k = 0; k < nc; k++) {
            Chain *c = &e->ch[k];
            memcpy(c->eta, c->eta_try, sizeof *c->eta * (size_t)ne);
            c->D = c->D_try;
        }
        return;
    }
}

/* ---- set-up and reports ------------------------------------------------------------------ */

static void saem_free(Saem *e)
{
    for (int t = 0; t < PAR_MAX; t++) {
        Worker *w = &e->w[t];
        sim_work_free(&w->sim);
        sim_out_free(&w->so);
        sens_work_free(&w->sens);
        double *arr[] = { w->out.y, w->out.dy, w->out.h, w->out.dh, w->tw, w->tout, w->dv,
                          w->prop, w->samp, w->lw, w->u };
        for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
            mem_free(arr[i]);
        mem_free(w->cv);
    }
    double *arr[] = { e->theta, e->omega, e->sigma, e->omega_L, e->omega_inv, e->theta_try,
                      e->sigma_try, e->sigL, e->dtdu, e->x, e->blk };
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
        mem_free(arr[i]);
    mem_free(e->xt);
    mem_free(e->oa);
    mem_free(e->ob);
    mem_free(e->go);
    mem_free(e->ch);
}

/* Carves n doubles off *p. */
static double *carve(double **p, size_t n)
{
    double *r = *p;
    *p += n;
    return r;
}

/* Entries of the lower triangle of Omega: a bound on its free ones. */
static size_t ne_max_entries(const Model *m)
{
    return (size_t)(m->omega.n * (m->omega.n + 1) / 2);
}

static int saem_init(Saem *e, const Prog *p, const Dataset *ds, const EstOpts *o,
                     const double *theta, const double *omega, const double *sigma, Diag *d)
{
    memset(e, 0, sizeof *e);
    const Model *m = p->m;
    e->p = p;
    e->ds = ds;
    e->o = o;
    e->m = m;
    e->nt = m->nthetas;
    e->ne = m->omega.n;
    e->neps = m->sigma.n;
    e->np = p->np;
    e->nsub = ds->nsubjects;
    e->nvars = p->nvars;
    e->ncmt = p->ncmt;
    e->wr = 1 + p->npk + p->ncmt + p->np;
    e->seed = o->seed < 0 ? 12345u : (uint64_t)o->seed;
    e->isample = o->isample > 0 ? o->isample : 1000;
    e->t_const = lgamma((T_DF + e->ne) / 2) - lgamma(T_DF / 2) - 0.5 * e->ne * log(T_DF * PI);
    if (e->isample < 10)
        e->isample = 10;
    if (e->ne > MAXE || e->neps > MAXE) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL,
                    "SAEM supports at most %d ETAs and EPSs", MAXE);
        return -1;
    }
    if (!p->res_d) {
        diag_report(d, DIAG_ERROR, diag_nospan(), "define Y in $ERROR, e.g. Y = IPRED + eps",
                    "SAEM and IMP need the model's Y (its residual model)");
        return -1;
    }
    for (int i = 0; i < ds->nrows; i++)
        e->nobs += data_is_obs(&ds->rows[i]);
    if (e->nsub == 0 || e->nobs == 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "the dataset has no observations to fit");
        return -1;
    }
    int nt = o->sim.nthreads > 0 ? o->sim.nthreads : 1;
    e->nthreads = nt > PAR_MAX ? PAR_MAX : nt > e->nsub ? e->nsub : nt;
    /* Monolix's rule: enough chains for 50 subjects' worth of samples, so
     * that the sufficient statistics of a small study are not all noise */
    e->nch = (50 + e->nsub - 1) / e->nsub;
    e->nch = e->nch < 1 ? 1 : e->nch > 10 ? 10 : e->nch;
    /* the free parameters: THETAs, then the free SIGMA blocks' factors */
    e->xt = mem_calloc((size_t)e->nt + 1, sizeof(int));
    for (int k = 0; e->xt && k < e->nt; k++)
        if (!m->thetas[k].fix)
            e->xt[e->nxt++] = k;
    e->nx = e->nxt;
    for (int b = 0; b < m->sigma.nblocks; b++)
        if (!m->sigma.block_fix[b])
            e->nx += m->sigma.block_size[b] * (m->sigma.block_size[b] + 1) / 2;
    /* Omega's non-centred parameters: the free entries of its factor */
    e->oa = mem_calloc(ne_max_entries(m) + 1, sizeof(int));
    e->ob = mem_calloc(ne_max_entries(m) + 1, sizeof(int));
    for (int b = 0; e->oa && e->ob && b < m->omega.nblocks; b++) {
        if (m->omega.block_fix[b])
            continue;
        int s0 = m->omega.block_start[b], bs = m->omega.block_size[b];
        for (int i = 0; i < bs; i++)
            for (int j = m->omega.block_full[b] ? 0 : i; j <= i; j++) {
                e->oa[e->nxo] = s0 + i;
                e->ob[e->nxo++] = s0 + j;
            }
    }
    size_t ne = (size_t)e->ne, ne2 = ne * ne + 1, nx = (size_t)e->nx, nx2 = nx * nx + 1;
    size_t nxo = (size_t)e->nxo, nxo2 = nxo * nxo + 1;
    e->go = mem_calloc(3 * nxo + 3 * nxo2 + 2 * ne2, sizeof(double));
    if (e->go) {
        double *q = e->go + nxo;
        e->dxo = carve(&q, nxo);
        e->Io = carve(&q, nxo2);
        e->Lo = carve(&q, 2 * nxo2);
        e->Ltry = carve(&q, ne2);
        e->Mo = q;
    }
    size_t neps2 = (size_t)(e->neps * e->neps) + 1, ns = (size_t)(e->nsub * e->nch);
    e->theta = mem_calloc((size_t)e->nt + 1, sizeof(double));
    e->theta_try = mem_calloc((size_t)e->nt + 1, sizeof(double));
    e->omega = mem_calloc(ne2, sizeof(double));
    e->omega_L = mem_calloc(ne2, sizeof(double));
    e->omega_inv = mem_calloc(ne2, sizeof(double));
    e->sigma = mem_calloc(neps2, sizeof(double));
    e->sigma_try = mem_calloc(neps2, sizeof(double));
    e->sigL = mem_calloc(neps2, sizeof(double));
    e->dtdu = mem_calloc((size_t)e->nt + 1, sizeof(double));
    /* x, xtry, dx, dstep, g: nx; I, Ibar: nx^2; Lx: 2 nx^2; S, stat: ne^2; zeros */
    e->x = mem_calloc(5 * nx + 4 * nx2 + 2 * ne2 + ne + (size_t)e->neps + 1, sizeof(double));
    e->ch = mem_calloc(ns + 1, sizeof *e->ch);
    /* per chain: eta, eta_try, s3, m1, cm1, mu, gd (ne); m2, cm2, cov, Hd
     * (ne^2); g (nx); I (nx^2); B (ne nx) */
    size_t per = 7 * ne + 4 * ne2 + nx + nx2 + ne * nx + 1;
    e->blk = mem_calloc(per * ns + 1, sizeof(double));
    int ok = e->oa && e->ob && e->go && e->xt && e->theta && e->theta_try && e->omega && e->omega_L && e->omega_inv &&
             e->sigma && e->sigma_try && e->sigL && e->dtdu && e->x && e->ch && e->blk;
    if (ok) {
        double *q = e->x + nx;
        e->xtry = carve(&q, nx);
        e->dx = carve(&q, nx);
        e->dstep = carve(&q, nx);
        e->g = carve(&q, nx);
        e->I = carve(&q, nx2);
        e->Ibar = carve(&q, nx2);
        e->Lx = carve(&q, 2 * nx2);
        e->S = carve(&q, ne2);
        e->stat = carve(&q, ne2);
        e->zeros = q;
        q = e->blk;
        for (size_t s = 0; s < ns; s++) {
            Chain *c = &e->ch[s];
            c->eta = carve(&q, ne);
            c->eta_try = carve(&q, ne);
            c->s3 = carve(&q, ne);
            c->m1 = carve(&q, ne);
            c->cm1 = carve(&q, ne);
            c->mu = carve(&q, ne);
            c->m2 = carve(&q, ne2);
            c->cm2 = carve(&q, ne2);
            c->cov = carve(&q, ne2);
            c->g = carve(&q, nx);
            c->I = carve(&q, nx2);
            c->B = carve(&q, ne * nx);
            c->gd = carve(&q, ne);
            c->Hd = carve(&q, ne2);
            c->s2 = 0.4;
            for (size_t i = 0; i < ne; i++)
                c->s3[i] = 0.6;
        }
    }
    size_t rows = 0, np = (size_t)e->np + 1, nep = (size_t)e->neps + 1;
    for (int s = 0; s < e->nsub; s++)
        if ((size_t)ds->subjects[s].n > rows)
            rows = (size_t)ds->subjects[s].n;
    rows++;
    for (int t = 0; ok && t < e->nthreads; t++) {
        Worker *w = &e->w[t];
        w->e = e;
        w->thread = t;
        w->sim = sim_work_new(p, &o->sim);
        w->sens = sens_work_new(p, &o->sim);
        ok = w->sim && w->sens && sim_out_alloc(&w->so, p, ds) == 0;
        w->out.y = mem_calloc(rows, sizeof(double));
        w->out.dy = mem_calloc(rows * np, sizeof(double));
        w->out.h = mem_calloc(rows * nep, sizeof(double));
        w->out.dh = mem_calloc(rows * nep * np, sizeof(double));
        w->tw = mem_calloc(tape_work_size(p->res_d) + 1, sizeof(double));
        w->tout = mem_calloc((size_t)e->wr * nep + 1, sizeof(double));
        w->dv = mem_calloc(np, sizeof(double));
        /* prop, z, ae, be, ge, ev: ne; Hee, L: ne^2; ax, bx: nx; Hex, tmp: ne nx */
        w->prop = mem_calloc(6 * ne + 2 * ne2 + 2 * nx + 2 * ne * nx + 1, sizeof(double));
        w->samp = mem_calloc((size_t)e->isample * (ne + 1) + ne2 + 1, sizeof(double));
        w->lw = mem_calloc((size_t)e->isample + 1, sizeof(double));
        w->u = mem_calloc((size_t)e->isample * (ne + 1) + 1, sizeof(double));
        w->cv = mem_calloc(NJACK + 1, sizeof *w->cv);
        ok = ok && w->out.y && w->out.dy && w->out.h && w->out.dh && w->tw && w->tout &&
             w->dv && w->prop && w->samp && w->lw && w->u && w->cv;
        if (ok) {
            double *q = w->prop + ne;
            w->z = carve(&q, ne);
            w->ae = carve(&q, ne);
            w->be = carve(&q, ne);
            w->ge = carve(&q, ne);
            w->ev = carve(&q, ne);
            w->Hee = carve(&q, ne2);
            w->L = carve(&q, ne2);
            w->ax = carve(&q, nx);
            w->bx = carve(&q, nx);
            w->Hex = carve(&q, ne * nx);
            w->tmp = q;
        }
    }
    if (!ok) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory setting up SAEM");
        return -1;
    }
    for (int k = 0; k < e->nt; k++)
        e->theta[k] = theta ? theta[k] : m->thetas[k].init;
    memcpy(e->omega, omega ? omega : m->omega.cov, sizeof(double) * ne * ne);
    memcpy(e->sigma, sigma ? sigma : m->sigma.cov, sizeof(double) * (size_t)(e->neps * e->neps));
    if (omega_factor(e) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "OMEGA is not positive definite");
        return -1;
    }
    if (pack_x(e) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL,
                    "SIGMA is not positive definite, or a THETA is not inside its bounds");
        return -1;
    }
    return 0;
}

static long total_evals(const Saem *e)
{
    long n = 0;
    for (int t = 0; t < e->nthreads; t++)
        n += e->w[t].evals;
    return n;
}

static void trace_row(const Saem *e, int iter, double obj)
{
    FILE *f = e->o->trace;
    fprintf(f, "%d", iter);
    for (int k = 0; k < e->nt; k++)
        fprintf(f, ",%.10g", e->theta[k]);
    const double *mat[2] = { e->omega, e->sigma };
    int dim[2] = { e->ne, e->neps };
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < dim[r]; i++)
            for (int j = 0; j <= i; j++)
                fprintf(f, ",%.10g", mat[r][i * dim[r] + j]);
    fprintf(f, ",%.10g\n", obj);
}

static void log_line(const Saem *e, int iter, int total, int exploring, double obj)
{
    FILE *f = e->o->log;
    int tty = isatty(fileno(f));
    fprintf(f, "%sqlxc: SAEM iteration %4d/%d (%s)  -2LL(complete) %.4f", tty ? "\r" : "", iter,
            total, exploring ? "exploring" : "smoothing", obj);
    for (int k = 0; k < e->nt && k < 4; k++)
        fprintf(f, "  %s %.4g", e->m->thetas[k].name, e->theta[k]);
    fputs(tty ? "\033[K" : "\n", f);
    fflush(f);
}

/* One E-step pass at iteration it (its random streams) of a chain with
 * the given switches. */
static int estep(Saem *e, uint32_t base, int it, int adapt, int score, int collect)
{
    e->stream = base + 4u * (uint32_t)e->nch * (uint32_t)it;
    e->adapt = adapt;
    e->score = score;
    e->collect = collect;
    return run_pass(e, TASK_ESTEP);
}

/* The IMP pass and its sums: OFV and its MC standard error. */
static int imp_total(Saem *e, double *ofv, double *se)
{
    if (run_pass(e, TASK_IMP) != 0)
        return -1;
    double f = 0, v = 0;
    for (int s = 0; s < e->nsub; s++) {
        f += e->ch[s * e->nch].ofv;
        v += e->ch[s * e->nch].se2;
    }
    *ofv = f;
    *se = sqrt(v);
    return 0;
}

/* ---- the entry points -------------------------------------------------------------------- */

int saem_run(const Prog *p, const Dataset *ds, const EstOpts *o, EstResult *r, Diag *d)
{
    memset(r, 0, sizeof *r);
    Saem *e = mem_calloc(1, sizeof *e);
    if (!e || saem_init(e, p, ds, o, o->theta0, o->omega0, o->sigma0, d) != 0) {
        if (e)
            saem_free(e);
        mem_free(e);
        return -1;
    }
    if (p->m->npriors > 0)
        diag_report(d, DIAG_WARNING, diag_nospan(), NULL, "SAEM ignores $PRIOR");
    int nburn = o->nburn > 0 ? (o->nburn < MAX_ITER ? o->nburn : MAX_ITER) : 300;
    int niter = o->niter > 0 ? (o->niter < MAX_ITER ? o->niter : MAX_ITER) : 200;
    int total = nburn + niter, rc = -1, done = 0;
    char stop[400] = "";
    if (run_pass(e, TASK_INIT) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "SAEM: %s", e->err);
        goto out;
    }
    /* the chains find their footing at the initial estimates */
    for (int it = 0; it < NWARM; it++)
        if (estep(e, STREAM_SAEM, it, 1, 0, 0) != 0)
            goto out;
    for (int k = 1; k <= total; k++) {
        int exploring = k <= nburn, anneal = k <= nburn / 2;
        double gamma = exploring ? 1 : 1.0 / (k - nburn);
        e->freeze_b = !exploring;
        if (estep(e, STREAM_SAEM, NWARM + k - 1, exploring, 1, k > nburn + niter / 2) != 0) {
            if (k == 1) {
                diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "SAEM: %s", e->err);
                goto out;
            }
            snprintf(stop, sizeof stop, "SAEM stopped at iteration %d: %.300s", k, e->err);
            break;
        }
        if (step_x(e, gamma, exploring, anneal) != 0) {
            snprintf(stop, sizeof stop, "SAEM stopped at iteration %d: SIGMA is not positive "
                     "definite", k);
            break;
        }
        step_omega(e, gamma, anneal);
        step_omega_nc(e, gamma, exploring, anneal);
        done = k;
        if (o->trace || o->log) {
            double obj = complete_obj(e) + e->nsub * e->logdet_omega;
            if (o->trace)
                trace_row(e, k, obj);
            if (o->log && (k % 10 == 0 || k == total))
                log_line(e, k, total, exploring, obj);
        }
    }
    if (o->log && isatty(fileno(o->log)))
        fputc('\n', o->log);
    double ofv, se;
    if (imp_total(e, &ofv, &se) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "IMP after SAEM: %s", e->err);
        goto out;
    }
    if (o->log) {
        fprintf(o->log, "qlxc: SAEM done; IMP objective %.4f (Monte Carlo SE %.2g, %d samples per "
                "subject)\n", ofv, se, e->isample);
        fflush(o->log);
    }
    size_t ne = (size_t)e->ne, ns = (size_t)e->nsub;
    r->ofv = ofv;
    r->ofv_se = se;
    if (est_result_set(r, e->m, e->nsub, e->theta, e->omega, e->sigma, NULL) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory");
        goto out;
    }
    for (size_t s = 0; s < ns; s++) {
        const Chain *c = &e->ch[s * (size_t)e->nch];
        double n = 0;
        for (int l = 0; l < e->nch; l++)
            n += c[l].cn;
        for (size_t i = 0; i < ne; i++) {
            double m = 0;
            for (int l = 0; l < e->nch; l++)
                m += c[l].cm1[i];
            r->eta[s * ne + i] = n > 0 ? m / n : c->eta[i];
        }
    }
    r->iterations = done;
    r->evaluations = (int)(total_evals(e) / e->nsub);
    r->converged = done == total;
    if (stop[0])
        snprintf(r->message, sizeof r->message, "%.200s; IMP OFV at the last estimates", stop);
    else
        snprintf(r->message, sizeof r->message,
                 "SAEM: %d exploration and %d smoothing iterations; OFV by importance sampling "
                 "(%d samples per subject), Monte Carlo SE %.3g", nburn, niter, e->isample, se);
    rc = 0;
out:
    saem_free(e);
    mem_free(e);
    return rc;
}

int saem_imp_objective(const Prog *p, const Dataset *ds, const EstOpts *o, const double *theta,
                       const double *omega, const double *sigma, double *ofv, double *ofv_se,
                       double *eta_mean, Diag *d)
{
    Saem *e = mem_calloc(1, sizeof *e);
    if (!e || saem_init(e, p, ds, o, theta, omega, sigma, d) != 0) {
        if (e)
            saem_free(e);
        mem_free(e);
        return -1;
    }
    int rc = run_pass(e, TASK_INIT);
    /* a short chain at these parameters gives the proposals' start */
    for (int it = 0; rc == 0 && it < IMP_WARM + IMP_KEEP; it++)
        rc = estep(e, STREAM_MCMC, it, it < IMP_WARM, 0, it >= IMP_WARM);
    double f = NAN, se = NAN;
    if (rc == 0)
        rc = imp_total(e, &f, &se);
    if (rc != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "IMP: %s", e->err);
    } else {
        if (o->log) {
            fprintf(o->log, "qlxc: IMP objective %.4f (Monte Carlo SE %.2g, %d samples per "
                    "subject)\n", f, se, e->isample);
            fflush(o->log);
        }
        *ofv = f;
        if (ofv_se)
            *ofv_se = se;
        for (int s = 0; eta_mean && s < e->nsub; s++)
            memcpy(eta_mean + (size_t)s * (size_t)e->ne, e->ch[s * e->nch].mu,
                   sizeof(double) * (size_t)e->ne);
    }
    saem_free(e);
    mem_free(e);
    return rc;
}
