/*
 * test_fmt.c -- `qlxc fmt`: exact layouts, idempotence, same tree.
 *
 * Each model is parsed, formatted and compared with its expected text;
 * the output is formatted again (it must not change) and parsed again
 * (its tree must equal the first one, spans, if-styles and spellings
 * that are case-insensitive aside).  Trees the parser cannot produce
 * (operands that need parentheses the user did not write) are built by
 * hand to check that the printer adds exactly the parentheses required.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "parse.h"

static int n_test, n_fail;

static void ok(int cond, const char *what)
{
    n_test++;
    if (!cond)
        n_fail++;
    printf("%s %d - %s\n", cond ? "ok" : "not ok", n_test, what);
}

/* ---- parsing and printing --------------------------------------------- */

typedef struct {
    Arena *arena;
    Diag *diag;
    Ast *ast;
} Parsed;

/* with_src = 0 parses as a parser that does not record the text would. */
static Parsed parse(const char *text, int with_src)
{
    Parsed p;
    ParseOpts po = { NULL, 0, 0, 1 };
    p.arena = mem_arena_new();
    p.diag = diag_new(p.arena, stderr);
    p.ast = parse_string(p.arena, p.diag, "test.qlx", text, strlen(text), &po);
    if (p.ast && with_src && !p.ast->src)
        p.ast->src = diag_file_text(p.diag, p.ast->file, NULL);
    if (p.ast && !with_src)
        p.ast->src = NULL;
    return p;
}

static char *format(const Ast *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    if (fmt_write(t, m) != 0) {
        fclose(m);
        free(buf);
        return NULL;
    }
    fclose(m);
    return buf;
}

/* Shows where two texts part, for a failing exact comparison. */
static void show_diff(const char *want, const char *got)
{
    int line = 1;
    const char *w = want, *g = got;
    while (*w && *w == *g) {
        if (*w == '\n')
            line++;
        w++, g++;
    }
    printf("# first difference on line %d\n# --- want ---\n%s# --- got ---\n%s", line,
           want, got ? got : "(null)\n");
}

/* ---- structural equality ---------------------------------------------- */

static char why[64];

static int differ(const char *what)
{
    if (!why[0])
        snprintf(why, sizeof why, "%.60s", what);
    return 0;
}

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int str_caseeq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return kw_strcaseeq(a, b);
}

/* ignore_parens: the tree was built by hand without the parentheses the
 * printer had to add. */
static int eq_expr(const Expr *a, const Expr *b, int ignore_parens)
{
    if (!a || !b)
        return a == b ? 1 : differ("expression missing");
    if (a->kind != b->kind)
        return differ("expression kind");
    if (!ignore_parens && (a->parens > 0) != (b->parens > 0))
        return differ("parentheses");
    switch (a->kind) {
    case EX_NUM:
        return str_eq(a->text, b->text) ? 1 : differ("number spelling");
    case EX_NAME:
        return str_eq(a->text, b->text) ? 1 : differ("name");
    case EX_INDEXED:
        return str_caseeq(a->text, b->text) && a->index == b->index ? 1 : differ("indexed");
    case EX_UNARY:
        return a->op == b->op ? eq_expr(a->lhs, b->lhs, ignore_parens) : differ("unary op");
    case EX_BINARY:
        if (a->op != b->op)
            return differ("binary op");
        return eq_expr(a->lhs, b->lhs, ignore_parens) && eq_expr(a->rhs, b->rhs, ignore_parens);
    case EX_CALL:
        /* math functions are case-insensitive and printed in lower case */
        if (!(kw_func_lookup(a->text) && !a->ns ? str_caseeq(a->text, b->text)
                                                : str_eq(a->text, b->text)))
            return differ("function name");
        if (!str_eq(a->ns, b->ns))
            return differ("namespace");
        /* fall through */
    case EX_TUPLE:
        if (a->nargs != b->nargs)
            return differ("argument count");
        for (int i = 0; i < a->nargs; i++)
            if (!eq_expr(a->args[i], b->args[i], ignore_parens))
                return 0;
        return 1;
    }
    return differ("expression kind?");
}

static int eq_stmts(Stmt *const *a, int na, Stmt *const *b, int nb);

static int eq_stmt(const Stmt *a, const Stmt *b)
{
    if (a->kind != b->kind)
        return differ("statement kind");
    if (a->kind != ST_IF) {
        int same_name = a->name_index > 0 ? str_caseeq(a->name, b->name) : str_eq(a->name, b->name);
        if (!same_name || a->name_index != b->name_index)
            return differ("statement target");
        return eq_expr(a->value, b->value, 0);
    }
    if (a->narms != b->narms)
        return differ("if arms");
    for (int i = 0; i < a->narms; i++) {
        if (!eq_expr(a->arms[i].cond, b->arms[i].cond, 0))
            return 0;
        if (!eq_stmts(a->arms[i].body, a->arms[i].nbody, b->arms[i].body, b->arms[i].nbody))
            return 0;
    }
    return 1;
}

static int eq_stmts(Stmt *const *a, int na, Stmt *const *b, int nb)
{
    if (na != nb)
        return differ("statement count");
    for (int i = 0; i < na; i++)
        if (!eq_stmt(a[i], b[i]))
            return 0;
    return 1;
}

static int eq_option(RecKind rec, const Option *a, const Option *b)
{
    const KwOption *k = kw_option_lookup(rec, a->key);
    if (!str_caseeq(a->key, b->key) || a->kind != b->kind)
        return differ("option");
    if (k && k->type == OPT_ENUM ? !str_caseeq(a->text, b->text) : !str_eq(a->text, b->text))
        return differ("option value");
    if (a->nfilters != b->nfilters)
        return differ("filter count");
    for (int i = 0; i < a->nfilters; i++) {
        const Filter *x = &a->filters[i], *y = &b->filters[i];
        if (!str_eq(x->column, y->column) || x->op != y->op || x->fortran != y->fortran
            || !str_eq(x->value, y->value))
            return differ("filter");
    }
    return 1;
}

static int eq_record(const Record *a, const Record *b)
{
    if (a->kind != b->kind || a->depth != b->depth)
        return differ("record kind");
    if (!str_eq(a->text, b->text) || a->text_quoted != b->text_quoted)
        return differ("record text");
    if (a->nopts != b->nopts)
        return differ("option count");
    for (int i = 0; i < a->nopts; i++)
        if (!eq_option(a->kind, &a->opts[i], &b->opts[i]))
            return 0;
    if (a->ncols != b->ncols)
        return differ("column count");
    for (int i = 0; i < a->ncols; i++)
        if (!str_eq(a->cols[i].name, b->cols[i].name) || !str_eq(a->cols[i].alias, b->cols[i].alias))
            return differ("column");
    if (a->ncmts != b->ncmts)
        return differ("compartment count");
    for (int i = 0; i < a->ncmts; i++) {
        if (!str_eq(a->cmts[i].name, b->cmts[i].name) || a->cmts[i].nroles != b->cmts[i].nroles)
            return differ("compartment");
        for (int j = 0; j < a->cmts[i].nroles; j++)
            if (!str_eq(a->cmts[i].roles[j], b->cmts[i].roles[j]))
                return differ("compartment role");
    }
    if (a->nthetas != b->nthetas)
        return differ("theta count");
    for (int i = 0; i < a->nthetas; i++) {
        const ThetaDecl *x = &a->thetas[i], *y = &b->thetas[i];
        if (!str_eq(x->name, y->name) || !str_eq(x->init, y->init) || !str_eq(x->lo, y->lo)
            || !str_eq(x->hi, y->hi) || x->nonmem_form != y->nonmem_form || x->fix != y->fix
            || !str_eq(x->transform, y->transform))
            return differ("theta");
    }
    if (a->nrands != b->nrands)
        return differ("random count");
    for (int i = 0; i < a->nrands; i++) {
        const RandomDecl *x = &a->rands[i], *y = &b->rands[i];
        if (x->block != y->block || x->nnames != y->nnames || x->nvalues != y->nvalues
            || x->fix != y->fix || x->sd != y->sd || x->corr != y->corr)
            return differ("random");
        for (int j = 0; j < x->nnames; j++)
            if (!str_eq(x->names[j], y->names[j]))
                return differ("random name");
        for (int j = 0; j < x->nvalues; j++)
            if (!str_eq(x->values[j], y->values[j]))
                return differ("random value");
    }
    if (a->npriors != b->npriors)
        return differ("prior count");
    for (int i = 0; i < a->npriors; i++)
        if (!str_eq(a->priors[i].name, b->priors[i].name)
            || !eq_expr(a->priors[i].dist, b->priors[i].dist, 0))
            return differ("prior");
    if (!eq_stmts(a->stmts, a->nstmts, b->stmts, b->nstmts))
        return 0;
    if (!str_eq(a->name, b->name))
        return differ("record name");
    if (a->ndirs != b->ndirs)
        return differ("directive count");
    for (int i = 0; i < a->ndirs; i++) {
        const Directive *x = &a->dirs[i], *y = &b->dirs[i];
        if (!str_caseeq(x->name, y->name) || x->nitems != y->nitems)
            return differ("directive");
        for (int j = 0; j < x->nitems; j++) {
            const DirItem *p = &x->items[j], *q = &y->items[j];
            if (p->kind != q->kind || !str_eq(p->key, q->key))
                return differ("directive item");
            if (p->kind != DI_ARROW && !eq_expr(p->expr, q->expr, 0))
                return 0;
        }
    }
    if (a->nitems != b->nitems)
        return differ("table item count");
    for (int i = 0; i < a->nitems; i++)
        if (!str_eq(a->items[i], b->items[i]))
            return differ("table item");
    return 1;
}

static int eq_ast(const Ast *a, const Ast *b)
{
    int na = 0, nb = 0;
    why[0] = '\0';
    for (int i = 0; i < a->nrecs; i++)
        na += a->recs[i]->depth == 0;
    for (int i = 0; i < b->nrecs; i++)
        nb += b->recs[i]->depth == 0;
    if (na != nb)
        return differ("record count");
    for (int i = 0, j = 0; i < a->nrecs; i++) {
        if (a->recs[i]->depth)
            continue;
        while (b->recs[j]->depth)
            j++;
        if (!eq_record(a->recs[i], b->recs[j++]))
            return 0;
    }
    if (a->ncomments != b->ncomments)
        return differ("comment count");
    for (int i = 0; i < a->ncomments; i++)
        if (!str_eq(a->comments[i].text, b->comments[i].text))
            return differ("comment text or order");
    return 1;
}

/* Every if of the tree is in the brace form. */
static int all_braces(Stmt *const *v, int n)
{
    for (int i = 0; i < n; i++) {
        if (v[i]->kind != ST_IF)
            continue;
        if (v[i]->style != IF_BRACES)
            return 0;
        for (int k = 0; k < v[i]->narms; k++)
            if (!all_braces(v[i]->arms[k].body, v[i]->arms[k].nbody))
                return 0;
    }
    return 1;
}

static int clean_text(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return 1;
    if (s[n - 1] != '\n' || (n >= 2 && s[n - 2] == '\n') || s[0] == '\n')
        return 0;           /* one final newline, no blank lines at the ends */
    for (const char *p = s; *p; p++)
        if ((*p == ' ' || *p == '\t') && (p[1] == '\n' || p[1] == '\0'))
            return 0;       /* trailing blanks */
        else if (*p == '\n' && p[1] == '\n' && p[2] == '\n')
            return 0;       /* two blank lines */
    return 1;
}

/* Formats src, compares with want (unless NULL), then checks that the
 * output is clean, formats to itself and parses to the same tree; in
 * both modes, with and without the source text in the tree. */
static void check_model(const char *name, const char *src, const char *want)
{
    char msg[512];
    for (int with_src = 1; with_src >= 0; with_src--) {
        const char *mode = with_src ? "" : " (no text)";
        Parsed a = parse(src, with_src);
        snprintf(msg, sizeof msg, "%s%s: parses", name, mode);
        ok(a.ast && diag_errors(a.diag) == 0, msg);
        if (!a.ast || diag_errors(a.diag)) {
            mem_arena_free(&a.arena);
            continue;
        }
        char *out = format(a.ast);
        if (want && with_src) {
            snprintf(msg, sizeof msg, "%s: exact layout", name);
            ok(out && strcmp(out, want) == 0, msg);
            if (out && strcmp(out, want) != 0)
                show_diff(want, out);
        }
        snprintf(msg, sizeof msg, "%s%s: no trailing blanks, no double blank lines", name, mode);
        ok(out && clean_text(out), msg);
        Parsed b = parse(out ? out : "", with_src);
        snprintf(msg, sizeof msg, "%s%s: output parses", name, mode);
        ok(b.ast && diag_errors(b.diag) == 0, msg);
        if (b.ast) {
            int same = eq_ast(a.ast, b.ast);
            snprintf(msg, sizeof msg, "%s%s: same tree after formatting%s%s", name, mode,
                     same ? "" : ": ", same ? "" : why);
            ok(same, msg);
            int braces = 1;
            for (int i = 0; i < b.ast->nrecs; i++)
                braces = braces && all_braces(b.ast->recs[i]->stmts, b.ast->recs[i]->nstmts);
            snprintf(msg, sizeof msg, "%s%s: every if comes back in the brace form", name, mode);
            ok(braces, msg);
            /* Without the text the printer cannot see where a construct
             * ends (an if's span runs on past its closing brace), so the
             * layout is only approximate there: same tree, not same text. */
            if (with_src) {
                char *again = format(b.ast);
                snprintf(msg, sizeof msg, "%s: idempotent", name);
                ok(out && again && strcmp(out, again) == 0, msg);
                if (out && again && strcmp(out, again) != 0)
                    show_diff(out, again);
                free(again);
            }
        }
        free(out);
        mem_arena_free(&b.arena);
        mem_arena_free(&a.arena);
    }
}

/* ---- the models ---------------------------------------------------------- */

static const char messy_src[] =
    "; Theophylline -- a messy model\n"
    "; second header line\n"
    "\n"
    "\n"
    "$PROB   Theophylline, one compartment   ; the title keeps this\n"
    "$data   theo_sd.csv IGNORE=@ ignore=(DOSE.EQ.0, time.gt.24)\n"
    "$INP ID TIME DV=CONC AMT  EVID CMT\n"
    "     WT=DROP\n"
    "$MODEL depot(dose)   central( dose,observe )  ; two compartments\n"
    "$THE\n"
    "\n"
    "  tka=0.45            ; log ka (1/h)\n"
    "    tcl = 1.0         ; log CL\n"
    "  tv  = 3.45  (0,10) fixed\n"
    "  (0, 1.0e-3, 5)   ; unnamed, NONMEM form\n"
    "  tq = -0.5 (-INF, ) TRANSFORM=softplus\n"
    "\n"
    "\n"
    "  ; a comment before a theta\n"
    "  tw=(0,2)\n"
    "  (0.7)\n"
    "$OME eta_ka~0.6\n"
    "  BLOCK(2) eta_cl eta_v ~ 0.07 0.01\n"
    "           0.02 FIXED   ; a block over two lines\n"
    "$SIG\n"
    "  add ~ 0.5 SD\n"
    "$PK\n"
    "  KA=EXP(tka+eta_ka)   ; absorption\n"
    "  CL = exp(tcl + eta_cl) * (WT/70)**0.75\n"
    "  V=exp(tv+eta_v)\n"
    "  IF (WT.GT.80 .AND. DOSE.NE.0) THEN   ; heavy\n"
    "    V = V*1.2\n"
    "  ELSE IF (WT .LT. 50) THEN\n"
    "    ; light subjects\n"
    "\n"
    "    V = V *0.8\n"
    "\n"
    "  ELSE\n"
    "    V = V\n"
    "  ENDIF\n"
    "  if (CL > 10) CL = 10  ; cap\n"
    "  if (ka>1) {\n"
    "     k2 = -ka^2\n"
    "  }\n"
    "  else {\n"
    "     k2 = (ka + 1)*2 - -1\n"
    "  }\n"
    "\n"
    "\n"
    "  TLAG = THETA(1)+eta(1) ; theta by index\n"
    "  IF (.NOT.(A.EQ.B)) X = 1.0D-3\n"
    "$DES\n"
    "  d/dt(depot)   = -KA*depot\n"
    "  d/dt(central) =  KA*depot - CL/V*central\n"
    "$ERROR\n"
    "  IPRED = central / V\n"
    "  Y = IPRED +   ; continued\n"
    "      add*EPS(1)\n"
    "  ; stays with $ERROR: indented, no blank line\n"
    "; goes with $ESTIMATION: column 1\n"
    "$EST METHOD=focei MAXEVAL=9999\n"
    "     interaction        ; on a second line\n"
    "$COV\n"
    "$TAB ID TIME DV PRED IPRED FILE=sdtab.csv noprint\n"
    "\n"
    "; the end\n";

static const char messy_want[] =
    "; Theophylline -- a messy model\n"
    "; second header line\n"
    "\n"
    "$PROBLEM Theophylline, one compartment   ; the title keeps this\n"
    "\n"
    "$DATA theo_sd.csv IGNORE=@ IGNORE=(DOSE.EQ.0, time.GT.24)\n"
    "\n"
    "$INPUT ID TIME DV=CONC AMT EVID CMT WT=DROP\n"
    "\n"
    "$COMPARTMENTS\n"
    "  depot(dose)\n"
    "  central(dose, observe)  ; two compartments\n"
    "\n"
    "$THETA\n"
    "  tka = 0.45  ; log ka (1/h)\n"
    "  tcl = 1.0   ; log CL\n"
    "  tv = 3.45 (0, 10) FIX\n"
    "  (0, 1.0e-3, 5)  ; unnamed, NONMEM form\n"
    "  tq = -0.5 (-INF, ) TRANSFORM=softplus\n"
    "\n"
    "  ; a comment before a theta\n"
    "  tw = (0, 2)\n"
    "  (0.7)\n"
    "\n"
    "$OMEGA\n"
    "  eta_ka ~ 0.6\n"
    "  BLOCK(2) eta_cl eta_v ~ 0.07 0.01 0.02 FIX  ; a block over two lines\n"
    "\n"
    "$SIGMA\n"
    "  add ~ 0.5 SD\n"
    "\n"
    "$PK\n"
    "  KA = exp(tka + eta_ka)  ; absorption\n"
    "  CL = exp(tcl + eta_cl)*(WT/70)^0.75\n"
    "  V = exp(tv + eta_v)\n"
    "  if (WT > 80 && DOSE != 0) {  ; heavy\n"
    "    V = V*1.2\n"
    "  } else if (WT < 50) {\n"
    "    ; light subjects\n"
    "\n"
    "    V = V*0.8\n"
    "  } else {\n"
    "    V = V\n"
    "  }\n"
    "  if (CL > 10) {\n"
    "    CL = 10\n"
    "  }  ; cap\n"
    "  if (ka > 1) {\n"
    "    k2 = -ka^2\n"
    "  } else {\n"
    "    k2 = (ka + 1)*2 - -1\n"
    "  }\n"
    "\n"
    "  TLAG = THETA(1) + ETA(1)  ; theta by index\n"
    "  if (!(A == B)) {\n"
    "    X = 1.0D-3\n"
    "  }\n"
    "\n"
    "$DES\n"
    "  d/dt(depot) = -KA*depot\n"
    "  d/dt(central) = KA*depot - CL/V*central\n"
    "\n"
    "$ERROR\n"
    "  IPRED = central/V\n"
    "  Y = IPRED + add*EPS(1)  ; continued\n"
    "  ; stays with $ERROR: indented, no blank line\n"
    "\n"
    "; goes with $ESTIMATION: column 1\n"
    "$ESTIMATION METHOD=FOCEI MAXEVAL=9999 INTERACTION  ; on a second line\n"
    "\n"
    "$COVARIANCE\n"
    "\n"
    "$TABLE ID TIME DV PRED IPRED FILE=sdtab.csv NOPRINT\n"
    "\n"
    "; the end\n";

static const char hybrid_src[] =
    "$PROBLEM  PI-HQNN, one compartment IV bolus\n"
    "$DATA     \"iv bolus.csv\"  IGNORE=(SEX.EQ.\"M\") ACCEPT=(DOSE > 0)\n"
    "$INPUT    ID TIME DV AMT EVID CMT\n"
    "$INCLUDE  pk_helpers\n"
    "$LUA covariates.lua                ; sandboxed: no io, no os\n"
    "$COMPARTMENTS central(dose, observe)\n"
    "$THETA\n"
    "  ke = 0.5 (0, ) TRANSFORM=softplus\n"
    "  V  = 10 FIX\n"
    "$PRIOR\n"
    "  ke ~ lognormal(LOG(0.5),0.2)\n"
    "  OMEGA ~ iwishart(3, 1)\n"
    "$QUANTUM q\n"
    "  QUBITS 1\n"
    "  encode ry(TIME)  SCALE=2                ; angle encoding\n"
    "  ANSATZ euler(rz, rx, rz) LAYERS 2\n"
    "  MEASURE z(0)\n"
    "$NETWORK c\n"
    "  DENSE 1 -> 16 tanh -> 1\n"
    "  SEED=3\n"
    "$HYBRID C = 1*linear(q) + 1*c      ; parallel branches, summed\n"
    "$DES\n"
    "  d/dt(central) = -ke*central       ; the physics the network must obey\n"
    "  x = d / dt\n"
    "  DADT(1) = -ke*A(1)\n"
    "$LOSS NORMALIZE=yes\n"
    "  DATA    1 ; MSE of C against DV\n"
    "  PHYSICS 1 COLLOCATION 60 OVER (0, 24)\n"
    "  INITIAL 1\n"
    "$EST METHOD=ADAM LR=0.01 EPOCHS=800 SEED=2025\n"
    "$SIMULATION N=5000 SEED=1 RESIDUAL=no\n"
    "  POPULATION  BW ~ uniform(70, 140)  COMED = 0\n"
    "  ENDPOINT    max(C) < 3.3\n"
    "$PK\n"
    "  EGFR = lua.ckd_epi(SCR, AGE, SEX) ; a Lua function\n"
    "  z = -(a + b)^2 + (-a)^2 + a^-b^c - (a - b) - c\n"
    "  w = !(a < b) || a >= b && c == d .OR. (a .EQ. 1)\n"
    "  u = ((a)) + (b) * (c + 1)\n"
    "  T2 = (x, y)\n";

static const char hybrid_want[] =
    "$PROBLEM PI-HQNN, one compartment IV bolus\n"
    "\n"
    "$DATA \"iv bolus.csv\" IGNORE=(SEX.EQ.\"M\") ACCEPT=(DOSE>0)\n"
    "\n"
    "$INPUT ID TIME DV AMT EVID CMT\n"
    "\n"
    "$INCLUDE pk_helpers\n"
    "\n"
    "$LUA covariates.lua  ; sandboxed: no io, no os\n"
    "\n"
    "$COMPARTMENTS\n"
    "  central(dose, observe)\n"
    "\n"
    "$THETA\n"
    "  ke = 0.5 (0, ) TRANSFORM=softplus\n"
    "  V = 10 FIX\n"
    "\n"
    "$PRIOR\n"
    "  ke ~ lognormal(log(0.5), 0.2)\n"
    "  OMEGA ~ iwishart(3, 1)\n"
    "\n"
    "$QUANTUM q\n"
    "  QUBITS 1\n"
    "  ENCODE ry(TIME) SCALE=2  ; angle encoding\n"
    "  ANSATZ euler(rz, rx, rz) LAYERS 2\n"
    "  MEASURE z(0)\n"
    "\n"
    "$NETWORK c SEED=3\n"
    "  DENSE 1 -> 16 tanh -> 1\n"
    "\n"
    "$HYBRID\n"
    "  C = 1*linear(q) + 1*c  ; parallel branches, summed\n"
    "\n"
    "$DES\n"
    "  d/dt(central) = -ke*central  ; the physics the network must obey\n"
    "  x = d / dt\n"
    "  DADT(1) = -ke*A(1)\n"
    "\n"
    "$LOSS NORMALIZE=YES\n"
    "  DATA 1  ; MSE of C against DV\n"
    "  PHYSICS 1 COLLOCATION 60 OVER (0, 24)\n"
    "  INITIAL 1\n"
    "\n"
    "$ESTIMATION METHOD=ADAM LR=0.01 EPOCHS=800 SEED=2025\n"
    "\n"
    "$SIMULATION N=5000 SEED=1 RESIDUAL=NO\n"
    "  POPULATION BW ~ uniform(70, 140) COMED=0\n"
    "  ENDPOINT max(C) < 3.3\n"
    "\n"
    "$PK\n"
    "  EGFR = lua.ckd_epi(SCR, AGE, SEX)  ; a Lua function\n"
    "  z = -(a + b)^2 + (-a)^2 + a^-b^c - (a - b) - c\n"
    "  w = !(a < b) || a >= b && c == d || (a == 1)\n"
    "  u = (a) + (b)*(c + 1)\n"
    "  T2 = (x, y)\n";

/* Trailing comments line up per run of consecutive commented lines. */
static const char align_src[] =
    "$THETA ; thetas\n"
    "  a = 1 ; one\n"
    "  bbbbbbbbbb = 2 ; two\n"
    "  c = 3\n"
    "  d = 4 ; four\n"
    "\n"
    "  e = 5 ; five\n"
    "  f = 6 ; six\n";

static const char align_want[] =
    "$THETA            ; thetas\n"
    "  a = 1           ; one\n"
    "  bbbbbbbbbb = 2  ; two\n"
    "  c = 3\n"
    "  d = 4  ; four\n"
    "\n"
    "  e = 5  ; five\n"
    "  f = 6  ; six\n";

/* Comments inside constructs, around braces, between and after records. */
static const char comments_src[] =
    "\n"
    "\n"
    "$PK\n"
    "\n"
    "  ; first in PK\n"
    "  if (a) {   ; open\n"
    "\n"
    "    x = 1\n"
    "    ; before the brace\n"
    "\n"
    "  }   ; closed\n"
    "\n"
    "\n"
    "  y = f(a,   ; inside a call\n"
    "        b)\n"
    "  z = 2\n"
    "  ; after PK, indented\n"
    "\n"
    "  ; goes with ERROR\n"
    "$ERROR\n"
    "  Y = 1\n"
    "$TABLE ID   ; first line\n"
    "  ; own line inside\n"
    "  DV        ; second line\n"
    "$ESTIMATION\n"
    "  ; indented after a header-only record\n"
    "  ; and another\n"
    "\n"
    "\n"
    "; the end\n";

static const char comments_want[] =
    "$PK\n"
    "  ; first in PK\n"
    "  if (a) {  ; open\n"
    "    x = 1\n"
    "    ; before the brace\n"
    "  }  ; closed\n"
    "\n"
    "  y = f(a, b)  ; inside a call\n"
    "  z = 2\n"
    "  ; after PK, indented\n"
    "\n"
    "; goes with ERROR\n"
    "$ERROR\n"
    "  Y = 1\n"
    "\n"
    "$TABLE ID DV  ; first line\n"
    "  ; own line inside\n"
    "  ; second line\n"
    "\n"
    "$ESTIMATION\n"
    "  ; indented after a header-only record\n"
    "  ; and another\n"
    "\n"
    "; the end\n";

/* Nested ifs, empty arms, END IF, FIX inside bounds, a chain over lines. */
static const char nested_src[] =
    "$pk\n"
    "  if (a) {\n"
    "    if (b) {   ; inner\n"
    "      x = 1\n"
    "    }\n"
    "    ; after inner\n"
    "  }\n"
    "  IF (c.EQ.1) THEN\n"
    "  END IF\n"
    "  if (d) {\n"
    "  } else if (e) {   ; empty arms\n"
    "  }\n"
    "  else {\n"
    "    y=2 }\n"
    "  if (f) d/dt(q) = 1\n"
    "$THETA\n"
    "  (0, 1, 2 FIX)\n"
    "  t2 = 1 (0, 5 FIX)\n"
    "$NETWORK net\n"
    "  DENSE 2 ->\n"
    "     8 relu ->\n"
    "     1\n"
    "$PROBLEM\n";

static const char nested_want[] =
    "$PK\n"
    "  if (a) {\n"
    "    if (b) {  ; inner\n"
    "      x = 1\n"
    "    }\n"
    "    ; after inner\n"
    "  }\n"
    "  if (c == 1) {\n"
    "  }\n"
    "  if (d) {\n"
    "  } else if (e) {  ; empty arms\n"
    "  } else {\n"
    "    y = 2\n"
    "  }\n"
    "  if (f) {\n"
    "    d/dt(q) = 1\n"
    "  }\n"
    "\n"
    "$THETA\n"
    "  (0, 1, 2) FIX\n"
    "  t2 = 1 (0, 5) FIX\n"
    "\n"
    "$NETWORK net\n"
    "  DENSE 2 -> 8 relu -> 1\n"
    "\n"
    "$PROBLEM\n";

static const char only_comments_src[] = "\n; nothing but\n\n\n; comments\n\n";
static const char only_comments_want[] = "; nothing but\n\n; comments\n";

static const char crlf_src[] =
    "$PROBLEM crlf   \r\n"
    "$PK\r\n"
    "  CL = 1   ; dos\r\n"
    "\r\n"
    "  V = 2\r\n";
static const char crlf_want[] =
    "$PROBLEM crlf\n"
    "\n"
    "$PK\n"
    "  CL = 1  ; dos\n"
    "\n"
    "  V = 2\n";

/* ---- hand-built trees: parentheses the tree's shape needs ------------- */

typedef struct {
    Arena *a;
} Builder;

static Expr *leaf(Builder *b, const char *name)
{
    Expr *e = mem_alloc(b->a, sizeof *e);
    e->kind = name[0] >= '0' && name[0] <= '9' ? EX_NUM : EX_NAME;
    e->text = name;
    e->span.file = -1;
    return e;
}

static Expr *bin(Builder *b, AstOp op, Expr *l, Expr *r)
{
    Expr *e = leaf(b, "?");
    e->kind = EX_BINARY;
    e->op = op;
    e->lhs = l;
    e->rhs = r;
    return e;
}

static Expr *un(Builder *b, AstOp op, Expr *x)
{
    Expr *e = leaf(b, "?");
    e->kind = EX_UNARY;
    e->op = op;
    e->lhs = x;
    return e;
}

static void check_parens(void)
{
    Builder b = { mem_arena_new() };
    Expr *A = leaf(&b, "a"), *B = leaf(&b, "b"), *C = leaf(&b, "c");
    struct { Expr *e; const char *want; } cases[] = {
        { bin(&b, OP_MUL, bin(&b, OP_ADD, A, B), C), "(a + b)*c" },
        { bin(&b, OP_SUB, A, bin(&b, OP_SUB, B, C)), "a - (b - c)" },
        { bin(&b, OP_SUB, bin(&b, OP_SUB, A, B), C), "a - b - c" },
        { bin(&b, OP_ADD, A, bin(&b, OP_ADD, B, C)), "a + (b + c)" },
        { bin(&b, OP_POW, bin(&b, OP_POW, A, B), C), "(a^b)^c" },
        { bin(&b, OP_POW, A, bin(&b, OP_POW, B, C)), "a^b^c" },
        { bin(&b, OP_POW, un(&b, OP_NEG, A), B), "(-a)^b" },
        { un(&b, OP_NEG, bin(&b, OP_POW, A, B)), "-a^b" },
        { bin(&b, OP_POW, A, un(&b, OP_NEG, B)), "a^-b" },
        { bin(&b, OP_POW, A, bin(&b, OP_MUL, B, C)), "a^(b*c)" },
        { un(&b, OP_NEG, bin(&b, OP_ADD, A, B)), "-(a + b)" },
        { un(&b, OP_NOT, bin(&b, OP_LT, A, B)), "!(a < b)" },
        { bin(&b, OP_LT, bin(&b, OP_LT, A, B), C), "(a < b) < c" },
        { bin(&b, OP_EQ, A, bin(&b, OP_NE, B, C)), "a == (b != c)" },
        { bin(&b, OP_AND, bin(&b, OP_OR, A, B), C), "(a || b) && c" },
        { bin(&b, OP_OR, A, bin(&b, OP_AND, B, C)), "a || b && c" },
        { bin(&b, OP_MUL, A, un(&b, OP_NEG, B)), "a*-b" },
        { bin(&b, OP_SUB, A, un(&b, OP_NEG, leaf(&b, "1"))), "a - -1" },
        { bin(&b, OP_DIV, leaf(&b, "d"), leaf(&b, "dt")), "d / dt" },
        { bin(&b, OP_DIV, leaf(&b, "dd"), leaf(&b, "dt")), "dd/dt" },
        { bin(&b, OP_DIV, leaf(&b, "d"), leaf(&b, "dtx")), "d/dtx" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Stmt st;
        Stmt *sp = &st;
        Record r;
        Record *rp = &r;
        Ast t;
        char want[128], msg[160];
        memset(&st, 0, sizeof st);
        memset(&r, 0, sizeof r);
        memset(&t, 0, sizeof t);
        st.kind = ST_ASSIGN;
        st.name = "x";
        st.value = cases[i].e;
        st.span.file = -1;
        r.kind = REC_PK;
        r.span.file = r.name_span.file = -1;
        r.stmts = &sp;
        r.nstmts = 1;
        t.recs = &rp;
        t.nrecs = 1;
        char *out = format(&t);
        snprintf(want, sizeof want, "$PK\n  x = %s\n", cases[i].want);
        snprintf(msg, sizeof msg, "parentheses: %s", cases[i].want);
        ok(out && strcmp(out, want) == 0, msg);
        if (out && strcmp(out, want) != 0)
            show_diff(want, out);
        /* and the text means the tree */
        Parsed p = parse(out ? out : "", 1);
        int same = p.ast && p.ast->nrecs == 1 && p.ast->recs[0]->nstmts == 1
                   && (why[0] = '\0', eq_expr(cases[i].e, p.ast->recs[0]->stmts[0]->value, 1));
        snprintf(msg, sizeof msg, "parentheses: %s parses back to the tree", cases[i].want);
        ok(same, msg);
        mem_arena_free(&p.arena);
        free(out);
    }
    mem_arena_free(&b.a);
}

/* Included records are not printed; the $INCLUDE record is. */
static void check_include(void)
{
    char dir[] = "/tmp/qlx_fmt_XXXXXX", path[64], main_name[64];
    const char *inc = "; included\n$PK\n  Q = 1\n";
    const char *src = "$PROBLEM p\n$INCLUDE inc.qlx   ; helpers\n$ERROR\n  Y = Q\n";
    const char *want = "$PROBLEM p\n\n$INCLUDE inc.qlx  ; helpers\n\n$ERROR\n  Y = Q\n";
    if (!mkdtemp(dir)) {
        ok(1, "includes are not printed (skipped: no temporary directory)");
        return;
    }
    snprintf(path, sizeof path, "%s/inc.qlx", dir);
    snprintf(main_name, sizeof main_name, "%s/main.qlx", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(inc, f);
        fclose(f);
    }
    ParseOpts po = { NULL, 0, 0, 0 };
    Arena *a = mem_arena_new();
    Diag *d = diag_new(a, stderr);
    Ast *t = parse_string(a, d, main_name, src, strlen(src), &po);
    ok(t && diag_errors(d) == 0 && t->nrecs == 4 && t->recs[2]->depth == 1,
       "the include is resolved");
    if (t && !t->src)
        t->src = diag_file_text(d, t->file, NULL);
    char *out = t ? format(t) : NULL;
    ok(out && strcmp(out, want) == 0, "includes are not printed, $INCLUDE is");
    if (out && strcmp(out, want) != 0)
        show_diff(want, out);
    free(out);
    mem_arena_free(&a);
    remove(path);
    remove(dir);
}

/* ---- a deterministic mini-fuzz: mutated models -------------------------- */

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Line-level edits that keep most models valid: blank lines, comments on
 * their own line at any indentation, trailing comments, duplicated,
 * dropped and re-indented lines. */
static char *mutate(const char *src)
{
    const char *lines[256];
    int n = 0;
    char *copy = strdup(src), *p = copy, *out;
    size_t cap = strlen(src) * 2 + 4096, len = 0;
    while (*p && n < 256) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    out = malloc(cap);
    for (int i = 0; i < n; i++) {
        const char *l = lines[i];
        int edit = (int)rnd(12);
        if (len + strlen(l) + 64 > cap)
            break;
        switch (edit) {
        case 0:
            len += (size_t)sprintf(out + len, "\n");
            break;
        case 1:
            len += (size_t)sprintf(out + len, "%*s; own %d\n", (int)rnd(6), "", i);
            break;
        case 2:
            continue;               /* drop the line */
        case 3:
            len += (size_t)sprintf(out + len, "%s\n", l);   /* twice */
            break;
        case 4:
            while (*l == ' ')
                l++;
            len += (size_t)sprintf(out + len, "%*s", (int)rnd(5), "");
            break;
        default:
            break;
        }
        const char *cut = edit == 6 ? strstr(l, ", ") : edit == 7 ? strstr(l, " + ") : NULL;
        if (cut && !strchr(l, ';')) {
            /* go on on the next line after a comma or an operator, with a
             * comment in between (inside a construct) */
            int k = (int)(cut - l) + (edit == 6 ? 1 : 2);
            len += (size_t)sprintf(out + len, "%.*s%s\n", k, l, rnd(2) ? "  ; cut" : "");
            if (rnd(2))
                len += (size_t)sprintf(out + len, "%*s; inside %d\n", (int)rnd(6), "", i);
            len += (size_t)sprintf(out + len, "     %s\n", l + k);
        } else if (edit == 5 && !strchr(l, ';'))
            len += (size_t)sprintf(out + len, "%s%*s; trailing %d\n", l, (int)rnd(4), "", i);
        else
            len += (size_t)sprintf(out + len, "%s\n", l);
    }
    out[len] = '\0';
    free(copy);
    return out;
}

static void check_mutants(void)
{
    const char *seeds[] = { messy_src, hybrid_src, comments_src, nested_src, align_src };
    int tried = 0, valid = 0, idem = 0, same = 0, clean = 0, shown = 0;
    char *rounds_env = getenv("QLX_FMT_MUTANTS");   /* more, for a long hunt */
    int rounds = rounds_env ? atoi(rounds_env) : 400;
    FILE *sink = fopen("/dev/null", "w");
    for (int round = 0; round < rounds; round++) {
        const char *seed = seeds[round % (int)(sizeof seeds / sizeof seeds[0])];
        char *m = mutate(seed);
        ParseOpts po = { NULL, 0, 0, 1 };
        Arena *a = mem_arena_new();
        Diag *d = diag_new(a, sink ? sink : stderr);
        Ast *t = parse_string(a, d, "m.qlx", m, strlen(m), &po);
        tried++;
        if (t && diag_errors(d) == 0) {
            valid++;
            if (!t->src)
                t->src = diag_file_text(d, t->file, NULL);
            char *out = format(t);
            Arena *b = mem_arena_new();
            Diag *db = diag_new(b, sink ? sink : stderr);
            Ast *u = out ? parse_string(b, db, "o.qlx", out, strlen(out), &po) : NULL;
            if (u && !u->src)
                u->src = diag_file_text(db, u->file, NULL);
            int s1 = u && diag_errors(db) == 0 && eq_ast(t, u);
            char *again = s1 ? format(u) : NULL;
            same += s1;
            clean += out && clean_text(out);
            if (again && strcmp(out, again) == 0)
                idem++;
            else if (s1 && !shown++)
                printf("# not idempotent:\n%s# first:\n%s# second:\n%s", m, out, again);
            if (!s1 && !shown++)
                printf("# tree differs (%s):\n%s# formatted:\n%s", why, m, out ? out : "");
            free(again);
            free(out);
            mem_arena_free(&b);
        }
        mem_arena_free(&a);
        free(m);
    }
    if (sink)
        fclose(sink);
    printf("# mutants: %d tried, %d valid\n", tried, valid);
    ok(valid > tried / 4, "mutants: enough of them parse");
    ok(same == valid, "mutants: same tree after formatting");
    ok(clean == valid, "mutants: clean text");
    ok(idem == valid, "mutants: idempotent");
}

/* A failing stream is reported. */
static void check_stream_error(void)
{
    Parsed p = parse("$PK\n  x = 1\n", 1);
    FILE *f = fopen("/dev/full", "w");
    if (!f) {
        ok(1, "write error reported (skipped: no /dev/full)");
    } else {
        ok(fmt_write(p.ast, f) == -1, "write error reported");
        fclose(f);
    }
    mem_arena_free(&p.arena);
}

/* fmt needs the main file's text to see where constructs end. */
static void check_parser_keeps_text(void)
{
    ParseOpts po = { NULL, 0, 0, 1 };
    Arena *a = mem_arena_new();
    Diag *d = diag_new(a, stderr);
    Ast *t = parse_string(a, d, "t.qlx", "$PK\n  x = 1\n", 12, &po);
    ok(t && t->src && strcmp(t->src, "$PK\n  x = 1\n") == 0,
       "the parser keeps the main file's text in Ast.src");
    mem_arena_free(&a);
}

int main(void)
{
    check_parser_keeps_text();
    check_model("messy model", messy_src, messy_want);
    check_model("hybrid model", hybrid_src, hybrid_want);
    check_model("aligned comments", align_src, align_want);
    check_model("comments everywhere", comments_src, comments_want);
    check_model("nested ifs", nested_src, nested_want);
    check_model("only comments", only_comments_src, only_comments_want);
    check_model("empty file", "", "");
    check_model("CRLF line ends", crlf_src, crlf_want);
    check_parens();
    check_include();
    check_mutants();
    check_stream_error();
    printf("# %d checks, %d failed\n", n_test, n_fail);
    return n_fail ? 1 : 0;
}
