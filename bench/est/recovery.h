/*
 * recovery.h -- simulation and re-estimation (issue 4): simulate
 * populations from a model with known parameters, fit each by its
 * $ESTIMATION method from perturbed initial values, run the covariance
 * step, and summarise the bias of the estimates and the coverage of
 * their confidence intervals over the replicates.
 *
 * Shared by tests/unit/test_recovery.c (a few replicates, checked) and
 * bench/est/bench_recovery.c (many, a table).  The one translation unit
 * that includes it gets static functions only, as tests/unit/tap.h does.
 *
 * A scenario is a model in the .qlx language whose initial values are
 * the truth, and a study design.  Replicate r draws its numbers from the
 * counter-based generator (rng.h) keyed by the scenario's seed + r, with
 * the unit the subject: the ETAs (stream 0) and EPSs (stream 1) by
 * sim_draw(), as $SIMULATION draws them, and here the body weights
 * (stream 2, log-normal).  So replicate r is the same data whatever the
 * number of replicates and threads: the test's replicates are the bench's
 * first ones.  With REC_LOG set in the environment every fit logs its
 * iterations to stderr.
 *
 * The estimation scale is the covariance step's: THETAs as written (log
 * typical values, allometric exponents), OMEGA and SIGMA as variances.
 * A 95% interval is estimate +- 1.96 SE on that scale.  Bias is relative
 * and on the natural scale: exp(THETA) for a log parameter, otherwise the
 * THETA or the variance itself.
 */
#ifndef QLX_RECOVERY_H
#define QLX_RECOVERY_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "est.h"
#include "parse.h"
#include "prog.h"
#include "rng.h"
#include "sema.h"
#include "sim.h"

#define REC_MAXPAR 24
#define REC_Z95 1.959963984540054

/* sim_draw() takes streams 0 and 1 */
enum { REC_STREAM_WT = 2 };

typedef struct {
    const char *name;
    const char *model;        /* .qlx text: its initial values are the truth */
    const char *logscale;     /* one letter per THETA: 'L' a log parameter */
    int nsub;
    double dose;              /* mg into the dose compartment at time 0 */
    const double *times;      /* sampling times, h */
    int ntimes;
    double wt_median, wt_logsd;   /* WT = median * exp(logsd * z) */
    uint64_t seed;            /* replicate r uses seed + r */
} RecScenario;

/* One replicate's outcome. */
typedef struct {
    int ran;                  /* simulated and fitted (est_run returned 0) */
    int converged;
    int cov_ok, cov_r_ok;     /* the sandwich step, the R^-1 step */
    double est[REC_MAXPAR];
    double se[REC_MAXPAR];    /* sandwich; NaN when the step failed */
    double se_r[REC_MAXPAR];  /* R^-1, when asked for; else NaN */
    double ofv, ofv_true;     /* at the estimates, at the truth */
    double ofv_fresh;         /* at the estimates, the inner problems started
                                 afresh (from ETA = 0) rather than from the
                                 fit's last modes */
    int moved;                /* subjects whose mode then differs (> 0.01) */
    double fit_s, cov_s;      /* wall time of the fit, of the step(s) */
    int iterations;
    char message[320];        /* est_run's, or what failed */
} RecRep;

/* A scenario's model, compiled once, and its parameters in the
 * covariance step's order: free THETAs, then the lower triangle of each
 * free OMEGA block, then of each free SIGMA block. */
typedef struct {
    const RecScenario *sc;
    Arena *a;
    FILE *sink;               /* diagnostics, shown when something fails */
    Diag *d;
    Model *m;
    Prog *p;
    int n;
    char names[REC_MAXPAR][64];
    int kind[REC_MAXPAR];     /* 0 THETA, 1 OMEGA, 2 SIGMA */
    int ii[REC_MAXPAR], jj[REC_MAXPAR];
    int logscale[REC_MAXPAR];
    double truth[REC_MAXPAR];
} RecModel;

/* Across the replicates, one parameter. */
typedef struct {
    int n;                    /* replicates that ran */
    double mean;              /* of the estimates (estimation scale) */
    double sd;                /* their empirical SD */
    double bias, bias_mcse;   /* mean relative bias (natural scale) and its
                                 Monte Carlo standard error */
    double mean_se;           /* mean SE from the covariance step */
    int nci, ncover;          /* intervals, and those covering the truth */
} RecSummary;

static void rec_dump(FILE *sink, const char *prefix)
{
    fflush(sink);
    rewind(sink);
    char line[512];
    while (fgets(line, sizeof line, sink))
        printf("%s%s", prefix, line);
}

static double rec_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the model ----------------------------------------------------------------------- */

static void rec_close(RecModel *rm)
{
    prog_free(rm->p);
    if (rm->sink)
        fclose(rm->sink);
    mem_arena_free(&rm->a);
    memset(rm, 0, sizeof *rm);
}

static void rec_add_random(RecModel *rm, const ModelRandom *r, int kind)
{
    for (int b = 0; b < r->nblocks; b++) {
        if (r->block_fix[b])
            continue;
        int s0 = r->block_start[b], m = r->block_size[b];
        for (int i = s0; i < s0 + m; i++)
            for (int j = s0; j <= i && rm->n < REC_MAXPAR; j++) {
                int k = rm->n++;
                rm->kind[k] = kind;
                rm->ii[k] = i;
                rm->jj[k] = j;
                rm->truth[k] = r->cov[i * r->n + j];
                snprintf(rm->names[k], sizeof rm->names[k], "%s(%s,%s)",
                         kind == 1 ? "OMEGA" : "SIGMA", r->names[i], r->names[j]);
            }
    }
}

/* Parses and compiles the scenario's model.  0, or -1 (diagnostics
 * printed). */
static int rec_open(RecModel *rm, const RecScenario *sc)
{
    memset(rm, 0, sizeof *rm);
    rm->sc = sc;
    rm->a = mem_arena_new();
    rm->sink = tmpfile();
    if (!rm->a || !rm->sink)
        return -1;
    rm->d = diag_new(rm->a, rm->sink);
    Ast *t = parse_string(rm->a, rm->d, "recovery.qlx", sc->model, strlen(sc->model), NULL);
    rm->m = t ? sema_check(rm->a, rm->d, t) : NULL;
    rm->p = rm->m ? prog_compile(rm->a, rm->d, rm->m) : NULL;
    if (!rm->p || (int)strlen(sc->logscale) != rm->m->nthetas) {
        rec_dump(rm->sink, "# ");
        return -1;
    }
    const Model *m = rm->m;
    for (int k = 0; k < m->nthetas && rm->n < REC_MAXPAR; k++) {
        if (m->thetas[k].fix)
            continue;
        int i = rm->n++;
        rm->kind[i] = 0;
        rm->ii[i] = rm->jj[i] = k;
        rm->truth[i] = m->thetas[k].init;
        rm->logscale[i] = sc->logscale[k] == 'L';
        snprintf(rm->names[i], sizeof rm->names[i], "%s", m->thetas[k].name);
    }
    rec_add_random(rm, &m->omega, 1);
    rec_add_random(rm, &m->sigma, 2);
    return 0;
}

/* ---- one replicate ------------------------------------------------------------------- */

/* The design as NONMEM-format text: per subject a dose and the sampling
 * times, with a body weight drawn for it; DV 0 on the observations until
 * the simulation fills it in. */
static char *rec_design(const RecScenario *sc, uint64_t seed, size_t *len)
{
    size_t cap = 64 + (size_t)sc->nsub * (size_t)(sc->ntimes + 1) * 64, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    n += (size_t)snprintf(buf, cap, "ID,TIME,DV,AMT,EVID,CMT,WT\n");
    for (int i = 0; i < sc->nsub; i++) {
        Rng r;
        rng_init(&r, seed, (uint32_t)i, REC_STREAM_WT);
        double wt = sc->wt_median * exp(sc->wt_logsd * rng_normal(&r));
        n += (size_t)snprintf(buf + n, cap - n, "%d,0,.,%.17g,1,1,%.17g\n", i + 1, sc->dose, wt);
        for (int j = 0; j < sc->ntimes; j++)
            n += (size_t)snprintf(buf + n, cap - n, "%d,%.17g,0,0,0,2,%.17g\n", i + 1,
                                  sc->times[j], wt);
    }
    *len = n;
    return buf;
}

/* Simulates the dataset's observations in place: ETAs ~ N(0, omega) per
 * subject and EPSs ~ N(0, sigma) per record by sim_draw(), then DV = Y.
 * 0, or -1 after reporting through d. */
static int rec_simulate(const Prog *p, Dataset *ds, const double *theta, const double *omega,
                        const double *sigma, uint64_t seed, int nthreads, Diag *d)
{
    const Model *m = p->m;
    int ne = m->omega.n, neps = m->sigma.n, rc = -1;
    double *eta = calloc((size_t)ds->nsubjects * (size_t)ne + 1, sizeof(double));
    double *eps = calloc((size_t)ds->nrows * (size_t)neps + 1, sizeof(double));
    SimOut out;
    memset(&out, 0, sizeof out);
    if (!eta || !eps || sim_out_alloc(&out, p, ds) != 0)
        goto done;
    if (sim_draw(p, ds, omega, sigma, seed, eta, eps) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "OMEGA or SIGMA is not positive definite");
        goto done;
    }
    SimOpts so;
    memset(&so, 0, sizeof so);
    so.nthreads = nthreads;
    if (sim_run(p, ds, theta, eta, eps, &so, &out, d) != 0)
        goto done;
    rc = 0;
    for (int i = 0; i < ds->nrows; i++) {
        DataRow *row = &ds->rows[i];
        if (row->evid != 0 || row->mdv != 0)
            continue;
        if (!isfinite(out.y[i])) {
            diag_report(d, DIAG_ERROR, diag_nospan(), NULL,
                        "simulated Y is not finite at row %d", row->row);
            rc = -1;
            break;
        }
        row->dv = out.y[i];
    }
done:
    sim_out_free(&out);
    free(eta);
    free(eps);
    return rc;
}

/* The parameter k of the covariance step's order in a fit's result. */
static double rec_value(const RecModel *rm, const EstResult *r, int k)
{
    if (rm->kind[k] == 0)
        return r->theta[rm->ii[k]];
    const double *mat = rm->kind[k] == 1 ? r->omega : r->sigma;
    int dim = rm->kind[k] == 1 ? rm->m->omega.n : rm->m->sigma.n;
    return mat[rm->ii[k] * dim + rm->jj[k]];
}

/* The covariance step; se[] gets its SEs, NaN when it failed.  Returns
 * whether it completed.  Checks that its parameters are ours, in our
 * order. */
static int rec_cov(const RecModel *rm, const Dataset *ds, const EstOpts *o, const EstResult *r,
                   CovMatrix which, double *se, char *msg, size_t msgsize, Diag *d)
{
    for (int k = 0; k < rm->n; k++)
        se[k] = NAN;
    EstCov c;
    if (est_covariance(rm->p, ds, o, r, which, &c, d) != 0) {
        snprintf(msg, msgsize, "the covariance step could not run");
        return 0;
    }
    int ok = c.ok && c.n == rm->n;
    for (int k = 0; ok && k < rm->n; k++)
        ok = strcmp(c.names[k], rm->names[k]) == 0;
    if (c.ok && !ok)
        snprintf(msg, msgsize, "the covariance step's parameters are not in the expected order");
    else if (!c.ok)
        snprintf(msg, msgsize, "%.200s", c.message);
    for (int k = 0; ok && k < rm->n; k++)
        se[k] = c.se[k];
    est_cov_free(&c);
    return ok;
}

/* Replicate rep: simulate, fit from perturbed values, covariance step(s).
 * Alternate directions, turn by turn over the parameters and the
 * replicates: a typical value x 1.3 or x 0.7 (log parameters move on the
 * natural scale), an exponent likewise, a variance x 2 or / 2. */
static void rec_replicate(const RecModel *rm, int rep, int nthreads, int with_r, RecRep *out)
{
    const RecScenario *sc = rm->sc;
    const Model *m = rm->m;
    memset(out, 0, sizeof *out);
    for (int k = 0; k < REC_MAXPAR; k++)
        out->est[k] = out->se[k] = out->se_r[k] = NAN;
    out->ofv = out->ofv_true = out->ofv_fresh = NAN;
    uint64_t seed = sc->seed + (uint64_t)rep;
    int nt = m->nthetas, ne = m->omega.n, neps = m->sigma.n;
    double theta[64], omega[64 * 64 / 8], sigma[64], theta0[64], omega0[64 * 64 / 8], sigma0[64];
    if (nt > 64 || ne * ne > (int)(sizeof omega / sizeof omega[0]) || neps * neps > 64) {
        snprintf(out->message, sizeof out->message, "the model is too large for this harness");
        return;
    }
    for (int k = 0; k < nt; k++)
        theta[k] = theta0[k] = m->thetas[k].init;
    memcpy(omega, m->omega.cov, sizeof(double) * (size_t)(ne * ne));
    memcpy(sigma, m->sigma.cov, sizeof(double) * (size_t)(neps * neps));
    memcpy(omega0, omega, sizeof(double) * (size_t)(ne * ne));
    memcpy(sigma0, sigma, sizeof(double) * (size_t)(neps * neps));
    for (int k = 0; k < rm->n; k++) {
        int up = (k + rep) % 2 == 0;
        int i = rm->ii[k];
        if (rm->kind[k] == 0)
            theta0[i] = rm->logscale[k] ? theta[i] + log(up ? 1.3 : 0.7) : theta[i] * (up ? 1.3 : 0.7);
        else if (rm->ii[k] == rm->jj[k])   /* variances; covariances stay */
            (rm->kind[k] == 1 ? omega0 : sigma0)[i * (rm->kind[k] == 1 ? ne : neps) + i] *=
                up ? 2 : 0.5;
    }

    Arena *a = mem_arena_new();
    FILE *sink = tmpfile();
    Diag *d = a && sink ? diag_new(a, sink) : NULL;
    size_t len = 0;
    char *text = rec_design(sc, seed, &len);
    Dataset *ds = d && text ? data_parse(a, d, m, "sim.csv", text, len) : NULL;
    free(text);
    if (!ds || rec_simulate(rm->p, ds, theta, omega, sigma, seed, nthreads, d) != 0) {
        snprintf(out->message, sizeof out->message, "the simulation failed");
        goto done;
    }

    EstOpts o;
    memset(&o, 0, sizeof o);
    o.method = m->nests > 0 ? m->ests[0].method : EST_FOCEI;
    o.sim.nthreads = nthreads;
    if (getenv("REC_LOG"))
        o.log = stderr;
    o.theta0 = theta0;
    o.omega0 = omega0;
    o.sigma0 = sigma0;
    EstResult r;
    double t0 = rec_now();
    int rc = est_run(rm->p, ds, &o, &r, d);
    out->fit_s = rec_now() - t0;
    if (rc != 0) {
        snprintf(out->message, sizeof out->message, "est_run failed");
        goto done;
    }
    out->ran = 1;
    out->converged = r.converged;
    out->iterations = r.iterations;
    out->ofv = r.ofv;
    snprintf(out->message, sizeof out->message, "%s", r.message);
    for (int k = 0; k < rm->n; k++)
        out->est[k] = rec_value(rm, &r, k);
    /* a maximum-likelihood fit is at least as good as the truth: a
     * higher OFV than the truth's means the optimiser stopped short */
    if (est_objective(rm->p, ds, &o, theta, omega, sigma, &out->ofv_true, NULL, d) != 0)
        out->ofv_true = NAN;
    /* the same estimates with every inner problem started afresh: a
     * different OFV means the fit carried some subject's mode into a
     * local optimum of its own (or lost it) */
    double *eta = calloc((size_t)ds->nsubjects * (size_t)(ne > 0 ? ne : 1), sizeof(double));
    out->ofv_fresh = NAN;
    if (eta && est_objective(rm->p, ds, &o, r.theta, r.omega, r.sigma, &out->ofv_fresh, eta, d) == 0)
        for (int s = 0; s < ds->nsubjects; s++) {
            double dmax = 0;
            for (int j = 0; j < ne; j++)
                dmax = fmax(dmax, fabs(eta[s * ne + j] - r.eta[s * ne + j]));
            out->moved += dmax > 0.01;
        }
    free(eta);

    char msg[256] = "", msg_r[256] = "";
    t0 = rec_now();
    out->cov_ok = rec_cov(rm, ds, &o, &r, m->cov.present ? m->cov.matrix : COV_SANDWICH,
                          out->se, msg, sizeof msg, d);
    if (with_r)
        out->cov_r_ok = rec_cov(rm, ds, &o, &r, COV_R, out->se_r, msg_r, sizeof msg_r, d);
    out->cov_s = rec_now() - t0;
    if (!out->cov_ok)
        snprintf(out->message, sizeof out->message, "%.120s; covariance step: %.180s", r.message, msg);
    else if (with_r && !out->cov_r_ok)
        snprintf(out->message, sizeof out->message, "%.120s; R^-1 step: %.180s", r.message, msg_r);
    est_result_free(&r);
done:
    if (sink) {
        rec_dump(sink, "# ");
        fclose(sink);
    }
    mem_arena_free(&a);
}

/* ---- the summary --------------------------------------------------------------------- */

/* Parameter k over the replicates; r_matrix: the coverage of the R^-1
 * intervals instead of the sandwich's. */
static RecSummary rec_summary(const RecModel *rm, const RecRep *reps, int nrep, int k, int r_matrix)
{
    RecSummary s;
    memset(&s, 0, sizeof s);
    double sum = 0, sum2 = 0, b = 0, b2 = 0, se = 0;
    int nse = 0;
    for (int i = 0; i < nrep; i++) {
        const RecRep *p = &reps[i];
        if (!p->ran)
            continue;
        double x = p->est[k], t = rm->truth[k];
        double rel = rm->logscale[k] ? exp(x - t) - 1 : x / t - 1;
        s.n++;
        sum += x;
        sum2 += x * x;
        b += rel;
        b2 += rel * rel;
        double e = r_matrix ? p->se_r[k] : p->se[k];
        if (isfinite(e)) {
            nse++;
            se += e;
            s.nci++;
            s.ncover += fabs(x - t) <= REC_Z95 * e;
        }
    }
    if (s.n > 0) {
        s.mean = sum / s.n;
        s.bias = b / s.n;
        s.sd = s.n > 1 ? sqrt(fmax(sum2 - s.n * s.mean * s.mean, 0) / (s.n - 1)) : NAN;
        s.bias_mcse = s.n > 1 ? sqrt(fmax(b2 - s.n * s.bias * s.bias, 0) / (s.n - 1) / s.n) : NAN;
    }
    s.mean_se = nse > 0 ? se / nse : NAN;
    return s;
}

static int rec_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rec_median(double *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, rec_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The table of a scenario, every line starting with prefix. */
static void rec_table(FILE *f, const char *prefix, const RecModel *rm, const RecRep *reps,
                      int nrep, int with_r)
{
    int ran = 0, conv = 0, cov = 0, covr = 0, above = 0, stale = 0;
    double fit[4096], cs[4096];
    int nf = 0;
    for (int i = 0; i < nrep; i++) {
        ran += reps[i].ran;
        conv += reps[i].ran && reps[i].converged;
        cov += reps[i].cov_ok;
        covr += reps[i].cov_r_ok;
        above += reps[i].ran && !(reps[i].ofv <= reps[i].ofv_true + 1e-3);
        stale += reps[i].ran && !(fabs(reps[i].ofv - reps[i].ofv_fresh) <= 1e-3);
        if (reps[i].ran && nf < 4096) {
            fit[nf] = reps[i].fit_s;
            cs[nf++] = reps[i].cov_s;
        }
    }
    fprintf(f, "%s%s: %d replicates x %d subjects x %d observations; fitted %d, converged %d, "
               "covariance step %d", prefix, rm->sc->name, nrep, rm->sc->nsub, rm->sc->ntimes,
            ran, conv, cov);
    if (with_r)
        fprintf(f, " (R^-1: %d)", covr);
    fprintf(f, ", OFV above the truth's %d, OFV changed by fresh inner starts %d\n", above,
            stale);
    fprintf(f, "%s%-22s %9s %9s %9s %7s %8s %9s %9s", prefix, "parameter", "truth", "mean est",
            "rel bias", "(MCSE)", "coverage", "mean SE", "emp SD");
    if (with_r)
        fprintf(f, " %9s %9s", "cov R^-1", "mean SE R");
    fputc('\n', f);
    for (int k = 0; k < rm->n; k++) {
        RecSummary s = rec_summary(rm, reps, nrep, k, 0);
        char name[40];
        snprintf(name, sizeof name, "%s%s", rm->names[k], rm->logscale[k] ? " (log)" : "");
        fprintf(f, "%s%-22s %9.4g %9.4g %+8.2f%% %6.2f%% %7.1f%% %9.3g %9.3g", prefix, name,
                rm->truth[k], s.mean, 100 * s.bias, 100 * s.bias_mcse,
                s.nci ? 100.0 * s.ncover / s.nci : NAN, s.mean_se, s.sd);
        if (with_r) {
            RecSummary sr = rec_summary(rm, reps, nrep, k, 1);
            fprintf(f, " %8.1f%% %9.3g", sr.nci ? 100.0 * sr.ncover / sr.nci : NAN, sr.mean_se);
        }
        fputc('\n', f);
    }
    double mf = rec_median(fit, nf), mc = rec_median(cs, nf);
    fprintf(f, "%smedian wall time per replicate: fit %.2f s, covariance step%s %.2f s\n", prefix,
            mf, with_r ? "s" : "", mc);
}

/* Replicates that did not go well, one line each, with their seed. */
static void rec_problems(FILE *f, const char *prefix, const RecModel *rm, const RecRep *reps,
                         int nrep, int with_r)
{
    for (int i = 0; i < nrep; i++) {
        const RecRep *p = &reps[i];
        int above = p->ran && !(p->ofv <= p->ofv_true + 1e-3);
        int stale = p->ran && !(fabs(p->ofv - p->ofv_fresh) <= 1e-3);
        if (p->ran && p->converged && p->cov_ok && (!with_r || p->cov_r_ok) && !above && !stale)
            continue;
        fprintf(f, "%s%s replicate %d (seed %llu): %s; OFV %.4f, at the truth %.4f, afresh at "
                   "the estimates %.4f (%d subjects' modes move); %s\n",
                prefix, rm->sc->name, i, (unsigned long long)(rm->sc->seed + (uint64_t)i),
                !p->ran ? "did not run" : !p->converged ? "not converged" : "converged",
                p->ofv, p->ofv_true, p->ofv_fresh, p->moved, p->message);
    }
}

/* Every replicate as a CSV row: its seed, status, OFVs, and each
 * parameter's estimate and SE (sandwich, then R^-1).  (The bench's; the
 * test has no use for it.) */
__attribute__((unused)) static void rec_csv(FILE *f, const RecModel *rm, const RecRep *reps, int nrep)
{
    fprintf(f, "replicate,seed,ran,converged,cov_ok,cov_r_ok,ofv,ofv_true,ofv_fresh,fit_s,cov_s");
    for (int k = 0; k < rm->n; k++)
        fprintf(f, ",\"%s\",\"SE %s\",\"SE_R %s\"", rm->names[k], rm->names[k], rm->names[k]);
    fputc('\n', f);
    for (int i = 0; i < nrep; i++) {
        const RecRep *p = &reps[i];
        fprintf(f, "%d,%llu,%d,%d,%d,%d,%.10g,%.10g,%.10g,%.4g,%.4g", i,
                (unsigned long long)(rm->sc->seed + (uint64_t)i), p->ran, p->converged, p->cov_ok,
                p->cov_r_ok, p->ofv, p->ofv_true, p->ofv_fresh, p->fit_s, p->cov_s);
        for (int k = 0; k < rm->n; k++)
            fprintf(f, ",%.10g,%.6g,%.6g", p->est[k], p->se[k], p->se_r[k]);
        fputc('\n', f);
    }
}

/* ---- the scenarios ------------------------------------------------------------------- */

/* One compartment, first-order absorption, log-normal variability on
 * all three parameters, proportional error.  100 mg once; 12 samples
 * over a day. */
static const char rec_model_1cmt[] =
    "$PROBLEM recovery: one compartment, first-order absorption\n"
    "$DATA sim.csv IGNORE=@\n"
    "$INPUT ID TIME DV AMT EVID CMT WT\n"
    "$COMPARTMENTS depot(dose) central(observe)\n"
    "$THETA\n"
    "  tka = 0.2      ; log KA (1/h): 1.22\n"
    "  tcl = 1.4      ; log CL (L/h): 4.06\n"
    "  tv  = 3.7      ; log V (L): 40.4\n"
    "$OMEGA\n"
    "  eta_ka ~ 0.2\n"
    "  eta_cl ~ 0.1\n"
    "  eta_v  ~ 0.1\n"
    "$SIGMA\n"
    "  eps_prop ~ 0.01   ; 10% CV\n"
    "$PK\n"
    "  KA = exp(tka + eta_ka)\n"
    "  CL = exp(tcl + eta_cl)\n"
    "  V  = exp(tv + eta_v)\n"
    "$DES\n"
    "  d/dt(depot)   = -KA*depot\n"
    "  d/dt(central) =  KA*depot - CL/V*central\n"
    "$ERROR\n"
    "  IPRED = central/V\n"
    "  Y = IPRED*(1 + eps_prop)\n"
    "$ESTIMATION METHOD=FOCEI\n"
    "$COVARIANCE MATRIX=SANDWICH\n";

static const double rec_times_1cmt[] = { 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24 };

/* Two compartments, first-order absorption, body weight on CL and V1
 * with both allometric exponents estimated, ETAs on CL, V1 and KA,
 * combined proportional and additive error.  100 mg once; 10 samples
 * over two days, the late ones where the additive part shows.  Weights
 * are log-normal around 70 kg with SD 0.25 on the log scale (5-95%:
 * 46-106 kg). */
static const char rec_model_2cmt[] =
    "$PROBLEM recovery: two compartments, first-order absorption, weight on CL and V1\n"
    "$DATA sim.csv IGNORE=@\n"
    "$INPUT ID TIME DV AMT EVID CMT WT\n"
    "$COMPARTMENTS depot(dose) central(observe) periph\n"
    "$THETA\n"
    "  tka   = 0.0     ; log KA (1/h): 1\n"
    "  tcl   = 1.6     ; log CL (L/h) at 70 kg: 4.95\n"
    "  tv1   = 3.4     ; log V1 (L) at 70 kg: 30.0\n"
    "  tq    = 2.0     ; log Q (L/h): 7.39\n"
    "  tv2   = 4.1     ; log V2 (L): 60.3\n"
    "  wt_cl = 0.75    ; allometric exponent of CL\n"
    "  wt_v1 = 1.0     ; of V1\n"
    "$OMEGA\n"
    "  eta_cl ~ 0.09\n"
    "  eta_v1 ~ 0.1\n"
    "  eta_ka ~ 0.2\n"
    "$SIGMA\n"
    "  eps_prop ~ 0.01     ; 10% CV\n"
    "  eps_add  ~ 0.0025   ; SD 0.05 mg/L\n"
    "$PK\n"
    "  KA = exp(tka + eta_ka)\n"
    "  CL = exp(tcl + eta_cl)*(WT/70)^wt_cl\n"
    "  V1 = exp(tv1 + eta_v1)*(WT/70)^wt_v1\n"
    "  Q  = exp(tq)\n"
    "  V2 = exp(tv2)\n"
    "$DES\n"
    "  d/dt(depot)   = -KA*depot\n"
    "  d/dt(central) =  KA*depot - CL/V1*central - Q/V1*central + Q/V2*periph\n"
    "  d/dt(periph)  =  Q/V1*central - Q/V2*periph\n"
    "$ERROR\n"
    "  IPRED = central/V1\n"
    "  Y = IPRED*(1 + eps_prop) + eps_add\n"
    "$ESTIMATION METHOD=FOCEI\n"
    "$COVARIANCE MATRIX=SANDWICH\n";

static const double rec_times_2cmt[] = { 0.5, 1, 2, 3, 4, 6, 8, 12, 24, 48 };

static const RecScenario rec_1cmt = {
    "1-cmt oral", rec_model_1cmt, "LLL", 40, 100, rec_times_1cmt,
    (int)(sizeof rec_times_1cmt / sizeof rec_times_1cmt[0]), 70, 0, 20261124
};

static const RecScenario rec_2cmt = {
    "2-cmt oral + WT", rec_model_2cmt, "LLLLL..", 40, 100, rec_times_2cmt,
    (int)(sizeof rec_times_2cmt / sizeof rec_times_2cmt[0]), 70, 0.25, 20261125000ull
};

#endif
