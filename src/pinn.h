/*
 * pinn.h -- physics-informed training of hybrid quantum-classical models
 * (PI-HQNN): $QUANTUM and $NETWORK branches combined in $HYBRID, trained
 * against the data, the $DES equations and the initial conditions
 * ($LOSS) by Adam (docs/pinn.md).
 *
 * The networks stand for compartment amounts that $HYBRID assigns
 * (`central = V*(linear(q) + c)`); the predictions compared with DV are
 * $ERROR's IPRED when the model has one, else the first variable $HYBRID
 * assigns.  Every derivative is exact: the branches' outputs and their
 * time derivatives with their parameter gradients (adjoint and forward
 * mode in qc.c, reverse over a tangent in nn.c), and the model's
 * expressions by symbolic differentiation of the graph.
 */
#ifndef QLX_PINN_H
#define QLX_PINN_H

#include <stdio.h>
#include "data.h"
#include "diag.h"
#include "sema.h"

typedef struct {
    const ModelEst *est;   /* the first ADAM or LBFGS step: its SEED starts the
                              networks; every such step of the model runs */
    FILE *log;             /* progress; NULL: quiet */
} PinnOpts;

/* The loss terms, each already weighted by $LOSS. */
typedef struct {
    double total, data, physics, initial;
    double prior;          /* population mode: the ETAs' term */
} PinnLoss;

typedef struct {
    int epochs;
    PinnLoss loss;               /* at the end */
    PinnLoss *trace;             /* epochs + 1: before each step, then the end */
    double *theta_trace;         /* (epochs + 1) x nthetas, natural scale */
    int nthetas;
    double *theta;               /* nthetas: learned, natural scale */
    int ndata;
    double *data_id, *data_time, *data_dv, *data_pred;   /* ndata, at the end */
    int ngrid;
    double *grid_id, *grid_time, *grid_pred;     /* a fine grid of each subject, for plots */
    int nitems;                  /* columns of grid_items: what $HYBRID gives, then the branches */
    const char **item_names;     /* nitems (the model's names) */
    double *grid_items;          /* ngrid x nitems */
    int nsub, ne;                /* subjects; ETAs trained per subject (population mode) */
    double *sub_id, *eta, *omega;    /* nsub; nsub x ne; ne: the learnt variances */
    int nparams;                 /* trainable numbers in all */
    int nbranch;                 /* the model's $QUANTUM and $NETWORK records */
    char **qasm;                 /* nbranch: each trained circuit as OpenQASM 2.0
                                    (qasm.h; NULL for a network) */
    double *branch_out;          /* nbranch x ndata: each branch's output at the data */
    /* With several subjects each has networks of its own; qasm holds the
     * first subject's circuits. */
    double seconds;
} PinnResult;

/* Trains the model's branches and free THETAs.  0, or -1 after reporting
 * through d (with the record and line at fault where there is one). */
int  pinn_train(const Model *m, const Dataset *ds, const PinnOpts *o, PinnResult *r, Diag *d);
void pinn_result_free(PinnResult *r);

/* The loss gradient at the initial values against central differences
 * of the loss, for every trainable number: *max_err is the largest
 * |analytic - difference| / max(|difference|, 1e-3 max(loss, 1)).  For
 * tests.  0, or -1 after reporting. */
int  pinn_gradient_check(const Model *m, const Dataset *ds, const PinnOpts *o, double *max_err,
                         Diag *d);

/* training.csv, summary.txt, results.json, fit.csv, the plots fit.svg
 * and loss.svg, and NAME.qasm for each circuit, into dir, each written
 * atomically.  0, or -1 (reported). */
int  pinn_write(const Model *m, const PinnResult *r, const char *dir, Diag *d, FILE *log);
/* Only the NAME.qasm files (qlxc export --qasm). */
int  pinn_write_qasm(const Model *m, const PinnResult *r, const char *dir, Diag *d, FILE *log);

#endif
