/*
 * report.c -- a fit's diagnostic plots (see report.h); the drawing is
 * plot.h's, this module only picks the columns.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

typedef struct {
    const TabRun *r;
    const char *dir;
    Diag *d;
    FILE *log;
    int n;                          /* observations */
    double *time, *dv, *pred, *ipred, *cwres, *npde;
} Cols;

static int put(Cols *c, const char *name, char *svg)
{
    return plot_put(c->dir, name, svg, c->d, c->log);
}

static int scatter(Cols *c, const char *file, const char *title, const double *x,
                   const char *xl, const double *y, const char *yl, int ref)
{
    PlotOpts o = { title, xl, yl, ref, 0, 0, 1 };
    return put(c, file, plot_scatter_svg(x, y, c->n, &o, NULL));
}

/* Individual fits: every row of each subject (the lines run through the
 * dose records too), observations marked. */
static int indiv(Cols *c)
{
    const Dataset *ds = c->r->ds;
    int nr = ds->nrows, ns = ds->nsubjects, rc = 0;
    double *id = malloc(sizeof(double) * (size_t)(4 * nr + 1));
    int *isobs = malloc(sizeof(int) * (size_t)(nr + 1));
    int *first = malloc(sizeof(int) * (size_t)(2 * ns + 1)), *count = first ? first + ns : NULL;
    if (!id || !isobs || !first) {
        free(id), free(isobs), free(first);
        return -1;
    }
    double *time = id + nr, *dv = time + nr, *ipred = dv + nr;
    for (int s = 0; s < ns; s++) {
        const DataSubject *su = &ds->subjects[s];
        first[s] = su->first, count[s] = su->n;
        for (int k = su->first; k < su->first + su->n; k++) {
            id[k] = su->id;
            time[k] = ds->rows[k].time;
            dv[k] = ds->rows[k].dv;
            ipred[k] = c->r->ind->pred[k];
            isobs[k] = data_is_obs(&ds->rows[k]);
        }
    }
    int pages = (ns + PLOT_PER_PAGE - 1) / PLOT_PER_PAGE;
    for (int p = 0; p < pages && rc == 0; p++) {
        int k = ns - p * PLOT_PER_PAGE;
        if (k > PLOT_PER_PAGE)
            k = PLOT_PER_PAGE;
        char name[64], title[96];
        snprintf(name, sizeof name, "indiv_fits_%02d.svg", p + 1);
        snprintf(title, sizeof title, "Individual fits (page %d of %d)", p + 1, pages);
        rc = put(c, name, plot_indiv_svg(id, time, dv, ipred, c->r->pop->pred, isobs,
                                         first + p * PLOT_PER_PAGE, count + p * PLOT_PER_PAGE, k,
                                         title, NULL));
    }
    free(id), free(isobs), free(first);
    return rc;
}

int report_plots(const TabRun *r, const char *dir, Diag *d, FILE *log)
{
    const Dataset *ds = r->ds;
    Cols c = { r, dir, d, log, 0, NULL, NULL, NULL, NULL, NULL, NULL };
    size_t nr = (size_t)ds->nrows + 1;
    double *buf = malloc(sizeof(double) * 6 * nr);
    if (!buf) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory drawing the plots");
        return -1;
    }
    c.time = buf, c.dv = buf + nr, c.pred = buf + 2 * nr, c.ipred = buf + 3 * nr;
    c.cwres = buf + 4 * nr, c.npde = buf + 5 * nr;
    for (int k = 0; k < ds->nrows; k++) {
        if (!data_is_obs(&ds->rows[k]))
            continue;
        c.time[c.n] = ds->rows[k].time;
        c.dv[c.n] = ds->rows[k].dv;
        c.pred[c.n] = r->pop->pred[k];
        c.ipred[c.n] = r->ind->pred[k];
        c.cwres[c.n] = r->cwres ? r->cwres[k] : NAN;
        c.npde[c.n] = r->npde ? r->npde[k] : NAN;
        c.n++;
    }
    int rc = scatter(&c, "dv_pred.svg", "Observations vs population predictions", c.pred, "PRED",
                     c.dv, "DV", PLOT_REF_IDENTITY);
    if (rc == 0)
        rc = scatter(&c, "dv_ipred.svg", "Observations vs individual predictions", c.ipred,
                     "IPRED", c.dv, "DV", PLOT_REF_IDENTITY);
    if (rc == 0 && r->cwres)
        rc = scatter(&c, "cwres_time.svg", "Conditional weighted residuals vs time", c.time,
                     "TIME", c.cwres, "CWRES", PLOT_REF_ZERO);
    if (rc == 0 && r->cwres)
        rc = scatter(&c, "cwres_pred.svg", "Conditional weighted residuals vs population "
                     "predictions", c.pred, "PRED", c.cwres, "CWRES", PLOT_REF_ZERO);
    if (rc == 0 && r->npde)
        rc = scatter(&c, "npde_time.svg", "Normalised prediction distribution errors vs time",
                     c.time, "TIME", c.npde, "NPDE", PLOT_REF_ZERO);
    if (rc == 0)
        rc = indiv(&c);
    free(buf);
    return rc;
}
