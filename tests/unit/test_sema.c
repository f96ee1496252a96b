/*
 * test_sema.c -- unit tests of sema.c, lower.c and treeval.c.
 *
 * Prints one TAP line per check ("ok N - ..." / "not ok N - ...") and
 * exits 1 if any failed.  What is checked:
 *
 *   accept     the theophylline model and its NONMEM-style twin check
 *              clean, and the Model holds what they declare;
 *   errors     each family of diagnostics, at its line and column, with
 *              the message text the fixtures of tests/errors match;
 *   lowering   tape evaluation of the lowered graph equals treeval's
 *              direct evaluation of the syntax tree to 1e-14 (relative),
 *              for $PK, $DES and $ERROR, at seeded random inputs;
 *   jacobian   the symbolic $DES Jacobian against central differences of
 *              treeval to 1e-6.
 *
 * Models are parsed from strings with parse_string(); diagnostics go to a
 * memory stream and are searched for "t.qlx:LINE:COL: error: message".
 */
#include "lower.h"
#include "parse.h"
#include "sema.h"
#include "tape.h"
#include "treeval.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Harness
 * ------------------------------------------------------------------- */

#include "tap.h"

/* One compilation: the arena, what the Diag printed, the model. */
typedef struct {
    Arena *a;
    Diag *d;
    Ast *ast;
    Model *m;
    char *out;            /* the diagnostics, NUL-terminated */
    size_t outlen;
    FILE *mem;
} Run;

static void run_model(Run *r, const char *src)
{
    memset(r, 0, sizeof *r);
    r->a = mem_arena_new();
    r->mem = open_memstream(&r->out, &r->outlen);
    r->d = diag_new(r->a, r->mem);
    diag_set_limit(r->d, 100);
    r->ast = parse_string(r->a, r->d, "t.qlx", src, strlen(src), NULL);
    if (r->ast && diag_errors(r->d) == 0)
        r->m = sema_check(r->a, r->d, r->ast);
    fflush(r->mem);
}

static void run_free(Run *r)
{
    fclose(r->mem);
    free(r->out);
    mem_arena_free(&r->a);
}

/* The model's header: lines 1-13; tests append records from line 14. */
#define HEAD                                                  \
    "$PROBLEM t\n"                                            \
    "$DATA theo.csv IGNORE=@\n"                               \
    "$INPUT ID TIME DV AMT EVID CMT WT\n"                      \
    "$COMPARTMENTS depot(dose) central(observe)\n"            \
    "$THETA\n"                                                \
    "  tka = 0.45\n"                                          \
    "  tcl = 1.0\n"                                           \
    "  tv  = 3.45 (0, 10)\n"                                  \
    "$OMEGA\n"                                                \
    "  eta_ka ~ 0.6\n"                                        \
    "  BLOCK(2) eta_cl eta_v ~ 0.07 0.01 0.02\n"              \
    "$SIGMA\n"                                                \
    "  eps_add ~ 0.5\n"

/* Lines 14-17, 18-20, 21-23. */
#define PK                                                    \
    "$PK\n"                                                   \
    "  KA = exp(tka + eta_ka)\n"                              \
    "  CL = exp(tcl + eta_cl) * (WT/70)^0.75\n"               \
    "  V  = exp(tv  + eta_v)\n"
#define DES                                                   \
    "$DES\n"                                                  \
    "  d/dt(depot)   = -KA*depot\n"                           \
    "  d/dt(central) =  KA*depot - CL/V*central\n"
#define ERR                                                   \
    "$ERROR\n"                                                \
    "  IPRED = central / V\n"                                 \
    "  Y = IPRED + eps_add\n"

/* src must give, among its diagnostics, "t.qlx:<want>" for each want
 * (a NULL-terminated list), and fail to check when one is an error. */
static void expect(const char *what, const char *src, ...)
{
    Run r;
    run_model(&r, src);
    va_list ap;
    va_start(ap, src);
    int all = 1, errors = 0;
    const char *w;
    char line[512];
    while ((w = va_arg(ap, const char *))) {
        snprintf(line, sizeof line, "t.qlx:%s\n", w);
        if (!strstr(r.out, line)) {
            all = 0;
            printf("# missing: %s", line);
        }
        errors |= strstr(w, ": error: ") != NULL;
    }
    va_end(ap);
    if (!all)
        printf("# got:\n%s", r.out);
    ok(all && (!errors || r.m == NULL), "%s", what);
    run_free(&r);
}

static void expect_clean(const char *what, const char *src)
{
    Run r;
    run_model(&r, src);
    int clean = r.m && diag_errors(r.d) == 0 && diag_warnings(r.d) == 0;
    if (!clean)
        printf("# got:\n%s", r.out);
    ok(clean, "%s", what);
    run_free(&r);
}

/* ---------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------- */

/* The theophylline model of docs/language.md and examples/theophylline.
 * (The design sketch's `add*EPS` is not the language: the name of a
 * $SIGMA entry is the epsilon; see the "bare EPS" error below.) */
static const char theo[] =
    "$PROBLEM  Theophylline, one compartment, first-order absorption\n"
    "$DATA     theo_sd.csv IGNORE=@\n"
    "$INPUT    ID TIME DV AMT EVID CMT WT\n"
    "\n"
    "$COMPARTMENTS depot(dose) central(observe)\n"
    "\n"
    "$THETA\n"
    "  tka = 0.45            ; log ka (1/h)\n"
    "  tcl = 1.0             ; log CL (L/h)\n"
    "  tv  = 3.45  (0, 10)   ; log V (L), bounded\n"
    "$OMEGA\n"
    "  eta_ka ~ 0.6\n"
    "  BLOCK(2) eta_cl eta_v ~ 0.07 0.01 0.02\n"
    "$SIGMA\n"
    "  eps_add ~ 0.5\n"
    "\n"
    "$PK\n"
    "  KA = exp(tka + eta_ka)\n"
    "  CL = exp(tcl + eta_cl) * (WT/70)^0.75\n"
    "  V  = exp(tv  + eta_v)\n"
    "\n"
    "$DES\n"
    "  d/dt(depot)   = -KA*depot\n"
    "  d/dt(central) =  KA*depot - CL/V*central\n"
    "\n"
    "$ERROR\n"
    "  IPRED = central / V\n"
    "  Y = IPRED + eps_add\n"
    "\n"
    "$ESTIMATION METHOD=FOCEI MAXEVAL=9999\n"
    "$COVARIANCE\n"
    "$TABLE ID TIME DV PRED IPRED CWRES ETAS FILE=sdtab.csv\n";

/* Two compartments, oral, with every function, every if spelling,
 * locals in $DES and a time-dependent branch on T. */
static const char two_cmt[] =
    "$PROBLEM two compartments, oral\n"
    "$DATA d.csv IGNORE=@\n"
    "$INPUT ID TIME DV=CONC AMT EVID CMT WT SEX SITE=DROP\n"
    "$COMPARTMENTS depot(dose) central(observe) periph\n"
    "$THETA\n"
    "  tka = 0.4\n"
    "  tcl = 1.6\n"
    "  tvc = 3.9\n"
    "  tq = (0, 2.3, 10)\n"
    "  tvp = 4.6\n"
    "  tsex = 0.1\n"
    "  0.75 FIX\n"
    "$OMEGA\n"
    "  eta_ka ~ 0.3 SD\n"
    "  BLOCK(2) eta_cl eta_vc ~ 0.3 0.5 0.2 SD CORRELATION\n"
    "$SIGMA\n"
    "  eps_prop ~ 0.04\n"
    "  eps_add ~ 0.1\n"
    "$PK\n"
    "  FSEX = 1\n"
    "  if (SEX == 1) FSEX = exp(tsex)\n"
    "  if (WT > 100) {\n"
    "    FWT = 1.2\n"
    "  } else if (WT > 70) {\n"
    "    FWT = 1.1\n"
    "  } else {\n"
    "    FWT = (WT/70)^THETA(7)\n"
    "  }\n"
    "  IF (WT.GT.0 .AND. .NOT. WT.GT.500) THEN\n"
    "    WTN = WT/70\n"
    "  ELSE\n"
    "    WTN = 1\n"
    "  ENDIF\n"
    "  KA  = softplus(tka + eta_ka)\n"
    "  CL  = exp(tcl + eta_cl) * FSEX * FWT * WTN**0.1\n"
    "  VC  = exp(tvc + eta_vc) * max(WT/70, 0.5, 0.6)\n"
    "  Q   = pow(tq, 1.5)\n"
    "  VP  = exp(tvp) * (1 + 0.1*phi(eta_cl))\n"
    "  K   = CL / VC\n"
    "  K12 = Q / VC\n"
    "  K21 = Q / VP\n"
    "  MIX = expit(tka) + logit(0.3) + abs(-tka) + sqrt(VP) + log10(VC) + log(VP)\n"
    "  MIX = MIX + sin(tq) + cos(tq) + tanh(eta_ka) - -TIME + ETA(1)*THETA(1)\n"
    "$DES\n"
    "  CP = central / VC\n"
    "  EFF = min(CP, 10, 20)\n"
    "  if (T > 12) {\n"
    "    d/dt(depot) = -KA*depot\n"
    "  } else {\n"
    "    d/dt(depot) = -KA*depot*(1 + 0.01*MIX)\n"
    "  }\n"
    "  d/dt(central) = KA*depot - (K + K12)*central + K21*periph - 0.01*EFF*central*WT/70\n"
    "  d/dt(periph)  = K12*central - K21*periph + 0*T + 0.001*tvp*eta_vc*central\n"
    "$ERROR\n"
    "  IPRED = central / VC\n"
    "  W = sqrt(IPRED^2*0.04 + 0.1)\n"
    "  if (IPRED <= 0 || CONC < 0) W = 1\n"
    "  Y = IPRED*(1 + eps_prop) + eps_add\n"
    "  IRES = CONC - IPRED\n"
    "  IWRES = IRES / W\n"
    "  PEAK = A(2) / VC * (TIME > 0 && !(TIME > 100)) + EPS(2)*ERR(1)\n"
    "$ESTIMATION METHOD=FOCE INTERACTION\n";

/* examples/nonmem-style/run1.qlx, the NONMEM spelling throughout. */
static const char nonmem[] =
    "$PROB  run1\n"
    "$INP   ID TIME DV AMT EVID CMT WT\n"
    "$DATA  theo_sd.csv IGNORE=@\n"
    "$MODEL depot(dose) central(observe)\n"
    "$THE\n"
    "  (0, 1.5, 10)\n"
    "  (0, 2.8)\n"
    "  (0, 32, 200)\n"
    "  0.75 FIX\n"
    "$OME\n"
    "  ome1 ~ 0.4\n"
    "  ome2 ~ 0.07\n"
    "  ome3 ~ 0.02\n"
    "$SIG\n"
    "  sig1 ~ 0.02\n"
    "  sig2 ~ 0.1\n"
    "$PK\n"
    "  IF (WT.GT.0) THEN\n"
    "    WTE = WT\n"
    "  ELSE\n"
    "    WTE = 70\n"
    "  ENDIF\n"
    "  TVKA = THETA(1)\n"
    "  TVCL = THETA(2)*(WTE/70)**THETA(4)\n"
    "  TVV  = THETA(3)\n"
    "  KA = TVKA*EXP(ETA(1))\n"
    "  CL = TVCL*EXP(ETA(2))\n"
    "  V  = TVV*EXP(ETA(3))\n"
    "  K  = CL/V\n"
    "  S2 = V\n"
    "$DES\n"
    "  DADT(1) = -KA*A(1)\n"
    "  DADT(2) =  KA*A(1) - K*A(2)\n"
    "$ERROR\n"
    "  IPRED = A(2)/S2\n"
    "  W = IPRED\n"
    "  IF (W.EQ.0) W = 1\n"
    "  IRES  = DV - IPRED\n"
    "  IWRES = IRES/W\n"
    "  Y = IPRED*(1 + EPS(1)) + EPS(2)\n"
    "$EST  METHOD=FOCE INTERACTION MAXEVAL=9999 PRINT=5 POSTHOC\n"
    "$COV\n"
    "$TAB  ID TIME DV IPRED IWRES CWRES NOPRINT ONEHEADER FILE=sdtab1\n";

/* ---------------------------------------------------------------------
 * accept: the checked model
 * ------------------------------------------------------------------- */

static int var_index(const Model *m, const char *name)
{
    for (int i = 0; i < m->nvars; i++)
        if (strcmp(m->vars[i].name, name) == 0)
            return i;
    return -1;
}

/* Every name of every code statement resolved to something. */
static int refs_filled(const Expr *e)
{
    if (!e)
        return 1;
    if ((e->kind == EX_NAME || e->kind == EX_INDEXED || e->kind == EX_CALL) &&
        e->ref.kind == REF_NONE)
        return 0;
    int r = refs_filled(e->lhs) && refs_filled(e->rhs);
    for (int i = 0; i < e->nargs; i++)
        r = r && refs_filled(e->args[i]);
    return r;
}

static int stmts_filled(Stmt *const *v, int n)
{
    for (int i = 0; i < n; i++) {
        const Stmt *st = v[i];
        if (st->kind == ST_IF) {
            for (int k = 0; k < st->narms; k++)
                if (!refs_filled(st->arms[k].cond) ||
                    !stmts_filled(st->arms[k].body, st->arms[k].nbody))
                    return 0;
        } else if ((st->kind == ST_ASSIGN && st->ref.kind != REF_VAR) ||
                   (st->kind == ST_DDT && st->ref.kind != REF_CMT) || !refs_filled(st->value)) {
            return 0;
        }
    }
    return 1;
}

static void test_accept(void)
{
    Run r;
    run_model(&r, theo);
    const Model *m = r.m;
    ok(m && diag_errors(r.d) == 0 && diag_warnings(r.d) == 0, "theophylline checks clean");
    if (!m) {
        printf("# got:\n%s", r.out);
        run_free(&r);
        return;
    }
    ok(m->nthetas == 3 && strcmp(m->thetas[2].name, "tv") == 0 && m->thetas[2].lo == 0 &&
           m->thetas[2].hi == 10 && m->thetas[0].lo == -INFINITY && m->thetas[0].hi == INFINITY,
       "THETAs with bounds, open bounds infinite");
    ok(m->omega.n == 3 && m->omega.nblocks == 2 && m->omega.block_full[1] &&
           m->omega.block_size[1] == 2 && m->omega.cov[0] == 0.6 &&
           m->omega.cov[1 * 3 + 1] == 0.07 && m->omega.cov[2 * 3 + 1] == 0.01 &&
           m->omega.cov[1 * 3 + 2] == 0.01 && m->omega.cov[2 * 3 + 2] == 0.02 &&
           m->omega.cov[0 * 3 + 1] == 0,
       "OMEGA: a diagonal entry and a BLOCK(2), full symmetric covariance");
    ok(m->sigma.n == 1 && strcmp(m->sigma.names[0], "eps_add") == 0, "SIGMA names the epsilon");
    ok(m->ncmts == 2 && m->cmts[0].dose && !m->cmts[0].observe && m->cmts[1].observe,
       "compartments and roles");
    ok(m->ncols == 7 && m->role_col[COL_DV] == 2 && m->role_col[COL_TIME] == 1 &&
           m->cols[6].role == COL_COVARIATE && m->role_col[COL_RATE] == -1,
       "columns and data-item roles");
    ok(m->nvars == 5 && m->vars[var_index(m, "CL")].rec == REC_PK &&
           m->vars[var_index(m, "Y")].rec == REC_ERROR,
       "variables and their records");
    ok(m->pk.n == 3 && m->des.n == 2 && m->error.n == 2 && !m->hybrid.rec,
       "statement lists of the code records");
    ok(stmts_filled(m->pk.stmts, m->pk.n) && stmts_filled(m->des.stmts, m->des.n) &&
           stmts_filled(m->error.stmts, m->error.n),
       "every name, call and target has its ref");
    ok(m->nests == 1 && m->ests[0].method == EST_FOCEI && m->ests[0].maxeval == 9999 &&
           m->ests[0].seed == -1 && isnan(m->ests[0].rtol),
       "estimation step");
    ok(m->cov.present && m->cov.matrix == COV_SANDWICH, "covariance step");
    ok(m->ntables == 1 && m->tables[0].nitems == 7 && strcmp(m->tables[0].file, "sdtab.csv") == 0,
       "table");
    ok(m->data.path && strcmp(m->data.path, "theo_sd.csv") == 0 && m->data.ignore_char == '@',
       "data path and IGNORE=@");
    ok(m->title && strstr(m->title, "Theophylline") != NULL, "title");
    run_free(&r);

    run_model(&r, two_cmt);
    m = r.m;
    ok(m && diag_errors(r.d) == 0, "two-compartment model checks clean");
    if (!m) {
        printf("# got:\n%s", r.out);
        run_free(&r);
        return;
    }
    ok(m->role_col[COL_DV] == 2 && strcmp(m->cols[2].alias, "CONC") == 0 &&
           m->cols[8].role == COL_DROPPED,
       "DV=CONC is the DV column; SITE=DROP is dropped");
    ok(fabs(m->omega.cov[0] - 0.09) < 1e-15 && fabs(m->omega.cov[1 * 3 + 1] - 0.09) < 1e-15 &&
           fabs(m->omega.cov[2 * 3 + 2] - 0.04) < 1e-15 &&
           fabs(m->omega.cov[2 * 3 + 1] - 0.5 * 0.3 * 0.2) < 1e-15,
       "SD and CORRELATION become variances and covariances");
    ok(m->nthetas == 7 && !m->thetas[6].named && strcmp(m->thetas[6].name, "THETA(7)") == 0 &&
           m->thetas[6].fix && m->thetas[3].lo == 0 && m->thetas[3].init == 2.3,
       "unnamed and NONMEM-form THETAs");
    ok(m->ests[0].method == EST_FOCEI && m->ests[0].interaction,
       "METHOD=FOCE INTERACTION is FOCEI");
    ok(m->vars[var_index(m, "CP")].rec == REC_DES, "$DES locals are variables of $DES");
    ok(stmts_filled(m->pk.stmts, m->pk.n) && stmts_filled(m->des.stmts, m->des.n) &&
           stmts_filled(m->error.stmts, m->error.n),
       "every name has its ref (two compartments)");
    run_free(&r);

    expect_clean("the NONMEM spelling checks clean", nonmem);
}

/* ---------------------------------------------------------------------
 * errors, one family at a time
 * ------------------------------------------------------------------- */

static void test_names(void)
{
    expect("undefined name, with a did-you-mean",
           HEAD PK DES "$ERROR\n  IPRED = centrl / V\n  Y = IPRED + eps_add\n",
           "22:11: error: undefined name 'centrl'", NULL);
    expect("unknown function and argument counts",
           HEAD PK "  Z = expp(1) + exp(1, 2) + min(1) + pow(2)\n" DES ERR,
           "18:7: error: unknown function 'expp'",
           "18:17: error: 'exp' takes 1 argument, got 2",
           "18:29: error: 'min' takes at least 2 arguments, got 1",
           "18:38: error: 'pow' takes 2 arguments, got 1", NULL);
    expect("duplicate declarations, with a note at the first",
           HEAD PK DES ERR "$THETA\n  eta_cl = 2\n",
           "25:3: error: 'eta_cl' is already declared",
           "11:12: note: 'eta_cl' was first declared here, as an ETA", NULL);
    expect("a column and a compartment of the same name",
           "$PROBLEM t\n$DATA d.csv\n$INPUT ID TIME DV central\n"
           "$COMPARTMENTS central\n$DES\n  d/dt(central) = -central\n",
           "4:15: error: 'central' is already declared",
           "3:19: note: 'central' was first declared here, as a column", NULL);
    expect("bare EPS: the $SIGMA name is the epsilon",
           HEAD PK DES "$ERROR\n  Y = central/V + 0.5*EPS\n",
           "22:23: error: 'EPS' needs an index, as in EPS(1)", NULL);
    expect("visibility: EPS in $PK, amounts in $PK, T outside $DES, TIME in $DES",
           HEAD "$PK\n  KA = exp(tka + eta_ka) + eps_add + central + T\n"
                "  CL = exp(tcl + eta_cl)\n  V = exp(tv + eta_v)\n"
                "$DES\n  d/dt(depot) = -KA*depot + TIME\n  d/dt(central) = -CL/V*central\n" ERR,
           "15:28: error: EPS 'eps_add' can only be used in $ERROR",
           "15:38: error: compartment 'central' cannot be used in $PK",
           "15:48: error: 'T' is only defined in $DES",
           "19:29: error: 'TIME' cannot be used in $DES", NULL);
    expect("index out of range",
           HEAD PK DES ERR "  Z = THETA(4) + ETA(4) + EPS(2) + A(3)\n",
           "24:7: error: THETA(4) is out of range: the model has 3 THETAs",
           "24:18: error: ETA(4) is out of range: the model has 3 ETAs",
           "24:27: error: EPS(2) is out of range: the model has 1 EPS",
           "24:36: error: A(3) is out of range: the model has 2 compartments", NULL);
    expect("lua calls need $LUA; linear only in $HYBRID",
           HEAD PK "  Z = lua.egfr(WT) + linear(1)\n" DES ERR,
           "18:7: error: lua.egfr() needs a $LUA record",
           "18:22: error: 'linear' is only available in $HYBRID", NULL);
    expect_clean("lua calls with a $LUA record",
                 HEAD "$LUA hooks.lua\n" PK "  Z = lua.egfr(WT)\n" DES ERR);
}

static void test_assign(void)
{
    expect("assignment to parameters, data and compartments",
           HEAD PK "  tcl = 2\n  THETA(1) = 3\n  eta_ka = 1\n  WT = 3\n  central = 1\n  TIME = 1\n"
                DES ERR "  eps_add = 1\n",
           "18:3: error: cannot assign to THETA 'tcl'",
           "19:3: error: cannot assign to THETA(1)",
           "20:3: error: cannot assign to ETA 'eta_ka'",
           "21:3: error: cannot assign to column 'WT'",
           "22:3: error: cannot assign to compartment 'central'",
           "23:3: error: cannot assign to column 'TIME'",
           "30:3: error: cannot assign to EPS 'eps_add'", NULL);
    expect("a $PK variable cannot be reassigned in $ERROR",
           HEAD PK DES ERR "  CL = 2\n",
           "24:3: error: 'CL' belongs to $PK and cannot be assigned in $ERROR",
           "16:3: note: 'CL' is defined here", NULL);
}

static void test_des(void)
{
    expect("d/dt outside $DES, of an unknown compartment, twice, DADT out of range",
           HEAD PK "  d/dt(depot) = 1\n"
                "$DES\n  d/dt(centrl) = 1\n  d/dt(depot) = -KA*depot\n  DADT(3) = 1\n"
                "  d/dt(depot) = 2\n" ERR,
           "18:3: error: d/dt is only allowed in $DES",
           "20:8: error: undefined compartment 'centrl'",
           "22:3: error: DADT(3) is out of range: the model has 2 compartments",
           "23:8: error: d/dt(depot) is already given",
           "21:8: note: first given here", NULL);
    expect("a compartment without its d/dt",
           HEAD PK "$DES\n  d/dt(depot) = -KA*depot\n" ERR,
           "18:1: error: compartment 'central' has no d/dt in $DES", NULL);
    expect("a d/dt set on one path only",
           HEAD PK "$DES\n  d/dt(depot) = -KA*depot\n  if (T > 1) d/dt(central) = 1\n" ERR,
           "20:19: error: d/dt(central) is not set on every path", NULL);
    expect_clean("a d/dt in every branch",
                 HEAD PK "$DES\n  d/dt(depot) = -KA*depot\n"
                 "  if (T > 1) {\n    d/dt(central) = 1\n  } else {\n    d/dt(central) = 2\n  }\n" ERR);
    expect("$DES needs $COMPARTMENTS",
           "$PROBLEM t\n$DES\n  X = 1\n", "2:1: error: $DES needs a $COMPARTMENTS record", NULL);
    expect("$DES locals are not visible in $ERROR",
           HEAD PK DES "  CP = central / V\n" ERR "  Z = CP\n",
           "25:7: error: 'CP' is local to $DES", NULL);
}

static void test_order(void)
{
    expect("use before definition, with the definition noted",
           HEAD "$PK\n  Q = KA\n  KA = exp(tka + eta_ka)\n  CL = exp(tcl + eta_cl)\n"
                "  V = exp(tv + eta_v)\n" DES ERR,
           "15:7: error: 'KA' is used before it is defined",
           "16:3: note: 'KA' is defined here", NULL);
    expect("across records: $PK reads a $ERROR variable",
           HEAD PK "  Z = IPRED\n" DES ERR,
           "18:7: error: 'IPRED' is used before it is defined",
           "23:3: note: 'IPRED' is defined here, in $ERROR", NULL);
    expect("cyclic definitions",
           HEAD PK DES ERR "  X = X + 1\n  P = Q + 1\n  Q = P / 2\n",
           "24:7: error: cyclic definition: 'X' depends on itself",
           "25:7: error: cyclic definition: 'P' depends on 'Q', which depends on 'P'", NULL);
    expect("assigned in some branches only",
           HEAD PK "  if (WT > 70) {\n    F = 1\n  }\n  G = F\n"
                "  if (WT > 70) H = 1\n  if (WT > 90) {\n    H = 2\n  } else if (WT > 50) {\n"
                "    H = 3\n  }\n  J = H\n" DES ERR,
           "21:7: error: 'F' may be undefined here",
           "28:7: error: 'H' may be undefined here", NULL);
    expect_clean("defined before the if, or in every branch",
                 HEAD PK "  F = 0\n  if (WT > 70) F = 1\n  G = F\n"
                 "  if (WT > 70) {\n    H = 1\n  } else {\n    H = 2\n  }\n  J = H + G\n" DES ERR);
}

static void test_records(void)
{
    expect("once-only records",
           HEAD PK DES ERR "$COVARIANCE\n$COVARIANCE\n$PROBLEM again\n",
           "25:1: error: duplicate $COVARIANCE record",
           "24:1: note: the first $COVARIANCE record is here",
           "26:1: error: duplicate $PROBLEM record", NULL);
    expect_clean("$ERROR may reuse the name of a $DES local for its own variable",
                 "$PROBLEM t\n$COMPARTMENTS c(dose, observe)\n$THETA\n  k = 1\n  v = 10\n"
                 "$DES\n  CP = c/v\n  d/dt(c) = -k*CP*v\n$ERROR\n  CP = c/v\n  Y = CP\n");
    expect_clean("$PK, $DES, $ERROR and $COMPARTMENTS repeat and join in file order",
                 HEAD PK DES ERR "$PK\n  Z = 1\n$COMPARTMENTS effect\n$DES\n  d/dt(effect) = Z - effect\n"
                 "$ERROR\n  W = Z + effect\n");
    expect("$DATA without $INPUT, and the other way round",
           "$PROBLEM t\n$DATA d.csv\n", "2:1: error: $DATA needs an $INPUT record", NULL);
    expect("$INPUT without $DATA",
           "$PROBLEM t\n$INPUT ID TIME DV\n", "2:1: error: $INPUT needs a $DATA record", NULL);
    expect("option names and value kinds",
           HEAD PK DES ERR
           "$ESTIMATION METHOD=FOCEE MAXEVAL=9.5 MAXEVL=3 INTERACTION=1 SIGDIG=abc\n"
           "$ESTIMATION MAXEVAL PRINT=2 PRINT=3\n",
           "24:20: error: invalid value 'FOCEE' for 'METHOD'",
           "24:34: error: 'MAXEVAL' needs an integer, got '9.5'",
           "24:38: error: unknown option 'MAXEVL' for $ESTIMATION",
           "24:59: error: 'INTERACTION' takes no value",
           "24:68: error: 'SIGDIG' needs a number, got 'abc'",
           "25:13: error: 'MAXEVAL' needs a value",
           "25:29: error: option 'PRINT' is given twice", NULL);
    expect("the allowed words of an enum are listed",
           HEAD PK DES ERR "$COVARIANCE MATRIX=Q\n",
           "24:20: error: invalid value 'Q' for 'MATRIX'", NULL);
    {
        Run r;
        run_model(&r, HEAD PK DES ERR "$COVARIANCE MATRIX=Q\n");
        ok(strstr(r.out, "hint: did you mean 'R'? MATRIX is one of R, S or SANDWICH") != NULL,
           "enum hint lists the words");
        run_free(&r);
    }
    expect("filters name $INPUT columns",
           "$PROBLEM t\n$DATA d.csv IGNORE=(DOSE.EQ.0) IGNORE=xy\n$INPUT ID TIME DV\n",
           "2:21: error: unknown column 'DOSE' in filter",
           "2:39: error: 'IGNORE' needs a character or a list of filters", NULL);
    expect("table items",
           HEAD PK DES ERR "$TABLE ID IPRD CL eps_add FILE=t.csv\n",
           "24:11: error: unknown table item 'IPRD'",
           "24:19: error: unknown table item 'eps_add'", NULL);
}

static void test_declarations(void)
{
    expect("THETA bounds and transforms",
           HEAD PK DES ERR
           "$THETA\n  a1 = 5 (0, 1)\n  a2 = 1 (2, 1)\n  a3 = 0.5 (0, ) TRANSFORM=exp\n"
           "  a4 = -1 TRANSFORM=log\n  a5 = 5 (0, 1) FIX\n",
           "25:3: error: initial value 5 is outside its bounds (0, 1)",
           "26:3: error: lower bound 2 is not below upper bound 1",
           "27:28: error: unknown transform 'exp'",
           "28:21: error: TRANSFORM=log needs a positive initial value, got -1", NULL);
    expect("OMEGA shapes and values",
           HEAD PK DES ERR
           "$OMEGA\n  BLOCK(2) o1 o2 o3 ~ 1 0 1\n  o4 ~ 0\n  BLOCK(2) p1 p2 ~ 1 2 1\n"
           "  BLOCK(2) q1 q2 ~ 1 1.5 1 CORRELATION\n  r1 ~ 1 CORRELATION\n"
           "  BLOCK(2) p3 p4 ~ 1 0 1 2\n",
           "25:3: error: BLOCK(2) needs 2 names, got 3",
           "26:8: error: variance of ETA 'o4' must be positive, got 0",
           "27:3: error: BLOCK(2) is not positive definite",
           "28:22: error: correlation 1.5 is not between -1 and 1",
           "29:3: error: CORRELATION needs a BLOCK",
           "30:3: error: BLOCK(2) needs 3 values, got 4", NULL);
    expect("SIGMA: one value per name",
           HEAD PK DES ERR "$SIGMA\n  s1 s2 ~ 0.1 0.2 0.3\n",
           "25:3: error: 2 names need 2 values, got 3", NULL);
    expect("compartment roles",
           "$PROBLEM t\n$COMPARTMENTS central(obs)\n$DES\n  d/dt(central) = -central\n",
           "2:23: error: unknown role 'obs' for compartment 'central'", NULL);
    expect("input: two data items in one column",
           "$PROBLEM t\n$DATA d.csv\n$INPUT ID TIME DV=AMT\n",
           "3:19: error: 'DV=AMT' names two data items", NULL);
    expect("priors",
           HEAD PK DES ERR
           "$PRIOR\n  tcl ~ normal(1, 0.5)\n  tvv ~ normal(1, 1)\n  OMEGA ~ normal(1, 1)\n"
           "  tv ~ iwishart(3)\n  tka ~ normal(1)\n  tcl ~ lognormal(0, 1)\n  tv ~ gamma(1, 2)\n",
           "26:3: error: 'tvv' is not a THETA; priors are on THETAs or OMEGA",
           "27:11: error: a prior on OMEGA must be iwishart(df)",
           "28:8: error: a prior on THETA 'tv' must be normal or lognormal",
           "29:9: error: 'normal' takes 2 arguments, got 1",
           "30:3: error: 'tcl' already has a prior",
           "31:8: error: unknown prior distribution 'gamma'", NULL);
}

static void test_directives(void)
{
    static const char hq[] =
        "$PROBLEM hybrid\n"
        "$DATA     iv.csv\n"
        "$INPUT    ID TIME DV AMT EVID CMT\n"
        "$COMPARTMENTS central(dose, observe)\n"
        "$THETA\n"
        "  ke = 0.5 (0, ) TRANSFORM=softplus\n"
        "$OMEGA\n"
        "  eta ~ 0.1\n"
        "$QUANTUM q\n"
        "  QUBIT  1\n"
        "  QUBITS x\n"
        "  ENCODE  ryy(TIM) SCALE 0.1 REUPLOAD=1\n"
        "  ANSATZ  euler(rz, rx, rz) LAYERS 2.5 LAYER=3\n"
        "  MEASURE z(0)\n"
        "  SHOTS 100 SEED\n"
        "$NETWORK c\n"
        "  INPUTS  TIME WTT\n"
        "  DENSE   1 -> 16 tnh -> 1\n"
        "  DENSE   1 -> x\n"
        "$HYBRID\n"
        "  C = 1*linear(q) + 1*c + eta + central\n"
        "  D = linear(2)\n"
        "$PK\n"
        "  Z = q + exp(ke)\n"
        "$DES\n"
        "  d/dt(central) = -ke*central\n"
        "$LOSS\n"
        "  DATA    1\n"
        "  PHYSICS 1 COLLOCATION 6.5 OVER 3\n"
        "  INITIAL\n"
        "  FOO 1\n";
    expect("directive shapes, hybrid names", hq,
           "10:3: error: unknown directive 'QUBIT' in $QUANTUM",
           "11:10: error: 'QUBITS' expects an integer, got 'x'",
           "12:11: error: unknown function 'ryy' in $QUANTUM",
           "12:15: error: 'TIM' is not a data column",
           "12:30: error: 'REUPLOAD' takes no value",
           "13:36: error: 'LAYERS' expects an integer, got '2.5'",
           "13:40: error: 'ANSATZ' has no option 'LAYER'",
           "15:13: error: 'SEED' expects an integer",
           "17:16: error: 'WTT' is not a data column",
           "18:19: error: unknown activation 'tnh'",
           "19:16: error: 'DENSE' expects a layer size, got 'x'",
           "21:27: error: ETA 'eta' cannot be used in $HYBRID",
           "21:33: error: compartment 'central' cannot be used in $HYBRID",
           "22:14: error: linear() takes a $QUANTUM or $NETWORK name",
           "24:7: error: network 'q' can only be used in $HYBRID and $DES",
           "29:25: error: 'COLLOCATION' expects an integer, got '6.5'",
           "29:34: error: 'OVER' expects a tuple (a, b), got '3'",
           "30:3: error: 'INITIAL' expects a number",
           "31:3: error: unknown directive 'FOO' in $LOSS", NULL);

    static const char good[] =
        "$PROBLEM PI-HQNN\n"
        "$DATA     iv_bolus.csv IGNORE=@\n"
        "$INPUT    ID TIME DV AMT EVID CMT\n"
        "$COMPARTMENTS central(dose, observe)\n"
        "$THETA\n"
        "  ke = 0.5 (0, ) TRANSFORM=softplus\n"
        "$QUANTUM q\n"
        "  QUBITS  1\n"
        "  ENCODE  ry(TIME) SCALE 0.1\n"
        "  ANSATZ  euler(rz, rx, rz) LAYERS 2\n"
        "  MEASURE z(0)\n"
        "$NETWORK c\n"
        "  INPUTS  TIME\n"
        "  DENSE   1 -> 16 tanh -> 1\n"
        "$HYBRID\n"
        "  C = 1*linear(q) + 1*c\n"
        "$DES\n"
        "  d/dt(central) = -ke*central\n"
        "$LOSS\n"
        "  DATA    1\n"
        "  PHYSICS 1 COLLOCATION 60 OVER (0, 24)\n"
        "  INITIAL 1\n"
        "$ERROR\n"
        "  Y = C\n"
        "$ESTIMATION METHOD=ADAM LR=0.01 EPOCHS=800 SEED=2025\n";
    Run r;
    run_model(&r, good);
    const Model *m = r.m;
    ok(m && diag_errors(r.d) == 0, "the PI-HQNN model checks clean");
    if (!m)
        printf("# got:\n%s", r.out);
    ok(m && m->nnets == 2 && m->nets[0].kind == REC_QUANTUM && m->loss.present &&
           m->loss.physics == 1 && m->loss.collocation == 60 && m->loss.over_hi == 24 &&
           m->thetas[0].transform == XF_SOFTPLUS && m->ests[0].method == EST_ADAM &&
           m->vars[0].rec == REC_HYBRID,
       "networks, loss, transform and method in the model");
    if (m) {
        LowerInfo li;
        Graph *g = lower_model(r.a, m, &li);
        int c_out = -1;
        for (int i = 0; g && i < graph_noutputs(g); i++)
            if (strcmp(graph_output_name(g, i), "C") == 0)
                c_out = i;
        /* C = 1*linear(q) + 1*c at q = 0.5, c = 2, a = 3, b = -1: 3*0.5 - 1 + 2 */
        double net[2] = { 0.5, 2 }, hyb[2] = { 3, -1 };
        GInputs in = { { 0 } };
        in.v[GIN_NET] = net;
        in.v[GIN_HYB] = hyb;
        ok(g && li.nlinear == 1 && li.des_out[0] >= 0 && c_out >= 0 &&
               fabs(graph_eval_direct(g, graph_output(g, c_out), &in) - 2.5) < 1e-15,
           "$HYBRID lowers: C = 1*linear(q) + 1*c is a*q + b + c");
    }
    run_free(&r);
}

static void test_warnings(void)
{
    Run r;
    run_model(&r, HEAD "$THETA\n  tunused = 1\n  0.5\n" PK DES ERR);
    ok(r.m != NULL && diag_errors(r.d) == 0 &&
           strstr(r.out, "t.qlx:15:3: warning: THETA 'tunused' is never used\n") &&
           strstr(r.out, "t.qlx:16:3: warning: THETA(5) is never used\n"),
       "unused THETAs are warned about, and the model is still returned");
    run_free(&r);
    run_model(&r, HEAD "$OMEGA\n  eta_x ~ 0.1\n$SIGMA\n  eps_x ~ 0.1\n" PK DES ERR);
    ok(r.m != NULL && strstr(r.out, "t.qlx:15:3: warning: ETA 'eta_x' is never used\n") &&
           strstr(r.out, "t.qlx:17:3: warning: EPS 'eps_x' is never used\n"),
       "unused ETAs and EPSs are warned about");
    run_free(&r);
}

/* ---------------------------------------------------------------------
 * lowering against the tree
 * ------------------------------------------------------------------- */

static uint64_t rng_state;

static double urand(double lo, double hi)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) / 9007199254740992.0;
}

static int close_rel(double a, double b, double tol)
{
    if (a == b)
        return 1;
    double scale = fmax(fabs(a), fabs(b));
    return fabs(a - b) <= tol * scale;
}

/* Inputs of one evaluation, in the layout of GInputs. */
typedef struct {
    double theta[16], eta[16], eps[16], state[16], data[16], param[64], time[1];
    GInputs in;
} Inputs;

static void random_inputs(Inputs *x, const Model *m)
{
    for (int i = 0; i < m->nthetas; i++)
        x->theta[i] = m->thetas[i].init + urand(-0.3, 0.3);
    for (int i = 0; i < m->omega.n; i++)
        x->eta[i] = urand(-0.5, 0.5);
    for (int i = 0; i < m->sigma.n; i++)
        x->eps[i] = urand(-0.3, 0.3);
    for (int i = 0; i < m->ncmts; i++)
        x->state[i] = urand(0.1, 100);
    for (int i = 0; i < m->ncols; i++)
        x->data[i] = urand(0, 2);
    int wt = -1, sex = -1;
    for (int i = 0; i < m->ncols; i++) {
        if (strcmp(m->cols[i].name, "WT") == 0)
            wt = i;
        if (strcmp(m->cols[i].name, "SEX") == 0)
            sex = i;
    }
    if (wt >= 0)   /* every branch of the weight ifs gets its turn */
        x->data[wt] = urand(0, 1) < 0.1 ? 0 : urand(40, 130);
    if (sex >= 0)
        x->data[sex] = urand(0, 1) < 0.5;
    x->data[m->role_col[COL_DV]] = urand(-1, 10);
    x->time[0] = urand(0, 24);
    x->in.v[GIN_THETA] = x->theta;
    x->in.v[GIN_ETA] = x->eta;
    x->in.v[GIN_EPS] = x->eps;
    x->in.v[GIN_STATE] = x->state;
    x->in.v[GIN_DATA] = x->data;
    x->in.v[GIN_PARAM] = x->param;
    x->in.v[GIN_TIME] = x->time;
}

/* Compiles the outputs of one stage to a tape. */
static Tape *stage_tape(const Graph *g, const int *outs, int n, GNode *nodes)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (outs[i] >= 0)
            nodes[k++] = graph_output(g, outs[i]);
    return tape_compile(g, nodes, k);
}

/* Tape == tree on `trials` random inputs, stage by stage. */
static void test_lower_model(const char *name, const char *src, int trials)
{
    Run r;
    run_model(&r, src);
    const Model *m = r.m;
    if (!m) {
        ok(0, "%s: checks", name);
        printf("# got:\n%s", r.out);
        run_free(&r);
        return;
    }
    LowerInfo li;
    Graph *g = lower_model(r.a, m, &li);
    int nv = m->nvars, nc = m->ncmts;
    int *pk_outs = calloc((size_t)nv + 1, sizeof(int));
    int *err_outs = calloc((size_t)nv + 1, sizeof(int));
    GNode *nodes = calloc((size_t)(nv + nc) + 1, sizeof(GNode));
    for (int i = 0; i < nv; i++) {
        pk_outs[i] = m->vars[i].rec == REC_PK ? li.var_out[i] : -1;
        err_outs[i] = m->vars[i].rec == REC_ERROR ? li.var_out[i] : -1;
    }
    Tape *tpk = stage_tape(g, pk_outs, nv, nodes);
    Tape *tdes = stage_tape(g, li.des_out, nc, nodes);
    Tape *terr = stage_tape(g, err_outs, nv, nodes);
    size_t nw = tape_work_size(tpk);
    if (tape_work_size(tdes) > nw)
        nw = tape_work_size(tdes);
    if (tape_work_size(terr) > nw)
        nw = tape_work_size(terr);
    double *work = calloc(nw + 1, sizeof(double));
    double out[64], vars[64], dadt[16];
    int good[3] = { 1, 1, 1 };
    double worst = 0;
    rng_state = 42;
    for (int t = 0; t < trials; t++) {
        Inputs x;
        memset(&x, 0, sizeof x);
        random_inputs(&x, m);
        /* $PK: outputs in var order, for the PK variables */
        int rc = treeval_run(m, REC_PK, &x.in, vars, NULL);
        tape_eval(tpk, &x.in, work, out);
        for (int i = 0, k = 0; i < nv; i++)
            if (pk_outs[i] >= 0) {
                good[0] &= rc == 0 && close_rel(out[k], vars[i], 1e-14);
                worst = fmax(worst, fabs(out[k] - vars[i]) / fmax(fabs(vars[i]), 1e-300));
                x.param[i] = vars[i];   /* the individual parameters downstream */
                k++;
            }
        rc = treeval_run(m, REC_DES, &x.in, vars, dadt);
        tape_eval(tdes, &x.in, work, out);
        for (int c = 0; c < nc; c++) {
            good[1] &= rc == 0 && close_rel(out[c], dadt[c], 1e-14);
            worst = fmax(worst, fabs(out[c] - dadt[c]) / fmax(fabs(dadt[c]), 1e-300));
        }
        rc = treeval_run(m, REC_ERROR, &x.in, vars, NULL);
        tape_eval(terr, &x.in, work, out);
        for (int i = 0, k = 0; i < nv; i++)
            if (err_outs[i] >= 0) {
                good[2] &= rc == 0 && close_rel(out[k], vars[i], 1e-14);
                worst = fmax(worst, fabs(out[k] - vars[i]) / fmax(fabs(vars[i]), 1e-300));
                k++;
            }
    }
    ok(good[0], "%s: $PK tape == tree at %d random points", name, trials);
    ok(good[1], "%s: $DES tape == tree", name);
    ok(good[2], "%s: $ERROR tape == tree (worst relative difference of all stages %.1e)", name,
       worst);

    /* The symbolic Jacobian against central differences of the tree. */
    int nnz = lower_add_jacobian(g, m, &li);
    int jgood = li.jacobian && nnz > 0, checked = 0;
    double jworst = 0;
    for (int t = 0; t < trials / 10 + 1; t++) {
        Inputs x;
        memset(&x, 0, sizeof x);
        random_inputs(&x, m);
        treeval_run(m, REC_PK, &x.in, vars, NULL);
        for (int i = 0; i < nv; i++)
            x.param[i] = m->vars[i].rec == REC_PK ? vars[i] : 0;
        /* the columns: states, then params, THETAs and ETAs */
        int nt = m->nthetas, ne = m->omega.n, ncol = nc + nv + nt + ne;
        for (int i = 0; i < nc; i++) {
            for (int j = 0; j < ncol; j++) {
                double *p;
                int o;
                if (j < nc) {
                    p = &x.state[j];
                    o = li.jac_state[i * nc + j];
                } else if (j < nc + nv) {
                    int k = j - nc;
                    if (m->vars[k].rec != REC_PK)
                        continue;
                    p = &x.param[k];
                    o = li.jac_param[i * nv + k];
                } else if (j < nc + nv + nt) {
                    int k = j - nc - nv;
                    p = &x.theta[k];
                    o = li.jac_theta[i * nt + k];
                } else {
                    int k = j - nc - nv - nt;
                    p = &x.eta[k];
                    o = li.jac_eta[i * ne + k];
                }
                double sym = o >= 0 ? graph_eval_direct(g, graph_output(g, o), &x.in) : 0;
                double keep = *p, h = 1e-6 * fmax(1, fabs(keep)), fp[16], fm[16];
                *p = keep + h;
                treeval_run(m, REC_DES, &x.in, vars, fp);
                *p = keep - h;
                treeval_run(m, REC_DES, &x.in, vars, fm);
                *p = keep;
                double fd = (fp[i] - fm[i]) / (2 * h);
                double e = fabs(fd - sym) / fmax(1, fabs(sym));
                jworst = fmax(jworst, e);
                jgood &= e <= 1e-6;
                checked++;
            }
        }
    }
    ok(jgood, "%s: Jacobian (%d nonzero) == central differences at %d entries (worst %.1e)",
       name, nnz, checked, jworst);
    tape_free(&tpk);
    tape_free(&tdes);
    tape_free(&terr);
    free(work);
    free(nodes);
    free(pk_outs);
    free(err_outs);
    run_free(&r);
}

static void test_namer(void)
{
    Run r;
    run_model(&r, theo);
    LowerInfo li;
    Graph *g = r.m ? lower_model(r.a, r.m, &li) : NULL;
    ok(g && strcmp(lower_input_namer(&li, GIN_THETA, 1), "tcl") == 0 &&
           strcmp(lower_input_namer(&li, GIN_STATE, 1), "central") == 0 &&
           strcmp(lower_input_namer(&li, GIN_DATA, 6), "WT") == 0 &&
           strcmp(lower_input_namer(&li, GIN_PARAM, 1), "CL") == 0 &&
           lower_input_namer(&li, GIN_ETA, 9) == NULL,
       "the input namer gives model names");
    int named = 0;
    for (int i = 0; g && i < graph_noutputs(g); i++)
        named += strcmp(graph_output_name(g, i), "d/dt(central)") == 0 ||
                 strcmp(graph_output_name(g, i), "IPRED") == 0 ||
                 strcmp(graph_output_name(g, i), "KA") == 0;
    ok(named == 3, "outputs are named KA, d/dt(central), IPRED");
    run_free(&r);
}

int main(void)
{
    test_accept();
    test_names();
    test_assign();
    test_des();
    test_order();
    test_records();
    test_declarations();
    test_directives();
    test_warnings();
    test_lower_model("theophylline", theo, 500);
    test_lower_model("two compartments", two_cmt, 2000);
    test_lower_model("NONMEM spelling", nonmem, 500);
    test_namer();
    printf("%d tests, %d failed\n", n_test, n_fail);
    return n_fail ? 1 : 0;
}
