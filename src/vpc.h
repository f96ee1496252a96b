/*
 * vpc.h -- the visual predictive check of a model against its dataset
 * ($SIMULATION ... VPC, docs/simulation.md).
 *
 * The dataset is simulated NREP times at the given parameters (its own
 * subjects, covariates, doses and sampling times; ETAs from OMEGA and
 * residual errors from SIGMA), the observations are binned by time, and
 * in each bin the 5th, 50th and 95th percentiles of the observed DV are
 * set beside the 95% intervals (over the replicates) of the same
 * percentiles of the simulated Y.  With DVID in the data, each endpoint
 * is a panel of its own.
 */
#ifndef QLX_VPC_H
#define QLX_VPC_H

#include <stdio.h>

#include "data.h"
#include "prog.h"
#include "sim.h"

typedef struct {
    int dvid;                /* the endpoint (0 without DVID) */
    int nbin;
    double *time;            /* nbin: the median observation time of each bin */
    double *lo, *hi;         /* nbin: each bin's time range */
    int *nobs;               /* nbin */
    double *obs;             /* nbin x 3: the observed 5th, 50th, 95th percentiles */
    double *sim;             /* nbin x 3 x 3: for each percentile, its 2.5th, 50th
                                and 97.5th percentile over the replicates */
    int outside;             /* observed percentiles outside their interval */
} VpcPanel;

typedef struct {
    int nrep, npanel;
    VpcPanel *panel;
} VpcResult;

/* NREP and BINS come from the VPC line of m's $SIMULATION (the line
 * given).  0, 1 after reporting a mistake in the line, -1 after a
 * failure while simulating. */
int  vpc_run(const Prog *p, const Dataset *ds, const Directive *line, const double *theta,
             const double *omega, const double *sigma, uint64_t seed, const SimOpts *o,
             VpcResult *r, Diag *d);
void vpc_result_free(VpcResult *r);
/* vpc.csv and vpc.svg (vpc_DVID.svg per endpoint with DVID) into dir. */
int  vpc_write(const VpcResult *r, const char *dir, Diag *d, FILE *log);

#endif
