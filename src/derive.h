/*
 * derive.h -- the subject hook: derived covariates computed in Lua once
 * per subject ($LUA script.lua SUBJECT=fn DERIVED=(BMI, CRCL), docs/lua.md).
 *
 * fn receives a table of the record's covariates ({WT = 82, HT = 1.78,
 * ...}: every covariate column of $INPUT, by name and by alias) and
 * returns a table that sets every DERIVED name.  The values land in the
 * derived columns (Model.cols from Model.ninput on), so that to every
 * engine a derived covariate is a data item like the others: the ODE
 * solver, the estimators and the tables never enter Lua.
 *
 * derive_data() runs before any engine, in one thread and in subject
 * order; the trials' virtual subjects get theirs from derive_row() as
 * they are built (mc.c).
 */
#ifndef QLX_DERIVE_H
#define QLX_DERIVE_H

#include <stddef.h>

#include "data.h"
#include "diag.h"
#include "hook.h"

/* The covariate columns of $INPUT as a Lua table sees them: each by its
 * name and by its alias (keys[k] reads column col[k]); vals and set are
 * room for their values and for which of them a hook returned.  The subject hook and the trials' covariate sampler (mc.c)
 * pass a record's covariates through one of these, built once. */
typedef struct {
    const char **keys;
    int *col;
    double *vals;
    unsigned char *set;
    int n;
} CovKeys;

int  cov_keys_new(const Model *m, CovKeys *k);   /* 0, or -1 out of memory */
void cov_keys_free(CovKeys *k);
/* k's values from the record's columns v. */
void cov_keys_load(CovKeys *k, const double *v);

/* v holds one record's columns (Model.ncols): sets its derived columns
 * from its covariates (k from cov_keys_new).  0, or -1 with why in err
 * ("covariates.lua:7: ... (SUBJECT=derive at model.qlx:4:20)"); model is
 * the .qlx path for that place (NULL: line and column alone). */
int derive_row(Hook *h, const Model *m, CovKeys *k, const char *model, double *v, char *err,
               size_t errlen);

/* Every record of ds: the hook is called on a subject's first record and
 * again only on a record whose covariates changed (a time-varying
 * covariate); the other records copy the last values.  0, or -1 after
 * reporting at the record's row of the data file. */
int derive_data(Hook *h, const Model *m, const char *model, Dataset *ds, Diag *d);

#endif
