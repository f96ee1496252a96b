/*
 * sema.c -- the checker: syntax tree -> checked model.
 *
 * The idea: a model is a few namespaces and a short straight-line
 * program, so checking it is a handful of passes over the records, each
 * reporting what it finds and going on (a wrong record costs its own
 * errors, never the rest of the run):
 *
 *   1. records: once-only records, their companions, every option's name
 *      and value kind against keywords.def;
 *   2. declarations, in file order: $INPUT columns, $COMPARTMENTS, $THETA,
 *      $OMEGA, $SIGMA, $QUANTUM and $NETWORK names share one namespace;
 *      initial values are validated and converted here;
 *   3. settings: $DATA, $ESTIMATION, $COVARIANCE, $TABLE, $LOSS,
 *      $SIMULATION, $LUA become plain structs;
 *   4. code: the variables each code record assigns are collected, then
 *      every statement is walked in execution order ($PK, $DES, $HYBRID,
 *      $ERROR) with a small definite-assignment analysis: each variable is
 *      UNDEF, MAYBE (assigned on some paths) or DEF, an if merges its
 *      arms by taking the weakest state all arms agree on, and a read of
 *      anything but DEF is an error.  $DES derivatives are tracked the
 *      same way, which gives "exactly one d/dt per compartment";
 *   5. what refers to names: $TABLE items, $PRIOR targets, directive
 *      shapes;
 *   6. warnings for parameters nothing reads.
 *
 * Name lookups are linear scans: a model declares tens of names, and
 * the scans keep the checker obviously correct.
 */
#include "sema.h"
#include "la.h"
#include "strmap.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* context                                                            */
/* ------------------------------------------------------------------ */

typedef enum { DK_THETA, DK_ETA, DK_EPS, DK_CMT, DK_COL, DK_NET } DeclKind;

/* One declared name of the shared namespace. */
typedef struct {
    const char *name;
    DeclKind kind;
    int index;            /* into the Model array of its kind */
    Span span;
} Decl;

/* One declaration's covariance block, placed at row/column n0 of r. */
typedef struct PendingBlock {
    ModelRandom *r;
    int n0, nb;
    const double *cov;
} PendingBlock;

/* Definite-assignment states; an if merges arms with min and max. */
enum { VS_UNDEF, VS_MAYBE, VS_DEF };

typedef struct {
    Arena *a;
    Diag *d;
    const Ast *t;
    Model *m;
    int errors0;                     /* diag_errors() at the start */

    Decl *decls;
    int ndecls, capdecls;
    StrMap *decl_map;                /* name -> index into decls */
    StrMap *var_map;                 /* name -> index into Model vars */
    StrMap *des_map;                 /* $DES locals: seen only from $DES */
    struct PendingBlock *pending;    /* OMEGA/SIGMA blocks, for random_assemble */
    int npending, cappending;
    int rcap[2];                     /* capacity of omega's and sigma's arrays */
    const Record *first[REC_NKINDS]; /* first record of each kind */

    /* growable Model arrays */
    int capthetas, capcmts, capcols, capvars, capnets, capluafns;
    int capests, captables, cappriors, caplua, capfilters;

    /* the code walk */
    RecKind cur;                     /* record being checked */
    int assign_var;                  /* variable being assigned, or -1 */
    unsigned char *vstate;           /* per variable */
    unsigned char *cstate;           /* per compartment: its d/dt */
    Span *ddt_span;                  /* per compartment: first d/dt */
    int *theta_uses, *eta_uses, *eps_uses;
    int ddt_bad;                     /* a d/dt target was wrong (reported) */
} Sema;

/* Execution order of the code records; a variable is visible in the
 * records after its own, except $DES locals, which stay in $DES. */
static const RecKind code_recs[] = { REC_PK, REC_DES, REC_HYBRID, REC_ERROR };
#define NCODE 4

/* Closed word lists, from keywords.def like everything the checker knows. */
static const char *const role_names[] = {
#define DATA_ITEM(name, summary) #name,
#include "../lang/keywords.def"
};
_Static_assert(sizeof role_names / sizeof role_names[0] == COL_NITEMS,
               "DATA_ITEM entries of keywords.def and ColRole disagree");

static const char *const table_std[] = {
#define TABLE_ITEM(name, summary) #name,
#include "../lang/keywords.def"
};
#define NTABLE_STD ((int)(sizeof table_std / sizeof table_std[0]))

static const struct { const char *name, *means; } cmt_roles[] = {
#define CMT_ROLE(name, means, summary) { #name, #means },
#include "../lang/keywords.def"
};
#define NCMT_ROLES ((int)(sizeof cmt_roles / sizeof cmt_roles[0]))

static const char *const prior_dists[] = {
#define PRIOR_DIST(name, nparams, summary) #name,
#include "../lang/keywords.def"
};
static const int prior_nparams[] = {
#define PRIOR_DIST(name, nparams, summary) nparams,
#include "../lang/keywords.def"
};
#define NPRIOR_DISTS ((int)(sizeof prior_dists / sizeof prior_dists[0]))

static const char *const transforms[] = {
#define TRANSFORM(name, summary) #name,
#include "../lang/keywords.def"
};
_Static_assert(sizeof transforms / sizeof transforms[0] == XF_LOG + 1,
               "TRANSFORM entries of keywords.def and ThetaTransform disagree");

/* Record-specific callables and words, straight from keywords.def: the
 * kw module looks them up but does not list them, and hints need lists. */
static const KwRecordFunc recfunc_tab[] = {
#define RECORD_FUNC(rec, name, arity) { REC_##rec, #name, arity },
#include "../lang/keywords.def"
};
#define NRECFUNC ((int)(sizeof recfunc_tab / sizeof recfunc_tab[0]))

static const KwRecordFunc recword_tab[] = {
#define RECORD_WORD(rec, name) { REC_##rec, #name, 0 },
#include "../lang/keywords.def"
};
#define NRECWORD ((int)(sizeof recword_tab / sizeof recword_tab[0]))

/* ------------------------------------------------------------------ */
/* small helpers                                                      */
/* ------------------------------------------------------------------ */

static void err(Sema *s, Span at, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(Sema *s, Span at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(Sema *s, Span at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *strf(Sema *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void err(Sema *s, Span at, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(s->d, DIAG_ERROR, at, hint, fmt, ap);
    va_end(ap);
}

static void note(Sema *s, Span at, const char *fmt, ...)
{
    va_list ap;
    /* a note belongs to the error before it; none once errors stop */
    if (diag_full(s->d))
        return;
    va_start(ap, fmt);
    diag_vreport(s->d, DIAG_NOTE, at, NULL, fmt, ap);
    va_end(ap);
}

static void warn(Sema *s, Span at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(s->d, DIAG_WARNING, at, NULL, fmt, ap);
    va_end(ap);
}

/* A formatted string in the arena, for hints and generated names. */
static const char *strf(Sema *s, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return mem_strdup(s->a, buf);
}

static int full(const Sema *s)
{
    return diag_full(s->d);
}

static const char *plural(int n)
{
    return n == 1 ? "" : "s";
}

/* The source text under a span (at most 40 bytes), for quoting what the
 * user wrote in a message. */
static const char *span_text(Sema *s, Span sp)
{
    size_t len;
    const char *txt = diag_file_text(s->d, sp.file, &len);
    if (sp.off < 0 || sp.len <= 0 || (size_t)sp.off + (size_t)sp.len > len)
        return "?";
    return mem_strndup(s->a, txt + sp.off, (size_t)(sp.len > 40 ? 40 : sp.len));
}

/* A span cut to its first n bytes: a call's name inside the call. */
static Span span_head(Span sp, int n)
{
    if (n > 0 && n < sp.len)
        sp.len = n;
    return sp;
}

/* "did you mean 'x'?" or NULL. */
static const char *suggest(Sema *s, const char *name, const char *const *cands, int n)
{
    const char *pick = diag_suggest(name, cands, n);
    return pick ? strf(s, "did you mean '%s'?", pick) : NULL;
}

/* A blank-separated word list (an OPT_ENUM's values) as "A, B or C". */
static const char *word_list(Sema *s, const char *list)
{
    char buf[256];
    size_t n = 0;
    int words = 0, total = 0;
    for (const char *p = list; *p; p++)
        if (*p != ' ' && (p == list || p[-1] == ' '))
            total++;
    for (const char *p = list; *p && n + 32 < sizeof buf;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e == p)
            break;
        words++;
        const char *sep = words == 1 ? "" : words == total ? " or " : ", ";
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.*s", sep, (int)(e - p), p);
        p = e;
    }
    buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
    return mem_strdup(s->a, buf);
}

/* The words of a blank-separated list as an array, for suggestions. */
static const char *const *split_words(Sema *s, const char *list, int *n)
{
    const char **v = NULL;
    int cap = 0;
    *n = 0;
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e == p)
            break;
        const char *w = mem_strndup(s->a, p, (size_t)(e - p));
        MEM_PUSH(s->a, v, *n, cap, w);
        p = e;
    }
    return v;
}

/* Position of word among names (case-insensitive), or -1. */
static int word_index(const char *word, const char *const *names, int n)
{
    for (int i = 0; word && i < n; i++)
        if (kw_strcaseeq(word, names[i]))
            return i;
    return -1;
}

/* A number literal, possibly signed: the value in *v. */
static int is_integer(double v)
{
    return isfinite(v) && v == floor(v) && fabs(v) < 2e9;
}

static int code_rank(RecKind k)
{
    for (int i = 0; i < NCODE; i++)
        if (code_recs[i] == k)
            return i;
    return -1;
}

static const char *rec_name(RecKind k)
{
    return kw_record_name(k);
}

/* ------------------------------------------------------------------ */
/* the namespace                                                      */
/* ------------------------------------------------------------------ */

static const char *decl_kind_name(DeclKind k)
{
    static const char *const names[] = {
        "THETA", "ETA", "EPS", "compartment", "column", "network"
    };
    return names[k];
}

static const char *decl_article(DeclKind k)
{
    return k == DK_ETA || k == DK_EPS ? "an" : "a";
}

static const Decl *find_decl(const Sema *s, const char *name)
{
    int i = name ? smap_get(s->decl_map, name) : -1;
    return i >= 0 ? &s->decls[i] : NULL;
}

/* Adds name to the namespace; 0 (and an error) if it is taken. */
static int declare(Sema *s, const char *name, DeclKind kind, int index, Span at)
{
    const Decl *old = find_decl(s, name);
    if (old) {
        err(s, at, NULL, "'%s' is already declared", name);
        note(s, old->span, "'%s' was first declared here, as %s %s", name,
             decl_article(old->kind), decl_kind_name(old->kind));
        return 0;
    }
    Decl dc = { name, kind, index, at };
    MEM_PUSH(s->a, s->decls, s->ndecls, s->capdecls, dc);
    smap_put(s->decl_map, name, s->ndecls - 1);
    return 1;
}

/* A variable by name, as the record being checked sees it: $DES locals
 * shadow nothing and are seen only from $DES, so $ERROR may reuse their
 * names for quantities of its own. */
static int find_var(const Sema *s, const char *name)
{
    if (!name)
        return -1;
    int v = smap_get(s->var_map, name);
    if (v < 0 || s->cur == REC_DES) {
        int d = smap_get(s->des_map, name);
        if (d >= 0 && (s->cur == REC_DES || v < 0))
            return d;
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* pass 1: records and options                                        */
/* ------------------------------------------------------------------ */

static int once_only(RecKind k)
{
    switch (k) {
    /* $COMPARTMENTS, $PK, $DES and $ERROR may repeat: their contents are
     * joined in file order, so a model can $INCLUDE a library model and
     * add a compartment, a covariate effect (CL = CL*(WT/70)^0.75) or an
     * equation of its own. */
    case REC_PROBLEM: case REC_DATA: case REC_INPUT: case REC_HYBRID: case REC_LOSS:
    case REC_COVARIANCE: case REC_SIMULATION: case REC_SOLVER:
        return 1;
    default:
        return 0;
    }
}

static void check_option_value(Sema *s, const Option *o, const KwOption *k)
{
    const char *name = k->name;
    if (k->type != OPT_FLAG && o->kind == OV_FLAG) {
        err(s, o->key_span, NULL, "'%s' needs a value", name);
        return;
    }
    switch (k->type) {
    case OPT_FLAG:
        if (o->kind != OV_FLAG)
            err(s, o->value_span, NULL, "'%s' takes no value", name);
        break;
    case OPT_INT:
        if (o->kind != OV_NUM || !is_integer(o->num))
            err(s, o->value_span, NULL, "'%s' needs an integer, got '%s'", name,
                o->text ? o->text : span_text(s, o->value_span));
        break;
    case OPT_NUM:
        if (o->kind != OV_NUM)
            err(s, o->value_span, NULL, "'%s' needs a number, got '%s'", name,
                o->text ? o->text : span_text(s, o->value_span));
        break;
    case OPT_ENUM:
        if ((o->kind != OV_WORD && o->kind != OV_STRING && o->kind != OV_NUM &&
             o->kind != OV_PATH) || !o->text || !kw_enum_has(k->values, o->text)) {
            int n;
            const char *const *w = split_words(s, k->values, &n);
            const char *text = o->text ? o->text : span_text(s, o->value_span);
            const char *dym = diag_suggest(text, w, n);
            const char *hint = dym
                ? strf(s, "did you mean '%s'? %s is one of %s", dym, name, word_list(s, k->values))
                : strf(s, "%s is one of %s", name, word_list(s, k->values));
            err(s, o->value_span, hint, "invalid value '%s' for '%s'", text, name);
        }
        break;
    case OPT_PATH:
        if (o->kind != OV_PATH && o->kind != OV_STRING && o->kind != OV_WORD)
            err(s, o->value_span, NULL, "'%s' needs a file name", name);
        break;
    case OPT_IGNORE:
        if (!(o->kind == OV_AT || o->kind == OV_HASH || o->kind == OV_FILTERS ||
              (o->kind == OV_WORD && o->text && strlen(o->text) == 1)))
            err(s, o->value_span, "write @, #, a single character, or (COL.EQ.value, ...)",
                "'%s' needs a character or a list of filters", name);
        break;
    case OPT_NAME:
        if (o->kind != OV_WORD)
            err(s, o->value_span, NULL, "'%s' needs a name", name);
        break;
    case OPT_NAMES:
        if (o->kind != OV_NAMES)
            err(s, o->value_span, "write e.g. (BMI, CRCL)", "'%s' needs a list of names", name);
        break;
    }
}

/* Every option of r: known for its record, of the right kind, given once
 * (IGNORE and ACCEPT may repeat, as in NONMEM). */
static void check_options(Sema *s, const Record *r)
{
    for (int i = 0; i < r->nopts && !full(s); i++) {
        const Option *o = &r->opts[i];
        const KwOption *k = kw_option_lookup(r->kind, o->key);
        if (!k) {
            int n;
            const char *const *names = kw_option_names(r->kind, &n);
            const char *hint = n == 0
                ? strf(s, "$%s takes no options", rec_name(r->kind))
                : suggest(s, o->key, names, n);
            err(s, o->key_span, hint, "unknown option '%s' for $%s", o->key, rec_name(r->kind));
            continue;
        }
        check_option_value(s, o, k);
        if (k->type == OPT_IGNORE)
            continue;
        for (int j = 0; j < i; j++)
            if (kw_strcaseeq(r->opts[j].key, o->key)) {
                err(s, o->key_span, NULL, "option '%s' is given twice", k->name);
                note(s, r->opts[j].key_span, "first given here");
                break;
            }
    }
}

/* The value of a valid option of r, or NULL. */
static const Option *get_option(const Record *r, const char *key)
{
    const Option *found = NULL;
    for (int i = 0; i < r->nopts; i++)
        if (kw_strcaseeq(r->opts[i].key, key) && !found)
            found = &r->opts[i];
    return found;
}

static int opt_int(const Record *r, const char *key, int dflt)
{
    const Option *o = get_option(r, key);
    return o && o->kind == OV_NUM && is_integer(o->num) ? (int)o->num : dflt;
}

static double opt_num(const Record *r, const char *key, double dflt)
{
    const Option *o = get_option(r, key);
    return o && o->kind == OV_NUM ? o->num : dflt;
}

static int opt_flag(const Record *r, const char *key)
{
    const Option *o = get_option(r, key);
    return o && o->kind == OV_FLAG;
}

/* An OPT_ENUM option as a position in names, or dflt. */
static int opt_enum(const Record *r, const char *key, const char *const *names,
                    int n, int dflt)
{
    const Option *o = get_option(r, key);
    int i = o ? word_index(o->text, names, n) : -1;
    return i >= 0 ? i : dflt;
}

static void check_records(Sema *s)
{
    const Ast *t = s->t;
    for (int i = 0; i < t->nrecs && !full(s); i++) {
        const Record *r = t->recs[i];
        if (!r || r->kind < 0 || r->kind >= REC_NKINDS)
            continue;
        if (s->first[r->kind] && once_only(r->kind)) {
            err(s, r->name_span, NULL, "duplicate $%s record", rec_name(r->kind));
            note(s, s->first[r->kind]->name_span, "the first $%s record is here",
                 rec_name(r->kind));
        } else if (!s->first[r->kind]) {
            s->first[r->kind] = r;
        }
        check_options(s, r);
    }
    const Record *des = s->first[REC_DES], *dat = s->first[REC_DATA],
                 *inp = s->first[REC_INPUT];
    if (des && !s->first[REC_COMPARTMENTS])
        err(s, des->name_span, "declare the compartments the equations integrate",
            "$DES needs a $COMPARTMENTS record");
    if (dat && !inp)
        err(s, dat->name_span, "$INPUT names the dataset's columns",
            "$DATA needs an $INPUT record");
    if (inp && !dat)
        err(s, inp->name_span, "$DATA names the dataset the columns come from",
            "$INPUT needs a $DATA record");
}

/* ------------------------------------------------------------------ */
/* pass 2: declarations                                               */
/* ------------------------------------------------------------------ */

static int reserved_role(const char *name)
{
    return name ? word_index(name, role_names, COL_NITEMS) : -1;
}

static int is_drop(const char *name)
{
    return name && (kw_strcaseeq(name, "DROP") || kw_strcaseeq(name, "SKIP"));
}

/* $INPUT ID TIME CONC=DV WT X=DROP: one column per name; whichever side
 * of '=' is a reserved data item gives the role, and both names refer to
 * the column. */
static void declare_column(Sema *s, const Column *c)
{
    Model *m = s->m;
    ModelColumn mc = { c->name, c->alias, COL_COVARIATE, c->span };
    int idx = m->ncols;
    int rn = reserved_role(c->name), ra = reserved_role(c->alias);
    if (is_drop(c->alias) || (is_drop(c->name) && !c->alias))
        mc.role = COL_DROPPED;
    else if (rn >= 0 && ra >= 0 && rn != ra)
        err(s, c->alias_span, NULL, "'%s=%s' names two data items", c->name, c->alias);
    else if (rn >= 0 || ra >= 0)
        mc.role = (ColRole)(rn >= 0 ? rn : ra);
    if (c->alias && is_drop(c->alias))
        mc.alias = NULL;
    MEM_PUSH(s->a, m->cols, m->ncols, s->capcols, mc);
    /* a bare DROP is a placeholder, not a name */
    if (!(is_drop(c->name) && !c->alias))
        declare(s, c->name, DK_COL, idx, c->span);
    if (mc.alias && strcmp(mc.alias, c->name) != 0)
        declare(s, mc.alias, DK_COL, idx, c->alias_span);
    if (mc.role < COL_NITEMS && m->role_col[mc.role] < 0)
        m->role_col[mc.role] = idx;
}

static void declare_compartment(Sema *s, const Compartment *c)
{
    Model *m = s->m;
    ModelCmt mc = { c->name, c->span, 0, 0 };
    const char *roles[NCMT_ROLES];
    for (int i = 0; i < NCMT_ROLES; i++)
        roles[i] = cmt_roles[i].name;
    for (int i = 0; i < c->nroles; i++) {
        int k = word_index(c->roles[i], roles, NCMT_ROLES);
        const char *means = k >= 0 ? cmt_roles[k].means : "";
        if (strcmp(means, "dose") == 0)
            mc.dose = 1;
        else if (strcmp(means, "observe") == 0)
            mc.observe = 1;
        else {
            const char *dym = diag_suggest(c->roles[i], roles, NCMT_ROLES);
            err(s, c->role_spans[i],
                dym ? strf(s, "did you mean '%s'? the roles are dose and observe", dym)
                    : "the roles are dose and observe",
                "unknown role '%s' for compartment '%s'", c->roles[i], c->name);
        }
    }
    if (declare(s, c->name, DK_CMT, m->ncmts, c->span))
        MEM_PUSH(s->a, m->cmts, m->ncmts, s->capcmts, mc);
}

static const char *bound_text(const char *spelled, const char *open)
{
    return spelled ? spelled : open;
}

/* $THETA name = init (lo, hi) FIX TRANSFORM=softplus */
static void declare_theta(Sema *s, const ThetaDecl *th)
{
    Model *m = s->m;
    ModelTheta mt;
    memset(&mt, 0, sizeof mt);
    int n = m->nthetas + 1;
    mt.named = th->name != NULL;
    mt.name = th->name ? th->name : strf(s, "THETA(%d)", n);
    mt.span = th->name ? th->name_span : th->span;
    mt.init = th->vinit;
    mt.lo = th->lo ? th->vlo : -INFINITY;
    mt.hi = th->hi ? th->vhi : INFINITY;
    mt.fix = th->fix;
    const char *init = th->init ? th->init : strf(s, "%g", th->vinit);
    if (th->lo && th->hi && !(mt.lo < mt.hi))
        err(s, th->span, NULL, "lower bound %s is not below upper bound %s", th->lo, th->hi);
    else if (!mt.fix && !(mt.lo < mt.init && mt.init < mt.hi))
        err(s, th->span, "the initial value must lie strictly between the bounds (or add FIX)",
            "initial value %s is outside its bounds (%s, %s)", init,
            bound_text(th->lo, "-inf"), bound_text(th->hi, "inf"));
    if (th->transform) {
        const char *const *xf = transforms;
        int k = word_index(th->transform, xf, XF_LOG + 1);
        if (k < 0) {
            const char *dym = diag_suggest(th->transform, xf, XF_LOG + 1);
            err(s, th->transform_span,
                dym ? strf(s, "did you mean '%s'? TRANSFORM is softplus, log or none", dym)
                    : "TRANSFORM is softplus, log or none",
                "unknown transform '%s'", th->transform);
        } else {
            mt.transform = (ThetaTransform)k;
            if (k != XF_NONE && !(mt.init > 0))
                err(s, th->transform_span, "a softplus or log parameter is positive",
                    "TRANSFORM=%s needs a positive initial value, got %s", xf[k], init);
        }
    }
    if (!th->name || declare(s, th->name, DK_THETA, m->nthetas, th->name_span))
        MEM_PUSH(s->a, m->thetas, m->nthetas, s->capthetas, mt);
}

/* 1 if the n x n matrix a is positive definite. */
static int positive_definite(Sema *s, const double *a, int n)
{
    double *l = mem_alloc(s->a, sizeof *l * (size_t)(n * n));
    return la_cholesky(n, a, l) == 0;
}

/* The shape of one $OMEGA/$SIGMA declaration: how many values it needs. */
static int random_shape_ok(Sema *s, const RandomDecl *rd)
{
    if (rd->block < 0 || (rd->block == 0 && rd->nnames == 0)) {
        err(s, rd->span, NULL, "BLOCK size must be at least 1");
        return 0;
    }
    if (rd->block > 0) {
        int need = rd->block * (rd->block + 1) / 2;
        if (rd->nnames != rd->block) {
            err(s, rd->span, NULL, "BLOCK(%d) needs %d name%s, got %d", rd->block,
                rd->block, plural(rd->block), rd->nnames);
            return 0;
        }
        if (rd->nvalues != need) {
            err(s, rd->span, "give the lower triangle, row by row",
                "BLOCK(%d) needs %d value%s, got %d", rd->block, need, plural(need),
                rd->nvalues);
            return 0;
        }
        return 1;
    }
    if (rd->corr) {
        err(s, rd->span, "correlations are between the effects of a BLOCK(n)",
            "CORRELATION needs a BLOCK");
        return 0;
    }
    if (rd->nvalues != rd->nnames) {
        err(s, rd->span, "without BLOCK each name gets one variance",
            "%d name%s need%s %d value%s, got %d", rd->nnames, plural(rd->nnames),
            rd->nnames == 1 ? "s" : "", rd->nnames, plural(rd->nnames), rd->nvalues);
        return 0;
    }
    return 1;
}

/* The values of a declaration as an n x n covariance (row-major), from
 * variances or SDs on the diagonal and covariances or correlations off
 * it.  0 (and errors) when a value is out of its range. */
static int random_values(Sema *s, const RandomDecl *rd, const char *lvl, double *cov)
{
    int n = rd->nnames, ok = 1, k = 0;
    const char *what = rd->sd ? "standard deviation" : "variance";
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= (rd->block ? i : 0); j++) {
            int row = i, col = rd->block ? j : i;
            double v = rd->v[k];
            Span at = rd->value_spans ? rd->value_spans[k] : rd->span;
            const char *txt = rd->values ? rd->values[k] : strf(s, "%g", v);
            k++;
            if (row == col) {
                if (v < 0 || (v == 0 && !rd->fix)) {
                    err(s, at, v == 0 ? "only a FIX effect may be zero" : NULL,
                        "%s of %s '%s' must be positive, got %s", what, lvl,
                        rd->names[i], txt);
                    ok = 0;
                }
                cov[row * n + row] = rd->sd ? v * v : v;
            } else {
                if (rd->corr && !(v > -1 && v < 1)) {
                    err(s, at, NULL, "correlation %s is not between -1 and 1", txt);
                    ok = 0;
                }
                cov[row * n + col] = cov[col * n + row] = v;
            }
        }
    if (ok && rd->corr)   /* correlations times standard deviations */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                cov[i * n + j] = cov[j * n + i] =
                    cov[i * n + j] * sqrt(cov[i * n + i] * cov[j * n + j]);
    return ok;
}

/* The full covariance matrices, from the blocks random_append kept. */
static void random_assemble(Sema *s)
{
    ModelRandom *rs[2] = { &s->m->omega, &s->m->sigma };
    for (int k = 0; k < 2; k++) {
        ModelRandom *r = rs[k];
        int n = r->n;
        r->cov = mem_alloc(s->a, sizeof *r->cov * (size_t)(n * n + 1));
        for (int b = 0; b < s->npending; b++) {
            const PendingBlock *pb = &s->pending[b];
            if (pb->r != r)
                continue;
            for (int i = 0; i < pb->nb; i++)
                for (int j = 0; j < pb->nb; j++)
                    r->cov[(pb->n0 + i) * n + pb->n0 + j] = pb->cov[i * pb->nb + j];
        }
    }
}

/* Appends the effects of rd to r; its covariance block waits for
 * random_assemble. */
static void random_append(Sema *s, ModelRandom *r, const RandomDecl *rd,
                          const double *cov, int nb)
{
    int n0 = r->n, n = n0 + nb;
    /* the blocks are kept and assembled into r->cov once, at the end
     * (random_assemble), so that many declarations cost linear time */
    PendingBlock pb = { r, n0, nb, cov };
    MEM_PUSH(s->a, s->pending, s->npending, s->cappending, pb);
    /* capacities double, so n declarations cost O(n) copying in all */
    int *cap = r == &s->m->omega ? s->rcap : s->rcap + 1;
    if (n > *cap) {
        int nc = *cap ? 2 * *cap : 8;
        while (nc < n)
            nc *= 2;
        size_t o = (size_t)*cap, c = (size_t)nc;
        r->names = mem_grow(s->a, r->names, o, c, sizeof *r->names);
        r->spans = mem_grow(s->a, r->spans, o, c, sizeof *r->spans);
        r->block = mem_grow(s->a, r->block, o, c, sizeof *r->block);
        /* at most one block per effect */
        r->block_start = mem_grow(s->a, r->block_start, o, c, sizeof(int));
        r->block_size = mem_grow(s->a, r->block_size, o, c, sizeof(int));
        r->block_fix = mem_grow(s->a, r->block_fix, o, c, sizeof(int));
        r->block_full = mem_grow(s->a, r->block_full, o, c, sizeof(int));
        *cap = nc;
    }
    /* a diagonal declaration of k names is k blocks of size 1 */
    int nblk = rd->block ? 1 : nb, b0 = r->nblocks;
    for (int b = 0; b < nblk; b++) {
        r->block_start[b0 + b] = n0 + (rd->block ? 0 : b);
        r->block_size[b0 + b] = rd->block ? nb : 1;
        r->block_fix[b0 + b] = rd->fix;
        r->block_full[b0 + b] = rd->block > 0;
    }
    for (int i = 0; i < nb; i++) {
        r->names[n0 + i] = rd->names[i];
        r->spans[n0 + i] = rd->name_spans ? rd->name_spans[i] : rd->span;
        r->block[n0 + i] = b0 + (rd->block ? 0 : i);
    }
    r->n = n;
    r->nblocks = b0 + nblk;
}

/* $OMEGA / $SIGMA: [BLOCK(n)] names ~ values [FIX] [SD] [CORRELATION] */
static void declare_random(Sema *s, const RandomDecl *rd, RecKind rec)
{
    ModelRandom *r = rec == REC_OMEGA ? &s->m->omega : &s->m->sigma;
    DeclKind kind = rec == REC_OMEGA ? DK_ETA : DK_EPS;
    const char *lvl = rec == REC_OMEGA ? "ETA" : "EPS";
    RandomDecl named;
    if (rd->nnames == 0) {
        /* NONMEM's unnamed entries ($OMEGA 0.1 0.2, $OMEGA BLOCK(2) ...):
         * reachable only as ETA(n) / EPS(n), so they get those names */
        named = *rd;
        named.nnames = rd->block ? rd->block : rd->nvalues;
        named.names = mem_alloc(s->a, sizeof *named.names * (size_t)(named.nnames + 1));
        for (int i = 0; i < named.nnames; i++)
            named.names[i] = strf(s, "%s(%d)", lvl, r->n + i + 1);
        named.name_spans = NULL;
        rd = &named;
    }
    if (!random_shape_ok(s, rd)) {
        /* declare the names anyway, so their uses do not echo this error */
        for (int i = 0; i < rd->nnames && rd->name_spans; i++)
            declare(s, rd->names[i], kind, r->n + i, rd->name_spans[i]);
        return;
    }
    int n = rd->nnames;
    double *cov = mem_alloc(s->a, sizeof *cov * (size_t)(n * n));
    int ok = random_values(s, rd, lvl, cov);
    /* a FIX block with a zero variance switches effects off: no test */
    int zero = 0;
    for (int i = 0; i < n; i++)
        zero |= cov[i * n + i] == 0;
    if (ok && rd->block > 1 && !zero && !positive_definite(s, cov, n)) {
        err(s, rd->span, "the initial covariances must form a positive definite matrix",
            "BLOCK(%d) is not positive definite", rd->block);
        ok = 0;
    }
    int declared = 1;
    for (int i = 0; i < n && rd->name_spans; i++)
        declared &= declare(s, rd->names[i], kind, r->n + i, rd->name_spans[i]);
    if (ok && declared)
        random_append(s, r, rd, cov, n);
}

static void declare_net(Sema *s, const Record *r)
{
    Model *m = s->m;
    if (!r->name)
        return;
    ModelNet net = { r->name, r->kind, r, r->dirs, r->ndirs, r->nm_span };
    if (declare(s, r->name, DK_NET, m->nnets, r->nm_span))
        MEM_PUSH(s->a, m->nets, m->nnets, s->capnets, net);
}

/* $LUA ... SUBJECT=fn DERIVED=(A, B): the names fn sets become columns
 * after $INPUT's, filled once per subject before any engine runs. */
static void declare_derived(Sema *s)
{
    Model *m = s->m;
    m->ninput = m->ncols;
    const Record *seen = NULL;
    for (int i = 0; i < s->t->nrecs && !full(s); i++) {
        const Record *r = s->t->recs[i];
        if (!r || r->kind != REC_LUA)
            continue;
        const Option *fn = get_option(r, "SUBJECT"), *der = get_option(r, "DERIVED");
        if (!fn && !der)
            continue;
        if (!fn || !der || fn->kind != OV_WORD || der->kind != OV_NAMES) {
            if (fn && der)
                continue;   /* the option's own check said what is wrong */
            err(s, (fn ? fn : der)->key_span,
                "write SUBJECT=derive DERIVED=(BMI, CRCL): the function and the names it sets",
                "SUBJECT= and DERIVED= go together");
            continue;
        }
        if (seen) {
            err(s, fn->key_span, "let one function set every derived covariate",
                "a model has one SUBJECT hook");
            note(s, get_option(seen, "SUBJECT")->key_span, "the first is here");
            continue;
        }
        seen = r;
        m->lua_subject = fn->text;
        m->lua_subject_span = fn->value_span;
        for (int k = 0; k < der->nnames; k++) {
            ModelColumn mc = { der->names[k], NULL, COL_DERIVED, der->name_spans[k] };
            if (reserved_role(der->names[k]) >= 0) {
                err(s, der->name_spans[k], "a derived covariate needs a name of its own",
                    "'%s' is a reserved data item", der->names[k]);
                continue;
            }
            if (declare(s, mc.name, DK_COL, m->ncols, mc.span))
                MEM_PUSH(s->a, m->cols, m->ncols, s->capcols, mc);
        }
    }
}

static void declare_all(Sema *s)
{
    const Ast *t = s->t;
    for (int i = 0; i < t->nrecs && !full(s); i++) {
        const Record *r = t->recs[i];
        if (!r)
            continue;
        switch (r->kind) {
        case REC_INPUT:
            if (r != s->first[REC_INPUT])
                break;
            for (int k = 0; k < r->ncols && !full(s); k++)
                declare_column(s, &r->cols[k]);
            break;
        case REC_COMPARTMENTS:
            for (int k = 0; k < r->ncmts && !full(s); k++)
                declare_compartment(s, &r->cmts[k]);
            break;
        case REC_THETA:
            for (int k = 0; k < r->nthetas && !full(s); k++)
                declare_theta(s, &r->thetas[k]);
            break;
        case REC_OMEGA: case REC_SIGMA:
            for (int k = 0; k < r->nrands && !full(s); k++)
                declare_random(s, &r->rands[k], r->kind);
            break;
        case REC_QUANTUM: case REC_NETWORK:
            declare_net(s, r);
            break;
        default:
            break;
        }
    }
    declare_derived(s);
}

/* ------------------------------------------------------------------ */
/* pass 3: settings                                                   */
/* ------------------------------------------------------------------ */

static int find_column(const Sema *s, const char *name)
{
    const Decl *dc = find_decl(s, name);
    return dc && dc->kind == DK_COL ? dc->index : -1;
}

static void column_names(Sema *s, const char ***v, int *n)
{
    int cap = 0;
    *v = NULL;
    *n = 0;
    for (int i = 0; i < s->ndecls; i++)
        if (s->decls[i].kind == DK_COL)
            MEM_PUSH(s->a, *v, *n, cap, s->decls[i].name);
}

/* IGNORE=(COL.EQ.1, ...) and ACCEPT=(...): columns must exist. */
static void data_filters(Sema *s, const Option *o, int accept)
{
    ModelData *dt = &s->m->data;
    if (dt->nfilters > 0 && dt->accept != accept) {
        err(s, o->key_span, "NONMEM keeps or skips rows by one kind of list",
            "IGNORE=(...) and ACCEPT=(...) cannot be combined");
        return;
    }
    dt->accept = accept;
    for (int i = 0; i < o->nfilters; i++) {
        const Filter *f = &o->filters[i];
        int col = find_column(s, f->column);
        if (col < 0) {
            const char **names;
            int n;
            column_names(s, &names, &n);
            err(s, f->column_span, suggest(s, f->column, names, n),
                "unknown column '%s' in filter", f->column);
            continue;
        }
        if (col >= s->m->ninput) {
            err(s, f->column_span, "rows are kept or skipped as they are read, before the "
                                   "subject hook runs; filter on the columns it reads",
                "'%s' is a derived covariate", f->column);
            continue;
        }
        ModelFilter mf = { col, f->op, f->value, 0, 0, f->value_span };
        if (f->value) {
            char *end;
            mf.num = strtod(f->value, &end);
            mf.is_num = end != f->value && *end == '\0';
        }
        MEM_PUSH(s->a, dt->filters, dt->nfilters, s->capfilters, mf);
    }
}

static void settings_data(Sema *s, const Record *r)
{
    static const char *const fmts[] = { "AUTO", "CSV", "SPACE" };
    ModelData *dt = &s->m->data;
    dt->path = r->text;
    dt->span = r->text_span;
    dt->format = (DataFormat)opt_enum(r, "FORMAT", fmts, 3, DFMT_AUTO);
    dt->records = opt_int(r, "RECORDS", -1);
    for (int i = 0; i < r->nopts; i++) {
        const Option *o = &r->opts[i];
        int accept = kw_strcaseeq(o->key, "ACCEPT");
        if (!accept && !kw_strcaseeq(o->key, "IGNORE"))
            continue;
        if (o->kind == OV_FILTERS)
            data_filters(s, o, accept);
        else if (accept)
            err(s, o->value_span, NULL, "ACCEPT needs a list of filters");
        else if (o->kind == OV_AT)
            dt->ignore_char = '@';
        else if (o->kind == OV_HASH)
            dt->ignore_char = '#';
        else if (o->kind == OV_WORD && o->text && strlen(o->text) == 1)
            dt->ignore_char = (unsigned char)o->text[0];
    }
}

static void settings_est(Sema *s, const Record *r)
{
    static const char *const methods[] = {
        "FO", "FOCE", "FOCEI", "LAPLACE", "SAEM", "IMP", "ADAM", "LBFGS"
    };
    static const char *const solvers[] = { "AUTO", "ODE", "CLOSED" };
    static const char *const integs[] = { "BDF", "ADAMS" };
    ModelEst e;
    e.method = (EstMethod)opt_enum(r, "METHOD", methods, 8, EST_FO);
    e.span = r->name_span;
    e.interaction = opt_flag(r, "INTERACTION");
    e.posthoc = opt_flag(r, "POSTHOC");
    e.noabort = opt_flag(r, "NOABORT");
    e.maxeval = opt_int(r, "MAXEVAL", -1);
    e.print = opt_int(r, "PRINT", -1);
    e.seed = opt_int(r, "SEED", -1);
    e.nburn = opt_int(r, "NBURN", -1);
    e.niter = opt_int(r, "NITER", -1);
    e.isample = opt_int(r, "ISAMPLE", -1);
    e.epochs = opt_int(r, "EPOCHS", -1);
    e.sigdig = opt_num(r, "SIGDIG", NAN);
    e.lr = opt_num(r, "LR", NAN);
    e.rtol = opt_num(r, "RTOL", NAN);
    e.atol = opt_num(r, "ATOL", NAN);
    e.solver = (EstSolver)opt_enum(r, "SOLVER", solvers, 3, SOLVER_AUTO);
    e.integrator = (EstIntegrator)opt_enum(r, "INTEGRATOR", integs, 2, INTEG_BDF);
    if (e.method == EST_FOCE && e.interaction)
        e.method = EST_FOCEI;   /* FOCE with interaction is FOCEI */
    if (e.method == EST_FOCEI)
        e.interaction = 1;
    MEM_PUSH(s->a, s->m->ests, s->m->nests, s->capests, e);
}

static void settings_solver(Sema *s, const Record *r)
{
    static const char *const solvers[] = { "AUTO", "ODE", "CLOSED" };
    static const char *const integs[] = { "BDF", "ADAMS" };
    ModelSolver *v = &s->m->solver;
    v->present = 1;
    v->solver = (EstSolver)opt_enum(r, "SOLVER", solvers, 3, SOLVER_AUTO);
    v->integrator = (EstIntegrator)opt_enum(r, "INTEGRATOR", integs, 2, INTEG_BDF);
    v->rtol = opt_num(r, "RTOL", NAN);
    v->atol = opt_num(r, "ATOL", NAN);
    v->maxsteps = opt_int(r, "MAXSTEPS", -1);
}

static void settings_cov(Sema *s, const Record *r)
{
    static const char *const mats[] = { "SANDWICH", "R", "S" };
    ModelCov *c = &s->m->cov;
    c->present = 1;
    c->span = r->name_span;
    c->matrix = (CovMatrix)opt_enum(r, "MATRIX", mats, 3, COV_SANDWICH);
    c->unconditional = opt_flag(r, "UNCONDITIONAL");
}

static void settings_table(Sema *s, const Record *r)
{
    static const char *const fmts[] = { "CSV", "SPACE" };
    ModelTable tb;
    memset(&tb, 0, sizeof tb);
    tb.items = r->items;
    tb.spans = r->item_spans;
    tb.nitems = r->nitems;
    const Option *f = get_option(r, "FILE");
    tb.file = f && f->kind != OV_FLAG ? f->text : NULL;
    tb.noprint = opt_flag(r, "NOPRINT");
    tb.oneheader = opt_flag(r, "ONEHEADER");
    tb.format = (TableFormat)opt_enum(r, "FORMAT", fmts, 2, TFMT_CSV);
    tb.esample = opt_int(r, "ESAMPLE", -1);
    tb.seed = opt_int(r, "SEED", -1);
    tb.span = r->name_span;
    MEM_PUSH(s->a, s->m->tables, s->m->ntables, s->captables, tb);
}

static void settings_sim(Sema *s, const Record *r)
{
    static const char *const yn[] = { "NO", "YES" };
    ModelSim *sim = &s->m->sim;
    sim->present = 1;
    sim->n = opt_int(r, "N", -1);
    sim->seed = opt_int(r, "SEED", -1);
    sim->residual = opt_enum(r, "RESIDUAL", yn, 2, 1);
    sim->uncertainty = opt_enum(r, "UNCERTAINTY", yn, 2, 0);
    sim->rec = r;
}

static void settings_all(Sema *s)
{
    const Ast *t = s->t;
    Model *m = s->m;
    for (int i = 0; i < t->nrecs && !full(s); i++) {
        const Record *r = t->recs[i];
        if (!r || r->kind < 0 || r->kind >= REC_NKINDS)
            continue;
        int first = r == s->first[r->kind];
        switch (r->kind) {
        case REC_PROBLEM:
            if (first)
                m->title = r->text;
            break;
        case REC_DATA:
            if (first)
                settings_data(s, r);
            break;
        case REC_ESTIMATION:
            settings_est(s, r);
            break;
        case REC_SOLVER:
            if (first)
                settings_solver(s, r);
            break;
        case REC_COVARIANCE:
            if (first)
                settings_cov(s, r);
            break;
        case REC_TABLE:
            settings_table(s, r);
            break;
        case REC_SIMULATION:
            if (first)
                settings_sim(s, r);
            break;
        case REC_LUA:
            if (r->text) {
                MEM_PUSH(s->a, m->lua_paths, m->nlua, s->caplua, r->text);
                m->lua_spans = mem_grow(s->a, m->lua_spans, (size_t)m->nlua - 1,
                                        (size_t)m->nlua, sizeof *m->lua_spans);
                m->lua_spans[m->nlua - 1] = r->text_span;
            }
            break;
        default:
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* pass 4a: variables                                                 */
/* ------------------------------------------------------------------ */

static void collect_stmts(Sema *s, Stmt **v, int n);

/* NAME(n) = ... : THETA(1) and friends are not variables. */
static void collect_indexed_target(Sema *s, Stmt *st)
{
    const char *hint = NULL;
    if (st->name && kw_strcaseeq(st->name, "A"))
        hint = "a compartment's amount changes only through its d/dt in $DES";
    err(s, st->name_span, hint, "cannot assign to %s(%d)", st->name ? st->name : "?",
        st->name_index);
}

/* Target of an assignment: a new variable of the current record, or
 * another assignment to one. */
static void collect_assign(Sema *s, Stmt *st)
{
    Model *m = s->m;
    if (!st->name)
        return;
    if (st->name_index > 0) {
        collect_indexed_target(s, st);
        return;
    }
    const Decl *dc = find_decl(s, st->name);
    if (dc && dc->kind == DK_CMT && s->cur == REC_HYBRID) {
        /* the networks stand for this amount (PINN style, docs/pinn.md) */
        st->ref.kind = REF_CMT;
        st->ref.index = dc->index;
        return;
    }
    if (dc) {
        const char *hint = NULL;
        if (dc->kind == DK_CMT)
            hint = strf(s, "write d/dt(%s) = ... in $DES, or give it by networks in $HYBRID",
                        st->name);
        else if (dc->kind == DK_COL)
            hint = "data items are read-only; assign a new name";
        err(s, st->name_span, hint, "cannot assign to %s '%s'", decl_kind_name(dc->kind),
            st->name);
        return;
    }
    if (strcmp(st->name, "TIME") == 0 || strcmp(st->name, "T") == 0) {
        err(s, st->name_span, NULL, "cannot assign to '%s'", st->name);
        return;
    }
    int v = find_var(s, st->name);
    if (v >= 0 && m->vars[v].rec == REC_DES && s->cur != REC_DES)
        v = -1;   /* a $DES local of that name is out of sight here */
    if (v < 0) {
        ModelVar mv = { st->name, s->cur, st->name_span };
        MEM_PUSH(s->a, m->vars, m->nvars, s->capvars, mv);
        v = m->nvars - 1;
        smap_put(s->cur == REC_DES ? s->des_map : s->var_map, st->name, v);
    } else if (m->vars[v].rec != s->cur) {
        err(s, st->name_span, "give the new quantity its own name",
            "'%s' belongs to $%s and cannot be assigned in $%s", st->name,
            rec_name(m->vars[v].rec), rec_name(s->cur));
        note(s, m->vars[v].span, "'%s' is defined here", st->name);
        return;
    }
    st->ref.kind = REF_VAR;
    st->ref.index = v;
}

/* d/dt(name) or DADT(n): the compartment it sets. */
static void collect_ddt(Sema *s, Stmt *st)
{
    Model *m = s->m;
    if (s->cur != REC_DES) {
        err(s, st->span, "derivatives are given in $DES", "d/dt is only allowed in $DES");
        return;
    }
    if (!s->first[REC_COMPARTMENTS])
        return;   /* reported once, at the $DES record */
    if (!st->name) {
        if (st->name_index < 1 || st->name_index > m->ncmts) {
            err(s, st->name_span, NULL, "DADT(%d) is out of range: the model has %d compartment%s",
                st->name_index, m->ncmts, plural(m->ncmts));
            s->ddt_bad = 1;
            return;
        }
        st->ref.kind = REF_CMT;
        st->ref.index = st->name_index - 1;
        return;
    }
    const Decl *dc = find_decl(s, st->name);
    if (!dc || dc->kind != DK_CMT) {
        const char **names = mem_alloc(s->a, sizeof *names * (size_t)(m->ncmts + 1));
        for (int i = 0; i < m->ncmts; i++)
            names[i] = m->cmts[i].name;
        const char *hint = suggest(s, st->name, names, m->ncmts);
        if (dc)
            err(s, st->name_span, hint, "'%s' is %s %s, not a compartment", st->name,
                decl_article(dc->kind), decl_kind_name(dc->kind));
        else
            err(s, st->name_span, hint ? hint : "declare it in $COMPARTMENTS",
                "undefined compartment '%s'", st->name);
        s->ddt_bad = 1;
        return;
    }
    st->ref.kind = REF_CMT;
    st->ref.index = dc->index;
}

static void collect_stmts(Sema *s, Stmt **v, int n)
{
    for (int i = 0; i < n && !full(s); i++) {
        Stmt *st = v[i];
        if (!st)
            continue;
        st->ref.kind = REF_NONE;
        switch (st->kind) {
        case ST_ASSIGN:
            collect_assign(s, st);
            break;
        case ST_DDT:
            collect_ddt(s, st);
            break;
        case ST_IF:
            for (int k = 0; k < st->narms; k++)
                collect_stmts(s, st->arms[k].body, st->arms[k].nbody);
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* pass 4b: expressions                                               */
/* ------------------------------------------------------------------ */

static void check_expr(Sema *s, Expr *e);

/* Which declarations and builtins a name may refer to in the current
 * record; the candidates of a "did you mean". */
static const char *const *visible_names(Sema *s, int *n)
{
    const char **v = NULL;
    int cap = 0;
    *n = 0;
    for (int i = 0; i < s->ndecls; i++) {
        DeclKind k = s->decls[i].kind;
        if ((k == DK_EPS && s->cur != REC_ERROR) ||
            (k == DK_CMT && (s->cur == REC_PK || s->cur == REC_HYBRID)) ||
            (k == DK_ETA && s->cur == REC_HYBRID) ||
            (k == DK_NET && s->cur != REC_HYBRID && s->cur != REC_DES))
            continue;
        MEM_PUSH(s->a, v, *n, cap, s->decls[i].name);
    }
    for (int i = 0; i < s->m->nvars; i++) {
        const ModelVar *mv = &s->m->vars[i];
        int vis = mv->rec == s->cur ? s->vstate[i] != VS_UNDEF
                  : mv->rec != REC_DES && code_rank(mv->rec) < code_rank(s->cur);
        if (vis)
            MEM_PUSH(s->a, v, *n, cap, mv->name);
    }
    const char *tm = s->cur == REC_DES ? "T" : "TIME";
    MEM_PUSH(s->a, v, *n, cap, tm);
    return v;
}

/* A use of THETA/ETA/EPS/compartment/column/network number index,
 * called `what` in messages ("EPS 'add'", "A(2)"). */
/* How a message names a use: "ETA 'eta_cl'" or "ETA(2)".  Built only
 * when a message needs it, since names are used many thousands of times. */
static const char *use_what(Sema *s, DeclKind kind, const Expr *e)
{
    if (e->kind == EX_INDEXED)
        return strf(s, "%s(%d)", decl_kind_name(kind), e->index);
    return strf(s, "%s '%s'", decl_kind_name(kind), e->text);
}

static void use_decl(Sema *s, DeclKind kind, int index, Expr *e)
{
    Model *m = s->m;
    switch (kind) {
    case DK_THETA:
        e->ref.kind = REF_THETA;
        s->theta_uses[index]++;
        break;
    case DK_ETA:
        if (s->cur == REC_HYBRID)
            err(s, e->span, "between-subject effects enter in $PK", "%s cannot be used in $HYBRID",
                use_what(s, kind, e));
        e->ref.kind = REF_ETA;
        s->eta_uses[index]++;
        break;
    case DK_EPS:
        if (s->cur != REC_ERROR)
            err(s, e->span, "residual errors enter the model in $ERROR",
                "%s can only be used in $ERROR", use_what(s, kind, e));
        e->ref.kind = REF_EPS;
        s->eps_uses[index]++;
        break;
    case DK_CMT:
        if (s->cur == REC_PK || s->cur == REC_HYBRID)
            err(s, e->span, "amounts are read in $DES and $ERROR",
                "%s cannot be used in $%s", use_what(s, kind, e), rec_name(s->cur));
        e->ref.kind = REF_CMT;
        break;
    case DK_COL:
        if (m->cols[index].role == COL_DROPPED) {
            err(s, e->span, "remove =DROP in $INPUT to read it", "column '%s' is dropped",
                e->text);
        } else if (m->cols[index].role == COL_TIME) {
            if (s->cur == REC_DES)
                err(s, e->span, "use T, the integrator's time, in $DES",
                    "'%s' cannot be used in $DES", e->text);
            e->ref.kind = REF_TIME;
            e->ref.index = 0;
            return;
        }
        e->ref.kind = REF_DATA;
        break;
    case DK_NET:
        /* in $HYBRID a branch gives amounts and predictions; in $DES it is
         * a term of the equations, learnt by training (docs/pinn.md) */
        if (s->cur != REC_HYBRID && s->cur != REC_DES)
            err(s, e->span, "networks are combined with the model in $HYBRID, or enter $DES",
                "network '%s' can only be used in $HYBRID and $DES", e->text);
        e->ref.kind = REF_NET;
        break;
    }
    e->ref.index = index;
}

/* Names of the record's variables read by e, appended to out[]. */
static void expr_vars(Sema *s, const Expr *e, int *out, int *n)
{
    if (!e)
        return;
    if (e->kind == EX_NAME) {
        int v = find_var(s, e->text);
        if (v >= 0 && s->m->vars[v].rec == s->cur)
            out[(*n)++] = v;
        return;
    }
    if (e->kind == EX_UNARY || e->kind == EX_BINARY) {
        expr_vars(s, e->lhs, out, n);
        expr_vars(s, e->rhs, out, n);
    }
    for (int i = 0; i < e->nargs; i++)
        expr_vars(s, e->args[i], out, n);
}

static int count_names(const Expr *e)
{
    if (!e)
        return 0;
    int n = e->kind == EX_NAME;
    n += count_names(e->lhs) + count_names(e->rhs);
    for (int i = 0; i < e->nargs; i++)
        n += count_names(e->args[i]);
    return n;
}

/* Depth-first search from variable `from` through the assignments of the
 * current record to `target`: the chain of variables goes in path[depth..];
 * returns the index after the last one, or 0 when there is no chain. */
static int cycle_search(Sema *s, Stmt **v, int nst, int from, int target, int *path,
                        int depth, unsigned char *seen)
{
    for (int i = 0; i < nst; i++) {
        const Stmt *st = v[i];
        if (!st)
            continue;
        if (st->kind == ST_IF) {
            for (int k = 0; k < st->narms; k++) {
                int r = cycle_search(s, st->arms[k].body, st->arms[k].nbody, from, target,
                                     path, depth, seen);
                if (r)
                    return r;
            }
            continue;
        }
        if (st->kind != ST_ASSIGN || st->ref.kind != REF_VAR || st->ref.index != from)
            continue;
        int *reads = mem_alloc(s->a, sizeof(int) * (size_t)(count_names(st->value) + 1));
        int nr = 0;
        expr_vars(s, st->value, reads, &nr);
        for (int k = 0; k < nr; k++) {
            path[depth] = reads[k];
            if (reads[k] == target)
                return depth + 1;
            if (seen[reads[k]])
                continue;
            seen[reads[k]] = 1;
            const ModelCode *code = sema_code(s->m, s->cur);
            int r = cycle_search(s, code->stmts, code->n, reads[k], target, path, depth + 1,
                                 seen);
            if (r)
                return r;
        }
    }
    return 0;
}

/* Reading v, defined further down, while giving `assign_var` its first
 * value: is it a cycle (v's definition needs assign_var)?  Reports it. */
static int report_cycle(Sema *s, int v, Expr *e)
{
    int a = s->assign_var;
    if (a < 0 || s->vstate[a] != VS_UNDEF)
        return 0;
    const ModelCode *code = sema_code(s->m, s->cur);
    int *path = mem_alloc(s->a, sizeof(int) * (size_t)(s->m->nvars + 2));
    unsigned char *seen = mem_alloc(s->a, (size_t)s->m->nvars + 1);
    path[0] = v;
    seen[v] = 1;
    int n = v == a ? 1 : cycle_search(s, code->stmts, code->n, v, a, path, 1, seen);
    if (!n)
        return 0;
    if (n == 1) {
        err(s, e->span, strf(s, "give '%s' a value before this line", e->text),
            "cyclic definition: '%s' depends on itself", e->text);
        return 1;
    }
    char buf[400];
    size_t len = (size_t)snprintf(buf, sizeof buf, "'%s' depends on", s->m->vars[a].name);
    for (int i = 0; i < n && len < sizeof buf - 80; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s '%s'",
                                i ? ", which depends on" : "", s->m->vars[path[i]].name);
    err(s, e->span, NULL, "cyclic definition: %s", buf);
    note(s, s->m->vars[v].span, "'%s' is defined here", s->m->vars[v].name);
    return 1;
}

/* A read of variable v: defined on every path, or an error saying why not. */
static void use_var(Sema *s, int v, Expr *e)
{
    const ModelVar *mv = &s->m->vars[v];
    e->ref.kind = REF_VAR;
    e->ref.index = v;
    if (mv->rec != s->cur && mv->rec == REC_DES) {
        err(s, e->span, "$DES variables stay in $DES; compute it again here from the amounts",
            "'%s' is local to $DES", e->text);
        return;
    }
    int later = mv->rec != s->cur && code_rank(mv->rec) > code_rank(s->cur);
    switch (later ? VS_UNDEF : s->vstate[v]) {
    case VS_DEF:
        return;
    case VS_MAYBE:
        err(s, e->span, strf(s, "assign '%s' before the if, or in every branch", e->text),
            "'%s' may be undefined here", e->text);
        return;
    default:
        if (!later && report_cycle(s, v, e))
            return;
        err(s, e->span, later ? strf(s, "$%s runs before $%s", rec_name(s->cur), rec_name(mv->rec))
                              : NULL,
            "'%s' is used before it is defined", e->text);
        if (later)
            note(s, mv->span, "'%s' is defined here, in $%s", e->text, rec_name(mv->rec));
        else
            note(s, mv->span, "'%s' is defined here", e->text);
    }
}

/* For a bare THETA, ETA, EPS...: parameters are used by their names. */
static const char *indexed_hint(Sema *s, const char *word)
{
    const Model *m = s->m;
    if (kw_strcaseeq(word, "EPS") || kw_strcaseeq(word, "ERR"))
        return m->sigma.n > 0
            ? strf(s, "the name of a $SIGMA entry is the epsilon itself: write '%s'",
                   m->sigma.names[0])
            : "the name of a $SIGMA entry is the epsilon itself";
    if (kw_strcaseeq(word, "ETA"))
        return m->omega.n > 0
            ? strf(s, "the name of an $OMEGA entry is the ETA itself: write '%s'",
                   m->omega.names[0])
            : "the name of an $OMEGA entry is the ETA itself";
    if (kw_strcaseeq(word, "A"))
        return "a compartment's name is its amount";
    return "use the declared name, or the number in parentheses";
}

static void check_name(Sema *s, Expr *e)
{
    const Decl *dc = find_decl(s, e->text);
    if (dc) {
        use_decl(s, dc->kind, dc->index, e);
        return;
    }
    int v = find_var(s, e->text);
    if (v >= 0) {
        use_var(s, v, e);
        return;
    }
    if (strcmp(e->text, "TIME") == 0) {
        if (s->cur == REC_DES)
            err(s, e->span, "use T, the integrator's time, in $DES",
                "'TIME' cannot be used in $DES");
        e->ref.kind = REF_TIME;
        e->ref.index = 0;
        return;
    }
    if (strcmp(e->text, "T") == 0) {
        if (s->cur != REC_DES)
            err(s, e->span, "use TIME, the record's time", "'T' is only defined in $DES");
        e->ref.kind = REF_TIME;
        e->ref.index = 0;
        return;
    }
    if (kw_is_indexed(e->text, (int)strlen(e->text))) {
        err(s, e->span, indexed_hint(s, e->text), "'%s' needs an index, as in %s(1)", e->text,
            e->text);
        return;
    }
    int n;
    const char *const *cands = visible_names(s, &n);
    err(s, e->span, suggest(s, e->text, cands, n), "undefined name '%s'", e->text);
}

/* THETA(n) ETA(n) EPS(n) ERR(n) A(n): by number; DADT(n) is a target only. */
static void check_indexed(Sema *s, Expr *e)
{
    static const char *const names[] = { "THETA", "ETA", "EPS", "ERR", "A", "DADT" };
    static const DeclKind kinds[] = { DK_THETA, DK_ETA, DK_EPS, DK_EPS, DK_CMT, DK_CMT };
    static const char *const what[] = {
        "THETA", "ETA", "EPS", "EPS", "compartment", "compartment"
    };
    Model *m = s->m;
    int k = word_index(e->text, names, 6);
    if (k < 0) {
        err(s, e->span, NULL, "unknown indexed name '%s'", e->text);
        return;
    }
    if (k == 5) {
        err(s, e->span, "DADT(n) is only a target, in $DES", "DADT(%d) cannot be read", e->index);
        return;
    }
    int count = k == 0 ? m->nthetas : k == 1 ? m->omega.n : k <= 3 ? m->sigma.n : m->ncmts;
    if (e->index < 1 || e->index > count) {
        err(s, e->span, NULL, "%s(%d) is out of range: the model has %d %s%s",
            names[k], e->index, count, what[k], plural(count));
        return;
    }
    use_decl(s, kinds[k], e->index - 1, e);
}

static void check_arity(Sema *s, Expr *e, const char *name, int arity)
{
    Span at = span_head(e->span, (int)strlen(name));
    if (arity == -2 && e->nargs < 2)
        err(s, at, NULL, "'%s' takes at least 2 arguments, got %d", name, e->nargs);
    else if (arity >= 0 && e->nargs != arity)
        err(s, at, NULL, "'%s' takes %d argument%s, got %d", name, arity, plural(arity), e->nargs);
}

static void check_args(Sema *s, Expr *e)
{
    for (int i = 0; i < e->nargs; i++)
        check_expr(s, e->args[i]);
}

/* lua.name(args): needs a $LUA record; each name gets a ModelLuaFn. */
static void check_lua_call(Sema *s, Expr *e)
{
    Model *m = s->m;
    if (!kw_strcaseeq(e->ns, "lua")) {
        err(s, span_head(e->span, (int)strlen(e->ns)),
            "only lua.name(...) reaches outside the model", "unknown namespace '%s'", e->ns);
        check_args(s, e);
        return;
    }
    if (!s->first[REC_LUA])
        err(s, e->span, "add $LUA file.lua with the function", "lua.%s() needs a $LUA record",
            e->text);
    int k;
    for (k = 0; k < m->nluafns && strcmp(m->luafns[k].name, e->text) != 0; k++)
        ;
    if (k == m->nluafns) {
        ModelLuaFn fn = { e->text, e->span };
        MEM_PUSH(s->a, m->luafns, m->nluafns, s->capluafns, fn);
    }
    e->ref.kind = REF_LUA;
    e->ref.index = k;
    check_args(s, e);
}

/* The function names a call may use in the current record, for hints. */
static const char *const *callable_names(Sema *s, int *n)
{
    int nf;
    const char *const *fn = kw_func_names(&nf);
    const char **v = NULL;
    int cap = 0;
    *n = 0;
    for (int i = 0; i < nf; i++)
        MEM_PUSH(s->a, v, *n, cap, fn[i]);
    for (int i = 0; i < NRECFUNC; i++)
        if (recfunc_tab[i].record == s->cur)
            MEM_PUSH(s->a, v, *n, cap, recfunc_tab[i].name);
    return v;
}

static void check_call(Sema *s, Expr *e)
{
    if (e->ns) {
        check_lua_call(s, e);
        return;
    }
    Span at = span_head(e->span, (int)strlen(e->text));
    const KwFunc *fn = kw_func_lookup(e->text);
    if (fn) {
        int nf;
        const char *const *names = kw_func_names(&nf);
        check_arity(s, e, fn->name, fn->arity);
        e->ref.kind = REF_FUNC;
        e->ref.index = word_index(e->text, names, nf);
        check_args(s, e);
        return;
    }
    const KwRecordFunc *rf = kw_record_func_lookup(s->cur, e->text);
    if (rf) {
        check_arity(s, e, rf->name, rf->arity);
        e->ref.kind = REF_RECFUNC;
        e->ref.index = 0;
        for (int i = 0; i < NRECFUNC; i++)
            if (recfunc_tab[i].record == rf->record && kw_strcaseeq(recfunc_tab[i].name, rf->name))
                e->ref.index = i;
        check_args(s, e);
        /* an undefined name has been reported already (REF_NONE) */
        if (kw_strcaseeq(rf->name, "linear") && e->nargs == 1 && e->args[0] &&
            (e->args[0]->kind != EX_NAME ||
             (e->args[0]->ref.kind != REF_NET && e->args[0]->ref.kind != REF_NONE)))
            err(s, e->args[0]->span, NULL, "linear() takes a $QUANTUM or $NETWORK name");
        return;
    }
    for (int i = 0; i < NRECFUNC; i++)
        if (kw_strcaseeq(recfunc_tab[i].name, e->text)) {
            err(s, at, NULL, "'%s' is only available in $%s", recfunc_tab[i].name,
                rec_name(recfunc_tab[i].record));
            check_args(s, e);
            return;
        }
    int n;
    const char *const *cands = callable_names(s, &n);
    err(s, at, suggest(s, e->text, cands, n), "unknown function '%s'", e->text);
    check_args(s, e);
}

static void check_expr(Sema *s, Expr *e)
{
    if (!e || full(s))
        return;
    e->ref.kind = REF_NONE;
    e->ref.index = 0;
    switch (e->kind) {
    case EX_NUM:
        break;
    case EX_NAME:
        check_name(s, e);
        break;
    case EX_INDEXED:
        check_indexed(s, e);
        break;
    case EX_UNARY:
        check_expr(s, e->lhs);
        break;
    case EX_BINARY:
        check_expr(s, e->lhs);
        check_expr(s, e->rhs);
        break;
    case EX_CALL:
        check_call(s, e);
        break;
    case EX_TUPLE:
        err(s, e->span, NULL, "a tuple is not a value here");
        check_args(s, e);
        break;
    }
}

/* ------------------------------------------------------------------ */
/* pass 4c: statements and definite assignment                        */
/* ------------------------------------------------------------------ */

static void check_stmts(Sema *s, Stmt **v, int n);

static void check_assign(Sema *s, Stmt *st)
{
    int v = st->ref.kind == REF_VAR ? st->ref.index : -1;
    s->assign_var = v;
    check_expr(s, st->value);
    s->assign_var = -1;
    if (v >= 0)
        s->vstate[v] = VS_DEF;
}

static void check_ddt(Sema *s, Stmt *st)
{
    check_expr(s, st->value);
    if (st->ref.kind != REF_CMT)
        return;
    int c = st->ref.index;
    const char *name = s->m->cmts[c].name;
    if (s->cstate[c] != VS_UNDEF) {
        err(s, st->name_span, NULL, "d/dt(%s) is already given", name);
        note(s, s->ddt_span[c], "first given here");
        return;
    }
    s->cstate[c] = VS_DEF;
    if (s->ddt_span[c].file < 0)
        s->ddt_span[c] = st->name_span;
}

/* Folds one path's states into the running min (all) and max (any). */
static void fold_states(unsigned char *all, unsigned char *any, const unsigned char *st, int n)
{
    for (int i = 0; i < n; i++) {
        if (st[i] < all[i])
            all[i] = st[i];
        if (st[i] > any[i])
            any[i] = st[i];
    }
}

/* if / else if / else: every arm starts from the state before the if; a
 * name is DEF after it when every path (the missing else included)
 * defines it, MAYBE when some path does. */
static void check_if(Sema *s, Stmt *st)
{
    int nv = s->m->nvars, nc = s->m->ncmts, n = nv + nc;
    unsigned char *pre = mem_alloc(s->a, (size_t)n + 1);
    unsigned char *all = mem_alloc(s->a, (size_t)n + 1);
    unsigned char *any = mem_alloc(s->a, (size_t)n + 1);
    unsigned char *cur = mem_alloc(s->a, (size_t)n + 1);
    memcpy(pre, s->vstate, (size_t)nv);
    memcpy(pre + nv, s->cstate, (size_t)nc);
    memset(all, VS_DEF, (size_t)n);
    int has_else = 0;
    for (int k = 0; k < st->narms && !full(s); k++) {
        IfArm *arm = &st->arms[k];
        memcpy(s->vstate, pre, (size_t)nv);
        memcpy(s->cstate, pre + nv, (size_t)nc);
        if (arm->cond)
            check_expr(s, arm->cond);
        else
            has_else = 1;
        check_stmts(s, arm->body, arm->nbody);
        memcpy(cur, s->vstate, (size_t)nv);
        memcpy(cur + nv, s->cstate, (size_t)nc);
        fold_states(all, any, cur, n);
    }
    if (!has_else)
        fold_states(all, any, pre, n);
    for (int i = 0; i < n; i++)
        cur[i] = all[i] == VS_DEF ? VS_DEF : any[i] != VS_UNDEF ? VS_MAYBE : VS_UNDEF;
    memcpy(s->vstate, cur, (size_t)nv);
    memcpy(s->cstate, cur + nv, (size_t)nc);
}

static void check_stmts(Sema *s, Stmt **v, int n)
{
    for (int i = 0; i < n && !full(s); i++) {
        Stmt *st = v[i];
        if (!st)
            continue;
        switch (st->kind) {
        case ST_ASSIGN:
            check_assign(s, st);
            break;
        case ST_DDT:
            check_ddt(s, st);
            break;
        case ST_IF:
            check_if(s, st);
            break;
        }
    }
}

/* After $DES: every compartment has its d/dt on every path. */
static void check_des_complete(Sema *s, const Record *r)
{
    for (int c = 0; c < s->m->ncmts && !full(s); c++) {
        if (s->cstate[c] == VS_DEF)
            continue;
        if (s->cstate[c] == VS_UNDEF && !s->ddt_bad)
            err(s, r->name_span, strf(s, "add d/dt(%s) = ...", s->m->cmts[c].name),
                "compartment '%s' has no d/dt in $DES", s->m->cmts[c].name);
        else if (s->cstate[c] == VS_MAYBE)
            err(s, s->ddt_span[c], "give it in every branch, or before the if",
                "d/dt(%s) is not set on every path", s->m->cmts[c].name);
    }
}

static ModelCode *code_slot(Model *m, RecKind k)
{
    switch (k) {
    case REC_PK: return &m->pk;
    case REC_DES: return &m->des;
    case REC_ERROR: return &m->error;
    case REC_HYBRID: return &m->hybrid;
    default: return NULL;
    }
}

/* The statements of every record of first's kind, in file order. */
static void join_code(Sema *s, ModelCode *code, const Record *first)
{
    int n = 0, k = 0;
    for (int i = 0; i < s->t->nrecs; i++)
        if (s->t->recs[i]->kind == first->kind)
            n += s->t->recs[i]->nstmts;
    code->rec = first;
    code->n = n;
    code->stmts = mem_alloc(s->a, sizeof *code->stmts * (size_t)(n + 1));
    for (int i = 0; i < s->t->nrecs; i++) {
        const Record *r = s->t->recs[i];
        for (int j = 0; r->kind == first->kind && j < r->nstmts; j++)
            code->stmts[k++] = r->stmts[j];
    }
}

static void check_code(Sema *s)
{
    Model *m = s->m;
    for (int i = 0; i < NCODE && !full(s); i++) {
        const Record *r = s->first[code_recs[i]];
        ModelCode *code = code_slot(m, code_recs[i]);
        if (!r)
            continue;
        join_code(s, code, r);
        s->cur = r->kind;
        collect_stmts(s, code->stmts, code->n);
    }
    s->vstate = mem_alloc(s->a, (size_t)m->nvars + 1);
    s->cstate = mem_alloc(s->a, (size_t)m->ncmts + 1);
    s->ddt_span = mem_alloc(s->a, sizeof *s->ddt_span * (size_t)(m->ncmts + 1));
    for (int c = 0; c < m->ncmts; c++)
        s->ddt_span[c] = diag_nospan();
    for (int i = 0; i < NCODE && !full(s); i++) {
        const Record *r = s->first[code_recs[i]];
        if (!r)
            continue;
        s->cur = r->kind;
        const ModelCode *code = code_slot(m, code_recs[i]);
        check_stmts(s, code->stmts, code->n);
        if (r->kind == REC_DES && s->first[REC_COMPARTMENTS])
            check_des_complete(s, r);
    }
}

/* ------------------------------------------------------------------ */
/* pass 5: tables, priors, directives                                 */
/* ------------------------------------------------------------------ */

static int table_item_ok(const Sema *s, const char *item)
{
    if (word_index(item, table_std, NTABLE_STD) >= 0 || find_var(s, item) >= 0)
        return 1;
    const Decl *dc = find_decl(s, item);
    return dc && dc->kind != DK_EPS && dc->kind != DK_NET;
}

static void check_table(Sema *s, const Record *r)
{
    for (int i = 0; i < r->nitems && !full(s); i++) {
        if (table_item_ok(s, r->items[i]))
            continue;
        const char **v = NULL;
        int n = 0, cap = 0;
        for (int k = 0; k < NTABLE_STD; k++)
            MEM_PUSH(s->a, v, n, cap, table_std[k]);
        for (int k = 0; k < s->m->nvars; k++)
            MEM_PUSH(s->a, v, n, cap, s->m->vars[k].name);
        for (int k = 0; k < s->ndecls; k++)
            if (s->decls[k].kind != DK_EPS && s->decls[k].kind != DK_NET)
                MEM_PUSH(s->a, v, n, cap, s->decls[k].name);
        const char *hint = suggest(s, r->items[i], v, n);
        err(s, r->item_spans[i],
            hint ? hint
                 : "a table item is a column, variable, compartment, THETA, ETA or a standard item",
            "unknown table item '%s'", r->items[i]);
    }
}

/* name ~ normal(mu, sd) | lognormal(mu, sd);  OMEGA ~ iwishart(df) */
static void check_prior(Sema *s, const PriorDecl *p)
{
    const char *const *dists = prior_dists;
    const int *nparams = prior_nparams;
    Model *m = s->m;
    ModelPrior mp;
    memset(&mp, 0, sizeof mp);
    mp.span = p->span;
    mp.theta = -1;
    int omega = kw_strcaseeq(p->name, "OMEGA");
    if (!omega) {
        const Decl *dc = find_decl(s, p->name);
        if (!dc || dc->kind != DK_THETA) {
            const char **v = NULL;
            int n = 0, cap = 0;
            for (int k = 0; k < m->nthetas; k++)
                if (m->thetas[k].named)
                    MEM_PUSH(s->a, v, n, cap, m->thetas[k].name);
            MEM_PUSH(s->a, v, n, cap, "OMEGA");
            err(s, p->name_span, suggest(s, p->name, v, n),
                "'%s' is not a THETA; priors are on THETAs or OMEGA", p->name);
            return;
        }
        mp.theta = dc->index;
    }
    const Expr *d = p->dist;
    if (!d || d->kind != EX_CALL || d->ns) {
        err(s, d ? d->span : p->span, "write normal(mu, sd), lognormal(mu, sd) or iwishart(df)",
            "a prior is a distribution");
        return;
    }
    int k = word_index(d->text, dists, NPRIOR_DISTS);
    if (k < 0) {
        err(s, span_head(d->span, (int)strlen(d->text)), suggest(s, d->text, dists, NPRIOR_DISTS),
            "unknown prior distribution '%s'", d->text);
        return;
    }
    if (omega != (k == PRIOR_IWISHART)) {
        err(s, d->span, NULL, omega ? "a prior on OMEGA must be iwishart(df)"
                                    : "a prior on THETA '%s' must be normal or lognormal",
            p->name);
        return;
    }
    if (d->nargs != nparams[k]) {
        err(s, span_head(d->span, (int)strlen(d->text)), NULL,
            "'%s' takes %d argument%s, got %d", dists[k], nparams[k], plural(nparams[k]),
            d->nargs);
        return;
    }
    for (int i = 0; i < d->nargs; i++)
        if (!ast_const_number(d->args[i], &mp.p[i])) {
            err(s, d->args[i]->span, NULL, "prior parameters must be numbers");
            return;
        }
    if (!(mp.p[nparams[k] - 1] > 0)) {
        err(s, d->args[nparams[k] - 1]->span, NULL, "'%s' needs a positive %s", dists[k],
            k == PRIOR_IWISHART ? "df" : "sd");
        return;
    }
    for (int i = 0; i < m->npriors; i++)
        if (m->priors[i].theta == mp.theta) {
            err(s, p->name_span, NULL, "'%s' already has a prior", p->name);
            note(s, m->priors[i].span, "first prior here");
            return;
        }
    mp.dist = (PriorDist)k;
    mp.np = nparams[k];
    MEM_PUSH(s->a, m->priors, m->npriors, s->cappriors, mp);
}

/* Best-effort refs for directive expressions (ry(TIME), z(0)): they are
 * read by engines, not executed, so unknown names stay REF_NONE. */
static void resolve_quiet(Sema *s, RecKind rec, Expr *e)
{
    if (!e)
        return;
    e->ref.kind = REF_NONE;
    e->ref.index = 0;
    switch (e->kind) {
    case EX_NAME: {
        const Decl *dc = find_decl(s, e->text);
        int v = find_var(s, e->text);
        static const RefKind kinds[] = { REF_THETA, REF_ETA, REF_EPS, REF_CMT, REF_DATA, REF_NET };
        if (dc) {
            e->ref.kind = kinds[dc->kind];
            e->ref.index = dc->index;
            if (dc->kind == DK_COL && s->m->cols[dc->index].role == COL_TIME)
                e->ref.kind = REF_TIME, e->ref.index = 0;
        } else if (v >= 0) {
            e->ref.kind = REF_VAR;
            e->ref.index = v;
        } else if (strcmp(e->text, "TIME") == 0 || strcmp(e->text, "T") == 0) {
            e->ref.kind = REF_TIME;
        }
        break;
    }
    case EX_CALL: {
        const KwFunc *fn = kw_func_lookup(e->text);
        if (e->ns && kw_strcaseeq(e->ns, "lua"))
            e->ref.kind = REF_LUA;
        else if (fn)
            e->ref.kind = REF_FUNC;
        for (int i = 0; !fn && !e->ns && i < NRECFUNC; i++)
            if (recfunc_tab[i].record == rec && kw_strcaseeq(recfunc_tab[i].name, e->text)) {
                e->ref.kind = REF_RECFUNC;
                e->ref.index = i;
            }
        if (fn) {
            int nf;
            e->ref.index = word_index(e->text, kw_func_names(&nf), nf);
        }
        for (int i = 0; i < e->nargs; i++)
            resolve_quiet(s, rec, e->args[i]);
        break;
    }
    case EX_UNARY: case EX_BINARY:
        resolve_quiet(s, rec, e->lhs);
        resolve_quiet(s, rec, e->rhs);
        break;
    case EX_TUPLE:
        for (int i = 0; i < e->nargs; i++)
            resolve_quiet(s, rec, e->args[i]);
        break;
    default:
        break;
    }
}

/* A directive's SHAPE from keywords.def: "int call | KEY:type FLAG". */
typedef struct {
    char name[24];        /* the KEY of a keyed slot */
    char type[12];        /* int num name call expr tuple chain dist any, "" for a flag */
    int rep;              /* `*`: repeats */
} Slot;

typedef struct {
    Slot pos[6], key[8];
    int npos, nkey;
} Shape;

static void shape_parse(const char *src, Shape *sh)
{
    int keyed = 0;
    memset(sh, 0, sizeof *sh);
    for (const char *p = src; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e == p)
            break;
        if (*p == '|') {
            keyed = 1;
        } else {
            Slot sl;
            memset(&sl, 0, sizeof sl);
            const char *colon = memchr(p, ':', (size_t)(e - p));
            const char *tend = e;
            if (tend > p && tend[-1] == '*') {
                sl.rep = 1;
                tend--;
            }
            if (keyed) {
                const char *nend = colon ? colon : tend;
                snprintf(sl.name, sizeof sl.name, "%.*s", (int)(nend - p), p);
                if (colon)
                    snprintf(sl.type, sizeof sl.type, "%.*s", (int)(tend - colon - 1), colon + 1);
                if (sh->nkey < 8)
                    sh->key[sh->nkey++] = sl;
            } else {
                snprintf(sl.type, sizeof sl.type, "%.*s", (int)(tend - p), p);
                if (sh->npos < 6)
                    sh->pos[sh->npos++] = sl;
            }
        }
        p = e;
    }
}

static const char *type_desc(const char *type)
{
    static const char *const t[][2] = {
        { "int", "an integer" }, { "num", "a number" }, { "name", "a name" },
        { "call", "a call such as ry(x)" }, { "expr", "an expression" },
        { "tuple", "a tuple (a, b)" }, { "chain", "a layer chain such as 1 -> 16 tanh -> 1" },
        { "dist", "a distribution NAME ~ dist(...)" }, { "any", "anything" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i][0], type) == 0)
            return t[i][1];
    return type;
}

/* The keyed slot an item names (KEY=value or a bare KEY), or NULL. */
static const Slot *item_key(const Shape *sh, const DirItem *it)
{
    const char *k = it->kind == DI_KEYVAL ? it->key
                    : it->kind == DI_EXPR && it->expr && it->expr->kind == EX_NAME ? it->expr->text
                    : NULL;
    for (int i = 0; k && i < sh->nkey; i++)
        if (kw_strcaseeq(k, sh->key[i].name))
            return &sh->key[i];
    return NULL;
}

static int item_has_type(const DirItem *it, const char *type)
{
    const Expr *e = it->expr;
    double v;
    if (strcmp(type, "any") == 0)
        return 1;
    if (strcmp(type, "dist") == 0)
        return it->kind == DI_DIST;
    if (it->kind != DI_EXPR || !e)
        return 0;
    if (strcmp(type, "int") == 0)
        return ast_const_number(e, &v) && is_integer(v);
    if (strcmp(type, "num") == 0)
        return ast_const_number(e, &v);
    if (strcmp(type, "name") == 0)
        return e->kind == EX_NAME;
    if (strcmp(type, "call") == 0)
        return e->kind == EX_CALL;
    if (strcmp(type, "tuple") == 0)
        return e->kind == EX_TUPLE;
    return e->kind != EX_TUPLE;   /* expr */
}

/* A call in a directive of a record with its own callables (rx, euler)
 * must name one of them, with the right number of arguments. */
static void check_dir_call(Sema *s, RecKind rec, Expr *e)
{
    const KwRecordFunc *rf = kw_record_func_lookup(rec, e->text);
    if (!rf) {
        const char **v = NULL;
        int n = 0, cap = 0, any = 0;
        for (int i = 0; i < NRECFUNC; i++)
            if (recfunc_tab[i].record == rec) {
                MEM_PUSH(s->a, v, n, cap, recfunc_tab[i].name);
                any = 1;
            }
        if (any)
            err(s, span_head(e->span, (int)strlen(e->text)), suggest(s, e->text, v, n),
                "unknown function '%s' in $%s", e->text, rec_name(rec));
        return;
    }
    check_arity(s, e, rf->name, rf->arity);
}

static void check_item(Sema *s, RecKind rec, const Directive *dir, const DirItem *it,
                       const char *type)
{
    if (!item_has_type(it, type)) {
        err(s, it->span, NULL, "'%s' expects %s, got '%s'", dir->name, type_desc(type),
            span_text(s, it->span));
        return;
    }
    if (strcmp(type, "call") == 0)
        check_dir_call(s, rec, it->expr);
}

/* The activation after a layer size: a RECORD_WORD of the record. */
static int check_activation(Sema *s, RecKind rec, const DirItem *it)
{
    if (it->kind != DI_EXPR || !it->expr || it->expr->kind != EX_NAME)
        return 0;
    if (!kw_record_word(rec, it->expr->text)) {
        const char **v = NULL;
        int n = 0, cap = 0;
        for (int i = 0; i < NRECWORD; i++)
            if (recword_tab[i].record == rec)
                MEM_PUSH(s->a, v, n, cap, recword_tab[i].name);
        err(s, it->span, suggest(s, it->expr->text, v, n), "unknown activation '%s'",
            it->expr->text);
    }
    return 1;
}

/* chain = int [activation] { "->" int [activation] }; returns the next item. */
static int check_chain(Sema *s, RecKind rec, const Directive *dir, const Shape *sh, int i)
{
    int n = dir->nitems, want_size = 1;
    while (i < n && !item_key(sh, &dir->items[i])) {
        const DirItem *it = &dir->items[i];
        if (want_size) {
            if (!item_has_type(it, "int")) {
                err(s, it->span, NULL, "'%s' expects a layer size, got '%s'", dir->name,
                    span_text(s, it->span));
                return n;
            }
            want_size = 0;
        } else if (it->kind == DI_ARROW) {
            want_size = 1;
        } else if (!check_activation(s, rec, it)) {
            err(s, it->span, "layers are joined by ->", "unexpected '%s' in '%s'",
                span_text(s, it->span), dir->name);
            return n;
        }
        i++;
    }
    if (want_size)
        err(s, i < n ? dir->items[i].span : dir->name_span, NULL,
            "'%s' expects %s", dir->name, type_desc("chain"));
    return i;
}

/* The positional part of a shape; returns the first item not consumed,
 * or -1 after an error. */
static int check_positional(Sema *s, RecKind rec, const Directive *dir, const Shape *sh)
{
    int i = 0, n = dir->nitems;
    for (int p = 0; p < sh->npos; p++) {
        const Slot *sl = &sh->pos[p];
        if (strcmp(sl->type, "any") == 0)
            return n;
        if (strcmp(sl->type, "chain") == 0) {
            i = check_chain(s, rec, dir, sh, i);
            continue;
        }
        if (sl->rep) {
            while (i < n && !item_key(sh, &dir->items[i]) &&
                   item_has_type(&dir->items[i], sl->type))
                i++;
            continue;
        }
        if (i >= n || item_key(sh, &dir->items[i])) {
            err(s, dir->name_span, NULL, "'%s' expects %s", dir->name, type_desc(sl->type));
            return -1;
        }
        check_item(s, rec, dir, &dir->items[i], sl->type);
        i++;
    }
    return i;
}

/* A name a network reads: a data column or TIME. */
static void check_input_name(Sema *s, Expr *e)
{
    if (e->ref.kind == REF_DATA || e->ref.kind == REF_TIME)
        return;
    const char **names;
    int n;
    column_names(s, &names, &n);
    const char *hint = suggest(s, e->text, names, n);
    err(s, e->span, hint ? hint : "a network reads data columns and TIME",
        "'%s' is not a data column", e->text);
}

/* Names in ENCODE's call and INPUTS are what the network reads. */
static void check_input_names(Sema *s, Expr *e)
{
    if (!e)
        return;
    if (e->kind == EX_NAME) {
        check_input_name(s, e);
        return;
    }
    if (e->kind == EX_UNARY || e->kind == EX_BINARY) {
        check_input_names(s, e->lhs);
        check_input_names(s, e->rhs);
    }
    for (int i = 0; i < e->nargs; i++)
        check_input_names(s, e->args[i]);
}

static void check_dir_inputs(Sema *s, const Record *r, const Directive *dir)
{
    if (r->kind == REC_NETWORK && kw_strcaseeq(dir->name, "INPUTS")) {
        for (int i = 0; i < dir->nitems; i++)
            if (dir->items[i].kind == DI_EXPR && dir->items[i].expr &&
                dir->items[i].expr->kind == EX_NAME)
                check_input_name(s, dir->items[i].expr);
    } else if (r->kind == REC_QUANTUM && kw_strcaseeq(dir->name, "ENCODE") && dir->nitems > 0 &&
               dir->items[0].kind == DI_EXPR && dir->items[0].expr &&
               dir->items[0].expr->kind == EX_CALL) {
        const Expr *call = dir->items[0].expr;
        for (int i = 0; i < call->nargs; i++)
            check_input_names(s, call->args[i]);
    }
}

static void check_directive(Sema *s, const Record *r, const Directive *dir)
{
    const KwDirective *kd = kw_directive_lookup(r->kind, dir->name);
    for (int i = 0; i < dir->nitems; i++)
        if (dir->items[i].expr)
            resolve_quiet(s, r->kind, dir->items[i].expr);
    if (!kd) {
        int n;
        const char *const *names = kw_directive_names(r->kind, &n);
        err(s, dir->name_span, suggest(s, dir->name, names, n), "unknown directive '%s' in $%s",
            dir->name, rec_name(r->kind));
        return;
    }
    check_dir_inputs(s, r, dir);
    Shape sh;
    shape_parse(kd->shape, &sh);
    int i = check_positional(s, r->kind, dir, &sh), n = dir->nitems;
    while (i >= 0 && i < n && !full(s)) {
        const DirItem *it = &dir->items[i];
        const Slot *sl = item_key(&sh, it);
        if (!sl) {
            const char *hint = NULL;
            const char *k = it->kind == DI_KEYVAL ? it->key : NULL;
            if (k) {
                const char *v[8];
                for (int j = 0; j < sh.nkey; j++)
                    v[j] = sh.key[j].name;
                hint = suggest(s, k, v, sh.nkey);
                err(s, it->span, hint, "'%s' has no option '%s'", dir->name, k);
            } else {
                err(s, it->span, NULL, "unexpected '%s' in '%s'", span_text(s, it->span),
                    dir->name);
            }
            return;
        }
        if (!sl->type[0]) {   /* a flag */
            if (it->kind == DI_KEYVAL)
                err(s, it->span, NULL, "'%s' takes no value", sl->name);
            i++;
        } else if (it->kind == DI_KEYVAL) {
            DirItem v = *it;
            v.kind = DI_EXPR;
            check_item(s, r->kind, dir, &v, sl->type);
            i++;
        } else if (i + 1 >= n) {
            err(s, it->span, NULL, "'%s' expects %s", sl->name, type_desc(sl->type));
            i++;
        } else {
            const Directive sub = { sl->name, dir->span, it->span, NULL, 0 };
            check_item(s, r->kind, &sub, &dir->items[i + 1], sl->type);
            i += 2;
        }
    }
}

/* The value after KEY in a directive (KEY value or KEY=value), or NULL. */
static double dir_num(const Directive *dir, int i, double dflt)
{
    double v;
    return i < dir->nitems && dir->items[i].kind == DI_EXPR &&
           ast_const_number(dir->items[i].expr, &v) ? v : dflt;
}

/* $LOSS DATA w / PHYSICS w COLLOCATION n OVER (a, b) / INITIAL w */
static void settings_loss(Sema *s, const Record *r)
{
    static const char *const yn[] = { "NO", "YES" };
    ModelLoss *l = &s->m->loss;
    l->present = 1;
    l->data = l->physics = l->initial = 0;
    l->prior = 1;
    l->rec = r;
    l->normalize = opt_enum(r, "NORMALIZE", yn, 2, 0);
    for (int i = 0; i < r->ndirs; i++) {
        const Directive *dir = &r->dirs[i];
        if (kw_strcaseeq(dir->name, "DATA"))
            l->data = dir_num(dir, 0, 0);
        else if (kw_strcaseeq(dir->name, "INITIAL"))
            l->initial = dir_num(dir, 0, 0);
        else if (kw_strcaseeq(dir->name, "PRIOR"))
            l->prior = dir_num(dir, 0, 0);
        else if (kw_strcaseeq(dir->name, "PHYSICS")) {
            double v;
            const Expr *e;
            l->physics = dir_num(dir, 0, 0);
            if ((e = ast_dir_value(dir, "COLLOCATION")) && ast_const_number(e, &v) && is_integer(v))
                l->collocation = (int)v;
            if ((e = ast_dir_value(dir, "OVER")) && e->kind == EX_TUPLE) {
                double a, b;
                if (e->nargs != 2 || !ast_const_number(e->args[0], &a) ||
                    !ast_const_number(e->args[1], &b) || !(a < b))
                    err(s, e->span, NULL, "OVER needs two increasing numbers (from, to)");
                else
                    l->over_lo = a, l->over_hi = b;
            }
        }
    }
}

static void check_refs(Sema *s)
{
    const Ast *t = s->t;
    for (int i = 0; i < t->nrecs && !full(s); i++) {
        const Record *r = t->recs[i];
        if (!r)
            continue;
        switch (r->kind) {
        case REC_TABLE:
            check_table(s, r);
            break;
        case REC_PRIOR:
            for (int k = 0; k < r->npriors && !full(s); k++)
                check_prior(s, &r->priors[k]);
            break;
        case REC_QUANTUM: case REC_NETWORK: case REC_LOSS: case REC_SIMULATION:
            for (int k = 0; k < r->ndirs && !full(s); k++)
                check_directive(s, r, &r->dirs[k]);
            if (r->kind == REC_LOSS && r == s->first[REC_LOSS])
                settings_loss(s, r);
            break;
        default:
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* pass 6: warnings                                                   */
/* ------------------------------------------------------------------ */

static void warn_unused(Sema *s)
{
    const Model *m = s->m;
    for (int i = 0; i < m->nthetas; i++)
        if (!s->theta_uses[i]) {
            if (m->thetas[i].named)
                warn(s, m->thetas[i].span, "THETA '%s' is never used", m->thetas[i].name);
            else
                warn(s, m->thetas[i].span, "%s is never used", m->thetas[i].name);
        }
    for (int i = 0; i < m->omega.n; i++)
        if (!s->eta_uses[i])
            warn(s, m->omega.spans[i], "ETA '%s' is never used", m->omega.names[i]);
    for (int i = 0; i < m->sigma.n; i++)
        if (!s->eps_uses[i])
            warn(s, m->sigma.spans[i], "EPS '%s' is never used", m->sigma.names[i]);
}

/* ------------------------------------------------------------------ */
/* entry points                                                       */
/* ------------------------------------------------------------------ */

static void model_init(Model *m, const Ast *t)
{
    m->ast = t;
    for (int i = 0; i < COL_NITEMS; i++)
        m->role_col[i] = -1;
    m->data.ignore_char = '#';
    m->data.records = -1;
    m->loss.data = 1;
    m->loss.prior = 1;
    m->loss.collocation = -1;
    m->loss.over_lo = m->loss.over_hi = NAN;
    m->sim.n = m->sim.seed = -1;
    m->sim.residual = 1;
    m->cov.matrix = COV_SANDWICH;
}

Model *sema_check(Arena *a, Diag *d, const Ast *t)
{
    Sema s;
    memset(&s, 0, sizeof s);
    s.a = a;
    s.d = d;
    s.t = t;
    s.m = mem_alloc(a, sizeof *s.m);
    s.errors0 = diag_errors(d);
    s.assign_var = -1;
    s.decl_map = smap_new(a);
    s.var_map = smap_new(a);
    s.des_map = smap_new(a);
    model_init(s.m, t);
    if (!t)
        return NULL;

    check_records(&s);
    declare_all(&s);
    random_assemble(&s);
    settings_all(&s);
    s.theta_uses = mem_alloc(a, sizeof(int) * (size_t)(s.m->nthetas + 1));
    s.eta_uses = mem_alloc(a, sizeof(int) * (size_t)(s.m->omega.n + 1));
    s.eps_uses = mem_alloc(a, sizeof(int) * (size_t)(s.m->sigma.n + 1));
    if (!full(&s))
        check_code(&s);
    if (!full(&s))
        check_refs(&s);
    /* after errors, unused parameters are usually their echo (a typo) */
    if (diag_errors(d) == s.errors0)
        warn_unused(&s);
    return diag_errors(d) == s.errors0 ? s.m : NULL;
}

const ModelCode *sema_code(const Model *m, RecKind rec)
{
    switch (rec) {
    case REC_PK: return &m->pk;
    case REC_DES: return &m->des;
    case REC_ERROR: return &m->error;
    case REC_HYBRID: return &m->hybrid;
    default: return NULL;
    }
}

const char *sema_role_name(ColRole r)
{
    if (r >= 0 && r < COL_NITEMS)
        return role_names[r];
    return r == COL_DROPPED ? "DROP" : r == COL_DERIVED ? "derived covariate" : "covariate";
}
