/*
 * sema.h -- the checker: syntax tree -> checked model.
 *
 * sema_check() reads every record of an Ast, reports every error it can
 * find in one pass (up to the Diag's limit), fills the `ref` of every
 * Expr and Stmt of the code records, and returns a Model: the model's
 * declarations with their initial values converted and validated, the
 * variables its code assigns, and the settings of its other records, in
 * the plain structs below.  Engines read a Model directly; it is
 * immutable once returned.
 *
 * Conventions of the Model:
 *   - Every index is 0-based and in declaration order (file order, across
 *     repeated records): THETA 0 is the first THETA declared.
 *   - A Ref of the tree indexes the arrays here: REF_THETA -> thetas,
 *     REF_ETA -> omega, REF_EPS -> sigma, REF_CMT -> cmts, REF_DATA ->
 *     cols, REF_VAR -> vars, REF_NET -> nets, REF_LUA -> luafns.
 *   - A number the model did not give is -1 for counts and seeds and NAN
 *     for reals, so the engine picks its own default.
 *
 * Ownership: the Model and everything it points to live in the arena
 * given to sema_check(); it points into the Ast, which must outlive it.
 */
#ifndef QLX_SEMA_H
#define QLX_SEMA_H

#include "ast.h"

typedef enum { XF_NONE, XF_SOFTPLUS, XF_LOG } ThetaTransform;

typedef struct {
    const char *name;      /* declared name, or "THETA(n)" when unnamed */
    int named;
    double init, lo, hi;   /* lo, hi: -INFINITY, +INFINITY when open */
    int fix;
    ThetaTransform transform;
    Span span;             /* the name, or the declaration when unnamed */
} ModelTheta;

/* The random effects of one level: ETAs ($OMEGA) or EPSs ($SIGMA).
 * Blocks are contiguous runs of indices; a diagonal entry is a block of
 * size 1 with full = 0, a BLOCK(n) declaration one block with full = 1
 * (its off-diagonal covariances are estimated).  cov holds the initial
 * values as variances and covariances whatever form (SD, CORRELATION)
 * the user wrote. */
typedef struct {
    int n;
    const char **names;    /* n */
    Span *spans;           /* n: each name where declared */
    double *cov;           /* n*n, row-major, symmetric */
    int *block;            /* n: block index of each effect */
    int nblocks;
    int *block_start, *block_size, *block_fix, *block_full;   /* nblocks */
} ModelRandom;

typedef struct {
    const char *name;
    Span span;
    int dose, observe;     /* roles given in $COMPARTMENTS */
} ModelCmt;

/* The role of a $INPUT column.  The order is fixed: engines index
 * Model.role_col by it. */
typedef enum {
    COL_ID, COL_TIME, COL_DV, COL_AMT, COL_EVID, COL_MDV, COL_CMT,
    COL_RATE, COL_II, COL_ADDL, COL_SS, COL_DVID,
    COL_NITEMS,            /* count of the reserved data items above */
    COL_COVARIATE = COL_NITEMS,
    COL_DROPPED,
    COL_DERIVED            /* $LUA DERIVED=(...): after $INPUT's columns */
} ColRole;

typedef struct {
    const char *name;      /* as written before '=' (or alone) */
    const char *alias;     /* after '=', or NULL; both names refer to it */
    ColRole role;          /* from whichever name is a reserved data item */
    Span span;
} ModelColumn;

/* A name assigned in $PK, $DES, $ERROR or $HYBRID.  A variable belongs to
 * the record that assigns it; other records read its final value (an
 * individual parameter, GIN_PARAM in the graph). */
typedef struct {
    const char *name;
    RecKind rec;
    Span span;             /* its first assignment */
} ModelVar;

/* The statements of one code record; rec is NULL when it is absent. */
typedef struct {
    const Record *rec;
    Stmt **stmts;
    int n;
} ModelCode;

typedef enum { DFMT_AUTO, DFMT_CSV, DFMT_SPACE } DataFormat;

typedef struct {
    int col;               /* index into Model.cols */
    AstOp op;              /* OP_EQ ... OP_GE */
    const char *value;     /* spelling */
    double num;            /* value, when is_num */
    int is_num;
    Span span;
} ModelFilter;

typedef struct {
    const char *path;      /* NULL when there is no $DATA */
    Span span;
    int ignore_char;       /* skip rows starting with it; '#' by default, 0 none */
    ModelFilter *filters;  /* IGNORE=(...) or ACCEPT=(...) */
    int nfilters;
    int accept;            /* filters say which rows to keep, not skip */
    DataFormat format;
    int records;           /* rows to read, -1 all */
} ModelData;

typedef enum {
    EST_FO, EST_FOCE, EST_FOCEI, EST_LAPLACE, EST_SAEM, EST_IMP, EST_ADAM,
    EST_LBFGS
} EstMethod;
typedef enum { SOLVER_AUTO, SOLVER_ODE, SOLVER_CLOSED } EstSolver;
typedef enum { INTEG_BDF, INTEG_ADAMS } EstIntegrator;

/* $SOLVER: how simulation solves the ODEs ($ESTIMATION steps carry
 * their own SOLVER, INTEGRATOR, RTOL and ATOL). */
typedef struct {
    int present;
    EstSolver solver;
    EstIntegrator integrator;
    double rtol, atol;     /* NAN: not given */
    long maxsteps;         /* -1: not given */
} ModelSolver;

/* One $ESTIMATION record.  METHOD=FOCE INTERACTION reads as EST_FOCEI. */
typedef struct {
    EstMethod method;      /* FO when not given, as in NONMEM */
    Span span;
    int interaction, posthoc, noabort;
    int maxeval, print, seed, nburn, niter, isample, epochs;   /* -1: not given */
    double sigdig, lr, rtol, atol;                             /* NAN: not given */
    EstSolver solver;
    EstIntegrator integrator;
} ModelEst;

typedef enum { COV_SANDWICH, COV_R, COV_S } CovMatrix;

typedef struct {
    int present;
    Span span;
    CovMatrix matrix;      /* SANDWICH (R^-1 S R^-1) by default */
    int unconditional;
} ModelCov;

typedef enum { TFMT_CSV, TFMT_SPACE } TableFormat;

typedef struct {
    const char **items;
    Span *spans;
    int nitems;
    const char *file;      /* NULL: the engine names it */
    int noprint, oneheader;
    TableFormat format;
    int esample, seed;     /* NPDE/EPRED simulations and their seed; -1: not given */
    Span span;
} ModelTable;

/* A $QUANTUM or $NETWORK record; its directives are shape-checked
 * against keywords.def but otherwise left for the engine to read. */
typedef struct {
    const char *name;
    RecKind kind;          /* REC_QUANTUM or REC_NETWORK */
    const Record *rec;
    const Directive *dirs; /* its directive lines, in order */
    int ndirs;
    Span span;             /* the name */
} ModelNet;

/* $LOSS: weights of the training loss terms.  Without a $LOSS record,
 * present = 0 and data = 1, the others 0. */
typedef struct {
    int present;
    double data, physics, initial;
    double prior;          /* population mode: the ETAs' term (1) */
    int collocation;       /* -1: not given */
    double over_lo, over_hi;   /* NAN: not given */
    int normalize;
    const Record *rec;
} ModelLoss;

typedef struct {
    int present;
    int n, seed;           /* -1: not given */
    int residual;          /* 1 unless RESIDUAL=NO */
    int uncertainty;       /* 0 unless UNCERTAINTY=YES */
    const Record *rec;     /* its directives, for the simulation engine */
} ModelSim;

typedef enum { PRIOR_NORMAL, PRIOR_LOGNORMAL, PRIOR_IWISHART } PriorDist;

typedef struct {
    int theta;             /* THETA index, or -1 for OMEGA */
    PriorDist dist;
    double p[2];           /* (mu, sd), or (df) */
    int np;
    Span span;
} ModelPrior;

/* A Lua function the model calls as lua.name(...); REF_LUA indexes these. */
typedef struct {
    const char *name;
    Span span;             /* first call */
} ModelLuaFn;

typedef struct {
    const Ast *ast;
    const char *title;     /* $PROBLEM, or NULL */

    ModelTheta *thetas;    int nthetas;
    ModelRandom omega, sigma;
    ModelCmt *cmts;        int ncmts;
    ModelColumn *cols;     int ncols;
    int ninput;            /* cols [0, ninput) are $INPUT's, read from the file;
                              [ninput, ncols) the subject hook's derived ones */
    int role_col[COL_NITEMS];  /* column of each data item, -1 if absent */
    ModelVar *vars;        int nvars;
    ModelNet *nets;        int nnets;
    ModelLuaFn *luafns;    int nluafns;

    ModelCode pk, des, error, hybrid;

    ModelData data;
    ModelEst *ests;        int nests;
    ModelCov cov;
    ModelSolver solver;
    ModelTable *tables;    int ntables;
    ModelPrior *priors;    int npriors;
    ModelLoss loss;
    ModelSim sim;
    const char **lua_paths;    Span *lua_spans;    int nlua;
    const char *lua_subject;   /* $LUA SUBJECT=fn: the per-subject hook, or NULL;
                                  it sets the DERIVED columns */
    Span lua_subject_span;
} Model;

/* Checks t; returns the model, or NULL when errors were reported. */
Model *sema_check(Arena *a, Diag *d, const Ast *t);

/* The statements of a code record (REC_PK, REC_DES, REC_ERROR,
 * REC_HYBRID), or NULL for any other kind. */
const ModelCode *sema_code(const Model *m, RecKind rec);

/* Name of a data role ("DV"), of a column's role for messages. */
const char *sema_role_name(ColRole r);

#endif
