/*
 * plot.h -- goodness-of-fit plots after a population fit, as standalone
 * SVG files: DV against PRED and IPRED, CWRES against TIME and PRED, and
 * pages of individual fits, in the style of xpose and nlmixr2.
 * docs/plots.md says what each file shows and how to read it.
 *
 * The SVG is hand-written text with no dependencies; it does not depend
 * on the locale as long as nobody calls setlocale (the project never does).
 *
 * Ownership: plot_scatter_svg() and plot_indiv_svg() return a malloc'd,
 * NUL-terminated string (its length in *len) that the caller frees with
 * free(), or NULL when memory ran out (len may be NULL).  plot_write()
 * takes the string over and frees it, so a call can be written in one line.
 */
#ifndef QLX_PLOT_H
#define QLX_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "diag.h"

enum { PLOT_REF_NONE, PLOT_REF_IDENTITY, PLOT_REF_ZERO };

/* Panels on one page of individual fits (a 4 x 4 grid). */
#define PLOT_PER_PAGE 16

typedef struct {
    const char *title, *xlabel, *ylabel;    /* NULL: none */
    int ref;            /* PLOT_REF_*: IDENTITY (y = x; the axes share one
                           range, and one scale: log if either is log),
                           ZERO (y = 0 solid and y = +-2 dashed, both kept
                           in the range; not drawn on a log y axis) */
    int logx, logy;     /* log10 axes; values <= 0 are left out, and a note
                           in the plot counts them */
    int smooth;         /* a lowess trend line through the points */
} PlotOpts;

/* A scatter of y (n) against x (n).  Points where x or y is NaN or +-Inf
 * are skipped; with no point left the plot says "no observations". */
char *plot_scatter_svg(const double *x, const double *y, int n,
                       const PlotOpts *o, size_t *len);

/* One page of individual fits: a panel per subject (titled with its ID),
 * observed DV as points and IPRED (solid) and PRED (dashed) as lines
 * against TIME.  Subject s is rows [first[s], first[s] + count[s]) of the
 * row arrays, in time order; a row's DV is drawn when isobs[row] is
 * non-zero (isobs NULL: every row) and DV is finite.  id NULL numbers the
 * panels from 1; dv, ipred or pred NULL leaves that series out.  At most
 * PLOT_PER_PAGE subjects are drawn; the caller pages through the rest
 * (docs/plots.md). */
char *plot_indiv_svg(const double *id, const double *time, const double *dv,
                     const double *ipred, const double *pred, const int *isobs,
                     const int *first, const int *count, int nsubj,
                     const char *title, size_t *len);

/* Percentile bands over time: the 5th-95th band (lo, hi) shaded, the
 * median (mid) as a line, and a target level (NaN: none) dashed.  Points
 * where any value is NaN are skipped. */
char *plot_bands_svg(const double *t, const double *lo, const double *mid, const double *hi,
                     int n, double level, const PlotOpts *o, size_t *len);

/* A visual predictive check of n time bins: obs (n x 3) the observed
 * 5th, 50th, 95th percentiles at times t, drawn as lines; sim (n x 3 x
 * 3) each one's 2.5th, 50th, 97.5th percentile over the simulations,
 * drawn as shaded intervals. */
char *plot_vpc_svg(const double *t, const double *obs, const double *sim, int n,
                   const char *title, size_t *len);

/* Writes svg to path atomically and frees it.  Returns 0, or -1 with
 * errno set (ENOMEM when svg is NULL).  No length argument: in
 * plot_write(p, plot_scatter_svg(..., &len), len) C leaves open whether
 * len is read before or after the call fills it; the text has no NUL,
 * so its length is strlen(svg). */
int plot_write(const char *path, char *svg);

/* plot_write to dir/name through tab_put (reported, logged); takes svg. */
int plot_put(const char *dir, const char *name, char *svg, Diag *d, FILE *log);

/* The axis range of data in [lo, hi]: ticks every *step from *tick_lo to
 * *tick_hi, which enclose [lo, hi] and are the ends of the axis; the step
 * is the smallest 1, 2 or 5 times a power of ten that needs at most seven
 * intervals.  A degenerate range (lo == hi) is widened around its value.
 * (0.13, 9.7) gives 0..10 by 2; (-0.5, 10.2) gives -2..12 by 2. */
void plot_nice_range(double lo, double hi, double *tick_lo, double *tick_hi,
                     double *step);

#endif
