/*
 * derive.c -- derived covariates from the subject hook (derive.h).
 */
#include "derive.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cov_keys_new(const Model *m, CovKeys *k)
{
    int cap = 2 * m->ninput + 1;
    k->keys = malloc(sizeof *k->keys * (size_t)cap);
    k->col = malloc(sizeof *k->col * (size_t)cap);
    k->vals = malloc(sizeof *k->vals * (size_t)cap);
    k->set = malloc((size_t)cap);
    k->n = 0;
    if (!k->keys || !k->col || !k->vals || !k->set) {
        cov_keys_free(k);
        return -1;
    }
    for (int i = 0; i < m->ninput; i++) {
        if (m->cols[i].role != COL_COVARIATE)
            continue;
        k->keys[k->n] = m->cols[i].name;
        k->col[k->n++] = i;
        if (m->cols[i].alias) {
            k->keys[k->n] = m->cols[i].alias;
            k->col[k->n++] = i;
        }
    }
    return 0;
}

void cov_keys_free(CovKeys *k)
{
    free(k->keys);
    free(k->col);
    free(k->vals);
    free(k->set);
    memset(k, 0, sizeof *k);
}

void cov_keys_load(CovKeys *k, const double *v)
{
    for (int j = 0; j < k->n; j++)
        k->vals[j] = v[k->col[j]];
}

static void place(const Model *m, const char *model, char *buf, size_t len)
{
    if (model)
        snprintf(buf, len, "SUBJECT=%s at %s:%d:%d", m->lua_subject, model,
                 m->lua_subject_span.line, m->lua_subject_span.col);
    else
        snprintf(buf, len, "SUBJECT=%s at line %d, column %d of the model", m->lua_subject,
                 m->lua_subject_span.line, m->lua_subject_span.col);
}

int derive_row(Hook *h, const Model *m, CovKeys *in, const char *model, double *v, char *err,
               size_t errlen)
{
    int nd = m->ncols - m->ninput;
    const char *keys[64];
    unsigned char set[64];
    if (nd > 64) {
        snprintf(err, errlen, "more than 64 derived covariates");
        return -1;
    }
    for (int j = 0; j < nd; j++)
        keys[j] = m->cols[m->ninput + j].name;
    cov_keys_load(in, v);
    HookMap a = { in->keys, in->vals, in->n }, out = { keys, v + m->ninput, nd };
    char at[300];
    if (hook_call_table(h, m->lua_subject, &a, NULL, &out, set) != 0) {
        place(m, model, at, sizeof at);
        snprintf(err, errlen, "%s (%s)", hook_error(h), at);
        return -1;
    }
    for (int j = 0; j < nd; j++) {
        if (!set[j] || !isfinite(v[m->ninput + j])) {
            place(m, model, at, sizeof at);
            snprintf(err, errlen, "%s did not set %s to a finite number (%s)", m->lua_subject,
                     keys[j], at);
            return -1;
        }
    }
    return 0;
}

/* The span of line `line` of a registered file, to quote the record. */
static Span row_span(Diag *d, int file, int line)
{
    Span s = { file, line, 1, 0, 0 };
    size_t len = 0;
    const char *t = file >= 0 ? diag_file_text(d, file, &len) : NULL;
    if (!t)
        return diag_nospan();
    size_t off = 0;
    for (int l = 1; l < line && off < len; off++)
        if (t[off] == '\n')
            l++;
    const char *nl = memchr(t + off, '\n', len - off);
    s.off = (int)off;
    s.len = (int)((nl ? (size_t)(nl - t) : len) - off);
    return s;
}

static int same_covariates(const CovKeys *in, const double *a, const double *b)
{
    for (int k = 0; k < in->n; k++) {
        double x = a[in->col[k]], y = b[in->col[k]];
        if (!(x == y || (isnan(x) && isnan(y))))
            return 0;
    }
    return 1;
}

int derive_data(Hook *h, const Model *m, const char *model, Dataset *ds, Diag *d)
{
    CovKeys in;
    if (cov_keys_new(m, &in) != 0) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory");
        return -1;
    }
    int nd = m->ncols - m->ninput, rc = 0;
    char why[1024];
    for (int s = 0; s < ds->nsubjects && rc == 0; s++) {
        const DataSubject *sub = &ds->subjects[s];
        for (int i = sub->first; i < sub->first + sub->n && rc == 0; i++) {
            double *v = ds->rows[i].v;
            if (i > sub->first && same_covariates(&in, v, ds->rows[i - 1].v)) {
                memcpy(v + m->ninput, ds->rows[i - 1].v + m->ninput, sizeof(double) * (size_t)nd);
                continue;
            }
            if (derive_row(h, m, &in, model, v, why, sizeof why) != 0) {
                diag_report(d, DIAG_ERROR, row_span(d, ds->file, ds->rows[i].row),
                            "the subject hook runs on each subject's covariates before the "
                            "model does",
                            "subject ID %g: %s", sub->id, why);
                rc = -1;
            }
        }
    }
    cov_keys_free(&in);
    return rc;
}
