/*
 * vpc.c -- the visual predictive check (vpc.h).
 *
 * Bins: when an endpoint has no more distinct observation times than
 * BINS, each time is a bin (the usual case of a nominal design);
 * otherwise the observations, sorted by time, are cut into BINS groups
 * of about equal counts, never splitting one time between two bins.
 */
#include "vpc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kw.h"
#include "mc.h"
#include "mem.h"
#include "plot.h"
#include "table.h"

static const double P3[3] = { 0.05, 0.5, 0.95 };
static const double PI3[3] = { 0.025, 0.5, 0.975 };

static int fail(Diag *d, Span at, const char *hint, const char *msg)
{
    diag_report(d, DIAG_ERROR, at, hint, "%s", msg);
    return 1;
}

static int read_line(const Directive *line, int *nrep, int *bins, Diag *d)
{
    *nrep = 200;
    *bins = 8;
    for (int i = 0; i < line->nitems; i++) {
        const DirItem *it = &line->items[i];
        double v = 0;
        if (it->kind != DI_KEYVAL || !it->expr || it->expr->kind != EX_NUM)
            return fail(d, it->span, "write VPC NREP=200 BINS=8", "a VPC line takes NREP= and BINS=");
        v = it->expr->num;
        if (kw_strcaseeq(it->key, "NREP") && v >= 20 && v <= 100000 && v == floor(v))
            *nrep = (int)v;
        else if (kw_strcaseeq(it->key, "BINS") && v >= 1 && v <= 100 && v == floor(v))
            *bins = (int)v;
        else
            return fail(d, it->span, "NREP from 20 to 100000, BINS from 1 to 100",
                        "unknown VPC item, or its value is out of range");
    }
    return 0;
}

typedef struct {
    int row;
    double t;
} Obs;

static int obs_cmp(const void *a, const void *b)
{
    const Obs *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

/* Bins of one endpoint: bin[row] for its observation rows. */
static int make_bins(const Dataset *ds, int dvid, int maxbins, int *bin, VpcPanel *pn)
{
    int n = 0;
    for (int k = 0; k < ds->nrows; k++)
        n += data_is_obs(&ds->rows[k]) && ds->rows[k].dvid == dvid;
    Obs *o = malloc(sizeof *o * (size_t)(n > 0 ? n : 1));
    if (!o)
        return -1;
    int m = 0;
    for (int k = 0; k < ds->nrows; k++)
        if (data_is_obs(&ds->rows[k]) && ds->rows[k].dvid == dvid)
            o[m++] = (Obs){ k, ds->rows[k].time };
    qsort(o, (size_t)n, sizeof *o, obs_cmp);
    int distinct = 0;
    for (int i = 0; i < n; i++)
        distinct += i == 0 || o[i].t != o[i - 1].t;
    int nb = distinct <= maxbins ? distinct : maxbins;
    /* the start of each bin in o: every distinct time, or equal counts
     * moved forward to the next change of time */
    int *start = malloc(sizeof(int) * (size_t)(nb + 1));
    if (!start) {
        free(o);
        return -1;
    }
    int b = 0;
    for (int i = 0; i < n && b < nb; i++) {
        int open = distinct <= maxbins ? i == 0 || o[i].t != o[i - 1].t
                                       : i >= (long)b * n / nb && (i == 0 || o[i].t != o[i - 1].t);
        if (open)
            start[b++] = i;
    }
    nb = b;
    start[nb] = n;
    pn->dvid = dvid;
    pn->nbin = nb;
    pn->time = calloc((size_t)nb + 1, sizeof(double));
    pn->lo = calloc((size_t)nb + 1, sizeof(double));
    pn->hi = calloc((size_t)nb + 1, sizeof(double));
    pn->nobs = calloc((size_t)nb + 1, sizeof(int));
    pn->obs = calloc((size_t)nb * 3 + 1, sizeof(double));
    pn->sim = calloc((size_t)nb * 9 + 1, sizeof(double));
    double *scratch = malloc(sizeof(double) * (size_t)(n + 1));
    double *vals = malloc(sizeof(double) * (size_t)(n + 1));
    int rc = pn->time && pn->lo && pn->hi && pn->nobs && pn->obs && pn->sim && scratch && vals
                 ? 0
                 : -1;
    for (int j = 0; rc == 0 && j < nb; j++) {
        int c = 0;
        for (int i = start[j]; i < start[j + 1]; i++) {
            bin[o[i].row] = j;
            vals[c++] = ds->rows[o[i].row].dv;
        }
        pn->nobs[j] = c;
        pn->lo[j] = o[start[j]].t;
        pn->hi[j] = o[start[j + 1] - 1].t;
        pn->time[j] = o[start[j] + (c - 1) / 2].t;
        mc_quantiles(vals, c, scratch, 3, P3, pn->obs + (size_t)j * 3);
    }
    free(scratch);
    free(vals);
    free(start);
    free(o);
    return rc;
}

int vpc_run(const Prog *p, const Dataset *ds, const Directive *line, const double *theta,
            const double *omega, const double *sigma, uint64_t seed, const SimOpts *o,
            VpcResult *r, Diag *d)
{
    memset(r, 0, sizeof *r);
    const Model *m = p->m;
    int nrep, maxbins;
    if (read_line(line, &nrep, &maxbins, d) != 0)
        return 1;
    if (m->sigma.n == 0 || p->y_var < 0)
        return fail(d, line->name_span, "define Y with an EPS in $ERROR",
                    "a VPC simulates observations: the model needs Y and $SIGMA");
    /* the endpoints: each DVID of the observations */
    int dv[64], nd = 0;
    for (int k = 0; k < ds->nrows; k++) {
        const DataRow *row = &ds->rows[k];
        if (!data_is_obs(row))
            continue;
        int seen = 0;
        for (int j = 0; j < nd; j++)
            seen |= dv[j] == row->dvid;
        if (!seen && nd < 64)
            dv[nd++] = row->dvid;
    }
    if (nd == 0)
        return fail(d, line->name_span, NULL, "the dataset has no observations to check");
    r->nrep = nrep;
    r->npanel = nd;
    r->panel = calloc((size_t)nd, sizeof *r->panel);
    int *bin = malloc(sizeof(int) * (size_t)ds->nrows);
    if (!r->panel || !bin) {
        free(bin);
        return -1;
    }
    for (int k = 0; k < ds->nrows; k++)
        bin[k] = -1;
    int *off = calloc((size_t)nd + 1, sizeof(int));   /* each panel's first bin, overall */
    int total = 0;
    for (int j = 0; j < nd; j++) {
        int *pb = malloc(sizeof(int) * (size_t)ds->nrows);
        if (!pb || make_bins(ds, dv[j], maxbins, pb, &r->panel[j]) != 0) {
            free(pb);
            free(bin);
            free(off);
            return -1;
        }
        for (int k = 0; k < ds->nrows; k++)
            if (data_is_obs(&ds->rows[k]) && ds->rows[k].dvid == dv[j])
                bin[k] = total + pb[k];
        free(pb);
        off[j] = total;
        total += r->panel[j].nbin;
    }
    /* the replicates: each bin's percentiles of the simulated Y */
    double *rep = malloc(sizeof(double) * (size_t)nrep * (size_t)total * 3 + 1);
    double *eta = malloc(sizeof(double) * ((size_t)ds->nsubjects * (size_t)m->omega.n + 1));
    double *eps = malloc(sizeof(double) * ((size_t)ds->nrows * (size_t)m->sigma.n + 1));
    double *vals = malloc(sizeof(double) * (size_t)(ds->nrows + 1));
    double *scratch = malloc(sizeof(double) * (size_t)(ds->nrows + nrep + 1));
    /* each bin's rows, found once: rows[start[b] .. start[b + 1]) */
    int *start = calloc((size_t)total + 2, sizeof(int));
    int *rows = malloc(sizeof(int) * (size_t)(ds->nrows + 1));
    for (int k = 0; start && rows && k < ds->nrows; k++)
        if (bin[k] >= 0)
            start[bin[k] + 2]++;
    for (int b = 0; start && rows && b < total; b++)
        start[b + 2] += start[b + 1];
    for (int k = 0; start && rows && k < ds->nrows; k++)
        if (bin[k] >= 0)
            rows[start[bin[k] + 1]++] = k;
    int rc = rep && eta && eps && vals && scratch && start && rows ? 0 : -1;
    SimOut so;
    if (rc == 0 && sim_out_alloc(&so, p, ds) != 0)
        rc = -1;
    for (int q = 0; rc == 0 && q < nrep; q++) {
        /* each replicate a seed of its own, each subject a unit within it */
        uint64_t sq = seed * 0x9E3779B97F4A7C15ull + (uint64_t)q + 1;
        if (sim_draw(p, ds, omega, sigma, sq, eta, eps) != 0) {
            rc = fail(d, line->name_span, NULL, "OMEGA or SIGMA is not positive semi-definite");
            break;
        }
        if (sim_run(p, ds, theta, eta, eps, o, &so, d) != 0) {
            rc = -1;
            break;
        }
        for (int b = 0; b < total; b++) {
            int c = 0;
            for (int k = start[b]; k < start[b + 1]; k++)
                vals[c++] = so.y[rows[k]];
            mc_quantiles(vals, c, scratch, 3, P3, rep + ((size_t)q * total + b) * 3);
        }
    }
    if (rc == 0)
        sim_out_free(&so);
    /* each percentile's interval over the replicates */
    for (int j = 0; rc == 0 && j < nd; j++) {
        VpcPanel *pn = &r->panel[j];
        for (int b = 0; b < pn->nbin; b++)
            for (int k = 0; k < 3; k++) {
                for (int q = 0; q < nrep; q++)
                    vals[q] = rep[((size_t)q * total + off[j] + b) * 3 + k];
                double *iv = pn->sim + ((size_t)b * 3 + k) * 3;
                mc_quantiles(vals, nrep, scratch, 3, PI3, iv);
                double ob = pn->obs[(size_t)b * 3 + k];
                pn->outside += !(ob >= iv[0] && ob <= iv[2]);
            }
    }
    free(rep);
    free(eta);
    free(eps);
    free(vals);
    free(scratch);
    free(start);
    free(rows);
    free(bin);
    free(off);
    if (rc != 0)
        vpc_result_free(r);
    return rc;
}

void vpc_result_free(VpcResult *r)
{
    for (int j = 0; r && r->panel && j < r->npanel; j++) {
        VpcPanel *pn = &r->panel[j];
        free(pn->time), free(pn->lo), free(pn->hi), free(pn->nobs), free(pn->obs), free(pn->sim);
    }
    if (r) {
        free(r->panel);
        memset(r, 0, sizeof *r);
    }
}

int vpc_write(const VpcResult *r, const char *dir, Diag *d, FILE *log)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -1;
    fprintf(f, "DVID,BIN,TIME,TIME_FROM,TIME_TO,NOBS,PERCENTILE,OBSERVED,SIM_LOWER,SIM_MEDIAN,"
               "SIM_UPPER,INSIDE\n");
    for (int j = 0; j < r->npanel; j++) {
        const VpcPanel *pn = &r->panel[j];
        for (int b = 0; b < pn->nbin; b++)
            for (int k = 0; k < 3; k++) {
                const double *iv = pn->sim + ((size_t)b * 3 + k) * 3;
                double ob = pn->obs[(size_t)b * 3 + k];
                fprintf(f, "%d,%d,%.10g,%.10g,%.10g,%d,%d,%.10g,%.10g,%.10g,%.10g,%d\n", pn->dvid,
                        b + 1, pn->time[b], pn->lo[b], pn->hi[b], pn->nobs[b], (int)(100 * P3[k] + 0.5),
                        ob, iv[0], iv[1], iv[2], ob >= iv[0] && ob <= iv[2]);
            }
    }
    fclose(f);
    int rc = tab_put(dir, "vpc.csv", text, len, d, log);
    free(text);
    if (rc != 0)
        return -1;
    for (int j = 0; j < r->npanel; j++) {
        const VpcPanel *pn = &r->panel[j];
        char name[64], title[160];
        if (r->npanel > 1) {
            snprintf(name, sizeof name, "vpc_%d.svg", pn->dvid);
            snprintf(title, sizeof title, "VPC, DVID %d: observed percentiles in the 95%% "
                                          "intervals of %d simulations", pn->dvid, r->nrep);
        } else {
            snprintf(name, sizeof name, "vpc.svg");
            snprintf(title, sizeof title, "VPC: observed percentiles in the 95%% intervals of "
                                          "%d simulations", r->nrep);
        }
        size_t sl;
        if (plot_put(dir, name, plot_vpc_svg(pn->time, pn->obs, pn->sim, pn->nbin, title, &sl), d,
                     log) != 0)
            return -1;
    }
    return 0;
}
