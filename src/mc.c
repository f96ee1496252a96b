/*
 * mc.c -- Monte Carlo trials and dose finding (mc.h).
 *
 * The directive lines of $SIMULATION are read here, against the model:
 * names are resolved to columns and variables, and every mistake is
 * reported at its line and column.  Lines before the first SCENARIO are
 * the base every scenario starts from; a scenario's own lines add to it
 * or replace what they name.
 */
#include "mc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "derive.h"
#include "hook.h"
#include "kw.h"
#include "la.h"
#include "mem.h"
#include "plot.h"
#include "rng.h"
#include "table.h"

/* sim_draw: 0, 1; a Lua rule's decision k: MC_STREAM_RULE + k */
enum { MC_STREAM_RESAMPLE = 9, MC_STREAM_THETA = 10, MC_STREAM_SAMPLER = 11,
       MC_STREAM_COV = 16, MC_STREAM_RULE = 1 << 20 };
enum { MC_MAXCOV = 32, MC_GRID = 192 };

typedef enum { ST_MIN, ST_MAX, ST_MEAN, ST_AUC, ST_TROUGH, ST_TABOVE, ST_TBELOW } Stat;
typedef enum { DIST_FIXED, DIST_UNIFORM, DIST_NORMAL, DIST_LOGNORMAL, DIST_BERNOULLI,
               DIST_DISCRETE } DistKind;
typedef enum { CMP_LT, CMP_LE, CMP_GT, CMP_GE } Cmp;

typedef struct {
    int col;               /* Model.cols index */
    DistKind kind;
    double a, b;
    const Expr *vals, *probs;   /* discrete: two tuples */
} CovDist;

typedef struct {
    char name[64];
    int resample;
    CovDist cov[MC_MAXCOV];
    int ncov;
    const char *sampler;   /* POPULATION LUA=fn, or NULL */
    Span sampler_span;
    /* regimen */
    const Expr *dose;      /* a number, a tuple, or seq(from, to, by) */
    int cmt, ndoses, ss, has_regimen;
    double ii, dur;
    const char *rule;      /* REGIMEN RULE=fn: the dosing rule, or NULL */
    Span rule_span;
    int every;             /* a decision before every `every`-th dose */
    /* endpoint */
    Stat stat;
    int var, cmt_var;      /* a Model.vars index, or a compartment (cmt_var) */
    double level, t0, t1;
    int has_endpoint;
    char endpoint[160];
    /* target */
    Cmp cmp;
    double value, p;
    int has_target, find;
    char target[160];
    Span span;
} Spec;

typedef struct {
    const Prog *p;
    const Model *m;
    const Dataset *ds;
    Diag *d;
    Arena *a;
    Hook *h;               /* for the subject hook, samplers and rules; or NULL */
    const char *model;     /* the .qlx path, for the hooks' places in errors */
} Mc;

static int fail(Mc *c, Span at, const char *hint, const char *msg)
{
    diag_report(c->d, DIAG_ERROR, at, hint, "%s", msg);
    return -1;
}

static int find_col(const Model *m, const char *name)
{
    for (int i = 0; i < m->ncols; i++)
        if (strcmp(m->cols[i].name, name) == 0 ||
            (m->cols[i].alias && strcmp(m->cols[i].alias, name) == 0))
            return i;
    return -1;
}

/* ---- reading the directives ----------------------------------------------------- */

static int read_population(Mc *c, Spec *s, const Directive *dir)
{
    for (int i = 0; i < dir->nitems; i++) {
        const DirItem *it = &dir->items[i];
        if (it->kind == DI_EXPR && it->expr && it->expr->kind == EX_NAME &&
            kw_strcaseeq(it->expr->text, "RESAMPLE")) {
            s->resample = 1;
            continue;
        }
        if (it->kind == DI_KEYVAL && kw_strcaseeq(it->key, "LUA")) {
            if (!it->expr || it->expr->kind != EX_NAME)
                return fail(c, it->span, "write LUA=sample, a function of the $LUA scripts",
                            "LUA= names the covariate sampler");
            if (!c->m->nlua)
                return fail(c, it->span, "add $LUA file.lua with the function",
                            "a Lua sampler needs a $LUA record");
            s->sampler = it->expr->text;
            s->sampler_span = it->expr->span;
            continue;
        }
        if (it->kind != DI_DIST && it->kind != DI_KEYVAL)
            return fail(c, it->span, "write NAME ~ uniform(a, b), NAME = value or RESAMPLE",
                        "a POPULATION line gives covariates");
        int col = find_col(c->m, it->key);
        if (col < 0 || c->m->cols[col].role != COL_COVARIATE)
            return fail(c, it->span, "name a covariate column of $INPUT",
                        "not a covariate of the model");
        CovDist cd = { col, DIST_FIXED, 0, 0, NULL, NULL };
        const Expr *e = it->expr;
        if (it->kind == DI_KEYVAL) {
            if (!ast_const_number(e, &cd.a))
                return fail(c, it->span, NULL, "a fixed covariate takes a number");
        } else {
            static const char *const names[] = { "uniform", "normal", "lognormal", "bernoulli",
                                                 "discrete" };
            int k = -1;
            for (int j = 0; e && e->kind == EX_CALL && j < 5; j++)
                if (strcmp(e->text, names[j]) == 0)
                    k = j;
            if (k < 0)
                return fail(c, it->span,
                            "uniform(a, b), normal(mean, sd), lognormal(median, sd of the log), "
                            "bernoulli(p) or discrete((values), (probabilities))",
                            "unknown distribution");
            cd.kind = (DistKind)(k + 1);
            int want = cd.kind == DIST_BERNOULLI ? 1 : 2;
            if (e->nargs != want)
                return fail(c, e->span, NULL, "wrong number of arguments for the distribution");
            if (cd.kind == DIST_DISCRETE) {
                cd.vals = e->args[0];
                cd.probs = e->args[1];
                if (cd.vals->kind != EX_TUPLE || cd.probs->kind != EX_TUPLE ||
                    cd.vals->nargs != cd.probs->nargs)
                    return fail(c, e->span, NULL,
                                "discrete() takes two tuples of the same length");
                double sum = 0, x;
                for (int j = 0; j < cd.probs->nargs; j++) {
                    if (!ast_const_number(cd.probs->args[j], &x) || !(x >= 0) ||
                        !ast_const_number(cd.vals->args[j], &x))
                        return fail(c, e->span, NULL, "discrete() takes numbers");
                    ast_const_number(cd.probs->args[j], &x);
                    sum += x;
                }
                if (fabs(sum - 1) > 1e-9)
                    return fail(c, cd.probs->span, NULL, "the probabilities must sum to 1");
            } else {
                if (!ast_const_number(e->args[0], &cd.a) || (want == 2 && !ast_const_number(e->args[1], &cd.b)))
                    return fail(c, e->span, NULL, "a distribution takes numbers");
                if ((cd.kind == DIST_UNIFORM && !(cd.a < cd.b)) ||
                    ((cd.kind == DIST_NORMAL || cd.kind == DIST_LOGNORMAL) && !(cd.b >= 0)) ||
                    (cd.kind == DIST_LOGNORMAL && !(cd.a > 0)) ||
                    (cd.kind == DIST_BERNOULLI && !(cd.a >= 0 && cd.a <= 1)))
                    return fail(c, e->span, NULL, "the distribution's arguments are out of range");
            }
        }
        int j = 0;
        while (j < s->ncov && s->cov[j].col != col)
            j++;
        if (j == MC_MAXCOV)
            return fail(c, it->span, NULL, "too many covariates");
        s->cov[j] = cd;
        if (j == s->ncov)
            s->ncov++;
    }
    return 0;
}

static int read_regimen(Mc *c, Spec *s, const Directive *dir)
{
    s->has_regimen = 1;
    s->ndoses = 1;
    s->ss = 0;
    s->dur = 0;
    s->ii = 0;
    s->cmt = -1;
    s->rule = NULL;
    s->every = 1;
    for (int i = 0; i < dir->nitems; i++) {
        const DirItem *it = &dir->items[i];
        double v = 0;
        if (it->kind != DI_KEYVAL)
            return fail(c, it->span, "write DOSE=... CMT=1 II=24 N=7, or SS=1 for steady state",
                        "a REGIMEN line takes KEY=value items");
        if (kw_strcaseeq(it->key, "DOSE")) {
            s->dose = it->expr;
            continue;
        }
        if (kw_strcaseeq(it->key, "RULE")) {
            if (!it->expr || it->expr->kind != EX_NAME)
                return fail(c, it->span, "write RULE=titrate, a function of the $LUA scripts",
                            "RULE= names the dosing rule");
            if (!c->m->nlua)
                return fail(c, it->span, "add $LUA file.lua with the function",
                            "a dosing rule needs a $LUA record");
            s->rule = it->expr->text;
            s->rule_span = it->expr->span;
            continue;
        }
        if (kw_strcaseeq(it->key, "EVERY")) {
            if (!ast_const_number(it->expr, &v) || !(v >= 1 && v == floor(v) && v < 1e6))
                return fail(c, it->span, NULL, "EVERY is a whole number of doses, 1 or more");
            s->every = (int)v;
            continue;
        }
        if (!ast_const_number(it->expr, &v))
            return fail(c, it->span, NULL, "this REGIMEN item takes a number");
        if (kw_strcaseeq(it->key, "CMT") && v >= 1 && v <= c->m->ncmts && v == floor(v))
            s->cmt = (int)v;
        else if (kw_strcaseeq(it->key, "II") && v > 0)
            s->ii = v;
        else if (kw_strcaseeq(it->key, "N") && v >= 1 && v == floor(v))
            s->ndoses = (int)v;
        else if (kw_strcaseeq(it->key, "SS") && (v == 0 || v == 1))
            s->ss = (int)v;
        else if (kw_strcaseeq(it->key, "DUR") && v >= 0)
            s->dur = v;
        else
            return fail(c, it->span, "DOSE, CMT (a compartment number), II (> 0), N (doses), "
                                     "SS (0 or 1), DUR (infusion hours), RULE, EVERY",
                        "unknown REGIMEN item, or its value is out of range");
    }
    if (!s->dose)
        return fail(c, dir->name_span, "add DOSE=10, DOSE=(1, 3, 10) or DOSE=seq(0.5, 10, 0.5)",
                    "REGIMEN needs DOSE");
    if ((s->ss || s->ndoses > 1) && !(s->ii > 0))
        return fail(c, dir->name_span, "add II=24", "repeated doses need II");
    if (s->rule && s->ss)
        return fail(c, s->rule_span, "give the doses as N=... II=...; the rule decides each",
                    "a dosing rule has no decisions to make at steady state (SS=1)");
    if (s->ndoses > 100000)
        return fail(c, dir->name_span, NULL, "too many doses (100,000 at most)");
    if (s->cmt < 0) {
        for (int k = 0; k < c->m->ncmts && s->cmt < 0; k++)
            if (c->m->cmts[k].dose)
                s->cmt = k + 1;
        if (s->cmt < 0)
            s->cmt = 1;
    }
    return 0;
}

static int read_endpoint(Mc *c, Spec *s, const Directive *dir)
{
    static const char *const stats[] = { "min", "max", "mean", "auc", "trough", "timeabove",
                                         "timebelow" };
    const Expr *e = dir->nitems > 0 ? dir->items[0].expr : NULL;
    int k = -1;
    for (int j = 0; e && e->kind == EX_CALL && j < 7; j++)
        if (strcmp(e->text, stats[j]) == 0)
            k = j;
    if (k < 0 || e->nargs < 1 || e->args[0]->kind != EX_NAME)
        return fail(c, dir->span, "min, max, mean, auc, trough (VAR), or timeabove, timebelow "
                                  "(VAR, level), then OVER (t0, t1)",
                    "an ENDPOINT is a statistic of a model variable");
    s->stat = (Stat)k;
    if ((s->stat == ST_TABOVE || s->stat == ST_TBELOW) &&
        (e->nargs != 2 || !ast_const_number(e->args[1], &s->level)))
        return fail(c, e->span, NULL, "timeabove and timebelow take (VAR, level)");
    const char *name = e->args[0]->text;
    s->var = -1;
    s->cmt_var = -1;
    for (int v = 0; v < c->m->nvars && s->var < 0; v++)
        if (strcmp(c->m->vars[v].name, name) == 0 && c->m->vars[v].rec != REC_DES &&
            c->m->vars[v].rec != REC_HYBRID)
            s->var = v;
    for (int q = 0; q < c->m->ncmts && s->var < 0 && s->cmt_var < 0; q++)
        if (strcmp(c->m->cmts[q].name, name) == 0)
            s->cmt_var = q;
    if (s->var < 0 && s->cmt_var < 0)
        return fail(c, e->args[0]->span, "name a variable of $PK or $ERROR, or a compartment",
                    "unknown endpoint variable");
    const Expr *over = NULL;
    for (int i = 1; i + 1 < dir->nitems; i++)
        if (dir->items[i].expr && dir->items[i].expr->kind == EX_NAME &&
            kw_strcaseeq(dir->items[i].expr->text, "OVER"))
            over = dir->items[i + 1].expr;
    for (int i = 0; i < dir->nitems; i++)
        if (dir->items[i].kind == DI_KEYVAL && kw_strcaseeq(dir->items[i].key, "OVER"))
            over = dir->items[i].expr;
    if (!over || over->kind != EX_TUPLE || over->nargs != 2 || !ast_const_number(over->args[0], &s->t0) ||
        !ast_const_number(over->args[1], &s->t1) || !(s->t0 < s->t1))
        return fail(c, dir->span, "add OVER (0, 24): the window, in hours (from the steady-state "
                                  "dose with SS=1, else from the first dose)",
                    "ENDPOINT needs a time window");
    s->has_endpoint = 1;
    snprintf(s->endpoint, sizeof s->endpoint, "%s(%s%s) over (%g, %g) h", stats[k], name,
             s->stat >= ST_TABOVE ? ", level" : "", s->t0, s->t1);
    return 0;
}

static int read_target(Mc *c, Spec *s, const Directive *dir)
{
    const Expr *e = dir->nitems > 0 ? dir->items[0].expr : NULL;
    if (!e || e->kind != EX_BINARY || !e->lhs || e->lhs->kind != EX_NAME ||
        !kw_strcaseeq(e->lhs->text, "ENDPOINT") || !ast_const_number(e->rhs, &s->value))
        return fail(c, dir->span, "write TARGET ENDPOINT < 3.3 P=0.9",
                    "a TARGET compares the ENDPOINT with a number");
    switch (e->op) {
    case OP_LT: s->cmp = CMP_LT; break;
    case OP_LE: s->cmp = CMP_LE; break;
    case OP_GT: s->cmp = CMP_GT; break;
    case OP_GE: s->cmp = CMP_GE; break;
    default: return fail(c, e->span, NULL, "a TARGET compares with <, <=, > or >=");
    }
    s->p = 0.9;
    for (int i = 1; i < dir->nitems; i++)
        if (dir->items[i].kind == DI_KEYVAL && kw_strcaseeq(dir->items[i].key, "P") &&
            (!ast_const_number(dir->items[i].expr, &s->p) || !(s->p > 0 && s->p <= 1)))
            return fail(c, dir->items[i].span, NULL, "P is a fraction in (0, 1]");
    static const char *const ops[] = { "<", "<=", ">", ">=" };
    snprintf(s->target, sizeof s->target, "ENDPOINT %s %g in at least %g%% of subjects",
             ops[s->cmp], s->value, 100 * s->p);
    s->has_target = 1;
    return 0;
}

static int read_find(Mc *c, Spec *s, const Directive *dir)
{
    if (dir->nitems != 2 || !dir->items[0].expr || !dir->items[1].expr ||
        dir->items[0].expr->kind != EX_NAME || dir->items[1].expr->kind != EX_NAME ||
        !kw_strcaseeq(dir->items[0].expr->text, "smallest") ||
        !kw_strcaseeq(dir->items[1].expr->text, "DOSE"))
        return fail(c, dir->span, "write FIND smallest DOSE", "FIND searches the dose grid");
    s->find = 1;
    return 0;
}

static int apply(Mc *c, Spec *s, const Directive *dir)
{
    if (kw_strcaseeq(dir->name, "POPULATION"))
        return read_population(c, s, dir);
    if (kw_strcaseeq(dir->name, "REGIMEN"))
        return read_regimen(c, s, dir);
    if (kw_strcaseeq(dir->name, "ENDPOINT"))
        return read_endpoint(c, s, dir);
    if (kw_strcaseeq(dir->name, "TARGET"))
        return read_target(c, s, dir);
    if (kw_strcaseeq(dir->name, "FIND"))
        return read_find(c, s, dir);
    if (kw_strcaseeq(dir->name, "VPC"))
        return 0;   /* the visual predictive check's (vpc.c) */
    return fail(c, dir->name_span, "SCENARIO, POPULATION, REGIMEN, ENDPOINT, TARGET or FIND",
                "this $SIMULATION line is not built yet");
}

/* The scenarios: the base (lines before the first SCENARIO), then each
 * SCENARIO's copy of it with its own lines applied. */
static int read_specs(Mc *c, Spec **out, int *n)
{
    const Record *r = c->m->sim.rec;
    Spec base;
    memset(&base, 0, sizeof base);
    snprintf(base.name, sizeof base.name, "base");
    base.resample = 1;
    base.span = r->name_span;
    int i = 0, nscen = 0;
    for (; i < r->ndirs && !kw_strcaseeq(r->dirs[i].name, "SCENARIO"); i++)
        if (apply(c, &base, &r->dirs[i]) != 0)
            return -1;
    for (int j = i; j < r->ndirs; j++)
        nscen += kw_strcaseeq(r->dirs[j].name, "SCENARIO");
    Spec *v = mem_alloc(c->a, sizeof *v * (size_t)(nscen > 0 ? nscen : 1));
    if (nscen == 0) {
        v[0] = base;
        nscen = 1;
    } else {
        int k = -1;
        for (; i < r->ndirs; i++) {
            const Directive *dir = &r->dirs[i];
            if (kw_strcaseeq(dir->name, "SCENARIO")) {
                v[++k] = base;
                v[k].span = dir->span;
                const Expr *e = dir->nitems > 0 ? dir->items[0].expr : NULL;
                snprintf(v[k].name, sizeof v[k].name, "%s",
                         e && e->kind == EX_NAME ? e->text : "scenario");
                continue;
            }
            if (apply(c, &v[k], dir) != 0)
                return -1;
        }
    }
    for (int k = 0; k < nscen; k++) {
        if (!v[k].has_regimen || !v[k].has_endpoint || !v[k].has_target)
            return fail(c, v[k].span, "give REGIMEN, ENDPOINT and TARGET (before the first "
                                      "SCENARIO for every scenario, or in it)",
                        "a scenario needs a regimen, an endpoint and a target");
    }
    *out = v;
    *n = nscen;
    return 0;
}

/* The dose grid of DOSE=...: a number, a tuple, or seq(from, to, by). */
static int dose_grid(Mc *c, const Spec *s, double **out, int *n)
{
    const Expr *e = s->dose;
    double a, b, by;
    if (ast_const_number(e, &a)) {
        *out = mem_alloc(c->a, sizeof(double));
        (*out)[0] = a;
        *n = 1;
    } else if (e->kind == EX_TUPLE) {
        *out = mem_alloc(c->a, sizeof(double) * (size_t)e->nargs);
        for (int i = 0; i < e->nargs; i++)
            if (!ast_const_number(e->args[i], &(*out)[i]))
                return fail(c, e->span, NULL, "the doses must be numbers");
        *n = e->nargs;
    } else if (e->kind == EX_CALL && strcmp(e->text, "seq") == 0 && e->nargs == 3 &&
               ast_const_number(e->args[0], &a) && ast_const_number(e->args[1], &b) && ast_const_number(e->args[2], &by) &&
               by > 0 && b >= a && (b - a) / by < 100000) {
        int k = (int)floor((b - a) / by + 1e-9) + 1;
        *out = mem_alloc(c->a, sizeof(double) * (size_t)k);
        for (int i = 0; i < k; i++)
            (*out)[i] = a + i * by;
        *n = k;
    } else {
        return fail(c, e->span, "DOSE=10, DOSE=(1, 3, 10) or DOSE=seq(0.5, 10, 0.5)",
                    "not a dose or a grid of doses");
    }
    for (int i = 0; i < *n; i++)
        if (!((*out)[i] > 0) || (i > 0 && !((*out)[i] > (*out)[i - 1])))
            return fail(c, e->span, NULL, "the doses must be positive and increasing");
    return 0;
}

/* ---- virtual subjects ------------------------------------------------------------- */

static double draw_cov(const CovDist *cd, Rng *r)
{
    double u = rng_uniform(r), x;
    switch (cd->kind) {
    case DIST_FIXED: return cd->a;
    case DIST_UNIFORM: return cd->a + (cd->b - cd->a) * u;
    case DIST_NORMAL: return cd->a + cd->b * rng_qnorm(u);
    case DIST_LOGNORMAL: return cd->a * exp(cd->b * rng_qnorm(u));
    case DIST_BERNOULLI: return u < cd->a ? 1 : 0;
    case DIST_DISCRETE:
        for (int j = 0; j < cd->probs->nargs; j++) {
            ast_const_number(cd->probs->args[j], &x);
            if (u < x || j == cd->probs->nargs - 1) {
                ast_const_number(cd->vals->args[j], &x);
                return x;
            }
            u -= x;
        }
    }
    return NAN;
}

/* POPULATION LUA=fn: fn(cov, rng) gets the covariates drawn so far and a
 * generator of subject i's own stream, and returns those it sets. */
static int lua_sampler(Mc *c, const Spec *s, CovKeys *k, int i, uint64_t seed, double *cov)
{
    cov_keys_load(k, cov);
    Rng r;
    rng_init(&r, seed, (uint32_t)i, MC_STREAM_SAMPLER);
    /* in and out share vals: the values are in the table before the call */
    HookMap io = { k->keys, k->vals, k->n };
    if (hook_call_table(c->h, s->sampler, &io, &r, &io, k->set) != 0) {
        diag_report(c->d, DIAG_ERROR, s->sampler_span, NULL, "virtual subject %d: %s", i + 1,
                    hook_error(c->h));
        return -1;
    }
    for (int j = 0; j < k->n; j++)
        if (k->set[j])
            cov[k->col[j]] = k->vals[j];
    return 0;
}

/* Each virtual subject's columns (n x Model.ncols into covs): covariates
 * resampled from $DATA's subjects or drawn, then the Lua sampler's, then
 * the derived ones; the same at every dose of the grid. */
static int population(Mc *c, const Spec *s, int n, uint64_t seed, double *covs)
{
    const Model *m = c->m;
    int nc = m->ncols, rc = 0;
    CovKeys keys;
    if ((s->sampler || m->lua_subject) && cov_keys_new(m, &keys) != 0)
        return fail(c, s->span, NULL, "out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        double *cov = covs + (size_t)i * nc;
        for (int k = 0; k < nc; k++)
            cov[k] = 0;
        if (s->resample && c->ds && c->ds->nsubjects > 0) {
            Rng r;
            rng_init(&r, seed, (uint32_t)i, MC_STREAM_RESAMPLE);
            int j = (int)(rng_uniform(&r) * c->ds->nsubjects);
            j = j < c->ds->nsubjects ? j : c->ds->nsubjects - 1;
            const DataRow *src = &c->ds->rows[c->ds->subjects[j].first];
            for (int k = 0; k < nc; k++)
                if (m->cols[k].role == COL_COVARIATE)
                    cov[k] = src->v[k];
        }
        for (int q = 0; q < s->ncov; q++) {
            Rng r;
            rng_init(&r, seed, (uint32_t)i, MC_STREAM_COV + (uint32_t)s->cov[q].col);
            cov[s->cov[q].col] = draw_cov(&s->cov[q], &r);
        }
        char why[1024];
        if (s->sampler && lua_sampler(c, s, &keys, i, seed, cov) != 0)
            rc = -1;
        else if (m->lua_subject && derive_row(c->h, m, &keys, c->model, cov, why, sizeof why) != 0) {
            diag_report(c->d, DIAG_ERROR, s->span, NULL, "virtual subject %d: %s", i + 1, why);
            rc = -1;
        }
    }
    if (s->sampler || m->lua_subject)
        cov_keys_free(&keys);
    return rc;
}

/* One virtual subject's records, the same for every subject of a
 * scenario, in time order: doses, the rule's decisions (an observation
 * just before the dose it decides) and the endpoint's grid. */
typedef enum { VR_DOSE, VR_DECIDE, VR_GRID } VrKind;
typedef struct {
    VrKind kind;
    int k;                 /* the dose, decision or grid point */
    double t;
    int order;             /* among records at the same time */
} Vr;

typedef struct {
    Vr *rec;
    int n;
    int grid[MC_GRID + 1]; /* the grid's records */
    int *decide;           /* ndecide: the decisions' records */
    int ndecide;
    int ndose;             /* explicit dose records (1 without a rule: ADDL repeats it) */
} Layout;

static int vr_cmp(const void *a, const void *b)
{
    const Vr *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->order - y->order;
}

/* Without a rule: the dose record, then the grid (a grid point at the
 * dose's time sees the dose; ADDL's later doses come after a record at
 * their time, so a trough there sees the trough).  With one: N dose
 * records and the decisions, sorted with the grid so that the same holds. */
static void layout(Arena *a, const Spec *s, Layout *l)
{
    int nd = s->rule ? s->ndoses : 1;
    int ndec = s->rule ? (s->ndoses + s->every - 1) / s->every : 0;
    l->n = nd + ndec + MC_GRID + 1;
    l->rec = mem_alloc(a, sizeof *l->rec * (size_t)l->n);
    l->decide = mem_alloc(a, sizeof *l->decide * (size_t)(ndec + 1));
    l->ndecide = ndec;
    l->ndose = nd;
    int n = 0;
    for (int j = 0; j < nd; j++)
        l->rec[n++] = (Vr){ VR_DOSE, j, j * s->ii, 2 };
    for (int k = 0; k < ndec; k++)
        l->rec[n++] = (Vr){ VR_DECIDE, k, (double)k * s->every * s->ii, 0 };
    for (int q = 0; q <= MC_GRID; q++)
        l->rec[n++] = (Vr){ VR_GRID, q, s->t0 + (s->t1 - s->t0) * q / MC_GRID,
                            q == 0 ? 3 : 1 };
    if (s->rule)
        qsort(l->rec, (size_t)n, sizeof *l->rec, vr_cmp);
    for (int r = 0; r < n; r++) {
        if (l->rec[r].kind == VR_GRID)
            l->grid[l->rec[r].k] = r;
        else if (l->rec[r].kind == VR_DECIDE)
            l->decide[l->rec[r].k] = r;
    }
}

/* The dose records' amounts: amt (n x ndose) with a rule, else dose. */
static void set_doses(const Model *m, const Spec *s, const Layout *l, Dataset *v,
                      const double *amt, double dose)
{
    for (int i = 0; i < v->nsubjects; i++)
        for (int r = 0; r < l->n; r++) {
            if (l->rec[r].kind != VR_DOSE)
                continue;
            DataRow *row = &v->rows[(size_t)i * l->n + r];
            row->amt = amt ? amt[(size_t)i * l->ndose + l->rec[r].k] : dose;
            row->rate = s->dur > 0 ? row->amt / s->dur : 0;
            if (m->role_col[COL_AMT] >= 0)
                row->v[m->role_col[COL_AMT]] = row->amt;
            if (m->role_col[COL_RATE] >= 0)
                row->v[m->role_col[COL_RATE]] = row->rate;
        }
}

/* The dataset of n virtual subjects at one dose: each subject's columns
 * (covs), its dose records (one with ADDL and II for N doses, or SS=1 for
 * steady state; with a rule, one per dose) and observation records at
 * the decisions and over the window. */
static Dataset *virtual_data(Mc *c, Arena *a, const Spec *s, const Layout *l, int n,
                             const double *covs, double dose)
{
    const Model *m = c->m;
    int nc = m->ncols, per = l->n;
    Dataset *v = mem_alloc(a, sizeof *v);
    memset(v, 0, sizeof *v);
    v->path = "the virtual population";
    v->file = -1;
    v->ncols = nc;
    v->nrows = n * per;
    v->nsubjects = n;
    v->rows = mem_alloc(a, sizeof *v->rows * (size_t)v->nrows);
    v->subjects = mem_alloc(a, sizeof *v->subjects * (size_t)n);
    double *vals = mem_alloc(a, sizeof(double) * (size_t)v->nrows * (size_t)(nc + 1));
    for (int i = 0; i < n; i++) {
        v->subjects[i].id = i + 1;
        v->subjects[i].first = i * per;
        v->subjects[i].n = per;
        for (int k = 0; k < per; k++) {
            DataRow *row = &v->rows[i * per + k];
            memset(row, 0, sizeof *row);
            row->v = vals + (size_t)(i * per + k) * (size_t)nc;
            memcpy(row->v, covs + (size_t)i * nc, sizeof(double) * (size_t)nc);
            row->dv = NAN;
            row->time = l->rec[k].t;
            if (l->rec[k].kind == VR_DOSE) {
                row->evid = 1;
                row->mdv = 1;
                row->cmt = s->cmt;
                row->ii = !s->rule && (s->ss || s->ndoses > 1) ? s->ii : 0;
                row->addl = s->ss || s->rule ? 0 : s->ndoses - 1;
                row->ss = s->ss;
            } else {
                row->evid = 0;
                row->mdv = 0;
                row->cmt = s->cmt_var >= 0 ? s->cmt_var + 1 : s->cmt;
            }
            int roles[] = { COL_ID, COL_TIME, COL_EVID, COL_MDV, COL_CMT, COL_II, COL_ADDL,
                            COL_SS };
            double rv[] = { i + 1, row->time, row->evid, row->mdv, row->cmt, row->ii,
                            row->addl, row->ss };
            for (int q = 0; q < 8; q++)
                if (m->role_col[roles[q]] >= 0)
                    row->v[m->role_col[roles[q]]] = rv[q];
        }
    }
    set_doses(m, s, l, v, NULL, dose);
    return v;
}

/* The endpoint of subject i from its MC_GRID + 1 values. */
static double endpoint(const Spec *s, const double *t, const double *y, int n)
{
    double acc = 0, lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n; k++) {
        lo = fmin(lo, y[k]);
        hi = fmax(hi, y[k]);
    }
    switch (s->stat) {
    case ST_MIN: return lo;
    case ST_MAX: return hi;
    case ST_TROUGH: return y[n - 1];
    case ST_AUC: case ST_MEAN:
        for (int k = 1; k < n; k++)
            acc += (t[k] - t[k - 1]) * (y[k] + y[k - 1]) / 2;
        return s->stat == ST_AUC ? acc : acc / (t[n - 1] - t[0]);
    case ST_TABOVE: case ST_TBELOW:
        /* time with y above (below) the level, linear between the points */
        for (int k = 1; k < n; k++) {
            double a = y[k - 1] - s->level, b = y[k] - s->level, dt = t[k] - t[k - 1];
            if (s->stat == ST_TBELOW)
                a = -a, b = -b;
            if (a > 0 && b > 0)
                acc += dt;
            else if (a > 0 || b > 0)
                acc += dt * (a > 0 ? a : b) / fabs(a - b);
        }
        return acc;
    }
    return NAN;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void mc_quantiles(const double *v, int n, double *scratch, int np, const double *p,
                  double *out)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (v[i] == v[i])
            scratch[m++] = v[i];
    qsort(scratch, (size_t)m, sizeof *scratch, dbl_cmp);
    for (int j = 0; j < np; j++) {
        if (m == 0) {
            out[j] = NAN;
            continue;
        }
        double h = (m - 1) * p[j];
        int lo = (int)floor(h);
        int hi = lo + 1 < m ? lo + 1 : lo;
        out[j] = scratch[lo] + (h - lo) * (scratch[hi] - scratch[lo]);
    }
}

/* The 5th, 50th and 95th percentiles of v (n). */
static void percentiles(const double *v, int n, double *scratch, double *out)
{
    static const double p[3] = { 0.05, 0.5, 0.95 };
    mc_quantiles(v, n, scratch, 3, p, out);
}

static int meets(const Spec *s, double e)
{
    switch (s->cmp) {
    case CMP_LT: return e < s->value;
    case CMP_LE: return e <= s->value;
    case CMP_GT: return e > s->value;
    case CMP_GE: return e >= s->value;
    }
    return 0;
}

/* Wilson's score interval for k of n at 95%. */
static void wilson(int k, int n, double *lo, double *hi)
{
    double z = 1.959963984540054, p = (double)k / n, z2 = z * z / n;
    double mid = (p + z2 / 2) / (1 + z2);
    double half = z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / (1 + z2);
    *lo = fmax(0, mid - half);
    *hi = fmin(1, mid + half);
}

/* Each trial's THETAs (trials x nthetas): the estimates themselves with
 * one trial, else drawn from N(theta, cov) by trial (rng stream
 * MC_STREAM_THETA, unit the trial), so trial t is the same at every dose. */
static int trial_thetas(Mc *c, const double *theta, const double *cov, int trials,
                        uint64_t seed, double *out)
{
    int nt = c->m->nthetas;
    if (trials <= 1) {
        memcpy(out, theta, sizeof(double) * (size_t)nt);
        return 0;
    }
    if (nt > 64)
        return fail(c, c->m->sim.rec->name_span, NULL, "too many THETAs for UNCERTAINTY=YES");
    double L[64 * 64];
    if (la_cholesky_psd(nt, cov, L) != 0)
        return fail(c, c->m->sim.rec->name_span, "check the covariance step",
                    "the THETAs' covariance matrix is not positive semi-definite");
    for (int t = 0; t < trials; t++) {
        Rng r;
        rng_init(&r, seed, (uint32_t)t, MC_STREAM_THETA);
        double x[64];
        rng_mvnormal(&r, nt, L, x);
        for (int k = 0; k < nt; k++)
            out[(size_t)t * nt + k] = theta[k] + x[k];
    }
    return 0;
}

/* The first of the n subjects in trial t of T (t = T: n). */
static int trial_start(int t, int n, int T)
{
    return (int)((long)t * n / T);
}

/* What the subjects of a dose draw: each trial's THETAs, the ETAs and
 * the residual errors (rows and subjects indexed over the whole dataset). */
typedef struct {
    const double *thetas;  /* T x nthetas */
    const double *eta, *eps;
    int T;
} Draws;

/* Simulates the subjects subj[0, v->nsubjects), trial by trial: trial t's
 * subjects [t n / T, (t + 1) n / T) at its THETAs, through views of the
 * dataset (a rule's rounds pass subjects cut short at a decision). */
static int simulate(Mc *c, const Dataset *v, DataSubject *subj, const Draws *dr,
                    const SimOpts *o, SimOut *so)
{
    const Model *m = c->m;
    int n = v->nsubjects;
    for (int tr = 0; tr < dr->T; tr++) {
        int s0 = trial_start(tr, n, dr->T), s1 = trial_start(tr + 1, n, dr->T);
        Dataset tv = *v;
        tv.subjects = subj + s0;
        tv.nsubjects = s1 - s0;
        if (sim_run(c->p, &tv, dr->thetas + (size_t)tr * m->nthetas,
                    dr->eta + (size_t)s0 * m->omega.n, dr->eps, o, so, c->d) != 0)
            return -1;
    }
    return 0;
}

/* What a rule sees: the subject's covariates, the $PK and $ERROR
 * variables and the amounts at the decision, then its own keys. */
typedef struct {
    const char **keys;
    double *vals;
    int n, ncol, nvar, ncmt;
    int *col, *var;        /* ncol Model.cols, nvar Model.vars indices */
} RuleView;

enum { RULE_FIXED = 5 };   /* time, n, dose, start, subject */

static void rule_view(Mc *c, Arena *a, RuleView *rv)
{
    const Model *m = c->m;
    int cap = m->ncols + m->nvars + m->ncmts + RULE_FIXED;
    rv->keys = mem_alloc(a, sizeof *rv->keys * (size_t)cap);
    rv->vals = mem_alloc(a, sizeof *rv->vals * (size_t)cap);
    rv->col = mem_alloc(a, sizeof *rv->col * (size_t)(m->ncols + 1));
    rv->var = mem_alloc(a, sizeof *rv->var * (size_t)(m->nvars + 1));
    int n = 0;
    rv->ncol = rv->nvar = 0;
    for (int k = 0; k < m->ncols; k++)
        if (m->cols[k].role == COL_COVARIATE || m->cols[k].role == COL_DERIVED) {
            rv->keys[n++] = m->cols[k].name;
            rv->col[rv->ncol++] = k;
        }
    for (int k = 0; k < m->nvars; k++)
        if (m->vars[k].rec == REC_PK || m->vars[k].rec == REC_ERROR) {
            rv->keys[n++] = m->vars[k].name;
            rv->var[rv->nvar++] = k;
        }
    for (int k = 0; k < m->ncmts; k++)
        rv->keys[n++] = m->cmts[k].name;
    rv->ncmt = m->ncmts;
    static const char *const fixed[RULE_FIXED] = { "time", "n", "dose", "start", "subject" };
    for (int k = 0; k < RULE_FIXED; k++)
        rv->keys[n++] = fixed[k];
    rv->n = n;
}

/* REGIMEN ... RULE=fn EVERY=k: before every k-th dose the subjects are
 * simulated up to the decision, and fn(s, rng) sets the amount of that
 * dose and the next k - 1 (0 skips them).  Decisions run in subject
 * order in this thread, each with a generator of its own stream
 * (MC_STREAM_RULE + decision, unit the subject), so the doses do not
 * depend on the thread count. */
static int run_rule(Mc *c, const Spec *s, const Layout *l, Dataset *v, Arena *a,
                    const Draws *dr, double start, uint64_t seed, const SimOpts *o,
                    SimOut *so)
{
    int n = v->nsubjects, nd = l->ndose;
    double *amt = mem_alloc(a, sizeof(double) * (size_t)n * (size_t)nd);
    DataSubject *cut = mem_alloc(a, sizeof *cut * (size_t)n);
    RuleView rv;
    rule_view(c, a, &rv);
    for (size_t q = 0; q < (size_t)n * nd; q++)
        amt[q] = start;
    for (int dk = 0; dk < l->ndecide; dk++) {
        int j0 = dk * s->every, rec = l->decide[dk];
        set_doses(c->m, s, l, v, amt, start);
        for (int i = 0; i < n; i++) {
            cut[i] = v->subjects[i];
            cut[i].n = rec + 1;   /* the past does not depend on the doses to come */
        }
        if (simulate(c, v, cut, dr, o, so) != 0)
            return -1;
        for (int i = 0; i < n; i++) {
            size_t row = (size_t)i * l->n + rec;
            double *x = rv.vals;
            for (int k = 0; k < rv.ncol; k++)
                *x++ = v->rows[row].v[rv.col[k]];
            for (int k = 0; k < rv.nvar; k++)
                *x++ = so->vars[row * so->nvars + rv.var[k]];
            for (int k = 0; k < rv.ncmt; k++)
                *x++ = so->amt[row * so->ncmt + k];
            double fixed[RULE_FIXED] = { v->rows[row].time, j0 + 1,
                                         j0 > 0 ? amt[(size_t)i * nd + j0 - 1] : start, start,
                                         i + 1 };
            memcpy(x, fixed, sizeof fixed);
            HookMap in = { rv.keys, rv.vals, rv.n };
            Rng r;
            rng_init(&r, seed, (uint32_t)i, MC_STREAM_RULE + (uint32_t)dk);
            double y;
            if (hook_call_number(c->h, s->rule, &in, &r, &y) != 0) {
                diag_report(c->d, DIAG_ERROR, s->rule_span, NULL,
                            "virtual subject %d, dose %d at %g h: %s", i + 1, j0 + 1,
                            v->rows[row].time, hook_error(c->h));
                return -1;
            }
            if (!(y >= 0 && isfinite(y))) {
                diag_report(c->d, DIAG_ERROR, s->rule_span,
                            "a rule returns the dose's amount, 0 to skip it",
                            "virtual subject %d, dose %d at %g h: %s returned %g", i + 1,
                            j0 + 1, v->rows[row].time, s->rule, y);
                return -1;
            }
            for (int j = j0; j < j0 + s->every && j < nd; j++)
                amt[(size_t)i * nd + j] = y;
        }
    }
    set_doses(c->m, s, l, v, amt, start);
    return 0;
}

/* "DOSE into compartment 1 every 24 h, 28 doses; the rule titrate
 * sets the dose every 7 doses" */
static void describe_regimen(const Spec *s, char *buf, size_t len)
{
    char how[64] = "", rule[120] = "";
    if (s->ss)
        snprintf(how, sizeof how, " every %g h at steady state", s->ii);
    else if (s->ndoses > 1)
        snprintf(how, sizeof how, " every %g h, %d doses", s->ii, s->ndoses);
    if (s->rule && s->every > 1)
        snprintf(rule, sizeof rule, "; the rule %s sets the dose every %d doses",
                 s->rule, s->every);
    else if (s->rule)
        snprintf(rule, sizeof rule, "; the rule %s sets each dose", s->rule);
    snprintf(buf, len, "DOSE%s into compartment %d%s%s%s", s->rule ? " (the first)" : "",
             s->cmt, how, s->dur > 0 ? " as infusions" : "", rule);
}

static int run_scenario(Mc *c, const Spec *s, int n, int trials, uint64_t seed,
                        const double *thetas, const double *omega, const double *sigma,
                        const SimOpts *o, McScenario *out, FILE *log)
{
    const Model *m = c->m;
    double *doses;
    int nd;
    if (dose_grid(c, s, &doses, &nd) != 0)
        return -1;
    snprintf(out->name, sizeof out->name, "%s", s->name);
    snprintf(out->endpoint, sizeof out->endpoint, "%s", s->endpoint);
    describe_regimen(s, out->regimen, sizeof out->regimen);
    snprintf(out->target, sizeof out->target, "%s", s->target);
    out->ndose = nd;
    out->p = s->p;
    out->found = -1;
    out->ntime = MC_GRID + 1;
    out->time = calloc((size_t)out->ntime, sizeof(double));
    out->band = calloc((size_t)nd * (size_t)out->ntime * 3, sizeof(double));
    double *col = malloc(sizeof(double) * (size_t)n);
    double *ys = malloc(sizeof(double) * (size_t)n * (size_t)out->ntime);
    if (!out->time || !out->band || !col || !ys) {
        free(col), free(ys);
        return fail(c, s->span, NULL, "out of memory");
    }
    out->level = s->stat <= ST_MAX || s->stat == ST_TROUGH ? s->value : NAN;
    snprintf(out->var, sizeof out->var, "%s",
             s->var >= 0 ? m->vars[s->var].name : m->cmts[s->cmt_var].name);
    out->dose = calloc((size_t)nd, sizeof(double));
    out->met = calloc((size_t)nd, sizeof(int));
    out->lo = calloc((size_t)nd, sizeof(double));
    out->hi = calloc((size_t)nd, sizeof(double));
    int T = trials > 1 ? trials : 1;
    double *tfrac = malloc(sizeof(double) * (size_t)T);
    if (trials > 1) {
        out->tlo = calloc((size_t)nd, sizeof(double));
        out->thi = calloc((size_t)nd, sizeof(double));
    }
    if (!out->dose || !out->met || !out->lo || !out->hi || !tfrac ||
        (trials > 1 && (!out->tlo || !out->thi))) {
        free(tfrac);
        return fail(c, s->span, NULL, "out of memory");
    }
    /* the subjects and their records: the same at every dose */
    double *covs = malloc(sizeof(double) * (size_t)n * (size_t)(m->ncols + 1));
    Layout lay;
    layout(c->a, s, &lay);
    if (!covs || population(c, s, n, seed, covs) != 0) {
        free(col), free(ys), free(tfrac), free(covs);
        return covs ? -1 : fail(c, s->span, NULL, "out of memory");
    }
    for (int k = 0; k < nd; k++) {
        /* each dose's virtual dataset in an arena of its own, freed after */
        Arena *a = mem_arena_new();
        if (!a)
            return fail(c, s->span, NULL, "out of memory");
        Dataset *v = virtual_data(c, a, s, &lay, n, covs, doses[k]);
        double *eta = mem_alloc(a, sizeof(double) * ((size_t)n * (size_t)m->omega.n + 1));
        double *eps = m->sim.residual && m->sigma.n > 0
                          ? mem_alloc(a, sizeof(double) * ((size_t)v->nrows * (size_t)m->sigma.n + 1))
                          : NULL;
        SimOut so;
        memset(&so, 0, sizeof so);
        int rc = sim_draw(c->p, v, omega, sigma, seed, eta, eps) != 0
                     ? fail(c, s->span, NULL, "OMEGA or SIGMA is not positive semi-definite")
                 : sim_out_alloc(&so, c->p, v) != 0 ? fail(c, s->span, NULL, "out of memory")
                                                    : 0;
        Draws dr = { thetas, eta, eps, T };
        if (rc == 0 && s->rule)
            rc = run_rule(c, s, &lay, v, a, &dr, doses[k], seed, o, &so);
        if (rc == 0)
            rc = simulate(c, v, v->subjects, &dr, o, &so);
        if (rc != 0) {
            if (so.y)
                sim_out_free(&so);
            mem_arena_free(&a);
            free(col), free(ys), free(tfrac), free(covs);
            return -1;
        }
        int per = v->subjects[0].n, met = 0;
        double t[MC_GRID + 1], y[MC_GRID + 1];
        for (int tr = 0; tr < T; tr++)
            tfrac[tr] = 0;
        for (int i = 0, tr = 0; i < n; i++) {
            for (int q = 0; q <= MC_GRID; q++) {
                int row = i * per + lay.grid[q];
                t[q] = v->rows[row].time;
                y[q] = s->var >= 0 ? so.vars[(size_t)row * so.nvars + s->var]
                                   : so.amt[(size_t)row * so.ncmt + s->cmt_var];
            }
            int ok = meets(s, endpoint(s, t, y, MC_GRID + 1));
            met += ok;
            while (tr + 1 < T && i >= trial_start(tr + 1, n, T))
                tr++;
            tfrac[tr] += ok;
            for (int q = 0; q <= MC_GRID; q++)
                ys[(size_t)q * n + i] = y[q];
            if (i == 0)
                memcpy(out->time, t, sizeof t);
        }
        for (int q = 0; q <= MC_GRID; q++)
            percentiles(ys + (size_t)q * n, n, col,
                        out->band + ((size_t)k * out->ntime + q) * 3);
        sim_out_free(&so);
        mem_arena_free(&a);
        out->dose[k] = doses[k];
        out->met[k] = met;
        wilson(met, n, &out->lo[k], &out->hi[k]);
        if (trials > 1) {
            for (int tr = 0; tr < T; tr++)
                tfrac[tr] /= trial_start(tr + 1, n, T) - trial_start(tr, n, T);
            static const double p2[2] = { 0.05, 0.95 };
            double q2[2];
            mc_quantiles(tfrac, T, col, 2, p2, q2);
            out->tlo[k] = q2[0];
            out->thi[k] = q2[1];
        }
        if (out->found < 0 && s->find && (double)met / n >= s->p)
            out->found = k;
        if (log)
            fprintf(log, "qlxc: %s: dose %g: %d of %d subjects meet the target (%.1f%%)\n",
                    s->name, doses[k], met, n, 100.0 * met / n);
    }
    free(col), free(ys), free(tfrac), free(covs);
    return 0;
}

/* The Lua state for the subject hook, samplers and rules (this thread's
 * alone: they run in subject order here), with every function they name
 * defined.  0, or -1 after reporting. */
static int open_hooks(Mc *c, const Spec *specs, int ns, const SimOpts *o)
{
    int need = c->m->lua_subject != NULL;
    for (int k = 0; k < ns; k++)
        need |= specs[k].sampler != NULL || specs[k].rule != NULL;
    if (!need)
        return 0;
    char why[768];
    c->h = o->lua ? hook_new(o->lua->paths, o->lua->n, &o->lua->o, why, sizeof why) : NULL;
    if (!c->h)
        return fail(c, c->m->sim.rec->name_span, NULL,
                    o->lua ? why : "the $LUA scripts were not given to the trials");
    const char *what = NULL;
    Span at = { 0 };
    if (c->m->lua_subject && !hook_has(c->h, c->m->lua_subject))
        what = c->m->lua_subject, at = c->m->lua_subject_span;
    for (int k = 0; k < ns && !what; k++) {
        if (specs[k].sampler && !hook_has(c->h, specs[k].sampler))
            what = specs[k].sampler, at = specs[k].sampler_span;
        else if (specs[k].rule && !hook_has(c->h, specs[k].rule))
            what = specs[k].rule, at = specs[k].rule_span;
    }
    if (!what)
        return 0;
    diag_report(c->d, DIAG_ERROR, at, "define it in the $LUA script",
                "the $LUA scripts define no function '%s'", what);
    return -1;
}

int mc_run(const Prog *p, const Dataset *ds, const double *theta, const double *theta_cov,
           const double *omega, const double *sigma, const SimOpts *o, McResult *r, Diag *d,
           FILE *log)
{
    memset(r, 0, sizeof *r);
    const Model *m = p->m;
    Mc c = { p, m, ds, d, mem_arena_new(), NULL, o->lua ? o->lua->model : NULL };
    if (!c.a) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory");
        return -1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Spec *specs;
    int ns, rc = -1;
    if (m->sim.uncertainty && !theta_cov) {
        fail(&c, m->sim.rec->name_span,
             "add $ESTIMATION and $COVARIANCE before it, or remove UNCERTAINTY=YES",
             "UNCERTAINTY=YES draws the THETAs from the covariance step, and there is none");
        rc = 1;
        goto done;
    }
    if (read_specs(&c, &specs, &ns) != 0) {
        rc = 1;
        goto done;
    }
    for (int k = 0; k < ns; k++) {
        double *grid;
        int ng;
        if (dose_grid(&c, &specs[k], &grid, &ng) != 0) {
            rc = 1;
            goto done;
        }
    }
    if (open_hooks(&c, specs, ns, o) != 0) {
        rc = 1;
        goto done;
    }
    r->n = m->sim.n > 0 ? m->sim.n : 1000;
    r->nscen = ns;
    r->scen = calloc((size_t)ns, sizeof *r->scen);
    if (!r->scen)
        goto done;
    uint64_t seed = m->sim.seed >= 0 ? (uint64_t)m->sim.seed : 12345;
    r->trials = m->sim.uncertainty ? MC_TRIALS : 0;
    if (r->trials > r->n)
        r->trials = r->n;
    double *thetas = mem_alloc(c.a, sizeof(double) * ((size_t)(r->trials > 0 ? r->trials : 1) *
                                                          (size_t)m->nthetas + 1));
    if (trial_thetas(&c, theta, theta_cov, r->trials, seed, thetas) != 0) {
        rc = 1;
        goto done;
    }
    for (int k = 0; k < ns; k++) {
        if (run_scenario(&c, &specs[k], r->n, r->trials, seed, thetas, omega, sigma, o,
                         &r->scen[k], log) != 0)
            goto done;
        r->subjects += (long)r->n * r->scen[k].ndose;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    rc = 0;
done:
    hook_free(&c.h);
    mem_arena_free(&c.a);
    if (rc != 0)
        mc_result_free(r);
    return rc;
}

void mc_result_free(McResult *r)
{
    for (int k = 0; r && r->scen && k < r->nscen; k++) {
        free(r->scen[k].dose);
        free(r->scen[k].met);
        free(r->scen[k].lo);
        free(r->scen[k].hi);
        free(r->scen[k].time);
        free(r->scen[k].band);
        free(r->scen[k].tlo);
        free(r->scen[k].thi);
    }
    if (r) {
        free(r->scen);
        memset(r, 0, sizeof *r);
    }
}

/* ---- outputs ---------------------------------------------------------------------- */

/* tab_put, then the text is freed. */
static int put(const char *dir, const char *name, char *text, size_t len, Diag *d, FILE *log)
{
    int rc = tab_put(dir, name, text, len, d, log);
    free(text);
    return rc;
}

int mc_write(const McResult *r, const char *dir, const char *summary, Diag *d, FILE *log)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -1;
    fprintf(f, "SCENARIO,DOSE,N,MET,FRACTION,LOWER95,UPPER95,TARGET_MET%s\n",
            r->trials ? ",TRIAL_P05,TRIAL_P95" : "");
    for (int k = 0; k < r->nscen; k++) {
        const McScenario *s = &r->scen[k];
        for (int i = 0; i < s->ndose; i++) {
            fprintf(f, "%s,%.10g,%d,%d,%.6f,%.6f,%.6f,%d", s->name, s->dose[i], r->n, s->met[i],
                    (double)s->met[i] / r->n, s->lo[i], s->hi[i],
                    (double)s->met[i] / r->n >= s->p);
            if (r->trials)
                fprintf(f, ",%.6f,%.6f", s->tlo[i], s->thi[i]);
            fputc('\n', f);
        }
    }
    fclose(f);
    int rc = put(dir, "attainment.csv", text, len, d, log);
    text = NULL;
    f = open_memstream(&text, &len);
    if (!f)
        return -1;
    fprintf(f, "Monte Carlo trials: %d virtual subjects per dose, %ld in all, %.2f s\n", r->n,
            r->subjects, r->seconds);
    if (r->trials)
        fprintf(f, "parameter uncertainty: %d trials, each with THETAs drawn from the covariance "
                   "step;\nthe last columns are the 5th and 95th percentiles of the trials' "
                   "attainment\n", r->trials);
    fputc('\n', f);
    for (int k = 0; k < r->nscen; k++) {
        const McScenario *s = &r->scen[k];
        fprintf(f, "scenario %s\n  regimen   %s\n  endpoint  %s\n  target    %s\n\n", s->name,
                s->regimen, s->endpoint,
                s->target);
        fprintf(f, "  %10s %10s %22s%s\n", "dose", "attained", "95% CI (Wilson)",
                r->trials ? "   trials 5th-95th" : "");
        for (int i = 0; i < s->ndose; i++) {
            fprintf(f, "  %10g %9.1f%% %10.1f%% - %5.1f%%", s->dose[i], 100.0 * s->met[i] / r->n,
                    100 * s->lo[i], 100 * s->hi[i]);
            if (r->trials)
                fprintf(f, "   %6.1f%% - %5.1f%%", 100 * s->tlo[i], 100 * s->thi[i]);
            fprintf(f, "%s\n", i == s->found ? "   <- the smallest dose reaching the target" : "");
        }
        if (s->found >= 0)
            fprintf(f, "\n  chosen dose: %g\n\n", s->dose[s->found]);
        else
            fprintf(f, "\n  no dose of the grid reaches the target\n\n");
    }
    fclose(f);
    /* summary.txt: the fit's summary, when there was one, then the same */
    char *sum = NULL;
    size_t slen = 0;
    FILE *sf = text ? open_memstream(&sum, &slen) : NULL;
    if (sf) {
        if (summary)
            fprintf(sf, "%s\n", summary);
        fwrite(text, 1, len, sf);
        fclose(sf);
    }
    rc |= put(dir, "summary.txt", sum, slen, d, log);
    rc |= put(dir, "attainment.txt", text, len, d, log);
    text = NULL;
    f = open_memstream(&text, &len);
    if (!f)
        return -1;
    fprintf(f, "SCENARIO,DOSE,TIME,VARIABLE,P05,P50,P95\n");
    for (int k = 0; k < r->nscen; k++) {
        const McScenario *s = &r->scen[k];
        for (int i = 0; i < s->ndose; i++)
            for (int q = 0; q < s->ntime; q++) {
                const double *b = s->band + ((size_t)i * s->ntime + q) * 3;
                fprintf(f, "%s,%.10g,%.10g,%s,%.10g,%.10g,%.10g\n", s->name, s->dose[i],
                        s->time[q], s->var, b[0], b[1], b[2]);
            }
    }
    fclose(f);
    rc |= put(dir, "bands.csv", text, len, d, log);
    double *lo = malloc(sizeof(double) * 3 * (MC_GRID + 1));
    for (int k = 0; lo && k < r->nscen; k++) {
        const McScenario *s = &r->scen[k];
        int i = s->found >= 0 ? s->found : s->ndose - 1;
        double *mid = lo + s->ntime, *hi = mid + s->ntime;
        for (int q = 0; q < s->ntime; q++) {
            const double *b = s->band + ((size_t)i * s->ntime + q) * 3;
            lo[q] = b[0], mid[q] = b[1], hi[q] = b[2];
        }
        char title[256], ylab[96], name[128];
        snprintf(title, sizeof title, "%s: %s at dose %g, %d subjects", s->name, s->var,
                 s->dose[i], r->n);
        snprintf(ylab, sizeof ylab, "%s", s->var);
        PlotOpts po;
        memset(&po, 0, sizeof po);
        po.title = title;
        po.xlabel = "time in the window (h)";
        po.ylabel = ylab;
        size_t sl;
        snprintf(name, sizeof name, "bands_%s.svg", s->name);
        rc |= plot_put(dir, name,
                       plot_bands_svg(s->time, lo, mid, hi, s->ntime, s->level, &po, &sl), d, log);
    }
    free(lo);
    return rc ? -1 : 0;
}
