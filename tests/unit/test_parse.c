/*
 * test_parse.c -- the lexer and parser on their own.
 *
 * Precedence and associativity are checked by printing the tree fully
 * parenthesised; random byte strings and random token soups show the
 * front end survives anything (a deterministic mini-fuzz that runs even
 * where libFuzzer is not installed).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

static int n_test, n_fail;

static void ok(int cond, const char *what)
{
    n_test++;
    if (!cond)
        n_fail++;
    printf("%s %d - %s\n", cond ? "ok" : "not ok", n_test, what);
}

static void show(const Expr *e, char *buf, size_t cap)
{
    size_t n = strlen(buf);
    char *o = buf + n;
    size_t room = cap - n;
    switch (e->kind) {
    case EX_NUM: snprintf(o, room, "%s", e->text); break;
    case EX_NAME: snprintf(o, room, "%s", e->text); break;
    case EX_INDEXED: snprintf(o, room, "%s[%d]", e->text, e->index); break;
    case EX_UNARY:
        snprintf(o, room, "(%s", ast_op_text(e->op));
        show(e->lhs, buf, cap);
        strncat(buf, ")", cap - strlen(buf) - 1);
        break;
    case EX_BINARY:
        snprintf(o, room, "(");
        show(e->lhs, buf, cap);
        strncat(buf, " ", cap - strlen(buf) - 1);
        strncat(buf, ast_op_text(e->op), cap - strlen(buf) - 1);
        strncat(buf, " ", cap - strlen(buf) - 1);
        show(e->rhs, buf, cap);
        strncat(buf, ")", cap - strlen(buf) - 1);
        break;
    case EX_CALL: case EX_TUPLE:
        snprintf(o, room, "%s%s%s[", e->ns ? e->ns : "", e->ns ? "." : "",
                 e->kind == EX_CALL ? e->text : "tuple");
        for (int i = 0; i < e->nargs; i++) {
            if (i)
                strncat(buf, ",", cap - strlen(buf) - 1);
            show(e->args[i], buf, cap);
        }
        strncat(buf, "]", cap - strlen(buf) - 1);
        break;
    }
}

/* Parse "$PK\n X = <src>" and compare the parenthesised tree. */
static void prec(const char *src, const char *want)
{
    char model[512], got[1024] = "";
    snprintf(model, sizeof model, "$PK\n  X = %s\n", src);
    Arena *a = mem_arena_new();
    FILE *sink = fopen("/dev/null", "w");
    Diag *d = diag_new(a, sink);
    Ast *t = parse_string(a, d, "t.qlx", model, strlen(model), NULL);
    if (t && t->nrecs == 1 && t->recs[0]->nstmts == 1)
        show(t->recs[0]->stmts[0]->value, got, sizeof got);
    char what[2048];
    snprintf(what, sizeof what, "%s parses as %s (got %s)", src, want, got);
    ok(diag_errors(d) == 0 && strcmp(got, want) == 0, what);
    fclose(sink);
    mem_arena_free(&a);
}

static Ast *parse_quiet(Arena *a, const char *src, int *errors)
{
    FILE *sink = fopen("/dev/null", "w");
    Diag *d = diag_new(a, sink);
    Ast *t = parse_string(a, d, "t.qlx", src, strlen(src), NULL);
    *errors = diag_errors(d);
    fclose(sink);
    return t;
}

static void test_numbers(void)
{
    const char *src = "$PK\n  X = 1 + 2.5 + .5 + 1e3 + 1.5E-3 + 2.D0 + 3. + 1.5d+2\n";
    Arena *a = mem_arena_new();
    int errs;
    Ast *t = parse_quiet(a, src, &errs);
    double want[] = { 1, 2.5, 0.5, 1e3, 1.5e-3, 2.0, 3.0, 150.0 };
    double got[8];
    int n = 0;
    const Expr *e = t->recs[0]->stmts[0]->value;
    while (e->kind == EX_BINARY && n < 8) {
        got[7 - n++] = e->rhs->num;
        e = e->lhs;
    }
    got[0] = e->num;
    int same = errs == 0 && n == 7;
    for (int i = 0; same && i < 8; i++)
        same = got[i] == want[i];
    ok(same, "number spellings: integers, decimals, exponents with e/E/d/D, trailing dot");
    mem_arena_free(&a);
}

static void test_comments(void)
{
    const char *src = "; head\n$PROBLEM x ; not a comment\n$THETA\n  a = 1 ; trailing\n  ; own line\n";
    Arena *a = mem_arena_new();
    int errs;
    Ast *t = parse_quiet(a, src, &errs);
    ok(errs == 0 && t->ncomments == 3, "comments are kept (the $PROBLEM title keeps its ';')");
    ok(t->ncomments == 3 && t->comments[0].own_line && !t->comments[1].own_line &&
       t->comments[2].own_line && strcmp(t->comments[1].text, "; trailing") == 0,
       "comments know whether they stand on their own line");
    ok(strcmp(t->recs[0]->text, "x ; not a comment") == 0, "$PROBLEM takes the rest of its line");
    mem_arena_free(&a);
}

static void test_records(void)
{
    const char *src =
        "$PROB  t\n$DATA ../data/x.csv IGNORE=@ IGNORE=(DOSE.EQ.0, ID.GT.-1)\n"
        "$INPUT ID TIME CONC=DV AMT WT=DROP\n$MODEL COMP=(DEPOT,DEFDOSE) COMP=(CENTRAL)\n"
        "$THETA\n  a = 1 (0, ) FIX\n  (0, 2, 5)\n  b = -1 TRANSFORM=softplus\n"
        "$OMEGA BLOCK(2) e1 e2 ~ 0.1\n   0.01 0.1\n  e3 ~ 0.3 SD FIX\n"
        "$EST METHOD=FOCEI MAXEVAL=99 INTERACTION\n$TAB ID TIME NOPRINT FILE=out/sdtab.csv\n";
    Arena *a = mem_arena_new();
    int errs;
    Ast *t = parse_quiet(a, src, &errs);
    ok(errs == 0 && t->nrecs == 8, "records with NONMEM abbreviations parse");
    if (errs || t->nrecs != 8) {
        mem_arena_free(&a);
        return;
    }
    Record **r = t->recs;
    ok(r[0]->kind == REC_PROBLEM && r[4]->kind == REC_THETA && r[6]->kind == REC_ESTIMATION &&
       r[7]->kind == REC_TABLE && r[3]->kind == REC_COMPARTMENTS, "aliases name their records");
    ok(strcmp(r[1]->text, "../data/x.csv") == 0 && r[1]->nopts == 2 &&
       r[1]->opts[0].kind == OV_AT && r[1]->opts[1].nfilters == 2 &&
       strcmp(r[1]->opts[1].filters[1].value, "-1") == 0, "$DATA path, IGNORE=@ and filters");
    ok(r[2]->ncols == 5 && strcmp(r[2]->cols[2].alias, "DV") == 0, "$INPUT aliases");
    ok(r[3]->ncmts == 2 && r[3]->cmts[0].nroles == 1 && strcmp(r[3]->cmts[1].name, "CENTRAL") == 0,
       "NONMEM's COMP=(NAME ROLE)");
    ThetaDecl *th = r[4]->thetas;
    ok(r[4]->nthetas == 3 && th[0].fix && th[0].vlo == 0 && isinf(th[0].vhi) &&
       th[1].nonmem_form && !th[1].name && th[1].vinit == 2 && th[1].vhi == 5 &&
       th[2].vinit == -1 && strcmp(th[2].transform, "softplus") == 0, "THETA forms");
    RandomDecl *om = r[5]->rands;
    ok(r[5]->nrands == 2 && om[0].block == 2 && om[0].nvalues == 3 && om[1].sd && om[1].fix,
       "OMEGA BLOCK over two lines, SD and FIX");
    ok(r[6]->nopts == 3 && r[6]->opts[2].kind == OV_FLAG, "options and flags");
    ok(r[7]->nitems == 2 && r[7]->nopts == 2 && strcmp(r[7]->opts[1].text, "out/sdtab.csv") == 0,
       "$TABLE items, a flag, and FILE= read as a path");
    mem_arena_free(&a);

    /* a declaration's line goes on after '=' and '~', as a statement's does */
    a = mem_arena_new();
    t = parse_quiet(a, "$PROB t\n$THETA\n  tcl =\n    1.5 (0, )\n  tv = 2\n"
                       "$OMEGA\n  eta_cl ~\n    0.1\n  eta_v ~ 0.2\n", &errs);
    ok(errs == 0 && t->nrecs == 3 && t->recs[1]->nthetas == 2 &&
           t->recs[1]->thetas[0].vinit == 1.5 && t->recs[1]->thetas[0].vlo == 0 &&
           t->recs[2]->nrands == 2 && t->recs[2]->rands[0].nvalues == 1 &&
           t->recs[2]->rands[0].v[0] == 0.1,
       "a declaration goes on after '=' and '~'");
    mem_arena_free(&a);
}

static void test_statements(void)
{
    const char *src =
        "$PK\n  if (WT > 70) {\n    X = 1\n  } else if (WT > 50) {\n    X = 2\n  }\n  else {\n    X = 3\n  }\n"
        "  IF (WT.GT.70) THEN\n    Y = 1\n  ELSE IF (WT.GT.50) THEN\n    Y = 2\n  ELSE\n    Y = 3\n  ENDIF\n"
        "  if (WT > 70) Z = 1\n  K = lua.bmi(WT,\n    HT)\n"
        "$DES\n  d/dt(c) = -k*c\n  DADT(2) = 0\n";
    Arena *a = mem_arena_new();
    int errs;
    Ast *t = parse_quiet(a, src, &errs);
    ok(errs == 0 && t->nrecs == 2 && t->recs[0]->nstmts == 4, "if forms, a call over two lines");
    if (errs || t->nrecs != 2 || t->recs[0]->nstmts != 4) {
        mem_arena_free(&a);
        return;
    }
    Stmt **s = t->recs[0]->stmts;
    ok(s[0]->kind == ST_IF && s[0]->style == IF_BRACES && s[0]->narms == 3 && !s[0]->arms[2].cond,
       "braces: if / else if / else");
    ok(s[1]->style == IF_THEN && s[1]->narms == 3 && s[1]->arms[1].nbody == 1, "IF THEN ELSE IF ELSE ENDIF");
    ok(s[2]->style == IF_ONELINE && s[2]->narms == 1, "one-line if");
    ok(s[3]->value->kind == EX_CALL && strcmp(s[3]->value->ns, "lua") == 0 && s[3]->value->nargs == 2,
       "lua.name(args)");
    Stmt **d = t->recs[1]->stmts;
    ok(d[0]->kind == ST_DDT && strcmp(d[0]->name, "c") == 0 && d[1]->kind == ST_DDT &&
       !d[1]->name && d[1]->name_index == 2, "d/dt(name) and DADT(n)");
    mem_arena_free(&a);
}

static void test_directives(void)
{
    const char *src =
        "$QUANTUM q\n  QUBITS 2\n  ENCODE ry(TIME) SCALE 0.1\n  ANSATZ euler(rz, rx, rz) LAYERS 2\n"
        "$NETWORK c\n  DENSE 1 -> 16 tanh -> 1\n"
        "$LOSS\n  PHYSICS 1 COLLOCATION 60 OVER (0, 24)\n"
        "$SIMULATION N=100 SEED=1\n  POPULATION BW ~ uniform(70, 140) COMED = 0\n";
    Arena *a = mem_arena_new();
    int errs;
    Ast *t = parse_quiet(a, src, &errs);
    ok(errs == 0 && t->nrecs == 4, "directive records parse");
    if (errs || t->nrecs != 4) {
        mem_arena_free(&a);
        return;
    }
    Record **r = t->recs;
    ok(strcmp(r[0]->name, "q") == 0 && r[0]->ndirs == 3 && r[0]->dirs[2].nitems == 3 &&
       r[0]->dirs[2].items[0].expr->kind == EX_CALL, "$QUANTUM name and directives");
    ok(r[1]->dirs[0].nitems == 6 && r[1]->dirs[0].items[1].kind == DI_ARROW, "layer chains");
    const Directive *ph = &r[2]->dirs[0];
    ok(ph->nitems == 5 && ph->items[3].expr->kind == EX_NAME &&
       ph->items[4].expr->kind == EX_TUPLE, "WORD (a, b) is a word and a tuple, not a call");
    ok(r[3]->nopts == 2 && r[3]->ndirs == 1 && r[3]->dirs[0].items[0].kind == DI_DIST &&
       r[3]->dirs[0].items[1].kind == DI_KEYVAL, "options line, NAME ~ dist, KEY = value");
    mem_arena_free(&a);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Random bytes and random token soups: the parser must return, report, and
 * not touch memory it should not (the sanitizer build checks that). */
static void test_survival(void)
{
    static const char *const toks[] = {
        "$PK", "$THETA", "$OMEGA", "$DES", "$QUANTUM", "$DATA", "$INPUT", "$TABLE", "$PROBLEM",
        "$SIMULATION", "$COMPARTMENTS", "X", "=", "(", ")", "{", "}", "if", "else", "THEN",
        "ENDIF", "d/dt", "DADT", "THETA", "1", "-", "+", "*", "^", "**", ",", "~", "->", "\n",
        "\n", ";c\n", "BLOCK", "FIX", ".EQ.", "&&", "||", "!", "\"s\"", "@", "#", ".", "0.5e",
    };
    uint64_t seed = 2025;
    int survived = 0;
    char buf[2048];
    for (int round = 0; round < 3000; round++) {
        size_t n = 0;
        if (round % 2) {
            size_t len = splitmix(&seed) % 400;
            for (size_t i = 0; i < len; i++)
                buf[n++] = (char)(splitmix(&seed) & 0xff);
        } else {
            int k = (int)(splitmix(&seed) % 120);
            for (int i = 0; i < k; i++) {
                const char *w = toks[splitmix(&seed) % (sizeof toks / sizeof toks[0])];
                size_t wl = strlen(w);
                if (n + wl + 2 >= sizeof buf)
                    break;
                memcpy(buf + n, w, wl);
                n += wl;
                buf[n++] = ' ';
            }
        }
        Arena *a = mem_arena_new();
        FILE *sink = fopen("/dev/null", "w");
        Diag *d = diag_new(a, sink);
        diag_set_limit(d, 1000);
        Ast *t = parse_string(a, d, "fuzz.qlx", buf, n, NULL);
        survived += t != NULL;
        fclose(sink);
        mem_arena_free(&a);
    }
    ok(survived == 3000, "3000 random inputs parse to a tree or diagnostics, no crash");
}

int main(void)
{
    prec("1 + 2*3", "(1 + (2 * 3))");
    prec("1 - 2 - 3", "((1 - 2) - 3)");
    prec("2^3^2", "(2 ^ (3 ^ 2))");
    prec("-x^2", "(-(x ^ 2))");
    prec("2^-1", "(2 ^ (-1))");
    prec("a**b", "(a ^ b)");
    prec("a/b*c", "((a / b) * c)");
    prec("a < b && c >= d || !e", "(((a < b) && (c >= d)) || (!e))");
    prec("a.EQ.b .AND. c.NE.d", "((a == b) && (c != d))");
    prec("(a + b)*c", "((a + b) * c)");
    prec("exp(tcl + ETA(1))*(WT/70)^0.75", "(exp[(tcl + ETA[1])] * ((WT / 70) ^ 0.75))");
    prec("max(a, b, c)", "max[a,b,c]");
    prec("a +\n    b", "(a + b)");
    test_numbers();
    test_comments();
    test_records();
    test_statements();
    test_directives();
    test_survival();
    return n_fail ? 1 : 0;
}
