/*
 * test_data.c -- the dataset reader (data.c).
 *
 * Prints one TAP line per check ("ok N - ..." / "not ok N - ...") and
 * exits 1 if any failed.  Run from the repository root (tests/run does).
 * What is checked:
 *
 *   formats    CSV, blank-separated, CRLF, tabs, NONMEM's mixed commas
 *              and quoted CSV values read to identical datasets;
 *   header     skipped, checked against $INPUT (a warning names the first
 *              column that differs), also under IGNORE=@;
 *   ignore     IGNORE=@, IGNORE=#, IGNORE=c, IGNORE=(...), ACCEPT=(...);
 *   defaults   EVID from AMT, MDV from EVID, CMT from the compartment
 *              roles, the others; LOCF of covariates; subjects by ID;
 *   real data  ../shared/data/theo_sd.csv and EstData.csv (skipped when
 *              absent), and 100,000 rows against the clock;
 *   errors     the corpus tests/data/bad/ (*.csv): each file says, in '#'
 *              comment lines, its $INPUT, compartments and $DATA options
 *              and the diagnostics it must give:
 *                  # input: ID TIME DV AMT EVID CMT
 *                  # expect: 5:3: error: TIME is not a number: 'abc'
 *              An expectation starting with a digit is in the data file;
 *              any other is a whole line (t.qlx:3:1: ... for the model).
 *              Every expected line must be printed, and every error
 *              printed must be expected.
 *
 * Models are parsed from strings; diagnostics go to a memory stream.
 */
#include "data.h"
#include "parse.h"
#include "sema.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------
 * Harness
 * ------------------------------------------------------------------- */

#include "tap.h"

static void skip(const char *why)
{
    n_test++;
    printf("ok %d - # SKIP %s\n", n_test, why);
}

/* One model and what its Diag printed. */
typedef struct {
    Arena *a;
    Diag *d;
    FILE *mem;
    char *out;
    size_t outlen;
    Model *m;
    Dataset *ds;
} Run;

/* The model "t.qlx":
 *     1 $PROBLEM t
 *     2 $DATA <file> <opts>
 *     3 $INPUT <input>
 *     4 $COMPARTMENTS <cmts>      (unless cmts is NULL)
 *     5 $DES, one d/dt per compartment */
static int run_model_file(Run *r, const char *file, const char *opts, const char *input,
                          const char *cmts)
{
    char src[4096];
    int n;
    memset(r, 0, sizeof *r);
    r->a = mem_arena_new();
    r->mem = open_memstream(&r->out, &r->outlen);
    r->d = diag_new(r->a, r->mem);
    diag_set_limit(r->d, 100);
    n = snprintf(src, sizeof src, "$PROBLEM t\n$DATA %s %s\n$INPUT %s\n", file, opts, input);
    if (cmts) {
        n += snprintf(src + n, sizeof src - (size_t)n, "$COMPARTMENTS %s\n$DES\n", cmts);
        /* the names: each word up to its '(' */
        for (const char *p = cmts; *p;) {
            while (*p == ' ')
                p++;
            const char *b = p;
            while (*p && *p != ' ' && *p != '(')
                p++;
            int len = (int)(p - b);
            while (*p && *p != ' ')
                p++;
            if (len > 0)
                n += snprintf(src + n, sizeof src - (size_t)n, "  d/dt(%.*s) = -%.*s\n",
                              len, b, len, b);
        }
    }
    Ast *t = parse_string(r->a, r->d, "t.qlx", src, strlen(src), NULL);
    if (t && diag_errors(r->d) == 0)
        r->m = sema_check(r->a, r->d, t);
    if (!r->m) {
        fflush(r->mem);
        printf("# model does not check:\n%s%s", src, r->out ? r->out : "");
    }
    return r->m != NULL;
}

static int run_model(Run *r, const char *opts, const char *input, const char *cmts)
{
    return run_model_file(r, "d.csv", opts, input, cmts);
}

static Dataset *run_data(Run *r, const char *text)
{
    r->ds = data_parse(r->a, r->d, r->m, "d.csv", text, strlen(text));
    return r->ds;
}

static const char *run_out(Run *r)
{
    fflush(r->mem);
    return r->out ? r->out : "";
}

static void run_free(Run *r)
{
    fclose(r->mem);
    free(r->out);
    mem_arena_free(&r->a);
}

/* Model + data in one go; the Run stays for inspection. */
static Dataset *read_with(Run *r, const char *opts, const char *input, const char *cmts,
                          const char *text)
{
    if (!run_model(r, opts, input, cmts))
        return NULL;
    return run_data(r, text);
}

static int has_line(const char *out, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = out; (p = strstr(p, line)) != NULL; p++)
        if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static int same_num(double x, double y)
{
    return (isnan(x) && isnan(y)) || x == y;
}

/* Two datasets with the same rows, values and subjects. */
static int same_dataset(const Dataset *x, const Dataset *y, int rows_too)
{
    if (!x || !y || x->nrows != y->nrows || x->nsubjects != y->nsubjects || x->ncols != y->ncols)
        return 0;
    for (int i = 0; i < x->nrows; i++) {
        const DataRow *a = &x->rows[i], *b = &y->rows[i];
        if ((rows_too && a->row != b->row) || !same_num(a->time, b->time) ||
            !same_num(a->dv, b->dv) || !same_num(a->amt, b->amt) ||
            !same_num(a->rate, b->rate) || !same_num(a->ii, b->ii) || a->evid != b->evid ||
            a->mdv != b->mdv || a->cmt != b->cmt || a->addl != b->addl || a->ss != b->ss ||
            a->dvid != b->dvid)
            return 0;
        for (int c = 0; c < x->ncols; c++)
            if (!same_num(a->v[c], b->v[c]))
                return 0;
    }
    for (int s = 0; s < x->nsubjects; s++)
        if (x->subjects[s].id != y->subjects[s].id || x->subjects[s].first != y->subjects[s].first ||
            x->subjects[s].n != y->subjects[s].n)
            return 0;
    return 1;
}

#define IN7 "ID TIME DV AMT EVID CMT WT"
#define ORAL "depot(dose) central(observe)"

/* ---------------------------------------------------------------------
 * Formats
 * ------------------------------------------------------------------- */

static const char csv_text[] =
    "ID,TIME,DV,AMT,EVID,CMT,WT\n"
    "1,0,.,100,1,1,70\n"
    "1,0.5,4.2,0,0,2,70\n"
    "1,2,,0,0,2,\n"
    "2,0,.,150.5,1,1,82.5\n"
    "2,1.5e0,3.25,0,0,2,.\n";

static void test_formats(void)
{
    static const char *const forms[][2] = {
        { "blank-separated", "ID TIME DV AMT EVID CMT WT\n"
                             "1 0 . 100 1 1 70\n"
                             "1 0.5 4.2 0 0 2 70\n"
                             "1 2 . 0 0 2 .\n"
                             "2 0 . 150.5 1 1 82.5\n"
                             "2 1.5e0 3.25 0 0 2 .\n" },
        { "tabs and runs of blanks", "ID\tTIME\tDV\tAMT\tEVID\tCMT\tWT\n"
                                     "  1\t0\t.\t100\t1\t1\t70\n"
                                     "1    0.5\t4.2  0  0 2 70   \n"
                                     "1 2 . 0 0 2 .\n"
                                     "2 0 . 150.5 1 1 82.5\n"
                                     "2\t1.5e0\t3.25\t0\t0\t2\t.\n" },
        { "NONMEM's commas among blanks", "ID TIME DV AMT EVID CMT WT\n"
                                          "1, 0, ., 100, 1, 1, 70\n"
                                          "1 ,0.5 ,4.2, 0 0 2 70\n"
                                          "1 2 . 0 0 2 .\n"
                                          "2 0 . 150.5 1 1 82.5\n"
                                          "2 1.5e0 3.25 0 0 2 .\n" },
        { "quoted CSV values", "\"ID\",\"TIME\",\"DV\",\"AMT\",\"EVID\",\"CMT\",\"WT\"\n"
                               "\"1\",\"0\",\".\",\"100\",1,1,70\n"
                               "1, 0.5 ,\"4.2\" ,0,0,2,70\n"
                               "1,2,\"\",0,0,2,\n"
                               "2,0,.,150.5,1,1,82.5\n"
                               "2,1.5e0,3.25,0,0,2,.\n" },
    };
    Run r0;
    Dataset *ref = read_with(&r0, "", IN7, ORAL, csv_text);
    ok(ref && ref->nrows == 5 && ref->nsubjects == 2 && diag_warnings(r0.d) == 0,
       "CSV: 5 rows, 2 subjects, no warnings");
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        Run r;
        Dataset *ds = read_with(&r, "", IN7, ORAL, forms[k][1]);
        ok(same_dataset(ref, ds, 1) && diag_warnings(r.d) == 0,
           "%s reads to the CSV's dataset", forms[k][0]);
        if (!ds)
            printf("# %s", run_out(&r));
        run_free(&r);
    }

    /* CRLF line endings, and no line break at the end */
    char crlf[1024];
    size_t n = 0;
    for (const char *p = csv_text; *p; p++) {
        if (*p == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *p;
    }
    crlf[n - 2] = '\0';
    Run r;
    ok(same_dataset(ref, read_with(&r, "", IN7, ORAL, crlf), 1), "CRLF, no final newline");
    run_free(&r);

    /* FORMAT= overrides the guess: blanks under FORMAT=CSV are one field */
    ok(same_dataset(ref, read_with(&r, "FORMAT=CSV", IN7, ORAL, csv_text), 1),
       "FORMAT=CSV reads CSV");
    run_free(&r);
    ok(same_dataset(ref, read_with(&r, "FORMAT=SPACE", IN7, ORAL, forms[0][1]), 1),
       "FORMAT=SPACE reads blanks");
    run_free(&r);
    read_with(&r, "FORMAT=CSV", IN7, ORAL, "1 0 . 100 1 1 70\n");
    ok(!r.ds &&
           has_line(run_out(&r), "d.csv:1:17: error: missing TIME (column 2): the row has 1 "
                                 "field but $INPUT names 7 columns"),
       "FORMAT=CSV on a blank-separated file: one field");
    run_free(&r);

    /* values: the spellings NONMEM writes, and what is not a number */
    Dataset *ds = read_with(&r, "", "ID TIME DV", NULL,
                            "1,0,+1.5\n1,1,.25\n1,2,5.\n1,3,1D2\n1,4,-2.5E-3\n"
                            "1,5,0.1000000000000000055511151231257827\n1,6,123456789012345678901\n"
                            "1,7,1e-300\n");
    ok(ds && ds->nrows == 8 && ds->rows[0].dv == 1.5 && ds->rows[1].dv == 0.25 &&
           ds->rows[2].dv == 5 && ds->rows[3].dv == 100 && ds->rows[4].dv == -2.5e-3 &&
           ds->rows[5].dv == 0.1 && ds->rows[6].dv == 123456789012345678901.0 &&
           ds->rows[7].dv == 1e-300,
       "numbers: signs, bare points, D exponents, long mantissas, exactly rounded");
    run_free(&r);
    static const char *const nonnum[] = { "inf", "nan", "0x10", "1e", "1e400", "--1", "1.2.3", "1;5", "5%" };
    for (size_t k = 0; k < sizeof nonnum / sizeof nonnum[0]; k++) {
        char text[64], want[128];
        snprintf(text, sizeof text, "1 0 %s\n", nonnum[k]);
        snprintf(want, sizeof want, "d.csv:1:5: error: DV is not a number: '%s'", nonnum[k]);
        read_with(&r, "FORMAT=SPACE", "ID TIME DV", NULL, text);
        ok(r.ds == NULL && has_line(run_out(&r), want), "'%s' is not a number", nonnum[k]);
        run_free(&r);
    }

    /* blank lines, lines of bare commas, a byte order mark */
    ds = read_with(&r, "", IN7, ORAL,
                   "\xEF\xBB\xBFID,TIME,DV,AMT,EVID,CMT,WT\n\n1,0,.,100,1,1,70\n   \n,,,,,,\n"
                   "1,0.5,4.2,0,0,2,70\n");
    ok(ds && ds->nrows == 2 && ds->rows[1].row == 6 && diag_warnings(r.d) == 0,
       "blank lines, comma-only lines and a BOM are skipped; rows keep their line numbers");
    run_free(&r);
    run_free(&r0);
}

/* ---------------------------------------------------------------------
 * Headers
 * ------------------------------------------------------------------- */

static void test_header(void)
{
    Run r;
    Dataset *ds = read_with(&r, "", "ID TIME CONC=DV AMT EVID CMT WT", ORAL,
                            "id,Time,conc,AMT,EVID,CMT,WT\n1,0,.,100,1,1,70\n");
    ok(ds && ds->nrows == 1 && diag_warnings(r.d) == 0,
       "header skipped; names match case-insensitively, by either name of an alias");
    run_free(&r);

    ds = read_with(&r, "", IN7, ORAL, "ID,TIME,CONC,AMT,EVID,CMT,WT\n1,0,.,100,1,1,70\n");
    ok(ds && ds->nrows == 1 &&
           has_line(run_out(&r),
                    "d.csv:1:9: warning: column 3 is 'CONC' in the header but 'DV' in $INPUT"),
       "a header that differs from $INPUT: warning at the first difference");
    run_free(&r);

    ds = read_with(&r, "IGNORE=@", IN7, ORAL, "ID TIME DV DOSE EVID CMT WT\n1 0 . 100 1 1 70\n");
    ok(ds && ds->nrows == 1 &&
           has_line(run_out(&r),
                    "d.csv:1:12: warning: column 4 is 'DOSE' in the header but 'AMT' in $INPUT"),
       "under IGNORE=@ the header is skipped but still checked");
    run_free(&r);

    ds = read_with(&r, "IGNORE=@", IN7, ORAL, "C this is a comment\n1 0 . 100 1 1 70\n");
    ok(ds && ds->nrows == 1 && diag_warnings(r.d) == 0,
       "under IGNORE=@ a first comment line is not taken for a header");
    run_free(&r);

    ds = read_with(&r, "", "ID TIME DV SITE=DROP DROP", NULL,
                   "ID,TIME,DV,SITE,NOTE\n1,0,5,Paris,hello\n");
    ok(ds && ds->nrows == 1 && diag_warnings(r.d) == 0 && isnan(ds->rows[0].v[3]),
       "dropped columns: text allowed, a bare DROP matches any header name");
    run_free(&r);

    ds = read_with(&r, "", "ID TIME DV", NULL, "ID,TIME\n1,0,5\n");
    ok(ds && has_line(run_out(&r), "d.csv:1:8: warning: the header has 2 columns but $INPUT "
                                   "names 3"),
       "a header with too few names: warning");
    run_free(&r);
}

/* ---------------------------------------------------------------------
 * IGNORE and ACCEPT
 * ------------------------------------------------------------------- */

static void test_ignore(void)
{
    Run r;
    Dataset *ds = read_with(&r, "IGNORE=@", "ID TIME DV", NULL,
                            "ID TIME DV\n@ a comment\n  x indented\n1 0 5\n# kept? no: error\n");
    ok(!ds && has_line(run_out(&r), "d.csv:5:1: error: ID is not a number: '#'"),
       "IGNORE=@: letters and @ skipped (after blanks too); '#' is then data, as in NONMEM");
    run_free(&r);

    ds = read_with(&r, "", "ID TIME DV", NULL, "# comment\n1 0 5\n#1 1 6\n1 2 7\n");
    ok(ds && ds->nrows == 2 && ds->rows[1].time == 2, "IGNORE=# is the default");
    run_free(&r);

    ds = read_with(&r, "IGNORE=C", "ID TIME DV", NULL, "C comment\nC1 1 6\n1 0 5\n 1 2 7\n");
    ok(ds && ds->nrows == 2 && ds->rows[1].time == 2,
       "IGNORE=C: rows with C in column 1 are skipped");
    run_free(&r);

    static const char est[] =
        "ID,DOSE,TIME,DV,DVID,SITE\n"
        "1,0,0,10,2,A\n"
        "1,0,1,11,2,A\n"
        "2,3,0,.,0,B\n"
        "2,3,1,1.5,1,B\n"
        "2,3.0,2,12,2,B\n"
        "3,10,0,.,1,C\n"
        "3,10,1,2.5,1,.\n";
    ds = read_with(&r, "IGNORE=(DOSE.EQ.0, DVID.EQ.2)", "ID DOSE TIME DV DVID SITE=DROP",
                   NULL, est);
    ok(ds && ds->nrows == 4 && ds->nsubjects == 2 && ds->rows[0].row == 4 && ds->rows[3].row == 8,
       "IGNORE=(...): a row goes when any filter holds; 3.0 equals 3");
    run_free(&r);

    ds = read_with(&r, "ACCEPT=(DOSE.GT.0, DVID.EQ.1)", "ID DOSE TIME DV DVID SITE=DROP", NULL,
                   est);
    ok(ds && ds->nrows == 3 && ds->rows[0].row == 5, "ACCEPT=(...): a row stays when all hold");
    run_free(&r);

    ds = read_with(&r, "IGNORE=(SITE.EQ.B)", "ID DOSE TIME DV DVID SITE=DROP", NULL, est);
    ok(ds && ds->nrows == 4, "a filter on a dropped text column compares strings");
    run_free(&r);

    ds = read_with(&r, "ACCEPT=(SITE.NE.A)", "ID DOSE TIME DV DVID SITE=DROP", NULL, est);
    ok(ds && ds->nrows == 5 && ds->rows[4].row == 8, "a missing value matches .NE. only");
    run_free(&r);

    ds = read_with(&r, "IGNORE=(DV.GE.10)", "ID DOSE TIME DV DVID SITE=DROP", NULL,
                   "1,0,0,9.99,2,A\n1,0,1,10,2,A\n1,0,2,1e1,2,A\n1,0,3,100,2,A\n");
    ok(ds && ds->nrows == 1, "numeric filters compare numbers, not spellings");
    run_free(&r);

    ds = read_with(&r, "IGNORE=(DVID.EQ.2)", "ID DOSE TIME DV DVID", NULL,
                   "1,0,0,10,2\n1,0,1,xx,2\n1,0,2,11,1\n");
    ok(ds && ds->nrows == 1, "a row a filter drops is not validated");
    run_free(&r);

    ds = read_with(&r, "RECORDS=3", "ID TIME DV", NULL, "ID TIME DV\n1 0 1\n1 1 2\n1 2 3\n1 3 x\n");
    ok(ds && ds->nrows == 3, "RECORDS=3 reads three rows and stops");
    run_free(&r);
}

/* ---------------------------------------------------------------------
 * Defaults, covariates, subjects
 * ------------------------------------------------------------------- */

static void test_defaults(void)
{
    Run r;
    Dataset *ds = read_with(&r, "", "ID TIME DV AMT WT", ORAL,
                            "1 0 . 100 70\n1 1 5 0 70\n1 2 . . 70\n");
    ok(ds && ds->rows[0].evid == 1 && ds->rows[0].mdv == 1 && ds->rows[0].cmt == 1 &&
           ds->rows[1].evid == 0 && ds->rows[1].mdv == 0 && ds->rows[1].cmt == 2 &&
           ds->rows[2].evid == 0 && ds->rows[2].amt == 0 && isnan(ds->rows[2].dv),
       "no EVID/MDV/CMT columns: EVID 1 when AMT > 0, MDV from EVID, CMT from the roles");
    ok(ds && ds->rows[0].rate == 0 && ds->rows[0].ii == 0 && ds->rows[0].addl == 0 &&
           ds->rows[0].ss == 0 && ds->rows[0].dvid == 1,
       "RATE II ADDL SS default 0, DVID 1");
    run_free(&r);

    ds = read_with(&r, "", "ID TIME DV AMT EVID MDV CMT RATE II ADDL SS DVID", ORAL,
                   "1 0 . 100 . . . . . . . .\n1 1 5 0 0 . 0 . . . . .\n1 2 6 . 2 . . . . . . 2\n");
    const DataRow *w = ds ? ds->rows : NULL;
    ok(ds && w[0].evid == 1 && w[0].mdv == 1 && w[0].cmt == 1 && w[0].v[4] == 1 &&
           w[0].v[5] == 1 && w[0].v[6] == 1 && w[0].v[11] == 1 && w[1].cmt == 2 &&
           w[1].v[6] == 2 && w[2].evid == 2 && w[2].mdv == 1 && w[2].cmt == 2 &&
           w[2].dvid == 2 && w[2].v[3] == 0,
       "missing values of reserved items take the defaults, written back into v; "
       "CMT 0 on an observation is the default");
    run_free(&r);

    ds = read_with(&r, "", "ID TIME DV AMT", "gut central periph",
                   "1 0 . 100\n1 1 5 0\n");
    ok(ds && ds->rows[0].cmt == 1 && ds->rows[1].cmt == 2,
       "without roles: doses to the first compartment, observations of the second");
    run_free(&r);
    ds = read_with(&r, "", "ID TIME DV AMT", "central", "1 0 . 100\n1 1 5 0\n");
    ok(ds && ds->rows[0].cmt == 1 && ds->rows[1].cmt == 1, "one compartment: both go there");
    run_free(&r);
    ds = read_with(&r, "", "ID TIME DV AMT", "gut central(dose) periph effect(observe)",
                   "1 0 . 100\n1 1 5 0\n");
    ok(ds && ds->rows[0].cmt == 2 && ds->rows[1].cmt == 4, "dose and observe roles anywhere");
    run_free(&r);
    ds = read_with(&r, "", "ID TIME DV AMT CMT", NULL, "1 0 . 100 .\n1 1 5 0 7\n");
    ok(ds && ds->rows[0].cmt == 0 && ds->rows[1].cmt == 7,
       "a model without compartments: CMT is passed through, default 0");
    run_free(&r);

    ds = read_with(&r, "", "ID TIME DV AMT EVID CMT SS RATE II", ORAL,
                   "1 0 . 0 1 2 1 10 0\n1 1 5 0 0 2 0 0 0\n");
    ok(ds && ds->rows[0].ss == 1 && ds->rows[0].rate == 10,
       "SS=1 with RATE > 0 and AMT 0: a constant infusion to steady state");
    run_free(&r);

    ds = read_with(&r, "", "ID TIME DV AMT EVID CMT", ORAL,
                   "1 0 . 100 1 1\n1 24 5 0 0 2\n1 0 . 0 3 1\n1 12 4 0 0 2\n1 0 . 50 4 1\n");
    ok(ds && ds->nsubjects == 1 && ds->nrows == 5,
       "time may go back at a reset (EVID 3) and a reset-and-dose (EVID 4)");
    run_free(&r);

    /* covariates: last value carried forward, leading values carried back */
    ds = read_with(&r, "", "ID TIME DV WT AGE SEX", NULL,
                   "1 0 1 . 40 .\n1 1 2 70 . .\n1 2 3 . 41 .\n1 3 4 72 . .\n"
                   "2 0 1 . . .\n2 1 2 80 . 1\n");
    w = ds ? ds->rows : NULL;
    ok(ds && w[0].v[3] == 70 && w[1].v[3] == 70 && w[2].v[3] == 70 && w[3].v[3] == 72 &&
           w[0].v[4] == 40 && w[1].v[4] == 40 && w[2].v[4] == 41 && w[3].v[4] == 41,
       "LOCF: a missing covariate takes the previous value, leading ones the first");
    ok(ds && isnan(w[0].v[5]) && isnan(w[3].v[5]) && w[4].v[3] == 80 && isnan(w[4].v[4]) &&
           w[4].v[5] == 1 && isnan(w[1].dv) == 0,
       "LOCF stays within a subject; a covariate missing for a whole subject stays NaN");
    run_free(&r);

    ds = read_with(&r, "", "ID TIME DV", NULL, "1 0 1\n1 1 2\n2 0 3\n3 0 4\n3 5 5\n1 0 6\n");
    ok(ds && ds->nsubjects == 4 && ds->subjects[0].id == 1 && ds->subjects[0].n == 2 &&
           ds->subjects[2].first == 3 && ds->subjects[2].n == 2 && ds->subjects[3].id == 1 &&
           ds->subjects[3].first == 5,
       "subjects are runs of one ID; an ID that comes back is a new subject");
    ok(has_line(run_out(&r), "d.csv:6:1: warning: ID 1 comes back after other subjects: "
                             "read as a new subject"),
       "... with a warning");
    run_free(&r);
}

/* ---------------------------------------------------------------------
 * Diagnostics: limits, files
 * ------------------------------------------------------------------- */

static void test_limits(void)
{
    Run r;
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "1 %d x\n", i);
    run_model(&r, "", "ID TIME DV", NULL);
    diag_set_limit(r.d, 5);
    run_data(&r, text);
    const char *out = run_out(&r);
    ok(!r.ds && diag_errors(r.d) == 5 && strstr(out, "too many errors (5)") &&
           has_line(out, "d.csv:5:5: error: DV is not a number: 'x'") &&
           !strstr(out, "d.csv:6:"),
       "reading stops at the Diag's error limit");
    ok(strstr(out, "    5 | 1 4 x\n      |     ^\n") != NULL, "errors quote the row with a caret");
    run_free(&r);

    run_model(&r, "", "ID TIME DV", NULL);
    Dataset *ds = data_read(r.a, r.d, r.m, "some/dir/model.qlx");
    ok(!ds && has_line(run_out(&r), "t.qlx:2:7: error: cannot read the dataset "
                                    "'some/dir/d.csv': No such file or directory"),
       "data_read: the path is relative to the model; a missing file is reported at $DATA");
    run_free(&r);

    ds = read_with(&r, "IGNORE=(ID.GT.0)", "ID TIME DV", NULL, "1 0 1\n");
    ok(!ds && has_line(run_out(&r), "t.qlx:2:7: error: the dataset 'd.csv' has no data rows"),
       "a dataset left with no rows is an error");
    run_free(&r);
}

/* ---------------------------------------------------------------------
 * The shared datasets, and speed
 * ------------------------------------------------------------------- */

static int exists(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f)
        fclose(f);
    return f != NULL;
}

static void test_real(void)
{
    Run r;
    if (!exists("../shared/data/theo_sd.csv")) {
        skip("../shared/data/theo_sd.csv is absent");
    } else {
        run_model_file(&r, "theo_sd.csv", "IGNORE=@", IN7, ORAL);
        Dataset *ds = data_read(r.a, r.d, r.m, "../shared/data/model.qlx");
        int doses = 0, dose_cmt = 1, obs_cmt = 1, wt_const = 1;
        for (int i = 0; ds && i < ds->nrows; i++) {
            const DataRow *w = &ds->rows[i];
            doses += w->evid == 1;
            if (w->evid == 1)
                dose_cmt &= w->cmt == 1 && w->amt > 0 && w->mdv == 1;
            else
                obs_cmt &= w->cmt == 2 && w->mdv == 0 && !isnan(w->dv);
        }
        for (int s = 0; ds && s < ds->nsubjects; s++) {
            const DataSubject *sj = &ds->subjects[s];
            wt_const &= sj->id == s + 1 && sj->n == 12;
            for (int i = 1; i < sj->n; i++)
                wt_const &= ds->rows[sj->first + i].v[6] == ds->rows[sj->first].v[6];
        }
        ok(ds && ds->nsubjects == 12 && ds->nrows == 144 && doses == 12 &&
               diag_warnings(r.d) == 0,
           "theo_sd.csv: 12 subjects, 144 rows, 12 doses, header matches");
        ok(ds && dose_cmt && obs_cmt && wt_const && ds->rows[0].amt == 319.992 &&
               ds->rows[0].v[6] == 79.6,
           "theo_sd.csv: doses to depot, observations of central, WT per subject");
        if (!ds)
            printf("%s", run_out(&r));
        run_free(&r);
    }

    if (!exists("../shared/data/EstData.csv")) {
        skip("../shared/data/EstData.csv is absent");
        return;
    }
    const char *in = "ID BW COMED DOSE TIME DV EVID MDV AMT CMT DVID";
    const char *cm = "depot(dose) central(observe) effect";
    run_model_file(&r, "EstData.csv", "IGNORE=@", in, cm);
    Dataset *ds = data_read(r.a, r.d, r.m, "../shared/data/model.qlx");
    int doses = 0, pd = 0;
    for (int i = 0; ds && i < ds->nrows; i++) {
        doses += ds->rows[i].evid == 1;
        pd += ds->rows[i].cmt == 3 && ds->rows[i].dvid == 2;
    }
    ok(ds && ds->nsubjects == 48 && ds->nrows == 2820 && doses == 756 && pd == 1200 &&
           diag_warnings(r.d) == 0,
       "EstData.csv: 48 subjects, 2820 rows, 756 doses, 1200 biomarker rows");
    if (!ds)
        printf("%s", run_out(&r));
    run_free(&r);

    run_model_file(&r, "EstData.csv", "IGNORE=@ IGNORE=(DOSE.EQ.0, DVID.EQ.2) FORMAT=CSV", in,
                   cm);
    ds = data_read(r.a, r.d, r.m, "../shared/data/model.qlx");
    ok(ds && ds->nsubjects == 36 && ds->nrows == 1620,
       "EstData.csv, IGNORE=(DOSE.EQ.0, DVID.EQ.2): 36 subjects, 1620 rows");
    run_free(&r);
}

/* CPU time of this process: other jobs on a busy machine do not count. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_speed(void)
{
    enum { NSUBJ = 5000, PER = 20 };
    size_t cap = (size_t)NSUBJ * PER * 64, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text, cap, "ID,TIME,DV,AMT,EVID,MDV,CMT,WT,AGE\n");
    for (int s = 1; s <= NSUBJ; s++)
        for (int k = 0; k < PER; k++)
            n += (size_t)snprintf(text + n, cap - n, "%d,%.2f,%s,%s,%d,%d,%d,%.1f,%d\n", s,
                                  k * 1.25, k ? "12.3456" : ".", k ? "0" : "320.5", k == 0,
                                  k == 0, k ? 2 : 1, 50 + s % 40 + 0.5, 20 + s % 50);
    /* the best of five, so a busy machine does not fail the test */
    double ms = 1e9;
    int fine = 1;
    for (int k = 0; k < 5; k++) {
        Run r;
        run_model(&r, "", "ID TIME DV AMT EVID MDV CMT WT AGE", ORAL);
        double t0 = now_ms();
        Dataset *ds = data_parse(r.a, r.d, r.m, "big.csv", text, n);
        double t = now_ms() - t0;
        if (t < ms)
            ms = t;
        fine &= ds && ds->nrows == NSUBJ * PER && ds->nsubjects == NSUBJ;
        run_free(&r);
    }
#if defined(QLX_FAULTS) || defined(__SANITIZE_ADDRESS__)
    double limit = 2000;   /* sanitizers slow everything down */
#else
    double limit = 100;
#endif
    printf("# %d rows (%.1f MB) in %.1f ms of CPU time\n", NSUBJ * PER, n / 1e6, ms);
    ok(fine && ms < limit, "100,000 rows in under %.0f ms", limit);
    free(text);
}

/* ---------------------------------------------------------------------
 * Survival: random mutations of a dataset (a deterministic mini-fuzz,
 * run under the sanitizers by `make test-san`)
 * ------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* A dataset is consistent: subjects tile the rows, times are finite and
 * the reserved items in range. */
static int consistent(const Dataset *ds, int ncmts)
{
    int next = 0;
    for (int s = 0; s < ds->nsubjects; s++) {
        if (ds->subjects[s].first != next || ds->subjects[s].n <= 0)
            return 0;
        next += ds->subjects[s].n;
    }
    if (next != ds->nrows)
        return 0;
    for (int i = 0; i < ds->nrows; i++) {
        const DataRow *w = &ds->rows[i];
        if (!isfinite(w->time) || w->time < 0 || w->evid < 0 || w->evid > 4 || w->ss < 0 ||
            w->ss > 2 || w->addl < 0 || w->ii < 0 || w->cmt > ncmts || w->cmt < -ncmts)
            return 0;
    }
    return 1;
}

static void test_survival(void)
{
    static const char seed[] =
        "ID,TIME,DV,AMT,EVID,MDV,CMT,RATE,II,ADDL,SS,WT\n"
        "1,0,.,100,1,1,1,0,24,3,0,70\n"
        "1,0.5,4.2,0,0,0,2,.,.,.,.,\n"
        "1,30,3.1,0,0,0,2,0,0,0,0,71\n"
        "2,0,.,0,1,1,2,10,0,0,1,\"80\"\n"
        "2,1,2.5,0,0,0,.,0,0,0,0,.\n";
    static const char alphabet[] = "0123456789.,-+eEdD \t\n\r\"#@Cx";
    static const char *const opts[] = { "", "IGNORE=@", "IGNORE=(DV.GT.3)",
                                        "ACCEPT=(EVID.EQ.0) FORMAT=SPACE", "FORMAT=CSV RECORDS=3" };
    int fine = 1, runs = 3000;
    char text[256];
    for (int k = 0; k < runs && fine; k++) {
        size_t n = sizeof seed - 1;
        memcpy(text, seed, n);
        for (int j = 1 + (int)rnd(8); j > 0; j--) {
            unsigned op = rnd(3), at = rnd((unsigned)n);
            if (op == 0) {
                text[at] = alphabet[rnd(sizeof alphabet - 1)];
            } else if (op == 1 && n > 1) {
                memmove(text + at, text + at + 1, n - at - 1);
                n--;
            } else if (n < sizeof text - 1) {
                memmove(text + at + 1, text + at, n - at);
                text[at] = alphabet[rnd(sizeof alphabet - 1)];
                n++;
            }
        }
        Run r;
        run_model(&r, opts[k % 5], "ID TIME DV AMT EVID MDV CMT RATE II ADDL SS WT", ORAL);
        int e0 = diag_errors(r.d);
        Dataset *ds = data_parse(r.a, r.d, r.m, "d.csv", text, n);
        fine = ds ? diag_errors(r.d) == e0 && consistent(ds, 2) : diag_errors(r.d) > e0;
        if (!fine)
            printf("# input %d:\n%.*s\n# got:\n%s", k, (int)n, text, run_out(&r));
        run_free(&r);
    }
    ok(fine, "%d mutated datasets: each read to a consistent dataset or errors", runs);
}

/* ---------------------------------------------------------------------
 * The corpus of broken datasets
 * ------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The value of a "# key: value" line of the fixture, into buf. */
static void directive(const char *text, const char *key, char *buf, size_t cap, const char *dflt)
{
    char pat[64];
    snprintf(pat, sizeof pat, "# %s:", key);
    const char *p = strstr(text, pat);
    if (!p) {
        snprintf(buf, cap, "%s", dflt ? dflt : "");
        return;
    }
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    snprintf(buf, cap, "%.*s", (int)n, p);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = malloc(1 << 16);
    size_t n = fread(s, 1, (1 << 16) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void check_fixture(const char *dir, const char *file)
{
    char path[512], input[256], cmts[256], opts[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *text = slurp(path);
    if (!text) {
        ok(0, "fixture %s: cannot read", path);
        return;
    }
    directive(text, "input", input, sizeof input, "ID TIME DV AMT EVID CMT");
    directive(text, "cmts", cmts, sizeof cmts, ORAL);
    directive(text, "data", opts, sizeof opts, "");
    /* $DATA names the fixture itself; data_read finds it beside "t.qlx" */
    Run r;
    if (!run_model_file(&r, file, opts, input, strcmp(cmts, "none") ? cmts : NULL)) {
        ok(0, "fixture %s: the model does not check", path);
        run_free(&r);
        free(text);
        return;
    }
    char mpath[600];
    snprintf(mpath, sizeof mpath, "%s/t.qlx", dir);
    Dataset *ds = data_read(r.a, r.d, r.m, mpath);
    const char *out = run_out(&r);

    /* every expectation printed */
    int all = 1, nexp = 0, want_err = 0;
    for (const char *p = text; (p = strstr(p, "# expect:")) != NULL;) {
        p += strlen("# expect:");
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, "\r\n");
        char want[700];
        if (*p >= '0' && *p <= '9')
            snprintf(want, sizeof want, "%s:%.*s", path, (int)n, p);
        else
            snprintf(want, sizeof want, "%.*s", (int)n, p);
        nexp++;
        want_err |= strstr(want, ": error: ") != NULL;
        if (!has_line(out, want)) {
            all = 0;
            printf("# missing: %s\n", want);
        }
        p += n;
    }
    /* every error expected */
    for (const char *p = out; *p;) {
        size_t n = strcspn(p, "\n");
        char got[700], key[720];
        snprintf(got, sizeof got, "%.*s", (int)n, p);
        if (strstr(got, ": error: ")) {
            const char *rest = strncmp(got, path, strlen(path)) == 0 && got[strlen(path)] == ':'
                                   ? got + strlen(path) + 1 : got;
            snprintf(key, sizeof key, "# expect: %s", rest);
            if (!strstr(text, key)) {
                all = 0;
                printf("# unexpected: %s\n", got);
            }
        }
        p += n + (p[n] == '\n');
    }
    ok(all && nexp > 0 && (ds == NULL) == want_err, "bad data: %s", file);
    if (!all)
        printf("# got:\n%s", out);
    run_free(&r);
    free(text);
}

static void test_corpus(void)
{
    const char *dir = "tests/data/bad";
    DIR *dp = opendir(dir);
    if (!dp) {
        ok(0, "%s: cannot open (run from the repository root)", dir);
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL && n < 256) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".csv") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        check_fixture(dir, names[i]);
        free(names[i]);
    }
    ok(n >= 20, "the corpus has %d broken datasets", n);
}

int main(void)
{
    test_formats();
    test_header();
    test_ignore();
    test_defaults();
    test_limits();
    test_real();
    test_speed();
    test_survival();
    test_corpus();
    printf("# %d tests, %d failed\n", n_test, n_fail);
    return n_fail ? 1 : 0;
}
