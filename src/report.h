/*
 * report.h -- the diagnostic plots of a fit, from its tables' columns.
 *
 * report_plots() writes, into the output folder, the SVG files users of
 * xpose and Pirana expect after a population fit (docs/plots.md):
 * dv_pred.svg, dv_ipred.svg, cwres_time.svg, cwres_pred.svg,
 * npde_time.svg (with NPDE), and indiv_fits_01.svg... (16 subjects a page),
 * each written atomically.  It draws the observations only (EVID 0,
 * MDV 0, DV present).
 */
#ifndef QLX_REPORT_H
#define QLX_REPORT_H

#include <stdio.h>

#include "table.h"

/* 0, or -1 after reporting which file could not be written. */
int report_plots(const TabRun *r, const char *dir, Diag *d, FILE *log);

#endif
