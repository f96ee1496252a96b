/*
 * data.c -- NONMEM-format datasets: text -> validated rows.
 *
 * One pass over the file's text, a line at a time.  A line is skipped
 * when blank or when IGNORE says so; the first line left is a header when
 * none of its fields is a number.  Every other line is split into fields
 * (commas, or NONMEM's blanks with optional commas), which map by
 * position onto the $INPUT columns.  The IGNORE=(...) / ACCEPT=(...)
 * filters look at the field text first, so a row they drop is never
 * validated.  The fields of a kept row are converted straight into the
 * row's slot of one pool of doubles, the reserved items (ID TIME DV AMT
 * ...) take their defaults, and the row is checked on its own (EVID in
 * range, a dose has an amount...) and against the previous row of its
 * subject (time only moves forward, except at a reset).  When a subject
 * ends, missing covariates are carried forward (last observation carried
 * forward) and, before the first value, backward.
 *
 * Memory: the number of lines bounds the number of rows, so rows and
 * their values are allocated once, up front, from a count of the line
 * breaks; nothing allocates per row or per value.  Numbers are converted
 * by an exact fast path (a mantissa below 2^53 scaled by a power of ten
 * up to 1e22 is one correctly rounded operation, the observation behind
 * Clinger's algorithm) and strtod() for the rest.
 *
 * Messages point into the data file, which is registered with the Diag
 * so they quote the row: `file:row:col`, the column being the byte
 * column where the offending field starts.
 */
#include "data.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "la.h"

/* One field of the current line: the value (without quotes) and the span
 * to point at (with them).  Offsets are into the registered text. */
typedef struct {
    int off, len;
    int soff, slen;
} Field;

/* Subject IDs seen so far, to warn when one comes back: a set of doubles
 * by bit pattern, open addressing. */
typedef struct {
    uint64_t *keys;
    unsigned char *used;
    size_t cap, n;
} IdSet;

typedef struct {
    Arena *a;
    Diag *d;
    const Model *m;
    const ModelData *md;
    int errors0;

    int file;
    const char *text;
    size_t len;
    DataFormat fmt;

    /* the current line: its number, where it starts, where its text ends */
    int line;
    size_t ls, le;
    Field *f;             /* ncols + 1 slots: the columns and one extra */
    int nf;               /* fields on the line, trailing empty extras not counted */
    int split_err;        /* what went wrong splitting, 0 when nothing */
    size_t split_at;

    int seen_line;        /* a non-blank line went by (header candidates) */
    int seen_data;        /* a non-ignored line went by (the header slot) */
    int done;             /* RECORDS= reached */

    /* extra fields: one warning at the end, at the first offending row */
    int extra_rows, extra_max;
    Span extra_at;

    DataRow *rows;
    int nrows, caprows;
    double *pool;         /* caprows * ncols values */
    DataSubject *subjects;
    int nsubjects, capsubjects;
    double prev_time;
    int prev_row;
    IdSet seen;
    int reused;           /* subjects whose ID came back */

    int *covs, ncovs;     /* covariate columns, for LOCF */
    double *fnum;         /* each filter's value as a number, or NaN */
    int dose_cmt, obs_cmt;   /* 1-based defaults, 0 without compartments */
    const char *cmt_list;    /* "1 depot, 2 central", for hints */
} Reader;

enum { SPLIT_OK, SPLIT_QUOTE, SPLIT_AFTER_QUOTE };

/* ------------------------------------------------------------------ */
/* numbers                                                            */
/* ------------------------------------------------------------------ */

static const double pow10_exact[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_blank(int c) { return c == ' ' || c == '\t'; }
static int is_alpha(int c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }

/* A number as NONMEM writes them: [+-] digits [. digits] [(E|D) [+-]
 * digits], with a digit somewhere before the exponent.  No inf, nan or
 * hex (strtod would take them).  Returns 1 and sets *out, or 0. */
static int parse_number(const char *s, int n, double *out)
{
    /* below this, m * 10 + 9 is still exact in a double */
    const uint64_t lim = ((UINT64_C(1) << 53) - 9) / 10;
    int i = 0, neg = 0, nd = 0, slow = 0, e = 0;
    uint64_t m = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (; i < n && is_digit(s[i]); i++, nd++) {
        if (m <= lim)
            m = m * 10 + (uint64_t)(s[i] - '0');
        else
            slow = 1;
    }
    if (i < n && s[i] == '.')
        for (i++; i < n && is_digit(s[i]); i++, nd++) {
            if (m <= lim) {
                m = m * 10 + (uint64_t)(s[i] - '0');
                e--;
            } else {
                slow = 1;
            }
        }
    if (nd == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E' || s[i] == 'd' || s[i] == 'D')) {
        int eneg = 0, x = 0, ed = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < n && is_digit(s[i]); i++, ed++)
            if (x < 100000)
                x = x * 10 + (s[i] - '0');
        if (ed == 0)
            return 0;
        e += eneg ? -x : x;
    }
    if (i != n)
        return 0;
    if (!slow && e >= -22 && e <= 22) {
        double v = (double)m;
        v = e < 0 ? v / pow10_exact[-e] : v * pow10_exact[e];
        *out = neg ? -v : v;
        return 1;
    }
    /* many digits or a large exponent: the C library rounds it */
    char buf[512];
    if (n >= (int)sizeof buf)
        return 0;
    for (i = 0; i < n; i++)
        buf[i] = s[i] == 'd' || s[i] == 'D' ? 'e' : s[i];
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* ------------------------------------------------------------------ */
/* fields and messages                                                */
/* ------------------------------------------------------------------ */

static int missing(const Reader *r, const Field *f)
{
    return f->len == 0 || (f->len == 1 && r->text[f->off] == '.');
}

static Span field_span(const Reader *r, const Field *f)
{
    Span s = { r->file, r->line, (int)((size_t)f->soff - r->ls) + 1, f->soff, f->slen };
    return s;
}

/* Where to point for a column: its field, or the start of the row when
 * the column is not in $INPUT (a default was used). */
static Span col_span(const Reader *r, int col)
{
    if (col >= 0)
        return field_span(r, &r->f[col]);
    Span s = { r->file, r->line, 1, (int)r->ls, (int)(r->le - r->ls) };
    return s;
}

static Span at_offset(const Reader *r, size_t off)
{
    Span s = { r->file, r->line, (int)(off - r->ls) + 1, (int)off, 0 };
    return s;
}

static void err(Reader *r, Span at, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void err(Reader *r, Span at, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(r->d, DIAG_ERROR, at, hint, fmt, ap);
    va_end(ap);
}

static void warn(Reader *r, Span at, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn(Reader *r, Span at, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(r->d, DIAG_WARNING, at, hint, fmt, ap);
    va_end(ap);
}

/* The column's name as $INPUT writes it, for messages. */
static const char *cname(const Reader *r, int col)
{
    return r->m->cols[col].name;
}

/* Appends a field.  Fields past the columns of $INPUT are only counted
 * (the first is kept, to point at); trim_extras() then forgets the empty
 * ones at the end, so that a trailing comma is not an extra field. */
static void push_field(Reader *r, size_t soff, size_t slen, size_t off, size_t len)
{
    if (r->nf <= r->m->ninput) {
        Field *f = &r->f[r->nf];
        f->off = (int)off;
        f->len = (int)len;
        f->soff = (int)soff;
        f->slen = (int)slen;
    }
    r->nf++;
}

/* Drops empty fields past the last column: "1,2,3,," has three. */
static void trim_extras(Reader *r, int last_nonempty)
{
    int ncols = r->m->ninput;
    if (r->nf > ncols)
        r->nf = last_nonempty > ncols ? last_nonempty : ncols;
}

/* CSV: fields between commas, blanks around them trimmed, "..." around a
 * value allowed (not NONMEM, but spreadsheets write it). */
static void split_csv(Reader *r, size_t b, size_t e)
{
    const char *t = r->text;
    size_t p = b;
    int last = 0;
    for (;;) {
        while (p < e && is_blank(t[p]))
            p++;
        size_t s = p;
        if (p < e && t[p] == '"') {
            const char *q = memchr(t + p + 1, '"', e - p - 1);
            if (!q) {
                r->split_err = SPLIT_QUOTE;
                r->split_at = s;
                return;
            }
            size_t qe = (size_t)(q - t);
            push_field(r, s, qe + 1 - s, s + 1, qe - s - 1);
            p = qe + 1;
            while (p < e && is_blank(t[p]))
                p++;
            if (p < e && t[p] != ',') {
                r->split_err = SPLIT_AFTER_QUOTE;
                r->split_at = p;
                return;
            }
            last = r->nf;
        } else {
            size_t fe = p, ce;
            while (fe < e && t[fe] != ',')
                fe++;   /* fields are short: a loop beats memchr's call */
            ce = fe;
            while (ce > s && is_blank(t[ce - 1]))
                ce--;
            push_field(r, s, ce - s, s, ce - s);
            if (ce > s)
                last = r->nf;
            p = fe;
        }
        if (p >= e)
            break;
        p++;   /* the comma */
    }
    trim_extras(r, last);
}

/* NONMEM's form: fields separated by blanks, a comma with blanks around
 * it, or a comma alone; two commas in a row leave an empty field. */
static void split_space(Reader *r, size_t b, size_t e)
{
    const char *t = r->text;
    size_t p = b;
    int last = 0;
    while (p < e && is_blank(t[p]))
        p++;
    for (;;) {
        size_t s = p;
        while (p < e && !is_blank(t[p]) && t[p] != ',')
            p++;
        push_field(r, s, p - s, s, p - s);
        if (p > s)
            last = r->nf;
        while (p < e && is_blank(t[p]))
            p++;
        if (p < e && t[p] == ',') {
            p++;
            while (p < e && is_blank(t[p]))
                p++;
            if (p >= e) {
                push_field(r, e, 0, e, 0);
                break;
            }
            continue;
        }
        if (p >= e)
            break;
    }
    trim_extras(r, last);
}

static void split(Reader *r, DataFormat fmt, size_t b, size_t e)
{
    r->nf = 0;
    r->split_err = SPLIT_OK;
    if (fmt == DFMT_CSV)
        split_csv(r, b, e);
    else
        split_space(r, b, e);
}

/* A header: every field is a name -- not missing, and not starting the
 * way a number does (so a mangled data row is not taken for one). */
static int all_names(const Reader *r)
{
    int n = r->nf <= r->m->ninput ? r->nf : r->m->ninput + 1;
    for (int i = 0; i < n; i++) {
        const Field *f = &r->f[i];
        int c = r->text[f->off];
        if (missing(r, f) || is_digit(c) || c == '+' || c == '-' || c == '.')
            return 0;
    }
    return n > 0;
}

/* The header's names against $INPUT's, by position and without regard to
 * case: either name of an aliased column will do, a bare DROP any. */
static void check_header(Reader *r)
{
    const Model *m = r->m;
    int n = r->nf < m->ninput ? r->nf : m->ninput;
    for (int i = 0; i < n; i++) {
        const ModelColumn *c = &m->cols[i];
        const Field *f = &r->f[i];
        const char *s = r->text + f->off;
        if (c->role == COL_DROPPED && !c->alias && kw_strcaseeq(c->name, "DROP"))
            continue;
        if (kw_strncaseeq(s, f->len, c->name) ||
            (c->alias && kw_strncaseeq(s, f->len, c->alias)))
            continue;
        warn(r, field_span(r, f),
             "the columns are read by position, in the order of $INPUT; "
             "the header's names are not used",
             "column %d is '%.*s' in the header but '%s' in $INPUT",
             i + 1, f->len, s, c->name);
        return;
    }
    if (r->nf != m->ninput)
        warn(r, r->nf > m->ninput ? field_span(r, &r->f[m->ninput]) : at_offset(r, r->le),
             "the columns are read by position, in the order of $INPUT",
             "the header has %d columns but $INPUT names %d", r->nf, m->ninput);
}

/* ------------------------------------------------------------------ */
/* subjects                                                           */
/* ------------------------------------------------------------------ */

static size_t id_hash(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x;
}

/* Adds id to the set; returns 1 when it was there already. */
static int idset_add(Arena *a, IdSet *s, double id)
{
    uint64_t k;
    if (id == 0)
        id = 0;   /* -0 and 0 are one ID */
    memcpy(&k, &id, sizeof k);
    if (2 * (s->n + 1) > s->cap) {
        IdSet g = { NULL, NULL, s->cap ? 2 * s->cap : 64, 0 };
        g.keys = mem_alloc(a, g.cap * sizeof *g.keys);
        g.used = mem_alloc(a, g.cap);
        for (size_t i = 0; i < s->cap; i++)
            if (s->used[i]) {
                size_t j = id_hash(s->keys[i]) & (g.cap - 1);
                while (g.used[j])
                    j = (j + 1) & (g.cap - 1);
                g.used[j] = 1;
                g.keys[j] = s->keys[i];
            }
        g.n = s->n;
        *s = g;
    }
    size_t j = id_hash(k) & (s->cap - 1);
    while (s->used[j]) {
        if (s->keys[j] == k)
            return 1;
        j = (j + 1) & (s->cap - 1);
    }
    s->used[j] = 1;
    s->keys[j] = k;
    s->n++;
    return 0;
}

/* The subject's covariates, filled: a missing value takes the previous
 * one, and missing values before the first take the first. */
static void close_subject(Reader *r)
{
    if (r->nsubjects == 0)
        return;
    const DataSubject *s = &r->subjects[r->nsubjects - 1];
    DataRow *rows = r->rows + s->first;
    for (int k = 0; k < r->ncovs; k++) {
        int c = r->covs[k], first = -1;
        double last = NAN;
        for (int i = 0; i < s->n; i++) {
            double *x = &rows[i].v[c];
            if (!isnan(*x)) {
                last = *x;
                if (first < 0)
                    first = i;
            } else if (!isnan(last)) {
                *x = last;
            }
        }
        for (int i = 0; i < first; i++)
            rows[i].v[c] = rows[first].v[c];
    }
}

/* ------------------------------------------------------------------ */
/* rows                                                               */
/* ------------------------------------------------------------------ */

static int filter_match(const Reader *r, int k)
{
    const ModelFilter *mf = &r->md->filters[k];
    const Field *f = &r->f[mf->col];
    const char *s = r->text + f->off;
    int cmp;
    double x;
    if (missing(r, f))
        return mf->op == OP_NE;   /* a missing value equals nothing */
    if (!isnan(r->fnum[k]) && parse_number(s, f->len, &x)) {
        cmp = x < r->fnum[k] ? -1 : x > r->fnum[k];
    } else {
        const char *v = mf->value ? mf->value : "";
        size_t vn = strlen(v), n = (size_t)f->len;
        cmp = memcmp(s, v, n < vn ? n : vn);
        if (cmp == 0)
            cmp = (n > vn) - (n < vn);
    }
    switch (mf->op) {
    case OP_EQ: return cmp == 0;
    case OP_NE: return cmp != 0;
    case OP_LT: return cmp < 0;
    case OP_LE: return cmp <= 0;
    case OP_GT: return cmp > 0;
    case OP_GE: return cmp >= 0;
    default: return 0;
    }
}

/* IGNORE=(...) drops a row when any filter holds; ACCEPT=(...) keeps it
 * only when all do. */
static int keep_row(const Reader *r)
{
    const ModelData *md = r->md;
    for (int k = 0; k < md->nfilters; k++) {
        int hit = filter_match(r, k);
        if (md->accept && !hit)
            return 0;
        if (!md->accept && hit)
            return 0;
    }
    return 1;
}

static double item(const Reader *r, const double *v, ColRole role)
{
    int c = r->m->role_col[role];
    return c >= 0 ? v[c] : NAN;
}

/* Writes a defaulted item back, so code reading the column sees it. */
static void put(const Reader *r, double *v, ColRole role, double x)
{
    int c = r->m->role_col[role];
    if (c >= 0)
        v[c] = x;
}

#define FTEXT(r, col) (r)->f[col].len, (r)->text + (r)->f[col].off

/* Defaults and the checks of one row on its own; fills *row.  Returns the
 * number of errors reported. */
/* A data item as an int: missing when NaN; beyond +-1e9 held at +-1e9,
 * which every check below refuses (converting it would be undefined). */
static int as_int(double x, int missing)
{
    if (isnan(x))
        return missing;
    return x > 1e9 ? 1000000000 : x < -1e9 ? -1000000000 : (int)x;
}

static int check_row(Reader *r, double *v, DataRow *row)
{
    static const ColRole ints[] = { COL_EVID, COL_MDV, COL_CMT, COL_ADDL, COL_SS, COL_DVID };
    const int *rc = r->m->role_col;
    int e0 = diag_errors(r->d), ncmts = r->m->ncmts;
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        int c = rc[ints[k]];
        if (c >= 0 && !isnan(v[c]) && (v[c] != floor(v[c]) || fabs(v[c]) > 1e9))
            err(r, col_span(r, c), NULL, "%s must be a whole number, not '%.*s'",
                cname(r, c), FTEXT(r, c));
    }
    if (diag_errors(r->d) > e0)
        return diag_errors(r->d) - e0;

    double amt = item(r, v, COL_AMT), rate = item(r, v, COL_RATE), ii = item(r, v, COL_II);
    double x;
    int amt_missing = isnan(amt);
    if (amt_missing)
        amt = 0;
    if (isnan(rate))
        rate = 0;
    if (isnan(ii))
        ii = 0;
    x = item(r, v, COL_EVID);
    int evid = as_int(x, amt > 0);
    if (evid < 0 || evid > 4) {
        err(r, col_span(r, rc[COL_EVID]),
            "EVID is 0 for an observation, 1 a dose, 2 another event, 3 a reset, "
            "4 a reset and a dose",
            "EVID must be 0 to 4, not '%.*s'", FTEXT(r, rc[COL_EVID]));
        return diag_errors(r->d) - e0;
    }
    int dose = evid == 1 || evid == 4;
    x = item(r, v, COL_MDV);
    int mdv = as_int(x, evid != 0);
    x = item(r, v, COL_SS);
    int ss = as_int(x, 0);
    x = item(r, v, COL_ADDL);
    int addl = as_int(x, 0);
    x = item(r, v, COL_DVID);
    int dvid = as_int(x, 1);
    /* NONMEM's steady state of a constant infusion: AMT 0, RATE > 0, II 0 */
    int ss_infusion = ss == 1 && rate > 0 && amt == 0;

    if (mdv != 0 && mdv != 1)
        err(r, col_span(r, rc[COL_MDV]), "MDV is 1 when the row has no observation, 0 when it has",
            "MDV must be 0 or 1, not '%.*s'", FTEXT(r, rc[COL_MDV]));
    else if (mdv == 0 && evid != 0)
        err(r, col_span(r, rc[COL_MDV]), "only observations (EVID 0) may have MDV 0",
            "MDV is 0 on an EVID %d record", evid);

    if (dose && !(amt > 0) && !ss_infusion) {
        const char *hint = "a dose needs a positive AMT (AMT 0 only for a steady-state "
                           "infusion: SS=1 with RATE > 0)";
        int c = rc[COL_AMT];
        if (c < 0)
            err(r, col_span(r, rc[COL_EVID]), hint,
                "EVID %d is a dose, but $INPUT has no AMT column", evid);
        else if (amt_missing)
            err(r, col_span(r, c), hint, "EVID %d is a dose, but AMT is missing", evid);
        else
            err(r, col_span(r, c), hint, "EVID %d is a dose, but AMT is '%.*s'",
                evid, FTEXT(r, c));
    }
    if (rate < 0 && rate != -1 && rate != -2)
        err(r, col_span(r, rc[COL_RATE]),
            "RATE is 0 for a bolus, > 0 for an infusion, -1 when the model gives the "
            "rate (R), -2 when it gives the duration (D)",
            "RATE must be >= 0, -1 or -2, not '%.*s'", FTEXT(r, rc[COL_RATE]));
    if (ii < 0)
        err(r, col_span(r, rc[COL_II]), "II is the time between doses",
            "II is negative: '%.*s'", FTEXT(r, rc[COL_II]));
    if (addl < 0)
        err(r, col_span(r, rc[COL_ADDL]), "ADDL is the number of doses that follow this one",
            "ADDL is negative: '%.*s'", FTEXT(r, rc[COL_ADDL]));
    else if (addl > 1000000)
        err(r, col_span(r, rc[COL_ADDL]), "ADDL is the number of doses that follow this one",
            "ADDL is more than a million: '%.*s'", FTEXT(r, rc[COL_ADDL]));
    else if (addl > 0 && ii == 0)
        err(r, col_span(r, rc[rc[COL_II] >= 0 ? COL_II : COL_ADDL]),
            "II is the time between the doses: give II > 0, or ADDL 0",
            "ADDL is %d but II is 0: additional doses need an interval", addl);
    if (ss < 0 || ss > 2)
        err(r, col_span(r, rc[COL_SS]),
            "SS is 0 for no steady state, 1 for a steady state that resets the "
            "amounts, 2 for one added to them",
            "SS must be 0, 1 or 2, not '%.*s'", FTEXT(r, rc[COL_SS]));
    else if (ss > 0 && ii == 0 && !ss_infusion)
        err(r, col_span(r, rc[rc[COL_II] >= 0 ? COL_II : COL_SS]),
            "steady state is over doses repeated every II; a constant infusion to "
            "steady state has AMT 0, RATE > 0 and II 0",
            "SS %d needs a dosing interval, but II is 0", ss);

    int cmt = dose ? r->dose_cmt : r->obs_cmt;
    int cc = rc[COL_CMT];
    if (cc >= 0 && !isnan(v[cc])) {
        int given = as_int(v[cc], 0);
        if (ncmts == 0)
            cmt = given;   /* no compartments: nothing to check it against */
        else if (abs(given) > ncmts)
            err(r, col_span(r, cc), r->cmt_list,
                "CMT %d does not exist: the model has %d compartment%s",
                given, ncmts, ncmts == 1 ? "" : "s");
        else if (dose && given <= 0)
            err(r, col_span(r, cc), r->cmt_list,
                "a dose needs a compartment, but CMT is %d "
                "(write '.' for the default dose compartment)", given);
        else if (given != 0)
            cmt = given;   /* 0 on other records: the default, as in NONMEM */
    }

    row->evid = evid;
    row->mdv = mdv;
    row->cmt = cmt;
    row->ss = ss;
    row->addl = addl;
    row->dvid = dvid;
    row->amt = amt;
    row->rate = rate;
    row->ii = ii;
    row->dv = item(r, v, COL_DV);
    put(r, v, COL_AMT, amt);
    put(r, v, COL_EVID, evid);
    put(r, v, COL_MDV, mdv);
    put(r, v, COL_CMT, cmt);
    put(r, v, COL_RATE, rate);
    put(r, v, COL_II, ii);
    put(r, v, COL_ADDL, addl);
    put(r, v, COL_SS, ss);
    put(r, v, COL_DVID, dvid);
    return diag_errors(r->d) - e0;
}

/* One data line, already split. */
static void read_row(Reader *r)
{
    const Model *m = r->m;
    int ncols = m->ninput;
    const int *rc = m->role_col;
    if (r->nf < ncols) {
        err(r, at_offset(r, r->le),
            "every row needs a field for every column of $INPUT ('.' when it is missing)",
            "missing %s (column %d): the row has %d field%s but $INPUT names %d columns",
            cname(r, r->nf), r->nf + 1, r->nf, r->nf == 1 ? "" : "s", ncols);
        return;
    }
    if (r->md->nfilters > 0 && !keep_row(r))
        return;
    if (r->md->records >= 0 && r->nrows >= r->md->records) {
        r->done = 1;
        return;
    }
    if (r->nf > ncols) {
        if (r->extra_rows++ == 0)
            r->extra_at = field_span(r, &r->f[ncols]);
        if (r->nf - ncols > r->extra_max)
            r->extra_max = r->nf - ncols;
    }

    double *v = r->pool + (size_t)r->nrows * (size_t)m->ncols;
    for (int i = ncols; i < m->ncols; i++)
        v[i] = NAN;   /* derived covariates: filled by the subject hook (lcall.h) */
    int bad = 0;
    for (int i = 0; i < ncols; i++) {
        const Field *f = &r->f[i];
        const char *s = r->text + f->off;
        if (missing(r, f)) {
            v[i] = NAN;
        } else if (!parse_number(s, f->len, &v[i])) {
            v[i] = NAN;
            if (m->cols[i].role == COL_DROPPED)
                continue;   /* dropped columns may hold text */
            bad++;
            err(r, field_span(r, f),
                m->cols[i].role == COL_TIME && memchr(s, ':', (size_t)f->len)
                    ? "clock times are not read: give TIME in hours (or the model's unit)"
                    : "values are numbers, '.' or an empty field when missing; "
                      "DROP a column that holds text",
                "%s is not a number: '%.*s'", cname(r, i), f->len, s);
        }
    }
    if (bad)
        return;
    double id = v[rc[COL_ID]], time = v[rc[COL_TIME]];
    if (isnan(id) || isnan(time)) {
        int c = rc[isnan(id) ? COL_ID : COL_TIME];
        err(r, field_span(r, &r->f[c]), "every row needs an ID and a TIME",
            "%s is missing", cname(r, c));
        return;
    }
    if (time < 0) {
        err(r, field_span(r, &r->f[rc[COL_TIME]]),
            "times are counted from a reference such as the first dose; shift them so "
            "none is negative",
            "%s is negative: '%.*s'", cname(r, rc[COL_TIME]), FTEXT(r, rc[COL_TIME]));
        return;
    }

    DataRow *row = &r->rows[r->nrows];
    if (check_row(r, v, row) > 0)
        return;
    int new_subject = r->nsubjects == 0 || id != r->subjects[r->nsubjects - 1].id;
    if (!new_subject && time < r->prev_time && row->evid != 3 && row->evid != 4) {
        err(r, field_span(r, &r->f[rc[COL_TIME]]),
            "only a reset record (EVID 3 or 4) may go back in time; "
            "a new subject needs a new ID",
            "%s goes back from %.15g (row %d) to %.15g within subject %.15g",
            cname(r, rc[COL_TIME]), r->prev_time, r->prev_row, time, id);
        return;
    }
    if (new_subject) {
        close_subject(r);
        if (idset_add(r->a, &r->seen, id) && r->reused++ == 0)
            warn(r, field_span(r, &r->f[rc[COL_ID]]),
                 "NONMEM reads it the same way; sort the rows by ID if they are one subject",
                 "%s %.15g comes back after other subjects: read as a new subject",
                 cname(r, rc[COL_ID]), id);
        DataSubject s = { id, r->nrows, 0 };
        MEM_PUSH(r->a, r->subjects, r->nsubjects, r->capsubjects, s);
    }
    r->subjects[r->nsubjects - 1].n++;
    r->prev_time = time;
    r->prev_row = r->line;
    row->row = r->line;
    row->time = time;
    row->v = v;
    r->nrows++;
}

/* One line of the file: [ls, le), without its line break. */
static void read_line(Reader *r)
{
    const char *t = r->text;
    size_t b = r->ls, e = r->le, p;
    int ic = r->md->ignore_char;
    if (r->line == 1 && e - b >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0)
        b += 3;   /* a UTF-8 byte order mark, as spreadsheets write */
    int col1 = t[b];
    for (p = b; p < e && (is_blank(t[p]) || t[p] == ','); p++)
        ;
    if (p == e)
        return;   /* blank, or nothing but separators */
    while (is_blank(t[b]))
        b++;
    int first_line = !r->seen_line;
    r->seen_line = 1;
    if (ic == '@' ? is_alpha(t[b]) || t[b] == '@' : ic != 0 && col1 == ic) {
        /* IGNORE=@ skips the header too; still check it when it is the
         * first line and has one name per column */
        if (ic == '@' && first_line && is_alpha(t[b])) {
            DataFormat fmt = r->fmt != DFMT_AUTO ? r->fmt
                           : memchr(t + b, ',', e - b) ? DFMT_CSV : DFMT_SPACE;
            split(r, fmt, b, e);
            if (!r->split_err && r->nf == r->m->ninput && all_names(r))
                check_header(r);
        }
        return;
    }
    if (r->fmt == DFMT_AUTO)
        r->fmt = memchr(t + b, ',', e - b) ? DFMT_CSV : DFMT_SPACE;
    split(r, r->fmt, b, e);
    if (r->split_err) {
        Span at = at_offset(r, r->split_at);
        if (r->split_err == SPLIT_QUOTE)
            err(r, at, "a quoted value ends with '\"' on the same line",
                "unterminated quote");
        else
            err(r, at, "a quoted value is the whole field: \"12.5\",...",
                "text after a closing quote");
        return;
    }
    if (!r->seen_data) {
        r->seen_data = 1;
        if (all_names(r)) {
            check_header(r);
            return;
        }
    }
    read_row(r);
}

/* ------------------------------------------------------------------ */
/* set-up                                                             */
/* ------------------------------------------------------------------ */

/* ID and TIME are required: without them rows cannot even be grouped. */
static int required_columns(Reader *r)
{
    static const ColRole req[] = { COL_ID, COL_TIME };
    static const char *const hints[] = {
        "every dataset needs a subject column: name it ID, or alias it (SUBJ=ID)",
        "every dataset needs a time column: name it TIME, or alias it (HOURS=TIME)"
    };
    const Model *m = r->m;
    Span at = m->data.span;
    for (int i = 0; m->ast && i < m->ast->nrecs; i++)
        if (m->ast->recs[i] && m->ast->recs[i]->kind == REC_INPUT) {
            at = m->ast->recs[i]->name_span;
            break;
        }
    int ok = 1;
    for (int i = 0; i < 2; i++)
        if (m->role_col[req[i]] < 0) {
            err(r, at, hints[i], "$INPUT has no %s column", sema_role_name(req[i]));
            ok = 0;
        }
    return ok;
}

/* The default compartments: the dose and observe roles; without them the
 * first compartment for doses and the second (else the first) for
 * observations -- depot and central in the usual oral model. */
static void default_cmts(Reader *r)
{
    const Model *m = r->m;
    int dose = -1, obs = -1;
    for (int i = 0; i < m->ncmts; i++) {
        if (m->cmts[i].dose && dose < 0)
            dose = i;
        if (m->cmts[i].observe && obs < 0)
            obs = i;
    }
    if (m->ncmts == 0) {
        r->dose_cmt = r->obs_cmt = 0;
        return;
    }
    r->dose_cmt = (dose >= 0 ? dose : 0) + 1;
    r->obs_cmt = (obs >= 0 ? obs : m->ncmts >= 2 ? 1 : 0) + 1;

    /* the hint of CMT errors: "the compartments are 1 depot, 2 central" */
    size_t cap = 256, n = 0;
    char *s = mem_alloc(r->a, cap);
    n += (size_t)snprintf(s, cap, "CMT is 1 to %d: ", m->ncmts);
    for (int i = 0; i < m->ncmts && n < cap; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s%d %s", i ? ", " : "", i + 1, m->cmts[i].name);
    if (n >= cap)
        memcpy(s + cap - 4, "...", 4);
    r->cmt_list = s;
}

Dataset *data_parse(Arena *a, Diag *d, const Model *m, const char *name,
                    const char *text, size_t len)
{
    Reader r;
    memset(&r, 0, sizeof r);
    r.a = a;
    r.d = d;
    r.m = m;
    r.md = &m->data;
    r.errors0 = diag_errors(d);
    r.fmt = m->data.format;
    if (!required_columns(&r))
        return NULL;
    if (len > (size_t)INT32_MAX - 1) {
        err(&r, m->data.span, NULL, "the dataset '%s' is too large (2 GB at most)", name);
        return NULL;
    }
    r.file = diag_add_file(d, name, text, len);
    r.text = diag_file_text(d, r.file, &r.len);

    int ncols = m->ncols;
    size_t lines = 1;
    for (const char *p = r.text, *end = r.text + r.len;
         (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        lines++;
    r.caprows = (int)lines;
    r.rows = mem_alloc(a, lines * sizeof *r.rows);
    r.pool = mem_alloc(a, lines * (size_t)ncols * sizeof *r.pool);
    r.f = mem_alloc(a, (size_t)(ncols + 1) * sizeof *r.f);
    r.covs = mem_alloc(a, (size_t)ncols * sizeof *r.covs);
    for (int i = 0; i < ncols; i++)
        if (m->cols[i].role == COL_COVARIATE)
            r.covs[r.ncovs++] = i;
    r.fnum = mem_alloc(a, (size_t)(m->data.nfilters + 1) * sizeof *r.fnum);
    for (int k = 0; k < m->data.nfilters; k++) {
        const ModelFilter *mf = &m->data.filters[k];
        double x;
        r.fnum[k] = mf->value && parse_number(mf->value, (int)strlen(mf->value), &x) ? x : NAN;
    }
    default_cmts(&r);

    size_t p = 0;
    while (p < r.len && !r.done && !diag_full(d)) {
        const char *nl = memchr(r.text + p, '\n', r.len - p);
        size_t e = nl ? (size_t)(nl - r.text) : r.len;
        r.line++;
        r.ls = p;
        r.le = e > p && r.text[e - 1] == '\r' ? e - 1 : e;
        read_line(&r);
        p = e + 1;
    }
    close_subject(&r);

    if (r.extra_rows > 0)
        warn(&r, r.extra_at, "NONMEM ignores them too; DROP names a column to skip",
             "%d field%s past the %d columns of $INPUT %s ignored (on %d row%s)",
             r.extra_max, r.extra_max == 1 ? "" : "s", m->ninput,
             r.extra_max == 1 ? "is" : "are", r.extra_rows, r.extra_rows == 1 ? "" : "s");
    if (r.reused > 1)
        diag_report(d, DIAG_NOTE, diag_nospan(), NULL,
                    "%d subjects in '%s' reuse an earlier ID", r.reused, name);
    if (diag_errors(d) > r.errors0)
        return NULL;
    if (r.nrows == 0) {
        err(&r, m->data.span, m->data.nfilters ? "check IGNORE= and ACCEPT=" : NULL,
            "the dataset '%s' has no data rows", name);
        return NULL;
    }

    Dataset *ds = mem_alloc(a, sizeof *ds);
    ds->path = mem_strdup(a, name);
    ds->file = r.file;
    ds->ncols = ncols;
    ds->rows = r.rows;
    ds->nrows = r.nrows;
    ds->subjects = r.subjects;
    ds->nsubjects = r.nsubjects;
    return ds;
}

/* The data file's path: relative to the model file's directory. */
static const char *data_path(Arena *a, const char *path, const char *model_path)
{
    const char *slash = model_path ? strrchr(model_path, '/') : NULL;
    if (path[0] == '/' || !slash)
        return path;
    size_t dn = (size_t)(slash - model_path) + 1, pn = strlen(path);
    char *s = mem_alloc(a, dn + pn + 1);
    memcpy(s, model_path, dn);
    memcpy(s + dn, path, pn + 1);
    return s;
}

int data_is_obs(const DataRow *r)
{
    return r->evid == 0 && r->mdv == 0 && !isnan(r->dv);
}

/* The whole file (mem_free it), or NULL after reporting at `at` why it
 * cannot be read; `what` names it in the message. */
static char *read_file(Diag *d, Span at, const char *path, const char *what, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        diag_report(d, DIAG_ERROR, at, at.file >= 0 ? "the path is relative to the model file" : NULL,
                    "cannot read %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, got;
    char *buf = mem_malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = mem_realloc(buf, cap *= 2);
            if (!nb)
                mem_free(buf);
            buf = nb;
        }
    }
    int failed = !buf || ferror(fp);
    int e = errno;
    fclose(fp);
    if (failed) {
        diag_report(d, DIAG_ERROR, at, NULL, "cannot read %s '%s': %s", what, path,
                    buf ? strerror(e) : "out of memory");
        mem_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

Dataset *data_read(Arena *a, Diag *d, const Model *m, const char *model_path)
{
    if (!m->data.path) {
        diag_report(d, DIAG_ERROR, diag_nospan(), "$DATA names the dataset",
                    "the model has no $DATA record");
        return NULL;
    }
    const char *path = data_path(a, m->data.path, model_path);
    size_t n;
    char *buf = read_file(d, m->data.span, path, "the dataset", &n);
    if (!buf)
        return NULL;
    Dataset *ds = data_parse(a, d, m, path, buf, n);
    mem_free(buf);
    return ds;
}

/* ---- individual ETAs from a table ------------------------------------------------ */

typedef struct {
    Diag *d;
    int file;
    const char *text;
} EtaFile;

/* The span of bytes [b, e) of the file, on line `line`. */
static Span eta_span(const EtaFile *f, int line, size_t lstart, size_t b, size_t e)
{
    Span s = { f->file, line, (int)(b - lstart) + 1, (int)b, (int)(e > b ? e - b : 1) };
    return s;
}

/* Splits a CSV or blank-separated line [b, e) into at most max fields. */
static int eta_fields(const char *t, size_t b, size_t e, size_t *fb, size_t *fe, int max)
{
    int n = 0, csv = memchr(t + b, ',', e - b) != NULL;
    size_t i = b;
    while (i <= e && n < max) {
        while (i < e && is_blank(t[i]))
            i++;
        if (!csv && i >= e)
            break;
        size_t s = i;
        while (i < e && (csv ? t[i] != ',' : !is_blank(t[i])))
            i++;
        size_t q = i;
        while (q > s && is_blank(t[q - 1]))
            q--;
        fb[n] = s, fe[n] = q, n++;
        i++;   /* past the separator */
    }
    return n;
}

int data_read_etas(Diag *d, const char *path, const Model *m, const Dataset *ds, double *eta)
{
    enum { MAXF = 512 };
    size_t n;
    char *buf = read_file(d, diag_nospan(), path, "the ETA table", &n);
    if (!buf)
        return -1;
    EtaFile f = { d, diag_add_file(d, path, buf, n), NULL };
    f.text = diag_file_text(d, f.file, NULL);
    mem_free(buf);
    int ne = m->omega.n, idcol = -1, col[64], line = 0, rc = 0;
    size_t fb[MAXF], fe[MAXF], pos = 0;
    char *seen = mem_calloc((size_t)ds->nsubjects + 1, 1);
    for (int k = 0; k < ne; k++)
        col[k] = -1;
    while (seen && pos < n && rc == 0) {
        size_t e = pos;
        while (e < n && f.text[e] != '\n')
            e++;
        size_t b = pos, le = e > b && f.text[e - 1] == '\r' ? e - 1 : e;
        pos = e + 1;
        line++;
        int nf = eta_fields(f.text, b, le, fb, fe, MAXF);
        if (nf == 0)
            continue;
        if (idcol < 0) {   /* the header names the columns */
            for (int i = 0; i < nf; i++) {
                size_t len = fe[i] - fb[i];
                if (len == 2 && memcmp(f.text + fb[i], "ID", 2) == 0)
                    idcol = i;
                for (int k = 0; k < ne; k++)
                    if (strlen(m->omega.names[k]) == len &&
                        memcmp(f.text + fb[i], m->omega.names[k], len) == 0)
                        col[k] = i;
            }
            if (idcol < 0) {
                diag_report(d, DIAG_ERROR, eta_span(&f, line, b, b, le),
                            "the first line names the columns: ID and the ETAs", "no ID column");
                rc = -1;
            }
            for (int k = 0; rc == 0 && k < ne; k++)
                if (col[k] < 0) {
                    diag_report(d, DIAG_ERROR, eta_span(&f, line, b, b, le),
                                "a run's sdtab.csv, or any table with ID and ETAS, has them",
                                "no column for the ETA '%s'", m->omega.names[k]);
                    rc = -1;
                }
            continue;
        }
        double id;
        if (idcol >= nf || !parse_number(f.text + fb[idcol], (int)(fe[idcol] - fb[idcol]), &id)) {
            diag_report(d, DIAG_ERROR, eta_span(&f, line, b, idcol < nf ? fb[idcol] : b, le),
                        NULL, "the ID is not a number");
            rc = -1;
            break;
        }
        for (int s = 0; s < ds->nsubjects; s++) {
            if (ds->subjects[s].id != id || seen[s])
                continue;
            for (int k = 0; k < ne && rc == 0; k++) {
                int c = col[k];
                double v = NAN;
                if (c >= nf || !parse_number(f.text + fb[c], (int)(fe[c] - fb[c]), &v) ||
                    !isfinite(v)) {
                    diag_report(d, DIAG_ERROR, eta_span(&f, line, b, c < nf ? fb[c] : le, le),
                                NULL, "the ETA '%s' of subject ID %g is not a number",
                                m->omega.names[k], id);
                    rc = -1;
                }
                eta[(size_t)s * (size_t)ne + (size_t)k] = v;
            }
            seen[s] = 1;   /* the subject's first row counts */
        }
    }
    for (int s = 0; seen && rc == 0 && s < ds->nsubjects; s++)
        if (!seen[s]) {
            diag_report(d, DIAG_ERROR, eta_span(&f, 1, 0, 0, 1),
                        "give every subject of the dataset a row", "no ETAs for subject ID %g",
                        ds->subjects[s].id);
            rc = -1;
        }
    if (!seen) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory reading '%s'", path);
        rc = -1;
    }
    mem_free(seen);
    return rc;
}

/* ---- initial values from a fit's estimates.csv -------------------------------------- */

static int name_index(const char *const *names, int n, const char *s, size_t len)
{
    for (int k = 0; k < n; k++)
        if (names[k] && strlen(names[k]) == len && memcmp(names[k], s, len) == 0)
            return k;
    return -1;
}

/* One row KIND,NAME,WITH,ESTIMATE of estimates.csv into m; counts[0..2]
 * the THETAs, OMEGA and SIGMA elements set, counts[3] the rows naming
 * what m does not have.  0, or -1 after reporting. */
static int init_row(const EtaFile *f, int line, size_t b, size_t le, const size_t *fb,
                    const size_t *fe, const int *col, Model *m, int *counts)
{
    const char *t = f->text;
    size_t kl = fe[col[0]] - fb[col[0]], nl = fe[col[1]] - fb[col[1]];
    const char *kind = t + fb[col[0]], *name = t + fb[col[1]];
    double v;
    if (!parse_number(t + fb[col[3]], (int)(fe[col[3]] - fb[col[3]]), &v) || !isfinite(v)) {
        diag_report(f->d, DIAG_ERROR, eta_span(f, line, b, fb[col[3]], fe[col[3]]),
                    "a fit's estimates.csv has a number here", "the ESTIMATE is not a number");
        return -1;
    }
    if (kl == 5 && memcmp(kind, "THETA", 5) == 0) {
        for (int k = 0; k < m->nthetas; k++) {
            ModelTheta *th = &m->thetas[k];
            if (strlen(th->name) != nl || memcmp(th->name, name, nl) != 0)
                continue;
            if (!(v > th->lo && v < th->hi) && !(th->fix && v >= th->lo && v <= th->hi)) {
                diag_report(f->d, DIAG_ERROR, eta_span(f, line, b, fb[col[3]], fe[col[3]]),
                            "widen the THETA's bounds in the model, or leave it out of the file",
                            "%s = %g is outside its bounds (%g, %g)", th->name, v, th->lo,
                            th->hi);
                return -1;
            }
            th->init = v;
            counts[0]++;
            return 0;
        }
        counts[3]++;
        return 0;
    }
    int is_omega = kl == 5 && memcmp(kind, "OMEGA", 5) == 0;
    if (!is_omega && !(kl == 5 && memcmp(kind, "SIGMA", 5) == 0)) {
        diag_report(f->d, DIAG_ERROR, eta_span(f, line, b, fb[col[0]], fe[col[0]]),
                    "KIND is THETA, OMEGA or SIGMA", "unknown KIND '%.*s'", (int)kl, kind);
        return -1;
    }
    ModelRandom *r = is_omega ? &m->omega : &m->sigma;
    int i = name_index(r->names, r->n, name, nl);
    int j = name_index(r->names, r->n, t + fb[col[2]], fe[col[2]] - fb[col[2]]);
    if (i < 0 || j < 0) {
        counts[3]++;
        return 0;
    }
    if (r->block[i] != r->block[j]) {
        if (v == 0)
            return 0;   /* a covariance the model does not have: zero either way */
        diag_report(f->d, DIAG_ERROR, eta_span(f, line, b, b, le),
                    "put both in one BLOCK in the model to keep their covariance",
                    "%s and %s are in different blocks of the model", r->names[i], r->names[j]);
        return -1;
    }
    r->cov[i * r->n + j] = r->cov[j * r->n + i] = v;
    counts[is_omega ? 1 : 2]++;
    return 0;
}

int data_read_inits(Diag *d, const char *path, Model *m, int *counts)
{
    enum { MAXF = 64 };
    size_t n;
    char *buf = read_file(d, diag_nospan(), path, "the estimates", &n);
    if (!buf)
        return -1;
    EtaFile f = { d, diag_add_file(d, path, buf, n), NULL };
    f.text = diag_file_text(d, f.file, NULL);
    mem_free(buf);
    static const char *const heads[4] = { "KIND", "NAME", "WITH", "ESTIMATE" };
    int col[4] = { -1, -1, -1, -1 }, header = 1, line = 0, rc = 0;
    size_t fb[MAXF], fe[MAXF], pos = 0;
    for (int k = 0; k < 4; k++)
        counts[k] = 0;
    while (pos < n && rc == 0) {
        size_t e = pos;
        while (e < n && f.text[e] != '\n')
            e++;
        size_t b = pos, le = e > b && f.text[e - 1] == '\r' ? e - 1 : e;
        pos = e + 1;
        line++;
        int nf = eta_fields(f.text, b, le, fb, fe, MAXF);
        if (nf == 0)
            continue;
        if (header) {
            header = 0;
            for (int i = 0; i < nf; i++)
                for (int k = 0; k < 4; k++)
                    if (fe[i] - fb[i] == strlen(heads[k]) &&
                        memcmp(f.text + fb[i], heads[k], fe[i] - fb[i]) == 0)
                        col[k] = i;
            for (int k = 0; k < 4 && rc == 0; k++)
                if (col[k] < 0) {
                    diag_report(d, DIAG_ERROR, eta_span(&f, line, b, b, le),
                                "a fit writes estimates.csv with KIND,NAME,WITH,ESTIMATE,SE",
                                "no %s column", heads[k]);
                    rc = -1;
                }
            continue;
        }
        int need = col[0] > col[1] ? col[0] : col[1];
        for (int k = 2; k < 4; k++)
            need = col[k] > need ? col[k] : need;
        if (nf <= need) {
            diag_report(d, DIAG_ERROR, eta_span(&f, line, b, b, le), NULL,
                        "%d fields, the header has at least %d", nf, need + 1);
            rc = -1;
            break;
        }
        rc = init_row(&f, line, b, le, fb, fe, col, m, counts);
    }
    /* the blocks must still be covariance matrices */
    ModelRandom *rs[2] = { &m->omega, &m->sigma };
    for (int q = 0; q < 2 && rc == 0 && counts[1 + q] > 0; q++) {
        double *L = mem_calloc((size_t)(rs[q]->n * rs[q]->n) + 1, sizeof(double));
        if (!L || la_cholesky_psd(rs[q]->n, rs[q]->cov, L) != 0) {
            diag_report(d, DIAG_ERROR, diag_nospan(), NULL,
                        "%s: the %s it gives is not positive semi-definite", path,
                        q ? "SIGMA" : "OMEGA");
            rc = -1;
        }
        mem_free(L);
    }
    return rc;
}
